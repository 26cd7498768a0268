//! Messages, typing, read positions and sync: the text requests of a session.
//!
//! Sends, edits and deletes go to the same service functions as the HTTP API; each runs as its
//! own task ([`Work`]) while the driver goes on writing the session's queue, and is answered when
//! it completes, before the next request is read, so acks keep the order of requests.

use tokio::time::Instant;

use super::{End, Session};
use crate::protocol::api::SendMessageRequest;
use crate::protocol::ws::{Ack, ServerFrame};
use crate::protocol::{MessageId, RoomId, Seq};
use crate::service::Error;

/// Store-bound work of one client request, running as its own task: while the store commits, the
/// session goes on writing its queue (a sender under load would otherwise stop draining, and be
/// closed as a slow consumer for the others' messages), and a session that ends meanwhile does not
/// cut a send off between its commit and its publication.
pub(super) type Work = tokio::task::JoinHandle<Result<Ack, Error>>;

/// A request being worked on: its id and the work.
pub(super) type InFlight = (Option<String>, Work);

/// How a request was taken up.
pub(super) enum Taken {
    /// Answered at once: the ack (boxed: a message ack is large, and this is moved around).
    Done(Box<Ack>),
    /// Handed to the store: answered when the work completes.
    Later(Work),
}

/// Resolves when the work in flight does (never, when there is none); cancel-safe, as the work
/// stays in `flight` until it completes.
pub(super) async fn finished(
    flight: &mut Option<InFlight>,
) -> (Option<String>, Result<Ack, Error>) {
    let Some((_, work)) = flight.as_mut() else {
        return std::future::pending().await;
    };
    let result = match work.await {
        Ok(result) => result,
        Err(e) => Err(Error::Internal(format!("request task failed: {e}"))),
    };
    let id = flight.take().and_then(|(id, _)| id);
    (id, result)
}

impl Session {
    /// `message.send`.
    pub(super) fn send_message(
        &mut self,
        room: RoomId,
        req: SendMessageRequest,
    ) -> Result<Work, End> {
        let (services, user) = (self.hub.inner.services.clone(), self.user.id);
        Ok(self.hub.inner.tasks.spawn(async move {
            let (message, _) = services.send_message(user, room, req).await?;
            Ok(Ack::Message {
                message: Box::new(message),
            })
        }))
    }

    /// `message.edit`.
    pub(super) fn edit_message(&mut self, id: MessageId, body: String) -> Result<Work, End> {
        let (services, user) = (self.hub.inner.services.clone(), self.user.id);
        Ok(self.hub.inner.tasks.spawn(async move {
            let message = services.edit_message(user, id, &body).await?;
            Ok(Ack::Message {
                message: Box::new(message),
            })
        }))
    }

    /// `message.delete`.
    pub(super) fn delete_message(&mut self, id: MessageId) -> Result<Work, End> {
        let (services, user) = (self.hub.inner.services.clone(), self.user.id);
        Ok(self.hub.inner.tasks.spawn(async move {
            services.delete_message(user, id).await?;
            Ok(Ack::Done {})
        }))
    }

    /// `reaction.add` and `reaction.remove`: the same service calls as the HTTP `PUT` and
    /// `DELETE`, as work in flight like a send.
    pub(super) fn react(&mut self, id: MessageId, emoji: String, add: bool) -> Result<Work, End> {
        let (services, user) = (self.hub.inner.services.clone(), self.user.id);
        Ok(self.hub.inner.tasks.spawn(async move {
            if add {
                services.add_reaction(user, id, &emoji).await?;
            } else {
                services.remove_reaction(user, id, &emoji).await?;
            }
            Ok(Ack::Done {})
        }))
    }

    /// `typing`: relayed to the room, throttled, for rooms this session hears; a member who is
    /// timed out cannot start typing.
    pub(super) async fn typing(&mut self, room: RoomId, active: bool) -> Result<Ack, Error> {
        if !self.hub.inner.registry.in_room(self.handle.id, room) {
            return Err(Error::not_found("room"));
        }
        if active {
            self.hub
                .inner
                .services
                .require_unmuted(room, self.user.id)
                .await?;
        }
        let user = self.user.id;
        if let Some(active) = self
            .hub
            .inner
            .typing
            .update(user, room, active, Instant::now())
        {
            self.hub.publish_room(
                room,
                ServerFrame::Typing {
                    room_id: room,
                    user_id: user,
                    active,
                },
            );
        }
        Ok(Ack::Done {})
    }

    /// `read`.
    pub(super) async fn read_up_to(&mut self, room: RoomId, seq: Seq) -> Result<Ack, Error> {
        self.hub
            .inner
            .services
            .mark_read(self.user.id, room, seq)
            .await?;
        Ok(Ack::Done {})
    }

    /// `sync`: replays the room after `after`, then says how far the room goes.
    pub(super) async fn sync(&mut self, room: RoomId, after: Seq) -> Result<Ack, End> {
        let services = self.hub.inner.services.clone();
        services.require_member(room, self.user.id).await?;
        if after.0 < 0 {
            return Err(Error::invalid("invalid_seq", "after_seq must not be negative").into());
        }
        let sent = self.replay(room, after).await?;
        // Read after the replay, so it covers everything sent; what the client claimed to have
        // (`after`) is not the room's newest, however large.
        let newest = services.newest_seq(self.user.id, room).await?;
        let last_seq = if sent > after {
            newest.max(sent)
        } else {
            newest
        };
        Ok(Ack::Synced {
            room_id: room,
            last_seq,
        })
    }
}
