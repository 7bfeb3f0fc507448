//! The pure part of the matches projection: records of one `(venue, epoch)` → one delta per match
//! (what its start, racks, finish, corrections and void say, in `seq` order), with no I/O, so a chunk of
//! thousands of records becomes a few set-based statements in [`super::store`].

use std::collections::{BTreeMap, HashMap};

use shared::rules::{Game, PlayerStats};
use shared::sync::{MatchVoided, RackFinished, Record};

use crate::projection::Stored;

/// How a match ends after the records, when they say.
#[derive(Clone, Debug)]
pub(super) enum Finish {
    /// Over, won by this seat.
    Won { winner: usize, seq: i64 },
    /// Corrected back to in progress.
    Cleared,
}

/// What the records do to one match, folded in `seq` order.
#[derive(Debug, Default)]
pub(super) struct MatchDelta<'a> {
    pub(super) table: Option<String>,
    pub(super) game: Option<String>,
    pub(super) players: Option<[String; 2]>,
    pub(super) race_to: Option<u32>,
    pub(super) start: Option<Start>,
    pub(super) score: Option<[i32; 2]>,
    pub(super) finish: Option<Finish>,
    pub(super) stats: Option<[PlayerStats; 2]>,
    pub(super) truncate_above: Option<u32>,
    /// Finished racks by ordinal, with the seq of the record that carried each.
    pub(super) racks: BTreeMap<u32, (i64, &'a RackFinished)>,
    /// Staff voided the match: it is over, won by nobody.
    pub(super) voided: Option<&'a MatchVoided>,
}

#[derive(Debug)]
pub(super) struct Start {
    pub(super) player_ids: [Option<String>; 2],
    pub(super) spec: String,
    pub(super) started_ms: i64,
}

fn game_name(game: Game) -> Option<String> {
    serde_json::to_value(game)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// Folds records into per-match deltas, keeping the order matches first appear in.
pub(super) fn fold(records: &[Stored]) -> Vec<(String, MatchDelta<'_>)> {
    let mut order: Vec<(String, MatchDelta<'_>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for ready in records {
        // Placeholders and tournament records (keyed by tournament, not match) are not matches.
        if matches!(
            ready.record,
            Record::Rejected(_)
                | Record::TournamentStarted(_)
                | Record::TournamentEntered(_)
                | Record::TournamentCalled(_)
        ) {
            continue;
        }
        let slot = *index.entry(ready.match_id.clone()).or_insert_with(|| {
            order.push((ready.match_id.clone(), MatchDelta::default()));
            order.len() - 1
        });
        let Some((_, delta)) = order.get_mut(slot) else {
            continue;
        };
        match &ready.record {
            Record::MatchStarted(r) => {
                delta.table = Some(r.table.clone());
                delta.game = game_name(r.spec.game);
                delta.players = Some(r.spec.players.clone());
                delta.race_to = Some(r.spec.race_to);
                delta.start = Some(Start {
                    player_ids: r.player_ids.clone(),
                    spec: serde_json::to_string(&r.spec).unwrap_or_else(|_| "{}".into()),
                    started_ms: i64::try_from(r.started_ms).unwrap_or(i64::MAX),
                });
                delta.score.get_or_insert([0, 0]);
            }
            Record::RackFinished(r) => {
                delta.table = Some(r.table.clone());
                delta.score = Some(r.score);
                delta.stats = Some(r.stats.clone());
                delta.racks.insert(r.ordinal, (ready.seq, r));
            }
            Record::MatchFinished(r) => {
                delta.table = Some(r.table.clone());
                delta.game = game_name(r.game);
                delta.players = Some(r.players.clone());
                delta.race_to = Some(r.race_to);
                delta.score = Some(r.score);
                delta.stats = Some(r.stats.clone());
                delta.finish = Some(Finish::Won {
                    winner: r.winner,
                    seq: ready.seq,
                });
            }
            Record::ResultCorrected(r) => {
                delta.table = Some(r.table.clone());
                delta.score = Some(r.score);
                delta
                    .racks
                    .retain(|ordinal, _| *ordinal <= r.racks_finished);
                delta.truncate_above = Some(
                    delta
                        .truncate_above
                        .map_or(r.racks_finished, |n| n.min(r.racks_finished)),
                );
                if !r.match_finished {
                    delta.finish = Some(Finish::Cleared);
                }
            }
            Record::MatchVoided(r) => {
                delta.table = Some(r.table.clone());
                delta.voided = Some(r);
            }
            Record::Rejected(_)
            | Record::TournamentStarted(_)
            | Record::TournamentEntered(_)
            | Record::TournamentCalled(_) => {}
        }
    }
    order
}
