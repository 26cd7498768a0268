//! Web Push subscriptions and the push preference of each user.
//!
//! A subscription belongs to a user and, when made with a session's token, to that login: once
//! the login ends (sign-out, password change, account deletion, expiry) the subscription no
//! longer receives, and it is deleted the next time its user would be notified.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use uuid::Uuid;

use super::{Store, StoreError, reader, sqlite_sends, writer};
use crate::protocol::{RoomId, RoomKind, UserId};

/// A stored subscription.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PushSubscriptionRecord {
    /// Stable id.
    pub id: Uuid,
    /// The push service's URL.
    pub endpoint: String,
    /// The browser's public key, base64url.
    pub p256dh: String,
    /// The authentication secret, base64url.
    pub auth: String,
    /// When it was made or last renewed.
    pub created_at: DateTime<Utc>,
}

/// A member of a room who may be pushed to: they have a subscription and have not blocked the
/// sender.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PushMember {
    /// Who.
    pub user_id: UserId,
    /// Their stored notification level in the room (`None`: the room's default).
    pub notify: Option<String>,
    /// Whether their notifications carry the message text.
    pub include_text: bool,
}

/// A room as a push names it, and the members who may be pushed to.
#[derive(Debug, Clone)]
pub struct PushAudience {
    /// Group or DM.
    pub kind: RoomKind,
    /// The room's stored name.
    pub name: String,
    /// How many members it has (for the default notification level).
    pub members_count: i64,
    /// The members other than the sender who may be pushed to.
    pub members: Vec<PushMember>,
}

/// The rule "this subscription's login is live" (or it was made without one), on `s`; `$2` is now.
const LIVE: &str = "(s.login_id IS NULL OR EXISTS (SELECT 1 FROM refresh_tokens t \
     WHERE t.family_id = s.login_id AND NOT t.revoked AND t.expires_at > $2))";

impl Store {
    /// Saves `user`'s subscription (a browser subscribing again, under any account, replaces its
    /// row: the endpoint names the browser).
    pub async fn save_push_subscription(
        &self,
        user: UserId,
        login: Option<Uuid>,
        (endpoint, p256dh, auth): (&str, &str, &str),
    ) -> Result<PushSubscriptionRecord, StoreError> {
        writer!(self, |p| {
            sqlx::query_as(
                "INSERT INTO push_subscriptions (id, user_id, login_id, endpoint, p256dh, auth, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, \
                 login_id = excluded.login_id, p256dh = excluded.p256dh, auth = excluded.auth, \
                 created_at = excluded.created_at \
                 RETURNING id, endpoint, p256dh, auth, created_at",
            )
            .bind(Uuid::now_v7())
            .bind(user)
            .bind(login)
            .bind(endpoint)
            .bind(p256dh)
            .bind(auth)
            .bind(super::now())
            .fetch_one(p)
            .await
        })
        .map_err(StoreError::from)
    }

    /// Deletes `user`'s subscription at `endpoint`; false if they have none there.
    pub async fn delete_push_subscription(
        &self,
        user: UserId,
        endpoint: &str,
    ) -> Result<bool, StoreError> {
        let n = writer!(self, |p| {
            sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2")
                .bind(user)
                .bind(endpoint)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Deletes a subscription the push service said is gone.
    pub async fn delete_push_subscription_id(&self, id: Uuid) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
                .bind(id)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// `user`'s subscriptions whose login is live at `now_secs`, oldest first; the others are
    /// deleted.
    pub async fn push_subscriptions(
        &self,
        user: UserId,
        now_secs: i64,
    ) -> Result<Vec<PushSubscriptionRecord>, StoreError> {
        writer!(self, |p| {
            sqlx::query(&format!(
                "DELETE FROM push_subscriptions WHERE id IN (SELECT s.id FROM push_subscriptions s \
                 WHERE s.user_id = $1 AND NOT {LIVE})"
            ))
            .bind(user)
            .bind(now_secs)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        let rows = reader!(self, |p| {
            sqlx::query_as(
                "SELECT id, endpoint, p256dh, auth, created_at FROM push_subscriptions \
                 WHERE user_id = $1 ORDER BY created_at, id",
            )
            .bind(user)
            .fetch_all(p)
            .await
        })?;
        Ok(rows)
    }

    /// Whether `user`'s notifications carry the message text.
    pub async fn push_include_text(&self, user: UserId) -> Result<bool, StoreError> {
        let row: Option<(bool,)> = reader!(self, |p| {
            sqlx::query_as("SELECT push_include_text FROM users WHERE id = $1")
                .bind(user)
                .fetch_optional(p)
                .await
        })?;
        row.map(|(b,)| b).ok_or(StoreError::NotFound)
    }

    /// Sets whether `user`'s notifications carry the message text.
    pub async fn set_push_include_text(&self, user: UserId, on: bool) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query("UPDATE users SET push_include_text = $2 WHERE id = $1")
                .bind(user)
                .bind(on)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// `room` as a push names it, and its members other than `sender` who have a subscription
    /// and have not blocked `sender`; `None` if there are none (most messages: the room is not
    /// read then). `NotFound` if the room is gone.
    pub async fn push_audience(
        &self,
        room: RoomId,
        sender: UserId,
    ) -> Result<Option<PushAudience>, StoreError> {
        // The audience is read from the room's members or from the server's subscribers,
        // whichever list is shorter (a room of thousands where few have subscribed, or nobody
        // has, is not walked member by member); under SQLite a short walk is answered inline,
        // a long one through the pool.
        let inline = self.inline(|c| {
            let Some(head): Option<(String, String, i64)> =
                sqlite_sends::prepare(c, AUDIENCE_HEAD)?
                    .query_row((room.0.as_bytes(),), |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?
            else {
                return Ok(Walk::Answered(None));
            };
            let subscriptions: i64 = sqlite_sends::prepare(c, SUBSCRIPTIONS_UP_TO)?
                .query_row((head.2,), |r| r.get(0))?;
            if subscriptions == 0 {
                return Ok(Walk::Answered(None));
            }
            let (sql, length) = if subscriptions < head.2 {
                (AUDIENCE_SUBSCRIBERS, subscriptions)
            } else {
                (AUDIENCE_MEMBERS, head.2)
            };
            if length > INLINE_AUDIENCE {
                return Ok(Walk::Pool(sql));
            }
            let members = sqlite_sends::prepare(c, sql)?
                .query_map((room.0.as_bytes(), sender.0.as_bytes()), |r| {
                    Ok(PushMember {
                        user_id: UserId(Uuid::from_bytes(r.get(0)?)),
                        notify: r.get(1)?,
                        include_text: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Walk::Answered(audience(head, members)))
        });
        let sql = match inline {
            Some(Walk::Answered(answer)) => return Ok(answer),
            Some(Walk::Pool(sql)) => sql,
            None => AUDIENCE_MEMBERS,
        };
        let members: Vec<PushMember> = reader!(self, |p| {
            sqlx::query_as(sql)
                .bind(room)
                .bind(sender)
                .fetch_all(p)
                .await
        })?;
        if members.is_empty() {
            return Ok(None);
        }
        let head: Option<(String, String, i64)> = reader!(self, |p| {
            sqlx::query_as(AUDIENCE_HEAD)
                .bind(room)
                .fetch_optional(p)
                .await
        })?;
        Ok(audience(head.ok_or(StoreError::NotFound)?, members))
    }
}

/// Push audiences read from a list of up to this many (members or subscribers) are read
/// inline under SQLite.
const INLINE_AUDIENCE: i64 = 16;

/// What the inline read of a push audience found: the answer, or that it is a long walk for
/// the pool (with the statement that walks the shorter list).
enum Walk {
    Answered(Option<PushAudience>),
    Pool(&'static str),
}

/// The server's subscriptions counted up to `$1` (the room's size): enough to tell which list
/// is shorter without counting them all.
const SUBSCRIPTIONS_UP_TO: &str =
    "SELECT COUNT(*) FROM (SELECT 1 FROM push_subscriptions LIMIT $1) AS s";

const AUDIENCE_MEMBERS: &str = "SELECT rm.user_id, rm.notify, u.push_include_text AS include_text \
     FROM room_members rm JOIN users u ON u.id = rm.user_id \
     WHERE rm.room_id = $1 AND rm.user_id <> $2 AND u.deleted_at IS NULL \
     AND EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = rm.user_id) \
     AND NOT EXISTS (SELECT 1 FROM user_blocks b \
         WHERE b.user_id = rm.user_id AND b.blocked_id = $2) \
     ORDER BY rm.user_id";

/// The same members as [`AUDIENCE_MEMBERS`], found from the users with a subscription: for a
/// room with more members than the server has subscriptions. (`CROSS JOIN` keeps SQLite's join
/// order: the subscribers first, each looked up in the room.)
const AUDIENCE_SUBSCRIBERS: &str = "SELECT rm.user_id, rm.notify, \
     u.push_include_text AS include_text \
     FROM (SELECT DISTINCT user_id FROM push_subscriptions) s \
     CROSS JOIN room_members rm JOIN users u ON u.id = rm.user_id \
     WHERE rm.room_id = $1 AND rm.user_id = s.user_id AND rm.user_id <> $2 \
     AND u.deleted_at IS NULL \
     AND NOT EXISTS (SELECT 1 FROM user_blocks b \
         WHERE b.user_id = rm.user_id AND b.blocked_id = $2) \
     ORDER BY rm.user_id";

const AUDIENCE_HEAD: &str = "SELECT r.kind, r.name, r.members_count FROM rooms r WHERE r.id = $1";

/// The audience of a room (its kind, name and member count) made of `members`; `None` if empty.
fn audience(
    (kind, name, members_count): (String, String, i64),
    members: Vec<PushMember>,
) -> Option<PushAudience> {
    (!members.is_empty()).then(|| PushAudience {
        kind: if kind == "dm" {
            RoomKind::Dm
        } else {
            RoomKind::Group
        },
        name,
        members_count,
        members,
    })
}
