//! The sans-I/O heart of the SFU: rooms, participants, datagram routing and forwarding.
//!
//! [`Core`] owns every participant's PeerConnection and never touches a socket or a clock.
//! Inputs are method calls carrying `now` (a datagram, a timer expiry, a hub request);
//! outputs are queued and drained by the I/O loop in `engine.rs`:
//! - [`Core::poll_transmit`]: datagrams for the shared UDP socket,
//! - [`Core::poll_output`]: signals for one participant and events for a whole room,
//! - [`Core::poll_timeout`]: when to call [`Core::handle_timeout`] next.
//!
//! Forwarding happens inside [`Core::handle_datagram`]: an RTP packet that arrives from a
//! publisher is written to every other participant's PeerConnection before the call returns,
//! with no channel or task in between.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::peer_connection::transport::RTCIceCandidateInit;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::demux::Demux;
use super::error::SfuError;
use super::peer::{Health, Peer};
use super::signal::{IceCandidate, ParticipantState, RoomEvent, Signal};
use super::stats::{ParticipantStats, SfuStats, SharedStats};
use super::types::{PeerId, Transmit};

/// A participant that sends nothing at all (no STUN, no media) for this long is removed.
/// Browsers send 50 audio packets per second even when silent, plus STUN consent checks.
pub(super) const PEER_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// A participant must complete ICE and DTLS within this long after joining.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// An offer must be answered within this long.
pub(super) const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(20);
/// Period of housekeeping: speaker ticks, timeouts, stats publication.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);
/// Housekeeping rounds between refreshes of the loss figures in the process totals (5 s):
/// reading a PeerConnection's statistics builds a whole report, too much for every round.
const LOSS_REFRESH_ROUNDS: u32 = 50;

/// What the core asks the I/O loop to deliver.
#[derive(Debug)]
pub(super) enum Output {
    /// Signaling for one participant.
    Signal(PeerId, Signal),
    /// The participant is gone; its signal channel can be dropped.
    PeerGone(PeerId),
    /// An event for every member of a room.
    Room(RoomEvent),
}

/// Static settings of the core.
#[derive(Debug, Clone)]
pub(super) struct CoreConfig {
    /// The address announced in our ICE candidate (public IP or bound address, bound port).
    pub announce: SocketAddr,
    /// Participants per room.
    pub max_participants: usize,
}

/// One voice room: its participants in join order.
#[derive(Debug, Default)]
struct Room {
    members: Vec<PeerId>,
}

/// See the module docs.
pub(super) struct Core {
    cfg: CoreConfig,
    shared: Arc<SharedStats>,
    rooms: HashMap<Uuid, Room>,
    peers: HashMap<PeerId, Peer>,
    by_user: HashMap<(Uuid, Uuid), PeerId>,
    demux: Demux,
    next_peer: u64,
    transmits: VecDeque<Transmit>,
    outputs: VecDeque<Output>,
    next_housekeeping: Option<Instant>,
    /// Earliest known PeerConnection timer; may be stale-early, never stale-late.
    next_pc_timeout: Option<Instant>,
    /// Reused buffers of the forwarding path.
    scratch_packets: Vec<rtc::rtp::Packet>,
    scratch_speaking: Vec<(PeerId, bool)>,
    /// Totals of departed participants, so published totals never go backwards.
    retired: ParticipantStats,
    unroutable: u64,
    /// Set by [`Core::close_all`]: no more offers, everyone is leaving.
    closing: bool,
    housekeeping_rounds: u32,
}

impl Core {
    pub(super) fn new(cfg: CoreConfig, shared: Arc<SharedStats>) -> Self {
        Self {
            cfg,
            shared,
            rooms: HashMap::new(),
            peers: HashMap::new(),
            by_user: HashMap::new(),
            demux: Demux::default(),
            next_peer: 1,
            transmits: VecDeque::new(),
            outputs: VecDeque::new(),
            next_housekeeping: None,
            next_pc_timeout: None,
            scratch_packets: Vec::new(),
            scratch_speaking: Vec::new(),
            retired: ParticipantStats::default(),
            unroutable: 0,
            closing: false,
            housekeeping_rounds: 0,
        }
    }

    // ----- hub requests -------------------------------------------------------------------

    /// Adds `user` to `room` (replacing an earlier join of the same user) and queues its offer.
    /// Every other participant gets a slot for the newcomer and a new offer.
    pub(super) fn join(
        &mut self,
        now: Instant,
        room: Uuid,
        user: Uuid,
    ) -> Result<PeerId, SfuError> {
        let existing = self.by_user.get(&(room, user)).copied();
        let others = self
            .rooms
            .get(&room)
            .map_or(0, |r| r.members.len() - usize::from(existing.is_some()));
        if others >= self.cfg.max_participants {
            return Err(SfuError::Full {
                room,
                max: self.cfg.max_participants,
            });
        }
        if let Some(old) = existing {
            self.remove_peer(now, old, "replaced by a newer join");
        }

        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        let mut peer = Peer::new(now, id, room, user, self.cfg.announce, self.shared.clone())?;
        let members = self
            .rooms
            .get(&room)
            .map(|r| r.members.clone())
            .unwrap_or_default();
        for other in &members {
            if let Some(o) = self.peers.get(other) {
                peer.assign_slot(*other, o.user)?;
            }
        }
        self.demux.insert_ufrag(peer.ufrag.clone(), id);
        self.peers.insert(id, peer);
        self.by_user.insert((room, user), id);
        self.rooms.entry(room).or_default().members.push(id);
        info!(%room, %user, peer = id.0, "voice participant joined");

        for other in members {
            if let Some(o) = self.peers.get_mut(&other)
                && let Err(e) = o.assign_slot(id, user)
            {
                warn!(%room, peer = other.0, "adding a slot failed: {e}");
            }
            self.negotiate(now, other);
        }
        self.negotiate(now, id);
        self.emit_state(room);
        Ok(id)
    }

    /// Applies `user`'s answer.
    pub(super) fn answer(
        &mut self,
        now: Instant,
        room: Uuid,
        user: Uuid,
        sdp: String,
    ) -> Result<(), SfuError> {
        let id = self.lookup(room, user)?;
        let peer = self.peer_mut(id, room)?;
        peer.apply_answer(now, sdp)?;
        self.touch(id);
        // Changes made while the offer was outstanding are offered now.
        self.negotiate(now, id);
        Ok(())
    }

    /// Adds one of `user`'s ICE candidates.
    pub(super) fn candidate(
        &mut self,
        room: Uuid,
        user: Uuid,
        c: IceCandidate,
    ) -> Result<(), SfuError> {
        let id = self.lookup(room, user)?;
        let peer = self.peer_mut(id, room)?;
        peer.add_candidate(RTCIceCandidateInit {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_mline_index: c.sdp_m_line_index,
            username_fragment: c.username_fragment,
            url: None,
        })?;
        self.touch(id);
        Ok(())
    }

    /// Mutes or unmutes `user`: a muted participant's packets are dropped at the door.
    pub(super) fn set_muted(
        &mut self,
        now: Instant,
        room: Uuid,
        user: Uuid,
        muted: bool,
    ) -> Result<(), SfuError> {
        let id = self.lookup(room, user)?;
        let peer = self.peer_mut(id, room)?;
        if peer.muted == muted {
            return Ok(());
        }
        peer.muted = muted;
        let change = if muted { peer.speaker.reset(now) } else { None };
        if let Some(speaking) = change {
            self.outputs.push_back(Output::Room(RoomEvent::Speaking {
                room,
                user,
                speaking,
            }));
        }
        if !muted {
            // The first packet after the unmute continues each subscriber's numbering.
            let members = self.members(room);
            for other in members {
                if let Some(o) = self.peers.get_mut(&other) {
                    o.rebase_slot(id);
                }
            }
        }
        self.emit_state(room);
        Ok(())
    }

    /// Removes `user` from `room`.
    pub(super) fn leave(&mut self, now: Instant, room: Uuid, user: Uuid) -> Result<(), SfuError> {
        let id = self.lookup(room, user)?;
        self.remove_peer(now, id, "left");
        Ok(())
    }

    /// The room's participants in join order.
    pub(super) fn participants(&self, room: Uuid) -> Vec<ParticipantState> {
        self.members(room)
            .iter()
            .filter_map(|id| self.peers.get(id))
            .map(|p| ParticipantState {
                user_id: p.user,
                muted: p.muted,
                speaking: p.speaker.is_speaking(),
            })
            .collect()
    }

    /// One participant's figures.
    pub(super) fn participant_stats(
        &mut self,
        now: Instant,
        room: Uuid,
        user: Uuid,
    ) -> Option<ParticipantStats> {
        let id = self.by_user.get(&(room, user)).copied()?;
        Some(self.peers.get_mut(&id)?.stats(now))
    }

    /// Number of m-lines of a participant's PeerConnection (tests watch that reuse works).
    pub(super) fn m_lines(&self, room: Uuid, user: Uuid) -> Option<usize> {
        let id = self.by_user.get(&(room, user))?;
        Some(self.peers.get(id)?.m_lines())
    }

    /// Removes one participant (the I/O loop uses this when its signaling channel fails).
    pub(super) fn remove(&mut self, now: Instant, id: PeerId, reason: &str) {
        self.remove_peer(now, id, reason);
    }

    /// Removes everyone (shutdown), telling each participant why.
    pub(super) fn close_all(&mut self, now: Instant, reason: &str) {
        self.closing = true;
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            self.remove_peer(now, id, reason);
        }
    }

    // ----- network and time -----------------------------------------------------------------

    /// Routes one datagram to its participant and forwards whatever media it produced.
    ///
    /// Hot path. Per inbound datagram: one demux hash lookup, one copy into the
    /// PeerConnection's buffer (rtc takes ownership), SRTP decryption inside rtc. Per received
    /// RTP packet: a speaker-detector update, then for each other room member a hash lookup
    /// and [`Peer::forward`]. No lock, no channel, no task hop; the scratch vectors are reused,
    /// so the core itself allocates nothing per packet.
    pub(super) fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Some(id) = self.demux.route(from, data) else {
            self.unroutable += 1;
            return;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            self.unroutable += 1;
            return;
        };
        let room = peer.room;
        peer.handle_datagram(now, from, data);

        let mut packets = std::mem::take(&mut self.scratch_packets);
        let mut speaking = std::mem::take(&mut self.scratch_speaking);
        peer.drain_media(now, &mut packets, &mut speaking);
        let health = peer.drain_events();
        peer.drain_writes(&mut self.transmits);
        self.touch(id);

        if !packets.is_empty()
            && let Some(r) = self.rooms.get(&room)
        {
            for pkt in &packets {
                for sub in &r.members {
                    if *sub == id {
                        continue;
                    }
                    if let Some(s) = self.peers.get_mut(sub) {
                        s.forward(now, id, pkt, &mut self.transmits);
                    }
                }
            }
        }
        packets.clear();
        self.scratch_packets = packets;
        for (peer, state) in speaking.drain(..) {
            self.emit_speaking(peer, state);
        }
        self.scratch_speaking = speaking;
        self.after_health(now, id, health);
    }

    /// Runs PeerConnection timers that are due, and housekeeping every 100 ms.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.next_pc_timeout.is_some_and(|t| t <= now) {
            let due: Vec<PeerId> = self
                .peers
                .values()
                .filter(|p| p.next_timeout.is_some_and(|t| t <= now))
                .map(|p| p.id)
                .collect();
            for id in due {
                let Some(p) = self.peers.get_mut(&id) else {
                    continue;
                };
                p.handle_timeout(now);
                let health = p.drain_events();
                p.drain_writes(&mut self.transmits);
                self.after_health(now, id, health);
            }
            self.next_pc_timeout = self.peers.values().filter_map(|p| p.next_timeout).min();
        }
        if self.next_housekeeping.is_none_or(|t| t <= now) {
            self.housekeeping(now);
            self.next_housekeeping = Some(now + HOUSEKEEPING_INTERVAL);
        }
    }

    /// The next instant [`Self::handle_timeout`] wants to run.
    pub(super) fn poll_timeout(&self) -> Instant {
        let house = self.next_housekeeping.unwrap_or_else(Instant::now);
        self.next_pc_timeout.map_or(house, |t| t.min(house))
    }

    /// Next datagram to send.
    pub(super) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next signal or room event.
    pub(super) fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Publishes totals to the shared atomics (live PeerConnections are counted by the
    /// PeerConnections themselves).
    pub(super) fn publish_stats(&self) {
        let mut s = SfuStats {
            rooms: self.rooms.len() as u64,
            participants: self.peers.len() as u64,
            packets_in: self.retired.packets_in,
            bytes_in: self.retired.bytes_in,
            packets_out: self.retired.packets_out,
            bytes_out: self.retired.bytes_out,
            lost: self.retired.lost_in.max(0) as u64,
            unroutable: self.unroutable,
            ..Default::default()
        };
        for p in self.peers.values() {
            s.lost += p.lost_in.max(0) as u64;
            s.packets_in += p.counters.packets_in;
            s.bytes_in += p.counters.bytes_in;
            s.packets_out += p.counters.packets_out;
            s.bytes_out += p.counters.bytes_out;
        }
        self.shared.publish(&s);
    }

    /// Sizes of the internal tables, for leak tests: (rooms, peers, ufrags, addresses).
    pub(super) fn table_sizes(&self) -> (usize, usize, usize, usize) {
        let (ufrags, addrs) = self.demux.len();
        (self.rooms.len(), self.peers.len(), ufrags, addrs)
    }

    // ----- internals ----------------------------------------------------------------------

    fn lookup(&self, room: Uuid, user: Uuid) -> Result<PeerId, SfuError> {
        self.by_user
            .get(&(room, user))
            .copied()
            .ok_or(SfuError::NotInCall { room })
    }

    fn peer_mut(&mut self, id: PeerId, room: Uuid) -> Result<&mut Peer, SfuError> {
        self.peers.get_mut(&id).ok_or(SfuError::NotInCall { room })
    }

    fn members(&self, room: Uuid) -> Vec<PeerId> {
        self.rooms
            .get(&room)
            .map(|r| r.members.clone())
            .unwrap_or_default()
    }

    /// Records that a peer's PeerConnection may have a new, earlier timer.
    fn touch(&mut self, id: PeerId) {
        if let Some(t) = self.peers.get(&id).and_then(|p| p.next_timeout) {
            self.next_pc_timeout = Some(self.next_pc_timeout.map_or(t, |n| n.min(t)));
        }
    }

    /// Sends an offer to `id` if it has unoffered changes and no offer outstanding.
    fn negotiate(&mut self, now: Instant, id: PeerId) {
        if self.closing {
            return;
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let room = peer.room;
        match peer.offer_if_needed(now) {
            Ok(Some(sdp)) => {
                self.outputs
                    .push_back(Output::Signal(id, Signal::Offer { room, sdp }));
                self.touch(id);
            }
            Ok(None) => {}
            Err(e) => {
                warn!(%room, peer = id.0, "creating an offer failed: {e}");
                self.remove_peer(now, id, "negotiation failed");
            }
        }
    }

    fn after_health(&mut self, now: Instant, id: PeerId, health: Health) {
        if health.failed {
            self.remove_peer(now, id, "connection lost");
        } else if health.connected
            && let Some(p) = self.peers.get_mut(&id)
        {
            debug!(room = %p.room, user = %p.user, "voice participant connected");
            p.last_rx = now;
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut speaking = Vec::new();
        self.housekeeping_rounds = self.housekeeping_rounds.wrapping_add(1);
        let refresh_loss = self.housekeeping_rounds.is_multiple_of(LOSS_REFRESH_ROUNDS);
        for p in self.peers.values_mut() {
            if refresh_loss {
                p.stats(now);
            }
            if let Some(s) = p.speaker.tick(now) {
                speaking.push((p.id, s));
            }
            let reason = if p.connected
                && now.saturating_duration_since(p.last_rx) > PEER_IDLE_TIMEOUT
            {
                Some("connection lost")
            } else if !p.connected && now.saturating_duration_since(p.joined_at) > CONNECT_TIMEOUT {
                Some("could not connect")
            } else if p
                .offer_sent_at
                .is_some_and(|t| now.saturating_duration_since(t) > NEGOTIATION_TIMEOUT)
            {
                Some("offer not answered")
            } else {
                None
            };
            if let Some(reason) = reason {
                expired.push((p.id, reason));
            }
        }
        for (id, s) in speaking {
            self.emit_speaking(id, s);
        }
        for (id, reason) in expired {
            self.remove_peer(now, id, reason);
        }
        self.publish_stats();
    }

    fn emit_speaking(&mut self, id: PeerId, speaking: bool) {
        if let Some(p) = self.peers.get(&id) {
            self.outputs.push_back(Output::Room(RoomEvent::Speaking {
                room: p.room,
                user: p.user,
                speaking,
            }));
        }
    }

    fn emit_state(&mut self, room: Uuid) {
        let participants = self.participants(room);
        self.outputs
            .push_back(Output::Room(RoomEvent::State { room, participants }));
    }

    /// Removes a participant and everything that refers to it: its PeerConnection (closed,
    /// goodbye queued, then dropped), its demux entries, its slot on every other participant
    /// (who get a new offer), the room if it became empty. Then tells it why.
    fn remove_peer(&mut self, now: Instant, id: PeerId, reason: &str) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        let room = peer.room;
        peer.close(&mut self.transmits);
        self.demux.remove(id, &peer.ufrag);
        if self.by_user.get(&(room, peer.user)) == Some(&id) {
            self.by_user.remove(&(room, peer.user));
        }
        let stats = peer.stats(now);
        // One line per participant with what their call carried: for logs and troubleshooting.
        info!(
            %room,
            user = %peer.user,
            peer = id.0,
            reason,
            packets_in = stats.packets_in,
            packets_out = stats.packets_out,
            bytes_in = stats.bytes_in,
            bytes_out = stats.bytes_out,
            lost_in = stats.lost_in,
            lost_out = stats.lost_out,
            jitter_in_ms = stats.jitter_in * 1000.0,
            jitter_out_ms = stats.jitter_out * 1000.0,
            "voice participant removed"
        );
        self.retired.packets_in += stats.packets_in;
        self.retired.bytes_in += stats.bytes_in;
        self.retired.packets_out += stats.packets_out;
        self.retired.bytes_out += stats.bytes_out;
        self.retired.lost_in += stats.lost_in.max(0);
        let was_speaking = peer.speaker.is_speaking();
        let user = peer.user;
        drop(peer);

        let mut remaining = Vec::new();
        if let Some(r) = self.rooms.get_mut(&room) {
            r.members.retain(|m| *m != id);
            remaining = r.members.clone();
            if r.members.is_empty() {
                self.rooms.remove(&room);
            }
        }
        for other in &remaining {
            if let Some(o) = self.peers.get_mut(other)
                && let Err(e) = o.release_slot(id)
            {
                warn!(%room, peer = other.0, "releasing a slot failed: {e}");
            }
        }
        for other in remaining.iter().copied() {
            self.negotiate(now, other);
        }
        self.outputs.push_back(Output::Signal(
            id,
            Signal::Closed {
                room,
                reason: reason.to_owned(),
            },
        ));
        self.outputs.push_back(Output::PeerGone(id));
        if was_speaking {
            self.outputs.push_back(Output::Room(RoomEvent::Speaking {
                room,
                user,
                speaking: false,
            }));
        }
        if !remaining.is_empty() || self.rooms.contains_key(&room) {
            self.emit_state(room);
        } else {
            self.outputs.push_back(Output::Room(RoomEvent::State {
                room,
                participants: Vec::new(),
            }));
        }
        self.publish_stats();
    }
}

#[cfg(test)]
mod tests {
    //! The core is sans-I/O: these tests drive it with chosen instants and no network.
    use super::*;

    fn core(max: usize) -> (Core, Arc<SharedStats>) {
        let shared = Arc::new(SharedStats::default());
        let cfg = CoreConfig {
            announce: "127.0.0.1:7882".parse().unwrap(),
            max_participants: max,
        };
        (Core::new(cfg, shared.clone()), shared)
    }

    fn drain(c: &mut Core) -> Vec<Output> {
        std::iter::from_fn(|| c.poll_output()).collect()
    }

    fn offers_to(outputs: &[Output], id: PeerId) -> usize {
        outputs
            .iter()
            .filter(|o| matches!(o, Output::Signal(p, Signal::Offer { .. }) if *p == id))
            .count()
    }

    #[test]
    fn a_join_offers_to_the_newcomer_and_defers_others_until_they_answer() {
        let (mut c, shared) = core(50);
        let t0 = Instant::now();
        let room = Uuid::new_v4();
        let a = c.join(t0, room, Uuid::new_v4()).unwrap();
        let b = c.join(t0, room, Uuid::new_v4()).unwrap();
        let out = drain(&mut c);
        assert_eq!(offers_to(&out, a), 1, "a's first offer is still unanswered");
        assert_eq!(offers_to(&out, b), 1);
        assert_eq!(shared.snapshot().live_peer_connections, 2);
        assert_eq!(c.m_lines(room, c.peers[&b].user), Some(2));
    }

    #[test]
    fn participants_that_never_connect_are_removed_and_freed() {
        let (mut c, shared) = core(50);
        let t0 = Instant::now();
        let room = Uuid::new_v4();
        let a = c.join(t0, room, Uuid::new_v4()).unwrap();
        let b = c.join(t0, room, Uuid::new_v4()).unwrap();
        drain(&mut c);
        c.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(c.table_sizes(), (1, 2, 2, 0));
        c.handle_timeout(t0 + CONNECT_TIMEOUT + Duration::from_secs(1));
        let out = drain(&mut c);
        for id in [a, b] {
            assert!(out.iter().any(|o| matches!(o,
                Output::Signal(p, Signal::Closed { reason, .. }) if *p == id && reason == "could not connect")));
            assert!(
                out.iter()
                    .any(|o| matches!(o, Output::PeerGone(p) if *p == id))
            );
        }
        assert_eq!(c.table_sizes(), (0, 0, 0, 0));
        assert_eq!(shared.snapshot().live_peer_connections, 0);
    }

    #[test]
    fn the_room_limit_counts_a_rejoin_as_a_replacement() {
        let (mut c, _) = core(2);
        let t0 = Instant::now();
        let room = Uuid::new_v4();
        let (u1, u2) = (Uuid::new_v4(), Uuid::new_v4());
        let first = c.join(t0, room, u1).unwrap();
        c.join(t0, room, u2).unwrap();
        assert!(matches!(
            c.join(t0, room, Uuid::new_v4()),
            Err(SfuError::Full { max: 2, .. })
        ));
        let again = c.join(t0, room, u1).unwrap();
        assert_ne!(again, first);
        let out = drain(&mut c);
        assert!(out.iter().any(|o| matches!(o,
            Output::Signal(p, Signal::Closed { reason, .. }) if *p == first && reason.contains("replaced"))));
        assert_eq!(c.participants(room).len(), 2);
    }

    #[test]
    fn garbage_datagrams_are_counted_and_dropped() {
        let (mut c, _) = core(50);
        let t0 = Instant::now();
        c.join(t0, Uuid::new_v4(), Uuid::new_v4()).unwrap();
        for data in [
            &b""[..],
            b"\x00\x01\x00\x00",
            b"\x80\x6f\x00\x01 junk",
            &[0xff; 1500],
        ] {
            c.handle_datagram(t0, "10.1.2.3:4000".parse().unwrap(), data);
        }
        assert_eq!(c.unroutable, 4);
        assert_eq!(c.table_sizes().3, 0, "no address learned from garbage");
    }
}
