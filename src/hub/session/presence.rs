//! Presence requests of a session: the snapshot of who is online it gets at start,
//! `presence.set`, and `presence.subscribe` for the members of a large room.
//!
//! A room of more members than the hub's `presence_room_limit` is large: telling each of its
//! members of every other member's changes costs the square of its size, so its members hear of
//! each other only through a subscription (the users a member list on screen shows), as the large
//! chat services do. Small rooms and DMs hear presence as before, without asking.

use axum::extract::ws::Message;

use super::{End, Session, text};
use crate::bus::presence::Change;
use crate::hub::announce::MAX_BATCH;
use crate::protocol::ws::{Ack, PRESENCE_SUBSCRIBE_MAX};
use crate::protocol::{PresenceStatus, RoomId, UserId};
use crate::service::Error;

/// Most co-members whose presence a new session is told.
const PRESENCE_SNAPSHOT: i64 = 1000;

impl Session {
    /// Tells the client the presence of everyone it shares a small room with (who has any to
    /// tell).
    pub(super) async fn send_presence_snapshot(&mut self) -> Result<(), End> {
        let others = self
            .hub
            .inner
            .services
            .presence_audience(
                self.user.id,
                self.hub.inner.config.presence_room_limit,
                PRESENCE_SNAPSHOT,
            )
            .await?;
        self.send_presence_of(&others).await
    }

    /// The presence of `users` who have any to tell, in as few frames as fit.
    async fn send_presence_of(&mut self, users: &[UserId]) -> Result<(), End> {
        if users.is_empty() {
            return Ok(());
        }
        let known: Vec<Change> = self
            .hub
            .inner
            .presence
            .lookup(users)
            .await
            .into_iter()
            .filter(|c| c.status != PresenceStatus::Offline || c.last_seen.is_some())
            .collect();
        self.send(frames_of(&known, self.presence_batch)).await
    }

    /// Tells whoever should hear it of this user's `change`: the members of `rooms` that are
    /// small, and, if the user is in a large room, the sessions that subscribed to them.
    pub(super) fn announce(&self, change: Change, rooms: impl IntoIterator<Item = RoomId>) {
        let small = rooms.into_iter().filter(|r| !self.large.contains(r));
        self.hub
            .announce_presence(change, small, !self.large.is_empty());
    }

    /// `presence.set`: online, away or dnd, for everyone who shares a room with the user.
    pub(super) async fn set_presence(&mut self, status: PresenceStatus) -> Result<Ack, Error> {
        if status == PresenceStatus::Offline {
            return Err(Error::invalid(
                "invalid_status",
                "status must be online, away or dnd",
            ));
        }
        let change = self
            .hub
            .inner
            .presence
            .set_status(self.user.id, status)
            .await;
        self.announce(change, self.delivered.keys().copied());
        Ok(Ack::Done {})
    }

    /// `presence.subscribe`: from now on the session hears the presence of those of `users` who
    /// are members of `room`, in place of whom it subscribed to before. Their presence now is sent before the ack; users who are
    /// not members are left out, so no one learns the presence of someone they share no room
    /// with.
    pub(super) async fn subscribe_presence(
        &mut self,
        room: RoomId,
        users: Vec<UserId>,
    ) -> Result<Ack, End> {
        if users.len() > PRESENCE_SUBSCRIBE_MAX {
            return Err(Error::invalid(
                "too_many_users",
                format!("subscribe to at most {PRESENCE_SUBSCRIBE_MAX} users at once"),
            )
            .into());
        }
        let registry = self.hub.inner.registry.clone();
        if users.is_empty() {
            self.watching = None;
            registry.watch(&self.handle, Vec::new());
            return Ok(Ack::Done {});
        }
        let members = self
            .hub
            .inner
            .services
            .members_among(self.user.id, room, &users)
            .await?;
        // Even in a room this session counts as small: a member who connected after it grew
        // publishes to subscribers only. Subscribed before the read: a change after it arrives
        // live, so none falls between.
        self.watching = Some(room);
        registry.watch(&self.handle, members.clone());
        self.send_presence_of(&members).await?;
        Ok(Ack::Done {})
    }
}

/// `known` as few frames as fit: `presence.batch`es of up to [`MAX_BATCH`] users, or one
/// `presence` event each for a client that does not read batches.
pub(super) fn frames_of(known: &[Change], batches: bool) -> Vec<Message> {
    if !batches {
        return known.iter().map(|c| text(&c.frame())).collect();
    }
    known
        .chunks(MAX_BATCH)
        .filter_map(Change::frame_of)
        .map(|f| text(&f))
        .collect()
}
