//! Browser assets that draw the shared contracts, compiled into every binary that serves pages:
//! the bracket renderer draws a [`crate::bracket::View`] the same way on the venue's TVs and in
//! the cloud's portal. Static text, no I/O.

/// Draws a bracket view into an element (`web/bracket.js`).
pub const BRACKET_JS: &str = include_str!("../web/bracket.js");
/// The bracket's styles (`web/bracket.css`).
pub const BRACKET_CSS: &str = include_str!("../web/bracket.css");
