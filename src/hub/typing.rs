//! Typing indicators: ephemeral, never stored, throttled and expired on the typist's node.
//!
//! `active: true` is relayed at most once per [`RELAY_EVERY`] per user and room; renewals in
//! between only push the expiry back. One not renewed within [`EXPIRE_AFTER`] is turned into
//! `active: false` for the others, so a client that vanished mid-sentence does not type forever.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::protocol::{RoomId, UserId};

/// The least time between two relayed `active: true` of one user in one room.
pub const RELAY_EVERY: Duration = Duration::from_secs(2);
/// How long an `active: true` lasts without renewal.
pub const EXPIRE_AFTER: Duration = Duration::from_secs(6);

struct Entry {
    relayed_at: Instant,
    expires_at: Instant,
}

/// Who is typing where, as far as this node's sessions said.
#[derive(Default)]
pub struct Typing {
    entries: Mutex<HashMap<(UserId, RoomId), Entry>>,
}

impl Typing {
    /// Records a typing frame; returns the `active` value to relay, if any.
    pub fn update(&self, user: UserId, room: RoomId, active: bool, now: Instant) -> Option<bool> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if !active {
            return entries.remove(&(user, room)).map(|_| false);
        }
        match entries.get_mut(&(user, room)) {
            Some(e) if now.duration_since(e.relayed_at) < RELAY_EVERY => {
                e.expires_at = now + EXPIRE_AFTER;
                None
            }
            _ => {
                entries.insert(
                    (user, room),
                    Entry {
                        relayed_at: now,
                        expires_at: now + EXPIRE_AFTER,
                    },
                );
                Some(true)
            }
        }
    }

    /// Removes and returns the indicators that ran out at `now`; each becomes `active: false`.
    pub fn expire(&self, now: Instant) -> Vec<(UserId, RoomId)> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<(UserId, RoomId)> = entries
            .iter()
            .filter(|(_, e)| e.expires_at <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in &gone {
            entries.remove(k);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_relayed_at_most_every_two_seconds() {
        let t = Typing::default();
        let (u, r) = (UserId::new(), RoomId::new());
        let t0 = Instant::now();
        assert_eq!(t.update(u, r, true, t0), Some(true));
        assert_eq!(t.update(u, r, true, t0 + Duration::from_millis(1500)), None);
        assert_eq!(
            t.update(u, r, true, t0 + Duration::from_millis(2100)),
            Some(true)
        );
        assert_eq!(
            t.update(u, r, false, t0 + Duration::from_millis(2200)),
            Some(false)
        );
        assert_eq!(
            t.update(u, r, false, t0 + Duration::from_millis(2300)),
            None
        );
    }

    #[test]
    fn unrenewed_typing_expires_after_six_seconds() {
        let t = Typing::default();
        let (u, r) = (UserId::new(), RoomId::new());
        let t0 = Instant::now();
        t.update(u, r, true, t0);
        t.update(u, r, true, t0 + Duration::from_secs(1));
        assert!(t.expire(t0 + Duration::from_millis(6500)).is_empty());
        assert_eq!(t.expire(t0 + Duration::from_millis(7100)), vec![(u, r)]);
        assert!(t.expire(t0 + Duration::from_secs(20)).is_empty());
    }
}
