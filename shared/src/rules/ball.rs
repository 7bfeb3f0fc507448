//! Balls, pockets and sets of balls.
//!
//! A rack has at most 15 object balls, so a set of them is a 16-bit mask: copying, comparing and
//! hashing a table position costs nothing, which keeps replaying a match (the undo path) cheap.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An object ball number, 1..=15. The cue ball is not a `Ball`; it has its own shot fields.
pub type Ball = u8;

/// A pocket number, 1..=6 (see docs/rules.md for the numbering).
pub type Pocket = u8;

/// The highest object-ball number there is.
pub const MAX_BALL: Ball = 15;

/// The highest pocket number there is.
pub const MAX_POCKET: Pocket = 6;

/// The 8-ball groups: solids are 1..=7, stripes 9..=15.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Balls 1 to 7.
    Solids,
    /// Balls 9 to 15.
    Stripes,
}

impl Group {
    /// The group a ball belongs to; the 8 belongs to none.
    pub fn of(ball: Ball) -> Option<Group> {
        match ball {
            1..=7 => Some(Group::Solids),
            9..=15 => Some(Group::Stripes),
            _ => None,
        }
    }

    /// The other group.
    pub fn other(self) -> Group {
        match self {
            Group::Solids => Group::Stripes,
            Group::Stripes => Group::Solids,
        }
    }

    /// Every ball of the group.
    pub fn balls(self) -> BallSet {
        match self {
            Group::Solids => BallSet::range(1, 7),
            Group::Stripes => BallSet::range(9, 15),
        }
    }
}

/// A set of object balls. Serialises as a sorted JSON array of ball numbers.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BallSet(u16);

impl BallSet {
    /// The empty set.
    pub const EMPTY: BallSet = BallSet(0);

    /// Balls `low..=high`.
    pub fn range(low: Ball, high: Ball) -> BallSet {
        (low..=high).collect()
    }

    /// Whether `ball` is in the set.
    pub fn contains(self, ball: Ball) -> bool {
        ball <= MAX_BALL && self.0 & (1 << ball) != 0
    }

    /// Adds `ball`; numbers above 15 are ignored (they are rejected before they get here).
    pub fn insert(&mut self, ball: Ball) {
        if ball <= MAX_BALL {
            self.0 |= 1 << ball;
        }
    }

    /// Removes `ball`.
    pub fn remove(&mut self, ball: Ball) {
        if ball <= MAX_BALL {
            self.0 &= !(1 << ball);
        }
    }

    /// The balls in either set.
    pub fn union(self, other: BallSet) -> BallSet {
        BallSet(self.0 | other.0)
    }

    /// The balls of `self` that are not in `other`.
    pub fn minus(self, other: BallSet) -> BallSet {
        BallSet(self.0 & !other.0)
    }

    /// The balls in both sets.
    pub fn intersect(self, other: BallSet) -> BallSet {
        BallSet(self.0 & other.0)
    }

    /// How many balls the set holds.
    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The lowest-numbered ball, if any.
    pub fn lowest(self) -> Option<Ball> {
        // The mask fits in 16 bits, so the bit index always fits in a ball number.
        (!self.is_empty()).then(|| self.0.trailing_zeros() as Ball)
    }

    /// The balls in increasing order.
    pub fn iter(self) -> impl Iterator<Item = Ball> {
        (1..=MAX_BALL).filter(move |&ball| self.contains(ball))
    }
}

impl FromIterator<Ball> for BallSet {
    fn from_iter<I: IntoIterator<Item = Ball>>(iter: I) -> Self {
        let mut set = BallSet::EMPTY;
        for ball in iter {
            set.insert(ball);
        }
        set
    }
}

impl fmt::Debug for BallSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for BallSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for BallSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let balls = Vec::<Ball>::deserialize(deserializer)?;
        if let Some(bad) = balls.iter().find(|&&b| b == 0 || b > MAX_BALL) {
            return Err(serde::de::Error::custom(format!(
                "ball {bad} does not exist"
            )));
        }
        Ok(balls.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations_and_order() {
        let set: BallSet = [9, 1, 15].into_iter().collect();
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![1, 9, 15]);
        assert_eq!(set.lowest(), Some(1));
        assert_eq!(set.len(), 3);
        assert_eq!(
            set.minus(BallSet::range(1, 9)).iter().collect::<Vec<_>>(),
            vec![15]
        );
        assert_eq!(
            serde_json::to_string(&set).ok().as_deref(),
            Some("[1,9,15]")
        );
        assert!(serde_json::from_str::<BallSet>("[16]").is_err());
        assert_eq!(Group::Stripes.balls().len(), 7);
        assert_eq!(Group::of(8), None);
    }
}
