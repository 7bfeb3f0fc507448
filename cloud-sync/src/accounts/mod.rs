//! Accounts and roles: who is who and what each may do.
//!
//! - [`caller`]: the identity behind a request ([`Caller`]: anonymous, a user by access token, a
//!   venue by its key), as an axum extractor;
//! - [`policy`]: every permission decided in one place ([`policy::require`]);
//! - [`token`]: access tokens (JWT, HS256, keys in PostgreSQL, rotation);
//! - [`password`]: Argon2id hashes of passwords and PINs;
//! - [`audit`]: the append-only log of privileged actions;
//! - [`account`]: register, verify, sign in, password change and reset, deletion;
//! - [`session`]: sessions and their rotating refresh tokens;
//! - [`rules`], [`throttle`], [`links`], [`secret`]: field rules, slowing guesses, one-time email
//!   links, random bearer secrets;
//! - [`http`]: the `/api/v1/auth/…` and `/api/v1/me…` routes;
//! - [`service_tokens`]: integrations' machine identities (`dps_…`, SHA-256 stored);
//! - [`directory`]: administrators' search of users;
//! - [`roles`]: granting and revoking roles (audited, the user notified);
//! - [`admin_http`]: the administrators' and venue managers' routes (users, roles, audit, staff,
//!   venue keys, claims, merges);
//! - [`staff`]: staff console PINs and the staff list venues pull (`/api/v1/sync/staff`).

pub mod account;
pub mod admin_http;
pub mod audit;
pub mod caller;
pub mod directory;
pub mod http;
pub mod links;
pub mod password;
pub mod policy;
pub mod roles;
pub mod rules;
pub mod secret;
pub mod service_tokens;
pub mod session;
pub mod staff;
pub mod throttle;
pub mod token;

pub use self::caller::{Caller, User};
pub use self::policy::{Action, Grant, Role};
