//! The account routes: sign-up, verification, sign-in, refresh, sign-out, the caller's own
//! account and sessions, password change and reset, deletion. Each handler parses, authorizes
//! (`policy::require`), calls [`super::account`] or [`super::session`], and answers; every
//! `/api/v1/auth/…` route also counts against a per-address limit (`--auth-limit`), on top of the
//! service-wide one.
//!
//! Bodies are read here (at most 16 KiB) and parsed only after authorization, so a caller
//! without the right gets 401/403 whatever they send, and malformed JSON is a 400 in JSON.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::account::{self, AccountError, NewAccount};
use super::caller::Caller;
use super::policy::{Action, require, require_user};
use super::session::{self, Origin, RefreshError};
use crate::http::{ApiError, AppState};
use crate::infra::rate_limit::{self, Verdict};

/// The largest body an account route reads.
pub const MAX_BODY: usize = 16 * 1024;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/verify", post(verify))
        .route("/api/v1/auth/verify/resend", post(resend))
        .route("/api/v1/auth/password/forgot", post(forgot))
        .route("/api/v1/auth/password/reset", post(reset))
        .route("/api/v1/me", get(me).patch(patch_me).delete(delete_me))
        .route("/api/v1/me/password", post(change_password))
        .route("/api/v1/me/sessions", get(sessions))
        .route("/api/v1/me/sessions/{id}", delete(revoke_session))
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Rule(rule) => ApiError::BadRequest(rule.to_string()),
            AccountError::BadCredentials => ApiError::Unauthorized("wrong email or password"),
            AccountError::WrongPassword => ApiError::Forbidden(error.to_string()),
            AccountError::BadLink => ApiError::BadRequest(error.to_string()),
            AccountError::Throttled(wait) => ApiError::RateLimited(wait),
            AccountError::Gone => ApiError::NotFound(error.to_string()),
            AccountError::Db(db) => ApiError::from_db(&db),
            AccountError::Key(key) => {
                tracing::error!(%key, "cannot sign an access token");
                ApiError::Internal
            }
            AccountError::Hash => ApiError::Internal,
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Invalid => {
                ApiError::Unauthorized("invalid or expired refresh token; sign in again")
            }
            RefreshError::Reused => ApiError::Unauthorized(
                "this refresh token was already used; the session is ended, sign in again",
            ),
            RefreshError::Db(db) => ApiError::from_db(&db),
            RefreshError::Key(key) => {
                tracing::error!(%key, "cannot sign an access token");
                ApiError::Internal
            }
        }
    }
}

/// A request body of at most [`MAX_BODY`] bytes, parsed as JSON on demand.
#[derive(Debug)]
pub struct Body(Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Body, ApiError> {
        axum::body::to_bytes(request.into_body(), MAX_BODY)
            .await
            .map(Body)
            .map_err(|_| ApiError::TooLarge(format!("a body here is at most {MAX_BODY} bytes")))
    }
}

impl Body {
    /// The body as `T`; 400 naming what is wrong.
    ///
    /// # Errors
    ///
    /// [`ApiError::BadRequest`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        crate::http::error::json_body(&self.0)
    }
}

/// Where the request came from.
fn origin(peer: SocketAddr, headers: &HeaderMap) -> Origin {
    Origin {
        addr: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
    }
}

/// The per-address limit of account routes.
async fn limit(state: &AppState, peer: SocketAddr) -> Result<(), ApiError> {
    let who = format!("auth:{}", peer.ip());
    match rate_limit::check(
        &state.redis,
        &who,
        state.limits.auth_per_window,
        state.limits.window_secs,
    )
    .await
    {
        Verdict::Allow => Ok(()),
        Verdict::Refuse(wait) => {
            state.metrics.rate_limited("auth");
            Err(ApiError::RateLimited(wait))
        }
    }
}

#[derive(Deserialize)]
struct RegisterBody {
    email: String,
    password: String,
    display_name: String,
}

/// `POST /api/v1/auth/register` — anyone. 201 `{id}`, alike for a taken address.
async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Result<Response, ApiError> {
    limit(&state, peer).await?;
    let input: RegisterBody = body.json()?;
    let id = account::register(
        &state.pool,
        &state.public_url,
        &NewAccount {
            email: &input.email,
            password: &input.password,
            display_name: &input.display_name,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response())
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

/// `POST /api/v1/auth/login` — anyone. 200 `{access_token, refresh_token, expires_in}`.
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    limit(&state, peer).await?;
    let input: LoginBody = body.json()?;
    if input.email.chars().count() > super::rules::EMAIL_MAX
        || input.password.chars().count() > account::LOGIN_PASSWORD_MAX
    {
        return Err(ApiError::BadRequest(
            "email or password longer than any account's".into(),
        ));
    }
    let pair = account::login(
        &state.pool,
        &state.keys,
        &input.email,
        &input.password,
        &origin(peer, &headers),
    )
    .await?;
    Ok(axum::Json(pair).into_response())
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

/// `POST /api/v1/auth/refresh` — whoever holds the refresh token. A new pair; a used token
/// revokes its session (401), except the previous one within the grace window.
async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Result<Response, ApiError> {
    limit(&state, peer).await?;
    let input: RefreshBody = body.json()?;
    let pair = session::refresh(&state.pool, &state.keys, &input.refresh_token).await?;
    Ok(axum::Json(pair).into_response())
}

/// `POST /api/v1/auth/logout` — a signed-in user: ends the caller's own session. 204.
async fn logout(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
) -> Result<Response, ApiError> {
    require(&caller, &Action::OwnAccount)?;
    limit(&state, peer).await?;
    let user = caller.signed_in()?;
    let mut conn = state.pool.acquire().await?;
    session::revoke(&mut conn, &user.id, &user.session, "signed out").await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

/// `POST /api/v1/auth/verify` — whoever holds the link. 200 `{email_verified: true}`.
async fn verify(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Result<Response, ApiError> {
    limit(&state, peer).await?;
    let input: TokenBody = body.json()?;
    account::verify_email(&state.pool, &input.token).await?;
    Ok(axum::Json(json!({"email_verified": true})).into_response())
}

/// `POST /api/v1/auth/verify/resend` — a signed-in user: a new link to their address. 202.
async fn resend(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
) -> Result<Response, ApiError> {
    require(&caller, &Action::OwnAccount)?;
    limit(&state, peer).await?;
    let user = caller.signed_in()?;
    account::resend_verification(&state.pool, &state.public_url, &user.id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize)]
struct ForgotBody {
    email: String,
}

/// `POST /api/v1/auth/password/forgot` — anyone. 202 at once, whether or not the address has an
/// account; the link is sent in the background.
async fn forgot(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Result<Response, ApiError> {
    limit(&state, peer).await?;
    let input: ForgotBody = body.json()?;
    if input.email.chars().count() > super::rules::EMAIL_MAX {
        return Err(ApiError::BadRequest("that is not an email address".into()));
    }
    let pool = state.pool.clone();
    let public_url = state.public_url.clone();
    tokio::spawn(async move {
        if let Err(error) = account::forgot(&pool, &public_url, &input.email).await {
            tracing::warn!(%error, "cannot send a password-reset link");
        }
    });
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize)]
struct ResetBody {
    token: String,
    password: String,
}

/// `POST /api/v1/auth/password/reset` — whoever holds the link. 204; every session ends.
async fn reset(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Result<Response, ApiError> {
    limit(&state, peer).await?;
    let input: ResetBody = body.json()?;
    account::reset(&state.pool, &input.token, &input.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/me` — a signed-in user: their account.
async fn me(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    Ok(axum::Json(account::me(&state.pool, &user.id).await?).into_response())
}

#[derive(Deserialize)]
struct PatchMe {
    display_name: String,
}

/// `PATCH /api/v1/me` — a signed-in user: renames themselves; answers the account.
async fn patch_me(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    let input: PatchMe = body.json()?;
    account::rename(&state.pool, &user.id, &input.display_name).await?;
    Ok(axum::Json(account::me(&state.pool, &user.id).await?).into_response())
}

#[derive(Deserialize)]
struct PasswordBody {
    password: String,
}

/// `DELETE /api/v1/me` `{password}` — a signed-in user: deletes their own account. 204.
async fn delete_me(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    let input: PasswordBody = body.json()?;
    account::delete(
        &state.pool,
        &user.id,
        &input.password,
        Some(peer.ip().to_string()),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/me/password` — a signed-in user: changes their password; their other sessions
/// end. 204.
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    let input: ChangePassword = body.json()?;
    account::change_password(
        &state.pool,
        &user.id,
        &user.session,
        &input.current_password,
        &input.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/me/sessions` — a signed-in user: their live sessions.
async fn sessions(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    let list = session::list(&state.pool, &user.id, &user.session).await?;
    Ok(axum::Json(json!({"sessions": list})).into_response())
}

/// `DELETE /api/v1/me/sessions/{id}` — a signed-in user, their own sessions only (anyone else's
/// is 404). 204.
async fn revoke_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = require_user(&caller, &Action::OwnAccount)?;
    let mut conn = state.pool.acquire().await?;
    if session::revoke(&mut conn, &user.id, &id, "revoked by owner").await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound("no such session".into()))
    }
}
