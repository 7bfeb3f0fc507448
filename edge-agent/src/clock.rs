//! The wall clock, in one place. Events are stamped with their receive time and SQLite keeps times as
//! milliseconds since the Unix epoch; everything below the edges takes time as a value, so the table
//! fold and the rules stay pure and replay is exact.

/// Milliseconds since the Unix epoch, the receive time stamped on every event.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
