//! The permission table: every route, called by every kind of caller, answers as the policy says
//! — the allowed get past authorization (not 401/403), anonymous callers get 401 and everyone
//! else 403, including "a venue manager of venue A on venue B". A route added to the service
//! adds its row here.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use cloud_sync::accounts::Role;

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    /// A player with a verified email address.
    Player,
    /// A player whose email address is not verified.
    Unverified,
    /// Venue manager of venue A.
    ManagerA,
    /// Venue manager of venue B.
    ManagerB,
    /// Organiser at venue A.
    OrganiserA,
    Admin,
    /// Venue A's key.
    VenueA,
}

const EVERYONE: &[Who] = &[
    Who::Anonymous,
    Who::Player,
    Who::Unverified,
    Who::ManagerA,
    Who::ManagerB,
    Who::OrganiserA,
    Who::Admin,
    Who::VenueA,
];
/// Every person with an account (not machines).
const USERS: &[Who] = &[
    Who::Player,
    Who::Unverified,
    Who::ManagerA,
    Who::ManagerB,
    Who::OrganiserA,
    Who::Admin,
];

/// One row: a route and a body (with `{venue_a}`, `{venue_b}`, `{user}` for the player persona's
/// id) and who may call it.
struct Case {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    allowed: &'static [Who],
}

fn case(method: Method, path: &'static str, allowed: &'static [Who]) -> Case {
    Case {
        method,
        path,
        body: None,
        allowed,
    }
}

/// The table. Rows are grouped by context.
fn cases() -> Vec<Case> {
    vec![
        // sync: a venue's machine identity only.
        Case {
            body: Some(json!({"venue_id": "{venue_a}", "epoch": "e", "records": []})),
            ..case(Method::POST, "/api/v1/sync/batches", &[Who::VenueA])
        },
        case(Method::GET, "/api/v1/sync/players", &[Who::VenueA]),
        case(Method::GET, "/api/v1/sync/players/snapshot", &[Who::VenueA]),
        // staff: a console PIN at venue A for its staff only; the staff list for venue A's key.
        Case {
            body: Some(json!({"venue_id": "{venue_a}", "pin": "482913"})),
            ..case(
                Method::PUT,
                "/api/v1/me/staff-pin",
                &[Who::ManagerA, Who::OrganiserA],
            )
        },
        Case {
            body: Some(json!({"venue_id": "{venue_a}"})),
            ..case(
                Method::DELETE,
                "/api/v1/me/staff-pin",
                &[Who::ManagerA, Who::OrganiserA],
            )
        },
        case(Method::GET, "/api/v1/sync/staff", &[Who::VenueA]),
        // reads: public.
        case(Method::GET, "/api/v1/venues", EVERYONE),
        case(Method::GET, "/api/v1/venues/{venue_a}/matches", EVERYONE),
    ]
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_policy_says() {
    let app = spawn_app().await;
    let (venue_b, _) = cloud_sync::venues::create_venue(&app.pool, "Other Hall")
        .await
        .expect("venue B");
    let venue_a = app.venue.clone();
    let player = app.persona("player", true, &[]).await;
    let callers = [
        (Who::Anonymous, None),
        (Who::Player, Some(player.token.clone())),
        (
            Who::Unverified,
            Some(app.persona("unverified", false, &[]).await.token),
        ),
        (
            Who::ManagerA,
            Some(
                app.persona("manager-a", true, &[(Role::VenueManager, Some(&venue_a))])
                    .await
                    .token,
            ),
        ),
        (
            Who::ManagerB,
            Some(
                app.persona("manager-b", true, &[(Role::VenueManager, Some(&venue_b))])
                    .await
                    .token,
            ),
        ),
        (
            Who::OrganiserA,
            Some(
                app.persona("organiser-a", true, &[(Role::Organiser, Some(&venue_a))])
                    .await
                    .token,
            ),
        ),
        (
            Who::Admin,
            Some(
                app.persona("admin", true, &[(Role::Admin, None)])
                    .await
                    .token,
            ),
        ),
        (Who::VenueA, Some(app.key.clone())),
    ];
    let mut wrong = Vec::new();
    for case in cases() {
        let fill = |text: &str| {
            text.replace("{venue_a}", &venue_a)
                .replace("{venue_b}", &venue_b)
                .replace("{user}", &player.id)
        };
        let path = fill(case.path);
        let body = case
            .body
            .as_ref()
            .and_then(|body| serde_json::from_str::<Value>(&fill(&body.to_string())).ok());
        for (who, bearer) in &callers {
            let answer = app
                .call(case.method.clone(), &path, bearer.as_deref(), body.as_ref())
                .await;
            let status = answer.status.as_u16();
            let allowed = case.allowed.contains(who);
            let ok = if allowed {
                status != 401 && status != 403
            } else if *who == Who::Anonymous {
                status == 401
            } else {
                status == 403
            };
            if !ok {
                wrong.push(format!(
                    "{} {path} as {who:?}: {status} {} (allowed: {allowed})",
                    case.method, answer.body
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "answers against the policy:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_table_names_everyone_and_every_user() {
    assert_eq!(EVERYONE.len(), 8);
    assert!(USERS.iter().all(|who| EVERYONE.contains(who)));
}
