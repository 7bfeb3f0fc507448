//! What a remote client may do on the embedded broker: the agent's side of the patched rumqttd's
//! hooks (vendor/rumqttd/PATCHES.md), as pure decisions over the [`Directory`].
//!
//! - **CONNECT** ([`Guard::connect`]): nobody may use the agent's own client id ([`LINK_ID`]):
//!   the router would hand them the agent's link and ingest would stop. With authentication
//!   (`Directory::anonymous()` false, the password itself is checked by `Directory::login`), the
//!   client id must be the username or start with `username-` (firmware-bridge's
//!   `{bridge_id}-{pid}`), so that one device cannot take over another's session, and a last-will
//!   must be a publish the device could make itself.
//! - **PUBLISH** ([`Guard::publish`]): "a device speaks only for itself and for its tables". On
//!   `dojo/v1/tables/{t}/…` the table must be one of the device's; the payload's `device` must be
//!   the device itself or a controller it bridges. On `dojo/v1/devices/{d}/status`, `d` must be the
//!   device itself or a controller it bridges whose status names one of its tables. A controller
//!   is bridged by the first provisioned device that speaks for it (a claim kept in memory, at
//!   most [`MAX_BRIDGED`] per device); the id of another provisioned device is never a controller.
//!   Devices publish no commands. Refusals carry the dead-letter reason the agent counts:
//!   `unauthorized_table`, `not_this_device`, or `unknown_topic` as ingest says it.
//! - **SUBSCRIBE** ([`Guard::subscribe`]): only command topics, `dojo/v1/devices/+/cmd` or one
//!   of a device it speaks for.
//!
//! In anonymous mode only the [`LINK_ID`] rule applies.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use rumqttd::protocol::ConnectReturnCode;
use serde::Deserialize;
use shared::protocol::{DeviceStatus, Topic, parse_topic};

use super::embedded::LINK_ID;
use crate::devices::Directory;

/// Most controllers one device may bridge (firmware-bridge serves a few serial ports).
pub const MAX_BRIDGED: usize = 64;

/// Why a remote publish was refused: a dead-letter reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `unauthorized_table`, `not_this_device` or `unknown_topic`.
    pub reason: &'static str,
    /// For the dead letter and the log.
    pub detail: String,
}

impl Refusal {
    fn table(device: &str, table: &str) -> Refusal {
        Refusal {
            reason: "unauthorized_table",
            detail: format!("device {device:?} is not provisioned for table {table:?}"),
        }
    }

    fn device(device: &str, other: &str) -> Refusal {
        Refusal {
            reason: "not_this_device",
            detail: format!("device {device:?} may not speak for {other:?}"),
        }
    }
}

/// The broker's checks, shared by its threads.
#[derive(Debug, Default)]
pub struct Guard {
    directory: Directory,
    /// Controller id → the device that bridges it (first come).
    bridged: Mutex<HashMap<String, String>>,
}

/// The `device` field of a table-channel payload (the rest is ingest's business).
#[derive(Deserialize)]
struct Speaker {
    device: Option<String>,
}

impl Guard {
    /// Checks for `directory`'s devices.
    pub fn new(directory: Directory) -> Guard {
        Guard {
            directory,
            bridged: Mutex::default(),
        }
    }

    /// Whether devices connect without credentials.
    pub fn anonymous(&self) -> bool {
        self.directory.anonymous()
    }

    /// Whether `username`/`password` may connect (authenticated mode only).
    pub fn login(&self, username: &str, password: &str) -> bool {
        self.directory.login(username, password)
    }

    /// Decides a CONNECT (after the login was checked).
    ///
    /// # Errors
    ///
    /// The CONNACK code to refuse it with.
    pub fn connect(
        &self,
        client_id: &str,
        username: Option<&str>,
        will: Option<(&[u8], &[u8])>,
    ) -> Result<(), ConnectReturnCode> {
        if client_id == LINK_ID {
            return Err(ConnectReturnCode::ClientIdentifierNotValid);
        }
        if self.anonymous() {
            return Ok(());
        }
        let Some(username) = username else {
            return Err(ConnectReturnCode::NotAuthorized);
        };
        if !client_id_of(client_id, username) {
            return Err(ConnectReturnCode::ClientIdentifierNotValid);
        }
        if let Some((topic, payload)) = will
            && self.publish(username, topic, payload).is_err()
        {
            return Err(ConnectReturnCode::NotAuthorized);
        }
        Ok(())
    }

    /// Decides a PUBLISH by `username` (authenticated mode; anonymous mode checks nothing).
    ///
    /// # Errors
    ///
    /// Why it is refused.
    pub fn publish(&self, username: &str, topic: &[u8], payload: &[u8]) -> Result<(), Refusal> {
        if self.anonymous() {
            return Ok(());
        }
        let Some(tables) = self.directory.tables(username) else {
            return Err(Refusal {
                reason: "not_this_device",
                detail: format!("device {username:?} is not provisioned (revoked?)"),
            });
        };
        let unknown = || Refusal {
            reason: "unknown_topic",
            detail: "not a dojo/v1 table or device topic".to_owned(),
        };
        let topic = std::str::from_utf8(topic).map_err(|_| unknown())?;
        match parse_topic(topic).ok_or_else(unknown)? {
            Topic::Table { table, .. } => {
                if !tables.iter().any(|t| t == table) {
                    return Err(Refusal::table(username, table));
                }
                // A payload without a readable `device` is ingest's to dead-letter (not_json,
                // invalid): it speaks for nobody.
                match serde_json::from_slice::<Speaker>(payload) {
                    Ok(Speaker {
                        device: Some(device),
                    }) => self.speak_for(username, &device),
                    _ => Ok(()),
                }
            }
            Topic::DeviceStatus { device } => {
                if device == username {
                    return Ok(());
                }
                match DeviceStatus::decode(payload) {
                    Ok(DeviceStatus {
                        table: Some(table), ..
                    }) => {
                        if !tables.contains(&table) {
                            return Err(Refusal::table(username, &table));
                        }
                        self.speak_for(username, device)
                    }
                    // No table named (or a cleared retained status): only for a controller it
                    // already bridges.
                    _ if self.bridges(username, device) => Ok(()),
                    _ => Err(Refusal::device(username, device)),
                }
            }
            Topic::DeviceCmd { device } => Err(Refusal {
                reason: "not_this_device",
                detail: format!("device {username:?} may not send commands (to {device:?})"),
            }),
        }
    }

    /// Decides one filter of a SUBSCRIBE by `username`.
    pub fn subscribe(&self, username: Option<&str>, filter: &str) -> bool {
        if self.anonymous() {
            return true;
        }
        let Some(username) = username else {
            return false;
        };
        let Some(device) = filter
            .strip_prefix("dojo/v1/devices/")
            .and_then(|rest| rest.strip_suffix("/cmd"))
        else {
            return false;
        };
        device == "+" || device == username || self.bridges(username, device)
    }

    /// Whether `device` already bridges `controller`.
    fn bridges(&self, device: &str, controller: &str) -> bool {
        let bridged = self.bridged.lock().unwrap_or_else(PoisonError::into_inner);
        bridged.get(controller).is_some_and(|d| d == device)
    }

    /// `device` speaks for `other`: itself, or a controller it bridges (claimed on first use).
    fn speak_for(&self, device: &str, other: &str) -> Result<(), Refusal> {
        if other == device {
            return Ok(());
        }
        if self.directory.tables(other).is_some() {
            // Another provisioned device is nobody's controller.
            return Err(Refusal::device(device, other));
        }
        let mut bridged = self.bridged.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(owner) = bridged.get(other) {
            // A claim dies with its device's provisioning (revoked): the controller moved.
            if owner == device {
                return Ok(());
            }
            if self.directory.tables(owner).is_some() {
                return Err(Refusal::device(device, other));
            }
        }
        let claimed = bridged.values().filter(|d| *d == device).count();
        if claimed >= MAX_BRIDGED {
            return Err(Refusal {
                reason: "not_this_device",
                detail: format!("device {device:?} already bridges {MAX_BRIDGED} controllers"),
            });
        }
        bridged.insert(other.to_owned(), device.to_owned());
        Ok(())
    }
}

/// Whether `client_id` belongs to `username`: itself, or `username-…`.
pub fn client_id_of(client_id: &str, username: &str) -> bool {
    client_id == username
        || client_id
            .strip_prefix(username)
            .is_some_and(|rest| rest.starts_with('-') && rest.len() > 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::devices::Device;

    fn device(id: &str, tables: &[&str], secret: &str) -> Device {
        Device {
            id: id.to_owned(),
            tables: tables.iter().map(|t| (*t).to_owned()).collect(),
            secret_sha256: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    fn guard() -> Guard {
        let directory = Directory::new(false);
        directory.replace(vec![
            device("bridge-a", &["t1", "t2"], "sa"),
            device("bridge-b", &["t3"], "sb"),
            device("cam-t1", &["t1"], "sc"),
        ]);
        Guard::new(directory)
    }

    fn event(device: &str) -> Vec<u8> {
        format!(r#"{{"device":"{device}","seq":1,"type":"rack"}}"#).into_bytes()
    }

    fn status(table: Option<&str>) -> Vec<u8> {
        match table {
            Some(t) => format!(r#"{{"status":"online","table":"{t}"}}"#).into_bytes(),
            None => br#"{"status":"offline"}"#.to_vec(),
        }
    }

    #[test]
    fn nobody_takes_the_agents_link_id() {
        let open = Guard::new(Directory::new(true));
        assert_eq!(
            open.connect(LINK_ID, None, None),
            Err(ConnectReturnCode::ClientIdentifierNotValid)
        );
        assert_eq!(open.connect("anything", None, None), Ok(()));
        assert_eq!(
            guard().connect(LINK_ID, Some("bridge-a"), None),
            Err(ConnectReturnCode::ClientIdentifierNotValid)
        );
    }

    #[test]
    fn a_client_id_is_its_username_or_starts_with_it() {
        let g = guard();
        assert_eq!(g.connect("bridge-a", Some("bridge-a"), None), Ok(()));
        assert_eq!(g.connect("bridge-a-4242", Some("bridge-a"), None), Ok(()));
        for bad in ["bridge-b", "bridge-a-", "bridge-ax", "", "bridge"] {
            assert_eq!(
                g.connect(bad, Some("bridge-a"), None),
                Err(ConnectReturnCode::ClientIdentifierNotValid),
                "{bad:?}"
            );
        }
        assert_eq!(
            g.connect("bridge-a", None, None),
            Err(ConnectReturnCode::NotAuthorized)
        );
    }

    #[test]
    fn a_will_must_be_a_publish_the_device_could_make() {
        let g = guard();
        let own = b"dojo/v1/devices/bridge-a/status".as_slice();
        let offline = status(None);
        assert_eq!(
            g.connect("bridge-a-1", Some("bridge-a"), Some((own, &offline))),
            Ok(())
        );
        let other = b"dojo/v1/devices/bridge-b/status".as_slice();
        assert_eq!(
            g.connect("bridge-a-1", Some("bridge-a"), Some((other, &offline))),
            Err(ConnectReturnCode::NotAuthorized)
        );
    }

    #[test]
    fn a_device_speaks_only_for_its_tables() {
        let g = guard();
        assert_eq!(
            g.publish("bridge-a", b"dojo/v1/tables/t2/events", &event("bridge-a")),
            Ok(())
        );
        let refused = g
            .publish("bridge-a", b"dojo/v1/tables/t3/events", &event("bridge-a"))
            .unwrap_err();
        assert_eq!(refused.reason, "unauthorized_table");
        let refused = g
            .publish("bridge-b", b"dojo/v1/tables/t1/camera", b"garbage")
            .unwrap_err();
        assert_eq!(refused.reason, "unauthorized_table");
        // Garbage on its own table is ingest's to dead-letter.
        assert_eq!(
            g.publish("bridge-b", b"dojo/v1/tables/t3/events", b"{"),
            Ok(())
        );
    }

    #[test]
    fn a_controller_belongs_to_the_first_device_that_bridges_it() {
        let g = guard();
        assert_eq!(
            g.publish("bridge-a", b"dojo/v1/tables/t1/events", &event("ctl-1")),
            Ok(())
        );
        assert_eq!(
            g.publish("bridge-a", b"dojo/v1/tables/t2/events", &event("ctl-1")),
            Ok(())
        );
        let refused = g
            .publish("bridge-b", b"dojo/v1/tables/t3/events", &event("ctl-1"))
            .unwrap_err();
        assert_eq!(refused.reason, "not_this_device");
        // Another provisioned device is never a controller.
        let refused = g
            .publish("bridge-a", b"dojo/v1/tables/t1/events", &event("cam-t1"))
            .unwrap_err();
        assert_eq!(refused.reason, "not_this_device");
        // A revoked device's claims go with it.
        g.directory.replace(vec![
            device("bridge-b", &["t3"], "sb"),
            device("cam-t1", &["t1"], "sc"),
        ]);
        assert_eq!(
            g.publish("bridge-b", b"dojo/v1/tables/t3/events", &event("ctl-1")),
            Ok(())
        );
        let refused = g
            .publish("bridge-a", b"dojo/v1/tables/t1/events", &event("bridge-a"))
            .unwrap_err();
        assert_eq!(refused.reason, "not_this_device");
    }

    #[test]
    fn statuses_for_itself_or_its_controllers_on_its_tables() {
        let g = guard();
        let own = b"dojo/v1/devices/bridge-a/status";
        assert_eq!(g.publish("bridge-a", own, &status(None)), Ok(()));
        let ctl = b"dojo/v1/devices/ctl-9/status";
        assert_eq!(g.publish("bridge-a", ctl, &status(Some("t1"))), Ok(()));
        // Later without a table (offline, or cleared) once it is bridged.
        assert_eq!(g.publish("bridge-a", ctl, b""), Ok(()));
        assert_eq!(
            g.publish("bridge-b", ctl, &status(Some("t3")))
                .unwrap_err()
                .reason,
            "not_this_device"
        );
        assert_eq!(
            g.publish(
                "bridge-b",
                b"dojo/v1/devices/ctl-8/status",
                &status(Some("t1"))
            )
            .unwrap_err()
            .reason,
            "unauthorized_table"
        );
        assert_eq!(
            g.publish("bridge-b", b"dojo/v1/devices/ctl-7/status", &status(None))
                .unwrap_err()
                .reason,
            "not_this_device"
        );
        assert_eq!(
            g.publish(
                "bridge-a",
                b"dojo/v1/devices/bridge-b/status",
                &status(Some("t1"))
            )
            .unwrap_err()
            .reason,
            "not_this_device"
        );
    }

    #[test]
    fn devices_send_no_commands_and_no_strange_topics() {
        let g = guard();
        let refused = g
            .publish("bridge-a", b"dojo/v1/devices/ctl-1/cmd", b"{}")
            .unwrap_err();
        assert_eq!(refused.reason, "not_this_device");
        let refused = g.publish("bridge-a", b"elsewhere/x", b"{}").unwrap_err();
        assert_eq!(refused.reason, "unknown_topic");
        let refused = g.publish("nobody", b"dojo/v1/tables/t1/events", b"{}");
        assert_eq!(refused.unwrap_err().reason, "not_this_device");
    }

    #[test]
    fn bridged_controllers_are_bounded_per_device() {
        let g = guard();
        for n in 0..MAX_BRIDGED {
            let ok = g.publish(
                "bridge-a",
                b"dojo/v1/tables/t1/events",
                &event(&format!("ctl-{n}")),
            );
            assert_eq!(ok, Ok(()));
        }
        let refused = g
            .publish("bridge-a", b"dojo/v1/tables/t1/events", &event("ctl-x"))
            .unwrap_err();
        assert_eq!(refused.reason, "not_this_device");
    }

    #[test]
    fn subscriptions_only_to_commands() {
        let g = guard();
        assert!(g.subscribe(Some("bridge-a"), "dojo/v1/devices/+/cmd"));
        assert!(g.subscribe(Some("bridge-a"), "dojo/v1/devices/bridge-a/cmd"));
        assert!(!g.subscribe(Some("bridge-a"), "dojo/v1/devices/bridge-b/cmd"));
        assert!(!g.subscribe(Some("bridge-a"), "dojo/v1/#"));
        assert!(!g.subscribe(Some("bridge-a"), "#"));
        assert!(!g.subscribe(None, "dojo/v1/devices/+/cmd"));
        assert!(Guard::new(Directory::new(true)).subscribe(None, "#"));
    }
}
