//! One WebSocket session, served by one task from `auth` to close.
//!
//! The task authenticates the first frame, registers the session and subscribes it to its rooms,
//! acknowledges, replays what a resuming client missed, sends a presence snapshot, then loops:
//! client frames are answered in order; queued events are written in batches (many frames, one
//! flush); the server pings every 30 s and drops a peer silent for 60 s. Live events that arrive
//! while a replay runs wait in the queue and are then released, skipping any seq already sent, so
//! a resume has no gap and no duplicate.
//!
//! Close codes: 4001 unauthenticated or token expired (re-send `auth` with a fresh token before
//! the old one expires to keep the session), 4008 slow consumer, 4009 server shutting down,
//! 1009 frame too large.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Hub;
use super::outbox::{Outgoing, SessionHandle};
use super::ratelimit::TokenBucket;
use super::voice::{Owner, VoiceRequest, VoiceSignal};
use crate::protocol::api::{Message as ChatMessage, SendMessageRequest, User};
use crate::protocol::ws::{ClientFrame, ServerFrame, parse_client_frame};
use crate::protocol::{PresenceStatus, RoomId, Seq, SessionId};
use crate::service::Error;
use crate::store::HistoryRequest;

/// Unauthenticated, or the token expired.
pub const CLOSE_UNAUTHENTICATED: u16 = 4001;
/// The session's queue overflowed.
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;
/// Replaced, or the server is shutting down: reconnect and resume.
pub const CLOSE_GOING_AWAY: u16 = 4009;
/// A frame over the size limit.
pub const CLOSE_TOO_LARGE: u16 = 1009;

/// Messages per page of a replay.
const REPLAY_PAGE: i64 = 100;
/// Most queued items written per flush.
const BATCH: usize = 128;
/// A write that makes no progress this long ends the session.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing frame may take to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most co-members whose presence a new session is told.
const PRESENCE_SNAPSHOT: i64 = 1000;

/// Serves a socket from its first frame to its close.
pub(super) async fn run(hub: Hub, mut socket: WebSocket) {
    let authed = match authenticate(&hub, &mut socket).await {
        Ok(a) => a,
        Err((code, reason)) => {
            close(&mut socket, code, reason).await;
            return;
        }
    };
    let span = tracing::info_span!("session", user_id = %authed.user.id);
    serve(hub, socket, authed).instrument(span).await;
}

async fn serve(hub: Hub, socket: WebSocket, authed: Authed) {
    let id = SessionId::new();
    let (handle, rx, slow) = SessionHandle::new(id, authed.user.id, hub.inner.config.session_queue);
    hub.inner.registry.add_session(handle.clone());
    tracing::info!(session_id = %id, "session opened");
    let mut session = Session {
        limiter: TokenBucket::new(
            hub.inner.config.send_burst,
            hub.inner.config.send_rate,
            Instant::now(),
        ),
        hub,
        socket,
        handle,
        rx,
        slow,
        user: authed.user,
        delivered: HashMap::new(),
        token_expires: authed.expires,
        last_heard: Instant::now(),
        call: None,
        joins: 0,
        in_flight: None,
    };
    if let Some(change) = session
        .hub
        .inner
        .presence
        .session_opened(session.user.id)
        .await
    {
        session.hub.publish_presence(change).await;
    }
    match session.start(authed.request_id, authed.resume).await {
        Ok(()) => session.run().await,
        Err(End::Error(e)) => {
            tracing::warn!(error = %e, "session start failed");
            session.send_error(None, &e).await;
            close(&mut session.socket, 1011, "internal error").await;
        }
        Err(End::Closed) => {}
    }
    session.finish().await;
}

/// What the first frame established.
struct Authed {
    user: User,
    request_id: Option<String>,
    resume: HashMap<RoomId, Seq>,
    expires: Instant,
}

/// Why a session stops.
enum End {
    /// The socket closed, stalled, or was closed by us.
    Closed,
    /// A failure to tell the client about.
    Error(Error),
}

impl From<Error> for End {
    fn from(e: Error) -> End {
        End::Error(e)
    }
}

/// Reads and checks the `auth` frame; on failure, says why and gives the close code.
async fn authenticate(hub: &Hub, socket: &mut WebSocket) -> Result<Authed, (u16, &'static str)> {
    let deadline = Instant::now() + hub.inner.config.auth_timeout;
    let text = loop {
        match timeout_at(deadline, socket.recv()).await {
            Err(_) => return Err((CLOSE_UNAUTHENTICATED, "authentication timed out")),
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                return Err((1000, "closed"));
            }
            Ok(Some(Ok(Message::Text(t)))) => break t,
            Ok(Some(Ok(Message::Binary(_)))) => {
                return Err((CLOSE_UNAUTHENTICATED, "the first frame must be auth"));
            }
            Ok(Some(Ok(_))) => continue,
        }
    };
    let refuse = |code: &str, message: &str, id: Option<String>| {
        serde_json::to_string(&ServerFrame::Error {
            id,
            code: code.to_owned(),
            message: message.to_owned(),
            retry_after_ms: None,
        })
        .unwrap_or_default()
    };
    let envelope = match parse_client_frame(&text) {
        Ok(e) => e,
        Err(e) => {
            let _ = socket
                .send(Message::Text(refuse(e.code, &e.message, e.id).into()))
                .await;
            return Err((CLOSE_UNAUTHENTICATED, "the first frame must be auth"));
        }
    };
    let ClientFrame::Auth { token, resume } = envelope.frame else {
        let text = refuse(
            "unauthenticated",
            "the first frame must be auth",
            envelope.id,
        );
        let _ = socket.send(Message::Text(text.into())).await;
        return Err((CLOSE_UNAUTHENTICATED, "the first frame must be auth"));
    };
    let services = &hub.inner.services;
    let claims = match services.auth.verify_access_token(&token) {
        Ok(c) => c,
        Err(e) => {
            let e = Error::from(e);
            let _ = socket
                .send(Message::Text(
                    refuse(e.code(), &e.to_string(), envelope.id).into(),
                ))
                .await;
            return Err((CLOSE_UNAUTHENTICATED, "invalid token"));
        }
    };
    let user = match services.user(claims.sub).await {
        Ok(u) => u,
        Err(_) => return Err((CLOSE_UNAUTHENTICATED, "unknown user")),
    };
    Ok(Authed {
        user,
        request_id: envelope.id,
        resume: resume.unwrap_or_default(),
        expires: expiry_instant(claims.exp),
    })
}

/// The monotonic instant of a token's `exp` (seconds since the epoch).
fn expiry_instant(exp: i64) -> Instant {
    let left = exp - chrono::Utc::now().timestamp();
    Instant::now() + Duration::from_secs(left.max(0) as u64)
}

/// Sends a close frame, waiting a little for it to go out.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = timeout(CLOSE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

/// How a guarded write ended.
enum Write {
    Done,
    Failed,
    Slow,
    Shutdown,
}

/// Writes `messages` with one flush, unless the session is marked slow, the server shuts down, or
/// the socket makes no progress for [`WRITE_TIMEOUT`].
async fn write_all(
    socket: &mut WebSocket,
    messages: Vec<Message>,
    slow: &CancellationToken,
    shutdown: &CancellationToken,
) -> Write {
    let write = async {
        for m in messages {
            socket.feed(m).await?;
        }
        socket.flush().await
    };
    tokio::select! {
        r = timeout(WRITE_TIMEOUT, write) => match r {
            Ok(Ok(())) => Write::Done,
            _ => Write::Failed,
        },
        _ = slow.cancelled() => Write::Slow,
        _ = shutdown.cancelled() => Write::Shutdown,
    }
}

fn text(frame: &ServerFrame) -> Message {
    Message::Text(serde_json::to_string(frame).unwrap_or_default().into())
}

struct Session {
    hub: Hub,
    socket: WebSocket,
    handle: SessionHandle,
    rx: mpsc::Receiver<Outgoing>,
    slow: CancellationToken,
    user: User,
    /// Per room, the newest seq sent to this client: live frames at or below it are skipped.
    delivered: HashMap<RoomId, Seq>,
    limiter: TokenBucket,
    token_expires: Instant,
    last_heard: Instant,
    /// The voice call this session is in, and the node that owns it.
    call: Option<(RoomId, Owner)>,
    /// Numbers this session's participations in calls; the current one is `joins`.
    joins: u64,
    /// A message send, edit or delete waiting for the store, with its request id.
    in_flight: Option<InFlight>,
}

/// Store-bound work of one client request, running as its own task: while the store commits, the
/// session goes on writing its queue (a sender under load would otherwise stop draining, and be
/// closed as a slow consumer for the others' messages), and a session that ends meanwhile does not
/// cut a send off between its commit and its publication.
type Work = tokio::task::JoinHandle<Result<Value, Error>>;

/// A request being worked on: its id and the work.
type InFlight = (Option<String>, Work);

/// Resolves when the work in flight does (never, when there is none); cancel-safe, as the work
/// stays in `flight` until it completes.
async fn finished(flight: &mut Option<InFlight>) -> (Option<String>, Result<Value, Error>) {
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

/// How a request was taken up.
enum Taken {
    /// Answered at once: the ack's fields.
    Done(Value),
    /// Handed to the store: answered when the work completes.
    Later(Work),
}

impl Session {
    /// Subscribes the session's rooms, acknowledges the auth, replays what the client asked to
    /// resume, and tells it who is online.
    async fn start(
        &mut self,
        request_id: Option<String>,
        resume: HashMap<RoomId, Seq>,
    ) -> Result<(), End> {
        let store = &self.hub.inner.services.store;
        let rooms = store
            .room_seqs_for_user(self.user.id)
            .await
            .map_err(Error::from)?;
        for (room, _) in &rooms {
            self.hub.inner.registry.join_room(&self.handle, *room).await;
        }
        // Read again now that every room is subscribed: anything newer will arrive live.
        let rooms = store
            .room_seqs_for_user(self.user.id)
            .await
            .map_err(Error::from)?;
        let mut replays = Vec::new();
        for (room, last) in rooms {
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
            json!({ "user": self.user, "session_id": self.handle.id }),
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
    /// Returns the room's newest seq.
    async fn replay(&mut self, room: RoomId, after: Seq) -> Result<Seq, End> {
        let store = self.hub.inner.services.store.clone();
        let mut cursor = after;
        loop {
            let (page, has_more) = store
                .history(room, HistoryRequest::After(cursor), REPLAY_PAGE)
                .await
                .map_err(Error::from)?;
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            cursor = last;
            let frames = page
                .into_iter()
                .map(|message: ChatMessage| text(&ServerFrame::MessageNew { message }));
            let frames: Vec<Message> = frames.collect();
            self.send(frames).await?;
            let seen = self.delivered.entry(room).or_insert(Seq::ZERO);
            *seen = (*seen).max(cursor);
            if !has_more {
                break;
            }
        }
        Ok(cursor)
    }

    async fn send_presence_snapshot(&mut self) -> Result<(), End> {
        let services = &self.hub.inner.services;
        let others = services
            .store
            .co_member_ids(self.user.id, PRESENCE_SNAPSHOT)
            .await
            .map_err(Error::from)?;
        if others.is_empty() {
            return Ok(());
        }
        let frames: Vec<Message> = self
            .hub
            .inner
            .presence
            .lookup(&others)
            .await
            .into_iter()
            .filter(|c| c.status != PresenceStatus::Offline || c.last_seen.is_some())
            .map(|c| text(&c.frame()))
            .collect();
        self.send(frames).await
    }

    /// The main loop: client frames, queued events, pings, expiry, shutdown.
    async fn run(&mut self) {
        let config = self.hub.inner.config.clone();
        let shutdown = self.hub.inner.shutdown.clone();
        let mut ping = tokio::time::interval(config.ping_every);
        ping.tick().await;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    // A send already handed to the store is answered before the goodbye.
                    if self.in_flight.is_some() {
                        let done = timeout(Duration::from_secs(5), finished(&mut self.in_flight));
                        if let Ok((id, result)) = done.await {
                            let _ = self.answer(id, result).await;
                        }
                    }
                    close(&mut self.socket, CLOSE_GOING_AWAY, "server shutting down").await;
                    return;
                }
                _ = self.slow.cancelled() => {
                    close(&mut self.socket, CLOSE_SLOW_CONSUMER, "slow consumer").await;
                    return;
                }
                _ = sleep_until(self.token_expires) => {
                    let e = Error::Unauthenticated {
                        code: "token_expired",
                        message: "access token expired; reconnect with a fresh one".into(),
                    };
                    self.send_error(None, &e).await;
                    close(&mut self.socket, CLOSE_UNAUTHENTICATED, "token expired").await;
                    return;
                }
                (id, result) = finished(&mut self.in_flight), if self.in_flight.is_some() => {
                    if let Err(End::Closed) = self.answer(id, result).await {
                        return;
                    }
                }
                // One request at a time, so acks keep the order of the requests.
                incoming = self.socket.recv(), if self.in_flight.is_none() => {
                    let Some(incoming) = incoming else { return };
                    match incoming {
                        Ok(Message::Text(t)) => {
                            self.last_heard = Instant::now();
                            if let Err(End::Closed) = self.handle_text(&t).await {
                                return;
                            }
                        }
                        Ok(Message::Binary(_)) => {
                            self.last_heard = Instant::now();
                            let e = Error::invalid("invalid_frame", "send text frames of JSON");
                            self.send_error(None, &e).await;
                        }
                        Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => {
                            self.last_heard = Instant::now();
                        }
                        Ok(Message::Close(_)) => return,
                        Err(e) => {
                            if is_too_large(&e) {
                                close(&mut self.socket, CLOSE_TOO_LARGE, "frame too large").await;
                            } else {
                                tracing::debug!(error = %e, "socket read failed");
                            }
                            return;
                        }
                    }
                }
                item = self.rx.recv() => {
                    let Some(item) = item else { return };
                    if let Err(End::Closed) = self.write_queued(item).await {
                        return;
                    }
                }
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > config.idle_timeout {
                        tracing::info!("peer silent too long; dropping");
                        close(&mut self.socket, 1001, "idle timeout").await;
                        return;
                    }
                    if self.send(vec![Message::Ping(Default::default())]).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Writes `first` and whatever else is queued, up to a batch, with one flush. Frames already
    /// sent (by a replay) are skipped by seq.
    async fn write_queued(&mut self, first: Outgoing) -> Result<(), End> {
        let mut batch = Vec::new();
        let (mut messages, mut oldest) = (0u64, None);
        let mut item = Some(first);
        while let Some(current) = item.take() {
            match current {
                Outgoing::Frame(frame) => {
                    let fresh = match frame.seq {
                        Some((room, seq)) => {
                            let seen = self.delivered.entry(room).or_insert(Seq::ZERO);
                            let fresh = seq > *seen;
                            *seen = (*seen).max(seq);
                            fresh
                        }
                        None => true,
                    };
                    if fresh {
                        batch.push(Message::Text(frame.text.clone()));
                        if let Some(at) = frame.created_at {
                            messages += 1;
                            oldest = oldest.min(Some(at)).or(Some(at));
                        }
                    }
                    if batch.len() >= BATCH {
                        break;
                    }
                }
                Outgoing::Joined { room, view } => {
                    self.send(std::mem::take(&mut batch)).await?;
                    self.joined(room, *view).await?;
                }
                Outgoing::Left { room } => {
                    self.delivered.remove(&room);
                    if self.call.as_ref().is_some_and(|(r, _)| *r == room) {
                        self.leave_call().await;
                        batch.push(text(&ServerFrame::VoiceEnded {
                            room_id: room,
                            reason: "you left the room".into(),
                        }));
                    }
                }
                Outgoing::Voice(join, signal) => {
                    // A signal of a participation this session has since left or replaced (a
                    // late end, a late offer) is not the client's business any more.
                    if join == self.joins && self.call.is_some() {
                        if matches!(signal, VoiceSignal::Ended { .. }) {
                            self.call = None;
                        }
                        batch.push(text(&signal.frame()));
                    }
                }
            }
            item = self.rx.try_recv().ok();
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.send(batch).await?;
        if messages > 0 {
            crate::metrics::messages_delivered(messages, oldest.map(crate::metrics::since));
        }
        Ok(())
    }

    /// The user was added to `room`: hear it, send the room, then what was posted since the view,
    /// who of its members is online, and who is in its call. The room's members learn this user's
    /// presence in turn (they may not have shared a room before).
    async fn joined(&mut self, room: RoomId, view: crate::protocol::api::Room) -> Result<(), End> {
        self.hub.inner.registry.join_room(&self.handle, room).await;
        let after = view.last_seq;
        self.delivered.insert(room, after);
        self.send(vec![text(&ServerFrame::RoomUpdated { room: view })])
            .await?;
        self.replay(room, after).await?;
        let members = self
            .hub
            .inner
            .services
            .store
            .member_ids(room)
            .await
            .map_err(Error::from)?;
        let presence = self.hub.inner.presence.lookup(&members).await;
        let mut frames = Vec::new();
        for change in presence {
            if change.user == self.user.id {
                self.hub.publish_room(room, change.frame());
            } else if change.status != PresenceStatus::Offline || change.last_seen.is_some() {
                frames.push(text(&change.frame()));
            }
        }
        frames.extend(self.hub.inner.voice.states(&[room]).await.iter().map(text));
        self.send(frames).await
    }

    /// Answers one client frame: an ack (if it had an id) or an error.
    async fn handle_text(&mut self, raw: &str) -> Result<(), End> {
        let envelope = match parse_client_frame(raw) {
            Ok(e) => e,
            Err(e) => {
                let frame = ServerFrame::Error {
                    id: e.id,
                    code: e.code.to_owned(),
                    message: e.message,
                    retry_after_ms: None,
                };
                return self.send(vec![text(&frame)]).await;
            }
        };
        let id = envelope.id;
        match self.take_up(envelope.frame).await {
            Ok(Taken::Done(result)) => self.answer(id, Ok(result)).await,
            Ok(Taken::Later(work)) => {
                self.in_flight = Some((id, work));
                Ok(())
            }
            Err(End::Error(e)) => self.answer(id, Err(e)).await,
            Err(End::Closed) => Err(End::Closed),
        }
    }

    /// Sends a request's ack (if it had an id) or its error.
    async fn answer(
        &mut self,
        id: Option<String>,
        result: Result<Value, Error>,
    ) -> Result<(), End> {
        match (result, id) {
            (Ok(result), Some(id)) => self.send(vec![text(&ServerFrame::ack(id, result))]).await,
            (Ok(_), None) => Ok(()),
            (Err(e), id) => {
                self.send_error(id, &e).await;
                Ok(())
            }
        }
    }

    /// Message sends, edits and deletes become work for the store (see [`Work`]); every other
    /// request is done at once.
    async fn take_up(&mut self, frame: ClientFrame) -> Result<Taken, End> {
        let services = self.hub.inner.services.clone();
        let user = self.user.id;
        let work: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> = match frame {
            ClientFrame::MessageSend {
                room_id,
                body,
                client_id,
                reply_to,
                forward_of,
                attachments,
            } => {
                self.rate_limit()?;
                let req = SendMessageRequest {
                    body,
                    client_id,
                    reply_to,
                    forward_of,
                    attachments,
                };
                Box::pin(async move {
                    let (message, _) = services.send_message(user, room_id, req).await?;
                    Ok(json!({ "message": message }))
                })
            }
            ClientFrame::MessageEdit { message_id, body } => {
                self.rate_limit()?;
                Box::pin(async move {
                    let message = services.edit_message(user, message_id, &body).await?;
                    Ok(json!({ "message": message }))
                })
            }
            ClientFrame::MessageDelete { message_id } => {
                self.rate_limit()?;
                Box::pin(async move {
                    services.delete_message(user, message_id).await?;
                    Ok(json!({}))
                })
            }
            other => return self.dispatch(other).await.map(Taken::Done),
        };
        Ok(Taken::Later(self.hub.inner.tasks.spawn(work)))
    }

    /// Does what a frame asks; returns the ack's fields.
    async fn dispatch(&mut self, frame: ClientFrame) -> Result<Value, End> {
        let services = self.hub.inner.services.clone();
        let user = self.user.id;
        match frame {
            ClientFrame::Auth { token, .. } => {
                let claims = services
                    .auth
                    .verify_access_token(&token)
                    .map_err(Error::from)?;
                if claims.sub != user {
                    return Err(Error::forbidden(
                        "user_mismatch",
                        "a session cannot change user; open a new connection",
                    )
                    .into());
                }
                self.token_expires = expiry_instant(claims.exp);
                Ok(json!({ "user": self.user, "session_id": self.handle.id }))
            }
            // `take_up` hands these to the store; they never reach dispatch.
            ClientFrame::MessageSend { .. }
            | ClientFrame::MessageEdit { .. }
            | ClientFrame::MessageDelete { .. } => Err(Error::invalid(
                "invalid_frame",
                "message requests are taken up by the session loop",
            )
            .into()),
            ClientFrame::Typing { room_id, active } => {
                if !self.hub.inner.registry.in_room(self.handle.id, room_id) {
                    return Err(Error::not_found("room").into());
                }
                let now = Instant::now();
                if let Some(active) = self.hub.inner.typing.update(user, room_id, active, now) {
                    self.hub.publish_room(
                        room_id,
                        ServerFrame::Typing {
                            room_id,
                            user_id: user,
                            active,
                        },
                    );
                }
                Ok(json!({}))
            }
            ClientFrame::Read { room_id, seq } => {
                services.mark_read(user, room_id, seq).await?;
                Ok(json!({}))
            }
            ClientFrame::Sync { room_id, after_seq } => {
                services.require_member(room_id, user).await?;
                if after_seq.0 < 0 {
                    return Err(
                        Error::invalid("invalid_seq", "after_seq must not be negative").into(),
                    );
                }
                let last = self.replay(room_id, after_seq).await?;
                let newest = services
                    .store
                    .room_last_seq(room_id)
                    .await
                    .map_err(Error::from)?
                    .unwrap_or(last)
                    .max(last);
                Ok(json!({ "room_id": room_id, "last_seq": newest }))
            }
            ClientFrame::PresenceSet { status } => {
                if status == PresenceStatus::Offline {
                    return Err(Error::invalid(
                        "invalid_status",
                        "status must be online, away or dnd",
                    )
                    .into());
                }
                let change = self.hub.inner.presence.set_status(user, status).await;
                self.hub.publish_presence(change).await;
                Ok(json!({}))
            }
            ClientFrame::VoiceJoin { room_id } => {
                if !self.hub.inner.registry.in_room(self.handle.id, room_id) {
                    return Err(Error::not_found("room").into());
                }
                if self.call.is_some() {
                    self.leave_call().await;
                }
                let voice = self.hub.inner.voice.clone();
                let ice_servers = voice.ice_servers(user);
                self.joins += 1;
                let owner = voice.join(&self.handle, room_id, self.joins).await?;
                self.call = Some((room_id, owner));
                Ok(json!({ "ice_servers": ice_servers }))
            }
            ClientFrame::VoiceAnswer { room_id, sdp } => {
                self.voice_request(room_id, VoiceRequest::Answer { sdp })
                    .await
            }
            ClientFrame::VoiceCandidate { room_id, candidate } => {
                self.voice_request(room_id, VoiceRequest::Candidate { candidate })
                    .await
            }
            ClientFrame::VoiceMute { room_id, muted } => {
                self.voice_request(room_id, VoiceRequest::Mute { muted })
                    .await
            }
            ClientFrame::VoiceLeave { room_id } => {
                self.voice_request(room_id, VoiceRequest::Leave).await?;
                self.call = None;
                Ok(json!({}))
            }
            ClientFrame::Ping => Ok(json!({})),
        }
    }

    /// Passes a request about this session's call to the node that owns it.
    async fn voice_request(&mut self, room: RoomId, request: VoiceRequest) -> Result<Value, End> {
        let Some((_, owner)) = self.call.as_ref().filter(|(r, _)| *r == room) else {
            return Err(Error::not_found("voice call").into());
        };
        let owner = owner.clone();
        let voice = self.hub.inner.voice.clone();
        voice.forward(&owner, &self.handle, room, request).await?;
        Ok(json!({}))
    }

    /// Leaves the call this session is in, if any.
    async fn leave_call(&mut self) {
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

    fn rate_limit(&mut self) -> Result<(), Error> {
        self.limiter
            .take(Instant::now())
            .map_err(|wait| Error::RateLimited {
                retry_after_ms: wait.as_millis().max(1) as u64,
            })
    }

    async fn send_error(&mut self, id: Option<String>, e: &Error) {
        crate::metrics::error(e.code());
        let frame = ServerFrame::Error {
            id,
            code: e.code().to_owned(),
            message: e.to_string(),
            retry_after_ms: e.retry_after_ms(),
        };
        let _ = self.send(vec![text(&frame)]).await;
    }

    /// Writes frames with one flush; a stall, a slow mark or shutdown ends the session.
    async fn send(&mut self, messages: Vec<Message>) -> Result<(), End> {
        let shutdown = self.hub.inner.shutdown.clone();
        match write_all(&mut self.socket, messages, &self.slow, &shutdown).await {
            Write::Done => Ok(()),
            Write::Failed => Err(End::Closed),
            Write::Slow => {
                close(&mut self.socket, CLOSE_SLOW_CONSUMER, "slow consumer").await;
                Err(End::Closed)
            }
            Write::Shutdown => {
                close(&mut self.socket, CLOSE_GOING_AWAY, "server shutting down").await;
                Err(End::Closed)
            }
        }
    }

    /// Leaves the call and every room, and tells others if the user is now offline.
    async fn finish(mut self) {
        self.leave_call().await;
        let hub = self.hub;
        hub.inner
            .registry
            .remove_session(self.handle.id, self.user.id)
            .await;
        if let Some(change) = hub.inner.presence.session_closed(self.user.id).await {
            hub.publish_presence(change).await;
        }
        tracing::info!(session_id = %self.handle.id, "session closed");
    }
}

/// Whether a read failed because the peer sent a frame over the limit.
fn is_too_large(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}
