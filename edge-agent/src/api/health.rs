//! `/healthz` (public: `{"status":"ok"}`, or 503 with the failing parts in words) and
//! `/api/v1/health` (staff: every part with its figures), both judged by [`crate::health`] at the
//! moment of the request.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::auth::Staff;
use super::json::json_response;
use crate::health::{Report, Status, assess};
use crate::store::Reader;

/// The report now; `backlog` reads the outbox's size (a count: staff only).
async fn report(state: &AppState, backlog: bool) -> Option<Report> {
    let health = state.health.clone()?;
    let backlog = if backlog {
        state
            .read(Reader::sync_status)
            .await
            .ok()
            .map(|status| status.pending)
    } else {
        None
    };
    let now = crate::clock::now_ms();
    let facts = tokio::task::spawn_blocking(move || health.facts(now, backlog))
        .await
        .ok()?;
    Some(assess(&facts))
}

/// `GET /healthz`: 200 `{"status":"ok"}` while the agent can do its job; 503 with
/// `{"status":"failing","failing":[parts],"problems":[words]}` when it cannot.
pub(crate) async fn healthz(State(state): State<AppState>) -> Response {
    let Some(report) = report(&state, false).await else {
        return json_response(StatusCode::OK, r#"{"status":"ok"}"#.to_owned());
    };
    let status = if report.status == Status::Failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    json_response(status, report.public().to_string())
}

/// `GET /api/v1/health` (staff): every part, its status, its words and its figures; 200 whatever
/// the status (the body's `status` says it).
pub(crate) async fn detail(_staff: Staff, State(state): State<AppState>) -> Response {
    match report(&state, true).await {
        Some(report) => json_response(
            StatusCode::OK,
            serde_json::to_string(&report).unwrap_or_else(|_| "{}".to_owned()),
        ),
        None => json_response(
            StatusCode::OK,
            r#"{"status":"ok","note":"no health facts in this agent"}"#.to_owned(),
        ),
    }
}
