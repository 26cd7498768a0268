//! Full-text search over the messages of the rooms a user is a member of now.
//!
//! The engines that ship with the stores do the matching: SQLite's FTS5 (`message_search`, an
//! external-content table kept in step by triggers) and Postgres's full-text search (the
//! `messages.search` tsvector and its GIN index); see `migrations/*/0050_search.sql`. Each
//! backend's query syntax is built here from parsed [`Term`]s, never from the user's text, so
//! nothing the user types is read as an operator. Results come newest first, in pages joined
//! by an opaque cursor.

use chrono::{DateTime, Utc};
use rust_stemmers::{Algorithm, Stemmer};

use super::rows::{MessageColumns, into_messages, message_columns, message_joins};
use super::{Backend, Store, StoreError};
use crate::protocol::api::Message;
use crate::protocol::{MessageId, RoomId, UserId};

/// One part of a query: a word, matched by stem and (from three letters) by prefix, or a
/// quoted phrase, matched as consecutive words. Words are lowercase and alphanumeric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// `deploy`.
    Word(String),
    /// `"release notes"`.
    Phrase(Vec<String>),
}

/// What a message must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Has {
    /// Any attachment.
    File,
    /// An image attachment.
    Image,
    /// An http(s) URL in the body.
    Link,
}

/// A checked search; the service built it.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Who searches: only rooms they are a member of are searched.
    pub user: UserId,
    /// All must match; empty means "every message" (then a filter narrows it).
    pub terms: Vec<Term>,
    /// Only this room.
    pub room: Option<RoomId>,
    /// Only this sender.
    pub from: Option<UserId>,
    /// Only messages carrying this.
    pub has: Option<Has>,
    /// Only messages sent before this time.
    pub before: Option<DateTime<Utc>>,
    /// Only messages sent after this time.
    pub after: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: i64,
    /// Where the previous page ended ([`SearchPage::next_cursor`]).
    pub cursor: Option<String>,
}

/// One page of results, newest first.
#[derive(Debug)]
pub struct SearchPage {
    /// The matching messages.
    pub messages: Vec<Message>,
    /// Set when more may follow: pass it as the next request's cursor.
    pub next_cursor: Option<String>,
}

/// FTS5 query text. The index holds plain words (unicode61), so stemming happens here: a word
/// of three letters or more matches as a prefix of itself or of its English (Porter2) stem,
/// `("deploy"* OR "deploy"*)`, `("release"* OR "releas"*)`; a shorter one matches exactly; a
/// phrase `"a b"` matches those words in order. The words are alphanumeric, so quoting them is
/// all the escaping needed.
fn fts5_query(terms: &[Term]) -> String {
    let stemmer = Stemmer::create(Algorithm::English);
    let parts: Vec<String> = terms
        .iter()
        .map(|t| match t {
            Term::Word(w) if w.chars().count() >= 3 => {
                let stem = stemmer.stem(w);
                if stem.chars().count() >= 3 && stem != w.as_str() {
                    format!("(\"{w}\"* OR \"{stem}\"*)")
                } else {
                    format!("\"{w}\"*")
                }
            }
            Term::Word(w) => format!("\"{w}\""),
            Term::Phrase(ws) => format!("\"{}\"", ws.join(" ")),
        })
        .collect();
    parts.join(" AND ")
}

/// `to_tsquery` text: a word `deploy:*`, a phrase `(a <-> b)`, joined by `&`.
fn tsquery(terms: &[Term]) -> String {
    let parts: Vec<String> = terms
        .iter()
        .map(|t| match t {
            Term::Word(w) if w.chars().count() >= 3 => format!("{w}:*"),
            Term::Word(w) => w.clone(),
            Term::Phrase(ws) => format!("({})", ws.join(" <-> ")),
        })
        .collect();
    parts.join(" & ")
}

/// The SQL of a filter on `m`; constant text, the values are bound.
fn has_clause(has: Option<Has>) -> &'static str {
    match has {
        None => "",
        Some(Has::File) => " AND m.attachment_count > 0",
        Some(Has::Image) => {
            " AND EXISTS (SELECT 1 FROM message_attachments a JOIN files f ON f.id = a.file_id \
             WHERE a.message_id = m.id AND f.content_type LIKE 'image/%')"
        }
        Some(Has::Link) => " AND (m.body LIKE '%http://%' OR m.body LIKE '%https://%')",
    }
}

const FILTERS: &str = " AND ($3 IS NULL OR m.room_id = $3) AND ($4 IS NULL OR m.sender_id = $4) \
     AND ($5 IS NULL OR m.created_at < $5) AND ($6 IS NULL OR m.created_at > $6)";

/// A row of results: the message and where it sorts.
#[derive(sqlx::FromRow)]
struct Hit {
    s_rowid: Option<i64>,
    s_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    message: MessageColumns,
}

/// Matches server-wide from which a Postgres query counts as common (see [`is_common`]).
const COMMON_MATCHES: i64 = 2_000;

/// Whether `tsquery` matches at least [`COMMON_MATCHES`] messages anywhere: a GIN lookup that
/// stops there. A common word is best found room by room, newest first; a rare one through
/// the index, sorted. One plan cannot do both (Postgres plans the prepared query once).
async fn is_common(pool: &sqlx::PgPool, tsquery: &str) -> Result<bool, StoreError> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT 1 FROM messages WHERE search @@ to_tsquery('english', $1) \
         LIMIT $2) t",
    )
    .bind(tsquery)
    .bind(COMMON_MATCHES)
    .fetch_one(pool)
    .await?;
    Ok(n >= COMMON_MATCHES)
}

/// A Postgres cursor: the last result's time and id.
fn parse_time_cursor(cursor: &str) -> Option<(DateTime<Utc>, MessageId)> {
    let (micros, id) = cursor.split_once('_')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, id.parse().ok()?))
}

impl Store {
    /// One page of the messages matching `req`, newest first. `Conflict("invalid_cursor")`
    /// for a cursor this store did not make.
    pub async fn search(&self, req: &SearchRequest) -> Result<SearchPage, StoreError> {
        let started = std::time::Instant::now();
        let result = match &self.backend {
            Backend::Sqlite { read, .. } => self.search_sqlite(read, req).await,
            Backend::Postgres(pool) => self.search_postgres(pool, req).await,
        };
        crate::metrics::store("read", started.elapsed());
        let (hits, next_cursor) = result?;
        let rows = hits.into_iter().map(|h| h.message).collect();
        let (mut messages, counts) = into_messages(rows);
        self.fill_details(&mut messages, &counts).await?;
        Ok(SearchPage {
            messages,
            next_cursor,
        })
    }

    async fn search_sqlite(
        &self,
        pool: &sqlx::SqlitePool,
        req: &SearchRequest,
    ) -> Result<(Vec<Hit>, Option<String>), StoreError> {
        let below: Option<i64> = match &req.cursor {
            None => None,
            Some(c) => Some(
                c.parse()
                    .map_err(|_| StoreError::Conflict("invalid_cursor"))?,
            ),
        };
        // With terms, FTS5 drives: it walks its matches newest rowid first, so a page stops
        // early. Without, the messages table is walked the same way.
        // The order is named on the FTS table's own rowid, which FTS5 can deliver in order.
        let (from, matching, order) = if req.terms.is_empty() {
            ("messages m", "$2 IS NULL", "m.rowid")
        } else {
            (
                "message_search s JOIN messages m ON m.rowid = s.rowid",
                "message_search MATCH $2",
                "s.rowid",
            )
        };
        let sql = format!(
            "SELECT m.rowid AS s_rowid, NULL AS s_at, {cols} FROM {from} \
             JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = $1 {joins} \
             WHERE {matching} AND m.deleted = 0{FILTERS}{has} AND ($7 IS NULL OR {order} < $7) \
             ORDER BY {order} DESC LIMIT $8",
            cols = message_columns!(),
            joins = message_joins!(),
            has = has_clause(req.has),
        );
        let query = (!req.terms.is_empty()).then(|| fts5_query(&req.terms));
        let mut hits: Vec<Hit> = sqlx::query_as(&sql)
            .bind(req.user)
            .bind(query)
            .bind(req.room)
            .bind(req.from)
            .bind(req.before)
            .bind(req.after)
            .bind(below)
            .bind(req.limit + 1)
            .fetch_all(pool)
            .await?;
        let more = hits.len() as i64 > req.limit;
        hits.truncate(req.limit as usize);
        let next = more
            .then(|| hits.last().and_then(|h| h.s_rowid))
            .flatten()
            .map(|r| r.to_string());
        Ok((hits, next))
    }

    async fn search_postgres(
        &self,
        pool: &sqlx::PgPool,
        req: &SearchRequest,
    ) -> Result<(Vec<Hit>, Option<String>), StoreError> {
        let below = match &req.cursor {
            None => None,
            Some(c) => Some(parse_time_cursor(c).ok_or(StoreError::Conflict("invalid_cursor"))?),
        };
        let matching = if req.terms.is_empty() {
            "$2::text IS NULL"
        } else {
            "m.search @@ to_tsquery('english', $2)"
        };
        let query = (!req.terms.is_empty()).then(|| tsquery(&req.terms));
        let common = match &query {
            None => true,
            Some(q) => is_common(pool, q).await?,
        };
        let sql = if common {
            // Room by room, newest first, each stopping at a page's worth: a common word is
            // found in the newest messages of each room the searcher is in, without gathering
            // every match (what a GIN scan sorted by time would do). The pages of the rooms
            // are then merged by time.
            format!(
                "SELECT NULL::bigint AS s_rowid, m.created_at AS s_at, {cols} FROM room_members rm \
                 CROSS JOIN LATERAL (SELECT m.id FROM messages m WHERE m.room_id = rm.room_id \
                 AND {matching} AND NOT m.deleted{FILTERS}{has} \
                 AND ($7::timestamptz IS NULL OR (m.created_at, m.id) < ($7, $8)) \
                 ORDER BY m.seq DESC LIMIT $9) hit \
                 JOIN messages m ON m.id = hit.id {joins} \
                 WHERE rm.user_id = $1 ORDER BY m.created_at DESC, m.id DESC LIMIT $9",
                cols = message_columns!(),
                joins = message_joins!(),
                has = has_clause(req.has),
            )
        } else {
            // A rarer word: its few matches come from the GIN index and are sorted by time.
            format!(
                "SELECT NULL::bigint AS s_rowid, m.created_at AS s_at, {cols} FROM messages m \
                 JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = $1 {joins} \
                 WHERE {matching} AND NOT m.deleted{FILTERS}{has} \
                 AND ($7::timestamptz IS NULL OR (m.created_at, m.id) < ($7, $8)) \
                 ORDER BY m.created_at DESC, m.id DESC LIMIT $9",
                cols = message_columns!(),
                joins = message_joins!(),
                has = has_clause(req.has),
            )
        };
        let mut hits: Vec<Hit> = sqlx::query_as(&sql)
            .bind(req.user)
            .bind(query)
            .bind(req.room)
            .bind(req.from)
            .bind(req.before)
            .bind(req.after)
            .bind(below.map(|b| b.0))
            .bind(below.map(|b| b.1))
            .bind(req.limit + 1)
            .fetch_all(pool)
            .await?;
        let more = hits.len() as i64 > req.limit;
        hits.truncate(req.limit as usize);
        let next = more
            .then(|| hits.last().and_then(|h| Some((h.s_at?, h.message.id()?))))
            .flatten()
            .map(|(at, id)| format!("{}_{id}", at.timestamp_micros()));
        Ok((hits, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_built_from_terms_only() {
        let terms = vec![
            Term::Word("deploy".into()),
            Term::Word("v2".into()),
            Term::Phrase(vec!["release".into(), "notes".into()]),
        ];
        assert_eq!(
            fts5_query(&terms),
            r#""deploy"* AND "v2" AND "release notes""#
        );
        assert_eq!(tsquery(&terms), "deploy:* & v2 & (release <-> notes)");
    }

    #[test]
    fn a_cursor_from_elsewhere_is_refused() {
        assert!(parse_time_cursor("nonsense").is_none());
        assert!(parse_time_cursor("12_notauuid").is_none());
        let id = MessageId(uuid::Uuid::nil());
        let at = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        assert_eq!(
            parse_time_cursor(&format!("{}_{id}", at.timestamp_micros())),
            Some((at, id))
        );
    }
}
