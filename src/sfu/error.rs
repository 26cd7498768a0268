//! The SFU's error type: what the hub maps to `{"type":"error","code",...}` frames.
//!
//! Every error names one participant's request. None of them disturbs anyone else's call:
//! a bad answer leaves that participant's PeerConnection in its previous state, a bad
//! candidate is simply not added, and the room's other participants keep forwarding.

use uuid::Uuid;

/// Why an SFU call failed.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    /// The room already has `max` participants.
    #[error("voice room {room} is full ({max} participants)")]
    Full {
        /// The room.
        room: Uuid,
        /// The configured limit.
        max: usize,
    },
    /// The user has no participant in that room (never joined, left, or was removed).
    /// The room already has its maximum of screen sharers.
    #[error("room {room} already has {max} screen shares; one must stop first")]
    ScreenLimit {
        /// The voice room.
        room: Uuid,
        /// Sharers allowed at once.
        max: usize,
    },
    #[error("not in the voice call of room {room}")]
    NotInCall {
        /// The room.
        room: Uuid,
    },
    /// An answer arrived while no offer of the server is outstanding.
    #[error("no offer is outstanding: an answer must follow a voice.offer")]
    NoOfferPending,
    /// The SDP could not be parsed or does not fit the offer.
    #[error("malformed or unacceptable SDP: {0}")]
    BadSdp(String),
    /// The ICE candidate could not be parsed.
    #[error("malformed ICE candidate: {0}")]
    BadCandidate(String),
    /// The configuration cannot work (reported by [`super::Sfu::start`]).
    #[error("invalid SFU configuration: {0}")]
    Config(String),
    /// Binding or reading the UDP socket failed.
    #[error("SFU socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The WebRTC stack refused an operation that should not fail (a bug, not a user error).
    #[error("WebRTC internal error: {0}")]
    Internal(String),
    /// The SFU has shut down.
    #[error("the SFU is shut down")]
    Closed,
}

impl SfuError {
    /// A stable snake_case code for the wire (`{"type":"error","code":...}`).
    pub fn code(&self) -> &'static str {
        match self {
            SfuError::Full { .. } => "voice_full",
            SfuError::ScreenLimit { .. } => "screen_share_limit",
            SfuError::NotInCall { .. } => "not_in_call",
            SfuError::NoOfferPending => "no_offer_pending",
            SfuError::BadSdp(_) => "invalid_sdp",
            SfuError::BadCandidate(_) => "invalid_candidate",
            SfuError::Config(_) => "config",
            SfuError::Io(_) => "io",
            SfuError::Internal(_) => "internal",
            SfuError::Closed => "unavailable",
        }
    }
}
