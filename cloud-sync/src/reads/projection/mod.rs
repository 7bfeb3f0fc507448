//! The matches projection: matches, racks and per-player statistics (the tables `venue_tables`,
//! `matches`, `racks`, `match_player_stats`) folded from the venue records, with cursors named
//! [`MatchesProjection::NAME`]; then the live messages of finished racks and matches, and the cache
//! scopes (the venue, each player of a touched match) whose generation the commit bumps. The
//! cursor, the exactly-once guarantee and the scheduling are [`crate::projection`]'s.
//!
//! - [`fold`]: records → one delta per match (pure);
//! - [`store`]: the deltas → set-based statements.

mod fold;
mod store;

use std::collections::HashMap;

use serde_json::{Value, json};
use shared::sync::Record;
use sqlx::{Postgres, Row as _, Transaction};

use self::fold::{MatchDelta, fold};
use self::store::{small, store_matches, upsert_racks, upsert_stats, void_matches};
use crate::infra::cache::Scope;
use crate::projection::{Effects, Projection, Stored};

/// Matches, racks and statistics, for the read API.
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchesProjection;

impl Projection for MatchesProjection {
    const NAME: &'static str = "matches";

    async fn apply<'a>(
        &'a self,
        tx: &'a mut Transaction<'_, Postgres>,
        venue: &'a str,
        epoch: &'a str,
        records: &'a [Stored],
    ) -> Result<Effects, sqlx::Error> {
        apply_records(tx, venue, epoch, records).await
    }
}

/// Applies records to matches, racks and statistics.
async fn apply_records(
    tx: &mut Transaction<'_, Postgres>,
    venue: &str,
    epoch: &str,
    records: &[Stored],
) -> Result<Effects, sqlx::Error> {
    let deltas = fold(records);
    if deltas.is_empty() {
        return Ok(Effects::default());
    }
    // Sorted, so concurrent projections take the new rows' locks in one order (no deadlock).
    let tables: Vec<&str> = deltas
        .iter()
        .filter_map(|(_, d)| d.table.as_deref())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !tables.is_empty() {
        sqlx::query(
            "INSERT INTO venue_tables (venue_id, table_id) SELECT $1, unnest($2::text[])
             ON CONFLICT DO NOTHING",
        )
        .bind(venue)
        .bind(&tables)
        .execute(&mut **tx)
        .await?;
    }
    let (inserted, existing) = store_matches(tx, venue, epoch, &deltas).await?;
    let mut cloud_ids: HashMap<String, i64> = HashMap::new();
    // Each match's registered players by seat, as the match (its start) names them.
    let mut seats: HashMap<String, Vec<Option<String>>> = HashMap::new();
    let mut touched = vec![Scope::Venue(venue.to_owned())];
    for row in inserted.iter().chain(&existing) {
        let id: i64 = row.try_get("id")?;
        let vmid: String = row.try_get("venue_match_id")?;
        let player_ids: Option<Vec<Option<String>>> = row.try_get("player_ids")?;
        touched.extend(
            player_ids
                .iter()
                .flatten()
                .flatten()
                .cloned()
                .map(Scope::Player),
        );
        seats.insert(vmid.clone(), player_ids.unwrap_or_default());
        cloud_ids.insert(vmid, id);
    }
    let with_id: Vec<(i64, &MatchDelta<'_>)> = deltas
        .iter()
        .filter_map(|(vmid, d)| cloud_ids.get(vmid).map(|id| (*id, d)))
        .collect();

    // Racks taken back by a correction; racks finished after it in these records are re-inserted.
    let truncations: Vec<(i64, i32)> = with_id
        .iter()
        .filter_map(|(id, d)| d.truncate_above.map(|n| (*id, small(n))))
        .collect();
    if !truncations.is_empty() {
        sqlx::query(
            "DELETE FROM racks r USING UNNEST($1::int8[], $2::int4[]) AS u(match_id, above)
             WHERE r.match_id = u.match_id AND r.ordinal > u.above",
        )
        .bind(truncations.iter().map(|t| t.0).collect::<Vec<_>>())
        .bind(truncations.iter().map(|t| t.1).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    upsert_racks(tx, epoch, &with_id).await?;
    upsert_stats(tx, &with_id).await?;
    void_matches(tx, &with_id).await?;

    // The live feed is public: names of walk-ins and private players are masked (reads::privacy).
    let named: Vec<String> = seats.values().flatten().flatten().cloned().collect();
    let visible = crate::reads::privacy::public_players(&mut **tx, &named).await?;
    let live = live_messages(venue, records, &cloud_ids, &seats, &visible);
    touched.sort_by_key(|s| format!("{s:?}"));
    touched.dedup();
    Ok(Effects { live, touched })
}

/// The `/api/v1/live` messages for the results in `records`.
fn live_messages(
    venue: &str,
    records: &[Stored],
    cloud_ids: &HashMap<String, i64>,
    seats: &HashMap<String, Vec<Option<String>>>,
    visible: &std::collections::HashSet<String>,
) -> Vec<String> {
    records
        .iter()
        .filter_map(|ready| {
            let match_id = cloud_ids.get(&ready.match_id)?;
            let message: Value = match &ready.record {
                Record::MatchFinished(r) => {
                    let mut m = json!({
                        "type": "match_finished", "venue_id": venue, "match_id": match_id,
                        "venue_match_id": r.match_id, "table": r.table, "game": r.game,
                        "players": r.players, "player_ids": seats.get(&r.match_id).cloned()
                            .unwrap_or_else(|| r.player_ids.to_vec()),
                        "race_to": r.race_to,
                        "winner": r.winner, "score": r.score,
                    });
                    crate::reads::privacy::mask_match(&mut m, visible);
                    m
                }
                Record::RackFinished(r) => json!({
                    "type": "rack_finished", "venue_id": venue, "match_id": match_id,
                    "venue_match_id": r.match_id, "table": r.table, "ordinal": r.ordinal,
                    "winner": r.winner, "score": r.score,
                }),
                Record::MatchVoided(r) => json!({
                    "type": "match_voided", "venue_id": venue, "match_id": match_id,
                    "venue_match_id": r.match_id, "table": r.table, "reason": r.reason,
                }),
                _ => return None,
            };
            Some(message.to_string())
        })
        .collect()
}
