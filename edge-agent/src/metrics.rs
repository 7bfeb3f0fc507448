//! The agent's metrics, one registry per agent (not a global), so in-process tests can read the
//! counters of the agent they started. Rendered at `/metrics` in the Prometheus text format.
//!
//! Besides the end-to-end `event_to_screen_seconds`, `stage_seconds{stage=...}` splits the path of
//! every durable event so an operator (and the pipeline bench) can see where time goes:
//!
//! - `ingest`: MQTT receipt → the engine has applied the event and built its view (the broker
//!   link, the inbound queue, decoding, ingest, the rules);
//! - `commit`: view built → its transaction committed, fsync included (the store queue, group
//!   commit);
//! - `hub`: committed → queued for every client (one sample per group commit);
//! - `socket`: committed → written to one client's socket (one sample per client and view: the
//!   wake-up of the client's task and its write).
//!
//! `commit_seconds` is one transaction's `COMMIT` alone (WAL + `synchronous=FULL`: the fsync).

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Buckets of the stage histograms: fine around the 0.1–10 ms where a venue's screens live.
const STAGE_BUCKETS: [f64; 17] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01,
    0.015, 0.025, 0.05, 0.1, 0.25,
];

/// Every metric the agent exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    accepted: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
    duplicates: Counter,
    missing: Counter,
    waiting: Gauge,
    replay_requests: Counter,
    ws_clients: Gauge,
    ws_resnapshots: Counter,
    commit_batch: Histogram,
    latency: Histogram,
    stage_ingest: Histogram,
    stage_commit: Histogram,
    stage_hub: Histogram,
    stage_socket: Histogram,
    commit_seconds: Histogram,
    sync_records: Family<Labels, Counter>,
    sync_failures: Family<Labels, Counter>,
    sync_pending: Gauge,
    scoring_fallbacks: Family<Labels, Counter>,
    scoring_modes: Family<Labels, Counter>,
    layout_mismatches: Counter,
    phone_refusals: Family<Labels, Counter>,
    staff_auth: Family<Labels, Counter>,
    ws_replays: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dojo");
        let accepted = Family::<Labels, Counter>::default();
        let rejected = Family::<Labels, Counter>::default();
        let duplicates = Counter::default();
        let missing = Counter::default();
        let waiting = Gauge::default();
        let replay_requests = Counter::default();
        let ws_clients = Gauge::default();
        let ws_resnapshots = Counter::default();
        let commit_batch = Histogram::new([1.0, 2.0, 8.0, 32.0, 128.0, 512.0, 2048.0]);
        let latency = Histogram::new([
            0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
        ]);
        registry.register(
            "events_accepted",
            "Device and staff events accepted, by kind",
            accepted.clone(),
        );
        registry.register(
            "events_rejected",
            "Inputs rejected, by reason",
            rejected.clone(),
        );
        registry.register(
            "events_duplicate",
            "Device events ignored as duplicates (device, seq)",
            duplicates.clone(),
        );
        registry.register(
            "events_missing",
            "Device events missed and not recovered by replay",
            missing.clone(),
        );
        registry.register(
            "events_waiting",
            "Device events held until the gap below them is replayed",
            waiting.clone(),
        );
        registry.register(
            "replay_requests",
            "Replay requests sent to devices (first requests and repeats)",
            replay_requests.clone(),
        );
        registry.register(
            "ws_clients",
            "Connected WebSocket clients",
            ws_clients.clone(),
        );
        registry.register(
            "ws_resnapshots",
            "Fresh snapshots sent to clients that fell behind",
            ws_resnapshots.clone(),
        );
        registry.register(
            "commit_batch_events",
            "Events per SQLite transaction",
            commit_batch.clone(),
        );
        registry.register(
            "event_to_screen_seconds",
            "From receiving an event to handing its state to a WebSocket",
            latency.clone(),
        );
        let stages = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
            Histogram::new(STAGE_BUCKETS)
        });
        let stage = |name: &str| {
            stages
                .get_or_create(&vec![("stage", name.to_owned())])
                .clone()
        };
        let (stage_ingest, stage_commit, stage_hub, stage_socket) = (
            stage("ingest"),
            stage("commit"),
            stage("hub"),
            stage("socket"),
        );
        registry.register(
            "stage_seconds",
            "Stages of an event's way to the screens: ingest (MQTT receipt to view built), commit (to committed, fsync included), hub (to queued for every client, per group commit), socket (to written to one client, per client)",
            stages,
        );
        let commit_seconds = Histogram::new(STAGE_BUCKETS);
        registry.register(
            "commit_seconds",
            "One SQLite transaction's COMMIT (WAL, synchronous=FULL: the fsync)",
            commit_seconds.clone(),
        );
        let sync_records = Family::<Labels, Counter>::default();
        let sync_failures = Family::<Labels, Counter>::default();
        let sync_pending = Gauge::default();
        registry.register(
            "sync_records",
            "Outbox records answered by cloud-sync, by outcome (applied, duplicate, conflict, dead_lettered)",
            sync_records.clone(),
        );
        registry.register(
            "sync_failures",
            "Sync requests that failed and will be retried, by reason",
            sync_failures.clone(),
        );
        registry.register(
            "sync_outbox_pending",
            "Outbox records not yet acknowledged by cloud-sync",
            sync_pending.clone(),
        );
        let scoring_fallbacks = Family::<Labels, Counter>::default();
        let scoring_modes = Family::<Labels, Counter>::default();
        let layout_mismatches = Counter::default();
        registry.register(
            "scoring_fallbacks",
            "Scoring fallbacks, by kind (camera_timeout, camera_offline, controller_offline, camera_replaced, controller_replaced)",
            scoring_fallbacks.clone(),
        );
        registry.register(
            "scoring_mode_changes",
            "Changes of a table's scoring mode, by the mode changed to (camera, sensors, manual)",
            scoring_modes.clone(),
        );
        registry.register(
            "scoring_layout_mismatches",
            "Camera layouts at rest that disagreed with the pocket sensors (flagged to staff)",
            layout_mismatches.clone(),
        );
        let phone_refusals = Family::<Labels, Counter>::default();
        registry.register(
            "phone_refusals",
            "Phone requests refused, by reason (bad_code, rate_limited, not_paired, not_shooter)",
            phone_refusals.clone(),
        );
        let staff_auth = Family::<Labels, Counter>::default();
        registry.register(
            "staff_auth",
            "Staff-token checks that did not pass, by outcome (failed: a wrong token; limited: refused with 429 before comparing; alerted: an alert raised for staff; pin_failed, pin_limited: a staff PIN sign-in wrong or refused with 429)",
            staff_auth.clone(),
        );
        let ws_replays = Family::<Labels, Counter>::default();
        registry.register(
            "ws_replays",
            "WebSocket reconnections with ?since=, by outcome (replayed; snapshot: too far behind, too many bytes, or the replay budget busy)",
            ws_replays.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            accepted,
            rejected,
            duplicates,
            missing,
            waiting,
            replay_requests,
            ws_clients,
            ws_resnapshots,
            commit_batch,
            latency,
            stage_ingest,
            stage_commit,
            stage_hub,
            stage_socket,
            commit_seconds,
            sync_records,
            sync_failures,
            sync_pending,
            scoring_fallbacks,
            scoring_modes,
            layout_mismatches,
            phone_refusals,
            staff_auth,
            ws_replays,
        }
    }

    /// Counts a scoring fallback of `kind`.
    pub fn scoring_fallback(&self, kind: &str) {
        self.scoring_fallbacks
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }

    /// Scoring fallbacks of `kind` so far.
    pub fn scoring_fallback_count(&self, kind: &str) -> u64 {
        self.scoring_fallbacks
            .get_or_create(&vec![("kind", kind.to_owned())])
            .get()
    }

    /// Counts a table's scoring mode changing to `mode`.
    pub fn scoring_mode_change(&self, mode: &str) {
        self.scoring_modes
            .get_or_create(&vec![("mode", mode.to_owned())])
            .inc();
    }

    /// Counts a camera layout that disagreed with the pocket sensors.
    pub fn layout_mismatch(&self) {
        self.layout_mismatches.inc();
    }

    /// Counts a refused phone request (a wrong pairing code, a rate limit, a stranger's token).
    pub fn phone_refused(&self, reason: &'static str) {
        self.phone_refusals
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// Phone requests refused for `reason` so far.
    pub fn phone_refused_count(&self, reason: &'static str) -> u64 {
        self.phone_refusals
            .get_or_create(&vec![("reason", reason.to_owned())])
            .get()
    }

    /// Counts a staff-token check that did not pass (`failed`, `limited`) or an alert (`alerted`).
    pub fn staff_auth(&self, outcome: &'static str) {
        self.staff_auth
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }

    /// Staff-token checks with `outcome` so far.
    pub fn staff_auth_count(&self, outcome: &'static str) -> u64 {
        self.staff_auth
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .get()
    }

    /// Counts a `?since=` reconnection by `outcome` (`replayed`, `too_far_behind`, `too_large`,
    /// `busy`).
    pub fn ws_replay(&self, outcome: &'static str) {
        self.ws_replays
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }

    /// `?since=` reconnections with `outcome` so far.
    pub fn ws_replay_count(&self, outcome: &'static str) -> u64 {
        self.ws_replays
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .get()
    }

    /// Counts an accepted event of `kind` (`pocket`, `button`, `staff`, …).
    pub fn accepted(&self, kind: &str) {
        self.accepted
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }

    /// Counts a rejected input.
    pub fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// How many inputs were rejected for `reason` (for tests and the staff console).
    pub fn rejected_count(&self, reason: &str) -> u64 {
        self.rejected
            .get_or_create(&vec![("reason", reason.to_owned())])
            .get()
    }

    /// Counts a duplicate device event.
    pub fn duplicate(&self) {
        self.duplicates.inc();
    }

    /// Duplicates so far.
    pub fn duplicate_count(&self) -> u64 {
        self.duplicates.get()
    }

    /// Counts device events given up on.
    pub fn missing(&self, events: u64) {
        self.missing.inc_by(events);
    }

    /// Device events held by ingest now, waiting for a replay.
    pub fn set_waiting(&self, events: u64) {
        self.waiting.set(i64::try_from(events).unwrap_or(i64::MAX));
    }

    /// Counts replay requests sent.
    pub fn replay_requested(&self, requests: u64) {
        self.replay_requests.inc_by(requests);
    }

    /// Device events given up on so far (`events_missing`).
    pub fn missing_count(&self) -> u64 {
        self.missing.get()
    }

    /// Replay requests sent so far.
    pub fn replay_request_count(&self) -> u64 {
        self.replay_requests.get()
    }

    /// A WebSocket client connected (`+1`) or left (`-1`).
    pub fn ws_clients(&self, delta: i64) {
        self.ws_clients.inc_by(delta);
    }

    /// A client got a fresh snapshot because it fell behind.
    pub fn resnapshot(&self) {
        self.ws_resnapshots.inc();
    }

    /// Records the size of one SQLite transaction.
    pub fn commit_batch(&self, events: usize) {
        self.commit_batch.observe(events as f64);
    }

    /// Records receive → hand-off to a WebSocket.
    pub fn latency(&self, seconds: f64) {
        self.latency.observe(seconds);
    }

    /// Records one committed event's `ingest` and `commit` stages (views with timing only).
    pub fn committed(&self, view: &crate::view::Published) {
        if let (Some(received), Some(built), Some(committed)) =
            (view.received, view.built, view.committed)
        {
            self.stage_ingest
                .observe(built.saturating_duration_since(received).as_secs_f64());
            self.stage_commit
                .observe(committed.saturating_duration_since(built).as_secs_f64());
        }
    }

    /// Records one transaction's `COMMIT`.
    pub fn commit_seconds(&self, seconds: f64) {
        self.commit_seconds.observe(seconds);
    }

    /// Records committed → queued for every client, once per group commit.
    pub fn stage_hub(&self, seconds: f64) {
        self.stage_hub.observe(seconds);
    }

    /// Records committed → written to one client's socket.
    pub fn stage_socket(&self, seconds: f64) {
        self.stage_socket.observe(seconds);
    }

    /// Counts outbox records cloud-sync answered for, by outcome.
    pub fn sync_records(&self, outcome: &str, records: u64) {
        self.sync_records
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc_by(records);
    }

    /// Counts a failed sync request by reason.
    pub fn sync_failure(&self, reason: &str) {
        self.sync_failures
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// Sets how many outbox records wait for the cloud.
    pub fn sync_pending(&self, records: u64) {
        self.sync_pending
            .set(i64::try_from(records).unwrap_or(i64::MAX));
    }

    /// Registers a counter another part owns (e.g. the store's `dead_letters_trimmed`); its
    /// exported name is `dojo_<name>_total`.
    pub fn register_counter(&self, name: &str, help: &str, counter: Counter) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.register(name, help, counter);
        }
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
