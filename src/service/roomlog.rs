//! A room's message log as one node's delivery reads it: the newest seq when a room's first
//! local session subscribes, and the messages a gap in live delivery missed.
//!
//! These reads are on behalf of the node, not of a user: they feed sessions the registry has
//! already admitted to the room, so they check no membership. That is why they are a separate,
//! narrow handle the hub's registry holds, rather than [`super::Services`] methods any transport
//! could call for a user.

use crate::protocol::api::Message;
use crate::protocol::{RoomId, Seq};
use crate::store::Store;

use super::Result;

/// See the module docs. Cheap to clone.
#[derive(Clone)]
pub struct RoomLog {
    store: Store,
}

impl RoomLog {
    /// The log of the rooms in `store`.
    pub fn new(store: Store) -> RoomLog {
        RoomLog { store }
    }

    /// The seq the next message of `room` will take.
    pub async fn next_seq(&self, room: RoomId) -> Result<Seq> {
        Ok(match self.store.room_last_seq(room).await? {
            Some(last) => last.next(),
            None => Seq(1),
        })
    }

    /// Every message of `room` after `after`, oldest first.
    pub async fn messages_after(&self, room: RoomId, after: Seq) -> Result<Vec<Message>> {
        Ok(self
            .store
            .messages_between(room, after, Seq(i64::MAX))
            .await?)
    }
}
