//! Moderation: room bans, timeouts and slow mode (by a room's owner and admins, or a server
//! admin), suspending accounts and deleting rooms (server admins), and the audit log every one of
//! these actions is written to.
//!
//! A ban removes the user through the same path as any removal, so every session of theirs on
//! every node loses the room at once (`member.left`), and keeps them out: invites, the directory
//! and moderators' adds answer `403 banned`. A timeout lets a member read but not post, type or
//! join the call (`403 timed_out`). A suspension revokes every login of the account and closes
//! its sockets on every node with 4003.

use chrono::{DateTime, Utc};

use crate::bus::Event;
use crate::protocol::api::{AuditEntry, Ban, SetRoleRequest};
use crate::protocol::{MessageId, Role, RoomId, RoomKind, UserId};
use crate::store::{NewAuditEntry, PostingLimits, StoreError};

use super::{Error, Result, Services};

/// The longest timeout a moderator may give: four weeks.
const MAX_TIMEOUT_SECS: i64 = 28 * 24 * 3600;
/// The longest slow mode: six hours between messages.
const MAX_SLOW_MODE_SECS: i64 = 6 * 3600;
/// Audit entries answered per call.
const AUDIT_LIMIT: i64 = 200;

fn not_allowed(what: &str) -> Error {
    Error::forbidden("not_allowed", format!("you cannot {what}"))
}

/// A moderator's reason, checked: at most 500 characters, trimmed, absent when empty.
fn parse_reason(reason: Option<&str>) -> Result<Option<String>> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(Error::invalid(
            "invalid_reason",
            "a reason must be at most 500 characters",
        ));
    }
    Ok(reason.map(str::to_owned))
}

impl Services {
    /// `403 banned` if `user` is banned from `room`.
    pub(super) async fn require_not_banned(&self, room: RoomId, user: UserId) -> Result<()> {
        if self.store.is_banned(room, user).await? {
            return Err(Error::forbidden("banned", "you are banned from this room"));
        }
        Ok(())
    }

    /// `user`'s kind and role in `room` if they may post now: a member, not timed out, and
    /// (unless they moderate) past the room's slow mode (`429 rate_limited`). One query, plus
    /// one more only in rooms with slow mode on.
    pub(super) async fn require_poster(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<(RoomKind, Role)> {
        let (kind, role, limits) = self.unmuted(room, user).await?;
        let slow = if role.moderates() {
            0
        } else {
            i64::from(limits.slow_mode_secs)
        };
        if slow > 0
            && let Some(last) = self.store.last_post_at(room, user).await?
        {
            let wait = last + chrono::Duration::seconds(slow) - Utc::now();
            if wait > chrono::Duration::zero() {
                return Err(Error::RateLimited {
                    retry_after_ms: wait.num_milliseconds().max(1) as u64,
                });
            }
        }
        Ok((kind, role))
    }

    /// `user`'s kind and role in `room` if they are a member who is not timed out: what typing
    /// and joining the call need.
    pub async fn require_unmuted(&self, room: RoomId, user: UserId) -> Result<(RoomKind, Role)> {
        let (kind, role, _) = self.unmuted(room, user).await?;
        Ok((kind, role))
    }

    async fn unmuted(&self, room: RoomId, user: UserId) -> Result<(RoomKind, Role, PostingLimits)> {
        let (kind, role, limits) = self
            .store
            .poster(room, user)
            .await?
            .ok_or(Error::not_found("room"))?;
        if limits
            .timeout_until
            .is_some_and(|t| t > Utc::now().timestamp())
        {
            return Err(Error::forbidden(
                "timed_out",
                "you are timed out in this room: you can read but not post or speak",
            ));
        }
        Ok((kind, role, limits))
    }

    /// Records a moderation action.
    pub(super) async fn record(&self, entry: NewAuditEntry) -> Result<()> {
        tracing::info!(action = entry.action, actor = %entry.actor, room_id = ?entry.room, "moderation");
        Ok(self.store.audit(entry).await?)
    }

    /// Passes when `actor` may act on `target` in `room`: a moderator of it who outranks them
    /// (the owner everyone, an admin plain members; a server admin everyone but the owner).
    async fn require_outranks(&self, actor: UserId, room: RoomId, target: UserId) -> Result<()> {
        if actor == target {
            return Err(Error::invalid(
                "invalid_user",
                "you cannot do this to yourself",
            ));
        }
        self.require_moderator(room, actor).await?;
        let actor_role = self.store.membership(room, actor).await?.map(|(_, r)| r);
        let target_role = self.store.membership(room, target).await?.map(|(_, r)| r);
        let outranks = match (actor_role, target_role) {
            (_, None) | (Some(Role::Owner), _) => true,
            (Some(Role::Admin), Some(Role::Member)) => true,
            (Some(Role::Admin), _) => false,
            (_, Some(role)) => role != Role::Owner && self.is_server_admin(actor).await?,
        };
        if !outranks {
            return Err(not_allowed("act on a member who ranks as high as you"));
        }
        Ok(())
    }

    /// Bans `target` from `room`: removed now (if a member) and kept out.
    pub async fn ban(
        &self,
        actor: UserId,
        room: RoomId,
        target: UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        let reason = parse_reason(reason)?;
        self.require_outranks(actor, room, target).await?;
        self.user(target).await?;
        self.store
            .ban(room, target, actor, reason.as_deref())
            .await?;
        if self.store.membership(room, target).await?.is_some() {
            self.expel(room, target).await?;
        }
        self.record(NewAuditEntry {
            room: Some(room),
            actor,
            action: "member.ban",
            target_user: Some(target),
            target_message: None,
            reason,
        })
        .await
    }

    /// Lifts a ban.
    pub async fn unban(&self, actor: UserId, room: RoomId, target: UserId) -> Result<()> {
        self.require_moderator(room, actor).await?;
        self.store.unban(room, target).await.map_err(|e| match e {
            StoreError::NotFound => Error::not_found("ban"),
            e => e.into(),
        })?;
        self.record(NewAuditEntry {
            room: Some(room),
            actor,
            action: "member.unban",
            target_user: Some(target),
            target_message: None,
            reason: None,
        })
        .await
    }

    /// The bans of a room, for its moderators.
    pub async fn bans(&self, actor: UserId, room: RoomId) -> Result<Vec<Ban>> {
        self.require_moderator(room, actor).await?;
        Ok(self.store.bans(room).await?)
    }

    /// Times `target` out until `until` (at most four weeks ahead), or lifts it with `None`.
    pub async fn set_timeout(
        &self,
        actor: UserId,
        room: RoomId,
        target: UserId,
        until: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let now = Utc::now().timestamp();
        let until = until.map(|t| t.timestamp());
        if until.is_some_and(|t| t <= now || t > now + MAX_TIMEOUT_SECS) {
            return Err(Error::invalid(
                "invalid_timeout",
                "timeout_until must be in the future, at most 28 days ahead (null lifts it)",
            ));
        }
        self.require_outranks(actor, room, target).await?;
        self.store
            .set_timeout(room, target, until)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::not_found("member"),
                e => e.into(),
            })?;
        self.publish_view(room, target).await?;
        self.record(NewAuditEntry {
            room: Some(room),
            actor,
            action: if until.is_some() {
                "member.timeout"
            } else {
                "member.untimeout"
            },
            target_user: Some(target),
            target_message: None,
            reason: None,
        })
        .await
    }

    /// `PATCH …/members/{id}`: a new role (the owner), a timeout (moderators), or both.
    pub async fn update_member(
        &self,
        actor: UserId,
        room: RoomId,
        target: UserId,
        change: &SetRoleRequest,
    ) -> Result<()> {
        if change.role.is_none() && change.timeout_until.is_none() {
            return Err(Error::invalid(
                "invalid_request",
                "give a role, a timeout_until, or both",
            ));
        }
        if let Some(role) = &change.role {
            self.set_role(actor, room, target, role).await?;
        }
        if let Some(until) = change.timeout_until {
            self.set_timeout(actor, room, target, until).await?;
        }
        Ok(())
    }

    /// Sets a room's slow mode (0 turns it off); members hear `room.updated`.
    pub(super) async fn set_slow_mode(&self, actor: UserId, room: RoomId, secs: i64) -> Result<()> {
        if !(0..=MAX_SLOW_MODE_SECS).contains(&secs) {
            return Err(Error::invalid(
                "invalid_slow_mode",
                "slow_mode_secs must be between 0 and 21600",
            ));
        }
        self.store.set_slow_mode(room, secs as i32).await?;
        self.record(NewAuditEntry {
            room: Some(room),
            actor,
            action: "room.slow_mode",
            target_user: None,
            target_message: None,
            reason: Some(format!("{secs} s")),
        })
        .await
    }

    /// Records that a moderator deleted someone else's message.
    pub(super) async fn record_message_deletion(
        &self,
        actor: UserId,
        room: RoomId,
        author: UserId,
        message: MessageId,
    ) -> Result<()> {
        self.record(NewAuditEntry {
            room: Some(room),
            actor,
            action: "message.delete",
            target_user: Some(author),
            target_message: Some(message),
            reason: None,
        })
        .await
    }

    /// The owner of a group room, or a server admin, deletes it with everything in it; every
    /// member's sessions lose it at once.
    pub async fn delete_room(&self, actor: UserId, room: RoomId) -> Result<()> {
        let membership = self.store.membership(room, actor).await?;
        let owner = matches!(membership, Some((RoomKind::Group, Role::Owner)));
        if !owner && !self.is_server_admin(actor).await? {
            return match membership {
                Some(_) => Err(not_allowed("delete this room")),
                None => Err(Error::not_found("room")),
            };
        }
        let members = self.store.member_ids(room).await?;
        self.store.delete_room(room).await.map_err(|e| match e {
            StoreError::NotFound => Error::not_found("room"),
            e => e.into(),
        })?;
        for user in members {
            self.publish(Event::Left { room, user });
        }
        self.record(NewAuditEntry {
            room: Some(room),
            actor,
            action: "room.delete",
            target_user: None,
            target_message: None,
            reason: None,
        })
        .await
    }

    /// The audit log of a room, for its moderators, newest first.
    pub async fn room_audit(&self, actor: UserId, room: RoomId) -> Result<Vec<AuditEntry>> {
        self.require_moderator(room, actor).await?;
        Ok(self.store.audit_log(Some(room), AUDIT_LIMIT).await?)
    }

    /// `403 not_allowed` unless `user` is a server admin.
    pub async fn require_server_admin(&self, user: UserId) -> Result<()> {
        if !self.is_server_admin(user).await? {
            return Err(not_allowed("do this: it is for the server's admins"));
        }
        Ok(())
    }

    /// The whole server's audit log, for its admins, newest first.
    pub async fn server_audit(&self, actor: UserId) -> Result<Vec<AuditEntry>> {
        self.require_server_admin(actor).await?;
        Ok(self.store.audit_log(None, AUDIT_LIMIT).await?)
    }

    /// A server admin suspends (or lifts the suspension of) an account. Suspending revokes
    /// every login of it: its access tokens are refused and its sockets close (4003) on every
    /// node at once, and it cannot sign in until lifted.
    pub async fn set_suspended(
        &self,
        actor: UserId,
        target: UserId,
        suspended: bool,
    ) -> Result<()> {
        self.require_server_admin(actor).await?;
        if actor == target {
            return Err(Error::invalid(
                "invalid_user",
                "you cannot suspend yourself",
            ));
        }
        let logins = self
            .store
            .set_suspended(target, suspended)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::not_found("user"),
                e => e.into(),
            })?;
        if suspended {
            for login in &logins {
                self.auth.revocations().revoke(*login);
            }
            self.publish(Event::Revoked {
                user: target,
                logins,
                suspended: true,
            });
        }
        self.record(NewAuditEntry {
            room: None,
            actor,
            action: if suspended {
                "user.suspend"
            } else {
                "user.unsuspend"
            },
            target_user: Some(target),
            target_message: None,
            reason: None,
        })
        .await
    }
}
