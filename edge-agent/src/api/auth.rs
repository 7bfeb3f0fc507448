//! Staff authentication: who may write, and read what devices sent.
//!
//! Table reads are open to anyone on the venue network; match control, sessions and the dead
//! letters need the staff token (`--staff-token`), sent as `Authorization: Bearer <token>`. A
//! handler asks for it by taking a [`Staff`] argument, which axum extracts before the body is
//! read. Without a configured token every staff request is refused (401), and the answer says how
//! to allow them.
//!
//! Guessing is slowed and noticed ([`StaffGuard`]): each address may present a wrong token
//! [`FAILURES`] times in a burst, then one more every [`FAILURE_REFILL_MS`]; past that, every staff
//! request from it is refused with 429 and `Retry-After` *before* the token is compared, so a
//! limited address learns nothing, not even from a right guess. An address that runs out, or a
//! burst of wrong tokens across the venue ([`VENUE_FAILURES`] in a burst), raises an alert that
//! staff see on the console (`crate::notices`), at most once per [`ALERT_EVERY_MS`] each, and
//! every outcome is counted (`dojo_staff_auth_total{outcome}`). A missing token is not a guess and
//! is not counted. The start-up rule against weak tokens is `crate::config::staff_token_problem`.
//!
//! A staff member signed in with their PIN (`crate::staff`, routes in `super::staff`) holds a
//! session cookie instead: a request without an `Authorization` header and with a valid session
//! cookie is staff too, and [`Staff::member`] says who, so their writes carry their id. A request
//! with an `Authorization` header is judged by the token alone, exactly as before sessions
//! existed (the bootstrap credential of an appliance not yet enrolled, and scripts).

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};

use super::AppState;
use super::error::ApiError;
use super::socket::Socket;
use crate::limit::{Limiter, RetryAfter};

/// Wrong staff tokens an address may present in a burst.
pub(crate) const FAILURES: u32 = 10;
/// After the burst, one more wrong token per address this often (10 a minute).
pub(crate) const FAILURE_REFILL_MS: u64 = 6_000;
/// Wrong staff tokens across all addresses in a burst before staff are alerted (some attackers
/// have many addresses); one more every [`VENUE_REFILL_MS`]. It only alerts: refusing every
/// address would let anyone lock staff out.
pub(crate) const VENUE_FAILURES: u32 = 30;
/// See [`VENUE_FAILURES`].
pub(crate) const VENUE_REFILL_MS: u64 = 2_000;
/// At most one alert per address, and one for the venue-wide burst, this often.
pub(crate) const ALERT_EVERY_MS: u64 = 10 * 60_000;

/// Proof that the request carried the staff token or a staff session. Extracted before the body
/// is read, so an unauthenticated client is refused without parsing anything.
#[derive(Debug)]
pub(crate) struct Staff {
    /// The signed-in staff member (`None`: the shared staff token).
    pub(crate) member: Option<crate::staff::Session>,
}

impl Staff {
    /// Who acts, for the event log: the signed-in member (their id and name), else unnamed
    /// staff (the shared token).
    pub(crate) fn actor(&self) -> Option<crate::table::Actor> {
        self.member
            .as_ref()
            .map(|session| crate::table::Actor::Staff {
                name: Some(session.display_name.clone()),
                id: Some(session.id.clone()),
            })
    }
}

/// The staff session a request's cookie proves, if any.
pub(crate) fn session_of(
    headers: &axum::http::HeaderMap,
    state: &AppState,
) -> Option<crate::staff::Session> {
    let now = crate::clock::now_ms();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == crate::staff::COOKIE)
        .find_map(|(_, value)| state.staff.session(value, now))
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Staff, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION)
            && let Some(session) = session_of(&parts.headers, state)
        {
            return Ok(Staff {
                member: Some(session),
            });
        }
        let address = address_key(
            (parts.extensions.get::<ConnectInfo<Socket>>())
                .and_then(|ConnectInfo(Socket(stream))| stream.peer_addr().ok())
                .map(|addr| addr.ip()),
        );
        let now = crate::clock::now_ms();
        if let Err(RetryAfter(seconds)) = state.staff_guard.admit(&address, now) {
            state.metrics.staff_auth("limited");
            return Err(ApiError::TooManyRequests {
                message: format!("too many wrong staff tokens from this address: wait {seconds} s"),
                retry_after_s: seconds,
            });
        }
        let checked = check(
            state.staff_token.as_deref(),
            parts.headers.get(header::AUTHORIZATION),
        );
        if checked == Checked::Wrong {
            state.metrics.staff_auth("failed");
            tracing::info!(%address, "a wrong staff token");
            for alert in state.staff_guard.failed(&address, now) {
                state.metrics.staff_auth("alerted");
                tracing::warn!("{alert}");
                state.notices.alert(alert, now);
            }
        }
        checked.into_result().map(|()| Staff { member: None })
    }
}

/// Whom failed attempts are counted against: an IPv4 address, or an IPv6 address's /64 (one
/// device can pick any address in its /64); `unknown` when served without connection info.
pub(crate) fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Failed staff-token attempts per address and venue-wide, and when staff were last alerted.
/// Pure apart from its lock: the time is an input.
#[derive(Debug)]
pub struct StaffGuard {
    state: Mutex<GuardState>,
}

#[derive(Debug)]
struct GuardState {
    by_address: Limiter,
    venue: Limiter,
    /// One alert per key (an address, or `*` for the venue) per [`ALERT_EVERY_MS`].
    alerted: Limiter,
}

impl Default for StaffGuard {
    fn default() -> Self {
        StaffGuard {
            state: Mutex::new(GuardState {
                by_address: Limiter::new(FAILURES, FAILURE_REFILL_MS),
                venue: Limiter::new(VENUE_FAILURES, VENUE_REFILL_MS),
                alerted: Limiter::new(1, ALERT_EVERY_MS),
            }),
        }
    }
}

impl StaffGuard {
    fn lock(&self) -> MutexGuard<'_, GuardState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `address` may present a token at `now_ms` (it has wrong tries left).
    pub fn admit(&self, address: &str, now_ms: u64) -> Result<(), RetryAfter> {
        self.lock().by_address.check(address, now_ms)
    }

    /// Counts a wrong token from `address`; returns the alerts to raise, in words.
    pub fn failed(&self, address: &str, now_ms: u64) -> Vec<String> {
        let mut state = self.lock();
        let mut alerts = Vec::new();
        let _ = state.by_address.take(address, now_ms);
        if let Err(RetryAfter(seconds)) = state.by_address.check(address, now_ms)
            && state.alerted.take(address, now_ms).is_ok()
        {
            alerts.push(format!(
                "{FAILURES} wrong staff tokens from {address}: someone may be guessing it. \
                 Staff requests from that address wait {seconds} s between tries."
            ));
        }
        if state.venue.take("*", now_ms).is_err() && state.alerted.take("*", now_ms).is_ok() {
            alerts.push(format!(
                "Over {VENUE_FAILURES} wrong staff tokens in a minute across the venue network: \
                 someone may be guessing it."
            ));
        }
        alerts
    }
}

/// How a request's `Authorization` compares with the configured staff token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checked {
    Right,
    /// No `Bearer` token (not a guess).
    Missing,
    /// A token that is not the staff token: a failed attempt.
    Wrong,
    /// No staff token configured: staff requests are off.
    Disabled,
}

impl Checked {
    /// The 401 contract: missing and wrong tokens look the same to the client but for the text.
    fn into_result(self) -> Result<(), ApiError> {
        match self {
            Checked::Right => Ok(()),
            Checked::Disabled => Err(ApiError::Unauthorized(
                "staff requests are disabled: start the agent with --staff-token to allow them"
                    .to_owned(),
            )),
            Checked::Missing => Err(ApiError::Unauthorized(
                "staff token required: send Authorization: Bearer <token>".to_owned(),
            )),
            Checked::Wrong => Err(ApiError::Unauthorized("wrong staff token".to_owned())),
        }
    }
}

/// Checks an `Authorization` header against the configured staff token.
fn check(expected: Option<&str>, authorization: Option<&HeaderValue>) -> Checked {
    // An empty token would let `Authorization: Bearer ` in: treat it as no token.
    let Some(expected) = expected.filter(|token| !token.is_empty()) else {
        return Checked::Disabled;
    };
    let presented = authorization
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty());
    match presented {
        None => Checked::Missing,
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Checked::Right,
        Some(_) => Checked::Wrong,
    }
}

/// Checks an `Authorization` header against the configured staff token (401 unless right).
#[cfg(test)]
pub(crate) fn check_token(
    expected: Option<&str>,
    authorization: Option<&HeaderValue>,
) -> Result<(), ApiError> {
    check(expected, authorization).into_result()
}

/// Compares without stopping at the first difference, so response time does not reveal how much of
/// a guess was right. Runs over the expected token's length whatever the guess's length.
fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut difference = u8::from(presented.len() != expected.len());
    for (i, &byte) in expected.iter().enumerate() {
        difference |= byte ^ presented.get(i).copied().unwrap_or(!byte);
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn check(expected: Option<&str>, header: Option<&str>) -> Result<(), StatusCode> {
        let header = header.map(|h| HeaderValue::from_str(h).expect("header"));
        check_token(expected, header.as_ref()).map_err(|e| e.status())
    }

    #[test]
    fn staff_token() {
        let unauthorized = Err(StatusCode::UNAUTHORIZED);
        assert_eq!(check(Some("s3cret"), Some("Bearer s3cret")), Ok(()));
        assert_eq!(check(Some("s3cret"), Some("bearer s3cret")), Ok(()));
        assert_eq!(check(Some("s3cret"), Some("Bearer s3cre")), unauthorized);
        assert_eq!(check(Some("s3cret"), Some("Bearer s3cret!")), unauthorized);
        assert_eq!(check(Some("s3cret"), Some("Bearer ")), unauthorized);
        assert_eq!(check(Some("s3cret"), Some("Basic s3cret")), unauthorized);
        assert_eq!(check(Some("s3cret"), Some("s3cret")), unauthorized);
        assert_eq!(check(Some("s3cret"), None), unauthorized);
        assert_eq!(check(None, Some("Bearer anything")), unauthorized);
        assert_eq!(check(Some(""), Some("Bearer ")), unauthorized);
    }

    #[test]
    fn only_a_presented_wrong_token_is_a_failed_attempt() {
        let header = |h: &str| HeaderValue::from_str(h).expect("header");
        let token = Some("s3cret");
        assert_eq!(super::check(token, None), Checked::Missing);
        assert_eq!(
            super::check(token, Some(&header("Basic x"))),
            Checked::Missing
        );
        assert_eq!(
            super::check(token, Some(&header("Bearer x"))),
            Checked::Wrong
        );
        assert_eq!(
            super::check(None, Some(&header("Bearer x"))),
            Checked::Disabled
        );
    }

    #[test]
    fn writes_disabled_says_how_to_enable_them() {
        let error = check_token(None, None).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("--staff-token")));
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"x", b""));
    }

    #[test]
    fn an_address_that_guesses_is_slowed_and_staff_are_alerted_once() {
        let guard = StaffGuard::default();
        let mut alerts = Vec::new();
        for _ in 0..FAILURES {
            assert_eq!(guard.admit("10.0.0.9", 0), Ok(()));
            alerts.extend(guard.failed("10.0.0.9", 0));
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0].contains("10.0.0.9"));
        let retry = FAILURE_REFILL_MS / 1_000;
        assert_eq!(guard.admit("10.0.0.9", 0), Err(RetryAfter(retry)));
        // Another address is not slowed.
        assert_eq!(guard.admit("10.0.0.10", 0), Ok(()));
        // One more try after a refill; running out again raises no second alert so soon.
        assert_eq!(guard.admit("10.0.0.9", FAILURE_REFILL_MS), Ok(()));
        assert!(guard.failed("10.0.0.9", FAILURE_REFILL_MS).is_empty());
        assert!(guard.admit("10.0.0.9", FAILURE_REFILL_MS).is_err());
        // Much later, a new burst alerts again.
        let later = ALERT_EVERY_MS + 60 * FAILURE_REFILL_MS;
        let again: Vec<String> = (0..FAILURES)
            .flat_map(|_| guard.failed("10.0.0.9", later))
            .collect();
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn a_burst_across_many_addresses_alerts_once() {
        let guard = StaffGuard::default();
        let alerts: Vec<String> = (0..=VENUE_FAILURES)
            .flat_map(|i| guard.failed(&format!("10.0.1.{i}"), 0))
            .collect();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0].contains("across the venue"));
        // Each address is still admitted: the venue-wide count only alerts.
        assert_eq!(guard.admit("10.0.1.1", 0), Ok(()));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        assert_eq!(address_key(Some(a)), address_key(Some(b)));
        assert_eq!(address_key(Some(a)), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().expect("ip");
        assert_eq!(address_key(Some(mapped)), "10.0.0.7");
        assert_eq!(address_key(None), "unknown");
    }
}
