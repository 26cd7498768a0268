//! Voice rooms: an in-process SFU (selective forwarding unit) for group audio over WebRTC.
//!
//! **What it owns.** One UDP socket that carries all voice media of the process, one
//! PeerConnection per participant, the forwarding of every participant's microphone to
//! everyone else in the room, active-speaker detection, and TURN credential minting
//! ([`turn`]). **What it does not own.** Who may join which room (the hub checks membership
//! before asking for [`Request::Join`]), the WebSocket, and the lease that makes one node the
//! owner of a room in a cluster.
//!
//! **How data enters and leaves.** The hub builds a [`Request`] and passes it to
//! [`Sfu::request`] on the cheap, cloneable [`Sfu`] handle; it becomes a command for the SFU's
//! single task ([`engine`]), which owns the socket, the timers and the sans-I/O [`core`], and
//! the [`Reply`] comes back. Per-participant signaling (offers, closure) comes back on the
//! receiver in [`Reply::Joined`]; room-wide events (participant list, speaking) on the
//! receiver returned by [`Sfu::start`]. Media never
//! leaves the task: a packet is read, decrypted, rewritten and encrypted per subscriber, and
//! sent, in one call chain.
//!
//! **Negotiation contract** (docs/protocol.md): the server is always the offerer. In every
//! offer the first audio m-line is the client's microphone (the server receives); each
//! further m-line carries one other participant (the server sends) and its `a=msid` stream id
//! is that participant's user id; inactive m-lines (`msid:-`) are parked slots to ignore.
//! Opus 48 kHz with the RFC 6464 audio-level extension. The server is ICE-lite with a single
//! host candidate in the offer, DTLS `actpass` (browsers pick active), BUNDLE, rtcp-mux.
//!
//! Start reading at [`Sfu::start`] and `request.rs` (what can be asked), then `engine.rs`
//! (the loop), `core.rs` (rooms and forwarding), `peer.rs` (one participant). `sim/` (built
//! for tests only) runs the core against simulated browsers on a simulated clock.

mod core;
mod demux;
mod engine;
mod error;
pub mod media;
mod peer;
mod quality;
mod request;
pub mod rewrite;
mod rtcp;
mod screen;
mod signal;
#[cfg(test)]
mod sim;
pub mod speaker;
mod stats;
pub mod turn;
mod types;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use self::error::SfuError;
pub use self::request::{Internals, Reply, Request};
pub use self::signal::{CallQuality, IceCandidate, ParticipantState, RoomEvent, Signal};
pub use self::stats::{ParticipantStats, SfuStats};

use self::core::{Core, CoreConfig};
use self::engine::Command;
use self::stats::SharedStats;

/// Capacity of the command channel from [`Sfu`] handles to the SFU task.
const COMMAND_QUEUE: usize = 1024;
/// Capacity of the room-event channel to the hub. Events are small and rare (joins, leaves,
/// mutes, at most 4 speaking changes per second per participant); a hub that falls this far
/// behind loses events rather than stalling everyone's audio.
const EVENT_QUEUE: usize = 4096;

/// SFU settings (from `CONFAB_RTC_UDP_PORT`, `CONFAB_PUBLIC_IP`, ...).
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// Address to bind the media socket to.
    pub bind_ip: IpAddr,
    /// The one UDP port for all voice media; 0 picks a free port (tests).
    pub udp_port: u16,
    /// Address announced in ICE candidates when the host is behind 1:1 NAT; otherwise the
    /// bound address is announced (which then must not be unspecified).
    pub public_ip: Option<IpAddr>,
    /// Participants per room; the next join gets [`SfuError::Full`].
    pub max_participants: usize,
    /// How long a participant whose connection was lost (socket closed, page reloaded,
    /// network gone) keeps their place: a join of the same user within it takes the place
    /// over, and the others see no leave and join. Zero removes at once.
    pub rejoin_grace: Duration,
    /// Screen sharers per room at once; the next `voice.screen` gets
    /// [`SfuError::ScreenLimit`].
    pub max_screen_shares: usize,
}

impl Default for SfuConfig {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::from([0, 0, 0, 0]),
            udp_port: 7882,
            public_ip: None,
            max_participants: 50,
            rejoin_grace: Duration::from_secs(30),
            max_screen_shares: screen::DEFAULT_MAX_SHARERS,
        }
    }
}

/// A cheap handle to the running SFU; clone it freely. The SFU stops when its cancellation
/// token fires or when the last handle is dropped.
#[derive(Clone)]
pub struct Sfu {
    commands: mpsc::Sender<Command>,
    stats: Arc<SharedStats>,
    local_addr: SocketAddr,
    stopped: watch::Receiver<bool>,
}

impl std::fmt::Debug for Sfu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sfu")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl Sfu {
    /// Binds the media socket and spawns the SFU task. Returns the handle and the stream of
    /// room events the hub must fan out to room members.
    pub async fn start(
        cfg: SfuConfig,
        cancel: CancellationToken,
    ) -> Result<(Sfu, mpsc::Receiver<RoomEvent>), SfuError> {
        if cfg.max_participants == 0 {
            return Err(SfuError::Config(
                "max_participants must be at least 1".into(),
            ));
        }
        let announce_ip = match cfg.public_ip {
            Some(ip) if !ip.is_unspecified() => ip,
            Some(_) => {
                return Err(SfuError::Config(
                    "public_ip must be a concrete address".into(),
                ));
            }
            None if cfg.bind_ip.is_unspecified() => {
                return Err(SfuError::Config(format!(
                    "bind address {} is unspecified: set the public IP (CONFAB_PUBLIC_IP) to the \
                     address clients reach, or bind a concrete address",
                    cfg.bind_ip
                )));
            }
            None => cfg.bind_ip,
        };
        let socket = bind_media_socket(SocketAddr::new(cfg.bind_ip, cfg.udp_port))?;
        let local_addr = socket.local_addr()?;
        let announce = SocketAddr::new(announce_ip, local_addr.port());
        info!(%local_addr, %announce, "voice SFU listening");

        let stats = Arc::new(SharedStats::default());
        let core = Core::new(
            CoreConfig {
                announce,
                max_participants: cfg.max_participants,
                rejoin_grace: cfg.rejoin_grace,
                max_sharers: cfg.max_screen_shares,
            },
            stats.clone(),
            Instant::now(),
        );
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let (stopped_tx, stopped_rx) = watch::channel(false);
        let socket = udp::MediaSocket::new(socket)?;
        tokio::spawn(engine::run(socket, core, cmd_rx, ev_tx, cancel, stopped_tx));
        Ok((
            Sfu {
                commands: cmd_tx,
                stats,
                local_addr,
                stopped: stopped_rx,
            },
            ev_rx,
        ))
    }

    /// Resolves once the SFU task has ended: every participant was sent `Signal::Closed`, the
    /// goodbyes (DTLS close_notify) are on the wire, and the socket is closed. `main` awaits
    /// this, with a deadline, after cancelling the token.
    pub async fn stopped(&self) {
        let mut rx = self.stopped.clone();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// The bound media socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Process-wide totals (a synchronous read for `/metrics`).
    pub fn stats(&self) -> SfuStats {
        self.stats.snapshot()
    }

    /// Sends one request to the SFU task and waits for its answer; see [`Request`] for what
    /// each one does and which [`Reply`] it gets. Fails with [`SfuError::Closed`] once the SFU
    /// has stopped.
    pub async fn request(&self, request: Request) -> Result<Reply, SfuError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command { request, reply })
            .await
            .map_err(|_| SfuError::Closed)?;
        answer.await.map_err(|_| SfuError::Closed)?
    }
}

/// Kernel buffer asked for the media socket, each way. One socket carries every participant, so
/// a burst (a join storm's handshakes, a talk spurt fanned out to a large call) must not overflow
/// the 208 KiB default; Linux grants at most `net.core.rmem_max` / `wmem_max`.
const MEDIA_SOCKET_BUFFER: usize = 4 << 20;

/// Binds the media socket with large kernel buffers (best effort: a smaller grant still works).
fn bind_media_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(MEDIA_SOCKET_BUFFER) {
        tracing::warn!(error = %e, "could not enlarge the media socket's receive buffer");
    }
    if let Err(e) = socket.set_send_buffer_size(MEDIA_SOCKET_BUFFER) {
        tracing::warn!(error = %e, "could not enlarge the media socket's send buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}
