//! The command line (a contract: operators and unit files use these names) and the validated
//! [`Config`] that [`crate::start`] takes. Flags win over the environment (`DATABASE_URL`,
//! `REDIS_URL`, `CLOUD_SYNC_*`); a bad value is one clear error and exit status 2 (see `main`).

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

/// Where `serve` listens unless told otherwise.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8090";

/// `cloud-sync`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "cloud-sync",
    version,
    about = "DojoPool central service: venue sync into PostgreSQL, read API, live results via Redis"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the migrations, then serve the sync, read and live APIs.
    Serve(ServeFlags),
    /// Run the migrations and exit.
    Migrate(DbFlags),
    /// Venue enrollment.
    #[command(subcommand)]
    Venue(VenueCommand),
    /// Registered players (each change goes to the log venues pull).
    #[command(subcommand)]
    Player(PlayerCommand),
    /// Service tokens: machine identities of integrations (read-only, docs/security.md).
    #[command(subcommand)]
    ServiceToken(ServiceTokenCommand),
    /// Web Push (VAPID keys).
    #[command(subcommand)]
    Push(PushCommand),
    /// User accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The keys access tokens are signed with.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Make a verified administrator of EMAIL (a new account with the password read from standard
    /// input, one line), or promote the existing account (its password stays).
    CreateAdmin {
        /// The administrator's email address.
        email: String,
        #[command(flatten)]
        db: DbFlags,
    },
}

/// `keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key: it signs from now on (every instance within a minute); tokens
    /// signed by older keys stay valid until those are retired.
    Rotate {
        #[command(flatten)]
        db: DbFlags,
    },
    /// Retire every key but the newest (run at least 10 minutes after `rotate`, so no live
    /// access token needs them).
    Retire {
        #[command(flatten)]
        db: DbFlags,
    },
}

/// `service-token …`.
#[derive(Debug, Subcommand)]
pub enum ServiceTokenCommand {
    /// Make a token named NAME: prints it once (only its SHA-256 is stored).
    Create {
        /// What the token is for, e.g. `league-export` (letters, digits, `.`, `_`, `-`).
        name: String,
        #[command(flatten)]
        db: DbFlags,
    },
    /// List tokens (names and dates, never the tokens).
    List {
        #[command(flatten)]
        db: DbFlags,
    },
    /// Revoke the live token named NAME (effective on its next request).
    Revoke {
        /// The token's name.
        name: String,
        #[command(flatten)]
        db: DbFlags,
    },
}

/// `push …`.
#[derive(Debug, Subcommand)]
pub enum PushCommand {
    /// Make the VAPID key pair every instance signs Web Push requests with (kept in PostgreSQL);
    /// prints its public key. An existing pair is kept unless `--rotate` (which ends every
    /// browser's subscription: they must subscribe again).
    Keygen {
        /// Replace an existing key pair.
        #[arg(long)]
        rotate: bool,
        #[command(flatten)]
        db: DbFlags,
    },
}

/// The PostgreSQL connection.
#[derive(Clone, Debug, Args)]
pub struct DbFlags {
    /// PostgreSQL URL, e.g. postgres://postgres@127.0.0.1/dojo.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

/// `serve`'s flags.
#[derive(Clone, Debug, Args)]
pub struct ServeFlags {
    /// PostgreSQL URL, e.g. postgres://postgres@127.0.0.1/dojo.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Redis URL, e.g. redis://127.0.0.1/. Without it: no live fan-out across instances, no cache,
    /// no rate limits.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// HTTP listen address.
    #[arg(long, env = "CLOUD_SYNC_HTTP_ADDR", default_value = DEFAULT_HTTP_ADDR)]
    pub http_addr: String,
    /// Prefix of every Redis key and channel, so several deployments (or tests) share one Redis.
    #[arg(long, env = "CLOUD_SYNC_REDIS_PREFIX", default_value = "dojo")]
    pub redis_prefix: String,
    /// PostgreSQL connections per instance.
    #[arg(long, env = "CLOUD_SYNC_DB_POOL", default_value_t = 16)]
    pub db_pool: u32,
    /// Requests per venue key per rate-limit window (0: no limit).
    #[arg(long, env = "CLOUD_SYNC_VENUE_LIMIT", default_value_t = 6000)]
    pub venue_limit: u64,
    /// Requests per client address per rate-limit window (0: no limit).
    #[arg(long, env = "CLOUD_SYNC_ADDR_LIMIT", default_value_t = 12000)]
    pub addr_limit: u64,
    /// Length of the rate-limit window, in seconds.
    #[arg(long, env = "CLOUD_SYNC_LIMIT_WINDOW", default_value_t = 60)]
    pub limit_window: u64,
    /// Account requests (register, sign in, verify, reset, …) per client address per window
    /// (0: no limit).
    #[arg(long, env = "CLOUD_SYNC_AUTH_LIMIT", default_value_t = 30)]
    pub auth_limit: u64,
    /// The address people reach the portal at, for links in emails (verify, reset).
    #[arg(
        long,
        env = "CLOUD_SYNC_PUBLIC_URL",
        default_value = "http://127.0.0.1:8090"
    )]
    pub public_url: String,
    /// SMTP relay for email notifications: smtp://host:port (plain, loopback), smtp://host:587?tls=required
    /// (STARTTLS), smtps://host:465; user:password@ if needed. Without it no email is sent.
    #[arg(long, env = "CLOUD_SYNC_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From of notification emails.
    #[arg(
        long,
        env = "CLOUD_SYNC_SMTP_FROM",
        default_value = "DojoPool <no-reply@dojopool.invalid>"
    )]
    pub smtp_from: String,
    /// Let webhooks and push endpoints be private or loopback addresses (tests, closed networks);
    /// off, they are refused (server-side request forgery).
    #[arg(long, env = "CLOUD_SYNC_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
}

/// `venue …`.
#[derive(Debug, Subcommand)]
pub enum VenueCommand {
    /// Enroll a venue: prints its id and its key (shown once; only a hash is stored).
    Create {
        /// The venue's name.
        name: String,
        #[command(flatten)]
        db: DbFlags,
    },
    /// Issue another key for a venue (rotation); prints it once.
    AddKey {
        /// The venue's id.
        venue_id: String,
        #[command(flatten)]
        db: DbFlags,
    },
    /// Revoke a key (read from standard input, so it stays out of the shell history).
    RevokeKey {
        #[command(flatten)]
        db: DbFlags,
    },
}

/// `player …`.
#[derive(Debug, Subcommand)]
pub enum PlayerCommand {
    /// Register a player: prints the new id.
    Create {
        /// The name shown on scoreboards.
        name: String,
        /// The player's rating.
        #[arg(long)]
        rating: Option<i32>,
        #[command(flatten)]
        db: DbFlags,
    },
    /// Remove a registered player (venues are told through the change log).
    Delete {
        /// The player's id.
        id: String,
        #[command(flatten)]
        db: DbFlags,
    },
    /// Drop the change log up to its newest version; venues behind it take a snapshot (410).
    Compact {
        #[command(flatten)]
        db: DbFlags,
    },
}

/// A bad setting, named.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--http-addr` is not `IP:PORT`.
    #[error("--http-addr {0:?} is not an address like 127.0.0.1:8090")]
    HttpAddr(String),
    /// A URL of the wrong scheme.
    #[error("{flag} {url:?} must start with {scheme}")]
    Url {
        /// Which flag.
        flag: &'static str,
        /// What was given (a URL may hold a password, so only its scheme part is kept).
        url: String,
        /// What it must start with.
        scheme: &'static str,
    },
    /// A Redis prefix that would collide with the key layout.
    #[error("--redis-prefix must be 1-64 characters of A-Z a-z 0-9 _ - .")]
    Prefix,
    /// A zero where at least one is needed.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

/// Rate limits (fixed windows in Redis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests per venue key per window; 0 turns the limit off.
    pub venue_per_window: u64,
    /// Requests per client address per window; 0 turns the limit off.
    pub addr_per_window: u64,
    /// Window length in seconds.
    pub window_secs: u64,
    /// Account requests (`/api/v1/auth/…`) per client address per window; 0 turns it off.
    pub auth_per_window: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            venue_per_window: 6000,
            addr_per_window: 12000,
            window_secs: 60,
            auth_per_window: 30,
        }
    }
}

/// The validated configuration of one instance.
#[derive(Clone, Debug)]
pub struct Config {
    /// PostgreSQL URL.
    pub database_url: String,
    /// Redis URL; `None` runs without Redis.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel.
    pub redis_prefix: String,
    /// Listen address (port 0 picks one: see [`crate::Running::addr`]).
    pub http_addr: SocketAddr,
    /// PostgreSQL pool size.
    pub db_pool_size: u32,
    /// Rate limits.
    pub limits: Limits,
    /// The portal's public address (no trailing slash), for links in emails.
    pub public_url: String,
    /// Notification delivery: SMTP, retries, workers.
    pub notifications: crate::notifications::worker::Settings,
    /// Whether this instance runs the projector (always for `serve`; tests turn it off to leave
    /// records acknowledged but not projected, as a crash would).
    pub project: bool,
}

impl Config {
    /// A configuration with the defaults, for tests and embedding.
    pub fn new(database_url: impl Into<String>, redis_url: Option<String>) -> Config {
        Config {
            database_url: database_url.into(),
            redis_url,
            redis_prefix: "dojo".into(),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            db_pool_size: 16,
            limits: Limits::default(),
            public_url: "http://127.0.0.1:8090".into(),
            notifications: crate::notifications::worker::Settings::default(),
            project: true,
        }
    }

    /// Checks `serve`'s flags.
    ///
    /// # Errors
    ///
    /// The first bad setting.
    pub fn from_flags(flags: ServeFlags) -> Result<Config, ConfigError> {
        check_url(
            "--database-url",
            &flags.database_url,
            &["postgres://", "postgresql://"],
        )?;
        if let Some(url) = &flags.redis_url {
            check_url("--redis-url", url, &["redis://", "rediss://", "unix://"])?;
        }
        check_url("--public-url", &flags.public_url, &["http://", "https://"])?;
        if let Some(url) = &flags.smtp_url {
            check_url("--smtp-url", url, &["smtp://", "smtps://"])?;
        }
        let http_addr = flags
            .http_addr
            .parse()
            .map_err(|_| ConfigError::HttpAddr(flags.http_addr.clone()))?;
        if !valid_prefix(&flags.redis_prefix) {
            return Err(ConfigError::Prefix);
        }
        if flags.db_pool == 0 {
            return Err(ConfigError::Zero("--db-pool"));
        }
        if flags.limit_window == 0 {
            return Err(ConfigError::Zero("--limit-window"));
        }
        Ok(Config {
            database_url: flags.database_url,
            redis_url: flags.redis_url,
            redis_prefix: flags.redis_prefix,
            http_addr,
            db_pool_size: flags.db_pool,
            limits: Limits {
                venue_per_window: flags.venue_limit,
                addr_per_window: flags.addr_limit,
                window_secs: flags.limit_window,
                auth_per_window: flags.auth_limit,
            },
            public_url: flags.public_url.trim_end_matches('/').to_owned(),
            notifications: crate::notifications::worker::Settings {
                smtp_url: flags.smtp_url,
                smtp_from: flags.smtp_from,
                allow_private: flags.webhook_allow_private,
                ..crate::notifications::worker::Settings::default()
            },
            project: true,
        })
    }
}

/// Checks a URL's scheme.
///
/// # Errors
///
/// [`ConfigError::Url`] naming the flag.
pub fn check_url(
    flag: &'static str,
    url: &str,
    schemes: &[&'static str],
) -> Result<(), ConfigError> {
    if schemes.iter().any(|s| url.starts_with(s)) {
        return Ok(());
    }
    Err(ConfigError::Url {
        flag,
        url: url.chars().take_while(|c| *c != ':').collect(),
        scheme: schemes.first().copied().unwrap_or_default(),
    })
}

fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() <= 64
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> ServeFlags {
        ServeFlags {
            database_url: "postgres://postgres@127.0.0.1/dojo".into(),
            redis_url: Some("redis://127.0.0.1/".into()),
            http_addr: DEFAULT_HTTP_ADDR.into(),
            redis_prefix: "dojo".into(),
            db_pool: 4,
            venue_limit: 10,
            addr_limit: 10,
            limit_window: 60,
            auth_limit: 30,
            public_url: "http://127.0.0.1:8090".into(),
            smtp_url: None,
            smtp_from: "no-reply@dojopool.invalid".into(),
            webhook_allow_private: false,
        }
    }

    #[test]
    fn good_flags_make_a_config() {
        let config = Config::from_flags(flags()).expect("valid");
        assert_eq!(config.http_addr.port(), 8090);
    }

    #[test]
    fn bad_flags_are_named() {
        let mut bad = flags();
        bad.http_addr = "nowhere".into();
        assert!(matches!(
            Config::from_flags(bad),
            Err(ConfigError::HttpAddr(_))
        ));
        let mut bad = flags();
        bad.database_url = "mysql://secret@x/db".into();
        let error = Config::from_flags(bad)
            .expect_err("wrong scheme")
            .to_string();
        assert!(
            error.contains("--database-url") && !error.contains("secret"),
            "{error}"
        );
        let mut bad = flags();
        bad.redis_prefix = "a:b".into();
        assert!(matches!(Config::from_flags(bad), Err(ConfigError::Prefix)));
    }
}
