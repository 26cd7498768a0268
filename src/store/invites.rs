//! Invite codes: created by a room's moderators, used (counted) by whoever joins with one,
//! revoked by keeping the row marked, so a revoked code reads as spent rather than unknown.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, reader, writer};
use crate::protocol::{RoomId, UserId};

/// An invite to store.
#[derive(Debug)]
pub struct NewInvite {
    /// The random code.
    pub code: String,
    /// The room it joins.
    pub room: RoomId,
    /// Who made it.
    pub creator: UserId,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// Unix seconds after which it stops working.
    pub expires_at: i64,
    /// Uses allowed; `None` for unlimited.
    pub max_uses: Option<i32>,
}

/// An invite as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteRecord {
    /// The code.
    pub code: String,
    /// The room it joins.
    pub room_id: RoomId,
    /// Unix seconds after which it stops working.
    pub expires_at: i64,
    /// Uses allowed; `None` for unlimited.
    pub max_uses: Option<i32>,
    /// Uses so far.
    pub uses: i32,
    /// Revoked by a moderator.
    pub revoked: bool,
}

impl InviteRecord {
    /// Whether it may still be used at `now_secs`.
    pub fn usable(&self, now_secs: i64) -> bool {
        !self.revoked && self.expires_at > now_secs && self.max_uses.is_none_or(|m| self.uses < m)
    }
}

const INVITE_COLUMNS: &str = "code, room_id, expires_at, max_uses, uses, revoked";

impl Store {
    /// Stores a new invite.
    pub async fn insert_invite(&self, i: NewInvite) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query(
                "INSERT INTO invites (code, room_id, created_by, created_at, expires_at, max_uses) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&i.code)
            .bind(i.room)
            .bind(i.creator)
            .bind(i.created_at)
            .bind(i.expires_at)
            .bind(i.max_uses)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// One invite by code, whatever its state.
    pub async fn invite(&self, code: &str) -> Result<Option<InviteRecord>, StoreError> {
        let sql = format!("SELECT {INVITE_COLUMNS} FROM invites WHERE code = $1");
        let row: Option<InviteRecord> = reader!(self, |p| {
            sqlx::query_as(&sql).bind(code).fetch_optional(p).await
        })?;
        Ok(row)
    }

    /// The invites of a room that still work at `now_secs`, newest first.
    pub async fn room_invites(
        &self,
        room: RoomId,
        now_secs: i64,
    ) -> Result<Vec<InviteRecord>, StoreError> {
        let sql = format!(
            "SELECT {INVITE_COLUMNS} FROM invites WHERE room_id = $1 AND revoked = FALSE \
             AND expires_at > $2 AND (max_uses IS NULL OR uses < max_uses) ORDER BY created_at DESC"
        );
        let rows: Vec<InviteRecord> = reader!(self, |p| {
            sqlx::query_as(&sql)
                .bind(room)
                .bind(now_secs)
                .fetch_all(p)
                .await
        })?;
        Ok(rows)
    }

    /// Counts one use of `code` if it still works at `now_secs`, in one statement (two racing
    /// visitors cannot both take the last use); returns its room, or `None` if it does not work.
    pub async fn use_invite(
        &self,
        code: &str,
        now_secs: i64,
    ) -> Result<Option<RoomId>, StoreError> {
        let row: Option<(RoomId,)> = writer!(self, |p| {
            sqlx::query_as(
                "UPDATE invites SET uses = uses + 1 WHERE code = $1 AND revoked = FALSE \
                 AND expires_at > $2 AND (max_uses IS NULL OR uses < max_uses) RETURNING room_id",
            )
            .bind(code)
            .bind(now_secs)
            .fetch_optional(p)
            .await
        })?;
        Ok(row.map(|(r,)| r))
    }

    /// Gives back a use taken by [`Store::use_invite`] when joining failed after all.
    pub async fn return_invite_use(&self, code: &str) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query("UPDATE invites SET uses = uses - 1 WHERE code = $1 AND uses > 0")
                .bind(code)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Marks an invite revoked.
    pub async fn revoke_invite(&self, code: &str) -> Result<(), StoreError> {
        let changed = writer!(self, |p| {
            sqlx::query("UPDATE invites SET revoked = TRUE WHERE code = $1")
                .bind(code)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
