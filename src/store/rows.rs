//! Rows as the database returns them, and their conversion into the wire resources.
//!
//! Every query that returns a message selects the same columns, under the same `m_`/`q_` names
//! ([`message_columns!`]), from `messages m` left-joined to its quoted message `q`
//! ([`message_joins!`]). One row type, [`MessageColumns`], reads them all, including the optional
//! last message of a room listing, where every column may be NULL. Whether a message is pinned is
//! a subquery on `room_pins` (its unique index on `message_id` answers it).

use chrono::{DateTime, Utc};

use crate::protocol::api::{ForwardedFrom, Message, ReplyPreview, Room, User};
use crate::protocol::{MessageId, NotifyLevel, Role, RoomId, RoomKind, Seq, UserId};

/// The columns of a message and of its reply preview, as `m_*` and `q_*`.
macro_rules! message_columns {
    () => {
        "m.id AS m_id, m.room_id AS m_room_id, m.seq AS m_seq, m.sender_id AS m_sender_id, \
         m.body AS m_body, m.created_at AS m_created_at, m.edited_at AS m_edited_at, \
         m.deleted AS m_deleted, m.client_id AS m_client_id, m.attachment_count AS m_attachment_count, \
         m.fwd_message_id AS m_fwd_message_id, m.fwd_room_id AS m_fwd_room_id, \
         m.fwd_sender_id AS m_fwd_sender_id, m.fwd_created_at AS m_fwd_created_at, \
         q.id AS q_id, q.sender_id AS q_sender_id, substr(q.body, 1, 200) AS q_body, \
         q.deleted AS q_deleted, \
         EXISTS (SELECT 1 FROM room_pins pin WHERE pin.message_id = m.id) AS m_pinned, \
         m.mentions_room AS m_mentions_room, m.thread_root_id AS m_thread_root_id"
    };
}

/// The join that brings a message's quoted message in as `q`.
macro_rules! message_joins {
    () => {
        " LEFT JOIN messages q ON q.id = m.reply_to_id "
    };
}

pub(crate) use {message_columns, message_joins};

/// A message row; all optional so that a LEFT JOIN that found nothing reads as `None`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MessageColumns {
    m_id: Option<MessageId>,
    m_room_id: Option<RoomId>,
    m_seq: Option<Seq>,
    m_sender_id: Option<UserId>,
    m_body: Option<String>,
    m_created_at: Option<DateTime<Utc>>,
    m_edited_at: Option<DateTime<Utc>>,
    m_deleted: Option<bool>,
    m_client_id: Option<String>,
    m_attachment_count: Option<i32>,
    m_fwd_message_id: Option<MessageId>,
    m_fwd_room_id: Option<RoomId>,
    m_fwd_sender_id: Option<UserId>,
    m_fwd_created_at: Option<DateTime<Utc>>,
    q_id: Option<MessageId>,
    q_sender_id: Option<UserId>,
    q_body: Option<String>,
    q_deleted: Option<bool>,
    m_pinned: Option<bool>,
    m_mentions_room: Option<bool>,
    m_thread_root_id: Option<MessageId>,
}

impl MessageColumns {
    /// The message's id, if the row holds one.
    pub(crate) fn id(&self) -> Option<MessageId> {
        self.m_id
    }

    /// How many files the message carries.
    pub(crate) fn attachment_count(&self) -> i32 {
        self.m_attachment_count.unwrap_or(0)
    }

    /// The message, or `None` when the row holds none (a room without messages).
    pub(crate) fn into_message(self) -> Option<Message> {
        let reply_to = match (self.q_id, self.q_sender_id) {
            (Some(id), Some(sender_id)) => {
                let deleted = self.q_deleted.unwrap_or(false);
                Some(ReplyPreview {
                    id,
                    sender_id,
                    body: if deleted {
                        String::new()
                    } else {
                        self.q_body.unwrap_or_default()
                    },
                    deleted,
                })
            }
            _ => None,
        };
        let forwarded_from = match (
            self.m_fwd_message_id,
            self.m_fwd_room_id,
            self.m_fwd_sender_id,
            self.m_fwd_created_at,
        ) {
            (Some(message_id), Some(room_id), Some(sender_id), Some(created_at)) => {
                Some(ForwardedFrom {
                    message_id,
                    room_id,
                    sender_id,
                    created_at,
                })
            }
            _ => None,
        };
        Some(Message {
            id: self.m_id?,
            room_id: self.m_room_id?,
            seq: self.m_seq?,
            sender_id: self.m_sender_id?,
            body: self.m_body.unwrap_or_default(),
            created_at: self.m_created_at?,
            edited_at: self.m_edited_at,
            deleted: self.m_deleted.unwrap_or(false),
            client_id: self.m_client_id,
            reply_to,
            forwarded_from,
            attachments: Vec::new(),
            reactions: Vec::new(),
            pinned: self.m_pinned.unwrap_or(false),
            mentions: Vec::new(),
            mentions_room: self.m_mentions_room.unwrap_or(false),
            thread_root: self.m_thread_root_id,
            thread: None,
            embeds: Vec::new(),
        })
    }
}

/// A user row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub server_role: String,
    pub status_text: String,
    pub avatar_at: Option<i64>,
}

/// Where a user's avatar is fetched; the version makes a new picture a new URL.
pub(crate) fn avatar_url(id: UserId, at: Option<i64>) -> Option<String> {
    at.map(|v| format!("/api/v1/users/{id}/avatar?v={v}"))
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            server_role: r.server_role.parse().unwrap_or_default(),
            status_text: r.status_text,
            avatar_url: avatar_url(r.id, r.avatar_at),
        }
    }
}

/// A room as one member sees it, with its newest message.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RoomRow {
    pub viewer_id: UserId,
    pub id: RoomId,
    pub kind: String,
    pub name: String,
    pub topic: String,
    pub created_at: DateTime<Utc>,
    pub last_seq: Seq,
    pub last_read_seq: Seq,
    pub role: String,
    pub unread_count: i64,
    pub mention_count: i64,
    pub notify: Option<String>,
    pub members_count: i64,
    pub dm_user_id: Option<UserId>,
    pub dm_username: Option<String>,
    pub dm_display_name: Option<String>,
    pub dm_server_role: Option<String>,
    pub dm_status_text: Option<String>,
    pub dm_avatar_at: Option<i64>,
    pub visibility: String,
    pub slow_mode_secs: i32,
    pub timeout_until: Option<i64>,
    #[sqlx(flatten)]
    pub last: MessageColumns,
}

impl RoomRow {
    /// The viewer, the room as they see it, and how many files its last message carries.
    pub(crate) fn into_room(self) -> (UserId, Room, i32) {
        let attachments = self.last.attachment_count();
        let kind = self.kind.parse().unwrap_or(RoomKind::Group);
        let dm_user = match (self.dm_user_id, self.dm_username, self.dm_display_name) {
            (Some(id), Some(username), Some(display_name)) => Some(User {
                id,
                username,
                display_name,
                server_role: self
                    .dm_server_role
                    .and_then(|r| r.parse().ok())
                    .unwrap_or_default(),
                status_text: self.dm_status_text.unwrap_or_default(),
                avatar_url: avatar_url(id, self.dm_avatar_at),
            }),
            _ => None,
        };
        let name = match (&kind, &dm_user) {
            (RoomKind::Dm, Some(u)) => u.display_name.clone(),
            _ => self.name,
        };
        let room = Room {
            id: self.id,
            kind,
            name,
            topic: self.topic,
            created_at: self.created_at,
            last_seq: self.last_seq,
            last_read_seq: self.last_read_seq,
            unread_count: self.unread_count,
            last_message: self.last.into_message(),
            members_count: self.members_count,
            role: self.role.parse().unwrap_or(Role::Member),
            dm_user,
            mention_count: self.mention_count,
            notify: self
                .notify
                .and_then(|n| n.parse().ok())
                .unwrap_or(NotifyLevel::default_for(self.members_count)),
            visibility: self.visibility.parse().unwrap_or_default(),
            slow_mode_secs: self.slow_mode_secs,
            timeout_until: active_timeout(self.timeout_until),
        };
        (self.viewer_id, room, attachments)
    }
}

/// A stored timeout (unix seconds) as the wire shows it: only while it lasts.
pub(crate) fn active_timeout(until: Option<i64>) -> Option<DateTime<Utc>> {
    until
        .filter(|t| *t > Utc::now().timestamp())
        .and_then(|t| DateTime::from_timestamp(t, 0))
}

/// Messages from rows, with the attachment count of each (for [`super::Store::fill_attachments`]).
pub(crate) fn into_messages(rows: Vec<MessageColumns>) -> (Vec<Message>, Vec<i32>) {
    rows.into_iter()
        .filter_map(|r| {
            let n = r.attachment_count();
            r.into_message().map(|m| (m, n))
        })
        .unzip()
}
