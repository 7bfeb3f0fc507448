//! What the writer thread tells the rest of the agent about itself: when it last committed, whether
//! it cannot commit now (a full disk: SQLITE_FULL, ENOSPC, EFBIG) and why, and how many dead
//! letters retention trimmed. The engine reads it to refuse what it could not save (staff get a
//! 503, devices keep their events: their mark does not move), and health reports it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;

/// The writer's state, shared (behind an `Arc`) with the engine and health.
#[derive(Debug, Default)]
pub struct WriterStatus {
    last_commit_ms: AtomicU64,
    /// 0 while commits succeed; else when the first failed commit of this failure happened.
    failing_since_ms: AtomicU64,
    last_error: Mutex<Option<(u64, String)>>,
    trimmed: Counter,
}

/// A copy of [`WriterStatus`] at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterSnapshot {
    /// When a transaction last committed (0: not since start).
    pub last_commit_ms: u64,
    /// Since when commits fail, if they do now.
    pub failing_since_ms: Option<u64>,
    /// The last commit error and when it happened (kept after recovery).
    pub last_error: Option<(u64, String)>,
    /// Dead letters deleted by retention since start.
    pub dead_letters_trimmed: u64,
}

impl WriterStatus {
    /// True while the writer commits (it is not retrying a failed transaction).
    pub fn can_commit(&self) -> bool {
        self.failing_since_ms.load(Ordering::Acquire) == 0
    }

    /// The counter of trimmed dead letters (to register with the metrics).
    pub fn trimmed_counter(&self) -> Counter {
        self.trimmed.clone()
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> WriterSnapshot {
        let failing = self.failing_since_ms.load(Ordering::Acquire);
        WriterSnapshot {
            last_commit_ms: self.last_commit_ms.load(Ordering::Acquire),
            failing_since_ms: (failing != 0).then_some(failing),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
            dead_letters_trimmed: self.trimmed.get(),
        }
    }

    pub(super) fn committed(&self, now_ms: u64) {
        self.last_commit_ms.store(now_ms, Ordering::Release);
        self.failing_since_ms.store(0, Ordering::Release);
    }

    pub(super) fn failed(&self, now_ms: u64, error: String) {
        let _ = self.failing_since_ms.compare_exchange(
            0,
            now_ms.max(1),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some((now_ms, error));
        }
    }

    pub(super) fn trimmed(&self, rows: u64) {
        self.trimmed.inc_by(rows);
    }
}
