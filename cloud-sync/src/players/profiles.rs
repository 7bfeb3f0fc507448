//! A player profile and the person it belongs to: a user creates one (a new registered player
//! named by their display name, which venues get through the change log), claims one venues
//! already sync (a claim an administrator or a manager of a venue where the player played
//! approves), or is given one by an administrator; an administrator merges two profiles (the
//! history follows, the removed one leaves venues through the change log as a delete); the owner
//! makes theirs public or not (`players.public`, private by default).
//!
//! The link itself is `users.player_id` (one player per account, one account per player); only
//! this module writes it and `player_claims`. Every privileged step writes an audit entry in its
//! own transaction.

use serde::Serialize;
use serde_json::json;
use shared::sync::Player;
use sqlx::PgPool;

use super::{RegisterError, insert_player, lock_player_log, remove_player};
use crate::accounts::audit::{self, Entry};
use crate::accounts::policy::VenueScope;

/// A profile step was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// PostgreSQL.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A display name that cannot name a player.
    #[error("a player's name must be 1-100 characters")]
    Name,
    /// No such user, player or claim.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The state does not allow it (already linked, claim decided, …).
    #[error("{0}")]
    Conflict(&'static str),
    /// A request that cannot be right (merging a profile into itself).
    #[error("{0}")]
    Invalid(&'static str),
}

impl From<RegisterError> for ProfileError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Db(e) => ProfileError::Db(e),
            RegisterError::Name => ProfileError::Name,
        }
    }
}

/// Most claims one user may have waiting at once (claims are cheap to file and cost a manager's
/// attention to decide).
pub const MAX_PENDING_CLAIMS: i64 = 3;

/// Who acts, from where (for the audit log).
#[derive(Clone, Debug)]
pub struct Actor<'a> {
    /// The acting user.
    pub user: &'a str,
    /// The client address.
    pub addr: Option<String>,
}

/// Whether a registered player is public and whose it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visibility {
    /// The profile is public.
    pub public: bool,
    /// The user it belongs to.
    pub owner: Option<String>,
}

/// A claim, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Claim {
    /// Its id.
    pub id: i64,
    /// Who claims.
    pub user_id: String,
    /// Their display name.
    pub display_name: String,
    /// The claimed player.
    pub player_id: String,
    /// The player's name.
    pub player_name: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// When it was filed, Unix ms.
    pub created_ms: i64,
    /// Where the player played (whose managers may decide).
    #[sqlx(skip)]
    pub venues: Vec<String>,
}

/// The user's player profile, as they see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mine {
    /// Their player, if any.
    pub player: Option<Player>,
    /// Whether it is public.
    pub profile_public: bool,
    /// Their pending claims.
    pub claims: Vec<Claim>,
}

/// Whether `player` is registered, public, and whose; `None` when not registered.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn visibility(pool: &PgPool, player: &str) -> Result<Option<Visibility>, sqlx::Error> {
    let row: Option<(bool, Option<String>)> = sqlx::query_as(
        "SELECT p.public, (SELECT u.id FROM users u WHERE u.player_id = p.id)
         FROM players p WHERE p.id = $1",
    )
    .bind(player)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(public, owner)| Visibility { public, owner }))
}

/// `user`'s player, its privacy and their pending claims.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn mine(pool: &PgPool, user: &str) -> Result<Mine, sqlx::Error> {
    let player: Option<(String, String, Option<i32>, bool)> = sqlx::query_as(
        "SELECT p.id, p.name, p.rating, p.public FROM users u JOIN players p ON p.id = u.player_id
         WHERE u.id = $1",
    )
    .bind(user)
    .fetch_optional(pool)
    .await?;
    let claims = sqlx::query_as::<_, Claim>(CLAIM_SELECT_USER)
        .bind(user)
        .fetch_all(pool)
        .await?;
    let profile_public = player.as_ref().is_some_and(|p| p.3);
    Ok(Mine {
        player: player.map(|(id, name, rating, _)| Player { id, name, rating }),
        profile_public,
        claims,
    })
}

const CLAIM_COLUMNS: &str = "SELECT c.id, c.user_id, u.display_name, c.player_id,
        p.name AS player_name, c.status, (extract(epoch FROM c.created_at) * 1000)::int8 AS created_ms
     FROM player_claims c JOIN users u ON u.id = c.user_id JOIN players p ON p.id = c.player_id";

const CLAIM_SELECT_USER: &str = "SELECT c.id, c.user_id, u.display_name, c.player_id,
        p.name AS player_name, c.status, (extract(epoch FROM c.created_at) * 1000)::int8 AS created_ms
     FROM player_claims c JOIN users u ON u.id = c.user_id JOIN players p ON p.id = c.player_id
     WHERE c.user_id = $1 AND c.status = 'pending' ORDER BY c.id";

async fn user_row(
    conn: &mut sqlx::PgConnection,
    user: &str,
) -> Result<(String, Option<String>), ProfileError> {
    sqlx::query_as(
        "SELECT display_name, player_id FROM users WHERE id = $1 AND deleted_at IS NULL
         FOR UPDATE",
    )
    .bind(user)
    .fetch_optional(conn)
    .await?
    .ok_or(ProfileError::NotFound("user"))
}

async fn owner_of(
    conn: &mut sqlx::PgConnection,
    player: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE player_id = $1 FOR UPDATE")
        .bind(player)
        .fetch_optional(conn)
        .await
}

async fn registered(conn: &mut sqlx::PgConnection, player: &str) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM players WHERE id = $1 FOR UPDATE")
        .bind(player)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

async fn link(
    conn: &mut sqlx::PgConnection,
    user: &str,
    player: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET player_id = $2 WHERE id = $1")
        .bind(user)
        .bind(player)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes a new registered player for `user`, named by their display name, and links it.
///
/// # Errors
///
/// [`ProfileError::Conflict`] when they have one already.
pub async fn create_for(pool: &PgPool, actor: &Actor<'_>) -> Result<Player, ProfileError> {
    let mut tx = pool.begin().await?;
    let (name, current) = user_row(&mut tx, actor.user).await?;
    if current.is_some() {
        return Err(ProfileError::Conflict("you have a player profile already"));
    }
    lock_player_log(&mut tx).await?;
    let player = insert_player(&mut tx, &name, None).await?;
    link(&mut tx, actor.user, Some(&player.id)).await?;
    audit::record(
        &mut tx,
        &Entry {
            actor: Some(actor.user),
            action: "player.create",
            resource: &format!("player:{}", player.id),
            venue: None,
            addr: actor.addr.clone(),
            detail: json!({ "user_id": actor.user }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(player)
}

/// Files `actor`'s claim on `player`; returns the claim's id (the pending one, if already filed).
///
/// # Errors
///
/// [`ProfileError`]: no such player, they have a player, the player has an owner.
pub async fn file_claim(
    pool: &PgPool,
    actor: &Actor<'_>,
    player: &str,
) -> Result<i64, ProfileError> {
    let mut tx = pool.begin().await?;
    let (_, current) = user_row(&mut tx, actor.user).await?;
    if current.is_some() {
        return Err(ProfileError::Conflict("you have a player profile already"));
    }
    if !registered(&mut tx, player).await? {
        return Err(ProfileError::NotFound("player"));
    }
    if owner_of(&mut tx, player).await?.is_some() {
        return Err(ProfileError::Conflict(
            "that player profile belongs to an account already",
        ));
    }
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM player_claims
         WHERE user_id = $1 AND status = 'pending' AND player_id <> $2",
    )
    .bind(actor.user)
    .bind(player)
    .fetch_one(&mut *tx)
    .await?;
    if pending >= MAX_PENDING_CLAIMS {
        return Err(ProfileError::Conflict(
            "you have too many claims waiting; wait until they are decided",
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "WITH new AS (INSERT INTO player_claims (user_id, player_id) VALUES ($1, $2)
                      ON CONFLICT (user_id, player_id) WHERE status = 'pending' DO NOTHING
                      RETURNING id)
         SELECT id FROM new UNION ALL
         SELECT id FROM player_claims WHERE user_id = $1 AND player_id = $2 AND status = 'pending'
         LIMIT 1",
    )
    .bind(actor.user)
    .bind(player)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &Entry {
            actor: Some(actor.user),
            action: "player.claim",
            resource: &format!("player:{player}"),
            venue: None,
            addr: actor.addr.clone(),
            detail: json!({ "claim_id": id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A claim with the venues where its player played; `None` when there is no such claim.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn claim(pool: &PgPool, id: i64) -> Result<Option<Claim>, sqlx::Error> {
    let sql = format!("{CLAIM_COLUMNS} WHERE c.id = $1");
    let found = sqlx::query_as::<_, Claim>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let Some(mut claim) = found else {
        return Ok(None);
    };
    claim.venues = crate::reads::history::venues_of_player(pool, &claim.player_id).await?;
    Ok(Some(claim))
}

/// Claims with `status`, newest first, after the claim id `after`, those `scope` may decide.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn claims(
    pool: &PgPool,
    status: &str,
    scope: &VenueScope,
    after: Option<i64>,
    limit: i64,
) -> Result<(Vec<Claim>, Option<i64>), sqlx::Error> {
    let sql = format!(
        "{CLAIM_COLUMNS} WHERE c.status = $1 AND ($2::int8 IS NULL OR c.id < $2)
         ORDER BY c.id DESC LIMIT $3"
    );
    let rows = sqlx::query_as::<_, Claim>(sqlx::AssertSqlSafe(sql))
        .bind(status)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let more = rows.len() as i64 > limit;
    let mut out = Vec::new();
    let mut last = None;
    for mut claim in rows.into_iter().take(usize::try_from(limit).unwrap_or(0)) {
        last = Some(claim.id);
        claim.venues = crate::reads::history::venues_of_player(pool, &claim.player_id).await?;
        let mine = match scope {
            VenueScope::All => true,
            VenueScope::Only(venues) => claim.venues.iter().any(|v| venues.contains(v)),
        };
        if mine {
            out.push(claim);
        }
    }
    Ok((out, if more { last } else { None }))
}

/// Approves (links the player to the claimant) or rejects a pending claim.
///
/// # Errors
///
/// [`ProfileError`]: no such claim, already decided, the claimant or player linked meanwhile.
pub async fn decide(
    pool: &PgPool,
    actor: &Actor<'_>,
    id: i64,
    approve: bool,
) -> Result<(), ProfileError> {
    let mut tx = pool.begin().await?;
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT user_id, player_id, status FROM player_claims WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (user, player, status) = row.ok_or(ProfileError::NotFound("claim"))?;
    if status != "pending" {
        return Err(ProfileError::Conflict("this claim was decided already"));
    }
    if approve {
        let (_, current) = user_row(&mut tx, &user).await?;
        if current.is_some() {
            return Err(ProfileError::Conflict(
                "the claimant has a player profile already",
            ));
        }
        if owner_of(&mut tx, &player).await?.is_some() {
            return Err(ProfileError::Conflict(
                "that player profile belongs to an account already",
            ));
        }
        link(&mut tx, &user, Some(&player)).await?;
    }
    sqlx::query(
        "UPDATE player_claims SET status = $2, decided_by = $3, decided_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(if approve { "approved" } else { "rejected" })
    .bind(actor.user)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &Entry {
            actor: Some(actor.user),
            action: if approve {
                "player.claim.approve"
            } else {
                "player.claim.reject"
            },
            resource: &format!("player:{player}"),
            venue: None,
            addr: actor.addr.clone(),
            detail: json!({ "claim_id": id, "user_id": user }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Gives `player` to `user` directly (an administrator's act).
///
/// # Errors
///
/// [`ProfileError`]: no such user or player, either linked already.
pub async fn give(
    pool: &PgPool,
    actor: &Actor<'_>,
    user: &str,
    player: &str,
) -> Result<(), ProfileError> {
    let mut tx = pool.begin().await?;
    let (_, current) = user_row(&mut tx, user).await?;
    if current.is_some() {
        return Err(ProfileError::Conflict(
            "that user has a player profile already",
        ));
    }
    if !registered(&mut tx, player).await? {
        return Err(ProfileError::NotFound("player"));
    }
    if owner_of(&mut tx, player).await?.is_some() {
        return Err(ProfileError::Conflict(
            "that player profile belongs to an account already",
        ));
    }
    link(&mut tx, user, Some(player)).await?;
    audit::record(
        &mut tx,
        &Entry {
            actor: Some(actor.user),
            action: "player.give",
            resource: &format!("player:{player}"),
            venue: None,
            addr: actor.addr.clone(),
            detail: json!({ "user_id": user }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes `user`'s profile public or private; returns the player's id.
///
/// # Errors
///
/// [`ProfileError::Conflict`] when they have no player profile.
pub async fn set_public(pool: &PgPool, user: &str, public: bool) -> Result<String, ProfileError> {
    let player: Option<String> = sqlx::query_scalar(
        "UPDATE players p SET public = $2 FROM users u
         WHERE u.id = $1 AND u.player_id = p.id AND u.deleted_at IS NULL RETURNING p.id",
    )
    .bind(user)
    .bind(public)
    .fetch_optional(pool)
    .await?;
    player.ok_or(ProfileError::Conflict(
        "you have no player profile yet: create or claim one first",
    ))
}

/// What a merge did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Merged {
    /// The profile that remains.
    pub into: String,
    /// The profile removed.
    pub from: String,
    /// Match seats that moved.
    pub seats: u64,
    /// The account whose link moved from `from` to `into`, if any.
    pub moved_user: Option<String>,
}

/// Merges `from` into `into`: the history (every seat, every match's ids) follows, an account
/// linked to `from` is linked to `into` (with `from`'s privacy choice), and `from` is removed
/// through the change log (venues drop it). `from` need not be registered any more (a second run
/// moves history a venue recorded under the old id before it pulled the delete).
///
/// # Errors
///
/// [`ProfileError`]: the same id twice, `into` not registered, both linked to accounts.
pub async fn merge(
    pool: &PgPool,
    actor: &Actor<'_>,
    from: &str,
    into: &str,
) -> Result<Merged, ProfileError> {
    if from == into {
        return Err(ProfileError::Invalid("from and into are the same player"));
    }
    let mut tx = pool.begin().await?;
    lock_player_log(&mut tx).await?;
    if !registered(&mut tx, into).await? {
        return Err(ProfileError::NotFound("player"));
    }
    let from_public: Option<bool> =
        sqlx::query_scalar("SELECT public FROM players WHERE id = $1 FOR UPDATE")
            .bind(from)
            .fetch_optional(&mut *tx)
            .await?;
    let owner_from = owner_of(&mut tx, from).await?;
    let owner_into = owner_of(&mut tx, into).await?;
    if owner_from.is_some() && owner_into.is_some() {
        return Err(ProfileError::Conflict(
            "both profiles belong to accounts; unlink one first",
        ));
    }
    let seats = crate::reads::history::merge_player(&mut tx, from, into).await?;
    if let Some(user) = &owner_from {
        link(&mut tx, user, None).await?;
        link(&mut tx, user, Some(into)).await?;
        sqlx::query("UPDATE players SET public = $2 WHERE id = $1")
            .bind(into)
            .bind(from_public.unwrap_or(false))
            .execute(&mut *tx)
            .await?;
    }
    remove_player(&mut tx, from).await?;
    audit::record(
        &mut tx,
        &Entry {
            actor: Some(actor.user),
            action: "player.merge",
            resource: &format!("player:{into}"),
            venue: None,
            addr: actor.addr.clone(),
            detail: json!({ "from": from, "into": into, "seats": seats,
                            "moved_user": owner_from }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Merged {
        into: into.to_owned(),
        from: from.to_owned(),
        seats,
        moved_user: owner_from,
    })
}
