//! What the bridge is told: command-line flags, or a TOML file (`--config`) that flags override.
//!
//! ```toml
//! mqtt_url = "mqtt://127.0.0.1:1883"
//! ports = ["/dev/serial/by-id/usb-Dojo_Table_Controller_T1-if00"]
//! baud = 115200                 # optional, default 115200
//! bridge_id = "bridge-hall-a"   # optional, default "firmware-bridge"
//! heartbeat_timeout_ms = 10000  # optional: a silent controller is offline after this
//! buffer = 10000                # optional: events kept while the broker is unreachable
//! metrics_addr = "127.0.0.1:9464"  # optional: serve Prometheus metrics on /metrics
//! mqtt_username = "bridge-hall-a"   # optional, default: the bridge id
//! mqtt_password = "dpd_…"           # printed by `edge-agent device add bridge-hall-a --table …`
//! ```
//!
//! The MQTT password comes from `--mqtt-password`, else `DOJO_MQTT_PASSWORD`, else
//! `mqtt_password`; a service keeps it in the file (a command line is visible to every user in
//! `ps`). It is never logged or printed: [`Password`]'s `Debug` hides it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

/// Default serial speed.
pub const DEFAULT_BAUD: u32 = 115_200;
/// Default MQTT broker.
pub const DEFAULT_MQTT_URL: &str = "mqtt://127.0.0.1:1883";
/// Default bridge id (its status topic `dojo/v1/devices/{bridge_id}/status` carries the last-will).
pub const DEFAULT_BRIDGE_ID: &str = "firmware-bridge";
/// A controller that sends nothing for this long is reported offline (protocol: 10 s).
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
/// Events kept while the broker is unreachable; past this the oldest are dropped and counted.
pub const DEFAULT_BUFFER: usize = 10_000;

/// A bad configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value out of range, or nothing to do.
    #[error("{0}")]
    Invalid(String),
}

/// The TOML file, every field optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Serial ports, by path (prefer `/dev/serial/by-id/...`: it survives re-enumeration).
    #[serde(default)]
    pub ports: Vec<PathBuf>,
    /// `mqtt://host:port`.
    pub mqtt_url: Option<String>,
    /// Serial speed.
    pub baud: Option<u32>,
    /// The bridge's own id.
    pub bridge_id: Option<String>,
    /// Milliseconds of silence before a controller is reported offline.
    pub heartbeat_timeout_ms: Option<u64>,
    /// Events kept while the broker is unreachable.
    pub buffer: Option<usize>,
    /// Where to serve `GET /metrics` (Prometheus), e.g. `127.0.0.1:9464`.
    pub metrics_addr: Option<String>,
    /// MQTT username (default: the bridge id, which is what edge-agent provisions).
    pub mqtt_username: Option<String>,
    /// MQTT password: the secret `edge-agent device add` printed.
    pub mqtt_password: Option<Password>,
}

/// A secret that never shows in `Debug` (logs, `--check-config`, panics).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// The password itself, for the MQTT CONNECT only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Password {
    fn from(secret: String) -> Password {
        Password(secret)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(hidden)")
    }
}

/// What the command line (with its environment variables) says; each `None` or empty falls back
/// to the file, then the default.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--port` (repeatable).
    pub ports: Vec<PathBuf>,
    /// `--mqtt-url` / `DOJO_MQTT_URL`.
    pub mqtt_url: Option<String>,
    /// `--baud`.
    pub baud: Option<u32>,
    /// `--bridge-id`.
    pub bridge_id: Option<String>,
    /// `--metrics-addr`.
    pub metrics_addr: Option<String>,
    /// `--mqtt-username`.
    pub mqtt_username: Option<String>,
    /// `--mqtt-password` / `DOJO_MQTT_PASSWORD`.
    pub mqtt_password: Option<Password>,
}

impl FileConfig {
    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }
}

/// Everything the bridge needs, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Serial ports; one task each.
    pub ports: Vec<PathBuf>,
    /// Broker host.
    pub mqtt_host: String,
    /// Broker port.
    pub mqtt_port: u16,
    /// Serial speed.
    pub baud: u32,
    /// The bridge's id (status topic and MQTT client id prefix).
    pub bridge_id: String,
    /// Silence after which a controller is offline.
    pub heartbeat_timeout: Duration,
    /// Events kept while the broker is unreachable.
    pub buffer: usize,
    /// Where to serve `GET /metrics`; `None`: no metrics endpoint.
    pub metrics_addr: Option<SocketAddr>,
    /// MQTT username; `None`: the bridge id ([`BridgeConfig::username`]).
    pub mqtt_username: Option<String>,
    /// MQTT password; `None`: connect without credentials (a broker open to anonymous devices).
    pub mqtt_password: Option<Password>,
}

impl BridgeConfig {
    /// The MQTT username: `mqtt_username`, else the bridge id.
    #[must_use]
    pub fn username(&self) -> &str {
        self.mqtt_username.as_deref().unwrap_or(&self.bridge_id)
    }

    /// A configuration with the defaults, for `ports` and the broker at `host:port`.
    pub fn new(ports: Vec<PathBuf>, mqtt_host: &str, mqtt_port: u16) -> BridgeConfig {
        BridgeConfig {
            ports,
            mqtt_host: mqtt_host.to_owned(),
            mqtt_port,
            baud: DEFAULT_BAUD,
            bridge_id: DEFAULT_BRIDGE_ID.to_owned(),
            heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            buffer: DEFAULT_BUFFER,
            metrics_addr: None,
            mqtt_username: None,
            mqtt_password: None,
        }
    }

    /// Merges flags over a file over defaults.
    pub fn resolve(file: FileConfig, flags: Overrides) -> Result<BridgeConfig, ConfigError> {
        let Overrides {
            ports,
            mqtt_url,
            baud,
            bridge_id,
            metrics_addr,
            mqtt_username,
            mqtt_password,
        } = flags;
        let ports = if ports.is_empty() { file.ports } else { ports };
        if ports.is_empty() {
            return Err(ConfigError::Invalid(
                "no serial port: give --port PATH (repeatable) or `ports = [...]` in --config"
                    .into(),
            ));
        }
        let url = mqtt_url
            .or(file.mqtt_url)
            .unwrap_or_else(|| DEFAULT_MQTT_URL.to_owned());
        let (mqtt_host, mqtt_port) = parse_mqtt_url(&url)?;
        let baud = baud.or(file.baud).unwrap_or(DEFAULT_BAUD);
        if baud == 0 {
            return Err(ConfigError::Invalid("baud must be above 0".into()));
        }
        let bridge_id = bridge_id
            .or(file.bridge_id)
            .unwrap_or_else(|| DEFAULT_BRIDGE_ID.to_owned());
        if !shared::protocol::valid_id(&bridge_id) {
            return Err(ConfigError::Invalid(format!(
                "bridge id {bridge_id:?} must be 1-32 characters of A-Z a-z 0-9 _ -"
            )));
        }
        let heartbeat_timeout = file
            .heartbeat_timeout_ms
            .map_or(DEFAULT_HEARTBEAT_TIMEOUT, Duration::from_millis);
        if heartbeat_timeout < Duration::from_millis(100) {
            return Err(ConfigError::Invalid(
                "heartbeat_timeout_ms must be at least 100".into(),
            ));
        }
        let buffer = file.buffer.unwrap_or(DEFAULT_BUFFER);
        if buffer == 0 {
            return Err(ConfigError::Invalid("buffer must be at least 1".into()));
        }
        let metrics_addr = metrics_addr
            .or(file.metrics_addr)
            .map(|addr| {
                addr.parse().map_err(|_| {
                    ConfigError::Invalid(format!(
                        "metrics address {addr:?} is not an address like 127.0.0.1:9464"
                    ))
                })
            })
            .transpose()?;
        let mqtt_username = mqtt_username.or(file.mqtt_username);
        if let Some(username) = &mqtt_username
            && !shared::protocol::valid_id(username)
        {
            return Err(ConfigError::Invalid(format!(
                "MQTT username {username:?} must be 1-32 characters of A-Z a-z 0-9 _ - (a device id)"
            )));
        }
        let mqtt_password = mqtt_password
            .filter(|p| !p.expose().is_empty())
            .or(file.mqtt_password)
            .filter(|p| !p.expose().is_empty());
        Ok(BridgeConfig {
            ports,
            mqtt_host,
            mqtt_port,
            baud,
            bridge_id,
            heartbeat_timeout,
            buffer,
            metrics_addr,
            mqtt_username,
            mqtt_password,
        })
    }
}

/// `mqtt://host:port`, `tcp://host:port` or `host:port` (port 1883 if absent).
pub fn parse_mqtt_url(url: &str) -> Result<(String, u16), ConfigError> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .unwrap_or(url)
        .trim_end_matches('/');
    let bad = || ConfigError::Invalid(format!("bad MQTT URL {url:?}: expected mqtt://host:port"));
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => {
            (host, port.parse::<u16>().map_err(|_| bad())?)
        }
        _ => (rest, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 || rest.contains('/') {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_mqtt_url("mqtt://127.0.0.1:1884").ok(),
            Some(("127.0.0.1".into(), 1884))
        );
        assert_eq!(parse_mqtt_url("broker").ok(), Some(("broker".into(), 1883)));
        assert!(parse_mqtt_url("mqtt://h:x").is_err());
        assert!(parse_mqtt_url("mqtt://").is_err());
    }

    #[test]
    fn flags_override_the_file() {
        let file: FileConfig = toml::from_str(
            "ports = [\"/dev/a\"]\nmqtt_url = \"mqtt://h:1\"\nbaud = 9600\nbuffer = 5\nheartbeat_timeout_ms = 500\nmetrics_addr = \"127.0.0.1:9464\"",
        )
        .expect("parses");
        let c = BridgeConfig::resolve(file.clone(), Overrides::default()).expect("valid");
        assert_eq!(c.ports, vec![PathBuf::from("/dev/a")]);
        assert_eq!((c.mqtt_host.as_str(), c.mqtt_port, c.baud), ("h", 1, 9600));
        assert_eq!(c.buffer, 5);
        assert_eq!(c.heartbeat_timeout, Duration::from_millis(500));
        assert_eq!(c.metrics_addr, "127.0.0.1:9464".parse().ok());
        let c = BridgeConfig::resolve(
            file.clone(),
            Overrides {
                ports: vec!["/dev/b".into()],
                baud: Some(57600),
                metrics_addr: Some("0.0.0.0:9500".into()),
                ..Overrides::default()
            },
        )
        .expect("valid");
        assert_eq!((c.ports[0].to_str(), c.baud), (Some("/dev/b"), 57600));
        assert_eq!(c.metrics_addr, "0.0.0.0:9500".parse().ok());
        let bad = BridgeConfig::resolve(
            file,
            Overrides {
                metrics_addr: Some("nowhere".into()),
                ..Overrides::default()
            },
        );
        assert!(bad.is_err());
        assert!(BridgeConfig::resolve(FileConfig::default(), Overrides::default()).is_err());
        assert!(toml::from_str::<FileConfig>("nope = 1").is_err());
    }

    #[test]
    fn the_credential_comes_from_the_flag_else_the_file_and_never_shows() {
        let file: FileConfig = toml::from_str(
            "ports = [\"/dev/a\"]\nbridge_id = \"bridge-a\"\nmqtt_password = \"dpd_from-file\"",
        )
        .expect("parses");
        let c = BridgeConfig::resolve(file.clone(), Overrides::default()).expect("valid");
        assert_eq!(
            c.username(),
            "bridge-a",
            "the username defaults to the bridge id"
        );
        assert_eq!(
            c.mqtt_password.as_ref().map(Password::expose),
            Some("dpd_from-file")
        );
        assert!(
            !format!("{c:?} {file:?}").contains("dpd_"),
            "never in Debug"
        );
        let c = BridgeConfig::resolve(
            file.clone(),
            Overrides {
                mqtt_username: Some("other".into()),
                mqtt_password: Some(Password::from("dpd_from-flag".to_owned())),
                ..Overrides::default()
            },
        )
        .expect("valid");
        assert_eq!(c.username(), "other");
        assert_eq!(
            c.mqtt_password.as_ref().map(Password::expose),
            Some("dpd_from-flag")
        );
        // An empty flag or variable (`DOJO_MQTT_PASSWORD=`) is no password: the file's counts.
        let c = BridgeConfig::resolve(
            file.clone(),
            Overrides {
                mqtt_password: Some(Password::from(String::new())),
                ..Overrides::default()
            },
        )
        .expect("valid");
        assert_eq!(
            c.mqtt_password.as_ref().map(Password::expose),
            Some("dpd_from-file")
        );
        let bad = BridgeConfig::resolve(
            file,
            Overrides {
                mqtt_username: Some("no spaces".into()),
                ..Overrides::default()
            },
        );
        assert!(bad.is_err());
    }
}
