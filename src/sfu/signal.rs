//! The messages the SFU exchanges with the hub: per-participant signaling and room events.
//!
//! These mirror the wire contract's `voice.*` frames (docs/protocol.md): the hub wraps them
//! with the room id it already knows and serializes them for the WebSocket. Field names follow
//! the browser's types (`RTCIceCandidateInit`) so they pass through unchanged.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A participant's call quality (the wire type).
pub use crate::protocol::ws::CallQuality;
/// An ICE candidate in the browser's `RTCIceCandidateInit` shape (the wire type).
pub use crate::protocol::ws::IceCandidateInit as IceCandidate;

/// Signaling for one participant: the hub forwards each as `voice.offer`, `voice.candidate`,
/// or ends the participant's call on `Closed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A new SDP offer; the client must answer it with [`super::Request::Answer`].
    Offer {
        /// The voice room.
        room: Uuid,
        /// The SDP.
        sdp: String,
    },
    /// A server ICE candidate. The SFU puts its candidates in the offer (it is ICE-lite on one
    /// known address), so it does not trickle today; the variant keeps the contract's
    /// `voice.candidate` event possible.
    Candidate {
        /// The voice room.
        room: Uuid,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// The participant was removed from the call (replaced by a newer join, connection lost,
    /// negotiation timeout, shutdown). No further signals follow for this join.
    Closed {
        /// The voice room.
        room: Uuid,
        /// Human-readable reason, e.g. "replaced", "connection lost".
        reason: String,
    },
}

/// One participant as the room sees it (`voice.state` entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantState {
    /// The participant's user id (also the `a=msid` stream id of their audio).
    pub user_id: Uuid,
    /// Whether their microphone is not forwarded: they muted themselves, or are deafened.
    pub muted: bool,
    /// Whether they are speaking now.
    pub speaking: bool,
    /// Whether they deafened themselves: nothing is forwarded to them, nor from them.
    pub deafened: bool,
    /// Their connection's quality, judged every 2 s from loss, jitter and round-trip time.
    pub quality: CallQuality,
    /// Sharing their screen (`voice.screen`).
    pub screen: bool,
}

/// Room-wide events; the hub fans them out to every member of the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// Membership, mute, deafen or quality changed; the full list, in join order.
    State {
        /// The voice room.
        room: Uuid,
        /// Everyone in the call.
        participants: Vec<ParticipantState>,
    },
    /// A participant started or stopped speaking (at most 4 changes per second each).
    Speaking {
        /// The voice room.
        room: Uuid,
        /// Who.
        user: Uuid,
        /// Speaking now or not.
        speaking: bool,
    },
}
