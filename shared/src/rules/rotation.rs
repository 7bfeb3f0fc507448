//! WPA 9-ball and 10-ball: the lowest ball first, push-out after the break, the money ball (9 or 10)
//! wins. 10-ball adds call shot: a ball made without its call ends the inning and the incoming player
//! chooses who shoots.

use super::ball::BallSet;
use super::shot::Observed;
use super::spec::{Game, MatchSpec, MoneyOnBreak};
use super::state::{BallInHand, FoulReason, PassOption, State};
use super::three_fouls;

/// Applies one shot.
pub(crate) fn play(spec: &MatchSpec, state: &mut State, shot: &Observed) {
    let Some(money) = spec.game.money_ball() else {
        return;
    };
    let shooter = state.shooter;
    let was_break = std::mem::take(&mut state.break_shot);
    let lowest = state.on_table.lowest();
    let mut fouls = shot.standard_fouls(|ball| Some(ball) == lowest);
    if was_break && shot.short_break(4) {
        fouls.push(FoulReason::IllegalBreak);
    }
    state.on_table = state.on_table.minus(shot.pocketed).minus(shot.off_table);
    let money_ball = BallSet::from_iter([money]);
    let money_down = shot.pocketed.contains(money);
    if shot.off_table.contains(money) {
        state.spot(money_ball);
    }

    if !fouls.is_empty() {
        // WPA 9-ball: a foul spots the 9 (10-ball: the 10); other balls stay down.
        if money_down {
            state.spot(money_ball);
        }
        state.record_foul(fouls, true);
        state.end_inning();
        state.set_ball_in_hand(BallInHand::Anywhere);
        three_fouls(spec, state, shooter);
        return;
    }
    state.legal_shot();

    if was_break {
        state.push_out_available = true;
        if !shot.pocketed.is_empty() {
            state.stats[shooter].breaks_with_ball += 1;
        }
        if money_down {
            match spec.rules.money_on_break(spec.game) {
                MoneyOnBreak::Win => {
                    state.credit_balls(shot.pocketed.len());
                    state.win_rack(spec, shooter, true);
                    return;
                }
                MoneyOnBreak::Spot => state.spot(money_ball),
            }
        }
        // A spotted money ball still keeps the breaker at the table, but is not credited.
        if shot.pocketed.is_empty() {
            state.end_inning();
        } else {
            state.credit_balls(shot.pocketed.minus(state.last.spotted).len());
        }
        return;
    }

    if shot.push_out {
        // WPA 9-ball push-out: balls made stay down except the money ball; the other player chooses.
        if money_down {
            state.spot(money_ball);
        }
        state.end_inning();
        state.pass_option = Some(PassOption::HandBack);
        return;
    }

    if shot.safety {
        state.stats[shooter].safeties += 1;
    }
    match spec.game {
        Game::TenBall => ten_ball_shot(spec, state, shot),
        _ => {
            if money_down {
                state.credit_balls(shot.pocketed.len());
                state.win_rack(spec, shooter, true);
            } else if shot.pocketed.is_empty() {
                state.end_inning();
            } else {
                state.credit_balls(shot.pocketed.len());
            }
        }
    }
}

fn ten_ball_shot(spec: &MatchSpec, state: &mut State, shot: &Observed) {
    const TEN: u8 = 10;
    let ten = BallSet::from_iter([TEN]);
    let ten_down = shot.pocketed.contains(TEN);
    let legal_pot = !shot.safety && shot.call_made();
    if legal_pot && ten_down && shot.called_ball() == Some(TEN) {
        // WPA 10-ball: the 10 counts only as the last ball (CSI: a called 10 always wins).
        if state.on_table.is_empty() || spec.rules.early_ten_wins {
            state.credit_balls(shot.pocketed.len());
            state.win_rack(spec, state.shooter, true);
            return;
        }
    }
    if ten_down {
        state.spot(ten);
    }
    let stayed_down = shot.pocketed.minus(ten).len();
    if legal_pot {
        state.credit_balls(stayed_down);
        return;
    }
    state.end_inning();
    if !shot.safety && !shot.pocketed.is_empty() {
        // A wrongly pocketed ball: not a foul, but the incoming player may hand the table back.
        state.pass_option = Some(PassOption::HandBack);
    }
}
