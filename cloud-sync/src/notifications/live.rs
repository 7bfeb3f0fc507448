//! The in-app channel, live: `GET /api/v1/me/notifications/live` is a WebSocket that pushes each
//! new notification of the signed-in user as it commits, on whichever instance it was made (the
//! commit's PostgreSQL `NOTIFY` reaches every instance's listener, [`super::worker`]).
//!
//! The client authenticates in its first message, `{"token": "<access token>"}` within 10 s —
//! not in the URL, which proxies and logs keep. The server answers `{"type": "ready"}`, then sends
//! `{"type": "notification", "notification": {id, kind, payload, created_at, read_at}}` per
//! notification; a bad or late token gets `{"type": "error"}` and a close (code 4401). The token
//! is checked once: the stream lasts until either side closes (the portal reconnects with a fresh
//! token).

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::http::AppState;

/// How long a client has to send its token.
const AUTH_DEADLINE: Duration = Duration::from_secs(10);

/// `GET /api/v1/me/notifications/live` — any signed-in user, by the access token in the first
/// message (the upgrade itself carries no credentials).
pub(crate) async fn upgrade(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| serve(state, socket))
}

async fn close(mut socket: WebSocket, reason: &'static str) {
    let _ = socket
        .send(Message::Text(
            json!({"type": "error", "error": reason}).to_string().into(),
        ))
        .await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 4401,
            reason: reason.into(),
        })))
        .await;
}

/// The user the first message's token names, if valid.
async fn authenticate(state: &AppState, socket: &mut WebSocket) -> Option<String> {
    let first = tokio::time::timeout(AUTH_DEADLINE, socket.recv())
        .await
        .ok()??
        .ok()?;
    let Message::Text(text) = first else {
        return None;
    };
    let value: Value = serde_json::from_str(text.as_str()).ok()?;
    let token = value.get("token")?.as_str()?;
    let claims = state.keys.verify(token).await.ok()?;
    Some(claims.sub)
}

async fn serve(state: AppState, mut socket: WebSocket) {
    // Subscribe before authenticating, so nothing committed after `ready` is missed.
    let mut committed = state.notifications.subscribe();
    let Some(user) = authenticate(&state, &mut socket).await else {
        return close(socket, "send {\"token\": \"<access token>\"} first").await;
    };
    if socket
        .send(Message::Text(json!({"type": "ready"}).to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            message = committed.recv() => match message {
                Ok((owner, id)) if *owner == *user => {
                    let Ok(Some(item)) = super::http::one(&state.pool, &user, id).await else {
                        continue;
                    };
                    let text = json!({"type": "notification", "notification": item}).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Tell the client to reload the list rather than silently skip.
                    let text = json!({"type": "lagged", "missed": missed}).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
