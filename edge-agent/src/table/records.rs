//! The venue → cloud records a table emits: typed [`shared::sync::Record`]s, the contract's one
//! definition. The store serializes them into outbox rows; nothing here knows of JSON or SQLite.

use shared::rules::{Match, MatchSpec, State};
use shared::sync::{MatchFinished, MatchStarted, RackFinished, Record, ResultCorrected};

use crate::view::MatchInfo;

/// The record of a match starting on `table`.
pub(super) fn started(table: &str, info: &MatchInfo, spec: &MatchSpec, started_ms: u64) -> Record {
    Record::MatchStarted(MatchStarted {
        match_id: info.match_id.clone(),
        table: table.to_owned(),
        spec: spec.clone(),
        player_ids: info.player_ids.clone(),
        started_ms,
    })
}

/// Records of what an input finished (or, on undo, took back), in the order they happened.
pub(super) fn finished(table: &str, info: &MatchInfo, game: &Match, before: &State) -> Vec<Record> {
    let after = game.state();
    let match_id = &info.match_id;
    let mut records = Vec::new();
    let racks = |s: &State| s.stats.iter().map(|p| p.racks_won).sum::<u32>();
    if let Some(winner) = after.last.rack_winner {
        records.push(Record::RackFinished(RackFinished {
            match_id: match_id.clone(),
            table: table.to_owned(),
            ordinal: racks(after),
            rack: after.rack,
            winner,
            score: after.score,
            stats: after.stats.clone(),
            shots: game.last_rack_inputs().to_vec(),
        }));
    }
    if let (Some(winner), None) = (after.match_winner, before.match_winner) {
        records.push(Record::MatchFinished(MatchFinished {
            match_id: match_id.clone(),
            table: table.to_owned(),
            game: info.game,
            players: info.players.clone(),
            player_ids: info.player_ids.clone(),
            race_to: info.race_to,
            winner,
            score: after.score,
            stats: after.stats.clone(),
            inputs: game.inputs().to_vec(),
        }));
    }
    if racks(after) < racks(before)
        || (before.match_winner.is_some() && after.match_winner.is_none())
    {
        records.push(Record::ResultCorrected(ResultCorrected {
            match_id: match_id.clone(),
            table: table.to_owned(),
            score: after.score,
            rack: after.rack,
            racks_finished: racks(after),
            match_finished: after.match_winner.is_some(),
        }));
    }
    records
}
