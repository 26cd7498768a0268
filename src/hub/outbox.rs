//! A session's bounded outbound queue, and the handle other tasks push into it through.
//!
//! Fanout never waits on a socket: it pushes a pre-serialized frame (a refcounted `Utf8Bytes`, so
//! one serialization serves every receiver) with `try_reserve`. When the queue is three quarters
//! full, ephemeral frames (typing, presence, speaking) are dropped; when it is full, the session is
//! marked slow and its task closes it with 4008. One slow client never slows a room.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::protocol::ws::ServerFrame;
use crate::protocol::{RoomId, Seq, SessionId, UserId};

/// One item for a session's socket.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A serialized frame.
    Frame(Arc<Frame>),
    /// The user was added to `room`: subscribe, check the user is still a member, then send
    /// the room as they see it now.
    Joined {
        /// The room.
        room: RoomId,
    },
    /// The session no longer hears `room` (the user left it).
    Left {
        /// The room.
        room: RoomId,
    },
    /// A signal of the session's voice call, with the participation it belongs to.
    Voice(u64, crate::protocol::cluster::VoiceSignal),
    /// The session's login was signed out, or its account suspended: tell the client and close.
    Revoked {
        /// Suspended (close 4003) rather than signed out (4001).
        suspended: bool,
    },
}

/// A frame serialized once for all its receivers.
#[derive(Debug)]
pub struct Frame {
    /// The JSON text.
    pub text: Utf8Bytes,
    /// For `message.new`: its room and seq, so a session can skip what it already sent.
    pub seq: Option<(RoomId, Seq)>,
    /// The room whose subscribers it was fanned out to, so a session that has left the room
    /// since drops it.
    pub room: Option<RoomId>,
    /// May be dropped under pressure.
    pub ephemeral: bool,
    /// For `message.new`: when the message was committed (for delivery latency).
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// For `presence.batch`: the same as one `presence` event per entry, for the sessions that
    /// did not say they read batches.
    pub each: Option<Box<[Utf8Bytes]>>,
}

impl Frame {
    /// Serializes `frame`, fanned out to `room`'s subscribers, once.
    pub fn in_room(frame: &ServerFrame, room: RoomId) -> Arc<Frame> {
        let mut made = Frame::make(frame);
        made.room = Some(room);
        Arc::new(made)
    }

    /// Serializes `frame` once.
    pub fn new(frame: &ServerFrame) -> Arc<Frame> {
        Arc::new(Frame::make(frame))
    }

    fn make(frame: &ServerFrame) -> Frame {
        let (seq, created_at) = match frame {
            ServerFrame::MessageNew { message } => (
                Some((message.room_id, message.seq)),
                Some(message.created_at),
            ),
            _ => (None, None),
        };
        let each = match frame {
            ServerFrame::PresenceBatch { presences } => Some(
                presences
                    .iter()
                    .map(|p| json(&ServerFrame::from(p.clone())))
                    .collect(),
            ),
            _ => None,
        };
        Frame {
            text: json(frame),
            seq,
            room: None,
            ephemeral: frame.is_ephemeral(),
            created_at,
            each,
        }
    }
}

fn json(frame: &ServerFrame) -> Utf8Bytes {
    // Serializing our own frame types cannot fail (no maps with non-string keys).
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

/// How other tasks reach one session.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    /// The session.
    pub id: SessionId,
    /// Its user.
    pub user: UserId,
    /// The login its token belongs to, so that signing it out closes the session.
    pub login: Option<uuid::Uuid>,
    tx: mpsc::Sender<Outgoing>,
    /// Cancelled when the queue overflowed (the session task then closes with 4008) or when the
    /// server stops (it is a child of the shutdown token): the one token the session waits on.
    stop: CancellationToken,
}

impl SessionHandle {
    /// A handle and the receiving end of a queue of `capacity` items; overflowing it cancels
    /// `stop`.
    pub fn new(
        id: SessionId,
        (user, login): (UserId, Option<uuid::Uuid>),
        capacity: usize,
        stop: CancellationToken,
    ) -> (SessionHandle, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(capacity.max(4));
        (
            SessionHandle {
                id,
                user,
                login,
                tx,
                stop,
            },
            rx,
        )
    }

    /// Queues an item without waiting. Cost: one atomic reservation, no allocation.
    pub fn push(&self, item: Outgoing) {
        if let Outgoing::Frame(frame) = &item
            && frame.ephemeral
            && self.tx.capacity() * 4 < self.tx.max_capacity()
        {
            return;
        }
        // A revocation must get through even to a full queue: the session closes on it.
        if matches!(item, Outgoing::Revoked { .. }) && self.tx.capacity() == 0 {
            self.stop.cancel();
            return;
        }
        match self.tx.try_reserve() {
            Ok(permit) => permit.send(item),
            Err(mpsc::error::TrySendError::Full(())) => {
                if !self.stop.is_cancelled() {
                    tracing::info!(session_id = %self.id, "session queue full; closing as slow consumer");
                    crate::metrics::slow_consumer();
                    self.stop.cancel();
                }
            }
            // The session is ending; nothing to deliver to.
            Err(mpsc::error::TrySendError::Closed(())) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typing() -> Arc<Frame> {
        Frame::new(&ServerFrame::Typing {
            room_id: RoomId::new(),
            user_id: UserId::new(),
            active: true,
        })
    }

    fn receipt() -> Arc<Frame> {
        Frame::new(&ServerFrame::Receipt {
            room_id: RoomId::new(),
            user_id: UserId::new(),
            seq: Seq(1),
        })
    }

    #[test]
    fn ephemeral_frames_are_dropped_first_and_a_full_queue_marks_the_session_slow() {
        let slow = CancellationToken::new();
        let (h, mut rx) =
            SessionHandle::new(SessionId::new(), (UserId::new(), None), 8, slow.clone());
        for _ in 0..7 {
            h.push(Outgoing::Frame(receipt()));
        }
        // One of eight left, less than a quarter: typing is dropped, a receipt still queues.
        h.push(Outgoing::Frame(typing()));
        h.push(Outgoing::Frame(receipt()));
        assert!(!slow.is_cancelled());
        h.push(Outgoing::Frame(receipt()));
        assert!(slow.is_cancelled());
        let mut n = 0;
        while let Ok(Outgoing::Frame(f)) = rx.try_recv() {
            assert!(!f.ephemeral);
            n += 1;
        }
        assert_eq!(n, 8);
    }
}
