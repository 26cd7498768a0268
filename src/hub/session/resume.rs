//! Starting a session and joining rooms: subscribe first, then replay from the store what the
//! client lacks, so that nothing falls between the two; live frames at or below a replayed seq
//! are skipped by the driver.

use std::collections::HashMap;

use axum::extract::ws::Message;

use super::{End, Session, text};
use crate::bus::presence::Change;
use crate::protocol::ws::ServerFrame;
use crate::protocol::{PresenceStatus, RoomId, Seq};
use crate::service::Services;
use crate::service::sessions::SessionRoom;

/// Messages per page of a replay.
const REPLAY_PAGE: i64 = 100;

impl Session {
    /// Subscribes the session's rooms, acknowledges the auth, replays what the client asked to
    /// resume, and tells it who is online and who is in each room's call.
    pub(super) async fn start(
        &mut self,
        request_id: Option<String>,
        resume: Option<HashMap<RoomId, Seq>>,
        online: Option<Change>,
    ) -> Result<(), End> {
        let services = self.hub.inner.services.clone();
        let rooms = services.rooms_with_seqs(self.user.id).await?;
        for room in &rooms {
            self.hub
                .inner
                .registry
                .join_room(&self.handle, room.id)
                .await;
        }
        // Read again now that every room is subscribed: anything newer will arrive live, and a
        // room left meanwhile is dropped again.
        let subscribed = rooms;
        let rooms = services.rooms_with_seqs(self.user.id).await?;
        for room in &subscribed {
            if !rooms.iter().any(|r| r.id == room.id) {
                self.hub
                    .inner
                    .registry
                    .leave_room(self.handle.id, room.id)
                    .await;
            }
        }
        let limit = self.hub.inner.config.presence_room_limit;
        self.large = rooms
            .iter()
            .filter(|r| r.members > limit)
            .map(|r| r.id)
            .collect();
        // The user just came online: their rooms hear it (no store read: these are the rooms).
        if let Some(change) = online {
            self.announce(change, rooms.iter().map(|r| r.id));
        }
        // A client that named its rooms in `resume` learns of those it did not name: rooms it
        // joined between listing its rooms over HTTP and this ack, whose `member.joined` it
        // could not have heard yet.
        let unknown_rooms = match &resume {
            Some(named) => rooms
                .iter()
                .map(|r| r.id)
                .filter(|r| !named.contains_key(r))
                .collect(),
            None => Vec::new(),
        };
        let resume = resume.unwrap_or_default();
        let mut replays = Vec::new();
        for SessionRoom {
            id: room,
            last_seq: last,
            ..
        } in rooms
        {
            match resume.get(&room) {
                Some(have) if *have < last => {
                    self.delivered.insert(room, (*have).max(Seq::ZERO));
                    replays.push(room);
                }
                _ => {
                    self.delivered.insert(room, last);
                }
            }
        }
        let ack = ServerFrame::ack(
            request_id.unwrap_or_else(|| "auth".into()),
            &self.session_ack(unknown_rooms),
        );
        self.send(vec![text(&ack)]).await?;
        for room in replays {
            let after = self.delivered.get(&room).copied().unwrap_or(Seq::ZERO);
            self.replay(room, after).await?;
        }
        self.send_presence_snapshot().await?;
        // Who is in each room's call, before anyone joins or leaves again.
        let rooms: Vec<RoomId> = self.delivered.keys().copied().collect();
        let states = self.hub.inner.voice.states(&rooms).await;
        self.send(states.iter().map(text).collect()).await
    }

    /// Sends the messages of `room` after `after`, in pages, and records them as delivered.
    /// Returns the newest seq sent (`after` if none). A room the user has meanwhile left is
    /// not replayed.
    pub(super) async fn replay(&mut self, room: RoomId, after: Seq) -> Result<Seq, End> {
        let services = self.hub.inner.services.clone();
        let mut cursor = after;
        loop {
            let page = services
                .replay_page(self.user.id, room, cursor, REPLAY_PAGE)
                .await;
            let (page, has_more) = match page {
                Ok(page) => page,
                Err(e) if Services::is_not_member(&e) => break,
                Err(e) => return Err(e.into()),
            };
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            cursor = last;
            // Thread replies change their roots' summaries, which lie before the replay: send
            // each such root's summary as it is now, after the replies.
            let roots = Services::thread_roots_of(&page);
            let mut frames: Vec<Message> = page
                .into_iter()
                .map(|message| text(&ServerFrame::MessageNew { message }))
                .collect();
            if !roots.is_empty() {
                let updates = services.thread_updates(room, &roots).await?;
                frames.extend(updates.iter().map(text));
            }
            self.send(frames).await?;
            let seen = self.delivered.entry(room).or_insert(Seq::ZERO);
            *seen = (*seen).max(cursor);
            if !has_more {
                break;
            }
        }
        Ok(cursor)
    }

    /// The user was added to `room`: hear it, then check they still belong to it (the addition
    /// may have been undone while it waited in the queue: then the room is dropped again and the
    /// client hears nothing of it). Then send the room as they see it now, what was posted since,
    /// who of its members is online, and who is in its call. The room's members learn this
    /// user's presence in turn (they may not have shared a room before).
    pub(super) async fn joined(&mut self, room: RoomId) -> Result<(), End> {
        self.hub.inner.registry.join_room(&self.handle, room).await;
        // Read after subscribing: a removal committed before this read is seen here, and one
        // committed after it reaches this session's queue (it now hears the room).
        let view = match self.hub.inner.services.room(self.user.id, room).await {
            Ok(view) => view,
            Err(e) if Services::is_not_member(&e) => {
                self.hub
                    .inner
                    .registry
                    .leave_room(self.handle.id, room)
                    .await;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if view.members_count > self.hub.inner.config.presence_room_limit {
            self.large.insert(room);
        } else {
            self.large.remove(&room);
        }
        let after = view
            .last_seq
            .max(self.delivered.get(&room).copied().unwrap_or(Seq::ZERO));
        self.delivered.insert(room, after);
        self.send(vec![text(&ServerFrame::RoomUpdated {
            room: Box::new(view),
        })])
        .await?;
        self.replay(room, after).await?;
        // In a large room, presence goes only to whoever subscribes (from now on this user's
        // changes are published for them too).
        let mut frames = if self.large.contains(&room) {
            Vec::new()
        } else {
            self.members_presence(room).await?
        };
        frames.extend(self.hub.inner.voice.states(&[room]).await.iter().map(text));
        self.send(frames).await
    }

    /// The presence of a small room's members who have any to tell, as frames for this client;
    /// the members hear this user's in turn.
    async fn members_presence(&mut self, room: RoomId) -> Result<Vec<Message>, End> {
        let members = self
            .hub
            .inner
            .services
            .member_ids(self.user.id, room)
            .await?;
        let presence = self.hub.inner.presence.lookup(&members).await;
        let mut known = Vec::new();
        for change in presence {
            if change.user == self.user.id {
                self.hub.announce_presence(change, [room], false);
            } else if change.status != PresenceStatus::Offline || change.last_seen.is_some() {
                known.push(change);
            }
        }
        Ok(super::presence::frames_of(&known, self.presence_batch))
    }
}
