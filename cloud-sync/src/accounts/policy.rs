//! The one place that decides every permission: who ([`Caller`]) may do what ([`Action`]).
//! Handlers name the action they are about to take and call [`require`]; nothing else compares
//! roles. A test table (`tests/it/policy.rs`) checks every route for every role.
//!
//! Roles: `player` (everyone with an account), `venue_manager` of a venue, `organiser` of a venue
//! or global, `admin` (global), and `service` (machine identities: a venue's key, service tokens).

use serde::{Deserialize, Serialize};

use super::caller::Caller;
use crate::http::ApiError;

/// A role beyond `player`, as stored (`user_roles.role`) and sent (`/api/v1/me`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everyone with an account (never stored: implied).
    Player,
    /// Runs one venue: its staff, devices and full data.
    VenueManager,
    /// Runs events at one venue, or anywhere when global.
    Organiser,
    /// Everything.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Player => "player",
            Role::VenueManager => "venue_manager",
            Role::Organiser => "organiser",
            Role::Admin => "admin",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "player" => Some(Role::Player),
            "venue_manager" => Some(Role::VenueManager),
            "organiser" => Some(Role::Organiser),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A role and where it holds (`venue_id: None` = everywhere).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// The venue it is scoped to, if any.
    pub venue_id: Option<String>,
}

/// Something a caller may or may not do. Each route names one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Read or change one's own account (profile, sessions, preferences, notifications).
    OwnAccount,
    /// Register for events, pay: needs a verified email address.
    VerifiedOnly,
    /// List users, read any account.
    ManageUsers,
    /// Grant or revoke `role` at `venue` (or globally).
    GrantRole {
        /// The role.
        role: Role,
        /// Where.
        venue: Option<&'a str>,
    },
    /// Merge player profiles, give a profile to a user.
    ManagePlayers,
    /// Read the audit log: everything, or one venue's entries.
    ReadAudit {
        /// `None`: the whole log.
        venue: Option<&'a str>,
    },
    /// A venue's staff, devices, keys and full (private) data.
    ManageVenue(&'a str),
    /// Run events at a venue.
    Organise(&'a str),
    /// A venue's machine identity acting for itself (sync, pulls).
    VenueService(&'a str),
    /// Be staff at a venue's console (set one's console PIN there): a venue manager or an
    /// organiser of that venue. Not an administrator by being one: a PIN is for a venue's staff.
    StaffAt(&'a str),
}

/// Whether `caller` may do `action`.
pub fn allows(caller: &Caller, action: &Action<'_>) -> bool {
    let Caller::User(user) = caller else {
        return match (caller, action) {
            (Caller::Venue(own), Action::VenueService(venue)) => own == venue,
            _ => false,
        };
    };
    if let Action::StaffAt(venue) = action {
        return user.grants.iter().any(|grant| {
            matches!(grant.role, Role::VenueManager | Role::Organiser)
                && grant.venue_id.as_deref() == Some(*venue)
        });
    }
    if user.has(Role::Admin, None) {
        return !matches!(action, Action::VenueService(_));
    }
    match action {
        Action::OwnAccount => true,
        Action::VerifiedOnly => user.email_verified,
        Action::ManageUsers | Action::ManagePlayers | Action::ReadAudit { venue: None } => false,
        // A venue manager grants roles at their own venue: its staff (managers and organisers).
        Action::GrantRole { role, venue } => match (role, venue) {
            (Role::VenueManager | Role::Organiser, Some(venue)) => {
                user.has(Role::VenueManager, Some(venue))
            }
            _ => false,
        },
        Action::ReadAudit { venue: Some(venue) } | Action::ManageVenue(venue) => {
            user.has(Role::VenueManager, Some(venue))
        }
        Action::Organise(venue) => {
            user.has(Role::Organiser, Some(venue)) || user.has(Role::VenueManager, Some(venue))
        }
        Action::VenueService(_) | Action::StaffAt(_) => false,
    }
}

/// [`allows`], as an answer: 401 for a caller without credentials, 403 for one without the right.
///
/// # Errors
///
/// [`ApiError::Unauthorized`] or [`ApiError::Forbidden`].
pub fn require(caller: &Caller, action: &Action<'_>) -> Result<(), ApiError> {
    if allows(caller, action) {
        Ok(())
    } else if matches!(caller, Caller::Anonymous) {
        Err(ApiError::Unauthorized(
            "sign in first (Authorization: Bearer …)",
        ))
    } else if matches!(action, Action::VerifiedOnly) {
        Err(ApiError::Forbidden(
            "verify your email address first".into(),
        ))
    } else {
        Err(ApiError::Forbidden("not allowed".into()))
    }
}
