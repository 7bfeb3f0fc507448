//! The one place that decides every permission: who ([`Caller`]) may do what ([`Action`]).
//! Handlers name the action they are about to take and call [`require`]; nothing else compares
//! roles. A test table (`tests/it/policy.rs`) checks every route for every role.
//!
//! Roles: `player` (everyone with an account), `venue_manager` of a venue, `organiser` of a venue
//! or global, `admin` (global), and `service` (machine identities: a venue's key, service tokens).
//!
//! What each may do (docs/security.md, "Roles"): a player their own account and profile; a venue
//! manager their venue's staff (granting `venue_manager`/`organiser` there), keys, audit entries,
//! full data and the claims on players who played there; an organiser runs events at their venue;
//! an administrator everything but a venue's machine work; a venue key its own sync and its own
//! venue's full data; a service token only reads (every venue's and player's full data).

use serde::{Deserialize, Serialize};

use super::caller::{Caller, User};
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
    /// Read a venue's full data (walk-in names, private players, who corrected what): its
    /// managers, administrators, its own key, and service tokens (read-only integrations).
    ReadVenueData(&'a str),
    /// Read a player profile's full data: the user it belongs to (`owner`), administrators and
    /// service tokens.
    ReadPlayerData {
        /// The user the profile belongs to, if anyone's.
        owner: Option<&'a str>,
    },
    /// List player-profile claims: administrators (all) and venue managers (their venues').
    ListClaims,
    /// Approve or reject a claim on a player who played at `venues`: administrators, and a
    /// manager of any of those venues.
    DecideClaim {
        /// Where the claimed player played.
        venues: &'a [String],
    },
    /// Be staff at a venue's console (set one's console PIN there): a venue manager or an
    /// organiser of that venue. Not an administrator by being one: a PIN is for a venue's staff.
    StaffAt(&'a str),
}

/// Which venues a caller manages: every one, some, or none. Lists that managers and
/// administrators share (claims) are filtered by it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VenueScope {
    /// Every venue (an administrator).
    All,
    /// These venues (a venue manager's grants); empty for everyone else.
    Only(Vec<String>),
}

/// The venues `caller` manages.
pub fn managed_venues(caller: &Caller) -> VenueScope {
    match caller {
        Caller::User(user) if user.has(Role::Admin, None) => VenueScope::All,
        Caller::User(user) => VenueScope::Only(
            user.grants
                .iter()
                .filter(|grant| grant.role == Role::VenueManager)
                .filter_map(|grant| grant.venue_id.clone())
                .collect(),
        ),
        _ => VenueScope::Only(Vec::new()),
    }
}

/// Whether `caller` may do `action`.
pub fn allows(caller: &Caller, action: &Action<'_>) -> bool {
    let Caller::User(user) = caller else {
        return match (caller, action) {
            (Caller::Venue(own), Action::VenueService(venue) | Action::ReadVenueData(venue)) => {
                own == venue
            }
            // Service tokens: read-only, every venue's and player's full data; nothing else.
            (Caller::Service(_), Action::ReadVenueData(_) | Action::ReadPlayerData { .. }) => true,
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
        Action::ReadVenueData(venue) => user.has(Role::VenueManager, Some(venue)),
        Action::ReadPlayerData { owner } => *owner == Some(user.id.as_str()),
        Action::ListClaims => user.grants.iter().any(|g| g.role == Role::VenueManager),
        Action::DecideClaim { venues } => venues
            .iter()
            .any(|venue| user.has(Role::VenueManager, Some(venue))),
    }
}

/// [`require`], then the signed-in user who may: what most routes on one's own things start with.
///
/// # Errors
///
/// As [`require`]; 401 for a caller who is not a person.
pub fn require_user<'c>(caller: &'c Caller, action: &Action<'_>) -> Result<&'c User, ApiError> {
    require(caller, action)?;
    caller.signed_in()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::User;

    fn user(grants: &[(Role, Option<&str>)]) -> Caller {
        Caller::User(User {
            id: "u1".into(),
            session: "s".into(),
            email_verified: true,
            grants: grants
                .iter()
                .map(|(role, venue)| Grant {
                    role: *role,
                    venue_id: venue.map(str::to_owned),
                })
                .collect(),
        })
    }

    #[test]
    fn a_manager_runs_their_own_venue_only() {
        let manager = user(&[(Role::VenueManager, Some("a"))]);
        assert!(allows(&manager, &Action::ManageVenue("a")));
        assert!(!allows(&manager, &Action::ManageVenue("b")));
        assert!(allows(&manager, &Action::ReadVenueData("a")));
        assert!(!allows(&manager, &Action::ReadVenueData("b")));
        assert!(allows(
            &manager,
            &Action::GrantRole {
                role: Role::Organiser,
                venue: Some("a")
            }
        ));
        for (role, venue) in [
            (Role::Organiser, Some("b")),
            (Role::Organiser, None),
            (Role::Admin, None),
        ] {
            assert!(!allows(&manager, &Action::GrantRole { role, venue }));
        }
        let played = ["b".to_owned(), "a".to_owned()];
        assert!(allows(&manager, &Action::DecideClaim { venues: &played }));
        assert!(!allows(
            &manager,
            &Action::DecideClaim {
                venues: &played[..1]
            }
        ));
        assert_eq!(managed_venues(&manager), VenueScope::Only(vec!["a".into()]));
    }

    #[test]
    fn services_only_read() {
        let service = Caller::Service("export".into());
        assert!(allows(&service, &Action::ReadVenueData("any")));
        assert!(allows(
            &service,
            &Action::ReadPlayerData { owner: Some("u") }
        ));
        for action in [
            Action::ManageVenue("a"),
            Action::ManageUsers,
            Action::ManagePlayers,
            Action::VenueService("a"),
            Action::OwnAccount,
            Action::ListClaims,
            Action::ReadAudit { venue: None },
        ] {
            assert!(!allows(&service, &action), "{action:?}");
        }
    }

    #[test]
    fn a_venue_key_reads_its_own_venue_in_full_and_a_player_their_own_profile() {
        let venue = Caller::Venue("a".into());
        assert!(allows(&venue, &Action::ReadVenueData("a")));
        assert!(!allows(&venue, &Action::ReadVenueData("b")));
        let player = user(&[]);
        assert!(allows(
            &player,
            &Action::ReadPlayerData { owner: Some("u1") }
        ));
        assert!(!allows(
            &player,
            &Action::ReadPlayerData { owner: Some("u2") }
        ));
        assert!(!allows(&player, &Action::ReadPlayerData { owner: None }));
        let admin = user(&[(Role::Admin, None)]);
        assert!(allows(&admin, &Action::ReadPlayerData { owner: None }));
        assert_eq!(managed_venues(&admin), VenueScope::All);
    }
}
