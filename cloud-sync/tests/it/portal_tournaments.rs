//! The tournament pages in headless Chromium ([`dojo_testkit::browser`]) against the real API and
//! PostgreSQL: the shared bracket renderer as the portal serves it (under its strict CSP), a
//! tournament's page (entrants, registering with the button), a venue's upcoming and past
//! tournaments, and the organisers' create form. Personas are signed in as portal.js keeps a
//! session (the access token in `sessionStorage`).

use dojo_testkit::browser::{Browser, click};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{App, Persona, spawn_app};
use cloud_sync::accounts::Role;
use shared::bracket::{Bracket, Format, Options, Setup};

/// Opens `page` (path and query), signed in as `persona` when given: the access token is put in
/// `sessionStorage` before any script of the page runs, then the page is loaded in that tab.
async fn open(browser: &mut Browser, app: &App, persona: Option<&Persona>, page: &str) -> String {
    let tab = browser.open("about:blank").await;
    browser.call(Some(&tab), "Page.enable", json!({})).await;
    if let Some(persona) = persona {
        let source = format!(
            "sessionStorage.setItem('dojo.access', {:?});",
            persona.token
        );
        browser
            .call(
                Some(&tab),
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": source }),
            )
            .await;
    }
    browser
        .call(Some(&tab), "Page.navigate", json!({ "url": app.url(page) }))
        .await;
    // Evaluating while the navigation commits fails (CDP): let it commit first.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let path = page.split('?').next().unwrap_or(page);
    let loaded = "location.pathname + ' ' + document.readyState";
    let want = format!("{path} complete");
    browser
        .wait_for(&tab, loaded, "the page", |v| {
            v.as_str() == Some(want.as_str())
        })
        .await;
    tab
}

fn rows(table: &str) -> String {
    format!(
        "[...document.querySelectorAll('#{table} tbody tr')].map((tr) => \
         [...tr.querySelectorAll('td')].map((td) => td.textContent.trim()))"
    )
}

const XSS: &str = "<img src=x onerror=window.__xss=1>";

fn side(id: &str, round: u32, players: [Option<&str>; 2], stage: &str) -> Value {
    json!({"id": id, "round": round, "players": players, "status":
        if players.iter().all(Option::is_some) { "ready" } else { "waiting" },
        "winner": null, "score": null, "bye": false, "stage": stage, "race": [5, 5]})
}

/// An 8-player double elimination after the first winners' round: seeds 1–8 are Ann, Bob, Cy,
/// Dee, Eve, Fay, Gus and a name that is markup; Fay withdrew, so Cy's W1-4 is a bye.
fn double_elimination() -> Value {
    let done = |id: &str, players: [&str; 2], score: [u32; 2]| {
        json!({"id": id, "round": 1, "players": players, "status": "done",
            "winner": players[usize::from(score[1] > score[0])], "score": score, "bye": false,
            "stage": "winners", "race": [5, 5]})
    };
    let standing = |player: &str, rank: u32, wins: u32, losses: u32| {
        json!({"player": player, "rank": rank, "wins": wins, "losses": losses, "draws": 0,
            "racks_won": 0, "racks_lost": 0, "alive": true, "withdrawn": false})
    };
    json!({
        "matches": [
            done("W1-1", ["Ann", XSS], [5, 2]),
            done("W1-2", ["Dee", "Eve"], [5, 3]),
            done("W1-3", ["Bob", "Gus"], [4, 5]),
            {"id": "W1-4", "round": 1, "players": ["Cy", null], "status": "done", "winner": "Cy",
             "score": null, "bye": true, "stage": "winners", "race": [5, 5]},
            side("W2-1", 2, [Some("Ann"), Some("Dee")], "winners"),
            side("W2-2", 2, [Some("Gus"), Some("Cy")], "winners"),
            side("W3-1", 3, [None, None], "winners"),
            side("L1-1", 1, [Some(XSS), Some("Eve")], "losers"),
            side("L1-2", 1, [Some("Bob"), None], "losers"),
            side("L2-1", 2, [None, None], "losers"),
            side("GF1", 1, [None, None], "grand_final"),
        ],
        "standings": [
            standing("Ann", 1, 1, 0), standing("Dee", 1, 1, 0), standing("Gus", 1, 1, 0),
            standing("Cy", 1, 1, 0), standing("Bob", 5, 0, 1), standing("Eve", 5, 0, 1),
            standing(XSS, 5, 0, 1),
            {"player": "Fay", "rank": 8, "wins": 0, "losses": 0, "racks_won": 0,
             "racks_lost": 0, "alive": false, "withdrawn": true},
        ],
        "complete": false,
        "reset": [],
    })
}

/// Draws `view` with the portal's own copy of the renderer (on the tournament page, which loads
/// it) and a link for W1-1 only.
fn render(view: &Value) -> String {
    format!(
        "(() => {{ DojoBracket.render(document.getElementById('bracket'), {view}, \
         {{ matchHref: (m) => m.id === 'W1-1' ? '/portal/match?id=7' \
            : (m.id === 'W1-2' ? 'javascript:window.__xss=2' : null) }}); return true; }})()"
    )
}

#[tokio::test]
async fn the_renderer_draws_both_sides_of_a_double_elimination_as_text() {
    let app = spawn_app().await;
    let mut browser = Browser::launch().await;
    let tab = open(&mut browser, &app, None, "/portal/tournament").await;
    let view = double_elimination();
    browser
        .wait_for(&tab, &render(&view), "the renderer", |v| v == true)
        .await;
    let drawn = browser
        .eval(
            &tab,
            "(() => { const b = document.getElementById('bracket'); \
               const names = (id) => [...b.querySelectorAll('[data-match=\"' + id + '\"] .db-player .db-name')].map((n) => n.textContent); \
               return { \
                 sides: [...b.querySelectorAll('section[data-stage]')].map((s) => s.dataset.stage), \
                 w11: names('W1-1'), \
                 w11winner: b.querySelector('[data-match=\"W1-1\"] .db-winner .db-name').textContent, \
                 w11link: b.querySelector('[data-match=\"W1-1\"] a.db-match-id').getAttribute('href'), \
                 w12links: b.querySelectorAll('[data-match=\"W1-2\"] a').length, \
                 winnersHas: [...b.querySelectorAll('section[data-stage=winners] [data-match]')].map((m) => m.dataset.match), \
                 losersHas: [...b.querySelectorAll('section[data-stage=losers] [data-match]')].map((m) => m.dataset.match), \
                 bye: b.querySelector('[data-match=\"W1-4\"]').classList.contains('db-bye'), \
                 byeText: b.querySelector('[data-match=\"W1-4\"] .db-status').textContent, \
                 ready: b.querySelector('[data-match=\"W2-1\"]').classList.contains('db-ready'), \
                 waiting: b.querySelector('[data-match=\"W3-1\"]').classList.contains('db-waiting'), \
                 images: b.querySelectorAll('img').length, \
                 xss: window.__xss === undefined ? null : window.__xss, \
                 withdrawn: b.querySelector('.db-standings .db-withdrawn .db-name').textContent, \
                 ranks: [...b.querySelectorAll('.db-standings .db-rank')].map((r) => r.textContent), \
                 inline: b.querySelectorAll('[style]').length }; })()",
        )
        .await;
    assert_eq!(
        drawn["sides"],
        json!(["winners", "losers", "finals", "standings"])
    );
    assert_eq!(
        drawn["w11"],
        json!(["Ann", XSS]),
        "seed 1 v seed 8, as text"
    );
    assert_eq!(drawn["w11winner"], "Ann");
    assert_eq!(drawn["w11link"], "/portal/match?id=7");
    assert_eq!(drawn["w12links"], 0, "a javascript: link is never set");
    assert_eq!(
        drawn["winnersHas"],
        json!(["W1-1", "W1-2", "W1-3", "W1-4", "W2-1", "W2-2", "W3-1"])
    );
    assert_eq!(drawn["losersHas"], json!(["L1-1", "L1-2", "L2-1"]));
    assert_eq!(drawn["bye"], true);
    assert_eq!(drawn["byeText"], "bye");
    assert_eq!(drawn["ready"], true);
    assert_eq!(drawn["waiting"], true);
    assert_eq!(drawn["images"], 0, "a name is never markup");
    assert_eq!(drawn["xss"], Value::Null);
    assert_eq!(drawn["withdrawn"], "Faywithdrew");
    assert_eq!(
        drawn["ranks"],
        json!(["1", "1", "1", "1", "5", "5", "5", "8"])
    );
    assert_eq!(drawn["inline"], 0, "no inline style (strict CSP)");

    // The real engine's 8-player double elimination: both sides, seed 1 v seed 8 in W1-1.
    let mut players: Vec<String> = ["Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus"]
        .map(str::to_owned)
        .to_vec();
    players.push(XSS.to_owned());
    let engine = Bracket::new(Setup {
        format: Format::DoubleElimination,
        players,
        options: Options::default(),
    })
    .expect("a bracket");
    let view = serde_json::to_value(engine.view()).expect("json");
    browser.eval(&tab, &render(&view)).await;
    let drawn = browser
        .eval(
            &tab,
            "(() => { const b = document.getElementById('bracket'); return { \
               sides: [...b.querySelectorAll('section[data-stage]')].map((s) => s.dataset.stage), \
               w11: [...b.querySelectorAll('[data-match=\"W1-1\"] .db-player .db-name')].map((n) => n.textContent), \
               losers: b.querySelectorAll('section[data-stage=losers] [data-match]').length, \
               images: b.querySelectorAll('img').length }; })()",
        )
        .await;
    let sides = drawn["sides"].as_array().cloned().unwrap_or_default();
    assert!(
        sides.contains(&json!("winners")) && sides.contains(&json!("losers")),
        "{drawn}"
    );
    assert_eq!(drawn["w11"], json!(["Ann", XSS]));
    assert!(drawn["losers"].as_u64().is_some_and(|n| n > 0), "{drawn}");
    assert_eq!(drawn["images"], 0);

    // Drawing again replaces what was there.
    browser.eval(&tab, &render(&view)).await;
    let count = browser
        .eval(
            &tab,
            "document.querySelectorAll('#bracket .dojo-bracket').length",
        )
        .await;
    assert_eq!(count, 1);
}

#[tokio::test]
async fn the_renderer_draws_groups_and_swiss_as_tables() {
    let app = spawn_app().await;
    let mut browser = Browser::launch().await;
    let tab = open(&mut browser, &app, None, "/portal/tournament").await;
    let game = |id: &str, stage: &str, group: Option<&str>, players: [&str; 2], score: [u32; 2]| {
        json!({"id": id, "round": 1, "players": players, "status": "done",
            "winner": players[usize::from(score[1] > score[0])], "score": score, "bye": false,
            "stage": stage, "group": group, "race": [3, 3]})
    };
    let standing = |player: &str, rank: u32, group: Option<&str>, buchholz: Option<u32>| {
        json!({"player": player, "rank": rank, "wins": 1, "losses": 0, "racks_won": 3,
            "racks_lost": 1, "group": group, "buchholz": buchholz,
            "median_buchholz": buchholz, "alive": true})
    };
    let groups = json!({
        "matches": [
            game("AR1-1", "group", Some("A"), ["Ann", "Bob"], [3, 1]),
            game("BR1-1", "group", Some("B"), ["Cy", "Dee"], [0, 3]),
            side("W1-1", 1, [None, None], "winners"),
        ],
        "standings": [
            standing("Ann", 1, Some("A"), None), standing("Bob", 2, Some("A"), None),
            standing("Dee", 1, Some("B"), None), standing("Cy", 2, Some("B"), None),
        ],
        "complete": false, "reset": [],
    });
    browser
        .wait_for(&tab, &render(&groups), "the renderer", |v| v == true)
        .await;
    let drawn = browser
        .eval(
            &tab,
            "(() => { const b = document.getElementById('bracket'); return { \
               groups: [...b.querySelectorAll('.db-group')].map((g) => g.dataset.group), \
               cell: b.querySelector('.db-group[data-group=A] td[data-match=\"AR1-1\"]').textContent, \
               win: b.querySelector('.db-group[data-group=A] td[data-match=\"AR1-1\"]').classList.contains('db-win'), \
               knockout: b.querySelector('section[data-stage=winners] .db-title').textContent }; })()",
        )
        .await;
    assert_eq!(drawn["groups"], json!(["A", "B"]));
    assert_eq!(drawn["cell"], "3\u{2013}1", "Ann's row: her score first");
    assert_eq!(drawn["win"], true);
    assert_eq!(drawn["knockout"], "Knockout");

    let swiss = json!({
        "matches": [game("S1-1", "swiss", None, ["Ann", "Bob"], [3, 2])],
        "standings": [standing("Ann", 1, None, Some(4)), standing("Bob", 2, None, Some(3))],
        "complete": false, "reset": [],
    });
    browser.eval(&tab, &render(&swiss)).await;
    let drawn = browser
        .eval(
            &tab,
            "(() => { const b = document.getElementById('bracket'); return { \
               sides: [...b.querySelectorAll('section[data-stage]')].map((s) => s.dataset.stage), \
               head: [...b.querySelectorAll('.db-standings th')].map((t) => t.textContent), \
               first: [...b.querySelectorAll('.db-standings tbody tr:first-child td')].map((t) => t.textContent) }; })()",
        )
        .await;
    assert_eq!(drawn["sides"], json!(["swiss", "standings"]));
    assert_eq!(
        drawn["head"],
        json!(["#", "Player", "W", "L", "Racks", "Buchholz", "Median"])
    );
    assert_eq!(
        drawn["first"],
        json!(["1", "Ann", "1", "0", "3\u{2013}1", "4", "4"])
    );
}

/// An RFC 3339 instant `days` from now (PostgreSQL's clock, as the service's).
async fn in_days(app: &App, days: i32) -> String {
    sqlx::query_scalar(
        "SELECT to_char((now() + make_interval(days => $1)) AT TIME ZONE 'UTC',
                        'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    )
    .bind(days)
    .fetch_one(&app.pool)
    .await
    .expect("now")
}

/// A tournament created through the API by `organiser`; its id as text.
async fn create(app: &App, organiser: &Persona, name: &str) -> String {
    let starts = in_days(app, 2).await;
    let created = app
        .call(
            Method::POST,
            &format!("/api/v1/venues/{}/tournaments", app.venue),
            Some(&organiser.token),
            Some(&json!({"name": name, "format": "double-elimination", "starts_at": starts})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    match &created.body["id"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn a_player_registers_with_the_button_and_sees_it() {
    let app = spawn_app().await;
    let organiser = app
        .persona("orga", true, &[(Role::Organiser, Some(&app.venue))])
        .await;
    let id = create(&app, &organiser, "Friday <b>9-ball</b>").await;
    let early = app.persona("early", true, &[]).await;
    let registered = app
        .call(
            Method::POST,
            &format!("/api/v1/tournaments/{id}/registrations"),
            Some(&early.token),
            None,
        )
        .await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    // Registering made early a (private) player profile: public, their name shows to others.
    let mine = app
        .call(Method::GET, "/api/v1/me/player", Some(&early.token), None)
        .await;
    let early_player = mine.body["player"]["id"].as_str().expect("a player");
    app.make_public(early_player).await;

    let ann = app.persona("ann", true, &[]).await;
    let mut browser = Browser::launch().await;
    let page = format!("/portal/tournament?id={id}");
    let tab = open(&mut browser, &app, Some(&ann), &page).await;
    let entrants = browser
        .wait_for(&tab, &rows("entrants"), "the first entrant", |v| {
            v.as_array().is_some_and(|r| r.len() == 1)
        })
        .await;
    assert_eq!(entrants[0][1], "early");
    assert_eq!(entrants[0][2], "registered");
    let title = browser
        .eval(&tab, "document.getElementById('t-name').textContent")
        .await;
    assert_eq!(title, "Friday <b>9-ball</b>", "a name shows as text");
    let venue = browser
        .eval(&tab, "document.getElementById('t-venue').textContent")
        .await;
    assert_eq!(venue, "Test Hall");
    let bracket = browser
        .eval(
            &tab,
            "document.querySelector('#bracket .db-empty').textContent",
        )
        .await;
    assert!(
        bracket
            .as_str()
            .is_some_and(|t| t.contains("bracket is drawn"))
    );

    browser
        .wait_for(&tab, &click("#register"), "the Register button", |v| {
            v == true
        })
        .await;
    browser
        .wait_for(
            &tab,
            "document.getElementById('you').textContent",
            "registered",
            |v| v == "You are registered.",
        )
        .await;
    let entrants = browser
        .wait_for(&tab, &rows("entrants"), "two entrants", |v| {
            v.as_array().is_some_and(|r| r.len() == 2)
        })
        .await;
    assert_eq!(entrants[1][2], "registered", "{entrants}");
    assert_eq!(entrants[0][1], "early");
    let buttons = browser
        .eval(
            &tab,
            "['register', 'withdraw', 'organiser'].map((id) => document.getElementById(id).hidden)",
        )
        .await;
    assert_eq!(buttons, json!([true, false, true]));
    let stored = app
        .call(
            Method::GET,
            &format!("/api/v1/tournaments/{id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(stored.body["you"]["status"], "registered");

    // Someone registering elsewhere reaches the open page by itself (live feed, or the poll).
    let late = app.persona("late", true, &[]).await;
    let registered = app
        .call(
            Method::POST,
            &format!("/api/v1/tournaments/{id}/registrations"),
            Some(&late.token),
            None,
        )
        .await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    browser
        .wait_for(&tab, &rows("entrants"), "the third entrant, live", |v| {
            v.as_array().is_some_and(|r| r.len() == 3)
        })
        .await;

    // Withdrawing with the button.
    browser
        .wait_for(&tab, &click("#withdraw"), "the Withdraw button", |v| {
            v == true
        })
        .await;
    browser
        .wait_for(
            &tab,
            "document.getElementById('register').hidden",
            "Register again",
            |v| v == false,
        )
        .await;
    let stored = app
        .call(
            Method::GET,
            &format!("/api/v1/tournaments/{id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(stored.body["you"], Value::Null);
}

#[tokio::test]
async fn the_venue_list_shows_upcoming_and_past() {
    let app = spawn_app().await;
    let organiser = app
        .persona("orga", true, &[(Role::Organiser, Some(&app.venue))])
        .await;
    let coming = create(&app, &organiser, "Coming up").await;
    let gone = create(&app, &organiser, "Called off").await;
    let cancelled = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tournaments/{gone}"),
            Some(&organiser.token),
            None,
        )
        .await;
    assert!(cancelled.status.is_success(), "{cancelled:?}");

    let mut browser = Browser::launch().await;
    let page = format!("/portal/tournaments?venue={}", app.venue);
    let tab = open(&mut browser, &app, None, &page).await;
    let upcoming = browser
        .wait_for(&tab, &rows("upcoming"), "the upcoming one", |v| {
            v.as_array().is_some_and(|r| r.len() == 1)
        })
        .await;
    assert_eq!(upcoming[0][1], "Coming up");
    let past = browser
        .wait_for(&tab, &rows("past"), "the cancelled one", |v| {
            v.as_array().is_some_and(|r| r.len() == 1)
        })
        .await;
    assert_eq!(past[0][1], "Called off");
    assert_eq!(past[0][3], "Cancelled");
    let link = browser
        .eval(
            &tab,
            "document.querySelector('#upcoming tbody a').getAttribute('href')",
        )
        .await;
    assert_eq!(link, Value::from(format!("/portal/tournament?id={coming}")));
    let organise = browser
        .eval(&tab, "document.getElementById('organise').hidden")
        .await;
    assert_eq!(organise, true, "only organisers are offered the form");
}

#[tokio::test]
async fn an_organiser_creates_a_tournament_with_the_form() {
    let app = spawn_app().await;
    let organiser = app
        .persona("orga", true, &[(Role::Organiser, Some(&app.venue))])
        .await;
    let mut browser = Browser::launch().await;
    let page = format!("/portal/organise?venue={}", app.venue);
    let tab = open(&mut browser, &app, Some(&organiser), &page).await;
    browser
        .wait_for(&tab, "document.body.dataset.ready", "the form", |v| {
            v == "true"
        })
        .await;
    let fill = "(() => { const set = (id, v) => { document.getElementById(id).value = v; }; \
                set('name', 'Sunday Swiss'); set('format', 'swiss'); set('rounds', '4'); \
                set('race-to', '5'); set('cap', '16'); \
                const d = new Date(Date.now() + 3 * 86400000); d.setSeconds(0, 0); \
                const local = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); \
                set('starts-at', local); \
                document.getElementById('create').requestSubmit(); return true; })()";
    browser.eval(&tab, fill).await;
    let title = browser
        .wait_for(
            &tab,
            "location.pathname === '/portal/tournament' && document.body.dataset.ready === 'true' \
             ? document.getElementById('t-name').textContent : null",
            "the new tournament's page",
            |v| v.is_string(),
        )
        .await;
    assert_eq!(title, "Sunday Swiss");
    let id = browser
        .eval(&tab, "new URLSearchParams(location.search).get('id')")
        .await;
    let id = id.as_str().expect("an id").to_owned();
    let stored = app
        .call(
            Method::GET,
            &format!("/api/v1/tournaments/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(stored.status, 200);
    assert_eq!(stored.body["format"], "swiss");
    assert_eq!(stored.body["cap"], 16);
    assert_eq!(stored.body["options"]["rounds"], 4);
    assert_eq!(stored.body["options"]["race"]["to"], 5);
    assert_eq!(stored.body["venue_id"], Value::from(app.venue.clone()));

    // A player without a role is refused by the API, and the page says so.
    let ann = app.persona("ann", true, &[]).await;
    let tab = open(&mut browser, &app, Some(&ann), &page).await;
    browser
        .wait_for(&tab, "document.body.dataset.ready", "the form", |v| {
            v == "true"
        })
        .await;
    let fill = "(() => { document.getElementById('name').value = 'Mine'; \
                document.getElementById('starts-at').value = '2030-01-01T20:00'; \
                document.getElementById('create').requestSubmit(); return true; })()";
    browser.eval(&tab, fill).await;
    browser
        .wait_for(
            &tab,
            "document.getElementById('message').className",
            "an error",
            |v| v == "message error",
        )
        .await;
    assert_eq!(
        app.count("SELECT count(*) FROM tournaments WHERE name = 'Mine'")
            .await,
        0
    );
}

#[tokio::test]
async fn my_results_lists_my_tournaments() {
    let app = spawn_app().await;
    let organiser = app
        .persona("orga", true, &[(Role::Organiser, Some(&app.venue))])
        .await;
    let id = create(&app, &organiser, "Monday league night").await;
    let ann = app.persona("ann", true, &[]).await;
    let registered = app
        .call(
            Method::POST,
            &format!("/api/v1/tournaments/{id}/registrations"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    let mut browser = Browser::launch().await;
    let tab = open(&mut browser, &app, Some(&ann), "/portal/results").await;
    let listed = browser
        .wait_for(&tab, &rows("my-tournaments"), "my tournament", |v| {
            v.as_array().is_some_and(|r| r.len() == 1)
        })
        .await;
    assert_eq!(listed[0][1], "Monday league night");
    assert_eq!(listed[0][2], "Test Hall");
    let link = browser
        .eval(
            &tab,
            "document.querySelector('#my-tournaments tbody a').getAttribute('href')",
        )
        .await;
    assert_eq!(link, Value::from(format!("/portal/tournament?id={id}")));
}
