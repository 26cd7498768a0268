//! The SQLite side of group commit: one thread that owns a connection of its own writes each batch
//! of sends in one transaction.
//!
//! Through sqlx every statement is a round trip to its SQLite worker thread (a channel send, a
//! futex wake and a context switch each way), and a send is five or more statements: measured, the
//! hops cost more CPU than SQLite itself. This thread runs a whole batch with cached statements and
//! no hop between them, so a send costs one hand-off in and one answer out. The SQL is the store's
//! own (`$N` parameters become SQLite's `?N`, which bind by number as `$N` does for Postgres), and
//! the values are bound as sqlx binds them for SQLite (ids as 16-byte blobs, times as RFC 3339
//! text), so what it writes reads back through sqlx unchanged.
//!
//! Each send runs inside a savepoint (cached statements too): one refused on its own terms (not a
//! member, a `client_id` seen) writes nothing, and one the database refuses (a file deleted
//! meanwhile) is rolled back alone, so the batch goes on and a room's seqs stay gap-free. The
//! answers go out only after the commit, so an ack still means durable. The other writes (edits, reactions, membership) keep
//! sqlx's writer connection; SQLite's lock and the busy timeout order the two.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::SecondsFormat;
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql, TransactionBehavior};
use tokio::sync::mpsc;

use super::messages::{
    FOLLOW_MENTIONED, FOLLOW_POSTER, FOLLOW_ROOT_AUTHOR, INSERT_ATTACHMENT, INSERT_MESSAGE, Job,
    KEEP_FILE, MAX_BATCH, MOVE_READ_POSITION, NEXT_SEQ, NewMessage, SEEN_CLIENT_ID,
    mention_insert_sql,
};
use super::{SendOutcome, StoreError};
use crate::protocol::Seq;

/// Starts the thread that writes the sends `jobs` brings into the database at `path`. It ends
/// when every sender is gone.
pub(super) fn start(path: PathBuf, jobs: mpsc::Receiver<Job>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("confab-sqlite-sends".into())
        .spawn(move || run(&path, jobs))
        .map(|_| ())
}

fn run(path: &std::path::Path, mut jobs: mpsc::Receiver<Job>) {
    let mut conn = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Opened at the first send, after the migrations have made the file what it must be.
        if conn.is_none() {
            match open(path) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "cannot open the database for sends");
                    answer_all(&mut batch, || StoreError::Sqlite(clone_error(&e)));
                    continue;
                }
            }
        }
        if let Some(conn) = conn.as_mut() {
            let started = Instant::now();
            commit(conn, &mut batch);
            crate::metrics::store("write", started.elapsed());
        }
    }
}

/// A connection set as sqlx sets its own: WAL, FULL sync (an ack survives a power cut), foreign
/// keys, and the same busy timeout.
pub(super) fn open(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Writes `batch` in one transaction and answers every job in it, leaving it empty.
pub(super) fn commit(conn: &mut Connection, batch: &mut Vec<Job>) {
    let mut outcomes = Vec::with_capacity(batch.len());
    let written = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for job in batch.iter() {
            run_statement(&tx, "SAVEPOINT send", &[])?;
            let outcome = insert(&tx, &job.message);
            if let Err(Refusal::Database(e)) = &outcome {
                tracing::debug!(error = %e, "a send the database refused is rolled back alone");
                run_statement(&tx, "ROLLBACK TO send", &[])?;
            }
            run_statement(&tx, "RELEASE send", &[])?;
            outcomes.push(outcome.map_err(StoreError::from));
        }
        tx.commit()
    })();
    match written {
        Ok(()) => {
            for (job, outcome) in batch.drain(..).zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, sends = batch.len(), "a batch of sends failed to commit");
            answer_all(batch, || StoreError::Sqlite(clone_error(&e)));
        }
    }
}

fn answer_all(batch: &mut Vec<Job>, error: impl Fn() -> StoreError) {
    for job in batch.drain(..) {
        let _ = job.reply.send(Err(error()));
    }
}

/// rusqlite's errors are not `Clone`; a failed commit answers every send of its batch.
fn clone_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// Why one send wrote nothing.
enum Refusal {
    /// Its own terms: `NotFound` (not a member) or `Conflict("client_id_seen")`.
    Own(StoreError),
    /// The database refused a statement.
    Database(rusqlite::Error),
}

impl From<rusqlite::Error> for Refusal {
    fn from(e: rusqlite::Error) -> Refusal {
        Refusal::Database(e)
    }
}

impl From<Refusal> for StoreError {
    fn from(r: Refusal) -> StoreError {
        match r {
            Refusal::Own(e) => e,
            Refusal::Database(e) => StoreError::Sqlite(e),
        }
    }
}

/// Prepares (once per connection, then from the cache) one of the store's statements, with its
/// `$N` parameters as SQLite's `?N` (the statements hold no `$` elsewhere).
pub(super) fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    if sql.contains('$') {
        conn.prepare_cached(&sql.replace('$', "?"))
    } else {
        conn.prepare_cached(sql)
    }
}

/// Runs one of the store's statements.
fn run_statement(conn: &Connection, sql: &str, values: &[&dyn ToSql]) -> rusqlite::Result<usize> {
    prepare(conn, sql)?.execute(values)
}

/// Time as sqlx writes it for SQLite.
fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// The steps of one send, in the order of the sqlx path's (`insert_steps!`).
fn insert(conn: &Connection, m: &NewMessage) -> Result<SendOutcome, Refusal> {
    let room = m.room_id.0.as_bytes().as_slice();
    let sender = m.sender_id.0.as_bytes().as_slice();
    if let Some(client_id) = &m.client_id {
        let seen: Option<i64> = prepare(conn, SEEN_CLIENT_ID)?
            .query_row(rusqlite::params![sender, client_id], |r| r.get(0))
            .optional()?;
        if seen.is_some() {
            return Err(Refusal::Own(StoreError::Conflict("client_id_seen")));
        }
    }
    let seq: Option<i64> = prepare(conn, NEXT_SEQ)?
        .query_row(rusqlite::params![room, sender], |r| r.get(0))
        .optional()?;
    let Some(seq) = seq else {
        return Err(Refusal::Own(StoreError::NotFound));
    };
    let fwd = m.forwarded_from.as_ref();
    let id = m.id.0.as_bytes().as_slice();
    let reply_to = m.reply_to.as_ref().map(|r| r.id.0.as_bytes().to_vec());
    let thread_root = m.thread.map(|t| t.id.0.as_bytes().to_vec());
    run_statement(
        conn,
        INSERT_MESSAGE,
        rusqlite::params![
            id,
            room,
            seq,
            sender,
            m.body.as_str(),
            time(&m.created_at),
            m.client_id.as_deref(),
            reply_to,
            fwd.map(|f| f.message_id.0.as_bytes().to_vec()),
            fwd.map(|f| f.room_id.0.as_bytes().to_vec()),
            fwd.map(|f| f.sender_id.0.as_bytes().to_vec()),
            fwd.map(|f| time(&f.created_at)),
            m.attachments.len() as i32,
            m.mentions.room,
            thread_root,
        ],
    )?;
    if let Some(parent) = m.thread {
        let root = parent.id.0.as_bytes().as_slice();
        let followers = std::iter::once((parent.sender_id, FOLLOW_ROOT_AUTHOR))
            .chain(std::iter::once((m.sender_id, FOLLOW_POSTER)))
            .chain(m.mentions.users.iter().map(|u| (*u, FOLLOW_MENTIONED)));
        for (user, sql) in followers {
            let user = user.0.as_bytes().as_slice();
            run_statement(conn, sql, rusqlite::params![root, user, room, seq])?;
        }
    }
    if !m.mentions.users.is_empty() {
        let mut values: Vec<&dyn ToSql> = vec![&id];
        let users: Vec<&[u8]> = m
            .mentions
            .users
            .iter()
            .map(|u| u.0.as_bytes().as_slice())
            .collect();
        values.extend(users.iter().map(|u| u as &dyn ToSql));
        run_statement(conn, &mention_insert_sql(users.len()), &values)?;
    }
    for (position, a) in m.attachments.iter().enumerate() {
        let file = a.id.0.as_bytes().as_slice();
        run_statement(
            conn,
            INSERT_ATTACHMENT,
            rusqlite::params![id, file, room, seq, position as i32],
        )?;
        run_statement(conn, KEEP_FILE, rusqlite::params![file])?;
    }
    run_statement(
        conn,
        MOVE_READ_POSITION,
        rusqlite::params![room, sender, seq],
    )?;
    Ok(SendOutcome::Created(m.created(Seq(seq))))
}
