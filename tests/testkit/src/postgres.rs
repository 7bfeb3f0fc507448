//! A PostgreSQL database of its own for one test or benchmark run ([`ScratchDb`]), for the tests
//! and benches of cloud-sync and of the crates that run it (the end-to-end crate). Tests run in
//! parallel on one PostgreSQL, so each creates a database and drops it when done.

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

/// One connection to `url` (a server's `postgres` database), to create and drop databases.
async fn admin_pool(url: &str) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new().max_connections(1).connect(url).await
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
    /// PostgreSQL's, when the server is unreachable or refuses.
    pub async fn create(server: &str, prefix: &str) -> Result<ScratchDb, sqlx::Error> {
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        let admin = admin_pool(&format!("{server}/postgres")).await?;
        let created = sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await;
        admin.close().await;
        created?;
        Ok(ScratchDb {
            url: format!("{server}/{name}"),
            server: server.to_owned(),
            name,
        })
    }

    /// A copy of this database as it is now, under `{prefix}_{random}`: what restoring a backup
    /// gives. PostgreSQL copies only a database nobody is connected to, so this disconnects
    /// everyone from it first.
    ///
    /// # Errors
    ///
    /// PostgreSQL's, when the server refuses.
    pub async fn copy(&self, prefix: &str) -> Result<ScratchDb, sqlx::Error> {
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        let admin = admin_pool(&format!("{}/postgres", self.server)).await?;
        let copied = async {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&self.name)
            .execute(&admin)
            .await?;
            let create = format!("CREATE DATABASE {name} TEMPLATE {}", self.name);
            sqlx::query(AssertSqlSafe(create)).execute(&admin).await
        }
        .await;
        admin.close().await;
        copied?;
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
                if let Ok(admin) = admin_pool(&format!("{server}/postgres")).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(AssertSqlSafe(drop)).execute(&admin).await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}
