//! A simulated network and clock on which the sans-I/O [`Core`] meets simulated browsers,
//! after str0m's `tests/common.rs`: no socket, no sleep, no task.
//!
//! **What it owns.** One core and its [`Client`]s (`client.rs`: real rtc PeerConnections
//! configured like browsers), the simulated clock, and the room events the core emitted.
//! **What it does not.** Any policy of the core: it only moves data. **How data moves.**
//! Time is a base `Instant::now()` plus offsets, and only [`Sim::run_until`] advances it: to
//! the earliest of the core's timeout, a client's timeout, or a client's next microphone
//! frame, where it fires everything due. At each instant the network settles: the core's
//! datagrams go to the client at their destination, the clients' datagrams go into
//! `Core::handle(now, Input::Datagram ..)`, instantly and in order, with no loss; offers are
//! answered as soon as they are emitted, the way a quick browser and hub would. A client that
//! went offline is neither delivered to nor run. Seconds of simulated call take milliseconds.

mod client;
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use self::client::Client;
use super::core::{Core, CoreConfig, Input, Output};
use super::error::SfuError;
use super::request::{Reply, Request};
use super::signal::{RoomEvent, Signal};
use super::stats::SharedStats;

/// Where the simulated server's socket is (what its offers announce).
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 1], 7882);
/// Steps allowed at one instant before the clock is forced on: a timer that stays due after
/// it ran would otherwise spin the simulation forever.
const MAX_STEPS_PER_INSTANT: u32 = 1_000;
/// How far a stuck clock is forced on.
const FORCED_ADVANCE: Duration = Duration::from_millis(1);

/// See the module docs.
struct Sim {
    core: Core,
    shared: Arc<SharedStats>,
    clients: Vec<Client>,
    /// Every room event the core emitted, in order.
    events: Vec<RoomEvent>,
    base: Instant,
    now: Instant,
    server: SocketAddr,
    steps_at_now: u32,
}

impl Sim {
    /// A core allowing `max_participants` per room, at simulated time zero.
    fn new(max_participants: usize) -> Self {
        Self::with_grace(max_participants, Duration::ZERO)
    }

    /// The same, keeping a lost participant's place for `rejoin_grace`.
    fn with_grace(max_participants: usize, rejoin_grace: Duration) -> Self {
        let base = Instant::now();
        let server = SocketAddr::from(SERVER);
        let shared = Arc::new(SharedStats::default());
        let cfg = CoreConfig {
            announce: server,
            max_participants,
            rejoin_grace,
            max_sharers: 2,
        };
        Self {
            core: Core::new(cfg, shared.clone(), base),
            shared,
            clients: Vec::new(),
            events: Vec::new(),
            base,
            now: base,
            server,
            steps_at_now: 0,
        }
    }

    /// The simulated clock.
    fn now(&self) -> Instant {
        self.now
    }

    /// Simulated time since the start.
    fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// A new client for a fresh user joins `room`; returns its index in [`Sim::clients`].
    fn join(&mut self, room: Uuid) -> usize {
        let i = self.clients.len();
        let octet = u8::try_from(i + 2).expect("fewer than 254 simulated clients");
        let addr = SocketAddr::from(([10, 0, 1, octet], 50_000));
        self.clients
            .push(Client::new(Uuid::new_v4(), room, addr, self.server));
        self.rejoin(i).expect("the join is accepted");
        i
    }

    /// Client `i` joins (again) as its user; the core's id for the join is recorded.
    fn rejoin(&mut self, i: usize) -> Result<Reply, SfuError> {
        let (room, user) = (self.clients[i].room, self.clients[i].user);
        let reply = self
            .core
            .handle(self.now, Input::Request(Request::Join { room, user }));
        // The hub learns where the join's signals go before the first one (the offer) leaves.
        self.clients[i].peer = self.core.peer_of(room, user);
        self.settle();
        reply
    }

    /// A hub request at the current instant; the network settles before this returns.
    fn request(&mut self, request: Request) -> Result<Reply, SfuError> {
        let reply = self.core.handle(self.now, Input::Request(request));
        self.settle();
        reply
    }

    /// Runs the simulation until `done` holds or `limit` of simulated time has passed from
    /// now; returns whether `done` held.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        self.settle();
        while !done(self) {
            if self.now >= end {
                return false;
            }
            self.step(end);
        }
        true
    }

    /// Runs the simulation for `d` of simulated time.
    fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Advances the clock to the next due timer (at most to `end`), fires everything due
    /// then, and lets the network settle.
    fn step(&mut self, end: Instant) {
        let mut next = self.core.poll_timeout();
        for c in self.clients.iter_mut().filter(|c| c.online) {
            if let Some(t) = c.poll_timeout() {
                next = next.min(t);
            }
        }
        let at = next.clamp(self.now, end);
        if at > self.now {
            self.now = at;
            self.steps_at_now = 0;
        } else {
            self.steps_at_now += 1;
            if self.steps_at_now > MAX_STEPS_PER_INSTANT {
                self.now += FORCED_ADVANCE;
                self.steps_at_now = 0;
            }
        }
        let now = self.now;
        if self.core.poll_timeout() <= now {
            self.core
                .handle(now, Input::Timeout)
                .expect("timeouts never fail");
        }
        for c in self.clients.iter_mut().filter(|c| c.online) {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
        self.settle();
    }

    /// Moves datagrams and outputs at the current instant until nothing is left to move
    /// (delivering one thing often produces the next: a STUN request its response, an offer
    /// its answer).
    fn settle(&mut self) {
        loop {
            let mut idle = true;
            while let Some(t) = self.core.poll_transmit() {
                idle = false;
                if let Some(c) = self.clients.iter_mut().find(|c| c.addr == t.to && c.online) {
                    c.receive(self.now, t.data);
                }
            }
            while let Some(out) = self.core.poll_output() {
                idle = false;
                self.deliver(out);
            }
            for i in 0..self.clients.len() {
                while let Some((to, data)) = self.clients[i].poll_write() {
                    idle = false;
                    let from = self.clients[i].addr;
                    if self.clients[i].online && to == self.server {
                        let input = Input::Datagram { from, data: &data };
                        self.core
                            .handle(self.now, input)
                            .expect("datagrams never fail");
                    }
                }
            }
            if idle {
                return;
            }
        }
    }

    /// Plays the hub's part for one output: signals to the client of that join (an offer is
    /// answered on the spot), room events into [`Sim::events`].
    fn deliver(&mut self, out: Output) {
        let (peer, signal) = match out {
            Output::Signal(peer, signal) => (peer, signal),
            Output::Room(event) => return self.events.push(event),
            Output::PeerGone(_) => return,
        };
        let now = self.now;
        let Some(c) = self.clients.iter_mut().find(|c| c.peer == Some(peer)) else {
            return;
        };
        match signal {
            Signal::Offer { room, sdp } => {
                let sdp = c.accept_offer(now, sdp).expect("the client answers");
                let user = c.user;
                let answer = Request::Answer { room, user, sdp };
                self.core
                    .handle(now, Input::Request(answer))
                    .expect("the answer is accepted");
            }
            Signal::Closed { reason, .. } => c.closed = Some(reason),
            Signal::Candidate { .. } => {}
        }
    }
}
