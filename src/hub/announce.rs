//! Presence changes on their way to rooms, coalesced per room.
//!
//! A change goes out at once when its room has been quiet for [`WINDOW`]; one that follows within
//! the window waits for its end, and everything that waited goes out as one frame
//! (`presence.batch`, or `presence` when only one user changed). A user's later change replaces
//! their earlier one still waiting. So a single change is not delayed, and a connect storm into a
//! room of n members costs n deliveries per window instead of n per connect.
//!
//! [`Announcer`] is pure state with instants passed in; the hub's task publishes what it returns.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::bus::presence::Change;
use crate::protocol::RoomId;
use crate::protocol::ws::ServerFrame;

/// The least time between two presence frames of one room from this node.
pub const WINDOW: Duration = Duration::from_millis(200);
/// Most users in one frame; a longer wait goes out as several. A hundred entries are about
/// 7.5 KB, inside a session's 8 KiB socket write buffer: a larger frame grows that buffer for
/// good (measured: +18 KiB per session with 500).
pub const MAX_BATCH: usize = 100;

#[derive(Default)]
struct RoomState {
    /// When this node last sent the room a presence frame.
    sent_at: Option<Instant>,
    /// Waiting for the window to end, one per user, in the order they first changed.
    pending: Vec<Change>,
}

/// Per room, when presence last went out and what waits.
#[derive(Default)]
pub struct Announcer {
    rooms: Mutex<HashMap<RoomId, RoomState>>,
}

impl Announcer {
    /// Takes `change` for `room`: the frame to publish now if the room was quiet, else `None`
    /// (it waits for [`Announcer::due`]).
    pub fn offer(&self, room: RoomId, change: Change, now: Instant) -> Option<ServerFrame> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let state = rooms.entry(room).or_default();
        let quiet = state.pending.is_empty()
            && state
                .sent_at
                .is_none_or(|at| now.duration_since(at) >= WINDOW);
        if quiet {
            state.sent_at = Some(now);
            return Some(change.frame());
        }
        match state.pending.iter_mut().find(|c| c.user == change.user) {
            Some(waiting) => *waiting = change,
            None => state.pending.push(change),
        }
        None
    }

    /// The frames whose window has ended by `now`, and when the next one ends (`None`: nothing
    /// is waiting). Rooms quiet for a whole window are forgotten.
    pub fn due(&self, now: Instant) -> (Vec<(RoomId, ServerFrame)>, Option<Instant>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let mut frames = Vec::new();
        let mut next: Option<Instant> = None;
        rooms.retain(|room, state| {
            let ends = state.sent_at.map_or(now, |at| at + WINDOW);
            if ends > now {
                next = Some(next.map_or(ends, |n| n.min(ends)));
                return true;
            }
            if state.pending.is_empty() {
                return false;
            }
            for chunk in state.pending.chunks(MAX_BATCH) {
                frames.extend(Change::frame_of(chunk).map(|f| (*room, f)));
            }
            state.pending.clear();
            state.sent_at = Some(now);
            let ends = now + WINDOW;
            next = Some(next.map_or(ends, |n| n.min(ends)));
            true
        });
        (frames, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{PresenceStatus, UserId};

    fn change(user: UserId, status: PresenceStatus) -> Change {
        Change {
            user,
            status,
            last_seen: None,
        }
    }

    #[test]
    fn a_quiet_room_hears_at_once_and_a_busy_one_at_the_windows_end() {
        let a = Announcer::default();
        let room = RoomId::new();
        let (u1, u2, u3) = (UserId::new(), UserId::new(), UserId::new());
        let t0 = Instant::now();
        let first = a.offer(room, change(u1, PresenceStatus::Online), t0);
        assert_eq!(first, Some(change(u1, PresenceStatus::Online).frame()));
        let ms = Duration::from_millis;
        assert_eq!(
            a.offer(room, change(u2, PresenceStatus::Online), t0 + ms(10)),
            None
        );
        assert_eq!(
            a.offer(room, change(u3, PresenceStatus::Online), t0 + ms(20)),
            None
        );
        // u2's second change replaces the first in place.
        assert_eq!(
            a.offer(room, change(u2, PresenceStatus::Dnd), t0 + ms(30)),
            None
        );
        let (early, next) = a.due(t0 + ms(100));
        assert!(early.is_empty());
        assert_eq!(next, Some(t0 + WINDOW));
        let (frames, next) = a.due(t0 + WINDOW);
        let batch = Change::frame_of(&[
            change(u2, PresenceStatus::Dnd),
            change(u3, PresenceStatus::Online),
        ]);
        assert_eq!(frames, vec![(room, batch.unwrap())]);
        assert_eq!(next, Some(t0 + WINDOW * 2));
        // Within the new window a change waits again, and one frame of one user is `presence`.
        assert_eq!(
            a.offer(room, change(u1, PresenceStatus::Away), t0 + WINDOW + ms(5)),
            None
        );
        let (frames, _) = a.due(t0 + WINDOW * 2);
        assert_eq!(
            frames,
            vec![(room, change(u1, PresenceStatus::Away).frame())]
        );
        // A room quiet for a whole window is forgotten; the next change goes out at once.
        let (frames, next) = a.due(t0 + WINDOW * 3);
        assert!(frames.is_empty() && next.is_none());
        assert!(a.rooms.lock().unwrap().is_empty());
        assert!(
            a.offer(room, change(u3, PresenceStatus::Offline), t0 + WINDOW * 3)
                .is_some()
        );
    }

    #[test]
    fn rooms_wait_apart_and_long_waits_split() {
        let a = Announcer::default();
        let (r1, r2) = (RoomId::new(), RoomId::new());
        let t0 = Instant::now();
        a.offer(r1, change(UserId::new(), PresenceStatus::Online), t0);
        a.offer(
            r2,
            change(UserId::new(), PresenceStatus::Online),
            t0 + WINDOW / 2,
        );
        for _ in 0..MAX_BATCH + 1 {
            a.offer(r1, change(UserId::new(), PresenceStatus::Online), t0);
        }
        a.offer(
            r2,
            change(UserId::new(), PresenceStatus::Online),
            t0 + WINDOW / 2,
        );
        let (frames, next) = a.due(t0 + WINDOW);
        let sizes: Vec<usize> = frames
            .iter()
            .map(|(room, f)| match f {
                ServerFrame::PresenceBatch { presences } if *room == r1 => presences.len(),
                ServerFrame::Presence { .. } if *room == r1 => 1,
                other => panic!("{room} {other:?}"),
            })
            .collect();
        assert_eq!(sizes, vec![MAX_BATCH, 1]);
        assert_eq!(
            next,
            Some(t0 + WINDOW / 2 + WINDOW),
            "r2's window ends next"
        );
        let (frames, _) = a.due(t0 + WINDOW / 2 + WINDOW);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].0, r2);
    }
}
