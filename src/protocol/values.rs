//! Validated strings: each type's `parse` is the only way to make one, so a value that exists is valid.
//!
//! The rules are the product's: usernames of 3 to 32 letters, digits, `_`, `.`, `-` (unique without
//! regard to case), passwords of at least 8 characters, message bodies of at most 4,000 characters.
//! No value may hold a NUL or other control character (Postgres refuses NUL in text, and control
//! characters only ever serve to confuse a reader), except line breaks and tabs where text is free-form.

use std::fmt;

use serde::Serialize;

/// Why a value was refused: a stable `code` for programs and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    /// snake_case, stable: clients branch on it.
    pub code: &'static str,
    /// Human text naming the rule.
    pub message: String,
}

impl ValueError {
    /// A refusal with its code and explanation.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ValueError {
            code,
            message: message.into(),
        }
    }
}

/// True for characters no stored text may contain. `multiline` allows line breaks and tabs.
fn is_forbidden(c: char, multiline: bool) -> bool {
    if multiline && matches!(c, '\n' | '\r' | '\t') {
        return false;
    }
    c.is_control()
}

/// Checks a single-line label: trimmed, non-empty, at most `max` characters, no control characters.
fn parse_label(
    raw: &str,
    max: usize,
    code: &'static str,
    what: &str,
) -> Result<String, ValueError> {
    let trimmed = raw.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > max {
        return Err(ValueError::new(
            code,
            format!("{what} must be 1 to {max} characters"),
        ));
    }
    if trimmed.chars().any(|c| is_forbidden(c, false)) {
        return Err(ValueError::new(
            code,
            format!("{what} must not contain control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The checked text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The checked text, owned.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

string_value!(
    /// A login name: 3 to 32 of ASCII letters, digits, `_`, `.`, `-`. Kept as typed; unique by [`Username::key`].
    Username
);
string_value!(
    /// The name shown for a user: 1 to 64 characters, trimmed.
    DisplayName
);
string_value!(
    /// A group room's name: 1 to 80 characters, trimmed.
    RoomName
);
string_value!(
    /// A room's topic: at most 500 characters; may be empty.
    RoomTopic
);
string_value!(
    /// A message's text: at most 4,000 characters; may be empty when the message carries something else.
    MessageBody
);

impl Username {
    /// Checks the username rules.
    pub fn parse(raw: &str) -> Result<Username, ValueError> {
        let ok_len = (3..=32).contains(&raw.len());
        let ok_chars = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok_len && ok_chars {
            Ok(Username(raw.to_owned()))
        } else {
            Err(ValueError::new(
                "invalid_username",
                "username must be 3 to 32 letters, digits, '_', '.' or '-'",
            ))
        }
    }

    /// The case-folded form that uniqueness and login use.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// Characters that make text read differently from what it holds: bidirectional overrides,
/// embeddings and isolates (which reorder what follows), and zero-width or invisible characters
/// (which make two different names look the same).
fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        | '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180E}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0E}' | '\u{FEFF}' | '\u{FFA0}')
}

impl DisplayName {
    /// Checks the display name rules: a label, without characters that disguise what it says.
    /// (Emoji keep their variation selector U+FE0F and are allowed.)
    pub fn parse(raw: &str) -> Result<DisplayName, ValueError> {
        let name = parse_label(raw, 64, "invalid_display_name", "display name")?;
        if name.chars().any(is_deceptive) {
            return Err(ValueError::new(
                "invalid_display_name",
                "display name must not contain direction overrides or invisible characters",
            ));
        }
        Ok(DisplayName(name))
    }

    /// The form two names are compared in to tell whether one impersonates the other.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// A username is always a valid display name; used when none is given.
    pub fn from_username(u: &Username) -> DisplayName {
        DisplayName(u.as_str().to_owned())
    }
}

impl RoomName {
    /// Checks the room name rules.
    pub fn parse(raw: &str) -> Result<RoomName, ValueError> {
        parse_label(raw, 80, "invalid_room_name", "room name").map(RoomName)
    }

    /// The stored name of a DM; clients show the other member's name instead.
    pub fn for_dm() -> RoomName {
        RoomName(String::new())
    }
}

impl RoomTopic {
    /// Checks the topic rules.
    pub fn parse(raw: &str) -> Result<RoomTopic, ValueError> {
        let trimmed = raw.trim();
        if trimmed.chars().count() > 500 {
            return Err(ValueError::new(
                "invalid_topic",
                "topic must be at most 500 characters",
            ));
        }
        if trimmed.chars().any(|c| is_forbidden(c, true)) {
            return Err(ValueError::new(
                "invalid_topic",
                "topic must not contain control characters",
            ));
        }
        Ok(RoomTopic(trimmed.to_owned()))
    }

    /// No topic.
    pub fn empty() -> RoomTopic {
        RoomTopic(String::new())
    }
}

impl MessageBody {
    /// The most characters one message may hold.
    pub const MAX_CHARS: usize = 4000;

    /// Checks the body rules. Whitespace is kept as sent; a body of only whitespace counts as empty.
    pub fn parse(raw: &str) -> Result<MessageBody, ValueError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ValueError::new(
                "body_too_long",
                format!(
                    "message body must be at most {} characters",
                    Self::MAX_CHARS
                ),
            ));
        }
        if raw.chars().any(|c| is_forbidden(c, true)) {
            return Err(ValueError::new(
                "invalid_body",
                "message body must not contain control characters other than line breaks and tabs",
            ));
        }
        if raw.trim().is_empty() {
            return Ok(MessageBody(String::new()));
        }
        Ok(MessageBody(raw.to_owned()))
    }

    /// The empty body of a tombstone or of a message that carries only attachments.
    pub fn empty() -> MessageBody {
        MessageBody(String::new())
    }

    /// True when there is no text.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A body read back from the store, trusted as written.
    pub(crate) fn from_stored(s: String) -> MessageBody {
        MessageBody(s)
    }
}

/// A password as typed: 8 to 1,024 characters. Never printed, never serialized.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks the password rules. The upper bound keeps hashing cost bounded.
    pub fn parse(raw: &str) -> Result<Password, ValueError> {
        let n = raw.chars().count();
        if n < 8 {
            return Err(ValueError::new(
                "weak_password",
                "password must be at least 8 characters",
            ));
        }
        if n > 1024 {
            return Err(ValueError::new(
                "invalid_password",
                "password must be at most 1024 characters",
            ));
        }
        if is_common_password(raw) {
            return Err(ValueError::new(
                "common_password",
                "this password is one of the most common ones; choose another",
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    /// The secret, for hashing and verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The most common passwords (at least eight characters long), one a line; `#` starts a comment.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Whether `raw` is on the built-in list of common passwords, ignoring case and surrounding
/// spaces. A linear scan of ~150 short lines, once per registration or password change, beside an
/// argon2 hash that takes tens of milliseconds.
fn is_common_password(raw: &str) -> bool {
    let wanted = raw.trim().to_lowercase();
    COMMON_PASSWORDS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .any(|l| l.trim() == wanted)
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        assert!(Username::parse("ana").is_ok());
        assert!(Username::parse("Ana.Maria_x-1").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("ana maria").is_err());
        assert!(Username::parse("anä").is_err());
        assert_eq!(Username::parse("AnA").unwrap().key(), "ana");
    }

    #[test]
    fn passwords_need_eight_characters() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("1234-5678").is_ok());
    }

    #[test]
    fn the_most_common_passwords_are_refused_in_any_case() {
        for common in ["12345678", "Password1", "  qwertyuiop ", "ILOVEYOU"] {
            assert_eq!(Password::parse(common).unwrap_err().code, "common_password");
        }
        assert!(Password::parse("correct horse battery").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pw").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn message_bodies_are_limited_to_4000_characters() {
        assert!(MessageBody::parse(&"é".repeat(4000)).is_ok());
        assert_eq!(
            MessageBody::parse(&"é".repeat(4001)).unwrap_err().code,
            "body_too_long"
        );
        assert!(MessageBody::parse("line\nbreak\ttab").is_ok());
        assert!(MessageBody::parse("nul\0").is_err());
        assert!(MessageBody::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(RoomName::parse("  general ").unwrap().as_str(), "general");
        assert!(RoomName::parse("   ").is_err());
        assert!(RoomName::parse("a\nb").is_err());
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(RoomTopic::parse("").is_ok());
    }
}
