//! The one task that owns the SFU's UDP socket, its timers and the [`Core`].
//!
//! Everything the SFU does happens on this task, in this order, forever:
//! 1. run the core's timers if due;
//! 2. send every datagram the core queued, and deliver its signals and room events (with
//!    `try_send`: the loop never waits on the hub);
//! 3. wait for the first of: shutdown, a hub command, a datagram, the next timer.
//!
//! A datagram is handled to completion, forwarding included, before the next is read, and the
//! loop drains up to [`RECV_BATCH`] ready datagrams per wake-up. Hub calls reach the core as
//! [`Command`]s over a bounded channel and are answered over a oneshot; no lock is shared
//! with the rest of the server and none is held across an await.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use uuid::Uuid;

use super::core::{Core, Output};
use super::error::SfuError;
use super::signal::{IceCandidate, ParticipantState, RoomEvent, Signal};
use super::stats::ParticipantStats;
use super::types::PeerId;

/// Datagrams read per wake-up before the loop looks at commands and timers again.
const RECV_BATCH: usize = 64;
/// Largest datagram we accept; WebRTC keeps packets under the path MTU (~1200-1500 bytes).
const MAX_DATAGRAM: usize = 2048;

type Reply<T> = oneshot::Sender<Result<T, SfuError>>;

/// A hub request for the core.
pub(super) enum Command {
    Join {
        room: Uuid,
        user: Uuid,
        signals: mpsc::Sender<Signal>,
        reply: Reply<()>,
    },
    Answer {
        room: Uuid,
        user: Uuid,
        sdp: String,
        reply: Reply<()>,
    },
    Candidate {
        room: Uuid,
        user: Uuid,
        candidate: IceCandidate,
        reply: Reply<()>,
    },
    Mute {
        room: Uuid,
        user: Uuid,
        muted: bool,
        reply: Reply<()>,
    },
    Leave {
        room: Uuid,
        user: Uuid,
        reply: Reply<()>,
    },
    Participants {
        room: Uuid,
        reply: oneshot::Sender<Vec<ParticipantState>>,
    },
    ParticipantStats {
        room: Uuid,
        user: Uuid,
        reply: oneshot::Sender<Option<ParticipantStats>>,
    },
    Inspect {
        room: Uuid,
        user: Uuid,
        reply: oneshot::Sender<super::Internals>,
    },
}

/// The loop's state besides the core: where each participant's signals go.
struct Engine {
    socket: UdpSocket,
    core: Core,
    signals: HashMap<PeerId, mpsc::Sender<Signal>>,
    events: mpsc::Sender<RoomEvent>,
}

/// Runs the loop until `cancel` fires or every [`super::Sfu`] handle is dropped, then removes
/// every participant (each gets `Signal::Closed`) and sends their goodbyes.
pub(super) async fn run(
    socket: UdpSocket,
    core: Core,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<RoomEvent>,
    cancel: CancellationToken,
    stopped: watch::Sender<bool>,
) {
    let mut engine = Engine {
        socket,
        core,
        signals: HashMap::new(),
        events,
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let now = Instant::now();
        if engine.core.poll_timeout() <= now {
            engine.core.handle_timeout(now);
        }
        engine.flush().await;
        let deadline = engine.core.poll_timeout();
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            cmd = commands.recv() => match cmd {
                Some(cmd) => engine.command(cmd).await,
                None => break,
            },
            res = engine.socket.recv_from(&mut buf) => match res {
                Ok((n, from)) => {
                    engine.core.handle_datagram(Instant::now(), from, &buf[..n]);
                    engine.drain_socket(&mut buf);
                }
                // Linux reports an earlier send's ICMP "port unreachable" on the next read;
                // it concerns one client and is handled by that client's timeouts.
                Err(e) => debug!("udp recv: {e}"),
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                engine.core.handle_timeout(Instant::now());
            }
        }
    }
    engine
        .core
        .close_all(Instant::now(), "server shutting down");
    engine.flush().await;
    drop(engine);
    let _ = stopped.send(true);
}

/// One `sendto`. A full socket buffer is waited out (rare: the kernel drains it at line
/// rate); any other error drops the datagram, as the network would. Takes the socket alone so
/// the future holds no reference to the (non-`Sync`) core.
async fn send(socket: &UdpSocket, data: &[u8], to: std::net::SocketAddr) {
    match socket.try_send_to(data, to) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            if let Err(e) = socket.send_to(data, to).await {
                debug!("udp send to {to}: {e}");
            }
        }
        Err(e) => debug!("udp send to {to}: {e}"),
    }
}

impl Engine {
    /// Reads the datagrams that are already waiting, without sleeping.
    fn drain_socket(&mut self, buf: &mut [u8]) {
        for _ in 1..RECV_BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((n, from)) => self.core.handle_datagram(Instant::now(), from, &buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!("udp recv: {e}");
                    break;
                }
            }
        }
    }

    /// Sends queued datagrams and delivers queued outputs until both queues are empty
    /// (delivering can remove a participant, which queues more of both).
    async fn flush(&mut self) {
        loop {
            let mut idle = true;
            while let Some(t) = self.core.poll_transmit() {
                idle = false;
                send(&self.socket, &t.data, t.to).await;
            }
            while let Some(out) = self.core.poll_output() {
                idle = false;
                self.deliver(out);
            }
            if idle {
                break;
            }
        }
    }

    fn deliver(&mut self, out: Output) {
        match out {
            Output::Signal(peer, signal) => {
                let Some(tx) = self.signals.get(&peer) else {
                    return;
                };
                let closing = matches!(signal, Signal::Closed { .. });
                if let Err(e) = tx.try_send(signal) {
                    if closing {
                        return;
                    }
                    // A participant whose signaling consumer is gone or stuck cannot follow
                    // renegotiation; it is removed like a slow WebSocket consumer.
                    let reason = match e {
                        mpsc::error::TrySendError::Full(_) => "signaling queue full",
                        mpsc::error::TrySendError::Closed(_) => "signaling channel closed",
                    };
                    warn!(peer = peer.0, reason, "dropping voice participant");
                    self.core.remove(Instant::now(), peer, reason);
                }
            }
            Output::PeerGone(peer) => {
                self.signals.remove(&peer);
            }
            Output::Room(event) => match self.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(ev)) => {
                    warn!(?ev, "room event queue full; event dropped");
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            },
        }
    }

    async fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Join {
                room,
                user,
                signals,
                reply,
            } => {
                let result = self.core.join(now, room, user).map(|id| {
                    self.signals.insert(id, signals);
                });
                // The offer is in the participant's channel before `join` returns.
                self.flush().await;
                let _ = reply.send(result);
            }
            Command::Answer {
                room,
                user,
                sdp,
                reply,
            } => {
                let _ = reply.send(self.core.answer(now, room, user, sdp));
            }
            Command::Candidate {
                room,
                user,
                candidate,
                reply,
            } => {
                let _ = reply.send(self.core.candidate(room, user, candidate));
            }
            Command::Mute {
                room,
                user,
                muted,
                reply,
            } => {
                let _ = reply.send(self.core.set_muted(now, room, user, muted));
            }
            Command::Leave { room, user, reply } => {
                let result = self.core.leave(now, room, user);
                // The PeerConnection is dropped by now; make the stats say so before replying.
                self.flush().await;
                let _ = reply.send(result);
            }
            Command::Participants { room, reply } => {
                let _ = reply.send(self.core.participants(room));
            }
            Command::ParticipantStats { room, user, reply } => {
                let _ = reply.send(self.core.participant_stats(now, room, user));
            }
            Command::Inspect { room, user, reply } => {
                let (rooms, peers, ufrags, addrs) = self.core.table_sizes();
                let _ = reply.send(super::Internals {
                    rooms,
                    peers,
                    ufrags,
                    addrs,
                    signal_channels: self.signals.len(),
                    m_lines: self.core.m_lines(room, user),
                });
            }
        }
    }
}
