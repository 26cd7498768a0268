//! One WebSocket session, served by one task from `auth` to close.
//!
//! This file is the driver: it authenticates the first frame ([`auth`]), registers the session,
//! starts it ([`resume`]: subscribe its rooms, acknowledge, replay what a resuming client missed,
//! tell it who is online and who is in which call), then loops. Client frames are answered in
//! order, each by the module of its topic ([`chat`] for messages, typing, reads and sync,
//! [`presence`], [`call`] for voice); queued events are written in batches (many frames, one
//! flush); the server pings every 30 s and drops a peer silent for 60 s. Live events that arrive
//! while a replay runs wait in the queue and are then released, skipping any seq already sent,
//! so a resume has no gap and no duplicate.
//!
//! Close codes: 4001 unauthenticated or token expired (re-send `auth` with a fresh token before
//! the old one expires to keep the session), 4008 slow consumer, 4009 server shutting down,
//! 1009 frame too large.

mod auth;
mod call;
mod chat;
mod presence;
mod resume;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Hub;
use super::outbox::{Outgoing, SessionHandle};
use super::voice::Owner;
use crate::protocol::api::User;
use crate::protocol::cluster::VoiceRequest;
use crate::protocol::ws::{Ack, ClientFrame, ServerFrame, parse_client_frame};
use crate::protocol::{RoomId, Seq, SessionId};
use crate::service::Error;

use auth::Authed;
use chat::{InFlight, Taken, finished};

/// Unauthenticated, or the token expired.
pub const CLOSE_UNAUTHENTICATED: u16 = 4001;
/// The account was suspended by a server admin (do not reconnect).
pub const CLOSE_SUSPENDED: u16 = 4003;
/// The session's queue overflowed.
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;
/// Replaced, or the server is shutting down: reconnect and resume.
pub const CLOSE_GOING_AWAY: u16 = 4009;
/// A frame over the size limit.
pub const CLOSE_TOO_LARGE: u16 = 1009;

/// Most queued items written per flush.
const BATCH: usize = 128;

/// Up to this many frames' room, a session keeps its batch buffer between batches.
const KEPT_BATCH: usize = 8;
/// A write that makes no progress this long ends the session.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing frame may take to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves a socket from its first frame to its close.
pub(super) async fn run(hub: Hub, mut socket: WebSocket, on_auth: Box<dyn FnOnce() + Send>) {
    let authed = match auth::authenticate(&hub, &mut socket).await {
        Ok(a) => {
            on_auth();
            a
        }
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
    // The session's own token: its queue overflowing or the server stopping cancel it, so the
    // loop waits on one token of its own rather than on the shutdown token every session shares.
    let stop = hub.inner.shutdown.child_token();
    let (handle, rx) = SessionHandle::new(
        id,
        (authed.user.id, authed.login),
        hub.inner.config.session_queue,
        stop.clone(),
    );
    hub.inner.registry.add_session(handle.clone());
    tracing::info!(session_id = %id, "session opened");
    let mut session = Session {
        hub,
        socket,
        handle,
        rx,
        stop,
        out: Vec::new(),
        user: authed.user,
        delivered: HashMap::new(),
        large: HashSet::new(),
        watching: None,
        presence_batch: authed.presence_batch,
        token_expires: authed.expires,
        last_heard: Instant::now(),
        call: None,
        joins: 0,
        ringing: None,
        in_flight: None,
    };
    let online = session
        .hub
        .inner
        .presence
        .session_opened(session.user.id)
        .await;
    match session
        .start(authed.request_id, authed.resume, online)
        .await
    {
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

/// Writes `messages` (leaving the vector empty) with one flush, unless the session is stopped
/// (marked slow, or the server shuts down) or the socket makes no progress for
/// [`WRITE_TIMEOUT`]. The write is polled first, so one that completes at once never looks at the
/// token.
async fn write_all(
    socket: &mut WebSocket,
    messages: &mut Vec<Message>,
    stop: &CancellationToken,
    shutdown: &CancellationToken,
) -> Write {
    let write = async {
        for m in messages.drain(..) {
            socket.feed(m).await?;
        }
        socket.flush().await
    };
    tokio::select! {
        biased;
        r = timeout(WRITE_TIMEOUT, write) => match r {
            Ok(Ok(())) => Write::Done,
            _ => Write::Failed,
        },
        _ = stop.cancelled() => if shutdown.is_cancelled() { Write::Shutdown } else { Write::Slow },
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
    /// Cancelled when the queue overflowed or the server stops (a child of the shutdown token).
    stop: CancellationToken,
    /// The batch buffer of [`Session::write_queued`], kept between batches while it is small.
    out: Vec<Message>,
    user: User,
    /// Per room, the newest seq sent to this client: live frames at or below it are skipped.
    /// Its keys are the rooms the session hears, as membership changes reached it in the
    /// order of its queue: frames of any other room are dropped.
    delivered: HashMap<RoomId, Seq>,
    /// Those of its rooms that have more members than the hub's `presence_room_limit`: their
    /// members hear this user's presence only if they subscribe to it.
    large: HashSet<RoomId>,
    /// The room whose members' presence the session subscribed to (`presence.subscribe`).
    watching: Option<RoomId>,
    /// The client reads `presence.batch`; else each batch goes out as `presence` events.
    presence_batch: bool,
    token_expires: Instant,
    last_heard: Instant,
    /// The voice call this session is in, and the node that owns it.
    call: Option<(RoomId, Owner)>,
    /// Numbers this session's participations in calls; the current one is `joins`.
    joins: u64,
    /// The DM call this session started that rings the other member, until it is answered or
    /// this session leaves (which cancels it).
    ringing: Option<super::voice::Ring>,
    /// A message send, edit or delete waiting for the store, with its request id.
    in_flight: Option<InFlight>,
}

impl Session {
    /// The main loop: client frames, queued events, pings, expiry, shutdown.
    async fn run(&mut self) {
        let config = self.hub.inner.config.clone();
        let shutdown = self.hub.inner.shutdown.clone();
        let mut ping = tokio::time::interval(config.ping_every);
        ping.tick().await;
        // Made once and polled again each turn (a timer and a waiter registered once, not per
        // frame); the expiry moves when an `auth` frame renews the token.
        let stopped = self.stop.clone().cancelled_owned();
        let expiry = sleep_until(self.token_expires);
        tokio::pin!(stopped, expiry);
        loop {
            if expiry.deadline() != self.token_expires {
                expiry.as_mut().reset(self.token_expires);
            }
            let go_on = tokio::select! {
                biased;
                _ = &mut stopped => {
                    if shutdown.is_cancelled() {
                        self.shut_down().await;
                    } else {
                        close(&mut self.socket, CLOSE_SLOW_CONSUMER, "slow consumer").await;
                    }
                    false
                }
                _ = &mut expiry => {
                    self.expire().await;
                    false
                }
                (id, result) = finished(&mut self.in_flight), if self.in_flight.is_some() => {
                    !matches!(self.answer(id, result).await, Err(End::Closed))
                }
                // One request at a time, so acks keep the order of the requests.
                incoming = self.socket.recv(), if self.in_flight.is_none() => {
                    self.read(incoming).await
                }
                item = self.rx.recv() => match item {
                    Some(item) => !matches!(self.write_queued(item).await, Err(End::Closed)),
                    None => false,
                },
                _ = ping.tick() => self.ping(config.idle_timeout).await,
            };
            if !go_on {
                return;
            }
        }
    }

    /// The server is stopping: a send already handed to the store is answered, then goodbye.
    async fn shut_down(&mut self) {
        if self.in_flight.is_some() {
            let done = timeout(Duration::from_secs(5), finished(&mut self.in_flight));
            if let Ok((id, result)) = done.await {
                let _ = self.answer(id, result).await;
            }
        }
        close(&mut self.socket, CLOSE_GOING_AWAY, "server shutting down").await;
    }

    /// The access token ran out without a fresh `auth`.
    async fn expire(&mut self) {
        let e = Error::Unauthenticated {
            code: "token_expired",
            message: "access token expired; reconnect with a fresh one".into(),
        };
        self.send_error(None, &e).await;
        close(&mut self.socket, CLOSE_UNAUTHENTICATED, "token expired").await;
    }

    /// Handles what the socket gave; false when the session is over.
    async fn read(&mut self, incoming: Option<Result<Message, axum::Error>>) -> bool {
        let Some(incoming) = incoming else {
            return false;
        };
        match incoming {
            Ok(Message::Text(t)) => {
                self.last_heard = Instant::now();
                !matches!(self.handle_text(&t).await, Err(End::Closed))
            }
            Ok(Message::Binary(_)) => {
                self.last_heard = Instant::now();
                let e = Error::invalid("invalid_frame", "send text frames of JSON");
                self.send_error(None, &e).await;
                true
            }
            Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => {
                self.last_heard = Instant::now();
                true
            }
            Ok(Message::Close(_)) => false,
            Err(e) => {
                if is_too_large(&e) {
                    close(&mut self.socket, CLOSE_TOO_LARGE, "frame too large").await;
                } else {
                    tracing::debug!(error = %e, "socket read failed");
                }
                false
            }
        }
    }

    /// Pings the peer, or drops it if it has been silent too long; false when the session is over.
    async fn ping(&mut self, idle_timeout: Duration) -> bool {
        if self.last_heard.elapsed() > idle_timeout {
            tracing::info!("peer silent too long; dropping");
            close(&mut self.socket, 1001, "idle timeout").await;
            return false;
        }
        self.send(vec![Message::Ping(Default::default())])
            .await
            .is_ok()
    }

    /// Writes `first` and whatever else is queued, up to a batch, with one flush. Frames already
    /// sent (by a replay) are skipped by seq.
    async fn write_queued(&mut self, first: Outgoing) -> Result<(), End> {
        let mut batch = std::mem::take(&mut self.out);
        let (mut messages, mut oldest) = (0u64, None);
        let mut item = Some(first);
        while let Some(current) = item.take() {
            match current {
                // A room this session no longer hears (left, or a join it dropped): its frames
                // queued meanwhile are not for this client.
                Outgoing::Frame(frame)
                    if frame.room.is_some_and(|r| !self.delivered.contains_key(&r)) => {}
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
                    if let Some(each) = frame.each.as_ref().filter(|_| !self.presence_batch) {
                        batch.extend(each.iter().cloned().map(Message::Text));
                    } else if fresh {
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
                Outgoing::Joined { room } => {
                    self.send(std::mem::take(&mut batch)).await?;
                    self.joined(room).await?;
                }
                Outgoing::Left { room } => {
                    self.delivered.remove(&room);
                    self.large.remove(&room);
                    if self.watching == Some(room) {
                        // No more presence through a room the user is no longer in.
                        self.watching = None;
                        self.hub.inner.registry.watch(&self.handle, Vec::new());
                    }
                    self.hub
                        .inner
                        .registry
                        .leave_room(self.handle.id, room)
                        .await;
                    batch.extend(self.left_room(room).await);
                }
                Outgoing::Voice(join, signal) => batch.extend(self.voice_signal(join, signal)),
                Outgoing::Revoked { suspended } => {
                    self.send(std::mem::take(&mut batch)).await?;
                    self.revoked(suspended).await;
                    return Err(End::Closed);
                }
            }
            item = self.rx.try_recv().ok();
        }
        if batch.is_empty() {
            return Ok(());
        }
        // Counted as the batch is handed to the socket, so that a client holding a frame can
        // rely on the counters already including it.
        if messages > 0 {
            crate::metrics::messages_delivered(messages, oldest.map(crate::metrics::since));
        }
        let written = self.write(&mut batch).await;
        // Kept for the next batch unless a burst grew it (an idle session holds little).
        if batch.capacity() <= KEPT_BATCH {
            self.out = batch;
        }
        written
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
            Ok(Taken::Done(result)) => self.answer(id, Ok(*result)).await,
            Ok(Taken::Later(work)) => {
                self.in_flight = Some((id, work));
                Ok(())
            }
            Err(End::Error(e)) => self.answer(id, Err(e)).await,
            Err(End::Closed) => Err(End::Closed),
        }
    }

    /// Sends a request's ack (if it had an id) or its error.
    async fn answer(&mut self, id: Option<String>, result: Result<Ack, Error>) -> Result<(), End> {
        match (result, id) {
            (Ok(result), Some(id)) => self.send(vec![text(&ServerFrame::ack(id, &result))]).await,
            (Ok(_), None) => Ok(()),
            (Err(e), id) => {
                self.send_error(id, &e).await;
                Ok(())
            }
        }
    }

    /// Hands a frame to the module of its topic. Message sends, edits and deletes become work for
    /// the store (see [`chat::Work`]); every other request is done at once.
    async fn take_up(&mut self, frame: ClientFrame) -> Result<Taken, End> {
        let done = match frame {
            ClientFrame::Auth { token, .. } => self.reauthenticate(&token)?,
            ClientFrame::MessageSend { room_id, message } => {
                return Ok(Taken::Later(self.send_message(room_id, message)?));
            }
            ClientFrame::MessageEdit { message_id, edit } => {
                return Ok(Taken::Later(self.edit_message(message_id, edit.body)?));
            }
            ClientFrame::MessageDelete { message_id } => {
                return Ok(Taken::Later(self.delete_message(message_id)?));
            }
            ClientFrame::ReactionAdd { message_id, emoji } => {
                return Ok(Taken::Later(self.react(message_id, emoji, true)?));
            }
            ClientFrame::ReactionRemove { message_id, emoji } => {
                return Ok(Taken::Later(self.react(message_id, emoji, false)?));
            }
            ClientFrame::Typing { room_id, active } => self.typing(room_id, active).await?,
            ClientFrame::Read { room_id, read } => self.read_up_to(room_id, read.seq).await?,
            ClientFrame::Sync { room_id, after_seq } => self.sync(room_id, after_seq).await?,
            ClientFrame::PresenceSet { status } => self.set_presence(status).await?,
            ClientFrame::PresenceSubscribe { room_id, user_ids } => {
                self.subscribe_presence(room_id, user_ids).await?
            }
            ClientFrame::VoiceJoin { room_id } => self.join_call(room_id).await?,
            ClientFrame::VoiceAnswer { room_id, sdp } => {
                self.call_request(room_id, VoiceRequest::Answer { sdp })
                    .await?
            }
            ClientFrame::VoiceCandidate { room_id, candidate } => {
                self.call_request(room_id, VoiceRequest::Candidate { candidate })
                    .await?
            }
            ClientFrame::VoiceMute { room_id, muted } => {
                self.call_request(room_id, VoiceRequest::Mute { muted })
                    .await?
            }
            ClientFrame::VoiceDeafen { room_id, deafened } => {
                self.call_request(room_id, VoiceRequest::Deafen { deafened })
                    .await?
            }
            ClientFrame::VoiceScreen { room_id, active } => {
                self.call_request(room_id, VoiceRequest::Screen { active })
                    .await?
            }
            ClientFrame::VoiceDecline { room_id } => self.decline_call(room_id).await?,
            ClientFrame::VoiceLeave { room_id } => self.leave_call_request(room_id).await?,
            ClientFrame::Ping => Ack::Done {},
        };
        Ok(Taken::Done(Box::new(done)))
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
    async fn send(&mut self, mut messages: Vec<Message>) -> Result<(), End> {
        self.write(&mut messages).await
    }

    /// [`Session::send`], leaving `messages` empty for reuse.
    async fn write(&mut self, messages: &mut Vec<Message>) -> Result<(), End> {
        let shutdown = &self.hub.inner.shutdown;
        match write_all(&mut self.socket, messages, &self.stop, shutdown).await {
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
        self.detach_call().await;
        let hub = self.hub.clone();
        hub.inner
            .registry
            .remove_session(self.handle.id, self.user.id)
            .await;
        if let Some(change) = hub.inner.presence.session_closed(self.user.id).await {
            if self.delivered.is_empty() {
                // It ended before it knew its rooms.
                hub.publish_presence(change).await;
            } else {
                self.announce(change, self.delivered.keys().copied());
            }
        }
        tracing::info!(session_id = %self.handle.id, "session closed");
    }
}

/// Whether a read failed because the peer sent a frame over the limit.
fn is_too_large(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}
