//! The sans-I/O heart of the SFU: rooms, participants, datagram routing and forwarding.
//!
//! [`Core`] owns every participant's PeerConnection and never touches a socket or a clock.
//! Everything enters through one method, [`Core::handle`]`(now, input)` (as str0m's
//! `handle_input`): a hub [`Request`], a datagram, a timer expiry, or one of the I/O loop's
//! own decisions ([`Input`]). A request is answered synchronously with a [`Reply`]; everything
//! else the core wants done is queued and drained by the I/O loop in `engine.rs` (or by the
//! simulated network of the tests, `sim/`):
//! - [`Core::poll_transmit`]: datagrams for the shared UDP socket,
//! - [`Core::poll_output`]: signals for one participant and events for a whole room,
//! - [`Core::poll_timeout`]: when to hand it [`Input::Timeout`] next.
//!
//! Forwarding happens inside the handling of [`Input::Datagram`]: an RTP packet that arrives
//! from a publisher is written to every other participant's PeerConnection before the call
//! returns, with no channel or task in between.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::peer_connection::transport::RTCIceCandidateInit;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::demux::Demux;
use super::error::SfuError;
use super::peer::{Health, MediaOut, Peer};
use super::quality::QUALITY_INTERVAL;
use super::request::{Internals, Reply, Request};
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
/// Housekeeping rounds between quality judgments (2 s), which also refresh the loss figures
/// in the process totals: reading a PeerConnection's statistics builds a whole report, too
/// much for every round.
const QUALITY_ROUNDS: u32 =
    (QUALITY_INTERVAL.as_millis() / HOUSEKEEPING_INTERVAL.as_millis()) as u32;
/// What every participant is told on [`Input::Shutdown`].
const SHUTDOWN_REASON: &str = "server shutting down";

/// Everything that can happen to the core; see [`Core::handle`].
#[derive(Debug)]
pub(super) enum Input<'a> {
    /// A hub request, answered by `handle`'s return value.
    Request(Request),
    /// One datagram that arrived on the shared socket from `from`.
    Datagram { from: SocketAddr, data: &'a [u8] },
    /// Time passed: run whatever [`Core::poll_timeout`] said is due by `now`.
    Timeout,
    /// The I/O loop could not deliver `peer`'s signals (queue full, consumer gone): a
    /// participant that cannot follow renegotiation is removed.
    Evict { peer: PeerId, reason: &'static str },
    /// The server is stopping: remove everyone, telling each why, and offer nothing more.
    Shutdown,
}

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
    /// How long a lost participant keeps their place (see [`super::SfuConfig`]).
    pub rejoin_grace: Duration,
    /// Screen sharers per room.
    pub max_sharers: usize,
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
    next_housekeeping: Instant,
    /// Earliest known PeerConnection timer; may be stale-early, never stale-late.
    next_pc_timeout: Option<Instant>,
    /// Reused buffers of the forwarding path.
    scratch_media: MediaOut,
    scratch_speaking: Vec<(PeerId, bool)>,
    /// Totals of departed participants, so published totals never go backwards.
    retired: ParticipantStats,
    unroutable: u64,
    /// Set by [`Input::Shutdown`]: no more offers, everyone is leaving.
    closing: bool,
    housekeeping_rounds: u32,
}

impl Core {
    /// An empty core. `now` is its birth: the first housekeeping round is due then, so the
    /// core never needs to read a clock to answer [`Core::poll_timeout`].
    pub(super) fn new(cfg: CoreConfig, shared: Arc<SharedStats>, now: Instant) -> Self {
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
            next_housekeeping: now,
            next_pc_timeout: None,
            scratch_media: MediaOut::default(),
            scratch_speaking: Vec::new(),
            retired: ParticipantStats::default(),
            unroutable: 0,
            closing: false,
            housekeeping_rounds: 0,
        }
    }

    /// The one entry point. A [`Input::Request`] is answered here (a join with
    /// [`Reply::Done`]: the signal channel of [`Reply::Joined`] is the I/O loop's to make);
    /// every other input answers `Ok(Reply::Done)`, and what it causes comes out of the poll
    /// methods.
    pub(super) fn handle(&mut self, now: Instant, input: Input<'_>) -> Result<Reply, SfuError> {
        match input {
            Input::Request(request) => return self.request(now, request),
            Input::Datagram { from, data } => self.datagram(now, from, data),
            Input::Timeout => self.timeout(now),
            Input::Evict { peer, reason } => self.remove_peer(now, peer, reason),
            Input::Shutdown => self.shutdown(now),
        }
        Ok(Reply::Done)
    }

    /// The current join of `user` in `room`: the I/O loop keys the participant's signal
    /// channel by it once a join succeeded.
    pub(super) fn peer_of(&self, room: Uuid, user: Uuid) -> Option<PeerId> {
        self.by_user.get(&(room, user)).copied()
    }

    /// Whether datagrams from `addr` reach a live participant: the I/O loop remembers which
    /// local address such a peer wrote to (so replies leave from it) only while this holds.
    pub(super) fn routes(&self, addr: SocketAddr) -> bool {
        self.demux.routes(addr)
    }

    // ----- hub requests -------------------------------------------------------------------

    /// The one place a request is taken apart; each variant's work is a method below.
    fn request(&mut self, now: Instant, request: Request) -> Result<Reply, SfuError> {
        let done = |()| Reply::Done;
        match request {
            Request::Join { room, user } => self.join(now, room, user).map(|_| Reply::Done),
            Request::Answer { room, user, sdp } => self.answer(now, room, user, sdp).map(done),
            Request::Candidate {
                room,
                user,
                candidate,
            } => self.candidate(room, user, candidate).map(done),
            Request::Mute { room, user, muted } => self.set_muted(now, room, user, muted).map(done),
            Request::Deafen {
                room,
                user,
                deafened,
            } => self.set_deafened(now, room, user, deafened).map(done),
            Request::Screen { room, user, active } => {
                self.set_screen(now, room, user, active).map(done)
            }
            Request::Leave { room, user } => self.leave(now, room, user).map(done),
            Request::Detach { room, user } => self.lookup(room, user).map(|id| {
                self.detach(now, id, "connection lost");
                Reply::Done
            }),
            Request::Participants { room } => Ok(Reply::Participants(self.participants(room))),
            Request::Stats { room, user } => {
                self.participant_stats(now, room, user).map(Reply::Stats)
            }
            Request::Inspect { room, user } => Ok(Reply::Internals(self.internals(room, user))),
        }
    }

    /// Adds `user` to `room` (replacing an earlier join of the same user) and queues its offer.
    /// Every other participant gets a slot for the newcomer and a new offer.
    fn join(&mut self, now: Instant, room: Uuid, user: Uuid) -> Result<PeerId, SfuError> {
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
        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        let mut peer = Peer::new(now, id, room, user, self.cfg.announce, self.shared.clone())?;
        let members: Vec<PeerId> = self
            .members(room)
            .into_iter()
            .filter(|m| Some(*m) != existing)
            .collect();
        for other in &members {
            if let Some(o) = self.peers.get(other) {
                peer.assign_slot(*other, o.user)?;
                if o.sharing && existing != Some(*other) {
                    peer.assign_video_slot(*other, o.user)?;
                }
            }
        }
        self.demux.insert_ufrag(peer.ufrag.clone(), id);
        self.peers.insert(id, peer);
        self.by_user.insert((room, user), id);
        info!(%room, %user, peer = id.0, rejoin = existing.is_some(), "voice participant joined");
        match existing {
            Some(old) => self.take_over(now, room, old, id),
            None => {
                self.rooms.entry(room).or_default().members.push(id);
                for other in members {
                    if let Some(o) = self.peers.get_mut(&other)
                        && let Err(e) = o.assign_slot(id, user)
                    {
                        warn!(%room, peer = other.0, "adding a slot failed: {e}");
                    }
                    self.negotiate(now, other);
                }
            }
        }
        self.negotiate(now, id);
        self.emit_state(room);
        Ok(id)
    }

    /// A newer join `new` of the same user takes `old`'s place: the same position in the
    /// room, and every other participant's slot that carried `old` now carries `new` (same
    /// m-line, same msid, numbering continued), so nobody else renegotiates or sees a leave.
    /// Then `old` goes (its session, if alive, is told it was replaced).
    fn take_over(&mut self, now: Instant, room: Uuid, old: PeerId, new: PeerId) {
        // A new join does not share: whoever watched the old one's screen stops.
        if self.peers.get(&old).is_some_and(|p| p.sharing) {
            self.stop_sharing(now, old);
        }
        let mut others = Vec::new();
        if let Some(r) = self.rooms.get_mut(&room) {
            for m in &mut r.members {
                if *m == old {
                    *m = new;
                } else {
                    others.push(*m);
                }
            }
        }
        for other in others {
            if let Some(o) = self.peers.get_mut(&other) {
                o.repoint_slot(old, new);
            }
        }
        self.remove_peer(now, old, "replaced by a newer join");
    }

    /// The participant's connection is gone without a leave: with a rejoin grace, their
    /// PeerConnection is closed and their place kept (see [`Peer::detach`]); without, they
    /// are removed.
    fn detach(&mut self, now: Instant, id: PeerId, reason: &str) {
        if self.cfg.rejoin_grace.is_zero() {
            return self.remove_peer(now, id, reason);
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.away_since.is_some() {
            return;
        }
        let was_sharing = peer.sharing;
        if was_sharing {
            self.stop_sharing(now, id);
            self.emit_state_of(id);
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.detach(now, &mut self.transmits);
        let stopped = peer.speaker.reset(now);
        let (room, user, ufrag) = (peer.room, peer.user, peer.ufrag.clone());
        self.demux.remove(id, &ufrag);
        info!(%room, %user, peer = id.0, reason, "voice participant away; place kept");
        if let Some(speaking) = stopped {
            self.outputs.push_back(Output::Room(RoomEvent::Speaking {
                room,
                user,
                speaking,
            }));
        }
    }

    /// Applies `user`'s answer.
    fn answer(
        &mut self,
        now: Instant,
        room: Uuid,
        user: Uuid,
        sdp: String,
    ) -> Result<(), SfuError> {
        let id = self.lookup(room, user)?;
        let peer = self.peer_mut(id, room)?;
        let new_screens = peer.apply_answer(now, sdp)?;
        self.touch(id);
        // A new viewer of a screen needs a keyframe to start from.
        for sharer in new_screens {
            if let Some(s) = self.peers.get_mut(&sharer) {
                s.request_keyframe(now, true, &mut self.transmits);
            }
            self.touch(sharer);
        }
        // Changes made while the offer was outstanding are offered now.
        self.negotiate(now, id);
        Ok(())
    }

    /// Adds one of `user`'s ICE candidates.
    fn candidate(&mut self, room: Uuid, user: Uuid, c: IceCandidate) -> Result<(), SfuError> {
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
    fn set_muted(
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
        let was_publishing = peer.publishes();
        peer.muted = muted;
        self.publishing_changed(now, id, was_publishing);
        self.emit_state(room);
        Ok(())
    }

    /// Deafens or undeafens `user`: a deafened participant is sent nothing (each of their
    /// slots skips them at [`Peer::forward`]) and their microphone is dropped like a muted
    /// one. Undeafening re-bases their slots so each stream continues its numbering.
    fn set_deafened(
        &mut self,
        now: Instant,
        room: Uuid,
        user: Uuid,
        deafened: bool,
    ) -> Result<(), SfuError> {
        let id = self.lookup(room, user)?;
        let peer = self.peer_mut(id, room)?;
        if peer.deafened == deafened {
            return Ok(());
        }
        let was_publishing = peer.publishes();
        peer.deafened = deafened;
        if !deafened {
            peer.rebase_all_slots();
        }
        self.publishing_changed(now, id, was_publishing);
        self.emit_state(room);
        Ok(())
    }

    /// After a mute or deafen change of `id`: a participant who stopped publishing stops
    /// speaking; one who resumed has every slot carrying them re-based, so the first packet
    /// continues each subscriber's numbering.
    fn publishing_changed(&mut self, now: Instant, id: PeerId, was_publishing: bool) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let (room, user, publishing) = (peer.room, peer.user, peer.publishes());
        if was_publishing && !publishing {
            if let Some(speaking) = peer.speaker.reset(now) {
                self.outputs.push_back(Output::Room(RoomEvent::Speaking {
                    room,
                    user,
                    speaking,
                }));
            }
        } else if !was_publishing && publishing {
            for other in self.members(room) {
                if let Some(o) = self.peers.get_mut(&other) {
                    o.rebase_slot(id);
                }
            }
        }
    }

    /// Starts or stops `user`'s screen share (`voice.screen`). Starting gives the sharer a
    /// video m-line the server receives on and every other participant a video slot carrying
    /// it; stopping parks both. At most `max_sharers` per room share at once.
    fn set_screen(
        &mut self,
        now: Instant,
        room: Uuid,
        user: Uuid,
        active: bool,
    ) -> Result<(), SfuError> {
        let id = self.lookup(room, user)?;
        let peer = self.peer_mut(id, room)?;
        if peer.sharing == active {
            return Ok(());
        }
        if !active {
            self.stop_sharing(now, id);
            self.emit_state(room);
            return Ok(());
        }
        let sharers = self
            .members(room)
            .iter()
            .filter(|m| self.peers.get(m).is_some_and(|p| p.sharing))
            .count();
        if sharers >= self.cfg.max_sharers {
            return Err(SfuError::ScreenLimit {
                room,
                max: self.cfg.max_sharers,
            });
        }
        self.peer_mut(id, room)?.start_screen()?;
        for other in self.members(room) {
            if other == id {
                continue;
            }
            if let Some(o) = self.peers.get_mut(&other)
                && let Err(e) = o.assign_video_slot(id, user)
            {
                warn!(%room, peer = other.0, "adding a screen slot failed: {e}");
            }
            self.negotiate(now, other);
        }
        self.negotiate(now, id);
        self.emit_state(room);
        Ok(())
    }

    /// Ends `id`'s screen share: their video m-line goes inactive and every viewer's slot is
    /// parked; everyone concerned is offered the change. No state is emitted.
    fn stop_sharing(&mut self, now: Instant, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.stop_screen();
        let room = peer.room;
        for other in self.members(room) {
            if other == id {
                continue;
            }
            if let Some(o) = self.peers.get_mut(&other)
                && let Err(e) = o.release_video_slot(id)
            {
                warn!(%room, peer = other.0, "parking a screen slot failed: {e}");
            }
            self.negotiate(now, other);
        }
        self.negotiate(now, id);
    }

    fn emit_state_of(&mut self, id: PeerId) {
        if let Some(room) = self.peers.get(&id).map(|p| p.room) {
            self.emit_state(room);
        }
    }

    /// Removes `user` from `room`.
    fn leave(&mut self, now: Instant, room: Uuid, user: Uuid) -> Result<(), SfuError> {
        let id = self.lookup(room, user)?;
        self.remove_peer(now, id, "left");
        Ok(())
    }

    /// The room's participants in join order.
    fn participants(&self, room: Uuid) -> Vec<ParticipantState> {
        self.members(room)
            .iter()
            .filter_map(|id| self.peers.get(id))
            .map(|p| ParticipantState {
                user_id: p.user,
                muted: !p.publishes(),
                speaking: p.speaker.is_speaking(),
                deafened: p.deafened,
                quality: p.quality,
                screen: p.sharing,
            })
            .collect()
    }

    /// One participant's figures.
    fn participant_stats(
        &mut self,
        now: Instant,
        room: Uuid,
        user: Uuid,
    ) -> Result<ParticipantStats, SfuError> {
        let id = self.lookup(room, user)?;
        Ok(self.peer_mut(id, room)?.stats(now))
    }

    /// Table sizes, and the m-lines of `user`'s PeerConnection (tests watch that slot reuse
    /// bounds them). Signal channels are the I/O loop's; it fills in their count.
    fn internals(&self, room: Uuid, user: Uuid) -> Internals {
        let (ufrags, addrs) = self.demux.len();
        Internals {
            rooms: self.rooms.len(),
            peers: self.peers.len(),
            ufrags,
            addrs,
            signal_channels: 0,
            m_lines: self
                .peer_of(room, user)
                .and_then(|id| self.peers.get(&id))
                .map(Peer::m_lines),
        }
    }

    /// Removes everyone, telling each participant why.
    fn shutdown(&mut self, now: Instant) {
        self.closing = true;
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            self.remove_peer(now, id, SHUTDOWN_REASON);
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
    fn datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
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

        let mut media = std::mem::take(&mut self.scratch_media);
        let mut speaking = std::mem::take(&mut self.scratch_speaking);
        peer.drain_media(now, &mut media, &mut speaking);
        let health = peer.drain_events();
        peer.drain_writes(&mut self.transmits);
        self.touch(id);

        if !(media.audio.is_empty() && media.video.is_empty())
            && let Some(r) = self.rooms.get(&room)
        {
            for (pkt, video) in media
                .audio
                .iter()
                .map(|p| (p, false))
                .chain(media.video.iter().map(|p| (p, true)))
            {
                for sub in &r.members {
                    if *sub == id {
                        continue;
                    }
                    if let Some(s) = self.peers.get_mut(sub) {
                        s.forward(now, id, pkt, video, &mut self.transmits);
                    }
                }
            }
        }
        // A viewer's picture-loss reports become (at most) one keyframe request per sharer.
        for sharer in &media.keyframes {
            if let Some(s) = self.peers.get_mut(sharer) {
                s.request_keyframe(now, false, &mut self.transmits);
                if let Some(t) = s.next_timeout {
                    self.next_pc_timeout = Some(self.next_pc_timeout.map_or(t, |n| n.min(t)));
                }
            }
        }
        media.clear();
        self.scratch_media = media;
        for (peer, state) in speaking.drain(..) {
            self.emit_speaking(peer, state);
        }
        self.scratch_speaking = speaking;
        self.after_health(now, id, health);
    }

    /// Runs PeerConnection timers that are due, and housekeeping every 100 ms.
    fn timeout(&mut self, now: Instant) {
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
        if self.next_housekeeping <= now {
            self.housekeeping(now);
            self.next_housekeeping = now + HOUSEKEEPING_INTERVAL;
        }
    }

    /// The next instant the core wants [`Input::Timeout`].
    pub(super) fn poll_timeout(&self) -> Instant {
        let house = self.next_housekeeping;
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
    fn publish_stats(&self) {
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
            self.detach(now, id, "connection lost");
        } else if health.connected
            && let Some(p) = self.peers.get_mut(&id)
        {
            debug!(room = %p.room, user = %p.user, "voice participant connected");
            p.last_rx = now;
            // Keyframes sent while the transport came up were not forwarded to them.
            for sharer in p.watched_screens() {
                if let Some(s) = self.peers.get_mut(&sharer) {
                    s.request_keyframe(now, true, &mut self.transmits);
                }
                self.touch(sharer);
            }
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut speaking = Vec::new();
        let mut judged = Vec::new();
        let mut lost = Vec::new();
        self.housekeeping_rounds = self.housekeeping_rounds.wrapping_add(1);
        let judge = self.housekeeping_rounds.is_multiple_of(QUALITY_ROUNDS);
        for p in self.peers.values_mut() {
            if judge && p.judge_quality(now).is_some() && !judged.contains(&p.room) {
                judged.push(p.room);
            }
            if let Some(s) = p.speaker.tick(now) {
                speaking.push((p.id, s));
            }
            p.screen_tick(now, &mut self.transmits);
            if let Some(away) = p.away_since {
                if now.saturating_duration_since(away) > self.cfg.rejoin_grace {
                    expired.push((p.id, "connection lost"));
                }
                continue;
            }
            let reason = if p.connected
                && now.saturating_duration_since(p.last_rx) > PEER_IDLE_TIMEOUT
            {
                lost.push(p.id);
                None
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
        for id in lost {
            self.detach(now, id, "connection lost");
        }
        // One `voice.state` per room whose verdicts changed: at most one per 2 s for quality.
        for room in judged {
            if self.rooms.contains_key(&room) {
                self.emit_state(room);
            }
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
        let (room, user) = (peer.room, peer.user);
        peer.close(&mut self.transmits);
        self.demux.remove(id, &peer.ufrag);
        if self.by_user.get(&(room, user)) == Some(&id) {
            self.by_user.remove(&(room, user));
        }
        let was_speaking = peer.speaker.is_speaking();
        self.retire(now, peer, reason);
        self.vacate(now, room, id);

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
        // A room that just emptied reports its empty list too, so every view of it clears.
        self.emit_state(room);
        self.publish_stats();
    }

    /// Logs what a departing participant's call carried and adds it to the totals of the
    /// departed, so published totals never go backwards; the PeerConnection is dropped here.
    fn retire(&mut self, now: Instant, mut peer: Peer, reason: &str) {
        let stats = peer.stats(now);
        // One line per participant with what their call carried: for logs and troubleshooting.
        info!(
            room = %peer.room,
            user = %peer.user,
            peer = peer.id.0,
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
    }

    /// Takes `id` out of `room` (dropping the room once empty) and parks its slot on every
    /// remaining participant, each of whom is then offered the change.
    fn vacate(&mut self, now: Instant, room: Uuid, id: PeerId) {
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
        for other in remaining {
            self.negotiate(now, other);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The core is sans-I/O: these tests drive it with chosen instants and no network. The
    //! tests in `sim/` go further and connect real PeerConnections to it.
    use super::*;

    fn core(max: usize, now: Instant) -> (Core, Arc<SharedStats>) {
        let shared = Arc::new(SharedStats::default());
        let cfg = CoreConfig {
            announce: "127.0.0.1:7882".parse().unwrap(),
            max_participants: max,
            rejoin_grace: Duration::ZERO,
            max_sharers: 2,
        };
        (Core::new(cfg, shared.clone(), now), shared)
    }

    fn join(c: &mut Core, now: Instant, room: Uuid, user: Uuid) -> Result<PeerId, SfuError> {
        c.handle(now, Input::Request(Request::Join { room, user }))?;
        Ok(c.peer_of(room, user).unwrap())
    }

    fn internals(c: &mut Core, now: Instant, room: Uuid, user: Uuid) -> Internals {
        match c.handle(now, Input::Request(Request::Inspect { room, user })) {
            Ok(Reply::Internals(i)) => i,
            other => panic!("inspect answered {other:?}"),
        }
    }

    fn table_sizes(c: &mut Core, now: Instant) -> (usize, usize, usize, usize) {
        let i = internals(c, now, Uuid::nil(), Uuid::nil());
        (i.rooms, i.peers, i.ufrags, i.addrs)
    }

    fn participants(c: &mut Core, now: Instant, room: Uuid) -> Vec<ParticipantState> {
        match c.handle(now, Input::Request(Request::Participants { room })) {
            Ok(Reply::Participants(p)) => p,
            other => panic!("participants answered {other:?}"),
        }
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
        let t0 = Instant::now();
        let (mut c, shared) = core(50, t0);
        let room = Uuid::new_v4();
        let a = join(&mut c, t0, room, Uuid::new_v4()).unwrap();
        let b = join(&mut c, t0, room, Uuid::new_v4()).unwrap();
        let out = drain(&mut c);
        assert_eq!(offers_to(&out, a), 1, "a's first offer is still unanswered");
        assert_eq!(offers_to(&out, b), 1);
        assert_eq!(shared.snapshot().live_peer_connections, 2);
        let b_user = c.peers[&b].user;
        assert_eq!(internals(&mut c, t0, room, b_user).m_lines, Some(2));
    }

    #[test]
    fn participants_that_never_connect_are_removed_and_freed() {
        let t0 = Instant::now();
        let (mut c, shared) = core(50, t0);
        let room = Uuid::new_v4();
        let a = join(&mut c, t0, room, Uuid::new_v4()).unwrap();
        let b = join(&mut c, t0, room, Uuid::new_v4()).unwrap();
        drain(&mut c);
        let t1 = t0 + Duration::from_secs(10);
        c.handle(t1, Input::Timeout).unwrap();
        assert_eq!(table_sizes(&mut c, t1), (1, 2, 2, 0));
        let t2 = t0 + CONNECT_TIMEOUT + Duration::from_secs(1);
        c.handle(t2, Input::Timeout).unwrap();
        let out = drain(&mut c);
        for id in [a, b] {
            assert!(out.iter().any(|o| matches!(o,
                Output::Signal(p, Signal::Closed { reason, .. }) if *p == id && reason == "could not connect")));
            assert!(
                out.iter()
                    .any(|o| matches!(o, Output::PeerGone(p) if *p == id))
            );
        }
        assert_eq!(table_sizes(&mut c, t2), (0, 0, 0, 0));
        assert_eq!(shared.snapshot().live_peer_connections, 0);
    }

    #[test]
    fn the_room_limit_counts_a_rejoin_as_a_replacement() {
        let t0 = Instant::now();
        let (mut c, _) = core(2, t0);
        let room = Uuid::new_v4();
        let (u1, u2) = (Uuid::new_v4(), Uuid::new_v4());
        let first = join(&mut c, t0, room, u1).unwrap();
        join(&mut c, t0, room, u2).unwrap();
        assert!(matches!(
            join(&mut c, t0, room, Uuid::new_v4()),
            Err(SfuError::Full { max: 2, .. })
        ));
        let again = join(&mut c, t0, room, u1).unwrap();
        assert_ne!(again, first);
        let out = drain(&mut c);
        assert!(out.iter().any(|o| matches!(o,
            Output::Signal(p, Signal::Closed { reason, .. }) if *p == first && reason.contains("replaced"))));
        assert_eq!(participants(&mut c, t0, room).len(), 2);
    }

    #[test]
    fn garbage_datagrams_are_counted_and_dropped() {
        let t0 = Instant::now();
        let (mut c, _) = core(50, t0);
        join(&mut c, t0, Uuid::new_v4(), Uuid::new_v4()).unwrap();
        let from = "10.1.2.3:4000".parse().unwrap();
        for data in [
            &b""[..],
            b"\x00\x01\x00\x00",
            b"\x80\x6f\x00\x01 junk",
            &[0xff; 1500],
        ] {
            c.handle(t0, Input::Datagram { from, data }).unwrap();
        }
        assert_eq!(c.unroutable, 4);
        assert_eq!(
            table_sizes(&mut c, t0).3,
            0,
            "no address learned from garbage"
        );
    }
}
