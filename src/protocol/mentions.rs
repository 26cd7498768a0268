//! Finding mentions in a message body: `@username` and `@room`.
//!
//! A mention starts with `@` at the start of the body or after a character that cannot be part
//! of a username (so `ana@example.com` mentions no one), and runs over username characters
//! (ASCII letters, digits, `_`, `.`, `-`). Trailing `.` and `-` are punctuation, not the name
//! ("thanks @ana."). Who the names are, and whether `@room` counts, is the service's to decide.

use super::values::Username;

/// What a body names: lower-cased usernames (the keys they are unique by), first mention
/// first and each once, and whether it says `@room`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MentionCandidates {
    /// Lower-cased usernames, each once, in order of first mention.
    pub usernames: Vec<String>,
    /// The body says `@room`.
    pub room: bool,
}

/// At most this many names are looked up per message: a body of a thousand `@x`s is text.
pub const MAX_MENTIONS: usize = 50;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// The mentions in `body`.
pub fn find_mentions(body: &str) -> MentionCandidates {
    let mut found = MentionCandidates::default();
    let mut prev: Option<char> = None;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let starts = c == '@' && !prev.is_some_and(|p| is_name_char(p) || p == '@');
        prev = Some(c);
        if !starts {
            continue;
        }
        let rest = &body[i + 1..];
        let len = rest
            .find(|ch: char| !is_name_char(ch))
            .unwrap_or(rest.len());
        let name = rest[..len].trim_end_matches(['.', '-']);
        if name.is_empty() {
            continue;
        }
        let key = name.to_ascii_lowercase();
        if key == "room" {
            found.room = true;
        } else if Username::parse(name).is_ok()
            && !found.usernames.contains(&key)
            && found.usernames.len() < MAX_MENTIONS
        {
            found.usernames.push(key);
        }
        // Skip the name, so `@ana@bo` is one mention of ana, not two.
        while chars.peek().is_some_and(|(j, _)| *j <= i + len) {
            prev = chars.next().map(|(_, ch)| ch);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(body: &str) -> (Vec<String>, bool) {
        let f = find_mentions(body);
        (f.usernames, f.room)
    }

    #[test]
    fn mentions_are_found_with_punctuation_around_them() {
        assert_eq!(
            names("hi @Ana, and @bo_2. (@cy-d) @ana again"),
            (vec!["ana".into(), "bo_2".into(), "cy-d".into()], false)
        );
        assert_eq!(names("thanks @ana."), (vec!["ana".into()], false));
        assert_eq!(names("@room lunch!"), (vec![], true));
        assert_eq!(names("@ROOM"), (vec![], true));
    }

    #[test]
    fn addresses_and_bare_ats_mention_no_one() {
        assert_eq!(names("mail ana@example.com"), (vec![], false));
        assert_eq!(names("@ @. @@ana"), (vec![], false));
        assert_eq!(names("@ab"), (vec![], false), "too short for a username");
        assert_eq!(names("@roomy"), (vec!["roomy".into()], false));
    }

    #[test]
    fn a_body_names_at_most_fifty_people() {
        let body: String = (0..80).map(|i| format!("@user{i} ")).collect();
        assert_eq!(find_mentions(&body).usernames.len(), MAX_MENTIONS);
    }
}
