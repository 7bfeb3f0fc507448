//! The staff console's manual scoring pad and corrections panel in headless Chromium
//! ([`dojo_testkit::browser`]): staff score a rack by hand, make each kind of correction and a
//! void, and the agent, restarted, replays the same table.

use serde_json::{Value, json};

use crate::helpers::*;
use dojo_testkit::browser::{Browser, click};

/// What the console shows of the pad and the panel, read off the rendered DOM.
const CONSOLE: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const byId = (id) => document.getElementById(id);
  const shown = (id) => !!byId(id) && !byId(id).hidden && !byId(id).closest("[hidden]");
  return {
    ready: document.readyState === "complete" && !!byId("unlock-form"),
    unlocked: shown("console"),
    link: text(byId("link")),
    notice: shown("notice") ? { kind: byId("notice").className, text: text(byId("notice-text")) } : null,
    manual: shown("manual"),
    corrections: shown("corrections"),
    pad: [...document.querySelectorAll("#manual-balls .manual-ball")].map((b) => Number(b.dataset.ball)),
    down: [...document.querySelectorAll("#manual-balls .manual-ball.selected")].map((b) => Number(b.dataset.ball)),
    shot: text(byId("manual-shot")),
    seats: [...document.querySelectorAll(".adjust-name")].map(text),
    flags: [...document.querySelectorAll("#table-view .flag")].map(text),
    status: text(byId("table-status")),
  };
})()"##;

/// Types `value` into the field `id` as staff would (an `input` event follows).
fn type_into(id: &str, value: &str) -> String {
    format!(
        "(() => {{ const el = document.getElementById({id:?}); el.value = {value:?}; \
         el.dispatchEvent(new Event('input')); return true; }})()"
    )
}

async fn tap(browser: &mut Browser, page: &str, selector: &str) {
    browser
        .wait_for(page, &click(selector), selector, |v| v == true)
        .await;
}

#[tokio::test]
async fn staff_score_a_rack_correct_and_void_in_the_console_and_a_restart_replays_it() {
    let dir = data_dir("manual-console");
    let agent = Agent::start(&dir).await;
    let mut feed = ws(&agent, "?tables=hand2").await;
    agent.start_match("hand2", "nine-ball", 3).await;

    let mut browser = Browser::launch().await;
    let page = browser.open(&agent.url("/staff#hand2")).await;
    browser
        .wait_for(&page, CONSOLE, "the page", |v| v["ready"] == true)
        .await;
    let unlock = format!(
        "document.getElementById('token').value = {TOKEN:?}; \
         document.getElementById('unlock-form').requestSubmit(); true"
    );
    browser.eval(&page, &unlock).await;
    let shown = browser
        .wait_for(&page, CONSOLE, "the pad", |v| {
            v["unlocked"] == true
                && v["manual"] == true
                && v["pad"].as_array().is_some_and(|p| p.len() == 9)
        })
        .await;
    assert_eq!(shown["corrections"], true, "{shown:#}");
    browser.eval(&page, &type_into("staff-name", "Kim")).await;

    // Ann breaks and makes the 1 in pocket 2; staff enter it by hand and end the turn.
    tap(&mut browser, &page, ".manual-pocket[data-pocket='2']").await;
    tap(&mut browser, &page, ".manual-ball[data-ball='1']").await;
    let view = until(&mut feed, "hand2", |v| v["shot"]["pocketed"] == json!([1])).await;
    assert_eq!(view["shot"]["cue_ball_pocketed"], false, "{view}");
    browser
        .wait_for(&page, CONSOLE, "the 1 entered", |v| v["down"] == json!([1]))
        .await;
    tap(&mut browser, &page, "#manual [data-action=end_turn]").await;
    let view = until(&mut feed, "hand2", |v| v["break_shot"] == false).await;
    assert_eq!(view["shooter"], 0, "the made 1 keeps Ann on: {view}");

    // Ann makes the 2 and scratches; a mistaken 3 is undone.
    tap(&mut browser, &page, ".manual-ball[data-ball='2']").await;
    until(&mut feed, "hand2", |v| v["shot"]["pocketed"] == json!([2])).await;
    tap(&mut browser, &page, ".manual-ball[data-ball='3']").await;
    until(&mut feed, "hand2", |v| {
        v["shot"]["pocketed"] == json!([2, 3])
    })
    .await;
    tap(&mut browser, &page, "#manual [data-action=undo]").await;
    until(&mut feed, "hand2", |v| v["shot"]["pocketed"] == json!([2])).await;
    tap(&mut browser, &page, "#manual-cue").await;
    until(&mut feed, "hand2", |v| {
        v["shot"]["cue_ball_pocketed"] == true
    })
    .await;
    let shown = browser
        .wait_for(&page, CONSOLE, "the shot so far", |v| {
            v["shot"]
                .as_str()
                .is_some_and(|s| s.contains("cue ball down"))
        })
        .await;
    assert_eq!(
        shown["shot"], "This shot so far: down: 2 · cue ball down",
        "{shown:#}"
    );
    tap(&mut browser, &page, "#manual [data-action=end_turn]").await;
    let view = until(&mut feed, "hand2", |v| v["shooter"] == 1).await;
    assert_eq!(
        (&view["foul"], &view["ball_in_hand"]),
        (&json!(true), &json!(true)),
        "{view}"
    );

    // Bo runs out: the 9 in pocket 5 wins him the rack.
    tap(&mut browser, &page, ".manual-pocket[data-pocket='5']").await;
    tap(&mut browser, &page, ".manual-ball[data-ball='9']").await;
    until(&mut feed, "hand2", |v| v["shot"]["pocketed"] == json!([9])).await;
    tap(&mut browser, &page, "#manual [data-action=end_turn]").await;
    let view = until(&mut feed, "hand2", |v| v["score"] == json!([0, 1])).await;
    assert_eq!(view["rack_winner"], 1, "{view}");

    // A correction without a reason is not sent.
    let seq = view["seq"].clone();
    tap(&mut browser, &page, "[data-adjust='0'][data-delta='1']").await;
    let shown = browser
        .wait_for(&page, CONSOLE, "the reason asked for", |v| {
            v["notice"]["kind"] == "notice error"
        })
        .await;
    assert!(
        shown["notice"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("needs a reason")),
        "{shown:#}"
    );
    let (_, now) = agent.get("/api/v1/tables/hand2").await;
    assert_eq!(now["seq"], seq, "nothing was sent: {now}");

    // +1 for Ann, −1 for Ann, then the score set: each with a reason.
    browser
        .eval(&page, &type_into("reason", "rack 1 was Ann's"))
        .await;
    tap(&mut browser, &page, "[data-adjust='0'][data-delta='1']").await;
    until(&mut feed, "hand2", |v| v["score"] == json!([1, 1])).await;
    browser
        .eval(&page, &type_into("reason", "no, it was not"))
        .await;
    tap(&mut browser, &page, "[data-adjust='0'][data-delta='-1']").await;
    until(&mut feed, "hand2", |v| v["score"] == json!([0, 1])).await;
    browser.eval(&page, &type_into("score0", "2")).await;
    browser.eval(&page, &type_into("score1", "1")).await;
    browser
        .eval(&page, &type_into("reason", "paper sheet"))
        .await;
    tap(&mut browser, &page, "#set-score").await;
    until(&mut feed, "hand2", |v| v["score"] == json!([2, 1])).await;
    let shown = browser
        .wait_for(&page, CONSOLE, "the corrected score", |v| {
            v["seats"] == json!(["Ann: 2", "Bo: 1"])
        })
        .await;
    assert_eq!(shown["notice"]["kind"], "notice ok", "{shown:#}");

    // Void: asked to confirm, then the match ends with nobody winning.
    browser
        .eval(&page, &type_into("reason", "players left"))
        .await;
    tap(&mut browser, &page, "#void-open").await;
    tap(&mut browser, &page, "#void-yes").await;
    let view = until(&mut feed, "hand2", |v| v["status"] == "finished").await;
    assert_eq!(view["match_winner"], Value::Null, "{view}");
    assert_eq!(
        view["match"]["voided"]["by"],
        json!({"role": "staff", "name": "Kim"}),
        "{view}"
    );
    let shown = browser
        .wait_for(&page, CONSOLE, "the void", |v| v["status"] == "Finished")
        .await;
    assert!(
        shown["flags"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("Voided: players left"))),
        "{shown:#}"
    );
    assert_eq!(
        shown["manual"], false,
        "no pad on a finished match: {shown:#}"
    );
    assert_eq!(
        sql_count(
            &dir,
            "SELECT count(*) FROM outbox WHERE kind = 'result_corrected'"
        ),
        3,
        "each correction goes to the cloud"
    );

    // Restarted, the agent replays the event log into the same table.
    let (_, before) = agent.get("/api/v1/tables/hand2").await;
    drop(feed);
    agent.stop().await;
    let agent = Agent::start(&dir).await;
    let (status, after) = agent.get("/api/v1/tables/hand2").await;
    assert_eq!(status, 200);
    assert_eq!(after, before, "the same table after a restart");
    agent.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
