//! The read API: what venues played, as matches, racks and per-player statistics. This context
//! owns the read model: [`projection`] folds the venue records into its tables (`venue_tables`,
//! `matches`, `racks`, `match_player_stats`), [`queries`] reads them, [`http`] serves them,
//! [`privacy`] masks what the public may not see, [`history`] moves a player's history (merges).
//!
//! Its queries also join, read-only, the rows other contexts own that a page shows: the venue list
//! (`venues`; whether one venue exists is asked of [`crate::venues::exists`]), a registered player
//! (`players`), and the payload parts of the records that carried a rack or a result
//! (`sync_records`: a rack's shots and statistics, a match's inputs), so that one statement
//! answers one page. They never write them. Whether a registered player's result counts (and is
//! named publicly) is asked of the SQL functions the `confirmations` context owns
//! (`result_counts`, `public_players`, `public_player_ids`, migration 0010).

pub mod history;
pub mod http;
pub mod privacy;
pub mod projection;
pub mod queries;

pub use self::projection::MatchesProjection;
