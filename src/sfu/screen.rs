//! Screen share: the sharer's side of it, and the timing of keyframe requests.
//!
//! A participant who shares (`voice.screen`) gets a video m-line in their PeerConnection that
//! the server receives on; every other participant gets a video slot (see `peer.rs`) carrying
//! it, forwarded exactly like a microphone (SSRC, sequence number and timestamp rewriting;
//! slot parked and reused when the share stops). What video needs beyond audio:
//! - **Keyframes.** A viewer can only start decoding at a keyframe, and the sharer's encoder
//!   sends one only at the start or when asked. The SFU asks (one PLI to the sharer) whenever
//!   a viewer's video slot goes live, and when a viewer reports picture loss (PLI or FIR on its
//!   slot). Requests are coalesced: at most one per [`KEYFRAME_INTERVAL`] per sharer. A
//!   viewer's PLI inside the interval is dropped (the keyframe asked for is on its way); a new
//!   viewer inside it is remembered and asked for when the interval ends, so a new viewer sees
//!   a picture within about `KEYFRAME_INTERVAL` plus a round trip. Viewers' RTCP is never
//!   relayed to the sharer as it is: each PeerConnection terminates its own.
//! - **Retransmissions.** Each viewer's NACKs are answered from that viewer's own send history
//!   of the stream, sized for video (`media::VIDEO_NACK_HISTORY`); a lossy viewer costs only
//!   its own resends and never slows the sharer or the others.
//! - **Bandwidth.** The sharer's encoder is capped at `media::SCREEN_BITRATE_CAP`: `b=AS` and
//!   `b=TIAS` on the video m-line of the offer, and a REMB every [`REMB_INTERVAL`].
//!   No viewer's feedback lowers it: the SFU does not adapt one viewer's stream (no simulcast),
//!   so it does not let one viewer's loss degrade everyone's picture.

use std::time::{Duration, Instant};

use rtc::rtp_transceiver::RTCRtpTransceiverId;

/// At most one keyframe request per sharer this often.
pub(super) const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);
/// How often the sharer is sent the REMB bitrate cap.
pub(super) const REMB_INTERVAL: Duration = Duration::from_secs(1);
/// Screen sharers per call by default (`voice.screen` beyond it: `screen_share_limit`).
pub const DEFAULT_MAX_SHARERS: usize = 2;

/// A sharer's video m-line and keyframe-request state.
#[derive(Debug)]
pub(super) struct ScreenIn {
    pub transceiver: RTCRtpTransceiverId,
    /// The sharer's video SSRC, learned from their packets (what a PLI names).
    pub ssrc: Option<u32>,
    /// When the last keyframe request went out.
    pub last_request: Option<Instant>,
    /// A request is owed once the interval is over (or once the SSRC is known).
    pub pending: bool,
    pub last_remb: Option<Instant>,
}

impl ScreenIn {
    pub(super) fn new(transceiver: RTCRtpTransceiverId) -> Self {
        Self {
            transceiver,
            ssrc: None,
            last_request: None,
            pending: false,
            last_remb: None,
        }
    }

    /// A new share on the same m-line: a new track, so a new SSRC may come.
    pub(super) fn restart(&mut self) {
        self.ssrc = None;
        self.pending = false;
        self.last_remb = None;
    }
}
