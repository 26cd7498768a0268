//! One participant: their PeerConnection, their outgoing slots, and their negotiation state.
//!
//! A participant's PeerConnection has one receive m-line (their microphone, always the first)
//! and one send m-line per other participant, called a *slot*. A slot keeps its m-line, SSRC
//! and [`StreamRewriter`] for the life of the PeerConnection: when the participant it carries
//! leaves, the slot is *parked* (direction inactive, `msid:-`) and the next participant to
//! join reuses it, so the SDP grows with the room's peak size, not with its history.
//!
//! Negotiation is server-driven and strictly sequential: at most one offer is outstanding;
//! changes made meanwhile set `needs_offer` and are offered once the answer arrives. A slot
//! is forwarded to only after an answer covering it was applied (before that the client
//! could not map its SSRC to the m-line).
//!
//! Nothing here touches a socket or reads a clock: the caller passes `now` and collects the
//! datagrams to send.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::BytesMut;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::{RTCIceConnectionState, RTCPeerConnectionState};
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{
    RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverId, RTCRtpTransceiverInit,
};
use rtc::sansio::Protocol;
use rtc::sdp::extmap::AUDIO_LEVEL_URI;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use rtc::statistics::StatsSelector;
use rtc::statistics::report::RTCStatsReportEntry;
use tracing::{debug, trace};
use uuid::Uuid;

use super::error::SfuError;
use super::media::{self, OPUS_PAYLOAD_TYPE};
use super::quality::{self, Figures, LossMeter};
use super::rewrite::{OPUS_CLOCK_RATE, StreamRewriter};
use super::rtcp::RttMicros;
use super::screen::{KEYFRAME_INTERVAL, REMB_INTERVAL, ScreenIn};
use super::signal::CallQuality;
use super::speaker::SpeakerDetector;
use super::stats::{ParticipantStats, SharedStats};
use super::types::{PeerId, Transmit};

/// Remote candidates kept while no answer has been applied yet.
const MAX_PENDING_CANDIDATES: usize = 32;

/// Where one slot is in its life; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Carries nobody; m-line inactive.
    Parked,
    /// Assigned, not yet in an offer.
    Pending,
    /// In the outstanding offer.
    Offered,
    /// Answered: packets flow.
    Live,
}

/// One outgoing m-line.
struct Slot {
    /// A screen-share (video) slot; otherwise a microphone (audio) one. A parked slot is only
    /// reused for the same kind.
    video: bool,
    transceiver: RTCRtpTransceiverId,
    sender: RTCRtpSenderId,
    ssrc: u32,
    publisher: Option<PeerId>,
    state: SlotState,
    rewriter: StreamRewriter,
    /// The subscriber's last reception report about this stream: cumulative loss and
    /// interarrival jitter (RTP clock units).
    remote_lost: u32,
    remote_jitter: u32,
    /// The highest fraction lost (of 256) the subscriber reported since quality was last
    /// judged.
    remote_fraction: u8,
}

/// Keeps [`SharedStats::live_peer_connections`] equal to the number of PeerConnection objects
/// alive: incremented when one is built, decremented when its owner is dropped.
struct LiveGuard(Arc<SharedStats>);

impl LiveGuard {
    fn new(stats: Arc<SharedStats>) -> Self {
        stats.live_peer_connections.fetch_add(1, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live_peer_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What draining a PeerConnection's events revealed.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Health {
    /// The transport just became connected (ICE + DTLS).
    pub connected: bool,
    /// The transport failed or closed; the participant must go.
    pub failed: bool,
}

/// Plain counters, owned by the forwarding loop.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub dropped_muted: u64,
    /// Screen-share video packets received (as a sharer) and sent (as a viewer).
    pub video_in: u64,
    pub video_out: u64,
}

/// Where [`Peer::drain_media`] puts what it read; reused buffers of the forwarding path.
#[derive(Default)]
pub(super) struct MediaOut {
    pub audio: Vec<rtc::rtp::Packet>,
    pub video: Vec<rtc::rtp::Packet>,
    pub keyframes: Vec<PeerId>,
}

impl MediaOut {
    pub(super) fn clear(&mut self) {
        self.audio.clear();
        self.video.clear();
        self.keyframes.clear();
    }
}

/// One participant; see the module docs.
pub(super) struct Peer {
    pub id: PeerId,
    pub room: Uuid,
    pub user: Uuid,
    pub ufrag: String,
    pub muted: bool,
    /// Sharing their screen (`voice.screen`): the PeerConnection has a video m-line the
    /// server receives on, and every other participant a video slot carrying it.
    pub sharing: bool,
    /// Deafened: nothing is forwarded to this participant, nor from them.
    pub deafened: bool,
    /// The last verdict on the connection (see `quality.rs`).
    pub quality: CallQuality,
    pub speaker: SpeakerDetector,
    pub connected: bool,
    pub joined_at: Instant,
    /// Last datagram of any kind from this participant.
    pub last_rx: Instant,
    pub counters: Counters,
    /// The PeerConnection's next timer, cached so the loop need not ask every PeerConnection.
    pub next_timeout: Option<Instant>,
    /// Microphone packets lost per our last receiver statistics (refreshed periodically for
    /// the process totals; exact on demand through [`Peer::stats`]).
    pub lost_in: i64,
    /// Since when the connection is gone with the place kept for a rejoin (see
    /// [`Peer::detach`]); `None` while connected or connecting.
    pub away_since: Option<Instant>,
    /// When the outstanding offer was sent; `None` when stable.
    pub offer_sent_at: Option<Instant>,
    needs_offer: bool,
    answered_once: bool,
    pending_candidates: Vec<RTCIceCandidateInit>,
    audio_level_id: Option<u8>,
    /// The address ICE reports for our side: what `handle_read` must be told the datagram was
    /// sent to, so the ICE agent finds its local candidate.
    local_addr: SocketAddr,
    slots: Vec<Slot>,
    /// The video m-line this participant shares their screen on, once they first shared.
    screen_in: Option<ScreenIn>,
    /// Keyframe requests sent to this participant as a sharer (PLI), for stats and tests.
    pub keyframe_requests: u64,
    /// Interval loss of the microphone stream, for the quality verdict.
    loss_in: LossMeter,
    /// Latest round-trip time, measured inside the PeerConnection's interceptor chain.
    rtt: RttMicros,
    pc: RTCPeerConnection,
    _live: LiveGuard,
}

fn internal(err: rtc::shared::error::Error) -> SfuError {
    SfuError::Internal(err.to_string())
}

impl Peer {
    /// Builds the PeerConnection with its microphone m-line and our host candidate.
    pub(super) fn new(
        now: Instant,
        id: PeerId,
        room: Uuid,
        user: Uuid,
        local_addr: SocketAddr,
        stats: Arc<SharedStats>,
    ) -> Result<Self, SfuError> {
        let ufrag = rtc::ice::rand::generate_ufrag();
        let pwd = rtc::ice::rand::generate_pwd();
        let rtt = RttMicros::default();
        let mut pc = media::build_peer_connection(now, (ufrag.clone(), pwd), rtt.clone())
            .map_err(internal)?;
        let live = LiveGuard::new(stats);
        pc.add_transceiver_from_kind(
            RtpCodecKind::Audio,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                streams: vec![],
                send_encodings: vec![],
            }),
        )
        .map_err(internal)?;
        media::add_host_candidate(&mut pc, local_addr).map_err(internal)?;
        Ok(Self {
            id,
            room,
            user,
            ufrag,
            muted: false,
            sharing: false,
            deafened: false,
            quality: CallQuality::Good,
            speaker: SpeakerDetector::default(),
            connected: false,
            joined_at: now,
            last_rx: now,
            counters: Counters::default(),
            next_timeout: None,
            lost_in: 0,
            away_since: None,
            offer_sent_at: None,
            needs_offer: true,
            answered_once: false,
            pending_candidates: Vec::new(),
            audio_level_id: None,
            local_addr,
            slots: Vec::new(),
            screen_in: None,
            keyframe_requests: 0,
            loss_in: LossMeter::default(),
            rtt,
            pc,
            _live: live,
        })
    }

    /// Starts carrying `publisher`'s microphone (user `user`) on a parked slot or a new m-line.
    pub(super) fn assign_slot(&mut self, publisher: PeerId, user: Uuid) -> Result<(), SfuError> {
        self.assign(publisher, user, false)
    }

    /// Starts carrying `publisher`'s shared screen on a parked video slot or a new m-line.
    pub(super) fn assign_video_slot(
        &mut self,
        publisher: PeerId,
        user: Uuid,
    ) -> Result<(), SfuError> {
        self.assign(publisher, user, true)
    }

    fn assign(&mut self, publisher: PeerId, user: Uuid, video: bool) -> Result<(), SfuError> {
        if self
            .slots
            .iter()
            .any(|s| s.publisher == Some(publisher) && s.video == video)
        {
            return Ok(());
        }
        let stream_id = user.to_string();
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.state == SlotState::Parked && s.video == video)
        {
            let (transceiver, sender, ssrc) = {
                let s = &self.slots[i];
                (s.transceiver, s.sender, s.ssrc)
            };
            // The sender handle exists only while the direction has "send", so the direction
            // changes first.
            if let Some(mut t) = self.pc.rtp_transceiver(transceiver) {
                t.set_direction(RTCRtpTransceiverDirection::Sendonly);
            }
            self.pc
                .rtp_sender(sender)
                .ok_or_else(|| SfuError::Internal("parked slot lost its sender".into()))?
                .replace_track(forward_track(stream_id, ssrc, video))
                .map_err(internal)?;
            let slot = &mut self.slots[i];
            slot.publisher = Some(publisher);
            slot.state = SlotState::Pending;
            slot.rewriter.rebase();
        } else {
            let ssrc = rand::random::<u32>();
            let transceiver = self
                .pc
                .add_transceiver_from_track(
                    forward_track(stream_id, ssrc, video),
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Sendonly,
                        streams: vec![],
                        send_encodings: vec![],
                    }),
                )
                .map_err(internal)?;
            let rewriter = if video {
                StreamRewriter::video(rand::random(), rand::random())
            } else {
                StreamRewriter::new(rand::random(), rand::random())
            };
            if video {
                // A track names one codec; the m-line offers both, so a sharer's H.264 can
                // be forwarded as well as VP8.
                self.pc
                    .rtp_transceiver(transceiver)
                    .ok_or_else(|| SfuError::Internal("new slot lost its transceiver".into()))?
                    .set_codec_preferences(media::video_codecs())
                    .map_err(internal)?;
            }
            self.slots.push(Slot {
                video,
                transceiver,
                sender: RTCRtpSenderId::from(transceiver),
                ssrc,
                publisher: Some(publisher),
                state: SlotState::Pending,
                rewriter,
                remote_lost: 0,
                remote_jitter: 0,
                remote_fraction: 0,
            });
        }
        self.needs_offer = true;
        Ok(())
    }

    /// Stops carrying `publisher` (microphone and screen): their slots are parked for reuse.
    pub(super) fn release_slot(&mut self, publisher: PeerId) -> Result<(), SfuError> {
        self.release(publisher, false)?;
        self.release(publisher, true)
    }

    /// Stops carrying `publisher`'s screen (they stopped sharing): the slot is parked.
    pub(super) fn release_video_slot(&mut self, publisher: PeerId) -> Result<(), SfuError> {
        self.release(publisher, true)
    }

    fn release(&mut self, publisher: PeerId, video: bool) -> Result<(), SfuError> {
        let Some(i) = self
            .slots
            .iter()
            .position(|s| s.publisher == Some(publisher) && s.video == video)
        else {
            return Ok(());
        };
        let (transceiver, sender, ssrc) = {
            let s = &mut self.slots[i];
            s.publisher = None;
            s.state = SlotState::Parked;
            (s.transceiver, s.sender, s.ssrc)
        };
        // `msid:-` ("no stream") so an inactive m-line never names a departed user; the
        // sender handle is only reachable before the direction loses "send".
        if let Some(mut s) = self.pc.rtp_sender(sender) {
            s.replace_track(forward_track("-".to_owned(), ssrc, video))
                .map_err(internal)?;
        }
        if let Some(mut t) = self.pc.rtp_transceiver(transceiver) {
            t.set_direction(RTCRtpTransceiverDirection::Inactive);
        }
        self.needs_offer = true;
        Ok(())
    }

    /// Resets the rewriters of the slots carrying `publisher`, so their next packet continues
    /// the outgoing numbering (after an unmute).
    pub(super) fn rebase_slot(&mut self, publisher: PeerId) {
        for s in self
            .slots
            .iter_mut()
            .filter(|s| s.publisher == Some(publisher) && !s.video)
        {
            s.rewriter.rebase();
        }
    }

    /// Resets every slot's rewriter, so that after an undeafen each stream continues its
    /// numbering with the time passed, as after an unmute.
    pub(super) fn rebase_all_slots(&mut self) {
        for s in self.slots.iter_mut().filter(|s| !s.video) {
            s.rewriter.rebase();
        }
    }

    /// Starts receiving this participant's screen: the next offer has a video m-line the
    /// server receives on (the same one each time they share again).
    pub(super) fn start_screen(&mut self) -> Result<(), SfuError> {
        match &mut self.screen_in {
            Some(screen) => {
                if let Some(mut t) = self.pc.rtp_transceiver(screen.transceiver) {
                    t.set_direction(RTCRtpTransceiverDirection::Recvonly);
                }
                screen.restart();
            }
            None => {
                let transceiver = self
                    .pc
                    .add_transceiver_from_kind(
                        RtpCodecKind::Video,
                        Some(RTCRtpTransceiverInit {
                            direction: RTCRtpTransceiverDirection::Recvonly,
                            streams: vec![],
                            send_encodings: vec![],
                        }),
                    )
                    .map_err(internal)?;
                self.screen_in = Some(ScreenIn::new(transceiver));
            }
        }
        self.sharing = true;
        self.needs_offer = true;
        Ok(())
    }

    /// Stops receiving this participant's screen: the video m-line goes inactive (kept for
    /// the next share).
    pub(super) fn stop_screen(&mut self) {
        if let Some(screen) = &self.screen_in
            && let Some(mut t) = self.pc.rtp_transceiver(screen.transceiver)
        {
            t.set_direction(RTCRtpTransceiverDirection::Inactive);
        }
        self.sharing = false;
        self.needs_offer = true;
    }

    /// Asks this sharer for a keyframe (one PLI), at most one per [`KEYFRAME_INTERVAL`].
    /// A viewer's PLI or FIR inside the interval is answered by the keyframe already asked
    /// for, so it is dropped (`defer` false); a new viewer's request inside it is sent once
    /// the interval is over (`defer` true), since the keyframe asked for may have passed
    /// before the viewer's slot was live. Returns whether a PLI was written now.
    pub(super) fn request_keyframe(
        &mut self,
        now: Instant,
        defer: bool,
        transmits: &mut VecDeque<Transmit>,
    ) -> bool {
        let Some(screen) = self.screen_in.as_mut() else {
            return false;
        };
        if !self.sharing || !self.connected {
            return false;
        }
        let recent = screen
            .last_request
            .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_INTERVAL);
        let Some(ssrc) = screen.ssrc.filter(|_| !recent) else {
            // Not yet seen a packet (the first frame is a keyframe anyway), or asked lately.
            screen.pending |= defer || screen.ssrc.is_none();
            return false;
        };
        screen.pending = false;
        screen.last_request = Some(now);
        debug!(peer = %self.user, ssrc, defer, "keyframe request to the sharer");
        let transceiver = screen.transceiver;
        let pli = rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: ssrc,
        };
        let Some(mut receiver) = self.pc.rtp_receiver(transceiver.into()) else {
            return false;
        };
        if let Err(e) = receiver.write_rtcp(now, vec![Box::new(pli)]) {
            debug!(peer = %self.user, "keyframe request failed: {e}");
            return false;
        }
        self.keyframe_requests += 1;
        self.drain_writes(transmits);
        true
    }

    /// Periodic screen-share work of a sharer: a deferred keyframe request whose interval is
    /// over, and the REMB that caps their encoder at [`media::SCREEN_BITRATE_CAP`].
    pub(super) fn screen_tick(&mut self, now: Instant, transmits: &mut VecDeque<Transmit>) {
        let Some(screen) = self.screen_in.as_mut() else {
            return;
        };
        if !self.sharing || !self.connected {
            return;
        }
        let (pending, transceiver, ssrc) = (screen.pending, screen.transceiver, screen.ssrc);
        let remb_due = screen
            .last_remb
            .is_none_or(|t| now.saturating_duration_since(t) >= REMB_INTERVAL);
        if let (true, Some(ssrc)) = (remb_due, ssrc) {
            screen.last_remb = Some(now);
            let remb = rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate {
                sender_ssrc: 0,
                bitrate: media::SCREEN_BITRATE_CAP as f32,
                ssrcs: vec![ssrc],
            };
            if let Some(mut receiver) = self.pc.rtp_receiver(transceiver.into())
                && let Err(e) = receiver.write_rtcp(now, vec![Box::new(remb)])
            {
                debug!(peer = %self.user, "REMB failed: {e}");
            }
            self.drain_writes(transmits);
        }
        if pending {
            self.request_keyframe(now, true, transmits);
        }
    }

    /// The slot that carried `old` carries `new` from now on (the same user joined again):
    /// same m-line, SSRC and msid, numbering continued, so this participant needs no offer.
    pub(super) fn repoint_slot(&mut self, old: PeerId, new: PeerId) {
        for s in self.slots.iter_mut().filter(|s| s.publisher == Some(old)) {
            s.publisher = Some(new);
            s.rewriter.rebase();
        }
    }

    /// The connection is gone but the place is kept: the PeerConnection is closed (its
    /// goodbye queued) and nothing is sent to or expected from it any more.
    pub(super) fn detach(&mut self, now: Instant, transmits: &mut VecDeque<Transmit>) {
        self.close(transmits);
        self.connected = false;
        self.offer_sent_at = None;
        self.next_timeout = None;
        self.away_since = Some(now);
    }

    /// Whether this participant's microphone is forwarded: not muted, not deafened.
    pub(super) fn publishes(&self) -> bool {
        !self.muted && !self.deafened
    }

    /// Creates and applies a new offer if something changed and none is outstanding.
    pub(super) fn offer_if_needed(&mut self, now: Instant) -> Result<Option<String>, SfuError> {
        if !self.needs_offer || self.offer_sent_at.is_some() {
            return Ok(None);
        }
        let offer = self.pc.create_offer(None).map_err(internal)?;
        let sdp = if self.sharing {
            media::cap_video_bandwidth(&offer.sdp)
        } else {
            offer.sdp.clone()
        };
        self.pc
            .set_local_description(now, offer)
            .map_err(internal)?;
        self.needs_offer = false;
        self.offer_sent_at = Some(now);
        for s in self
            .slots
            .iter_mut()
            .filter(|s| s.state == SlotState::Pending)
        {
            s.state = SlotState::Offered;
        }
        self.next_timeout = self.pc.poll_timeout();
        Ok(Some(sdp))
    }

    /// Applies the client's answer to the outstanding offer. Returns the sharers whose screen
    /// this participant now receives for the first time (each owes them a keyframe).
    pub(super) fn apply_answer(
        &mut self,
        now: Instant,
        sdp: String,
    ) -> Result<Vec<PeerId>, SfuError> {
        if self.offer_sent_at.is_none() {
            return Err(SfuError::NoOfferPending);
        }
        let answer =
            RTCSessionDescription::answer(sdp).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        self.pc
            .set_remote_description(now, answer)
            .map_err(|e| SfuError::BadSdp(e.to_string()))?;
        self.offer_sent_at = None;
        self.answered_once = true;
        let mut new_screens = Vec::new();
        for s in self
            .slots
            .iter_mut()
            .filter(|s| s.state == SlotState::Offered)
        {
            s.state = SlotState::Live;
            if let (true, Some(p)) = (s.video, s.publisher) {
                new_screens.push(p);
            }
        }
        self.audio_level_id = self.negotiated_audio_level_id();
        for c in std::mem::take(&mut self.pending_candidates) {
            if let Err(e) = self.pc.add_remote_candidate(c) {
                debug!(peer = %self.user, "buffered candidate rejected: {e}");
            }
        }
        self.next_timeout = self.pc.poll_timeout();
        Ok(new_screens)
    }

    fn negotiated_audio_level_id(&mut self) -> Option<u8> {
        let mut receiver = self.pc.rtp_receiver(0.into())?;
        receiver
            .get_parameters()
            .rtp_parameters
            .header_extensions
            .iter()
            .find(|e| e.uri == AUDIO_LEVEL_URI)
            .and_then(|e| u8::try_from(e.id).ok())
    }

    /// Adds a remote ICE candidate (buffered until the first answer is applied).
    pub(super) fn add_candidate(&mut self, init: RTCIceCandidateInit) -> Result<(), SfuError> {
        let value = init
            .candidate
            .strip_prefix("candidate:")
            .unwrap_or(&init.candidate);
        if !value.is_empty() {
            rtc::ice::candidate::unmarshal_candidate(value)
                .map_err(|e| SfuError::BadCandidate(e.to_string()))?;
        }
        if !self.answered_once {
            if self.pending_candidates.len() < MAX_PENDING_CANDIDATES {
                self.pending_candidates.push(init);
            }
            return Ok(());
        }
        self.pc
            .add_remote_candidate(init)
            .map_err(|e| SfuError::BadCandidate(e.to_string()))
    }

    /// Feeds one datagram from `from` into the PeerConnection.
    pub(super) fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.last_rx = now;
        let msg = TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.local_addr,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(data),
        };
        if let Err(e) = self.pc.handle_read(msg) {
            debug!(peer = %self.user, "datagram rejected: {e}");
        }
    }

    /// Advances the PeerConnection's timers.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.pc.handle_timeout(now) {
            debug!(peer = %self.user, "timeout handling failed: {e}");
        }
    }

    /// Moves received microphone RTP into `out` and records the reception reports the
    /// participant sends about our streams (rtc 0.21 answers RTCP itself but does not fill its
    /// remote-inbound statistics from them). Also feeds the speaker detector and the counters;
    /// packets of a muted participant are counted and dropped here.
    ///
    /// Screen video (a VP8 or H.264 payload type) of a sharer goes to `video`; the publishers
    /// this participant asked for a keyframe (PLI or FIR on one of their video slots) are
    /// added to `keyframes`.
    pub(super) fn drain_media(
        &mut self,
        now: Instant,
        out: &mut MediaOut,
        speaking_changes: &mut Vec<(PeerId, bool)>,
    ) {
        while let Some(msg) = self.pc.poll_read() {
            let pkt = match msg.message {
                RTCMessage::RtpPacket(_, pkt) => pkt,
                RTCMessage::RtcpPacket(_, packets) => {
                    self.record_reports(&packets, &mut out.keyframes);
                    continue;
                }
                _ => continue,
            };
            if media::is_video_payload_type(pkt.header.payload_type) {
                let Some(screen) = self.screen_in.as_mut().filter(|_| self.sharing) else {
                    continue;
                };
                self.counters.packets_in += 1;
                self.counters.bytes_in += (12 + pkt.payload.len()) as u64;
                self.counters.video_in += 1;
                if screen.ssrc != Some(pkt.header.ssrc) {
                    screen.ssrc = Some(pkt.header.ssrc);
                }
                out.video.push(pkt);
                continue;
            }
            if pkt.header.payload_type != OPUS_PAYLOAD_TYPE {
                continue;
            }
            self.counters.packets_in += 1;
            self.counters.bytes_in += (12 + pkt.payload.len()) as u64;
            if !self.publishes() {
                self.counters.dropped_muted += 1;
                continue;
            }
            if let Some(level) = self.audio_level(&pkt) {
                trace!(user = %self.user, level, "audio level");
                if let Some(speaking) = self.speaker.observe(level, now) {
                    speaking_changes.push((self.id, speaking));
                }
            }
            out.audio.push(pkt);
        }
    }

    fn record_reports(
        &mut self,
        packets: &[Box<dyn rtc::rtcp::Packet>],
        keyframes: &mut Vec<PeerId>,
    ) {
        use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
        use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
        for p in packets {
            let any = p.as_any();
            let asked = if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
                Some(pli.media_ssrc)
            } else {
                // The FIR entry names the stream; its media SSRC field is unused (RFC 5104).
                any.downcast_ref::<FullIntraRequest>()
                    .and_then(|fir| fir.fir.first().map(|e| e.ssrc))
            };
            if let Some(ssrc) = asked {
                debug!(peer = %self.user, ssrc, "keyframe asked for by a viewer");
                if let Some(p) = self
                    .slots
                    .iter()
                    .find(|s| s.video && s.ssrc == ssrc && s.state == SlotState::Live)
                    .and_then(|s| s.publisher)
                    && !keyframes.contains(&p)
                {
                    keyframes.push(p);
                }
                continue;
            }
            let reports = if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                &rr.reports
            } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                &sr.reports
            } else {
                continue;
            };
            for r in reports {
                if let Some(slot) = self.slots.iter_mut().find(|s| s.ssrc == r.ssrc) {
                    slot.remote_lost = r.total_lost;
                    slot.remote_jitter = r.jitter;
                    slot.remote_fraction = slot.remote_fraction.max(r.fraction_lost);
                }
            }
        }
    }

    fn audio_level(&self, pkt: &rtc::rtp::Packet) -> Option<u8> {
        let id = self.audio_level_id?;
        let ext = pkt.header.get_extension(id)?;
        ext.first().map(|b| b & 0x7f)
    }

    /// Drains state changes.
    pub(super) fn drain_events(&mut self) -> Health {
        let mut health = Health::default();
        while let Some(event) = self.pc.poll_event() {
            match event {
                RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => match state {
                    RTCPeerConnectionState::Connected if !self.connected => {
                        self.connected = true;
                        health.connected = true;
                    }
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                        health.failed = true;
                    }
                    _ => {}
                },
                RTCPeerConnectionEvent::OnIceConnectionStateChangeEvent(
                    RTCIceConnectionState::Failed,
                ) => health.failed = true,
                _ => {}
            }
        }
        health
    }

    /// Moves the PeerConnection's outgoing datagrams into `transmits` and refreshes the cached
    /// timer.
    pub(super) fn drain_writes(&mut self, transmits: &mut VecDeque<Transmit>) {
        while let Some(msg) = self.pc.poll_write() {
            transmits.push_back(Transmit {
                to: msg.transport.peer_addr,
                data: msg.message,
            });
        }
        self.next_timeout = self.pc.poll_timeout();
    }

    /// Forwards one of `publisher`'s packets on the slot carrying it.
    ///
    /// Hot path, once per packet per subscriber: a scan of this peer's slots (at most the room
    /// size), the rewrite arithmetic, and a header built on the stack with empty `Vec`s (no
    /// allocation; the payload is a reference-counted `Bytes` clone). The RFC 6464 extension
    /// is not forwarded: the SFU reports speakers itself, and forwarding it would allocate an
    /// extension list per packet per subscriber. What rtc's `write_rtp` costs after that
    /// (SRTP, interceptors) is measured in DESIGN.md.
    ///
    /// Screen video (`video`) goes the same way on the publisher's video slot, with the
    /// packet's own payload type (the offer fixed VP8's and H.264's for every m-line) and its
    /// own marker bit (the end of a frame, never a talk spurt); a deafened participant still
    /// sees a shared screen.
    pub(super) fn forward(
        &mut self,
        now: Instant,
        publisher: PeerId,
        pkt: &rtc::rtp::Packet,
        video: bool,
        transmits: &mut VecDeque<Transmit>,
    ) {
        if !self.connected || (self.deafened && !video) {
            return;
        }
        let Some(slot) = self.slots.iter_mut().find(|s| {
            s.publisher == Some(publisher) && s.video == video && s.state == SlotState::Live
        }) else {
            return;
        };
        let h = &pkt.header;
        let Some(rw) = slot
            .rewriter
            .rewrite(h.ssrc, h.sequence_number, h.timestamp, now)
        else {
            return;
        };
        let out = rtc::rtp::Packet {
            header: rtc::rtp::Header {
                version: 2,
                padding: h.padding,
                extension: false,
                marker: h.marker || (rw.marker && !video),
                payload_type: if video {
                    h.payload_type
                } else {
                    OPUS_PAYLOAD_TYPE
                },
                sequence_number: rw.seq,
                timestamp: rw.timestamp,
                ssrc: slot.ssrc,
                csrc: Vec::new(),
                extension_profile: 0,
                extensions: Vec::new(),
                extensions_padding: 0,
            },
            payload: pkt.payload.clone(),
        };
        let bytes = (12 + out.payload.len()) as u64;
        let sender = slot.sender;
        let Some(mut s) = self.pc.rtp_sender(sender) else {
            return;
        };
        match s.write_rtp(now, out) {
            Ok(()) => {
                self.counters.packets_out += 1;
                self.counters.bytes_out += bytes;
                if video {
                    self.counters.video_out += 1;
                }
            }
            Err(e) => debug!(peer = %self.user, "forward failed: {e}"),
        }
        self.drain_writes(transmits);
    }

    /// Closes the PeerConnection, queueing its goodbye (DTLS close_notify) for sending.
    pub(super) fn close(&mut self, transmits: &mut VecDeque<Transmit>) {
        if let Err(e) = self.pc.close() {
            debug!(peer = %self.user, "close failed: {e}");
        }
        while let Some(msg) = self.pc.poll_write() {
            transmits.push_back(Transmit {
                to: msg.transport.peer_addr,
                data: msg.message,
            });
        }
    }

    /// Counters plus loss and jitter from the PeerConnection's RTCP statistics.
    pub(super) fn stats(&mut self, now: Instant) -> ParticipantStats {
        let c = self.counters;
        let mut out = ParticipantStats {
            packets_in: c.packets_in,
            bytes_in: c.bytes_in,
            packets_out: c.packets_out,
            bytes_out: c.bytes_out,
            dropped_muted: c.dropped_muted,
            ..Default::default()
        };
        out.round_trip = f64::from(self.rtt.load(Ordering::Relaxed)) / 1e6;
        let inbound = self.inbound(now);
        out.lost_in = inbound.lost;
        out.jitter_in = inbound.jitter_s;
        let clock = f64::from(OPUS_CLOCK_RATE);
        for slot in &self.slots {
            out.lost_out += i64::from(slot.remote_lost);
            out.jitter_out = out.jitter_out.max(f64::from(slot.remote_jitter) / clock);
        }
        out
    }

    /// The microphone stream's totals from the PeerConnection's receiver statistics.
    fn inbound(&mut self, now: Instant) -> Inbound {
        // rtc 0.21 documents `jitter` in seconds but stores the RTCP report's raw value, which
        // is in RTP clock units (48 kHz for Opus).
        let clock = f64::from(OPUS_CLOCK_RATE);
        let mut totals = Inbound::default();
        let report = self.pc.get_stats(now, StatsSelector::None);
        for entry in report.iter() {
            if let RTCStatsReportEntry::InboundRtp(s) = entry {
                let r = &s.received_rtp_stream_stats;
                totals.received += r.packets_received;
                totals.lost += r.packets_lost;
                totals.jitter_s = totals.jitter_s.max(r.jitter / clock);
            }
        }
        self.lost_in = totals.lost;
        totals
    }

    /// Judges the connection over the interval since the last judgment (see `quality.rs`);
    /// returns the verdict if it changed. A participant not yet connected keeps "good".
    pub(super) fn judge_quality(&mut self, now: Instant) -> Option<CallQuality> {
        if !self.connected {
            return None;
        }
        let inbound = self.inbound(now);
        let mut f = Figures {
            loss: self.loss_in.interval(inbound.received, inbound.lost),
            jitter_s: inbound.jitter_s,
            rtt_s: None,
        };
        let clock = f64::from(OPUS_CLOCK_RATE);
        for slot in self
            .slots
            .iter_mut()
            .filter(|s| s.state == SlotState::Live && !s.video)
        {
            f.loss = f.loss.max(f64::from(slot.remote_fraction) / 256.0);
            f.jitter_s = f.jitter_s.max(f64::from(slot.remote_jitter) / clock);
            slot.remote_fraction = 0;
        }
        let rtt_us = self.rtt.load(Ordering::Relaxed);
        if rtt_us > 0 {
            f.rtt_s = Some(f64::from(rtt_us) / 1e6);
        }
        let verdict = quality::judge(&f);
        trace!(user = %self.user, ?f, ?verdict, "call quality");
        (verdict != self.quality).then(|| {
            self.quality = verdict;
            verdict
        })
    }

    /// The sharers whose screen this participant receives on a live slot.
    pub(super) fn watched_screens(&self) -> Vec<PeerId> {
        self.slots
            .iter()
            .filter(|s| s.video && s.state == SlotState::Live)
            .filter_map(|s| s.publisher)
            .collect()
    }

    /// Number of m-lines (1 + the screen m-line once shared + slots), for tests and logs.
    pub(super) fn m_lines(&self) -> usize {
        1 + usize::from(self.screen_in.is_some()) + self.slots.len()
    }
}

/// Cumulative figures of the microphone stream.
#[derive(Debug, Default)]
struct Inbound {
    received: u64,
    lost: i64,
    jitter_s: f64,
}

/// The track a slot sends: stream id = the publisher's user id (what the client reads from
/// `a=msid`), a fresh track id (`screen-…` for a shared screen), and the slot's fixed SSRC.
fn forward_track(stream_id: String, ssrc: u32, video: bool) -> MediaStreamTrack {
    let id = Uuid::new_v4().simple();
    if video {
        let track_id = format!("screen-{id}");
        media::video_track(stream_id, track_id.clone(), track_id, ssrc)
    } else {
        let track_id = id.to_string();
        media::opus_track(stream_id, track_id.clone(), track_id, ssrc)
    }
}
