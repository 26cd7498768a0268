//! A simulated browser: one sans-I/O rtc PeerConnection configured as a browser is against
//! our server (full ICE, controlling; DTLS active), with a microphone that sends one
//! 20 ms "Opus" packet per frame while connected.
//!
//! It owns no socket and reads no clock: the simulated network (`super::Sim`) hands it the
//! server's datagrams and offers with the current simulated instant, drains what it writes,
//! and calls its timers when they are due. Like the test kit's real client it answers every
//! offer, sends its microphone on the first m-line, and records each received packet with the
//! publisher that the current offer's `a=msid` names for its SSRC.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::sansio::Protocol;
use rtc::sdp::extmap::AUDIO_LEVEL_URI;
use rtc::shared::error::Error;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use uuid::Uuid;

use crate::sfu::media;
use crate::sfu::types::PeerId;

/// One microphone packet every this long.
pub(super) const FRAME: Duration = Duration::from_millis(20);
/// RTP timestamp ticks per frame at Opus' 48 kHz clock.
const FRAME_TICKS: u32 = 960;
/// Bytes of every microphone payload: the user id, a counter, filler.
const PAYLOAD_LEN: usize = 80;
/// The RFC 6464 level of silence (-dBov).
pub(super) const SILENT: u8 = 127;

/// One RTP packet a client received.
#[derive(Debug, Clone)]
pub(super) struct Received {
    /// The publisher per the current offer's `a=msid` (`None` if its SSRC is not offered).
    pub stream_id: Option<String>,
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
    /// Who sent it, read from the payload.
    pub sender: Option<Uuid>,
}

/// A server-sending m-line of the current offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stream {
    pub mid: String,
    /// The `a=msid` stream id: the publisher's user id, or `-` for a parked slot.
    pub stream_id: String,
    pub ssrc: Option<u32>,
    /// Whether the server sends on it (`sendonly`), as opposed to a parked, inactive slot.
    pub sending: bool,
}

/// See the module docs.
pub(super) struct Client {
    pub user: Uuid,
    pub room: Uuid,
    pub addr: SocketAddr,
    /// The core's id for this client's current join.
    pub peer: Option<PeerId>,
    /// A client that went offline sends nothing and is sent nothing (a vanished browser).
    pub online: bool,
    pub publishing: bool,
    /// The RFC 6464 level of the packets sent from now on.
    pub level: u8,
    pub connected: bool,
    /// The reason of `Signal::Closed`, once received.
    pub closed: Option<String>,
    pub offers: usize,
    /// The m-lines after the first (ours) of the current offer, in order.
    pub streams: Vec<Stream>,
    pub received: Vec<Received>,
    /// Microphone packets handed to the PeerConnection.
    pub sent: u64,
    /// Of every `.1` media (SRTP) datagrams the server sends it, loses the first `.0`, as a
    /// lossy downlink would (resends included); handshakes and RTCP get through.
    pub lose: (u32, u32),
    media_seen: u32,
    server: SocketAddr,
    pc: Option<RTCPeerConnection>,
    mic: Option<(RTCRtpSenderId, u32)>,
    level_ext: Option<u8>,
    seq: u16,
    ts: u32,
    counter: u32,
    next_frame: Option<Instant>,
}

impl Client {
    /// A client at `addr` that will talk to the server at `server`; no PeerConnection until
    /// the first offer.
    pub(super) fn new(user: Uuid, room: Uuid, addr: SocketAddr, server: SocketAddr) -> Self {
        Self {
            user,
            room,
            addr,
            peer: None,
            online: true,
            publishing: true,
            level: SILENT,
            connected: false,
            closed: None,
            offers: 0,
            streams: Vec::new(),
            received: Vec::new(),
            sent: 0,
            lose: (0, 1),
            media_seen: 0,
            server,
            pc: None,
            mic: None,
            level_ext: None,
            seq: rand::random(),
            ts: rand::random(),
            counter: 0,
            next_frame: None,
        }
    }

    /// The SSRC our microphone sends with (what the server must rewrite away).
    pub(super) fn mic_ssrc(&self) -> Option<u32> {
        self.mic.map(|(_, ssrc)| ssrc)
    }

    /// Packets received from `user`'s microphone, in arrival order.
    pub(super) fn heard_from(&self, user: Uuid) -> impl Iterator<Item = &Received> {
        self.received.iter().filter(move |r| r.sender == Some(user))
    }

    /// The server-sending streams of the current offer, by publisher.
    pub(super) fn live_streams(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .streams
            .iter()
            .filter(|s| s.sending && s.stream_id != "-")
            .map(|s| s.stream_id.as_str())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Applies a server offer and returns the answer, as a browser's `setRemoteDescription`,
    /// `addTrack` (first offer only), `createAnswer`, `setLocalDescription` would.
    pub(super) fn accept_offer(&mut self, now: Instant, sdp: String) -> Result<String, Error> {
        if self.pc.is_none() {
            let mut pc = browser_peer_connection(now)?;
            media::add_host_candidate(&mut pc, self.addr)?;
            self.pc = Some(pc);
        }
        let pc = self.pc.as_mut().expect("built above");
        pc.set_remote_description(now, RTCSessionDescription::offer(sdp.clone())?)?;
        if self.mic.is_none() {
            // add_track takes the first unused audio transceiver: the offer's first m-line.
            let ssrc = rand::random::<u32>();
            let stream = self.user.to_string();
            let track = media::opus_track(stream, Uuid::new_v4().to_string(), "mic".into(), ssrc);
            self.mic = Some((pc.add_track(track)?, ssrc));
        }
        let answer = pc.create_answer(None)?;
        let answer_sdp = answer.sdp.clone();
        pc.set_local_description(now, answer)?;
        self.level_ext = self.mic.and_then(|(sender, _)| {
            pc.rtp_sender(sender)?
                .get_parameters()
                .rtp_parameters
                .header_extensions
                .iter()
                .find(|e| e.uri == AUDIO_LEVEL_URI)
                .and_then(|e| u8::try_from(e.id).ok())
        });
        self.streams = offered_streams(&sdp);
        self.offers += 1;
        Ok(answer_sdp)
    }

    /// One datagram from the server.
    pub(super) fn receive(&mut self, now: Instant, data: BytesMut) {
        if self.lost_on_the_way(&data) {
            return;
        }
        let Some(pc) = self.pc.as_mut() else {
            return;
        };
        let msg = TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.addr,
                peer_addr: self.server,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: data,
        };
        // A browser drops what it cannot read; so does the simulated one.
        let _ = pc.handle_read(msg);
        self.drain(now);
    }

    /// Whether the simulated downlink loses this datagram (see [`Client::lose`]); only SRTP
    /// counts (first byte 128..=191, RTCP's packet types 200..=207 excluded).
    fn lost_on_the_way(&mut self, data: &[u8]) -> bool {
        let is_rtp = matches!(data, [128..=191, pt, ..] if !(200..=207).contains(pt));
        let (lost, of) = self.lose;
        if lost == 0 || !is_rtp {
            return false;
        }
        self.media_seen = self.media_seen.wrapping_add(1);
        self.media_seen % of.max(1) < lost
    }

    /// When this client next wants [`Client::handle_timeout`].
    pub(super) fn poll_timeout(&mut self) -> Option<Instant> {
        let pc = self.pc.as_mut()?.poll_timeout();
        match (pc, self.next_frame) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the PeerConnection's due timers and sends the microphone frame if one is due.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if let Some(pc) = self.pc.as_mut()
            && pc.poll_timeout().is_some_and(|t| t <= now)
        {
            let _ = pc.handle_timeout(now);
        }
        if let Some(at) = self.next_frame
            && at <= now
        {
            self.send_frame(now);
            self.next_frame = Some(at + FRAME);
        }
        self.drain(now);
    }

    /// The next datagram this client sends: (destination, bytes).
    pub(super) fn poll_write(&mut self) -> Option<(SocketAddr, BytesMut)> {
        let msg = self.pc.as_mut()?.poll_write()?;
        Some((msg.transport.peer_addr, msg.message))
    }

    /// Records received RTP and follows the connection state; the microphone starts on the
    /// first frame boundary after the transport is up.
    fn drain(&mut self, now: Instant) {
        let Some(pc) = self.pc.as_mut() else {
            return;
        };
        while let Some(msg) = pc.poll_read() {
            if let RTCMessage::RtpPacket(_, pkt) = msg.message {
                let h = &pkt.header;
                let stream_id = self
                    .streams
                    .iter()
                    .find(|s| s.ssrc == Some(h.ssrc))
                    .map(|s| s.stream_id.clone());
                let sender = pkt.payload.get(..16).and_then(|b| Uuid::from_slice(b).ok());
                self.received.push(Received {
                    stream_id,
                    ssrc: h.ssrc,
                    seq: h.sequence_number,
                    timestamp: h.timestamp,
                    marker: h.marker,
                    sender,
                });
            }
        }
        while let Some(event) = pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = event {
                self.connected = s == RTCPeerConnectionState::Connected;
                if self.connected && self.next_frame.is_none() {
                    self.next_frame = Some(now);
                }
            }
        }
    }

    /// Hands one microphone packet to the PeerConnection (SRTP happens there).
    fn send_frame(&mut self, now: Instant) {
        let (Some(pc), Some((sender, ssrc))) = (self.pc.as_mut(), self.mic) else {
            return;
        };
        if !self.publishing || !self.connected {
            return;
        }
        let mut payload = BytesMut::with_capacity(PAYLOAD_LEN);
        payload.put_slice(self.user.as_bytes());
        payload.put_u32(self.counter);
        payload.resize(PAYLOAD_LEN, 0xAB);
        let level = self.level_ext.map(|id| (id, self.level));
        let pkt = media::microphone_packet((self.seq, self.ts, ssrc), level, payload.freeze());
        // Like a browser, the microphone's counters run on whether or not a packet got out.
        self.counter = self.counter.wrapping_add(1);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(FRAME_TICKS);
        if let Some(mut s) = pc.rtp_sender(sender)
            && s.write_rtp(now, pkt).is_ok()
        {
            self.sent += 1;
        }
    }
}

/// A PeerConnection as a browser has it against our server: default (full) ICE, which makes
/// it the controlling agent against an ICE-lite offerer, our codecs, NACK and RTCP reports.
fn browser_peer_connection(now: Instant) -> Result<RTCPeerConnection, Error> {
    use rtc::interceptor::Registry;
    use rtc::peer_connection::RTCPeerConnectionBuilder;
    use rtc::peer_connection::configuration::interceptor_registry::{
        configure_nack, configure_rtcp_reports,
    };
    let mut engine = media::media_engine()?;
    let registry = configure_rtcp_reports(configure_nack(Registry::new(), &mut engine));
    RTCPeerConnectionBuilder::new()
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .build(now)
}

/// The m-lines of an offer after the first (the client's microphone), read from the SDP text
/// the way a browser client reads `a=msid`.
fn offered_streams(sdp: &str) -> Vec<Stream> {
    let mut out: Vec<Stream> = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            out.push(Stream {
                mid: String::new(),
                stream_id: String::new(),
                ssrc: None,
                sending: false,
            });
            continue;
        }
        let Some(s) = out.last_mut() else {
            continue;
        };
        if let Some(mid) = line.strip_prefix("a=mid:") {
            s.mid = mid.to_owned();
        } else if let Some(msid) = line.strip_prefix("a=msid:") {
            s.stream_id = msid.split_whitespace().next().unwrap_or_default().into();
        } else if line == "a=sendonly" {
            s.sending = true;
        } else if let Some(rest) = line.strip_prefix("a=ssrc:")
            && s.ssrc.is_none()
        {
            s.ssrc = rest.split_whitespace().next().and_then(|v| v.parse().ok());
        }
    }
    out.into_iter().skip(1).collect()
}
