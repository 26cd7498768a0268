//! Mentions and notification levels.
//!
//! A body's `@username`s mention those people if they are members of the room (anyone else's
//! name is plain text), and `@room` mentions everyone when an owner or admin says it (from
//! anyone else it is plain text too). The store keeps whom each message mentions, so every
//! member's room carries `mention_count`, the unread messages that mention them. Each member
//! picks how much of a room they want to hear of (`PATCH /rooms/{id}/settings`).

use crate::protocol::api::Room;
use crate::protocol::mentions::find_mentions;
use crate::protocol::{MessageBody, NotifyLevel, Role, RoomId, UserId};
use crate::store::Mentions;

use super::{Error, Result, Services};

impl Services {
    /// Whom `body`, written by someone of `role` in `room`, mentions.
    pub(super) async fn mentions_in(
        &self,
        room: RoomId,
        role: Role,
        body: &MessageBody,
    ) -> Result<Mentions> {
        let found = find_mentions(body.as_str());
        let members = self.store.members_named(room, &found.usernames).await?;
        let users = found
            .usernames
            .iter()
            .filter_map(|key| members.iter().find(|(k, _)| k == key).map(|(_, id)| *id))
            .collect();
        Ok(Mentions {
            users,
            room: found.room && role.moderates(),
        })
    }

    /// `user` sets their notification level for `room`; answers the room as they see it now.
    pub async fn set_notify(&self, user: UserId, room: RoomId, notify: &str) -> Result<Room> {
        let level: NotifyLevel = notify.parse()?;
        self.require_member(room, user).await?;
        self.store.set_notify(room, user, level).await?;
        self.store
            .room_view(room, user)
            .await?
            .ok_or(Error::not_found("room"))
    }
}
