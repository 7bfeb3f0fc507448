//! One validated configuration from, in order of precedence, flags, `DOJO_*` environment variables,
//! a TOML file (`--config`) and built-in defaults.
//!
//! A bad configuration is one clear error naming the field, and `main` exits with status 2, so
//! `systemctl status` shows what to fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

/// Command-line flags (a contract: other programs and unit files use these names).
#[derive(Debug, Default, Parser)]
#[command(
    name = "edge-agent",
    version,
    about = "DojoPool venue agent: tables over MQTT → rules → SQLite → screens"
)]
pub struct Flags {
    /// `device add|list|revoke`; none runs the agent.
    #[command(subcommand)]
    pub command: Option<crate::devices::cli::Command>,
    /// TOML configuration file; flags and DOJO_* variables override it.
    #[arg(long, env = "DOJO_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Run simulated tables too, so the screens show live games at once.
    #[arg(long, env = "DOJO_DEMO")]
    pub demo: bool,
    /// Where SQLite lives [default: ./dojo-data].
    #[arg(long, env = "DOJO_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address for the API, WebSocket and pages [default: 127.0.0.1:8080].
    #[arg(long, env = "DOJO_HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// Listen address of the embedded MQTT broker [default: 127.0.0.1:1883].
    #[arg(long, env = "DOJO_MQTT_ADDR")]
    pub mqtt_addr: Option<String>,
    /// Use an external broker (mqtt://host:port) instead of the embedded one.
    #[arg(long, env = "DOJO_MQTT_URL")]
    pub mqtt_url: Option<String>,
    /// Bearer token required for writes (starting matches, actions). Reads are open.
    #[arg(long, env = "DOJO_STAFF_TOKEN", hide_env_values = true)]
    pub staff_token: Option<String>,
    /// Venue name shown on the pages.
    #[arg(long, env = "DOJO_VENUE")]
    pub venue: Option<String>,
    /// cloud-sync's base URL (https://…); with --venue-id and --venue-key it enables sync.
    /// Without them the agent runs offline and keeps its outbox.
    #[arg(long, env = "DOJO_CLOUD_URL")]
    pub cloud_url: Option<String>,
    /// This venue's id at cloud-sync (`cloud-sync venue create` prints it).
    #[arg(long, env = "DOJO_VENUE_ID")]
    pub venue_id: Option<String>,
    /// This venue's key at cloud-sync (printed once by `cloud-sync venue create`).
    #[arg(long, env = "DOJO_VENUE_KEY", hide_env_values = true)]
    pub venue_key: Option<String>,
    /// Tables to register at start-up if the registry does not know them yet (comma-separated ids,
    /// e.g. `t1,t2,t3`); staff name, order and retire them in the console.
    #[arg(long, env = "DOJO_TABLES", value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Write WebSocket updates straight into idle screens' sockets from a few writer threads
    /// (`on`), or only from each screen's own task (`off`) [default: on].
    #[arg(long, env = "DOJO_WS_DIRECT_WRITES", value_enum)]
    pub ws_direct_writes: Option<Switch>,
    /// A camera that opened a shot and sends no shot_end for this long hands the shot to the
    /// pocket sensors; 0 = wait for the camera [default: 20000].
    #[arg(long, env = "DOJO_CAMERA_SHOT_TIMEOUT_MS")]
    pub camera_shot_timeout_ms: Option<u64>,
    /// Seconds after a tournament match is called before staff may forfeit a player who has not
    /// come to the table [default: 600].
    #[arg(
        long = "call-timeout",
        env = "DOJO_CALL_TIMEOUT",
        value_name = "SECONDS"
    )]
    pub call_timeout: Option<u64>,
    /// Let any device connect to the embedded broker without credentials, as before devices were
    /// provisioned: a lab bench only (warned in the log and on the console).
    #[arg(long, env = "DOJO_ALLOW_ANONYMOUS_DEVICES")]
    pub allow_anonymous_devices: bool,
    /// Only check the configuration and print it (systemd runs this as ExecStartPre).
    #[arg(long)]
    pub check_config: bool,
}

/// A setting that is `on` or `off`, spelled the same as a flag, in the environment and in TOML.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// The TOML file: the same settings as the flags, plus the tuning knobs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    demo: Option<bool>,
    data_dir: Option<PathBuf>,
    http_addr: Option<String>,
    mqtt_addr: Option<String>,
    mqtt_url: Option<String>,
    staff_token: Option<String>,
    venue: Option<String>,
    demo_tables: Option<usize>,
    shot_quiet_ms: Option<u64>,
    presence_timeout_ms: Option<u64>,
    table_lights: Option<bool>,
    cloud_url: Option<String>,
    venue_id: Option<String>,
    venue_key: Option<String>,
    sync_max_backoff_ms: Option<u64>,
    sync_keep_days: Option<u32>,
    ws_direct_writes: Option<Switch>,
    camera_shot_timeout_ms: Option<u64>,
    call_timeout: Option<u64>,
    tables: Option<Vec<String>>,
    allow_anonymous_devices: Option<bool>,
}

/// Where the agent gets its MQTT (`crate::mqtt` connects accordingly).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MqttMode {
    /// Run rumqttd in-process listening on this address.
    Embedded {
        /// `--mqtt-addr`.
        listen: SocketAddr,
    },
    /// Connect to an external broker (`--mqtt-url mqtt://host:port`).
    External {
        /// `--mqtt-url`.
        url: String,
    },
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Run simulated tables.
    pub demo: bool,
    /// How many simulated tables.
    pub demo_tables: usize,
    /// SQLite directory.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// Embedded broker or external broker.
    pub mqtt: MqttMode,
    /// Staff token; without one, writes are refused.
    pub staff_token: Option<String>,
    /// Venue name.
    pub venue: String,
    /// With no camera, a shot with balls down closes after this much quiet; 0 = only on end_turn.
    pub shot_quiet_ms: u64,
    /// A device silent this long shows as offline.
    pub presence_timeout_ms: u64,
    /// Switch table lights on at a match's start and off at its end.
    pub table_lights: bool,
    /// Where and as whom to sync; `None` runs offline.
    pub cloud: Option<CloudConfig>,
    /// Writer threads write WebSocket updates straight into idle screens' sockets.
    pub ws_direct_writes: bool,
    /// A camera silent this long mid-shot hands the shot to the pocket sensors; 0 = never.
    pub camera_shot_timeout_ms: u64,
    /// A tournament's no-show may be forfeited this long after the call (`--call-timeout`, in
    /// seconds; kept here in ms).
    pub call_timeout_ms: u64,
    /// Tables registered at start-up if the registry does not know them (`--tables`, `tables`).
    pub tables: Vec<String>,
    /// The embedded broker lets devices in without credentials (`--allow-anonymous-devices`).
    pub allow_anonymous_devices: bool,
}

/// How to reach cloud-sync.
#[derive(Clone, PartialEq, Eq)]
pub struct CloudConfig {
    /// Base URL, without a trailing slash.
    pub url: String,
    /// This venue's id there.
    pub venue_id: String,
    /// This venue's key (a secret: never printed).
    pub venue_key: String,
    /// The longest wait between retries while the cloud is unreachable.
    pub max_backoff_ms: u64,
    /// How long acknowledged records are kept, to send again to a cloud restored from a backup.
    pub keep_sent_days: u32,
}

impl std::fmt::Debug for CloudConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudConfig")
            .field("url", &self.url)
            .field("venue_id", &self.venue_id)
            .finish_non_exhaustive()
    }
}

/// All three cloud settings or none.
fn cloud(
    url: Option<String>,
    venue_id: Option<String>,
    venue_key: Option<String>,
    max_backoff_ms: Option<u64>,
    keep_sent_days: Option<u32>,
) -> Result<Option<CloudConfig>, ConfigError> {
    let max_backoff_ms = max_backoff_ms.unwrap_or(60_000);
    if !(1000..=3_600_000).contains(&max_backoff_ms) {
        return Err(bad(
            "sync_max_backoff_ms",
            "must be between 1000 and 3600000",
        ));
    }
    let keep_sent_days = keep_sent_days.unwrap_or(30);
    if !(1..=3650).contains(&keep_sent_days) {
        return Err(bad("sync_keep_days", "must be between 1 and 3650"));
    }
    let (url, venue_id, venue_key) = match (url, venue_id, venue_key) {
        (None, None, None) => return Ok(None),
        (None, _, _) => return Err(bad("cloud-url", "needed with --venue-id and --venue-key")),
        (_, None, _) => return Err(bad("venue-id", "needed with --cloud-url")),
        (_, _, None) => return Err(bad("venue-key", "needed with --cloud-url")),
        (Some(u), Some(i), Some(k)) => (u, i, k),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad(
            "cloud-url",
            format!("{url:?} must look like https://host[:port]"),
        ));
    }
    if !shared::protocol::valid_id(&venue_id) {
        return Err(bad(
            "venue-id",
            "must be 1-64 characters of letters, digits, - and _",
        ));
    }
    if venue_key.len() < 16 {
        return Err(bad("venue-key", "must be at least 16 characters"));
    }
    Ok(Some(CloudConfig {
        url: url.trim_end_matches('/').to_owned(),
        venue_id,
        venue_key,
        max_backoff_ms,
        keep_sent_days,
    }))
}

/// A configuration problem, naming the field.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {field}: {problem}")]
pub struct ConfigError {
    /// The flag or file key.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn bad(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        problem: problem.into(),
    }
}

fn addr(field: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        bad(
            field,
            format!("{value:?} is not an address like 127.0.0.1:8080"),
        )
    })
}

impl Config {
    /// Merges flags (with their environment variables) over the file over the defaults.
    pub fn load(flags: Flags) -> Result<Config, ConfigError> {
        let file = match &flags.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let http = flags
            .http_addr
            .or(file.http_addr)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let mqtt_addr = flags.mqtt_addr.or(file.mqtt_addr);
        let mqtt = match (flags.mqtt_url.or(file.mqtt_url), mqtt_addr) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "mqtt-url",
                    "give either --mqtt-url (external broker) or --mqtt-addr (embedded), not both",
                ));
            }
            (Some(url), None) => {
                if !(url.starts_with("mqtt://") || url.starts_with("tcp://")) {
                    return Err(bad(
                        "mqtt-url",
                        format!("{url:?} must look like mqtt://host:port"),
                    ));
                }
                MqttMode::External { url }
            }
            (None, listen) => {
                let listen = addr("mqtt-addr", listen.as_deref().unwrap_or("127.0.0.1:1883"))?;
                // Devices are configured with the broker's port; a port the system picks would
                // be one nobody can find.
                if listen.port() == 0 {
                    return Err(bad(
                        "mqtt-addr",
                        "the embedded broker needs a fixed port that devices are told, not 0",
                    ));
                }
                MqttMode::Embedded { listen }
            }
        };
        let staff_token = flags.staff_token.or(file.staff_token);
        if let Some(problem) = staff_token.as_deref().and_then(staff_token_problem) {
            return Err(bad("staff-token", problem));
        }
        let demo_tables = file.demo_tables.unwrap_or(4);
        if !(1..=64).contains(&demo_tables) {
            return Err(bad("demo_tables", "must be between 1 and 64"));
        }
        let demo = flags.demo || file.demo.unwrap_or(false);
        if demo && !cfg!(feature = "demo") {
            return Err(bad(
                "demo",
                "this edge-agent was built without the demo feature",
            ));
        }
        let camera_shot_timeout_ms = flags
            .camera_shot_timeout_ms
            .or(file.camera_shot_timeout_ms)
            .unwrap_or(20_000);
        if camera_shot_timeout_ms != 0 && camera_shot_timeout_ms < 1000 {
            return Err(bad(
                "camera-shot-timeout-ms",
                "must be 0 (never) or at least 1000",
            ));
        }
        let call_timeout = flags.call_timeout.or(file.call_timeout).unwrap_or(600);
        if call_timeout > 24 * 3600 {
            return Err(bad("call-timeout", "must be at most 86400 seconds (a day)"));
        }
        let presence_timeout_ms = file.presence_timeout_ms.unwrap_or(15_000);
        if presence_timeout_ms < 1000 {
            return Err(bad("presence_timeout_ms", "must be at least 1000"));
        }
        let tables = if flags.tables.is_empty() {
            file.tables.unwrap_or_default()
        } else {
            flags.tables
        };
        if let Some(bad_id) = tables.iter().find(|t| !shared::protocol::valid_id(t)) {
            return Err(bad(
                "tables",
                format!("{bad_id:?} is not a table id (1-32 letters, digits, '-' or '_')"),
            ));
        }
        Ok(Config {
            tables,
            allow_anonymous_devices: flags.allow_anonymous_devices
                || file.allow_anonymous_devices.unwrap_or(false),
            demo,
            demo_tables,
            data_dir: flags
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("dojo-data")),
            http_addr: addr("http-addr", &http)?,
            mqtt,
            staff_token,
            venue: flags
                .venue
                .or(file.venue)
                .unwrap_or_else(|| "DojoPool venue".into()),
            shot_quiet_ms: file.shot_quiet_ms.unwrap_or(10_000),
            presence_timeout_ms,
            table_lights: file.table_lights.unwrap_or(true),
            cloud: cloud(
                flags.cloud_url.or(file.cloud_url),
                flags.venue_id.or(file.venue_id),
                flags.venue_key.or(file.venue_key),
                file.sync_max_backoff_ms,
                file.sync_keep_days,
            )?,
            ws_direct_writes: flags.ws_direct_writes.or(file.ws_direct_writes) != Some(Switch::Off),
            camera_shot_timeout_ms,
            call_timeout_ms: call_timeout * 1000,
        })
    }
}

impl std::fmt::Display for Config {
    /// Everything but the staff token's value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mqtt = match &self.mqtt {
            MqttMode::Embedded { listen } => format!("embedded broker on {listen}"),
            MqttMode::External { url } => format!("external broker {url}"),
        };
        write!(
            f,
            "venue {:?}; tables declared {}; data in {}; HTTP on {}; MQTT {mqtt}, {}; staff token {}; demo {} ({} tables); shot quiet period {} ms; presence timeout {} ms; camera shot timeout {} ms; tournament call timeout {} s; table lights {}; cloud sync {}; WebSocket direct writes {}",
            self.venue,
            if self.tables.is_empty() {
                "none".to_owned()
            } else {
                self.tables.join(",")
            },
            self.data_dir.display(),
            self.http_addr,
            match (&self.mqtt, self.allow_anonymous_devices) {
                (MqttMode::External { .. }, _) => "devices authenticated by that broker",
                (MqttMode::Embedded { .. }, false) => "provisioned devices only",
                (MqttMode::Embedded { .. }, true) =>
                    "ANONYMOUS DEVICES ALLOWED (--allow-anonymous-devices: a lab bench only)",
            },
            if self.staff_token.is_some() {
                "set"
            } else {
                "not set (writes refused)"
            },
            self.demo,
            self.demo_tables,
            self.shot_quiet_ms,
            self.presence_timeout_ms,
            self.camera_shot_timeout_ms,
            self.call_timeout_ms / 1000,
            if self.table_lights {
                "switched"
            } else {
                "left alone"
            },
            match &self.cloud {
                Some(c) => format!("to {} as venue {}", c.url, c.venue_id),
                None => "off (offline, the outbox is kept)".into(),
            },
            if self.ws_direct_writes { "on" } else { "off" },
        )
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad("config", format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| bad("config", format!("{}: {}", path.display(), e.message())))
}

/// The shortest staff token accepted.
pub const MIN_STAFF_TOKEN_CHARS: usize = 16;
/// The fewest different characters a staff token must have.
pub const MIN_STAFF_TOKEN_DISTINCT: usize = 8;

/// Why a staff token is too weak to guard the venue's writes, or `None`: it must be at least
/// [`MIN_STAFF_TOKEN_CHARS`] printable ASCII characters without spaces (what an `Authorization`
/// header carries), not all digits, with at least [`MIN_STAFF_TOKEN_DISTINCT`] different ones.
pub fn staff_token_problem(token: &str) -> Option<String> {
    const HOW: &str =
        "make one with `openssl rand -base64 24` (or 16+ random letters, digits and signs)";
    let problem = if !token.chars().all(|c| c.is_ascii_graphic()) {
        "must be printable ASCII characters without spaces"
    } else if token.len() < MIN_STAFF_TOKEN_CHARS {
        "is too short: it must be at least 16 characters"
    } else if token.chars().all(|c| c.is_ascii_digit()) {
        "is all digits, which is quick to guess"
    } else if token
        .chars()
        .collect::<std::collections::HashSet<char>>()
        .len()
        < MIN_STAFF_TOKEN_DISTINCT
    {
        "repeats too few characters: it needs at least 8 different ones"
    } else {
        return None;
    };
    Some(format!("too weak: the token {problem}; {HOW}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_staff_tokens_are_refused_with_how_to_make_a_good_one() {
        for weak in [
            "12345678",
            "1234567890123456789",
            "short-Token1",
            "abababababababababab",
            "with spaces in the token",
            "ünïcödé-tökén-123456",
        ] {
            let problem = staff_token_problem(weak);
            assert!(
                problem
                    .as_deref()
                    .is_some_and(|p| p.contains("openssl rand")),
                "{weak}: {problem:?}"
            );
        }
        for good in [
            "staff-secret-for-tests",
            "q3V9+xk2LmP0aZr7",
            "0f3a9c1e77d24b5a",
        ] {
            assert_eq!(staff_token_problem(good), None, "{good}");
        }
        let flags = Flags::try_parse_from(["edge-agent", "--staff-token", "12345678"]);
        let error = Config::load(flags.expect("valid flags")).err();
        assert!(
            error.is_some_and(|e| e.field == "staff-token" && e.problem.contains("16")),
            "a weak token is a configuration error"
        );
    }

    #[test]
    fn defaults_are_the_embedded_appliance() {
        let config = Config::load(Flags::default()).expect("defaults are valid");
        assert_eq!(config.http_addr, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(
            config.mqtt,
            MqttMode::Embedded {
                listen: "127.0.0.1:1883".parse().expect("addr")
            }
        );
        assert_eq!(config.data_dir, PathBuf::from("dojo-data"));
        assert!(config.ws_direct_writes);
    }

    #[test]
    fn direct_writes_switch_off_by_flag_or_file() {
        let flags = Flags::try_parse_from(["edge-agent", "--ws-direct-writes", "off"]);
        let config = Config::load(flags.expect("valid flags")).expect("valid");
        assert!(!config.ws_direct_writes);
        assert!(Flags::try_parse_from(["edge-agent", "--ws-direct-writes", "maybe"]).is_err());
        let file: FileConfig = toml::from_str("ws_direct_writes = \"off\"").expect("valid TOML");
        assert_eq!(file.ws_direct_writes, Some(Switch::Off));
    }

    #[test]
    fn anonymous_devices_only_when_asked_by_flag_or_file() {
        let config = Config::load(Flags::default()).expect("valid");
        assert!(!config.allow_anonymous_devices);
        assert!(config.to_string().contains("provisioned devices only"));
        let flags = Flags::try_parse_from(["edge-agent", "--allow-anonymous-devices"]);
        let config = Config::load(flags.expect("valid flags")).expect("valid");
        assert!(config.allow_anonymous_devices);
        assert!(config.to_string().contains("ANONYMOUS DEVICES ALLOWED"));
        let file: FileConfig =
            toml::from_str("allow_anonymous_devices = true").expect("valid TOML");
        assert_eq!(file.allow_anonymous_devices, Some(true));
    }

    #[test]
    fn device_subcommands_take_the_agent_s_data_dir_before_or_after() {
        use crate::devices::cli::{Command, DeviceCommand};
        let flags = Flags::try_parse_from([
            "edge-agent",
            "--data-dir",
            "/d",
            "device",
            "add",
            "bridge-a",
            "--table",
            "t1",
            "--table",
            "t2",
        ])
        .expect("valid");
        assert_eq!(flags.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(
            flags.command,
            Some(Command::Device(DeviceCommand::Add {
                device: "bridge-a".into(),
                tables: vec!["t1".into(), "t2".into()],
            }))
        );
        let flags = Flags::try_parse_from(["edge-agent", "device", "list", "--data-dir", "/e"])
            .expect("valid");
        assert_eq!(flags.data_dir, Some(PathBuf::from("/e")));
        assert!(Flags::try_parse_from(["edge-agent", "device", "add", "x"]).is_err());
        // The agent's own flags still run the agent.
        let flags = Flags::try_parse_from(["edge-agent", "--data-dir", "/d"]).expect("valid");
        assert_eq!(flags.command, None);
    }

    #[test]
    fn tables_are_declared_by_flag_or_file() {
        let flags = Flags::try_parse_from(["edge-agent", "--tables", "t1,t2"]);
        let config = Config::load(flags.expect("valid flags")).expect("valid");
        assert_eq!(config.tables, ["t1", "t2"]);
        let file: FileConfig = toml::from_str("tables = [\"bar-1\"]").expect("valid TOML");
        assert_eq!(file.tables, Some(vec!["bar-1".to_owned()]));
        let flags = Flags::try_parse_from(["edge-agent", "--tables", "t 1"]);
        let field = Config::load(flags.expect("valid flags"))
            .err()
            .map(|e| e.field);
        assert_eq!(field, Some("tables"));
    }

    #[test]
    fn errors_name_the_field() {
        let flags = Flags {
            http_addr: Some("nonsense".into()),
            ..Flags::default()
        };
        assert_eq!(
            Config::load(flags).err().map(|e| e.field),
            Some("http-addr")
        );
        let flags = Flags {
            mqtt_url: Some("http://x".into()),
            ..Flags::default()
        };
        assert_eq!(Config::load(flags).err().map(|e| e.field), Some("mqtt-url"));
        let flags = Flags {
            mqtt_addr: Some("127.0.0.1:0".into()),
            ..Flags::default()
        };
        assert_eq!(
            Config::load(flags).err().map(|e| e.field),
            Some("mqtt-addr")
        );
    }

    #[test]
    fn cloud_sync_needs_all_three_settings() {
        let flags = Flags {
            cloud_url: Some("https://cloud.example".into()),
            venue_id: Some("v1".into()),
            ..Flags::default()
        };
        assert_eq!(
            Config::load(flags).err().map(|e| e.field),
            Some("venue-key")
        );
        let flags = Flags {
            cloud_url: Some("https://cloud.example/".into()),
            venue_id: Some("v1".into()),
            venue_key: Some("dpv_0123456789abcdef".into()),
            ..Flags::default()
        };
        let config = Config::load(flags).expect("valid");
        let cloud = config.cloud.clone().expect("sync on");
        assert_eq!(cloud.url, "https://cloud.example");
        assert!(
            !format!("{config} {cloud:?}").contains("dpv_"),
            "the key is never printed"
        );
    }

    #[test]
    fn the_file_fills_in_and_flags_win() {
        let dir = std::env::temp_dir().join(format!("dojo-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("agent.toml");
        std::fs::write(
            &path,
            "venue = \"Cue Club\"\nhttp_addr = \"127.0.0.1:9000\"\nshot_quiet_ms = 0\n",
        )
        .expect("write");
        let flags = Flags {
            config: Some(path.clone()),
            http_addr: Some("127.0.0.1:9100".into()),
            ..Flags::default()
        };
        let config = Config::load(flags).expect("valid");
        assert_eq!(config.venue, "Cue Club");
        assert_eq!(config.http_addr.port(), 9100);
        assert_eq!(config.shot_quiet_ms, 0);
        std::fs::write(&path, "colour = \"blue\"\n").expect("write");
        let error = Config::load(Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .err()
        .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("colour")));
        std::fs::write(
            &path,
            "cloud_url = \"https://c.example\"\nvenue_id = \"v1\"\nvenue_key = \"dpv_0123456789abcdef\"\nsync_keep_days = 0\n",
        )
        .expect("write");
        let field = |path: &PathBuf| {
            Config::load(Flags {
                config: Some(path.clone()),
                ..Flags::default()
            })
            .err()
            .map(|e| e.field)
        };
        assert_eq!(field(&path), Some("sync_keep_days"));
        std::fs::remove_dir_all(dir).ok();
    }
}
