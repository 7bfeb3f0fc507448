//! Registration, which the cloud owns until the venue starts a tournament: organisers create,
//! change and cancel tournaments and open check-in (audited); players register (within the cap,
//! else on the waiting list), withdraw (the first on the waiting list moves up) and check in.
//! Every change takes the tournament's row lock first, so the cap and the waiting list's order
//! hold under concurrent registrations, and tells the people concerned in the same transaction
//! (`notifications::notify`), so a notification exists exactly when its change commits.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use shared::bracket::{Format, Options};
use sqlx::{PgConnection, PgPool};

use super::TournamentError;
use super::phase::Phase;
use super::time;
use crate::accounts::audit::{self, Entry};
use crate::infra::ids;
use crate::notifications::{self, Kind};
use crate::players::profiles::{self, Actor, ProfileError};

/// The largest cap (and so the largest bracket registered online).
pub const MAX_CAP: u32 = 1024;

/// `POST /api/v1/venues/{venue_id}/tournaments`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// The name.
    pub name: String,
    /// The format.
    pub format: Format,
    /// The bracket's options.
    #[serde(default)]
    pub options: Option<Options>,
    /// When play starts (RFC 3339).
    pub starts_at: String,
    /// When registration opens (absent: now).
    #[serde(default)]
    pub registration_opens_at: Option<String>,
    /// When registration closes (absent: at the start).
    #[serde(default)]
    pub registration_closes_at: Option<String>,
    /// When check-in opens by itself (absent: only by hand).
    #[serde(default)]
    pub check_in_opens_at: Option<String>,
    /// How many may register (absent: no limit); the rest wait.
    #[serde(default)]
    pub cap: Option<u32>,
    /// Listed for everyone (default true).
    #[serde(default)]
    pub public: Option<bool>,
}

/// `Some(value)` for a field that is present, even `null`: absent stays `None` (unchanged).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `PATCH /api/v1/tournaments/{id}`'s body: absent fields are unchanged; `null` clears an optional
/// time or the cap.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// The name.
    #[serde(default)]
    pub name: Option<String>,
    /// The format.
    #[serde(default)]
    pub format: Option<Format>,
    /// The bracket's options.
    #[serde(default)]
    pub options: Option<Options>,
    /// When play starts.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// When registration opens.
    #[serde(default, deserialize_with = "present")]
    pub registration_opens_at: Option<Option<String>>,
    /// When registration closes.
    #[serde(default, deserialize_with = "present")]
    pub registration_closes_at: Option<Option<String>>,
    /// When check-in opens by itself.
    #[serde(default, deserialize_with = "present")]
    pub check_in_opens_at: Option<Option<String>>,
    /// The cap.
    #[serde(default, deserialize_with = "present")]
    pub cap: Option<Option<u32>>,
    /// Listed for everyone.
    #[serde(default)]
    pub public: Option<bool>,
}

/// A tournament's settings, checked, times in Unix ms.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The name, trimmed.
    pub name: String,
    /// The format.
    pub format: Format,
    /// The options.
    pub options: Options,
    /// When play starts.
    pub starts_ms: i64,
    /// When registration opens.
    pub registration_opens_ms: Option<i64>,
    /// When registration closes.
    pub registration_closes_ms: Option<i64>,
    /// When check-in opens by itself.
    pub check_in_opens_ms: Option<i64>,
    /// The cap.
    pub cap: Option<u32>,
    /// Listed for everyone.
    pub public: bool,
}

fn parse_time(field: &str, text: &str) -> Result<i64, TournamentError> {
    time::parse(text).ok_or_else(|| {
        TournamentError::BadRequest(format!(
            "{field} must be an RFC 3339 time, e.g. 2026-12-04T18:00:00Z"
        ))
    })
}

fn parse_optional(field: &str, text: Option<&str>) -> Result<Option<i64>, TournamentError> {
    text.map(|t| parse_time(field, t)).transpose()
}

impl Settings {
    /// A new tournament's settings from its draft.
    ///
    /// # Errors
    ///
    /// [`TournamentError::BadRequest`] naming what is wrong.
    pub fn from_draft(draft: Draft) -> Result<Settings, TournamentError> {
        let settings = Settings {
            name: draft.name.trim().to_owned(),
            format: draft.format,
            options: draft.options.unwrap_or_default(),
            starts_ms: parse_time("starts_at", &draft.starts_at)?,
            registration_opens_ms: parse_optional(
                "registration_opens_at",
                draft.registration_opens_at.as_deref(),
            )?,
            registration_closes_ms: parse_optional(
                "registration_closes_at",
                draft.registration_closes_at.as_deref(),
            )?,
            check_in_opens_ms: parse_optional(
                "check_in_opens_at",
                draft.check_in_opens_at.as_deref(),
            )?,
            cap: draft.cap,
            public: draft.public.unwrap_or(true),
        };
        settings.check()?;
        Ok(settings)
    }

    /// These settings with `changes` applied.
    ///
    /// # Errors
    ///
    /// [`TournamentError::BadRequest`] naming what is wrong.
    pub fn with(mut self, changes: Changes) -> Result<Settings, TournamentError> {
        if let Some(name) = changes.name {
            self.name = name.trim().to_owned();
        }
        if let Some(format) = changes.format {
            self.format = format;
        }
        if let Some(options) = changes.options {
            self.options = options;
        }
        if let Some(starts) = changes.starts_at {
            self.starts_ms = parse_time("starts_at", &starts)?;
        }
        if let Some(opens) = changes.registration_opens_at {
            self.registration_opens_ms = parse_optional("registration_opens_at", opens.as_deref())?;
        }
        if let Some(closes) = changes.registration_closes_at {
            self.registration_closes_ms =
                parse_optional("registration_closes_at", closes.as_deref())?;
        }
        if let Some(check_in) = changes.check_in_opens_at {
            self.check_in_opens_ms = parse_optional("check_in_opens_at", check_in.as_deref())?;
        }
        if let Some(cap) = changes.cap {
            self.cap = cap;
        }
        if let Some(public) = changes.public {
            self.public = public;
        }
        self.check()?;
        Ok(self)
    }

    /// The rules between the fields: a name, a cap within [`MAX_CAP`], and times in order
    /// (registration opens before it closes, both and check-in no later than the start).
    ///
    /// # Errors
    ///
    /// [`TournamentError::BadRequest`].
    pub fn check(&self) -> Result<(), TournamentError> {
        let bad = |why: &str| Err(TournamentError::BadRequest(why.to_owned()));
        if !ids::valid_name(&self.name) {
            return bad("name must be 1 to 100 characters");
        }
        if self.cap.is_some_and(|cap| cap == 0 || cap > MAX_CAP) {
            return bad("cap must be 1 to 1024");
        }
        let starts = self.starts_ms;
        if let (Some(opens), Some(closes)) =
            (self.registration_opens_ms, self.registration_closes_ms)
            && opens >= closes
        {
            return bad("registration_opens_at must be before registration_closes_at");
        }
        if self.registration_opens_ms.is_some_and(|t| t >= starts) {
            return bad("registration_opens_at must be before starts_at");
        }
        if self.registration_closes_ms.is_some_and(|t| t > starts) {
            return bad("registration_closes_at must not be after starts_at");
        }
        if self.check_in_opens_ms.is_some_and(|t| t > starts) {
            return bad("check_in_opens_at must not be after starts_at");
        }
        Ok(())
    }
}

/// What a tournament's changes start from: its venue, name and phase, its row locked.
#[derive(Debug, sqlx::FromRow)]
pub struct Locked {
    /// The id.
    pub id: String,
    /// The venue.
    pub venue_id: String,
    /// The venue's name.
    pub venue_name: String,
    /// The name.
    pub name: String,
    /// The cap.
    pub cap: Option<i32>,
    registration_opens_ms: Option<i64>,
    registration_closes_ms: Option<i64>,
    check_in_opens_ms: Option<i64>,
    check_in_opened: bool,
    cancelled: bool,
    started: bool,
    complete: bool,
    now_ms: i64,
}

impl Locked {
    /// Its phase now.
    pub fn phase(&self) -> Phase {
        Phase {
            now_ms: self.now_ms,
            registration_opens_ms: self.registration_opens_ms,
            registration_closes_ms: self.registration_closes_ms,
            check_in_opens_ms: self.check_in_opens_ms,
            check_in_opened: self.check_in_opened,
            cancelled: self.cancelled,
            started: self.started,
            complete: self.complete,
        }
    }

    /// What notifications about it say.
    fn payload(&self) -> Value {
        json!({"tournament_id": self.id, "tournament_name": self.name,
               "venue_id": self.venue_id, "venue_name": self.venue_name})
    }
}

/// Locks tournament `id` (its row, `FOR UPDATE`) and reads it.
///
/// # Errors
///
/// [`TournamentError::NotFound`].
pub async fn lock(conn: &mut PgConnection, id: &str) -> Result<Locked, TournamentError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM tournaments WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    if found.is_none() {
        return Err(TournamentError::NotFound("tournament"));
    }
    Ok(sqlx::query_as(
        "SELECT id, venue_id, venue_name, name, cap, registration_opens_ms,
                registration_closes_ms, check_in_opens_ms, check_in_opened, cancelled, started,
                complete, now_ms
           FROM tournament_heads WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?)
}

fn format_name(format: Format) -> String {
    serde_json::to_value(format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn options_json(options: &Options) -> Value {
    serde_json::to_value(options).unwrap_or_else(|_| json!({}))
}

fn cap_i32(cap: Option<u32>) -> Option<i32> {
    cap.and_then(|c| i32::try_from(c).ok())
}

/// Creates a tournament at `venue` with `settings`; returns its id.
///
/// # Errors
///
/// [`TournamentError::NotFound`] for an unknown venue; PostgreSQL's.
pub async fn create(
    pool: &PgPool,
    actor: &Actor<'_>,
    venue: &str,
    settings: &Settings,
) -> Result<String, TournamentError> {
    let mut tx = pool.begin().await?;
    let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM venues WHERE id = $1")
        .bind(venue)
        .fetch_optional(&mut *tx)
        .await?;
    if known.is_none() {
        return Err(TournamentError::NotFound("venue"));
    }
    let id = ids::new_id();
    sqlx::query(
        "INSERT INTO tournaments (id, venue_id, name, format, options, starts_at,
                                  registration_opens_at, registration_closes_at,
                                  check_in_opens_at, cap, public, origin, created_by)
         VALUES ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0), to_timestamp($7 / 1000.0),
                 to_timestamp($8 / 1000.0), to_timestamp($9 / 1000.0), $10, $11, 'cloud', $12)",
    )
    .bind(&id)
    .bind(venue)
    .bind(&settings.name)
    .bind(format_name(settings.format))
    .bind(options_json(&settings.options))
    .bind(settings.starts_ms)
    .bind(settings.registration_opens_ms)
    .bind(settings.registration_closes_ms)
    .bind(settings.check_in_opens_ms)
    .bind(cap_i32(settings.cap))
    .bind(settings.public)
    .bind(actor.user)
    .execute(&mut *tx)
    .await?;
    record(
        &mut tx,
        actor,
        "tournament.create",
        &id,
        venue,
        json!({"name": settings.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The stored settings of tournament `id` (in `conn`'s transaction).
async fn settings_of(conn: &mut PgConnection, id: &str) -> Result<Settings, TournamentError> {
    type Row = (
        String,
        String,
        Value,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i32>,
        bool,
    );
    let row: Row = sqlx::query_as(
        "SELECT name, format, options, starts_ms, registration_opens_ms, registration_closes_ms,
                check_in_opens_ms, cap, public
           FROM tournament_heads WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let (name, format, options, starts_ms, opens, closes, check_in, cap, public) = row;
    let format: Format = serde_json::from_value(Value::from(format))
        .map_err(|e| TournamentError::BadRequest(format!("stored format: {e}")))?;
    Ok(Settings {
        name,
        format,
        options: serde_json::from_value(options).unwrap_or_default(),
        starts_ms,
        registration_opens_ms: opens,
        registration_closes_ms: closes,
        check_in_opens_ms: check_in,
        cap: cap.and_then(|c| u32::try_from(c).ok()),
        public,
    })
}

/// Changes tournament `id` before it starts; a larger cap moves the first waiting players up
/// (told so).
///
/// # Errors
///
/// [`TournamentError::Conflict`] once started or cancelled; 400 for bad changes; 404.
pub async fn change(
    pool: &PgPool,
    actor: &Actor<'_>,
    id: &str,
    changes: Changes,
) -> Result<(), TournamentError> {
    let mut tx = pool.begin().await?;
    let locked = lock(&mut tx, id).await?;
    if let Some(why) = locked.phase().refuse_change() {
        return Err(TournamentError::Conflict(why.into()));
    }
    let settings = settings_of(&mut tx, id).await?.with(changes)?;
    sqlx::query(
        "UPDATE tournaments SET name = $2, format = $3, options = $4,
                starts_at = to_timestamp($5 / 1000.0),
                registration_opens_at = to_timestamp($6 / 1000.0),
                registration_closes_at = to_timestamp($7 / 1000.0),
                check_in_opens_at = to_timestamp($8 / 1000.0), cap = $9, public = $10
          WHERE id = $1",
    )
    .bind(id)
    .bind(&settings.name)
    .bind(format_name(settings.format))
    .bind(options_json(&settings.options))
    .bind(settings.starts_ms)
    .bind(settings.registration_opens_ms)
    .bind(settings.registration_closes_ms)
    .bind(settings.check_in_opens_ms)
    .bind(cap_i32(settings.cap))
    .bind(settings.public)
    .execute(&mut *tx)
    .await?;
    let locked = Locked {
        name: settings.name.clone(),
        cap: cap_i32(settings.cap),
        ..locked
    };
    promote(&mut tx, &locked).await?;
    record(
        &mut tx,
        actor,
        "tournament.change",
        id,
        &locked.venue_id,
        json!({"name": settings.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Writes an organiser's change of tournament `id` into the audit log.
async fn record(
    conn: &mut PgConnection,
    actor: &Actor<'_>,
    action: &str,
    id: &str,
    venue: &str,
    detail: Value,
) -> Result<(), TournamentError> {
    let entry = Entry {
        actor: Some(actor.user),
        action,
        resource: &format!("tournament:{id}"),
        venue: Some(venue),
        addr: actor.addr.clone(),
        detail,
    };
    audit::record(conn, &entry).await?;
    Ok(())
}

/// Moves waiting players up while the cap leaves room (or all of them without a cap), in the
/// order they registered, and tells each.
async fn promote(conn: &mut PgConnection, locked: &Locked) -> Result<u64, sqlx::Error> {
    let moved: Vec<String> = sqlx::query_scalar(
        "WITH room AS (
             SELECT CASE WHEN $2::int4 IS NULL THEN NULL
                         ELSE greatest($2::int4 - count(*), 0) END AS n
               FROM tournament_registrations
              WHERE tournament_id = $1 AND status <> 'waitlisted'),
         next AS (
             SELECT id FROM tournament_registrations
              WHERE tournament_id = $1 AND status = 'waitlisted'
              ORDER BY id LIMIT (SELECT n FROM room))
         UPDATE tournament_registrations r SET status = 'registered'
           FROM next WHERE r.id = next.id
         RETURNING r.user_id",
    )
    .bind(&locked.id)
    .bind(locked.cap)
    .fetch_all(&mut *conn)
    .await?;
    for user in &moved {
        notifications::notify(
            &mut *conn,
            user,
            Kind::TournamentPromoted,
            &locked.payload(),
        )
        .await?;
    }
    Ok(moved.len() as u64)
}

/// Tells every registrant of `locked` (waiting or not, or only those with a place) about `kind`.
async fn tell_registrants(
    conn: &mut PgConnection,
    locked: &Locked,
    kind: Kind,
    with_waitlist: bool,
) -> Result<(), sqlx::Error> {
    let users: Vec<String> = sqlx::query_scalar(
        "SELECT user_id FROM tournament_registrations
          WHERE tournament_id = $1 AND ($2 OR status <> 'waitlisted') ORDER BY id",
    )
    .bind(&locked.id)
    .bind(with_waitlist)
    .fetch_all(&mut *conn)
    .await?;
    for user in &users {
        notifications::notify(&mut *conn, user, kind, &locked.payload()).await?;
    }
    Ok(())
}

/// Cancels tournament `id` before it starts and tells everyone who registered.
///
/// # Errors
///
/// [`TournamentError::Conflict`] once started or cancelled; 404.
pub async fn cancel(pool: &PgPool, actor: &Actor<'_>, id: &str) -> Result<(), TournamentError> {
    let mut tx = pool.begin().await?;
    let locked = lock(&mut tx, id).await?;
    if let Some(why) = locked.phase().refuse_change() {
        return Err(TournamentError::Conflict(why.into()));
    }
    sqlx::query("UPDATE tournaments SET cancelled_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tell_registrants(&mut tx, &locked, Kind::TournamentCancelled, true).await?;
    record(
        &mut tx,
        actor,
        "tournament.cancel",
        id,
        &locked.venue_id,
        json!({"name": locked.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Opens check-in for tournament `id` and tells the registered players (not the waiting list),
/// once: opening it again changes nothing. `actor` is `None` when the schedule opens it.
/// Returns whether it was opened now.
///
/// # Errors
///
/// [`TournamentError::Conflict`] once started or cancelled; 404.
pub async fn open_check_in(
    conn: &mut PgConnection,
    actor: Option<&Actor<'_>>,
    id: &str,
) -> Result<bool, TournamentError> {
    let locked = lock(&mut *conn, id).await?;
    if let Some(why) = locked.phase().refuse_change() {
        return Err(TournamentError::Conflict(why.into()));
    }
    let opened = sqlx::query(
        "UPDATE tournaments SET check_in_opened_at = now()
          WHERE id = $1 AND check_in_opened_at IS NULL",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    if !opened {
        return Ok(false);
    }
    tell_registrants(&mut *conn, &locked, Kind::TournamentCheckIn, false).await?;
    if let Some(actor) = actor {
        record(
            &mut *conn,
            actor,
            "tournament.open_check_in",
            id,
            &locked.venue_id,
            json!({}),
        )
        .await?;
    }
    Ok(true)
}

/// One's place: registered (or checked in) within the cap, or waiting; `position` counts from 1
/// within each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Place {
    /// `registered`, `waitlisted` or `checked_in`.
    pub status: String,
    /// The place in registration order among those with a place, or on the waiting list.
    pub position: i64,
}

/// `user`'s place in tournament `id`, if registered.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn place_of(
    conn: impl sqlx::PgExecutor<'_>,
    id: &str,
    user: &str,
) -> Result<Option<Place>, sqlx::Error> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT status, position FROM (
             SELECT user_id, status,
                    row_number() OVER (PARTITION BY status = 'waitlisted' ORDER BY id) AS position
               FROM tournament_registrations WHERE tournament_id = $1) r
          WHERE user_id = $2",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(status, position)| Place { status, position }))
}

/// The player profile of `user`, made for them (named by their display name) if they have none.
async fn player_for(pool: &PgPool, actor: &Actor<'_>) -> Result<String, TournamentError> {
    if let Some(player) = crate::confirmations::player_of(pool, actor.user).await? {
        return Ok(player);
    }
    match profiles::create_for(pool, actor).await {
        Ok(player) => Ok(player.id),
        // Made meanwhile by another request of theirs.
        Err(ProfileError::Conflict(_)) => crate::confirmations::player_of(pool, actor.user)
            .await?
            .ok_or(TournamentError::NotFound("player profile")),
        Err(ProfileError::Db(error)) => Err(error.into()),
        Err(other) => Err(TournamentError::BadRequest(other.to_string())),
    }
}

/// Registers the signed-in `actor` for tournament `id`: a place while the cap allows, else the
/// waiting list.
///
/// # Errors
///
/// [`TournamentError::Conflict`] when registration is not open or they are registered already;
/// 404.
pub async fn register(
    pool: &PgPool,
    actor: &Actor<'_>,
    id: &str,
) -> Result<Place, TournamentError> {
    // Refuse before making a profile for someone who cannot register anyway.
    {
        let mut tx = pool.begin().await?;
        let locked = lock(&mut tx, id).await?;
        if let Some(why) = locked.phase().refuse_registration() {
            return Err(TournamentError::Conflict(why.into()));
        }
    }
    let player = player_for(pool, actor).await?;
    let mut tx = pool.begin().await?;
    let locked = lock(&mut tx, id).await?;
    if let Some(why) = locked.phase().refuse_registration() {
        return Err(TournamentError::Conflict(why.into()));
    }
    let inserted = sqlx::query(
        "INSERT INTO tournament_registrations (tournament_id, user_id, player_id, name, status)
         SELECT $1, $2, p.id, p.name,
                CASE WHEN $4::int4 IS NULL OR (SELECT count(*) FROM tournament_registrations
                                                WHERE tournament_id = $1
                                                  AND status <> 'waitlisted') < $4::int4
                     THEN 'registered' ELSE 'waitlisted' END
           FROM players p WHERE p.id = $3
         ON CONFLICT (tournament_id, user_id) DO NOTHING",
    )
    .bind(id)
    .bind(actor.user)
    .bind(&player)
    .bind(locked.cap)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(TournamentError::Conflict(
            "you are registered for this tournament already".into(),
        ));
    }
    let place = place_of(&mut *tx, id, actor.user)
        .await?
        .ok_or(TournamentError::NotFound("registration"))?;
    tx.commit().await?;
    Ok(place)
}

/// Withdraws `user` from tournament `id`; when they had a place, the first waiting player moves
/// up and is told.
///
/// # Errors
///
/// [`TournamentError::Conflict`] once started or cancelled; 404 when not registered.
pub async fn withdraw(pool: &PgPool, user: &str, id: &str) -> Result<(), TournamentError> {
    let mut tx = pool.begin().await?;
    let locked = lock(&mut tx, id).await?;
    if let Some(why) = locked.phase().refuse_change() {
        return Err(TournamentError::Conflict(why.into()));
    }
    let removed: Option<String> = sqlx::query_scalar(
        "DELETE FROM tournament_registrations WHERE tournament_id = $1 AND user_id = $2
         RETURNING status",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    if removed.is_none() {
        return Err(TournamentError::NotFound("registration of yours"));
    }
    promote(&mut tx, &locked).await?;
    tx.commit().await?;
    Ok(())
}

/// Checks `user` in for tournament `id` (idempotent).
///
/// # Errors
///
/// [`TournamentError::Conflict`] when check-in is not open or they are on the waiting list; 404
/// when not registered.
pub async fn check_in(pool: &PgPool, user: &str, id: &str) -> Result<(), TournamentError> {
    let mut tx = pool.begin().await?;
    let locked = lock(&mut tx, id).await?;
    if let Some(why) = locked.phase().refuse_check_in() {
        return Err(TournamentError::Conflict(why.into()));
    }
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM tournament_registrations WHERE tournament_id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    match status.as_deref() {
        None => return Err(TournamentError::NotFound("registration of yours")),
        Some("waitlisted") => {
            return Err(TournamentError::Conflict(
                "you are on the waiting list: no place to check in to yet".into(),
            ));
        }
        Some(_) => {}
    }
    sqlx::query(
        "UPDATE tournament_registrations SET status = 'checked_in'
          WHERE tournament_id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(body: Value) -> Result<Settings, TournamentError> {
        let draft: Draft =
            serde_json::from_value(body).map_err(|e| TournamentError::BadRequest(e.to_string()))?;
        Settings::from_draft(draft)
    }

    #[test]
    fn drafts_are_checked() {
        let ok = draft(
            json!({"name": " Friday 9-ball ", "format": "single-elimination",
                              "starts_at": "2026-12-04T19:00:00Z",
                              "registration_closes_at": "2026-12-04T18:00:00Z",
                              "check_in_opens_at": "2026-12-04T18:00:00Z", "cap": 8}),
        );
        let ok = ok.expect("valid");
        assert_eq!(ok.name, "Friday 9-ball");
        assert!(ok.public);
        for bad in [
            json!({"name": "", "format": "swiss", "starts_at": "2026-12-04T19:00:00Z"}),
            json!({"name": "x", "format": "swiss", "starts_at": "tomorrow"}),
            json!({"name": "x", "format": "swiss", "starts_at": "2026-12-04T19:00:00Z",
                   "cap": 0}),
            json!({"name": "x", "format": "swiss", "starts_at": "2026-12-04T19:00:00Z",
                   "registration_closes_at": "2026-12-04T20:00:00Z"}),
            json!({"name": "x", "format": "swiss", "starts_at": "2026-12-04T19:00:00Z",
                   "registration_opens_at": "2026-12-04T18:00:00Z",
                   "registration_closes_at": "2026-12-04T17:00:00Z"}),
            json!({"name": "x", "format": "chess", "starts_at": "2026-12-04T19:00:00Z"}),
        ] {
            assert!(draft(bad.clone()).is_err(), "{bad}");
        }
        let changes: Changes =
            serde_json::from_value(json!({"cap": null, "name": "Late"})).expect("changes");
        let changed = ok.clone().with(changes).expect("changed");
        assert_eq!((changed.cap, changed.name.as_str()), (None, "Late"));
        let changes: Changes = serde_json::from_value(json!({})).expect("changes");
        assert_eq!(ok.clone().with(changes).expect("same"), ok);
    }
}
