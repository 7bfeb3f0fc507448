//! HTTP peers of the notification channels (feature `push`), each on a loopback port, each
//! checking what a real one checks:
//!
//! - [`PushEndpoint`]: a Web Push service (RFC 8030) for one browser subscription. It holds the
//!   browser's side — a P-256 key pair and an auth secret — and for each POST checks the VAPID
//!   `Authorization: vapid t=<JWT>, k=<key>` (RFC 8292: ES256 signature by `k`, audience, expiry)
//!   and decrypts the `aes128gcm` body (RFC 8291: ECDH + HKDF + AES-128-GCM) with its private
//!   key, so the test reads the text the browser would show.
//! - [`WebhookReceiver`]: an integration's endpoint that verifies `Dojo-Signature` (HMAC-SHA256
//!   over `"<t>.<body>"` with the shared secret, within 5 minutes) and keeps each delivery.
//!
//! Both answer the statuses queued with `respond_next` first (e.g. 503 twice), then success.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit as _, Mac as _};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike as _, ES256PublicKey};
use web_push_native::jwt_simple::claims::NoCustomClaims;
use web_push_native::jwt_simple::common::VerificationOptions;
use web_push_native::p256;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint as _;

/// One HTTP request as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Header names lower-cased, with their values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Default)]
struct Peer {
    received: Mutex<Vec<Received>>,
    statuses: Mutex<VecDeque<u16>>,
    arrived: Notify,
}

/// Reads one HTTP/1.1 request (Content-Length bodies) and answers `status`, closing.
async fn one_request(stream: TcpStream, peer: Arc<Peer>, ok: u16) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut headers = Vec::new();
    let mut line = String::new();
    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    let status = peer
        .statuses
        .lock()
        .expect("statuses")
        .pop_front()
        .unwrap_or(ok);
    if (200..300).contains(&status) {
        peer.received
            .lock()
            .expect("received")
            .push(Received { headers, body });
        peer.arrived.notify_waiters();
    }
    let _ = write
        .write_all(
            format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
}

async fn serve(ok: u16) -> (SocketAddr, Arc<Peer>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind peer");
    let addr = listener.local_addr().expect("peer address");
    let peer = Arc::new(Peer::default());
    let serving = peer.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(one_request(stream, serving.clone(), ok));
        }
    });
    (addr, peer, task)
}

async fn wait(peer: &Peer, count: usize, timeout: Duration) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let arrived = peer.arrived.notified();
        let received = peer.received.lock().expect("received").clone();
        if received.len() >= count || tokio::time::timeout_at(deadline, arrived).await.is_err() {
            return peer.received.lock().expect("received").clone();
        }
    }
}

/// A push service for one browser subscription.
#[derive(Debug)]
pub struct PushEndpoint {
    addr: SocketAddr,
    peer: Arc<Peer>,
    task: tokio::task::JoinHandle<()>,
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Drop for PushEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A push message as the browser would get it, and how it was authorised.
#[derive(Clone, Debug)]
pub struct PushMessage {
    /// The decrypted text.
    pub text: String,
    /// The VAPID public key (`k=`), base64url.
    pub vapid_key: String,
    /// The JWT's audience.
    pub audience: String,
}

impl PushEndpoint {
    /// Starts an endpoint with a fresh browser key pair; it answers 201 unless told otherwise.
    ///
    /// # Panics
    ///
    /// When no port can be bound.
    pub async fn start() -> PushEndpoint {
        let (addr, peer, task) = serve(201).await;
        let secret = loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        PushEndpoint {
            addr,
            peer,
            task,
            secret,
            auth: rand::random(),
        }
    }

    /// The subscription as a browser's `PushSubscription.toJSON()` gives it.
    #[must_use]
    pub fn subscription(&self) -> serde_json::Value {
        let point = self.secret.public_key().to_encoded_point(false);
        serde_json::json!({
            "endpoint": format!("http://{}/push/{}", self.addr, hex(&self.auth)),
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(point.as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            }
        })
    }

    /// Answers the next requests with these statuses (e.g. `[410]`).
    pub fn respond_next(&self, statuses: &[u16]) {
        self.peer
            .statuses
            .lock()
            .expect("statuses")
            .extend(statuses.iter().copied());
    }

    /// Waits (at most `timeout`) until `count` messages came; each checked and decrypted.
    ///
    /// # Panics
    ///
    /// When a message's VAPID signature or encryption does not check out.
    pub async fn messages(&self, count: usize, timeout: Duration) -> Vec<PushMessage> {
        wait(&self.peer, count, timeout)
            .await
            .into_iter()
            .map(|received| self.open(&received))
            .collect()
    }

    fn open(&self, received: &Received) -> PushMessage {
        assert_eq!(received.header("content-encoding"), Some("aes128gcm"));
        assert!(received.header("ttl").is_some(), "RFC 8030 requires TTL");
        let authorization = received
            .header("authorization")
            .expect("VAPID authorization");
        let rest = authorization.strip_prefix("vapid ").expect("vapid scheme");
        let mut token = "";
        let mut key = "";
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("t", value)) => token = value,
                Some(("k", value)) => key = value,
                _ => {}
            }
        }
        let public = URL_SAFE_NO_PAD.decode(key).expect("k is base64url");
        let verifier = ES256PublicKey::from_bytes(&public).expect("k is a P-256 point");
        let claims = verifier
            .verify_token::<NoCustomClaims>(token, Some(VerificationOptions::default()))
            .expect("the VAPID JWT verifies with k and has not expired");
        let audience = claims
            .audiences
            .map(|aud| aud.into_string().expect("one audience"))
            .expect("aud");
        assert!(
            format!("http://{}", self.addr).starts_with(&audience),
            "audience {audience} is this push service's origin"
        );
        assert!(claims.subject.is_some(), "VAPID sub (contact)");
        let text = web_push_native::decrypt(
            received.body.clone(),
            &self.secret,
            web_push_native::Auth::from_slice(&self.auth),
        )
        .expect("the body decrypts with the subscription's keys");
        PushMessage {
            text: String::from_utf8(text).expect("UTF-8"),
            vapid_key: key.to_owned(),
            audience,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An integration's webhook endpoint.
#[derive(Debug)]
pub struct WebhookReceiver {
    addr: SocketAddr,
    peer: Arc<Peer>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A delivery the receiver accepted.
#[derive(Clone, Debug)]
pub struct Hook {
    /// `Dojo-Delivery`.
    pub delivery: String,
    /// The JSON body.
    pub body: serde_json::Value,
    /// Whether `Dojo-Signature` verified with the secret given to [`WebhookReceiver::hooks`].
    pub verified: bool,
}

impl WebhookReceiver {
    /// Starts a receiver answering 204 unless told otherwise.
    ///
    /// # Panics
    ///
    /// When no port can be bound.
    pub async fn start() -> WebhookReceiver {
        let (addr, peer, task) = serve(204).await;
        WebhookReceiver { addr, peer, task }
    }

    /// Its URL.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/hooks/dojo", self.addr)
    }

    /// Answers the next requests with these statuses.
    pub fn respond_next(&self, statuses: &[u16]) {
        self.peer
            .statuses
            .lock()
            .expect("statuses")
            .extend(statuses.iter().copied());
    }

    /// Waits (at most `timeout`) for `count` accepted deliveries, each checked against `secret`.
    pub async fn hooks(&self, secret: &str, count: usize, timeout: Duration) -> Vec<Hook> {
        wait(&self.peer, count, timeout)
            .await
            .into_iter()
            .map(|received| Hook {
                delivery: received.header("dojo-delivery").unwrap_or("").to_owned(),
                verified: verify(
                    secret,
                    received.header("dojo-signature").unwrap_or(""),
                    &received.body,
                ),
                body: serde_json::from_slice(&received.body).unwrap_or_default(),
            })
            .collect()
    }
}

/// What a receiver does with `Dojo-Signature: t=<unix>,v1=<hex>`: HMAC-SHA256(secret,
/// "<t>.<body>") compared in constant time, `t` within 300 s of now.
#[must_use]
pub fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => signatures.push(value.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now.abs_diff(t) > 300 {
        return false;
    }
    signatures.iter().any(|signature| {
        let Some(bytes) = (0..signature.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(signature.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
        else {
            return false;
        };
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&bytes).is_ok()
    })
}
