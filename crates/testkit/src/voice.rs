//! A voice participant driven through the public contract: a WebSocket session that joins a
//! room's call and a real WebRTC peer (ICE, DTLS, SRTP) that answers every offer.
//!
//! One task owns the socket: it answers `voice.offer`s with the peer's SDP (`voice.answer`),
//! carries the caller's requests (mute, leave, any frame), and hands every other frame to
//! [`Caller::next_event`]. Media is the peer's: [`Caller::peer`] publishes and receives.

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::peer::TestClient;
use crate::{ClientError, Incoming, Socket};
use confab::protocol::RoomId;
use confab::protocol::ws::{ClientFrame, IceServer, ServerFrame};

type Reply = oneshot::Sender<Result<Map<String, Value>, ClientError>>;

/// A participant in a room's call.
pub struct Caller {
    /// The media side: publish, set levels, receive packets.
    pub peer: TestClient,
    /// The ICE servers the join returned.
    pub ice_servers: Vec<IceServer>,
    /// The call's room.
    pub room: RoomId,
    requests: mpsc::Sender<(ClientFrame, Reply)>,
    events: mpsc::Receiver<Incoming>,
    task: JoinHandle<()>,
}

impl Caller {
    /// Joins `room`'s call over `socket` (already authenticated).
    pub async fn join(mut socket: Socket, room: RoomId) -> Result<Caller, ClientError> {
        let peer = TestClient::start(socket.user.id.0)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let ack = socket
            .request(ClientFrame::VoiceJoin { room_id: room })
            .await?;
        let ice_servers = serde_json::from_value(
            ack.get("ice_servers")
                .cloned()
                .unwrap_or(Value::Array(Vec::new())),
        )
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let (requests, requests_rx) = mpsc::channel(16);
        let (events_tx, events) = mpsc::channel(1024);
        let task = tokio::spawn(drive(socket, peer.handle(), requests_rx, events_tx));
        Ok(Caller {
            peer,
            ice_servers,
            room,
            requests,
            events,
            task,
        })
    }

    /// Sends a frame on the call's socket and waits for its ack.
    pub async fn request(&self, frame: ClientFrame) -> Result<Map<String, Value>, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((frame, tx))
            .await
            .map_err(|_| ClientError::Closed {
                code: None,
                reason: "caller ended".into(),
            })?;
        rx.await.map_err(|_| ClientError::Closed {
            code: None,
            reason: "caller ended".into(),
        })?
    }

    /// Mutes or unmutes on the server.
    pub async fn mute(&self, muted: bool) -> Result<(), ClientError> {
        self.request(ClientFrame::VoiceMute {
            room_id: self.room,
            muted,
        })
        .await
        .map(|_| ())
    }

    /// Deafens or undeafens on the server.
    pub async fn deafen(&self, deafened: bool) -> Result<(), ClientError> {
        self.request(ClientFrame::VoiceDeafen {
            room_id: self.room,
            deafened,
        })
        .await
        .map(|_| ())
    }

    /// Starts or stops sharing the screen: tells the server, and the peer sends its synthetic
    /// screen once the server's offer receives it.
    pub async fn screen(&self, active: bool) -> Result<(), ClientError> {
        self.request(ClientFrame::VoiceScreen {
            room_id: self.room,
            active,
        })
        .await?;
        self.peer.set_sharing(active).await;
        Ok(())
    }

    /// Leaves the call (the socket stays open).
    pub async fn leave(&self) -> Result<(), ClientError> {
        self.request(ClientFrame::VoiceLeave { room_id: self.room })
            .await
            .map(|_| ())
    }

    /// The next frame that `pick` accepts, within `within` (others are dropped).
    pub async fn wait_for<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut pick: impl FnMut(&ServerFrame) -> Option<T>,
    ) -> Result<T, ClientError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| ClientError::Timeout(what.to_owned()))?;
            match next {
                Some(Incoming::Frame(f)) => {
                    if let Some(found) = pick(&f) {
                        return Ok(found);
                    }
                }
                Some(Incoming::Closed { code, reason }) => {
                    return Err(ClientError::Closed { code, reason });
                }
                None => {
                    return Err(ClientError::Closed {
                        code: None,
                        reason: "caller ended".into(),
                    });
                }
            }
        }
    }

    /// Drops the frames that arrived so far, without waiting, for a caller that only wants the
    /// media (an unread queue would stall the task that answers offers). Returns the reason if
    /// the call's socket has closed.
    pub fn discard_events(&mut self) -> Option<ClientError> {
        loop {
            match self.events.try_recv() {
                Ok(Incoming::Frame(_)) => {}
                Ok(Incoming::Closed { code, reason }) => {
                    return Some(ClientError::Closed { code, reason });
                }
                Err(mpsc::error::TryRecvError::Empty) => return None,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    return Some(ClientError::Closed {
                        code: None,
                        reason: "caller ended".into(),
                    });
                }
            }
        }
    }

    /// Closes the socket (the server removes the participant) and the peer.
    pub async fn hang_up(self) {
        self.task.abort();
        let _ = self.task.await;
        self.peer.close().await;
    }
}

/// Owns the socket: answers offers, carries requests, passes on the rest.
async fn drive(
    mut socket: Socket,
    peer: crate::peer::ClientHandle,
    mut requests: mpsc::Receiver<(ClientFrame, Reply)>,
    events: mpsc::Sender<Incoming>,
) {
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some((frame, reply)) = request else { return };
                let _ = reply.send(socket.request(frame).await);
            }
            incoming = socket.next_event() => {
                let incoming = match incoming {
                    Ok(i) => i,
                    Err(e) => Incoming::Closed { code: None, reason: e.to_string() },
                };
                if let Incoming::Frame(frame) = &incoming
                    && let ServerFrame::VoiceOffer { room_id, sdp } = frame.as_ref()
                {
                    match peer.accept_offer(sdp.clone()).await {
                        Ok(answer) => {
                            let answered = socket
                                .request(ClientFrame::VoiceAnswer { room_id: *room_id, sdp: answer })
                                .await;
                            if let Err(e) = answered {
                                let _ = events.send(Incoming::Frame(Box::new(ServerFrame::Error {
                                    id: None,
                                    code: e.code().unwrap_or("answer_failed").to_owned(),
                                    message: e.to_string(),
                                    retry_after_ms: None,
                                }))).await;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "peer could not answer the offer"),
                    }
                    continue;
                }
                let closed = matches!(incoming, Incoming::Closed { .. });
                if events.send(incoming).await.is_err() || closed {
                    return;
                }
            }
        }
    }
}
