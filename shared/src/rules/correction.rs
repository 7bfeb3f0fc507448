//! Staff corrections of the score (`{"correction":…}` lines): what a correction may set and what
//! it does to the match. Kept apart from the games because a correction is not a ruling: it
//! changes the score (never the statistics, which count only what was played) and leaves the
//! table in play as it is, except that a score reaching the race ends the match.
//! [`check_reason`] is also what edge-agent asks of a void's reason.

use super::Rejected;
use super::input::{Correction, MAX_REASON_CHARS};
use super::spec::{Game, MAX_RACE, MatchSpec};
use super::state::{LastLine, State, race};

/// Applies a correction to `prev` (a match still in play).
pub(super) fn correct(
    spec: &MatchSpec,
    prev: &State,
    correction: &Correction,
) -> Result<State, Rejected> {
    check_reason(correction.reason())?;
    let score = corrected_score(prev.score, correction)?;
    check_score(spec, score)?;
    let mut state = prev.clone();
    state.last = LastLine::default();
    // A rack that just ended is over whatever the score says: rack the next one as the next shot
    // would, so this line does not report that rack's winner a second time.
    if prev.rack_over() {
        state.rack_for_break(spec.game, prev.shooter, true);
    }
    state.score = score;
    let target = race(spec);
    if let Some(winner) = (0..2).find(|&seat| score[seat] >= target) {
        state.end_match(winner);
    }
    Ok(state)
}

/// A correction's (or a void's) reason: given, and at most [`MAX_REASON_CHARS`] characters.
pub fn check_reason(reason: &str) -> Result<(), Rejected> {
    if reason.trim().is_empty() {
        return Err(Rejected::InvalidCorrection(
            "a correction needs a reason".to_owned(),
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Rejected::InvalidCorrection(format!(
            "the reason is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(())
}

fn corrected_score(score: [i32; 2], correction: &Correction) -> Result<[i32; 2], Rejected> {
    match correction {
        Correction::SetScore { score, .. } => Ok(*score),
        Correction::AdjustRack { player, delta, .. } => {
            let seat = match player {
                0 | 1 => usize::from(*player),
                other => return Err(Rejected::NoSuchPlayer(*other)),
            };
            if !matches!(delta, 1 | -1) {
                return Err(Rejected::InvalidCorrection(format!(
                    "delta must be 1 or -1, not {delta}"
                )));
            }
            let mut score = score;
            score[seat] += i32::from(*delta);
            Ok(score)
        }
    }
}

/// Racks run from 0 to the race (14.1 points may be negative, down to minus the largest race);
/// at most one player reaches the race.
fn check_score(spec: &MatchSpec, score: [i32; 2]) -> Result<(), Rejected> {
    let target = race(spec);
    let lowest = match spec.game {
        Game::StraightPool => -i32::try_from(MAX_RACE).unwrap_or(i32::MAX),
        _ => 0,
    };
    if let Some(bad) = score.iter().find(|s| !(lowest..=target).contains(*s)) {
        return Err(Rejected::InvalidCorrection(format!(
            "a score must be between {lowest} and the race ({target}), not {bad}"
        )));
    }
    if score.iter().all(|s| *s >= target) {
        return Err(Rejected::InvalidCorrection(
            "only one player can reach the race".to_owned(),
        ));
    }
    Ok(())
}
