//! What a user changes of their own account: profile, logins (sessions), deletion.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use uuid::Uuid;

use super::{Store, StoreError, reader, writer};
use crate::protocol::{RoomId, UserId};

/// One live login as stored: its first and newest token.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// The family id.
    pub id: Uuid,
    /// Its first token's time.
    pub created_at: DateTime<Utc>,
    /// Its newest token's time (the last refresh).
    pub last_used_at: DateTime<Utc>,
    /// As the client said at sign-in.
    pub user_agent: String,
    /// Where it signed in from.
    pub address: String,
}

impl Store {
    /// Changes a user's display name and/or status line (`None` keeps each).
    pub async fn update_profile(
        &self,
        user: UserId,
        display_name: Option<&str>,
        status_text: Option<&str>,
    ) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query(
                "UPDATE users SET display_name = COALESCE($2, display_name), \
                 status_text = COALESCE($3, status_text) WHERE id = $1",
            )
            .bind(user)
            .bind(display_name)
            .bind(status_text)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Sets a user's avatar (a square PNG) and moves its version to `at` (unix seconds).
    pub async fn set_avatar(&self, user: UserId, png: &[u8], at: i64) -> Result<(), StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO avatars (user_id, png) VALUES ($1, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET png = excluded.png",
            )
            .bind(user)
            .bind(png)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE users SET avatar_at = $2 WHERE id = $1")
                .bind(user)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// A user's avatar PNG, if they set one.
    pub async fn avatar(&self, user: UserId) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = reader!(self, |p| {
            sqlx::query_as("SELECT png FROM avatars WHERE user_id = $1")
                .bind(user)
                .fetch_optional(p)
                .await
        })?;
        Ok(row.map(|(b,)| b))
    }

    /// The password hash of a user, by id.
    pub async fn password_hash(&self, user: UserId) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = reader!(self, |p| {
            sqlx::query_as("SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(user)
                .fetch_optional(p)
                .await
        })?;
        Ok(row.map(|(h,)| h))
    }

    /// The logins of a user that can still refresh at `now_secs`, newest first. Reads the
    /// user's tokens and groups them here (times in SQL aggregates decode unevenly across the
    /// two backends); expired tokens are purged hourly, so this stays small.
    pub async fn logins(
        &self,
        user: UserId,
        now_secs: i64,
    ) -> Result<Vec<LoginRecord>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            family_id: Uuid,
            created_at: DateTime<Utc>,
            live: bool,
            user_agent: String,
            address: String,
        }
        let rows: Vec<Row> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT family_id, created_at, (used_at IS NULL AND expires_at > $2) AS live, \
                 user_agent, address FROM refresh_tokens WHERE user_id = $1 AND NOT revoked",
            )
            .bind(user)
            .bind(now_secs)
            .fetch_all(p)
            .await
        })?;
        let mut by_login: std::collections::HashMap<Uuid, (LoginRecord, bool)> = Default::default();
        for r in rows {
            let entry = by_login.entry(r.family_id).or_insert_with(|| {
                let login = LoginRecord {
                    id: r.family_id,
                    created_at: r.created_at,
                    last_used_at: r.created_at,
                    user_agent: r.user_agent.clone(),
                    address: r.address.clone(),
                };
                (login, false)
            });
            entry.0.created_at = entry.0.created_at.min(r.created_at);
            entry.0.last_used_at = entry.0.last_used_at.max(r.created_at);
            entry.1 |= r.live;
        }
        let mut logins: Vec<LoginRecord> = by_login
            .into_values()
            .filter(|(_, live)| *live)
            .map(|(l, _)| l)
            .collect();
        logins.sort_by_key(|l| std::cmp::Reverse(l.last_used_at));
        Ok(logins)
    }

    /// Revokes one login of `user`; false if it is not theirs or already ended.
    pub async fn revoke_login(&self, user: UserId, login: Uuid) -> Result<bool, StoreError> {
        let changed = writer!(self, |p| {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked = TRUE, revoked_at = $3 \
                 WHERE user_id = $1 AND family_id = $2 AND NOT revoked",
            )
            .bind(user)
            .bind(login)
            .bind(Utc::now().timestamp())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(changed > 0)
    }

    /// Turns an account into a tombstone in one transaction: its names become `username` and
    /// "Deleted user", its password unusable, its group memberships, refresh tokens and push subscriptions end. Its
    /// messages and DM memberships stay (the DM partner keeps the history). Returns the group
    /// rooms it was in and the logins that were live.
    pub async fn tombstone_user(
        &self,
        user: UserId,
        username: &str,
    ) -> Result<(Vec<RoomId>, Vec<Uuid>), StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE users SET username = $2, username_key = $2, display_name = 'Deleted user', \
                 status_text = '', password_hash = '!', server_role = 'member', deleted_at = $3, \
                 avatar_at = NULL \
                 WHERE id = $1",
            )
            .bind(user)
            .bind(username)
            .bind(super::now())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM avatars WHERE user_id = $1")
                .bind(user)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1")
                .bind(user)
                .execute(&mut *tx)
                .await?;
            let rooms: Vec<(RoomId,)> = sqlx::query_as(
                "SELECT rm.room_id FROM room_members rm JOIN rooms r ON r.id = rm.room_id \
                 WHERE rm.user_id = $1 AND r.kind = 'group'",
            )
            .bind(user)
            .fetch_all(&mut *tx)
            .await?;
            let live: Vec<(Uuid,)> = sqlx::query_as(
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
            .bind(Utc::now().timestamp())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok((
                rooms.into_iter().map(|(r,)| r).collect(),
                live.into_iter().map(|(f,)| f).collect(),
            ))
        })
    }
}

impl Store {
    /// `user` blocks `other` (again is fine).
    pub async fn block(&self, user: UserId, other: UserId) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query(
                "INSERT INTO user_blocks (user_id, blocked_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, blocked_id) DO NOTHING",
            )
            .bind(user)
            .bind(other)
            .bind(super::now())
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// `user` unblocks `other`; false if they had not blocked them.
    pub async fn unblock(&self, user: UserId, other: UserId) -> Result<bool, StoreError> {
        let gone = writer!(self, |p| {
            sqlx::query("DELETE FROM user_blocks WHERE user_id = $1 AND blocked_id = $2")
                .bind(user)
                .bind(other)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(gone > 0)
    }

    /// The users `user` blocked, newest first.
    pub async fn blocked_ids(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let rows: Vec<(UserId,)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT blocked_id FROM user_blocks WHERE user_id = $1 ORDER BY created_at DESC",
            )
            .bind(user)
            .fetch_all(p)
            .await
        })?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Whether `sender` and another member of `room` blocked one another, either way: for a DM,
    /// one query where the member list and a pair check would take two.
    pub async fn blocked_with_member(
        &self,
        room: RoomId,
        sender: UserId,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT 1 FROM room_members rm JOIN user_blocks b ON \
             (b.user_id = $2 AND b.blocked_id = rm.user_id) \
             OR (b.user_id = rm.user_id AND b.blocked_id = $2) \
             WHERE rm.room_id = $1 AND rm.user_id <> $2 LIMIT 1";
        let inline = self.inline(|c| {
            super::sqlite_sends::prepare(c, SQL)?
                .query_row((room.0.as_bytes(), sender.0.as_bytes()), |r| {
                    r.get::<_, i32>(0)
                })
                .optional()
        });
        if let Some(found) = inline {
            return Ok(found.is_some());
        }
        let found: Option<(i32,)> = reader!(self, |p| {
            sqlx::query_as(SQL)
                .bind(room)
                .bind(sender)
                .fetch_optional(p)
                .await
        })?;
        Ok(found.is_some())
    }

    /// Whether either of `a` and `b` blocked the other.
    pub async fn blocked_between(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        let found: Option<(i32,)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT 1 FROM user_blocks WHERE (user_id = $1 AND blocked_id = $2) \
                 OR (user_id = $2 AND blocked_id = $1) LIMIT 1",
            )
            .bind(a)
            .bind(b)
            .fetch_optional(p)
            .await
        })?;
        Ok(found.is_some())
    }
}
