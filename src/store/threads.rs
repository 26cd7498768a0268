//! Threads: the summary a root carries, a thread's page of replies, who follows a thread and how
//! far they have read it.
//!
//! A thread reply is an ordinary message of its room with `thread_root_id` set; the insert that
//! stores it (in `messages.rs`) also records its followers in the same transaction. Summaries are
//! computed from the live replies when a root is read, so a deletion changes them at once and
//! nothing denormalized can drift.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::files::placeholders;
use super::rows::{MessageColumns, into_messages, message_columns, message_joins};
use super::{Store, StoreError, reader, writer};
use crate::protocol::api::{Message, ThreadSummary};
use crate::protocol::{MessageId, RoomId, Seq, UserId};

/// How many followed threads `GET /threads` lists.
pub const MAX_FOLLOWED_LISTED: i64 = 50;

/// One followed thread: its root, the viewer's unread replies and read position.
#[derive(Debug)]
pub struct FollowedRow {
    /// The root.
    pub root: Message,
    /// Live replies by others above `last_read_seq`.
    pub unread: i64,
    /// How far the viewer has read the thread.
    pub last_read_seq: Seq,
}

impl Store {
    /// Fills the `thread` of each main-timeline message (tombstones too: a deleted root keeps
    /// its thread), in one query for all of them.
    pub(crate) async fn fill_threads(&self, messages: &mut [Message]) -> Result<(), StoreError> {
        let roots: Vec<MessageId> = messages
            .iter()
            .filter(|m| m.thread_root.is_none())
            .map(|m| m.id)
            .collect();
        let mut summaries = self.thread_summaries(&roots).await?;
        for m in messages.iter_mut() {
            m.thread = summaries.remove(&m.id);
        }
        Ok(())
    }

    /// The summaries of those of `roots` that have live replies.
    pub async fn thread_summaries(
        &self,
        roots: &[MessageId],
    ) -> Result<HashMap<MessageId, ThreadSummary>, StoreError> {
        if roots.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT thread_root_id, sender_id, COUNT(*), MAX(seq), MAX(created_at) FROM messages \
             WHERE thread_root_id IN ({}) AND deleted = FALSE GROUP BY thread_root_id, sender_id",
            placeholders(1, roots.len())
        );
        type Row = (MessageId, UserId, i64, i64, DateTime<Utc>);
        let rows: Vec<Row> = reader!(self, |p| {
            let mut q = sqlx::query_as(&sql);
            for id in roots {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        let mut by_root: HashMap<MessageId, Vec<AuthorReplies>> = HashMap::new();
        for (root, author, count, last_seq, last_at) in rows {
            by_root.entry(root).or_default().push(AuthorReplies {
                author,
                count,
                last_seq,
                last_at,
            });
        }
        Ok(by_root
            .into_iter()
            .map(|(root, mut senders)| (root, summarize(&mut senders)))
            .collect())
    }

    /// Up to `limit` live and deleted replies of `root` above `after`, oldest first, and whether
    /// more follow.
    pub async fn thread_replies(
        &self,
        root: MessageId,
        after: Seq,
        limit: i64,
    ) -> Result<(Vec<Message>, bool), StoreError> {
        let sql = concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m",
            message_joins!(),
            "WHERE m.thread_root_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3"
        );
        let rows: Vec<MessageColumns> = reader!(self, |p| {
            sqlx::query_as(sql)
                .bind(root)
                .bind(after)
                .bind(limit + 1)
                .fetch_all(p)
                .await
        })?;
        let (mut messages, mut counts) = into_messages(rows);
        let has_more = messages.len() as i64 > limit;
        messages.truncate(limit as usize);
        counts.truncate(limit as usize);
        self.fill_details(&mut messages, &counts).await?;
        Ok((messages, has_more))
    }

    /// Starts or stops `user` following the thread of `root` (in `room`), keeping their read
    /// position.
    pub async fn set_thread_follow(
        &self,
        root: MessageId,
        room: RoomId,
        user: UserId,
        following: bool,
    ) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query(
                "INSERT INTO thread_follows (root_id, user_id, room_id, following, last_read_seq) \
                 VALUES ($1, $2, $3, $4, 0) ON CONFLICT (root_id, user_id) \
                 DO UPDATE SET following = excluded.following",
            )
            .bind(root)
            .bind(user)
            .bind(room)
            .bind(following)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Moves `user`'s read position in the thread of `root` forward to `seq` (never back). Does
    /// not follow the thread.
    pub async fn read_thread(
        &self,
        root: MessageId,
        room: RoomId,
        user: UserId,
        seq: Seq,
    ) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query(
                "INSERT INTO thread_follows (root_id, user_id, room_id, following, last_read_seq) \
                 VALUES ($1, $2, $3, FALSE, $4) ON CONFLICT (root_id, user_id) DO UPDATE SET \
                 last_read_seq = CASE WHEN excluded.last_read_seq > thread_follows.last_read_seq \
                 THEN excluded.last_read_seq ELSE thread_follows.last_read_seq END",
            )
            .bind(root)
            .bind(user)
            .bind(room)
            .bind(seq)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The threads `user` follows in rooms they are a member of (only `room`'s if given), the
    /// newest reply first, at most [`MAX_FOLLOWED_LISTED`].
    pub async fn followed_threads(
        &self,
        user: UserId,
        room: Option<RoomId>,
    ) -> Result<Vec<FollowedRow>, StoreError> {
        let sql = "SELECT tf.root_id, tf.last_read_seq, \
             (SELECT COUNT(*) FROM messages r WHERE r.thread_root_id = tf.root_id \
                AND r.deleted = FALSE AND r.seq > tf.last_read_seq AND r.sender_id <> tf.user_id) \
                AS unread, \
             COALESCE((SELECT MAX(r.seq) FROM messages r WHERE r.thread_root_id = tf.root_id \
                AND r.deleted = FALSE), 0) AS newest \
             FROM thread_follows tf \
             JOIN room_members rm ON rm.room_id = tf.room_id AND rm.user_id = tf.user_id \
             WHERE tf.user_id = $1 AND tf.following = TRUE AND ($2 IS NULL OR tf.room_id = $2) \
             ORDER BY newest DESC LIMIT $3";
        let rows: Vec<(MessageId, Seq, i64, i64)> = reader!(self, |p| {
            sqlx::query_as(sql)
                .bind(user)
                .bind(room)
                .bind(MAX_FOLLOWED_LISTED)
                .fetch_all(p)
                .await
        })?;
        let ids: Vec<MessageId> = rows.iter().map(|r| r.0).collect();
        let mut roots: HashMap<MessageId, Message> = self
            .messages_by_ids(&ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|(id, last_read_seq, unread, _)| {
                roots.remove(&id).map(|root| FollowedRow {
                    root,
                    unread,
                    last_read_seq,
                })
            })
            .collect())
    }

    /// The messages with these ids (in no particular order), with their details.
    async fn messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<Message>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM messages m {} WHERE m.id IN ({})",
            message_columns!(),
            message_joins!(),
            placeholders(1, ids.len())
        );
        let rows: Vec<MessageColumns> = reader!(self, |p| {
            let mut q = sqlx::query_as(&sql);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        let (mut messages, counts) = into_messages(rows);
        self.fill_details(&mut messages, &counts).await?;
        Ok(messages)
    }
}

/// One author's live replies in a thread.
#[derive(Debug, Clone, Copy)]
struct AuthorReplies {
    author: UserId,
    count: i64,
    last_seq: i64,
    last_at: DateTime<Utc>,
}

/// One thread's summary from its live replies grouped by author.
fn summarize(authors: &mut [AuthorReplies]) -> ThreadSummary {
    authors.sort_by_key(|a| std::cmp::Reverse(a.last_seq));
    ThreadSummary {
        reply_count: authors.iter().map(|a| a.count).sum(),
        last_reply_at: authors.iter().map(|a| a.last_at).max().unwrap_or_default(),
        participant_ids: authors
            .iter()
            .take(ThreadSummary::MAX_PARTICIPANTS)
            .map(|a| a.author)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_counts_every_reply_and_lists_the_latest_repliers_first() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let users: Vec<UserId> = (0..7).map(|_| UserId::new()).collect();
        let mut senders: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(i, u)| AuthorReplies {
                author: *u,
                count: 2,
                last_seq: i as i64 + 10,
                last_at: t(i as i64 + 100),
            })
            .collect();
        let s = summarize(&mut senders);
        assert_eq!(s.reply_count, 14);
        assert_eq!(s.last_reply_at, t(106));
        assert_eq!(
            s.participant_ids,
            users.iter().rev().take(5).copied().collect::<Vec<_>>()
        );
    }
}
