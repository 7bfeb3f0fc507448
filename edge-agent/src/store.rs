//! STUB (to be written).

/// Read-only access to the store.
#[derive(Clone, Debug)]
pub struct Reader {}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// What `Reader::since` found.
#[derive(Debug)]
pub enum Since {
    /// Every view committed after the seq (filtered), in seq order, as JSON.
    Views(Vec<std::sync::Arc<str>>),
    /// More than the limit: send a fresh snapshot instead.
    TooFarBehind,
}

impl Reader {
    /// Views committed after `seq` for `tables` (all if `None`), at most `limit`. Blocking: call it
    /// from `spawn_blocking`.
    pub fn since(
        &self,
        _seq: u64,
        _tables: Option<&[String]>,
        _limit: usize,
    ) -> Result<Since, StoreError> {
        Ok(Since::Views(Vec::new()))
    }
}
