//! Where the agent's logs go and what they leave out: standard error (standard output is the
//! program's own output, the URLs it prints), ANSI colours only when standard error is a terminal
//! (journald and files get plain text), `RUST_LOG` over the default filter, and the embedded
//! broker's known-benign error lines dropped.
//!
//! rumqttd 0.20 logs at ERROR when a client ends its connection politely, with MQTT DISCONNECT:
//! the router drops the link first and the connection task reports the dropped link
//! (`router-drop`), or the close that follows reaches the router as a second disconnection
//! (`no-connection id N is already gone`), whichever wins the race. Nothing is wrong in either case
//! (the agent's readiness probe closes without DISCONNECT for that reason, but any device may send
//! one), so those two lines are filtered out at rumqttd's targets. Every other rumqttd warning and
//! error still shows.

use std::io::IsTerminal as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

/// The filter when `RUST_LOG` is not set: the agent at `info`, the embedded broker's warnings and
/// errors only (it logs every connection at `info`).
pub const DEFAULT_FILTER: &str = "info,rumqttd=warn";

/// Installs the global subscriber: formatted lines on standard error, coloured only on a terminal.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second `init` (tests that start agents in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(BenignBrokerLines)
        .with(fmt)
        .try_init();
}

/// Drops rumqttd's two polite-disconnect lines (see the module doc); every other event passes.
#[derive(Debug, Clone, Copy)]
pub struct BenignBrokerLines;

impl<S: Subscriber> Layer<S> for BenignBrokerLines {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        !is_benign_broker_line(event)
    }
}

/// Whether `event` is one of rumqttd's lines for a connection the client ended politely.
fn is_benign_broker_line(event: &Event<'_>) -> bool {
    let meta = event.metadata();
    if !meta.target().starts_with("rumqttd") || *meta.level() != tracing::Level::ERROR {
        return false;
    }
    let mut message = Message(false);
    event.record(&mut message);
    message.0
}

/// Records whether an event's message is one of the polite-disconnect lines.
struct Message(bool);

impl Message {
    fn check(&mut self, field: &Field, text: &str) {
        if field.name() == "message" && is_polite_disconnect(text) {
            self.0 = true;
        }
    }
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.check(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.check(field, &format!("{value:?}"));
    }
}

/// `router-drop`, or `no-connection id N is already gone`.
fn is_polite_disconnect(message: &str) -> bool {
    message == "router-drop"
        || (message.starts_with("no-connection id ") && message.ends_with(" is already gone"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_polite_disconnect_lines_are_benign() {
        assert!(is_polite_disconnect("router-drop"));
        assert!(is_polite_disconnect("no-connection id 1 is already gone"));
        assert!(!is_polite_disconnect("Server error - V4"));
        assert!(!is_polite_disconnect("no space for new connection"));
    }
}
