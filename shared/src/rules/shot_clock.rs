//! The shot clock (a house option, WPA shot-clock regulation): how long the player to shoot has left.
//!
//! Pure, like the rules: no clock is read here. Time is an input: every [`ClockEvent`] comes with
//! the time it happened (`at_ms`, as the caller logged it), so a [`ShotClock`] is a fold of its
//! events and a replay of the same events gives the same clock. The caller asks [`ShotClock::due`]
//! what the time `now_ms` would change (a warning, the time running out) and, if it wants that to
//! happen, logs it and applies it like any other event.
//!
//! The WPA regulation (docs/rules.md, "Shot clock"): 35 s per shot from the moment every ball is at
//! rest, a warning at 10 s left, one 25 s extension per player per rack, 60 s with no extension for
//! the first shot after the break, and running out of time is a standard foul. All four numbers are
//! options ([`ShotClockRules`]).

use serde::{Deserialize, Serialize};

/// The clock's numbers, in seconds: `"shot_clock": {"seconds": 35, ...}` in the match's house
/// rules. Absent fields take the WPA values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShotClockRules {
    /// Time for a shot.
    pub seconds: u32,
    /// Time for the first shot after the break (no extension).
    pub first_shot_seconds: u32,
    /// What one extension adds (one per player per rack; 0 = no extensions).
    pub extension_seconds: u32,
    /// The warning is given when this much is left (0 = no warning).
    pub warning_seconds: u32,
}

impl Default for ShotClockRules {
    fn default() -> ShotClockRules {
        ShotClockRules {
            seconds: 35,
            first_shot_seconds: 60,
            extension_seconds: 25,
            warning_seconds: 10,
        }
    }
}

/// The longest allowance an option may set: beyond it a typo is likelier than a rule.
pub const MAX_CLOCK_SECONDS: u32 = 600;

impl ShotClockRules {
    /// Checks what the types cannot; the sentence says which number is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let range = |name: &str, value: u32, min: u32| {
            if (min..=MAX_CLOCK_SECONDS).contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "shot_clock.{name} must be between {min} and {MAX_CLOCK_SECONDS}, not {value}"
                ))
            }
        };
        range("seconds", self.seconds, 1)?;
        range("first_shot_seconds", self.first_shot_seconds, 1)?;
        range("extension_seconds", self.extension_seconds, 0)?;
        range("warning_seconds", self.warning_seconds, 0)?;
        if self.warning_seconds >= self.seconds {
            return Err(format!(
                "shot_clock.warning_seconds ({}) must be less than shot_clock.seconds ({})",
                self.warning_seconds, self.seconds
            ));
        }
        Ok(())
    }
}

/// What happens to the clock, each at a time the caller logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClockEvent {
    /// Every ball is at rest and `shooter` is to shoot: their time starts (in full).
    AtRest {
        /// Who shoots.
        shooter: usize,
        /// The first shot after the break (its own allowance, no extension).
        #[serde(default)]
        first_after_break: bool,
        /// The rack in play (extensions are per rack).
        rack: u32,
    },
    /// The shot was played (the tip met the cue ball, or a ball dropped): the clock stops.
    Stroke,
    /// Nothing to time: a break is next, or the match is over.
    Off,
    /// Staff hold the clock.
    Pause,
    /// Staff let it run again.
    Resume,
    /// The shooter takes their extension for this rack (`player`, when given, must be the shooter).
    Extend {
        /// Who asks.
        #[serde(default)]
        player: Option<usize>,
    },
    /// The warning: the time left reached the warning.
    Warn,
    /// The time ran out.
    Expire,
    /// The shot's time starts again in full (the caller was not keeping time, e.g. it restarted).
    Restart,
}

/// What `now` changes, for the caller to log: see [`ShotClock::due`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Due {
    /// The warning is due.
    Warning,
    /// The time ran out.
    Expired,
    /// The deadline passed long ago (nobody was keeping time): start the shot's time again.
    Restart,
}

impl From<Due> for ClockEvent {
    fn from(due: Due) -> ClockEvent {
        match due {
            Due::Warning => ClockEvent::Warn,
            Due::Expired => ClockEvent::Expire,
            Due::Restart => ClockEvent::Restart,
        }
    }
}

/// Why an event was refused. A refused event changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClockRefused {
    /// Pause, resume, extension, warning or expiry while no shot is being timed.
    #[error("the shot clock is not timing a shot")]
    NotTiming,
    /// Pause while paused.
    #[error("the shot clock is already paused")]
    AlreadyPaused,
    /// Resume while running.
    #[error("the shot clock is not paused")]
    NotPaused,
    /// A second extension in the same rack.
    #[error("player {0} has used their extension in this rack")]
    ExtensionUsed(usize),
    /// An extension on the first shot after the break, or with extensions off.
    #[error("no extension is allowed on this shot")]
    NoExtension,
    /// An extension asked for by the player who is not shooting.
    #[error("only the shooter (player {0}) can take an extension now")]
    NotTheShooter(usize),
    /// A warning or expiry before its time (or a warning already given).
    #[error("the shot clock has not reached that point")]
    NotDue,
}

/// What an event did that the caller must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing beyond the clock.
    Nothing,
    /// `shooter` ran out of time: a standard foul on them.
    Expired {
        /// Who ran out of time.
        shooter: usize,
    },
}

/// The shot being timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Timed {
    shooter: usize,
    first_after_break: bool,
    /// The whole allowance of this shot (with an extension taken).
    allowance_ms: u64,
    /// Time left as of `since_ms`.
    left_ms: u64,
    /// When the clock last started counting from `left_ms`; `None` while paused.
    since_ms: Option<u64>,
    warned: bool,
}

impl Timed {
    fn left_at(&self, now_ms: u64) -> u64 {
        match self.since_ms {
            Some(since) => self.left_ms.saturating_sub(now_ms.saturating_sub(since)),
            None => self.left_ms,
        }
    }

    fn deadline(&self) -> Option<u64> {
        self.since_ms
            .map(|since| since.saturating_add(self.left_ms))
    }
}

/// How long past its deadline a running clock is taken as not kept (the caller was stopped or
/// stalled): [`ShotClock::due`] then says [`Due::Restart`] rather than expire a shot nobody saw timed.
pub const STALE_MS: u64 = 3_000;

/// The clock of one match.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShotClock {
    rules: ShotClockRules,
    timed: Option<Timed>,
    /// Staff hold: no shot's time runs while set (a shot that comes to rest waits, in full).
    paused: bool,
    extensions_used: [bool; 2],
    rack: u32,
    now_ms: u64,
}

/// The clock as screens see it (the `shot_clock` field of a table's view).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClockReport {
    /// Counting down now (screens count down from `deadline_ms`).
    pub running: bool,
    /// Held by staff.
    pub paused: bool,
    /// Whose shot is timed; `null` while none is (balls moving, a break next, the match over).
    pub shooter: Option<usize>,
    /// Time left as of `as_of_ms`; `null` while no shot is timed.
    pub remaining_ms: Option<u64>,
    /// When the time runs out (the agent's clock, Unix ms), while running.
    pub deadline_ms: Option<u64>,
    /// The time of the input this report reflects.
    pub as_of_ms: u64,
    /// This shot's whole allowance (with an extension taken).
    pub allowance_ms: Option<u64>,
    /// The warning was given for this shot.
    pub warning: bool,
    /// Screens may show the warning once this little is left.
    pub warning_ms: u64,
    /// This is the first shot after the break.
    pub first_shot: bool,
    /// Extensions each player may still take in this rack.
    pub extensions_left: [u8; 2],
    /// The options in force.
    pub rules: ShotClockRules,
}

fn ms(seconds: u32) -> u64 {
    u64::from(seconds) * 1000
}

impl ShotClock {
    /// A clock with nothing to time yet (a match's opening break is untimed).
    pub fn new(rules: ShotClockRules) -> ShotClock {
        ShotClock {
            rules,
            timed: None,
            paused: false,
            extensions_used: [false; 2],
            rack: 0,
            now_ms: 0,
        }
    }

    /// Applies `event`, which happened at `at_ms`. A refused event changes nothing.
    pub fn apply(&mut self, at_ms: u64, event: ClockEvent) -> Result<Outcome, ClockRefused> {
        let mut next = self.clone();
        next.now_ms = next.now_ms.max(at_ms);
        let now = next.now_ms;
        let outcome = next.step(now, event)?;
        *self = next;
        Ok(outcome)
    }

    fn step(&mut self, now: u64, event: ClockEvent) -> Result<Outcome, ClockRefused> {
        match event {
            ClockEvent::AtRest {
                shooter,
                first_after_break,
                rack,
            } => {
                if rack != self.rack {
                    self.rack = rack;
                    self.extensions_used = [false; 2];
                }
                let seconds = if first_after_break {
                    self.rules.first_shot_seconds
                } else {
                    self.rules.seconds
                };
                self.timed = Some(Timed {
                    shooter: shooter.min(1),
                    first_after_break,
                    allowance_ms: ms(seconds),
                    left_ms: ms(seconds),
                    since_ms: (!self.paused).then_some(now),
                    warned: false,
                });
            }
            ClockEvent::Stroke | ClockEvent::Off => self.timed = None,
            ClockEvent::Pause => {
                if self.paused {
                    return Err(ClockRefused::AlreadyPaused);
                }
                self.paused = true;
                if let Some(timed) = &mut self.timed {
                    timed.left_ms = timed.left_at(now);
                    timed.since_ms = None;
                }
            }
            ClockEvent::Resume => {
                if !self.paused {
                    return Err(ClockRefused::NotPaused);
                }
                self.paused = false;
                if let Some(timed) = &mut self.timed {
                    timed.since_ms = Some(now);
                }
            }
            ClockEvent::Extend { player } => self.extend(now, player)?,
            ClockEvent::Warn => {
                if self.due(now) != Some(Due::Warning) {
                    return Err(ClockRefused::NotDue);
                }
                if let Some(timed) = &mut self.timed {
                    timed.warned = true;
                }
            }
            ClockEvent::Expire => {
                let timed = self.timed.ok_or(ClockRefused::NotTiming)?;
                if timed.since_ms.is_none() || timed.left_at(now) > 0 {
                    return Err(ClockRefused::NotDue);
                }
                // The foul ends this shot; the rules say who shoots next and the caller starts
                // their time with `AtRest`.
                self.timed = None;
                return Ok(Outcome::Expired {
                    shooter: timed.shooter,
                });
            }
            ClockEvent::Restart => {
                let timed = self.timed.as_mut().ok_or(ClockRefused::NotTiming)?;
                timed.left_ms = timed.allowance_ms;
                timed.warned = false;
                if timed.since_ms.is_some() {
                    timed.since_ms = Some(now);
                }
            }
        }
        Ok(Outcome::Nothing)
    }

    fn extend(&mut self, now: u64, player: Option<usize>) -> Result<(), ClockRefused> {
        let extension = ms(self.rules.extension_seconds);
        let timed = self.timed.as_mut().ok_or(ClockRefused::NotTiming)?;
        if player.is_some_and(|p| p != timed.shooter) {
            return Err(ClockRefused::NotTheShooter(timed.shooter));
        }
        if timed.first_after_break || extension == 0 {
            return Err(ClockRefused::NoExtension);
        }
        let used = &mut self.extensions_used[timed.shooter];
        if *used {
            return Err(ClockRefused::ExtensionUsed(timed.shooter));
        }
        *used = true;
        timed.left_ms = timed.left_at(now).saturating_add(extension);
        timed.allowance_ms = timed.allowance_ms.saturating_add(extension);
        if timed.since_ms.is_some() {
            timed.since_ms = Some(now);
        }
        timed.warned = false;
        Ok(())
    }

    /// What the time `now_ms` changes, if anything: the warning, the time running out, or (long
    /// past the deadline, when nobody was keeping time) a restart of the shot's time.
    pub fn due(&self, now_ms: u64) -> Option<Due> {
        let timed = self.timed.as_ref()?;
        let deadline = timed.deadline()?;
        if now_ms >= deadline.saturating_add(STALE_MS) {
            Some(Due::Restart)
        } else if now_ms >= deadline {
            Some(Due::Expired)
        } else if !timed.warned
            && self.rules.warning_seconds > 0
            && timed.left_at(now_ms) <= ms(self.rules.warning_seconds)
        {
            Some(Due::Warning)
        } else {
            None
        }
    }

    /// Whether a shot's time is counting down.
    pub fn running(&self) -> bool {
        self.timed.is_some_and(|t| t.since_ms.is_some())
    }

    /// The clock as of the last event.
    pub fn report(&self) -> ClockReport {
        let timed = self.timed.as_ref();
        let left = |p: usize| {
            let used = self.extensions_used[p] || self.rules.extension_seconds == 0;
            u8::from(!used)
        };
        ClockReport {
            running: self.running(),
            paused: self.paused,
            shooter: timed.map(|t| t.shooter),
            remaining_ms: timed.map(|t| t.left_at(self.now_ms)),
            deadline_ms: timed.and_then(Timed::deadline),
            as_of_ms: self.now_ms,
            allowance_ms: timed.map(|t| t.allowance_ms),
            warning: timed.is_some_and(|t| t.warned),
            warning_ms: ms(self.rules.warning_seconds),
            first_shot: timed.is_some_and(|t| t.first_after_break),
            extensions_left: [left(0), left(1)],
            rules: self.rules,
        }
    }
}
