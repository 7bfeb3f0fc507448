//! The staff console's Venue tab in headless Chromium: the LAN URLs with their QR codes, and the
//! table registry driven as staff drive it (register an announced table with one tap, name it,
//! retire it), every value shown as text.

use serde_json::{Value, json};

use crate::helpers::*;
use dojo_testkit::browser::{Browser, click};

/// What the Venue tab shows, read off the rendered DOM.
const VENUE: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const notice = document.getElementById("notice");
  return {
    ready: document.readyState === "complete",
    unlocked: !document.getElementById("console").hidden,
    shown: !document.getElementById("pane-venue").hidden,
    advice: text(document.getElementById("network-advice")),
    urls: [...document.querySelectorAll("#network-urls figcaption")].map(text),
    qr: [...document.querySelectorAll("#network-urls img.qr")].map((img) => img.complete && img.naturalWidth > 0),
    rows: [...document.querySelectorAll("#registry-list .registry-row")].map((row) => ({
      table: row.dataset.table,
      name: row.querySelector(".reg-name").value,
      retired: row.classList.contains("retired"),
      devices: text(row.querySelector(".reg-devices")),
    })),
    unknown: [...document.querySelectorAll("#registry-unknown [data-register]")].map((b) => b.dataset.register),
    notice: notice.hidden ? null : text(document.getElementById("notice-text")),
    bold: document.querySelectorAll("#pane-venue b").length,
  };
})()"##;

fn row<'a>(shown: &'a Value, table: &str) -> Option<&'a Value> {
    shown["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["table"] == table))
}

#[tokio::test]
async fn the_venue_tab_shows_lan_urls_and_registers_names_and_retires_tables_in_chromium() {
    let dir = data_dir("venue-tab");
    let agent = Agent::start_with(&dir, |config| {
        config.http_addr = "0.0.0.0:0".parse().expect("addr");
        config.tables = vec!["front-1".into()];
    })
    .await;
    let lan_urls = agent.running.reach.lan_urls.clone();
    let base = format!("http://127.0.0.1:{}", agent.running.http_addr.port());
    // A controller for a table nobody registered says which table it serves.
    let ctl = Device::connect(agent.mqtt, "ctl-lounge").await;
    let status = json!({"status": "online", "table": "lounge-2", "kind": "controller"});
    ctl.raw(
        "dojo/v1/devices/ctl-lounge/status",
        status.to_string().into_bytes(),
    )
    .await;

    let mut browser = Browser::launch().await;
    let page = browser.open(&format!("{base}/staff")).await;
    browser
        .wait_for(&page, VENUE, "the page", |v| v["ready"] == true)
        .await;
    let unlock = format!(
        "document.getElementById('token').value = {TOKEN:?}; \
         document.getElementById('unlock-form').requestSubmit(); true"
    );
    browser.eval(&page, &unlock).await;
    browser
        .wait_for(&page, VENUE, "unlocked", |v| v["unlocked"] == true)
        .await;
    browser.eval(&page, &click("#tab-venue")).await;
    let shown = browser
        .wait_for(&page, VENUE, "the venue tab", |v| {
            v["shown"] == true
                && row(v, "front-1").is_some()
                && v["unknown"] == json!(["lounge-2"])
                && v["qr"]
                    .as_array()
                    .is_some_and(|q| q.len() == lan_urls.len())
                && v["qr"]
                    .as_array()
                    .is_some_and(|q| q.iter().all(|l| l == true))
        })
        .await;
    assert_eq!(shown["urls"], json!(lan_urls), "{shown:#}");
    assert!(
        shown["advice"]
            .as_str()
            .is_some_and(|a| lan_urls.iter().all(|u| a.contains(u.as_str()))),
        "{shown:#}"
    );

    // One tap registers the announced table; its device is listed under it.
    browser
        .eval(&page, &click("#registry-unknown [data-register=lounge-2]"))
        .await;
    let shown = browser
        .wait_for(&page, VENUE, "lounge-2 registered", |v| {
            row(v, "lounge-2").is_some() && v["unknown"] == json!([])
        })
        .await;
    let lounge = row(&shown, "lounge-2").cloned().unwrap_or(Value::Null);
    assert_eq!(lounge["devices"], "controller ctl-lounge", "{shown:#}");

    // A name with markup is kept and shown as text.
    let hostile = "<b>Lounge</b>";
    let rename = format!(
        "(() => {{ const row = document.querySelector('#registry-list [data-table=lounge-2]'); \
         row.querySelector('.reg-name').value = {hostile:?}; \
         row.querySelector('[data-save]').click(); return true; }})()"
    );
    browser.eval(&page, &rename).await;
    let shown = browser
        .wait_for(&page, VENUE, "the rename", |v| {
            row(v, "lounge-2").is_some_and(|r| r["name"] == hostile)
                && v["notice"].as_str().is_some_and(|n| n.contains(hostile))
        })
        .await;
    assert_eq!(shown["bold"], 0, "never markup: {shown:#}");
    let (_, view) = agent.get("/api/v1/tables/lounge-2").await;
    assert_eq!(view["name"], hostile);

    // Retire: the row says so and the overview's list leaves the table out.
    browser
        .eval(&page, &click("#registry-list [data-retire=lounge-2]"))
        .await;
    browser
        .wait_for(&page, VENUE, "retired", |v| {
            row(v, "lounge-2").is_some_and(|r| r["retired"] == true)
        })
        .await;
    let (_, tables) = agent.get("/api/v1/tables").await;
    assert!(
        tables
            .as_array()
            .is_some_and(|t| t.iter().all(|v| v["table"] != "lounge-2")),
        "{tables}"
    );
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
