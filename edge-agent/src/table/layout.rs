//! The camera's at-rest layout (`shot_end`): checked against the pocket sensors and kept with the
//! shot. The check flags, it never overrides: a ball a pocket reported that the camera still sees,
//! or a ball gone from the layout that no pocket reported, is shown to staff (and counted) while
//! the rules go on with what the pocket sensors said — a camera can miss a ball hidden behind a
//! player, a pocket sensor can miss a ball that rattled in. Which one is right is for staff to
//! decide (see docs/decisions/0007-scoring-fallbacks.md).
//!
//! The layouts a match's shots ended in are kept per match in the table's state, so reading them
//! back is a replay of the match's logged inputs ([`layouts_of`]): nothing new is stored.

use serde::Serialize;
use shared::protocol::{BallPosition, DeviceEvent};
use shared::rules::BallSet;

use super::mode::ScoringFlag;
use super::{Applied, Table, TableInput};

/// How many kept flags a view shows (the newest); every one stays in the shot's layout.
const KEPT_FLAGS: usize = 5;

/// One camera-bracketed shot at rest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShotLayout {
    /// The event-log seq of its `shot_end`.
    pub seq: u64,
    /// The rack it was played in, from 1.
    pub rack: u32,
    /// The balls the camera saw at rest.
    pub balls: Vec<BallPosition>,
    /// What the pocket sensors reported during the shot (0 = the cue ball came back).
    pub pocketed: Vec<u8>,
    /// The check's findings (a `layout_mismatch` flag, or none).
    pub flags: Vec<ScoringFlag>,
}

/// Compares the layout with the balls that were on the table before the shot and those the
/// pocket sensors reported: `(still_seen, unreported)`, each sorted. Object balls only: the cue
/// ball may be in a player's hand at rest.
pub(super) fn check(
    on_table: BallSet,
    pocketed: &[u8],
    balls: &[BallPosition],
) -> (Vec<u8>, Vec<u8>) {
    let seen = |n: u8| balls.iter().any(|b| b.n == n);
    let mut still_seen: Vec<u8> = pocketed
        .iter()
        .copied()
        .filter(|&n| n != 0 && seen(n))
        .collect();
    still_seen.sort_unstable();
    still_seen.dedup();
    let unreported = on_table
        .iter()
        .filter(|&n| !pocketed.contains(&n) && !seen(n))
        .collect();
    (still_seen, unreported)
}

/// The `layout_mismatch` flag for a check's findings, if it found anything.
fn mismatch(seq: u64, still_seen: Vec<u8>, unreported: Vec<u8>) -> Option<ScoringFlag> {
    if still_seen.is_empty() && unreported.is_empty() {
        return None;
    }
    let list = |balls: &[u8]| {
        balls
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !still_seen.is_empty() {
        parts.push(format!(
            "the camera still sees {} that a pocket reported",
            list(&still_seen)
        ));
    }
    if !unreported.is_empty() {
        parts.push(format!(
            "the camera no longer sees {} that no pocket reported",
            list(&unreported)
        ));
    }
    Some(ScoringFlag {
        kind: "layout_mismatch",
        device: None,
        seq: Some(seq),
        still_seen,
        unreported,
        detail: format!("check the balls: {}", parts.join("; ")),
    })
}

impl Table {
    /// Before a camera's `shot_end` closes the shot: checks its layout against the pocket sensors
    /// and keeps it with the shot.
    pub(super) fn shot_at_rest(&mut self, event: &DeviceEvent, seq: u64, applied: &mut Applied) {
        let DeviceEvent::ShotEnd { balls } = event else {
            return;
        };
        let Some((_, game)) = &self.game else {
            return;
        };
        if !self.pending.open {
            return;
        }
        let state = game.state();
        let (rack, on_table) = if state.rack_over() {
            (state.rack + 1, game.spec().game.full_rack())
        } else {
            (state.rack, state.on_table)
        };
        let mut pocketed: Vec<u8> = self.pending.pocketed.iter().map(|p| p.ball).collect();
        if self.pending.cue_ball {
            pocketed.push(0);
        }
        let (still_seen, unreported) = check(on_table, &pocketed, balls);
        let flags: Vec<ScoringFlag> = mismatch(seq, still_seen, unreported).into_iter().collect();
        if let Some(flag) = flags.first() {
            applied.layout_mismatch = Some(flag.detail.clone());
            self.keep_flag(flag.clone());
        }
        self.layouts.push(ShotLayout {
            seq,
            rack,
            balls: balls.clone(),
            pocketed,
            flags,
        });
    }

    /// Keeps a flag for staff, dropping the oldest beyond what a view shows.
    pub(super) fn keep_flag(&mut self, flag: ScoringFlag) {
        if self.kept_flags.len() == KEPT_FLAGS {
            self.kept_flags.remove(0);
        }
        self.kept_flags.push(flag);
    }

    /// The layouts of the current (or last) match's camera-bracketed shots, in order.
    pub fn layouts(&self) -> &[ShotLayout] {
        &self.layouts
    }
}

/// The layouts of one match, from its logged inputs (from its `start_match` on, `(seq,
/// received_ms, input JSON)`): a replay into a fresh table. Unreadable inputs are skipped.
pub fn layouts_of(table: &str, inputs: &[(u64, u64, String)]) -> Vec<ShotLayout> {
    let mut replayed = Table::new(table);
    for (seq, received_ms, input) in inputs {
        if let Ok(input) = serde_json::from_str::<TableInput>(input) {
            let _ = replayed.replay(&input, *seq, *received_ms);
        }
    }
    std::mem::take(&mut replayed.layouts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(n: u8) -> BallPosition {
        BallPosition { n, x: 0.5, y: 0.5 }
    }

    #[test]
    fn the_layout_is_checked_against_the_pockets() {
        let on: BallSet = [1, 2, 3, 9].into_iter().collect();
        // Agreement: 2 reported and gone; 1, 3, 9 and the cue ball seen.
        assert_eq!(
            check(on, &[2], &[at(0), at(1), at(3), at(9)]),
            (vec![], vec![])
        );
        // The camera still sees 2; it misses 3, which no pocket reported.
        assert_eq!(
            check(on, &[2], &[at(0), at(1), at(2), at(9)]),
            (vec![2], vec![3])
        );
        // A scratch: the cue ball is not checked either way.
        assert_eq!(
            check(on, &[0], &[at(1), at(2), at(3), at(9)]),
            (vec![], vec![])
        );
        let flag = mismatch(7, vec![2], vec![3]).expect("a mismatch");
        assert_eq!((flag.kind, flag.seq), ("layout_mismatch", Some(7)));
        assert!(flag.detail.contains("still sees 2") && flag.detail.contains("no longer sees 3"));
        assert!(mismatch(7, vec![], vec![]).is_none());
    }
}
