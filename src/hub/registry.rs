//! The local sessions of this node, by room and by user, and delivery of bus events to them.
//!
//! Each room with local sessions has a slot: its sessions and a sequencer. The sequencer hands
//! `message.new` frames to sessions in seq order: a frame ahead of the next expected seq waits in
//! the slot (concurrent senders can publish out of order, and a Redis outage can lose frames); if
//! the gap is still open after a moment, the slot catches up from the store once for the whole node,
//! rather than once per session. A slot is created when the first local session joins the room:
//! the bus subscribes first, then the newest seq is read, so nothing falls between the two.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::outbox::{Frame, Outgoing, SessionHandle};
use crate::bus::{Bus, Event, Sink};
use crate::protocol::api::Message;
use crate::protocol::cluster::Relay;
use crate::protocol::ws::ServerFrame;
use crate::protocol::{RoomId, Seq, SessionId, UserId};
use crate::service::{Revocations, RoomLog};

/// How long a gap in a room's seqs may stay open before the node reads the missing messages from
/// the store. Out-of-order publishes close it in microseconds; a lost publish never does.
const GAP_WAIT: Duration = Duration::from_millis(250);
/// Most messages waiting for a gap to close, per room; past it, the wait is cut short.
const MAX_PENDING: usize = 1024;

/// The local sessions and rooms of this node.
pub struct Registry {
    me: Weak<Registry>,
    log: RoomLog,
    /// Logins signed out: updated from the bus, read by every token check.
    revocations: Arc<Revocations>,
    bus: Bus,
    tasks: TaskTracker,
    rooms: RwLock<HashMap<RoomId, Arc<RoomSlot>>>,
    users: Mutex<HashMap<UserId, Vec<SessionHandle>>>,
    session_rooms: Mutex<HashMap<SessionId, HashSet<RoomId>>>,
    sessions: Mutex<HashMap<SessionId, SessionHandle>>,
    /// Whose presence local sessions subscribed to (`presence.subscribe`).
    watches: Mutex<Watches>,
    /// Where voice relays from other nodes go (the hub's voice task).
    relays: mpsc::Sender<Relay>,
}

struct RoomSlot {
    room: RoomId,
    /// Set once the bus is subscribed and `next_seq` read; later joiners wait on it.
    ready: tokio::sync::OnceCell<()>,
    state: Mutex<RoomState>,
}

#[derive(Default)]
struct RoomState {
    sessions: Vec<SessionHandle>,
    /// The seq the next `message.new` should carry; `None` until the slot is ready.
    next_seq: Option<Seq>,
    /// Frames that arrived ahead of `next_seq`.
    pending: BTreeMap<Seq, Arc<Frame>>,
    /// A catch-up from the store is scheduled.
    repairing: bool,
    /// The slot was removed from the map (its last session left); joiners must make a new one.
    closed: bool,
}

/// A catch-up about to read: the store's messages after `after`, and the newest frame that
/// was waiting on a gap before the read.
struct CatchUp {
    after: Seq,
    waited: Option<Seq>,
}

/// Subscriptions to presence, both ways round.
#[derive(Default)]
struct Watches {
    /// User → the local sessions that hear their presence.
    watchers: HashMap<UserId, Vec<SessionHandle>>,
    /// Session → whom it watches.
    watched: HashMap<SessionId, Vec<UserId>>,
}

impl Watches {
    fn unwatch(&mut self, session: SessionId) {
        for user in self.watched.remove(&session).unwrap_or_default() {
            if let Some(list) = self.watchers.get_mut(&user) {
                list.retain(|h| h.id != session);
                if list.is_empty() {
                    self.watchers.remove(&user);
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps stay consistent across a panic (every update is one insert or remove).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// An empty registry reading catch-ups from `log` and passing voice relays from other nodes
    /// to `relays`; spawned work goes on `tasks`. The bus delivers into the registry and the
    /// registry subscribes rooms on it, so the bus is made here, by `bus`, around the registry
    /// it is given as its sink.
    pub fn new(
        log: RoomLog,
        revocations: Arc<Revocations>,
        relays: mpsc::Sender<Relay>,
        tasks: TaskTracker,
        bus: impl FnOnce(Weak<dyn Sink>) -> Bus,
    ) -> Arc<Registry> {
        Arc::new_cyclic(|me: &Weak<Registry>| {
            let sink: Weak<dyn Sink> = me.clone();
            Registry {
                me: me.clone(),
                log,
                revocations,
                bus: bus(sink),
                tasks,
                rooms: RwLock::new(HashMap::new()),
                users: Mutex::new(HashMap::new()),
                session_rooms: Mutex::new(HashMap::new()),
                sessions: Mutex::new(HashMap::new()),
                watches: Mutex::new(Watches::default()),
                relays,
            }
        })
    }

    /// The bus this registry hears.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// A session of this node, by id.
    pub fn session(&self, id: SessionId) -> Option<SessionHandle> {
        lock(&self.sessions).get(&id).cloned()
    }

    /// A new session: from now on it hears events aimed at its user.
    pub fn add_session(&self, handle: SessionHandle) {
        lock(&self.sessions).insert(handle.id, handle.clone());
        lock(&self.session_rooms).insert(handle.id, HashSet::new());
        lock(&self.users)
            .entry(handle.user)
            .or_default()
            .push(handle);
    }

    /// A session ended: it leaves every room; rooms left without local sessions are unsubscribed.
    pub async fn remove_session(&self, id: SessionId, user: UserId) {
        {
            let mut users = lock(&self.users);
            if let Some(list) = users.get_mut(&user) {
                list.retain(|h| h.id != id);
                if list.is_empty() {
                    users.remove(&user);
                }
            }
        }
        lock(&self.sessions).remove(&id);
        lock(&self.watches).unwatch(id);
        let rooms = lock(&self.session_rooms).remove(&id).unwrap_or_default();
        for room in rooms {
            self.detach(room, |h| h.id == id).await;
        }
    }

    /// From now on `session` hears the presence of `users` (published as [`Event::Presence`]),
    /// and no longer that of whomever it watched before.
    pub fn watch(&self, session: &SessionHandle, users: Vec<UserId>) {
        let mut watches = lock(&self.watches);
        watches.unwatch(session.id);
        for user in &users {
            watches
                .watchers
                .entry(*user)
                .or_default()
                .push(session.clone());
        }
        if !users.is_empty() {
            watches.watched.insert(session.id, users);
        }
    }

    /// How many sessions this node holds.
    pub fn session_count(&self) -> usize {
        lock(&self.session_rooms).len()
    }

    /// Whether `session` hears `room` (so its user is a member, as of the last membership event).
    pub fn in_room(&self, session: SessionId, room: RoomId) -> bool {
        lock(&self.session_rooms)
            .get(&session)
            .is_some_and(|rooms| rooms.contains(&room))
    }

    /// The rooms with sessions on this node.
    pub fn rooms(&self) -> Vec<RoomId> {
        self.rooms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// Makes `session` hear `room`'s events. When this is the node's first session in the room,
    /// the bus subscribes first and then the newest seq is read: every message after it will be
    /// delivered live; the caller replays anything older the client lacks.
    pub async fn join_room(&self, session: &SessionHandle, room: RoomId) {
        loop {
            let slot = self.slot(room);
            let ready = slot
                .ready
                .get_or_init(|| async {
                    self.bus.subscribe_room(room).await;
                    let next = match self.log.next_seq(room).await {
                        Ok(next) => next,
                        Err(e) => {
                            // The room's messages will flow unordered until a gap is repaired.
                            tracing::warn!(error = %e, room_id = %room, "cannot read room seq");
                            Seq(1)
                        }
                    };
                    lock(&slot.state).next_seq.get_or_insert(next);
                })
                .await;
            let _: &() = ready;
            let mut state = lock(&slot.state);
            if state.closed {
                continue;
            }
            if !state.sessions.iter().any(|h| h.id == session.id) {
                state.sessions.push(session.clone());
            }
            drop(state);
            if let Some(rooms) = lock(&self.session_rooms).get_mut(&session.id) {
                rooms.insert(room);
            }
            return;
        }
    }

    /// `session` stops hearing `room` (its user left it). Idempotent: the registry already
    /// dropped the user's sessions from the room when the removal arrived, but a session that
    /// subscribed after that (it was still working through an older `member.joined`) is
    /// dropped here, in the order of its own queue.
    pub async fn leave_room(&self, session: SessionId, room: RoomId) {
        if let Some(rooms) = lock(&self.session_rooms).get_mut(&session) {
            rooms.remove(&room);
        }
        self.detach(room, |h| h.id == session).await;
    }

    fn slot(&self, room: RoomId) -> Arc<RoomSlot> {
        if let Some(slot) = self
            .rooms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&room)
        {
            return slot.clone();
        }
        self.rooms
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(room)
            .or_insert_with(|| {
                Arc::new(RoomSlot {
                    room,
                    ready: tokio::sync::OnceCell::new(),
                    state: Mutex::new(RoomState::default()),
                })
            })
            .clone()
    }

    fn existing_slot(&self, room: RoomId) -> Option<Arc<RoomSlot>> {
        self.rooms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&room)
            .cloned()
    }

    /// Removes the sessions matching `which` from `room`'s slot; drops the slot and unsubscribes
    /// when none are left.
    async fn detach(&self, room: RoomId, which: impl Fn(&SessionHandle) -> bool) {
        let Some(slot) = self.existing_slot(room) else {
            return;
        };
        let emptied = {
            let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
            let mut state = lock(&slot.state);
            state.sessions.retain(|h| !which(h));
            if state.sessions.is_empty() && !state.closed {
                state.closed = true;
                rooms.remove(&room);
                true
            } else {
                false
            }
        };
        if emptied {
            self.bus.unsubscribe_room(room).await;
        }
    }

    /// Delivers a frame to a room's sessions; `message.new` in seq order.
    fn deliver_room(&self, room: RoomId, frame: &ServerFrame) {
        let Some(slot) = self.existing_slot(room) else {
            return;
        };
        let frame = Frame::in_room(frame, room);
        if let Some(at) = frame.created_at {
            crate::metrics::fanout(crate::metrics::since(at));
        }
        let mut state = lock(&slot.state);
        match (frame.seq, state.next_seq) {
            (Some((_, seq)), Some(next)) if seq < next => {}
            (Some((_, seq)), Some(next)) if seq > next => {
                state.pending.insert(seq, frame);
                if !state.repairing {
                    state.repairing = true;
                    let wait = if state.pending.len() >= MAX_PENDING {
                        Duration::ZERO
                    } else {
                        GAP_WAIT
                    };
                    self.schedule_catch_up(slot.room, wait);
                }
            }
            (Some((_, seq)), Some(_)) => {
                fan_out(&state.sessions, &frame);
                let mut next = seq.next();
                while let Some(waiting) = state.pending.remove(&next) {
                    fan_out(&state.sessions, &waiting);
                    next = next.next();
                }
                state.next_seq = Some(next);
            }
            _ => fan_out(&state.sessions, &frame),
        }
    }

    fn schedule_catch_up(&self, room: RoomId, wait: Duration) {
        let Some(me) = self.me.upgrade() else { return };
        self.tasks.spawn(async move {
            tokio::time::sleep(wait).await;
            me.catch_up(room).await;
        });
    }

    /// Reads from the store the messages a room's slot has not delivered and delivers them, in
    /// order; the ones that were waiting on the gap follow.
    async fn catch_up(&self, room: RoomId) {
        let Some(plan) = self.catch_up_plan(room) else {
            return;
        };
        let read = self.log.messages_after(room, plan.after).await;
        self.catch_up_apply(room, plan, read);
    }

    /// Where a catch-up of `room` reads from, and which frames were waiting before it read.
    fn catch_up_plan(&self, room: RoomId) -> Option<CatchUp> {
        let slot = self.existing_slot(room)?;
        let state = lock(&slot.state);
        Some(CatchUp {
            after: Seq(state.next_seq?.0 - 1),
            waited: state.pending.last_key_value().map(|(&seq, _)| seq),
        })
    }

    /// Delivers what a catch-up read, then settles the gaps it could not fill.
    ///
    /// A hole below a frame that was waiting before the read cannot be filled: every message
    /// under that frame's seq was committed before the frame was published, so before the read,
    /// and the read did not find it. The hole is skipped rather than holding the room forever.
    /// A frame that arrived during the read may sit above messages committed after it, whose
    /// publishes are on their way (concurrent senders committed in one batch publish in any
    /// order): skipping those would drop them for every session here, so the slot waits for
    /// them and looks again.
    fn catch_up_apply(
        &self,
        room: RoomId,
        plan: CatchUp,
        read: crate::service::Result<Vec<Message>>,
    ) {
        let Some(slot) = self.existing_slot(room) else {
            return;
        };
        let messages = match read {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, room_id = %room, "catch-up failed; retrying");
                lock(&slot.state).repairing = true;
                self.schedule_catch_up(room, Duration::from_secs(1));
                return;
            }
        };
        lock(&slot.state).repairing = false;
        for message in messages {
            self.deliver_room(room, &ServerFrame::MessageNew { message });
        }
        let mut state = lock(&slot.state);
        let sessions = state.sessions.clone();
        while let (Some(next), Some((&first, _))) =
            (state.next_seq, state.pending.first_key_value())
        {
            if next >= first {
                break;
            }
            if plan.waited.is_none_or(|waited| first > waited) {
                if !state.repairing {
                    state.repairing = true;
                    self.schedule_catch_up(room, GAP_WAIT);
                }
                break;
            }
            let mut next = first;
            while let Some(waiting) = state.pending.remove(&next) {
                fan_out(&sessions, &waiting);
                next = next.next();
            }
            state.next_seq = Some(next);
        }
    }

    fn user_sessions(&self, user: UserId) -> Vec<SessionHandle> {
        lock(&self.users).get(&user).cloned().unwrap_or_default()
    }
}

/// The fanout loop. Cost per receiver: one `try_reserve` on its queue and one refcount increment;
/// no allocation, no syscall, no await. Runs under the room's lock, which only fanout and joins take.
fn fan_out(sessions: &[SessionHandle], frame: &Arc<Frame>) {
    for session in sessions {
        session.push(Outgoing::Frame(frame.clone()));
    }
}

impl Sink for Registry {
    fn deliver(&self, event: &Event) {
        match event {
            Event::Room { room, frame } => self.deliver_room(*room, frame),
            Event::User { user, frame } => {
                let frame = Frame::new(frame);
                for s in self.user_sessions(*user) {
                    s.push(Outgoing::Frame(frame.clone()));
                }
            }
            Event::Joined { room, user, .. } => {
                for s in self.user_sessions(*user) {
                    s.push(Outgoing::Joined { room: *room });
                }
            }
            Event::Revoked {
                user,
                logins,
                suspended,
            } => {
                for login in logins {
                    self.revocations.revoke(*login);
                }
                for s in self.user_sessions(*user) {
                    if *suspended || s.login.is_some_and(|l| logins.contains(&l)) {
                        s.push(Outgoing::Revoked {
                            suspended: *suspended,
                        });
                    }
                }
            }
            Event::Presence { user, frame } => {
                let watchers = lock(&self.watches).watchers.get(user).cloned();
                if let Some(watchers) = watchers {
                    let frame = Frame::new(frame);
                    for s in watchers {
                        s.push(Outgoing::Frame(frame.clone()));
                    }
                }
            }
            Event::Voice(relay) => {
                if self.relays.try_send(relay.clone()).is_err() {
                    tracing::warn!("voice relay queue full; relay dropped");
                }
            }
            Event::Left { room, user } => {
                self.deliver_room(
                    *room,
                    &ServerFrame::MemberLeft {
                        room_id: *room,
                        user_id: *user,
                    },
                );
                let leaving = self.user_sessions(*user);
                {
                    let mut rooms = lock(&self.session_rooms);
                    for s in &leaving {
                        if let Some(set) = rooms.get_mut(&s.id) {
                            set.remove(room);
                        }
                        s.push(Outgoing::Left { room: *room });
                    }
                }
                // Stop at once: drop them from the slot now; the unsubscribe of an emptied room
                // may follow later (it must not drop a session that joins again meanwhile).
                if let Some(me) = self.me.upgrade() {
                    let room = *room;
                    self.tasks.spawn(async move {
                        me.detach(room, |_| false).await;
                    });
                }
                if let Some(slot) = self.existing_slot(*room) {
                    lock(&slot.state).sessions.retain(|h| h.user != *user);
                }
            }
        }
    }

    // (Voice relays are handled above through the voice channel.)
    fn resync(&self) {
        for room in self.rooms() {
            if let Some(me) = self.me.upgrade() {
                self.tasks.spawn(async move { me.catch_up(room).await });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Link;
    use crate::protocol::{MessageBody, MessageId};
    use crate::store::test_db::{self, user};
    use crate::store::{Mentions, NewMessage, SendOutcome, Store, now};
    use tokio_util::sync::CancellationToken;

    async fn send(store: &Store, room: RoomId, sender: UserId, body: &str) -> Message {
        let outcome = store
            .insert_message(NewMessage {
                id: MessageId::new(),
                room_id: room,
                sender_id: sender,
                body: MessageBody::parse(body).unwrap(),
                client_id: None,
                reply_to: None,
                forwarded_from: None,
                attachments: Vec::new(),
                mentions: Mentions::default(),
                thread: None,
                created_at: now(),
            })
            .await
            .unwrap();
        match outcome {
            SendOutcome::Created(message) => message,
            other => panic!("expected a new message, got {other:?}"),
        }
    }

    fn publish(registry: &Registry, message: &Message) {
        registry.deliver(&Event::Room {
            room: message.room_id,
            frame: ServerFrame::MessageNew {
                message: message.clone(),
            },
        });
    }

    /// Marks a catch-up of `room` as under way, as the slot does when it schedules one, so that
    /// out-of-order publishes schedule no other: the test's catch-ups are the ones that run.
    fn repairing(registry: &Registry, room: RoomId) {
        lock(&registry.existing_slot(room).unwrap().state).repairing = true;
    }

    /// The seqs of the `message.new` frames queued for a session, in order.
    fn seqs(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<i64> {
        let mut out = Vec::new();
        while let Ok(item) = rx.try_recv() {
            if let Outgoing::Frame(frame) = item
                && let Some((_, seq)) = frame.seq
            {
                out.push(seq.0);
            }
        }
        out
    }

    /// A registry with one session in one room of one message (seq 1, before it joined).
    struct Setup {
        _dir: tempfile::TempDir,
        store: Store,
        registry: Arc<Registry>,
        rx: mpsc::Receiver<Outgoing>,
        room: RoomId,
        ana: UserId,
    }

    async fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let store = test_db::sqlite_store(dir.path()).await;
        let ana = user(&store, "ana").await;
        let room = test_db::private_room(&store, "r", ana).await;
        let first = send(&store, room, ana, "one").await;
        let (relays, _) = mpsc::channel(1);
        let tasks = TaskTracker::new();
        let registry = Registry::new(
            RoomLog::new(store.clone()),
            Arc::new(Revocations::new(Duration::from_secs(60))),
            relays,
            tasks.clone(),
            |sink| Bus::new(Link::Local, "n1", sink, &tasks, CancellationToken::new()),
        );
        let (handle, mut rx) =
            SessionHandle::new(SessionId::new(), (ana, None), 64, CancellationToken::new());
        registry.add_session(handle.clone());
        registry.join_room(&handle, room).await;
        publish(&registry, &first);
        assert!(
            seqs(&mut rx).is_empty(),
            "seq 1 was before the session joined"
        );
        Setup {
            _dir: dir,
            store,
            registry,
            rx,
            room,
            ana,
        }
    }

    /// A catch-up started by one out-of-order publish reads the store while the next batch
    /// commits; a frame of that batch published during the read must not make the slot skip
    /// the batch's earlier messages, whose publishes are still on their way.
    #[tokio::test]
    async fn a_catch_up_does_not_skip_messages_committed_after_its_read() {
        let Setup {
            store,
            registry,
            mut rx,
            room,
            ana,
            _dir,
        } = setup().await;
        // Seqs 2 and 3 commit together; 3 is published first and waits for 2.
        let (two, three) = (
            send(&store, room, ana, "two").await,
            send(&store, room, ana, "three").await,
        );
        repairing(&registry, room);
        publish(&registry, &three);
        // The catch-up that wait asks for reads the store...
        let plan = registry.catch_up_plan(room).unwrap();
        let read = registry.log.messages_after(room, plan.after).await;
        // ...while 4 and 5 commit, and 5 is published before 4.
        let (four, five) = (
            send(&store, room, ana, "four").await,
            send(&store, room, ana, "five").await,
        );
        publish(&registry, &five);
        registry.catch_up_apply(room, plan, read);
        assert_eq!(
            seqs(&mut rx),
            [2, 3],
            "the read's messages, then what waited on them"
        );
        // The late publishes arrive: 2 again (dropped), then 4, which releases 5.
        publish(&registry, &two);
        publish(&registry, &four);
        assert_eq!(
            seqs(&mut rx),
            [4, 5],
            "nothing committed after the read is skipped"
        );
    }

    /// A hole below a frame that waited before the catch-up read cannot be filled (the store
    /// has no such message): the slot skips it rather than hold the room.
    #[tokio::test]
    async fn a_catch_up_skips_a_hole_the_store_cannot_fill() {
        let Setup {
            store,
            registry,
            mut rx,
            room,
            ana,
            _dir,
        } = setup().await;
        let two = send(&store, room, ana, "two").await;
        let (three, four) = (
            Message {
                seq: Seq(3),
                ..two.clone()
            },
            Message {
                seq: Seq(4),
                ..two.clone()
            },
        );
        repairing(&registry, room);
        publish(&registry, &four);
        publish(&registry, &two);
        let plan = registry.catch_up_plan(room).unwrap();
        let read = registry.log.messages_after(room, plan.after).await;
        registry.catch_up_apply(room, plan, read);
        assert_eq!(seqs(&mut rx), [2, 4], "seq 3, never stored, is skipped");
        publish(&registry, &three);
        assert!(
            seqs(&mut rx).is_empty(),
            "a frame behind the slot is not delivered"
        );
    }
}
