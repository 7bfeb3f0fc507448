//! What the read API shows to whom. Anonymous callers and everyone without a right to the full
//! data see registered players who made their profile public (`players.public`) and nothing
//! private: a walk-in's name becomes `"Guest"`, a private player's `"Private player"`, and their
//! ids are withheld (`null`); who corrected or voided a match (staff) is withheld too. The field
//! names stay (the contract only grows). A venue's managers, administrators, the venue's own key
//! and service tokens see a venue's full data ([`crate::accounts::Action::ReadVenueData`]); a
//! player, administrators and service tokens see that player's full data.
//!
//! Masking is a pure function over the JSON the queries build ([`mask_match`]); the set of public
//! players is one query per answer ([`public_players`]). Cached answers are keyed by audience
//! ([`Audience::cache_entry`]), so a full answer is never served from a public entry or back.

use std::collections::HashSet;

use serde_json::Value;

/// A walk-in's name as the public sees it.
pub const GUEST: &str = "Guest";
/// A private registered player's name as the public sees it.
pub const PRIVATE_PLAYER: &str = "Private player";

/// Who an answer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Everything (the venue's managers, administrators, services).
    Full,
    /// Public players (and, on a player's pages, that player) only.
    Public,
}

impl Audience {
    /// The cache entry `entry` of this audience: public and full answers never share one.
    pub fn cache_entry(self, entry: &str) -> String {
        match self {
            Audience::Full => format!("{entry}:full"),
            Audience::Public => format!("{entry}:public"),
        }
    }
}

/// The registered players among `ids` whose profile is public.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn public_players(
    conn: impl sqlx::PgExecutor<'_>,
    ids: &[String],
) -> Result<HashSet<String>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT id FROM players WHERE public AND id = ANY($1)")
            .bind(ids)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Every player id a match (summary or detail) names.
pub fn player_ids(value: &Value, out: &mut Vec<String>) {
    let seats = value.get("player_ids").and_then(Value::as_array);
    for id in seats.into_iter().flatten().filter_map(Value::as_str) {
        out.push(id.to_owned());
    }
    let stats = value.get("stats").and_then(Value::as_array);
    for stat in stats.into_iter().flatten() {
        if let Some(id) = stat.get("player_id").and_then(Value::as_str) {
            out.push(id.to_owned());
        }
    }
}

/// Every player id the matches of a page (`{"matches": [...]}`) name.
pub fn page_player_ids(page: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let matches = page.get("matches").and_then(Value::as_array);
    for m in matches.into_iter().flatten() {
        player_ids(m, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// What the public sees of a seat: the name shown (`None`: as recorded) and whether the id stays.
fn seat_view(id: Option<&str>, visible: &HashSet<String>) -> Option<&'static str> {
    match id {
        Some(id) if visible.contains(id) => None,
        Some(_) => Some(PRIVATE_PLAYER),
        None => Some(GUEST),
    }
}

/// Masks one match (summary or detail) for the public: seats whose player is not in `visible`
/// lose their name and id; who corrected or voided it is withheld.
pub fn mask_match(value: &mut Value, visible: &HashSet<String>) {
    let ids: Vec<Option<String>> = value
        .get("player_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .map(|id| id.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let seat_id = |seat: usize| ids.get(seat).cloned().flatten();
    // Names per seat: the match's, and the spec's copy.
    for path in [&["players"][..], &["spec", "players"][..]] {
        let mut node = Some(&mut *value);
        for key in path {
            node = node.and_then(|n| n.get_mut(*key));
        }
        if let Some(names) = node.and_then(Value::as_array_mut) {
            for (seat, name) in names.iter_mut().enumerate() {
                if let Some(shown) = seat_view(seat_id(seat).as_deref(), visible) {
                    *name = Value::from(shown);
                }
            }
        }
    }
    if let Some(seats) = value.get_mut("player_ids").and_then(Value::as_array_mut) {
        for id in seats.iter_mut() {
            if id.as_str().is_some_and(|id| !visible.contains(id)) {
                *id = Value::Null;
            }
        }
    }
    if let Some(stats) = value.get_mut("stats").and_then(Value::as_array_mut) {
        for stat in stats.iter_mut() {
            let id = stat
                .get("player_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(shown) = seat_view(id.as_deref(), visible) {
                stat["player_name"] = Value::from(shown);
                stat["player_id"] = Value::Null;
            }
        }
    }
    if let Some(corrections) = value.get_mut("corrections").and_then(Value::as_array_mut) {
        for correction in corrections.iter_mut() {
            if let Some(by) = correction.get_mut("by") {
                *by = Value::Null;
            }
        }
    }
    if let Some(by) = value.get_mut("void").and_then(|v| v.get_mut("by")) {
        *by = Value::Null;
    }
}

/// Masks every match of a page (`{"matches": [...]}`).
pub fn mask_page(page: &mut Value, visible: &HashSet<String>) {
    if let Some(matches) = page.get_mut("matches").and_then(Value::as_array_mut) {
        for m in matches.iter_mut() {
            mask_match(m, visible);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        json!({
            "players": ["Ann Walkin", "Bo Private"], "player_ids": [null, "p2"],
            "spec": {"players": ["Ann Walkin", "Bo Private"], "race_to": 2},
            "stats": [{"seat": 0, "player_id": null, "player_name": "Ann Walkin"},
                      {"seat": 1, "player_id": "p2", "player_name": "Bo Private"}],
            "corrections": [{"by": "staff Carla", "score": [1, 0]}],
            "void": {"by": "staff Carla", "reason": "x"}
        })
    }

    #[test]
    fn walk_ins_and_private_players_are_hidden() {
        let mut m = sample();
        mask_match(&mut m, &HashSet::new());
        assert_eq!(m["players"], json!([GUEST, PRIVATE_PLAYER]));
        assert_eq!(m["spec"]["players"], json!([GUEST, PRIVATE_PLAYER]));
        assert_eq!(m["player_ids"], json!([null, null]));
        assert_eq!(m["stats"][1]["player_id"], Value::Null);
        assert_eq!(m["stats"][1]["player_name"], json!(PRIVATE_PLAYER));
        assert_eq!(m["corrections"][0]["by"], Value::Null);
        assert_eq!(m["void"]["by"], Value::Null);
        assert!(!m.to_string().contains("Ann Walkin"));
        assert!(!m.to_string().contains("Carla"));
    }

    #[test]
    fn public_players_keep_their_name_and_id() {
        let mut m = sample();
        let visible: HashSet<String> = ["p2".to_owned()].into();
        mask_match(&mut m, &visible);
        assert_eq!(m["players"], json!([GUEST, "Bo Private"]));
        assert_eq!(m["player_ids"], json!([null, "p2"]));
        assert_eq!(m["stats"][1]["player_name"], json!("Bo Private"));
    }

    #[test]
    fn ids_of_a_page_are_collected_once() {
        let page = json!({"matches": [sample(), sample()], "next": null});
        assert_eq!(page_player_ids(&page), vec!["p2".to_owned()]);
    }

    #[test]
    fn cache_entries_differ_by_audience() {
        assert_ne!(
            Audience::Full.cache_entry("matches"),
            Audience::Public.cache_entry("matches")
        );
    }
}
