//! The realtime hub: WebSocket sessions, what they ask for, and what they are told.
//!
//! Each socket gets one task ([`session`]) that authenticates it, subscribes it to its user's
//! rooms in the [`registry::Registry`], replays what a resuming client missed, then serves client
//! frames and writes queued events in batches. Client requests go to the same service functions
//! as the HTTP API ([`crate::service`], the hub's only way to the store); what happens is
//! published on the bus and comes back through the registry to every session concerned, on every
//! node. Typing and presence live here too: both are ephemeral and never stored, so the hub
//! publishes them on the bus itself. Voice requests go to [`voice`], which drives this node's SFU
//! or relays them to the node hosting the call.

mod announce;
pub mod outbox;
pub mod registry;
mod session;
pub mod typing;
pub mod voice;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocket;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::presence::Change;
use crate::bus::{BusHealth, Event, Presence};
use crate::metrics::Gauges;
use crate::protocol::RoomId;
use crate::protocol::ws::ServerFrame;
use crate::service::Services;

use announce::Announcer;
use registry::Registry;
use typing::Typing;

/// Limits and timings of sessions.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Outbound frames a session may have queued before it is closed as slow.
    pub session_queue: usize,
    /// Time to send the `auth` frame.
    pub auth_timeout: Duration,
    /// How often the server pings.
    pub ping_every: Duration,
    /// How long a peer may stay silent before it is dropped.
    pub idle_timeout: Duration,
    /// Members above which a room is large: its presence goes only to the sessions that
    /// subscribed to the users (`presence.subscribe`), not to every member.
    pub presence_room_limit: i64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            session_queue: 1024,
            auth_timeout: Duration::from_secs(10),
            ping_every: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            presence_room_limit: 100,
        }
    }
}

/// The hub handle: cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    services: Arc<Services>,
    registry: Arc<Registry>,
    voice: Arc<voice::Voice>,
    presence: Presence,
    /// Presence changes waiting to go out to their rooms; `announce_due` wakes the task that
    /// sends them.
    announcer: Announcer,
    announce_due: Notify,
    typing: Typing,
    config: HubConfig,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Hub {
    /// A hub serving sessions until `shutdown`; its tasks run on `tasks`. `presence_changes`
    /// carries changes found by presence's own sweeps (a dead node's users going offline).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        services: Arc<Services>,
        registry: Arc<Registry>,
        voice: Arc<voice::Voice>,
        presence: Presence,
        config: HubConfig,
        shutdown: CancellationToken,
        tasks: TaskTracker,
        presence_changes: mpsc::Receiver<Change>,
    ) -> Hub {
        let hub = Hub {
            inner: Arc::new(Inner {
                services,
                registry,
                voice,
                presence,
                announcer: Announcer::default(),
                announce_due: Notify::new(),
                typing: Typing::default(),
                config,
                shutdown,
                tasks,
            }),
        };
        hub.inner.tasks.spawn(hub.clone().expire_typing());
        hub.inner.tasks.spawn(hub.clone().send_waiting_presence());
        hub.inner
            .tasks
            .spawn(hub.clone().relay_presence(presence_changes));
        hub
    }

    /// Serves one upgraded socket until it closes; `on_auth` runs once it has authenticated.
    /// The future is tracked, so shutdown waits for it.
    pub fn serve(
        &self,
        socket: WebSocket,
        on_auth: Box<dyn FnOnce() + Send>,
    ) -> impl Future<Output = ()> + Send + use<> {
        let hub = self.clone();
        self.inner
            .tasks
            .track_future(session::run(hub, socket, on_auth))
    }

    /// This node's voice (SFU counts and stats).
    pub fn voice(&self) -> &voice::Voice {
        &self.inner.voice
    }

    /// How many sessions this node holds now.
    pub fn session_count(&self) -> usize {
        self.inner.registry.session_count()
    }

    /// This node's gauges for `/metrics`, read now.
    pub fn gauges(&self) -> Gauges {
        let sfu = self.inner.voice.sfu().stats();
        Gauges {
            sessions: self.session_count() as u64,
            bus_up: self.inner.registry.bus().health() != BusHealth::Down,
            voice_rooms: sfu.rooms,
            voice_participants: sfu.participants,
            rtp_packets_in: sfu.packets_in,
            rtp_packets_out: sfu.packets_out,
            rtp_bytes_in: sfu.bytes_in,
            rtp_bytes_out: sfu.bytes_out,
            rtp_lost: sfu.lost,
            password_hashes: self.inner.services.password_hashes_running() as u64,
        }
    }

    /// Tells everyone who shares a room with the user about their presence.
    async fn publish_presence(&self, change: Change) {
        let rooms = match self.inner.services.rooms_with_seqs(change.user).await {
            Ok(rooms) => rooms,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read rooms for presence");
                return;
            }
        };
        let limit = self.inner.config.presence_room_limit;
        let watched = rooms.iter().any(|r| r.members > limit);
        let small = rooms.iter().filter(|r| r.members <= limit).map(|r| r.id);
        self.announce_presence(change, small, watched);
    }

    /// Tells the members of `rooms` (the user's small rooms) about their presence: at once in a
    /// room that was quiet, with the others that changed at the end of the window in a busy one.
    /// When the user is also in a large room (`watched`), the sessions on every node that
    /// subscribed to them hear it too.
    fn announce_presence(
        &self,
        change: Change,
        rooms: impl IntoIterator<Item = RoomId>,
        watched: bool,
    ) {
        if watched {
            self.inner.registry.bus().publish(Event::Presence {
                user: change.user,
                frame: change.frame(),
            });
        }
        let now = tokio::time::Instant::now();
        for room in rooms {
            if let Some(frame) = self.inner.announcer.offer(room, change.clone(), now) {
                self.publish_room(room, frame);
            }
        }
        // Also after frames that went out at once: their rooms' windows end, to be forgotten.
        self.inner.announce_due.notify_one();
    }

    /// Sends the presence frames of rooms whose window ended.
    async fn send_waiting_presence(self) {
        loop {
            let (frames, next) = self.inner.announcer.due(tokio::time::Instant::now());
            for (room, frame) in frames {
                self.publish_room(room, frame);
            }
            let woken = self.inner.announce_due.notified();
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = woken, if next.is_none() => {}
                _ = tokio::time::sleep_until(next.unwrap_or_else(tokio::time::Instant::now)), if next.is_some() => {}
            }
        }
    }

    fn publish_room(&self, room: RoomId, frame: ServerFrame) {
        self.inner
            .registry
            .bus()
            .publish(Event::Room { room, frame });
    }

    /// Turns typing indicators that ran out into `active: false`.
    async fn expire_typing(self) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            for (user, room) in self.inner.typing.expire(tokio::time::Instant::now()) {
                self.publish_room(
                    room,
                    ServerFrame::Typing {
                        room_id: room,
                        user_id: user,
                        active: false,
                    },
                );
            }
        }
    }

    async fn relay_presence(self, mut changes: mpsc::Receiver<Change>) {
        loop {
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                change = changes.recv() => match change {
                    Some(change) => self.publish_presence(change).await,
                    None => return,
                },
            }
        }
    }
}
