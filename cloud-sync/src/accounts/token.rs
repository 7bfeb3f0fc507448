//! Access tokens: short-lived JWTs (RFC 8725 / RFC 9068). HS256 only (an allow-list of one: a
//! token naming any other algorithm, `none` included, is refused before its signature is looked
//! at), `typ: at+jwt`, `iss`, `aud`, `exp` and `iat` required, the key named by `kid`.
//!
//! Keys live in PostgreSQL (`signing_keys`), 256 random bits each, so every instance signs and
//! verifies alike: the newest unretired key signs, every unretired key verifies. [`Keys`] is this
//! instance's copy, reloaded when a token names a key it has not seen (at most once a second) and
//! every minute, so a key rotated or retired on one instance reaches the others within a minute.
//! Rotation (`cloud-sync keys rotate`) adds a key and logs nobody out; retiring a key ends the
//! tokens it signed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::policy::Grant;

/// The `iss` of every access token.
pub const ISSUER: &str = "dojopool-cloud";
/// The `aud` of every access token: this service's API.
pub const AUDIENCE: &str = "dojopool-api";
/// The JOSE `typ` of an access token (RFC 9068).
pub const TYP: &str = "at+jwt";
/// How long an access token lives.
pub const ACCESS_TTL: Duration = Duration::from_secs(10 * 60);

/// What an access token says. Roles ride in the token, so an authenticated read costs no query;
/// a grant or revocation reaches the caller's token at its next refresh (≤ [`ACCESS_TTL`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// The session (refresh-token family) this token belongs to.
    pub sid: String,
    /// Whether the user's email address is verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Roles beyond `player`.
    #[serde(default)]
    pub roles: Vec<Grant>,
}

/// Why a token was refused. Every variant answers 401 alike; the reason is for logs and tests.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, bad signature, wrong algorithm, `iss`, `aud`, missing claims.
    #[error("invalid access token")]
    Invalid,
    /// `typ` is not `at+jwt` (an ID token or some other JWT presented as an access token).
    #[error("not an access token")]
    WrongType,
    /// Expired.
    #[error("access token expired")]
    Expired,
    /// Signed by a key this service does not have (or has retired).
    #[error("access token signed by an unknown key")]
    UnknownKey,
}

/// Loading or making keys failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// PostgreSQL.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// No unretired key (never: [`Keys::load`] makes one).
    #[error("no signing key")]
    NoKey,
}

#[derive(Clone)]
struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    /// Newest first.
    keys: Vec<Key>,
    loaded: Option<Instant>,
}

/// This instance's copy of the signing keys. Cheap to clone.
#[derive(Clone)]
pub struct Keys {
    pool: PgPool,
    set: Arc<RwLock<KeySet>>,
    /// A background reload is under way (at most one at a time).
    reloading: Arc<AtomicBool>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        let kids: Vec<String> = self
            .set
            .read()
            .map(|set| set.keys.iter().map(|k| k.kid.clone()).collect())
            .unwrap_or_default();
        f.debug_struct("Keys").field("kids", &kids).finish()
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Adds a new signing key (it signs from now on, everywhere within a minute); returns its id.
///
/// # Errors
///
/// PostgreSQL.
pub async fn rotate(pool: &PgPool) -> Result<String, KeyError> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let kid = crate::infra::ids::new_id();
    sqlx::query("INSERT INTO signing_keys (kid, secret) VALUES ($1, $2)")
        .bind(&kid)
        .bind(&secret[..])
        .execute(pool)
        .await?;
    Ok(kid)
}

/// Retires every key but the newest (run at least [`ACCESS_TTL`] after [`rotate`]); returns how
/// many were retired.
///
/// # Errors
///
/// PostgreSQL.
pub async fn retire_old(pool: &PgPool) -> Result<u64, KeyError> {
    let done = sqlx::query(
        "UPDATE signing_keys SET retired_at = now()
          WHERE retired_at IS NULL
            AND kid <> (SELECT kid FROM signing_keys WHERE retired_at IS NULL
                         ORDER BY created_at DESC, kid LIMIT 1)",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

impl Keys {
    /// Loads the keys, making the first one if there is none.
    ///
    /// # Errors
    ///
    /// PostgreSQL.
    pub async fn load(pool: PgPool) -> Result<Keys, KeyError> {
        // Selects jsonwebtoken's RustCrypto backend for the process (an error only means one is
        // installed already).
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let keys = Keys {
            pool,
            set: Arc::new(RwLock::new(KeySet::default())),
            reloading: Arc::new(AtomicBool::new(false)),
        };
        keys.reload().await?;
        if keys.signing().is_none() {
            rotate(&keys.pool).await?;
            keys.reload().await?;
        }
        Ok(keys)
    }

    async fn reload(&self) -> Result<(), KeyError> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT kid, secret FROM signing_keys WHERE retired_at IS NULL
              ORDER BY created_at DESC, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        let keys = rows
            .into_iter()
            .filter_map(|(kid, secret)| {
                // A stored secret is at least 32 bytes (the table's check): never refused.
                let encoding = EncodingKey::from_secret(&secret).ok()?;
                let decoding = DecodingKey::from_secret(&secret).ok()?;
                Some(Key {
                    kid,
                    encoding,
                    decoding,
                })
            })
            .collect();
        if let Ok(mut set) = self.set.write() {
            set.keys = keys;
            set.loaded = Some(Instant::now());
        }
        Ok(())
    }

    fn signing(&self) -> Option<Key> {
        self.set.read().ok()?.keys.first().cloned()
    }

    fn decoding(&self, kid: &str) -> Option<DecodingKey> {
        let set = self.set.read().ok()?;
        set.keys
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| k.decoding.clone())
    }

    fn loaded_within(&self, age: Duration) -> bool {
        self.set
            .read()
            .ok()
            .and_then(|set| set.loaded)
            .is_some_and(|at| at.elapsed() < age)
    }

    /// Reloads in the background when the copy is a minute old: a request never waits for
    /// PostgreSQL here (during an outage the keys held go on verifying).
    fn refresh_if_stale(&self) {
        if self.loaded_within(Duration::from_secs(60))
            || self.reloading.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let keys = self.clone();
        tokio::spawn(async move {
            if let Err(error) = keys.reload().await {
                tracing::warn!(%error, "cannot reload signing keys; keeping the ones held");
            }
            keys.reloading.store(false, Ordering::Release);
        });
    }

    /// Signs an access token for `claims` (its `iss`, `aud`, `iat` and `exp` are set here).
    ///
    /// # Errors
    ///
    /// [`KeyError::NoKey`] if every key was retired since the last load.
    pub async fn issue(&self, mut claims: Claims) -> Result<String, KeyError> {
        self.refresh_if_stale();
        let key = self.signing().ok_or(KeyError::NoKey)?;
        let now = now_secs();
        claims.iss = ISSUER.into();
        claims.aud = AUDIENCE.into();
        claims.iat = now;
        claims.exp = now + ACCESS_TTL.as_secs();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TYP.into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(|error| {
            tracing::error!(%error, "cannot sign an access token");
            KeyError::NoKey
        })
    }

    /// Checks a presented access token.
    ///
    /// # Errors
    ///
    /// [`TokenError`]: every one means 401.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        if header.typ.as_deref() != Some(TYP) {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        self.refresh_if_stale();
        let decoding = match self.decoding(&kid) {
            Some(key) => key,
            None => {
                // A key made on another instance since the last load: look once, at most once a
                // second (an attacker's random kids cannot turn into a query each).
                if !self.loaded_within(Duration::from_secs(1)) {
                    let _ = self.reload().await;
                }
                self.decoding(&kid).ok_or(TokenError::UnknownKey)?
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &decoding, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}
