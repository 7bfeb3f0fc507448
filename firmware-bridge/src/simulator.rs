//! A simulated table controller that speaks protocol v1 on a byte stream, normally the master side
//! of a pseudo-terminal ([`pty`]) whose slave path the bridge opens like a real serial port.
//!
//! It behaves like the firmware the protocol document describes: a lone `0x00` and a `hello`
//! (seq 1) after power-up, a `heartbeat` when nothing else was sent for 2 s, retransmission of the
//! oldest unacknowledged frame after 1 s, `replay_from` (0: a fresh `hello`), `light` (answered
//! with `light_state`), `identify` and `time_sync`. It plays plausible matches: a mirror of the
//! match (`shared::rules::Match`, the same engine edge-agent rules with) keeps the table state, and
//! [`play::choose`] picks each shot — a break, a legal made ball, a miss (sometimes declared a
//! `safety` or a `push_out`), a scratch (`cue_return`) or a `pass` — sent as its messages and closed
//! with the `end_turn` button; `rack_ready` precedes each new rack. Play starts once the host has
//! spoken (so no shot is played to a port nobody has open), and stops when the mirror has a match
//! winner; heartbeats go on. Everything random comes from a seed.
//!
//! [`Controller::new`] plays one 9-ball match ([`SimOptions::spec`], what `firmware-bridge simulate`
//! does); [`Controller::idle`] waits for the matches its [`Players`] are given (what edge-agent's
//! demo does: it starts each match on the agent, then has the players play it here, so the demo's
//! events take the same serial path as a real venue's).
//!
//! A table with a camera ([`Controller::with_camera`]): each shot is first told to the camera (a
//! [`ShotCue`], so it can report the stroke, first contact and rails before any ball drops), its
//! messages follow after a short lead, and no `end_turn` is pressed — the camera's `shot_end` closes
//! the shot, as at a venue with a camera.
//!
//! The controller's state outlives a connection ([`Controller::run`] returns on unplug), so a test
//! can "unplug" (drop the pty) and "re-plug" (run again on a new pty) the same controller, or
//! [`Controller::power_cycle`] it.

pub mod play;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shared::protocol::Button;
use shared::rules::{BreakRule, Game, HouseRules, Match, MatchSpec, State};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_serial::{SerialPort, SerialStream};

use crate::codec::{Capabilities, Decoder, Frame, Message, Side, encode};

/// Frames a controller keeps for retransmission and replay.
pub const HELD_FRAMES: usize = 256;

/// How the simulated controller behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOptions {
    /// Device id (`hello`).
    pub device: String,
    /// Table id (`hello`).
    pub table: String,
    /// Firmware version (`hello`).
    pub firmware: String,
    /// Race length of the match it plays (9-ball, players alternate breaks).
    pub race_to: u32,
    /// Seed for every random choice.
    pub seed: u64,
    /// Time between shots (each gap is this × 0.7–1.3).
    pub shot_gap: Duration,
    /// Extra time after a rack is won, before the next rack's `rack_ready` and break.
    pub rack_gap: Duration,
    /// Heartbeat when nothing was sent for this long.
    pub heartbeat: Duration,
    /// Retransmit the oldest unacknowledged frame after this long.
    pub retransmit_after: Duration,
    /// Garble the first transmission of the frame with this seq (bad CRC on the wire), to make a
    /// gap the host must repair.
    pub garble_seq: Option<u32>,
}

impl SimOptions {
    /// Human pace (a shot every 3 s) for `table`, device `ctl-{table}`.
    pub fn new(table: &str) -> SimOptions {
        SimOptions {
            device: format!("ctl-{table}"),
            table: table.to_owned(),
            firmware: format!("sim-{}", env!("CARGO_PKG_VERSION")),
            race_to: 3,
            seed: 1,
            shot_gap: Duration::from_secs(3),
            rack_gap: Duration::ZERO,
            heartbeat: Duration::from_secs(2),
            retransmit_after: Duration::from_secs(1),
            garble_seq: None,
        }
    }

    /// The match spec the controller mirrors (what staff should start on edge-agent).
    pub fn spec(&self) -> MatchSpec {
        MatchSpec {
            game: Game::NineBall,
            players: ["Ann".into(), "Bo".into()],
            race_to: self.race_to,
            break_rule: BreakRule::Alternate,
            rules: HouseRules::default(),
        }
    }
}

/// What the controller did, for tests and the CLI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Sequenced frames sent (first transmissions).
    pub sent: u64,
    /// Frames sent again (retransmission or `replay_from`).
    pub resent: u64,
    /// Highest seq the host acked.
    pub acked: u32,
    /// Shots played.
    pub shots: u64,
    /// `light` commands obeyed, in order.
    pub lights: Vec<bool>,
    /// `identify` commands obeyed.
    pub identifies: u64,
    /// Host frames received.
    pub host_frames: u64,
}

/// A simulated controller. See the module documentation.
#[derive(Debug)]
pub struct Controller {
    opts: SimOptions,
    rng: StdRng,
    seq: u32,
    held: VecDeque<(Frame, Instant)>,
    /// The match being played (or last played); `None` until an idle controller gets one.
    mirror: Option<Match>,
    rack: u32,
    /// Plans played in the current match (a safety net: [`play::MAX_SHOTS`]).
    match_shots: u32,
    next_shot: Instant,
    /// Matches to play ([`Controller::idle`]), each with who to tell when it is over.
    matches: Option<mpsc::Receiver<Assignment>>,
    finished_tx: Option<oneshot::Sender<Finished>>,
    last_sent: Instant,
    garbled: bool,
    stats: SimStats,
    /// The table's camera, told of each shot before its messages go out.
    camera: Option<mpsc::UnboundedSender<ShotCue>>,
    /// How long a shot's messages wait after the camera was told.
    camera_lead: Duration,
    /// A shot's messages waiting for the camera's lead.
    delayed: Option<(Instant, Vec<Message>)>,
}

/// A shot as the table's camera learns of it, before it is played out on the serial line.
#[derive(Clone, Debug)]
pub struct ShotCue {
    /// The match.
    pub spec: MatchSpec,
    /// The mirror's state before the shot.
    pub before: State,
    /// The shot.
    pub plan: play::Plan,
}

impl Controller {
    /// A controller that has not been powered up yet (its first run sends `hello`) and plays the
    /// 9-ball match of [`SimOptions::spec`] (a bad `race_to` falls back to the default race).
    pub fn new(opts: SimOptions) -> Controller {
        let spec = opts.spec();
        let mirror = Match::new(spec)
            .or_else(|_| Match::new(SimOptions::new(&opts.table).spec()))
            .ok();
        let mut controller = Controller::blank(opts);
        controller.mirror = mirror;
        controller
    }

    /// A controller that has not been powered up yet and plays nothing until its [`Players`] are
    /// given a match (then it sends `rack_ready` and plays it from the break).
    pub fn idle(opts: SimOptions) -> (Controller, Players) {
        let (tx, rx) = mpsc::channel(1);
        let mut controller = Controller::blank(opts);
        controller.matches = Some(rx);
        (controller, Players { tx })
    }

    fn blank(opts: SimOptions) -> Controller {
        Controller {
            rng: StdRng::seed_from_u64(opts.seed),
            opts,
            seq: 0,
            held: VecDeque::new(),
            mirror: None,
            rack: 1,
            match_shots: 0,
            next_shot: Instant::now(),
            last_sent: Instant::now(),
            garbled: false,
            stats: SimStats::default(),
            matches: None,
            finished_tx: None,
            camera: None,
            camera_lead: Duration::ZERO,
            delayed: None,
        }
    }

    /// Puts a camera on this table: each shot is told to the returned receiver first; its
    /// messages follow `lead` later, without `end_turn` (the camera's `shot_end` closes the shot).
    pub fn with_camera(&mut self, lead: Duration) -> mpsc::UnboundedReceiver<ShotCue> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.camera = Some(tx);
        self.camera_lead = lead;
        rx
    }

    /// The options.
    pub fn options(&self) -> &SimOptions {
        &self.opts
    }

    /// The counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// The mirror's match winner (0 or 1), once the match is over.
    pub fn winner(&self) -> Option<usize> {
        self.mirror.as_ref().and_then(|m| m.state().match_winner)
    }

    /// Racks won so far by each player, per the mirror.
    pub fn score(&self) -> [i32; 2] {
        self.mirror.as_ref().map_or([0, 0], |m| m.state().score)
    }

    /// Whether a match is in play (given and not over).
    fn playing(&self) -> bool {
        self.mirror.is_some() && self.winner().is_none()
    }

    /// The last seq sent.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Loses power: forgets its seq and held frames (the next run starts again at seq 1 with a
    /// `hello`); the match on the table goes on.
    pub fn power_cycle(&mut self) {
        self.seq = 0;
        self.held.clear();
    }

    /// Talks to the host over `port` until `stop` completes (`Ok`) or the port fails or hangs up
    /// (`Err`). Call again with a new port to re-plug.
    pub async fn run<P: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        mut port: P,
        stop: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        tokio::pin!(stop);
        let mut decoder = Decoder::new(Side::Controller);
        let mut frames = Vec::new();
        let mut buf = [0u8; 512];
        let mut out = vec![0u8];
        if self.seq == 0 {
            self.send(self.hello(), &mut out);
        }
        let mut host_heard = false;
        let tick = self.opts.shot_gap.min(Duration::from_millis(100)) / 2;
        let mut ticker = tokio::time::interval(tick.max(Duration::from_millis(1)));
        loop {
            if !out.is_empty() {
                // A real UART transmits into the void when nobody listens: never block on it.
                match tokio::time::timeout(Duration::from_millis(200), port.write_all(&out)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(_) => tracing::debug!("simulator: line blocked, bytes lost"),
                }
                out.clear();
            }
            tokio::select! {
                () = &mut stop => return Ok(()),
                read = port.read(&mut buf) => match read {
                    Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                    Err(e) => return Err(e),
                    Ok(n) => {
                        decoder.feed(&buf[..n], &mut frames);
                        for frame in frames.drain(..) {
                            if !host_heard {
                                host_heard = true;
                                self.next_shot = Instant::now() + self.opts.shot_gap;
                            }
                            self.on_host(frame, &mut out);
                        }
                    }
                },
                _ = ticker.tick() => self.on_tick(host_heard, &mut out),
                Some(assignment) = next_assignment(&mut self.matches), if !self.playing() => {
                    self.assign(assignment);
                }
            }
        }
    }

    /// Starts playing a new match from its first break.
    fn assign(&mut self, assignment: Assignment) {
        match Match::new(assignment.spec) {
            Ok(mirror) => {
                self.mirror = Some(mirror);
                // Rack 0 is no rack: the first shot announces rack 1 with `rack_ready`.
                self.rack = 0;
                self.match_shots = 0;
                self.next_shot = Instant::now() + self.opts.shot_gap;
                self.finished_tx = Some(assignment.finished_tx);
            }
            Err(error) => {
                tracing::warn!(%error, "simulator: cannot play this match");
                let _ = assignment.finished_tx.send(Finished {
                    winner: None,
                    score: [0, 0],
                    shots: 0,
                });
            }
        }
    }

    fn hello(&self) -> Message {
        Message::Hello {
            device_id: self.opts.device.clone(),
            firmware: self.opts.firmware.clone(),
            table: self.opts.table.clone(),
            capabilities: Capabilities::POCKETS
                | Capabilities::CUE_RETURN
                | Capabilities::BUTTONS
                | Capabilities::RACK
                | Capabilities::LIGHT
                | Capabilities::CLOCK
                | Capabilities::IDENTIFY,
        }
    }

    /// Sends a new sequenced frame.
    fn send(&mut self, message: Message, out: &mut Vec<u8>) {
        self.seq = self.seq.checked_add(1).unwrap_or(1);
        let frame = Frame::new(self.seq, message);
        let Ok(mut bytes) = encode(&frame) else {
            return;
        };
        if self.opts.garble_seq == Some(self.seq) && !self.garbled {
            self.garbled = true;
            // Flip a bit in the CRC: the host refuses it as bad_crc and resynchronises.
            let n = bytes.len();
            if n >= 2 {
                bytes[n - 2] ^= 0x40;
            }
        }
        out.extend_from_slice(&bytes);
        self.stats.sent += 1;
        let now = Instant::now();
        self.last_sent = now;
        if self.held.len() == HELD_FRAMES {
            self.held.pop_front();
        }
        self.held.push_back((frame, now));
    }

    fn resend(&mut self, index: usize, out: &mut Vec<u8>) {
        let now = Instant::now();
        if let Some((frame, at)) = self.held.get_mut(index) {
            if let Ok(bytes) = encode(frame) {
                out.extend_from_slice(&bytes);
            }
            *at = now;
            self.stats.resent += 1;
            self.last_sent = now;
        }
    }

    fn on_host(&mut self, frame: Frame, out: &mut Vec<u8>) {
        self.stats.host_frames += 1;
        match frame.message {
            Message::Ack { seq } => {
                while self.held.front().is_some_and(|(f, _)| f.seq <= seq) {
                    self.held.pop_front();
                }
                self.stats.acked = self.stats.acked.max(seq);
            }
            Message::Light { on } => {
                self.stats.lights.push(on);
                self.send(Message::LightState { on }, out);
            }
            Message::Identify { .. } => self.stats.identifies += 1,
            Message::TimeSync { .. } => {}
            Message::ReplayFrom { seq: 0 } => self.send(self.hello(), out),
            Message::ReplayFrom { seq } => {
                for i in 0..self.held.len() {
                    if self.held[i].0.seq >= seq {
                        self.resend(i, out);
                    }
                }
            }
            // The decoder refuses controller messages on this side.
            Message::Hello { .. }
            | Message::Pocket { .. }
            | Message::CueReturn
            | Message::Button(_)
            | Message::RackReady
            | Message::Heartbeat
            | Message::LightState { .. } => {}
        }
        if frame.message.is_sequenced() {
            out.extend(encode(&Frame::new(0, Message::Ack { seq: frame.seq })).unwrap_or_default());
        }
    }

    fn on_tick(&mut self, host_heard: bool, out: &mut Vec<u8>) {
        let now = Instant::now();
        if self.delayed.as_ref().is_some_and(|(at, _)| now >= *at)
            && let Some((_, messages)) = self.delayed.take()
        {
            for message in messages {
                self.send(message, out);
            }
        }
        if host_heard && self.playing() && now >= self.next_shot && self.delayed.is_none() {
            let rack_won = self.shot(out);
            let mut gap = self.opts.shot_gap.mul_f64(self.rng.random_range(0.7..1.3));
            if rack_won {
                gap += self.opts.rack_gap;
            }
            self.next_shot = now + gap;
        }
        if self
            .held
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) >= self.opts.retransmit_after)
        {
            self.resend(0, out);
        }
        if now.duration_since(self.last_sent) >= self.opts.heartbeat {
            self.send(Message::Heartbeat, out);
        }
    }

    /// Plays one shot (or pass): its messages on the wire, its input on the mirror. Returns whether
    /// it ended a rack.
    fn shot(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(mirror) = &self.mirror else {
            return false;
        };
        let state = mirror.state().clone();
        let spec = mirror.spec().clone();
        let plan = play::choose(&spec, &state, &mut self.rng);
        if state.rack != self.rack {
            self.rack = state.rack;
            self.send(Message::RackReady, out);
        }
        match (self.camera.clone(), &plan) {
            (Some(camera), play::Plan::Shot { .. }) => {
                let cue = ShotCue {
                    spec,
                    before: state.clone(),
                    plan: plan.clone(),
                };
                if camera.send(cue).is_err() {
                    tracing::debug!("simulator: the camera is gone");
                }
                let end_turn = Message::Button(Button::EndTurn);
                let messages = plan.messages().into_iter().filter(|m| *m != end_turn);
                self.delayed = Some((Instant::now() + self.camera_lead, messages.collect()));
            }
            _ => {
                for message in plan.messages() {
                    self.send(message, out);
                }
            }
        }
        self.stats.shots += 1;
        self.match_shots += 1;
        let Some(mirror) = &mut self.mirror else {
            return false;
        };
        if let Err(error) = mirror.apply(plan.input()) {
            // Should not happen: the chooser proposes only legal inputs (tested in `play`).
            tracing::warn!(%error, ?plan, "simulator: the mirror refused a shot");
        }
        let (rack_won, winner, score) = {
            let state = mirror.state();
            (
                state.last.rack_winner.is_some(),
                state.match_winner,
                state.score,
            )
        };
        let abandoned = winner.is_none() && self.match_shots >= play::MAX_SHOTS;
        if abandoned {
            tracing::warn!(shots = self.match_shots, "simulator: match abandoned");
            self.mirror = None;
        }
        if (winner.is_some() || abandoned)
            && let Some(finished_tx) = self.finished_tx.take()
        {
            let _ = finished_tx.send(Finished {
                winner,
                score,
                shots: self.match_shots,
            });
        }
        rack_won && winner.is_none()
    }
}

/// A match for an idle controller's players, and who to tell when it is over.
#[derive(Debug)]
struct Assignment {
    spec: MatchSpec,
    finished_tx: oneshot::Sender<Finished>,
}

/// The next match for the players, or never (a controller with no [`Players`]).
async fn next_assignment(matches: &mut Option<mpsc::Receiver<Assignment>>) -> Option<Assignment> {
    match matches {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// How a match played by [`Players`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The mirror's match winner (0 or 1); `None` if the match was abandoned.
    pub winner: Option<usize>,
    /// Racks won by each player.
    pub score: [i32; 2],
    /// Shots (and passes) played.
    pub shots: u32,
}

/// The players at an idle controller's table ([`Controller::idle`]): give them a match and they
/// play it on the controller.
#[derive(Clone, Debug)]
pub struct Players {
    tx: mpsc::Sender<Assignment>,
}

impl Players {
    /// Plays `spec` from its first break on the controller (once it runs and the host has spoken)
    /// and resolves when it is over; `None` if the controller was dropped. A match given while one
    /// is in play waits for that one to end.
    pub async fn play(&self, spec: MatchSpec) -> Option<Finished> {
        let (finished_tx, finished_rx) = oneshot::channel();
        self.tx.send(Assignment { spec, finished_tx }).await.ok()?;
        finished_rx.await.ok()
    }
}

/// A pseudo-terminal pair: the simulator talks on `master`; the bridge opens `path` (the slave).
#[derive(Debug)]
pub struct Pty {
    /// The controller's end.
    pub master: SerialStream,
    /// The slave, held open (and never read) so that the master does not see a hang-up while no
    /// bridge has the port open.
    pub slave: SerialStream,
    /// The slave's device path, e.g. `/dev/pts/7`.
    pub path: PathBuf,
}

/// Opens a pseudo-terminal pair (`openpty`, via `tokio_serial::SerialStream::pair`).
pub fn pty() -> std::io::Result<Pty> {
    let (master, slave) = SerialStream::pair().map_err(std::io::Error::from)?;
    let path = slave
        .name()
        .map(PathBuf::from)
        .ok_or_else(|| std::io::Error::other("the pseudo-terminal has no slave path"))?;
    // `pair` opens the slave without TIOCEXCL or flock, so the bridge can open it (exclusively)
    // while we hold it. (`set_exclusive(false)` would take a shared flock and lock the bridge out.)
    Ok(Pty {
        master,
        slave,
        path,
    })
}
