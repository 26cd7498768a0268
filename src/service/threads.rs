//! Threads: where a reply may open or join a thread, a thread's page of replies, following and
//! reading threads, and the `thread.updated` events that keep a root's summary current.
//!
//! Sending a thread reply is an ordinary send (`messages.rs`) that names a `thread_root`; this
//! module checks the root and announces the root's new summary after the reply (or a deletion)
//! is stored.

use crate::bus::Event;
use crate::protocol::api::{FollowedThread, Message, ThreadList, ThreadPage};
use crate::protocol::ws::ServerFrame;
use crate::protocol::{MessageId, RoomId, Seq, UserId};
use crate::store::ThreadParent;

use super::messages::{DEFAULT_PAGE, MAX_PAGE};
use super::{Error, Result, Services};

/// `400 invalid_thread_root`: the named root cannot hold a thread.
fn invalid_thread_root(why: &str) -> Error {
    Error::invalid("invalid_thread_root", format!("thread_root must {why}"))
}

impl Services {
    /// The root a reply in `room` goes under: a live main-timeline message of that room. The
    /// caller has checked that `user` is a member.
    pub(super) async fn thread_parent(
        &self,
        user: UserId,
        room: RoomId,
        id: MessageId,
    ) -> Result<ThreadParent> {
        let Some((root, Some(_))) = self.store.message_for(id, user).await? else {
            return Err(invalid_thread_root("name a message of this room"));
        };
        if root.room_id != room {
            return Err(invalid_thread_root("name a message of this room"));
        }
        if root.deleted {
            return Err(invalid_thread_root("name a message that is not deleted"));
        }
        if root.thread_root.is_some() {
            return Err(invalid_thread_root(
                "name a message of the main timeline, not a thread reply",
            ));
        }
        Ok(ThreadParent {
            id: root.id,
            sender_id: root.sender_id,
        })
    }

    /// Tells the room the current summary of `root`'s thread. The change it announces is
    /// committed already, so a failure to read the summary is logged, not returned: sessions
    /// that miss it get the summary with the root on their next history read.
    pub(super) async fn announce_thread(&self, room: RoomId, root: MessageId) {
        match self.thread_updates(room, &[root]).await {
            Ok(frames) => {
                for frame in frames {
                    self.publish(Event::Room { room, frame });
                }
            }
            Err(e) => tracing::warn!(room_id = %room, error = %e, "thread summary not announced"),
        }
    }

    /// `thread.updated` frames with the current summaries of these roots of `room`: what a
    /// replay sends after thread replies, so a resumed session learns the roots' new state.
    pub async fn thread_updates(
        &self,
        room: RoomId,
        roots: &[MessageId],
    ) -> Result<Vec<ServerFrame>> {
        let mut summaries = self.store.thread_summaries(roots).await?;
        Ok(roots
            .iter()
            .map(|root| ServerFrame::ThreadUpdated {
                room_id: room,
                message_id: *root,
                thread: summaries.remove(root),
            })
            .collect())
    }

    /// The roots named by the thread replies among `messages`, each once, in order.
    pub fn thread_roots_of(messages: &[Message]) -> Vec<MessageId> {
        let mut roots: Vec<MessageId> = Vec::new();
        for root in messages.iter().filter_map(|m| m.thread_root) {
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        roots
    }

    /// A thread root `user` can read: `404 message_not_found` if there is none, `404
    /// room_not_found` if it is in a room they are not in, `400 invalid_thread_root` for a
    /// thread reply.
    async fn readable_root(&self, user: UserId, id: MessageId) -> Result<Message> {
        match self.store.message_for(id, user).await? {
            None => Err(Error::not_found("message")),
            Some((_, None)) => Err(Error::not_found("room")),
            Some((m, Some(_))) if m.thread_root.is_some() => Err(invalid_thread_root(
                "name a message of the main timeline, not a thread reply",
            )),
            Some((m, Some(_))) => Ok(m),
        }
    }

    /// The root of a thread and a page of its replies above `after`, oldest first. A deleted
    /// root still shows its replies.
    pub async fn thread_page(
        &self,
        user: UserId,
        root: MessageId,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> Result<ThreadPage> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "invalid_limit",
                format!("limit must be 1 to {MAX_PAGE}"),
            ));
        }
        let after = match after {
            None => Seq::ZERO,
            Some(a) if a >= 0 => Seq(a),
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_query",
                    "after must not be negative",
                ));
            }
        };
        let root = self.readable_root(user, root).await?;
        let (messages, has_more) = self.store.thread_replies(root.id, after, limit).await?;
        Ok(ThreadPage {
            root,
            messages,
            has_more,
        })
    }

    /// `user` starts (or stops) following the thread of `root`.
    pub async fn follow_thread(
        &self,
        user: UserId,
        root: MessageId,
        following: bool,
    ) -> Result<()> {
        let root = self.readable_root(user, root).await?;
        Ok(self
            .store
            .set_thread_follow(root.id, root.room_id, user, following)
            .await?)
    }

    /// Moves `user`'s read position in the thread of `root` forward to `seq` (at most the
    /// room's newest).
    pub async fn read_thread(&self, user: UserId, root: MessageId, seq: Seq) -> Result<()> {
        if seq < Seq::ZERO {
            return Err(Error::invalid("invalid_seq", "seq must not be negative"));
        }
        let root = self.readable_root(user, root).await?;
        let newest = self
            .store
            .room_last_seq(root.room_id)
            .await?
            .unwrap_or(Seq::ZERO);
        Ok(self
            .store
            .read_thread(root.id, root.room_id, user, seq.min(newest))
            .await?)
    }

    /// The threads `user` follows (in `room` only, if given: they must be a member), newest
    /// reply first, with their unread counts.
    pub async fn followed_threads(&self, user: UserId, room: Option<RoomId>) -> Result<ThreadList> {
        if let Some(room) = room {
            self.require_member(room, user).await?;
        }
        let rows = self.store.followed_threads(user, room).await?;
        Ok(ThreadList {
            threads: rows
                .into_iter()
                .map(|r| FollowedThread {
                    root: r.root,
                    unread: r.unread,
                    last_read_seq: r.last_read_seq,
                })
                .collect(),
        })
    }
}
