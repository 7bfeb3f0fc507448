//! WPA 8-ball: open table, groups, the 8 last, and the loss-of-rack fouls of WPA 3.8.

use super::ball::{BallSet, Group};
use super::shot::Observed;
use super::spec::{EightOnBreak, MatchSpec};
use super::state::{BallInHand, FoulReason, PassOption, State, other};
use super::three_fouls;

const EIGHT: u8 = 8;

/// Applies one shot.
pub(crate) fn play(spec: &MatchSpec, state: &mut State, shot: &Observed) {
    if state.break_shot {
        play_break(spec, state, shot);
    } else {
        play_shot(spec, state, shot);
    }
}

fn play_break(spec: &MatchSpec, state: &mut State, shot: &Observed) {
    let shooter = state.shooter;
    state.break_shot = false;
    let mut fouls = shot.standard_fouls(|_| true);
    let eight_made = shot.pocketed.contains(EIGHT) || shot.off_table.contains(EIGHT);
    // Jumped object balls stay off the table, except the 8, which is always spotted.
    state.on_table = state.on_table.minus(shot.pocketed).minus(shot.off_table);
    let foul = !fouls.is_empty();

    if eight_made {
        match spec.rules.eight_on_break {
            EightOnBreak::Win if shot.pocketed.contains(EIGHT) => {
                let winner = if shot.scratched() || foul {
                    other(shooter)
                } else {
                    shooter
                };
                if foul {
                    state.record_foul(fouls, false);
                }
                state.win_rack(spec, winner, winner == shooter);
                return;
            }
            EightOnBreak::Rerack => {
                if foul {
                    state.record_foul(fouls, false);
                }
                state.rack_for_break(spec.game, shooter, false);
                return;
            }
            EightOnBreak::Win | EightOnBreak::Spot => {
                state.spot(BallSet::from_iter([EIGHT]));
                state.can_rerack = shot.pocketed.contains(EIGHT);
            }
        }
    }

    let break_foul_hand = if spec.rules.break_foul_behind_head_string || eight_made && foul {
        BallInHand::BehindHeadString
    } else {
        BallInHand::Anywhere
    };
    if shot.short_break(4) {
        // WPA 3.5: the incoming player accepts the position, re-racks and breaks, or has the
        // offender break again.
        fouls.push(FoulReason::IllegalBreak);
        state.record_foul(fouls, true);
        state.end_inning();
        state.set_ball_in_hand(if foul {
            break_foul_hand
        } else {
            BallInHand::No
        });
        state.pass_option = Some(PassOption::Rebreak);
        state.can_rerack = true;
        three_fouls(spec, state, shooter);
    } else if foul {
        state.record_foul(fouls, true);
        state.end_inning();
        state.set_ball_in_hand(break_foul_hand);
        three_fouls(spec, state, shooter);
    } else {
        state.legal_shot();
        let made = shot.pocketed.minus(state.last.spotted);
        if !made.is_empty() || eight_made {
            state.stats[shooter].breaks_with_ball += 1;
            state.credit_balls(made.len());
        } else {
            state.end_inning();
        }
    }
}

fn play_shot(spec: &MatchSpec, state: &mut State, shot: &Observed) {
    let shooter = state.shooter;
    let own_left = state.group_left(shooter);
    let cleared = own_left.is_some_and(BallSet::is_empty);
    let own_group = state.groups.map(|groups| groups[shooter]);
    let legal_first = |ball| match own_group {
        None => ball != EIGHT,
        Some(_) if cleared => ball == EIGHT,
        Some(group) => Group::of(ball) == Some(group),
    };
    let fouls = shot.standard_fouls(legal_first);
    state.on_table = state.on_table.minus(shot.pocketed).minus(shot.off_table);

    if shot.pocketed.contains(EIGHT) || shot.off_table.contains(EIGHT) {
        // WPA 3.8: the 8 wins only when it is the last ball of a legal shot, made where it was called.
        let called_eight = shot.called.is_none_or(|call| call.ball == EIGHT);
        let wins = fouls.is_empty()
            && cleared
            && shot.pocketed.contains(EIGHT)
            && called_eight
            && !shot.in_wrong_pocket(EIGHT);
        if !fouls.is_empty() {
            state.record_foul(fouls, true);
        }
        if wins {
            state.legal_shot();
            state.credit_balls(shot.pocketed.len());
            state.win_rack(spec, shooter, true);
        } else {
            state.win_rack(spec, other(shooter), false);
        }
        return;
    }

    if !fouls.is_empty() {
        state.record_foul(fouls, true);
        state.end_inning();
        state.set_ball_in_hand(BallInHand::Anywhere);
        three_fouls(spec, state, shooter);
        return;
    }

    state.legal_shot();
    let scoring = match own_group {
        Some(group) => group.balls(),
        None => BallSet::range(1, 15).minus(BallSet::from_iter([EIGHT])),
    };
    let counted = shot.pocketed.intersect(scoring);
    state.credit_balls(counted.len());
    if shot.safety {
        state.stats[shooter].safeties += 1;
        state.end_inning();
        return;
    }
    let called = shot.called_ball().filter(|&ball| scoring.contains(ball));
    let made_own = match shot.called {
        Some(_) => called.is_some() && shot.call_made(),
        None => !counted.is_empty(),
    };
    if !made_own {
        state.end_inning();
        return;
    }
    if own_group.is_none() {
        // WPA 3.4: the group of the legally pocketed called ball becomes the shooter's.
        let first = called.or_else(|| counted.lowest());
        if let Some(group) = first.and_then(Group::of) {
            let mut groups = [group; 2];
            groups[other(shooter)] = group.other();
            state.groups = Some(groups);
        }
    }
}
