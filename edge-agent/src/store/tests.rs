//! The store on a real file: recovery from damage, checkpoints, schema versions, sync writes and
//! outbox batches.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};
use shared::sync::{Player, PlayerChange, PlayerChanges, PlayerSnapshot};
use tokio::sync::oneshot;

use super::checkpoint::checkpoint;
use super::open::configure;
use super::schema::SCHEMA_VERSION;
use super::writer::commit;
use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dojo-store-{name}-{}-{}",
        std::process::id(),
        crate::clock::now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn a_damaged_database_is_moved_aside_never_deleted() {
    let dir = temp_dir("damaged");
    let (conn, first) = open(&dir).expect("a new database");
    drop(conn);
    assert!(first.moved_aside.is_none());
    // Scribble over the file past its header, as a failing SD card might.
    let path = db_path(&dir);
    let mut bytes = std::fs::read(&path).expect("read");
    for byte in bytes.iter_mut().skip(100) {
        *byte = 0xA5;
    }
    std::fs::write(&path, &bytes).expect("write");
    let (_conn, second) = open(&dir).expect("opens a fresh database");
    let aside = second
        .moved_aside
        .expect("the damaged file was moved aside");
    assert_eq!(
        std::fs::read(&aside).expect("kept"),
        bytes,
        "the damaged bytes are kept as they were"
    );
    assert_ne!(
        second.epoch, first.epoch,
        "a fresh database gets a new epoch"
    );
    std::fs::remove_dir_all(dir).ok();
}

fn dead_letters(count: usize) -> Vec<Write> {
    (0..count)
        .map(|i| {
            Write::DeadLetter(DeadLetter {
                // Recent: the writer's retention deletes letters older than 7 days.
                received_ms: crate::clock::now_ms(),
                topic: "dojo/v1/tables/t1/events".into(),
                payload: vec![b'x'; 1000],
                reason: "not_json".into(),
                detail: format!("filler {i}"),
            })
        })
        .collect()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[test]
fn commits_leave_checkpoints_to_the_checkpointer() {
    let dir = temp_dir("checkpoint");
    let (mut conn, _) = open(&dir).expect("a new database");
    let wal = PathBuf::from(format!("{}-wal", db_path(&dir).display()));
    // ~1500 WAL pages in 10 commits: SQLite's default would have checkpointed inside the
    // commit that crossed 1000 and started the WAL over; the writer no longer does.
    for _ in 0..10 {
        commit(&mut conn, &dead_letters(600), &Retention::default()).expect("commit");
    }
    let grown = file_len(&wal);
    assert!(grown > 1300 * 4096, "the WAL kept growing: {grown} bytes");
    let checkpointer = Connection::open(db_path(&dir)).expect("second connection");
    configure(&checkpointer).expect("configure");
    let (frames, copied) = checkpoint(&checkpointer).expect("checkpoint");
    assert!(frames > 1300, "{frames} frames");
    assert_eq!(copied, frames, "a passive checkpoint copies every frame");
    // With every frame copied, the next commits start the WAL over instead of growing it.
    for _ in 0..5 {
        commit(&mut conn, &dead_letters(600), &Retention::default()).expect("commit");
    }
    assert_eq!(file_len(&wal), grown, "the WAL is reused from its start");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_checkpointer_thread_moves_pages_into_the_database_file() {
    let dir = temp_dir("checkpointer");
    let (conn, _) = open(&dir).expect("a new database");
    let before = file_len(&db_path(&dir));
    let (store, _reader, writer) = spawn_writer(conn, &dir, |_| {}, |_, _| {});
    for write in dead_letters(1200) {
        store.tx.blocking_send(write).expect("queued");
    }
    // Nothing here checkpoints: only the thread can grow the database file.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while file_len(&db_path(&dir)) < before + 1200 * 1000 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        file_len(&db_path(&dir)) >= before + 1200 * 1000,
        "the database file holds the dead letters"
    );
    drop(store);
    writer.join().expect("the writer and the checkpointer stop");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = temp_dir("newer");
    let (conn, _) = open(&dir).expect("a new database");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    drop(conn);
    assert!(matches!(open(&dir), Err(StoreError::TooNew(_))));
    std::fs::remove_dir_all(dir).ok();
}

fn outbox_row(conn: &Connection, seq: i64, kind: &str) {
    conn.execute(
        "INSERT INTO outbox (seq, event_seq, kind, match_id, payload) VALUES (?1, ?1, ?2, 'm1', '{\"match_id\":\"m1\"}')",
        params![seq, kind],
    )
    .expect("outbox row");
}

fn player(id: &str, name: &str) -> Player {
    Player {
        id: id.into(),
        name: name.into(),
        rating: None,
    }
}

fn pending(reader: &Reader) -> Vec<u64> {
    let records = reader.outbox(100, 1 << 20).expect("outbox");
    records.iter().map(|r| r.seq).collect()
}

#[test]
fn acknowledged_records_are_kept_to_send_again_after_a_cloud_restore() {
    let dir = temp_dir("rewind");
    let (mut conn, _) = open(&dir).expect("a new database");
    for seq in 1..=6 {
        outbox_row(&conn, seq, "rack_finished");
    }
    let reader = Reader::new(db_path(&dir));
    let write = |conn: &mut Connection, write: SyncWrite| {
        let (done, _) = oneshot::channel();
        commit(conn, &[Write::Sync { write, done }], &Retention::default()).expect("commit");
    };
    let ack = |seq| SyncWrite::Acked {
        seq,
        forget_before_ms: 0,
    };
    write(&mut conn, ack(4));
    assert_eq!(pending(&reader), [5, 6]);
    assert_eq!(reader.oldest_kept_sent().expect("kept"), Some(1));

    // The cloud, back from a backup, holds records up to 2 only.
    write(&mut conn, SyncWrite::Rewind { from: 3 });
    assert_eq!(pending(&reader), [3, 4, 5, 6], "sent again, in order");
    let status = reader.sync_status().expect("status");
    assert_eq!((status.pending, status.acked_seq), (4, 2));
    let again = reader.outbox(1, 1 << 20).expect("outbox");
    assert_eq!(again[0].payload["match_id"], "m1", "the same content");

    // What was acknowledged before the retention window is forgotten (a window ending a minute
    // from now covers this very ack however long its commit takes).
    write(
        &mut conn,
        SyncWrite::Acked {
            seq: 6,
            forget_before_ms: crate::clock::now_ms() + 60_000,
        },
    );
    assert_eq!(pending(&reader), Vec::<u64>::new());
    assert_eq!(reader.oldest_kept_sent().expect("kept"), None);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn sync_writes_ack_dead_letter_and_copy_players() {
    let dir = temp_dir("sync");
    let (mut conn, _) = open(&dir).expect("a new database");
    for seq in 1..=5 {
        outbox_row(&conn, seq, "rack_finished");
    }
    let reader = Reader::new(db_path(&dir));
    let sync = |conn: &mut Connection, write: SyncWrite| {
        let (done, _) = oneshot::channel();
        commit(conn, &[Write::Sync { write, done }], &Retention::default()).expect("commit");
    };
    sync(
        &mut conn,
        SyncWrite::Acked {
            seq: 2,
            forget_before_ms: 0,
        },
    );
    let pending: Vec<u64> = reader
        .outbox(10, 1 << 20)
        .expect("outbox")
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(pending, [3, 4, 5], "only acknowledged rows leave");
    sync(
        &mut conn,
        SyncWrite::Acked {
            seq: 1,
            forget_before_ms: 0,
        },
    );
    assert_eq!(
        reader.sync_status().expect("status").acked_seq,
        2,
        "the mark never goes back"
    );

    let refuse = SyncWrite::Refused {
        seq: 4,
        reason: "bad".into(),
    };
    sync(&mut conn, refuse);
    let records = reader.outbox(10, 1 << 20).expect("outbox");
    assert_eq!(records.len(), 3, "the sequence keeps no gap");
    assert_eq!(records[1].kind, "rejected");
    assert_eq!(records[1].payload["original_kind"], "rack_finished");
    let dead = reader.sync_dead_letters(10).expect("dead letters");
    assert_eq!(
        (dead.len(), dead[0].seq, dead[0].kind.as_str()),
        (1, 4, "rack_finished")
    );
    assert_eq!(dead[0].payload, "{\"match_id\":\"m1\"}", "kept as it was");
    // Refusing the placeholder again keeps the original in the dead letters.
    let again = SyncWrite::Refused {
        seq: 4,
        reason: "again".into(),
    };
    sync(&mut conn, again);
    assert_eq!(reader.sync_dead_letters(10).expect("dead")[0].reason, "bad");

    let page = PlayerChanges {
        changes: vec![
            PlayerChange::Upsert {
                version: 1,
                player: player("p1", "Efren"),
            },
            PlayerChange::Upsert {
                version: 2,
                player: player("p2", "Earl"),
            },
            PlayerChange::Delete {
                version: 3,
                id: "p2".into(),
            },
        ],
        cursor: 3,
        more: false,
    };
    sync(&mut conn, SyncWrite::PlayerChanges(page));
    assert_eq!(reader.players().expect("players"), [player("p1", "Efren")]);
    assert_eq!(reader.sync_status().expect("status").players_cursor, 3);
    let snapshot = PlayerSnapshot {
        players: vec![player("p9", "Shane")],
        cursor: 40,
    };
    sync(&mut conn, SyncWrite::PlayerSnapshot(snapshot));
    assert_eq!(reader.players().expect("players"), [player("p9", "Shane")]);
    assert_eq!(
        reader.player("p9").expect("read").map(|p| p.name),
        Some("Shane".into())
    );
    assert_eq!(reader.player("p1").expect("read"), None);
    assert_eq!(reader.sync_status().expect("status").players_cursor, 40);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn outbox_batches_are_bounded_by_bytes_but_never_empty_and_can_start_after_a_seq() {
    let dir = temp_dir("outbox-bytes");
    let (conn, _) = open(&dir).expect("a new database");
    for seq in 1..=3 {
        outbox_row(&conn, seq, "match_started");
    }
    let reader = Reader::new(db_path(&dir));
    assert_eq!(reader.outbox(10, 1).expect("outbox").len(), 1);
    assert_eq!(reader.outbox(2, 1 << 20).expect("outbox").len(), 2);
    // The batch behind one in flight (seqs 1 and 2).
    let behind = reader.outbox_after(2, 10, 1 << 20).expect("outbox");
    assert_eq!(behind.iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);
    assert!(
        reader
            .outbox_after(3, 10, 1 << 20)
            .expect("outbox")
            .is_empty()
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn upgrading_to_the_registry_registers_every_table_the_database_has() {
    let dir = temp_dir("registry-upgrade");
    let (conn, _) = open(&dir).expect("a new database");
    // Back to version 3, as a database written before the registry, with two tables.
    conn.execute_batch(
        "DROP TABLE tournament_events;
         DROP TABLE staff;
         DROP TABLE registry;
         ALTER TABLE devices DROP COLUMN boot;
         ALTER TABLE devices DROP COLUMN old_boots;
         INSERT INTO tables (table_id, seq, view) VALUES ('t2', 2, '{}'), ('t1', 1, '{}');
         PRAGMA user_version = 3;",
    )
    .expect("downgrade");
    drop(conn);
    let (conn, recovered) = open(&dir).expect("upgrades");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let registered: Vec<(String, String, u32, bool)> = recovered
        .registry
        .iter()
        .map(|e| (e.table.clone(), e.name.clone(), e.position, e.retired))
        .collect();
    assert_eq!(
        registered,
        vec![
            ("t1".to_owned(), "t1".to_owned(), 1, false),
            ("t2".to_owned(), "t2".to_owned(), 2, false),
        ]
    );
    std::fs::remove_dir_all(dir).ok();
}

fn letter(received_ms: u64, payload: usize) -> Write {
    Write::DeadLetter(DeadLetter {
        received_ms,
        topic: "dojo/v1/tables/t1/events".into(),
        payload: vec![b'g'; payload],
        reason: "not_json".into(),
        detail: "garbage".into(),
    })
}

fn kept(conn: &Connection) -> (i64, i64) {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(length(payload)), 0) FROM dead_letters",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .expect("count")
}

#[test]
fn a_dead_letter_keeps_a_bounded_prefix_and_says_so() {
    let dir = temp_dir("dl-prefix");
    let (mut conn, _) = open(&dir).expect("a new database");
    let retention = Retention::default();
    commit(&mut conn, &[letter(5, 60_000)], &retention).expect("commit");
    let (payload, detail): (Vec<u8>, String) = conn
        .query_row("SELECT payload, detail FROM dead_letters", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("kept");
    assert_eq!(payload.len(), retention.payload_bytes);
    assert!(
        detail.contains("60000 bytes"),
        "the detail says how long it was: {detail}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn dead_letters_are_trimmed_by_age_then_rows_then_bytes_oldest_first() {
    let dir = temp_dir("dl-trim");
    let (mut conn, _) = open(&dir).expect("a new database");
    let retention = Retention {
        max_age_ms: 1_000,
        max_rows: 50,
        max_bytes: 20 * 100,
        ..Retention::default()
    };
    let now = 10_000;
    // 10 too old, then 90 recent of 100 bytes each.
    let mut batch: Vec<Write> = (0..10).map(|i| letter(i, 100)).collect();
    batch.extend((0..90).map(|i| letter(now - 500 + i, 100)));
    commit(&mut conn, &batch, &retention).expect("commit");
    let trimmed = retention::trim_dead_letters(&conn, &retention, now).expect("trim");
    let (rows, bytes) = kept(&conn);
    // Bytes count topic and detail too (24 + 7 here): 2000 bytes hold 15 of these.
    assert_eq!(rows, 15, "the byte bound leaves 15 rows");
    assert_eq!(bytes, 15 * 100);
    assert_eq!(trimmed, 85, "10 by age, 40 by rows, 35 by bytes");
    let oldest: i64 = conn
        .query_row("SELECT MIN(received_ms) FROM dead_letters", [], |r| {
            r.get(0)
        })
        .expect("oldest");
    assert_eq!(
        oldest,
        i64::try_from(now - 500 + 75).expect("fits"),
        "the newest are kept"
    );
    // Within every bound, nothing more goes.
    assert_eq!(
        retention::trim_dead_letters(&conn, &retention, now).expect("trim"),
        0
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn upgrading_to_boots_keeps_every_device_mark_without_a_boot() {
    let dir = temp_dir("boots-upgrade");
    let (conn, _) = open(&dir).expect("a new database");
    // Back to version 4, as a database written before device boots, with one device's mark.
    conn.execute_batch(
        "DROP TABLE tournament_events;
         DROP TABLE staff;
         ALTER TABLE devices DROP COLUMN boot;
         ALTER TABLE devices DROP COLUMN old_boots;
         INSERT INTO devices (device, table_id, last_seq, missing, last_seen_ms)
             VALUES ('ctl-1', 't1', 500, '[]', 7);
         PRAGMA user_version = 4;",
    )
    .expect("downgrade");
    drop(conn);
    let (conn, recovered) = open(&dir).expect("upgrades");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let marks: Vec<(String, u64, Option<String>, Vec<String>)> = recovered
        .devices
        .iter()
        .map(|m| {
            (
                m.device.clone(),
                m.last_seq,
                m.boot.clone(),
                m.old_boots.clone(),
            )
        })
        .collect();
    assert_eq!(marks, vec![("ctl-1".to_owned(), 500, None, vec![])]);
    std::fs::remove_dir_all(dir).ok();
}
