//! The venue → cloud contract as the agent writes it: a whole match played through a running agent
//! (devices over MQTT, staff over HTTP, an undo in the middle), then every outbox row read back
//! from SQLite and typed as the cloud types it, `shared::sync::Record`.

use std::path::Path;

use serde_json::{Value, json};
use shared::sync::{RawRecord, Record};

use crate::helpers::*;

/// Every outbox row, oldest first: (seq, kind, match_id, payload text).
fn outbox_rows(dir: &Path) -> Vec<(u64, String, String, String)> {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("edge.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("database opens");
    let mut stmt = conn
        .prepare("SELECT seq, kind, match_id, payload FROM outbox ORDER BY seq")
        .expect("query");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query runs")
        .collect::<Result<_, _>>()
        .expect("rows read")
}

#[tokio::test]
async fn every_outbox_row_of_a_played_match_parses_as_a_sync_record() {
    let dir = data_dir("outbox-contract");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t1").await;
    assert_eq!(next_json(&mut screen).await["type"], "snapshot");

    let started = agent.start_match("t1", "nine-ball", 2).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-t1").await;
    // Rack 1: Ann breaks dry; Bo makes the 1 and the 9 on one shot.
    ctl.button("t1", "end_turn").await;
    ctl.pocket("t1", 1, 3).await;
    ctl.pocket("t1", 9, 4).await;
    ctl.button("t1", "end_turn").await;
    let view = until(&mut screen, "t1", |v| v["rack_winner"] == 1).await;
    assert_eq!(view["score"], json!([0, 1]));
    // Staff take Bo's shot back: the rack is no longer won.
    let (status, body) = agent
        .post(
            "/api/v1/tables/t1/matches/current/actions",
            json!({"action": "undo"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    until(&mut screen, "t1", |v| v["score"] == json!([0, 0])).await;
    // Bo plays the shot again, then breaks rack 2 (alternate break) and makes the 9: the match.
    ctl.pocket("t1", 1, 3).await;
    ctl.pocket("t1", 9, 4).await;
    ctl.button("t1", "end_turn").await;
    until(&mut screen, "t1", |v| v["score"] == json!([0, 1])).await;
    ctl.pocket("t1", 9, 1).await;
    ctl.button("t1", "end_turn").await;
    let view = until(&mut screen, "t1", |v| !v["match_winner"].is_null()).await;
    assert_eq!(view["match_winner"], 1);
    agent.stop().await;

    let rows = outbox_rows(&dir);
    let mut records = Vec::new();
    for (seq, kind, match_id, payload) in &rows {
        let record = Record::from_text(*seq, kind, match_id, payload)
            .unwrap_or_else(|invalid| panic!("row {seq} ({kind}) does not parse: {invalid}"));
        assert_eq!(record.kind(), kind, "the row's kind is the record's");
        assert_eq!(record.match_id(), Some(match_id.as_str()));
        // The same record typed from a JSON value, as `RawRecord::parse` does.
        let raw = RawRecord {
            seq: *seq,
            kind: kind.clone(),
            match_id: match_id.clone(),
            payload: serde_json::from_str::<Value>(payload).expect("JSON"),
        };
        assert_eq!(raw.parse().as_ref(), Ok(&record));
        // Written in one place: serializing the typed record again gives the row's bytes.
        assert_eq!(
            record.payload_text().ok().as_deref(),
            Some(payload.as_str())
        );
        records.push(record);
    }
    let kinds: Vec<_> = records.iter().map(Record::kind).collect();
    assert_eq!(
        kinds,
        [
            "match_started",
            "rack_finished",
            "result_corrected",
            "rack_finished",
            "rack_finished",
            "match_finished"
        ],
        "the undone rack stays in the outbox, followed by its correction"
    );
    let match_id = started["match"]["match_id"]
        .as_str()
        .expect("the match id is shown");
    assert!(records.iter().all(|r| r.match_id() == Some(match_id)));

    let Record::MatchStarted(start) = &records[0] else {
        panic!("{:?}", records[0]);
    };
    assert_eq!(start.table, "t1");
    assert_eq!(start.spec.players, ["Ann".to_owned(), "Bo".to_owned()]);
    assert_eq!(start.spec.race_to, 2);
    assert_eq!(start.player_ids, [None, None]);
    let racks: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::RackFinished(rack) => Some((rack.ordinal, rack.winner, rack.score)),
            _ => None,
        })
        .collect();
    assert_eq!(racks, [(1, 1, [0, 1]), (1, 1, [0, 1]), (2, 1, [0, 2])]);
    let Record::ResultCorrected(corrected) = &records[2] else {
        panic!("{:?}", records[2]);
    };
    assert_eq!(
        (
            corrected.score,
            corrected.racks_finished,
            corrected.match_finished
        ),
        ([0, 0], 0, false)
    );
    let Record::MatchFinished(finished) = &records[5] else {
        panic!("{:?}", records[5]);
    };
    assert_eq!((finished.winner, finished.score), (1, [0, 2]));
    assert_eq!(finished.race_to, 2);
    assert_eq!(finished.stats[1].racks_won, 2);
    assert!(!finished.inputs.is_empty(), "the inputs to replay it");
    std::fs::remove_dir_all(dir).ok();
}
