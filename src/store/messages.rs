//! Messages: the insert that assigns a room's next seq, edits, tombstones and history pages.
//!
//! The seq is taken by `UPDATE rooms SET last_seq = last_seq + 1 … RETURNING last_seq` inside the
//! insert's transaction. Under Postgres the row lock orders concurrent posters; under SQLite the
//! single writer connection does. Either way a failed insert rolls the increment back, so seqs stay
//! gap-free, and the commit happens before the caller acknowledges anything.

use chrono::{DateTime, Utc};

use super::rows::{MessageColumns, into_messages, message_columns, message_joins};
use super::{Store, StoreError, is_unique_violation, reader, writer};
use crate::protocol::api::{Attachment, ForwardedFrom, Message, ReplyPreview};
use crate::protocol::{MessageBody, MessageId, Role, RoomId, Seq, UserId};

/// A message to store; the service layer has checked it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Fresh id.
    pub id: MessageId,
    /// Where.
    pub room_id: RoomId,
    /// Who.
    pub sender_id: UserId,
    /// Checked text.
    pub body: MessageBody,
    /// Idempotency key.
    pub client_id: Option<String>,
    /// The quoted message, already checked to be in `room_id`.
    pub reply_to: Option<ReplyPreview>,
    /// The original, when forwarding.
    pub forwarded_from: Option<ForwardedFrom>,
    /// Files carried, in order; the service checked the sender may attach them.
    pub attachments: Vec<Attachment>,
    /// Members it mentions, checked by the service.
    pub mentions: Mentions,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// The thread it replies in, checked by the service to be a live root of `room_id`.
    pub thread: Option<ThreadParent>,
}

/// The root of the thread a new message replies in.
#[derive(Debug, Clone, Copy)]
pub struct ThreadParent {
    /// The root message.
    pub id: MessageId,
    /// Its author, who follows the thread from its first reply on (unless they unfollowed).
    pub sender_id: UserId,
}

/// Whom a message mentions: members by id, and everyone (`@room`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    /// Members named, in order of first mention.
    pub users: Vec<UserId>,
    /// `@room` by someone allowed to say it.
    pub room: bool,
}

/// The insert of a message's mention rows: `($1, $2, 0), ($1, $3, 1), …` for `n` users.
pub(super) fn mention_insert_sql(n: usize) -> String {
    let rows: Vec<String> = (0..n).map(|i| format!("($1, ${}, {i})", i + 2)).collect();
    format!(
        "INSERT INTO message_mentions (message_id, user_id, position) VALUES {}",
        rows.join(", ")
    )
}

/// Follows a thread for its root's author, unless they have a say already ($4 unused).
pub(super) const FOLLOW_ROOT_AUTHOR: &str = "INSERT INTO thread_follows (root_id, user_id, room_id, following, \
     last_read_seq) SELECT $1, $2, $3, TRUE, 0 WHERE $4 >= 0 ON CONFLICT (root_id, user_id) DO NOTHING";
/// Follows a thread for who posted in it, and moves their thread read position to the reply.
pub(super) const FOLLOW_POSTER: &str = "INSERT INTO thread_follows (root_id, user_id, room_id, following, \
     last_read_seq) VALUES ($1, $2, $3, TRUE, $4) ON CONFLICT (root_id, user_id) DO UPDATE SET \
     following = TRUE, last_read_seq = CASE WHEN excluded.last_read_seq > thread_follows.last_read_seq \
     THEN excluded.last_read_seq ELSE thread_follows.last_read_seq END";
/// Follows a thread for someone a reply mentions ($4 unused).
pub(super) const FOLLOW_MENTIONED: &str = "INSERT INTO thread_follows (root_id, user_id, room_id, following, \
     last_read_seq) SELECT $1, $2, $3, TRUE, 0 WHERE $4 >= 0 ON CONFLICT (root_id, user_id) \
     DO UPDATE SET following = TRUE";

/// Whether this sender used this `client_id` before.
pub(super) const SEEN_CLIENT_ID: &str =
    "SELECT 1 FROM messages WHERE sender_id = $1 AND client_id = $2";
/// The room's next seq, if the sender is a member of it.
pub(super) const NEXT_SEQ: &str = "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 AND EXISTS \
     (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2) RETURNING last_seq";
/// The message row.
pub(super) const INSERT_MESSAGE: &str = "INSERT INTO messages (id, room_id, seq, sender_id, body, \
     created_at, client_id, reply_to_id, fwd_message_id, fwd_room_id, fwd_sender_id, fwd_created_at, \
     attachment_count, mentions_room, thread_root_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
/// One attachment of the message.
pub(super) const INSERT_ATTACHMENT: &str = "INSERT INTO message_attachments (message_id, file_id, \
     room_id, seq, position) VALUES ($1, $2, $3, $4, $5)";
/// An attached file is kept (uploads not attached expire).
pub(super) const KEEP_FILE: &str = "UPDATE files SET expires_at = NULL WHERE id = $1";
/// The sender has read up to their own message.
pub(super) const MOVE_READ_POSITION: &str = "UPDATE room_members SET last_read_seq = $3 \
     WHERE room_id = $1 AND user_id = $2 AND last_read_seq < $3";

impl NewMessage {
    /// The message as stored with `seq`, before anyone reacts, pins, replies in its thread or
    /// previews its links.
    pub(super) fn created(&self, seq: Seq) -> Message {
        Message {
            id: self.id,
            room_id: self.room_id,
            seq,
            sender_id: self.sender_id,
            body: self.body.as_str().to_owned(),
            created_at: self.created_at,
            edited_at: None,
            deleted: false,
            client_id: self.client_id.clone(),
            reply_to: self.reply_to.clone(),
            forwarded_from: self.forwarded_from.clone(),
            attachments: self.attachments.clone(),
            reactions: Vec::new(),
            pinned: false,
            mentions: self.mentions.users.clone(),
            mentions_room: self.mentions.room,
            thread_root: self.thread.map(|t| t.id),
            thread: None,
            embeds: Vec::new(),
        }
    }
}

/// The most sends one transaction of the committer takes (`super::commit`). Enough to amortize
/// the commit; small enough that the first in a batch does not wait long for the last.
pub(super) const MAX_BATCH: usize = 128;

/// A send handed to the committer, and where its outcome goes.
pub(super) struct Job {
    pub(super) message: NewMessage,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<SendOutcome, StoreError>>,
}

/// What a send did.
#[derive(Debug)]
pub enum SendOutcome {
    /// Stored now, with its seq.
    Created(Message),
    /// The sender's `client_id` was used before: this is the first message it made.
    Existing(Message),
}

/// Which page of history.
#[derive(Debug, Clone, Copy)]
pub enum HistoryRequest {
    /// The newest `limit` below `seq` (the newest of all if `None`).
    Before(Option<Seq>),
    /// The oldest `limit` above `seq`.
    After(Seq),
}

const SELECT_MESSAGE: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m",
    message_joins!()
);

/// The steps of one send inside the open transaction `$tx` (next seq, insert, mentions,
/// attachments, the sender's read position), as an async block yielding its outcome. A send
/// refused on its own terms (`NotFound`: not a member; `Conflict("client_id_seen")`) is refused
/// before it writes anything, so a batch can go on past it; any database error leaves the
/// transaction to be rolled back.
macro_rules! insert_steps {
    ($tx:ident, $m:ident) => {
        async {
            if let Some(client_id) = &$m.client_id {
                let seen: Option<(i32,)> = sqlx::query_as(SEEN_CLIENT_ID)
                    .bind($m.sender_id)
                    .bind(client_id)
                    .fetch_optional(&mut *$tx)
                    .await?;
                if seen.is_some() {
                    // Answered after this transaction ends, by reading the first message.
                    return Err(StoreError::Conflict("client_id_seen"));
                }
            }
            let seq: Option<(Seq,)> = sqlx::query_as(NEXT_SEQ)
                .bind($m.room_id)
                .bind($m.sender_id)
                .fetch_optional(&mut *$tx)
                .await?;
            let Some((seq,)) = seq else {
                return Err(StoreError::NotFound);
            };
            let fwd = $m.forwarded_from.as_ref();
            sqlx::query(INSERT_MESSAGE)
                .bind($m.id)
                .bind($m.room_id)
                .bind(seq)
                .bind($m.sender_id)
                .bind($m.body.as_str())
                .bind($m.created_at)
                .bind($m.client_id.as_deref())
                .bind($m.reply_to.as_ref().map(|r| r.id))
                .bind(fwd.map(|f| f.message_id))
                .bind(fwd.map(|f| f.room_id))
                .bind(fwd.map(|f| f.sender_id))
                .bind(fwd.map(|f| f.created_at))
                .bind($m.attachments.len() as i32)
                .bind($m.mentions.room)
                .bind($m.thread.map(|t| t.id))
                .execute(&mut *$tx)
                .await?;
            if let Some(parent) = $m.thread {
                // The root's author follows from the first reply on, unless they unfollowed;
                // whoever posts or is mentioned follows (again); the poster has read up to here.
                let followers = std::iter::once((parent.sender_id, FOLLOW_ROOT_AUTHOR))
                    .chain(std::iter::once(($m.sender_id, FOLLOW_POSTER)))
                    .chain($m.mentions.users.iter().map(|u| (*u, FOLLOW_MENTIONED)));
                for (user, sql) in followers {
                    sqlx::query(sql)
                        .bind(parent.id)
                        .bind(user)
                        .bind($m.room_id)
                        .bind(seq)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
            if !$m.mentions.users.is_empty() {
                let sql = mention_insert_sql($m.mentions.users.len());
                let mut q = sqlx::query(&sql).bind($m.id);
                for u in &$m.mentions.users {
                    q = q.bind(*u);
                }
                q.execute(&mut *$tx).await?;
            }
            for (position, a) in $m.attachments.iter().enumerate() {
                sqlx::query(INSERT_ATTACHMENT)
                    .bind($m.id)
                    .bind(a.id)
                    .bind($m.room_id)
                    .bind(seq)
                    .bind(position as i32)
                    .execute(&mut *$tx)
                    .await?;
                sqlx::query(KEEP_FILE).bind(a.id).execute(&mut *$tx).await?;
            }
            sqlx::query(MOVE_READ_POSITION)
                .bind($m.room_id)
                .bind($m.sender_id)
                .bind(seq)
                .execute(&mut *$tx)
                .await?;
            Ok(SendOutcome::Created($m.created(seq)))
        }
    };
}

impl Store {
    /// Stores a message, giving it the room's next seq, and moves the sender's read position to it.
    /// `NotFound` if the sender is not a member of the room. Under load the message is committed
    /// with the others waiting (see [`super::commit`]); the answer comes after the commit.
    pub async fn insert_message(&self, m: NewMessage) -> Result<SendOutcome, StoreError> {
        let (sender, client_id) = (m.sender_id, m.client_id.clone());
        let result = match &self.commits {
            Some(committer) => committer.insert(m).await,
            None => self.try_insert_message(&m).await,
        };
        match (result, client_id) {
            (Err(StoreError::Conflict("client_id_seen")), Some(client_id)) => {
                self.existing_send(sender, &client_id).await
            }
            // Two sends with one client_id raced and the other committed first: answer with it.
            (Err(StoreError::Database(e)), Some(client_id)) if is_unique_violation(&e) => {
                match self.message_by_client_id(sender, &client_id).await? {
                    Some(existing) => Ok(SendOutcome::Existing(existing)),
                    None => Err(StoreError::Database(e)),
                }
            }
            (other, _) => other,
        }
    }

    /// The answer to a send whose `client_id` was used before: the first message it made.
    async fn existing_send(
        &self,
        sender: UserId,
        client_id: &str,
    ) -> Result<SendOutcome, StoreError> {
        match self.message_by_client_id(sender, client_id).await? {
            Some(existing) => Ok(SendOutcome::Existing(existing)),
            None => Err(StoreError::NotFound),
        }
    }

    // One SQL transaction for one send.
    pub(super) async fn try_insert_message(
        &self,
        m: &NewMessage,
    ) -> Result<SendOutcome, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            let outcome = insert_steps!(tx, m).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// Several sends in one transaction and one commit, in order: each one's outcome, or the
    /// database error that rolled them all back.
    pub(super) async fn insert_batch(
        &self,
        messages: &[&NewMessage],
    ) -> Result<Vec<Result<SendOutcome, StoreError>>, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            let mut outcomes = Vec::with_capacity(messages.len());
            for &m in messages {
                match insert_steps!(tx, m).await {
                    Err(StoreError::Database(e)) => return Err(StoreError::Database(e)),
                    outcome => outcomes.push(outcome),
                }
            }
            tx.commit().await?;
            Ok(outcomes)
        })
    }

    /// The message a sender made with this `client_id`.
    pub async fn message_by_client_id(
        &self,
        sender: UserId,
        client_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let sql = format!("{SELECT_MESSAGE} WHERE m.sender_id = $1 AND m.client_id = $2");
        let row: Option<MessageColumns> = reader!(self, |p| {
            sqlx::query_as(&sql)
                .bind(sender)
                .bind(client_id)
                .fetch_optional(p)
                .await
        })?;
        self.complete(row).await
    }

    /// A message and `viewer`'s role in its room (`None` if they are not a member).
    pub async fn message_for(
        &self,
        id: MessageId,
        viewer: UserId,
    ) -> Result<Option<(Message, Option<Role>)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            message: MessageColumns,
            viewer_role: Option<String>,
        }
        let sql = concat!(
            "SELECT ",
            message_columns!(),
            ", rm.role AS viewer_role FROM messages m",
            message_joins!(),
            "LEFT JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = $2 WHERE m.id = $1"
        );
        let row: Option<Row> = reader!(self, |p| {
            sqlx::query_as(sql)
                .bind(id)
                .bind(viewer)
                .fetch_optional(p)
                .await
        })?;
        let Some(row) = row else { return Ok(None) };
        let role = row.viewer_role.and_then(|s| s.parse().ok());
        Ok(self.complete(Some(row.message)).await?.map(|m| (m, role)))
    }

    /// Replaces a live message's text and whom it mentions. `NotFound` if it is gone or deleted.
    pub async fn edit_message(
        &self,
        id: MessageId,
        body: &MessageBody,
        mentions: &Mentions,
        now: DateTime<Utc>,
    ) -> Result<Message, StoreError> {
        let sql = format!("{SELECT_MESSAGE} WHERE m.id = $1");
        let row: Option<MessageColumns> = writer!(self, |p| {
            let mut tx = p.begin().await?;
            let changed: Option<(RoomId, Option<MessageId>)> = sqlx::query_as(
                "UPDATE messages SET body = $2, edited_at = $3, mentions_room = $4 \
                 WHERE id = $1 AND deleted = FALSE RETURNING room_id, thread_root_id",
            )
            .bind(id)
            .bind(body.as_str())
            .bind(now)
            .bind(mentions.room)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((room, thread_root)) = changed else {
                return Err(StoreError::NotFound);
            };
            let before: Vec<(UserId,)> = sqlx::query_as(
                "DELETE FROM message_mentions WHERE message_id = $1 RETURNING user_id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            // In a thread, whoever the edit newly mentions follows it, as a reply mentioning
            // them would have made them; those mentioned before keep their say.
            if let Some(root) = thread_root {
                let newly = mentions
                    .users
                    .iter()
                    .filter(|u| !before.iter().any(|(b,)| b == *u));
                for user in newly {
                    sqlx::query(FOLLOW_MENTIONED)
                        .bind(root)
                        .bind(*user)
                        .bind(room)
                        .bind(0_i64)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            if !mentions.users.is_empty() {
                let insert = mention_insert_sql(mentions.users.len());
                let mut q = sqlx::query(&insert).bind(id);
                for u in &mentions.users {
                    q = q.bind(*u);
                }
                q.execute(&mut *tx).await?;
            }
            let row = sqlx::query_as(&sql)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            row
        });
        self.complete(row).await?.ok_or(StoreError::NotFound)
    }

    /// One message from a row, with its attachments.
    async fn complete(&self, row: Option<MessageColumns>) -> Result<Option<Message>, StoreError> {
        let (mut messages, counts) = into_messages(row.into_iter().collect());
        self.fill_details(&mut messages, &counts).await?;
        Ok(messages.pop())
    }

    /// Fills what messages carry beside their row: attachments (`counts` says how many each
    /// has), mentions, link previews and reactions.
    pub(crate) async fn fill_details(
        &self,
        messages: &mut [Message],
        counts: &[i32],
    ) -> Result<(), StoreError> {
        self.fill_attachments(messages, counts).await?;
        self.fill_mentions(messages).await?;
        self.fill_threads(messages).await?;
        self.fill_embeds(messages).await?;
        self.fill_reactions(messages).await
    }

    /// Fills each message's `mentions`, in one query for all of them.
    async fn fill_mentions(&self, messages: &mut [Message]) -> Result<(), StoreError> {
        let wanted: Vec<MessageId> = messages
            .iter()
            .filter(|m| !m.deleted)
            .map(|m| m.id)
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT message_id, user_id FROM message_mentions WHERE message_id IN ({}) \
             ORDER BY message_id, position",
            super::files::placeholders(1, wanted.len())
        );
        let rows: Vec<(MessageId, UserId)> = reader!(self, |p| {
            let mut q = sqlx::query_as(&sql);
            for id in &wanted {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        let mut by_message: std::collections::HashMap<MessageId, Vec<UserId>> =
            std::collections::HashMap::new();
        for (message, user) in rows {
            by_message.entry(message).or_default().push(user);
        }
        for m in messages.iter_mut() {
            if let Some(list) = by_message.remove(&m.id) {
                m.mentions = list;
            }
        }
        Ok(())
    }

    /// Turns a message into a tombstone: empty body, `deleted`, same seq, no attachments, no
    /// link previews and no reactions, and unpinned (the answer says whether it was pinned); files it carried that no
    /// other message carries expire now. Deleting twice is fine.
    pub async fn delete_message(
        &self,
        id: MessageId,
        now_secs: i64,
    ) -> Result<(RoomId, Seq, bool), StoreError> {
        let row: Option<(RoomId, Seq, bool)> = writer!(self, |p| {
            let mut tx = p.begin().await?;
            let row: Option<(RoomId, Seq)> = sqlx::query_as(
                "UPDATE messages SET deleted = TRUE, body = '', attachment_count = 0, \
                 mentions_room = FALSE WHERE id = $1 RETURNING room_id, seq",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            for table in ["message_reactions", "message_mentions", "message_embeds"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE message_id = $1"))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            let unpinned = sqlx::query("DELETE FROM room_pins WHERE message_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            let files: Vec<(crate::protocol::FileId,)> = sqlx::query_as(
                "DELETE FROM message_attachments WHERE message_id = $1 RETURNING file_id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            for (file,) in files {
                sqlx::query(
                    "UPDATE files SET expires_at = $2 WHERE id = $1 AND NOT EXISTS \
                     (SELECT 1 FROM message_attachments WHERE file_id = $1) AND NOT EXISTS \
                     (SELECT 1 FROM custom_emoji WHERE file_id = $1)",
                )
                .bind(file)
                .bind(now_secs)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            row.map(|(room, seq)| (room, seq, unpinned))
        });
        row.ok_or(StoreError::NotFound)
    }

    /// A page of a room's history, oldest first, and whether more lie beyond it.
    pub async fn history(
        &self,
        room: RoomId,
        page: HistoryRequest,
        limit: i64,
    ) -> Result<(Vec<Message>, bool), StoreError> {
        let (sql, bound, newest_first) = match page {
            HistoryRequest::Before(before) => (
                format!(
                    "{SELECT_MESSAGE} WHERE m.room_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
                ),
                before.unwrap_or(Seq(i64::MAX)),
                true,
            ),
            HistoryRequest::After(after) => (
                format!(
                    "{SELECT_MESSAGE} WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3"
                ),
                after,
                false,
            ),
        };
        // One more than asked tells whether there is more.
        let rows: Vec<MessageColumns> = reader!(self, |p| {
            sqlx::query_as(&sql)
                .bind(room)
                .bind(bound)
                .bind(limit + 1)
                .fetch_all(p)
                .await
        })?;
        let (mut messages, mut counts) = into_messages(rows);
        let has_more = messages.len() as i64 > limit;
        messages.truncate(limit as usize);
        counts.truncate(limit as usize);
        self.fill_details(&mut messages, &counts).await?;
        if newest_first {
            messages.reverse();
        }
        Ok((messages, has_more))
    }

    /// Messages of a room with seq in `(after, upto]`, oldest first: what a session replays.
    pub async fn messages_between(
        &self,
        room: RoomId,
        after: Seq,
        upto: Seq,
    ) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "{SELECT_MESSAGE} WHERE m.room_id = $1 AND m.seq > $2 AND m.seq <= $3 ORDER BY m.seq ASC"
        );
        let rows: Vec<MessageColumns> = reader!(self, |p| {
            sqlx::query_as(&sql)
                .bind(room)
                .bind(after)
                .bind(upto)
                .fetch_all(p)
                .await
        })?;
        let (mut messages, counts) = into_messages(rows);
        self.fill_details(&mut messages, &counts).await?;
        Ok(messages)
    }
}
