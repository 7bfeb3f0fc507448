//! Per-device dedupe and gap detection. MQTT QoS 1 delivers duplicates, and the broker acknowledges a
//! publish before the agent has committed it, so MQTT alone guarantees nothing end to end: every
//! device numbers its messages, a seen `(device, seq)` is ignored, and a jump in a device's seq is a
//! gap that is asked for again (firmware-bridge replays on `dojo/v1/devices/{device}/cmd`) and, if it
//! is not filled in time, counted and shown to staff.

use std::collections::HashMap;

use crate::store::DeviceMark;

/// How long a gap may stay open before its events are counted as missing.
pub const GAP_TIMEOUT_MS: u64 = 5_000;

/// What to do with a device message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// New: accept it. `gap` is a range of seqs now known to be missing (ask for a replay).
    Accept {
        /// Missing seqs, inclusive.
        gap: Option<(u64, u64)>,
    },
    /// Already seen.
    Duplicate,
}

/// Dedupe state for every device.
#[derive(Debug, Default)]
pub struct Ingest {
    marks: HashMap<String, DeviceMark>,
    deadlines: HashMap<String, Vec<(u64, u64, u64)>>,
}

impl Ingest {
    /// Starts from the marks saved in SQLite. Gaps open at shutdown get a fresh deadline.
    pub fn new(marks: Vec<DeviceMark>, now_ms: u64) -> Ingest {
        let mut ingest = Ingest::default();
        for mark in marks {
            let deadlines = mark
                .missing
                .iter()
                .map(|&(a, b)| (a, b, now_ms + GAP_TIMEOUT_MS))
                .collect();
            ingest.deadlines.insert(mark.device.clone(), deadlines);
            ingest.marks.insert(mark.device.clone(), mark);
        }
        ingest
    }

    /// Checks `(device, seq)` from `table` and records it.
    pub fn check(&mut self, device: &str, table: &str, seq: u64, now_ms: u64) -> Verdict {
        let Some(mark) = self.marks.get_mut(device) else {
            // First sight: the baseline. Nothing before it can be asked for.
            self.marks.insert(
                device.to_owned(),
                DeviceMark {
                    device: device.to_owned(),
                    table: table.to_owned(),
                    last_seq: seq,
                    missing: vec![],
                    last_seen_ms: now_ms,
                },
            );
            return Verdict::Accept { gap: None };
        };
        mark.last_seen_ms = now_ms;
        mark.table = table.to_owned();
        if seq == mark.last_seq + 1 {
            mark.last_seq = seq;
            return Verdict::Accept { gap: None };
        }
        if seq > mark.last_seq {
            let gap = (mark.last_seq + 1, seq - 1);
            mark.missing.push(gap);
            mark.last_seq = seq;
            self.deadlines.entry(device.to_owned()).or_default().push((
                gap.0,
                gap.1,
                now_ms + GAP_TIMEOUT_MS,
            ));
            return Verdict::Accept { gap: Some(gap) };
        }
        if take(&mut mark.missing, seq) {
            if let Some(deadlines) = self.deadlines.get_mut(device) {
                split(deadlines, seq);
            }
            return Verdict::Accept { gap: None };
        }
        if seq <= 1 && mark.last_seq > 1 {
            // A device that restarted numbers from the beginning again.
            mark.last_seq = seq;
            mark.missing.clear();
            self.deadlines.remove(device);
            return Verdict::Accept { gap: None };
        }
        Verdict::Duplicate
    }

    /// The mark of a device, to save.
    pub fn mark(&self, device: &str) -> Option<&DeviceMark> {
        self.marks.get(device)
    }

    /// Gaps whose deadline passed: (device, table, events given up on). They are closed.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(String, String, u64)> {
        let mut expired = Vec::new();
        for (device, deadlines) in &mut self.deadlines {
            let mut lost = 0;
            deadlines.retain(|&(a, b, deadline)| {
                let due = deadline <= now_ms;
                if due {
                    lost += b - a + 1;
                }
                !due
            });
            if lost > 0 {
                if let Some(mark) = self.marks.get_mut(device) {
                    mark.missing
                        .retain(|&(a, _)| deadlines.iter().any(|&(da, db, _)| da <= a && a <= db));
                    expired.push((device.clone(), mark.table.clone(), lost));
                }
            }
        }
        expired
    }
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

fn split(deadlines: &mut Vec<(u64, u64, u64)>, seq: u64) {
    if let Some(i) = deadlines.iter().position(|&(a, b, _)| a <= seq && seq <= b) {
        let (a, b, deadline) = deadlines.remove(i);
        if a < seq {
            deadlines.push((a, seq - 1, deadline));
        }
        if seq < b {
            deadlines.push((seq + 1, b, deadline));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_ignored_and_gaps_reported_then_filled() {
        let mut ingest = Ingest::default();
        assert_eq!(ingest.check("d", "t", 5, 0), Verdict::Accept { gap: None });
        assert_eq!(ingest.check("d", "t", 5, 0), Verdict::Duplicate);
        assert_eq!(ingest.check("d", "t", 6, 0), Verdict::Accept { gap: None });
        assert_eq!(
            ingest.check("d", "t", 10, 0),
            Verdict::Accept { gap: Some((7, 9)) }
        );
        assert_eq!(
            ingest.check("d", "t", 8, 0),
            Verdict::Accept { gap: None },
            "a replayed event fills the gap"
        );
        assert_eq!(ingest.check("d", "t", 8, 0), Verdict::Duplicate);
        assert_eq!(
            ingest.mark("d").map(|m| m.missing.clone()),
            Some(vec![(7, 7), (9, 9)])
        );
        assert_eq!(ingest.expire(GAP_TIMEOUT_MS - 1), vec![]);
        assert_eq!(
            ingest.expire(GAP_TIMEOUT_MS),
            vec![("d".into(), "t".into(), 2)]
        );
        assert_eq!(ingest.mark("d").map(|m| m.missing.len()), Some(0));
        assert_eq!(
            ingest.check("d", "t", 1, 0),
            Verdict::Accept { gap: None },
            "a restarted device starts over"
        );
    }
}
