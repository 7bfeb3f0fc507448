//! What the end-to-end tests share beyond `dojo-testkit` (free ports, temp dirs, bounded waits,
//! simulated controllers on pseudo-terminals, and the agent harness: an agent in this process or
//! as a process, devices, screens, staff requests): a scratch PostgreSQL database for cloud-sync,
//! and this test binary run again as an edge-agent process. Every wait is bounded.

pub(crate) use dojo_testkit::agent::*;
pub(crate) use dojo_testkit::serial::{Plugged, bridge_config, sim_options};
pub(crate) use dojo_testkit::{free_port, temp_dir, wait_for};

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
pub(crate) async fn scratch_db(prefix: &str) -> cloud_sync::db::ScratchDb {
    cloud_sync::db::ScratchDb::create(PG, prefix)
        .await
        .expect("PostgreSQL reachable on 127.0.0.1:5432")
}
