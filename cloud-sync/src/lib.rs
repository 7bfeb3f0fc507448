//! cloud-sync: the central service. Venues push their outbox records here; they are stored exactly
//! once in effect into PostgreSQL (the system of record) and acknowledged, then projected into
//! matches, racks and statistics, and results fan out live through Redis to every instance's
//! WebSocket clients.
//!
//! Modules in data-flow order:
//!
//! - [`config`]: flags and environment → one validated [`Config`];
//! - [`db`]: the PostgreSQL pool and the migrations;
//! - [`keys`]: venue keys: made at enrollment, stored only as a SHA-256 hash, checked per request;
//! - [`admin`]: enrollment and player administration (the CLI and tests use it);
//! - [`ingest`]: a batch → one short transaction: idempotency, conflicts, the high-water mark;
//! - [`projector`]: stored records → matches, racks, statistics, in the background, exactly once;
//! - [`players`]: the registered-player change log venues pull, and its compaction;
//! - [`reads`]: the read API's queries (keyset pagination);
//! - [`redis_link`]: the one lazily (re)connecting Redis connection and its health;
//! - [`cache`], [`rate_limit`], [`live`]: what Redis is used for: hot reads, fixed-window limits,
//!   the pub/sub fan-out of results to `/api/v1/live`;
//! - [`metrics`]: Prometheus counters;
//! - [`api`]: the HTTP routes and the mapping of every error to a JSON answer.
//!
//! Nothing here keeps state another instance would need: instances share only PostgreSQL and Redis.

pub mod admin;
pub mod api;
pub mod cache;
pub mod config;
pub mod db;
pub mod ingest;
pub mod keys;
pub mod live;
pub mod metrics;
pub mod players;
pub mod projector;
pub mod rate_limit;
pub mod reads;
pub mod redis_link;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::config::Config;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// PostgreSQL could not be reached or migrated.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// The Redis URL is not a Redis URL.
    #[error("bad Redis URL: {0}")]
    Redis(#[from] redis_link::RedisError),
    /// The HTTP address is taken or invalid.
    #[error("cannot listen for HTTP on {addr}: {source}; choose another address with --http-addr")]
    Http {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// A running instance: its address and the handle to stop it.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    server: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
}

impl Running {
    /// The bound HTTP address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting requests, lets requests in flight finish, and stops the background tasks.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
        for task in self.background {
            let _ = task.await;
        }
    }
}

/// Connects to PostgreSQL, runs the migrations, starts the Redis link and serves HTTP.
///
/// # Errors
///
/// [`Error`] when PostgreSQL is unreachable, a migration fails, the Redis URL is malformed or the
/// address cannot be bound. Redis being down is not an error: the service runs without it.
pub async fn start(config: Config) -> Result<Running, Error> {
    let pool = db::connect_with(&config.database_url, config.db_pool_size).await?;
    db::migrate(&pool).await?;
    let metrics = Arc::new(metrics::Metrics::default());
    let redis = redis_link::RedisLink::new(
        config.redis_url.as_deref(),
        &config.redis_prefix,
        metrics.clone(),
    )?;
    let shutdown = CancellationToken::new();
    let live = live::Live::new(metrics.clone());
    let subscriber = live.spawn_subscriber(redis.clone(), shutdown.clone()).await;
    let mut background = vec![subscriber];
    let projector = if config.project {
        let context = projector::Context {
            pool: pool.clone(),
            redis: redis.clone(),
            live: live.clone(),
            metrics: metrics.clone(),
        };
        let (projector, task) = projector::spawn(context, shutdown.clone());
        background.push(task);
        projector
    } else {
        projector::Projector::default()
    };
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| Error::Http {
            addr: config.http_addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Http {
        addr: config.http_addr,
        source,
    })?;
    let state = api::AppState {
        pool,
        redis,
        live,
        metrics,
        projector,
        limits: config.limits.clone(),
        shutdown: shutdown.clone(),
    };
    let app = api::router(state);
    // TCP_NODELAY (axum 0.8 leaves Nagle's algorithm on): an answer written in two pieces would
    // otherwise wait for the client's delayed ACK, up to 40 ms on Linux, on every request.
    let listener = listener.tap_io(|tcp: &mut tokio::net::TcpStream| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on a connection");
        }
    });
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await });
        if let Err(error) = serve.await {
            tracing::error!(%error, "HTTP server stopped");
        }
    });
    tracing::info!(%addr, "cloud-sync serving");
    Ok(Running {
        addr,
        shutdown,
        server,
        background,
    })
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
