//! Voice requests and signals between a participant's node and the node hosting the call.
//!
//! The origin sends each request as a [`Relay`] to the host's node channel and waits (at most
//! [`RELAY_TIMEOUT`]) for the `Reply` with the same number; the host applies it to its SFU
//! and sends the participant's signals back tagged with the participation they belong to. The
//! bus carries the frames ([`Bus::send_to_node`]); this module numbers, matches and applies them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Owner, Voice};
use crate::bus::{Bus, Event};
use crate::hub::outbox::{Outgoing, SessionHandle};
use crate::protocol::cluster::{Relay, RelayBody, VoiceRequest, VoiceSignal};
use crate::protocol::{RoomId, SessionId, UserId};
use crate::service::Error;

/// How long a relayed request waits for the host's answer.
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

/// A relayed request's outcome: `None` on success, else the error's code and message.
type WireResult = Option<(String, String)>;

/// Requests this node relayed, waiting for their replies.
#[derive(Default)]
pub(super) struct Pending {
    waiting: Mutex<HashMap<u64, oneshot::Sender<WireResult>>>,
    next: AtomicU64,
}

impl Pending {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<WireResult>>> {
        // Each update is one insert or remove: a panic cannot leave the map half-changed.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a participant's signals go.
#[derive(Clone)]
pub(super) enum Target {
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
    /// Hands a signal to the session it is for, on this node or over the bus.
    pub(super) fn deliver(&self, bus: &Bus, signal: VoiceSignal) {
        match self {
            Target::Session(session, join) => session.push(Outgoing::Voice(*join, signal)),
            Target::Remote {
                node,
                session,
                join,
            } => {
                let body = RelayBody::Signal {
                    join: *join,
                    signal: signal.clone(),
                };
                let nobody = UserId(uuid::Uuid::nil());
                send(bus, node, signal.room(), nobody, *session, body);
            }
        }
    }
}

/// Sends one relay frame to `node`.
fn send(bus: &Bus, node: &str, room: RoomId, user: UserId, session: SessionId, body: RelayBody) {
    let relay = Relay {
        to: node.to_owned(),
        from: bus.node().to_owned(),
        room,
        user,
        session,
        body,
    };
    bus.send_to_node(node, &Event::Voice(relay));
}

/// An error from the wire (a relayed reply) back into an [`Error`].
fn wire_error(code: String, message: String) -> Error {
    match code.as_str() {
        "not_in_call" => Error::not_found("voice call"),
        "invalid_sdp" => Error::Invalid {
            code: "invalid_sdp",
            message,
        },
        "invalid_candidate" => Error::Invalid {
            code: "invalid_candidate",
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
    /// Sends a request to the host node and waits for its reply.
    pub(super) async fn request(
        &self,
        node: &str,
        room: RoomId,
        session: &SessionHandle,
        request: VoiceRequest,
    ) -> Result<(), Error> {
        if !self.bus.is_cluster() {
            return Err(Error::Unavailable);
        }
        let req = self.pending.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.pending.waiting().insert(req, tx);
        let body = RelayBody::Request { req, request };
        send(&self.bus, node, room, session.user, session.id, body);
        let reply = tokio::time::timeout(RELAY_TIMEOUT, rx).await;
        self.pending.waiting().remove(&req);
        match reply {
            Ok(Ok(None)) => Ok(()),
            Ok(Ok(Some((code, message)))) => Err(wire_error(code, message)),
            _ => {
                tracing::warn!(node, room_id = %room, "voice host did not answer");
                Err(Error::Unavailable)
            }
        }
    }

    /// Handles voice relays from other nodes: requests (as the host) and replies and signals
    /// (as the origin).
    pub(super) async fn relays(
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
                    if let Some(tx) = self.pending.waiting().remove(&req) {
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
                    let origin = (relay.from, relay.room, relay.user, relay.session);
                    self.tasks
                        .spawn(async move { voice.answer_remote(origin, req, request).await });
                }
            }
        }
    }

    /// Applies a request relayed from `origin` (node, room, user, session) and replies.
    async fn answer_remote(
        &self,
        (node, room, user, session): (String, RoomId, UserId, SessionId),
        req: u64,
        request: VoiceRequest,
    ) {
        let result = match request {
            VoiceRequest::Join { join } => {
                let target = Target::Remote {
                    join,
                    node: node.clone(),
                    session,
                };
                match self.owner(room).await {
                    Ok(Owner::Local) => self.join_local(room, user, target).await,
                    Ok(Owner::Remote(_)) => Err(Error::Unavailable),
                    Err(e) => Err(e),
                }
            }
            other => self.apply_local(room, user, other).await,
        };
        let error = result.err().map(|e| to_wire(&e));
        send(
            &self.bus,
            &node,
            room,
            user,
            session,
            RelayBody::Reply { req, error },
        );
    }
}
