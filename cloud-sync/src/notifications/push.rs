//! The Web Push channel: RFC 8030 delivery to each subscribed browser's push service, the message
//! encrypted for that browser (RFC 8291, `aes128gcm`) and the request signed with our VAPID key
//! (RFC 8292), both by `web-push-native`. A 404 or 410 from the push service means the browser
//! dropped the subscription: it is removed.
//!
//! The VAPID key pair lives in PostgreSQL (`vapid_keys`, one row), so every instance signs with
//! the same key and browsers' subscriptions (made against its public key) stay valid across
//! instances and restarts; `cloud-sync push keygen` makes it (`--rotate` replaces it, which
//! invalidates every subscription).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike as _, ES256KeyPair};
use web_push_native::{Auth, WebPushBuilder, p256};

use super::outbox::{Delivery, Outcome};

/// The server's VAPID identity.
pub struct Vapid {
    key: ES256KeyPair,
    /// The public key, uncompressed P-256 point, base64url (what browsers pass to
    /// `pushManager.subscribe` as `applicationServerKey`).
    pub public_key: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

fn public_of(key: &ES256KeyPair) -> String {
    URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed())
}

/// The VAPID key pair, if `push keygen` made one.
///
/// # Errors
///
/// PostgreSQL.
pub async fn load(pool: &sqlx::PgPool) -> Result<Option<Vapid>, sqlx::Error> {
    let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT private_key FROM vapid_keys")
        .fetch_optional(pool)
        .await?;
    Ok(row.and_then(|(bytes,)| {
        let key = ES256KeyPair::from_bytes(&bytes).ok()?;
        Some(Vapid {
            public_key: public_of(&key),
            key,
        })
    }))
}

/// Makes the VAPID key pair unless one exists (or replaces it when `rotate`); returns the public
/// key and whether it is new.
///
/// # Errors
///
/// PostgreSQL.
pub async fn keygen(pool: &sqlx::PgPool, rotate: bool) -> Result<(String, bool), sqlx::Error> {
    if !rotate && let Some(existing) = load(pool).await? {
        return Ok((existing.public_key, false));
    }
    let key = ES256KeyPair::generate();
    sqlx::query(
        "INSERT INTO vapid_keys (id, private_key, public_key) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET private_key = $1, public_key = $2, created_at = now()",
    )
    .bind(key.to_bytes())
    .bind(public_of(&key))
    .execute(pool)
    .await?;
    Ok((public_of(&key), true))
}

/// A browser's subscription keys, checked.
#[derive(Clone, Debug)]
pub struct Keys {
    public: p256::PublicKey,
    auth: Auth,
}

/// Decodes the subscription's `p256dh` (65-byte point) and `auth` (16 bytes), base64url.
pub fn decode_keys(p256dh: &str, auth: &str) -> Option<Keys> {
    let point = URL_SAFE_NO_PAD.decode(p256dh.trim_end_matches('=')).ok()?;
    let public = p256::PublicKey::from_sec1_bytes(&point).ok()?;
    let auth = URL_SAFE_NO_PAD.decode(auth.trim_end_matches('=')).ok()?;
    if auth.len() != 16 {
        return None;
    }
    Some(Keys {
        public,
        auth: Auth::clone_from_slice(&auth),
    })
}

/// What the browser's service worker receives (decrypted): short, no secrets.
pub fn message(delivery: &Delivery, public_url: &str) -> String {
    json!({
        "title": "DojoPool",
        "body": super::email::summary(&delivery.kind, &delivery.payload),
        "kind": delivery.kind,
        "notification_id": delivery.notification_id,
        "url": format!("{public_url}/portal/notifications"),
    })
    .to_string()
}

/// Sends `text` to the subscription at `endpoint`; `gone` is set when the push service says the
/// subscription no longer exists.
pub async fn send(
    http: &reqwest::Client,
    vapid: &Vapid,
    subject: &str,
    endpoint: &str,
    keys: &Keys,
    text: &str,
) -> (Outcome, bool) {
    let Ok(uri) = endpoint.parse::<http::Uri>() else {
        return (
            Outcome::Failed("the subscription's endpoint is not a URL".into()),
            true,
        );
    };
    let request = WebPushBuilder::new(uri, keys.public, keys.auth)
        .with_valid_duration(std::time::Duration::from_secs(24 * 3600))
        .with_vapid(&vapid.key, subject)
        .build(text.as_bytes().to_vec());
    let request = match request.map(reqwest::Request::try_from) {
        Ok(Ok(request)) => request,
        Ok(Err(error)) => return (Outcome::Failed(format!("push request: {error}")), false),
        Err(error) => return (Outcome::Failed(format!("push encryption: {error}")), false),
    };
    match http.execute(request).await {
        Ok(response) => {
            let status = response.status();
            if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
                (
                    Outcome::Failed(format!(
                        "the push service dropped the subscription (HTTP {})",
                        status.as_u16()
                    )),
                    true,
                )
            } else {
                (super::webhook::http_outcome(status), false)
            }
        }
        Err(error) => (
            Outcome::Retry(format!(
                "push: {}",
                if error.is_timeout() {
                    "timed out"
                } else {
                    "cannot reach the push service"
                }
            )),
            false,
        ),
    }
}
