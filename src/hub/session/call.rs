//! The voice requests of a session, and the one call it may be in.
//!
//! A session is in at most one call; joining another leaves the first. Each participation is
//! numbered, and signals of one the session has left or replaced are dropped, so a late offer
//! or end never reaches the client for the wrong call.

use axum::extract::ws::Message;

use super::{Session, text};
use crate::protocol::RoomId;
use crate::protocol::cluster::{VoiceRequest, VoiceSignal};
use crate::protocol::ws::{Ack, ServerFrame};
use crate::service::Error;

impl Session {
    /// `voice.join`: joins `room`'s call (leaving any other), wherever it is hosted.
    pub(super) async fn join_call(&mut self, room: RoomId) -> Result<Ack, Error> {
        if !self.hub.inner.registry.in_room(self.handle.id, room) {
            return Err(Error::not_found("room"));
        }
        // The membership of this moment, not of the last event this session heard.
        self.hub
            .inner
            .services
            .require_unmuted(room, self.user.id)
            .await?;
        if self.call.is_some() {
            self.leave_call().await;
        }
        let voice = self.hub.inner.voice.clone();
        let ice_servers = voice.ice_servers(self.user.id);
        self.joins += 1;
        let owner = voice.join(&self.handle, room, self.joins).await?;
        self.call = Some((room, owner));
        Ok(Ack::VoiceJoined { ice_servers })
    }

    /// Passes a request about this session's call to the node that hosts it.
    pub(super) async fn call_request(
        &mut self,
        room: RoomId,
        request: VoiceRequest,
    ) -> Result<Ack, Error> {
        let Some((_, owner)) = self.call.as_ref().filter(|(r, _)| *r == room) else {
            return Err(Error::not_found("voice call"));
        };
        let owner = owner.clone();
        let voice = self.hub.inner.voice.clone();
        voice.forward(&owner, &self.handle, room, request).await?;
        Ok(Ack::Done {})
    }

    /// `voice.leave`.
    pub(super) async fn leave_call_request(&mut self, room: RoomId) -> Result<Ack, Error> {
        self.call_request(room, VoiceRequest::Leave).await?;
        self.call = None;
        Ok(Ack::Done {})
    }

    /// Leaves the call this session is in, if any.
    pub(super) async fn leave_call(&mut self) {
        if let Some((room, owner)) = self.call.take() {
            let voice = self.hub.inner.voice.clone();
            if let Err(e) = voice
                .forward(&owner, &self.handle, room, VoiceRequest::Leave)
                .await
            {
                tracing::debug!(error = %e, "leaving the call failed");
            }
        }
    }

    /// The user left `room`: if the session is in its call, it leaves it and the client is told.
    pub(super) async fn left_room(&mut self, room: RoomId) -> Option<Message> {
        if self.call.as_ref().is_none_or(|(r, _)| *r != room) {
            return None;
        }
        self.leave_call().await;
        Some(text(&ServerFrame::VoiceEnded {
            room_id: room,
            reason: "you left the room".into(),
        }))
    }

    /// A signal for participation `join`: passed on if it is the current one.
    pub(super) fn voice_signal(&mut self, join: u64, signal: VoiceSignal) -> Option<Message> {
        if join != self.joins || self.call.is_none() {
            return None;
        }
        if matches!(signal, VoiceSignal::Ended { .. }) {
            self.call = None;
        }
        Some(text(&signal.frame()))
    }
}
