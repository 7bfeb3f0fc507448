//! What the engine tells operators about a table's scoring: each change of the scoring mode, each
//! fallback (a camera lost mid-shot, a device gone, a device replaced) and each camera layout that
//! disagreed with the pocket sensors is logged and counted in `/metrics`. The decisions themselves
//! are the table's (pure, replayed); this only reports them, live, never on replay.

use std::collections::HashMap;

use crate::metrics::Metrics;
use crate::table::{Applied, ScoringMode, Table};

/// The last scoring mode reported per table.
#[derive(Debug, Default)]
pub(super) struct Modes(HashMap<String, ScoringMode>);

impl Modes {
    /// Starts from the recovered tables' modes (a restart is not a change).
    pub(super) fn recovered<'a>(tables: impl Iterator<Item = &'a Table>) -> Modes {
        Modes(
            tables
                .map(|t| (t.id().to_owned(), t.scoring_mode()))
                .collect(),
        )
    }

    /// Reports what an input applied at `seq` changed about `table`'s scoring.
    pub(super) fn report(&mut self, metrics: &Metrics, table: &Table, seq: u64, applied: &Applied) {
        let id = table.id();
        for kind in &applied.fallbacks {
            tracing::warn!(table = id, seq, kind, "scoring fallback");
            metrics.scoring_fallback(kind);
        }
        if let Some(detail) = &applied.layout_mismatch {
            tracing::warn!(
                table = id,
                seq,
                detail,
                "camera layout disagrees with the pocket sensors"
            );
            metrics.layout_mismatch();
        }
        let mode = table.scoring_mode();
        let before = self.0.insert(id.to_owned(), mode);
        // A table first heard of is manual until a device speaks: not a change worth a line.
        let new_and_manual = before.is_none() && mode == ScoringMode::Manual;
        if before != Some(mode) && !new_and_manual {
            tracing::info!(
                table = id,
                seq,
                from = before.map_or("none", ScoringMode::as_str),
                to = mode.as_str(),
                "scoring mode changed"
            );
            metrics.scoring_mode_change(mode.as_str());
        }
    }
}

/// A device heard for the first time on a table that already had one of its kind: a replaced
/// device (it takes over at once; the match goes on). Logged and counted.
pub(super) fn note_new_device(metrics: &Metrics, table: Option<&Table>, device: &str, kind: &str) {
    let Some(table) = table else {
        return;
    };
    if table.device_online(device).is_some() {
        return;
    }
    if let Some(before) = table.device_of_kind(kind) {
        let fallback = if kind == "camera" {
            "camera_replaced"
        } else {
            "controller_replaced"
        };
        tracing::warn!(table = table.id(), %device, replaces = %before, kind, "a new device on the table takes over");
        metrics.scoring_fallback(fallback);
    }
}
