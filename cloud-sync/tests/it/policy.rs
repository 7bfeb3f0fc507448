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

/// Every person with an account whose email address is verified.
const VERIFIED: &[Who] = &[
    Who::Player,
    Who::ManagerA,
    Who::ManagerB,
    Who::OrganiserA,
    Who::Admin,
];

/// Who runs events at venue A: its organisers and managers, and administrators.
const WRITERS_A: &[Who] = &[Who::ManagerA, Who::OrganiserA, Who::Admin];

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
        // confirmations: what makes a result count needs a verified email address; what keeps
        // one out, or reads one's own, needs only the account. Another's result or check-in is
        // 404, not 403 (tests/it/confirmations.rs).
        Case {
            body: Some(json!({"venue_id": "{venue_a}"})),
            ..case(Method::POST, "/api/v1/me/checkins", VERIFIED)
        },
        case(Method::GET, "/api/v1/me/checkins", USERS),
        case(Method::DELETE, "/api/v1/me/checkins/1", USERS),
        case(Method::GET, "/api/v1/me/results", USERS),
        case(Method::POST, "/api/v1/me/results/1/confirm", VERIFIED),
        Case {
            body: Some(json!({"reason": "not me"})),
            ..case(Method::POST, "/api/v1/me/results/1/dispute", USERS)
        },
        case(Method::GET, "/api/v1/me/trusted-venues", USERS),
        case(Method::PUT, "/api/v1/me/trusted-venues/{venue_a}", VERIFIED),
        case(Method::DELETE, "/api/v1/me/trusted-venues/{venue_a}", USERS),
        case(
            Method::GET,
            "/api/v1/venues/{venue_a}/disputes",
            &[Who::ManagerA, Who::Admin],
        ),
        // accounts (auth): public sign-up, sign-in and links; the rest one's own account.
        case(Method::POST, "/api/v1/auth/register", EVERYONE),
        case(Method::POST, "/api/v1/auth/login", EVERYONE),
        case(Method::POST, "/api/v1/auth/refresh", EVERYONE),
        case(Method::POST, "/api/v1/auth/verify", EVERYONE),
        case(Method::POST, "/api/v1/auth/password/forgot", EVERYONE),
        case(Method::POST, "/api/v1/auth/password/reset", EVERYONE),
        case(Method::POST, "/api/v1/auth/verify/resend", USERS),
        case(Method::GET, "/api/v1/me", USERS),
        case(Method::PATCH, "/api/v1/me", USERS),
        case(Method::DELETE, "/api/v1/me", USERS),
        case(Method::POST, "/api/v1/me/password", USERS),
        case(Method::GET, "/api/v1/me/sessions", USERS),
        case(Method::DELETE, "/api/v1/me/sessions/{user}", USERS),
        case(Method::POST, "/api/v1/auth/logout", USERS),
        case(Method::GET, "/api/v1/matches/1", EVERYONE),
        case(Method::GET, "/api/v1/players/nobody", EVERYONE),
        case(Method::GET, "/api/v1/players/nobody/matches", EVERYONE),
        // roles: users and their roles (admin; a venue manager for their own venue's staff).
        case(Method::GET, "/api/v1/admin/users", &[Who::Admin]),
        case(Method::GET, "/api/v1/admin/users/{user}", &[Who::Admin]),
        Case {
            body: Some(json!({"role": "organiser", "venue_id": "{venue_a}"})),
            ..case(
                Method::POST,
                "/api/v1/admin/users/{user}/roles",
                &[Who::ManagerA, Who::Admin],
            )
        },
        Case {
            body: Some(json!({"role": "venue_manager", "venue_id": "{venue_b}"})),
            ..case(
                Method::DELETE,
                "/api/v1/admin/users/{user}/roles",
                &[Who::ManagerB, Who::Admin],
            )
        },
        Case {
            body: Some(json!({"role": "admin", "venue_id": null})),
            ..case(
                Method::POST,
                "/api/v1/admin/users/{user}/roles",
                &[Who::Admin],
            )
        },
        // roles: the audit log.
        case(Method::GET, "/api/v1/admin/audit", &[Who::Admin]),
        case(
            Method::GET,
            "/api/v1/venues/{venue_a}/audit",
            &[Who::ManagerA, Who::Admin],
        ),
        case(
            Method::GET,
            "/api/v1/venues/{venue_b}/audit",
            &[Who::ManagerB, Who::Admin],
        ),
        // roles: a venue's staff and keys (its managers, admins).
        case(
            Method::GET,
            "/api/v1/venues/{venue_a}/staff",
            &[Who::ManagerA, Who::Admin],
        ),
        Case {
            body: Some(json!({"user_id": "{user}", "role": "organiser"})),
            ..case(
                Method::POST,
                "/api/v1/venues/{venue_a}/staff",
                &[Who::ManagerA, Who::Admin],
            )
        },
        case(
            Method::GET,
            "/api/v1/venues/{venue_a}/keys",
            &[Who::ManagerA, Who::Admin],
        ),
        case(
            Method::GET,
            "/api/v1/venues/{venue_b}/keys",
            &[Who::ManagerB, Who::Admin],
        ),
        case(
            Method::POST,
            "/api/v1/venues/{venue_b}/keys",
            &[Who::ManagerB, Who::Admin],
        ),
        case(
            Method::DELETE,
            "/api/v1/venues/{venue_a}/keys/999999",
            &[Who::ManagerA, Who::Admin],
        ),
        case(Method::GET, "/api/v1/me/venues", USERS),
        // roles: player profiles (one's own), claims, gifts and merges.
        case(Method::GET, "/api/v1/me/player", USERS),
        Case {
            body: Some(json!({"player_id": "nobody"})),
            ..case(Method::POST, "/api/v1/me/player", USERS)
        },
        Case {
            body: Some(json!({"profile_public": true})),
            ..case(Method::PATCH, "/api/v1/me/privacy", USERS)
        },
        case(
            Method::GET,
            "/api/v1/admin/claims",
            &[Who::ManagerA, Who::ManagerB, Who::Admin],
        ),
        case(
            Method::POST,
            "/api/v1/admin/claims/999999/approve",
            &[Who::ManagerA, Who::ManagerB, Who::Admin],
        ),
        case(
            Method::POST,
            "/api/v1/admin/claims/999999/reject",
            &[Who::ManagerA, Who::ManagerB, Who::Admin],
        ),
        Case {
            body: Some(json!({"player_id": "nobody"})),
            ..case(
                Method::POST,
                "/api/v1/admin/users/{user}/player",
                &[Who::Admin],
            )
        },
        Case {
            body: Some(json!({"from": "nobody", "into": "noone"})),
            ..case(Method::POST, "/api/v1/admin/players/merge", &[Who::Admin])
        },
        // notifications: one's own; deliveries of everyone for administrators; the VAPID public
        // key is public. (The live WebSocket authenticates in its first message: notifications.rs.)
        case(Method::GET, "/api/v1/me/notifications", USERS),
        case(Method::GET, "/api/v1/me/notifications/unread", USERS),
        case(Method::POST, "/api/v1/me/notifications/1/read", USERS),
        case(Method::POST, "/api/v1/me/notifications/read-all", USERS),
        // An id nobody has (404 to everyone signed in; another's notification is 403, tested in
        // `notifications`).
        case(
            Method::GET,
            "/api/v1/me/notifications/999999999/deliveries",
            USERS,
        ),
        case(Method::GET, "/api/v1/me/notification-preferences", USERS),
        Case {
            body: Some(json!({"new_sign_in": {"email": true, "push": false, "webhook": false}})),
            ..case(Method::PUT, "/api/v1/me/notification-preferences", USERS)
        },
        case(Method::GET, "/api/v1/push/vapid-public-key", EVERYONE),
        case(Method::GET, "/api/v1/me/push-subscriptions", USERS),
        Case {
            body: Some(json!({"endpoint": "https://push.example.com/s/1",
                              "keys": {"p256dh": "x", "auth": "y"}})),
            ..case(Method::POST, "/api/v1/me/push-subscriptions", USERS)
        },
        case(Method::DELETE, "/api/v1/me/push-subscriptions/none", USERS),
        case(Method::GET, "/api/v1/me/webhooks", USERS),
        Case {
            body: Some(json!({"url": "https://hooks.example.com/dojo"})),
            ..case(Method::POST, "/api/v1/me/webhooks", USERS)
        },
        case(Method::DELETE, "/api/v1/me/webhooks/none", USERS),
        case(
            Method::GET,
            "/api/v1/admin/deliveries?status=failed",
            &[Who::Admin],
        ),
        // tournaments: writers are venue A's organisers and managers and administrators; the
        // reads are open ({tournament} is a public tournament at venue A, {private} one listed
        // for its writers only); registering needs a verified address; the pull, venue A's key.
        Case {
            body: Some(json!({"name": "Cup", "format": "swiss",
                              "starts_at": "2099-01-01T18:00:00Z"})),
            ..case(
                Method::POST,
                "/api/v1/venues/{venue_a}/tournaments",
                WRITERS_A,
            )
        },
        case(
            Method::GET,
            "/api/v1/venues/{venue_a}/tournaments",
            EVERYONE,
        ),
        case(Method::GET, "/api/v1/tournaments/{tournament}", EVERYONE),
        case(Method::GET, "/api/v1/tournaments/{private}", WRITERS_A),
        Case {
            body: Some(json!({"name": "Cup 2"})),
            ..case(Method::PATCH, "/api/v1/tournaments/{tournament}", WRITERS_A)
        },
        case(
            Method::POST,
            "/api/v1/tournaments/{tournament}/open-check-in",
            WRITERS_A,
        ),
        case(
            Method::POST,
            "/api/v1/tournaments/{tournament}/registrations",
            VERIFIED,
        ),
        case(
            Method::POST,
            "/api/v1/tournaments/{private}/registrations",
            &[Who::ManagerA, Who::OrganiserA, Who::Admin],
        ),
        case(
            Method::DELETE,
            "/api/v1/tournaments/{tournament}/registrations/me",
            USERS,
        ),
        case(
            Method::POST,
            "/api/v1/tournaments/{tournament}/check-in",
            USERS,
        ),
        case(Method::GET, "/api/v1/players/nobody/tournaments", EVERYONE),
        case(Method::GET, "/api/v1/sync/tournaments", &[Who::VenueA]),
        case(
            Method::DELETE,
            "/api/v1/tournaments/{tournament}",
            WRITERS_A,
        ),
    ]
}

/// A tournament at `venue` (listed for everyone or not), made directly in the database.
async fn tournament_at(app: &crate::helpers::App, venue: &str, public: bool) -> String {
    let id = cloud_sync::infra::ids::new_id();
    sqlx::query(
        "INSERT INTO tournaments (id, venue_id, name, format, starts_at, public, origin)
         VALUES ($1, $2, 'Cup', 'swiss', now() + interval '1 day', $3, 'cloud')",
    )
    .bind(&id)
    .bind(venue)
    .bind(public)
    .execute(&app.pool)
    .await
    .expect("tournament");
    id
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
    let tournament = tournament_at(&app, &venue_a, true).await;
    let private = tournament_at(&app, &venue_a, false).await;
    let mut wrong = Vec::new();
    for case in cases() {
        let fill = |text: &str| {
            text.replace("{venue_a}", &venue_a)
                .replace("{venue_b}", &venue_b)
                .replace("{user}", &player.id)
                .replace("{tournament}", &tournament)
                .replace("{private}", &private)
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
