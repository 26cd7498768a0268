//! Message search: the query language, the checks, and the ranges to highlight.
//!
//! A query is words and `"quoted phrases"`, all of which must match. Words match by stem and,
//! from three letters, by prefix (`deploy` finds "deployed", "deploying", "deployment");
//! anything that is not a letter or digit separates words and is never an operator. The store
//! turns the parsed [`Term`]s into its engine's syntax. Only the rooms the caller is a member of
//! at the moment of the search are searched.

use rust_stemmers::{Algorithm, Stemmer};

use super::{Error, Result, Services};
use crate::protocol::UserId;
use crate::protocol::api::{SearchQuery, SearchResult, SearchResults};
use crate::store::{Has, SearchRequest, Term};

/// Results per page unless asked.
const DEFAULT_LIMIT: i64 = 20;
/// Most results per page.
const MAX_LIMIT: i64 = 50;
/// Longest query, in characters.
const MAX_QUERY_CHARS: usize = 256;
/// Most words and phrases in one query.
const MAX_TERMS: usize = 16;

impl Services {
    /// One page of the caller's messages matching `q`, newest first, with the matched words.
    pub async fn search(&self, user: UserId, q: SearchQuery) -> Result<SearchResults> {
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid(
                "invalid_limit",
                format!("limit must be 1 to {MAX_LIMIT}"),
            ));
        }
        let terms = parse_query(&q.q)?;
        let has = match q.has.as_deref() {
            None | Some("") => None,
            Some("file") => Some(Has::File),
            Some("image") => Some(Has::Image),
            Some("link") => Some(Has::Link),
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_query",
                    "has must be file, image or link",
                ));
            }
        };
        if terms.is_empty() && has.is_none() && q.from.is_none() {
            return Err(Error::invalid(
                "invalid_query",
                "give words to search for, or a from or has filter",
            ));
        }
        if let Some(room) = q.room_id {
            self.require_member(room, user).await?;
        }
        let page = self
            .store
            .search(&SearchRequest {
                user,
                terms,
                room: q.room_id,
                from: q.from,
                has,
                before: q.before,
                after: q.after,
                limit,
                cursor: q.cursor,
            })
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Conflict("invalid_cursor") => {
                    Error::invalid("invalid_cursor", "cursor is not one this server gave out")
                }
                other => other.into(),
            })?;
        let highlighter = Highlighter::new(&parse_query(&q.q)?);
        let results = page
            .messages
            .into_iter()
            .map(|message| SearchResult {
                highlights: highlighter.ranges(&message.body),
                message,
            })
            .collect();
        Ok(SearchResults {
            results,
            next_cursor: page.next_cursor,
        })
    }
}

/// Splits a query into words and quoted phrases (an unclosed quote runs to the end).
pub(crate) fn parse_query(q: &str) -> Result<Vec<Term>> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(Error::invalid(
            "invalid_query",
            format!("a query is at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let mut terms = Vec::new();
    for (i, part) in q.split('"').enumerate() {
        let words = words(part).map(|(_, w)| w).collect::<Vec<_>>();
        if i % 2 == 1 && words.len() > 1 {
            terms.push(Term::Phrase(words));
        } else {
            terms.extend(words.into_iter().map(Term::Word));
        }
    }
    terms.dedup();
    if terms.len() > MAX_TERMS {
        return Err(Error::invalid(
            "invalid_query",
            format!("a query has at most {MAX_TERMS} words and phrases"),
        ));
    }
    Ok(terms)
}

/// The words of `text` (runs of letters and digits), lowercased, with their byte offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(move |w| {
            (
                w.as_ptr() as usize - text.as_ptr() as usize,
                w.to_lowercase(),
            )
        })
}

/// Finds, in a result's body, the words the query matched: a word whose stem is a query word's
/// stem, or that starts with a query word of three letters or more or with its stem (the
/// engines' prefix match).
struct Highlighter {
    stemmer: Stemmer,
    /// (query word, its stem, whether it matches as a prefix).
    words: Vec<(String, String, bool)>,
}

impl Highlighter {
    fn new(terms: &[Term]) -> Self {
        let stemmer = Stemmer::create(Algorithm::English);
        let mut words = Vec::new();
        for term in terms {
            let (list, prefix) = match term {
                Term::Word(w) => (std::slice::from_ref(w), w.chars().count() >= 3),
                Term::Phrase(ws) => (ws.as_slice(), false),
            };
            for w in list {
                let stem = stemmer.stem(w).into_owned();
                words.push((w.clone(), stem, prefix));
            }
        }
        Self { stemmer, words }
    }

    /// `[start, end)` in UTF-16 code units.
    fn ranges(&self, body: &str) -> Vec<[usize; 2]> {
        if self.words.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (at, word) in words(body) {
            let stem = self.stemmer.stem(&word);
            let hit = self.words.iter().any(|(w, s, prefix)| {
                *s == stem
                    || (*prefix
                        && (word.starts_with(w.as_str())
                            || (s.chars().count() >= 3 && word.starts_with(s.as_str()))))
            });
            if hit {
                let start = utf16_len(&body[..at]);
                let len = body[at..]
                    .split(|c: char| !c.is_alphanumeric())
                    .next()
                    .map(utf16_len)
                    .unwrap_or(0);
                out.push([start, start + len]);
            }
        }
        out
    }
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Term {
        Term::Word(s.into())
    }

    #[test]
    fn words_and_phrases_are_parsed_and_operators_are_only_separators() {
        assert_eq!(
            parse_query(r#"Deploy "release  notes" OR -x* NEAR(a)"#).unwrap(),
            vec![
                w("deploy"),
                Term::Phrase(vec!["release".into(), "notes".into()]),
                w("or"),
                w("x"),
                w("near"),
                w("a"),
            ]
        );
        assert_eq!(parse_query(r#""solo""#).unwrap(), vec![w("solo")]);
        assert_eq!(parse_query("  ").unwrap(), vec![]);
        assert!(parse_query(&"a ".repeat(200)).is_err());
    }

    #[test]
    fn stems_and_prefixes_are_highlighted_in_utf16_units() {
        let h = Highlighter::new(&parse_query("deploy").unwrap());
        let body = "We deployed; deploying now — redeploy later. Deployment!";
        let got = h.ranges(body);
        let words: Vec<String> = got
            .iter()
            .map(|[s, e]| {
                let units: Vec<u16> = body.encode_utf16().collect();
                String::from_utf16(&units[*s..*e]).unwrap()
            })
            .collect();
        assert_eq!(words, ["deployed", "deploying", "Deployment"]);

        // Offsets count UTF-16 units: the emoji before the word is two.
        let h = Highlighter::new(&parse_query("cat").unwrap());
        assert_eq!(h.ranges("🐈 cats"), vec![[3, 7]]);
    }
}
