//! The service's metrics, one registry per instance (not a global) so in-process tests read the
//! counters of the instance they started. Rendered at `/metrics` in the Prometheus text format.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Every metric the service exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    batches: Family<Labels, Counter>,
    records: Family<Labels, Counter>,
    redis_errors: Family<Labels, Counter>,
    redis_up: Gauge,
    rate_limited: Family<Labels, Counter>,
    live_clients: Gauge,
    live_lagged: Counter,
    live_resubscriptions: Counter,
    cache: Family<Labels, Counter>,
    projection_lag: Gauge,
    projection_lag_seconds: Gauge<f64, AtomicU64>,
    projected: Family<Labels, Counter>,
    projection_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dojo");
        let metrics = Metrics {
            registry: Mutex::new(Registry::default()),
            batches: Family::default(),
            records: Family::default(),
            redis_errors: Family::default(),
            redis_up: Gauge::default(),
            rate_limited: Family::default(),
            live_clients: Gauge::default(),
            live_lagged: Counter::default(),
            live_resubscriptions: Counter::default(),
            cache: Family::default(),
            projection_lag: Gauge::default(),
            projection_lag_seconds: Gauge::default(),
            projected: Family::default(),
            projection_errors: Counter::default(),
        };
        registry.register(
            "sync_batches",
            "Sync batches answered, by HTTP status",
            metrics.batches.clone(),
        );
        registry.register(
            "sync_records",
            "Sync records by outcome (applied, duplicate, conflict)",
            metrics.records.clone(),
        );
        registry.register(
            "redis_errors",
            "Redis operations that failed or timed out (the service carried on without Redis)",
            metrics.redis_errors.clone(),
        );
        registry.register(
            "redis_up",
            "1 while the last Redis operation succeeded",
            metrics.redis_up.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused with 429, by scope (venue, addr)",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "live_clients",
            "Connected /api/v1/live WebSocket clients",
            metrics.live_clients.clone(),
        );
        registry.register(
            "live_lagged",
            "Live messages a slow client missed",
            metrics.live_lagged.clone(),
        );
        registry.register(
            "live_resubscriptions",
            "Times the live subscriber rebuilt its Redis subscription after losing it (results \
             published meanwhile reached no client of this instance; should stay 0 while Redis is up)",
            metrics.live_resubscriptions.clone(),
        );
        registry.register(
            "cache",
            "Read-cache lookups by result (hit, miss)",
            metrics.cache.clone(),
        );
        registry.register(
            "sync_projection_lag_records",
            "Records acknowledged but not yet projected into matches, racks and statistics \
             (all venues, as of this instance's last projection pass)",
            metrics.projection_lag.clone(),
        );
        registry.register(
            "sync_projection_lag_seconds",
            "How long the oldest record not yet projected has waited (0 when caught up)",
            metrics.projection_lag_seconds.clone(),
        );
        registry.register(
            "sync_projected_records",
            "Records this instance projected, per projection (matches: racks and statistics; tournaments)",
            metrics.projected.clone(),
        );
        registry.register(
            "sync_projection_errors",
            "Projection passes that failed (retried at the next pass)",
            metrics.projection_errors.clone(),
        );
        if let Ok(mut slot) = metrics.registry.lock() {
            *slot = registry;
        }
        metrics
    }
}

fn label(name: &'static str, value: &str) -> Labels {
    vec![(name, value.to_owned())]
}

impl Metrics {
    /// Counts a batch answered with `status`.
    pub fn batch(&self, status: u16) {
        self.batches
            .get_or_create(&label("status", &status.to_string()))
            .inc();
    }

    /// Counts `n` records with `outcome`.
    pub fn records(&self, outcome: &str, n: u64) {
        self.records
            .get_or_create(&label("outcome", outcome))
            .inc_by(n);
    }

    /// Counts a failed Redis operation and marks Redis down.
    pub fn redis_error(&self, op: &str) {
        self.redis_errors.get_or_create(&label("op", op)).inc();
        self.redis_up.set(0);
    }

    /// Marks Redis up.
    pub fn redis_ok(&self) {
        self.redis_up.set(1);
    }

    /// Failed Redis operations so far (all kinds).
    pub fn redis_error_count(&self) -> u64 {
        ["publish", "cache", "rate_limit", "subscribe"]
            .iter()
            .map(|op| self.redis_errors.get_or_create(&label("op", op)).get())
            .sum()
    }

    /// Counts a 429.
    pub fn rate_limited(&self, scope: &str) {
        self.rate_limited
            .get_or_create(&label("scope", scope))
            .inc();
    }

    /// A live client connected (+1) or left (-1).
    pub fn live_clients(&self, delta: i64) {
        self.live_clients.inc_by(delta);
    }

    /// Counts live messages a slow client missed.
    pub fn live_lagged(&self, n: u64) {
        self.live_lagged.inc_by(n);
    }

    /// Counts a rebuilt live subscription.
    pub fn live_resubscribed(&self) {
        self.live_resubscriptions.inc();
    }

    /// Counts a cache lookup.
    pub fn cache(&self, result: &str) {
        self.cache.get_or_create(&label("result", result)).inc();
    }

    /// The projection lag seen by a pass: records behind, and the oldest one's wait in seconds.
    pub fn projection_lag(&self, records: i64, seconds: f64) {
        self.projection_lag.set(records);
        self.projection_lag_seconds.set(seconds);
    }

    /// Counts `n` records projected by `projection`.
    pub fn projected(&self, projection: &str, n: u64) {
        self.projected
            .get_or_create(&label("projection", projection))
            .inc_by(n);
    }

    /// Counts a failed projection pass.
    pub fn projection_error(&self) {
        self.projection_errors.inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = encode(&mut out, &registry);
        }
        out
    }
}
