//! Which ready match goes to which free table (pure). The players who have waited longest since
//! their last match ended are called first; nobody is called while still playing; a table kept
//! for chosen matches (a stream or TV table) takes only those, and those wait for it.

use shared::bracket::{MatchView, Status};

use super::Tournament;

/// A match to call now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The bracket match.
    pub bracket_match: String,
    /// The free table it goes to.
    pub table: String,
    /// Its players, in the match's order.
    pub players: [String; 2],
    /// Racks to win.
    pub race_to: u32,
}

impl Tournament {
    /// The ready matches not called yet, the longest-waiting first, with since when they wait.
    pub fn queue(&self) -> Vec<(MatchView, u64)> {
        let (Some(bracket), Some(started)) = (&self.bracket, self.started_ms) else {
            return Vec::new();
        };
        let mut queue: Vec<(usize, MatchView, u64)> = bracket
            .view()
            .matches
            .into_iter()
            .enumerate()
            .filter(|(_, m)| m.status == Status::Ready && !m.bye && !self.calls.contains_key(&m.id))
            .filter_map(|(order, m)| {
                let [Some(a), Some(b)] = &m.players else {
                    return None;
                };
                let since = [a, b]
                    .iter()
                    .map(|p| self.last_done.get(*p).copied().unwrap_or(started))
                    .max()
                    .unwrap_or(started);
                Some((order, m, since))
            })
            .collect();
        queue.sort_by_key(|(order, _, since)| (*since, *order));
        queue.into_iter().map(|(_, m, since)| (m, since)).collect()
    }

    /// The table a match is kept for, if any.
    pub fn reserved_table(&self, bracket_match: &str) -> Option<&str> {
        self.reserved
            .iter()
            .find(|(_, kept)| kept.iter().any(|m| m == bracket_match))
            .map(|(table, _)| table.as_str())
    }

    /// What to call now onto `free` tables (in the venue's order; only the tournament's own when it
    /// names some): each queued match whose
    /// players are not playing, to its kept table if it has one, else to the first free table
    /// kept for nothing.
    pub fn plan(&self, free: &[String]) -> Vec<Planned> {
        if !self.running() {
            return Vec::new();
        }
        let mut free: Vec<&String> = free
            .iter()
            .filter(|t| self.tables.is_empty() || self.tables.contains(t))
            .filter(|t| !self.calls.values().any(|c| &c.table == *t))
            .collect();
        if !self.tables.is_empty() {
            // The tournament's own order of its tables.
            free.sort_by_key(|t| self.tables.iter().position(|own| own == *t));
        }
        let mut playing: Vec<String> = self
            .calls
            .values()
            .flat_map(|c| c.players.iter().cloned())
            .collect();
        let mut planned = Vec::new();
        for (m, _) in self.queue() {
            if free.is_empty() {
                break;
            }
            let [Some(a), Some(b)] = &m.players else {
                continue;
            };
            if playing.contains(a) || playing.contains(b) {
                continue;
            }
            let slot = match self.reserved_table(&m.id) {
                Some(kept) => free.iter().position(|t| t.as_str() == kept),
                None => free
                    .iter()
                    .position(|t| !self.reserved.contains_key(t.as_str())),
            };
            let Some(slot) = slot else {
                continue;
            };
            let table = free.remove(slot);
            playing.push(a.clone());
            playing.push(b.clone());
            planned.push(Planned {
                bracket_match: m.id.clone(),
                table: table.clone(),
                players: [a.clone(), b.clone()],
                race_to: Tournament::race_of(&m),
            });
        }
        planned
    }
}
