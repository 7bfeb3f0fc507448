//! Accounts and roles: who is who and what each may do.
//!
//! - [`caller`]: the identity behind a request ([`Caller`]: anonymous, a user by access token, a
//!   venue by its key), as an axum extractor;
//! - [`policy`]: every permission decided in one place ([`policy::require`]);
//! - [`token`]: access tokens (JWT, HS256, keys in PostgreSQL, rotation);
//! - [`password`]: Argon2id hashes of passwords and PINs;
//! - [`audit`]: the append-only log of privileged actions;
//! - [`staff`]: staff console PINs and the staff list venues pull (`/api/v1/sync/staff`).

pub mod audit;
pub mod caller;
pub mod password;
pub mod policy;
pub mod staff;
pub mod token;

pub use self::caller::{Caller, User};
pub use self::policy::{Action, Grant, Role};
