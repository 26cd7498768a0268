//! DM calls ring: starting a call in a DM rings the other member on all their sessions.
//!
//! **What it owns.** The ring's life: `voice.ring {room_id, from}` to every session of the
//! callee (on any node, as a user event on the bus), and `voice.ring_ended {room_id, reason}`
//! when it stops: `answered` (to the callee's sessions, when they join), `declined` (to both,
//! from whichever session declined), `cancelled` (the caller left first) or `timeout`
//! ([`RING_TIMEOUT`] without an answer). **What it does not.** Decide who may call (the session
//! checked membership at the moment of joining) or keep shared state: each end is announced by
//! the node that sees it, and clients ignore an end for a ring they no longer show, so a
//! decline on one node and the caller's timer on another need no coordination.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Voice;
use crate::bus::Event;
use crate::protocol::ws::ServerFrame;
use crate::protocol::{RoomId, UserId};

/// How long a DM call rings without an answer.
pub const RING_TIMEOUT: Duration = Duration::from_secs(30);

/// A ring in progress, held by the caller's session: dropping it does nothing, cancelling it
/// ([`Voice::cancel_ring`]) stops its timer and tells both sides.
#[derive(Debug)]
pub struct Ring {
    /// The DM.
    pub room: RoomId,
    /// Who is rung.
    pub callee: UserId,
    stop: CancellationToken,
}

impl Voice {
    /// Who is in `room`'s call now, per the call's last published state.
    pub async fn in_call(&self, room: RoomId) -> Vec<UserId> {
        self.bus
            .call_states(&[room])
            .await
            .into_iter()
            .flat_map(|(_, participants)| participants.into_iter().map(|p| p.user_id))
            .collect()
    }

    /// Rings `callee` for `caller`'s call in the DM `room`, and starts the timer that ends the
    /// ring unanswered after [`RING_TIMEOUT`].
    pub fn ring(&self, room: RoomId, caller: UserId, callee: UserId) -> Ring {
        let frame = ServerFrame::VoiceRing {
            room_id: room,
            from: caller,
        };
        self.bus.publish(Event::User {
            user: callee,
            frame,
        });
        let stop = self.shutdown.child_token();
        let timer = stop.clone();
        let bus = self.bus.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = timer.cancelled() => {}
                _ = tokio::time::sleep(RING_TIMEOUT) => {
                    let answered = bus
                        .call_states(&[room])
                        .await
                        .iter()
                        .any(|(_, ps)| ps.iter().any(|p| p.user_id == callee));
                    if !answered {
                        ended(&bus, room, &[caller, callee], "timeout");
                    }
                }
            }
        });
        Ring { room, callee, stop }
    }

    /// The caller left before the ring was answered: it stops on both sides.
    pub fn cancel_ring(&self, ring: Ring, caller: UserId) {
        ring.stop.cancel();
        ended(&self.bus, ring.room, &[caller, ring.callee], "cancelled");
    }

    /// The callee joined the call: their other sessions stop ringing.
    pub fn answered(&self, room: RoomId, callee: UserId) {
        ended(&self.bus, room, &[callee], "answered");
    }

    /// Someone in the DM declined: both sides stop.
    pub fn declined(&self, room: RoomId, members: &[UserId]) {
        ended(&self.bus, room, members, "declined");
    }
}

/// Tells every session of each of `users` that `room`'s ring ended, and why.
fn ended(bus: &crate::bus::Bus, room: RoomId, users: &[UserId], reason: &str) {
    for user in users {
        bus.publish(Event::User {
            user: *user,
            frame: ServerFrame::VoiceRingEnded {
                room_id: room,
                reason: reason.to_owned(),
            },
        });
    }
}
