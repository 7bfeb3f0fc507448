//! STUB (to be written): REST, WebSocket, pages, metrics and health over axum.

use std::sync::Arc;

use crate::engine::EngineHandle;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::Reader;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Writes go through the engine (the single writer).
    pub engine: EngineHandle,
    /// Committed views for reads and WebSocket fan-out.
    pub hub: Hub,
    /// Read-only SQLite access (the log, for `?since=`).
    pub reader: Reader,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Token required for writes; `None` disables writes... see config.
    pub staff_token: Option<String>,
    /// Venue name for pages.
    pub venue: String,
}

/// The HTTP routes.
pub fn router(_state: AppState) -> axum::Router {
    axum::Router::new()
}
