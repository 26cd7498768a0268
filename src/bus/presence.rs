//! Who is online: a user is online while any of their sessions is open on any node.
//!
//! In-process, a count of sessions per user is enough. With Redis, each user has a sorted set of
//! the nodes holding their sessions, scored by when each entry expires; every node renews its
//! entries by heartbeat, so a node that dies without a word drops out when its entries expire. A
//! surviving node notices the dead one in the set of nodes, takes a lock, and announces its users
//! offline (within TTL + TTL/3 of the last heartbeat, 60 s by default).
//!
//! [`Presence`] reports transitions (online, away, dnd, offline) as [`Change`]s; the hub turns them
//! into `presence` events for everyone who shares a room with the user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Bus;
use super::redis::RedisBus;
use crate::protocol::ws::{PresenceEntry, ServerFrame};
use crate::protocol::{PresenceStatus, UserId};

/// A user's presence as the `presence` event carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Who.
    pub user: UserId,
    /// Their status now.
    pub status: PresenceStatus,
    /// When they were last connected, if offline.
    pub last_seen: Option<DateTime<Utc>>,
}

impl Change {
    /// The event frame.
    pub fn frame(&self) -> ServerFrame {
        ServerFrame::from(self.entry())
    }

    /// The fields the `presence` event and a `presence.batch` entry carry.
    fn entry(&self) -> PresenceEntry {
        PresenceEntry {
            user_id: self.user,
            status: self.status,
            last_seen: self.last_seen,
        }
    }

    /// One frame telling all of `changes`, in order: `presence` for one, `presence.batch` for
    /// more, nothing for none.
    pub fn frame_of(changes: &[Change]) -> Option<ServerFrame> {
        match changes {
            [] => None,
            [one] => Some(one.frame()),
            many => Some(ServerFrame::PresenceBatch {
                presences: many.iter().map(Change::entry).collect(),
            }),
        }
    }
}

#[derive(Default)]
struct LocalEntry {
    sessions: usize,
    status: Option<PresenceStatus>,
    last_seen: Option<DateTime<Utc>>,
}

/// Presence, in-process or shared through Redis.
#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    /// Sessions per user on this node (and, in-process, the whole truth).
    local: Mutex<HashMap<UserId, LocalEntry>>,
    redis: Option<RedisBus>,
    ttl: Duration,
}

impl Presence {
    /// Presence for one node alone.
    pub fn local() -> Presence {
        Presence {
            inner: Arc::new(Inner {
                local: Mutex::new(HashMap::new()),
                redis: None,
                ttl: Duration::from_secs(45),
            }),
        }
    }

    /// Presence over `bus`: in-process when the bus is, else shared through Redis, where entries
    /// live `ttl` unless renewed and a heartbeat sends the offline changes of dead nodes' users
    /// to `changes`.
    pub fn for_bus(
        bus: &Bus,
        ttl: Duration,
        changes: mpsc::Sender<Change>,
        tasks: &TaskTracker,
        cancel: CancellationToken,
    ) -> Presence {
        let Some(redis) = bus.redis() else {
            return Presence::local();
        };
        let presence = Presence {
            inner: Arc::new(Inner {
                local: Mutex::new(HashMap::new()),
                redis: Some(redis.clone()),
                ttl,
            }),
        };
        tasks.spawn(presence.clone().heartbeat(changes, cancel));
        presence
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, LocalEntry>> {
        // A panic while holding this lock cannot leave the map half-changed; keep going.
        self.inner.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A session of `user` opened here. Returns the change if the user just came online.
    pub async fn session_opened(&self, user: UserId) -> Option<Change> {
        let first_here = {
            let mut map = self.lock();
            let entry = map.entry(user).or_default();
            entry.sessions += 1;
            entry.sessions == 1
        };
        if !first_here {
            return None;
        }
        let Some(bus) = &self.inner.redis else {
            let mut map = self.lock();
            let entry = map.entry(user).or_default();
            entry.status = None;
            entry.last_seen = None;
            return Some(online(user));
        };
        if !bus.is_up() {
            // Redis is away: the heartbeat records this session when it is back.
            return None;
        }
        let keys = bus.keys();
        let now = now_ms();
        let result: redis::RedisResult<(i64,)> = redis::pipe()
            .cmd("ZCOUNT")
            .arg(keys.user_nodes(user))
            .arg(now)
            .arg("+inf")
            .cmd("ZADD")
            .arg(keys.user_nodes(user))
            .arg(now + self.ttl_ms())
            .arg(bus.node())
            .ignore()
            .cmd("PEXPIRE")
            .arg(keys.user_nodes(user))
            .arg(self.ttl_ms() * 2)
            .ignore()
            .cmd("SADD")
            .arg(keys.node_users(bus.node()))
            .arg(user.to_string())
            .ignore()
            .query_async(&mut bus.connection())
            .await;
        match result {
            Ok((0,)) => {
                let _: redis::RedisResult<()> = bus.connection().del(keys.user_status(user)).await;
                Some(online(user))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "presence update failed");
                None
            }
        }
    }

    /// A session of `user` closed here. Returns the change if the user is now offline everywhere.
    pub async fn session_closed(&self, user: UserId) -> Option<Change> {
        let last_here = {
            let mut map = self.lock();
            let entry = map.get_mut(&user)?;
            entry.sessions = entry.sessions.saturating_sub(1);
            entry.sessions == 0
        };
        if !last_here {
            return None;
        }
        let now = Utc::now();
        let Some(bus) = &self.inner.redis else {
            let mut map = self.lock();
            let entry = map.entry(user).or_default();
            entry.status = None;
            entry.last_seen = Some(now);
            return Some(offline(user, now));
        };
        self.lock().remove(&user);
        if !bus.is_up() {
            return None;
        }
        let keys = bus.keys();
        let result: redis::RedisResult<(i64,)> = redis::pipe()
            .cmd("ZREM")
            .arg(keys.user_nodes(user))
            .arg(bus.node())
            .ignore()
            .cmd("SREM")
            .arg(keys.node_users(bus.node()))
            .arg(user.to_string())
            .ignore()
            .cmd("ZCOUNT")
            .arg(keys.user_nodes(user))
            .arg(now.timestamp_millis())
            .arg("+inf")
            .query_async(&mut bus.connection())
            .await;
        match result {
            Ok((0,)) => mark_offline(bus, user, now).await,
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "presence update failed");
                None
            }
        }
    }

    /// `user` chose a status: online, away or dnd.
    pub async fn set_status(&self, user: UserId, status: PresenceStatus) -> Change {
        match &self.inner.redis {
            None => {
                self.lock().entry(user).or_default().status = Some(status);
            }
            Some(bus) => {
                let key = bus.keys().user_status(user);
                let mut conn = bus.connection();
                let result: redis::RedisResult<()> = if status == PresenceStatus::Online {
                    conn.del(key).await
                } else {
                    conn.set_ex(key, status.as_str(), 7 * 86_400).await
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "presence status update failed");
                }
            }
        }
        Change {
            user,
            status,
            last_seen: None,
        }
    }

    /// The current presence of each of `users`.
    pub async fn lookup(&self, users: &[UserId]) -> Vec<Change> {
        let Some(bus) = &self.inner.redis else {
            let map = self.lock();
            return users
                .iter()
                .map(|u| match map.get(u) {
                    Some(e) if e.sessions > 0 => Change {
                        user: *u,
                        status: e.status.unwrap_or(PresenceStatus::Online),
                        last_seen: None,
                    },
                    Some(e) => Change {
                        user: *u,
                        status: PresenceStatus::Offline,
                        last_seen: e.last_seen,
                    },
                    None => Change {
                        user: *u,
                        status: PresenceStatus::Offline,
                        last_seen: None,
                    },
                })
                .collect();
        };
        if !bus.is_up() {
            return Vec::new();
        }
        let keys = bus.keys();
        let now = now_ms();
        let mut pipe = redis::pipe();
        for u in users {
            pipe.cmd("ZCOUNT")
                .arg(keys.user_nodes(*u))
                .arg(now)
                .arg("+inf");
            pipe.cmd("GET").arg(keys.user_status(*u));
            pipe.cmd("GET").arg(keys.user_last_seen(*u));
        }
        let values: Vec<redis::Value> = match pipe.query_async(&mut bus.connection()).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "presence lookup failed");
                return Vec::new();
            }
        };
        users
            .iter()
            .zip(values.chunks(3))
            .map(|(u, v)| {
                let live: i64 = redis::from_redis_value_ref(&v[0]).unwrap_or(0);
                let status: Option<String> = redis::from_redis_value_ref(&v[1]).unwrap_or(None);
                let seen: Option<i64> = redis::from_redis_value_ref(&v[2]).unwrap_or(None);
                if live > 0 {
                    Change {
                        user: *u,
                        status: status
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(PresenceStatus::Online),
                        last_seen: None,
                    }
                } else {
                    Change {
                        user: *u,
                        status: PresenceStatus::Offline,
                        last_seen: seen.and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                    }
                }
            })
            .collect()
    }

    fn ttl_ms(&self) -> i64 {
        self.inner.ttl.as_millis() as i64
    }

    /// Renews this node's entries every TTL/3 and sweeps up after nodes that stopped doing so.
    async fn heartbeat(self, changes: mpsc::Sender<Change>, cancel: CancellationToken) {
        let Some(bus) = self.inner.redis.clone() else {
            return;
        };
        let mut tick = tokio::time::interval(self.inner.ttl / 3);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.renew(&bus).await {
                tracing::warn!(error = %e, "presence heartbeat failed");
                continue;
            }
            match sweep(&bus).await {
                Ok(gone) => {
                    for change in gone {
                        let _ = changes.send(change).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "presence sweep failed"),
            }
        }
        // Leaving in good order: the node's own entries go now rather than at expiry.
        let mut conn = bus.connection();
        let _: redis::RedisResult<()> = conn.zrem(bus.keys().nodes(), bus.node()).await;
    }

    async fn renew(&self, bus: &RedisBus) -> redis::RedisResult<()> {
        let users: Vec<UserId> = self.lock().keys().copied().collect();
        let keys = bus.keys();
        let expires = now_ms() + self.ttl_ms();
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(keys.nodes())
            .arg(expires)
            .arg(bus.node())
            .ignore();
        for u in users {
            pipe.cmd("ZADD")
                .arg(keys.user_nodes(u))
                .arg(expires)
                .arg(bus.node())
                .ignore();
            pipe.cmd("PEXPIRE")
                .arg(keys.user_nodes(u))
                .arg(self.ttl_ms() * 2)
                .ignore();
        }
        pipe.query_async(&mut bus.connection()).await
    }
}

/// Announces the users of nodes whose heartbeat expired; one surviving node does it per dead node.
async fn sweep(bus: &RedisBus) -> redis::RedisResult<Vec<Change>> {
    let keys = bus.keys();
    let mut conn = bus.connection();
    let now = now_ms();
    let dead: Vec<(String, i64)> = redis::cmd("ZRANGEBYSCORE")
        .arg(keys.nodes())
        .arg("-inf")
        .arg(now)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await?;
    let mut changes = Vec::new();
    for (node, _) in dead.into_iter().filter(|(n, _)| n != bus.node()) {
        let won: bool = redis::cmd("SET")
            .arg(keys.sweep_lock(&node))
            .arg(bus.node())
            .arg("NX")
            .arg("EX")
            .arg(60)
            .query_async::<Option<String>>(&mut conn)
            .await?
            .is_some();
        if !won {
            continue;
        }
        let users: Vec<String> = conn.smembers(keys.node_users(&node)).await?;
        tracing::info!(node = %node, users = users.len(), "node stopped heartbeating; marking its users offline");
        for user in users.iter().filter_map(|u| u.parse::<UserId>().ok()) {
            let _: () = conn.zrem(keys.user_nodes(user), &node).await?;
            let live: i64 = redis::cmd("ZCOUNT")
                .arg(keys.user_nodes(user))
                .arg(now)
                .arg("+inf")
                .query_async(&mut conn)
                .await?;
            if live == 0
                && let Some(change) = mark_offline(bus, user, Utc::now()).await
            {
                changes.push(change);
            }
        }
        let _: () = conn.del(keys.node_users(&node)).await?;
        let _: () = conn.zrem(keys.nodes(), &node).await?;
    }
    Ok(changes)
}

async fn mark_offline(bus: &RedisBus, user: UserId, now: DateTime<Utc>) -> Option<Change> {
    let keys = bus.keys();
    let result: redis::RedisResult<()> = redis::pipe()
        .cmd("SET")
        .arg(keys.user_last_seen(user))
        .arg(now.timestamp_millis())
        .ignore()
        .cmd("DEL")
        .arg(keys.user_status(user))
        .ignore()
        .query_async(&mut bus.connection())
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "presence update failed");
    }
    Some(offline(user, now))
}

fn online(user: UserId) -> Change {
    Change {
        user,
        status: PresenceStatus::Online,
        last_seen: None,
    }
}

fn offline(user: UserId, at: DateTime<Utc>) -> Change {
    Change {
        user,
        status: PresenceStatus::Offline,
        last_seen: Some(at),
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_user_is_online_while_any_session_is_open() {
        let p = Presence::local();
        let u = UserId::new();
        assert_eq!(
            p.session_opened(u).await.map(|c| c.status),
            Some(PresenceStatus::Online)
        );
        assert_eq!(p.session_opened(u).await, None);
        assert_eq!(p.session_closed(u).await, None);
        let gone = p.session_closed(u).await.unwrap();
        assert_eq!(gone.status, PresenceStatus::Offline);
        assert!(gone.last_seen.is_some());
        let now = p.lookup(&[u]).await;
        assert_eq!(now[0].status, PresenceStatus::Offline);
    }

    #[tokio::test]
    async fn a_chosen_status_shows_while_connected() {
        let p = Presence::local();
        let u = UserId::new();
        p.session_opened(u).await;
        p.set_status(u, PresenceStatus::Dnd).await;
        assert_eq!(p.lookup(&[u]).await[0].status, PresenceStatus::Dnd);
    }
}
