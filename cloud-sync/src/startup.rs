//! Start-up, the composition root: connects PostgreSQL (and migrates) and Redis, starts the live
//! subscriber and the projections, and serves the contexts' routes until [`Running::shutdown`].
//! The two lists a new context adds itself to are here: [`routes`] and [`projections`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::accounts::token::{KeyError, Keys};
use crate::config::Config;
use crate::http::AppState;
use crate::infra::{db, live, metrics, redis_link};
use crate::projection::{Projector, Runner};
use crate::{
    accounts, confirmations, notifications, players, portal, projection, reads, sync, tournaments,
};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// PostgreSQL could not be reached or migrated.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// The access-token signing keys could not be loaded.
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
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
    let keys = Keys::load(pool.clone()).await?;
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
        let context = projection::Context {
            pool: pool.clone(),
            redis: redis.clone(),
            live: live.clone(),
            metrics: metrics.clone(),
        };
        let mut runner = Runner::new(context, shutdown.clone());
        projections(&mut runner);
        let (projector, tasks) = runner.finish();
        background.extend(tasks);
        projector
    } else {
        Projector::default()
    };
    let hub = notifications::worker::Hub::new(config.notifications.allow_private);
    background.extend(notifications::worker::spawn(
        &pool,
        &hub,
        &config.notifications,
        &config.public_url,
        &shutdown,
    ));
    background.push(tournaments::schedule::spawn(
        pool.clone(),
        redis.clone(),
        live.clone(),
        shutdown.clone(),
    ));
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
    let state = AppState {
        pool,
        redis,
        live,
        metrics,
        projector,
        limits: config.limits.clone(),
        keys,
        public_url: config.public_url.clone(),
        notifications: hub,
        shutdown: shutdown.clone(),
    };
    let app = crate::http::router(state, routes());
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

/// Every context's routes. A new context with routes adds one line.
fn routes() -> Router<AppState> {
    Router::new()
        .merge(sync::http::router())
        .merge(players::http::router())
        .merge(reads::http::router())
        .merge(confirmations::http::router())
        .merge(accounts::http::router())
        .merge(accounts::admin_http::router())
        .merge(players::profiles_http::router())
        .merge(portal::router())
        .merge(notifications::http::router())
        .merge(accounts::staff::router())
        .merge(tournaments::http::router())
}

/// Every projection of the venue records. A new context that consumes them adds one line.
fn projections(runner: &mut Runner) {
    runner.spawn(reads::MatchesProjection);
    runner.spawn(tournaments::TournamentsProjection);
}
