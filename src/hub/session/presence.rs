//! Presence requests of a session: the snapshot of who is online it gets at start, and
//! `presence.set`.

use axum::extract::ws::Message;

use super::{End, Session, text};
use crate::bus::presence::Change;
use crate::hub::announce::MAX_BATCH;
use crate::protocol::PresenceStatus;
use crate::protocol::ws::Ack;
use crate::service::Error;

/// Most co-members whose presence a new session is told.
const PRESENCE_SNAPSHOT: i64 = 1000;

impl Session {
    /// Tells the client the presence of everyone it shares a room with (who has any to tell).
    pub(super) async fn send_presence_snapshot(&mut self) -> Result<(), End> {
        let others = self
            .hub
            .inner
            .services
            .presence_audience(self.user.id, PRESENCE_SNAPSHOT)
            .await?;
        if others.is_empty() {
            return Ok(());
        }
        let known: Vec<Change> = self
            .hub
            .inner
            .presence
            .lookup(&others)
            .await
            .into_iter()
            .filter(|c| c.status != PresenceStatus::Offline || c.last_seen.is_some())
            .collect();
        self.send(frames_of(&known, self.presence_batch)).await
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
        self.hub
            .announce_presence(change, self.delivered.keys().copied());
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
