//! WPA 14.1 continuous: a point per ball on a made call, −1 a foul, −2 a breaking foul, −15 more on
//! the third foul in a row, and a re-rack whenever 14 balls are down.

use super::shot::Observed;
use super::spec::MatchSpec;
use super::state::{BallInHand, FoulReason, PassOption, State, race};

/// −2 for a breaking foul (WPA 14.1).
const BREAKING_FOUL: i32 = 2;
/// The extra penalty on the third consecutive foul.
const THIRD_FOUL: i32 = 15;

/// Applies one shot.
pub(crate) fn play(spec: &MatchSpec, state: &mut State, shot: &Observed) {
    let shooter = state.shooter;
    let was_break = std::mem::take(&mut state.break_shot);
    let fouls = shot.standard_fouls(|_| true);
    let made_call = !shot.safety && shot.call_made();
    let down = shot.pocketed.union(shot.off_table);
    state.on_table = state.on_table.minus(down);
    let scratch_hand = if shot.scratched() {
        BallInHand::BehindHeadString
    } else {
        BallInHand::No
    };

    let break_requirement_met =
        made_call || !(shot.short_break(2) || shot.rail_after_contact == Some(false));
    if was_break && !break_requirement_met {
        // A breaking foul; a standard foul on the same stroke counts as the breaking foul only.
        let mut reasons = fouls;
        reasons.push(FoulReason::BreakingFoul);
        state.score[shooter] -= BREAKING_FOUL;
        state.record_foul(reasons, false);
        state.spot(down);
        state.end_inning();
        state.set_ball_in_hand(scratch_hand);
        state.pass_option = Some(PassOption::Rebreak);
        return;
    }

    if !fouls.is_empty() {
        state.spot(down);
        state.score[shooter] -= 1;
        let three = spec.rules.three_fouls(spec.game);
        state.record_foul(fouls, three);
        if three && state.consecutive_fouls[shooter] >= 3 {
            // Third consecutive foul: −15 more, all 15 re-racked, the offender breaks as at the start.
            state.score[shooter] -= THIRD_FOUL;
            state
                .last
                .foul_reasons
                .push(FoulReason::ThirdConsecutiveFoul);
            state.consecutive_fouls[shooter] = 0;
            state.rack += 1;
            state.rack_for_break(spec.game, shooter, false);
            return;
        }
        state.end_inning();
        state.set_ball_in_hand(scratch_hand);
        return;
    }

    state.legal_shot();
    if shot.safety || !made_call {
        // A called safety or a missed call: balls made on it are spotted and the inning ends.
        if shot.safety {
            state.stats[shooter].safeties += 1;
        }
        state.spot(down);
        state.end_inning();
        return;
    }

    let points = shot.pocketed.len();
    state.score[shooter] += i32::try_from(points).unwrap_or(0);
    state.credit_balls(points);
    if state.score[shooter] >= race(spec) {
        state.win_rack(spec, shooter, true);
    } else if state.on_table.len() <= 1 {
        // 14 balls down: re-rack them around the 15th (all 15 if it fell too); the shooter continues.
        state.rack += 1;
        state.on_table = spec.game.full_rack();
    }
}
