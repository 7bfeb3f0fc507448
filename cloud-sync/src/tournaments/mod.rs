//! Tournaments online (issue 18; docs/tournaments.md, "Online"): organisers create a tournament
//! for a venue with registration (opening and closing times, a cap, a waiting list, check-in),
//! players register from their accounts and are told what happens through the notification
//! service, and everyone reads the public tournaments and their brackets.
//!
//! Ownership is explicit, so no result ever has two writers: the cloud owns a tournament's
//! registration until the venue starts it (the venue pulls the planned ones with its key); from
//! the venue's `tournament_started` record on, the venue owns the bracket and the cloud only
//! mirrors it by replaying the synced entries through `shared::bracket` (PATCH and registration
//! are 409 from then on).
//!
//! - [`time`]: RFC 3339 ⇄ Unix ms (pure);
//! - [`phase`]: a tournament's status and what it allows now (pure);
//! - [`registration`]: create, change, cancel, register (cap → waiting list), withdraw (the first
//!   waiting moves up), check in, open check-in; audited and notified in their transactions;
//! - [`schedule`]: opens check-in by itself when `check_in_opens_at` passes;
//! - [`queries`]: the reads (lists, a tournament, a player's tournaments, the venue's pull);
//! - [`mirror`]: the projection of the venue's tournament records;
//! - [`http`]: the routes.

pub mod http;
pub mod mirror;
pub mod phase;
pub mod queries;
pub mod registration;
pub mod schedule;
pub mod time;

pub use self::mirror::TournamentsProjection;

/// What this context refuses.
#[derive(Debug, thiserror::Error)]
pub enum TournamentError {
    /// No such tournament, venue or registration (404).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// A malformed request (400).
    #[error("{0}")]
    BadRequest(String),
    /// The tournament's state does not allow it: started (the venue owns it), cancelled,
    /// registration closed, already registered (409).
    #[error("{0}")]
    Conflict(String),
    /// PostgreSQL's.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The live message pages re-fetch a tournament on.
pub fn live_message(tournament: &str) -> String {
    serde_json::json!({"type": "tournament", "tournament_id": tournament}).to_string()
}
