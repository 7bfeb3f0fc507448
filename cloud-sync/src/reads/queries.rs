//! The read API's queries. Lists use keyset pagination: a page ends with `next`, an opaque cursor
//! (the last row's key) that the client passes back as `?after=`; an offset would rescan every
//! earlier row and skip or repeat rows while syncs insert. Rows are shaped as JSON by PostgreSQL
//! (`jsonb_build_object`), so one statement answers a page.

use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, PgPool};

/// Rows per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: i64 = 50;
/// Most rows per page.
pub const MAX_LIMIT: i64 = 200;

/// A read could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No such venue, match or player (404).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// A malformed parameter (400).
    #[error("{0}")]
    BadRequest(String),
    /// PostgreSQL's.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// `?after=…&limit=…`, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The key after which the page starts.
    pub after: Option<String>,
    /// Rows wanted, 1..=[`MAX_LIMIT`].
    pub limit: i64,
}

impl Page {
    /// Checks raw query parameters.
    ///
    /// # Errors
    ///
    /// [`ReadError::BadRequest`] for a limit out of range.
    pub fn new(after: Option<String>, limit: Option<i64>) -> Result<Page, ReadError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ReadError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(Page {
            after: after.filter(|a| !a.is_empty()),
            limit,
        })
    }

    /// Whether this is a first page of the default size (the one worth caching).
    pub fn is_first_default(&self) -> bool {
        self.after.is_none() && self.limit == DEFAULT_LIMIT
    }

    fn after_id(&self) -> Result<Option<i64>, ReadError> {
        self.after
            .as_deref()
            .map(|a| {
                a.parse()
                    .map_err(|_| ReadError::BadRequest(format!("bad cursor {a:?}")))
            })
            .transpose()
    }
}

/// A match as lists show it. A constant: the only text ever formatted into a query here. A
/// registered player whose result does not count yet (unconfirmed or disputed: the
/// `confirmations` context's `public_players`/`public_player_ids`, migration 0010) is withheld,
/// name and id.
const SUMMARY: &str = "jsonb_build_object(
    'id', m.id, 'venue_id', m.venue_id, 'venue_match_id', m.venue_match_id,
    'table', m.table_id, 'game', m.game, 'players', public_players(m),
    'player_ids', public_player_ids(m),
    'race_to', m.race_to, 'score', m.score, 'winner', m.winner, 'finished', m.finished,
    'voided', m.voided, 'started_ms', m.started_ms,
    'finished_ms', (extract(epoch FROM m.finished_at) * 1000)::int8)";

/// A page of rows and the cursor after it: `{"<name>": [...], "next": "…" | null}`.
fn paged(name: &str, mut rows: Vec<(String, Value)>, limit: i64) -> Value {
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if more {
        rows.last().map(|(key, _)| key.clone())
    } else {
        None
    };
    let items: Vec<Value> = rows.into_iter().map(|(_, v)| v).collect();
    json!({ name: items, "next": next })
}

/// `GET /api/v1/venues`.
///
/// # Errors
///
/// [`ReadError`].
pub async fn venues(pool: &PgPool, page: &Page) -> Result<Value, ReadError> {
    let rows: Vec<(String, Value)> = sqlx::query_as(
        "SELECT v.id, jsonb_build_object('id', v.id, 'name', v.name,
                'created_ms', (extract(epoch FROM v.created_at) * 1000)::int8,
                'tables', COALESCE((SELECT jsonb_agg(t.table_id ORDER BY t.table_id)
                                    FROM venue_tables t WHERE t.venue_id = v.id), '[]'))
         FROM venues v WHERE ($1::text IS NULL OR v.id > $1) ORDER BY v.id LIMIT $2",
    )
    .bind(page.after.as_deref())
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    Ok(paged("venues", rows, page.limit))
}

/// `GET /api/v1/venues/{id}/matches`: newest first.
///
/// # Errors
///
/// [`ReadError`]; 404 for an unknown venue.
pub async fn venue_matches(pool: &PgPool, venue: &str, page: &Page) -> Result<Value, ReadError> {
    let after = page.after_id()?;
    if !crate::venues::exists(pool, venue).await? {
        return Err(ReadError::NotFound("venue"));
    }
    let rows: Vec<(i64, Value)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT m.id, {SUMMARY} FROM matches m
         WHERE m.venue_id = $1 AND ($2::int8 IS NULL OR m.id < $2)
         ORDER BY m.id DESC LIMIT $3"
    )))
    .bind(venue)
    .bind(after)
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    let rows = rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Ok(paged("matches", rows, page.limit))
}

/// `GET /api/v1/matches/{id}`: the match, its racks and its players' statistics. A rack's
/// statistics and shots, and the match's inputs, are read from the records that carried them.
///
/// # Errors
///
/// [`ReadError`]; 404 for an unknown match.
pub async fn match_detail(pool: &PgPool, id: &str) -> Result<Value, ReadError> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(ReadError::NotFound("match"));
    };
    let found: Option<Value> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT {SUMMARY} || jsonb_build_object(
            'spec', CASE WHEN m.spec ? 'players' AND m.players IS NOT NULL
                         THEN jsonb_set(m.spec, '{{players}}', to_jsonb(public_players(m)))
                         ELSE m.spec END,
            'void', CASE WHEN m.voided THEN jsonb_build_object('reason', m.void_reason,
                    'by', m.voided_by, 'voided_ms', m.voided_ms) END,
            'corrections', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'score', c.payload->'score', 'match_finished', c.payload->'match_finished',
                    'racks_finished', c.payload->'racks_finished', 'by', c.payload->'by',
                    'reason', c.payload->'reason') ORDER BY c.received_at, c.seq)
                FROM sync_records c
                WHERE c.venue_id = m.venue_id AND c.match_id = m.venue_match_id
                  AND c.kind = 'result_corrected'), '[]'),
            'inputs', (SELECT f.payload->'inputs' FROM sync_records f
                       WHERE f.venue_id = m.venue_id AND f.epoch = m.result_epoch
                         AND f.seq = m.result_seq),
            'racks', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'ordinal', r.ordinal, 'rack', r.rack, 'winner', r.winner, 'score', r.score,
                    'stats', sr.payload->'stats', 'shots', sr.payload->'shots') ORDER BY r.ordinal)
                FROM racks r JOIN sync_records sr
                  ON sr.venue_id = m.venue_id AND sr.epoch = r.epoch AND sr.seq = r.seq
                WHERE r.match_id = m.id), '[]'),
            'stats', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'seat', s.seat,
                    'player_id', CASE WHEN result_counts(m, s.player_id) THEN s.player_id END,
                    'player_name', CASE WHEN s.player_id IS NULL OR result_counts(m, s.player_id)
                                        THEN s.player_name END,
                    'racks_won', s.racks_won, 'balls_pocketed', s.balls_pocketed,
                    'fouls', s.fouls, 'break_and_runs', s.break_and_runs,
                    'breaks_with_ball', s.breaks_with_ball, 'safeties', s.safeties,
                    'innings', s.innings, 'high_run', s.high_run) ORDER BY s.seat)
                FROM match_player_stats s WHERE s.match_id = m.id), '[]'))
         FROM matches m WHERE m.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    found.ok_or(ReadError::NotFound("match"))
}

/// `GET /api/v1/players/{id}`: the player and their statistics over finished matches whose
/// result counts for them (`result_counts`: confirmed, checked in, trusted venue, or reported for
/// a profile no account holds; see the `confirmations` context).
///
/// # Errors
///
/// [`ReadError`]; 404 when the id is neither registered nor in any match.
pub async fn player(pool: &PgPool, id: &str) -> Result<Value, ReadError> {
    let (player, stats): (Option<Value>, Value) = sqlx::query_as(
        "SELECT
            (SELECT jsonb_build_object('id', p.id, 'name', p.name, 'rating', p.rating)
             FROM players p WHERE p.id = $1),
            (SELECT jsonb_build_object(
                'matches', count(*),
                'finished', count(*) FILTER (WHERE m.finished),
                'wins', count(*) FILTER (WHERE m.finished AND m.winner = s.seat),
                'losses', count(*) FILTER (WHERE m.finished AND m.winner <> s.seat),
                'racks_won', COALESCE(sum(s.racks_won), 0),
                'balls_pocketed', COALESCE(sum(s.balls_pocketed), 0),
                'fouls', COALESCE(sum(s.fouls), 0),
                'break_and_runs', COALESCE(sum(s.break_and_runs), 0),
                'breaks_with_ball', COALESCE(sum(s.breaks_with_ball), 0),
                'safeties', COALESCE(sum(s.safeties), 0),
                'innings', COALESCE(sum(s.innings), 0),
                'high_run', COALESCE(max(s.high_run), 0))
             FROM match_player_stats s JOIN matches m ON m.id = s.match_id
             WHERE s.player_id = $1 AND NOT m.voided AND result_counts(m, s.player_id))",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    let played = stats.get("matches").and_then(Value::as_i64).unwrap_or(0);
    if player.is_none() && played == 0 {
        return Err(ReadError::NotFound("player"));
    }
    Ok(json!({ "id": id, "player": player, "stats": stats }))
}

/// `GET /api/v1/players/{id}/matches`: the player's matches whose result counts for them, newest
/// first, with their seat and statistics in each.
///
/// # Errors
///
/// [`ReadError`].
pub async fn player_matches(pool: &PgPool, id: &str, page: &Page) -> Result<Value, ReadError> {
    let after = page.after_id()?;
    let rows: Vec<(i64, Value)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT m.id, {SUMMARY} || jsonb_build_object('seat', s.seat,
                'won', m.finished AND NOT m.voided AND m.winner IS NOT DISTINCT FROM s.seat,
                'stats', jsonb_build_object('racks_won', s.racks_won,
                    'balls_pocketed', s.balls_pocketed, 'fouls', s.fouls,
                    'break_and_runs', s.break_and_runs, 'breaks_with_ball', s.breaks_with_ball,
                    'safeties', s.safeties, 'innings', s.innings, 'high_run', s.high_run))
         FROM match_player_stats s JOIN matches m ON m.id = s.match_id
         WHERE s.player_id = $1 AND ($2::int8 IS NULL OR s.match_id < $2)
           AND result_counts(m, s.player_id)
         ORDER BY s.match_id DESC LIMIT $3"
    )))
    .bind(id)
    .bind(after)
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    let rows = rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Ok(paged("matches", rows, page.limit))
}
