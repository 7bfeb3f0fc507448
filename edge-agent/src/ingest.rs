//! Per-device dedupe, gap repair and reordering. MQTT QoS 1 delivers duplicates, and the broker
//! acknowledges a publish before the agent has committed it, so MQTT alone guarantees nothing end
//! to end: every device numbers its messages, a seen `(device, boot, seq)` is ignored, and a jump in
//! a device's seq is a gap that is asked for again (firmware-bridge replays on
//! `dojo/v1/devices/{device}/cmd`). Decision 0014 says why it works this way.
//!
//! **Boots.** A device numbers its messages 1, 2, 3, … per *boot* and names the boot (`boot`, a
//! random id, in every message and in its status). Only a message of a boot never seen starts a
//! sequence afresh; a message of the current boot at or below the frontier, or of one of the
//! [`MAX_OLD_BOOTS`] boots before it, is a duplicate — a QoS-1 redelivery or a replayed copy can
//! never re-apply history. A device that sends no `boot` (older firmware) keeps one sequence; its
//! seq 1 after a higher seq is taken as a restart only right after its status said `online` again
//! (a reconnect), otherwise it is a duplicate.
//!
//! **Order.** A device's events are applied in seq order, not arrival order: a late `pocket` that
//! a replay recovers must land in the shot it belongs to. So while a device has a gap open, its
//! later messages are *held* here, at most [`MAX_HELD`] per device: when full, the highest held
//! ones are dropped (they are asked for again like the gap) rather than a gap given up.
//!
//! **Bounds.** A device keeps its last `replay_window` events to replay (announced in its status,
//! [`DEFAULT_REPLAY_WINDOW`] if it does not say). A seq more than its window (at least
//! [`MIN_RANGE`]) above the frontier is out of range: refused (`seq_out_of_range`, dead-lettered by
//! the engine), never held and never moving the mark, so one spoofed huge seq silences nothing.
//! Should a device really have moved that far on (its messages keep coming out of range, at least
//! [`JUMP_CONFIRM_COUNT`] over [`JUMP_CONFIRM_MS`] with nothing in range between), what it can no
//! longer hold is given up and the rest asked for.
//!
//! **Giving up.** Open gaps are asked for again ([`Ingest::replays`]: after [`RETRY_FIRST_MS`],
//! doubling to [`RETRY_MAX_MS`]) until they are filled. A missing seq is given up on (counted, shown
//! to staff) only when the device can no longer have it: it is more than the device's window below
//! the highest seq seen, or the device started a new boot, or the device has been silent for
//! [`SILENT_GIVE_UP_MS`].
//!
//! **Marks.** A device's [`DeviceMark`] (`boot`, `last_seq`) is its frontier: every seq of the boot
//! up to it has been applied or given up on, in order. Each released message comes with the mark
//! *as of that message*, which the engine stores in the same transaction as the message's event, so
//! the persisted frontier never passes an event that is not in the log. Held messages are not
//! stored: after a restart the device's next message shows the same gap again, and the device sends
//! the held ones again. `missing` ranges below the frontier are only found in marks written by
//! versions that applied events in arrival order; a late event in one is applied at once and the
//! range expires after [`GAP_TIMEOUT_MS`] as before.

use std::collections::{BTreeMap, HashMap};

use shared::protocol::MAX_REPLAY_WINDOW;

/// A device's dedupe mark: its frontier (see the module doc), saved by the store in the same
/// transaction as the device's event, and read back at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceMark {
    /// Device id.
    pub device: String,
    /// Table it reports for.
    pub table: String,
    /// Every seq of `boot` up to here is applied or given up on (`ingest` applies a device's
    /// events in seq order).
    pub last_seq: u64,
    /// Open gaps below it, inclusive ranges (only in marks saved by versions that applied events in
    /// arrival order).
    pub missing: Vec<(u64, u64)>,
    /// Last time heard from.
    pub last_seen_ms: u64,
    /// The boot `last_seq` counts in; `None` for a device that sends no boot.
    pub boot: Option<String>,
    /// The boots before it, newest first (at most [`MAX_OLD_BOOTS`]): their messages are
    /// duplicates.
    pub old_boots: Vec<String>,
}

/// How long a `missing` range of an old mark may stay open before its events are counted missing.
pub const GAP_TIMEOUT_MS: u64 = 5_000;

/// Messages held per device while a gap is open; past it, the highest are dropped (and asked for
/// again later).
pub const MAX_HELD: usize = 1_024;

/// The replay window assumed for a device whose status does not announce one.
pub const DEFAULT_REPLAY_WINDOW: u64 = 1_024;

/// How far above the frontier a seq may be, at least (for devices with a smaller window).
pub const MIN_RANGE: u64 = 64;

/// Earlier boots remembered per device.
pub const MAX_OLD_BOOTS: usize = 8;

/// First repeat of a replay request after the gap was found.
pub const RETRY_FIRST_MS: u64 = 1_000;

/// Longest wait between repeats of a replay request.
pub const RETRY_MAX_MS: u64 = 30_000;

/// A device silent this long with a gap open cannot be expected to fill it: given up.
pub const SILENT_GIVE_UP_MS: u64 = 120_000;

/// Out-of-range messages must keep coming this long (and ...
pub const JUMP_CONFIRM_MS: u64 = 10_000;

/// ... at least this many) before the device is taken to have moved on.
pub const JUMP_CONFIRM_COUNT: u32 = 3;

/// Missing ranges asked for per device and round (the lowest first).
pub const MAX_RANGES_PER_ROUND: usize = 32;

/// How far above the frontier a device with `window` may be.
pub fn range(window: u64) -> u64 {
    window.clamp(MIN_RANGE, MAX_REPLAY_WINDOW)
}

/// What became of a device message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// New: applied now or held until its gap closes. `gap` is a range of seqs now known to be
    /// missing (ask for a replay).
    Accept {
        /// Missing seqs, inclusive.
        gap: Option<(u64, u64)>,
    },
    /// Already seen (applied, held, or of an earlier boot).
    Duplicate,
    /// Too far above the device's frontier (more than its window): refused, nothing changed.
    OutOfRange {
        /// The highest seq that would have been accepted.
        bound: u64,
    },
}

/// What the engine must do now, in this order.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<T> {
    /// Apply this message; store `mark` with its event.
    Apply {
        /// The message.
        item: T,
        /// The device's mark once it is applied.
        mark: DeviceMark,
    },
    /// `events` seqs were given up on (the device can no longer have them): count them missing;
    /// store `mark` with that record.
    Lost {
        /// How many.
        events: u64,
        /// The device's mark after giving up (its `table` is where to count them).
        mark: DeviceMark,
    },
}

/// A replay request to send to a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Device id.
    pub device: String,
    /// The boot the seqs belong to.
    pub boot: Option<String>,
    /// First missing seq.
    pub from_seq: u64,
    /// Last missing seq, inclusive.
    pub to_seq: u64,
}

/// Out-of-range messages seen since the last one in range.
#[derive(Debug)]
struct Jump {
    first_ms: u64,
    last_ms: u64,
    count: u32,
    highest: u64,
}

/// What ingest knows of a device beyond its mark (not stored).
#[derive(Debug)]
struct Live<T> {
    /// Messages above the frontier waiting for the gap below them, by seq.
    held: BTreeMap<u64, T>,
    /// Highest seq of the current boot seen in range (at least the frontier). Every seq between
    /// the frontier and it that is not held is missing.
    top: u64,
    /// How many of its latest events the device keeps.
    window: u64,
    /// Last message from it.
    heard_ms: u64,
    /// Replay rounds sent for the current gaps.
    attempts: u32,
    /// When to ask again (`None`: nothing missing).
    next_request_ms: Option<u64>,
    jump: Option<Jump>,
    /// A device without boots said `online` since its last message: a seq 1 now is a restart.
    hello: bool,
}

impl<T> Live<T> {
    fn new(top: u64, now_ms: u64) -> Live<T> {
        Live {
            held: BTreeMap::new(),
            top,
            window: DEFAULT_REPLAY_WINDOW,
            heard_ms: now_ms,
            attempts: 0,
            next_request_ms: None,
            jump: None,
            hello: false,
        }
    }

    fn missing(&self, frontier: u64) -> bool {
        self.top > frontier.saturating_add(self.held.len() as u64)
    }
}

/// Dedupe and reorder state for every device; `T` is the message the engine holds.
#[derive(Debug)]
pub struct Ingest<T> {
    marks: HashMap<String, DeviceMark>,
    /// Deadlines of `missing` ranges below the frontier (marks saved by earlier versions).
    late: HashMap<String, Vec<(u64, u64, u64)>>,
    live: HashMap<String, Live<T>>,
}

impl<T> Default for Ingest<T> {
    fn default() -> Self {
        Ingest {
            marks: HashMap::new(),
            late: HashMap::new(),
            live: HashMap::new(),
        }
    }
}

impl<T> Ingest<T> {
    /// Starts from the marks saved in SQLite. Old `missing` ranges get a fresh deadline.
    pub fn new(marks: Vec<DeviceMark>, now_ms: u64) -> Ingest<T> {
        let mut ingest = Ingest::default();
        for mark in marks {
            let deadlines = mark
                .missing
                .iter()
                .map(|&(a, b)| (a, b, now_ms + GAP_TIMEOUT_MS))
                .collect();
            ingest.late.insert(mark.device.clone(), deadlines);
            ingest.marks.insert(mark.device.clone(), mark);
        }
        ingest
    }

    /// What a device's status says: its current boot is not needed here (its messages carry it),
    /// but its replay window is, and a device without boots coming `online` may restart at seq 1.
    pub fn announce(
        &mut self,
        device: &str,
        boot: Option<&str>,
        replay_window: Option<u64>,
        online: bool,
        now_ms: u64,
    ) {
        let top = self.marks.get(device).map_or(0, |m| m.last_seq);
        let live = self
            .live
            .entry(device.to_owned())
            .or_insert_with(|| Live::new(top, now_ms));
        live.window = replay_window.map_or(DEFAULT_REPLAY_WINDOW, |w| w.min(MAX_REPLAY_WINDOW));
        live.hello = online && boot.is_none();
    }

    /// Checks message `seq` of `device`'s `boot` from `table`: its verdict, and what to apply (it,
    /// and any held messages it releases) or count as lost, in order.
    pub fn check(
        &mut self,
        device: &str,
        table: &str,
        boot: Option<&str>,
        seq: u64,
        now_ms: u64,
        item: T,
    ) -> (Verdict, Vec<Step<T>>) {
        let mut steps = Vec::new();
        let Some(mark) = self.marks.get_mut(device) else {
            // First sight: the baseline. Nothing before it can be asked for.
            let mark = DeviceMark {
                device: device.to_owned(),
                table: table.to_owned(),
                last_seq: seq,
                missing: vec![],
                last_seen_ms: now_ms,
                boot: boot.map(str::to_owned),
                old_boots: vec![],
            };
            let live = self
                .live
                .entry(device.to_owned())
                .or_insert_with(|| Live::new(seq, now_ms));
            live.top = seq;
            live.heard_ms = now_ms;
            live.hello = false;
            self.marks.insert(device.to_owned(), mark.clone());
            steps.push(Step::Apply { item, mark });
            return (Verdict::Accept { gap: None }, steps);
        };
        let live = self
            .live
            .entry(device.to_owned())
            .or_insert_with(|| Live::new(mark.last_seq, now_ms));
        live.heard_ms = now_ms;
        mark.last_seen_ms = now_ms;
        mark.table = table.to_owned();
        let hello = std::mem::take(&mut live.hello);
        let restart = match boot {
            Some(boot) if mark.boot.as_deref() != Some(boot) => {
                if mark.old_boots.iter().any(|old| old == boot) {
                    return (Verdict::Duplicate, steps);
                }
                let bound = range(live.window);
                if seq > bound {
                    return (Verdict::OutOfRange { bound }, steps);
                }
                true
            }
            // A device without boots: a restart only right after it came online again.
            None => mark.boot.is_none() && hello && seq == 1 && mark.last_seq > 1,
            Some(_) => false,
        };
        if restart {
            // What the old boot left open is given up (the device no longer has it), what it left
            // held goes first.
            let top = live.top;
            give_up_to(mark, live, top, &mut steps);
            if let Some(boot) = boot
                && let Some(old) = mark.boot.replace(boot.to_owned())
            {
                mark.old_boots.insert(0, old);
                mark.old_boots.truncate(MAX_OLD_BOOTS);
            }
            mark.last_seq = 0;
            mark.missing.clear();
            self.late.remove(device);
            live.top = 0;
            live.jump = None;
            live.attempts = 0;
            live.next_request_ms = None;
        }
        let frontier = mark.last_seq;
        if seq <= frontier {
            if take(&mut mark.missing, seq) {
                if let Some(deadlines) = self.late.get_mut(device) {
                    split_sorted(deadlines, seq);
                }
                steps.push(Step::Apply {
                    item,
                    mark: mark.clone(),
                });
                return (Verdict::Accept { gap: None }, steps);
            }
            return (Verdict::Duplicate, steps);
        }
        if live.held.contains_key(&seq) {
            return (Verdict::Duplicate, steps);
        }
        let bound = frontier.saturating_add(range(live.window));
        if seq > bound {
            let jump = live.jump.get_or_insert(Jump {
                first_ms: now_ms,
                last_ms: now_ms,
                count: 0,
                highest: seq,
            });
            jump.count = jump.count.saturating_add(1);
            jump.last_ms = now_ms;
            jump.highest = jump.highest.max(seq);
            if jump.count < JUMP_CONFIRM_COUNT
                || jump.last_ms.saturating_sub(jump.first_ms) < JUMP_CONFIRM_MS
            {
                return (Verdict::OutOfRange { bound }, steps);
            }
            // The device moved on: what it can no longer hold (all but its last `window` seqs) is
            // given up, the rest asked for.
            let highest = jump.highest;
            live.jump = None;
            give_up_to(mark, live, highest.saturating_sub(live.window), &mut steps);
            if seq > mark.last_seq.saturating_add(range(live.window)) {
                // Cannot happen (`seq` is at most the highest, now in range); asked for later.
                live.top = live.top.max(highest);
                settle(mark, live, now_ms, true);
                return (Verdict::Accept { gap: None }, steps);
            }
        }
        live.jump = None;
        let gap_from = live.top + 1;
        live.top = live.top.max(seq);
        let advanced = if seq == mark.last_seq + 1 {
            mark.last_seq = seq;
            steps.push(Step::Apply {
                item,
                mark: mark.clone(),
            });
            release(mark, live, &mut steps);
            true
        } else {
            live.held.insert(seq, item);
            while live.held.len() > MAX_HELD {
                live.held.pop_last();
            }
            false
        };
        // What the device can no longer hold (its window is behind it) is given up now.
        let gone = live.top.saturating_sub(live.window);
        if gone > mark.last_seq {
            give_up_to(mark, live, gone, &mut steps);
        }
        let from = gap_from.max(mark.last_seq + 1);
        let gap = (seq > from).then(|| (from, seq - 1));
        settle(mark, live, now_ms, advanced);
        (Verdict::Accept { gap }, steps)
    }

    /// The mark of a device.
    pub fn mark(&self, device: &str) -> Option<&DeviceMark> {
        self.marks.get(device)
    }

    /// Messages held for `device` (waiting for a gap to close).
    pub fn held(&self, device: &str) -> usize {
        self.live.get(device).map_or(0, |l| l.held.len())
    }

    /// Messages held for every device.
    pub fn waiting(&self) -> u64 {
        self.live.values().map(|l| l.held.len() as u64).sum()
    }

    /// The replay requests due now: every device's missing seqs (the lowest
    /// [`MAX_RANGES_PER_ROUND`] ranges), asked again after [`RETRY_FIRST_MS`], doubling.
    pub fn replays(&mut self, now_ms: u64) -> Vec<Request> {
        let mut requests = Vec::new();
        for (device, live) in &mut self.live {
            let Some(mark) = self.marks.get(device) else {
                continue;
            };
            if !live.missing(mark.last_seq) {
                live.next_request_ms = None;
                continue;
            }
            let Some(due) = live.next_request_ms else {
                live.next_request_ms = Some(now_ms + RETRY_FIRST_MS);
                continue;
            };
            if now_ms < due {
                continue;
            }
            live.attempts = live.attempts.saturating_add(1);
            let delay = RETRY_FIRST_MS
                .saturating_mul(1 << live.attempts.min(5))
                .min(RETRY_MAX_MS);
            live.next_request_ms = Some(now_ms + delay);
            for (from_seq, to_seq) in missing_ranges(mark.last_seq, live) {
                requests.push(Request {
                    device: device.clone(),
                    boot: mark.boot.clone(),
                    from_seq,
                    to_seq,
                });
            }
        }
        requests.sort_by(|a, b| (&a.device, a.from_seq).cmp(&(&b.device, b.from_seq)));
        requests
    }

    /// Gives up on what can no longer come: old `missing` ranges past their deadline, and the gaps
    /// of devices silent for [`SILENT_GIVE_UP_MS`] (their held messages are then released).
    pub fn expire(&mut self, now_ms: u64) -> Vec<Step<T>> {
        let mut steps = Vec::new();
        for (device, deadlines) in &mut self.late {
            let mut lost = 0u64;
            deadlines.retain(|&(a, b, deadline)| {
                let due = deadline <= now_ms;
                if due {
                    lost = lost.saturating_add(b - a + 1);
                }
                !due
            });
            if lost > 0
                && let Some(mark) = self.marks.get_mut(device)
            {
                mark.missing
                    .retain(|&(a, _)| deadlines.iter().any(|&(da, db, _)| da <= a && a <= db));
                steps.push(Step::Lost {
                    events: lost,
                    mark: mark.clone(),
                });
            }
        }
        let mut devices: Vec<&String> = self.live.keys().collect();
        devices.sort();
        let devices: Vec<String> = devices.into_iter().cloned().collect();
        for device in devices {
            let (Some(mark), Some(live)) =
                (self.marks.get_mut(&device), self.live.get_mut(&device))
            else {
                continue;
            };
            if live.missing(mark.last_seq)
                && now_ms.saturating_sub(live.heard_ms) >= SILENT_GIVE_UP_MS
            {
                let top = live.top;
                give_up_to(mark, live, top, &mut steps);
                settle(mark, live, now_ms, true);
            }
        }
        steps
    }
}

/// After a message: no request pending when nothing is missing; a fresh schedule when the frontier
/// moved (the device is answering) or a gap just opened.
fn settle<T>(mark: &DeviceMark, live: &mut Live<T>, now_ms: u64, advanced: bool) {
    if !live.missing(mark.last_seq) {
        live.next_request_ms = None;
        live.attempts = 0;
    } else if advanced || live.next_request_ms.is_none() {
        live.attempts = 0;
        live.next_request_ms = Some(now_ms + RETRY_FIRST_MS);
    }
}

/// Applies the held messages that follow the frontier without a gap.
fn release<T>(mark: &mut DeviceMark, live: &mut Live<T>, steps: &mut Vec<Step<T>>) {
    while let Some(item) = live.held.remove(&(mark.last_seq + 1)) {
        mark.last_seq += 1;
        steps.push(Step::Apply {
            item,
            mark: mark.clone(),
        });
    }
}

/// Moves the frontier to `upto`: the missing seqs on the way are given up (counted), the held ones
/// applied, in seq order; then releases what follows.
fn give_up_to<T>(mark: &mut DeviceMark, live: &mut Live<T>, upto: u64, steps: &mut Vec<Step<T>>) {
    while mark.last_seq < upto {
        let next_held = live
            .held
            .first_key_value()
            .map(|(&seq, _)| seq)
            .filter(|&seq| seq <= upto);
        let end = next_held.map_or(upto, |seq| seq - 1);
        if end > mark.last_seq {
            let events = end - mark.last_seq;
            mark.last_seq = end;
            steps.push(Step::Lost {
                events,
                mark: mark.clone(),
            });
        }
        match next_held.and_then(|seq| live.held.remove(&seq).map(|item| (seq, item))) {
            Some((seq, item)) => {
                mark.last_seq = seq;
                steps.push(Step::Apply {
                    item,
                    mark: mark.clone(),
                });
            }
            None => break,
        }
    }
    release(mark, live, steps);
    live.top = live.top.max(mark.last_seq);
}

/// The lowest missing ranges above `frontier`: what is neither applied nor held up to `top`.
fn missing_ranges<T>(frontier: u64, live: &Live<T>) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let mut next = frontier + 1;
    for &seq in live.held.keys() {
        if ranges.len() == MAX_RANGES_PER_ROUND {
            return ranges;
        }
        if seq > next {
            ranges.push((next, seq - 1));
        }
        next = seq + 1;
    }
    if ranges.len() < MAX_RANGES_PER_ROUND && live.top >= next {
        ranges.push((next, live.top));
    }
    ranges
}

/// Removes `seq` from the ranges, splitting one if needed; true if it was there.
fn take(ranges: &mut Vec<(u64, u64)>, seq: u64) -> bool {
    let Some(i) = ranges.iter().position(|&(a, b)| a <= seq && seq <= b) else {
        return false;
    };
    let (a, b) = ranges.remove(i);
    if a < seq {
        ranges.push((a, seq - 1));
    }
    if seq < b {
        ranges.push((seq + 1, b));
    }
    true
}

/// Removes `seq` from `(from, to, deadline)` ranges, keeping them sorted and the pieces' deadline.
fn split_sorted(ranges: &mut Vec<(u64, u64, u64)>, seq: u64) {
    if let Some(i) = ranges.iter().position(|&(a, b, _)| a <= seq && seq <= b) {
        let (a, b, deadline) = ranges.remove(i);
        let mut at = i;
        if a < seq {
            ranges.insert(at, (a, seq - 1, deadline));
            at += 1;
        }
        if seq < b {
            ranges.insert(at, (seq + 1, b, deadline));
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The seqs applied by `steps`, and `-n` for `n` events lost.
    fn applied(steps: &[Step<u64>]) -> Vec<i64> {
        steps
            .iter()
            .map(|step| match step {
                Step::Apply { item, mark } => {
                    assert_eq!(
                        mark.last_seq, *item,
                        "the mark is the frontier at the message"
                    );
                    *item as i64
                }
                Step::Lost { events, .. } => -(*events as i64),
            })
            .collect()
    }

    fn check(ingest: &mut Ingest<u64>, seq: u64, now: u64) -> (Verdict, Vec<i64>) {
        check_boot(ingest, None, seq, now)
    }

    fn check_boot(
        ingest: &mut Ingest<u64>,
        boot: Option<&str>,
        seq: u64,
        now: u64,
    ) -> (Verdict, Vec<i64>) {
        let (verdict, steps) = ingest.check("d", "t", boot, seq, now, seq);
        (verdict, applied(&steps))
    }

    fn ranges(requests: &[Request]) -> Vec<(u64, u64)> {
        requests.iter().map(|r| (r.from_seq, r.to_seq)).collect()
    }

    const NO_GAP: Verdict = Verdict::Accept { gap: None };

    #[test]
    fn later_messages_wait_for_a_replay_and_are_applied_in_seq_order() {
        let mut ingest = Ingest::default();
        assert_eq!(check(&mut ingest, 5, 0), (NO_GAP, vec![5]));
        assert_eq!(check(&mut ingest, 5, 0), (Verdict::Duplicate, vec![]));
        assert_eq!(check(&mut ingest, 6, 0), (NO_GAP, vec![6]));
        assert_eq!(
            check(&mut ingest, 10, 0),
            (Verdict::Accept { gap: Some((7, 9)) }, vec![]),
            "10 is held: 7..9 are missing"
        );
        assert_eq!(check(&mut ingest, 11, 0), (NO_GAP, vec![]), "held too");
        assert_eq!(check(&mut ingest, 11, 0), (Verdict::Duplicate, vec![]));
        assert_eq!(ingest.held("d"), 2);
        assert_eq!(ingest.waiting(), 2);
        assert_eq!(check(&mut ingest, 8, 0), (NO_GAP, vec![]), "replayed, held");
        assert_eq!(check(&mut ingest, 8, 0), (Verdict::Duplicate, vec![]));
        assert_eq!(
            check(&mut ingest, 7, 0),
            (NO_GAP, vec![7, 8]),
            "7 releases 8"
        );
        assert_eq!(ingest.mark("d").map(|m| m.last_seq), Some(8));
        assert_eq!(
            check(&mut ingest, 9, 0),
            (NO_GAP, vec![9, 10, 11]),
            "the gap is filled: everything in seq order"
        );
        assert_eq!(ingest.held("d"), 0);
        assert_eq!(check(&mut ingest, 12, 0), (NO_GAP, vec![12]));
        assert!(ingest.expire(u64::MAX / 2).is_empty());
        assert!(ingest.replays(u64::MAX / 2).is_empty());
    }

    #[test]
    fn an_open_gap_is_asked_for_again_less_and_less_often_and_never_timed_out() {
        let mut ingest = Ingest::default();
        check(&mut ingest, 1, 0);
        assert_eq!(
            check(&mut ingest, 4, 0),
            (Verdict::Accept { gap: Some((2, 3)) }, vec![])
        );
        check(&mut ingest, 7, 0);
        assert!(
            ingest.replays(RETRY_FIRST_MS - 1).is_empty(),
            "asked at once"
        );
        let mut asked = Vec::new();
        for now in (0..600_000).step_by(250) {
            if !ingest.replays(now).is_empty() {
                asked.push(now);
            }
        }
        assert_eq!(asked[0], RETRY_FIRST_MS);
        let waits: Vec<u64> = asked.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(waits.last(), Some(&RETRY_MAX_MS));
        // The device is heard (a heartbeat in range keeps it alive): nothing is given up.
        let mut ingest = Ingest::default();
        check(&mut ingest, 1, 0);
        check(&mut ingest, 3, 0);
        for (i, now) in (0..300_000).step_by(1_000).enumerate() {
            check(&mut ingest, 4 + i as u64, now);
            assert!(ingest.expire(now).is_empty());
        }
        assert_eq!(ingest.mark("d").map(|m| m.last_seq), Some(1));
        assert_eq!(ranges(&ingest.replays(10_000_000)), vec![(2, 2)]);
        assert_eq!(
            check(&mut ingest, 2, 300_000).1.len(),
            302,
            "the replay releases everything"
        );
    }

    #[test]
    fn replies_reset_the_backoff_and_requests_name_the_boot_and_the_missing_ranges() {
        let mut ingest = Ingest::default();
        check_boot(&mut ingest, Some("b1"), 1, 0);
        check_boot(&mut ingest, Some("b1"), 3, 0);
        check_boot(&mut ingest, Some("b1"), 5, 0);
        check_boot(&mut ingest, Some("b1"), 8, 0);
        let requests = ingest.replays(RETRY_FIRST_MS);
        assert_eq!(ranges(&requests), vec![(2, 2), (4, 4), (6, 7)]);
        assert!(requests.iter().all(|r| r.boot.as_deref() == Some("b1")));
        assert!(ingest.replays(RETRY_FIRST_MS + 1_000).is_empty(), "backoff");
        check_boot(&mut ingest, Some("b1"), 2, 1_500);
        assert_eq!(ranges(&ingest.replays(2_500)), vec![(4, 4), (6, 7)]);
    }

    #[test]
    fn a_redelivered_or_replayed_seq_1_of_the_same_or_an_old_boot_is_a_duplicate() {
        let mut ingest = Ingest::default();
        for seq in 1..=500 {
            assert_eq!(
                check_boot(&mut ingest, Some("a"), seq, 0).1,
                vec![seq as i64]
            );
        }
        assert_eq!(
            check_boot(&mut ingest, Some("a"), 1, 0),
            (Verdict::Duplicate, vec![])
        );
        assert_eq!(
            check_boot(&mut ingest, None, 1, 0),
            (Verdict::Duplicate, vec![])
        );
        assert_eq!(
            check_boot(&mut ingest, Some("a"), 250, 0).0,
            Verdict::Duplicate
        );
        // A new boot starts afresh; the old one's messages stay duplicates.
        assert_eq!(check_boot(&mut ingest, Some("b"), 1, 0), (NO_GAP, vec![1]));
        assert_eq!(
            check_boot(&mut ingest, Some("a"), 501, 0).0,
            Verdict::Duplicate
        );
        assert_eq!(
            check_boot(&mut ingest, Some("a"), 1, 0).0,
            Verdict::Duplicate
        );
        assert_eq!(check_boot(&mut ingest, Some("b"), 2, 0), (NO_GAP, vec![2]));
        let mark = ingest.mark("d").cloned();
        assert_eq!(
            mark.map(|m| (m.boot, m.old_boots, m.last_seq)),
            Some((Some("b".into()), vec!["a".into()], 2))
        );
        // Only the last few boots are remembered.
        for boot in 0..MAX_OLD_BOOTS + 2 {
            check_boot(&mut ingest, Some(&format!("x{boot}")), 1, 0);
        }
        assert_eq!(
            ingest.mark("d").map(|m| m.old_boots.len()),
            Some(MAX_OLD_BOOTS)
        );
    }

    #[test]
    fn a_new_boot_gives_up_what_the_old_one_left_open_and_may_start_above_1() {
        let mut ingest = Ingest::default();
        check_boot(&mut ingest, Some("a"), 1, 0);
        check_boot(&mut ingest, Some("a"), 4, 0);
        assert_eq!(
            check_boot(&mut ingest, Some("b"), 3, 0),
            (Verdict::Accept { gap: Some((1, 2)) }, vec![-2, 4]),
            "a's 2..3 lost, 4 applied; b's 1..2 asked for"
        );
        assert_eq!(check_boot(&mut ingest, Some("b"), 1, 0).1, vec![1]);
        assert_eq!(check_boot(&mut ingest, Some("b"), 2, 0).1, vec![2, 3]);
        assert_eq!(
            check_boot(&mut ingest, Some("c"), DEFAULT_REPLAY_WINDOW, 0).0,
            Verdict::Accept {
                gap: Some((1, DEFAULT_REPLAY_WINDOW - 1))
            }
        );
        assert_eq!(
            check_boot(&mut ingest, Some("e"), DEFAULT_REPLAY_WINDOW + 1, 0).0,
            Verdict::OutOfRange {
                bound: DEFAULT_REPLAY_WINDOW
            },
            "a new boot's first seq is within its window too"
        );
        assert_eq!(
            ingest.mark("d").and_then(|m| m.boot.clone()),
            Some("c".into())
        );
    }

    #[test]
    fn a_device_without_boots_restarts_only_right_after_coming_online() {
        let mut ingest = Ingest::default();
        for seq in 1..=20 {
            check(&mut ingest, seq, 0);
        }
        assert_eq!(check(&mut ingest, 1, 0), (Verdict::Duplicate, vec![]));
        ingest.announce("d", None, None, true, 0);
        assert_eq!(check(&mut ingest, 21, 0), (NO_GAP, vec![21]), "a reconnect");
        assert_eq!(check(&mut ingest, 1, 0).0, Verdict::Duplicate);
        ingest.announce("d", None, None, true, 0);
        assert_eq!(check(&mut ingest, 1, 0), (NO_GAP, vec![1]), "a restart");
        assert_eq!(check(&mut ingest, 2, 0), (NO_GAP, vec![2]));
        // A device with boots is never restarted by a status.
        let mut ingest = Ingest::default();
        check_boot(&mut ingest, Some("a"), 1, 0);
        check_boot(&mut ingest, Some("a"), 2, 0);
        ingest.announce("d", Some("a"), Some(4096), true, 0);
        assert_eq!(check(&mut ingest, 1, 0).0, Verdict::Duplicate);
    }

    #[test]
    fn a_huge_seq_is_out_of_range_and_moves_nothing() {
        let mut ingest = Ingest::default();
        ingest.announce("d", Some("a"), Some(4096), true, 0);
        for seq in 1..=10 {
            check_boot(&mut ingest, Some("a"), seq, 0);
        }
        for spoof in [1 << 62, u64::MAX, 10 + 4097] {
            assert_eq!(
                check_boot(&mut ingest, Some("a"), spoof, 0),
                (Verdict::OutOfRange { bound: 10 + 4096 }, vec![])
            );
        }
        assert_eq!(ingest.mark("d").map(|m| m.last_seq), Some(10));
        assert_eq!(check_boot(&mut ingest, Some("a"), 11, 1).1, vec![11]);
        // Spoofs over a long time, but the device is heard in range between: nothing moves.
        for i in 0..10 {
            let now = i * JUMP_CONFIRM_MS;
            assert!(matches!(
                check_boot(&mut ingest, Some("a"), 1 << 62, now).0,
                Verdict::OutOfRange { .. }
            ));
            check_boot(&mut ingest, Some("a"), 12 + i, now);
        }
        assert_eq!(ingest.mark("d").map(|m| m.last_seq), Some(21));
        assert!(ingest.replays(u64::MAX / 2).is_empty());
        // In range but far ahead: held, and the device's own seqs fill below it.
        assert_eq!(
            check_boot(&mut ingest, Some("a"), 21 + 4096, 0).0,
            Verdict::Accept {
                gap: Some((22, 21 + 4095))
            }
        );
        assert_eq!(check_boot(&mut ingest, Some("a"), 22, 0).1, vec![22]);
        assert_eq!(check_boot(&mut ingest, Some("a"), 23, 0).1, vec![23]);
    }

    #[test]
    fn a_device_that_moved_past_its_window_has_the_rest_given_up() {
        // Seen in range: a small window.
        let mut ingest = Ingest::default();
        ingest.announce("d", Some("a"), Some(10), true, 0);
        check_boot(&mut ingest, Some("a"), 1, 0);
        check_boot(&mut ingest, Some("a"), 5, 0);
        assert_eq!(
            check_boot(&mut ingest, Some("a"), 16, 0),
            (Verdict::Accept { gap: Some((7, 15)) }, vec![-3, 5, -1]),
            "2..4 and 6 are older than the device's last 10 (7..16): given up; 7..15 asked for"
        );
        // Out of range: only after it keeps coming.
        let mut ingest = Ingest::default();
        ingest.announce("d", Some("a"), Some(100), true, 0);
        check_boot(&mut ingest, Some("a"), 1, 0);
        check_boot(&mut ingest, Some("a"), 3, 0);
        for (seq, now) in [(500, 0), (501, 5_000)] {
            assert!(matches!(
                check_boot(&mut ingest, Some("a"), seq, now).0,
                Verdict::OutOfRange { .. }
            ));
        }
        let (verdict, steps) = check_boot(&mut ingest, Some("a"), 502, JUMP_CONFIRM_MS);
        assert_eq!(
            (verdict, steps),
            (
                Verdict::Accept {
                    gap: Some((403, 501))
                },
                vec![-1, 3, -399]
            ),
            "up to 402 given up (the device keeps its last 100: 403..502), 403..501 asked for"
        );
        assert_eq!(ingest.mark("d").map(|m| m.last_seq), Some(402));
        assert_eq!(ranges(&ingest.replays(u64::MAX / 2)), vec![(403, 501)]);
        assert_eq!(check_boot(&mut ingest, Some("a"), 403, 0).1, vec![403]);
    }

    #[test]
    fn a_device_that_cannot_replay_has_its_gaps_given_up_at_once() {
        let mut ingest = Ingest::default();
        ingest.announce("d", Some("a"), Some(0), true, 0);
        check_boot(&mut ingest, Some("a"), 1, 0);
        assert_eq!(
            check_boot(&mut ingest, Some("a"), 4, 0),
            (NO_GAP, vec![-2, 4])
        );
        assert!(ingest.replays(u64::MAX / 2).is_empty());
    }

    #[test]
    fn the_held_cache_drops_the_highest_and_asks_for_them_again() {
        let mut ingest = Ingest::default();
        ingest.announce("d", Some("a"), Some(4096), true, 0);
        check_boot(&mut ingest, Some("a"), 1, 0);
        let last = 3 + MAX_HELD as u64 + 100;
        for seq in 3..=last {
            assert!(check_boot(&mut ingest, Some("a"), seq, 0).1.is_empty());
        }
        assert_eq!(ingest.held("d"), MAX_HELD);
        assert_eq!(
            ranges(&ingest.replays(u64::MAX / 2)),
            vec![(2, 2), (3 + MAX_HELD as u64, last)]
        );
        let steps = check_boot(&mut ingest, Some("a"), 2, 0).1;
        assert_eq!(steps.len(), MAX_HELD + 1, "nothing given up");
        for seq in 3 + MAX_HELD as u64..=last {
            assert_eq!(
                check_boot(&mut ingest, Some("a"), seq, 0).1,
                vec![seq as i64]
            );
        }
    }

    #[test]
    fn a_silent_device_has_its_gaps_given_up_after_the_safety_timeout() {
        let mut ingest = Ingest::default();
        check(&mut ingest, 1, 0);
        check(&mut ingest, 4, 0);
        assert!(ingest.expire(SILENT_GIVE_UP_MS - 1).is_empty());
        assert_eq!(applied(&ingest.expire(SILENT_GIVE_UP_MS)), vec![-2, 4]);
        assert_eq!(check(&mut ingest, 5, SILENT_GIVE_UP_MS), (NO_GAP, vec![5]));
    }

    #[test]
    fn late_ranges_from_an_earlier_version_still_fill_and_expire() {
        let mark = DeviceMark {
            device: "d".into(),
            table: "t".into(),
            last_seq: 10,
            missing: vec![(7, 9)],
            last_seen_ms: 0,
            boot: None,
            old_boots: vec![],
        };
        let mut ingest: Ingest<u64> = Ingest::new(vec![mark], 0);
        let (verdict, steps) = ingest.check("d", "t", None, 8, 0, 8);
        assert_eq!(verdict, NO_GAP);
        let Some(Step::Apply { item: 8, mark }) = steps.first() else {
            panic!("{steps:?}");
        };
        assert_eq!(
            (mark.last_seq, mark.missing.clone()),
            (10, vec![(7, 7), (9, 9)])
        );
        assert_eq!(check(&mut ingest, 8, 0), (Verdict::Duplicate, vec![]));
        assert_eq!(applied(&ingest.expire(GAP_TIMEOUT_MS)).len(), 1);
        assert_eq!(ingest.mark("d").map(|m| m.missing.len()), Some(0));
        assert_eq!(check(&mut ingest, 11, 0), (NO_GAP, vec![11]));
        assert_eq!(
            check_boot(&mut ingest, Some("new"), 1, 0),
            (NO_GAP, vec![1]),
            "an upgraded device's first boot"
        );
    }

    proptest! {
        /// A device (window 4096) sends 1..=n over a lossy, duplicating, reordering link and answers
        /// each replay request only from its `patience`-th on; the agent ends with every seq applied
        /// once, in order, nothing given up.
        #[test]
        fn lossy_links_with_replays_converge_to_every_seq_applied_once_in_order(
            n in 1u64..300,
            fate in proptest::collection::vec(0u8..10, 300),
            order in proptest::collection::vec(any::<u16>(), 300),
            patience in 1u32..4,
        ) {
            let mut ingest: Ingest<u64> = Ingest::default();
            ingest.announce("d", Some("b"), Some(4096), true, 0);
            // Seq 1 is the baseline (first sight), as a device's first message is.
            let mut sent: Vec<(u16, u64)> = Vec::new();
            for seq in 2..=n {
                let i = seq as usize;
                match fate[i % fate.len()] {
                    0..=2 => {}                                   // lost
                    3 => { sent.push((order[i % order.len()], seq)); sent.push((order[(i * 7) % order.len()], seq)); }
                    _ => sent.push((order[i % order.len()], seq)),
                }
            }
            // Local reordering: sort by (position / 8 windows, random key).
            sent.sort_by_key(|&(key, seq)| (seq / 8, key));
            let mut out = Vec::new();
            let feed = |ingest: &mut Ingest<u64>, seq: u64, now: u64, out: &mut Vec<i64>| {
                let (_, steps) = ingest.check("d", "t", Some("b"), seq, now, seq);
                out.extend(applied(&steps));
            };
            feed(&mut ingest, 1, 0, &mut out);
            for &(_, seq) in &sent {
                feed(&mut ingest, seq, 0, &mut out);
            }
            let mut asked: HashMap<u64, u32> = HashMap::new();
            let mut now = 0;
            for _ in 0..10_000 {
                if ingest.mark("d").map(|m| m.last_seq) == Some(n) {
                    break;
                }
                now += 250;
                // The device keeps talking (its last seq again: a duplicate) so it is not silent.
                feed(&mut ingest, n, now, &mut out);
                out.extend(applied(&ingest.expire(now)));
                for request in ingest.replays(now) {
                    for seq in request.from_seq..=request.to_seq {
                        let times = asked.entry(seq).or_insert(0);
                        *times += 1;
                        if *times >= patience {
                            feed(&mut ingest, seq, now, &mut out);
                        }
                    }
                }
            }
            let expected: Vec<i64> = (1..=n as i64).collect();
            prop_assert_eq!(out, expected);
            prop_assert_eq!(ingest.waiting(), 0);
        }
    }
}
