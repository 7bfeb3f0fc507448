//! How the simulated players play: plausible, *legal* shots for a mirror of the match.
//!
//! The table cannot see first contact, so every ball a plan makes is one the shooter may legally
//! pocket (the lowest ball in rotation games, or now and then a combination on the money ball; the
//! shooter's group, then the 8, in 8-ball). A plan is both the controller's serial messages
//! ([`Plan::messages`]) and the rules input edge-agent assembles from them ([`Plan::input`]), so
//! the mirror and the agent rule the same shots. edge-agent's demo and `firmware-bridge simulate`
//! both play through here, so there is one definition of "a realistic match".

use rand::Rng;
use rand::seq::IndexedRandom;
use shared::protocol::Button;
use shared::rules::{ActionKind, BallSet, Game, Input, MatchSpec, Pocketed, Shot, State};

use crate::codec::Message;

/// A safety net against a mirror that never ends: a match is abandoned after this many plans.
pub const MAX_SHOTS: u32 = 5000;

const NAMES: [&str; 24] = [
    "Ana", "Ben", "Carla", "Dev", "Efren", "Fiona", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena",
    "Marco", "Nia", "Oscar", "Priya", "Quinn", "Rosa", "Sam", "Tess", "Umar", "Vera", "Wes",
    "Yuki",
];

/// A plausible match: 8-ball or 9-ball, two different players, race to 3–5.
pub fn random_spec(rng: &mut impl Rng) -> MatchSpec {
    let game = if rng.random_bool(0.5) {
        Game::EightBall
    } else {
        Game::NineBall
    };
    let mut players = NAMES.choose_multiple(rng, 2).map(|s| (*s).to_owned());
    let a = players.next().unwrap_or_else(|| "Home".to_owned());
    let b = players.next().unwrap_or_else(|| "Away".to_owned());
    MatchSpec {
        game,
        players: [a, b],
        race_to: rng.random_range(3..=5),
        break_rule: Default::default(),
        rules: Default::default(),
    }
}

/// What the simulated players do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The incoming player hands the table back (button `pass`).
    Pass,
    /// A shot: an optional declaration button, the balls that drop, a scratch, then `end_turn`.
    Shot {
        /// `push_out` or `safety`, pressed before the shot.
        declare: Option<Button>,
        /// `(ball, pocket)` in the order they drop.
        pocketed: Vec<(u8, u8)>,
        /// The cue ball came back (`cue_return`).
        scratch: bool,
    },
}

impl Plan {
    /// What the controller sends for this plan, in order.
    pub fn messages(&self) -> Vec<Message> {
        match self {
            Plan::Pass => vec![Message::Button(Button::Pass)],
            Plan::Shot {
                declare,
                pocketed,
                scratch,
            } => {
                let mut messages = Vec::new();
                if let Some(button) = declare {
                    messages.push(Message::Button(*button));
                }
                messages.extend(
                    pocketed
                        .iter()
                        .map(|&(ball, pocket)| Message::Pocket { ball, pocket }),
                );
                if *scratch {
                    messages.push(Message::CueReturn);
                }
                messages.push(Message::Button(Button::EndTurn));
                messages
            }
        }
    }

    /// The rules input the table assembles from [`Plan::messages`].
    pub fn input(&self) -> Input {
        match self {
            Plan::Pass => Input::action(ActionKind::Pass),
            Plan::Shot {
                declare,
                pocketed,
                scratch,
            } => Input::shot(Shot {
                pocketed: pocketed
                    .iter()
                    .map(|&(ball, pocket)| Pocketed {
                        ball,
                        pocket: Some(pocket),
                    })
                    .collect(),
                cue_ball_pocketed: *scratch,
                push_out: *declare == Some(Button::PushOut),
                safety: *declare == Some(Button::Safety),
                ..Shot::default()
            }),
        }
    }
}

/// Chooses the next plausible thing to happen at the table.
pub fn choose(spec: &MatchSpec, state: &State, rng: &mut impl Rng) -> Plan {
    // After a push-out (or a wrongly pocketed ball) the incoming player may hand the table back.
    if state.pass_option.is_some() && rng.random_bool(0.4) {
        return Plan::Pass;
    }
    if state.break_shot {
        // 0–2 balls on the break, rarely 3; the money ball / 8 only by luck.
        let n = *[0usize, 1, 1, 1, 2, 2, 3].choose(rng).unwrap_or(&1);
        let mut balls: Vec<u8> = state.on_table.iter().collect();
        let special = money_ball(spec);
        if !rng.random_bool(0.03) {
            balls.retain(|&b| Some(b) != special);
        }
        let made: Vec<(u8, u8)> = balls
            .choose_multiple(rng, n)
            .map(|&b| (b, pocket(rng)))
            .collect();
        return Plan::Shot {
            declare: None,
            pocketed: made,
            scratch: rng.random_bool(0.05),
        };
    }
    if state.push_out_available && rng.random_bool(0.3) {
        return Plan::Shot {
            declare: Some(Button::PushOut),
            pocketed: Vec::new(),
            scratch: false,
        };
    }
    let targets = legal_targets(spec, state);
    let skill = 0.6;
    let Some(&first) = targets.choose(rng).filter(|_| rng.random_bool(skill)) else {
        // A miss, sometimes a declared safety, sometimes a scratch.
        let safety = rng.random_bool(0.15);
        return Plan::Shot {
            declare: safety.then_some(Button::Safety),
            pocketed: Vec::new(),
            scratch: !safety && rng.random_bool(0.06),
        };
    };
    let mut made = vec![(first, pocket(rng))];
    // Sometimes a second ball drops (from the same choices, never the 8 or the money ball).
    if rng.random_bool(0.12) {
        let mut rest: Vec<u8> = state
            .on_table
            .iter()
            .filter(|&b| b != first && Some(b) != money_ball(spec))
            .collect();
        if spec.game == Game::EightBall {
            rest.retain(|b| targets.contains(b));
        }
        if let Some(&second) = rest.choose(rng) {
            made.push((second, pocket(rng)));
        }
    }
    Plan::Shot {
        declare: None,
        pocketed: made,
        scratch: rng.random_bool(0.04),
    }
}

/// A random pocket, 1..=6.
fn pocket(rng: &mut impl Rng) -> u8 {
    rng.random_range(1..=6u8)
}

/// The ball that wins the rack (the 8 in 8-ball).
fn money_ball(spec: &MatchSpec) -> Option<u8> {
    match spec.game {
        Game::EightBall => Some(8),
        Game::NineBall => Some(9),
        Game::TenBall => Some(10),
        Game::StraightPool => None,
    }
}

/// The balls the shooter may try to make now (also the balls a camera may see hit first).
pub fn legal_targets(spec: &MatchSpec, state: &State) -> Vec<u8> {
    let on = state.on_table;
    match spec.game {
        Game::EightBall => {
            let own: Option<BallSet> = state
                .groups
                .map(|groups| groups[state.shooter].balls().intersect(on));
            match own {
                Some(own) if !own.is_empty() => own.iter().collect(),
                Some(_) => on.iter().filter(|&b| b == 8).collect(),
                None => {
                    let open: Vec<u8> = on.iter().filter(|&b| b != 8).collect();
                    if open.is_empty() {
                        on.iter().collect()
                    } else {
                        open
                    }
                }
            }
        }
        _ => {
            // Rotation: the lowest ball, or now and then a combination on the money ball.
            let mut t: Vec<u8> = on.lowest().into_iter().collect();
            if let Some(money) = money_ball(spec)
                && on.contains(money)
                && on.len() <= 4
                && !t.contains(&money)
            {
                t.push(money);
            }
            t
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use shared::rules::Match;

    use super::*;
    use crate::codec::{Decoder, Frame, Side, encode};

    #[test]
    fn simulated_matches_finish_with_only_legal_inputs() {
        for seed in 0..300u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let spec = random_spec(&mut rng);
            assert_ne!(spec.players[0], spec.players[1]);
            assert!((3..=5).contains(&spec.race_to));
            let mut mirror = Match::new(spec).unwrap();
            let mut shots = 0;
            while mirror.state().match_winner.is_none() {
                shots += 1;
                assert!(shots < 2000, "seed {seed}: no winner after {shots} inputs");
                let plan = choose(mirror.spec(), mirror.state(), &mut rng);
                // Every message the controller would send is a valid controller frame.
                for (i, message) in plan.messages().into_iter().enumerate() {
                    let bytes = encode(&Frame::new(i as u32 + 1, message.clone())).unwrap();
                    let mut frames = Vec::new();
                    Decoder::new(Side::Host).feed(&bytes, &mut frames);
                    assert_eq!(frames.len(), 1, "seed {seed}: {message:?}");
                }
                let input = plan.input();
                if let Err(e) = mirror.apply(input.clone()) {
                    panic!("seed {seed}: rules refused {input:?} ({plan:?}): {e}");
                }
            }
        }
    }

    #[test]
    fn plans_map_to_messages_and_inputs() {
        let plan = Plan::Shot {
            declare: Some(Button::Safety),
            pocketed: vec![(3, 2)],
            scratch: true,
        };
        assert_eq!(
            plan.messages(),
            vec![
                Message::Button(Button::Safety),
                Message::Pocket { ball: 3, pocket: 2 },
                Message::CueReturn,
                Message::Button(Button::EndTurn),
            ]
        );
        let Input::Shot { shot } = plan.input() else {
            panic!("not a shot");
        };
        assert!(shot.safety && shot.cue_ball_pocketed && !shot.push_out);
        assert_eq!(Plan::Pass.input(), Input::action(ActionKind::Pass));
        assert_eq!(Plan::Pass.messages(), vec![Message::Button(Button::Pass)]);
    }
}
