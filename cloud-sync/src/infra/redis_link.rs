//! The one Redis connection of an instance. Redis is an accelerator here, never the record: every
//! operation has a short deadline, and a failure is logged once per outage, counted
//! (`dojo_redis_errors_total`) and answered by carrying on with PostgreSQL only. The connection is
//! made lazily and remade by redis' `ConnectionManager` after a failure, so Redis coming back needs
//! nothing from anyone.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::metrics::Metrics;

/// How long any Redis operation may take before the service carries on without it.
pub const DEADLINE: Duration = Duration::from_millis(500);

/// The Redis URL could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RedisError(#[from] redis::RedisError);

/// A handle to Redis (cheap to clone), or to nothing when no URL was configured.
#[derive(Clone, Debug)]
pub struct RedisLink {
    inner: Option<Arc<Inner>>,
    prefix: Arc<str>,
    metrics: Arc<Metrics>,
}

#[derive(Debug)]
struct Inner {
    client: redis::Client,
    manager: ConnectionManager,
    healthy: AtomicBool,
}

impl RedisLink {
    /// A link to `url` (not connected yet), or a link to nothing.
    ///
    /// # Errors
    ///
    /// A malformed URL.
    pub fn new(url: Option<&str>, prefix: &str, metrics: Arc<Metrics>) -> Result<Self, RedisError> {
        let inner = match url {
            None => None,
            Some(url) => {
                let client = redis::Client::open(url)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_millis(300)))
                    .set_response_timeout(Some(DEADLINE))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(200));
                let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
                Some(Arc::new(Inner {
                    client,
                    manager,
                    healthy: AtomicBool::new(true),
                }))
            }
        };
        Ok(RedisLink {
            inner,
            prefix: prefix.into(),
            metrics,
        })
    }

    /// `prefix:rest`: every key and channel of this deployment.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// The client, for the pub/sub connection (which the manager does not multiplex).
    pub(crate) fn client(&self) -> Option<&redis::Client> {
        self.inner.as_ref().map(|inner| &inner.client)
    }

    /// Runs `op` on the shared connection within [`DEADLINE`]; `None` when there is no Redis or
    /// it failed (already logged and counted under `what`).
    pub async fn run<T, F, Fut>(&self, what: &'static str, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let inner = self.inner.as_ref()?;
        match tokio::time::timeout(DEADLINE, op(inner.manager.clone())).await {
            Ok(Ok(value)) => {
                self.up();
                Some(value)
            }
            Ok(Err(error)) => {
                self.down(what, &error.to_string());
                None
            }
            Err(_) => {
                self.down(what, "timed out");
                None
            }
        }
    }

    /// Notes a success: logs the end of an outage.
    pub(crate) fn up(&self) {
        if let Some(inner) = &self.inner {
            self.metrics.redis_ok();
            if !inner.healthy.swap(true, Ordering::Relaxed) {
                tracing::info!("Redis is reachable again");
            }
        }
    }

    /// Notes a failure: counted every time, logged at the start of an outage.
    pub(crate) fn down(&self, what: &'static str, error: &str) {
        self.metrics.redis_error(what);
        if let Some(inner) = &self.inner
            && inner.healthy.swap(false, Ordering::Relaxed)
        {
            tracing::warn!(%error, op = what, "Redis unavailable; serving from PostgreSQL only");
        }
    }
}
