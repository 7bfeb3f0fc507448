//! Access-token verification through real routes (RFC 8725's pitfalls): every forged, expired or
//! misdirected JWT gets a 401 with a JSON error, never a pass and never a fall-back to anonymous.
//! Two routes carry it: `GET /api/v1/sync/players` (a venue's route: a valid person's token is 403,
//! anything else 401) and `GET /api/v1/venues/{id}/matches` (open: a valid token reads, a bad
//! one is 401). The forgeries are made with the service's own secret where the attack needs it
//! (HS512, another `typ`, `iss` or `aud`, expired), read from `signing_keys` as an attacker with a
//! copy of the database would.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{App, Persona, spawn_app};
use cloud_sync::accounts::token::{self, AUDIENCE, ISSUER, TYP, now_secs};

/// The newest unretired signing key: its id and secret.
async fn signing_key(app: &App) -> (String, Vec<u8>) {
    sqlx::query_as(
        "SELECT kid, secret FROM signing_keys WHERE retired_at IS NULL
          ORDER BY created_at DESC, kid LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .expect("a signing key")
}

/// Valid claims for `persona`, as the service would issue them.
fn claims(persona: &Persona) -> Value {
    let now = now_secs();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": persona.id, "exp": now + 600, "iat": now,
           "sid": "s-1", "email_verified": true, "roles": []})
}

/// A JWT over `claims` with header fields `alg`, `typ`, `kid`, signed with `secret`.
fn sign(
    alg: Algorithm,
    typ: Option<&str>,
    kid: Option<&str>,
    claims: &Value,
    secret: &[u8],
) -> String {
    let mut header = Header::new(alg);
    header.typ = typ.map(str::to_owned);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_secret(secret).expect("a key");
    jsonwebtoken::encode(&header, claims, &key).expect("signs")
}

/// `header.payload.` with no signature, as `alg: none` would have it.
fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Each token is refused with 401 and a JSON `error` on both routes.
async fn assert_refused(app: &App, cases: &[(&str, String)]) {
    let matches = format!("/api/v1/venues/{}/matches", app.venue);
    let mut wrong = Vec::new();
    for (what, token) in cases {
        for path in ["/api/v1/sync/players", matches.as_str()] {
            let answer = app.call(Method::GET, path, Some(token), None).await;
            let has_error = answer.body["error"].as_str().is_some_and(|e| !e.is_empty());
            if answer.status != StatusCode::UNAUTHORIZED || !has_error {
                wrong.push(format!(
                    "{what} on {path}: {} {}",
                    answer.status, answer.body
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "tokens not refused:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn a_valid_token_is_a_person_and_every_forged_or_misdirected_one_is_401() {
    let app = spawn_app().await;
    let persona = app.persona("tok", true, &[]).await;
    let matches = format!("/api/v1/venues/{}/matches", app.venue);

    // The persona's own token: a person (403 on a venue's route), who may read (200).
    let answer = app
        .call(
            Method::GET,
            "/api/v1/sync/players",
            Some(&persona.token),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body["error"].is_string());
    let answer = app
        .call(Method::GET, &matches, Some(&persona.token), None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // The same claims re-signed with the real key, as the service would: also valid (so each
    // forgery below differs from a valid token by its one defect).
    let (kid, secret) = signing_key(&app).await;
    let good = claims(&persona);
    let resigned = sign(Algorithm::HS256, Some(TYP), Some(&kid), &good, &secret);
    let answer = app
        .call(Method::GET, "/api/v1/sync/players", Some(&resigned), None)
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);

    let with = |field: &str, value: Value| {
        let mut claims = good.clone();
        claims[field] = value;
        claims
    };
    let hs256 = |claims: &Value| sign(Algorithm::HS256, Some(TYP), Some(&kid), claims, &secret);
    let now = now_secs();
    let mut forged_signature = persona.token.clone();
    let last = forged_signature.pop().expect("a signature");
    forged_signature.push(if last == 'A' { 'B' } else { 'A' });
    // Claims changed (a role added) under the original signature.
    let mut parts: Vec<String> = persona.token.split('.').map(str::to_owned).collect();
    let mut escalated: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("base64")).expect("json");
    escalated["roles"] = json!([{"role": "admin", "venue_id": null}]);
    parts[1] = URL_SAFE_NO_PAD.encode(escalated.to_string());
    let escalated = parts.join(".");

    let cases = [
        (
            "alg: none",
            unsigned(&json!({"alg": "none", "typ": TYP, "kid": kid}), &good),
        ),
        (
            "alg: none, no kid",
            unsigned(&json!({"alg": "none", "typ": TYP}), &good),
        ),
        (
            "HS512 with the real key",
            sign(Algorithm::HS512, Some(TYP), Some(&kid), &good, &secret),
        ),
        (
            "HS384 with the real key",
            sign(Algorithm::HS384, Some(TYP), Some(&kid), &good, &secret),
        ),
        (
            "typ JWT",
            sign(Algorithm::HS256, Some("JWT"), Some(&kid), &good, &secret),
        ),
        (
            "no typ",
            sign(Algorithm::HS256, None, Some(&kid), &good, &secret),
        ),
        ("wrong iss", hs256(&with("iss", json!("someone-else")))),
        ("wrong aud", hs256(&with("aud", json!("another-api")))),
        (
            "aud as a list of others",
            hs256(&with("aud", json!(["x", "y"]))),
        ),
        ("no iss", {
            let mut claims = good.clone();
            if let Some(claims) = claims.as_object_mut() {
                claims.remove("iss");
            }
            hs256(&claims)
        }),
        ("no exp", {
            let mut claims = good.clone();
            if let Some(claims) = claims.as_object_mut() {
                claims.remove("exp");
            }
            hs256(&claims)
        }),
        (
            "expired an hour ago",
            hs256(&with("exp", json!(now - 3600))),
        ),
        (
            "unknown kid, the real key",
            sign(
                Algorithm::HS256,
                Some(TYP),
                Some("no-such-key"),
                &good,
                &secret,
            ),
        ),
        (
            "unknown kid, a key of the attacker's",
            sign(Algorithm::HS256, Some(TYP), Some("mine"), &good, &[7u8; 32]),
        ),
        (
            "the right kid, a key of the attacker's",
            sign(Algorithm::HS256, Some(TYP), Some(&kid), &good, &[7u8; 32]),
        ),
        (
            "no kid",
            sign(Algorithm::HS256, Some(TYP), None, &good, &secret),
        ),
        ("a forged signature", forged_signature),
        ("claims changed under the signature", escalated),
        ("not a JWT", "hello".to_owned()),
        ("empty parts", "..".to_owned()),
    ];
    assert_refused(&app, &cases).await;
}

#[tokio::test]
async fn rotation_keeps_tokens_and_a_retired_key_signs_nothing_that_counts() {
    let app = spawn_app().await;
    let persona = app.persona("rot", true, &[]).await;

    // Rotate: a new key signs from now on; the persona's token (old key) stays valid everywhere,
    // including on an instance that starts after the rotation.
    token::rotate(&app.pool).await.expect("rotate");
    let fresh = second_instance(&app).await;
    let answer = crate::helpers::answer(
        app.http
            .get(format!("http://{}/api/v1/sync/players", fresh.addr()))
            .bearer_auth(&persona.token)
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    fresh.shutdown().await;

    // Retire the old key: an instance holding the current key set refuses its tokens.
    assert_eq!(token::retire_old(&app.pool).await.expect("retire"), 1);
    let fresh = second_instance(&app).await;
    for path in [
        "/api/v1/sync/players".to_owned(),
        format!("/api/v1/venues/{}/matches", app.venue),
    ] {
        let answer = crate::helpers::answer(
            app.http
                .get(format!("http://{}{path}", fresh.addr()))
                .bearer_auth(&persona.token)
                .send()
                .await
                .expect("answered"),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{path}: {}",
            answer.body
        );
        assert!(answer.body["error"].is_string(), "{}", answer.body);
    }
    // A token issued now (new key) is valid there.
    let renewed = app.persona("rot2", true, &[]).await;
    let answer = crate::helpers::answer(
        app.http
            .get(format!("http://{}/api/v1/sync/players", fresh.addr()))
            .bearer_auth(&renewed.token)
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    fresh.shutdown().await;
}

#[tokio::test]
async fn keys_verify_names_each_defect() {
    let app = spawn_app().await;
    let persona = app.persona("why", true, &[]).await;
    let keys = token::Keys::load(app.pool.clone()).await.expect("keys");
    assert!(keys.verify(&persona.token).await.is_ok());
    let (kid, secret) = signing_key(&app).await;
    let mut expired = claims(&persona);
    expired["exp"] = json!(now_secs() - 3600);
    let cases = [
        (
            sign(
                Algorithm::HS256,
                Some("JWT"),
                Some(&kid),
                &claims(&persona),
                &secret,
            ),
            token::TokenError::WrongType,
        ),
        (
            sign(Algorithm::HS256, Some(TYP), Some(&kid), &expired, &secret),
            token::TokenError::Expired,
        ),
        (
            sign(
                Algorithm::HS256,
                Some(TYP),
                Some("gone"),
                &claims(&persona),
                &secret,
            ),
            token::TokenError::UnknownKey,
        ),
        (
            sign(
                Algorithm::HS512,
                Some(TYP),
                Some(&kid),
                &claims(&persona),
                &secret,
            ),
            token::TokenError::Invalid,
        ),
        (
            unsigned(
                &json!({"alg": "none", "typ": TYP, "kid": kid}),
                &claims(&persona),
            ),
            token::TokenError::Invalid,
        ),
    ];
    for (token, why) in cases {
        assert_eq!(keys.verify(&token).await, Err(why));
    }
}

/// Another instance on `app`'s database (it loads the signing keys as they are now).
async fn second_instance(app: &App) -> cloud_sync::Running {
    let mut config =
        cloud_sync::Config::new(app.db.url.clone(), Some(crate::helpers::REDIS.into()));
    config.redis_prefix = app.prefix.clone();
    config.project = false;
    cloud_sync::start(config).await.expect("another instance")
}
