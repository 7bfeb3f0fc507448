//! What screens and the API see of a table: the rules engine's report plus the venue's context
//! (table name, players, the shot in progress, device presence) and the event `seq` it reflects.
//!
//! A view is serialised once, when it is committed, and the same bytes go to SQLite (the event log),
//! to every WebSocket client and to the REST API.

use std::sync::Arc;

use serde::Serialize;
use shared::rules::{BreakRule, Game, Report};

/// Whether a table has a match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    /// No match has been started here.
    Idle,
    /// A match is in play.
    Playing,
    /// The last match is over; the table shows its result until the next one starts.
    Finished,
}

/// The shot being played, as far as the sensors have reported it so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShotInProgress {
    /// A camera saw the stroke start and has not yet seen it end.
    pub open: bool,
    /// Object balls that dropped so far.
    pub pocketed: Vec<u8>,
    /// The cue ball came back through the return.
    pub cue_ball_pocketed: bool,
    /// The first ball the cue ball hit, if a camera saw it.
    pub first_contact: Option<u8>,
    /// The call for this shot, if one was made.
    pub called: Option<shared::rules::Call>,
    /// The shooter declared this shot a push-out.
    pub push_out: bool,
    /// The shooter declared this shot a safety.
    pub safety: bool,
}

/// A device reporting for a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DevicePresence {
    /// Device id.
    pub device: String,
    /// `controller` or `camera`.
    pub kind: &'static str,
    /// Heard from recently (and not reported offline).
    pub online: bool,
    /// Receive time of its last message, ms since the Unix epoch.
    pub last_seen_ms: u64,
}

/// A table-time session (staff start and stop it; the venue bills the table by the time it ran).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SessionView {
    /// When staff started it, ms since the Unix epoch (the agent's clock).
    pub started_ms: u64,
    /// When staff stopped it; `null` while it runs (screens count the elapsed time from
    /// `started_ms`).
    pub stopped_ms: Option<u64>,
    /// `stopped_ms - started_ms` once stopped; `null` while it runs.
    pub elapsed_ms: Option<u64>,
}

/// The match on a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MatchInfo {
    /// Edge-local match id.
    pub match_id: String,
    /// The game.
    pub game: Game,
    /// The players; index 0 broke first.
    pub players: [String; 2],
    /// Racks (14.1: points) to win.
    pub race_to: u32,
    /// Break order.
    #[serde(rename = "break")]
    pub break_rule: BreakRule,
    /// Registered players' ids per seat (cloud-sync's), when staff chose registered players.
    #[serde(skip_serializing_if = "no_ids")]
    pub player_ids: [Option<String>; 2],
    /// Set when staff voided the match: it ended without a winner (status `finished`,
    /// `match_winner` null) and counts for nobody. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voided: Option<Voided>,
    /// A demo match (`--demo`): shown as such, never synced. Present only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
    /// The tournament match it plays (`crate::tournament`). Present only then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tournament: Option<shared::sync::TournamentMatch>,
}

/// A voided match: why, by whom, when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Voided {
    /// Why, as staff gave it.
    pub reason: String,
    /// Who voided it (absent if unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<crate::table::Actor>,
    /// When, ms since the Unix epoch (the input's receive time).
    pub voided_ms: u64,
}

fn no_ids(ids: &[Option<String>; 2]) -> bool {
    ids.iter().all(Option::is_none)
}

/// One table as screens see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableView {
    /// Table id (from the MQTT topic or the API path).
    pub table: String,
    /// Display name from the table registry (the id until staff name it).
    pub name: String,
    /// Position in the venue's order, from the registry (ascending; 0: not registered).
    pub position: u32,
    /// Retired from the registry: kept, but off the overview. Present only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
    /// The event-log sequence number of the last change to this table.
    pub seq: u64,
    /// Idle, playing or finished.
    pub status: TableStatus,
    /// The match, if one was started.
    #[serde(rename = "match")]
    pub match_info: Option<MatchInfo>,
    /// The rules engine's view (the same core fields `dojo-rules` prints), flattened in.
    #[serde(flatten)]
    pub state: Option<Report>,
    /// The shot in progress.
    pub shot: ShotInProgress,
    /// Controllers and cameras heard on this table.
    pub devices: Vec<DevicePresence>,
    /// Device events missed during the current match and not recovered by a replay.
    pub missing_events: u64,
    /// The running table-time session, or the last one until the next starts; `null` if none yet.
    pub session: Option<SessionView>,
    /// How the table is scored (camera, sensors, manual) and what staff should check.
    pub scoring: crate::table::ScoringView,
    /// The match's shot clock; `null` when its house rules have none (or no match yet).
    pub shot_clock: Option<shared::rules::shot_clock::ClockReport>,
}

/// A committed view and its JSON, shared by every reader.
#[derive(Clone, Debug)]
pub struct Published {
    /// The view.
    pub view: Arc<TableView>,
    /// `serde_json` of `view`.
    pub json: Arc<str>,
    /// The WebSocket update message for it, built once and shared by every screen (UTF-8 checked
    /// once here, not per screen).
    pub update: axum::extract::ws::Utf8Bytes,
    /// When the event that produced it was received, for the latency histogram (not on replay).
    pub received: Option<std::time::Instant>,
    /// When the engine had applied the event and built this view (with `received`).
    pub built: Option<std::time::Instant>,
    /// When the transaction holding it was committed (fsync'd); set by the store's writer just
    /// before the hub gets it. Stage timings only: see [`crate::metrics`].
    pub committed: Option<std::time::Instant>,
}

impl Published {
    /// Serialises `view` once, and its WebSocket update message once.
    pub fn new(view: TableView, received: Option<std::time::Instant>) -> Published {
        let json: Arc<str> = serde_json::to_string(&view)
            .unwrap_or_else(|_| "{}".to_owned())
            .into();
        let update = update_message(view.seq, &json).into();
        Published {
            view: Arc::new(view),
            json,
            update,
            received,
            built: received.map(|_| std::time::Instant::now()),
            committed: None,
        }
    }

    /// An idle table's view at `seq`, for tests.
    #[cfg(test)]
    pub(crate) fn idle(table: &str, seq: u64) -> Published {
        let view = TableView {
            table: table.to_owned(),
            name: table.to_owned(),
            position: 0,
            retired: false,
            seq,
            status: TableStatus::Idle,
            match_info: None,
            state: None,
            shot: ShotInProgress::default(),
            devices: Vec::new(),
            missing_events: 0,
            session: None,
            scoring: crate::table::ScoringView {
                mode: crate::table::ScoringMode::Manual,
                flags: Vec::new(),
            },
            shot_clock: None,
        };
        Published::new(view, None)
    }

    /// The table id.
    pub fn table(&self) -> &str {
        &self.view.table
    }

    /// The view's seq.
    pub fn seq(&self) -> u64 {
        self.view.seq
    }
}

/// `{"type":"update","seq":N,"table":view}`, around the view's JSON as committed.
pub fn update_message(seq: u64, view_json: &str) -> String {
    format!(r#"{{"type":"update","seq":{seq},"table":{view_json}}}"#)
}
