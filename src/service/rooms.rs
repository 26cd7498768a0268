//! Rooms and DMs: creating them, membership and roles, renaming, read positions.
//!
//! Roles: the owner can do everything, including naming admins and handing the room over; admins
//! add and remove members and edit the room; members read and post. DMs have exactly their two
//! members, forever.

use crate::bus::Event;
use crate::protocol::api::{Member, Room, UpdateRoomRequest};
use crate::protocol::ws::ServerFrame;
use crate::protocol::{Role, RoomId, RoomKind, RoomName, RoomTopic, Seq, UserId, Visibility};
use crate::store::{NewAuditEntry, NewRoom, StoreError};

use super::{Error, Result, Services};

fn dm_fixed() -> Error {
    Error::forbidden(
        "dm_membership_fixed",
        "a DM always has exactly its two members",
    )
}

impl Services {
    /// Every room of `user`, newest activity first.
    pub async fn list_rooms(&self, user: UserId) -> Result<Vec<Room>> {
        Ok(self.store.rooms_for_user(user).await?)
    }

    /// One room as `user` sees it.
    pub async fn room(&self, user: UserId, room: RoomId) -> Result<Room> {
        self.store
            .room_view(room, user)
            .await?
            .ok_or(Error::not_found("room"))
    }

    /// Creates a group room owned by `user`, private unless `visibility` says `public`.
    pub async fn create_room(
        &self,
        user: UserId,
        name: &str,
        topic: Option<&str>,
        visibility: Option<&str>,
    ) -> Result<Room> {
        let name = RoomName::parse(name)?;
        let topic = match topic {
            Some(t) => RoomTopic::parse(t)?,
            None => RoomTopic::empty(),
        };
        let visibility: Visibility = visibility.map(str::parse).transpose()?.unwrap_or_default();
        let id = RoomId::new();
        self.store
            .create_room(NewRoom {
                id,
                name: name.into_inner(),
                topic: topic.into_inner(),
                creator: user,
                created_at: crate::store::now(),
                visibility,
            })
            .await?;
        let view = self.room(user, id).await?;
        tracing::info!(room_id = %id, user_id = %user, "room created");
        self.publish(Event::Joined {
            room: id,
            user,
            view: Box::new(view.clone()),
        });
        Ok(view)
    }

    /// The DM room of `user` and `other`, created on first use. Returns it and whether it is new.
    pub async fn open_dm(&self, user: UserId, other: UserId) -> Result<(Room, bool)> {
        if user == other {
            return Err(Error::invalid("invalid_user", "a DM needs another user"));
        }
        self.user(other).await?;
        self.require_unblocked(user, other).await?;
        let (room, created) = self.store.dm_room(user, other, crate::store::now()).await?;
        if created {
            for (member, view) in self.store.room_views_for_members(room).await? {
                self.publish(Event::Joined {
                    room,
                    user: member,
                    view: Box::new(view),
                });
            }
        }
        Ok((self.room(user, room).await?, created))
    }

    /// The members of a room `user` belongs to.
    pub async fn members(&self, user: UserId, room: RoomId) -> Result<Vec<Member>> {
        self.require_member(room, user).await?;
        Ok(self.store.members(room).await?)
    }

    /// `actor` (owner or admin) adds `target` to a group room.
    pub async fn add_member(&self, actor: UserId, room: RoomId, target: UserId) -> Result<()> {
        let (kind, role) = self.require_member(room, actor).await?;
        if kind == RoomKind::Dm {
            return Err(dm_fixed());
        }
        if !role.moderates() {
            return Err(Error::forbidden(
                "not_allowed",
                "only the room's owner or admins can add members",
            ));
        }
        self.require_not_banned(room, target).await?;
        self.admit(room, target).await?;
        tracing::info!(room_id = %room, user_id = %target, by = %actor, "member added");
        Ok(())
    }

    /// Makes `target` a member of `room` and tells the room and the newcomer's sessions:
    /// adding by a moderator, accepting an invite and joining a public room all end here.
    /// `already_member` if they are in it.
    pub(super) async fn admit(&self, room: RoomId, target: UserId) -> Result<()> {
        let user = self.user(target).await?;
        self.store
            .add_member(room, target, Role::Member, crate::store::now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    Error::conflict("already_member", "that user is already a member")
                }
                e => e.into(),
            })?;
        self.publish(Event::Room {
            room,
            frame: ServerFrame::MemberJoined {
                room_id: room,
                user,
            },
        });
        if let Some(view) = self.store.room_view(room, target).await? {
            self.publish(Event::Joined {
                room,
                user: target,
                view: Box::new(view),
            });
        }
        Ok(())
    }

    /// `target` leaves a group room (when `actor == target`) or is removed by an owner or admin
    /// who outranks them. An owner who leaves hands the room to the longest-standing admin or member.
    pub async fn remove_member(&self, actor: UserId, room: RoomId, target: UserId) -> Result<()> {
        let (kind, actor_role) = self.require_member(room, actor).await?;
        if kind == RoomKind::Dm {
            return Err(dm_fixed());
        }
        if actor != target {
            let (_, target_role) = self
                .store
                .membership(room, target)
                .await?
                .ok_or(Error::not_found("member"))?;
            let outranks = match actor_role {
                Role::Owner => true,
                Role::Admin => target_role == Role::Member,
                Role::Member => false,
            };
            if !outranks {
                return Err(Error::forbidden(
                    "not_allowed",
                    "you cannot remove this member",
                ));
            }
        }
        self.expel(room, target).await?;
        tracing::info!(room_id = %room, user_id = %target, by = %actor, "member left");
        if actor != target {
            self.record(NewAuditEntry {
                room: Some(room),
                actor,
                action: "member.remove",
                target_user: Some(target),
                target_message: None,
                reason: None,
            })
            .await?;
        }
        Ok(())
    }

    /// Takes `target` out of `room`: every session of theirs, on every node, stops hearing it at
    /// once (`member.left`), and an owner's leaving hands the room on. Leaving, removal and bans
    /// all end here.
    pub(super) async fn expel(&self, room: RoomId, target: UserId) -> Result<()> {
        let new_owner = self
            .store
            .remove_member(room, target)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::not_found("member"),
                e => e.into(),
            })?;
        self.publish(Event::Left { room, user: target });
        if let Some(owner) = new_owner {
            self.publish_view(room, owner).await?;
        }
        Ok(())
    }

    /// The owner makes `target` an admin or a member, or hands them the room (`owner`), becoming
    /// an admin themself.
    pub async fn set_role(
        &self,
        actor: UserId,
        room: RoomId,
        target: UserId,
        role: &str,
    ) -> Result<()> {
        let role: Role = role.parse()?;
        let (kind, actor_role) = self.require_member(room, actor).await?;
        if kind == RoomKind::Dm {
            return Err(dm_fixed());
        }
        if actor_role != Role::Owner {
            return Err(Error::forbidden(
                "not_allowed",
                "only the room's owner can change roles",
            ));
        }
        if actor == target {
            return Err(Error::invalid(
                "invalid_user",
                "hand the room to someone else to change your own role",
            ));
        }
        self.store
            .membership(room, target)
            .await?
            .ok_or(Error::not_found("member"))?;
        self.store.set_role(room, target, role).await?;
        if role == Role::Owner {
            self.store.set_role(room, actor, Role::Admin).await?;
            self.publish_view(room, actor).await?;
        }
        self.publish_view(room, target).await?;
        Ok(())
    }

    /// An owner or admin renames a group room, changes its topic or its visibility; every member
    /// gets `room.updated`.
    pub async fn update_room(
        &self,
        actor: UserId,
        room: RoomId,
        change: &UpdateRoomRequest,
    ) -> Result<Room> {
        let (kind, role) = self.require_member(room, actor).await?;
        if kind == RoomKind::Dm {
            return Err(Error::forbidden(
                "dm_not_editable",
                "a DM has no name or topic to change",
            ));
        }
        if !role.moderates() {
            return Err(Error::forbidden(
                "not_allowed",
                "only the room's owner or admins can edit it",
            ));
        }
        let name = change.name.as_deref().map(RoomName::parse).transpose()?;
        let topic = change.topic.as_deref().map(RoomTopic::parse).transpose()?;
        let visibility: Option<Visibility> =
            change.visibility.as_deref().map(str::parse).transpose()?;
        if name.is_none()
            && topic.is_none()
            && visibility.is_none()
            && change.slow_mode_secs.is_none()
        {
            return Err(Error::invalid(
                "invalid_request",
                "give a name, a topic, a visibility or a slow mode to change",
            ));
        }
        if let Some(secs) = change.slow_mode_secs {
            self.set_slow_mode(actor, room, secs).await?;
        }
        self.store
            .update_room(
                room,
                name.as_ref().map(RoomName::as_str),
                topic.as_ref().map(RoomTopic::as_str),
                visibility,
            )
            .await?;
        let mut mine = None;
        for (member, view) in self.store.room_views_for_members(room).await? {
            if member == actor {
                mine = Some(view.clone());
            }
            self.publish(Event::User {
                user: member,
                frame: ServerFrame::RoomUpdated {
                    room: Box::new(view),
                },
            });
        }
        mine.ok_or(Error::not_found("room"))
    }

    /// Moves `user`'s read position forward to `seq`; everyone in the room gets a `receipt`.
    pub async fn mark_read(&self, user: UserId, room: RoomId, seq: Seq) -> Result<()> {
        if seq.0 < 0 {
            return Err(Error::invalid("invalid_seq", "seq must not be negative"));
        }
        self.require_member(room, user).await?;
        if let Some(seq) = self.store.mark_read(room, user, seq).await? {
            self.publish(Event::Room {
                room,
                frame: ServerFrame::Receipt {
                    room_id: room,
                    user_id: user,
                    seq,
                },
            });
        }
        Ok(())
    }

    /// Sends `user` their current view of `room` (after their role changed).
    pub(super) async fn publish_view(&self, room: RoomId, user: UserId) -> Result<()> {
        if let Some(view) = self.store.room_view(room, user).await? {
            self.publish(Event::User {
                user,
                frame: ServerFrame::RoomUpdated {
                    room: Box::new(view),
                },
            });
        }
        Ok(())
    }
}
