//! A real WebRTC voice client for tests and load generation.
//!
//! It speaks the same contract a browser does: it answers the server's offers, sends a
//! "microphone" on the first m-line, and receives the other participants on the rest. Under
//! the hood it is one sans-I/O `rtc` PeerConnection (full ICE, controlling, as a browser is
//! against our ICE-lite server) driven by its own task with its own UDP socket on loopback,
//! so tests exercise real ICE, DTLS and SRTP. Signaling is left to the caller: feed it
//! offers with [`TestClient::accept_offer`] and carry its answers to the server (directly with
//! `Request::Answer`, or over the WebSocket in confab's tests and `confab-bench`).
//!
//! The microphone sends a 20 ms "Opus-sized" packet every 20 ms while publishing, on a fixed
//! grid so the rate is exactly 50/s: 16 bytes of the user id, a 4-byte counter, the send time
//! (Unix µs, 8 bytes, for delay measurements), filler up to [`PAYLOAD_LEN`], with the RFC 6464
//! audio level set by [`TestClient::set_level`]. Received packets are reported with the
//! publisher's user id read from the current offer's `a=msid` for their SSRC, so tests can
//! check that each stream is who it claims to be.
//!
//! Screen share: after [`TestClient::set_sharing`]`(true)` and an offer with a video m-line
//! the server receives on, the client sends a synthetic VP8 "screen" at 30 frames per second:
//! each frame [`VIDEO_PACKETS`] (a keyframe [`KEYFRAME_PACKETS`]) RTP packets of
//! [`VIDEO_PAYLOAD_LEN`] bytes with a VP8 payload descriptor and frame header a receiver can
//! classify (see [`ReceivedPacket::is_keyframe_start`]), then the sharer's user id, a frame
//! counter, a packet counter and the send time (see [`screen_payload`]). The first frame and
//! every frame after a PLI or FIR is a keyframe; the requests received are counted in
//! [`ClientState::keyframe_requests`], and the bitrate caps (REMB) the server sends are
//! recorded in [`ClientState::rembs`], as a browser's encoder would obey them. As a viewer the
//! client can send PLIs ([`TestClient::request_keyframe`]), can drop arriving video packets
//! once ([`TestClient::drop_video`]) so that its NACKs must be answered, and can claim heavy
//! loss it did not have ([`TestClient::claim_loss`]), as a receiver on a bad link reports it.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::sansio::Protocol;
use rtc::sdp::extmap::AUDIO_LEVEL_URI;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use confab::sfu::media;

/// Bytes of every microphone payload (a typical 20 ms Opus frame at ~32 kbit/s is 60-100).
pub const PAYLOAD_LEN: usize = 80;
/// One microphone packet every this long.
pub const FRAME: Duration = Duration::from_millis(20);
/// One screen frame every this long (30 fps).
pub const VIDEO_FRAME: Duration = Duration::from_micros(33_333);
/// RTP packets of a delta frame.
pub const VIDEO_PACKETS: usize = 2;
/// RTP packets of a keyframe.
pub const KEYFRAME_PACKETS: usize = 8;
/// Bytes of every video payload.
pub const VIDEO_PAYLOAD_LEN: usize = 1000;
/// Offset of the sharer's user id in a video payload (after the descriptor and frame header);
/// the frame counter, the packet counter and the send time follow it.
const VIDEO_ID_OFFSET: usize = 11;
const VIDEO_FRAME_OFFSET: usize = VIDEO_ID_OFFSET + 16;
const VIDEO_COUNTER_OFFSET: usize = VIDEO_FRAME_OFFSET + 4;
const VIDEO_SENT_AT_OFFSET: usize = VIDEO_COUNTER_OFFSET + 4;
/// The loss a [`TestClient::claim_loss`] report claims: all but 1/256 of the packets, and this
/// many in all (the field has 24 bits).
const CLAIMED_LOST: u32 = 0x7f_ffff;
/// NACK entries a [`TestClient::claim_loss`] sends per screen, each naming 17 packets.
const CLAIMED_NACK_PAIRS: u16 = 4;

/// How far the microphone may fall behind its grid (a stalled task) before it skips the
/// missed frames instead of sending them in a burst.
const MAX_LAG: Duration = Duration::from_millis(200);

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TestClientError {
    /// The offer could not be applied or answered.
    #[error("negotiation failed: {0}")]
    Negotiation(String),
    /// The client task is gone.
    #[error("the client task stopped")]
    Stopped,
    /// Socket setup failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// One RTP packet the client received.
#[derive(Debug, Clone)]
pub struct ReceivedPacket {
    /// The publisher per the current offer's `a=msid` (`None` if its SSRC is unknown).
    pub stream_id: Option<String>,
    /// SSRC as received.
    pub ssrc: u32,
    /// Sequence number as received.
    pub seq: u16,
    /// RTP timestamp as received.
    pub timestamp: u32,
    /// Marker bit.
    pub marker: bool,
    /// Payload type as received.
    pub payload_type: u8,
    /// Payload (for our own clients: user id, counter, send time, filler).
    pub payload: Bytes,
}

impl ReceivedPacket {
    /// Whether this is screen video (a VP8 or H.264 payload type).
    pub fn is_video(&self) -> bool {
        media::is_video_payload_type(self.payload_type)
    }

    /// Whether this VP8 packet starts a keyframe: the payload descriptor's S bit with
    /// partition 0, and the frame tag's P bit clear (RFC 7741 §4.2-4.3).
    pub fn is_keyframe_start(&self) -> bool {
        self.payload_type == media::VP8_PAYLOAD_TYPE
            && self.payload.len() > 1
            && self.payload[0] & 0x1f == 0x10
            && self.payload[1] & 0x01 == 0
    }

    /// The user id a test client embedded in the payload.
    pub fn sender(&self) -> Option<Uuid> {
        let at = if self.is_video() { VIDEO_ID_OFFSET } else { 0 };
        let bytes: [u8; 16] = self.payload.get(at..at + 16)?.try_into().ok()?;
        Some(Uuid::from_bytes(bytes))
    }

    /// The frame counter a sharing test client embedded in a video payload.
    pub fn frame(&self) -> Option<u32> {
        be_u32(&self.payload, VIDEO_FRAME_OFFSET)
    }

    /// The counter a test client embedded in the payload: of microphone packets, or of screen
    /// packets on video (one per packet, so a gap is a lost packet).
    pub fn counter(&self) -> Option<u32> {
        let at = if self.is_video() {
            VIDEO_COUNTER_OFFSET
        } else {
            16
        };
        be_u32(&self.payload, at)
    }

    /// When a test client sent the packet (Unix µs, its wall clock), embedded in the payload.
    pub fn sent_at_us(&self) -> Option<u64> {
        let at = if self.is_video() {
            VIDEO_SENT_AT_OFFSET
        } else {
            20
        };
        let bytes: [u8; 8] = self.payload.get(at..at + 8)?.try_into().ok()?;
        Some(u64::from_be_bytes(bytes))
    }
}

fn be_u32(payload: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = payload.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// The payload of one synthetic screen packet, [`VIDEO_PAYLOAD_LEN`] bytes: a VP8 payload
/// descriptor (the S bit on a frame's `first` packet, partition 0), a frame tag (P bit clear on
/// a `keyframe`, show_frame set) and for a keyframe the start code and a 1280x720 size, padded
/// to a fixed header length; then `user`'s id, the `frame` and packet `counter`s and the send
/// time (Unix µs), then filler. The bench's bare relay sends the same bytes.
pub fn screen_payload(user: Uuid, frame: u32, counter: u32, keyframe: bool, first: bool) -> Bytes {
    let mut payload = BytesMut::with_capacity(VIDEO_PAYLOAD_LEN);
    payload.put_u8(if first { 0x10 } else { 0x00 });
    payload.put_u8(if keyframe { 0x10 } else { 0x11 });
    payload.put_slice(&[0, 0]);
    if keyframe {
        payload.put_slice(&[0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02]);
    } else {
        payload.put_slice(&[0; 7]);
    }
    payload.put_slice(user.as_bytes());
    payload.put_u32(frame);
    payload.put_u32(counter);
    payload.put_u64(unix_us());
    payload.resize(VIDEO_PAYLOAD_LEN, 0xCD);
    payload.freeze()
}

/// The sender, packet counter and send time of a [`screen_payload`]; `None` if too short.
pub fn screen_fields(payload: &[u8]) -> Option<(Uuid, u32, u64)> {
    let id: [u8; 16] = payload
        .get(VIDEO_ID_OFFSET..VIDEO_ID_OFFSET + 16)?
        .try_into()
        .ok()?;
    let sent: [u8; 8] = payload
        .get(VIDEO_SENT_AT_OFFSET..VIDEO_SENT_AT_OFFSET + 8)?
        .try_into()
        .ok()?;
    Some((
        Uuid::from_bytes(id),
        be_u32(payload, VIDEO_COUNTER_OFFSET)?,
        u64::from_be_bytes(sent),
    ))
}

/// A bitrate cap (REMB, draft-alvestrand-rmcat-remb) the client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remb {
    /// The cap, bits per second.
    pub bitrate: u64,
    /// The SSRCs it applies to.
    pub ssrcs: Vec<u32>,
}

/// Observable client state.
#[derive(Debug, Clone, Default)]
pub struct ClientState {
    /// ICE and DTLS are up.
    pub connected: bool,
    /// Microphone packets sent.
    pub sent: u64,
    /// Offers answered.
    pub offers: u64,
    /// Current offer's sending m-lines as (mid, stream id), in m-line order.
    pub remote_streams: Vec<(String, String)>,
    /// The last offer's SDP.
    pub last_offer: String,
    /// The current offer's server-sending video m-lines as (mid, stream id, track id).
    pub remote_screens: Vec<(String, String, String)>,
    /// Screen-share video packets sent.
    pub video_sent: u64,
    /// Keyframes sent.
    pub keyframes_sent: u64,
    /// Keyframe requests (PLI or FIR) received about our screen.
    pub keyframe_requests: u64,
    /// The SSRC our screen is sent with, once the server offered to receive it.
    pub screen_ssrc: Option<u32>,
    /// Bitrate caps (REMB) received.
    pub rembs: u64,
    /// The last of them.
    pub last_remb: Option<Remb>,
    /// The lowest cap received so far, bits per second.
    pub lowest_remb: Option<u64>,
}

enum Cmd {
    Offer(String, oneshot::Sender<Result<String, TestClientError>>),
    Publish(bool),
    Level(u8),
    Share(bool),
    Pli,
    ClaimLoss,
}

/// A voice client; see the module docs. Dropping it stops its task without a goodbye (like a
/// crashed browser); [`TestClient::close`] says goodbye first.
pub struct TestClient {
    /// The user this client joins as.
    pub user: Uuid,
    local_addr: SocketAddr,
    sources: Arc<Mutex<BTreeSet<SocketAddr>>>,
    cmds: mpsc::Sender<Cmd>,
    drop_every: Arc<DropConfig>,
    packets: mpsc::Receiver<ReceivedPacket>,
    state: watch::Receiver<ClientState>,
    stop: Option<oneshot::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl TestClient {
    /// Binds a loopback UDP socket and starts the client task (not yet negotiated).
    pub async fn start(user: Uuid) -> Result<TestClient, TestClientError> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let local_addr = socket.local_addr()?;
        let (cmd_tx, cmd_rx) = mpsc::channel(16);
        let (pkt_tx, pkt_rx) = mpsc::channel(4096);
        let (state_tx, state_rx) = watch::channel(ClientState::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let sources = Arc::new(Mutex::new(BTreeSet::new()));
        let drop_every = Arc::new(DropConfig::default());
        let driver = Driver {
            user,
            socket,
            local_addr,
            sources: sources.clone(),
            pc: None,
            mic: None,
            level_ext: None,
            screen: None,
            sharing: false,
            drop_every: drop_every.clone(),
            dropper: DropVideo::default(),
            publishing: true,
            level: 127,
            seq: rand::random(),
            ts: rand::random(),
            counter: 0,
            next_frame: Instant::now(),
            ssrc_streams: HashMap::new(),
            screen_in_offer: false,
            video_ssrcs: Vec::new(),
            last_video_seq: HashMap::new(),
            packets: pkt_tx,
            state: state_tx,
        };
        let task = tokio::spawn(driver.run(cmd_rx, stop_rx));
        Ok(TestClient {
            user,
            local_addr,
            sources,
            cmds: cmd_tx,
            drop_every,
            packets: pkt_rx,
            state: state_rx,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// The client's UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every address a datagram reached this client from, so far.
    pub fn sources(&self) -> BTreeSet<SocketAddr> {
        self.sources.lock().expect("not poisoned").clone()
    }

    /// A cloneable handle for the signaling side (a task answering offers).
    pub fn handle(&self) -> ClientHandle {
        ClientHandle {
            cmds: self.cmds.clone(),
        }
    }

    /// Applies a server offer and returns the SDP answer to send back.
    pub async fn accept_offer(&self, sdp: String) -> Result<String, TestClientError> {
        self.handle().accept_offer(sdp).await
    }

    /// Starts or stops sending microphone packets (on by default).
    pub async fn set_publishing(&self, on: bool) {
        self.handle().set_publishing(on).await;
    }

    /// Sets the RFC 6464 level (-dBov, 0 loudest, 127 silent) of the packets sent from now on.
    pub async fn set_level(&self, level: u8) {
        self.handle().set_level(level).await;
    }

    /// Starts or stops sending the synthetic screen (the server must be told with
    /// `voice.screen` / `Request::Screen`; video flows once its offer has the m-line).
    pub async fn set_sharing(&self, on: bool) {
        let _ = self.cmds.send(Cmd::Share(on)).await;
    }

    /// Sends a PLI for every screen this client receives (as a decoder that lost its picture).
    pub async fn request_keyframe(&self) {
        let _ = self.cmds.send(Cmd::Pli).await;
    }

    /// Reports heavy loss of every screen this client receives, though it lost nothing: one
    /// receiver report saying all but 1/256 of the packets were lost (cumulative loss at the
    /// field's maximum), and a NACK of the last 68 packets received of each screen (the server
    /// resends them; the duplicates are discarded by SRTP's replay check). Call it repeatedly
    /// to look like a receiver on a very bad link.
    pub async fn claim_loss(&self) {
        let _ = self.cmds.send(Cmd::ClaimLoss).await;
    }

    /// Drops, the first time it arrives, every video packet whose sequence number is a
    /// multiple of `n` (0: drop nothing), below the NACK generator: the client NACKs them and
    /// receives them only if the server resends.
    pub fn drop_video(&self, n: u32) {
        self.drop_every.every.store(n, Ordering::Relaxed);
    }

    /// Video packets [`TestClient::drop_video`] dropped so far.
    pub fn video_dropped(&self) -> u64 {
        self.drop_every.dropped.load(Ordering::Relaxed)
    }

    /// Video datagrams that reached the client's socket so far, resends and duplicates
    /// included (counted before [`TestClient::drop_video`] and SRTP's replay check).
    pub fn video_datagrams(&self) -> u64 {
        self.drop_every.arrived.load(Ordering::Relaxed)
    }

    /// The next received packet, or `None` after `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Option<ReceivedPacket> {
        tokio::time::timeout(timeout, self.packets.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits for at least one received packet and moves up to `limit` of those waiting into
    /// `buf`; returns how many (0 once the client task has stopped). One wake-up per batch,
    /// for consumers that must keep up with many streams.
    pub async fn recv_many(&mut self, buf: &mut Vec<ReceivedPacket>, limit: usize) -> usize {
        self.packets.recv_many(buf, limit).await
    }

    /// Discards packets received so far.
    pub fn clear_received(&mut self) {
        while self.packets.try_recv().is_ok() {}
    }

    /// Current state.
    pub fn state(&self) -> ClientState {
        self.state.borrow().clone()
    }

    /// A receiver of the state's changes, for a task that watches the state while it also
    /// receives packets (which [`TestClient::wait_state`] would not let it borrow).
    pub fn watch_state(&self) -> watch::Receiver<ClientState> {
        self.state.clone()
    }

    /// Waits until `pred` holds for the state, or `timeout`; returns whether it did.
    pub async fn wait_state(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&ClientState) -> bool,
    ) -> bool {
        tokio::time::timeout(timeout, self.state.wait_for(|s| pred(s)))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Closes the PeerConnection (DTLS close_notify) and stops the task.
    pub async fn close(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops the task abruptly, as a crashed or disconnected browser would: no goodbye.
    pub async fn vanish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(false);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The commanding half of a [`TestClient`], cloneable into signaling tasks.
#[derive(Clone)]
pub struct ClientHandle {
    cmds: mpsc::Sender<Cmd>,
}

impl ClientHandle {
    /// Applies a server offer and returns the SDP answer to send back.
    pub async fn accept_offer(&self, sdp: String) -> Result<String, TestClientError> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(Cmd::Offer(sdp, tx))
            .await
            .map_err(|_| TestClientError::Stopped)?;
        rx.await.map_err(|_| TestClientError::Stopped)?
    }

    /// Starts or stops sending microphone packets.
    pub async fn set_publishing(&self, on: bool) {
        let _ = self.cmds.send(Cmd::Publish(on)).await;
    }

    /// Sets the RFC 6464 level of the packets sent from now on.
    pub async fn set_level(&self, level: u8) {
        let _ = self.cmds.send(Cmd::Level(level)).await;
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The client task's state.
struct Driver {
    user: Uuid,
    socket: UdpSocket,
    local_addr: SocketAddr,
    sources: Arc<Mutex<BTreeSet<SocketAddr>>>,
    pc: Option<RTCPeerConnection>,
    mic: Option<(RTCRtpSenderId, u32)>,
    level_ext: Option<u8>,
    screen: Option<ScreenOut>,
    sharing: bool,
    drop_every: Arc<DropConfig>,
    dropper: DropVideo,
    publishing: bool,
    level: u8,
    seq: u16,
    ts: u32,
    counter: u32,
    next_frame: Instant,
    ssrc_streams: HashMap<u32, String>,
    /// The current offer has a video m-line the server receives our screen on.
    screen_in_offer: bool,
    /// SSRCs of the screens the current offer sends us.
    video_ssrcs: Vec<u32>,
    /// The sequence number of the latest video packet received, per SSRC (what
    /// [`TestClient::claim_loss`] NACKs).
    last_video_seq: HashMap<u32, u16>,
    packets: mpsc::Sender<ReceivedPacket>,
    state: watch::Sender<ClientState>,
}

impl Driver {
    async fn run(mut self, mut cmds: mpsc::Receiver<Cmd>, mut stop: oneshot::Receiver<bool>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let now = Instant::now();
            if let Some(pc) = self.pc.as_mut()
                && pc.poll_timeout().is_some_and(|t| t <= now)
            {
                let _ = pc.handle_timeout(now);
            }
            if let Some(due) = self.screen.as_ref().map(|s| s.next_frame)
                && now >= due
            {
                self.send_video_frame(now);
            }
            if now >= self.next_frame {
                self.send_frame(now);
                // A fixed grid keeps the rate at exactly one frame per FRAME whatever the
                // wake-up latency; only a long stall skips ahead rather than bursting.
                self.next_frame += FRAME;
                if now.saturating_duration_since(self.next_frame) > MAX_LAG {
                    self.next_frame = now + FRAME;
                }
            }
            self.pump().await;
            let deadline = self
                .pc
                .as_mut()
                .and_then(|pc| pc.poll_timeout())
                .map_or(self.next_frame, |t| t.min(self.next_frame));
            let deadline = match self.screen.as_ref() {
                Some(s) if self.sharing => deadline.min(s.next_frame),
                _ => deadline,
            };
            tokio::select! {
                goodbye = &mut stop => {
                    if goodbye.unwrap_or(false)
                        && let Some(pc) = self.pc.as_mut()
                    {
                        let _ = pc.close();
                        self.pump().await;
                    }
                    return;
                }
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Offer(sdp, reply)) => {
                        let _ = reply.send(self.accept_offer(sdp));
                    }
                    Some(Cmd::Publish(on)) => self.publishing = on,
                    Some(Cmd::Level(level)) => self.level = level.min(127),
                    Some(Cmd::Share(on)) => self.sharing = on,
                    Some(Cmd::Pli) => self.send_plis(),
                    Some(Cmd::ClaimLoss) => self.claim_loss(),
                    None => return,
                },
                res = self.socket.recv_from(&mut buf) => {
                    if let Ok((_, from)) = res {
                        self.sources.lock().expect("not poisoned").insert(from);
                    }
                    if let Ok((n, _)) = res
                        && self.dropper.drops(&self.drop_every, &buf[..n])
                    {
                        continue;
                    }
                    if let (Ok((n, from)), Some(pc)) = (res, self.pc.as_mut()) {
                        let _ = pc.handle_read(TaggedBytesMut {
                            now: Instant::now(),
                            transport: TransportContext {
                                local_addr: self.local_addr,
                                peer_addr: from,
                                ecn: None,
                                transport_protocol: TransportProtocol::UDP,
                            },
                            message: BytesMut::from(&buf[..n]),
                        });
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
        }
    }

    /// Sends queued datagrams, delivers received RTP, and tracks the connection state.
    async fn pump(&mut self) {
        let Some(pc) = self.pc.as_mut() else { return };
        while let Some(msg) = pc.poll_read() {
            if let RTCMessage::RtcpPacket(_, packets) = &msg.message {
                let asked = packets
                    .iter()
                    .filter(|p| {
                        p.as_any().is::<PictureLossIndication>()
                            || p.as_any().is::<FullIntraRequest>()
                    })
                    .count() as u64;
                if asked > 0 {
                    if let Some(s) = self.screen.as_mut() {
                        s.keyframe_due = true;
                    }
                    self.state.send_modify(|st| st.keyframe_requests += asked);
                }
                for remb in rembs(packets) {
                    let got = Remb {
                        bitrate: remb.bitrate as u64,
                        ssrcs: remb.ssrcs.clone(),
                    };
                    self.state.send_modify(|st| {
                        st.rembs += 1;
                        st.lowest_remb =
                            Some(st.lowest_remb.map_or(got.bitrate, |l| l.min(got.bitrate)));
                        st.last_remb = Some(got);
                    });
                }
            }
            if let RTCMessage::RtpPacket(_, pkt) = msg.message {
                let h = &pkt.header;
                if media::is_video_payload_type(h.payload_type) {
                    self.last_video_seq.insert(h.ssrc, h.sequence_number);
                }
                let received = ReceivedPacket {
                    stream_id: self.ssrc_streams.get(&h.ssrc).cloned(),
                    ssrc: h.ssrc,
                    seq: h.sequence_number,
                    timestamp: h.timestamp,
                    marker: h.marker,
                    payload_type: h.payload_type,
                    payload: pkt.payload.clone(),
                };
                let _ = self.packets.try_send(received);
            }
        }
        while let Some(event) = pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = event {
                let connected = s == RTCPeerConnectionState::Connected;
                self.state.send_modify(|st| st.connected = connected);
            }
        }
        while let Some(msg) = pc.poll_write() {
            let _ = self
                .socket
                .send_to(&msg.message, msg.transport.peer_addr)
                .await;
        }
    }

    fn accept_offer(&mut self, sdp: String) -> Result<String, TestClientError> {
        let err = |e: rtc::shared::error::Error| TestClientError::Negotiation(e.to_string());
        let now = Instant::now();
        if self.pc.is_none() {
            let mut pc = client_peer_connection(now).map_err(err)?;
            media::add_host_candidate(&mut pc, self.local_addr).map_err(err)?;
            self.pc = Some(pc);
        }
        let Some(pc) = self.pc.as_mut() else {
            return Err(TestClientError::Stopped);
        };
        let offer = RTCSessionDescription::offer(sdp.clone()).map_err(err)?;
        pc.set_remote_description(now, offer).map_err(err)?;
        if self.mic.is_none() {
            // The first m-line is ours to send on: add_track picks the first unused audio
            // transceiver, which is the one the offer's first m-line created.
            let ssrc = rand::random::<u32>();
            let track = media::opus_track(
                self.user.to_string(),
                Uuid::new_v4().to_string(),
                "mic".to_owned(),
                ssrc,
            );
            let sender = pc.add_track(track).map_err(err)?;
            self.mic = Some((sender, ssrc));
        }
        if self.screen.is_none()
            && let Some(target) = screen_in_mid(&sdp)
        {
            // The server receives video on `target`: ours to share on. `add_track` takes the
            // first video transceiver without a sender, so the screens we receive before it
            // get a sender that never sends (their direction stays recvonly), as a browser
            // client attaches its screen to the transceiver of that mid.
            let (mut sender, mut ssrc) = (None, 0);
            for _ in 0..64 {
                ssrc = rand::random::<u32>();
                let track = media::video_track(
                    self.user.to_string(),
                    format!("screen-{}", Uuid::new_v4().simple()),
                    "screen".to_owned(),
                    ssrc,
                );
                let id = pc.add_track(track).map_err(err)?;
                let transceiver = pc
                    .get_transceivers()
                    .collect::<Vec<_>>()
                    .into_iter()
                    .find(|t| pc.rtp_transceiver(*t).and_then(|t| t.sender()) == Some(id));
                let Some(mut t) = transceiver.and_then(|t| pc.rtp_transceiver(t)) else {
                    break;
                };
                if t.mid().as_deref() == Some(target.as_str()) {
                    sender = Some(id);
                    break;
                }
                // A screen we receive: its sender never sends.
                t.set_direction(rtc::rtp_transceiver::RTCRtpTransceiverDirection::Recvonly);
            }
            let sender = sender.ok_or_else(|| {
                TestClientError::Negotiation("no transceiver for the screen m-line".into())
            })?;
            self.screen = Some(ScreenOut {
                sender,
                ssrc,
                seq: rand::random(),
                ts: rand::random(),
                frame: 0,
                counter: 0,
                keyframe_due: true,
                next_frame: now,
            });
            self.state.send_modify(|st| st.screen_ssrc = Some(ssrc));
        }
        let answer = pc.create_answer(None).map_err(err)?;
        let answer_sdp = answer.sdp.clone();

        pc.set_local_description(now, answer).map_err(err)?;
        if let Some((sender, _)) = self.mic
            && let Some(mut s) = pc.rtp_sender(sender)
        {
            self.level_ext = s
                .get_parameters()
                .rtp_parameters
                .header_extensions
                .iter()
                .find(|e| e.uri == AUDIO_LEVEL_URI)
                .and_then(|e| u8::try_from(e.id).ok());
        }
        let streams = sending_streams(&sdp);
        self.ssrc_streams = streams
            .iter()
            .flat_map(|s| s.ssrcs.iter().map(|ssrc| (*ssrc, s.stream_id.clone())))
            .collect();
        self.state.send_modify(|st| {
            st.offers += 1;
            st.last_offer.clone_from(&sdp);
            st.remote_streams = streams
                .iter()
                .filter(|s| !s.video)
                .map(|s| (s.mid.clone(), s.stream_id.clone()))
                .collect();
            st.remote_screens = streams
                .iter()
                .filter(|s| s.video)
                .map(|s| (s.mid.clone(), s.stream_id.clone(), s.track_id.clone()))
                .collect();
        });
        self.screen_in_offer = offers_screen_in(&sdp);
        self.video_ssrcs = streams
            .iter()
            .filter(|s| s.video)
            .flat_map(|s| s.ssrcs.iter().copied())
            .collect();
        Ok(answer_sdp)
    }

    /// Sends one synthetic VP8 frame (a keyframe when one is due) if sharing and the current
    /// offer receives our screen.
    fn send_video_frame(&mut self, now: Instant) {
        let user = self.user;
        let connected = self.state.borrow().connected;
        let active = self.sharing && self.screen_in_offer && connected;
        let (Some(pc), Some(screen)) = (self.pc.as_mut(), self.screen.as_mut()) else {
            return;
        };
        screen.next_frame += VIDEO_FRAME;
        if now.saturating_duration_since(screen.next_frame) > MAX_LAG {
            screen.next_frame = now + VIDEO_FRAME;
        }
        if !active {
            screen.keyframe_due = true;
            return;
        }
        let key = std::mem::take(&mut screen.keyframe_due);
        let packets = if key { KEYFRAME_PACKETS } else { VIDEO_PACKETS };
        let mut sent = 0;
        for i in 0..packets {
            let payload = screen_payload(user, screen.frame, screen.counter, key, i == 0);
            let pkt = rtc::rtp::Packet {
                header: rtc::rtp::Header {
                    version: 2,
                    payload_type: media::VP8_PAYLOAD_TYPE,
                    sequence_number: screen.seq,
                    timestamp: screen.ts,
                    ssrc: screen.ssrc,
                    marker: i + 1 == packets,
                    ..Default::default()
                },
                payload,
            };
            let Some(mut s) = pc.rtp_sender(screen.sender) else {
                return;
            };
            if s.write_rtp(now, pkt).is_ok() {
                screen.seq = screen.seq.wrapping_add(1);
                screen.counter = screen.counter.wrapping_add(1);
                sent += 1;
            }
        }
        screen.frame = screen.frame.wrapping_add(1);
        screen.ts = screen.ts.wrapping_add(3000);
        self.state.send_modify(|st| {
            st.video_sent += sent;
            st.keyframes_sent += u64::from(key);
        });
    }

    /// Sends a PLI about every screen the current offer sends us.
    fn send_plis(&mut self) {
        let (Some(pc), Some((sender, ssrc))) = (self.pc.as_mut(), self.mic) else {
            return;
        };
        let plis: Vec<Box<dyn rtc::rtcp::Packet>> = self
            .video_ssrcs
            .iter()
            .map(|media_ssrc| {
                Box::new(PictureLossIndication {
                    sender_ssrc: ssrc,
                    media_ssrc: *media_ssrc,
                }) as Box<dyn rtc::rtcp::Packet>
            })
            .collect();
        if plis.is_empty() {
            return;
        }
        if let Some(mut s) = pc.rtp_sender(sender) {
            let _ = s.write_rtcp(Instant::now(), plis);
        }
    }

    /// See [`TestClient::claim_loss`]. The report and each NACK go in RTCP packets of their
    /// own, as rtc routes a compound packet by the SSRC its first part names.
    fn claim_loss(&mut self) {
        let (Some(pc), Some((sender, ssrc))) = (self.pc.as_mut(), self.mic) else {
            return;
        };
        let Some(mut s) = pc.rtp_sender(sender) else {
            return;
        };
        let now = Instant::now();
        let mut packets: Vec<Box<dyn rtc::rtcp::Packet>> = Vec::new();
        let reports: Vec<ReceptionReport> = self
            .video_ssrcs
            .iter()
            .filter_map(|media| {
                let last = self.last_video_seq.get(media)?;
                Some(ReceptionReport {
                    ssrc: *media,
                    fraction_lost: 255,
                    total_lost: CLAIMED_LOST,
                    last_sequence_number: u32::from(*last),
                    ..Default::default()
                })
            })
            .collect();
        if reports.is_empty() {
            return;
        }
        let _ = s.write_rtcp(
            now,
            vec![Box::new(ReceiverReport {
                ssrc,
                reports,
                ..Default::default()
            })],
        );
        for media in &self.video_ssrcs {
            let Some(last) = self.last_video_seq.get(media) else {
                continue;
            };
            // Pairs of (first, the 16 after it): the last 17 × CLAIMED_NACK_PAIRS packets.
            let nacks = (1..=CLAIMED_NACK_PAIRS)
                .map(|k| NackPair {
                    packet_id: last.wrapping_sub(17 * k - 1),
                    lost_packets: 0xffff,
                })
                .collect();
            packets.push(Box::new(TransportLayerNack {
                sender_ssrc: ssrc,
                media_ssrc: *media,
                nacks,
            }));
        }
        for nack in packets {
            let _ = s.write_rtcp(now, vec![nack]);
        }
    }

    fn send_frame(&mut self, now: Instant) {
        let (Some(pc), Some((sender, ssrc))) = (self.pc.as_mut(), self.mic) else {
            return;
        };
        if !self.publishing || !self.state.borrow().connected {
            return;
        }
        let mut payload = BytesMut::with_capacity(PAYLOAD_LEN);
        payload.put_slice(self.user.as_bytes());
        payload.put_u32(self.counter);
        payload.put_u64(unix_us());
        payload.resize(PAYLOAD_LEN, 0xAB);
        let level = self.level_ext.map(|id| (id, self.level));
        let pkt = media::microphone_packet((self.seq, self.ts, ssrc), level, payload.freeze());
        let Some(mut s) = pc.rtp_sender(sender) else {
            return;
        };
        if s.write_rtp(now, pkt).is_ok() {
            self.counter = self.counter.wrapping_add(1);
            self.seq = self.seq.wrapping_add(1);
            self.ts = self.ts.wrapping_add(960);
            self.state.send_modify(|st| st.sent += 1);
        }
    }
}

/// The wall clock in Unix microseconds (0 before 1970).
fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn client_peer_connection(now: Instant) -> Result<RTCPeerConnection, rtc::shared::error::Error> {
    use rtc::interceptor::{Registry, Slot};
    use rtc::peer_connection::RTCPeerConnectionBuilder;
    use rtc::peer_connection::configuration::interceptor_registry::{
        configure_nack, configure_rtcp_reports,
    };
    let mut engine = media::media_engine()?;
    // A browser's encoder reads the REMBs the SFU sends; rtc ends them inside the chain
    // unless they are marked for the application, so they are let through with the reports.
    let feedback = media::FeedbackToApplication::also(|p| rembs(p).next().is_some());
    let registry = configure_rtcp_reports(configure_nack(Registry::new(), &mut engine))
        .with(Slot::Custom(media::FEEDBACK_SLOT), feedback);
    RTCPeerConnectionBuilder::new()
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .build(now)
}

/// One m-line of an offer on which the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingStream {
    /// The m-line's mid.
    pub mid: String,
    /// The `a=msid` stream id: the publisher's user id.
    pub stream_id: String,
    /// The `a=msid` track id (`screen-…` on a screen share).
    pub track_id: String,
    /// Its SSRCs.
    pub ssrcs: Vec<u32>,
    /// A video m-line (a shared screen).
    pub video: bool,
}

/// Whether `sdp` has a video m-line on which the server receives (`a=recvonly`): ours to
/// share the screen on.
fn offers_screen_in(sdp: &str) -> bool {
    screen_in_mid(sdp).is_some()
}

/// The mid of the video m-line on which the server receives our screen.
fn screen_in_mid(sdp: &str) -> Option<String> {
    let (mut video, mut mid) = (false, String::new());
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            video = line.starts_with("m=video");
        } else if let Some(m) = line.strip_prefix("a=mid:") {
            mid = m.to_owned();
        } else if video && line == "a=recvonly" {
            return Some(mid);
        }
    }
    None
}

/// Our outgoing screen.
struct ScreenOut {
    sender: RTCRtpSenderId,
    ssrc: u32,
    seq: u16,
    ts: u32,
    frame: u32,
    /// Packets sent, for the payload's packet counter.
    counter: u32,
    keyframe_due: bool,
    next_frame: Instant,
}

/// What [`TestClient::drop_video`] drops, how many it did, and how many video datagrams
/// arrived in all.
#[derive(Default)]
struct DropConfig {
    every: AtomicU32,
    dropped: AtomicU64,
    arrived: AtomicU64,
}

/// Drops arriving video packets once each, at the socket (before SRTP, whose replay check
/// would refuse a resend of a packet it already saw): the RTP header is not encrypted.
#[derive(Default)]
struct DropVideo {
    /// Sequence numbers dropped once, recently (a resend of one passes).
    dropped: std::collections::VecDeque<(u32, u16)>,
}

impl DropVideo {
    /// Whether to drop `datagram` (per `cfg`), remembering it so its resend passes.
    fn drops(&mut self, cfg: &DropConfig, datagram: &[u8]) -> bool {
        if datagram.len() < 12
            || datagram[0] >> 6 != 2
            || !media::is_video_payload_type(datagram[1] & 0x7f)
        {
            return false;
        }
        cfg.arrived.fetch_add(1, Ordering::Relaxed);
        let every = cfg.every.load(Ordering::Relaxed);
        if every == 0 {
            return false;
        }
        let seq = u16::from_be_bytes([datagram[2], datagram[3]]);
        let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);
        if !seq.is_multiple_of(every as u16) || self.dropped.contains(&(ssrc, seq)) {
            return false;
        }
        if self.dropped.len() == 256 {
            self.dropped.pop_front();
        }
        self.dropped.push_back((ssrc, seq));
        cfg.dropped.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// The server-sending m-lines of an offer (direction `sendonly`, stream id not `-`), read from
/// the SDP text the way a browser client reads `a=msid`.
pub fn sending_streams(sdp: &str) -> Vec<SendingStream> {
    let mut out = Vec::new();
    let mut current: Option<(SendingStream, bool)> = None;
    let flush = |cur: Option<(SendingStream, bool)>, out: &mut Vec<SendingStream>| {
        if let Some((s, sending)) = cur
            && sending
            && !s.stream_id.is_empty()
            && s.stream_id != "-"
        {
            out.push(s);
        }
    };
    for line in sdp.lines() {
        let line = line.trim_end();
        if line.starts_with("m=") {
            flush(current.take(), &mut out);
            current = Some((
                SendingStream {
                    mid: String::new(),
                    stream_id: String::new(),
                    track_id: String::new(),
                    ssrcs: Vec::new(),
                    video: line.starts_with("m=video"),
                },
                false,
            ));
            continue;
        }
        let Some((s, sending)) = current.as_mut() else {
            continue;
        };
        if let Some(mid) = line.strip_prefix("a=mid:") {
            s.mid = mid.to_owned();
        } else if let Some(msid) = line.strip_prefix("a=msid:") {
            let mut parts = msid.split_whitespace();
            s.stream_id = parts.next().unwrap_or_default().to_owned();
            s.track_id = parts.next().unwrap_or_default().to_owned();
        } else if line == "a=sendonly" || line == "a=sendrecv" {
            *sending = true;
        } else if let Some(rest) = line.strip_prefix("a=ssrc:")
            && let Some(ssrc) = rest.split_whitespace().next().and_then(|v| v.parse().ok())
            && !s.ssrcs.contains(&ssrc)
        {
            s.ssrcs.push(ssrc);
        }
    }
    flush(current.take(), &mut out);
    out
}

/// The REMBs (receiver-estimated maximum bitrate) among `packets`.
fn rembs(
    packets: &[Box<dyn rtc::rtcp::Packet>],
) -> impl Iterator<Item = &ReceiverEstimatedMaximumBitrate> {
    packets
        .iter()
        .filter_map(|p| p.as_any().downcast_ref::<ReceiverEstimatedMaximumBitrate>())
}
