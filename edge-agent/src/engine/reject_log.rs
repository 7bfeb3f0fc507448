//! Rate-limited logging of rejected messages: a device stuck sending garbage must not flood the
//! log, yet every reject is still counted and dead-lettered.

use std::collections::HashMap;

/// Logs a reject once per (topic, reason) a minute, with how many were not logged since: a device
/// stuck sending garbage must not flood the log. Every reject is still counted and dead-lettered.
#[derive(Debug, Default)]
pub(super) struct RejectLog {
    seen: HashMap<(String, &'static str), (u64, u64)>,
}

impl RejectLog {
    const EVERY_MS: u64 = 60_000;
    const MAX_KEYS: usize = 1024;

    /// `Some(suppressed since the last line)` when this reject should be logged.
    pub(super) fn should_log(
        &mut self,
        topic: &str,
        reason: &'static str,
        now_ms: u64,
    ) -> Option<u64> {
        if self.seen.len() >= Self::MAX_KEYS && !self.seen.contains_key(&(topic.to_owned(), reason))
        {
            self.seen.clear();
        }
        let (last_ms, suppressed) = self
            .seen
            .entry((topic.to_owned(), reason))
            .or_insert((0, 0));
        if *last_ms == 0 || now_ms.saturating_sub(*last_ms) >= Self::EVERY_MS {
            *last_ms = now_ms.max(1);
            Some(std::mem::take(suppressed))
        } else {
            *suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RejectLog;

    #[test]
    fn a_flood_of_rejects_is_logged_once_a_minute_per_topic_and_reason() {
        let mut log = RejectLog::default();
        assert_eq!(log.should_log("t", "not_json", 1_000), Some(0));
        for ms in 1_001..1_100 {
            assert_eq!(log.should_log("t", "not_json", ms), None);
        }
        assert_eq!(
            log.should_log("t", "oversize", 1_100),
            Some(0),
            "another reason is logged"
        );
        assert_eq!(
            log.should_log("t", "not_json", 61_000),
            Some(99),
            "then the count of the quiet ones"
        );
    }
}
