//! The line-by-line session behind `dojo-bracket`: a setup line, then entries, each answered with
//! the bracket it leads to or with why it was refused (the bracket unchanged).
//!
//! Lives in the library rather than the binary so the scenario tests drive exactly what organisers
//! run.

use serde_json::{Value, json};

use super::{Bracket, Entry, Setup};

/// A bracket session over numbered lines.
#[derive(Debug, Default)]
pub struct Session {
    bracket: Option<Bracket>,
    line: usize,
    rejected: usize,
}

impl Session {
    /// A session waiting for its setup line.
    pub fn new() -> Session {
        Session::default()
    }

    /// Feeds one line. Blank lines and `#` or `//` comments give `None`; everything else gives the
    /// output line: the bracket's view, or `{"error": …, "line": n}`.
    pub fn feed(&mut self, line: &str) -> Option<Value> {
        self.line += 1;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') || text.starts_with("//") {
            return None;
        }
        let result = match &mut self.bracket {
            None => serde_json::from_str::<Setup>(text)
                .map_err(|error| format!("invalid setup line: {error}"))
                .and_then(|setup| Bracket::new(setup).map_err(|error| error.to_string()))
                .map(|bracket| {
                    let view = bracket.view();
                    self.bracket = Some(bracket);
                    view
                }),
            Some(bracket) => serde_json::from_str::<Entry>(text)
                .map_err(|error| format!("invalid line: {error}"))
                .and_then(|entry| bracket.apply(&entry).map_err(|error| error.to_string()))
                .map(|reset| {
                    let mut view = bracket.view();
                    view.reset = reset;
                    view
                }),
        };
        Some(
            match result.and_then(|view| serde_json::to_value(view).map_err(|e| e.to_string())) {
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

    /// The bracket, once the setup line was accepted.
    pub fn bracket(&self) -> Option<&Bracket> {
        self.bracket.as_ref()
    }
}
