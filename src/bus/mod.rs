//! What the nodes of a cluster share: fanout of events, directed relays, call leases and call
//! state.
//!
//! Two backends behind [`Bus`]: in-process (one node alone; `publish` hands the event straight to
//! the local hub, every call is this node's, call state is a map) and Redis (`REDIS_URL`; one
//! channel per room, subscribed only while a local session is in the room; one channel per node
//! for events aimed at users and for relays; a lease per call naming the node that hosts it; the
//! last `voice.state` of each call). Every Redis key and command of the product lives under this
//! folder: the rest of the server asks the bus for an operation and never sees Redis.
//!
//! The bus never looks into the store: an [`Event`] carries everything a receiver needs to
//! deliver it. Events come back out through a [`Sink`], which the hub's registry implements;
//! because the registry also subscribes rooms on the bus, the bus is built around the sink
//! ([`Bus::new`], from a [`Link`] connected beforehand).

pub mod local;
pub mod presence;
pub mod redis;

use std::sync::{Arc, Weak};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::protocol::api::Room;
use crate::protocol::cluster::Relay;
use crate::protocol::ws::{ServerFrame, VoiceParticipant};
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
        view: Box<Room>,
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
    /// `user`'s presence changed: a `presence` frame for the sessions, on any node, that
    /// subscribed to it (members of a large room showing its member list). Travels to every
    /// node.
    Presence {
        /// Whose.
        user: UserId,
        /// The `presence` event.
        frame: ServerFrame,
    },
    /// Voice signaling between a participant's node and the node that owns the call; travels
    /// only by [`Bus::send_to_node`].
    Voice(Relay),
    /// `user`'s `logins` were signed out: every node refuses their access tokens from now on,
    /// and closes their sessions. Travels to every node.
    Revoked {
        /// Whose.
        user: UserId,
        /// Which logins (refresh-token families).
        logins: Vec<uuid::Uuid>,
        /// The account was suspended: every session of the user closes (4003), whatever its
        /// login.
        #[serde(default)]
        suspended: bool,
    },
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

/// A cluster operation could not be done now (Redis is unreachable or did not answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the cluster bus is unavailable")]
pub struct Unavailable;

/// Which node hosts a room's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallHost {
    /// This node: it holds the call's lease (renewed until [`Bus::release_call`]).
    Here,
    /// The named node holds the lease.
    Node(String),
}

/// The bus's connection, made before the sink exists (see [`Bus::new`]).
pub enum Link {
    /// One node alone.
    Local,
    /// Connected to Redis and subscribed to this node's channel.
    Redis(Box<redis::RedisLink>),
}

impl Link {
    /// Connects to Redis at `url`, or makes an in-process link when there is none. `node` names
    /// this node; `prefix` goes before every Redis key and channel.
    pub async fn connect(
        url: Option<&str>,
        prefix: &str,
        node: &str,
    ) -> Result<Link, redis::ConnectError> {
        match url {
            Some(url) => Ok(Link::Redis(Box::new(
                redis::RedisLink::connect(url, prefix, node).await?,
            ))),
            None => Ok(Link::Local),
        }
    }
}

/// The cluster handle: cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Backend>,
}

enum Backend {
    Local(local::LocalBus),
    Redis(redis::RedisBus),
}

impl Bus {
    /// The bus over `link`, delivering into `sink`; the Redis backend's tasks run on `tasks`
    /// until `cancel`. `node` is this node's name (the Redis link already knows it).
    pub fn new(
        link: Link,
        node: &str,
        sink: Weak<dyn Sink>,
        tasks: &TaskTracker,
        cancel: CancellationToken,
    ) -> Bus {
        let backend = match link {
            Link::Local => Backend::Local(local::LocalBus::new(node, sink)),
            Link::Redis(link) => Backend::Redis(redis::RedisBus::start(*link, sink, tasks, cancel)),
        };
        Bus {
            inner: Arc::new(backend),
        }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        match &*self.inner {
            Backend::Local(bus) => bus.node(),
            Backend::Redis(bus) => bus.node(),
        }
    }

    /// Whether other nodes may exist (calls then need leases, users may be elsewhere).
    pub fn is_cluster(&self) -> bool {
        matches!(&*self.inner, Backend::Redis(_))
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

    /// Sends `event` to the node named `node` only (not delivered locally). Alone, there is no
    /// other node, so nothing is sent.
    pub fn send_to_node(&self, node: &str, event: &Event) {
        if let Backend::Redis(bus) = &*self.inner {
            bus.send_to_node(node, event);
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

    /// Which node hosts `room`'s call, making it this one if none does. Alone, every call is
    /// here. In a cluster, a call this node takes stays its own (the lease renewed in the
    /// background) until [`Bus::release_call`], or until this node dies and the lease expires.
    pub async fn claim_call(&self, room: RoomId) -> Result<CallHost, Unavailable> {
        match &*self.inner {
            Backend::Local(_) => Ok(CallHost::Here),
            Backend::Redis(bus) => bus.claim_call(room).await,
        }
    }

    /// The call in `room` ended here: give up its lease.
    pub fn release_call(&self, room: RoomId) {
        if let Backend::Redis(bus) = &*self.inner {
            bus.release_call(room);
        }
    }

    /// Keeps the latest participant list of `room`'s call (an empty list forgets it), for
    /// sessions on any node that connect later.
    pub async fn save_call_state(&self, room: RoomId, participants: &[VoiceParticipant]) {
        match &*self.inner {
            Backend::Local(bus) => bus.save_call_state(room, participants),
            Backend::Redis(bus) => bus.save_call_state(room, participants).await,
        }
    }

    /// The latest participant lists of those of `rooms` that have a call. While Redis is away
    /// nothing is known, and nothing is returned.
    pub async fn call_states(&self, rooms: &[RoomId]) -> Vec<(RoomId, Vec<VoiceParticipant>)> {
        match &*self.inner {
            Backend::Local(bus) => bus.call_states(rooms),
            Backend::Redis(bus) => bus.call_states(rooms).await,
        }
    }

    /// Whether events reach other nodes now.
    pub fn health(&self) -> BusHealth {
        match &*self.inner {
            Backend::Local(_) => BusHealth::Local,
            Backend::Redis(bus) if bus.is_up() => BusHealth::Up,
            Backend::Redis(_) => BusHealth::Down,
        }
    }

    /// The Redis backend, for presence, which shares its connections.
    fn redis(&self) -> Option<&redis::RedisBus> {
        match &*self.inner {
            Backend::Local(_) => None,
            Backend::Redis(bus) => Some(bus),
        }
    }
}
