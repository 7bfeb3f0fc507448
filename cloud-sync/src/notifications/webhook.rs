//! The webhook channel for integrations: each delivery POSTs JSON to the user's URL, signed with
//! the webhook's secret so the receiver knows it came from us and is fresh:
//!
//! `Dojo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` and
//! `Dojo-Delivery: <delivery id>` (the same id on every retry: receivers deduplicate on it).
//!
//! A receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in constant
//! time, and refuses a `t` more than 5 minutes from its clock ([`verify`] does exactly that).
//!
//! URLs must be http(s); addresses that are private, loopback, link-local or otherwise not on the
//! internet are refused (server-side request forgery) both when the webhook is registered and
//! when each request is made (the resolver checks every address a name resolves to, so a name
//! re-pointed at 127.0.0.1 later is refused too), unless `--webhook-allow-private`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit as _, Mac as _};
use serde_json::{Value, json};

use super::outbox::{Delivery, Outcome};

type HmacSha256 = hmac::Hmac<hmac_sha256::Sha256>;

/// How far a receiver should accept a signature's timestamp from its own clock.
pub const TOLERANCE: Duration = Duration::from_secs(300);

/// The secret shown once when a webhook is made.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Dojo-Signature` value for `body` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex(&tag))
}

/// What a receiver does: whether `header` signs `body` with `secret` within [`TOLERANCE`] of
/// `now` (unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => tags.push(value),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if now.abs_diff(timestamp) > TOLERANCE.as_secs() {
        return false;
    }
    tags.into_iter().any(|tag| {
        let Some(bytes) = unhex(tag) else {
            return false;
        };
        mac(secret, timestamp, body).verify_slice(&bytes).is_ok()
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Why a webhook URL is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// Not a URL, or not http(s).
    #[error("the webhook URL must be an http:// or https:// URL")]
    Scheme,
    /// A private, loopback or link-local address.
    #[error("the webhook URL points at a private or loopback address")]
    Private,
}

/// Checks a webhook URL as given: http(s), a host, no private address literal, at most 2,000
/// characters. (Names are checked at each request, by the resolver.)
///
/// # Errors
///
/// [`UrlError`].
pub fn check_url(text: &str, allow_private: bool) -> Result<reqwest::Url, UrlError> {
    if text.len() > 2000 {
        return Err(UrlError::Scheme);
    }
    let url = reqwest::Url::parse(text).map_err(|_| UrlError::Scheme)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    let ip = match url.host() {
        None => return Err(UrlError::Scheme),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            if name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost") {
                Some(IpAddr::from([127, 0, 0, 1]))
            } else {
                None
            }
        }
    };
    if !allow_private && ip.is_some_and(|ip| !is_public(ip)) {
        return Err(UrlError::Private);
    }
    Ok(url)
}

/// A resolver that refuses names resolving to non-public addresses.
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() || addrs.iter().any(|addr| !is_public(addr.ip())) {
                return Err(Box::new(UrlError::Private) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client webhooks (and Web Push) are sent with: no redirects (a redirect could lead to a
/// private address), a 10 s deadline, and unless `allow_private` the public-only resolver.
pub fn client(allow_private: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .user_agent("DojoPool-Notifications/1");
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build().unwrap_or_else(|error| {
        tracing::error!(%error, "cannot build the webhook HTTP client; using the default");
        reqwest::Client::new()
    })
}

/// The JSON a webhook receives.
pub fn body(delivery: &Delivery) -> Value {
    json!({
        "delivery_id": delivery.id,
        "notification_id": delivery.notification_id,
        "kind": delivery.kind,
        "payload": delivery.payload,
        "created_at": delivery.created_at,
    })
}

/// POSTs `delivery` to `url` signed with `secret`.
pub async fn send(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    delivery: &Delivery,
    allow_private: bool,
) -> Outcome {
    if let Err(error) = check_url(url, allow_private) {
        return Outcome::Failed(error.to_string());
    }
    let body = body(delivery).to_string().into_bytes();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("dojo-signature", sign(secret, now, &body))
        .header("dojo-delivery", delivery.id.to_string())
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) => http_outcome(response.status()),
        Err(error) => Outcome::Retry(format!("webhook: {}", without_url(&error))),
    }
}

/// What an HTTP status means for a delivery: 2xx delivered; 408, 429 and 5xx retried; any other
/// answer (4xx, a redirect) will not change by retrying.
pub fn http_outcome(status: reqwest::StatusCode) -> Outcome {
    if status.is_success() {
        Outcome::Delivered
    } else if status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
    {
        Outcome::Retry(format!("HTTP {}", status.as_u16()))
    } else {
        Outcome::Failed(format!("HTTP {}", status.as_u16()))
    }
}

/// A reqwest error's text without its URL (which may carry a token in its query).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_within_the_window_only() {
        let header = sign("whsec_x", 1_000_000, b"{\"a\":1}");
        assert!(verify("whsec_x", &header, b"{\"a\":1}", 1_000_100));
        assert!(!verify("whsec_x", &header, b"{\"a\":2}", 1_000_100));
        assert!(!verify("whsec_y", &header, b"{\"a\":1}", 1_000_100));
        assert!(!verify("whsec_x", &header, b"{\"a\":1}", 1_000_301));
        assert!(!verify(
            "whsec_x",
            "t=1000000,v1=zz",
            b"{\"a\":1}",
            1_000_000
        ));
    }

    #[test]
    fn private_and_odd_urls_are_refused() {
        for bad in [
            "ftp://x.example/",
            "file:///etc/passwd",
            "nothing",
            "http://",
        ] {
            assert_eq!(check_url(bad, false).err(), Some(UrlError::Scheme), "{bad}");
        }
        for private in [
            "http://127.0.0.1:9/",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:8080/",
            "http://[::ffff:192.168.0.1]/",
            "http://0.0.0.0/",
        ] {
            assert_eq!(
                check_url(private, false).err(),
                Some(UrlError::Private),
                "{private}"
            );
            assert!(check_url(private, true).is_ok(), "{private}");
        }
        assert!(check_url("https://hooks.example.com/dojo", false).is_ok());
    }
}
