//! A shot never waits forever. A camera that brackets a shot and then goes silent (no `shot_end`
//! within the engine's camera timeout: the engine logs a `camera_lost` input) or offline (its
//! presence input) hands the shot to the pocket-sensor path: the bracket is dropped and the shot
//! closes like any sensor-only shot, on `end_turn` or after the quiet period — even with no ball
//! down, since nobody at a camera table presses end turn. A second camera starting a shot while
//! another's bracket is open (a replaced camera) closes that shot first (the engine counts the
//! replacement when it first hears the new device). Each of these is a logged
//! input, so a replay hands over at the same place (see docs/decisions/0007-scoring-fallbacks.md),
//! and each is reported in [`Applied::fallbacks`] for the engine to count and log.

use shared::protocol::DeviceEvent;

use super::mode::{self, ScoringFlag, ScoringMode, ScoringView};
use super::{Applied, Table};

impl Table {
    /// How the table is scored now.
    pub fn scoring_mode(&self) -> ScoringMode {
        let devices: Vec<_> = self.devices.values().cloned().collect();
        mode::derive(&devices)
    }

    /// The `scoring` part of the view: the mode, device trouble, then the kept flags.
    pub(super) fn scoring_view(&self) -> ScoringView {
        let devices: Vec<_> = self.devices.values().cloned().collect();
        let mut flags = mode::device_flags(&devices);
        flags.extend(self.kept_flags.iter().cloned());
        ScoringView {
            mode: mode::derive(&devices),
            flags,
        }
    }

    /// Before a camera event is applied: a shot start closes a shot that cannot go on (one handed
    /// over by a lost camera, or one another camera is bracketing).
    pub(super) fn before_camera_event(
        &mut self,
        device: &str,
        event: &DeviceEvent,
        applied: &mut Applied,
    ) {
        if self.game.is_none() || *event != DeviceEvent::ShotStart {
            return;
        }
        let pending = &self.pending;
        let other_camera = pending.open && pending.camera_device.as_deref() != Some(device);
        let handed_over = !pending.open && pending.handed_over;
        if other_camera || handed_over {
            self.close_shot(false, applied);
        }
    }

    /// After a camera event is applied: which camera brackets the shot, and when it last spoke.
    pub(super) fn after_camera_event(&mut self, device: &str, event: &DeviceEvent, at_ms: u64) {
        if !self.pending.open {
            return;
        }
        match event {
            DeviceEvent::ShotStart => {
                self.pending.camera_device = Some(device.to_owned());
                self.pending.camera_ms = at_ms;
            }
            DeviceEvent::FirstContact { .. } | DeviceEvent::RailContact
                if self.pending.camera_device.as_deref() == Some(device) =>
            {
                self.pending.camera_ms = at_ms;
            }
            _ => {}
        }
    }

    /// The camera bracketing the shot in progress, if it has said nothing for `timeout_ms`.
    pub fn camera_due(&self, now_ms: u64, timeout_ms: u64) -> Option<String> {
        let pending = &self.pending;
        (timeout_ms > 0
            && self.game.is_some()
            && pending.open
            && now_ms.saturating_sub(pending.camera_ms) >= timeout_ms)
            .then(|| pending.camera_device.clone().unwrap_or_default())
    }

    /// `camera_lost`: the camera bracketing the shot sent no `shot_end` in time.
    pub(super) fn camera_lost(
        &mut self,
        device: &str,
        seq: u64,
        at_ms: u64,
        applied: &mut Applied,
    ) {
        if self.pending.open && self.pending.camera_device.as_deref().unwrap_or("") == device {
            self.hand_over(device, seq, at_ms, "camera_timeout", applied);
        }
    }

    /// A device's presence changed: a camera gone offline mid-shot hands the shot over; a kind of
    /// device gone with no other of its kind online is a fallback of the table's scoring.
    pub(super) fn presence_changed(
        &mut self,
        device: &str,
        online: bool,
        seq: u64,
        at_ms: u64,
        applied: &mut Applied,
    ) {
        if online {
            return;
        }
        let kind = self.devices.get(device).map_or("controller", |d| d.kind);
        let others_online = self
            .devices
            .values()
            .any(|d| d.kind == kind && d.online && d.device != device);
        if self.pending.open && self.pending.camera_device.as_deref() == Some(device) {
            self.hand_over(device, seq, at_ms, "camera_offline", applied);
        } else if !others_online {
            applied.fallbacks.push(if kind == "camera" {
                "camera_offline"
            } else {
                "controller_offline"
            });
        }
    }

    /// Drops the camera's bracket: the shot is now the pocket sensors' to close.
    fn hand_over(
        &mut self,
        device: &str,
        seq: u64,
        at_ms: u64,
        why: &'static str,
        applied: &mut Applied,
    ) {
        let pending = &mut self.pending;
        pending.open = false;
        // What the camera saw of the rails is incomplete: no no-rail foul on half a look.
        pending.camera = false;
        pending.camera_device = None;
        pending.handed_over = true;
        pending.last_change_ms = at_ms;
        applied.fallbacks.push(why);
        let what = if why == "camera_timeout" {
            "sent no shot_end in time"
        } else {
            "went offline"
        };
        self.keep_flag(ScoringFlag {
            kind: "shot_handed_over",
            device: Some(device.to_owned()),
            seq: Some(seq),
            still_seen: Vec::new(),
            unreported: Vec::new(),
            detail: format!(
                "camera {device} {what} mid-shot: the pocket sensors close the shot (end turn, or the quiet period)"
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared::protocol::{BallPosition, DeviceEvent};

    use super::super::{Table, TableInput};

    /// A step of a scenario: `(seq, ms, input)`.
    fn from(device: &str, seq: u64, event: DeviceEvent) -> TableInput {
        TableInput::Device {
            device: device.into(),
            seq,
            event,
        }
    }

    fn playing() -> Table {
        let mut table = Table::new("t1");
        let spec = serde_json::from_value(
            json!({"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 2, "break": "alternate"}),
        )
        .expect("spec");
        let start = TableInput::StartMatch {
            match_id: "m1".into(),
            spec,
            player_ids: Default::default(),
            demo: false,
            by: None,
        };
        table.apply(&start, 1, 0).expect("start");
        table
    }

    /// Applies `(ms, input)`s at the next seqs; the fallbacks each reported.
    fn run(table: &mut Table, inputs: &[(u64, TableInput)]) -> Vec<Vec<&'static str>> {
        let next = table.view().seq + 1;
        inputs
            .iter()
            .enumerate()
            .map(|(i, (ms, input))| {
                table
                    .apply(input, next + i as u64, *ms)
                    .expect("applies")
                    .fallbacks
            })
            .collect()
    }

    #[test]
    fn a_silent_camera_is_due_after_the_timeout_and_its_shot_closes_on_the_quiet_period() {
        let mut table = playing();
        run(
            &mut table,
            &[
                (1_000, from("cam", 1, DeviceEvent::ShotStart)),
                (1_100, from("cam", 2, DeviceEvent::FirstContact { ball: 1 })),
                (
                    1_500,
                    from("ctl", 1, DeviceEvent::Pocket { ball: 2, pocket: 1 }),
                ),
            ],
        );
        assert_eq!(table.camera_due(20_000, 20_000), None);
        assert_eq!(table.camera_due(21_100, 20_000), Some("cam".into()));
        assert_eq!(table.camera_due(21_100, 0), None, "0 = wait for the camera");
        assert!(!table.quiet_due(30_000, 10_000), "the camera brackets it");
        let lost = TableInput::CameraLost {
            device: "cam".into(),
        };
        assert_eq!(
            run(&mut table, &[(21_100, lost)]),
            vec![vec!["camera_timeout"]]
        );
        let view = table.view();
        assert!(!view.shot.open);
        assert_eq!(view.shot.pocketed, vec![2]);
        assert_eq!(view.scoring.flags[0].kind, "shot_handed_over");
        assert_eq!(table.camera_due(99_000, 20_000), None);
        assert!(!table.quiet_due(31_000, 10_000));
        assert!(table.quiet_due(31_100, 10_000));
        run(&mut table, &[(31_100, TableInput::QuietClose)]);
        let view = table.view();
        assert_eq!(
            view.state.map(|s| (s.shooter, s.on_table.len())),
            Some((0, 8))
        );
    }

    #[test]
    fn a_camera_offline_mid_shot_hands_over_a_miss_that_closes_without_balls() {
        let mut table = playing();
        let fallbacks = run(
            &mut table,
            &[
                (0, from("ctl", 1, DeviceEvent::Heartbeat)),
                (1_000, from("cam", 1, DeviceEvent::ShotStart)),
                (
                    1_200,
                    TableInput::Presence {
                        device: "cam".into(),
                        online: false,
                    },
                ),
            ],
        );
        assert_eq!(fallbacks[2], vec!["camera_offline"]);
        assert_eq!(table.scoring_mode(), super::ScoringMode::Sensors);
        assert!(
            table.quiet_due(11_200, 10_000),
            "nothing down, still closes"
        );
        run(&mut table, &[(11_200, TableInput::QuietClose)]);
        assert_eq!(table.view().state.map(|s| s.shooter), Some(1));
        // A stale camera_lost for that camera changes nothing.
        let lost = TableInput::CameraLost {
            device: "cam".into(),
        };
        assert_eq!(run(&mut table, &[(12_000, lost)]), vec![Vec::<&str>::new()]);
    }

    #[test]
    fn a_camera_first_known_from_its_status_scores_as_a_camera_once_it_speaks() {
        let mut table = playing();
        let online = TableInput::Presence {
            device: "cam".into(),
            online: true,
        };
        run(&mut table, &[(0, online)]);
        run(&mut table, &[(100, from("cam", 1, DeviceEvent::ShotStart))]);
        assert_eq!(table.scoring_mode(), super::ScoringMode::Camera);
    }

    #[test]
    fn a_new_camera_closes_the_old_bracket_and_a_shot_end_is_checked() {
        let mut table = playing();
        let at = |n| BallPosition { n, x: 0.5, y: 0.5 };
        let fallbacks = run(
            &mut table,
            &[
                (1_000, from("cam-a", 1, DeviceEvent::ShotStart)),
                (
                    1_100,
                    from("ctl", 1, DeviceEvent::Pocket { ball: 3, pocket: 1 }),
                ),
                (5_000, from("cam-b", 1, DeviceEvent::ShotStart)),
            ],
        );
        // Counted by the engine, once per new device (`engine::scoring`), not here.
        assert!(fallbacks[2].is_empty());
        let view = table.view();
        assert!(view.shot.open && view.shot.pocketed.is_empty());
        let report = view.state.expect("playing");
        assert_eq!((report.shooter, report.on_table.contains(3)), (0, false));
        assert_eq!(table.camera_due(25_000, 20_000), Some("cam-b".into()));
        // cam-b's shot: the 1 reported, but the camera sees it and misses the 9.
        let balls = [0, 1, 2, 4, 5, 6, 7, 8].map(at).to_vec();
        run(
            &mut table,
            &[
                (
                    5_100,
                    from("ctl", 2, DeviceEvent::Pocket { ball: 1, pocket: 2 }),
                ),
                (6_000, from("cam-b", 2, DeviceEvent::ShotEnd { balls })),
            ],
        );
        let layouts = table.layouts();
        assert_eq!(layouts.len(), 1);
        assert_eq!((layouts[0].seq, layouts[0].rack), (6, 1));
        assert_eq!(layouts[0].pocketed, vec![1]);
        let flag = &layouts[0].flags[0];
        assert_eq!(
            (flag.still_seen.clone(), flag.unreported.clone()),
            (vec![1], vec![9])
        );
        assert_eq!(table.view().scoring.flags, layouts[0].flags);
        // The same layouts come back from a replay of the logged inputs.
        let mut log = vec![];
        let mut fresh = playing();
        let inputs = [
            (1_000, from("cam-a", 1, DeviceEvent::ShotStart)),
            (
                1_100,
                from("ctl", 1, DeviceEvent::Pocket { ball: 3, pocket: 1 }),
            ),
            (5_000, from("cam-b", 1, DeviceEvent::ShotStart)),
            (
                5_100,
                from("ctl", 2, DeviceEvent::Pocket { ball: 1, pocket: 2 }),
            ),
            (
                6_000,
                from(
                    "cam-b",
                    2,
                    DeviceEvent::ShotEnd {
                        balls: [0, 1, 2, 4, 5, 6, 7, 8].map(at).to_vec(),
                    },
                ),
            ),
        ];
        run(&mut fresh, &inputs);
        let start = json!({"input": "start_match", "match_id": "m1",
            "spec": {"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 2, "break": "alternate"}});
        log.push((1, 0, start.to_string()));
        for (i, (ms, input)) in inputs.iter().enumerate() {
            log.push((
                i as u64 + 2,
                *ms,
                serde_json::to_string(input).expect("json"),
            ));
        }
        assert_eq!(
            super::super::layouts_of("t1", &log),
            fresh.layouts().to_vec()
        );
        assert_eq!(fresh.layouts(), table.layouts());
    }
}
