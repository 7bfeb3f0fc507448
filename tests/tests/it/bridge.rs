//! firmware-bridge between a simulated controller on a real pseudo-terminal and an in-process edge-agent
//! (embedded broker on a free port, provisioned devices only: the bridge logs in with the secret
//! `edge-agent device add` printed): a match played on the controller ends on edge-agent's
//! WebSocket, and a port that is unplugged and plugged back in recovers without disturbing another.

use std::time::Duration;

use firmware_bridge::simulator::Controller;

use crate::helpers::{
    Agent, Plugged, bridge_config, device_online, provisioned_bridge, sim_options, temp_dir,
    until_within, wait_for, ws,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_played_on_the_controller_ends_on_edge_agent() {
    let dir = temp_dir("match");
    let agent = Agent::start_authenticated(&dir.join("agent")).await;
    let opts = sim_options("t1", 7);
    agent.start_match_spec("t1", &opts.spec()).await;
    let mut ws = ws(&agent, "?tables=t1").await;
    let link = dir.join("ttyCTL-t1");
    let config = bridge_config(vec![link.clone()], agent.mqtt);
    let config = provisioned_bridge(config, &agent, &dir.join("agent"), &["t1"]).await;
    let plugged = Plugged::plug(Controller::new(opts), &link);
    let bridge = firmware_bridge::run(config);

    let view = until_within(&mut ws, "t1", 60, |v| v["status"] == "finished").await;
    let controller = plugged.unplug().await;
    let winner = controller.winner().expect("the simulated match is over");
    assert_eq!(view["match_winner"], winner, "{view}");
    assert_eq!(
        view["score"],
        serde_json::json!(controller.score()),
        "{view}"
    );
    assert_eq!(view["missing_events"], 0, "{view}");
    assert!(controller.stats().shots > 5, "{:?}", controller.stats());
    assert!(
        controller.stats().acked >= controller.seq() - 5,
        "frames are acked once published"
    );
    // A frame read just before the unplug may still be on its way to the broker.
    wait_for("the bridge to publish every frame it read", 10, || {
        let stats = bridge.bridge.stats();
        stats.published >= stats.frames
    })
    .await;
    let stats = bridge.bridge.stats();
    assert_eq!(stats.dropped, 0);
    assert!(stats.published >= stats.frames, "{stats:?}");
    bridge.stop().await;
    agent.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_and_replug_recovers_without_disturbing_other_ports() {
    let dir = temp_dir("replug");
    let agent = Agent::start_authenticated(&dir.join("agent")).await;
    let (opts1, mut opts2) = (sim_options("t1", 3), sim_options("t2", 4));
    opts2.race_to = 3;
    agent.start_match_spec("t1", &opts1.spec()).await;
    agent.start_match_spec("t2", &opts2.spec()).await;
    let mut ws1 = ws(&agent, "?tables=t1").await;
    let mut ws2 = ws(&agent, "?tables=t2").await;
    let (link1, link2) = (dir.join("ttyCTL-t1"), dir.join("ttyCTL-t2"));
    let config = bridge_config(vec![link1.clone(), link2.clone()], agent.mqtt);
    let config = provisioned_bridge(config, &agent, &dir.join("agent"), &["t1", "t2"]).await;
    let plugged1 = Plugged::plug(Controller::new(opts1), &link1);
    let plugged2 = Plugged::plug(Controller::new(opts2), &link2);
    let bridge = firmware_bridge::run(config);

    // Some shots in, unplug table 1's controller.
    let state = bridge.bridge.clone();
    wait_for("some shots", 20, || state.stats().frames > 20).await;
    let controller1 = plugged1.unplug().await;
    wait_for("the unplug to be noticed", 2, || {
        state.online("ctl-t1") == Some(false)
    })
    .await;
    until_within(&mut ws1, "t1", 10, |v| {
        device_online(v, "ctl-t1") == Some(false)
    })
    .await;
    assert_eq!(
        state.online("ctl-t2"),
        Some(true),
        "the other port is not disturbed"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(state.online("ctl-t2"), Some(true));

    // Plug it back in (a new pseudo-terminal behind the same path): the match carries on.
    let plugged1 = Plugged::plug(controller1, &link1);
    until_within(&mut ws1, "t1", 10, |v| {
        device_online(v, "ctl-t1") == Some(true)
    })
    .await;
    let view1 = until_within(&mut ws1, "t1", 60, |v| v["status"] == "finished").await;
    let view2 = until_within(&mut ws2, "t2", 60, |v| v["status"] == "finished").await;
    let (controller1, controller2) = (plugged1.unplug().await, plugged2.unplug().await);
    assert_eq!(
        view1["match_winner"],
        controller1.winner().expect("over"),
        "{view1}"
    );
    assert_eq!(
        view2["match_winner"],
        controller2.winner().expect("over"),
        "{view2}"
    );
    assert_eq!(view1["missing_events"], 0, "{view1}");
    bridge.stop().await;
    agent.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
