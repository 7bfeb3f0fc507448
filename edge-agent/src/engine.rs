//! STUB (to be written): the single owner of every table.

use shared::rules::MatchSpec;

use crate::table::StaffAction;
use crate::view::Published;

/// Why the engine refused a request.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The table has no match in play.
    #[error("table {0} has no match in play")]
    NoMatch(String),
    /// The table id is not acceptable.
    #[error("invalid table id {0:?}: use 1-32 letters, digits, '-' or '_'")]
    BadTable(String),
    /// The rules refused the input.
    #[error("{0}")]
    Rejected(#[from] shared::rules::Rejected),
    /// A match is already in play and not finished.
    #[error("table {0} already has a match in play; concede or finish it first")]
    Busy(String),
    /// The store failed; the input was not applied.
    #[error("storage failure: {0}")]
    Store(String),
    /// The agent is shutting down.
    #[error("the agent is shutting down")]
    ShuttingDown,
}

/// The handle to send the engine work. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EngineHandle {}

impl EngineHandle {
    /// Starts a match on `table`; resolves once it is committed.
    pub async fn start_match(
        &self,
        _table: String,
        _spec: MatchSpec,
    ) -> Result<Published, EngineError> {
        Err(EngineError::ShuttingDown)
    }
    /// Applies a staff action to the current match; resolves once it is committed.
    pub async fn action(
        &self,
        _table: String,
        _action: StaffAction,
    ) -> Result<Published, EngineError> {
        Err(EngineError::ShuttingDown)
    }
}
