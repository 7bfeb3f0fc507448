//! The match in play: starting one, staff and player actions on it, and ruling inputs with the
//! rules engine in `shared`, which says what each input finished.

use shared::rules::{Action, ActionKind, Call, Correction, Input, Match, MatchSpec, Rejected};

use super::records;
use super::shot::Pending;
use super::{Actor, Applied, Refused, StaffAction, Table};
use crate::view::MatchInfo;

impl Table {
    /// Starts a match, unless one is in play; `by` (who started it) goes into its record.
    pub(super) fn start(
        &mut self,
        match_id: &str,
        spec: &MatchSpec,
        player_ids: &[Option<String>; 2],
        by: Option<&Actor>,
        received_ms: u64,
        applied: &mut Applied,
    ) -> Result<(), Refused> {
        if self.in_play() {
            return Err(Refused::Busy);
        }
        let game = Match::new(spec.clone())?;
        let info = MatchInfo {
            match_id: match_id.to_owned(),
            game: spec.game,
            players: spec.players.clone(),
            race_to: spec.race_to,
            break_rule: spec.break_rule,
            player_ids: player_ids.clone(),
            voided: None,
            demo: false,
            tournament: None,
        };
        applied.match_start = true;
        applied
            .outbox
            .push(records::started(&self.id, &info, spec, by, received_ms));
        self.game = Some((info, game));
        self.pending = Pending::default();
        self.missing_events = 0;
        Ok(())
    }

    pub(super) fn staff(
        &mut self,
        action: &StaffAction,
        by: Option<&Actor>,
        at_ms: u64,
        applied: &mut Applied,
    ) -> Result<(), Refused> {
        if self.voided() {
            return Err(Rejected::MatchOver.into());
        }
        let (_, game) = self.game.as_mut().ok_or(Refused::NoMatch)?;
        let state = game.state();
        match action {
            StaffAction::EndTurn {} => self.close_shot(false, applied),
            StaffAction::Foul {} if self.pending.has_balls() => self.close_shot(true, applied),
            StaffAction::Foul {} => self.rule(Input::action(ActionKind::Foul), applied)?,
            StaffAction::Undo {} => self.undo(by, applied)?,
            StaffAction::PushOut {} if !state.push_out_available => {
                return Err(Rejected::PushOutNotAllowed.into());
            }
            StaffAction::PushOut {} => {
                self.pending.remember();
                self.pending.push_out = true;
            }
            StaffAction::Safety {} if state.match_winner.is_some() => {
                return Err(Rejected::MatchOver.into());
            }
            StaffAction::Safety {} => {
                self.pending.remember();
                self.pending.safety = true;
            }
            StaffAction::Pass {} => self.rule(Input::action(ActionKind::Pass), applied)?,
            StaffAction::Rerack {} => self.rule(Input::action(ActionKind::Rerack), applied)?,
            StaffAction::Concede { player } => {
                self.rule(
                    Input::Action(Action {
                        action: ActionKind::Concede,
                        player: *player,
                    }),
                    applied,
                )?;
            }
            StaffAction::Call { ball, pocket } => {
                let table = if state.rack_over() {
                    game.spec().game.full_rack()
                } else {
                    state.on_table
                };
                if !table.contains(*ball) {
                    return Err(Rejected::BallNotOnTable(*ball).into());
                }
                if pocket.is_some_and(|p| !(1..=6).contains(&p)) {
                    return Err(Rejected::NoSuchPocket(pocket.unwrap_or(0)).into());
                }
                self.pending.remember();
                self.pending.called = Some(Call {
                    ball: *ball,
                    pocket: *pocket,
                });
            }
            StaffAction::Pocket { ball, pocket } => self.manual_pocket(*ball, *pocket, at_ms)?,
            StaffAction::CueBall {} => self.manual_pocket(0, None, at_ms)?,
            StaffAction::AdjustRack {
                player,
                delta,
                reason,
            } => {
                let correction = Correction::AdjustRack {
                    player: *player,
                    delta: *delta,
                    reason: reason.clone(),
                };
                self.correct(correction, by, applied)?;
            }
            StaffAction::SetScore { score, reason } => {
                let correction = Correction::SetScore {
                    score: *score,
                    reason: reason.clone(),
                };
                self.correct(correction, by, applied)?;
            }
            StaffAction::Void { reason } => self.void(reason, by, at_ms, applied)?,
            // The shot clock's actions need the input's time: `Table::apply` gives them to
            // `Table::clock_action` before they could reach here.
            StaffAction::ShotClockPause {}
            | StaffAction::ShotClockResume {}
            | StaffAction::ShotClockExtension { .. } => return Err(Refused::NoClock),
        }
        Ok(())
    }

    /// Sends an input to the rules and records what it finished.
    pub(super) fn rule(&mut self, input: Input, applied: &mut Applied) -> Result<(), Rejected> {
        let Some((info, game)) = self.game.as_mut() else {
            return Ok(());
        };
        let before = game.state().clone();
        game.apply(input)?;
        applied
            .outbox
            .extend(records::finished(&self.id, info, game, &before));
        Ok(())
    }
}
