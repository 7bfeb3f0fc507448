//! The venue → cloud records a table emits: typed [`shared::sync::Record`]s, the contract's one
//! definition. The store serializes them into outbox rows; nothing here knows of JSON or SQLite.

use shared::rules::{Match, MatchSpec, State};
use shared::sync::{
    Author, MatchFinished, MatchStarted, MatchVoided, RackFinished, Record, ResultCorrected,
};

use super::Actor;
use crate::view::{MatchInfo, Voided};

/// The record of a match starting on `table`, started by `by` when known.
pub(super) fn started(
    table: &str,
    info: &MatchInfo,
    spec: &MatchSpec,
    by: Option<&Actor>,
    started_ms: u64,
) -> Record {
    Record::MatchStarted(MatchStarted {
        match_id: info.match_id.clone(),
        table: table.to_owned(),
        spec: spec.clone(),
        player_ids: info.player_ids.clone(),
        started_ms,
        by: by.map(author),
        tournament: None,
    })
}

/// Marks the `match_started` record among `records` as playing a tournament's match.
pub(super) fn for_tournament(records: &mut [Record], tournament: &shared::sync::TournamentMatch) {
    for record in records {
        if let Record::MatchStarted(started) = record {
            started.tournament = Some(tournament.clone());
        }
    }
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
        records.push(corrected(table, info, after, None, None));
    }
    records
}

/// The result as it stands after a correction (or an undo that changed it), by whom and why.
pub(super) fn corrected(
    table: &str,
    info: &MatchInfo,
    after: &State,
    by: Option<&Actor>,
    reason: Option<String>,
) -> Record {
    Record::ResultCorrected(ResultCorrected {
        match_id: info.match_id.clone(),
        table: table.to_owned(),
        score: after.score,
        rack: after.rack,
        racks_finished: after.stats.iter().map(|p| p.racks_won).sum(),
        match_finished: after.match_winner.is_some(),
        by: by.map(author),
        reason,
    })
}

/// The record of a voided match.
pub(super) fn voided(table: &str, info: &MatchInfo, voided: &Voided) -> Record {
    Record::MatchVoided(MatchVoided {
        match_id: info.match_id.clone(),
        table: table.to_owned(),
        reason: voided.reason.clone(),
        by: voided.by.as_ref().map(author),
        voided_ms: voided.voided_ms,
    })
}

/// Who made an input, as the sync contract spells it (the same JSON as the event log's `by`).
pub(crate) fn author(actor: &Actor) -> Author {
    match actor {
        Actor::Staff { name, id } => Author::Staff {
            name: name.clone(),
            id: id.clone(),
        },
        Actor::Player { seat } => Author::Player { seat: *seat },
        Actor::Agent {} => Author::Agent {},
    }
}
