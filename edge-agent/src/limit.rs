//! Rate limits for what strangers can try from the venue network: guessing pairing codes, and
//! players' messages to staff. A token bucket per key (an address, a phone), pure: the time is an
//! input, so the tests need no clock and no sleeps.

use std::collections::HashMap;

/// At most this many keys are remembered; past it, the keys whose buckets are full again go first.
const MAX_KEYS: usize = 4_096;

/// Token buckets by key: `capacity` tries, one more every `refill_ms`.
#[derive(Debug)]
pub struct Limiter {
    capacity: u32,
    refill_ms: u64,
    buckets: HashMap<String, Bucket>,
}

/// Tries used, as of `at_ms` (the last refill).
#[derive(Clone, Copy, Debug)]
struct Bucket {
    used: u32,
    at_ms: u64,
}

/// Refused: try again in this many seconds (at least 1), for `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl Limiter {
    /// `capacity` tries per key, one regained every `refill_ms` (at least 1 ms).
    pub fn new(capacity: u32, refill_ms: u64) -> Limiter {
        Limiter {
            capacity: capacity.max(1),
            refill_ms: refill_ms.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Whether `key` has a try left at `now_ms`, without using it.
    pub fn check(&mut self, key: &str, now_ms: u64) -> Result<(), RetryAfter> {
        let bucket = self.refilled(key, now_ms);
        if bucket.used < self.capacity {
            return Ok(());
        }
        let next = bucket.at_ms.saturating_add(self.refill_ms);
        Err(RetryAfter(
            next.saturating_sub(now_ms).div_ceil(1_000).max(1),
        ))
    }

    /// Uses one of `key`'s tries at `now_ms`, if it has one left.
    pub fn take(&mut self, key: &str, now_ms: u64) -> Result<(), RetryAfter> {
        self.check(key, now_ms)?;
        if self.buckets.len() >= MAX_KEYS && !self.buckets.contains_key(key) {
            self.forget_full(now_ms);
        }
        let mut bucket = self.refilled(key, now_ms);
        bucket.used += 1;
        self.buckets.insert(key.to_owned(), bucket);
        Ok(())
    }

    /// `key`'s bucket as of `now_ms` (a key not seen has every try).
    fn refilled(&self, key: &str, now_ms: u64) -> Bucket {
        let Some(&bucket) = self.buckets.get(key) else {
            return Bucket {
                used: 0,
                at_ms: now_ms,
            };
        };
        self.refill(bucket, now_ms)
    }

    fn refill(&self, bucket: Bucket, now_ms: u64) -> Bucket {
        let regained = now_ms.saturating_sub(bucket.at_ms) / self.refill_ms;
        let used = u64::from(bucket.used).saturating_sub(regained);
        Bucket {
            used: u32::try_from(used).unwrap_or(u32::MAX),
            at_ms: if used == 0 {
                now_ms
            } else {
                bucket.at_ms + regained * self.refill_ms
            },
        }
    }

    /// Drops the keys that have every try back; if none has, the oldest half.
    fn forget_full(&mut self, now_ms: u64) {
        let before = self.buckets.len();
        let refill_ms = self.refill_ms;
        self.buckets.retain(|_, bucket| {
            let regained = now_ms.saturating_sub(bucket.at_ms) / refill_ms;
            u64::from(bucket.used) > regained
        });
        if self.buckets.len() == before {
            let mut ages: Vec<u64> = self.buckets.values().map(|b| b.at_ms).collect();
            ages.sort_unstable();
            let cut = ages.get(ages.len() / 2).copied().unwrap_or(0);
            self.buckets.retain(|_, bucket| bucket.at_ms > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_capacity_then_waits_for_a_refill() {
        let mut limiter = Limiter::new(3, 10_000);
        for _ in 0..3 {
            assert_eq!(limiter.take("10.0.0.7", 1_000), Ok(()));
        }
        assert_eq!(limiter.take("10.0.0.7", 1_000), Err(RetryAfter(10)));
        assert_eq!(limiter.check("10.0.0.7", 5_500), Err(RetryAfter(6)));
        // Another address is not affected.
        assert_eq!(limiter.take("10.0.0.8", 1_000), Ok(()));
        // One try back after one refill period, not more.
        assert_eq!(limiter.take("10.0.0.7", 11_000), Ok(()));
        assert_eq!(limiter.take("10.0.0.7", 11_000), Err(RetryAfter(10)));
        // Everything back after a long pause.
        for _ in 0..3 {
            assert_eq!(limiter.take("10.0.0.7", 100_000), Ok(()));
        }
    }

    #[test]
    fn check_does_not_use_a_try() {
        let mut limiter = Limiter::new(1, 1_000);
        for _ in 0..5 {
            assert_eq!(limiter.check("a", 0), Ok(()));
        }
        assert_eq!(limiter.take("a", 0), Ok(()));
        assert_eq!(limiter.check("a", 0), Err(RetryAfter(1)));
    }

    #[test]
    fn the_key_count_stays_bounded() {
        let mut limiter = Limiter::new(2, 60_000);
        for i in 0..(MAX_KEYS * 3) {
            let now = u64::try_from(i).unwrap_or(0);
            assert_eq!(limiter.take(&format!("k{i}"), now), Ok(()));
        }
        assert!(limiter.buckets.len() <= MAX_KEYS);
    }
}
