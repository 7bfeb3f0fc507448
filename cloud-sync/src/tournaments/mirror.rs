//! The mirror: the projection that folds a venue's tournament records into the cloud's copy of
//! its brackets, exactly once (cursors named [`TournamentsProjection::NAME`]; the mechanism is
//! [`crate::projection`]'s). From a `tournament_started` on, the venue owns the tournament: the
//! cloud stores its setup and entries as sent and replays them through `shared::bracket` (no
//! entry is ever written here, so no result has two writers).
//!
//! - `tournament_started`: a tournament the cloud created for this venue is marked started
//!   (registration and changes are 409 from then on); an unknown id makes a venue-run tournament
//!   (public); an id of *another* venue's tournament is refused for this venue
//!   (`tournament_refusals`, logged) and that venue's data is left alone.
//! - `tournament_entered`: stored by ordinal; the view is replayed from the setup and the entries
//!   1, 2, … up to the first gap (a later record fills it).
//! - `tournament_called`: stored (the latest call of a match), and the players with accounts are
//!   told "you are up on table N" (their ids come from the start's `player_ids`, by name).
//! - `match_started` with `tournament`: links the bracket match to the table match.
//!
//! After the commit each touched tournament gets the live message `{"type": "tournament", …}`.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use shared::bracket::{Bracket, Entry, Setup, View};
use shared::sync::{Record, TournamentCalled, TournamentStarted};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::notifications::{self, Kind};
use crate::projection::{Effects, Projection, Stored};

/// The tournament mirror.
#[derive(Clone, Copy, Debug, Default)]
pub struct TournamentsProjection;

impl Projection for TournamentsProjection {
    const NAME: &'static str = "tournaments";

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

/// The bracket after replaying `entries` (in ordinal order, from 1) on `setup`: the view, how
/// many entries it took (up to the first gap or refused entry) and why it stopped early, if it
/// did. `None` when the setup draws no bracket (with the reason).
pub fn replay(
    setup: &Setup,
    entries: &[(i32, Entry)],
) -> Result<(View, i32, Option<String>), String> {
    let mut bracket = Bracket::new(setup.clone()).map_err(|e| e.to_string())?;
    let mut applied = 0;
    let mut stopped = None;
    for (ordinal, entry) in entries {
        if *ordinal != applied + 1 {
            stopped = Some(format!("waiting for entry {}", applied + 1));
            break;
        }
        if let Err(error) = bracket.apply(entry) {
            stopped = Some(format!("entry {ordinal} refused: {error}"));
            break;
        }
        applied += 1;
    }
    Ok((bracket.view(), applied, stopped))
}

/// Whose tournament `id` is, if the cloud knows it: its venue.
async fn owner(conn: &mut PgConnection, id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT venue_id FROM tournaments WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(conn)
        .await
}

async fn refuse(
    conn: &mut PgConnection,
    venue: &str,
    epoch: &str,
    stored: &Stored,
    reason: &str,
) -> Result<(), sqlx::Error> {
    tracing::warn!(venue, epoch, seq = stored.seq, tournament = %stored.match_id, reason,
        "tournament record refused by the mirror");
    sqlx::query(
        "INSERT INTO tournament_refusals (venue_id, epoch, seq, tournament_id, reason)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(venue)
    .bind(epoch)
    .bind(stored.seq)
    .bind(&stored.match_id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

async fn start(
    conn: &mut PgConnection,
    venue: &str,
    r: &TournamentStarted,
) -> Result<(), sqlx::Error> {
    let setup = serde_json::to_value(&r.setup).unwrap_or(Value::Null);
    let format = setup.get("format").cloned().unwrap_or(Value::Null);
    let format = format.as_str().unwrap_or_default();
    let options = setup.get("options").cloned().unwrap_or_else(|| json!({}));
    let started_ms = i64::try_from(r.started_ms).unwrap_or(i64::MAX);
    // A restart (the venue drew the bracket again) begins a new mirror: entries, calls and links
    // of the earlier draw go.
    for table in ["tournament_entries", "tournament_calls", "tournament_links"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE tournament_id = $1"
        )))
        .bind(&r.tournament_id)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO tournaments (id, venue_id, name, format, options, starts_at, origin,
                                  started_at, setup, player_ids)
         VALUES ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0), 'venue', now(), $7, $8)
         ON CONFLICT (id) DO UPDATE SET started_at = coalesce(tournaments.started_at, now()),
                cancelled_at = NULL, setup = $7, player_ids = $8, format = $4, options = $5,
                view = NULL, complete = false, applied = 0, mirror_error = NULL",
    )
    .bind(&r.tournament_id)
    .bind(venue)
    .bind(r.name.trim())
    .bind(format)
    .bind(options)
    .bind(started_ms)
    .bind(setup)
    .bind(&r.player_ids)
    .execute(conn)
    .await?;
    Ok(())
}

async fn call(conn: &mut PgConnection, r: &TournamentCalled) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tournament_calls (tournament_id, bracket_match, table_id, players, called_ms)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tournament_id, bracket_match) DO UPDATE
            SET table_id = $3, players = $4, called_ms = $5",
    )
    .bind(&r.tournament_id)
    .bind(&r.bracket_match)
    .bind(&r.table)
    .bind(&r.players[..])
    .bind(i64::try_from(r.called_ms).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await?;
    // The players' accounts, by their names' places in the start's setup.
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT u.id, p.name, t.name, v.name
           FROM tournaments t
           JOIN venues v ON v.id = t.venue_id
           CROSS JOIN LATERAL jsonb_array_elements_text(t.setup -> 'players')
                WITH ORDINALITY AS p(name, n)
           JOIN users u ON u.player_id = t.player_ids[p.n::int4] AND u.deleted_at IS NULL
          WHERE t.id = $1 AND p.name = ANY ($2)",
    )
    .bind(&r.tournament_id)
    .bind(&r.players[..])
    .fetch_all(&mut *conn)
    .await?;
    for (user, name, tournament_name, venue_name) in rows {
        let opponent = r.players.iter().find(|p| **p != name).cloned();
        let payload = json!({
            "tournament_id": r.tournament_id, "tournament_name": tournament_name,
            "venue_name": venue_name, "match": r.bracket_match, "table": r.table,
            "opponent": opponent,
        });
        notifications::notify(&mut *conn, &user, Kind::TournamentCalled, &payload).await?;
    }
    Ok(())
}

/// Replays tournament `id`'s stored entries and stores the view.
async fn remirror(conn: &mut PgConnection, id: &str) -> Result<(), sqlx::Error> {
    let setup: Option<Value> = sqlx::query_scalar("SELECT setup FROM tournaments WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
    let Some(setup) = setup.and_then(|s| serde_json::from_value::<Setup>(s).ok()) else {
        return Ok(());
    };
    let rows: Vec<(i32, Value)> = sqlx::query_as(
        "SELECT ordinal, entry FROM tournament_entries WHERE tournament_id = $1 ORDER BY ordinal",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let mut entries = Vec::with_capacity(rows.len());
    let mut unreadable = None;
    for (ordinal, entry) in rows {
        match serde_json::from_value::<Entry>(entry) {
            Ok(entry) => entries.push((ordinal, entry)),
            Err(error) => {
                unreadable = Some(format!("entry {ordinal} unreadable: {error}"));
                break;
            }
        }
    }
    let (view, applied, error) = match replay(&setup, &entries) {
        Ok((view, applied, stopped)) => (
            serde_json::to_value(&view).ok(),
            applied,
            unreadable.or(stopped),
        ),
        Err(error) => (None, 0, Some(format!("bad setup: {error}"))),
    };
    if let Some(error) = &error {
        tracing::warn!(tournament = id, %error, "tournament mirror stopped early");
    }
    let complete = view
        .as_ref()
        .and_then(|v| v.get("complete"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    sqlx::query(
        "UPDATE tournaments SET view = $2, applied = $3, mirror_error = $4, complete = $5
          WHERE id = $1",
    )
    .bind(id)
    .bind(view)
    .bind(applied)
    .bind(error)
    .bind(complete)
    .execute(conn)
    .await?;
    Ok(())
}

/// Folds `records` of `venue` into the mirror.
async fn apply_records(
    tx: &mut Transaction<'_, Postgres>,
    venue: &str,
    epoch: &str,
    records: &[Stored],
) -> Result<Effects, sqlx::Error> {
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut replays: BTreeSet<String> = BTreeSet::new();
    for stored in records {
        let id = match &stored.record {
            Record::TournamentStarted(r) => &r.tournament_id,
            Record::TournamentEntered(r) => &r.tournament_id,
            Record::TournamentCalled(r) => &r.tournament_id,
            Record::MatchStarted(r) => match &r.tournament {
                Some(t) => &t.tournament_id,
                None => continue,
            },
            _ => continue,
        };
        let owner = owner(tx, id).await?;
        if owner.as_deref().is_some_and(|owner| owner != venue) {
            refuse(
                tx,
                venue,
                epoch,
                stored,
                "the tournament belongs to another venue",
            )
            .await?;
            continue;
        }
        let started: bool = owner.is_some()
            && sqlx::query_scalar("SELECT started_at IS NOT NULL FROM tournaments WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
        match &stored.record {
            Record::TournamentStarted(r) => {
                start(tx, venue, r).await?;
                replays.insert(id.clone());
            }
            _ if !started => {
                refuse(tx, venue, epoch, stored, "the tournament has not started").await?;
                continue;
            }
            Record::TournamentEntered(r) => {
                let entry = serde_json::to_value(&r.entry).unwrap_or(Value::Null);
                sqlx::query(
                    "INSERT INTO tournament_entries (tournament_id, ordinal, entry, table_match,
                                                     at_ms)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(i32::try_from(r.ordinal).unwrap_or(i32::MAX))
                .bind(entry)
                .bind(&r.table_match)
                .bind(i64::try_from(r.at_ms).unwrap_or(i64::MAX))
                .execute(&mut **tx)
                .await?;
                replays.insert(id.clone());
            }
            Record::TournamentCalled(r) => call(tx, r).await?,
            Record::MatchStarted(r) => {
                if let Some(t) = &r.tournament {
                    sqlx::query(
                        "INSERT INTO tournament_links (tournament_id, bracket_match,
                                                       venue_match_id)
                         VALUES ($1, $2, $3)
                         ON CONFLICT (tournament_id, bracket_match)
                            DO UPDATE SET venue_match_id = $3",
                    )
                    .bind(id)
                    .bind(&t.bracket_match)
                    .bind(&r.match_id)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            _ => continue,
        }
        touched.insert(id.clone());
    }
    for id in &replays {
        remirror(tx, id).await?;
    }
    Ok(Effects {
        live: touched.iter().map(|id| super::live_message(id)).collect(),
        touched: Vec::new(),
    })
}
