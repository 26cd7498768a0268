//! Voice signaling: from `voice.*` frames to the SFU, and the call's events to the room.
//!
//! A room's call lives on one node at a time, its owner, so that all of its media meets in one
//! SFU. Alone, a node owns every call. In a cluster the first join takes a lease in Redis naming
//! its node (renewed while the call has participants, released when it empties, expiring if the
//! node dies); a session on another node has its requests relayed over the bus to the owner,
//! which joins it to its SFU and relays the offers back. Media then flows between the client and
//! the owner's UDP port directly; only signaling crosses nodes.
//!
//! The SFU's room events (who is in the call, muted, speaking) are published to the room, so every
//! member hears them, in the call or not; the last `voice.state` of each call is kept (in memory,
//! or in Redis) for sessions that connect later.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::outbox::{Outgoing, SessionHandle};
use super::registry::Registry;
use crate::bus::redis::RedisBus;
use crate::bus::{Bus, Event};
use crate::protocol::ws::{IceCandidateInit, IceServer, ServerFrame, VoiceParticipant};
use crate::protocol::{RoomId, SessionId, UserId};
use crate::service::Error;
use crate::sfu::turn::{TurnConfig, ice_servers};
use crate::sfu::{ParticipantState, Reply, Request, RoomEvent, Sfu, SfuError, Signal};

/// How long a call's lease lives without renewal; the owner renews it at a third of this.
const LEASE: Duration = Duration::from_secs(30);
/// How long a relayed request waits for the owner's answer.
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

/// A signal for one session's call, local or relayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum VoiceSignal {
    /// A new SDP offer to answer.
    Offer {
        /// The call's room.
        room: RoomId,
        /// The SDP.
        sdp: String,
    },
    /// A server ICE candidate.
    Candidate {
        /// The call's room.
        room: RoomId,
        /// The candidate.
        candidate: IceCandidateInit,
    },
    /// The session is no longer in the call.
    Ended {
        /// The call's room.
        room: RoomId,
        /// Why.
        reason: String,
    },
}

impl VoiceSignal {
    fn from_sfu(room: RoomId, signal: Signal) -> VoiceSignal {
        match signal {
            Signal::Offer { sdp, .. } => VoiceSignal::Offer { room, sdp },
            Signal::Candidate { candidate, .. } => VoiceSignal::Candidate { room, candidate },
            Signal::Closed { reason, .. } => VoiceSignal::Ended { room, reason },
        }
    }

    /// The frame the client gets.
    pub fn frame(&self) -> ServerFrame {
        match self {
            VoiceSignal::Offer { room, sdp } => ServerFrame::VoiceOffer {
                room_id: *room,
                sdp: sdp.clone(),
            },
            VoiceSignal::Candidate { room, candidate } => ServerFrame::VoiceCandidate {
                room_id: *room,
                candidate: candidate.clone(),
            },
            VoiceSignal::Ended { room, reason } => ServerFrame::VoiceEnded {
                room_id: *room,
                reason: reason.clone(),
            },
        }
    }
}

/// A voice request or signal crossing from one node to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    /// The node it is for.
    pub to: String,
    /// The node it comes from.
    pub from: String,
    /// The call's room.
    pub room: RoomId,
    /// The participant.
    pub user: UserId,
    /// The participant's session (on the origin node).
    pub session: SessionId,
    /// What it says.
    pub body: RelayBody,
}

/// The content of a [`Relay`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RelayBody {
    /// Origin → owner: a request, answered by `Reply` with the same `req`.
    Request {
        /// Correlates the reply.
        req: u64,
        /// What is asked.
        request: VoiceRequest,
    },
    /// Owner → origin: the outcome of a request.
    Reply {
        /// The request answered.
        req: u64,
        /// `None` on success, else the error's code and message.
        error: Option<(String, String)>,
    },
    /// Owner → origin: a signal for the session's participation `join`.
    Signal {
        /// Which participation of the session it belongs to.
        join: u64,
        /// The signal.
        signal: VoiceSignal,
    },
}

/// What a participant asks of the call's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VoiceRequest {
    /// Join the call, as the session's participation number `join`.
    Join {
        /// Tags this participation's signals, so a late signal of an earlier one is ignored.
        join: u64,
    },
    /// Answer the last offer.
    Answer {
        /// The SDP answer.
        sdp: String,
    },
    /// A client ICE candidate.
    Candidate {
        /// The candidate.
        candidate: IceCandidateInit,
    },
    /// Mute or unmute.
    Mute {
        /// True to mute.
        muted: bool,
    },
    /// Leave the call.
    Leave,
}

/// A relayed request's outcome: `None` on success, else the error's code and message.
type WireResult = Option<(String, String)>;

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
    redis: Option<RedisBus>,
    registry: Arc<Registry>,
    tasks: TaskTracker,
    /// Last `voice.state` per room, when alone (Redis holds it in a cluster).
    states: Mutex<HashMap<RoomId, Vec<VoiceParticipant>>>,
    /// Relayed requests waiting for the owner's reply.
    pending: Mutex<HashMap<u64, oneshot::Sender<WireResult>>>,
    next_req: AtomicU64,
    /// Calls this node owns in a cluster, with the token that stops renewing their lease.
    leases: Mutex<HashMap<RoomId, CancellationToken>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl From<SfuError> for Error {
    fn from(e: SfuError) -> Error {
        let code = e.code();
        let message = e.to_string();
        match e {
            SfuError::Full { .. } | SfuError::NoOfferPending => Error::Conflict { code, message },
            SfuError::NotInCall { .. } => Error::not_found("voice call"),
            SfuError::BadSdp(_) | SfuError::BadCandidate(_) => Error::Invalid { code, message },
            SfuError::Closed => Error::Unavailable,
            SfuError::Config(_) | SfuError::Io(_) | SfuError::Internal(_) => {
                tracing::error!(error = %message, "sfu failure");
                Error::Internal(message)
            }
        }
    }
}

/// An error from the wire (a relayed reply) back into an [`Error`].
fn wire_error(code: String, message: String) -> Error {
    match code.as_str() {
        "not_in_call" => Error::not_found("voice call"),
        "invalid_sdp" | "invalid_candidate" => Error::Invalid {
            code: if code == "invalid_sdp" {
                "invalid_sdp"
            } else {
                "invalid_candidate"
            },
            message,
        },
        "voice_full" => Error::Conflict {
            code: "voice_full",
            message,
        },
        "no_offer_pending" => Error::Conflict {
            code: "no_offer_pending",
            message,
        },
        _ => Error::Unavailable,
    }
}

fn to_wire(e: &Error) -> (String, String) {
    (e.code().to_owned(), e.to_string())
}

impl Voice {
    /// Voice over `sfu`; room events arrive on `events`, relays from other nodes on `relays`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        sfu: Sfu,
        ice: IceConfig,
        bus: Bus,
        registry: Arc<Registry>,
        tasks: TaskTracker,
        events: mpsc::Receiver<RoomEvent>,
        relays: mpsc::Receiver<Relay>,
        shutdown: CancellationToken,
    ) -> Arc<Voice> {
        let voice = Arc::new(Voice {
            redis: bus.redis_bus().cloned(),
            sfu,
            ice,
            bus,
            registry,
            tasks: tasks.clone(),
            states: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_req: AtomicU64::new(1),
            leases: Mutex::new(HashMap::new()),
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
        let found: Vec<(RoomId, Vec<VoiceParticipant>)> = match &self.redis {
            None => {
                let states = lock(&self.states);
                rooms
                    .iter()
                    .filter_map(|r| states.get(r).map(|p| (*r, p.clone())))
                    .collect()
            }
            Some(redis) if !rooms.is_empty() && redis.is_up() => {
                let keys: Vec<String> = rooms.iter().map(|r| state_key(redis, *r)).collect();
                let values: Vec<Option<String>> = match redis.connection().mget(keys).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading voice states failed");
                        return Vec::new();
                    }
                };
                rooms
                    .iter()
                    .zip(values)
                    .filter_map(|(r, v)| Some((*r, serde_json::from_str(&v?).ok()?)))
                    .collect()
            }
            Some(_) => Vec::new(),
        };
        found
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(room_id, participants)| ServerFrame::VoiceState {
                room_id,
                participants,
            })
            .collect()
    }

    /// Which node owns `room`'s call: this one when alone; in a cluster, the lease holder, taking
    /// the lease if nobody holds it.
    async fn owner(&self, room: RoomId) -> Result<Owner, Error> {
        let Some(redis) = &self.redis else {
            return Ok(Owner::Local);
        };
        if !redis.is_up() {
            // Without Redis no node can tell who owns the call; better no call than a split one.
            return Err(Error::Unavailable);
        }
        let key = redis.keys().voice_lease(room);
        let mut conn = redis.connection();
        for _ in 0..3 {
            let taken: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(redis.node())
                .arg("NX")
                .arg("PX")
                .arg(LEASE.as_millis() as u64)
                .query_async(&mut conn)
                .await
                .map_err(|_| Error::Unavailable)?;
            if taken.is_some() {
                self.hold_lease(room);
                return Ok(Owner::Local);
            }
            let holder: Option<String> = conn.get(&key).await.map_err(|_| Error::Unavailable)?;
            match holder {
                Some(node) if node == redis.node() => {
                    self.hold_lease(room);
                    return Ok(Owner::Local);
                }
                Some(node) => return Ok(Owner::Remote(node)),
                // Expired between the two commands: try again.
                None => continue,
            }
        }
        Err(Error::Unavailable)
    }

    /// Renews this node's lease on `room` until the call empties.
    fn hold_lease(&self, room: RoomId) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        let token = {
            let mut leases = lock(&self.leases);
            if leases.contains_key(&room) {
                return;
            }
            let token = CancellationToken::new();
            leases.insert(room, token.clone());
            token
        };
        self.tasks.spawn(async move {
            let key = redis.keys().voice_lease(room);
            let mut tick = tokio::time::interval(LEASE / 3);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let renewed: redis::RedisResult<i64> = lease_script(RENEW)
                    .key(&key)
                    .arg(redis.node())
                    .arg(LEASE.as_millis() as u64)
                    .invoke_async(&mut redis.connection())
                    .await;
                if let Err(e) = renewed {
                    tracing::warn!(error = %e, room_id = %room, "voice lease renewal failed");
                }
            }
            let released: redis::RedisResult<i64> = lease_script(RELEASE)
                .key(&key)
                .arg(redis.node())
                .invoke_async(&mut redis.connection())
                .await;
            if let Err(e) = released {
                tracing::debug!(error = %e, "voice lease release failed");
            }
        });
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
        let registry = self.registry.clone();
        // One task per participant (not per packet) carries its signals to its session.
        self.tasks.spawn(async move {
            while let Some(signal) = rx.recv().await {
                let ended = matches!(signal, Signal::Closed { .. });
                let signal = VoiceSignal::from_sfu(room, signal);
                target.deliver(&bus, &registry, signal);
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
            VoiceRequest::Leave => Request::Leave { room, user },
        };
        self.sfu.request(request).await?;
        Ok(())
    }

    /// Sends a request to the owner node and waits for its reply.
    async fn request(
        &self,
        node: &str,
        room: RoomId,
        session: &SessionHandle,
        request: VoiceRequest,
    ) -> Result<(), Error> {
        let Some(redis) = &self.redis else {
            return Err(Error::Unavailable);
        };
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(req, tx);
        let relay = Relay {
            to: node.to_owned(),
            from: redis.node().to_owned(),
            room,
            user: session.user,
            session: session.id,
            body: RelayBody::Request { req, request },
        };
        redis.send_to_node(node, &Event::Voice(relay));
        let reply = tokio::time::timeout(RELAY_TIMEOUT, rx).await;
        lock(&self.pending).remove(&req);
        match reply {
            Ok(Ok(None)) => Ok(()),
            Ok(Ok(Some((code, message)))) => Err(wire_error(code, message)),
            _ => {
                tracing::warn!(node, room_id = %room, "voice owner did not answer");
                Err(Error::Unavailable)
            }
        }
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
            match event {
                RoomEvent::State { room, participants } => {
                    let room = RoomId(room);
                    let participants: Vec<VoiceParticipant> =
                        participants.into_iter().map(participant).collect();
                    self.remember(room, &participants).await;
                    if participants.is_empty()
                        && let Some(token) = lock(&self.leases).remove(&room)
                    {
                        token.cancel();
                    }
                    self.bus.publish(Event::Room {
                        room,
                        frame: ServerFrame::VoiceState {
                            room_id: room,
                            participants,
                        },
                    });
                }
                RoomEvent::Speaking {
                    room,
                    user,
                    speaking,
                } => {
                    let room = RoomId(room);
                    self.bus.publish(Event::Room {
                        room,
                        frame: ServerFrame::VoiceSpeaking {
                            room_id: room,
                            user_id: UserId(user),
                            speaking,
                        },
                    });
                }
            }
        }
    }

    async fn remember(&self, room: RoomId, participants: &[VoiceParticipant]) {
        match &self.redis {
            None => {
                let mut states = lock(&self.states);
                if participants.is_empty() {
                    states.remove(&room);
                } else {
                    states.insert(room, participants.to_vec());
                }
            }
            Some(redis) => {
                let key = state_key(redis, room);
                let mut conn = redis.connection();
                let result: redis::RedisResult<()> = if participants.is_empty() {
                    conn.del(key).await
                } else {
                    let json = serde_json::to_string(participants).unwrap_or_default();
                    conn.set_ex(key, json, 86_400).await
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "storing voice state failed");
                }
            }
        }
    }

    /// Handles voice relays from other nodes: requests (as the owner) and replies and signals
    /// (as the origin).
    async fn relays(
        self: Arc<Self>,
        mut relays: mpsc::Receiver<Relay>,
        shutdown: CancellationToken,
    ) {
        loop {
            let relay = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = relays.recv() => match r { Some(r) => r, None => return },
            };
            match relay.body {
                RelayBody::Reply { req, error } => {
                    if let Some(tx) = lock(&self.pending).remove(&req) {
                        let _ = tx.send(error);
                    }
                }
                RelayBody::Signal { join, signal } => {
                    if let Some(session) = self.registry.session(relay.session) {
                        session.push(Outgoing::Voice(join, signal));
                    }
                }
                RelayBody::Request { req, request } => {
                    // Requests run concurrently: a slow join must not hold up others' answers.
                    let voice = self.clone();
                    let (room, user, session, origin) =
                        (relay.room, relay.user, relay.session, relay.from);
                    self.tasks.spawn(async move {
                        let result = match request {
                            VoiceRequest::Join { join } => {
                                let target = Target::Remote {
                                    join,
                                    node: origin.clone(),
                                    session,
                                };
                                match voice.owner(room).await {
                                    Ok(Owner::Local) => voice.join_local(room, user, target).await,
                                    Ok(Owner::Remote(_)) => Err(Error::Unavailable),
                                    Err(e) => Err(e),
                                }
                            }
                            other => voice.apply_local(room, user, other).await,
                        };
                        let error = result.err().map(|e| to_wire(&e));
                        voice.send_relay(
                            &origin,
                            room,
                            user,
                            session,
                            RelayBody::Reply { req, error },
                        );
                    });
                }
            }
        }
    }

    fn send_relay(
        &self,
        node: &str,
        room: RoomId,
        user: UserId,
        session: SessionId,
        body: RelayBody,
    ) {
        if let Some(redis) = &self.redis {
            let relay = Relay {
                to: node.to_owned(),
                from: redis.node().to_owned(),
                room,
                user,
                session,
                body,
            };
            redis.send_to_node(node, &Event::Voice(relay));
        }
    }
}

/// Where a participant's signals go.
#[derive(Clone)]
enum Target {
    /// A session on this node, and its participation number.
    Session(SessionHandle, u64),
    /// A session on another node, and its participation number.
    Remote {
        node: String,
        session: SessionId,
        join: u64,
    },
}

impl Target {
    fn deliver(&self, bus: &Bus, _registry: &Registry, signal: VoiceSignal) {
        match self {
            Target::Session(session, join) => session.push(Outgoing::Voice(*join, signal)),
            Target::Remote {
                node,
                session,
                join,
            } => {
                if let Some(redis) = bus.redis_bus() {
                    let room = match &signal {
                        VoiceSignal::Offer { room, .. }
                        | VoiceSignal::Candidate { room, .. }
                        | VoiceSignal::Ended { room, .. } => *room,
                    };
                    let relay = Relay {
                        to: node.clone(),
                        from: redis.node().to_owned(),
                        room,
                        user: UserId(uuid::Uuid::nil()),
                        session: *session,
                        body: RelayBody::Signal {
                            join: *join,
                            signal,
                        },
                    };
                    redis.send_to_node(node, &Event::Voice(relay));
                }
            }
        }
    }
}

fn participant(p: ParticipantState) -> VoiceParticipant {
    VoiceParticipant {
        user_id: UserId(p.user_id),
        muted: p.muted,
        speaking: p.speaking,
    }
}

fn state_key(redis: &RedisBus, room: RoomId) -> String {
    format!("{}:state", redis.keys().voice_lease(room))
}

/// Extends the lease only if this node still holds it.
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Deletes the lease only if this node still holds it.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) else return 0 end";

fn lease_script(source: &str) -> redis::Script {
    redis::Script::new(source)
}
