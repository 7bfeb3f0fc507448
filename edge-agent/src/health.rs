//! Whether the agent can do its job, part by part, in words: the broker link, device traffic, the
//! engine, the SQLite writer, the disk and cloud sync. `/healthz` answers 503 when a part fails
//! (so a watchdog or a monitor sees the truth), `/api/v1/health` gives staff every part, and the
//! console and the TVs show it (docs/decisions/0015).
//!
//! The parts report facts as they happen (atomics, no locks on the hot path); [`assess`] is the
//! pure judgement of those facts at one instant, and the disk is measured (statvfs) only when
//! asked.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

use crate::store::{StoreWatch, WriterSnapshot};

/// The engine is stalled when its timer has not run for this long (it ticks every 250 ms).
const ENGINE_STALL_MS: u64 = 10_000;
/// Devices are expected when one was heard within this long (then silence is a failure).
const EXPECT_WINDOW_MS: u64 = 12 * 3_600_000;
/// The disk is nearly full below this many free bytes, or below 5 % of its size if that is less.
const LOW_DISK_BYTES: u64 = 64 * 1024 * 1024;

/// The facts health judges, reported by the parts as they happen. Shared behind an `Arc`.
#[derive(Debug)]
pub struct Health {
    data_dir: PathBuf,
    started_ms: u64,
    silence_ms: u64,
    store: StoreWatch,
    last_heard_ms: AtomicU64,
    engine_tick_ms: AtomicU64,
    link_open: AtomicBool,
    sync_on: bool,
    sync: Mutex<SyncFacts>,
}

#[derive(Clone, Debug, Default)]
struct SyncFacts {
    last_ok_ms: u64,
    last_error: Option<(u64, String)>,
}

impl Health {
    /// Health of an agent on `data_dir` started at `now_ms`; devices silent for `silence_ms`
    /// (while some are expected) fail it; `sync_on` when cloud sync is configured.
    pub fn new(
        data_dir: &Path,
        now_ms: u64,
        silence_ms: u64,
        store: StoreWatch,
        sync_on: bool,
    ) -> Health {
        Health {
            data_dir: data_dir.to_owned(),
            started_ms: now_ms,
            silence_ms,
            store,
            last_heard_ms: AtomicU64::new(0),
            engine_tick_ms: AtomicU64::new(now_ms),
            link_open: AtomicBool::new(true),
            sync_on,
            sync: Mutex::new(SyncFacts::default()),
        }
    }

    /// A device was heard (any message on a registered table, or a status) at `at_ms`.
    pub fn heard(&self, at_ms: u64) {
        self.last_heard_ms.fetch_max(at_ms, Ordering::AcqRel);
    }

    /// The engine's loop ran at `now_ms`.
    pub fn engine_ran(&self, now_ms: u64) {
        self.engine_tick_ms.store(now_ms, Ordering::Release);
    }

    /// The broker link closed: nothing more will be heard.
    pub fn link_closed(&self) {
        self.link_open.store(false, Ordering::Release);
    }

    /// A sync round trip succeeded.
    pub fn sync_ok(&self, now_ms: u64) {
        if let Ok(mut sync) = self.sync.lock() {
            sync.last_ok_ms = now_ms;
        }
    }

    /// A sync round trip failed.
    pub fn sync_failed(&self, now_ms: u64, error: String) {
        if let Ok(mut sync) = self.sync.lock() {
            sync.last_error = Some((now_ms, error));
        }
    }

    /// The facts now, the disk measured; `backlog` is the outbox's unsent records, if read.
    pub fn facts(&self, now_ms: u64, backlog: Option<u64>) -> Facts {
        let sync = self.sync.lock().map(|s| s.clone()).unwrap_or_default();
        Facts {
            now_ms,
            started_ms: self.started_ms,
            silence_ms: self.silence_ms,
            last_heard_ms: self.last_heard_ms.load(Ordering::Acquire),
            engine_tick_ms: self.engine_tick_ms.load(Ordering::Acquire),
            link_open: self.link_open.load(Ordering::Acquire),
            writer: self.store.snapshot(),
            queue_depth: self.store.queue_depth(),
            disk: disk_space(&self.data_dir),
            sync_on: self.sync_on,
            sync_last_ok_ms: sync.last_ok_ms,
            sync_last_error: sync.last_error,
            backlog,
        }
    }
}

/// Free and total bytes of the file system holding `path` (statvfs), if it can be read.
#[allow(clippy::useless_conversion)] // the statvfs fields are u32 on some targets
pub fn disk_space(path: &Path) -> Option<Disk> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    let fragment = u64::from(stat.fragment_size());
    let (available, blocks) = (u64::from(stat.blocks_available()), u64::from(stat.blocks()));
    Some(Disk {
        free_bytes: available.saturating_mul(fragment),
        total_bytes: blocks.saturating_mul(fragment),
    })
}

/// Space on the data directory's file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Disk {
    /// Bytes an unprivileged writer may still use.
    pub free_bytes: u64,
    /// The file system's size.
    pub total_bytes: u64,
}

/// Everything [`assess`] judges, at one instant.
#[derive(Clone, Debug)]
pub struct Facts {
    /// Now, ms since the Unix epoch.
    pub now_ms: u64,
    /// When the agent started.
    pub started_ms: u64,
    /// Device silence that fails health (while devices are expected).
    pub silence_ms: u64,
    /// The last device message (0: none since start).
    pub last_heard_ms: u64,
    /// The engine loop's last run.
    pub engine_tick_ms: u64,
    /// The broker link is open.
    pub link_open: bool,
    /// The SQLite writer.
    pub writer: WriterSnapshot,
    /// Writes waiting for the writer.
    pub queue_depth: usize,
    /// Space on the data directory's file system (`None`: cannot be read).
    pub disk: Option<Disk>,
    /// Cloud sync is configured.
    pub sync_on: bool,
    /// The last successful sync round trip (0: none).
    pub sync_last_ok_ms: u64,
    /// The last failed one.
    pub sync_last_error: Option<(u64, String)>,
    /// Outbox records not yet acknowledged.
    pub backlog: Option<u64>,
}

/// How a part is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Doing its job.
    Ok,
    /// Worth a look; the agent still does its job.
    Warning,
    /// The agent cannot do its job: `/healthz` answers 503.
    Failing,
}

/// One part's judgement, with the words staff read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Part {
    /// How it is doing.
    pub status: Status,
    /// What it means, in words.
    pub words: String,
    /// The figures behind it.
    pub details: serde_json::Value,
}

/// Every part, judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The worst part's status.
    pub status: Status,
    /// When it was judged, ms since the Unix epoch.
    pub checked_ms: u64,
    /// The MQTT link the engine hears devices through.
    pub broker: Part,
    /// Device traffic.
    pub devices: Part,
    /// The engine task.
    pub engine: Part,
    /// The SQLite writer.
    pub writer: Part,
    /// The data directory's disk.
    pub disk: Part,
    /// Cloud sync.
    pub sync: Part,
}

impl Report {
    /// The parts by name, in the order they are shown.
    pub fn parts(&self) -> [(&'static str, &Part); 6] {
        [
            ("writer", &self.writer),
            ("disk", &self.disk),
            ("broker", &self.broker),
            ("devices", &self.devices),
            ("engine", &self.engine),
            ("sync", &self.sync),
        ]
    }

    /// `/healthz`'s body: `{"status":"ok"}` when nothing fails (as before), else the failing
    /// parts and their words.
    pub fn public(&self) -> serde_json::Value {
        let failing: Vec<_> = self
            .parts()
            .into_iter()
            .filter(|(_, part)| part.status == Status::Failing)
            .collect();
        if failing.is_empty() {
            return serde_json::json!({"status": "ok"});
        }
        serde_json::json!({
            "status": "failing",
            "failing": failing.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            "problems": failing.iter().map(|(_, part)| part.words.as_str()).collect::<Vec<_>>(),
        })
    }
}

fn part(status: Status, words: impl Into<String>, details: serde_json::Value) -> Part {
    Part {
        status,
        words: words.into(),
        details,
    }
}

fn ago(now_ms: u64, then_ms: u64) -> String {
    let secs = now_ms.saturating_sub(then_ms) / 1000;
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// Judges `facts`: pure.
pub fn assess(facts: &Facts) -> Report {
    let parts = [
        broker(facts),
        devices(facts),
        engine(facts),
        writer(facts),
        disk(facts),
        sync(facts),
    ];
    let status = parts.iter().map(|p| p.status).max().unwrap_or(Status::Ok);
    let [broker, devices, engine, writer, disk, sync] = parts;
    Report {
        status,
        checked_ms: facts.now_ms,
        broker,
        devices,
        engine,
        writer,
        disk,
        sync,
    }
}

fn broker(facts: &Facts) -> Part {
    let details = serde_json::json!({"link_open": facts.link_open});
    if facts.link_open {
        part(Status::Ok, "The MQTT link is open.", details)
    } else {
        part(
            Status::Failing,
            "The MQTT link is closed: no table can be heard until the agent restarts.",
            details,
        )
    }
}

fn devices(facts: &Facts) -> Part {
    let details = serde_json::json!({
        "last_heard_ms": (facts.last_heard_ms > 0).then_some(facts.last_heard_ms),
        "silence_fails_after_ms": facts.silence_ms,
    });
    if facts.last_heard_ms == 0 {
        return part(
            Status::Ok,
            "No table controller or camera heard since the agent started.",
            details,
        );
    }
    let since = facts.now_ms.saturating_sub(facts.last_heard_ms);
    if since >= EXPECT_WINDOW_MS {
        return part(
            Status::Ok,
            format!(
                "No device heard for {}; none is expected after so long.",
                ago(facts.now_ms, facts.last_heard_ms)
            ),
            details,
        );
    }
    if since >= facts.silence_ms {
        return part(
            Status::Failing,
            format!(
                "No table controller or camera heard for {}: check that they are powered and on the network.",
                ago(facts.now_ms, facts.last_heard_ms)
            ),
            details,
        );
    }
    part(
        Status::Ok,
        format!(
            "Devices heard {} ago.",
            ago(facts.now_ms, facts.last_heard_ms)
        ),
        details,
    )
}

fn engine(facts: &Facts) -> Part {
    let details = serde_json::json!({"last_run_ms": facts.engine_tick_ms});
    if facts.now_ms.saturating_sub(facts.engine_tick_ms) >= ENGINE_STALL_MS {
        return part(
            Status::Failing,
            format!(
                "The scoring engine has not run for {}: inputs are waiting.",
                ago(facts.now_ms, facts.engine_tick_ms)
            ),
            details,
        );
    }
    part(Status::Ok, "The scoring engine runs.", details)
}

fn writer(facts: &Facts) -> Part {
    let w = &facts.writer;
    let details = serde_json::json!({
        "can_commit": w.failing_since_ms.is_none(),
        "last_commit_ms": (w.last_commit_ms > 0).then_some(w.last_commit_ms),
        "failing_since_ms": w.failing_since_ms,
        "last_error": w.last_error.as_ref().map(|(at, e)| serde_json::json!({"at_ms": at, "error": e})),
        "queue_depth": facts.queue_depth,
        "dead_letters_trimmed": w.dead_letters_trimmed,
    });
    let Some(since) = w.failing_since_ms else {
        return part(Status::Ok, "Results are being saved.", details);
    };
    let error = w.last_error.as_ref().map_or("", |(_, e)| e.as_str());
    let full = error.contains("disk is full") || error.contains("size limit");
    let words = if full {
        format!(
            "Cannot save: the disk is full (for {}). Results are kept on the tables' controllers until space is freed; staff changes are refused meanwhile. Free space on the data disk: saving resumes by itself.",
            ago(facts.now_ms, since)
        )
    } else {
        format!(
            "Cannot save (for {}): {error}. Staff changes are refused and devices keep their events until it works again.",
            ago(facts.now_ms, since)
        )
    };
    part(Status::Failing, words, details)
}

fn disk(facts: &Facts) -> Part {
    let Some(disk) = facts.disk else {
        return part(
            Status::Warning,
            "The free space of the data disk cannot be read.",
            serde_json::Value::Null,
        );
    };
    let low = LOW_DISK_BYTES.min(disk.total_bytes / 20);
    let details = serde_json::json!({
        "free_bytes": disk.free_bytes,
        "total_bytes": disk.total_bytes,
        "low_below_bytes": low,
    });
    if disk.free_bytes <= low {
        return part(
            Status::Failing,
            format!(
                "The data disk is nearly full: {} free of {}. Free space before results stop being saved.",
                megabytes(disk.free_bytes),
                megabytes(disk.total_bytes)
            ),
            details,
        );
    }
    part(
        Status::Ok,
        format!(
            "{} free of {} on the data disk.",
            megabytes(disk.free_bytes),
            megabytes(disk.total_bytes)
        ),
        details,
    )
}

fn sync(facts: &Facts) -> Part {
    let details = serde_json::json!({
        "on": facts.sync_on,
        "backlog": facts.backlog,
        "last_ok_ms": (facts.sync_last_ok_ms > 0).then_some(facts.sync_last_ok_ms),
        "last_error": facts.sync_last_error.as_ref().map(|(at, e)| serde_json::json!({"at_ms": at, "error": e})),
    });
    if !facts.sync_on {
        return part(
            Status::Ok,
            "Cloud sync is off: results are kept here.",
            details,
        );
    }
    let backlog = facts.backlog.unwrap_or(0);
    match &facts.sync_last_error {
        Some((at, error)) if *at > facts.sync_last_ok_ms => part(
            Status::Warning,
            format!("Cloud sync fails ({error}); {backlog} records wait here and nothing is lost."),
            details,
        ),
        _ if facts.sync_last_ok_ms == 0 => part(
            Status::Ok,
            format!("Cloud sync starting; {backlog} records to send."),
            details,
        ),
        _ => part(
            Status::Ok,
            format!(
                "Cloud sync worked {} ago; {backlog} records to send.",
                ago(facts.now_ms, facts.sync_last_ok_ms)
            ),
            details,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fine() -> Facts {
        Facts {
            now_ms: 1_000_000,
            started_ms: 0,
            silence_ms: 60_000,
            last_heard_ms: 995_000,
            engine_tick_ms: 999_900,
            link_open: true,
            writer: WriterSnapshot {
                last_commit_ms: 999_000,
                failing_since_ms: None,
                last_error: None,
                dead_letters_trimmed: 0,
            },
            queue_depth: 0,
            disk: Some(Disk {
                free_bytes: 10_000_000_000,
                total_bytes: 32_000_000_000,
            }),
            sync_on: false,
            sync_last_ok_ms: 0,
            sync_last_error: None,
            backlog: Some(0),
        }
    }

    #[test]
    fn all_fine_is_ok_and_healthz_keeps_its_body() {
        let report = assess(&fine());
        assert_eq!(report.status, Status::Ok);
        assert_eq!(report.public(), serde_json::json!({"status": "ok"}));
    }

    #[test]
    fn a_full_disk_fails_writer_and_disk_in_words() {
        let mut facts = fine();
        facts.writer.failing_since_ms = Some(990_000);
        facts.writer.last_error = Some((
            999_000,
            "the disk is full (database or disk is full)".into(),
        ));
        facts.disk = Some(Disk {
            free_bytes: 0,
            total_bytes: 4_194_304,
        });
        let report = assess(&facts);
        assert_eq!(report.status, Status::Failing);
        assert!(
            report
                .writer
                .words
                .starts_with("Cannot save: the disk is full")
        );
        let public = report.public();
        assert_eq!(public["failing"], serde_json::json!(["writer", "disk"]));
    }

    #[test]
    fn silence_fails_only_while_devices_are_expected() {
        let mut facts = fine();
        facts.last_heard_ms = 0;
        assert_eq!(assess(&facts).devices.status, Status::Ok, "none heard yet");
        facts.last_heard_ms = facts.now_ms - 61_000;
        assert_eq!(assess(&facts).devices.status, Status::Failing);
        facts.last_heard_ms = facts.now_ms - 59_000;
        assert_eq!(assess(&facts).devices.status, Status::Ok);
    }

    #[test]
    fn a_closed_link_or_a_stalled_engine_fails() {
        let mut facts = fine();
        facts.link_open = false;
        assert_eq!(assess(&facts).broker.status, Status::Failing);
        let mut facts = fine();
        facts.engine_tick_ms = facts.now_ms - ENGINE_STALL_MS;
        assert_eq!(assess(&facts).engine.status, Status::Failing);
    }

    #[test]
    fn a_failing_sync_warns_but_does_not_fail() {
        let mut facts = fine();
        facts.sync_on = true;
        facts.sync_last_error = Some((999_000, "connection refused".into()));
        let report = assess(&facts);
        assert_eq!(report.sync.status, Status::Warning);
        assert_eq!(report.status, Status::Warning);
        assert_eq!(report.public(), serde_json::json!({"status": "ok"}));
    }
}
