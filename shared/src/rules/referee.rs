//! The line-by-line session behind `dojo-rules`: a match line, then shots and actions, each answered
//! with the state it leads to or with why it was refused.
//!
//! Lives in the library rather than the binary so the scenario tests drive exactly what referees run.

use serde_json::{Value, json};

use super::{Input, Match, MatchSpec};

/// A referee session over numbered lines.
#[derive(Debug, Default)]
pub struct Referee {
    game: Option<Match>,
    line: usize,
    rejected: usize,
}

impl Referee {
    /// A session waiting for its match line.
    pub fn new() -> Referee {
        Referee::default()
    }

    /// Feeds one line. Blank lines and `#` or `//` comments give `None`; everything else gives the
    /// output line: the state, or `{"error": …, "line": n}`.
    pub fn feed(&mut self, line: &str) -> Option<Value> {
        self.line += 1;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') || text.starts_with("//") {
            return None;
        }
        let result = match &mut self.game {
            None => start(text).map(|game| {
                let report = game.report();
                self.game = Some(game);
                report
            }),
            Some(game) => Input::from_json(text).and_then(|input| match game.apply(input) {
                Ok(_) => Ok(game.report()),
                Err(error) => Err(error.to_string()),
            }),
        };
        Some(
            match result.and_then(|report| serde_json::to_value(report).map_err(|e| e.to_string()))
            {
                Ok(value) => value,
                Err(error) => {
                    self.rejected += 1;
                    json!({ "error": format!("line {}: {error}", self.line), "line": self.line })
                }
            },
        )
    }

    /// How many lines were refused so far.
    pub fn rejected(&self) -> usize {
        self.rejected
    }
}

fn start(text: &str) -> Result<Match, String> {
    let spec: MatchSpec =
        serde_json::from_str(text).map_err(|error| format!("invalid match line: {error}"))?;
    spec.validate_new().map_err(|error| error.to_string())?;
    Match::new(spec).map_err(|error| error.to_string())
}
