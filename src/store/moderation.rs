//! Moderation records: room bans, member timeouts, slow mode, suspended accounts and the audit
//! log. The store keeps them; the service decides who may set them and what they forbid.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::rows::UserRow;
use super::{Store, StoreError, reader, writer};
use crate::protocol::api::{AuditEntry, Ban, User};
use crate::protocol::{MessageId, Role, RoomId, RoomKind, UserId};

/// What a member's posting is limited by right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostingLimits {
    /// Unix seconds until which the member is timed out, if ever set.
    pub timeout_until: Option<i64>,
    /// The room's slow mode, in seconds (0: off).
    pub slow_mode_secs: i32,
}

/// An entry to append to the audit log.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// The room acted in, for room actions.
    pub room: Option<RoomId>,
    /// Who acted.
    pub actor: UserId,
    /// What they did (`member.ban`, `user.suspend`, …).
    pub action: &'static str,
    /// Whom it concerned.
    pub target_user: Option<UserId>,
    /// Which message it concerned.
    pub target_message: Option<MessageId>,
    /// Why, as the moderator said.
    pub reason: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: uuid::Uuid,
    at: DateTime<Utc>,
    room_id: Option<RoomId>,
    actor_id: UserId,
    action: String,
    target_user_id: Option<UserId>,
    target_message_id: Option<MessageId>,
    reason: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> AuditEntry {
        AuditEntry {
            id: r.id,
            at: r.at,
            room_id: r.room_id,
            actor_id: r.actor_id,
            action: r.action,
            target_user_id: r.target_user_id,
            target_message_id: r.target_message_id,
            reason: r.reason,
        }
    }
}

const AUDIT_COLUMNS: &str =
    "id, at, room_id, actor_id, action, target_user_id, target_message_id, reason";

impl Store {
    /// Bans `user` from `room` (or updates the reason of an existing ban).
    pub async fn ban(
        &self,
        room: RoomId,
        user: UserId,
        by: UserId,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query(
                "INSERT INTO room_bans (room_id, user_id, banned_by, reason, created_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (room_id, user_id) DO UPDATE SET reason = excluded.reason",
            )
            .bind(room)
            .bind(user)
            .bind(by)
            .bind(reason)
            .bind(super::now())
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Lifts a ban; `NotFound` if there was none.
    pub async fn unban(&self, room: RoomId, user: UserId) -> Result<(), StoreError> {
        let gone = writer!(self, |p| {
            sqlx::query("DELETE FROM room_bans WHERE room_id = $1 AND user_id = $2")
                .bind(room)
                .bind(user)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        if gone == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Whether `user` is banned from `room`.
    pub async fn is_banned(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let found: Option<(i32,)> = reader!(self, |p| {
            sqlx::query_as("SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2")
                .bind(room)
                .bind(user)
                .fetch_optional(p)
                .await
        })?;
        Ok(found.is_some())
    }

    /// The bans of a room, newest first.
    pub async fn bans(&self, room: RoomId) -> Result<Vec<Ban>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            banned_by: Option<UserId>,
            reason: Option<String>,
            created_at: DateTime<Utc>,
        }
        let rows: Vec<Row> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT u.id, u.username, u.display_name, u.server_role, u.status_text, u.avatar_at, b.banned_by, b.reason, \
                 b.created_at FROM room_bans b JOIN users u ON u.id = b.user_id \
                 WHERE b.room_id = $1 ORDER BY b.created_at DESC",
            )
            .bind(room)
            .fetch_all(p)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| Ban {
                user: User::from(r.user),
                banned_by: r.banned_by,
                reason: r.reason,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Sets (or with `None` clears) a member's timeout; `NotFound` if they are not a member.
    pub async fn set_timeout(
        &self,
        room: RoomId,
        user: UserId,
        until: Option<i64>,
    ) -> Result<(), StoreError> {
        let changed = writer!(self, |p| {
            sqlx::query(
                "UPDATE room_members SET timeout_until = $3 WHERE room_id = $1 AND user_id = $2",
            )
            .bind(room)
            .bind(user)
            .bind(until)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The room's kind, `user`'s role, their timeout and the room's slow mode, in one query;
    /// `None` if they are not a member: what a post, a typing notice or a call join checks.
    pub async fn poster(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Option<(RoomKind, Role, PostingLimits)>, StoreError> {
        const SQL: &str = "SELECT r.kind, rm.role, rm.timeout_until, r.slow_mode_secs FROM room_members rm \
             JOIN rooms r ON r.id = rm.room_id WHERE rm.room_id = $1 AND rm.user_id = $2";
        type Row = (String, String, Option<i64>, i32);
        let inline = self.inline(|c| {
            super::sqlite_sends::prepare(c, SQL)?
                .query_row((room.0.as_bytes(), user.0.as_bytes()), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
        });
        let row: Option<Row> = match inline {
            Some(row) => row,
            None => reader!(self, |p| {
                sqlx::query_as(SQL)
                    .bind(room)
                    .bind(user)
                    .fetch_optional(p)
                    .await
            })?,
        };
        Ok(row.map(|(kind, role, timeout_until, slow_mode_secs)| {
            (
                kind.parse().unwrap_or(RoomKind::Group),
                role.parse().unwrap_or(Role::Member),
                PostingLimits {
                    timeout_until,
                    slow_mode_secs,
                },
            )
        }))
    }

    /// When `user` last posted in `room`, if ever (for slow mode: walks the room's messages
    /// newest first, which is short in the rooms that have slow mode on).
    pub async fn last_post_at(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row: Option<(DateTime<Utc>,)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT created_at FROM messages WHERE room_id = $1 AND sender_id = $2 \
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(room)
            .bind(user)
            .fetch_optional(p)
            .await
        })?;
        Ok(row.map(|(at,)| at))
    }

    /// Sets a room's slow mode.
    pub async fn set_slow_mode(&self, room: RoomId, secs: i32) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query("UPDATE rooms SET slow_mode_secs = $2 WHERE id = $1")
                .bind(room)
                .bind(secs)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Marks an account suspended (or, with `false`, not) and, when suspending, revokes every
    /// refresh token in the same transaction; returns the logins that were live.
    pub async fn set_suspended(
        &self,
        user: UserId,
        suspended: bool,
    ) -> Result<Vec<uuid::Uuid>, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            let at = suspended.then(super::now);
            let done = sqlx::query("UPDATE users SET suspended_at = $2 WHERE id = $1")
                .bind(user)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            let mut live: Vec<(uuid::Uuid,)> = Vec::new();
            if suspended {
                live = sqlx::query_as(
                    "SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = $1 AND NOT revoked",
                )
                .bind(user)
                .fetch_all(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked = TRUE, revoked_at = $2 \
                     WHERE user_id = $1 AND NOT revoked",
                )
                .bind(user)
                .bind(chrono::Utc::now().timestamp())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(live.into_iter().map(|(f,)| f).collect())
        })
    }

    /// Whether an account is suspended.
    pub async fn is_suspended(&self, user: UserId) -> Result<bool, StoreError> {
        let row: Option<(Option<DateTime<Utc>>,)> = reader!(self, |p| {
            sqlx::query_as("SELECT suspended_at FROM users WHERE id = $1")
                .bind(user)
                .fetch_optional(p)
                .await
        })?;
        Ok(matches!(row, Some((Some(_),))))
    }

    /// Deletes a room with everything in it (members, messages, invites, bans).
    pub async fn delete_room(&self, room: RoomId) -> Result<(), StoreError> {
        let gone = writer!(self, |p| {
            sqlx::query("DELETE FROM rooms WHERE id = $1")
                .bind(room)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        if gone == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Appends to the audit log.
    pub async fn audit(&self, e: NewAuditEntry) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query(
                "INSERT INTO audit_log (id, at, room_id, actor_id, action, target_user_id, \
                 target_message_id, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(uuid::Uuid::now_v7())
            .bind(super::now())
            .bind(e.room)
            .bind(e.actor)
            .bind(e.action)
            .bind(e.target_user)
            .bind(e.target_message)
            .bind(&e.reason)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The newest `limit` audit entries, of one room or (with `None`) of the whole server.
    pub async fn audit_log(
        &self,
        room: Option<RoomId>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = match room {
            Some(room) => {
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE room_id = $1 \
                     ORDER BY at DESC, id DESC LIMIT $2"
                );
                reader!(self, |p| {
                    sqlx::query_as(&sql)
                        .bind(room)
                        .bind(limit)
                        .fetch_all(p)
                        .await
                })?
            }
            None => {
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY at DESC, id DESC LIMIT $1"
                );
                reader!(self, |p| {
                    sqlx::query_as(&sql).bind(limit).fetch_all(p).await
                })?
            }
        };
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }
}
