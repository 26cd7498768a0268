//! Posting, replying, forwarding, editing, deleting and reading history.
//!
//! A send is acknowledged only after the store committed it, then published: an acknowledged
//! message is never lost, and a published one is always in the store for anyone who resyncs.

use crate::bus::Event;
use crate::protocol::api::{
    Attachment, ForwardedFrom, HistoryPage, Message, ReplyPreview, SendMessageRequest,
};
use crate::protocol::ws::ServerFrame;
use crate::protocol::{FileId, MessageBody, MessageId, Role, RoomId, Seq, UserId};
use crate::store::{HistoryRequest, Mentions, NewMessage, SendOutcome, StoreError, ThreadParent};

use super::{Error, Result, Services};

/// The largest history page.
pub const MAX_PAGE: i64 = 100;
/// The history page size when none is asked for.
pub const DEFAULT_PAGE: i64 = 50;
/// The most files one message carries.
pub const MAX_ATTACHMENTS: usize = 10;

/// Checks a client's idempotency key: 1 to 64 printable ASCII characters.
fn parse_client_id(raw: Option<String>) -> Result<Option<String>> {
    match raw {
        None => Ok(None),
        Some(id) if (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(id))
        }
        Some(_) => Err(Error::invalid(
            "invalid_client_id",
            "client_id must be 1 to 64 printable ASCII characters",
        )),
    }
}

/// `409 message_deleted`: the message is a tombstone now.
pub(super) fn message_deleted() -> Error {
    Error::conflict("message_deleted", "that message was deleted")
}

impl Services {
    /// A page of a room's history.
    pub async fn history(
        &self,
        user: UserId,
        room: RoomId,
        before: Option<i64>,
        after: Option<i64>,
        around: Option<i64>,
        limit: Option<i64>,
    ) -> Result<HistoryPage> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "invalid_limit",
                format!("limit must be 1 to {MAX_PAGE}"),
            ));
        }
        if let Some(seq) = around {
            if before.is_some() || after.is_some() || seq < 0 {
                return Err(Error::invalid(
                    "invalid_query",
                    "around takes neither before nor after, and must not be negative",
                ));
            }
            self.require_member(room, user).await?;
            return self.history_around(room, Seq(seq), limit).await;
        }
        let page = match (before, after) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "invalid_query",
                    "give either before or after, not both",
                ));
            }
            (Some(b), None) if b >= 0 => HistoryRequest::Before(Some(Seq(b))),
            (None, Some(a)) if a >= 0 => HistoryRequest::After(Seq(a)),
            (None, None) => HistoryRequest::Before(None),
            _ => {
                return Err(Error::invalid(
                    "invalid_query",
                    "before and after must not be negative",
                ));
            }
        };
        self.require_member(room, user).await?;
        let (messages, has_more) = self.store.history(room, page, limit).await?;
        Ok(HistoryPage {
            messages,
            has_more,
            has_newer: None,
        })
    }

    /// `limit` messages centred on `seq` (it and the older half, then the newer half), oldest
    /// first: two pages of the same queries as paging.
    async fn history_around(&self, room: RoomId, seq: Seq, limit: i64) -> Result<HistoryPage> {
        let newer_wanted = limit / 2;
        let (mut messages, has_more) = self
            .store
            .history(
                room,
                HistoryRequest::Before(Some(Seq(seq.0.saturating_add(1)))),
                limit - newer_wanted,
            )
            .await?;
        let has_newer = if newer_wanted > 0 {
            let (newer, more) = self
                .store
                .history(room, HistoryRequest::After(seq), newer_wanted)
                .await?;
            messages.extend(newer);
            more
        } else {
            self.store
                .room_last_seq(room)
                .await?
                .is_some_and(|last| last > seq)
        };
        Ok(HistoryPage {
            messages,
            has_more,
            has_newer: Some(has_newer),
        })
    }

    /// Posts a message: text, a reply, a forward or attachments. Returns the message and whether it
    /// was stored now (false when its `client_id` was seen before: the first message is returned).
    pub async fn send_message(
        &self,
        user: UserId,
        room: RoomId,
        req: SendMessageRequest,
    ) -> Result<(Message, bool)> {
        self.throttle_send(user)?;
        let mut body = MessageBody::parse(req.body.as_deref().unwrap_or(""))?;
        let client_id = parse_client_id(req.client_id)?;
        if req.reply_to.is_some() && req.forward_of.is_some() {
            return Err(Error::invalid(
                "invalid_request",
                "a message can reply or forward, not both",
            ));
        }
        let (kind, role) = self.require_poster(room, user).await?;
        self.require_dm_unblocked(kind, room, user).await?;
        let mut attachments = match req.attachments {
            Some(ids) if !ids.is_empty() => self.own_attachments(user, &ids).await?,
            _ => Vec::new(),
        };

        let thread = match req.thread_root {
            Some(id) => Some(self.thread_parent(user, room, id).await?),
            None => None,
        };
        let mut reply_to = None;
        if let Some(id) = req.reply_to {
            reply_to = Some(self.reply_preview(user, room, id, thread).await?);
        }
        let mut forwarded_from = None;
        if let Some(id) = req.forward_of {
            if !body.is_empty() {
                return Err(Error::invalid(
                    "invalid_request",
                    "a forward carries the original's text; send a comment as its own message",
                ));
            }
            if !attachments.is_empty() {
                return Err(Error::invalid(
                    "invalid_request",
                    "a forward carries the original's attachments; attach files to their own message",
                ));
            }
            let (original_body, origin, files) = self.forward_origin(user, id).await?;
            body = original_body;
            forwarded_from = Some(origin);
            attachments = files;
        }
        if body.is_empty() && forwarded_from.is_none() && attachments.is_empty() {
            return Err(Error::invalid("empty_message", "a message needs a body"));
        }
        // A forward repeats someone else's words: it mentions no one.
        let mentions = if forwarded_from.is_some() {
            Mentions::default()
        } else {
            self.mentions_in(room, role, &body).await?
        };

        let outcome = self
            .store
            .insert_message(NewMessage {
                id: MessageId::new(),
                room_id: room,
                sender_id: user,
                body,
                client_id,
                reply_to,
                forwarded_from,
                attachments,
                mentions,
                created_at: crate::store::now(),
                thread,
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::not_found("room"),
                e => e.into(),
            })?;
        let created = matches!(outcome, SendOutcome::Created(_));
        let sent = self.announce_send(room, outcome)?;
        if let (true, Some(parent)) = (created, thread) {
            self.announce_thread(room, parent.id).await;
        }
        Ok(sent)
    }

    /// Publishes a message stored now; answers a repeated `client_id` with the first message.
    fn announce_send(&self, room: RoomId, outcome: SendOutcome) -> Result<(Message, bool)> {
        match outcome {
            SendOutcome::Created(message) => {
                tracing::debug!(room_id = %room, seq = %message.seq, "message stored");
                crate::metrics::message_sent();
                self.push_message(&message);
                self.publish(Event::Room {
                    room,
                    frame: ServerFrame::MessageNew {
                        message: message.clone(),
                    },
                });
                // A forward carries its original's text: its links are previewed too.
                self.queue_previews(room, message.id, &message.body);
                Ok((message, true))
            }
            SendOutcome::Existing(message) if message.room_id == room => Ok((message, false)),
            SendOutcome::Existing(_) => Err(Error::conflict(
                "client_id_reused",
                "this client_id was already used for a message in another room",
            )),
        }
    }

    /// The preview of a message being answered: it must be a live message of the same room, and
    /// of the same thread (in a thread, its root or one of its replies; outside, no thread reply).
    async fn reply_preview(
        &self,
        user: UserId,
        room: RoomId,
        id: MessageId,
        thread: Option<ThreadParent>,
    ) -> Result<ReplyPreview> {
        match self.store.message_for(id, user).await? {
            Some((m, Some(_))) if m.room_id == room => {
                if m.deleted {
                    return Err(message_deleted());
                }
                let thread_of_target = m.thread_root.unwrap_or(m.id);
                let same_thread = match thread {
                    Some(parent) => thread_of_target == parent.id,
                    None => m.thread_root.is_none(),
                };
                if !same_thread {
                    return Err(Error::invalid(
                        "invalid_reply_to",
                        "reply_to must name a message of the same thread (or of the main timeline)",
                    ));
                }
                Ok(ReplyPreview {
                    id: m.id,
                    sender_id: m.sender_id,
                    body: m.body.chars().take(ReplyPreview::MAX_CHARS).collect(),
                    deleted: false,
                })
            }
            _ => Err(Error::invalid(
                "invalid_reply_to",
                "reply_to must name a message of this room",
            )),
        }
    }

    /// The files `user` attaches: at most [`MAX_ATTACHMENTS`], each uploaded by them, in order.
    async fn own_attachments(&self, user: UserId, ids: &[FileId]) -> Result<Vec<Attachment>> {
        if ids.len() > MAX_ATTACHMENTS {
            return Err(Error::invalid(
                "too_many_attachments",
                format!("a message carries at most {MAX_ATTACHMENTS} files"),
            ));
        }
        let mut unique = ids.to_vec();
        unique.sort();
        unique.dedup();
        if unique.len() != ids.len() {
            return Err(Error::invalid(
                "invalid_attachment",
                "a file is attached twice",
            ));
        }
        let files = self.store.own_files(user, ids).await?;
        if files.len() != ids.len() {
            return Err(Error::invalid(
                "invalid_attachment",
                "attachments must be files you uploaded",
            ));
        }
        Ok(ids
            .iter()
            .filter_map(|id| files.iter().find(|f| f.id == *id).map(|f| f.attachment()))
            .collect())
    }

    /// The text, origin and files of a message being forwarded: `user` must be able to read it. A
    /// forward of a forward points at the first original.
    async fn forward_origin(
        &self,
        user: UserId,
        id: MessageId,
    ) -> Result<(MessageBody, ForwardedFrom, Vec<Attachment>)> {
        let Some((m, Some(_))) = self.store.message_for(id, user).await? else {
            return Err(Error::not_found("message"));
        };
        if m.deleted {
            return Err(message_deleted());
        }
        let origin = m.forwarded_from.clone().unwrap_or(ForwardedFrom {
            message_id: m.id,
            room_id: m.room_id,
            sender_id: m.sender_id,
            created_at: m.created_at,
        });
        Ok((MessageBody::from_stored(m.body), origin, m.attachments))
    }

    /// The author changes a message's text.
    pub async fn edit_message(&self, user: UserId, id: MessageId, body: &str) -> Result<Message> {
        self.throttle_send(user)?;
        let body = MessageBody::parse(body)?;
        let Some((m, Some(role))) = self.store.message_for(id, user).await? else {
            return Err(Error::not_found("message"));
        };
        if m.sender_id != user {
            return Err(Error::forbidden(
                "not_author",
                "only the author can edit a message",
            ));
        }
        if m.deleted {
            return Err(message_deleted());
        }
        if m.forwarded_from.is_some() {
            return Err(Error::forbidden(
                "not_author",
                "a forwarded message keeps its original's text",
            ));
        }
        if body.is_empty() && m.attachments.is_empty() {
            return Err(Error::invalid("empty_message", "a message needs a body"));
        }
        let mentions = self.mentions_in(m.room_id, role, &body).await?;
        let mut message = self
            .store
            .edit_message(id, &body, &mentions, crate::store::now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => message_deleted(),
                e => e.into(),
            })?;
        // New links: the old previews go now, the new ones follow as `message.embeds`.
        let relink = Services::links_changed(&m.body, &message.body);
        if relink {
            self.store.clear_embeds(id).await?;
            message.embeds.clear();
        }
        self.publish(Event::Room {
            room: message.room_id,
            frame: ServerFrame::MessageEdited {
                message: message.clone(),
            },
        });
        if relink {
            self.queue_previews(message.room_id, id, &message.body);
        }
        Ok(message)
    }

    /// The author, or an owner or admin of the room, deletes a message. It stays as a tombstone,
    /// unpinned.
    pub async fn delete_message(&self, user: UserId, id: MessageId) -> Result<()> {
        self.throttle_send(user)?;
        let Some((m, role)) = self.store.message_for(id, user).await? else {
            return Err(Error::not_found("message"));
        };
        // Server admins may delete any message; to anyone else a room they are not in is not there.
        let moderator = role.is_some_and(Role::moderates);
        let author = role.is_some() && m.sender_id == user;
        let admin = !author && !moderator && self.is_server_admin(user).await?;
        if role.is_none() && !admin {
            return Err(Error::not_found("message"));
        }
        if !author && !moderator && !admin {
            return Err(Error::forbidden(
                "not_allowed",
                "only the author or the room's owner or admins can delete a message",
            ));
        }
        if m.deleted {
            return Ok(());
        }
        if !author {
            self.record_message_deletion(user, m.room_id, m.sender_id, id)
                .await?;
        }
        let now = chrono::Utc::now().timestamp();
        let (room, seq, unpinned) = self.store.delete_message(id, now).await?;
        self.publish(Event::Room {
            room,
            frame: ServerFrame::MessageDeleted {
                room_id: room,
                message_id: id,
                seq,
            },
        });
        if let Some(root) = m.thread_root {
            self.announce_thread(room, root).await;
        }
        if unpinned {
            self.publish(Event::Room {
                room,
                frame: ServerFrame::PinRemoved {
                    room_id: room,
                    message_id: id,
                    user_id: user,
                },
            });
        }
        Ok(())
    }
}
