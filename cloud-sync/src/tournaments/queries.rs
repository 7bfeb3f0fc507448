//! The tournaments' reads: a venue's list, one tournament (registration, the mirrored bracket,
//! its links to table matches and its calls), a player's tournaments, and the planned list a
//! venue pulls. Names are masked for the public as everywhere (`reads::privacy`): a private
//! player is `"Private player N"` and a walk-in `"Guest N"` (N their seed or place, so a bracket
//! stays readable), their ids withheld.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};
use shared::bracket::{Format, Options};
use shared::sync::{Entrant, PlannedTournament, TournamentList};
use sqlx::PgPool;

use super::TournamentError;
use super::phase::Phase;
use super::registration::{Place, place_of};
use super::time;
use crate::reads::privacy::{GUEST, PRIVATE_PLAYER, public_players};

/// Most tournaments one list shows.
pub const LIST_LIMIT: i64 = 200;

/// One row of `tournament_heads`.
#[derive(Debug, sqlx::FromRow)]
pub struct Head {
    /// The id.
    pub id: String,
    /// The venue.
    pub venue_id: String,
    venue_name: String,
    name: String,
    format: String,
    options: Value,
    cap: Option<i32>,
    /// Listed for everyone.
    pub public: bool,
    starts_ms: i64,
    registration_opens_ms: Option<i64>,
    registration_closes_ms: Option<i64>,
    check_in_opens_ms: Option<i64>,
    check_in_opened: bool,
    cancelled: bool,
    started: bool,
    complete: bool,
    now_ms: i64,
    registered: i64,
}

impl Head {
    fn phase(&self) -> Phase {
        Phase {
            now_ms: self.now_ms,
            registration_opens_ms: self.registration_opens_ms,
            registration_closes_ms: self.registration_closes_ms,
            check_in_opens_ms: self.check_in_opens_ms,
            check_in_opened: self.check_in_opened,
            cancelled: self.cancelled,
            started: self.started,
            complete: self.complete,
        }
    }

    /// The summary every list shows.
    fn summary(&self) -> Value {
        json!({
            "id": self.id, "venue_id": self.venue_id, "venue_name": self.venue_name,
            "name": self.name, "format": self.format, "status": self.phase().status().as_str(),
            "starts_at": time::format(self.starts_ms), "registered": self.registered,
            "cap": self.cap,
        })
    }
}

const HEAD: &str = "SELECT id, venue_id, venue_name, name, format, options, cap, public, starts_ms,
        registration_opens_ms, registration_closes_ms, check_in_opens_ms, check_in_opened,
        cancelled, started, complete, now_ms, registered FROM tournament_heads";

/// Tournament `id`'s head, if it exists.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn head(pool: &PgPool, id: &str) -> Result<Option<Head>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{HEAD} WHERE id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Which tournaments a venue's list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Not cancelled, not complete: soonest first.
    Upcoming,
    /// Cancelled or complete: latest first.
    Past,
}

impl When {
    /// From `?when=` (absent: upcoming).
    ///
    /// # Errors
    ///
    /// [`TournamentError::BadRequest`].
    pub fn parse(text: Option<&str>) -> Result<When, TournamentError> {
        match text {
            None | Some("upcoming") => Ok(When::Upcoming),
            Some("past") => Ok(When::Past),
            Some(_) => Err(TournamentError::BadRequest(
                "when must be upcoming or past".into(),
            )),
        }
    }
}

/// `venue`'s tournaments (`with_private`: also those not listed for everyone).
///
/// # Errors
///
/// [`TournamentError::NotFound`] for an unknown venue.
pub async fn list(
    pool: &PgPool,
    venue: &str,
    when: When,
    with_private: bool,
) -> Result<Value, TournamentError> {
    let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM venues WHERE id = $1")
        .bind(venue)
        .fetch_optional(pool)
        .await?;
    if known.is_none() {
        return Err(TournamentError::NotFound("venue"));
    }
    let filter = match when {
        When::Upcoming => "NOT cancelled AND NOT complete ORDER BY starts_ms, id",
        When::Past => "(cancelled OR complete) ORDER BY starts_ms DESC, id",
    };
    let heads: Vec<Head> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{HEAD} WHERE venue_id = $1 AND (public OR $2) AND {filter} LIMIT {LIST_LIMIT}"
    )))
    .bind(venue)
    .bind(with_private)
    .fetch_all(pool)
    .await?;
    Ok(json!({"tournaments": heads.iter().map(Head::summary).collect::<Vec<_>>()}))
}

/// Who reads a tournament: whether they see everyone's names, and who they are.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    /// The venue's full data (its managers, administrators, its key, services).
    pub full: bool,
    /// The signed-in user, for `you`.
    pub user: Option<&'a str>,
    /// Their player, whose own name is never masked for them.
    pub player: Option<&'a str>,
}

/// The names to show instead of hidden players', from the players in order and their ids (a
/// private player: `"Private player N"`, a walk-in: `"Guest N"`, N from 1).
pub fn masks(
    players: &[String],
    ids: &[Option<String>],
    visible: &HashSet<String>,
) -> HashMap<String, String> {
    players
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let shown = match ids.get(i).cloned().flatten() {
                Some(id) if visible.contains(&id) => return None,
                Some(_) => format!("{PRIVATE_PLAYER} {}", i + 1),
                None => format!("{GUEST} {}", i + 1),
            };
            Some((name.clone(), shown))
        })
        .collect()
}

/// Replaces hidden names in a bracket view (`players`, `winner`, `forfeited`, `player` fields,
/// at any depth).
pub fn mask_names(value: &mut Value, masks: &HashMap<String, String>) {
    if masks.is_empty() {
        return;
    }
    let swap = |v: &mut Value| {
        if let Some(shown) = v.as_str().and_then(|name| masks.get(name)) {
            *v = Value::from(shown.clone());
        }
    };
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if matches!(key.as_str(), "players" | "winner" | "forfeited" | "player") {
                    swap(v);
                    if let Value::Array(items) = v {
                        items.iter_mut().for_each(swap);
                    }
                } else {
                    mask_names(v, masks);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_names(v, masks)),
        _ => {}
    }
}

/// Tournament `head` in full, for `reader` (the caller may see it: checked before).
///
/// # Errors
///
/// PostgreSQL's.
pub async fn detail(pool: &PgPool, head: &Head, reader: Reader<'_>) -> Result<Value, sqlx::Error> {
    let (setup, player_ids, view): (Option<Value>, Option<Vec<Option<String>>>, Option<Value>) =
        sqlx::query_as("SELECT setup, player_ids, view FROM tournaments WHERE id = $1")
            .bind(&head.id)
            .fetch_one(pool)
            .await?;
    // Once started, the entrants are the bracket's players in seed order; before, the
    // registrations.
    let (names, ids, statuses, positions): (
        Vec<String>,
        Vec<Option<String>>,
        Vec<String>,
        Vec<i64>,
    ) = match &setup {
        Some(setup) if head.started => {
            let names: Vec<String> = setup
                .get("players")
                .and_then(|p| serde_json::from_value(p.clone()).ok())
                .unwrap_or_default();
            let n = names.len();
            let mut ids = player_ids.clone().unwrap_or_default();
            ids.resize(n, None);
            (
                names,
                ids,
                vec!["checked_in".to_owned(); n],
                (1..=i64::try_from(n).unwrap_or(0)).collect(),
            )
        }
        _ => {
            let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                "SELECT name, player_id, status,
                            row_number() OVER (PARTITION BY status = 'waitlisted' ORDER BY id)
                       FROM tournament_registrations WHERE tournament_id = $1 ORDER BY id",
            )
            .bind(&head.id)
            .fetch_all(pool)
            .await?;
            let mut out = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (name, id, status, position) in rows {
                out.0.push(name);
                out.1.push(Some(id));
                out.2.push(status);
                out.3.push(position);
            }
            out
        }
    };
    let masks = if reader.full {
        HashMap::new()
    } else {
        let named: Vec<String> = ids.iter().flatten().cloned().collect();
        let mut visible = public_players(pool, &named).await?;
        visible.extend(reader.player.map(str::to_owned));
        masks(&names, &ids, &visible)
    };
    let entrants: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let hidden = masks.get(name);
            json!({
                "name": hidden.unwrap_or(name),
                "player_id": if hidden.is_some() { None } else { ids[i].clone() },
                "status": statuses[i], "position": positions[i],
            })
        })
        .collect();
    let bracket = view.map(|mut view| {
        mask_names(&mut view, &masks);
        view
    });
    let links: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT l.bracket_match, m.id FROM tournament_links l
           JOIN tournaments t ON t.id = l.tournament_id
           LEFT JOIN matches m ON m.venue_id = t.venue_id AND m.venue_match_id = l.venue_match_id
          WHERE l.tournament_id = $1 ORDER BY l.bracket_match",
    )
    .bind(&head.id)
    .fetch_all(pool)
    .await?;
    let links: Map<String, Value> = links
        .into_iter()
        .filter_map(|(bracket_match, id)| Some((bracket_match, Value::from(id?.to_string()))))
        .collect();
    let calls: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT bracket_match, table_id, called_ms FROM tournament_calls
          WHERE tournament_id = $1 ORDER BY called_ms, bracket_match",
    )
    .bind(&head.id)
    .fetch_all(pool)
    .await?;
    let calls: Vec<Value> = calls
        .into_iter()
        .map(|(m, table, ms)| json!({"match": m, "table": table, "called_at": time::format(ms)}))
        .collect();
    let you: Option<Place> = match reader.user {
        Some(user) => place_of(pool, &head.id, user).await?,
        None => None,
    };
    let mut out = head.summary();
    if let Some(map) = out.as_object_mut() {
        let opt = |ms: Option<i64>| ms.map(time::format);
        map.insert("options".into(), head.options.clone());
        map.insert(
            "registration_opens_at".into(),
            json!(opt(head.registration_opens_ms)),
        );
        map.insert(
            "registration_closes_at".into(),
            json!(opt(head.registration_closes_ms)),
        );
        map.insert(
            "check_in_opens_at".into(),
            json!(opt(head.check_in_opens_ms)),
        );
        map.insert("public".into(), json!(head.public));
        map.insert("entrants".into(), json!(entrants));
        map.insert("bracket".into(), bracket.unwrap_or(Value::Null));
        map.insert("links".into(), Value::Object(links));
        map.insert("calls".into(), json!(calls));
        map.insert("you".into(), json!(you));
    }
    Ok(out)
}

/// Player `player`'s tournaments (registered online or in a mirrored bracket), latest first,
/// with their rank, wins and losses from the mirrored standings (`with_private`: also
/// tournaments not listed for everyone).
///
/// # Errors
///
/// PostgreSQL's.
pub async fn of_player(
    pool: &PgPool,
    player: &str,
    with_private: bool,
) -> Result<Value, sqlx::Error> {
    let heads: Vec<Head> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{HEAD} h WHERE (public OR $2) AND (
             EXISTS (SELECT 1 FROM tournament_registrations r
                      WHERE r.tournament_id = h.id AND r.player_id = $1)
          OR EXISTS (SELECT 1 FROM tournaments t
                      WHERE t.id = h.id AND $1 = ANY (t.player_ids)))
         ORDER BY starts_ms DESC, id LIMIT {LIST_LIMIT}"
    )))
    .bind(player)
    .bind(with_private)
    .fetch_all(pool)
    .await?;
    let ids: Vec<String> = heads.iter().map(|h| h.id.clone()).collect();
    let mirrors: Vec<(
        String,
        Option<Value>,
        Option<Vec<Option<String>>>,
        Option<Value>,
    )> = sqlx::query_as("SELECT id, setup, player_ids, view FROM tournaments WHERE id = ANY ($1)")
        .bind(&ids)
        .fetch_all(pool)
        .await?;
    let mirrors: HashMap<String, (Option<Value>, Option<Vec<Option<String>>>, Option<Value>)> =
        mirrors
            .into_iter()
            .map(|(id, setup, pids, view)| (id, (setup, pids, view)))
            .collect();
    let rows: Vec<Value> = heads
        .iter()
        .map(|head| {
            let standing = mirrors.get(&head.id).and_then(|(setup, pids, view)| {
                standing_of(setup.as_ref()?, pids.as_ref()?, view.as_ref()?, player)
            });
            let summary = head.summary();
            json!({
                "id": head.id, "name": summary["name"], "venue_id": head.venue_id,
                "venue_name": summary["venue_name"], "starts_at": summary["starts_at"],
                "status": summary["status"],
                "rank": standing.as_ref().and_then(|s| s.get("rank").cloned()),
                "wins": standing.as_ref().and_then(|s| s.get("wins").cloned()).unwrap_or(json!(0)),
                "losses": standing.as_ref().and_then(|s| s.get("losses").cloned())
                    .unwrap_or(json!(0)),
            })
        })
        .collect();
    Ok(json!({"tournaments": rows}))
}

/// `player`'s line of the standings in `view`, found by their name in the setup.
fn standing_of(setup: &Value, ids: &[Option<String>], view: &Value, player: &str) -> Option<Value> {
    let seat = ids.iter().position(|id| id.as_deref() == Some(player))?;
    let name = setup.get("players")?.get(seat)?.as_str()?;
    view.get("standings")?
        .as_array()?
        .iter()
        .find(|s| s.get("player").and_then(Value::as_str) == Some(name))
        .cloned()
}

/// What `venue` pulls: its tournaments planned online, not started, not cancelled, soonest
/// first, with the players who have a place (not the waiting list) in registration order.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn planned(pool: &PgPool, venue: &str) -> Result<TournamentList, sqlx::Error> {
    let heads: Vec<Head> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{HEAD} h WHERE venue_id = $1 AND NOT started AND NOT cancelled
            AND EXISTS (SELECT 1 FROM tournaments t WHERE t.id = h.id AND t.origin = 'cloud')
          ORDER BY starts_ms, id LIMIT {LIST_LIMIT}"
    )))
    .bind(venue)
    .fetch_all(pool)
    .await?;
    let ids: Vec<String> = heads.iter().map(|h| h.id.clone()).collect();
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT tournament_id, name, player_id, status FROM tournament_registrations
          WHERE tournament_id = ANY ($1) AND status <> 'waitlisted' ORDER BY id",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut entrants: HashMap<String, Vec<Entrant>> = HashMap::new();
    for (tournament, name, player, status) in rows {
        entrants.entry(tournament).or_default().push(Entrant {
            name,
            player_id: Some(player),
            checked_in: status == "checked_in",
        });
    }
    let tournaments = heads
        .into_iter()
        .filter_map(|head| {
            let format: Format = serde_json::from_value(Value::from(head.format.clone())).ok()?;
            let options: Options = serde_json::from_value(head.options.clone()).unwrap_or_default();
            Some(PlannedTournament {
                entrants: entrants.remove(&head.id).unwrap_or_default(),
                id: head.id,
                name: head.name,
                format,
                options,
                starts_ms: u64::try_from(head.starts_ms).ok(),
            })
        })
        .collect();
    Ok(TournamentList { tournaments })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_names_are_masked_everywhere_a_bracket_names_players() {
        let players = vec!["Ann".to_owned(), "Bo".to_owned(), "Cy".to_owned()];
        let ids = vec![Some("p1".to_owned()), Some("p2".to_owned()), None];
        let visible: HashSet<String> = ["p1".to_owned()].into();
        let masks = masks(&players, &ids, &visible);
        assert_eq!(
            masks.get("Bo").map(String::as_str),
            Some("Private player 2")
        );
        assert_eq!(masks.get("Cy").map(String::as_str), Some("Guest 3"));
        assert!(!masks.contains_key("Ann"));
        let mut view = json!({
            "matches": [{"id": "W1-1", "players": ["Ann", "Bo"], "winner": "Bo",
                         "forfeited": ["Ann"], "status": "done"},
                        {"id": "W1-2", "players": ["Cy", null], "winner": "Cy"}],
            "standings": [{"player": "Bo", "rank": 1}, {"player": "Cy", "rank": 2}],
        });
        mask_names(&mut view, &masks);
        assert_eq!(
            view,
            json!({
                "matches": [{"id": "W1-1", "players": ["Ann", "Private player 2"],
                             "winner": "Private player 2", "forfeited": ["Ann"],
                             "status": "done"},
                            {"id": "W1-2", "players": ["Guest 3", null], "winner": "Guest 3"}],
                "standings": [{"player": "Private player 2", "rank": 1},
                              {"player": "Guest 3", "rank": 2}],
            })
        );
    }
}
