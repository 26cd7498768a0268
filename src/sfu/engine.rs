//! The one task that owns the SFU's UDP socket, its timers and the [`Core`].
//!
//! Everything the SFU does happens on this task, in this order, forever:
//! 1. run the core's timers if due;
//! 2. send every datagram the core queued, and deliver its signals and room events (with
//!    `try_send`: the loop never waits on the hub);
//! 3. wait for the first of: shutdown, a hub command, a datagram, the next timer.
//!
//! A datagram is handled to completion, forwarding included, before the next is read, and the
//! loop drains up to [`RECV_BATCH`] ready datagrams per wake-up. Hub requests reach the core
//! as [`Command`]s (a [`Request`] and its reply oneshot) over a bounded channel; no lock is
//! shared with the rest of the server and none is held across an await. Everything the core
//! learns, it learns through `Core::handle`: requests, datagrams, timer expiries, and the two
//! decisions this loop makes itself (a participant whose signals cannot be delivered is
//! evicted; shutdown).

use std::collections::HashMap;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::core::{Core, Input, Output};
use super::error::SfuError;
use super::request::{Reply, Request};
use super::signal::{RoomEvent, Signal};
use super::types::PeerId;
use super::udp::MediaSocket;

/// Datagrams read per wake-up before the loop looks at commands and timers again.
const RECV_BATCH: usize = 64;
/// Capacity of each participant's signal channel. Offers are sequential (the next waits for
/// the answer), so a consumer that keeps up holds at most an offer and a `Closed`; the rest
/// is room for a hub that is briefly busy.
const SIGNAL_QUEUE: usize = 32;

/// A hub request on its way to the core, with the oneshot its answer goes back on.
pub(super) struct Command {
    pub request: Request,
    pub reply: oneshot::Sender<Result<Reply, SfuError>>,
}

/// The loop's state besides the core: where each participant's signals go.
struct Engine {
    socket: MediaSocket,
    core: Core,
    signals: HashMap<PeerId, mpsc::Sender<Signal>>,
    events: mpsc::Sender<RoomEvent>,
}

/// Runs the loop until `cancel` fires or every [`super::Sfu`] handle is dropped, then removes
/// every participant (each gets `Signal::Closed`) and sends their goodbyes.
pub(super) async fn run(
    socket: MediaSocket,
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
    loop {
        if engine.core.poll_timeout() <= Instant::now() {
            engine.timeout();
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
            res = engine.socket.readable() => match res {
                Ok(()) => engine.drain_socket(),
                Err(e) => debug!("udp readable: {e}"),
            },
            _ = tokio::time::sleep_until(deadline.into()) => engine.timeout(),
        }
    }
    engine.input(Input::Shutdown);
    engine.flush().await;
    drop(engine);
    let _ = stopped.send(true);
}

impl Engine {
    /// Hands the core an input that is not a request. Those always answer `Ok(Reply::Done)`;
    /// what they cause comes out of the core's poll methods.
    fn input(&mut self, input: Input<'_>) {
        let _ = self.core.handle(Instant::now(), input);
    }

    fn timeout(&mut self) {
        self.input(Input::Timeout);
        let core = &self.core;
        self.socket.prune(Instant::now(), |peer| core.routes(peer));
    }

    /// Reads the datagrams that are already waiting, without sleeping, and hands each to the
    /// core (forwarding happens inside, see `Core::handle`). Then the socket learns which
    /// local address each new participant address wrote to, before the replies go out.
    fn drain_socket(&mut self) {
        let mut read = 0;
        while read < RECV_BATCH {
            let core = &mut self.core;
            let n = self.socket.try_recv(|from, data| {
                let _ = core.handle(Instant::now(), Input::Datagram { from, data });
            });
            if n == 0 {
                break;
            }
            read += n;
        }
        let core = &self.core;
        self.socket.confirm(|peer| core.routes(peer));
    }

    /// Sends queued datagrams and delivers queued outputs until both queues are empty
    /// (delivering can remove a participant, which queues more of both).
    async fn flush(&mut self) {
        loop {
            let mut idle = true;
            while let Some(t) = self.core.poll_transmit() {
                idle = false;
                self.socket.send(&t.data, t.to).await;
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
                    self.input(Input::Evict { peer, reason });
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

    /// Answers one hub request. The core answers it; this adds the I/O half (a joiner's
    /// signal channel, the count of channels held), and flushes before replying so that the
    /// effects are out when the caller hears of them: a newcomer's offer is in its channel,
    /// a leaver's PeerConnection is dropped and the stats say so.
    async fn command(&mut self, Command { request, reply }: Command) {
        let joining = match &request {
            Request::Join { room, user } => Some((*room, *user)),
            _ => None,
        };
        let result = self
            .core
            .handle(Instant::now(), Input::Request(request))
            .map(|answer| match (answer, joining) {
                (Reply::Done, Some((room, user))) => self.open_signals(room, user),
                (Reply::Internals(mut i), _) => {
                    i.signal_channels = self.signals.len();
                    Reply::Internals(i)
                }
                (answer, _) => answer,
            });
        self.flush().await;
        let _ = reply.send(result);
    }

    /// The signal channel of a participant who just joined: the engine keeps the sending end
    /// (keyed by the join's id, so a replaced join's `Closed` reaches the replaced tab), the
    /// caller gets the receiving end.
    fn open_signals(&mut self, room: uuid::Uuid, user: uuid::Uuid) -> Reply {
        let (tx, rx) = mpsc::channel(SIGNAL_QUEUE);
        if let Some(id) = self.core.peer_of(room, user) {
            self.signals.insert(id, tx);
        }
        Reply::Joined(rx)
    }
}
