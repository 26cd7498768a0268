//! A reaction's emoji: one Unicode emoji, or the `:name:` of a custom emoji.
//!
//! A Unicode emoji is checked against the Unicode emoji list (the `emojis` crate, generated from
//! the Unicode data files and kept current with each Unicode release) after checking it is one
//! extended grapheme cluster (`unicode-segmentation`): that accepts ZWJ sequences, skin tones,
//! flags and keycaps as one emoji and refuses "👍👍", "a" or "👍x". The emoji is kept in its fully
//! qualified spelling, so "❤" and "❤️" are the same reaction. A custom emoji is only checked by
//! shape here (`:` + 1 to 32 of `a-z 0-9 _ + -` + `:`); whether one of that name was uploaded is the
//! service's concern (a reaction with an unknown one is refused there). A custom emoji is uploaded
//! under a [`CustomEmojiName`], a stricter shape (`[a-z0-9_]{2,32}`).

use std::fmt;

use serde::Serialize;
use unicode_segmentation::UnicodeSegmentation;

use super::ValueError;

/// A checked reaction emoji, in its canonical spelling.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Emoji(String);

/// The longest custom emoji name, without its colons.
pub const MAX_CUSTOM_NAME: usize = 32;

/// Longer than any emoji in the Unicode list (the longest ZWJ sequences are about 35 bytes): a
/// cheap refusal before segmenting.
const MAX_BYTES: usize = 64;

impl Emoji {
    /// Checks `raw` is one Unicode emoji or a `:name:`; `invalid_emoji` otherwise.
    pub fn parse(raw: &str) -> Result<Emoji, ValueError> {
        if let Some(name) = raw.strip_prefix(':').and_then(|r| r.strip_suffix(':')) {
            return if is_custom_name(name) {
                Ok(Emoji(raw.to_owned()))
            } else {
                Err(invalid())
            };
        }
        if raw.is_empty() || raw.len() > MAX_BYTES || raw.graphemes(true).nth(1).is_some() {
            return Err(invalid());
        }
        emojis::get(raw)
            .map(|e| Emoji(e.as_str().to_owned()))
            .ok_or_else(invalid)
    }

    /// The canonical spelling.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of a custom emoji (`party` of `:party:`), or `None` for a Unicode one.
    pub fn custom_name(&self) -> Option<&str> {
        self.0.strip_prefix(':').and_then(|r| r.strip_suffix(':'))
    }

    /// A stored emoji, trusted as written.
    pub(crate) fn from_stored(s: String) -> Emoji {
        Emoji(s)
    }
}

/// A custom emoji's name: 1 to [`MAX_CUSTOM_NAME`] of lower-case ASCII letters, digits, `_+-`.
pub fn is_custom_name(name: &str) -> bool {
    (1..=MAX_CUSTOM_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-".contains(&b))
}

/// The name a custom emoji is uploaded under: 2 to 32 of `a-z`, `0-9`, `_` (no colons).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CustomEmojiName(String);

impl CustomEmojiName {
    /// Checks `raw` (colons around it are allowed and dropped); `invalid_emoji_name` otherwise.
    pub fn parse(raw: &str) -> Result<CustomEmojiName, ValueError> {
        let name = raw
            .strip_prefix(':')
            .and_then(|r| r.strip_suffix(':'))
            .unwrap_or(raw);
        let ok = (2..=MAX_CUSTOM_NAME).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(CustomEmojiName(name.to_owned()))
        } else {
            Err(ValueError::new(
                "invalid_emoji_name",
                "a custom emoji name is 2 to 32 of a-z, 0-9 and _",
            ))
        }
    }

    /// The name, without colons.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn invalid() -> ValueError {
    ValueError::new(
        "invalid_emoji",
        "emoji must be one Unicode emoji or the :name: of a custom emoji",
    )
}

impl fmt::Display for Emoji {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Emoji {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_emoji_of_every_kind_are_accepted() {
        for ok in ["👍", "👍🏽", "👩‍👩‍👧‍👦", "🏳️‍🌈", "🇵🇹", "1️⃣", "❤️", "🧑🏿‍🚀"]
        {
            assert_eq!(Emoji::parse(ok).map(|e| e.0).as_deref(), Ok(ok), "{ok}");
        }
    }

    #[test]
    fn an_unqualified_emoji_is_kept_fully_qualified() {
        assert_eq!(
            Emoji::parse("\u{2764}").unwrap().as_str(),
            "\u{2764}\u{fe0f}"
        );
    }

    #[test]
    fn anything_but_one_emoji_is_refused() {
        for bad in [
            "",
            "a",
            "1",
            "👍👍",
            "👍 ",
            " 👍",
            "👍x",
            "<b>",
            "\u{200d}",
            "\u{1f3fd}",
            "::",
            ":A:",
            ":a b:",
            ":a",
            "a:",
            ":<script>:",
        ] {
            assert_eq!(
                Emoji::parse(bad).map_err(|e| e.code),
                Err("invalid_emoji"),
                "{bad:?}"
            );
        }
        let long = format!(":{}:", "a".repeat(MAX_CUSTOM_NAME + 1));
        assert!(Emoji::parse(&long).is_err());
    }

    #[test]
    fn custom_emoji_are_checked_by_shape() {
        assert_eq!(
            Emoji::parse(":party_parrot:").unwrap().as_str(),
            ":party_parrot:"
        );
        assert!(Emoji::parse(":+1:").is_ok());
        assert_eq!(
            Emoji::parse(":party:").unwrap().custom_name(),
            Some("party")
        );
        assert_eq!(Emoji::parse("👍").unwrap().custom_name(), None);
    }

    #[test]
    fn custom_emoji_names_are_two_to_thirty_two_of_a_small_alphabet() {
        for ok in ["ok", "party_parrot", ":blob_cat:", "a1", &"z".repeat(32)] {
            assert!(CustomEmojiName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(CustomEmojiName::parse(":blob:").unwrap().as_str(), "blob");
        for bad in [
            "",
            "a",
            "Party",
            "a-b",
            "+1",
            "a b",
            ":x",
            "é_é",
            &"z".repeat(33),
        ] {
            assert_eq!(
                CustomEmojiName::parse(bad).map_err(|e| e.code),
                Err("invalid_emoji_name"),
                "{bad:?}"
            );
        }
    }
}
