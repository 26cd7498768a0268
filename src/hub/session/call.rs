//! The voice requests of a session, and the one call it may be in.
//!
//! A session is in at most one call; joining another leaves the first. Each participation is
//! numbered, and signals of one the session has left or replaced are dropped, so a late offer
//! or end never reaches the client for the wrong call.

use axum::extract::ws::Message;

use super::{Session, text};
use crate::protocol::cluster::{VoiceRequest, VoiceSignal};
use crate::protocol::ws::{Ack, ServerFrame};
use crate::protocol::{RoomId, RoomKind, UserId};
use crate::service::Error;

impl Session {
    /// `voice.join`: joins `room`'s call (leaving any other), wherever it is hosted.
    pub(super) async fn join_call(&mut self, room: RoomId) -> Result<Ack, Error> {
        if !self.hub.inner.registry.in_room(self.handle.id, room) {
            return Err(Error::not_found("room"));
        }
        // The membership of this moment, not of the last event this session heard.
        let (kind, _) = self
            .hub
            .inner
            .services
            .require_unmuted(room, self.user.id)
            .await?;
        if self.call.is_some() {
            self.leave_call().await;
        }
        let voice = self.hub.inner.voice.clone();
        let ice_servers = voice.ice_servers(self.user.id);
        let other = match kind {
            RoomKind::Dm => self.dm_partner(room).await,
            _ => None,
        };
        let others_in_call = match other {
            Some(_) => voice.in_call(room).await,
            None => Vec::new(),
        };
        self.joins += 1;
        let owner = voice.join(&self.handle, room, self.joins).await?;
        self.call = Some((room, owner));
        if let Some(other) = other {
            if others_in_call.contains(&other) {
                voice.answered(room, self.user.id);
            } else if !others_in_call.iter().any(|u| *u != self.user.id) {
                self.ringing = Some(voice.ring(room, self.user.id, other));
                self.hub.inner.services.push_ring(room, self.user.id, other);
            }
        }
        Ok(Ack::VoiceJoined { ice_servers })
    }

    /// The other member of the DM `room`, if there is one.
    async fn dm_partner(&mut self, room: RoomId) -> Option<UserId> {
        let members = self
            .hub
            .inner
            .services
            .members(self.user.id, room)
            .await
            .ok()?;
        members
            .into_iter()
            .map(|m| m.user.id)
            .find(|u| *u != self.user.id)
    }

    /// `voice.decline`: stops a DM call ringing, on both sides.
    pub(super) async fn decline_call(&mut self, room: RoomId) -> Result<Ack, Error> {
        let (kind, _) = self
            .hub
            .inner
            .services
            .require_member(room, self.user.id)
            .await?;
        if kind != RoomKind::Dm {
            return Err(Error::invalid(
                "not_a_dm",
                "only a DM call rings, so only a DM call can be declined",
            ));
        }
        let mut members = vec![self.user.id];
        members.extend(self.dm_partner(room).await);
        self.hub.inner.voice.declined(room, &members);
        Ok(Ack::Done {})
    }

    /// This session's ring stops: answered calls need nothing more; one the caller leaves
    /// before an answer is cancelled on both sides.
    async fn stop_ringing(&mut self) {
        let Some(ring) = self.ringing.take() else {
            return;
        };
        let voice = self.hub.inner.voice.clone();
        if !voice.in_call(ring.room).await.contains(&ring.callee) {
            voice.cancel_ring(ring, self.user.id);
        }
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
        self.stop_ringing().await;
        Ok(Ack::Done {})
    }

    /// Leaves the call this session is in, if any.
    pub(super) async fn leave_call(&mut self) {
        self.stop_ringing().await;
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

    /// The session ends without having left its call (socket closed, page reloaded): the
    /// participant keeps their place for the rejoin grace, and a join within it continues the
    /// participation.
    pub(super) async fn detach_call(&mut self) {
        self.stop_ringing().await;
        if let Some((room, owner)) = self.call.take() {
            let voice = self.hub.inner.voice.clone();
            if let Err(e) = voice
                .forward(&owner, &self.handle, room, VoiceRequest::Detach)
                .await
            {
                tracing::debug!(error = %e, "detaching from the call failed");
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
