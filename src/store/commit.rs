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
    match store.insert_batch(&messages).await {
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
    use crate::protocol::api::Attachment;
    use crate::protocol::{FileId, MessageBody, MessageId, RoomId, UserId, Visibility};
    use crate::store::{Mentions, NewRoom, NewUser, now};

    async fn user(store: &Store, name: &str) -> UserId {
        let id = UserId::new();
        store
            .create_user(NewUser {
                id,
                username: name.into(),
                username_key: name.into(),
                display_name: name.into(),
                password_hash: "x".into(),
                created_at: now(),
            })
            .await
            .unwrap();
        id
    }

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

    /// The two committers: through the pool (Postgres's) and SQLite's own thread.
    #[derive(Clone, Copy, Debug)]
    enum Way {
        Pool,
        Thread,
    }

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
            Way::Pool => commit(store, &mut jobs).await,
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

    async fn setup() -> (tempfile::TempDir, Store, RoomId, UserId, UserId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(None, dir.path(), 4).await.unwrap();
        store.migrate().await.unwrap();
        let (ana, bo) = (user(&store, "ana").await, user(&store, "bo").await);
        let room = RoomId::new();
        store
            .create_room(NewRoom {
                id: room,
                name: "r".into(),
                topic: String::new(),
                creator: ana,
                created_at: now(),
                visibility: Visibility::Private,
            })
            .await
            .unwrap();
        (dir, store, room, ana, bo)
    }

    #[tokio::test]
    async fn a_send_refused_on_its_own_terms_does_not_stop_its_batch() {
        for way in [Way::Pool, Way::Thread] {
            let (dir, store, room, ana, bo) = setup().await;
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
        }
    }

    #[tokio::test]
    async fn a_database_error_fails_only_its_own_send() {
        for way in [Way::Pool, Way::Thread] {
            let (dir, store, room, ana, _bo) = setup().await;
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
        }
    }

    #[tokio::test]
    async fn many_concurrent_sends_all_commit_gap_free() {
        let (_dir, store, room, ana, _bo) = setup().await;
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
