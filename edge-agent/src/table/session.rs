//! Table-time sessions: staff start and stop one (billing counts its time); like device presence it
//! outlives matches, so it comes back from the stored view after a restart.

use super::{Refused, Table};

impl Table {
    /// Starts a session at `at_ms`, unless one is running.
    pub(super) fn start_session(&mut self, at_ms: u64) -> Result<(), Refused> {
        if self.session_running() {
            return Err(Refused::SessionRunning);
        }
        self.session = Some((at_ms, None));
        Ok(())
    }

    /// Stops the running session at `at_ms`.
    pub(super) fn stop_session(&mut self, at_ms: u64) -> Result<(), Refused> {
        match &mut self.session {
            Some((_, stopped @ None)) => {
                *stopped = Some(at_ms);
                Ok(())
            }
            _ => Err(Refused::NoSession),
        }
    }

    /// A logged session input read back at start-up: set unconditionally (see [`Table::replay`]).
    pub(super) fn replay_session(&mut self, start: bool, at_ms: u64) {
        if start {
            self.session = Some((at_ms, None));
        } else {
            let started = self.session.map_or(at_ms, |(started, _)| started);
            self.session = Some((started, Some(at_ms)));
        }
    }

    /// Whether a table-time session is running.
    pub fn session_running(&self) -> bool {
        matches!(self.session, Some((_, None)))
    }

    /// Restores the session from the last stored view before a replay: like device presence it
    /// outlives matches, and a session started before the current match is not in the replayed
    /// part of the log (session inputs in that part bring it to the same state again).
    pub fn seed_session(&mut self, stored_view: &str) {
        let Ok(view) = serde_json::from_str::<serde_json::Value>(stored_view) else {
            return;
        };
        let session = &view["session"];
        if let Some(started_ms) = session["started_ms"].as_u64() {
            self.session = Some((started_ms, session["stopped_ms"].as_u64()));
        }
    }
}
