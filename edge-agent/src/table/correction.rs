//! Corrections and void: staff edit the score (+1/−1 rack, set the score) with a reason, and
//! void a match. A score correction is an input of the rules engine (`shared::rules::Correction`),
//! so undo and replay treat it like any line; a void is the table's: the match ends with no
//! winner. Each leaves a record for the cloud that says who made it and why.

use shared::rules::{ActionKind, Correction, Input, Rejected, check_reason};
use shared::sync::Record;

use super::shot::Pending;
use super::{Actor, Applied, Refused, Table, records};
use crate::view::Voided;

impl Table {
    /// Whether a match is in play: started, not won and not voided.
    pub(super) fn in_play(&self) -> bool {
        self.game.as_ref().is_some_and(|(info, game)| {
            game.state().match_winner.is_none() && info.voided.is_none()
        })
    }

    /// Whether the match on the table was voided.
    pub(super) fn voided(&self) -> bool {
        self.game
            .as_ref()
            .is_some_and(|(info, _)| info.voided.is_some())
    }

    /// A score correction: ruled by the engine, then recorded (before anything it finished) with
    /// who made it and why.
    pub(super) fn correct(
        &mut self,
        correction: Correction,
        by: Option<&Actor>,
        applied: &mut Applied,
    ) -> Result<(), Refused> {
        let reason = correction.reason().to_owned();
        let at = applied.outbox.len();
        self.rule(Input::Correction { correction }, applied)?;
        if let Some(record) = self.corrected(by, Some(reason)) {
            applied.outbox.insert(at, record);
        }
        Ok(())
    }

    /// Undo of the last ruled input. A correction it takes back, or a result it changes, is
    /// recorded with who undid it.
    pub(super) fn undo_ruled(
        &mut self,
        by: Option<&Actor>,
        applied: &mut Applied,
    ) -> Result<(), Refused> {
        let undone = self
            .game
            .as_ref()
            .and_then(|(_, game)| match game.inputs().last() {
                Some(Input::Correction { correction }) => {
                    Some(format!("undo of a correction: {}", correction.reason()))
                }
                _ => None,
            });
        let at = applied.outbox.len();
        self.rule(Input::action(ActionKind::Undo), applied)?;
        let author = by.map(records::author);
        let tail = applied.outbox.get_mut(at..).unwrap_or_default();
        match tail.iter_mut().find_map(|record| match record {
            Record::ResultCorrected(r) => Some(r),
            _ => None,
        }) {
            Some(corrected) => {
                corrected.by = author;
                corrected.reason = undone;
            }
            None if undone.is_some() => applied.outbox.extend(self.corrected(by, undone)),
            None => {}
        }
        Ok(())
    }

    /// Voids the match in play: it ends with no winner, and the shot in progress is dropped.
    pub(super) fn void(
        &mut self,
        reason: &str,
        by: Option<&Actor>,
        at_ms: u64,
        applied: &mut Applied,
    ) -> Result<(), Refused> {
        check_reason(reason)?;
        if !self.in_play() {
            return Err(match self.game {
                None => Refused::NoMatch,
                Some(_) => Rejected::MatchOver.into(),
            });
        }
        let Some((info, _)) = self.game.as_mut() else {
            return Err(Refused::NoMatch);
        };
        let voided = Voided {
            reason: reason.to_owned(),
            by: by.cloned(),
            voided_ms: at_ms,
        };
        applied
            .outbox
            .push(records::voided(&self.id, info, &voided));
        info.voided = Some(voided);
        self.pending = Pending::default();
        Ok(())
    }

    /// The record of the result as it now stands, made by `by` for `reason`.
    fn corrected(&self, by: Option<&Actor>, reason: Option<String>) -> Option<Record> {
        let (info, game) = self.game.as_ref()?;
        Some(records::corrected(&self.id, info, game.state(), by, reason))
    }
}
