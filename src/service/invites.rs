//! Invites and the room directory: the ways into a group room besides a moderator adding you.
//!
//! A room's owner and admins (and the server's admins) make invite codes with a lifetime and an
//! optional number of uses; anyone holding one may see the room's name, topic and size without
//! signing in, and join once signed in. A code that expired, was used up or was revoked answers
//! `410 invite_expired`. Public rooms are listed in the directory and anyone signed in may join.

use chrono::DateTime;

use crate::protocol::api::{CreateInviteRequest, Invite, InvitePreview, PublicRoom, Room};
use crate::protocol::{RoomId, RoomKind, ServerRole, UserId, Visibility};
use crate::store::{InviteRecord, NewInvite};

use super::{Error, Result, Services};

/// How long an invite works when its maker does not say: a week.
const DEFAULT_INVITE_SECS: i64 = 7 * 24 * 3600;
/// The longest lifetime an invite may be given: a year.
const MAX_INVITE_SECS: i64 = 365 * 24 * 3600;
/// The most uses an invite may be given (absent: unlimited).
const MAX_INVITE_USES: i64 = 10_000;
/// Rooms the directory lists per query.
const DIRECTORY_LIMIT: i64 = 50;

fn expired() -> Error {
    Error::Gone {
        code: "invite_expired",
        message: "this invite has expired, was used up or was revoked".into(),
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The wire form of a stored invite.
fn invite_of(r: InviteRecord) -> Invite {
    Invite {
        url: format!("/invite/{}", r.code),
        expires_at: DateTime::from_timestamp(r.expires_at, 0).unwrap_or_default(),
        code: r.code,
        room_id: r.room_id,
        max_uses: r.max_uses,
        uses: r.uses,
    }
}

/// The lifetime and uses asked for, checked.
fn invite_limits(req: &CreateInviteRequest) -> Result<(i64, Option<i32>)> {
    let secs = req.expires_in_secs.unwrap_or(DEFAULT_INVITE_SECS);
    if !(60..=MAX_INVITE_SECS).contains(&secs) {
        return Err(Error::invalid(
            "invalid_expiry",
            "expires_in_secs must be between 60 and 31536000 (a year)",
        ));
    }
    let uses = match req.max_uses {
        None => None,
        Some(n) if (1..=MAX_INVITE_USES).contains(&n) => Some(n as i32),
        Some(_) => {
            return Err(Error::invalid(
                "invalid_max_uses",
                "max_uses must be between 1 and 10000",
            ));
        }
    };
    Ok((secs, uses))
}

impl Services {
    /// Whether `user` is one of the server's admins.
    pub async fn is_server_admin(&self, user: UserId) -> Result<bool> {
        Ok(self
            .store
            .user(user)
            .await?
            .is_some_and(|u| u.server_role == ServerRole::Admin))
    }

    /// Passes when `user` moderates the group room `room`: its owner or an admin, or a server
    /// admin (member or not). Others who are members get `403 not_allowed`; non-members
    /// `room_not_found`, as if it did not exist.
    pub(super) async fn require_moderator(&self, room: RoomId, user: UserId) -> Result<()> {
        let membership = self.store.membership(room, user).await?;
        if let Some((RoomKind::Dm, _)) = membership {
            return Err(Error::forbidden(
                "dm_membership_fixed",
                "a DM always has exactly its two members",
            ));
        }
        if membership.is_some_and(|(_, role)| role.moderates()) {
            return Ok(());
        }
        if self.is_server_admin(user).await? && self.store.room_summary(room).await?.is_some() {
            return Ok(());
        }
        match membership {
            Some(_) => Err(Error::forbidden(
                "not_allowed",
                "only the room's owner or admins can do this",
            )),
            None => Err(Error::not_found("room")),
        }
    }

    /// A moderator of `room` makes an invite to it.
    pub async fn create_invite(
        &self,
        actor: UserId,
        room: RoomId,
        req: &CreateInviteRequest,
    ) -> Result<Invite> {
        let (secs, max_uses) = invite_limits(req)?;
        self.require_moderator(room, actor).await?;
        let code = crate::auth::new_invite_code();
        self.store
            .insert_invite(NewInvite {
                code: code.clone(),
                room,
                creator: actor,
                created_at: crate::store::now(),
                expires_at: now_secs() + secs,
                max_uses,
            })
            .await?;
        tracing::info!(room_id = %room, by = %actor, "invite created");
        let record = self
            .store
            .invite(&code)
            .await?
            .ok_or(Error::not_found("invite"))?;
        Ok(invite_of(record))
    }

    /// The invites of `room` that still work, for its moderators.
    pub async fn room_invites(&self, actor: UserId, room: RoomId) -> Result<Vec<Invite>> {
        self.require_moderator(room, actor).await?;
        let found = self.store.room_invites(room, now_secs()).await?;
        Ok(found.into_iter().map(invite_of).collect())
    }

    /// A moderator of the invite's room revokes it.
    pub async fn revoke_invite(&self, actor: UserId, code: &str) -> Result<()> {
        let invite = self
            .store
            .invite(code)
            .await?
            .ok_or(Error::not_found("invite"))?;
        self.require_moderator(invite.room_id, actor).await?;
        self.store.revoke_invite(code).await?;
        tracing::info!(room_id = %invite.room_id, by = %actor, "invite revoked");
        Ok(())
    }

    /// What anyone holding `code` may learn before joining: the room's name, topic and size.
    pub async fn preview_invite(&self, code: &str) -> Result<InvitePreview> {
        let invite = self
            .store
            .invite(code)
            .await?
            .ok_or(Error::not_found("invite"))?;
        if !invite.usable(now_secs()) {
            return Err(expired());
        }
        let room = self
            .store
            .room_summary(invite.room_id)
            .await?
            .ok_or(Error::not_found("invite"))?;
        Ok(InvitePreview {
            name: room.name,
            topic: room.topic,
            members_count: room.members_count,
        })
    }

    /// Takes one use of `code` (for a registration or a join); its room, or why not.
    pub(super) async fn take_invite(&self, code: &str) -> Result<RoomId> {
        match self.store.use_invite(code, now_secs()).await? {
            Some(room) => Ok(room),
            None if self.store.invite(code).await?.is_some() => Err(expired()),
            None => Err(Error::not_found("invite")),
        }
    }

    /// `user` joins the invite's room; a member already just gets the room (no use is taken).
    pub async fn accept_invite(&self, user: UserId, code: &str) -> Result<Room> {
        let invite = self
            .store
            .invite(code)
            .await?
            .ok_or(Error::not_found("invite"))?;
        if let Some(room) = self.store.room_view(invite.room_id, user).await? {
            return Ok(room);
        }
        self.require_not_banned(invite.room_id, user).await?;
        let room = self.take_invite(code).await?;
        if let Err(e) = self.admit(room, user).await {
            self.store.return_invite_use(code).await?;
            return Err(e);
        }
        tracing::info!(room_id = %room, user_id = %user, "joined by invite");
        self.room(user, room).await
    }

    /// Public rooms whose name or topic contains `q`.
    pub async fn public_rooms(&self, user: UserId, q: &str) -> Result<Vec<PublicRoom>> {
        let q = q.trim();
        if q.chars().count() > 64 {
            return Err(Error::invalid(
                "invalid_query",
                "q must be at most 64 characters",
            ));
        }
        Ok(self.store.public_rooms(q, user, DIRECTORY_LIMIT).await?)
    }

    /// `user` joins a public room; a private one answers `room_not_found`, as to a stranger.
    pub async fn join_public_room(&self, user: UserId, room: RoomId) -> Result<Room> {
        if let Some(view) = self.store.room_view(room, user).await? {
            return Ok(view);
        }
        let summary = self.store.room_summary(room).await?;
        if !summary.is_some_and(|s| s.visibility() == Visibility::Public) {
            return Err(Error::not_found("room"));
        }
        self.require_not_banned(room, user).await?;
        self.admit(room, user).await?;
        tracing::info!(room_id = %room, user_id = %user, "joined a public room");
        self.room(user, room).await
    }
}
