//! The Redis bus: pub/sub between the nodes of a cluster.
//!
//! Channels: `{prefix}:room:{room_id}` carries a room's events and is subscribed by a node only
//! while it has a session in the room; `{prefix}:node:{node_id}` carries events aimed at users with
//! sessions on that node (found through presence). Every event is delivered locally at once and
//! published for the other nodes, which skip what they published themselves: local delivery does
//! not wait on Redis, and goes on while Redis is away. Relays for one node (voice signaling) go
//! on that node's channel only.
//!
//! Calls: `{prefix}:voice:{room_id}` is the lease naming the node that hosts a room's call
//! (`SET NX PX`, renewed by its holder, expiring if the holder dies), and
//! `{prefix}:voice:{room_id}:state` the call's last participant list. Presence keys are in
//! [`super::presence`]; every name is made by [`Keys`].
//!
//! Two tasks own the connections. The publisher drains a bounded queue into pipelined `PUBLISH`es,
//! retrying a failed batch while Redis reconnects. The subscriber holds the pub/sub connection,
//! pings it, and on loss reconnects with backoff, resubscribes, and asks the hub to resync every
//! room from the store, so nothing published meanwhile is missed for good.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use redis::AsyncCommands;

use super::{CallHost, Event, Sink, Unavailable};
use crate::protocol::ws::VoiceParticipant;
use crate::protocol::{RoomId, UserId};

/// Most events waiting to be published; past this, events for other nodes are dropped (local
/// delivery already happened, and messages are in the store for resync).
const PUBLISH_QUEUE: usize = 16_384;
/// Most events sent in one pipeline.
const PUBLISH_BATCH: usize = 256;
/// How often the subscriber checks its connection is alive.
const PING_EVERY: Duration = Duration::from_secs(5);
/// How long a subscribe or unsubscribe may take before the connection is presumed dead.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a call's lease lives without renewal; the host renews it at a third of this.
const CALL_LEASE: Duration = Duration::from_secs(30);
/// How long a call's participant list is kept without an update.
const CALL_STATE_TTL_SECS: u64 = 86_400;

/// Extends the lease only if this node still holds it.
const RENEW_LEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Takes a call's lease if it is free, or held by a node whose heartbeat (its score in the
/// nodes set, an expiry in ms) has run out: that node died, and the call must be re-created
/// elsewhere as soon as its participants rejoin, not once the lease expires. Returns the holder.
/// KEYS: lease, nodes set. ARGV: this node, lease ms, now ms.
const CLAIM_LEASE: &str = "local holder = redis.call('GET', KEYS[1]) \
    if holder and holder ~= ARGV[1] then \
        local beat = redis.call('ZSCORE', KEYS[2], holder) \
        if beat and tonumber(beat) >= tonumber(ARGV[3]) then return holder end \
    end \
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
    return ARGV[1]";

/// Deletes the lease only if this node still holds it.
const RELEASE_LEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) else return 0 end";

/// Redis key and channel names, all under one prefix.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Names under `prefix`.
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// A room's channel.
    pub fn room_channel(&self, room: RoomId) -> String {
        format!("{}:room:{room}", self.prefix)
    }

    /// A node's channel.
    pub fn node_channel(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    /// The channel every node hears (revocations).
    pub fn broadcast_channel(&self) -> String {
        format!("{}:all", self.prefix)
    }

    /// Sorted set of the nodes holding sessions of `user`, scored by when each entry expires.
    pub fn user_nodes(&self, user: UserId) -> String {
        format!("{}:presence:{user}", self.prefix)
    }

    /// A user's chosen status (`away`, `dnd`); absent means online.
    pub fn user_status(&self, user: UserId) -> String {
        format!("{}:status:{user}", self.prefix)
    }

    /// When a user was last connected (unix ms).
    pub fn user_last_seen(&self, user: UserId) -> String {
        format!("{}:last_seen:{user}", self.prefix)
    }

    /// Sorted set of live nodes, scored by when each one's heartbeat expires.
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// Set of users a node holds sessions of, so that another node can mark them offline if it dies.
    pub fn node_users(&self, node: &str) -> String {
        format!("{}:node_users:{node}", self.prefix)
    }

    /// Lock taken by the node that sweeps up after a dead one.
    pub fn sweep_lock(&self, node: &str) -> String {
        format!("{}:sweep:{node}", self.prefix)
    }

    /// Lease naming the node that owns a room's voice call.
    pub fn voice_lease(&self, room: RoomId) -> String {
        format!("{}:voice:{room}", self.prefix)
    }

    /// The last `voice.state` participant list of a room's call (JSON).
    pub fn voice_state(&self, room: RoomId) -> String {
        format!("{}:voice:{room}:state", self.prefix)
    }
}

/// What travels on a channel: the event and the node that sent it.
#[derive(Serialize, Deserialize)]
struct Wire {
    from: String,
    event: Event,
}

/// Where a queued event goes.
enum Route {
    Channel(String),
    User(UserId),
    Node(String),
}

struct Inner {
    node: String,
    keys: Keys,
    conn: ConnectionManager,
    queue: mpsc::Sender<(Route, Arc<Vec<u8>>)>,
    subs: tokio::sync::Mutex<Subscriptions>,
    up: AtomicBool,
    sink: Weak<dyn Sink>,
    /// Calls this node hosts, each with the token that stops renewing its lease.
    leases: Mutex<HashMap<RoomId, CancellationToken>>,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

/// The rooms this node listens to, counted, and the live pub/sub connection's command half.
/// Behind an async mutex so that subscribe and unsubscribe reach Redis in the order they were asked.
#[derive(Default)]
struct Subscriptions {
    counts: HashMap<RoomId, usize>,
    sink: Option<PubSubSink>,
}

/// A connection to Redis, subscribed to this node's channel, not yet delivering anywhere.
pub struct RedisLink {
    node: String,
    keys: Keys,
    client: redis::Client,
    conn: ConnectionManager,
    sink: PubSubSink,
    stream: redis::aio::PubSubStream,
}

impl RedisLink {
    /// Connects (failing if Redis is unreachable now) and subscribes this node's channel, so the
    /// node is reachable the moment it starts.
    pub async fn connect(url: &str, prefix: &str, node: &str) -> Result<RedisLink, ConnectError> {
        let fail = |source| ConnectError {
            url: redact(url),
            source,
        };
        let client = redis::Client::open(url).map_err(fail)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(fail)?;
        let keys = Keys::new(prefix);
        let (mut sink, stream) = client.get_async_pubsub().await.map_err(fail)?.split();
        sink.subscribe(&[keys.node_channel(node), keys.broadcast_channel()])
            .await
            .map_err(fail)?;
        Ok(RedisLink {
            node: node.to_owned(),
            keys,
            client,
            conn,
            sink,
            stream,
        })
    }
}

/// The Redis side of the bus. Cheap to clone.
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

/// Connecting to Redis failed at start.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach Redis at {url}: {source}")]
pub struct ConnectError {
    url: String,
    source: redis::RedisError,
}

impl RedisBus {
    /// Delivers what `link` receives into `sink`, and runs the publisher and subscriber tasks on
    /// `tasks` until `cancel`.
    pub fn start(
        link: RedisLink,
        sink: Weak<dyn Sink>,
        tasks: &TaskTracker,
        cancel: CancellationToken,
    ) -> RedisBus {
        let (queue, rx) = mpsc::channel(PUBLISH_QUEUE);
        let bus = RedisBus {
            inner: Arc::new(Inner {
                node: link.node,
                keys: link.keys,
                conn: link.conn,
                queue,
                subs: tokio::sync::Mutex::new(Subscriptions {
                    counts: HashMap::new(),
                    sink: Some(link.sink),
                }),
                up: AtomicBool::new(true),
                sink,
                leases: Mutex::new(HashMap::new()),
                tasks: tasks.clone(),
                cancel: cancel.clone(),
            }),
        };
        tasks.spawn(bus.clone().publisher(rx, cancel.clone()));
        tasks.spawn(bus.clone().subscriber(link.client, link.stream, cancel));
        bus
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Key and channel names.
    pub(super) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// A connection for commands (presence, leases); reconnects by itself.
    pub(super) fn connection(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// Whether the pub/sub connection is up.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    /// Delivers locally, then queues for the other nodes.
    pub fn publish(&self, event: Event) {
        if let Event::Voice(relay) = &event {
            let node = relay.to.clone();
            self.send_to_node(&node, &event);
            return;
        }
        if let Some(sink) = self.inner.sink.upgrade() {
            sink.deliver(&event);
        }
        let route = match &event {
            Event::Room { room, .. } | Event::Left { room, .. } => {
                Route::Channel(self.inner.keys.room_channel(*room))
            }
            Event::User { user, .. } | Event::Joined { user, .. } => Route::User(*user),
            Event::Revoked { .. } | Event::Presence { .. } => {
                Route::Channel(self.inner.keys.broadcast_channel())
            }
            Event::Voice(_) => return,
        };
        self.enqueue(route, &event);
    }

    /// Sends `event` to one node only (not delivered locally).
    pub fn send_to_node(&self, node: &str, event: &Event) {
        self.enqueue(Route::Node(node.to_owned()), event);
    }

    fn enqueue(&self, route: Route, event: &Event) {
        let wire = Wire {
            from: self.inner.node.clone(),
            event: event.clone(),
        };
        let Ok(bytes) = serde_json::to_vec(&wire) else {
            return;
        };
        if self.inner.queue.try_send((route, Arc::new(bytes))).is_err() {
            tracing::warn!("bus publish queue full; event dropped for other nodes");
        }
    }

    /// Which node hosts `room`'s call: the lease holder, or this node if it takes the lease
    /// (free, or held by a node whose heartbeat ran out: see [`CLAIM_LEASE`]). A lease this node
    /// holds is renewed at a third of its life until [`RedisBus::release_call`].
    pub async fn claim_call(&self, room: RoomId) -> Result<CallHost, Unavailable> {
        if !self.is_up() {
            // Without Redis no node can tell who hosts the call; better no call than a split one.
            return Err(Unavailable);
        }
        let holder: String = redis::Script::new(CLAIM_LEASE)
            .key(self.inner.keys.voice_lease(room))
            .key(self.inner.keys.nodes())
            .arg(self.node())
            .arg(CALL_LEASE.as_millis() as u64)
            .arg(chrono::Utc::now().timestamp_millis())
            .invoke_async(&mut self.connection())
            .await
            .map_err(|_| Unavailable)?;
        if holder == self.node() {
            self.hold_lease(room);
            Ok(CallHost::Here)
        } else {
            Ok(CallHost::Node(holder))
        }
    }

    /// Stops renewing the lease of `room`'s call and deletes it (if this node still holds it).
    pub fn release_call(&self, room: RoomId) {
        if let Some(token) = lock(&self.inner.leases).remove(&room) {
            token.cancel();
        }
    }

    /// Renews this node's lease on `room` until released or shutdown, then deletes it.
    fn hold_lease(&self, room: RoomId) {
        let token = {
            let mut leases = lock(&self.inner.leases);
            if leases.contains_key(&room) {
                return;
            }
            let token = self.inner.cancel.child_token();
            leases.insert(room, token.clone());
            token
        };
        let bus = self.clone();
        self.inner.tasks.spawn(async move {
            let key = bus.inner.keys.voice_lease(room);
            let mut tick = tokio::time::interval(CALL_LEASE / 3);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let renewed: redis::RedisResult<i64> = redis::Script::new(RENEW_LEASE)
                    .key(&key)
                    .arg(bus.node())
                    .arg(CALL_LEASE.as_millis() as u64)
                    .invoke_async(&mut bus.connection())
                    .await;
                if let Err(e) = renewed {
                    tracing::warn!(error = %e, room_id = %room, "voice lease renewal failed");
                }
            }
            let released: redis::RedisResult<i64> = redis::Script::new(RELEASE_LEASE)
                .key(&key)
                .arg(bus.node())
                .invoke_async(&mut bus.connection())
                .await;
            if let Err(e) = released {
                tracing::debug!(error = %e, "voice lease release failed");
            }
        });
    }

    /// Keeps a call's participant list for a day (an empty list deletes it).
    pub async fn save_call_state(&self, room: RoomId, participants: &[VoiceParticipant]) {
        let key = self.inner.keys.voice_state(room);
        let mut conn = self.connection();
        let result: redis::RedisResult<()> = if participants.is_empty() {
            conn.del(key).await
        } else {
            let json = serde_json::to_string(participants).unwrap_or_default();
            conn.set_ex(key, json, CALL_STATE_TTL_SECS).await
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "storing voice state failed");
        }
    }

    /// The kept participant lists of those of `rooms` that have one (none while Redis is away).
    pub async fn call_states(&self, rooms: &[RoomId]) -> Vec<(RoomId, Vec<VoiceParticipant>)> {
        if rooms.is_empty() || !self.is_up() {
            return Vec::new();
        }
        let keys: Vec<String> = rooms
            .iter()
            .map(|r| self.inner.keys.voice_state(*r))
            .collect();
        let values: Vec<Option<String>> = match self.connection().mget(keys).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "reading voice states failed");
                return Vec::new();
            }
        };
        rooms
            .iter()
            .zip(values)
            .filter_map(|(r, v)| Some((*r, serde_json::from_str(&v?).ok()?)))
            .collect()
    }

    /// Starts hearing `room`'s channel; returns once Redis confirmed (or is down: the subscriber
    /// will subscribe when it reconnects, then resync).
    pub async fn subscribe_room(&self, room: RoomId) {
        let mut subs = self.inner.subs.lock().await;
        let count = subs.counts.entry(room).or_insert(0);
        *count += 1;
        if *count == 1 {
            let channel = self.inner.keys.room_channel(room);
            if let Some(sink) = subs.sink.as_mut() {
                let done = tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.subscribe(&channel)).await;
                if !matches!(done, Ok(Ok(()))) {
                    // The connection is failing: drop it, so the subscriber reconnects and
                    // resubscribes every counted room (this one included), then resyncs.
                    tracing::warn!("redis subscribe failed; reconnecting");
                    subs.sink = None;
                    self.inner.up.store(false, Ordering::Relaxed);
                }
            }
        }
    }

    /// Stops hearing `room`'s channel once no local session needs it.
    pub async fn unsubscribe_room(&self, room: RoomId) {
        let mut subs = self.inner.subs.lock().await;
        let Some(count) = subs.counts.get_mut(&room) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            subs.counts.remove(&room);
            let channel = self.inner.keys.room_channel(room);
            if let Some(sink) = subs.sink.as_mut() {
                let done =
                    tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.unsubscribe(&channel)).await;
                if !matches!(done, Ok(Ok(()))) {
                    tracing::debug!("redis unsubscribe failed");
                }
            }
        }
    }

    /// Subscribes a fresh pub/sub connection to this node's channel and every counted room.
    async fn attach(
        &self,
        pubsub: redis::aio::PubSub,
    ) -> Result<redis::aio::PubSubStream, redis::RedisError> {
        let (mut sink, stream) = pubsub.split();
        let mut subs = self.inner.subs.lock().await;
        sink.subscribe(&[
            self.inner.keys.node_channel(&self.inner.node),
            self.inner.keys.broadcast_channel(),
        ])
        .await?;
        let rooms: Vec<String> = subs
            .counts
            .keys()
            .map(|r| self.inner.keys.room_channel(*r))
            .collect();
        if !rooms.is_empty() {
            sink.subscribe(&rooms).await?;
        }
        subs.sink = Some(sink);
        self.inner.up.store(true, Ordering::Relaxed);
        Ok(stream)
    }

    async fn detach(&self) {
        self.inner.up.store(false, Ordering::Relaxed);
        self.inner.subs.lock().await.sink = None;
    }

    /// Receives events while the connection lives; reconnects when it dies.
    async fn subscriber(
        self,
        client: redis::Client,
        first: redis::aio::PubSubStream,
        cancel: CancellationToken,
    ) {
        let mut stream = Some(first);
        let mut backoff = Duration::from_millis(100);
        loop {
            if let Some(s) = stream.take() {
                self.receive(s, &cancel).await;
                self.detach().await;
                if cancel.is_cancelled() {
                    return;
                }
                tracing::warn!("redis pub/sub connection lost; reconnecting");
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            let attached = match client.get_async_pubsub().await {
                Ok(pubsub) => self.attach(pubsub).await,
                Err(e) => Err(e),
            };
            match attached {
                Ok(s) => {
                    tracing::info!("redis pub/sub reconnected; resyncing rooms");
                    backoff = Duration::from_millis(100);
                    stream = Some(s);
                    if let Some(sink) = self.inner.sink.upgrade() {
                        sink.resync();
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "redis reconnect failed");
                    self.detach().await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Delivers what arrives until the connection drops or stops answering pings.
    async fn receive(&self, mut stream: redis::aio::PubSubStream, cancel: &CancellationToken) {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                msg = stream.next() => {
                    let Some(msg) = msg else { return };
                    self.handle(msg.get_payload_bytes());
                }
                _ = ping.tick() => {
                    let sink = self.inner.subs.lock().await.sink.clone();
                    let Some(mut sink) = sink else { return };
                    // In subscribed mode PING answers ["pong", ""], so accept any reply.
                    let alive = tokio::time::timeout(Duration::from_secs(3), sink.ping::<redis::Value>()).await;
                    if !matches!(alive, Ok(Ok(_))) {
                        return;
                    }
                }
            }
        }
    }

    fn handle(&self, payload: &[u8]) {
        let wire: Wire = match serde_json::from_slice(payload) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable bus message");
                return;
            }
        };
        if wire.from == self.inner.node {
            return;
        }
        if let Some(sink) = self.inner.sink.upgrade() {
            sink.deliver(&wire.event);
        }
    }

    /// Publishes queued events in pipelined batches; a failed batch is retried while Redis
    /// reconnects, for up to 30 s, then dropped.
    async fn publisher(
        self,
        mut rx: mpsc::Receiver<(Route, Arc<Vec<u8>>)>,
        cancel: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                n = rx.recv_many(&mut batch, PUBLISH_BATCH) => if n == 0 { return },
            }
            let mut delay = Duration::from_millis(50);
            let started = tokio::time::Instant::now();
            loop {
                match self.publish_batch(&batch).await {
                    Ok(()) => break,
                    Err(e) if started.elapsed() < Duration::from_secs(30) => {
                        tracing::debug!(error = %e, "redis publish failed; retrying");
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, events = batch.len(), "redis publish failed; events dropped");
                        break;
                    }
                }
            }
            batch.clear();
        }
    }

    async fn publish_batch(&self, batch: &[(Route, Arc<Vec<u8>>)]) -> redis::RedisResult<()> {
        let started = std::time::Instant::now();
        let result = self.try_publish_batch(batch).await;
        crate::metrics::bus_publish(started.elapsed());
        result
    }

    async fn try_publish_batch(&self, batch: &[(Route, Arc<Vec<u8>>)]) -> redis::RedisResult<()> {
        let mut conn = self.inner.conn.clone();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut pipe = redis::pipe();
        let mut publishes = 0;
        for (route, bytes) in batch {
            match route {
                Route::Channel(channel) => {
                    pipe.publish(channel, bytes.as_slice()).ignore();
                    publishes += 1;
                }
                Route::Node(node) => {
                    pipe.publish(self.inner.keys.node_channel(node), bytes.as_slice())
                        .ignore();
                    publishes += 1;
                }
                Route::User(user) => {
                    let nodes: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                        .arg(self.inner.keys.user_nodes(*user))
                        .arg(now_ms)
                        .arg("+inf")
                        .query_async(&mut conn)
                        .await?;
                    for node in nodes.iter().filter(|n| **n != self.inner.node) {
                        pipe.publish(self.inner.keys.node_channel(node), bytes.as_slice())
                            .ignore();
                        publishes += 1;
                    }
                }
            }
        }
        // A batch of events only for users on no other node sends nothing (Redis refuses an
        // empty pipeline).
        if publishes == 0 {
            return Ok(());
        }
        pipe.query_async::<()>(&mut conn).await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each update is one insert or remove: a panic cannot leave the map half-changed.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match url.find('@') {
        Some(at) => match url[..at].rfind(':') {
            Some(colon) if colon > url.find("://").map_or(0, |i| i + 2) => {
                format!("{}:***{}", &url[..colon], &url[at..])
            }
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_cut_from_redis_urls() {
        assert_eq!(redact("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact("redis://u:pw@h"), "redis://u:***@h");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
    }
}
