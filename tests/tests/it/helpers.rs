//! What the end-to-end tests share beyond `dojo-testkit` (free ports, temp dirs, bounded waits,
//! simulated controllers on pseudo-terminals, and the agent harness: an agent in this process or
//! as a process, devices, screens, staff requests): a scratch PostgreSQL database and cloud-sync
//! with an enrolled venue, this test binary run again as an edge-agent process, and what the tests
//! read off a table's view. Every wait is bounded.

pub(crate) use dojo_testkit::agent::*;
pub(crate) use dojo_testkit::serial::{Plugged, bridge_config, sim_options};
pub(crate) use dojo_testkit::{free_port, temp_dir, wait_for};
use firmware_bridge::config::BridgeConfig;
use serde_json::Value;

/// The machine's PostgreSQL (`.ci/run` starts it), without a database.
const PG: &str = "postgres://postgres@127.0.0.1:5432";

/// The agent as a process: this binary again, running only [`edge_agent_process`]. (A test gets
/// only its own package's binaries, and edge-agent's is not one of them.)
pub(crate) const EDGE_AGENT: Program = Program::TestChild("helpers::edge_agent_process");

/// Not a test: in a normal run it returns at once; in a process [`EDGE_AGENT`] started it runs
/// edge-agent's command line until killed.
#[test]
fn edge_agent_process() {
    serve_if_child();
}

/// A database named `prefix…` on the machine's PostgreSQL, dropped with the value.
pub(crate) async fn scratch_db(prefix: &str) -> dojo_testkit::postgres::ScratchDb {
    dojo_testkit::postgres::ScratchDb::create(PG, prefix)
        .await
        .expect("PostgreSQL reachable on 127.0.0.1:5432")
}

/// cloud-sync on `db` (in this process, on a free port, no Redis), a pool on the same database, and
/// a venue enrolled as `name`: its id and key.
pub(crate) async fn cloud_with_venue(
    db: &dojo_testkit::postgres::ScratchDb,
    name: &str,
) -> (cloud_sync::Running, sqlx::PgPool, String, String) {
    let cloud = cloud_sync::start(cloud_sync::Config::new(db.url.clone(), None))
        .await
        .expect("cloud-sync starts");
    let pool = cloud_sync::infra::db::connect(&db.url).await.expect("pool");
    let (venue, key) = cloud_sync::venues::create_venue(&pool, name)
        .await
        .expect("venue");
    (cloud, pool, venue, key)
}

/// `config` logging in as its bridge id, provisioned for `tables` on the agent in `dir` (running
/// as `agent`) through edge-agent's command line in a process of its own (`edge-agent device add`),
/// once the agent lets it in.
pub(crate) async fn provisioned_bridge(
    mut config: BridgeConfig,
    agent: &Agent,
    dir: &std::path::Path,
    tables: &[&str],
) -> BridgeConfig {
    let secret = EDGE_AGENT.provision(dir, &config.bridge_id, tables);
    provisioned(agent, &config.bridge_id, &secret).await;
    config.mqtt_password = Some(secret.into());
    config
}

/// Whether `device` shows online on a table's view (`None`: not on it).
pub(crate) fn device_online(view: &Value, device: &str) -> Option<bool> {
    view["devices"]
        .as_array()?
        .iter()
        .find(|d| d["device"] == device)
        .and_then(|d| d["online"].as_bool())
}
