//! Frames between the nodes of a cluster: voice signaling relayed from a participant's node to
//! the node that owns the call, and back.
//!
//! A call lives on one node (its owner, who holds the call's lease on the bus). A session on
//! another node sends its voice requests to the owner as [`Relay`]s over the bus's directed
//! channel, and the owner answers each with a `Reply` and sends the participant's signals
//! (offers, candidates, the end) back the same way. These types sit here, below both the bus
//! that carries them and the hub that makes and reads them, so neither has to know the other.
//! They are not part of the client contract: only Confab nodes of one version speak them.

use serde::{Deserialize, Serialize};

use super::ws::{IceCandidateInit, ServerFrame};
use super::{RoomId, SessionId, UserId};

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
    /// The call's room.
    pub fn room(&self) -> RoomId {
        match self {
            VoiceSignal::Offer { room, .. }
            | VoiceSignal::Candidate { room, .. }
            | VoiceSignal::Ended { room, .. } => *room,
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
    /// Deafen or undeafen.
    Deafen {
        /// True to deafen.
        deafened: bool,
    },
    /// Start or stop sharing the screen.
    Screen {
        /// True to start.
        active: bool,
    },
    /// The participant's session went away without leaving: keep the place for the grace.
    Detach,
    /// Leave the call.
    Leave,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relayed_signal_survives_the_wire_and_names_its_room() {
        let room = RoomId::new();
        let relay = Relay {
            to: "node-b".into(),
            from: "node-a".into(),
            room,
            user: UserId::new(),
            session: SessionId::new(),
            body: RelayBody::Signal {
                join: 3,
                signal: VoiceSignal::Offer {
                    room,
                    sdp: "v=0".into(),
                },
            },
        };
        let back: Relay = serde_json::from_str(&serde_json::to_string(&relay).unwrap()).unwrap();
        assert_eq!(back, relay);
        let RelayBody::Signal { signal, .. } = back.body else {
            panic!("not a signal")
        };
        assert_eq!(signal.room(), room);
        assert!(
            matches!(signal.frame(), ServerFrame::VoiceOffer { room_id, .. } if room_id == room)
        );
    }
}
