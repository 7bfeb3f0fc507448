//! Per-device dedupe, gap detection and reordering. MQTT QoS 1 delivers duplicates, and the broker
//! acknowledges a publish before the agent has committed it, so MQTT alone guarantees nothing end
//! to end: every device numbers its messages, a seen `(device, seq)` is ignored, and a jump in a
//! device's seq is a gap that is asked for again (firmware-bridge replays on
//! `dojo/v1/devices/{device}/cmd`).
//!
//! **Order.** A device's events are applied in seq order, not arrival order: a late `pocket` that
//! a replay recovers must land in the shot it belongs to. So while a device has a gap open, its
//! later messages are *held* here (at most [`MAX_HELD`] per device) and released, in seq order, as
//! soon as the gap is filled — or, if it is not filled within [`GAP_TIMEOUT_MS`], the missing seqs
//! are given up on (counted, shown to staff) and the held messages released after them.
//!
//! **Marks.** A device's [`DeviceMark`] (`last_seq`) is its frontier: every seq up to it has been
//! applied or given up on, in order. Each released message comes with the mark *as of that
//! message*, which the engine stores in the same transaction as the message's event, so the
//! persisted frontier never passes an event that is not in the log. Held messages are not stored:
//! after a restart the device's next message shows the same gap again, the agent asks for a replay,
//! and the device (firmware-bridge keeps its last 4,096 events) sends the held ones again. `missing`
//! ranges below the frontier are only found in marks written by versions that applied events in
//! arrival order; a late event in one is applied at once and the range expires as before.

use std::collections::{BTreeMap, HashMap};

/// A device's dedupe mark: its frontier (see the module doc), saved by the store in the same
/// transaction as the device's event, and read back at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceMark {
    /// Device id.
    pub device: String,
    /// Table it reports for.
    pub table: String,
    /// Every seq up to here is applied or given up on (`ingest` applies a device's events in seq
    /// order).
    pub last_seq: u64,
    /// Open gaps below it, inclusive ranges (only in marks saved by versions that applied events in
    /// arrival order).
    pub missing: Vec<(u64, u64)>,
    /// Last time heard from.
    pub last_seen_ms: u64,
}

/// How long a gap may stay open before its events are counted as missing.
pub const GAP_TIMEOUT_MS: u64 = 5_000;

/// Messages held per device while a gap is open; one more gives up on the oldest gap at once.
pub const MAX_HELD: usize = 1_024;

/// What became of a device message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// New: applied now or held until its gap closes. `gap` is a range of seqs now known to be
    /// missing (ask for a replay).
    Accept {
        /// Missing seqs, inclusive.
        gap: Option<(u64, u64)>,
    },
    /// Already seen (applied, or held).
    Duplicate,
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
    /// `events` seqs were given up on (a gap timed out, the buffer overflowed, or the device
    /// restarted with a gap open): count them missing; store `mark` with that record.
    Lost {
        /// How many.
        events: u64,
        /// The device's mark after giving up (its `table` is where to count them).
        mark: DeviceMark,
    },
}

/// A device's messages waiting for a gap below them to close.
#[derive(Debug)]
struct Pending<T> {
    /// By seq; all above the mark's `last_seq`.
    held: BTreeMap<u64, T>,
    /// Open gaps `(from, to, deadline_ms)`, inclusive, sorted. Every seq between the frontier and
    /// the highest held one is either held or in a gap, so the lowest gap starts right after the
    /// frontier. A gap found later lies higher, so deadlines grow with the seqs.
    gaps: Vec<(u64, u64, u64)>,
}

/// Dedupe and reorder state for every device; `T` is the message the engine holds.
#[derive(Debug)]
pub struct Ingest<T> {
    marks: HashMap<String, DeviceMark>,
    /// Deadlines of `missing` ranges below the frontier (marks saved by earlier versions).
    late: HashMap<String, Vec<(u64, u64, u64)>>,
    pending: HashMap<String, Pending<T>>,
}

impl<T> Default for Ingest<T> {
    fn default() -> Self {
        Ingest {
            marks: HashMap::new(),
            late: HashMap::new(),
            pending: HashMap::new(),
        }
    }
}

impl<T> Ingest<T> {
    /// Starts from the marks saved in SQLite. Gaps open at shutdown get a fresh deadline.
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

    /// Checks message `seq` of `device` from `table`: its verdict, and what to apply (it, and any
    /// held messages it releases) or count as lost, in order.
    pub fn check(
        &mut self,
        device: &str,
        table: &str,
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
            };
            self.marks.insert(device.to_owned(), mark.clone());
            steps.push(Step::Apply { item, mark });
            return (Verdict::Accept { gap: None }, steps);
        };
        mark.last_seen_ms = now_ms;
        mark.table = table.to_owned();
        if seq == mark.last_seq + 1 {
            mark.last_seq = seq;
            steps.push(Step::Apply {
                item,
                mark: mark.clone(),
            });
            if let Some(pending) = self.pending.get_mut(device) {
                release(mark, pending, &mut steps);
                if pending.held.is_empty() {
                    self.pending.remove(device);
                }
            }
            return (Verdict::Accept { gap: None }, steps);
        }
        if seq > mark.last_seq {
            let pending = self
                .pending
                .entry(device.to_owned())
                .or_insert_with(|| Pending {
                    held: BTreeMap::new(),
                    gaps: Vec::new(),
                });
            if pending.held.contains_key(&seq) {
                return (Verdict::Duplicate, steps);
            }
            let top = pending
                .held
                .last_key_value()
                .map_or(mark.last_seq, |(&s, _)| s);
            let mut gap = None;
            if seq > top + 1 {
                gap = Some((top + 1, seq - 1));
                pending
                    .gaps
                    .push((top + 1, seq - 1, now_ms + GAP_TIMEOUT_MS));
            } else if seq < top {
                // A replayed message inside an open gap.
                split_sorted(&mut pending.gaps, seq);
            }
            pending.held.insert(seq, item);
            while pending.held.len() > MAX_HELD && !pending.gaps.is_empty() {
                give_up_lowest(mark, pending, &mut steps);
            }
            if pending.held.is_empty() {
                self.pending.remove(device);
            }
            return (Verdict::Accept { gap }, steps);
        }
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
        let highest = self
            .pending
            .get(device)
            .and_then(|p| p.held.last_key_value())
            .map_or(mark.last_seq, |(&s, _)| s);
        if seq <= 1 && highest > 1 {
            // A device that restarted numbers from the beginning again. What its old session left
            // held goes first (its gaps given up on: the device no longer has those events).
            if let Some(mut pending) = self.pending.remove(device) {
                while !pending.gaps.is_empty() {
                    give_up_lowest(mark, &mut pending, &mut steps);
                }
            }
            mark.last_seq = seq;
            mark.missing.clear();
            self.late.remove(device);
            steps.push(Step::Apply {
                item,
                mark: mark.clone(),
            });
            return (Verdict::Accept { gap: None }, steps);
        }
        (Verdict::Duplicate, steps)
    }

    /// The mark of a device.
    pub fn mark(&self, device: &str) -> Option<&DeviceMark> {
        self.marks.get(device)
    }

    /// Messages held for `device` (waiting for a gap to close).
    pub fn held(&self, device: &str) -> usize {
        self.pending.get(device).map_or(0, |p| p.held.len())
    }

    /// Gives up on every gap whose deadline passed: the steps (counts, then the messages they were
    /// holding back, in seq order) per device.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Step<T>> {
        let mut steps = Vec::new();
        for (device, deadlines) in &mut self.late {
            let mut lost = 0;
            deadlines.retain(|&(a, b, deadline)| {
                let due = deadline <= now_ms;
                if due {
                    lost += b - a + 1;
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
        self.pending.retain(|device, pending| {
            let Some(mark) = self.marks.get_mut(device) else {
                return false;
            };
            while pending
                .gaps
                .first()
                .is_some_and(|&(_, _, deadline)| deadline <= now_ms)
            {
                give_up_lowest(mark, pending, &mut steps);
            }
            !pending.held.is_empty()
        });
        steps
    }
}

/// Applies the held messages that follow the frontier without a gap.
fn release<T>(mark: &mut DeviceMark, pending: &mut Pending<T>, steps: &mut Vec<Step<T>>) {
    while let Some(item) = pending.held.remove(&(mark.last_seq + 1)) {
        mark.last_seq += 1;
        steps.push(Step::Apply {
            item,
            mark: mark.clone(),
        });
    }
}

/// Gives up on the lowest gap (it starts right after the frontier), then releases what follows.
fn give_up_lowest<T>(mark: &mut DeviceMark, pending: &mut Pending<T>, steps: &mut Vec<Step<T>>) {
    if pending.gaps.is_empty() {
        return;
    }
    let (from, to, _) = pending.gaps.remove(0);
    mark.last_seq = mark.last_seq.max(to);
    steps.push(Step::Lost {
        events: to - from + 1,
        mark: mark.clone(),
    });
    release(mark, pending, steps);
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
        let (verdict, steps) = ingest.check("d", "t", seq, now, seq);
        (verdict, applied(&steps))
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
        assert!(ingest.expire(u64::MAX).is_empty());
    }

    #[test]
    fn an_unfilled_gap_is_given_up_after_the_timeout_and_the_held_released() {
        let mut ingest = Ingest::default();
        check(&mut ingest, 1, 0);
        assert_eq!(
            check(&mut ingest, 4, 100),
            (Verdict::Accept { gap: Some((2, 3)) }, vec![])
        );
        assert_eq!(
            check(&mut ingest, 7, 1_000),
            (Verdict::Accept { gap: Some((5, 6)) }, vec![])
        );
        assert_eq!(
            check(&mut ingest, 3, 1_000),
            (NO_GAP, vec![]),
            "half filled"
        );
        let expired = |ingest: &mut Ingest<u64>, now| -> Vec<i64> { applied(&ingest.expire(now)) };
        assert!(expired(&mut ingest, 100 + GAP_TIMEOUT_MS - 1).is_empty());
        assert_eq!(
            expired(&mut ingest, 100 + GAP_TIMEOUT_MS),
            vec![-1, 3, 4],
            "seq 2 lost, 3 and 4 released; 5..6 has its own deadline"
        );
        assert_eq!(ingest.mark("d").map(|m| m.last_seq), Some(4));
        assert_eq!(check(&mut ingest, 6, 2_000), (NO_GAP, vec![]));
        assert_eq!(expired(&mut ingest, 1_000 + GAP_TIMEOUT_MS), vec![-1, 6, 7]);
        assert_eq!(ingest.held("d"), 0);
        assert_eq!(check(&mut ingest, 8, 9_000), (NO_GAP, vec![8]));
    }

    #[test]
    fn the_buffer_is_bounded_and_a_restart_flushes_it() {
        let mut ingest = Ingest::default();
        check(&mut ingest, 1, 0);
        let first = 3;
        for seq in first..first + MAX_HELD as u64 {
            assert!(check(&mut ingest, seq, 0).1.is_empty());
        }
        assert_eq!(ingest.held("d"), MAX_HELD);
        let (_, steps) = check(&mut ingest, first + MAX_HELD as u64, 0);
        assert_eq!(
            steps.len(),
            MAX_HELD + 2,
            "seq 2 lost, everything held released"
        );
        assert_eq!(steps[0], -1);
        assert_eq!(steps[1], 3);
        assert_eq!(ingest.held("d"), 0);

        let mut ingest = Ingest::default();
        check(&mut ingest, 1, 0);
        check(&mut ingest, 5, 0);
        assert_eq!(
            check(&mut ingest, 1, 0),
            (NO_GAP, vec![-3, 5, 1]),
            "a restarted device: the old session's held events first, then it starts over"
        );
        assert_eq!(check(&mut ingest, 2, 0), (NO_GAP, vec![2]));
    }

    #[test]
    fn late_ranges_from_an_earlier_version_still_fill_and_expire() {
        let mark = DeviceMark {
            device: "d".into(),
            table: "t".into(),
            last_seq: 10,
            missing: vec![(7, 9)],
            last_seen_ms: 0,
        };
        let mut ingest: Ingest<u64> = Ingest::new(vec![mark], 0);
        let (verdict, steps) = ingest.check("d", "t", 8, 0, 8);
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
        assert_eq!(check(&mut ingest, 1, 0), (NO_GAP, vec![1]), "restart");
    }
}
