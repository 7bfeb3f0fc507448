//! The venue's results (an open read, like the screens): finished matches in keyset pages,
//! filtered by table, player and day, and one match with its racks and shot log.
//!
//! `GET /api/v1/results?before=&limit=&table=&player=&day=YYYY-MM-DD&tz=MINUTES` and
//! `GET /api/v1/results/{match_id}`. A parameter that does not parse, or one that is not known, is
//! a 422 with a sentence saying which; the contract is in docs/protocol.md, "Results".

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::json::json_response;
use crate::store::ResultsQuery;

/// Matches per page unless `limit` says otherwise.
pub(crate) const DEFAULT_LIMIT: usize = 20;
/// The largest page.
pub(crate) const MAX_LIMIT: usize = 100;
/// The longest player filter.
const MAX_PLAYER: usize = 64;

/// The query string, as text: each field is checked below so that the 422 says what is wrong.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuery {
    before: Option<String>,
    limit: Option<String>,
    table: Option<String>,
    player: Option<String>,
    day: Option<String>,
    tz: Option<String>,
}

/// Checks the query string into a [`ResultsQuery`], or says which parameter is wrong.
fn parse_query(raw: RawQuery) -> Result<ResultsQuery, String> {
    let number = |name: &str, value: &str| {
        value
            .parse::<u64>()
            .map_err(|_| format!("{name} must be a whole number, not {value:?}"))
    };
    let before = match raw.before.as_deref().filter(|v| !v.is_empty()) {
        Some(value) => Some(number("before", value)?),
        None => None,
    };
    let limit = match raw.limit.as_deref().filter(|v| !v.is_empty()) {
        Some(value) => {
            let limit = number("limit", value)?;
            if !(1..=MAX_LIMIT as u64).contains(&limit) {
                return Err(format!(
                    "limit must be between 1 and {MAX_LIMIT}, not {limit}"
                ));
            }
            usize::try_from(limit).unwrap_or(MAX_LIMIT)
        }
        None => DEFAULT_LIMIT,
    };
    let table = raw.table.filter(|t| !t.is_empty());
    if let Some(table) = &table
        && !shared::protocol::valid_id(table)
    {
        return Err(format!(
            "table {table:?} is not a table id (1-32 letters, digits, '-' or '_')"
        ));
    }
    let player = raw
        .player
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    if player
        .as_ref()
        .is_some_and(|p| p.chars().count() > MAX_PLAYER)
    {
        return Err(format!("player must be at most {MAX_PLAYER} characters"));
    }
    let tz = match raw.tz.as_deref().filter(|v| !v.is_empty()) {
        Some(value) => match value.parse::<i64>() {
            Ok(minutes) if (-14 * 60..=14 * 60).contains(&minutes) => minutes,
            _ => {
                return Err(format!(
                    "tz must be the minutes east of UTC, -840 to 840, not {value:?}"
                ));
            }
        },
        None => 0,
    };
    let started = match raw.day.as_deref().filter(|v| !v.is_empty()) {
        Some(day) => Some(
            day_range(day, tz)
                .ok_or_else(|| format!("day must be a date as YYYY-MM-DD, not {day:?}"))?,
        ),
        None => None,
    };
    Ok(ResultsQuery {
        before,
        limit,
        table,
        player,
        started,
    })
}

/// `[start, end)` of the day `YYYY-MM-DD` at `tz` minutes east of UTC, in Unix ms.
fn day_range(day: &str, tz_minutes: i64) -> Option<(u64, u64)> {
    let mut parts = day.split('-');
    let (year, month, date) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() != 2 || date.len() != 2 {
        return None;
    }
    let (year, month, date): (i64, i64, i64) =
        (year.parse().ok()?, month.parse().ok()?, date.parse().ok()?);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days_in_month).contains(&date) {
        return None;
    }
    // Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + date - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let start = days * 86_400_000 - tz_minutes * 60_000;
    let start = u64::try_from(start.max(0)).ok()?;
    Some((start, start + 86_400_000))
}

/// `GET /api/v1/results`: finished matches, newest first, in keyset pages. Open read.
pub(crate) async fn list(
    State(state): State<AppState>,
    query: Result<Query<RawQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(raw) = query.map_err(|rejection| {
        ApiError::Unprocessable(format!("invalid query: {}", rejection.body_text()))
    })?;
    let query = parse_query(raw).map_err(ApiError::Unprocessable)?;
    let page = state.read(move |reader| reader.results(&query)).await?;
    let body = serde_json::to_string(&page).unwrap_or_else(|_| "{}".to_owned());
    Ok(json_response(StatusCode::OK, body))
}

/// `GET /api/v1/results/{match_id}`: one finished match with its racks' shots and its shot log.
pub(crate) async fn one(
    State(state): State<AppState>,
    Path(match_id): Path<String>,
) -> Result<Response, ApiError> {
    if match_id.len() > 64 {
        return Err(ApiError::Unprocessable("match id too long".to_owned()));
    }
    let id = match_id.clone();
    let found = state.read(move |reader| reader.result(&id)).await?;
    let result =
        found.ok_or_else(|| ApiError::NotFound(format!("no finished match {match_id:?}")))?;
    let body = serde_json::to_string(&result).unwrap_or_else(|_| "{}".to_owned());
    Ok(json_response(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawQuery {
        let mut query = RawQuery::default();
        for (key, value) in pairs {
            let value = Some((*value).to_owned());
            match *key {
                "before" => query.before = value,
                "limit" => query.limit = value,
                "table" => query.table = value,
                "player" => query.player = value,
                "day" => query.day = value,
                "tz" => query.tz = value,
                _ => panic!("no parameter {key}"),
            }
        }
        query
    }

    #[test]
    fn days_are_civil_dates_at_an_offset() {
        assert_eq!(day_range("1970-01-01", 0), Some((0, 86_400_000)));
        // 2026-12-03 00:00 UTC is 1_796_256_000 s.
        assert_eq!(
            day_range("2026-12-03", 0),
            Some((1_796_256_000_000, 1_796_342_400_000))
        );
        // At UTC+1 the day starts an hour earlier.
        assert_eq!(
            day_range("2026-12-03", 60).map(|r| r.0),
            Some(1_796_252_400_000)
        );
        assert!(day_range("2024-02-29", 0).is_some());
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "2026-01-01-",
            "x",
        ] {
            assert_eq!(day_range(bad, 0), None, "{bad}");
        }
    }

    #[test]
    fn parameters_are_checked_one_by_one() {
        let query = parse_query(raw(&[("limit", "5"), ("table", "t1"), ("player", " ann ")]))
            .expect("good");
        assert_eq!(
            (query.limit, query.table.as_deref(), query.player.as_deref()),
            (5, Some("t1"), Some("ann"))
        );
        assert_eq!(
            parse_query(RawQuery::default()).map(|q| q.limit),
            Ok(DEFAULT_LIMIT)
        );
        for (pairs, says) in [
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "101")], "limit"),
            (vec![("before", "-1")], "before"),
            (vec![("table", "no spaces")], "table"),
            (vec![("day", "yesterday")], "day"),
            (vec![("day", "2026-12-03"), ("tz", "9999")], "tz"),
        ] {
            let error = parse_query(raw(&pairs)).expect_err("refused");
            assert!(error.contains(says), "{pairs:?}: {error}");
        }
    }
}
