//! What the sync task writes, through the one writer like everything else: acknowledged records
//! leave the outbox for `sync_sent` (and come back on a rewind), refused ones become `rejected`
//! placeholders, and the registered players are copied from the cloud's change log.

use rusqlite::{Connection, params};
use shared::sync::{Player, PlayerChange, PlayerChanges, PlayerSnapshot, StaffList};

use super::{to_i64, to_u64};

/// What the sync task writes, through the one writer like everything else.
#[derive(Debug)]
pub enum SyncWrite {
    /// cloud-sync holds every record up to `seq`: they leave the outbox for `sync_sent`, which
    /// forgets what was acknowledged before `forget_before_ms`.
    Acked {
        /// The cloud's high-water mark.
        seq: u64,
        /// Acknowledged records older than this (Unix ms) are deleted.
        forget_before_ms: u64,
    },
    /// cloud-sync asks again for records from `from` on, which it had acknowledged (it was
    /// restored from a backup): they go back from `sync_sent` into the outbox.
    Rewind {
        /// The seq the cloud expects.
        from: u64,
    },
    /// cloud-sync refused record `seq` as invalid: it moves to `sync_dead_letters` and its outbox
    /// row becomes a `rejected` placeholder.
    Refused {
        /// The record.
        seq: u64,
        /// The cloud's reason.
        reason: String,
    },
    /// A page of the player change log.
    PlayerChanges(PlayerChanges),
    /// Every registered player: replaces the local copy.
    PlayerSnapshot(PlayerSnapshot),
    /// The venue's staff: replaces the local copy when its version differs.
    Staff(StaffList),
}

fn set_meta(conn: &Connection, key: &str, value: u64) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute(params![key, value.to_string()])?;
    Ok(())
}

pub(super) fn sync_write(conn: &Connection, write: &SyncWrite) -> rusqlite::Result<()> {
    match write {
        SyncWrite::Acked {
            seq,
            forget_before_ms,
        } => {
            let seq = to_i64(*seq);
            conn.prepare_cached(
                "INSERT OR REPLACE INTO sync_sent (seq, event_seq, kind, match_id, payload, acked_ms)
                 SELECT seq, event_seq, kind, match_id, payload, ?2 FROM outbox WHERE seq <= ?1",
            )?
            .execute(params![seq, to_i64(crate::clock::now_ms())])?;
            conn.prepare_cached("DELETE FROM outbox WHERE seq <= ?1")?
                .execute([seq])?;
            conn.prepare_cached("DELETE FROM sync_sent WHERE acked_ms < ?1")?
                .execute([to_i64(*forget_before_ms)])?;
            conn.prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('sync_acked_seq', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            )?
            .execute([seq.to_string()])?;
        }
        SyncWrite::Rewind { from } => {
            let from = to_i64(*from);
            conn.prepare_cached(
                "INSERT OR IGNORE INTO outbox (seq, event_seq, kind, match_id, payload)
                 SELECT seq, event_seq, kind, match_id, payload FROM sync_sent WHERE seq >= ?1",
            )?
            .execute([from])?;
            conn.prepare_cached("DELETE FROM sync_sent WHERE seq >= ?1")?
                .execute([from])?;
            set_meta(conn, "sync_acked_seq", to_u64(from.saturating_sub(1)))?;
        }
        SyncWrite::Refused { seq, reason } => {
            let moved = conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO sync_dead_letters (seq, kind, match_id, payload, reason, refused_ms)
                     SELECT seq, kind, match_id, payload, ?2, ?3 FROM outbox WHERE seq = ?1 AND kind != 'rejected'",
                )?
                .execute(params![to_i64(*seq), reason, to_i64(crate::clock::now_ms())])?;
            if moved > 0 {
                conn.prepare_cached(
                    "UPDATE outbox SET kind = 'rejected',
                       payload = json_object('original_kind', kind, 'reason', ?2) WHERE seq = ?1",
                )?
                .execute(params![to_i64(*seq), reason])?;
            }
        }
        SyncWrite::PlayerChanges(page) => {
            for change in &page.changes {
                match change {
                    PlayerChange::Upsert { player, .. } => upsert_player(conn, player)?,
                    PlayerChange::Delete { id, .. } => {
                        conn.prepare_cached("DELETE FROM players WHERE id = ?1")?
                            .execute([id])?;
                    }
                }
            }
            set_meta(conn, "players_cursor", page.cursor)?;
        }
        SyncWrite::PlayerSnapshot(snapshot) => {
            conn.execute("DELETE FROM players", [])?;
            for player in &snapshot.players {
                upsert_player(conn, player)?;
            }
            set_meta(conn, "players_cursor", snapshot.cursor)?;
        }
        SyncWrite::Staff(list) => replace_staff(conn, list)?,
    }
    Ok(())
}

fn replace_staff(conn: &Connection, list: &StaffList) -> rusqlite::Result<()> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'staff_version'")?
        .query_row([], |row| row.get(0))
        .ok();
    if stored.as_deref() == Some(list.version.as_str()) {
        return Ok(());
    }
    conn.execute("DELETE FROM staff", [])?;
    for member in &list.staff {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO staff (id, display_name, roles, pin_hash) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            member.id,
            member.display_name,
            serde_json::to_string(&member.roles).unwrap_or_else(|_| "[]".into()),
            member.pin_hash
        ])?;
    }
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('staff_version', ?1)")?
        .execute([&list.version])?;
    Ok(())
}

fn upsert_player(conn: &Connection, player: &Player) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO players (id, name, rating) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, rating = excluded.rating",
    )?
    .execute(params![player.id, player.name, player.rating])?;
    Ok(())
}
