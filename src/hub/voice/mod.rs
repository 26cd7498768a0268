//! Voice signaling: from `voice.*` requests to the SFU, and the call's events to the room.
//!
//! A room's call lives on one node at a time, its host, so that all of its media meets in one
//! SFU. Alone, a node hosts every call. In a cluster the first join claims the call on the bus
//! (a lease naming its node, renewed while the call has participants, released when it empties,
//! expiring if the node dies); a session on another node has its requests relayed to the host
//! over the bus ([`relay`]), which joins it to its SFU and relays the offers back. Media then
//! flows between the client and the host's UDP port directly; only signaling crosses nodes.
//!
//! The SFU's room events (who is in the call, muted, speaking) are published to the room, so
//! every member hears them, in the call or not; the last `voice.state` of each call is kept on
//! the bus for sessions that connect later.

mod relay;
mod ring;

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::outbox::SessionHandle;
use super::registry::Registry;
use crate::bus::{Bus, CallHost, Event};
use crate::protocol::cluster::{Relay, VoiceRequest, VoiceSignal};
use crate::protocol::ws::{IceServer, ServerFrame, VoiceParticipant};
use crate::protocol::{RoomId, UserId};
use crate::service::Error;
use crate::sfu::turn::{TurnConfig, ice_servers};
use crate::sfu::{ParticipantState, Reply, Request, RoomEvent, Sfu, Signal};

use relay::{Pending, Target};
pub use ring::Ring;

/// Where a session's call lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This node's SFU.
    Local,
    /// Another node's.
    Remote(String),
}

/// ICE servers to hand to clients.
#[derive(Clone, Debug, Default)]
pub struct IceConfig {
    /// TURN (and STUN) URLs with the shared secret, for minted credentials.
    pub turn: Option<TurnConfig>,
    /// STUN URLs that need no credentials, when no secret is configured.
    pub stun: Vec<String>,
}

/// Voice for this node.
pub struct Voice {
    sfu: Sfu,
    ice: IceConfig,
    bus: Bus,
    registry: Arc<Registry>,
    tasks: TaskTracker,
    /// Requests relayed to other nodes, waiting for their replies.
    pending: Pending,
    /// Ends the ring timers at shutdown.
    shutdown: CancellationToken,
}

impl Voice {
    /// Voice over `sfu`; room events arrive on `events`, relays from other nodes on `relays`.
    pub fn start(
        sfu: Sfu,
        ice: IceConfig,
        registry: Arc<Registry>,
        tasks: TaskTracker,
        (events, relays): (mpsc::Receiver<RoomEvent>, mpsc::Receiver<Relay>),
        shutdown: CancellationToken,
    ) -> Arc<Voice> {
        let voice = Arc::new(Voice {
            bus: registry.bus().clone(),
            sfu,
            ice,
            registry,
            tasks: tasks.clone(),
            pending: Pending::default(),
            shutdown: shutdown.clone(),
        });
        tasks.spawn(voice.clone().room_events(events, shutdown.clone()));
        tasks.spawn(voice.clone().relays(relays, shutdown));
        voice
    }

    /// The SFU (for counts and stats).
    pub fn sfu(&self) -> &Sfu {
        &self.sfu
    }

    /// The ICE servers for `user`, with fresh TURN credentials if TURN is configured.
    pub fn ice_servers(&self, user: UserId) -> Vec<IceServer> {
        let mut servers = ice_servers(self.ice.turn.as_ref(), user.0, SystemTime::now());
        if !self.ice.stun.is_empty() {
            servers.push(IceServer {
                urls: self.ice.stun.clone(),
                username: None,
                credential: None,
            });
        }
        servers
    }

    /// Joins `session` to `room`'s call, wherever it lives; returns where.
    /// `join` numbers the session's participations: signals carry it, and the session ignores
    /// those of a participation it has already left.
    pub async fn join(
        &self,
        session: &SessionHandle,
        room: RoomId,
        join: u64,
    ) -> Result<Owner, Error> {
        let owner = self.owner(room).await?;
        match &owner {
            Owner::Local => {
                self.join_local(room, session.user, Target::Session(session.clone(), join))
                    .await?
            }
            Owner::Remote(node) => {
                self.request(node, room, session, VoiceRequest::Join { join })
                    .await?;
            }
        }
        Ok(owner)
    }

    /// Passes a participant's request to the call's owner.
    pub async fn forward(
        &self,
        owner: &Owner,
        session: &SessionHandle,
        room: RoomId,
        request: VoiceRequest,
    ) -> Result<(), Error> {
        match owner {
            Owner::Local => self.apply_local(room, session.user, request).await,
            Owner::Remote(node) => self.request(node, room, session, request).await,
        }
    }

    /// The last known `voice.state` of each of `rooms` that has a call.
    pub async fn states(&self, rooms: &[RoomId]) -> Vec<ServerFrame> {
        self.bus
            .call_states(rooms)
            .await
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(room_id, participants)| ServerFrame::VoiceState {
                room_id,
                participants,
            })
            .collect()
    }

    /// Which node owns `room`'s call: this one when alone; in a cluster, the lease holder, this
    /// node taking the lease if nobody holds it.
    async fn owner(&self, room: RoomId) -> Result<Owner, Error> {
        match self.bus.claim_call(room).await {
            Ok(CallHost::Here) => Ok(Owner::Local),
            Ok(CallHost::Node(node)) => Ok(Owner::Remote(node)),
            Err(_) => Err(Error::Unavailable),
        }
    }

    /// Joins `user` to the local SFU; their signals go to `target`.
    async fn join_local(&self, room: RoomId, user: UserId, target: Target) -> Result<(), Error> {
        let join = Request::Join {
            room: room.0,
            user: user.0,
        };
        let Reply::Joined(mut rx) = self.sfu.request(join).await? else {
            return Err(Error::Internal(
                "the SFU answered a join without signals".into(),
            ));
        };
        let bus = self.bus.clone();
        // One task per participant (not per packet) carries its signals to its session.
        self.tasks.spawn(async move {
            while let Some(signal) = rx.recv().await {
                let ended = matches!(signal, Signal::Closed { .. });
                target.deliver(&bus, signal_for(room, signal));
                if ended {
                    break;
                }
            }
        });
        Ok(())
    }

    /// Applies a request to the local SFU.
    async fn apply_local(
        &self,
        room: RoomId,
        user: UserId,
        request: VoiceRequest,
    ) -> Result<(), Error> {
        let (room, user) = (room.0, user.0);
        let request = match request {
            VoiceRequest::Join { .. } => {
                return Err(Error::Internal("join goes through join_local".into()));
            }
            VoiceRequest::Answer { sdp } => Request::Answer { room, user, sdp },
            VoiceRequest::Candidate { candidate } => Request::Candidate {
                room,
                user,
                candidate,
            },
            VoiceRequest::Mute { muted } => Request::Mute { room, user, muted },
            VoiceRequest::Deafen { deafened } => Request::Deafen {
                room,
                user,
                deafened,
            },
            VoiceRequest::Screen { active } => Request::Screen { room, user, active },
            VoiceRequest::Leave => Request::Leave { room, user },
            VoiceRequest::Detach => Request::Detach { room, user },
        };
        self.sfu.request(request).await?;
        Ok(())
    }

    /// Publishes the SFU's room events to the room, and keeps the last state of each call.
    async fn room_events(
        self: Arc<Self>,
        mut events: mpsc::Receiver<RoomEvent>,
        shutdown: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return,
                e = events.recv() => match e { Some(e) => e, None => return },
            };
            let (room, frame) = match event {
                RoomEvent::State { room, participants } => {
                    let room = RoomId(room);
                    let participants: Vec<VoiceParticipant> =
                        participants.into_iter().map(participant).collect();
                    self.bus.save_call_state(room, &participants).await;
                    if participants.is_empty() {
                        self.bus.release_call(room);
                    }
                    let frame = ServerFrame::VoiceState {
                        room_id: room,
                        participants,
                    };
                    (room, frame)
                }
                RoomEvent::Speaking {
                    room,
                    user,
                    speaking,
                } => {
                    let room = RoomId(room);
                    let frame = ServerFrame::VoiceSpeaking {
                        room_id: room,
                        user_id: UserId(user),
                        speaking,
                    };
                    (room, frame)
                }
            };
            self.bus.publish(Event::Room { room, frame });
        }
    }
}

/// The SFU's signal for one participant, as the session (local or remote) gets it.
fn signal_for(room: RoomId, signal: Signal) -> VoiceSignal {
    match signal {
        Signal::Offer { sdp, .. } => VoiceSignal::Offer { room, sdp },
        Signal::Candidate { candidate, .. } => VoiceSignal::Candidate { room, candidate },
        Signal::Closed { reason, .. } => VoiceSignal::Ended { room, reason },
    }
}

fn participant(p: ParticipantState) -> VoiceParticipant {
    VoiceParticipant {
        user_id: UserId(p.user_id),
        muted: p.muted,
        speaking: p.speaking,
        deafened: p.deafened,
        quality: p.quality,
        screen: p.screen,
    }
}
