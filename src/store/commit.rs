//! Group commit: the sends waiting for the database are written together, in one transaction
//! and one fsync, then each is answered.
//!
//! A send's cost under load was its own transaction: one commit (one fsync under SQLite's FULL
//! sync) per message, behind the single writer, so sends queued at the disk's pace. The committer
//! takes whatever is waiting when it is free (at most `MAX_BATCH`), inserts each in arrival
//! order inside one transaction, commits once, and only then answers, so the ack still means
//! durable and a room's seqs stay gap-free: a send refused on its own terms (not a member, a
//! `client_id` seen before) is found before it writes anything, and one the database refuses
//! fails alone. An idle server commits a lone send at once: nothing waits for a batch to fill.
//!
//! For SQLite the committer is a thread with a connection of its own ([`super::sqlite_sends`]),
//! which runs a batch without a thread hop per statement; for Postgres it is a task on the pool.

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use super::messages::{Job, MAX_BATCH, NewMessage};
use super::pg_sends;
use super::{SendOutcome, Store, StoreError};

/// Sends that may wait for the committer before senders wait to hand theirs in.
const QUEUE: usize = 4_096;

/// The handle senders hand their messages to. Cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the committer of `store` (a store without a committer of its own): the SQLite
    /// thread on the database file `sqlite_file`, else a task writing through `store`. It ends
    /// when the last handle is dropped.
    pub(super) fn start(store: Store, sqlite_file: Option<PathBuf>) -> std::io::Result<Committer> {
        let (jobs, rx) = mpsc::channel(QUEUE);
        match sqlite_file {
            Some(path) => super::sqlite_sends::start(path, rx)?,
            None => drop(tokio::spawn(run(store, rx))),
        }
        Ok(Committer { jobs })
    }

    /// Stores `message` with the next batch; answers once that batch is committed. A
    /// `client_id` seen before answers `Conflict("client_id_seen")`, for the caller to look up.
    pub(super) async fn insert(&self, message: NewMessage) -> Result<SendOutcome, StoreError> {
        let (reply, outcome) = oneshot::channel();
        let closed = || StoreError::Database(sqlx::Error::PoolClosed);
        self.jobs
            .send(Job { message, reply })
            .await
            .map_err(|_| closed())?;
        outcome.await.map_err(|_| closed())?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit(&store, &mut batch).await;
    }
}

/// Writes `batch` through the pool and answers every job in it, leaving it empty.
async fn commit(store: &Store, batch: &mut Vec<Job>) {
    // Rooms are locked in one order (Postgres takes a row lock per room until the commit), so
    // two nodes' batches cannot deadlock; a room's sends keep their arrival order.
    batch.sort_by_key(|j| j.message.room_id);
    let messages: Vec<&NewMessage> = batch.iter().map(|j| &j.message).collect();
    let written = match &store.backend {
        // Plain sends in a few statements for the whole batch (see `pg_sends`).
        super::Backend::Postgres(pool)
            if messages.len() > 1 && messages.iter().all(|m| pg_sends::is_plain(m)) =>
        {
            let started = std::time::Instant::now();
            let outcomes = pg_sends::insert_plain_batch(pool, &messages).await;
            crate::metrics::store("write", started.elapsed());
            outcomes
        }
        _ => store.insert_batch(&messages).await,
    };
    match written {
        Ok(outcomes) => {
            for (job, outcome) in batch.drain(..).zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) => {
            // Something failed that a send's own checks did not foresee (a file deleted
            // meanwhile, a race with another node on a client_id, the database itself): each
            // send alone finds out whose it was.
            tracing::debug!(error = %e, sends = batch.len(), "batch rolled back; sending one by one");
            for job in batch.drain(..) {
                let outcome = store.try_insert_message(&job.message).await;
                let _ = job.reply.send(outcome);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::api::{Attachment, Message};
    use crate::protocol::{FileId, MessageBody, MessageId, RoomId, Seq, UserId};
    use crate::store::test_db::{self, user};
    use crate::store::{Mentions, now};

    fn send(room: RoomId, sender: UserId, body: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            id: MessageId::new(),
            room_id: room,
            sender_id: sender,
            body: MessageBody::parse(body).unwrap(),
            client_id: client_id.map(str::to_owned),
            reply_to: None,
            forwarded_from: None,
            attachments: Vec::new(),
            mentions: Mentions::default(),
            thread: None,
            created_at: now(),
        }
    }

    /// The committers: through the pool (on SQLite), SQLite's own thread, and Postgres's (a
    /// batch of plain sends in a few statements, see `pg_sends`; others one by one).
    #[derive(Clone, Copy, Debug)]
    enum Way {
        Pool,
        Thread,
        Postgres,
    }

    const WAYS: [Way; 3] = [Way::Pool, Way::Thread, Way::Postgres];

    /// Commits `messages` as one batch the `way` given; their outcomes in order.
    async fn batch(
        dir: &std::path::Path,
        store: &Store,
        way: Way,
        messages: Vec<NewMessage>,
    ) -> Vec<Result<SendOutcome, StoreError>> {
        let mut jobs = Vec::new();
        let mut answers = Vec::new();
        for message in messages {
            let (reply, answer) = oneshot::channel();
            jobs.push(Job { message, reply });
            answers.push(answer);
        }
        match way {
            Way::Pool | Way::Postgres => commit(store, &mut jobs).await,
            Way::Thread => {
                let mut conn = super::super::sqlite_sends::open(&dir.join("confab.db")).unwrap();
                super::super::sqlite_sends::commit(&mut conn, &mut jobs);
            }
        }
        assert!(jobs.is_empty());
        let mut outcomes = Vec::new();
        for a in answers {
            outcomes.push(a.await.unwrap());
        }
        outcomes
    }

    fn seq(outcome: &Result<SendOutcome, StoreError>) -> i64 {
        match outcome {
            Ok(SendOutcome::Created(m)) => m.seq.0,
            other => panic!("expected a new message, got {other:?}"),
        }
    }

    struct Setup {
        dir: tempfile::TempDir,
        store: Store,
        room: RoomId,
        ana: UserId,
        bo: UserId,
        /// The Postgres database to drop after the test.
        database: Option<String>,
    }

    async fn setup(way: Way) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (store, database) = match way {
            Way::Postgres => {
                let (store, name) = test_db::postgres_store(dir.path()).await;
                (store, Some(name))
            }
            Way::Pool | Way::Thread => (test_db::sqlite_store(dir.path()).await, None),
        };
        let (ana, bo) = (user(&store, "ana").await, user(&store, "bo").await);
        let room = test_db::private_room(&store, "r", ana).await;
        Setup {
            dir,
            store,
            room,
            ana,
            bo,
            database,
        }
    }

    #[tokio::test]
    async fn a_send_refused_on_its_own_terms_does_not_stop_its_batch() {
        for way in WAYS {
            let Setup {
                dir,
                store,
                room,
                ana,
                bo,
                database,
            } = setup(way).await;
            let outcomes = batch(
                dir.path(),
                &store,
                way,
                vec![
                    send(room, ana, "one", None),
                    send(room, bo, "not a member", None),
                    send(room, ana, "two", Some("c-1")),
                    send(room, ana, "two again", Some("c-1")),
                    send(room, ana, "three", None),
                ],
            )
            .await;
            assert_eq!(seq(&outcomes[0]), 1, "{way:?}");
            assert!(
                matches!(outcomes[1], Err(StoreError::NotFound)),
                "{way:?}: {:?}",
                outcomes[1]
            );
            assert_eq!(seq(&outcomes[2]), 2, "{way:?}");
            assert!(
                matches!(outcomes[3], Err(StoreError::Conflict("client_id_seen"))),
                "{way:?}: the repeated client_id is told apart, for the caller to answer with the first: {:?}",
                outcomes[3]
            );
            assert_eq!(
                seq(&outcomes[4]),
                3,
                "{way:?}: gap-free past the refused sends"
            );
            // And through the store's door the repeat answers with the first message.
            match store
                .insert_message(send(room, ana, "two, once more", Some("c-1")))
                .await
            {
                Ok(SendOutcome::Existing(m)) => {
                    assert_eq!((m.seq.0, m.body.as_str()), (2, "two"), "{way:?}");
                }
                other => {
                    panic!("{way:?}: the repeated client_id answers with the first: {other:?}")
                }
            }
            test_db::drop_postgres(store, database).await;
        }
    }

    #[tokio::test]
    async fn a_database_error_fails_only_its_own_send() {
        for way in WAYS {
            let Setup {
                dir,
                store,
                room,
                ana,
                database,
                ..
            } = setup(way).await;
            let mut broken = send(room, ana, "with a file that does not exist", None);
            broken.attachments.push(Attachment {
                id: FileId::new(),
                name: "gone.txt".into(),
                content_type: "text/plain".into(),
                size: 1,
                width: None,
                height: None,
                duration_ms: None,
                url: String::new(),
                thumbnail_url: None,
            });
            let outcomes = batch(
                dir.path(),
                &store,
                way,
                vec![
                    send(room, ana, "a", None),
                    broken,
                    send(room, ana, "b", None),
                ],
            )
            .await;
            assert_eq!(seq(&outcomes[0]), 1, "{way:?}");
            assert!(
                matches!(
                    outcomes[1],
                    Err(StoreError::Database(_) | StoreError::Sqlite(_))
                ),
                "{way:?}: {:?}",
                outcomes[1]
            );
            assert_eq!(
                seq(&outcomes[2]),
                2,
                "{way:?}: the refused send left no gap"
            );
            let page = store
                .history(
                    room,
                    crate::store::HistoryRequest::After(crate::protocol::Seq(0)),
                    10,
                )
                .await
                .unwrap();
            let bodies: Vec<&str> = page.0.iter().map(|m| m.body.as_str()).collect();
            assert_eq!(bodies, ["a", "b"], "{way:?}");
            test_db::drop_postgres(store, database).await;
        }
    }

    /// A second room, Bo's; Ana's first message in `room`; then a batch over both rooms:
    /// a reply, a forward with `@room`, a client_id used before, one used twice in the batch,
    /// and one of a refused send used again.
    async fn two_room_batch(s: &Setup, way: Way) -> (RoomId, Message, Vec<NewMessage>) {
        let (room, ana, bo) = (s.room, s.ana, s.bo);
        let other = test_db::private_room(&s.store, "o", bo).await;
        let first = match s
            .store
            .insert_message(send(room, ana, "first", Some("stored-before")))
            .await
        {
            Ok(SendOutcome::Created(m)) => m,
            other => panic!("{way:?}: {other:?}"),
        };
        let mut reply = send(room, ana, "a reply", None);
        reply.reply_to = Some(crate::protocol::api::ReplyPreview {
            id: first.id,
            sender_id: ana,
            body: "first".into(),
            deleted: false,
        });
        let mut forward = send(other, bo, "forwarded", None);
        forward.forwarded_from = Some(crate::protocol::api::ForwardedFrom {
            message_id: first.id,
            room_id: room,
            sender_id: ana,
            created_at: first.created_at,
        });
        forward.mentions.room = true;
        let sends = vec![
            send(other, bo, "o1", Some("x")),
            reply,
            send(room, ana, "again", Some("stored-before")),
            forward,
            send(room, ana, "r3", Some("x")),
            send(other, bo, "o3", Some("x")),
            // Refused (Bo is not in `room`), so its client_id stays free for his next.
            send(room, bo, "not a member", Some("z")),
            send(other, bo, "o4", Some("z")),
        ];
        (other, first, sends)
    }

    #[tokio::test]
    async fn a_batch_over_two_rooms_keeps_each_rooms_order_replies_and_read_positions() {
        for way in WAYS {
            let s = setup(way).await;
            let (other, first, sends) = two_room_batch(&s, way).await;
            let outcomes = batch(s.dir.path(), &s.store, way, sends).await;
            let seqs: Vec<Option<i64>> = outcomes
                .iter()
                .map(|o| match o {
                    Ok(SendOutcome::Created(m)) => Some(m.seq.0),
                    _ => None,
                })
                .collect();
            // `x` is Bo's in `other` and Ana's in `room`: a client_id is the sender's own.
            let want = [
                Some(1),
                Some(2),
                None,
                Some(2),
                Some(3),
                None,
                None,
                Some(3),
            ];
            assert_eq!(seqs, want, "{way:?}: {outcomes:?}");
            assert!(
                matches!(outcomes[5], Err(StoreError::Conflict("client_id_seen"))),
                "{way:?}: a client_id used earlier in the same batch: {:?}",
                outcomes[5]
            );
            assert!(
                matches!(outcomes[6], Err(StoreError::NotFound)),
                "{way:?}: {:?}",
                outcomes[6]
            );
            let after = crate::store::HistoryRequest::After(Seq(0));
            let (in_room, _) = s.store.history(s.room, after, 10).await.unwrap();
            let bodies: Vec<&str> = in_room.iter().map(|m| m.body.as_str()).collect();
            assert_eq!(bodies, ["first", "a reply", "r3"], "{way:?}");
            let replied = in_room[1].reply_to.as_ref().map(|r| r.id);
            assert_eq!(replied, Some(first.id), "{way:?}");
            let (in_other, _) = s.store.history(other, after, 10).await.unwrap();
            let fwd = in_other[1].forwarded_from.as_ref();
            assert_eq!(fwd.map(|f| f.message_id), Some(first.id), "{way:?}");
            assert!(in_other[1].mentions_room, "{way:?}");
            let rooms = s.store.rooms_for_user(s.ana).await.unwrap();
            let mine = rooms.iter().find(|r| r.id == s.room).unwrap();
            let read = mine.last_read_seq;
            assert_eq!(read, Seq(3), "{way:?}: Ana read up to her own newest");
            test_db::drop_postgres(s.store, s.database).await;
        }
    }

    #[tokio::test]
    async fn many_concurrent_sends_all_commit_gap_free() {
        for way in [Way::Pool, Way::Postgres] {
            let Setup {
                dir: _dir,
                store,
                room,
                ana,
                database,
                ..
            } = setup(way).await;
            many_concurrent_sends(&store, room, ana).await;
            test_db::drop_postgres(store, database).await;
        }
    }

    async fn many_concurrent_sends(store: &Store, room: RoomId, ana: UserId) {
        let sends: Vec<_> = (0..300)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .insert_message(send(room, ana, &format!("m{i}"), None))
                        .await
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for s in sends {
            seqs.push(seq(&s.await.unwrap()));
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
    }
}
