//! What the hub can ask of the SFU, and what it hears back: one [`Request`] enum, one
//! [`Reply`] enum.
//!
//! Every request is spelled once, here. It travels unchanged from [`super::Sfu::request`]
//! through the SFU task (`engine.rs`) into the sans-I/O core (`core.rs`), which answers it
//! synchronously; the task sends the answer back over a oneshot. The one thing the core cannot
//! produce is the participant's signal channel, which is I/O: the task creates it when a join
//! succeeds and hands its receiving end back in [`Reply::Joined`].
//!
//! This file holds data only; it imports nothing above it in the SFU.

use tokio::sync::mpsc;
use uuid::Uuid;

use super::signal::{IceCandidate, ParticipantState, Signal};
use super::stats::ParticipantStats;

/// A request to the SFU. Who may make it (room membership) is the hub's business; the SFU
/// only checks that `user` is in the call where that matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Adds `user` to the voice call of `room`; answered with [`Reply::Joined`], whose
    /// receiver already holds the first [`Signal::Offer`]. Every other participant gets a new
    /// offer too. Joining again (a second tab) replaces the earlier join, whose channel
    /// receives [`Signal::Closed`]. Fails with [`super::SfuError::Full`] at the room limit.
    Join {
        /// The voice room.
        room: Uuid,
        /// Who joins.
        user: Uuid,
    },
    /// Applies `user`'s SDP answer to the server's outstanding offer.
    Answer {
        /// The voice room.
        room: Uuid,
        /// Whose answer.
        user: Uuid,
        /// The SDP.
        sdp: String,
    },
    /// Adds one of `user`'s trickled ICE candidates.
    Candidate {
        /// The voice room.
        room: Uuid,
        /// Whose candidate.
        user: Uuid,
        /// The candidate as the browser serialized it.
        candidate: IceCandidate,
    },
    /// Mutes or unmutes `user`: while muted, their packets are not forwarded.
    Mute {
        /// The voice room.
        room: Uuid,
        /// Who.
        user: Uuid,
        /// Muted from now on, or not.
        muted: bool,
    },
    /// Deafens or undeafens `user`: while deafened, nothing is forwarded to them (their
    /// bandwidth is saved) and their microphone is not forwarded either.
    Deafen {
        /// The voice room.
        room: Uuid,
        /// Who.
        user: Uuid,
        /// Deafened from now on, or not.
        deafened: bool,
    },
    /// `user`'s session went away without leaving (socket closed, page reloaded): their
    /// PeerConnection is closed but their place is kept for the rejoin grace, so a join
    /// within it takes the place over without a leave and join for the others.
    Detach {
        /// The voice room.
        room: Uuid,
        /// Whose session went away.
        user: Uuid,
    },
    /// Start (`active`) or stop sharing `user`'s screen: see `screen.rs`. Fails with
    /// [`super::SfuError::ScreenLimit`] when the room already has its maximum of sharers.
    Screen {
        room: Uuid,
        user: Uuid,
        active: bool,
    },
    /// Removes `user` from the call; once answered, their PeerConnection is freed.
    Leave {
        /// The voice room.
        room: Uuid,
        /// Who leaves.
        user: Uuid,
    },
    /// The call's participants in join order; answered with [`Reply::Participants`] (empty
    /// if nobody is in the call).
    Participants {
        /// The voice room.
        room: Uuid,
    },
    /// One participant's packet, byte, loss and jitter figures; answered with
    /// [`Reply::Stats`], or [`super::SfuError::NotInCall`].
    Stats {
        /// The voice room.
        room: Uuid,
        /// Whose figures.
        user: Uuid,
    },
    /// Internal table sizes and `user`'s m-line count, for leak tests; answered with
    /// [`Reply::Internals`] whether or not `user` is in the call.
    Inspect {
        /// The voice room.
        room: Uuid,
        /// Whose m-lines to count.
        user: Uuid,
    },
}

/// The answer to a [`Request`]; each request's documentation names its variant.
#[derive(Debug)]
pub enum Reply {
    /// The join took effect. The participant's signals (offers, then `Closed`) arrive here;
    /// dropping the receiver removes the participant at its next signal.
    Joined(mpsc::Receiver<Signal>),
    /// An answer, candidate, mute or leave took effect.
    Done,
    /// The call's participants in join order.
    Participants(Vec<ParticipantState>),
    /// One participant's figures.
    Stats(ParticipantStats),
    /// Internal table sizes.
    Internals(Internals),
}

/// Sizes of the SFU's internal tables, for leak tests and debugging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Internals {
    /// Rooms with participants.
    pub rooms: usize,
    /// Participants.
    pub peers: usize,
    /// ICE ufrags in the demultiplexer.
    pub ufrags: usize,
    /// Source addresses in the demultiplexer.
    pub addrs: usize,
    /// Signal senders held (by the SFU task; the core reports 0, owning none).
    pub signal_channels: usize,
    /// m-lines of the named participant's PeerConnection, if present.
    pub m_lines: Option<usize>,
}
