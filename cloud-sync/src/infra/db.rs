//! The PostgreSQL pool and the migrations (sqlx's migrator over `cloud-sync/migrations`, embedded in
//! the binary so `serve` and `migrate` can never run a schema the code does not expect).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// PostgreSQL could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is malformed or the server is unreachable.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A pool of 16 connections to `url`.
///
/// # Errors
///
/// [`DbError::Connect`] when the URL is bad or the server does not answer.
pub async fn connect(url: &str) -> Result<PgPool, DbError> {
    connect_with(url, 16).await
}

/// A pool of `size` connections to `url`. A request waits at most 5 s for a connection, so an
/// outage turns into 503 answers instead of a pile of hung requests.
///
/// # Errors
///
/// [`DbError::Connect`] when the URL is bad or the server does not answer.
pub async fn connect_with(url: &str, size: u32) -> Result<PgPool, DbError> {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(DbError::Connect)
}

/// Brings the schema up to date (idempotent; concurrent instances serialize on sqlx's lock).
///
/// # Errors
///
/// [`DbError::Migrate`].
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}

/// Whether a failure is PostgreSQL being unreachable, restarting or overloaded: worth a retry
/// (503), not a bug (500).
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P0x: shutdown, cannot connect now; 53: out of
            // resources; 40001, 40P01: serialization failure, deadlock.
            code.starts_with("08")
                || code.starts_with("57P0")
                || code.starts_with("53")
                || code == "40001"
                || code == "40P01"
        }),
        _ => false,
    }
}
