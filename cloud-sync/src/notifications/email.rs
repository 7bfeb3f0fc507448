//! The email channel: a message per kind (plain text and HTML, every value from the payload
//! escaped in the HTML), sent over SMTP with `lettre` to the user's address at sending time.
//! `--smtp-url` takes lettre's URLs: `smtp://host:port` (plain, for a loopback relay or a test
//! sink), `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (TLS), with
//! `user:password@` when the relay wants it.
//!
//! Payloads (what contexts put in [`super::notify`]): `verify_email` and `reset_password`:
//! `{link}` (or `{token}`, from which the portal link is made); `new_sign_in`: `{addr, at,
//! user_agent}`; `role_granted`: `{role, venue_id}`. Unknown fields are ignored.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde_json::Value;

use super::outbox::Outcome;

/// An SMTP relay and the sender address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

/// A bad `--smtp-url` or `--smtp-from`.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// Not an SMTP URL lettre understands.
    #[error("--smtp-url is not an SMTP URL (smtp://host:port, smtps://host, ?tls=required)")]
    Url,
    /// Not an address.
    #[error("--smtp-from is not an email address: {0}")]
    From(String),
}

impl Mailer {
    /// A mailer for `url` sending as `from` (not connected yet).
    ///
    /// # Errors
    ///
    /// [`MailerError`] naming the bad flag (never echoing the URL: it may hold a password).
    pub fn new(url: &str, from: &str) -> Result<Mailer, MailerError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| MailerError::Url)?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        let from = from
            .parse()
            .map_err(|error: lettre::address::AddressError| MailerError::From(error.to_string()))?;
        Ok(Mailer { transport, from })
    }

    /// Sends the message for `kind`/`payload` to `to`.
    pub async fn send(&self, to: &str, message: &Rendered) -> Outcome {
        let Ok(to) = to.parse::<Mailbox>() else {
            return Outcome::Failed("the account's email address is not deliverable".into());
        };
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ));
        let email = match email {
            Ok(email) => email,
            Err(error) => return Outcome::Failed(format!("cannot build the message: {error}")),
        };
        match self.transport.send(email).await {
            Ok(_) => Outcome::Delivered,
            Err(error) if error.is_permanent() => Outcome::Failed(format!("SMTP: {error}")),
            Err(error) => Outcome::Retry(format!("SMTP: {error}")),
        }
    }
}

/// A message ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (values escaped).
    pub html: String,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn field<'a>(payload: &'a Value, name: &str) -> &'a str {
    payload.get(name).and_then(Value::as_str).unwrap_or("")
}

/// The link of an account email: the payload's `link`, or the portal page with its `token`.
fn link(payload: &Value, public_url: &str, page: &str) -> String {
    let given = field(payload, "link");
    if !given.is_empty() {
        return given.to_owned();
    }
    let token: String = field(payload, "token")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    format!("{public_url}/portal/{page}?token={token}")
}

/// The short text every channel shows for a notification (push body, email lead line).
pub fn summary(kind: &str, payload: &Value) -> String {
    match kind {
        "verify_email" => "Verify your email address for DojoPool.".into(),
        "reset_password" if field(payload, "reason") == "register_attempt" => {
            "Someone tried to sign up to DojoPool with your email address. You already have an \
             account: if it was you, reset your password with the link below; if not, ignore this."
                .into()
        }
        "reset_password" => "Reset your DojoPool password.".into(),
        "new_sign_in" => {
            let addr = field(payload, "addr");
            if addr.is_empty() {
                "New sign-in to your DojoPool account.".into()
            } else {
                format!("New sign-in to your DojoPool account from {addr}.")
            }
        }
        "role_granted" => {
            let role = field(payload, "role");
            let venue = field(payload, "venue_id");
            if venue.is_empty() {
                format!("You were granted the role {role}.")
            } else {
                format!("You were granted the role {role} at venue {venue}.")
            }
        }
        "result_disputed" => {
            let player = field(payload, "player_name");
            let venue = field(payload, "venue_name");
            let table = field(payload, "table");
            format!(
                "{} disputes a result reported at {venue} (table {table}): {}",
                if player.is_empty() {
                    "A player"
                } else {
                    player
                },
                field(payload, "reason")
            )
        }
        "tournament_check_in" => format!(
            "Check-in is open for {} at {}.",
            field(payload, "tournament_name"),
            field(payload, "venue_name")
        ),
        "tournament_called" => {
            let opponent = field(payload, "opponent");
            format!(
                "You are up on table {} ({}{}{}).",
                field(payload, "table"),
                field(payload, "tournament_name"),
                if opponent.is_empty() {
                    ""
                } else {
                    ", against "
                },
                opponent
            )
        }
        "tournament_promoted" => format!(
            "A place opened up: you are registered for {} at {}.",
            field(payload, "tournament_name"),
            field(payload, "venue_name")
        ),
        "tournament_cancelled" => format!(
            "{} at {} is cancelled.",
            field(payload, "tournament_name"),
            field(payload, "venue_name")
        ),
        other => format!("DojoPool notification: {other}"),
    }
}

/// The email for `kind` with `payload`.
pub fn render(kind: &str, payload: &Value, public_url: &str) -> Rendered {
    let lead = summary(kind, payload);
    let (subject, action) = match kind {
        "verify_email" => (
            "Verify your email address",
            Some(("Verify my address", link(payload, public_url, "verify"))),
        ),
        "reset_password" => (
            "Reset your password",
            Some(("Choose a new password", link(payload, public_url, "reset"))),
        ),
        "new_sign_in" => ("New sign-in to your account", None),
        "role_granted" => ("A role was granted to you", None),
        "result_disputed" => (
            "A result at your venue is disputed",
            Some((
                "See the venue's disputes",
                format!("{public_url}/portal/venue"),
            )),
        ),
        "tournament_check_in"
        | "tournament_called"
        | "tournament_promoted"
        | "tournament_cancelled" => (
            "Your tournament",
            Some((
                "See the tournament",
                format!(
                    "{public_url}/portal/tournament?id={}",
                    field(payload, "tournament_id")
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect::<String>()
                ),
            )),
        ),
        _ => ("DojoPool notification", None),
    };
    let mut text = format!("{lead}\n\n");
    let mut html = format!("<p>{}</p>\n", escape(&lead));
    if let Some((label, url)) = &action {
        text.push_str(&format!("{label}: {url}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n<p>{}</p>\n",
            escape(url),
            escape(label),
            escape(url)
        ));
    }
    if kind == "new_sign_in" {
        for (name, label) in [("at", "When"), ("user_agent", "Browser")] {
            let value = field(payload, name);
            if !value.is_empty() {
                text.push_str(&format!("{label}: {value}\n"));
                html.push_str(&format!("<p>{label}: {}</p>\n", escape(value)));
            }
        }
        text.push_str("If this was not you, change your password and sign out your sessions.\n");
        html.push_str(
            "<p>If this was not you, change your password and sign out your sessions.</p>\n",
        );
    }
    text.push_str(
        "\n-- \nDojoPool. Choose what you are told about in your notification preferences.\n",
    );
    html.push_str(&format!(
        "<p><a href=\"{}/portal/notifications\">Notification preferences</a></p>\n",
        escape(public_url)
    ));
    Rendered {
        subject: subject.into(),
        text,
        html: format!("<!doctype html>\n<html><body>\n{html}</body></html>\n"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_are_escaped_in_html() {
        let message = render(
            "new_sign_in",
            &json!({"addr": "<script>x</script>", "user_agent": "a\"b"}),
            "https://dojo.example",
        );
        assert!(!message.html.contains("<script>"), "{}", message.html);
        assert!(message.html.contains("&lt;script&gt;"));
        assert!(message.html.contains("a&quot;b"));
        assert!(message.text.contains("<script>x</script>"));
    }

    #[test]
    fn account_links_come_from_the_payload() {
        let message = render(
            "verify_email",
            &json!({"token": "abc\"<def"}),
            "https://dojo.example",
        );
        assert!(
            message
                .text
                .contains("https://dojo.example/portal/verify?token=abcdef")
        );
        let message = render(
            "reset_password",
            &json!({"link": "https://x.example/portal/reset?token=1&a=2"}),
            "https://dojo.example",
        );
        assert!(message.html.contains("token=1&amp;a=2"));
    }
}
