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

/// Matches the planner expects from which a query is common without counting (see
/// [`is_common`]): ten times [`COMMON_MATCHES`], so an estimate that is off by a few times still
/// sorts a query right.
const CLEARLY_COMMON: f64 = 20_000.0;

/// Whether `tsquery` matches at least [`COMMON_MATCHES`] messages anywhere. A common word is
/// best found room by room, newest first; a rare one through the index, sorted. One plan cannot
/// do both (Postgres plans the prepared query once).
///
/// First the planner's own estimate, from the column's lexeme statistics (`ANALYZE`; a plan,
/// no rows read, under a millisecond): a word it expects in tens of thousands of messages is
/// common. It is reliable for frequent single words, which the statistics list; it under-counts
/// words ANDed together (it multiplies their frequencies as if independent), so anything it does
/// not call clearly common is counted: a GIN lookup that stops at [`COMMON_MATCHES`]. Counting
/// costs about as much as the room-by-room walk itself for a common word (9 ms of 15 in
/// `confab-bench search`), which is what the estimate saves.
async fn is_common(pool: &sqlx::PgPool, tsquery: &str) -> Result<bool, StoreError> {
    // Unnamed (not persistent): a named statement may be planned generically after a few
    // runs, and the estimate would then be the planner's default for any query.
    let (plan,): (String,) =
        sqlx::query_as("EXPLAIN SELECT 1 FROM messages WHERE search @@ to_tsquery('english', $1)")
            .bind(tsquery)
            .persistent(false)
            .fetch_one(pool)
            .await?;
    if planned_rows(&plan).is_some_and(|n| n >= CLEARLY_COMMON) {
        return Ok(true);
    }
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

/// The rows the top line of a text `EXPLAIN` expects: `… (cost=0.00..43558.72 rows=103196
/// width=4)`.
fn planned_rows(line: &str) -> Option<f64> {
    let (_, after) = line.split_once(" rows=")?;
    let digits = after.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
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
        let common = if req.terms.is_empty() {
            true
        } else {
            is_common(pool, &tsquery(&req.terms)).await?
        };
        self.postgres_page(pool, req, common).await
    }

    /// A page of `req` taken room by room (`common`) or from the GIN index, sorted.
    async fn postgres_page(
        &self,
        pool: &sqlx::PgPool,
        req: &SearchRequest,
        common: bool,
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
        let sql = if common {
            // Room by room, newest first, each stopping at a page's worth: a common word is
            // found in the newest messages of each room the searcher is in, without gathering
            // every match (what a GIN scan sorted by time would do). The pages of the rooms
            // are then merged by time, and only the page's own rows are read whole.
            format!(
                "SELECT NULL::bigint AS s_rowid, m.created_at AS s_at, {cols} FROM \
                 (SELECT hit.id, hit.created_at FROM room_members rm \
                 CROSS JOIN LATERAL (SELECT m.id, m.created_at FROM messages m \
                 WHERE m.room_id = rm.room_id AND {matching} AND NOT m.deleted{FILTERS}{has} \
                 AND ($7::timestamptz IS NULL OR (m.created_at, m.id) < ($7, $8)) \
                 ORDER BY m.seq DESC LIMIT $9) hit \
                 WHERE rm.user_id = $1 ORDER BY hit.created_at DESC, hit.id DESC LIMIT $9) top \
                 JOIN messages m ON m.id = top.id {joins} \
                 ORDER BY m.created_at DESC, m.id DESC",
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
    fn the_planned_rows_are_read_from_the_plan_line() {
        let line = "Bitmap Heap Scan on messages  (cost=2671.77..43558.72 rows=103196 width=4)";
        assert_eq!(planned_rows(line), Some(103_196.0));
        assert_eq!(
            planned_rows("Result  (cost=0.00..0.01 rows=1 width=4)"),
            Some(1.0)
        );
        assert_eq!(planned_rows("Seq Scan on messages"), None);
    }

    /// Four rooms of Bo's, Ana in three, and 4,800 messages interleaved over them: every
    /// other one says "deploy" (2,400, so it is common), one in six "deploy tonight", one in
    /// twelve is deleted. Ana and the rooms.
    async fn four_rooms_of_history(store: &Store, pool: &sqlx::PgPool) -> (UserId, Vec<RoomId>) {
        use crate::protocol::{Role, Visibility};
        use crate::store::{NewRoom, now};
        let ana = crate::store::test_db::user(store, "ana").await;
        let bo = crate::store::test_db::user(store, "bo").await;
        let rooms: Vec<RoomId> = (0..4).map(|_| RoomId::new()).collect();
        for (i, room) in rooms.iter().enumerate() {
            let name = format!("r{i}");
            let (topic, created_at) = (String::new(), now());
            let (visibility, creator, id) = (Visibility::Private, bo, *room);
            let new = NewRoom {
                id,
                name,
                topic,
                creator,
                created_at,
                visibility,
            };
            store.create_room(new).await.unwrap();
            if i < 3 {
                store
                    .add_member(*room, ana, Role::Member, now())
                    .await
                    .unwrap();
            }
        }
        let start = now() - chrono::Duration::hours(1);
        sqlx::query(
            "INSERT INTO messages (id, room_id, seq, sender_id, body, created_at, deleted) \
             SELECT gen_random_uuid(), ($1::uuid[])[1 + i % 4], 1 + i / 4, $2, \
             CASE WHEN i % 6 = 0 THEN 'deploy tonight ' || i WHEN i % 2 = 0 THEN 'we deployed ' || i \
             ELSE 'lunch ' || i END, $3 + i * interval '1 second', i % 12 = 6 \
             FROM generate_series(0, 4799) AS i",
        )
        .bind(rooms.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(bo)
        .bind(start)
        .execute(pool)
        .await
        .unwrap();
        (ana, rooms)
    }

    /// Both Postgres plans give the same pages, newest first, with the same cursors, and a
    /// word in thousands of messages is found common.
    #[tokio::test]
    async fn the_two_postgres_plans_give_the_same_pages() {
        let dir = tempfile::tempdir().unwrap();
        let (store, database) = crate::store::test_db::postgres_store(dir.path()).await;
        let Backend::Postgres(pool) = &store.backend else {
            unreachable!()
        };
        let (ana, rooms) = four_rooms_of_history(&store, pool).await;
        assert!(is_common(pool, "deploy:*").await.unwrap());
        assert!(!is_common(pool, "lunch & deploy:*").await.unwrap());

        for terms in [
            vec![Term::Word("deploy".into())],
            vec![Term::Word("deploy".into()), Term::Word("tonight".into())],
        ] {
            let mut req = SearchRequest {
                user: ana,
                terms,
                room: None,
                from: None,
                has: None,
                before: None,
                after: None,
                limit: 25,
                cursor: None,
            };
            let mut seen = 0;
            for _ in 0..3 {
                let (walked, walked_next) = store.postgres_page(pool, &req, true).await.unwrap();
                let (sorted, sorted_next) = store.postgres_page(pool, &req, false).await.unwrap();
                let ids = |hits: &[Hit]| hits.iter().map(|h| h.message.id()).collect::<Vec<_>>();
                assert_eq!(ids(&walked), ids(&sorted), "{:?}", req.terms);
                assert_eq!(walked_next, sorted_next);
                assert_eq!(walked.len(), 25);
                let times: Vec<_> = walked.iter().map(|h| h.s_at).collect();
                assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");
                let found: Vec<uuid::Uuid> =
                    ids(&walked).into_iter().flatten().map(|m| m.0).collect();
                let (strays,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM messages WHERE id = ANY($1) AND (deleted OR room_id = $2)",
                )
                .bind(&found)
                .bind(rooms[3])
                .fetch_one(pool)
                .await
                .unwrap();
                assert_eq!(strays, 0, "only Ana's rooms, never a deleted message");
                seen += walked.len();
                req.cursor = walked_next;
            }
            assert_eq!(seen, 75);
        }
        crate::store::test_db::drop_postgres(store, Some(database)).await;
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
