//! What a new account's fields must look like: a password of 10–128 characters that is not a
//! well-known one, an email address of a plausible shape, a display name of 1–100 characters.
//! Pure functions, so the rules are tested without a server.
//!
//! The bundled list (`common-passwords.txt`) is the first ~2,000 lines of SecLists'
//! `Passwords/Common-Credentials/10k-most-common.txt` (Daniel Miessler et al., MIT licence), the
//! most frequent passwords of public breach corpora. A password is refused when, lower-cased, it
//! is on the list, or is a listed one followed by digits and punctuation ("password123!"), or is
//! one character repeated, or is the account's own email address or name. That is the NIST SP
//! 800-63B check ("values known to be commonly used"), without calling out to a breach service.

use std::collections::HashSet;
use std::sync::OnceLock;

/// Fewest characters in a password.
pub const PASSWORD_MIN: usize = 10;
/// Most characters in a password (Argon2 takes more; people do not need more).
pub const PASSWORD_MAX: usize = 128;
/// Most characters in an email address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// Most characters in a display name.
pub const NAME_MAX: usize = 100;

/// Why a field was refused; the message is shown to the person.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    /// Too short or too long.
    #[error("a password must be 10-128 characters")]
    PasswordLength,
    /// On the list of well-known passwords, or trivially derived from one.
    #[error("that password is too common; choose one that is not in a list of leaked passwords")]
    PasswordCommon,
    /// The same as the email address or name.
    #[error("a password must not be your email address or name")]
    PasswordPersonal,
    /// Not `local@domain.tld` or too long.
    #[error("that is not an email address")]
    Email,
    /// Empty, too long, or holding control characters.
    #[error("a display name must be 1-100 characters")]
    Name,
}

fn common() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .chain(EXTRA.iter().copied())
            .collect()
    })
}

/// Long ones the list's first lines miss, and this service's own name.
const EXTRA: &[&str] = &[
    "qwertyuiop",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "qwerty123456",
    "password123456",
    "iloveyou123",
    "dojopool",
    "billiards",
];

/// Checks a new password against the rules; `email` and `name` are the account's.
///
/// # Errors
///
/// [`RuleError`] naming the rule broken.
pub fn password(password: &str, email: &str, name: &str) -> Result<(), RuleError> {
    let len = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        return Err(RuleError::PasswordLength);
    }
    let lower = password.to_lowercase();
    if lower == email.trim().to_lowercase() || lower == name.trim().to_lowercase() {
        return Err(RuleError::PasswordPersonal);
    }
    let base = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    let mut chars = lower.chars();
    let first = chars.next();
    let repeated = chars.all(|c| Some(c) == first);
    if repeated || common().contains(lower.as_str()) || common().contains(base) {
        return Err(RuleError::PasswordCommon);
    }
    Ok(())
}

/// The address, trimmed, when it has a plausible shape: one `@`, a non-empty local part, a
/// domain with a dot, no spaces or control characters, at most [`EMAIL_MAX`] characters. (The
/// verification link is the real check.)
///
/// # Errors
///
/// [`RuleError::Email`].
pub fn email(email: &str) -> Result<String, RuleError> {
    let email = email.trim();
    let ok = email.chars().count() <= EMAIL_MAX
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','))
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            }
            None => false,
        };
    if ok {
        Ok(email.to_owned())
    } else {
        Err(RuleError::Email)
    }
}

/// The name, trimmed, when it is 1–[`NAME_MAX`] characters without control characters.
///
/// # Errors
///
/// [`RuleError::Name`].
pub fn display_name(name: &str) -> Result<String, RuleError> {
    let name = name.trim();
    let len = name.chars().count();
    if (1..=NAME_MAX).contains(&len) && !name.chars().any(char::is_control) {
        Ok(name.to_owned())
    } else {
        Err(RuleError::Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_uncommon_and_not_personal() {
        let ok = |p: &str| password(p, "ann@example.test", "Ann Lee");
        assert_eq!(ok("short"), Err(RuleError::PasswordLength));
        assert_eq!(ok(&"x".repeat(129)), Err(RuleError::PasswordLength));
        assert_eq!(ok("password123"), Err(RuleError::PasswordCommon));
        assert_eq!(ok("Password2024!"), Err(RuleError::PasswordCommon));
        assert_eq!(ok("1234567890"), Err(RuleError::PasswordCommon));
        assert_eq!(ok("qwertyuiop"), Err(RuleError::PasswordCommon));
        assert_eq!(ok("zzzzzzzzzzzz"), Err(RuleError::PasswordCommon));
        assert_eq!(ok("ANN@example.test"), Err(RuleError::PasswordPersonal));
        assert_eq!(ok("correct horse battery"), Ok(()));
        assert_eq!(ok(&"é".repeat(9)), Err(RuleError::PasswordLength));
        assert!(common().len() > 1900);
    }

    #[test]
    fn emails_need_a_plausible_shape() {
        assert_eq!(
            email(" Ann@Example.test ").as_deref(),
            Ok("Ann@Example.test")
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.test",
            "ann@example",
            "ann@@example.test",
            "a b@example.test",
            "ann@example..test",
            "ann@.example.test",
            "'; DROP TABLE users; --@x.y",
        ] {
            assert_eq!(email(bad), Err(RuleError::Email), "{bad}");
        }
        assert_eq!(
            email(&format!("{}@example.test", "a".repeat(250))),
            Err(RuleError::Email)
        );
    }

    #[test]
    fn names_are_one_to_a_hundred_printable_characters() {
        assert_eq!(display_name("  Ann ").as_deref(), Ok("Ann"));
        assert_eq!(display_name("   "), Err(RuleError::Name));
        assert_eq!(display_name(&"n".repeat(101)), Err(RuleError::Name));
        assert_eq!(display_name("a\u{0}b"), Err(RuleError::Name));
    }
}
