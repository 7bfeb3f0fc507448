//! The engine's tournaments: every [`Tournament`] lives beside the tables in the engine task, so
//! a table's finished match enters its bracket in the same transaction as the table's event, and
//! a call is logged with the table match it starts. Staff inputs are logged on their own
//! (`Write::Tournament`); every change reaches `/ws` clients as a `tournament` message once
//! committed. On each tick the ready matches are called to the free tables.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use shared::bracket::{Entry, Score};
use shared::rules::{BreakRule, HouseRules, MatchSpec};
use shared::sync::{PlannedTournament, Record, TournamentMatch};
use tokio::sync::oneshot;

use super::{Engine, EngineError, Source};
use crate::notices::Notice;
use crate::store::{RecoveredTournamentInput, TournamentRow, Write};
use crate::table::{Actor, Applied, StaffAction, TableInput};
use crate::tournament::{
    Call, Tournament, TournamentError, TournamentInput, TournamentSummary, TournamentView,
};

/// The answer to a staff tournament request.
pub(super) type TournamentReply = oneshot::Sender<Result<TournamentView, EngineError>>;

/// The committed views of every tournament, which the API reads (like the hub for tables): a view
/// is put there only once its inputs are committed.
#[derive(Clone, Debug, Default)]
pub struct Board(Arc<RwLock<BTreeMap<String, (u64, TournamentView)>>>);

impl Board {
    /// Keeps `view` as of `seq`, unless a newer one is there.
    pub(super) fn put(&self, seq: u64, view: TournamentView) {
        let mut board = self.0.write().unwrap_or_else(PoisonError::into_inner);
        match board.get(&view.id) {
            Some((newer, _)) if *newer > seq => {}
            _ => {
                board.insert(view.id.clone(), (seq, view));
            }
        }
    }

    /// Every tournament's list line, by id.
    pub fn list(&self) -> Vec<TournamentSummary> {
        let board = self.0.read().unwrap_or_else(PoisonError::into_inner);
        board
            .values()
            .map(|(_, v)| TournamentSummary {
                id: v.id.clone(),
                name: v.name.clone(),
                format: v.format,
                status: v.status,
                entrants: v.entrants.len(),
                created_ms: v.created_ms,
            })
            .collect()
    }

    /// One tournament's committed view.
    pub fn get(&self, id: &str) -> Option<TournamentView> {
        let board = self.0.read().unwrap_or_else(PoisonError::into_inner);
        board.get(id).map(|(_, v)| v.clone())
    }
}

/// Replays every tournament's logged inputs, in seq order.
pub(super) fn replay(rows: Vec<RecoveredTournamentInput>) -> BTreeMap<String, Tournament> {
    let mut tournaments: BTreeMap<String, Tournament> = BTreeMap::new();
    for row in rows {
        let input = match serde_json::from_str::<TournamentInput>(&row.input) {
            Ok(input) => input,
            Err(error) => {
                tracing::error!(tournament = %row.tournament_id, seq = row.seq, %error, "unreadable logged tournament input skipped");
                continue;
            }
        };
        let outcome = match tournaments.get_mut(&row.tournament_id) {
            Some(tournament) => tournament.apply(&input, row.at_ms).map(|_| ()),
            None => Tournament::create(&row.tournament_id, &input, row.at_ms)
                .map(|t| drop(tournaments.insert(row.tournament_id.clone(), t))),
        };
        if let Err(error) = outcome {
            tracing::warn!(tournament = %row.tournament_id, seq = row.seq, %error, "a logged tournament input no longer applies");
        }
    }
    tournaments
}

/// The match a called table match plays: the tournament's game, the bracket match's race and
/// players (seat 0 breaks first: the first player of the bracket match).
fn spec_of(tournament: &Tournament, players: &[String; 2], race_to: u32) -> MatchSpec {
    MatchSpec {
        game: tournament.game(),
        players: players.clone(),
        race_to,
        break_rule: BreakRule::default(),
        rules: HouseRules::default(),
    }
}

impl Engine {
    /// A tournament's view as `/ws` sends it.
    fn tournament_notice(&self, id: &str) -> Option<Notice> {
        let view = self.tournaments.get(id)?.view(self.timing.call_timeout_ms);
        let json = serde_json::json!({"type": "tournament", "tournament": view});
        Some(Notice {
            table: None,
            json: json.to_string().into(),
        })
    }

    /// Shows the views of `ids` once `committed` resolves (persist, then publish): on the board
    /// the API reads, and to `/ws` clients.
    pub(super) fn publish_after(&self, ids: &[String], committed: oneshot::Receiver<()>) {
        let seq = self.seq;
        let views: Vec<(TournamentView, Option<Notice>)> = ids
            .iter()
            .filter_map(|id| {
                let view = self.tournament_view(id)?;
                Some((view, self.tournament_notice(id)))
            })
            .collect();
        if views.is_empty() {
            return;
        }
        let (board, notices) = (self.board.clone(), self.notices.clone());
        tokio::spawn(async move {
            if committed.await.is_err() {
                return;
            }
            for (view, notice) in views {
                board.put(seq, view);
                if let (Some(notices), Some(notice)) = (&notices, notice) {
                    notices.publish(notice);
                }
            }
        });
    }

    /// One tournament's view now (committed or about to be).
    fn tournament_view(&self, id: &str) -> Option<TournamentView> {
        self.tournaments
            .get(id)
            .map(|t| t.view(self.timing.call_timeout_ms))
    }

    /// Applies `input` to tournament `id` (made by a `Create`) and returns the row to log. The
    /// seq is taken only when it applies.
    fn apply_tournament(
        &mut self,
        id: &str,
        input: &TournamentInput,
        at_ms: u64,
    ) -> Result<(TournamentRow, Vec<Call>), TournamentError> {
        let effects = match self.tournaments.get_mut(id) {
            Some(tournament) => tournament.apply(input, at_ms)?,
            None if matches!(input, TournamentInput::Create { .. }) => {
                let tournament = Tournament::create(id, input, at_ms)?;
                self.tournaments.insert(id.to_owned(), tournament);
                crate::tournament::Effects::default()
            }
            None => return Err(TournamentError::Unknown(id.to_owned())),
        };
        self.seq += 1;
        let row = TournamentRow {
            seq: self.seq,
            tournament_id: id.to_owned(),
            at_ms,
            input: serde_json::to_string(input).unwrap_or_default(),
            outbox: if self.timing.demo {
                Vec::new()
            } else {
                effects.records
            },
        };
        Ok((row, effects.released))
    }

    /// A staff request (or an import): applied, logged, answered once committed; then the calls
    /// it ended are voided on their tables and ready matches are called.
    pub(super) async fn tournament_request(
        &mut self,
        id: Option<String>,
        input: TournamentInput,
        reply: TournamentReply,
    ) {
        if !self.store.can_commit() {
            let _ = reply.send(Err(EngineError::CannotSave));
            return;
        }
        let now = crate::clock::now_ms();
        let id = id.unwrap_or_else(|| {
            let epoch = self.epoch.get(..8).unwrap_or(&self.epoch);
            format!("{epoch}-t{}", self.seq + 1)
        });
        if let Err(error) = self.check_no_show(&id, &input, now) {
            let _ = reply.send(Err(error));
            return;
        }
        let (row, released) = match self.apply_tournament(&id, &input, now) {
            Ok(applied) => applied,
            Err(error) => {
                let _ = reply.send(Err(error.into()));
                return;
            }
        };
        let (done, committed) = oneshot::channel();
        let write = Write::Tournament {
            rows: vec![row],
            done: Some(done),
        };
        if self.store.send(write).await.is_err() {
            let _ = reply.send(Err(EngineError::ShuttingDown));
            return;
        }
        let view = self.tournament_view(&id);
        let (publish_tx, publish_rx) = oneshot::channel();
        self.publish_after(std::slice::from_ref(&id), publish_rx);
        let (board, seq) = (self.board.clone(), self.seq);
        tokio::spawn(async move {
            let answer = match committed.await {
                Ok(()) => {
                    // On the board before the answer: a read after it sees the change.
                    if let Some(view) = &view {
                        board.put(seq, view.clone());
                    }
                    let _ = publish_tx.send(());
                    view.ok_or(EngineError::ShuttingDown)
                }
                Err(_) => Err(EngineError::ShuttingDown),
            };
            let _ = reply.send(answer);
        });
        self.void_released(released).await;
        self.call_ready().await;
    }

    /// A forfeit of a called match before the call timeout: 409 (the player may be on the way).
    fn check_no_show(
        &self,
        id: &str,
        input: &TournamentInput,
        now: u64,
    ) -> Result<(), EngineError> {
        let TournamentInput::Entry { entry, .. } = input else {
            return Ok(());
        };
        let bracket_match = match entry {
            Entry::Forfeit(f) => &f.match_id,
            Entry::DoubleForfeit(f) => &f.match_id,
            _ => return Ok(()),
        };
        let Some(call) = self.tournaments.get(id).and_then(|t| t.call(bracket_match)) else {
            return Ok(());
        };
        let from = call.called_ms.saturating_add(self.timing.call_timeout_ms);
        if now < from {
            return Err(EngineError::TooEarly(format!(
                "match {bracket_match} was called to table {} {} s ago: a no-show can be forfeited {} s after the call",
                call.table,
                now.saturating_sub(call.called_ms) / 1000,
                self.timing.call_timeout_ms / 1000
            )));
        }
        Ok(())
    }

    /// What a table's committed input does to the tournaments: the call its tournament match
    /// starts, the result its finished match enters, the call its voided match ends. Returns the
    /// rows to log in the table's transaction and the tournaments changed.
    pub(super) fn follow_table(
        &mut self,
        table: &str,
        input: &TableInput,
        applied: &Applied,
        at_ms: u64,
    ) -> (Vec<TournamentRow>, Vec<String>) {
        let mut follows: Vec<(String, TournamentInput)> = Vec::new();
        if let TableInput::TournamentMatch {
            match_id,
            tournament,
            ..
        } = input
        {
            follows.push((
                tournament.tournament_id.clone(),
                TournamentInput::Call {
                    bracket_match: tournament.bracket_match.clone(),
                    table: table.to_owned(),
                    table_match: match_id.clone(),
                },
            ));
        }
        for record in &applied.outbox {
            let (table_match, finished) = match record {
                Record::MatchFinished(f) => (&f.match_id, Some(f)),
                Record::MatchVoided(v) => (&v.match_id, None),
                _ => continue,
            };
            let Some((id, call)) = self
                .tournaments
                .iter()
                .find_map(|(id, t)| t.call_of(table_match).map(|c| (id.clone(), c.clone())))
            else {
                continue;
            };
            let input = match finished {
                Some(f) => TournamentInput::Entry {
                    entry: Entry::Result(Score {
                        match_id: call.bracket_match.clone(),
                        winner: call.players.get(f.winner).cloned(),
                        score: f.score.map(|s| u32::try_from(s).unwrap_or(0)),
                    }),
                    table_match: Some(table_match.clone()),
                    by: None,
                },
                None => TournamentInput::Release {
                    bracket_match: call.bracket_match.clone(),
                },
            };
            follows.push((id, input));
        }
        let mut rows = Vec::new();
        let mut changed = Vec::new();
        for (id, input) in follows {
            match self.apply_tournament(&id, &input, at_ms) {
                Ok((row, released)) => {
                    rows.push(row);
                    self.to_void.extend(released);
                    if !changed.contains(&id) {
                        changed.push(id);
                    }
                }
                Err(error) => {
                    tracing::warn!(tournament = %id, %table, %error, "a table's match does not fit its tournament");
                }
            }
        }
        (rows, changed)
    }

    /// Voids the table matches of calls that ended without them (staff decided or reset the
    /// match), so the tables are free again.
    async fn void_released(&mut self, released: Vec<Call>) {
        for call in released {
            let in_play = self.tables.get(&call.table).is_some_and(|t| {
                t.lit()
                    && t.view()
                        .match_info
                        .is_some_and(|m| m.match_id == call.table_match)
            });
            if !in_play {
                continue;
            }
            let input = TableInput::Staff {
                action: StaffAction::Void {
                    reason: format!(
                        "tournament match {} decided or reset by staff",
                        call.bracket_match
                    ),
                },
                by: Some(Actor::Agent {}),
            };
            let now = crate::clock::now_ms();
            let _ = self.commit(&call.table, input, now, Source::Timer).await;
        }
    }

    /// Calls every running tournament's ready matches to the free tables, longest-waiting first.
    pub(super) async fn call_ready(&mut self) {
        if !self.store.can_commit() {
            return;
        }
        let voids = std::mem::take(&mut self.to_void);
        self.void_released(voids).await;
        if !self.tournaments.values().any(Tournament::running) {
            return;
        }
        let called: Vec<String> = self
            .tournaments
            .values()
            .flat_map(|t| t.calls().map(|c| c.table.clone()))
            .collect();
        let mut free: Vec<String> = self
            .registry
            .entries()
            .into_iter()
            .filter(|e| !e.retired)
            .map(|e| e.table.clone())
            .filter(|t| !called.contains(t))
            .filter(|t| self.tables.get(t).is_none_or(|table| !table.lit()))
            .collect();
        let ids: Vec<String> = self.tournaments.keys().cloned().collect();
        for id in ids {
            if free.is_empty() {
                break;
            }
            let Some(tournament) = self.tournaments.get(&id) else {
                continue;
            };
            let planned = tournament.plan(&free);
            for plan in planned {
                let Some(tournament) = self.tournaments.get(&id) else {
                    break;
                };
                let spec = spec_of(tournament, &plan.players, plan.race_to);
                let player_ids = plan.players.clone().map(|p| {
                    tournament
                        .entrants()
                        .iter()
                        .find(|e| e.name == p)
                        .and_then(|e| e.player_id.clone())
                });
                let epoch = self.epoch.get(..8).unwrap_or(&self.epoch);
                let input = TableInput::TournamentMatch {
                    match_id: format!("{epoch}-{}", self.seq + 1),
                    spec,
                    player_ids,
                    tournament: TournamentMatch {
                        tournament_id: id.clone(),
                        bracket_match: plan.bracket_match.clone(),
                    },
                };
                free.retain(|t| t != &plan.table);
                let now = crate::clock::now_ms();
                if let Err(error) = self.commit(&plan.table, input, now, Source::Timer).await {
                    tracing::warn!(tournament = %id, table = %plan.table, %error, "cannot call a match");
                }
            }
        }
    }

    /// The cloud's planned tournaments: an unknown one is made a draft with its entrants; a
    /// draft imported before takes the entrants registered (or checked in) online since.
    pub(super) async fn import(&mut self, planned: Vec<PlannedTournament>) -> usize {
        let mut inputs: Vec<(String, TournamentInput)> = Vec::new();
        for plan in planned {
            if !shared::protocol::valid_id(&plan.id) {
                tracing::warn!(id = %plan.id, "a planned tournament's id is not usable here; skipped");
                continue;
            }
            match self.tournaments.get(&plan.id) {
                None => inputs.push((
                    plan.id.clone(),
                    TournamentInput::Create {
                        name: plan.name,
                        game: shared::rules::Game::EightBall,
                        format: plan.format,
                        options: plan.options,
                        entrants: plan.entrants,
                        tables: Vec::new(),
                        imported: true,
                        by: None,
                    },
                )),
                Some(known) if known.bracket().is_none() => {
                    for entrant in plan.entrants {
                        let here = known
                            .entrants()
                            .iter()
                            .find(|e| e.name.trim().eq_ignore_ascii_case(entrant.name.trim()));
                        if here.is_none() {
                            inputs.push((
                                plan.id.clone(),
                                TournamentInput::AddEntrant {
                                    name: entrant.name.clone(),
                                    player_id: entrant.player_id.clone(),
                                },
                            ));
                        }
                        if entrant.checked_in && !here.is_some_and(|e| e.checked_in) {
                            inputs.push((
                                plan.id.clone(),
                                TournamentInput::CheckIn {
                                    name: entrant.name,
                                    checked_in: true,
                                },
                            ));
                        }
                    }
                }
                Some(_) => {}
            }
        }
        let mut taken = 0;
        for (id, input) in inputs {
            let (reply, answer) = oneshot::channel();
            self.tournament_request(Some(id.clone()), input, reply)
                .await;
            match answer.await {
                Ok(Ok(_)) => taken += 1,
                Ok(Err(error)) => {
                    tracing::warn!(tournament = %id, %error, "a planned tournament's change was not taken");
                }
                Err(_) => break,
            }
        }
        taken
    }
}
