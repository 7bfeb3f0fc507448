//! What the registry says of a table, as its view shows it: the display name, the position in the
//! venue's order and whether it is retired. The registry ([`crate::registry`]) owns these; a table
//! keeps a copy so that its view carries them, seeded at start-up and when the table is first
//! made, and changed by a logged [`TableInput::Registry`](super::TableInput::Registry), so screens
//! see a rename as any other committed change.

use super::Table;
use crate::registry::Entry;

/// The registry's entry as a table shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Label {
    /// Display name; `None` shows the id.
    pub(super) name: Option<String>,
    /// Position in the venue's order (0: not registered).
    pub(super) position: u32,
    /// Retired: off the overview.
    pub(super) retired: bool,
}

impl Table {
    /// Takes the registry's entry for this table (at start-up, or when the engine makes the table).
    pub fn seed_label(&mut self, entry: Option<&Entry>) {
        self.label = entry.map_or_else(Label::default, |e| Label {
            name: Some(e.name.clone()),
            position: e.position,
            retired: e.retired,
        });
    }

    pub(super) fn relabel(&mut self, name: &str, position: u32, retired: bool) {
        self.label = Label {
            name: Some(name.to_owned()),
            position,
            retired,
        };
    }

    /// Whether the registry retired this table.
    pub fn retired(&self) -> bool {
        self.label.retired
    }
}
