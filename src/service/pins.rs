//! Pinning messages in a room, and listing a room's pins.
//!
//! Owners and admins pin and unpin in group rooms; in a DM either member does. Any member reads
//! the list. A change that changed something is told to the room as `pin.added` /
//! `pin.removed`; deleting a pinned message unpins it ([`Services::delete_message`] tells the
//! room).

use crate::bus::Event;
use crate::protocol::api::{Pin, PinList};
use crate::protocol::ws::ServerFrame;
use crate::protocol::{MessageId, RoomId, RoomKind, UserId};
use crate::store::StoreError;

use super::{Error, Result, Services};

impl Services {
    /// A room's pins, newest first.
    pub async fn pins(&self, user: UserId, room: RoomId) -> Result<PinList> {
        self.require_member(room, user).await?;
        Ok(PinList {
            pins: self.store.pins(room).await?,
        })
    }

    /// Pins a live message of `room` (idempotent).
    pub async fn pin(&self, user: UserId, room: RoomId, message: MessageId) -> Result<()> {
        self.require_pinner(user, room).await?;
        let added = match self
            .store
            .pin_message(room, message, user, Pin::MAX_PER_ROOM)
            .await
        {
            Ok(added) => added,
            Err(StoreError::NotFound) => return Err(self.unpinnable(user, room, message).await),
            Err(StoreError::Conflict(code)) => {
                return Err(Error::conflict(
                    code,
                    format!("a room keeps at most {} pinned messages", Pin::MAX_PER_ROOM),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if added {
            self.publish(Event::Room {
                room,
                frame: ServerFrame::PinAdded {
                    room_id: room,
                    message_id: message,
                    user_id: user,
                },
            });
        }
        Ok(())
    }

    /// Unpins a message of `room` (idempotent).
    pub async fn unpin(&self, user: UserId, room: RoomId, message: MessageId) -> Result<()> {
        self.require_pinner(user, room).await?;
        if self.store.unpin_message(room, message).await? {
            self.publish(Event::Room {
                room,
                frame: ServerFrame::PinRemoved {
                    room_id: room,
                    message_id: message,
                    user_id: user,
                },
            });
        }
        Ok(())
    }

    /// `user` may pin in `room`: a member (else `room_not_found`) who is an owner or admin, or
    /// either member of a DM (else `403 not_allowed`).
    async fn require_pinner(&self, user: UserId, room: RoomId) -> Result<()> {
        let (kind, role) = self.require_member(room, user).await?;
        if kind == RoomKind::Dm || role.moderates() {
            Ok(())
        } else {
            Err(Error::forbidden(
                "not_allowed",
                "only the room's owner and admins can pin messages",
            ))
        }
    }

    /// Why a message could not be pinned in `room`: a tombstone of that room is
    /// `message_deleted`; anything else (another room's message, no such message) is
    /// `message_not_found`, as the message is not in this room.
    async fn unpinnable(&self, user: UserId, room: RoomId, message: MessageId) -> Error {
        match self.store.message_for(message, user).await {
            Ok(Some((m, _))) if m.room_id == room && m.deleted => {
                super::messages::message_deleted()
            }
            Err(e) => e.into(),
            _ => Error::not_found("message"),
        }
    }
}
