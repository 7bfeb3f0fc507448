//! The bridge's MQTT credential against a Mosquitto that lets in only one user with one password
//! (as edge-agent's broker lets in only provisioned devices): with the password it is heard, its
//! username defaulting to its bridge id; without it, or with a wrong one, it is refused and keeps
//! its events.

use std::time::Duration;

use firmware_bridge::config::Password;
use firmware_bridge::simulator::Controller;

use crate::helpers::{
    Mosquitto, Plugged, Subscriber, bridge_config, sim_options, temp_dir, wait_for,
};

const SECRET: &str = "dpd_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_gets_in_with_its_password_and_is_refused_without() {
    let dir = temp_dir("credential");
    let (broker, locked) = Mosquitto::start_with_login(&dir, "bridge-cred", SECRET).await;
    let mut sub = Subscriber::connect(broker.addr, "dojo/v1/tables/+/events").await;

    // No password, then a wrong one: refused, nothing published, events kept.
    for password in [None, Some("dpd_wrong")] {
        let link = dir.join("ttyCTL-refused");
        let plugged = Plugged::plug(Controller::new(sim_options("t1", 5)), &link);
        let mut config = bridge_config(vec![link], locked);
        config.bridge_id = "bridge-cred".to_owned();
        config.mqtt_password = password.map(|p| Password::from(p.to_owned()));
        let bridge = firmware_bridge::run(config);
        let state = bridge.bridge.clone();
        wait_for("events to queue", 10, || state.queued() > 3).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let snapshot = state.snapshot();
        assert!(
            !snapshot.mqtt_connected,
            "{password:?} let in: {snapshot:?}"
        );
        assert_eq!(snapshot.stats.mqtt_connects, 0, "{snapshot:?}");
        assert_eq!(snapshot.stats.published, 0, "{snapshot:?}");
        bridge.stop().await;
        plugged.unplug().await;
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sub.rx.recv())
            .await
            .is_err(),
        "nothing was published"
    );

    // With the password (the username is its bridge id): heard.
    let link = dir.join("ttyCTL-ok");
    let plugged = Plugged::plug(Controller::new(sim_options("t1", 5)), &link);
    let mut config = bridge_config(vec![link], locked);
    config.bridge_id = "bridge-cred".to_owned();
    config.mqtt_password = Some(Password::from(SECRET.to_owned()));
    let bridge = firmware_bridge::run(config);
    let (topic, event) = tokio::time::timeout(Duration::from_secs(10), sub.rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("subscribed");
    assert_eq!(topic, "dojo/v1/tables/t1/events");
    assert_eq!(event["device"], "ctl-t1", "{event}");
    assert!(bridge.bridge.snapshot().mqtt_connected);
    bridge.stop().await;
    plugged.unplug().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
