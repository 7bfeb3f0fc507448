//! `edge-agent device add|list|revoke`: provisioning from a shell, beside a running agent or
//! without one. It writes only the device book (`DATA_DIR/devices.sqlite3`, see `book`), never the
//! event store, and takes no data-folder lock: the running agent notices the change within a
//! second (`super::Devices::watch`).
//!
//! Standard output is for whoever runs it; `add` prints the secret once, alone on the last line,
//! so a script can take it with `tail -n 1`.

use std::io::Write;
use std::path::Path;

use super::{Book, DeviceError, Record};

/// `edge-agent`'s subcommands (none: run the agent).
#[derive(Clone, Debug, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Provisioned devices: who may connect to the embedded broker (add, list, revoke).
    #[command(subcommand)]
    Device(DeviceCommand),
}

/// `edge-agent device …`.
#[derive(Clone, Debug, PartialEq, Eq, clap::Subcommand)]
pub enum DeviceCommand {
    /// Provision DEVICE (its MQTT username) for one or more tables; prints its secret (its MQTT
    /// password) once, alone on the last line. Only its SHA-256 is kept.
    Add {
        /// Device id: 1-32 letters, digits, '-' or '_' (a bridge: its --bridge-id).
        device: String,
        /// A table it may speak for (repeatable: a bridge serves several tables).
        #[arg(long = "table", value_name = "TABLE", required = true)]
        tables: Vec<String>,
    },
    /// Every device: id, tables, created, revoked, last seen. Never a secret.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke DEVICE: refused at its next CONNECT, its live connection cut. Kept in the list.
    Revoke {
        /// Device id.
        device: String,
    },
}

/// Why a command failed: the book's error, or standard output went away.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Provisioning refused or failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Writing the answer failed.
    #[error("cannot write to standard output: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs `command` on the device book in `data_dir`, writing what it has to say to `out`.
///
/// # Errors
///
/// [`CliError`]; `main` prints it and exits with status 1.
pub fn run(command: &DeviceCommand, data_dir: &Path, out: &mut impl Write) -> Result<(), CliError> {
    let now = crate::clock::now_ms();
    match command {
        DeviceCommand::Add { device, tables } => {
            let mut book = Book::open(data_dir)?;
            let (record, secret) = book.add(device, tables, now)?;
            writeln!(
                out,
                "device {} provisioned for table{} {} (a running agent lets it in within a second)",
                record.device,
                if record.tables.len() == 1 { "" } else { "s" },
                record.tables.join(", ")
            )?;
            writeln!(
                out,
                "MQTT username: {}; its password follows, shown this once (only its hash is kept):",
                record.device
            )?;
            writeln!(out, "{secret}")?;
        }
        DeviceCommand::List { json } => {
            let records = Book::open(data_dir)?.list()?;
            if *json {
                let text = serde_json::to_string_pretty(&records)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                writeln!(out, "{text}")?;
            } else {
                write!(out, "{}", table(&records))?;
            }
        }
        DeviceCommand::Revoke { device } => {
            let record = Book::open(data_dir)?.revoke(device, now)?;
            writeln!(
                out,
                "device {} revoked at {} (a running agent refuses it and cuts its connection within a second)",
                record.device,
                record.revoked_ms.map_or_else(|| "-".to_owned(), utc)
            )?;
        }
    }
    Ok(())
}

/// The text listing (pure): a header and one aligned line per device.
#[must_use]
pub fn table(records: &[Record]) -> String {
    if records.is_empty() {
        return "no device is provisioned (edge-agent device add DEVICE --table T)\n".to_owned();
    }
    let rows: Vec<[String; 5]> = records
        .iter()
        .map(|r| {
            [
                r.device.clone(),
                r.tables.join(","),
                utc(r.created_ms),
                r.revoked_ms.map_or_else(|| "-".to_owned(), utc),
                r.last_seen_ms.map_or_else(|| "-".to_owned(), utc),
            ]
        })
        .collect();
    let header = ["DEVICE", "TABLES", "CREATED", "REVOKED", "LAST SEEN"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM:SSZ` (UTC; pure, no time-zone database).
#[must_use]
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm), for days since 1970-01-01.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_796_300_000_123), "2026-12-03 12:13:20Z");
    }

    #[test]
    fn the_listing_never_shows_a_secret() {
        let records = vec![Record {
            device: "bridge-hall-a".into(),
            tables: vec!["t1".into(), "t2".into()],
            created_ms: 0,
            revoked_ms: None,
            last_seen_ms: Some(60_000),
        }];
        let text = table(&records);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("DEVICE"));
        assert!(lines[1].starts_with("bridge-hall-a  t1,t2"), "{text}");
        assert!(lines[1].ends_with("1970-01-01 00:01:00Z"), "{text}");
        assert!(table(&[]).starts_with("no device"));
    }
}
