//! A simulated table camera for the demo: it publishes over MQTT to `dojo/v1/tables/{t}/camera`
//! as a venue's camera does — a retained `online` status (with an `offline` last will), heartbeats,
//! and per shot `shot_start`, `first_contact`, `rail_contact`, then `shot_end` with the balls at
//! rest. It learns of each shot from the table's simulated controller ([`ShotCue`], before the
//! controller's messages go out) and waits to see the controller's pockets on the table's events
//! topic before reporting the layout, so the layout agrees with the pocket sensors: the balls that
//! were on the table before the shot, less those pocketed.
//!
//! Each run is one boot: a random `boot` id in its status and every message, seqs from 1. It keeps
//! nothing to replay, and says so (`replay_window: 0`): a gap in its stream is given up at once.
//!
//! Stopping its task is a camera unplugged mid-match: the broker publishes its last will.

use std::collections::BTreeMap;
use std::time::Duration;

use firmware_bridge::simulator::ShotCue;
use firmware_bridge::simulator::play::{Plan, legal_targets};
use rand::Rng;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use shared::protocol::{self, BallPosition, DeviceEvent, DeviceMessage, DeviceStatus, Presence};
use shared::rules::{BallSet, Game};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::DemoBroker;

/// The longest a camera waits to see a shot's pockets before reporting the layout anyway.
const POCKETS_WAIT: Duration = Duration::from_secs(3);

/// The simulated camera's device id: `cam-{table}`, cut to the 32 characters a topic allows.
pub fn camera_device_id(table: &str) -> String {
    let mut id = format!("cam-{table}");
    id.truncate(protocol::MAX_ID_LEN);
    id
}

/// Runs the camera of `table` until `shutdown`; `cues` come from the table's controller, whose
/// events (from device `controller`) it watches for the pockets.
pub async fn run(
    broker: DemoBroker,
    table: String,
    controller: String,
    mut cues: mpsc::UnboundedReceiver<ShotCue>,
    shutdown: CancellationToken,
) {
    let device = camera_device_id(&table);
    let boot = format!("{:032x}", rand::random::<u128>());
    let status = |presence: Presence| {
        DeviceStatus {
            status: presence,
            firmware: Some("demo-camera".into()),
            table: Some(table.clone()),
            kind: Some("camera".into()),
            last_seen_ms: None,
            boot: Some(boot.clone()),
            replay_window: Some(0),
        }
        .encode()
    };
    let mut options = MqttOptions::new(
        format!("{device}-{}", rand::rng().random::<u32>()),
        broker.host.clone(),
        broker.port,
    );
    options.set_keep_alive(Duration::from_secs(5));
    if let Some((username, password)) = broker.login(&device) {
        options.set_credentials(username, password);
    }
    options.set_last_will(LastWill::new(
        protocol::status_topic(&device),
        status(Presence::Offline),
        QoS::AtLeastOnce,
        true,
    ));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let (pocket_tx, mut pockets) = mpsc::unbounded_channel();
    let events_topic = protocol::events_topic(&table);
    let subscribe = client.clone();
    let online = status(Presence::Online);
    let status_topic = protocol::status_topic(&device);
    let poll = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = subscribe
                        .subscribe(events_topic.clone(), QoS::AtLeastOnce)
                        .await;
                    let _ = subscribe
                        .publish(status_topic.clone(), QoS::AtLeastOnce, true, online.clone())
                        .await;
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if let Ok(message) =
                        protocol::decode(protocol::Channel::Events, &publish.payload)
                        && message.device == controller
                    {
                        let _ = pocket_tx.send(message.event);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, "demo camera: MQTT connection lost; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
    let mut camera = Camera {
        client,
        device,
        boot,
        table,
        seq: 0,
        balls: BTreeMap::new(),
    };
    let mut heartbeat = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = heartbeat.tick() => camera.publish(DeviceEvent::Heartbeat).await,
            Some(cue) = cues.recv() => {
                let stop = shutdown.clone();
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = camera.shot(&cue, &mut pockets) => {}
                }
            }
        }
    }
    poll.abort();
}

/// The camera's state: its seq and where it last saw each ball.
struct Camera {
    client: AsyncClient,
    device: String,
    boot: String,
    table: String,
    seq: u64,
    balls: BTreeMap<u8, (f32, f32)>,
}

impl Camera {
    async fn publish(&mut self, event: DeviceEvent) {
        self.seq += 1;
        let message = DeviceMessage {
            device: self.device.clone(),
            seq: self.seq,
            ts_ms: Some(crate::clock::now_ms()),
            boot: Some(self.boot.clone()),
            event,
        };
        if let Err(error) = self
            .client
            .publish(
                protocol::camera_topic(&self.table),
                QoS::AtLeastOnce,
                false,
                protocol::encode(&message),
            )
            .await
        {
            tracing::debug!(%error, "demo camera: publish failed");
        }
    }

    /// Reports one shot: the stroke and contacts now, the layout once the pockets are in.
    async fn shot(&mut self, cue: &ShotCue, pockets: &mut mpsc::UnboundedReceiver<DeviceEvent>) {
        let Plan::Shot {
            pocketed, scratch, ..
        } = &cue.plan
        else {
            return;
        };
        let on_table = if cue.before.rack_over() || cue.before.break_shot {
            cue.spec.game.full_rack()
        } else {
            cue.before.on_table
        };
        if cue.before.rack_over() || cue.before.break_shot {
            self.rack(on_table);
        }
        // Pockets seen before this shot's stroke belong to no shot of ours.
        while pockets.try_recv().is_ok() {}
        self.publish(DeviceEvent::ShotStart).await;
        if let Some(ball) = first_contact(cue, on_table) {
            self.publish(DeviceEvent::FirstContact { ball }).await;
        }
        self.publish(DeviceEvent::RailContact).await;
        let mut expected: Vec<u8> = pocketed.iter().map(|&(ball, _)| ball).collect();
        if *scratch {
            expected.push(0);
        }
        let _ = tokio::time::timeout(POCKETS_WAIT, async {
            while !expected.is_empty() {
                match pockets.recv().await {
                    Some(DeviceEvent::Pocket { ball, .. }) => expected.retain(|&b| b != ball),
                    Some(DeviceEvent::CueReturn) => expected.retain(|&b| b != 0),
                    Some(_) => {}
                    None => return,
                }
            }
        })
        .await;
        let down: Vec<u8> = pocketed.iter().map(|&(ball, _)| ball).collect();
        let balls = self.at_rest(on_table, &down, *scratch);
        self.publish(DeviceEvent::ShotEnd { balls }).await;
    }

    /// A fresh rack: the triangle on the foot spot, the cue ball in the kitchen.
    fn rack(&mut self, on_table: BallSet) {
        self.balls.clear();
        for (i, ball) in on_table.iter().enumerate() {
            let row = (0..5).find(|r| i < (r + 1) * (r + 2) / 2).unwrap_or(4);
            let in_row = i - row * (row + 1) / 2;
            let x = 0.5 + (in_row as f32 - row as f32 / 2.0) * 0.05;
            let y = 0.75 + row as f32 * 0.045;
            self.balls.insert(ball, (x, y));
        }
        self.balls.insert(0, (0.5, 0.25));
    }

    /// Where the balls lie after the shot: the pocketed ones gone, the cue ball and a few others
    /// moved.
    fn at_rest(&mut self, on_table: BallSet, down: &[u8], scratch: bool) -> Vec<BallPosition> {
        let mut rng = rand::rng();
        let spot = |rng: &mut rand::rngs::ThreadRng| {
            (
                rng.random_range(0.08..0.92f32),
                rng.random_range(0.08..0.92f32),
            )
        };
        self.balls.retain(|&n, _| n == 0 || on_table.contains(n));
        for ball in on_table.iter() {
            if down.contains(&ball) {
                self.balls.remove(&ball);
            } else if !self.balls.contains_key(&ball) || rng.random_bool(0.2) {
                self.balls.insert(ball, spot(&mut rng));
            }
        }
        if scratch {
            self.balls.remove(&0);
        } else {
            self.balls.insert(0, spot(&mut rng));
        }
        self.balls
            .iter()
            .map(|(&n, &(x, y))| BallPosition { n, x, y })
            .collect()
    }
}

/// The ball the cue ball hit first: a legal one, as the simulated players play legal shots.
fn first_contact(cue: &ShotCue, on_table: BallSet) -> Option<u8> {
    match cue.spec.game {
        Game::EightBall => {
            let made = match &cue.plan {
                Plan::Shot { pocketed, .. } => pocketed.first().map(|&(ball, _)| ball),
                Plan::Pass => None,
            };
            let broke = cue.before.rack_over() || cue.before.break_shot;
            made.or_else(|| {
                if broke {
                    on_table.lowest()
                } else {
                    legal_targets(&cue.spec, &cue.before).first().copied()
                }
            })
        }
        _ => on_table.lowest(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rack_is_a_triangle_and_a_layout_leaves_out_what_dropped() {
        let (client, _eventloop) = AsyncClient::new(MqttOptions::new("t", "127.0.0.1", 1), 1);
        let mut camera = Camera {
            client,
            device: "cam-t".into(),
            boot: "b".into(),
            table: "t".into(),
            seq: 0,
            balls: BTreeMap::new(),
        };
        let rack = Game::NineBall.full_rack();
        camera.rack(rack);
        assert_eq!(camera.balls.len(), 10);
        let balls = camera.at_rest(rack, &[1, 5], false);
        let seen: Vec<u8> = balls.iter().map(|b| b.n).collect();
        assert_eq!(seen, vec![0, 2, 3, 4, 6, 7, 8, 9]);
        assert!(
            balls
                .iter()
                .all(|b| (0.0..=1.0).contains(&b.x) && (0.0..=1.0).contains(&b.y))
        );
        let left: BallSet = [2, 3, 4, 6, 7, 8, 9].into_iter().collect();
        let balls = camera.at_rest(left, &[], true);
        assert!(balls.iter().all(|b| b.n != 0), "the cue ball went down");
    }
}
