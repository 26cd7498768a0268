//! Fanout between the nodes of a cluster: what one node publishes, every node delivers to its own
//! sessions.
//!
//! Two backends behind [`Bus`]: in-process (one node alone; `publish` hands the event straight to
//! the local hub) and Redis pub/sub (`REDIS_URL`; one channel per room, subscribed only while a
//! local session is in the room, and one channel per node for events aimed at users). The bus
//! never looks into the store: an [`Event`] carries everything a receiver needs to deliver it.
//! Events come back out through a [`Sink`], which the hub implements.

pub mod local;
pub mod presence;
pub mod redis;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::protocol::api::Room;
use crate::protocol::ws::ServerFrame;
use crate::protocol::{RoomId, UserId};

pub use presence::Presence;

/// Something that happened, addressed to the sessions that should hear of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A frame for every session subscribed to a room.
    Room {
        /// The room.
        room: RoomId,
        /// What to send.
        frame: ServerFrame,
    },
    /// `user` became a member of `room`: their sessions subscribe to it and get `room.updated`
    /// with `view`, then whatever was posted after `view.last_seq`.
    Joined {
        /// The room.
        room: RoomId,
        /// The new member.
        user: UserId,
        /// The room as the new member sees it.
        view: Room,
    },
    /// `user` left or was removed from `room`: every session in the room gets `member.left`,
    /// then the user's sessions stop getting the room's events.
    Left {
        /// The room.
        room: RoomId,
        /// Who left.
        user: UserId,
    },
    /// A frame for every session of one user, wherever they are connected.
    User {
        /// The user.
        user: UserId,
        /// What to send.
        frame: ServerFrame,
    },
    /// Voice signaling between a participant's node and the node that owns the call.
    Voice(crate::hub::voice::Relay),
}

impl Event {
    /// The room whose channel carries this event, if it travels by room.
    pub fn room(&self) -> Option<RoomId> {
        match self {
            Event::Room { room, .. } | Event::Left { room, .. } => Some(*room),
            _ => None,
        }
    }
}

/// Where a bus delivers events: the local hub.
pub trait Sink: Send + Sync + 'static {
    /// Hands one event to the local sessions it concerns. Must not block: called from the bus's
    /// receive loop (Redis) or from the publisher's task (in-process).
    fn deliver(&self, event: &Event);

    /// Called when the bus reconnects after an outage: events may have been missed, so every
    /// room with local sessions should be caught up from the store.
    fn resync(&self) {}
}

/// Whether the bus can carry events now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BusHealth {
    /// In-process: always up.
    Local,
    /// Connected to Redis.
    Up,
    /// Redis is unreachable; local delivery goes on, remote nodes hear nothing until it returns.
    Down,
}

/// The fanout handle: cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Backend>,
}

enum Backend {
    Local(local::LocalBus),
    Redis(redis::RedisBus),
}

impl Bus {
    /// A bus for one node alone: events go straight to `sink`.
    pub fn local(sink: std::sync::Weak<dyn Sink>) -> Bus {
        Bus {
            inner: Arc::new(Backend::Local(local::LocalBus::new(sink))),
        }
    }

    /// A bus over Redis pub/sub.
    pub fn from_redis(bus: redis::RedisBus) -> Bus {
        Bus {
            inner: Arc::new(Backend::Redis(bus)),
        }
    }

    /// Sends an event to every node (including this one) that has sessions it concerns. Never
    /// blocks; an event the bus cannot carry now is dropped after local delivery, and clients
    /// recover it through their seq (messages are durable before they are published).
    pub fn publish(&self, event: Event) {
        match &*self.inner {
            Backend::Local(bus) => bus.publish(event),
            Backend::Redis(bus) => bus.publish(event),
        }
    }

    /// This node now has sessions in `room`: start hearing its channel. Returns once events
    /// published from now on will arrive.
    pub async fn subscribe_room(&self, room: RoomId) {
        if let Backend::Redis(bus) = &*self.inner {
            bus.subscribe_room(room).await;
        }
    }

    /// This node has no more sessions in `room`.
    pub async fn unsubscribe_room(&self, room: RoomId) {
        if let Backend::Redis(bus) = &*self.inner {
            bus.unsubscribe_room(room).await;
        }
    }

    /// Whether events reach other nodes now.
    pub fn health(&self) -> BusHealth {
        match &*self.inner {
            Backend::Local(_) => BusHealth::Local,
            Backend::Redis(bus) => {
                if bus.is_up() {
                    BusHealth::Up
                } else {
                    BusHealth::Down
                }
            }
        }
    }

    /// The Redis side of the bus, when there is one (presence and voice leases use it).
    pub fn redis_bus(&self) -> Option<&redis::RedisBus> {
        match &*self.inner {
            Backend::Local(_) => None,
            Backend::Redis(bus) => Some(bus),
        }
    }
}
