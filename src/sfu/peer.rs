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
}

/// One participant; see the module docs.
pub(super) struct Peer {
    pub id: PeerId,
    pub room: Uuid,
    pub user: Uuid,
    pub ufrag: String,
    pub muted: bool,
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
            loss_in: LossMeter::default(),
            rtt,
            pc,
            _live: live,
        })
    }

    /// Starts carrying `publisher` (user `user`) on a parked slot or a new m-line.
    pub(super) fn assign_slot(&mut self, publisher: PeerId, user: Uuid) -> Result<(), SfuError> {
        if self.slots.iter().any(|s| s.publisher == Some(publisher)) {
            return Ok(());
        }
        let stream_id = user.to_string();
        if let Some(i) = self.slots.iter().position(|s| s.state == SlotState::Parked) {
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
                .replace_track(forward_track(stream_id, ssrc))
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
                    forward_track(stream_id, ssrc),
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Sendonly,
                        streams: vec![],
                        send_encodings: vec![],
                    }),
                )
                .map_err(internal)?;
            self.slots.push(Slot {
                transceiver,
                sender: RTCRtpSenderId::from(transceiver),
                ssrc,
                publisher: Some(publisher),
                state: SlotState::Pending,
                rewriter: StreamRewriter::new(rand::random(), rand::random()),
                remote_lost: 0,
                remote_jitter: 0,
                remote_fraction: 0,
            });
        }
        self.needs_offer = true;
        Ok(())
    }

    /// Stops carrying `publisher`: the slot is parked for reuse.
    pub(super) fn release_slot(&mut self, publisher: PeerId) -> Result<(), SfuError> {
        let Some(i) = self
            .slots
            .iter()
            .position(|s| s.publisher == Some(publisher))
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
            s.replace_track(forward_track("-".to_owned(), ssrc))
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
            .filter(|s| s.publisher == Some(publisher))
        {
            s.rewriter.rebase();
        }
    }

    /// Resets every slot's rewriter, so that after an undeafen each stream continues its
    /// numbering with the time passed, as after an unmute.
    pub(super) fn rebase_all_slots(&mut self) {
        for s in &mut self.slots {
            s.rewriter.rebase();
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
        let sdp = offer.sdp.clone();
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

    /// Applies the client's answer to the outstanding offer.
    pub(super) fn apply_answer(&mut self, now: Instant, sdp: String) -> Result<(), SfuError> {
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
        for s in self
            .slots
            .iter_mut()
            .filter(|s| s.state == SlotState::Offered)
        {
            s.state = SlotState::Live;
        }
        self.audio_level_id = self.negotiated_audio_level_id();
        for c in std::mem::take(&mut self.pending_candidates) {
            if let Err(e) = self.pc.add_remote_candidate(c) {
                debug!(peer = %self.user, "buffered candidate rejected: {e}");
            }
        }
        self.next_timeout = self.pc.poll_timeout();
        Ok(())
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
    pub(super) fn drain_media(
        &mut self,
        now: Instant,
        out: &mut Vec<rtc::rtp::Packet>,
        speaking_changes: &mut Vec<(PeerId, bool)>,
    ) {
        while let Some(msg) = self.pc.poll_read() {
            let pkt = match msg.message {
                RTCMessage::RtpPacket(_, pkt) => pkt,
                RTCMessage::RtcpPacket(_, packets) => {
                    self.record_reports(&packets);
                    continue;
                }
                _ => continue,
            };
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
            out.push(pkt);
        }
    }

    fn record_reports(&mut self, packets: &[Box<dyn rtc::rtcp::Packet>]) {
        for p in packets {
            let any = p.as_any();
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
    pub(super) fn forward(
        &mut self,
        now: Instant,
        publisher: PeerId,
        pkt: &rtc::rtp::Packet,
        transmits: &mut VecDeque<Transmit>,
    ) {
        if !self.connected || self.deafened {
            return;
        }
        let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| s.publisher == Some(publisher) && s.state == SlotState::Live)
        else {
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
                marker: h.marker || rw.marker,
                payload_type: OPUS_PAYLOAD_TYPE,
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
        for slot in self.slots.iter_mut().filter(|s| s.state == SlotState::Live) {
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

    /// Number of m-lines (1 + slots), for tests and logs.
    pub(super) fn m_lines(&self) -> usize {
        1 + self.slots.len()
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
/// `a=msid`), a fresh track id, and the slot's fixed SSRC.
fn forward_track(stream_id: String, ssrc: u32) -> MediaStreamTrack {
    let track_id = Uuid::new_v4().simple().to_string();
    media::opus_track(stream_id, track_id.clone(), track_id, ssrc)
}
