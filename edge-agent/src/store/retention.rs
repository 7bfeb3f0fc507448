//! What the store keeps of what anyone on the venue network can send: dead letters are refused
//! input, so each keeps only a bounded prefix of its payload, and the table is trimmed by age, by
//! rows and by bytes (oldest first). Without this, garbage at 60 KB a message grew the database
//! by 150 MB/s and kept it for ever (issue 16, defect 5; docs/decisions/0015).

use rusqlite::{Connection, params};

use super::to_i64;
use super::writer::DeadLetter;

/// The bounds on kept dead letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Bytes of a refused payload kept (the rest is dropped; the detail says how long it was).
    pub payload_bytes: usize,
    /// Characters of a topic or a detail kept.
    pub text_chars: usize,
    /// Dead letters older than this are deleted.
    pub max_age_ms: u64,
    /// At most this many are kept (the newest).
    pub max_rows: u64,
    /// At most this many bytes (payload + topic + detail) are kept (the newest).
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            payload_bytes: 1024,
            text_chars: 256,
            max_age_ms: 7 * 86_400_000,
            max_rows: 10_000,
            max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// How often the writer trims: after this many new dead letters, or this long since the last trim
/// (whichever comes first).
pub(super) const TRIM_EVERY_LETTERS: u64 = 256;
pub(super) const TRIM_EVERY_MS: u64 = 60_000;

/// The dead letter as it is kept: payload cut to its prefix, topic and detail to their bounds,
/// the detail saying what was cut.
pub(super) fn bounded(letter: &DeadLetter, retention: &Retention) -> (String, Vec<u8>, String) {
    let topic = cut_chars(&letter.topic, retention.text_chars);
    let mut detail = cut_chars(&letter.detail, retention.text_chars);
    let payload = if letter.payload.len() > retention.payload_bytes {
        detail.push_str(&format!(
            " [payload of {} bytes; the first {} kept]",
            letter.payload.len(),
            retention.payload_bytes
        ));
        letter.payload[..retention.payload_bytes].to_vec()
    } else {
        letter.payload.clone()
    };
    (topic, payload, detail)
}

fn cut_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Deletes dead letters past their age, then the oldest beyond the row and byte bounds; returns
/// how many were deleted.
pub(super) fn trim_dead_letters(
    conn: &Connection,
    retention: &Retention,
    now_ms: u64,
) -> rusqlite::Result<u64> {
    let cutoff = to_i64(now_ms.saturating_sub(retention.max_age_ms));
    let mut deleted = conn
        .prepare_cached("DELETE FROM dead_letters WHERE received_ms < ?1")?
        .execute([cutoff])?;
    deleted += conn
        .prepare_cached(
            "DELETE FROM dead_letters WHERE id <= (SELECT id FROM dead_letters ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        )?
        .execute([to_i64(retention.max_rows)])?;
    deleted += conn
        .prepare_cached(
            "DELETE FROM dead_letters WHERE id <= (
                SELECT max(id) FROM (
                    SELECT id, SUM(length(payload) + length(topic) + length(detail))
                        OVER (ORDER BY id DESC ROWS UNBOUNDED PRECEDING) AS newer
                    FROM dead_letters)
                WHERE newer > ?1)",
        )?
        .execute(params![to_i64(retention.max_bytes)])?;
    Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
}
