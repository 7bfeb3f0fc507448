//! The notification routes: the in-app list (paged), unread count, marking read, the live
//! WebSocket ([`super::live`]), preferences, deliveries and their attempts (the owner's, and every
//! failed one for administrators), Web Push subscriptions and the VAPID public key, webhooks.
//! Each handler's doc comment says who may call it.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::prefs::{self, Channels};
use super::{Kind, push, webhook};
use crate::accounts::policy::{Action, require, require_user};
use crate::accounts::{Caller, User};
use crate::http::{ApiError, AppState, query};

/// The largest JSON body these routes read.
const BODY_LIMIT: usize = 16 * 1024;
/// The largest page.
const MAX_PAGE: i64 = 100;
/// Push subscriptions or webhooks one user may have.
const MAX_TARGETS: i64 = 20;
/// Timestamps as the API shows them (RFC 3339, UTC, milliseconds).
macro_rules! ts {
    ($col:literal) => {
        concat!(
            "to_char(",
            $col,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        )
    };
}

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/notifications", get(list))
        .route("/api/v1/me/notifications/unread", get(unread))
        .route("/api/v1/me/notifications/read-all", post(read_all))
        .route("/api/v1/me/notifications/live", get(super::live::upgrade))
        .route("/api/v1/me/notifications/{id}/read", post(read_one))
        .route("/api/v1/me/notifications/{id}/deliveries", get(deliveries))
        .route(
            "/api/v1/me/notification-preferences",
            get(get_prefs).put(put_prefs),
        )
        .route("/api/v1/push/vapid-public-key", get(vapid_public_key))
        .route(
            "/api/v1/me/push-subscriptions",
            get(list_subscriptions).post(subscribe),
        )
        .route("/api/v1/me/push-subscriptions/{id}", delete(unsubscribe))
        .route("/api/v1/me/webhooks", get(list_webhooks).post(add_webhook))
        .route("/api/v1/me/webhooks/{id}", delete(delete_webhook))
        .route("/api/v1/admin/deliveries", get(admin_deliveries))
}

/// The signed-in user acting on their own account (401 anonymous, 403 a venue key).
fn own(caller: &Caller) -> Result<&User, ApiError> {
    require_user(caller, &Action::OwnAccount)
}

/// Reads a JSON body of at most [`BODY_LIMIT`] bytes.
async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::TooLarge(format!("the body must be at most {BODY_LIMIT} bytes")))?;
    crate::http::error::json_body(&bytes)
}

/// A path id that must be a number.
fn numeric(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::NotFound("no such notification".into()))
}

type Row = (i64, String, Value, String, Option<String>);

fn item((id, kind, payload, created_at, read_at): Row) -> Value {
    json!({"id": id, "kind": kind, "payload": payload, "created_at": created_at, "read_at": read_at})
}

/// One notification of `user`, as lists show it.
///
/// # Errors
///
/// PostgreSQL.
pub async fn one(pool: &sqlx::PgPool, user: &str, id: i64) -> Result<Option<Value>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(concat!(
        "SELECT id, kind, payload, ",
        ts!("created_at"),
        ", ",
        ts!("read_at"),
        " FROM notifications WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(item))
}

#[derive(Deserialize)]
struct PageQuery {
    before: Option<String>,
    limit: Option<String>,
    status: Option<String>,
}

fn page_limit(limit: Option<&str>) -> Result<i64, ApiError> {
    Ok(query::number::<i64>("limit", limit)?
        .unwrap_or(50)
        .clamp(1, MAX_PAGE))
}

/// `GET /api/v1/me/notifications?before=<id>&limit=<n>` — any signed-in user, their own, newest
/// first: `{items, next_before}` (`next_before` null on the last page).
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let before = query::number::<i64>("before", page.before.as_deref())?.unwrap_or(i64::MAX);
    let limit = page_limit(page.limit.as_deref())?;
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT id, kind, payload, ",
        ts!("created_at"),
        ", ",
        ts!("read_at"),
        " FROM notifications WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
    ))
    .bind(&user.id)
    .bind(before)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    let next = (i64::try_from(rows.len()).unwrap_or(0) == limit)
        .then(|| rows.last().map(|row| row.0))
        .flatten();
    let items: Vec<Value> = rows.into_iter().map(item).collect();
    Ok(axum::Json(json!({"items": items, "next_before": next})).into_response())
}

/// `GET /api/v1/me/notifications/unread` — any signed-in user: `{count}` of their unread.
async fn unread(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
            .bind(&user.id)
            .fetch_one(&state.pool)
            .await?;
    Ok(axum::Json(json!({"count": count})).into_response())
}

/// `POST /api/v1/me/notifications/{id}/read` — the notification's owner (another's is 404, as
/// one that does not exist): 204.
async fn read_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let id = numeric(&id)?;
    let done = sqlx::query(
        "UPDATE notifications SET read_at = COALESCE(read_at, now())
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(&user.id)
    .execute(&state.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("no such notification".into()));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/me/notifications/read-all` — any signed-in user: `{marked}`.
async fn read_all(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let done = sqlx::query(
        "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(&user.id)
    .execute(&state.pool)
    .await?;
    Ok(axum::Json(json!({"marked": done.rows_affected()})).into_response())
}

type DeliveryRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    i32,
    Option<String>,
    String,
    Value,
);

fn delivery_json(
    (id, notification_id, user_id, channel, target, status, attempts, last_error, next_at, tries): DeliveryRow,
) -> Value {
    json!({"id": id, "notification_id": notification_id, "user_id": user_id, "channel": channel,
           "target": target, "status": status, "attempts": attempts, "last_error": last_error,
           "next_at": next_at, "attempt_log": tries})
}

const DELIVERY_SELECT: &str = concat!(
    "SELECT d.id, d.notification_id, d.user_id, d.channel, d.target, d.status, d.attempts, ",
    "d.last_error, ",
    ts!("d.next_at"),
    ", COALESCE((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'at', ",
    ts!("a.at"),
    ", 'outcome', a.outcome, 'error', a.error) ORDER BY a.attempt) ",
    "FROM delivery_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) FROM deliveries d "
);

/// `GET /api/v1/me/notifications/{id}/deliveries` — the notification's owner, or an
/// administrator (anyone else: 403): each delivery with its status and attempts.
async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let id = numeric(&id)?;
    let owner: Option<(String,)> =
        sqlx::query_as("SELECT user_id FROM notifications WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?;
    let Some((owner,)) = owner else {
        return Err(ApiError::NotFound("no such notification".into()));
    };
    if owner != user.id {
        require(&caller, &Action::ManageUsers)?;
    }
    let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DELIVERY_SELECT} WHERE d.notification_id = $1 ORDER BY d.id"
    )))
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let items: Vec<Value> = rows.into_iter().map(delivery_json).collect();
    Ok(axum::Json(json!({"items": items})).into_response())
}

/// `GET /api/v1/admin/deliveries?status=failed&before=<id>&limit=<n>` — administrators only:
/// deliveries of every user, newest first, optionally of one status.
async fn admin_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Response, ApiError> {
    require(&caller, &Action::ManageUsers)?;
    let status = page.status.as_deref();
    if let Some(status) = status
        && !matches!(status, "pending" | "sending" | "delivered" | "failed")
    {
        return Err(ApiError::BadRequest(
            "status must be pending, sending, delivered or failed".into(),
        ));
    }
    let before = query::number::<i64>("before", page.before.as_deref())?.unwrap_or(i64::MAX);
    let limit = page_limit(page.limit.as_deref())?;
    let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DELIVERY_SELECT} WHERE ($1::text IS NULL OR d.status = $1) AND d.id < $2
         ORDER BY d.id DESC LIMIT $3"
    )))
    .bind(status)
    .bind(before)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    let items: Vec<Value> = rows.into_iter().map(delivery_json).collect();
    Ok(axum::Json(json!({"items": items})).into_response())
}

fn prefs_json(all: Vec<(Kind, Channels)>) -> Value {
    let map: serde_json::Map<String, Value> = all
        .into_iter()
        .map(|(kind, channels)| {
            (
                kind.as_str().to_owned(),
                json!({"email": channels.email, "push": channels.push,
                       "webhook": channels.webhook, "in_app": true,
                       "email_required": prefs::email_forced(kind)}),
            )
        })
        .collect();
    Value::Object(map)
}

/// `GET /api/v1/me/notification-preferences` — any signed-in user: `{kind: {email, push,
/// webhook, in_app, email_required}}` for every kind.
async fn get_prefs(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let mut conn = state.pool.acquire().await?;
    Ok(axum::Json(prefs_json(prefs::all(&mut conn, &user.id).await?)).into_response())
}

/// `PUT /api/v1/me/notification-preferences` `{kind: {email, push, webhook}}` (any kinds) — any
/// signed-in user, their own. Answers the stored preferences. Unknown kinds are 400; in-app is
/// always on, and email stays on for the account's own links.
async fn put_prefs(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let wanted: BTreeMap<String, Channels> = json_body(body).await?;
    let mut parsed = Vec::with_capacity(wanted.len());
    for (name, channels) in wanted {
        let kind = Kind::parse(&name)
            .ok_or_else(|| ApiError::BadRequest(format!("unknown notification kind {name:?}")))?;
        parsed.push((kind, channels));
    }
    let mut tx = state.pool.begin().await?;
    for (kind, channels) in parsed {
        prefs::set(&mut tx, &user.id, kind, channels).await?;
    }
    let all = prefs::all(&mut tx, &user.id).await?;
    tx.commit().await?;
    Ok(axum::Json(prefs_json(all)).into_response())
}

/// `GET /api/v1/push/vapid-public-key` — anyone (it is public): `{public_key}` (base64url, the
/// `applicationServerKey` for `pushManager.subscribe`), 404 until `cloud-sync push keygen`.
async fn vapid_public_key(State(state): State<AppState>) -> Result<Response, ApiError> {
    let vapid = push::load(&state.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound("Web Push is not set up on this service".into()))?;
    Ok(axum::Json(json!({"public_key": vapid.public_key})).into_response())
}

#[derive(Deserialize)]
struct SubscriptionKeys {
    p256dh: String,
    auth: String,
}

#[derive(Deserialize)]
struct NewSubscription {
    endpoint: String,
    keys: SubscriptionKeys,
}

/// `POST /api/v1/me/push-subscriptions` `{endpoint, keys: {p256dh, auth}}` (a browser's
/// `PushSubscription.toJSON()`) — any signed-in user: 201 `{id}`; the same endpoint again
/// replaces its keys.
async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let new: NewSubscription = json_body(body).await?;
    webhook::check_url(&new.endpoint, state.notifications.allow_private)
        .map_err(|error| ApiError::BadRequest(error.to_string().replace("webhook", "push")))?;
    if push::decode_keys(&new.keys.p256dh, &new.keys.auth).is_none() {
        return Err(ApiError::BadRequest(
            "keys.p256dh must be a P-256 point and keys.auth 16 bytes, base64url".into(),
        ));
    }
    let mut tx = state.pool.begin().await?;
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM push_subscriptions WHERE user_id = $1")
            .bind(&user.id)
            .fetch_one(&mut *tx)
            .await?;
    if count >= MAX_TARGETS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_TARGETS} push subscriptions; delete one first"
        )));
    }
    let (id,): (String,) = sqlx::query_as(
        "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id, endpoint) DO UPDATE SET p256dh = $4, auth = $5
         RETURNING id",
    )
    .bind(crate::infra::ids::new_id())
    .bind(&user.id)
    .bind(&new.endpoint)
    .bind(&new.keys.p256dh)
    .bind(&new.keys.auth)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response())
}

/// `GET /api/v1/me/push-subscriptions` — any signed-in user, their own: `{items: [{id,
/// endpoint, created_at}]}`.
async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let rows: Vec<(String, String, String)> = sqlx::query_as(concat!(
        "SELECT id, endpoint, ",
        ts!("created_at"),
        " FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at"
    ))
    .bind(&user.id)
    .fetch_all(&state.pool)
    .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|(id, endpoint, at)| json!({"id": id, "endpoint": endpoint, "created_at": at}))
        .collect();
    Ok(axum::Json(json!({"items": items})).into_response())
}

/// `DELETE /api/v1/me/push-subscriptions/{id}` — the subscription's owner (another's: 404): 204.
async fn unsubscribe(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let done = sqlx::query("DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2")
        .bind(&id)
        .bind(&user.id)
        .execute(&state.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("no such push subscription".into()));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct NewWebhook {
    url: String,
}

/// `POST /api/v1/me/webhooks` `{url}` — any signed-in user: 201 `{id, url, secret}`; the signing
/// secret is shown this once. http(s) only; private and loopback addresses refused (400) unless
/// the service runs with `--webhook-allow-private`.
async fn add_webhook(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let new: NewWebhook = json_body(body).await?;
    let url = webhook::check_url(new.url.trim(), state.notifications.allow_private)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM webhooks WHERE user_id = $1")
        .bind(&user.id)
        .fetch_one(&state.pool)
        .await?;
    if count >= MAX_TARGETS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_TARGETS} webhooks; delete one first"
        )));
    }
    let id = crate::infra::ids::new_id();
    let secret = webhook::new_secret();
    sqlx::query("INSERT INTO webhooks (id, user_id, url, secret) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(&user.id)
        .bind(url.as_str())
        .bind(&secret)
        .execute(&state.pool)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "url": url.as_str(), "secret": secret})),
    )
        .into_response())
}

/// `GET /api/v1/me/webhooks` — any signed-in user, their own: `{items: [{id, url, created_at}]}`
/// (never the secret).
async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let rows: Vec<(String, String, String)> = sqlx::query_as(concat!(
        "SELECT id, url, ",
        ts!("created_at"),
        " FROM webhooks WHERE user_id = $1 ORDER BY created_at"
    ))
    .bind(&user.id)
    .fetch_all(&state.pool)
    .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|(id, url, at)| json!({"id": id, "url": url, "created_at": at}))
        .collect();
    Ok(axum::Json(json!({"items": items})).into_response())
}

/// `DELETE /api/v1/me/webhooks/{id}` — the webhook's owner (another's: 404): 204.
async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = own(&caller)?;
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND user_id = $2")
        .bind(&id)
        .bind(&user.id)
        .execute(&state.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("no such webhook".into()));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
