//! The venue's tables: which table ids exist, the name staff gave each and the order they are
//! shown in. Before the registry any id in a topic or a URL made a table, so a typo made one for
//! ever; now only a registered table takes writes (staff requests for another id get a 404, device
//! messages for one become `unknown_table` dead letters), and retiring a table takes it off the
//! overview without losing its history.
//!
//! Pure: the engine owns the one [`Registry`], asks it to [`Registry::plan`] a [`Change`] and, once
//! the planned entries are queued for the store, [`Registry::apply`]s them. The store keeps the
//! entries (`registry` table); start-up reads them back and registers the tables the configuration
//! declares (`tables = [...]`, `--tables`, the demo's).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shared::protocol::valid_id;

/// The longest display name.
pub const MAX_NAME_CHARS: usize = 40;

/// One registered table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id (MQTT topics, URLs).
    pub table: String,
    /// Its display name.
    pub name: String,
    /// Where it is shown: ascending, ties by id.
    pub position: u32,
    /// Retired: no longer takes writes, not on the overview; registering it again brings it back.
    pub retired: bool,
}

/// What staff (or the configuration) ask of the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Register `table`, or update it; bring it back if retired. Unset fields: the id as the name
    /// and the end of the order for a new table, unchanged for a known one.
    Put {
        /// The table id.
        table: String,
        /// Its display name.
        name: Option<String>,
        /// Its position.
        position: Option<u32>,
    },
    /// Retire `table`.
    Retire {
        /// The table id.
        table: String,
    },
}

/// Why a change was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Not a valid table id.
    #[error("invalid table id {0:?}: use 1-32 letters, digits, '-' or '_'")]
    BadTable(String),
    /// Not a usable display name.
    #[error("invalid name {0:?}: 1-40 characters, no control characters")]
    BadName(String),
    /// No such table in the registry.
    #[error("no table {0:?} in the registry")]
    Unknown(String),
    /// The registry holds [`MAX_TABLES`] tables already.
    #[error("the registry is full: it holds {MAX_TABLES} tables, the most an agent keeps")]
    Full,
}

/// The most tables a registry holds (retired ones included). Every screen's snapshot carries
/// each table's view, so the number of tables bounds it (issue 16, defect 5: 50,000 table ids
/// made a 14 MB snapshot). A venue has tens of tables; the test harness declares ~1,300.
pub const MAX_TABLES: usize = 2048;

/// Every registered table, retired ones included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
}

impl Registry {
    /// The registry holding `entries`.
    pub fn new(entries: Vec<Entry>) -> Registry {
        Registry {
            entries: entries.into_iter().map(|e| (e.table.clone(), e)).collect(),
        }
    }

    /// Whether `table` takes writes: registered and not retired.
    pub fn accepts(&self, table: &str) -> bool {
        self.entries.get(table).is_some_and(|e| !e.retired)
    }

    /// The entry of `table`.
    pub fn get(&self, table: &str) -> Option<&Entry> {
        self.entries.get(table)
    }

    /// Every entry in display order (position, then id).
    pub fn entries(&self) -> Vec<&Entry> {
        let mut entries: Vec<&Entry> = self.entries.values().collect();
        entries.sort_by(|a, b| (a.position, &a.table).cmp(&(b.position, &b.table)));
        entries
    }

    /// The entry `change` makes, or `None` when it changes nothing.
    ///
    /// # Errors
    ///
    /// A bad id or name; retiring a table that is not registered.
    pub fn plan(&self, change: &Change) -> Result<Option<Entry>, RegistryError> {
        let planned = match change {
            Change::Put {
                table,
                name,
                position,
            } => {
                if !valid_id(table) {
                    return Err(RegistryError::BadTable(table.clone()));
                }
                let name = name.as_deref().map(checked_name).transpose()?;
                match self.entries.get(table) {
                    Some(known) => Entry {
                        table: table.clone(),
                        name: name.unwrap_or_else(|| known.name.clone()),
                        position: position.unwrap_or(known.position),
                        retired: false,
                    },
                    None if self.entries.len() >= MAX_TABLES => {
                        return Err(RegistryError::Full);
                    }
                    None => Entry {
                        table: table.clone(),
                        name: name.unwrap_or_else(|| table.clone()),
                        position: position.unwrap_or_else(|| self.next_position()),
                        retired: false,
                    },
                }
            }
            Change::Retire { table } => {
                let known = self
                    .entries
                    .get(table)
                    .ok_or_else(|| RegistryError::Unknown(table.clone()))?;
                Entry {
                    retired: true,
                    ..known.clone()
                }
            }
        };
        Ok((self.entries.get(&planned.table) != Some(&planned)).then_some(planned))
    }

    /// Takes a planned entry in.
    pub fn apply(&mut self, entry: Entry) {
        self.entries.insert(entry.table.clone(), entry);
    }

    /// One past the highest position.
    fn next_position(&self) -> u32 {
        self.entries
            .values()
            .map(|e| e.position)
            .max()
            .map_or(1, |p| p.saturating_add(1))
    }
}

/// A device's retained status naming the table it serves (`dojo/v1/devices/{device}/status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Announcement {
    /// The device id.
    pub device: String,
    /// The table it says it serves.
    pub table: String,
    /// `controller` or `camera`, as it says.
    pub kind: Option<String>,
    /// Its status says online.
    pub online: bool,
    /// When the status arrived, ms since the Unix epoch.
    pub received_ms: u64,
}

/// A registered table with the devices that announced it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
    /// Devices whose status names this table.
    pub devices: Vec<Announcement>,
}

/// The registry as staff see it (`GET /api/v1/registry`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// Every registered table in display order, retired ones included.
    pub tables: Vec<Listed>,
    /// Devices announcing a table that is not registered (or is retired): one tap registers it.
    pub unknown: Vec<Announcement>,
}

impl Registry {
    /// The listing, with `announced` sorted to the tables they name.
    pub fn listing<'a>(&self, announced: impl IntoIterator<Item = &'a Announcement>) -> Listing {
        let mut by_table: BTreeMap<&str, Vec<Announcement>> = BTreeMap::new();
        let mut unknown = Vec::new();
        for announcement in announced {
            if self.accepts(&announcement.table) {
                by_table
                    .entry(announcement.table.as_str())
                    .or_default()
                    .push(announcement.clone());
            } else {
                unknown.push(announcement.clone());
            }
        }
        let tables = self
            .entries()
            .into_iter()
            .map(|entry| Listed {
                entry: entry.clone(),
                devices: by_table.remove(entry.table.as_str()).unwrap_or_default(),
            })
            .collect();
        Listing { tables, unknown }
    }
}

/// `name` trimmed, if it is a usable display name.
fn checked_name(name: &str) -> Result<String, RegistryError> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || trimmed.chars().any(char::is_control) {
        return Err(RegistryError::BadName(name.to_owned()));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_holds_a_bounded_number_of_tables() {
        let mut registry = Registry::default();
        for n in 0..MAX_TABLES {
            let change = Change::Put {
                table: format!("x{n}"),
                name: None,
                position: None,
            };
            let entry = registry.plan(&change).expect("room").expect("new");
            registry.apply(entry);
        }
        let one_more = Change::Put {
            table: "x-more".into(),
            name: None,
            position: None,
        };
        assert!(matches!(registry.plan(&one_more), Err(RegistryError::Full)));
        let rename = Change::Put {
            table: "x0".into(),
            name: Some("Zero".into()),
            position: None,
        };
        assert!(
            registry.plan(&rename).is_ok(),
            "a known table still changes"
        );
    }

    fn put(table: &str, name: Option<&str>, position: Option<u32>) -> Change {
        Change::Put {
            table: table.into(),
            name: name.map(Into::into),
            position,
        }
    }

    fn check(registry: &mut Registry, change: Change) -> Result<Option<Entry>, RegistryError> {
        let planned = registry.plan(&change)?;
        if let Some(entry) = &planned {
            registry.apply(entry.clone());
        }
        Ok(planned)
    }

    #[test]
    fn a_new_table_is_named_after_its_id_and_goes_last() {
        let mut registry = Registry::default();
        let first = check(&mut registry, put("t1", None, None)).expect("valid");
        assert_eq!(first.map(|e| (e.name, e.position)), Some(("t1".into(), 1)));
        let second = check(&mut registry, put("t2", Some("  Snooker 2 "), None)).expect("valid");
        assert_eq!(
            second.map(|e| (e.name, e.position)),
            Some(("Snooker 2".into(), 2))
        );
        assert!(registry.accepts("t2"));
        assert!(!registry.accepts("t3"));
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name_and_a_repeat_changes_nothing() {
        let mut registry = Registry::default();
        check(&mut registry, put("t1", Some("Front"), Some(5))).expect("valid");
        let renamed = check(&mut registry, put("t1", Some("Window"), None)).expect("valid");
        assert_eq!(
            renamed.map(|e| (e.name, e.position)),
            Some(("Window".into(), 5))
        );
        assert_eq!(check(&mut registry, put("t1", None, None)), Ok(None));
    }

    #[test]
    fn retired_tables_refuse_writes_until_registered_again() {
        let mut registry = Registry::default();
        check(&mut registry, put("t1", Some("Front"), None)).expect("valid");
        check(&mut registry, Change::Retire { table: "t1".into() }).expect("known");
        assert!(!registry.accepts("t1"));
        assert_eq!(registry.get("t1").map(|e| e.name.as_str()), Some("Front"));
        let back = check(&mut registry, put("t1", None, None)).expect("valid");
        assert_eq!(back.map(|e| e.retired), Some(false));
        assert!(registry.accepts("t1"));
    }

    #[test]
    fn bad_ids_names_and_unknown_tables_are_refused() {
        let mut registry = Registry::default();
        assert_eq!(
            check(&mut registry, put("t 1", None, None)),
            Err(RegistryError::BadTable("t 1".into()))
        );
        assert!(matches!(
            check(&mut registry, put("t1", Some(" "), None)),
            Err(RegistryError::BadName(_))
        ));
        assert!(matches!(
            check(&mut registry, put("t1", Some("a\u{7}b"), None)),
            Err(RegistryError::BadName(_))
        ));
        assert_eq!(
            check(&mut registry, Change::Retire { table: "t9".into() }),
            Err(RegistryError::Unknown("t9".into()))
        );
    }

    #[test]
    fn announcements_go_to_their_table_or_to_the_unknown() {
        let mut registry = Registry::default();
        check(&mut registry, put("t1", None, None)).expect("valid");
        let heard = |device: &str, table: &str| Announcement {
            device: device.into(),
            table: table.into(),
            kind: Some("controller".into()),
            online: true,
            received_ms: 1,
        };
        let announced = [heard("ctl-1", "t1"), heard("ctl-9", "t9")];
        let listing = registry.listing(&announced);
        assert_eq!(listing.tables.len(), 1);
        assert_eq!(listing.tables[0].devices, vec![heard("ctl-1", "t1")]);
        assert_eq!(listing.unknown, vec![heard("ctl-9", "t9")]);
    }

    #[test]
    fn entries_come_in_display_order() {
        let mut registry = Registry::default();
        check(&mut registry, put("b", None, Some(2))).expect("valid");
        check(&mut registry, put("a", None, Some(2))).expect("valid");
        check(&mut registry, put("z", None, Some(1))).expect("valid");
        let order: Vec<&str> = registry
            .entries()
            .iter()
            .map(|e| e.table.as_str())
            .collect();
        assert_eq!(order, ["z", "a", "b"]);
    }
}
