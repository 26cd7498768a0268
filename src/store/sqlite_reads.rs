//! The SQLite side of the send path's reads: point lookups run on the caller's own thread.
//!
//! Every send asks a few questions before it is written (may this member post, is the DM
//! blocked, who gets a push). Each is one index lookup that SQLite answers from its page cache in
//! a few microseconds, but through sqlx it is a round trip to a worker thread: a channel send, a
//! futex wake and a context switch each way, which measured cost more than the lookup. Here a
//! small set of connections of our own answers them inline, with cached statements, as the
//! [`sqlite_sends`](super::sqlite_sends) thread does for the writes.
//!
//! Only bounded lookups belong here (a primary key or a unique index, a row or a handful), since
//! they run on a runtime thread. The connection is set `query_only` and does not wait on locks:
//! under WAL a reader is refused only in the rare moments SQLite resets the log, and then (or on
//! any error) the caller answers `None` and the read goes through the pool as before, so what the
//! caller sees is never different from the pool's answer.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

/// Connections kept open between reads: one per runtime thread that reads at once is enough.
const IDLE: usize = 8;

/// Read connections to one database file, opened on first use.
pub(crate) struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Reads answered here, for the tests to tell this path from the pool's.
    #[cfg(test)]
    answered: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for InlineReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReads")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl InlineReads {
    pub(super) fn new(path: PathBuf) -> InlineReads {
        InlineReads {
            path,
            idle: Mutex::new(Vec::new()),
            #[cfg(test)]
            answered: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Runs `read` on this thread; `None` if it could not be answered here (the caller then
    /// reads through the pool).
    pub(super) fn run<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match taken {
            Some(conn) => conn,
            None => match open(&self.path) {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::debug!(error = %e, "no inline read connection; reading through the pool");
                    return None;
                }
            },
        };
        let answer = read(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE
        {
            idle.push(conn);
        }
        match answer {
            Ok(value) => {
                #[cfg(test)]
                self.answered
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Some(value)
            }
            Err(e) => {
                tracing::debug!(error = %e, "an inline read failed; reading through the pool");
                None
            }
        }
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Refused at once rather than waiting on a lock: the pool reads then.
    conn.busy_timeout(std::time::Duration::ZERO)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use crate::protocol::Role;
    use crate::store::test_db::{self, user};
    use crate::store::{Backend, Store, now};

    /// `store` without its inline reads: every read through the pool.
    fn pool_only(store: &Store) -> Store {
        let Backend::Sqlite { read, write, .. } = &store.backend else {
            panic!("a SQLite store");
        };
        Store {
            backend: Backend::Sqlite {
                read: read.clone(),
                write: write.clone(),
                inline: None,
            },
            commits: None,
        }
    }

    fn answered(store: &Store) -> u64 {
        match &store.backend {
            Backend::Sqlite {
                inline: Some(reads),
                ..
            } => reads.answered.load(Ordering::Relaxed),
            _ => panic!("a SQLite store on a file reads inline"),
        }
    }

    #[tokio::test]
    async fn the_send_paths_reads_answer_inline_as_the_pool_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = test_db::sqlite_store(dir.path()).await;
        let pool = pool_only(&store);
        let (ana, bo, cy) = (
            user(&store, "ana").await,
            user(&store, "bo").await,
            user(&store, "cy").await,
        );
        let room = test_db::private_room(&store, "general", ana).await;
        store
            .add_member(room, bo, Role::Member, now())
            .await
            .unwrap();
        store.set_timeout(room, bo, Some(i64::MAX)).await.unwrap();
        let (dm, _) = store.dm_room(ana, cy, now()).await.unwrap();
        for who in [ana, bo] {
            store
                .save_push_subscription(who, None, (&format!("https://push.test/{who}"), "k", "a"))
                .await
                .unwrap();
        }
        store.block(cy, ana).await.unwrap();

        let before = answered(&store);
        let mut reads = 0;
        for (r, u) in [(room, ana), (room, bo), (room, cy), (dm, ana), (dm, cy)] {
            assert_eq!(
                store.poster(r, u).await.unwrap(),
                pool.poster(r, u).await.unwrap()
            );
            assert_eq!(
                store.blocked_with_member(r, u).await.unwrap(),
                pool.blocked_with_member(r, u).await.unwrap()
            );
            assert_eq!(
                format!("{:?}", store.push_audience(r, u).await.unwrap()),
                format!("{:?}", pool.push_audience(r, u).await.unwrap())
            );
            reads += 3;
        }
        assert_eq!(
            answered(&store) - before,
            reads,
            "every read answered inline"
        );
        // What the answers are, so that agreeing is not agreeing on nothing.
        let (_, role, limits) = store.poster(room, bo).await.unwrap().unwrap();
        assert_eq!((role, limits.timeout_until), (Role::Member, Some(i64::MAX)));
        assert!(store.poster(room, cy).await.unwrap().is_none());
        assert!(store.blocked_with_member(dm, ana).await.unwrap());
        assert!(!store.blocked_with_member(room, ana).await.unwrap());
        let audience = store.push_audience(room, ana).await.unwrap().unwrap();
        assert_eq!(audience.members_count, 2);
        assert_eq!(
            audience
                .members
                .iter()
                .map(|m| m.user_id)
                .collect::<Vec<_>>(),
            [bo]
        );
        // cy has no subscription, and ana's is not for her own messages.
        assert!(store.push_audience(dm, ana).await.unwrap().is_none());
        store.close().await;
    }

    async fn subscribe(store: &Store, who: crate::protocol::UserId, n: usize) {
        let endpoint = format!("https://push.test/{who}/{n}");
        store
            .save_push_subscription(who, None, (&endpoint, "k", "a"))
            .await
            .unwrap();
    }

    /// A room larger than the inline walk: its push audience is found from the subscribers when
    /// they are fewer than its members (inline, when few), else from its members, and always
    /// the same as the members-first read of the pool.
    #[tokio::test]
    async fn a_large_rooms_push_audience_is_read_from_the_shorter_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = test_db::sqlite_store(dir.path()).await;
        let pool = pool_only(&store);
        let ana = user(&store, "ana").await;
        let room = test_db::private_room(&store, "town", ana).await;
        let mut members = Vec::new();
        for i in 0..24 {
            let who = user(&store, &format!("m{i}")).await;
            store
                .add_member(room, who, Role::Member, now())
                .await
                .unwrap();
            members.push(who);
        }
        let outsider = user(&store, "out").await;
        assert!(
            store.push_audience(room, ana).await.unwrap().is_none(),
            "no subscriber"
        );

        // Three subscribers (one with two browsers, one outside the room, one who blocked ana).
        subscribe(&store, members[3], 0).await;
        subscribe(&store, members[3], 1).await;
        subscribe(&store, members[7], 0).await;
        subscribe(&store, outsider, 0).await;
        store.block(members[7], ana).await.unwrap();
        subscribe(&store, members[9], 0).await;
        let before = answered(&store);
        let audience = store.push_audience(room, ana).await.unwrap().unwrap();
        assert_eq!(
            answered(&store) - before,
            1,
            "five subscriptions: read inline"
        );
        let mut expected = vec![members[3], members[9]];
        expected.sort();
        assert_eq!(
            audience
                .members
                .iter()
                .map(|m| m.user_id)
                .collect::<Vec<_>>(),
            expected
        );
        assert_eq!(audience.members_count, 25);
        assert_eq!(
            format!("{audience:?}"),
            format!(
                "{:?}",
                pool.push_audience(room, ana).await.unwrap().unwrap()
            )
        );

        // More subscriptions than members: the members are walked (through the pool), to the
        // same audience.
        for n in 0..30 {
            subscribe(&store, outsider, n + 1).await;
        }
        let walked = store.push_audience(room, ana).await.unwrap().unwrap();
        assert_eq!(format!("{walked:?}"), format!("{audience:?}"));
        store.close().await;
    }
}
