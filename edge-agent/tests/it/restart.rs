//! Restarts lose nothing: every table comes back as it was, from the event log.

use serde_json::Value;

use crate::helpers::*;

fn rules_fields(view: &Value) -> Value {
    let mut view = view.clone();
    if let Some(object) = view.as_object_mut() {
        object.remove("devices");
    }
    view
}

#[tokio::test]
async fn a_graceful_restart_replays_every_table() {
    let dir = data_dir("restart");
    let agent = Agent::start(&dir).await;
    let mut screen = ws(&agent, "?tables=t4").await;
    agent.start_match("t4", "ten-ball", 3).await;
    let mut ctl = Device::connect(agent.mqtt, "ctl-t4").await;
    ctl.pocket("t4", 4, 2).await;
    ctl.button("t4", "end_turn").await;
    ctl.pocket("t4", 1, 5).await;
    until(&mut screen, "t4", |v| {
        v["shot"]["pocketed"]
            .as_array()
            .is_some_and(|p| p.len() == 1)
    })
    .await;
    let (_, before) = agent.get("/api/v1/tables/t4").await;
    agent.stop().await;

    let agent = Agent::start(&dir).await;
    let (status, after) = agent.get("/api/v1/tables/t4").await;
    assert_eq!(status, 200);
    assert_eq!(rules_fields(&after), rules_fields(&before));
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
