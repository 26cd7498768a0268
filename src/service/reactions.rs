//! Reacting to messages with emoji, and taking reactions back.
//!
//! Any member of a message's room may react to it while it is live, with a Unicode emoji or a
//! custom emoji that exists (taking a reaction back needs only the shape, so one made with an
//! emoji deleted since can still be taken back); a reaction stays when its
//! author leaves the room (it happened), and goes with the message when that is deleted. A
//! change that changed something is told to the room as `reaction.added` / `reaction.removed`;
//! a repeated add or a remove of nothing is answered the same but tells no one.

use crate::bus::Event;
use crate::protocol::api::Reaction;
use crate::protocol::ws::ServerFrame;
use crate::protocol::{Emoji, MessageId, RoomId, UserId};
use crate::store::{ReactionOutcome, StoreError};

use super::{Error, Result, Services};

impl Services {
    /// `user` reacts to message `id` with `emoji` (idempotent).
    pub async fn add_reaction(&self, user: UserId, id: MessageId, emoji: &str) -> Result<()> {
        self.throttle_send(user)?;
        let emoji = Emoji::parse(emoji)?;
        let room = self.reactable(user, id).await?;
        self.require_known_emoji(&emoji).await?;
        // A member who is timed out reads but cannot react (issue 16).
        self.require_unmuted(room, user).await?;
        let outcome = self
            .store
            .add_reaction(id, &emoji, user, Reaction::MAX_PER_MESSAGE)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => super::messages::message_deleted(),
                StoreError::Conflict(code) => Error::conflict(
                    code,
                    format!(
                        "a message carries at most {} different emoji",
                        Reaction::MAX_PER_MESSAGE
                    ),
                ),
                e => e.into(),
            })?;
        if outcome == ReactionOutcome::Added {
            self.publish(Event::Room {
                room,
                frame: ServerFrame::ReactionAdded {
                    room_id: room,
                    message_id: id,
                    emoji: emoji.as_str().to_owned(),
                    user_id: user,
                },
            });
        }
        Ok(())
    }

    /// `user` takes back their `emoji` reaction to message `id` (idempotent).
    pub async fn remove_reaction(&self, user: UserId, id: MessageId, emoji: &str) -> Result<()> {
        self.throttle_send(user)?;
        let emoji = Emoji::parse(emoji)?;
        let room = self.reactable(user, id).await?;
        if self.store.remove_reaction(id, &emoji, user).await? {
            self.publish(Event::Room {
                room,
                frame: ServerFrame::ReactionRemoved {
                    room_id: room,
                    message_id: id,
                    emoji: emoji.as_str().to_owned(),
                    user_id: user,
                },
            });
        }
        Ok(())
    }

    /// The room of a live message `user` may react to: a member of its room. A non-member gets
    /// `room_not_found`, as for every read and write of a room they are not in.
    async fn reactable(&self, user: UserId, id: MessageId) -> Result<RoomId> {
        match self.store.message_for(id, user).await? {
            None => Err(Error::not_found("message")),
            Some((_, None)) => Err(Error::not_found("room")),
            Some((m, Some(_))) if m.deleted => Err(super::messages::message_deleted()),
            Some((m, Some(_))) => Ok(m.room_id),
        }
    }
}
