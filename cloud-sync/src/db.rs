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

/// A database of its own for one test or benchmark run: created on `server` (a URL without a
/// database name), and dropped with its connections when this value is dropped, even when the
/// test panics. Tests run in parallel on one PostgreSQL, so each needs its own.
#[derive(Debug)]
pub struct ScratchDb {
    /// The new database's URL.
    pub url: String,
    server: String,
    name: String,
}

impl ScratchDb {
    /// Creates `{prefix}_{random}` on `server`.
    ///
    /// # Errors
    ///
    /// [`DbError::Connect`] when the server is unreachable or refuses.
    pub async fn create(server: &str, prefix: &str) -> Result<ScratchDb, DbError> {
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        let admin = connect_with(&format!("{server}/postgres"), 1).await?;
        let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await;
        admin.close().await;
        created.map_err(DbError::Connect)?;
        Ok(ScratchDb {
            url: format!("{server}/{name}"),
            server: server.to_owned(),
            name,
        })
    }
}

impl ScratchDb {
    /// A copy of this database as it is now, under `{prefix}_{random}`: what restoring a backup
    /// gives. PostgreSQL copies only a database nobody is connected to, so this disconnects
    /// everyone from it first.
    ///
    /// # Errors
    ///
    /// [`DbError::Connect`] when the server refuses.
    pub async fn copy(&self, prefix: &str) -> Result<ScratchDb, DbError> {
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        let admin = connect_with(&format!("{}/postgres", self.server), 1).await?;
        let copied = async {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&self.name)
            .execute(&admin)
            .await?;
            let create = format!("CREATE DATABASE {name} TEMPLATE {}", self.name);
            sqlx::query(sqlx::AssertSqlSafe(create))
                .execute(&admin)
                .await
        }
        .await;
        admin.close().await;
        copied.map_err(DbError::Connect)?;
        Ok(ScratchDb {
            url: format!("{}/{name}", self.server),
            server: self.server.clone(),
            name,
        })
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop is not async: a thread with a small runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = connect_with(&format!("{server}/postgres"), 1).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&admin).await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
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
