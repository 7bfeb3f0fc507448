//! What the cloud-sync benches share: the records a venue sends, and their gzip bodies.

use std::io::Write as _;

use serde_json::{Value, json};

/// A finished 9-ball match (race to 2) as a venue sends it: seqs `first..first + 4`.
pub(crate) fn match_records(
    first: u64,
    match_id: &str,
    table: &str,
    started_ms: u64,
) -> Vec<Value> {
    let stats = |won: u32| {
        json!({"racks_won": won, "balls_pocketed": 9 * won, "fouls": 1, "break_and_runs": 0,
               "breaks_with_ball": won, "safeties": 2, "innings": 6, "high_run": 5})
    };
    let shots = json!([{"shot": {"first_contact": 1, "pocketed": [{"ball": 2, "pocket": 4}],
                                 "break_rails": 5}},
                       {"shot": {"first_contact": 1, "pocketed": [{"ball": 1, "pocket": 3}]}},
                       {"action": "pass"},
                       {"shot": {"first_contact": 3, "pocketed": [{"ball": 9, "pocket": 6}]}}]);
    let started = json!({"match_id": match_id, "table": table, "started_ms": started_ms,
        "spec": {"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 2},
        "player_ids": [null, null]});
    let rack = |ordinal: u32| {
        json!({"match_id": match_id, "table": table, "ordinal": ordinal, "rack": ordinal,
               "winner": 0, "score": [ordinal, 0], "stats": [stats(ordinal), stats(0)],
               "shots": shots})
    };
    let finished = json!({"match_id": match_id, "table": table, "game": "nine-ball",
        "players": ["Ann", "Bo"], "race_to": 2, "winner": 0, "score": [2, 0],
        "stats": [stats(2), stats(0)], "inputs": []});
    [
        ("match_started", started),
        ("rack_finished", rack(1)),
        ("rack_finished", rack(2)),
        ("match_finished", finished),
    ]
    .into_iter()
    .zip(first..)
    .map(|((kind, payload), seq)| {
        json!({"seq": seq, "kind": kind, "match_id": match_id, "payload": payload})
    })
    .collect()
}

/// Gzip, as the edge sends batches.
pub(crate) fn gzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}
