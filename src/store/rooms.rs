//! Rooms, DMs, membership and read positions.
//!
//! A room listing is one query however many rooms a user has: each row carries the room, the
//! viewer's role and read position, the unread count, the member count, the DM partner and the
//! newest message, through correlated subqueries and joins ([`room_select!`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::rows::{RoomRow, UserRow, message_columns, message_joins};
use super::{Store, StoreError, is_unique_violation, reader, writer};
use crate::protocol::api::{Member, Message, PublicRoom, Room, User};
use crate::protocol::{NotifyLevel, Role, RoomId, RoomKind, Seq, UserId, Visibility};

/// A group room to create.
#[derive(Debug)]
pub struct NewRoom {
    /// Fresh id.
    pub id: RoomId,
    /// Checked name.
    pub name: String,
    /// Checked topic.
    pub topic: String,
    /// Becomes the owner.
    pub creator: UserId,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// Listed in the directory or not.
    pub visibility: Visibility,
}

/// What anyone may learn of a group room before joining it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomSummary {
    /// The room.
    pub id: RoomId,
    /// Its name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// `private` or `public`, as stored.
    visibility: String,
    /// How many members it has.
    pub members_count: i64,
}

impl RoomSummary {
    /// Whether it is listed and open to join.
    pub fn visibility(&self) -> Visibility {
        self.visibility.parse().unwrap_or_default()
    }
}

/// Rooms as their members see them; completed with a `WHERE` on `rm` (the viewer's membership).
macro_rules! room_select {
    () => {
        concat!(
            "SELECT rm.user_id AS viewer_id, r.id, r.kind, r.name, r.topic, r.created_at, r.last_seq, r.visibility, r.slow_mode_secs, rm.timeout_until, \
             rm.last_read_seq, rm.role, \
             (SELECT COUNT(*) FROM messages u WHERE u.room_id = r.id AND u.seq > rm.last_read_seq \
                AND u.sender_id <> rm.user_id AND u.deleted = FALSE \
                AND u.thread_root_id IS NULL) AS unread_count, \
             (SELECT COUNT(*) FROM messages u WHERE u.room_id = r.id AND u.seq > rm.last_read_seq \
                AND u.sender_id <> rm.user_id AND u.deleted = FALSE AND (u.mentions_room = TRUE \
                OR EXISTS (SELECT 1 FROM message_mentions mm WHERE mm.message_id = u.id \
                AND mm.user_id = rm.user_id))) AS mention_count, rm.notify, \
             r.members_count, \
             du.id AS dm_user_id, du.username AS dm_username, du.display_name AS dm_display_name, du.server_role AS dm_server_role, du.status_text AS dm_status_text, du.avatar_at AS dm_avatar_at, ",
            message_columns!(),
            " FROM room_members rm JOIN rooms r ON r.id = rm.room_id \
             LEFT JOIN users du ON r.kind = 'dm' AND du.id = \
                (SELECT o.user_id FROM room_members o WHERE o.room_id = r.id AND o.user_id <> rm.user_id LIMIT 1) \
             LEFT JOIN messages m ON m.room_id = r.id AND m.seq = r.last_seq",
            message_joins!()
        )
    };
}

/// Newest activity first: the last message's time, or the room's creation for empty rooms.
fn by_activity(rooms: &mut [Room]) {
    rooms.sort_by(|a, b| {
        let at = |r: &Room| {
            r.last_message
                .as_ref()
                .map_or(r.created_at, |m| m.created_at)
        };
        at(b).cmp(&at(a))
    });
}

impl Store {
    /// Creates a group room with its creator as owner.
    pub async fn create_room(&self, r: NewRoom) -> Result<(), StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO rooms (id, kind, name, topic, created_by, created_at, visibility) \
                 VALUES ($1, 'group', $2, $3, $4, $5, $6)",
            )
            .bind(r.id)
            .bind(&r.name)
            .bind(&r.topic)
            .bind(r.creator)
            .bind(r.created_at)
            .bind(r.visibility.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)",
            )
            .bind(r.id)
            .bind(r.creator)
            .bind(r.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The one DM room of `a` and `b`, created with both as members if it does not exist yet.
    /// Returns the room and whether it was created now.
    pub async fn dm_room(
        &self,
        a: UserId,
        b: UserId,
        now: DateTime<Utc>,
    ) -> Result<(RoomId, bool), StoreError> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let key = format!("{lo}:{hi}");
        let id = RoomId::new();
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            let created = sqlx::query(
                "INSERT INTO rooms (id, kind, name, topic, dm_key, created_by, created_at) \
                 VALUES ($1, 'dm', '', '', $2, $3, $4) ON CONFLICT (dm_key) DO NOTHING",
            )
            .bind(id)
            .bind(&key)
            .bind(a)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let room: RoomId = sqlx::query("SELECT id FROM rooms WHERE dm_key = $1")
                .bind(&key)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
            for user in [a, b] {
                sqlx::query(
                    "INSERT INTO room_members (room_id, user_id, role, joined_at) \
                     VALUES ($1, $2, 'member', $3) ON CONFLICT (room_id, user_id) DO NOTHING",
                )
                .bind(room)
                .bind(user)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok((room, created))
        })
    }

    /// The room as `viewer` sees it, if they are a member.
    pub async fn room_view(
        &self,
        room: RoomId,
        viewer: UserId,
    ) -> Result<Option<Room>, StoreError> {
        let rows: Vec<RoomRow> = reader!(self, |p| {
            sqlx::query_as(concat!(
                room_select!(),
                " WHERE rm.room_id = $1 AND rm.user_id = $2"
            ))
            .bind(room)
            .bind(viewer)
            .fetch_all(p)
            .await
        })?;
        let mut views = self.views(rows).await?;
        Ok(views.pop().map(|(_, room)| room))
    }

    /// Rooms from rows, with the attachments of their last messages (one more query, and only
    /// when a last message carries files).
    async fn views(&self, rows: Vec<RoomRow>) -> Result<Vec<(UserId, Room)>, StoreError> {
        let mut views = Vec::with_capacity(rows.len());
        let (mut last, mut counts) = (Vec::new(), Vec::new());
        for row in rows {
            let (viewer, mut room, n) = row.into_room();
            if let Some(m) = room.last_message.take() {
                last.push(m);
                counts.push(n);
            }
            views.push((viewer, room));
        }
        self.fill_attachments(&mut last, &counts).await?;
        let by_room: HashMap<RoomId, Message> = last.into_iter().map(|m| (m.room_id, m)).collect();
        for (_, room) in &mut views {
            room.last_message = by_room.get(&room.id).cloned();
        }
        Ok(views)
    }

    /// Every room of `user`, newest activity first, in one query.
    pub async fn rooms_for_user(&self, user: UserId) -> Result<Vec<Room>, StoreError> {
        let rows: Vec<RoomRow> = reader!(self, |p| {
            sqlx::query_as(concat!(room_select!(), " WHERE rm.user_id = $1"))
                .bind(user)
                .fetch_all(p)
                .await
        })?;
        let mut rooms: Vec<Room> = self
            .views(rows)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        by_activity(&mut rooms);
        Ok(rooms)
    }

    /// The room as each of its members sees it, in one query: for `room.updated` to everyone.
    pub async fn room_views_for_members(
        &self,
        room: RoomId,
    ) -> Result<Vec<(UserId, Room)>, StoreError> {
        let rows: Vec<RoomRow> = reader!(self, |p| {
            sqlx::query_as(concat!(room_select!(), " WHERE rm.room_id = $1"))
                .bind(room)
                .fetch_all(p)
                .await
        })?;
        self.views(rows).await
    }

    /// The room's kind and `user`'s role in it; `None` if they are not a member (or no such room).
    pub async fn membership(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Option<(RoomKind, Role)>, StoreError> {
        let row: Option<(String, String)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT r.kind, rm.role FROM room_members rm JOIN rooms r ON r.id = rm.room_id \
                 WHERE rm.room_id = $1 AND rm.user_id = $2",
            )
            .bind(room)
            .bind(user)
            .fetch_optional(p)
            .await
        })?;
        Ok(row.map(|(kind, role)| {
            (
                kind.parse().unwrap_or(RoomKind::Group),
                role.parse().unwrap_or(Role::Member),
            )
        }))
    }

    /// The members of a room, owner first, then admins, then by name.
    pub async fn members(&self, room: RoomId) -> Result<Vec<Member>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct MemberRow {
            #[sqlx(flatten)]
            user: UserRow,
            role: String,
            last_read_seq: Seq,
            timeout_until: Option<i64>,
        }
        let rows: Vec<MemberRow> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT u.id, u.username, u.display_name, u.server_role, u.status_text, u.avatar_at, rm.role, rm.last_read_seq, rm.timeout_until FROM room_members rm \
                 JOIN users u ON u.id = rm.user_id WHERE rm.room_id = $1 \
                 ORDER BY CASE rm.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, u.username_key",
            )
            .bind(room)
            .fetch_all(p)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| Member {
                user: User::from(r.user),
                role: r.role.parse().unwrap_or(Role::Member),
                last_read_seq: r.last_read_seq,
                timeout_until: super::rows::active_timeout(r.timeout_until),
            })
            .collect())
    }

    /// The ids of a room's members.
    pub async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<(UserId,)> = reader!(self, |p| {
            sqlx::query_as("SELECT user_id FROM room_members WHERE room_id = $1")
                .bind(room)
                .fetch_all(p)
                .await
        })?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    /// Users who share at least one room with `user` (at most `limit`): whose presence they see.
    pub async fn co_member_ids(&self, user: UserId, limit: i64) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<(UserId,)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT DISTINCT o.user_id FROM room_members me \
                 JOIN room_members o ON o.room_id = me.room_id \
                 WHERE me.user_id = $1 AND o.user_id <> $1 LIMIT $2",
            )
            .bind(user)
            .bind(limit)
            .fetch_all(p)
            .await
        })?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    /// Users who share a room of at most `max_members` members with `user` (at most `limit`):
    /// whose presence a session of theirs is told without asking.
    pub async fn small_room_co_member_ids(
        &self,
        user: UserId,
        max_members: i64,
        limit: i64,
    ) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<(UserId,)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT DISTINCT o.user_id FROM room_members me \
                 JOIN rooms r ON r.id = me.room_id AND r.members_count <= $2 \
                 JOIN room_members o ON o.room_id = me.room_id \
                 WHERE me.user_id = $1 AND o.user_id <> $1 LIMIT $3",
            )
            .bind(user)
            .bind(max_members)
            .bind(limit)
            .fetch_all(p)
            .await
        })?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    /// The rooms of `user` with their newest seq and their number of members: what a new session
    /// subscribes to.
    pub async fn room_seqs_for_user(
        &self,
        user: UserId,
    ) -> Result<Vec<(RoomId, Seq, i64)>, StoreError> {
        let rows: Vec<(RoomId, Seq, i64)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT r.id, r.last_seq, r.members_count \
                 FROM room_members rm JOIN rooms r ON r.id = rm.room_id WHERE rm.user_id = $1",
            )
            .bind(user)
            .fetch_all(p)
            .await
        })?;
        Ok(rows)
    }

    /// The newest seq of a room.
    pub async fn room_last_seq(&self, room: RoomId) -> Result<Option<Seq>, StoreError> {
        let row: Option<(Seq,)> = reader!(self, |p| {
            sqlx::query_as("SELECT last_seq FROM rooms WHERE id = $1")
                .bind(room)
                .fetch_optional(p)
                .await
        })?;
        Ok(row.map(|(s,)| s))
    }

    /// Adds `user` to a room; `Conflict("already_member")` if they are in it.
    pub async fn add_member(
        &self,
        room: RoomId,
        user: UserId,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = writer!(self, |p| {
            sqlx::query(
                "INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(room)
            .bind(user)
            .bind(role.as_str())
            .bind(now)
            .execute(p)
            .await
            .map(|_| ())
        });
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("already_member")),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes `user` from a room. If they owned it, the longest-standing admin (else member)
    /// becomes owner, so a room is never left without one; that new owner is returned.
    pub async fn remove_member(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Option<UserId>, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            let role: Option<(String,)> = sqlx::query_as(
                "DELETE FROM room_members WHERE room_id = $1 AND user_id = $2 RETURNING role",
            )
            .bind(room)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((role,)) = role else {
                return Err(StoreError::NotFound);
            };
            let mut new_owner = None;
            if role == "owner" {
                let heir: Option<(UserId,)> = sqlx::query_as(
                    "SELECT user_id FROM room_members WHERE room_id = $1 \
                     ORDER BY CASE role WHEN 'admin' THEN 0 ELSE 1 END, joined_at LIMIT 1",
                )
                .bind(room)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((heir,)) = heir {
                    sqlx::query(
                        "UPDATE room_members SET role = 'owner' WHERE room_id = $1 AND user_id = $2",
                    )
                    .bind(room)
                    .bind(heir)
                    .execute(&mut *tx)
                    .await?;
                    new_owner = Some(heir);
                }
            }
            tx.commit().await?;
            Ok(new_owner)
        })
    }

    /// Sets a member's role.
    pub async fn set_role(&self, room: RoomId, user: UserId, role: Role) -> Result<(), StoreError> {
        let changed = writer!(self, |p| {
            sqlx::query("UPDATE room_members SET role = $3 WHERE room_id = $1 AND user_id = $2")
                .bind(room)
                .bind(user)
                .bind(role.as_str())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Renames a room, changes its topic and/or its visibility (`None` keeps each).
    pub async fn update_room(
        &self,
        room: RoomId,
        name: Option<&str>,
        topic: Option<&str>,
        visibility: Option<Visibility>,
    ) -> Result<(), StoreError> {
        let changed = writer!(self, |p| {
            sqlx::query(
                "UPDATE rooms SET name = COALESCE($2, name), topic = COALESCE($3, topic), \
                 visibility = COALESCE($4, visibility) WHERE id = $1",
            )
            .bind(room)
            .bind(name)
            .bind(topic)
            .bind(visibility.map(Visibility::as_str))
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Sets `user`'s notification level in `room`. `NotFound` if they are not a member.
    pub async fn set_notify(
        &self,
        room: RoomId,
        user: UserId,
        level: NotifyLevel,
    ) -> Result<(), StoreError> {
        let changed = writer!(self, |p| {
            sqlx::query("UPDATE room_members SET notify = $3 WHERE room_id = $1 AND user_id = $2")
                .bind(room)
                .bind(user)
                .bind(level.as_str())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The members of `room` among lower-cased usernames `keys`, as `(key, id)`.
    pub async fn members_named(
        &self,
        room: RoomId,
        keys: &[String],
    ) -> Result<Vec<(String, UserId)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT u.username_key, u.id FROM room_members rm JOIN users u ON u.id = rm.user_id \
             WHERE rm.room_id = $1 AND u.username_key IN ({})",
            super::files::placeholders(2, keys.len())
        );
        reader!(self, |p| {
            let mut q = sqlx::query_as(&sql).bind(room);
            for k in keys {
                q = q.bind(k);
            }
            q.fetch_all(p).await
        })
        .map_err(StoreError::from)
    }

    /// A group room's name, topic, member count and visibility, for those who are not (yet)
    /// members: invite previews and joining from the directory.
    pub async fn room_summary(&self, room: RoomId) -> Result<Option<RoomSummary>, StoreError> {
        let row: Option<RoomSummary> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT r.id, r.name, r.topic, r.visibility, \
                 r.members_count \
                 FROM rooms r WHERE r.id = $1 AND r.kind = 'group'",
            )
            .bind(room)
            .fetch_optional(p)
            .await
        })?;
        Ok(row)
    }

    /// Public rooms whose name or topic contains `q` (case-insensitive), most members first,
    /// each marked with whether `viewer` is in it.
    pub async fn public_rooms(
        &self,
        q: &str,
        viewer: UserId,
        limit: i64,
    ) -> Result<Vec<PublicRoom>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: RoomId,
            name: String,
            topic: String,
            members_count: i64,
            joined: bool,
        }
        let pattern = format!("%{}%", super::like_escape(&q.to_lowercase()));
        let rows: Vec<Row> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT r.id, r.name, r.topic, \
                 r.members_count, \
                 EXISTS (SELECT 1 FROM room_members v WHERE v.room_id = r.id AND v.user_id = $2) AS joined \
                 FROM rooms r WHERE r.visibility = 'public' AND r.kind = 'group' \
                 AND (lower(r.name) LIKE $1 ESCAPE '\\' OR lower(r.topic) LIKE $1 ESCAPE '\\') \
                 ORDER BY members_count DESC, lower(r.name) LIMIT $3",
            )
            .bind(&pattern)
            .bind(viewer)
            .bind(limit)
            .fetch_all(p)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| PublicRoom {
                id: r.id,
                name: r.name,
                topic: r.topic,
                members_count: r.members_count,
                joined: r.joined,
            })
            .collect())
    }

    /// Moves `user`'s read position in `room` forward to `seq` (never back, never past the newest
    /// message). Returns the new position if it moved.
    pub async fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: Seq,
    ) -> Result<Option<Seq>, StoreError> {
        let moved: Option<(Seq,)> = writer!(self, |p| {
            sqlx::query_as(
                "UPDATE room_members SET last_read_seq = \
                   (SELECT CASE WHEN r.last_seq < $3 THEN r.last_seq ELSE $3 END FROM rooms r WHERE r.id = $1) \
                 WHERE room_id = $1 AND user_id = $2 AND last_read_seq < \
                   (SELECT CASE WHEN r.last_seq < $3 THEN r.last_seq ELSE $3 END FROM rooms r WHERE r.id = $1) \
                 RETURNING last_read_seq",
            )
            .bind(room)
            .bind(user)
            .bind(seq)
            .fetch_optional(p)
            .await
        })?;
        Ok(moved.map(|(s,)| s))
    }
}
