//! Shot assembly: what arrives from the sensors between two shots becomes one [`Shot`] for the
//! rules. A camera's `shot_start` … `shot_end` brackets a shot (and makes first contact and rails
//! observed facts); without a camera a shot closes on `end_turn`, or after a quiet period once balls
//! have dropped (the engine logs that as a `quiet_close` input so a replay closes it at the same
//! place). A shot the sensors got wrong is repaired, not dropped.

use shared::protocol::DeviceEvent;
use shared::rules::{Call, Input, Pocketed, Rejected, Shot};

use super::{Applied, StaffAction, Table};

/// The shot in progress: what the sensors and staff said about it so far.
#[derive(Clone, Debug, Default)]
pub(super) struct Pending {
    pub(super) open: bool,
    pub(super) camera: bool,
    pub(super) pocketed: Vec<Pocketed>,
    pub(super) cue_ball: bool,
    pub(super) first_contact: Option<u8>,
    pub(super) rail: bool,
    pub(super) called: Option<Call>,
    pub(super) push_out: bool,
    pub(super) safety: bool,
    pub(super) last_change_ms: u64,
    /// The camera bracketing the shot (see `fallback`).
    pub(super) camera_device: Option<String>,
    /// When that camera last reported on the shot.
    pub(super) camera_ms: u64,
    /// A lost camera handed the shot to the pocket sensors: it closes like a sensor-only shot,
    /// after the quiet period even with no ball down.
    pub(super) handed_over: bool,
    /// The shot as it was before each entry, newest last, for undo (see `manual`).
    pub(super) history: Vec<Pending>,
}

impl Pending {
    pub(super) fn has_balls(&self) -> bool {
        !self.pocketed.is_empty() || self.cue_ball
    }

    pub(super) fn shot(&self, foul: bool) -> Shot {
        Shot {
            first_contact: self.first_contact,
            pocketed: self.pocketed.clone(),
            cue_ball_pocketed: self.cue_ball,
            rail_after_contact: (self.camera && !self.has_balls()).then_some(self.rail),
            called: self.called,
            push_out: self.push_out,
            safety: self.safety,
            foul,
            ..Shot::default()
        }
    }
}

impl Table {
    pub(super) fn device_event(&mut self, event: &DeviceEvent, at_ms: u64, applied: &mut Applied) {
        if self.game.is_none() || self.voided() {
            return;
        }
        let pending = &mut self.pending;
        match event {
            DeviceEvent::Pocket { ball: 0, .. } | DeviceEvent::CueReturn => {
                pending.drop_ball(0, None);
            }
            DeviceEvent::Pocket { ball, pocket } => {
                pending.drop_ball(*ball, Some(*pocket));
            }
            DeviceEvent::Button { button } => {
                // A refused button press (e.g. pass when there is nothing to pass) is logged and
                // ignored: buttons are pressed by people and cannot be answered with an error.
                if let Err(error) = self.staff(&StaffAction::from(*button), None, at_ms, applied) {
                    applied.repaired = Some(format!("button {} ignored: {error}", button.as_str()));
                }
                return;
            }
            DeviceEvent::Rack => {
                self.pending = Pending::default();
                return;
            }
            DeviceEvent::ShotStart => {
                if pending.has_balls() && !pending.open {
                    self.close_shot(false, applied);
                }
                let pending = &mut self.pending;
                pending.open = true;
                pending.camera = true;
                pending.first_contact = None;
                pending.rail = false;
            }
            DeviceEvent::FirstContact { ball } => {
                if pending.open && pending.first_contact.is_none() {
                    pending.first_contact = Some(*ball);
                }
            }
            DeviceEvent::RailContact => pending.rail |= pending.open,
            DeviceEvent::ShotEnd { .. } => {
                if pending.open {
                    self.close_shot(false, applied);
                }
                return;
            }
            DeviceEvent::Heartbeat | DeviceEvent::Frame { .. } => return,
        }
        self.pending.last_change_ms = at_ms;
    }

    /// Closes the shot in progress and rules it. A shot the sensors got wrong (a ball reported that
    /// is already down, a push-out no longer allowed) is repaired, not dropped: the impossible fact
    /// is removed and the rest is ruled, and the repair is reported.
    pub(super) fn close_shot(&mut self, foul: bool, applied: &mut Applied) {
        let mut shot = self.pending.shot(foul);
        self.pending = Pending::default();
        let Some((_, game)) = self.game.as_ref() else {
            return;
        };
        if game.state().match_winner.is_some() {
            return;
        }
        let mut notes = Vec::new();
        for _ in 0..20 {
            match self.rule(Input::shot(shot.clone()), applied) {
                Ok(()) => break,
                Err(error) => {
                    notes.push(error.to_string());
                    if !repair(&mut shot, &error) {
                        break;
                    }
                }
            }
        }
        if !notes.is_empty() {
            applied.repaired = Some(notes.join("; "));
        }
    }

    /// Whether the quiet period has passed on a shot with balls down (or handed over by a lost
    /// camera) and no camera bracket.
    pub fn quiet_due(&self, now_ms: u64, quiet_ms: u64) -> bool {
        quiet_ms > 0
            && self.game.is_some()
            && !self.pending.open
            && (self.pending.has_balls() || self.pending.handed_over)
            && now_ms.saturating_sub(self.pending.last_change_ms) >= quiet_ms
    }
}

/// Removes the fact the rules refused; false if there is nothing left to remove.
fn repair(shot: &mut Shot, error: &Rejected) -> bool {
    match error {
        Rejected::BallNotOnTable(ball)
        | Rejected::BallNotInGame(ball, _)
        | Rejected::DuplicateBall(ball) => {
            let before = (shot.pocketed.len(), shot.first_contact, shot.called);
            shot.pocketed.retain(|p| p.ball != *ball);
            shot.object_off_table.retain(|b| b != ball);
            if shot.first_contact == Some(*ball) {
                shot.first_contact = None;
            }
            if shot.called.is_some_and(|c| c.ball == *ball) {
                shot.called = None;
            }
            before != (shot.pocketed.len(), shot.first_contact, shot.called)
        }
        Rejected::PushOutNotAllowed | Rejected::Contradiction(_) if shot.push_out => {
            shot.push_out = false;
            true
        }
        _ => false,
    }
}
