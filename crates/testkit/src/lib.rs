//! Confab's test kit: clients of the public contract, for the integration tests and
//! `confab-bench`, kept out of the server crate (the server never links them).
//!
//! It speaks only the wire contract (`confab::protocol`), exactly as any other client would, so the
//! tests and the benchmark exercise the real interface. [`Api`] wraps the HTTP calls; [`Socket`]
//! is one WebSocket session: requests carry ids and wait for their ack, while events that arrive
//! in between are kept, in order, for [`Socket::next_event`]. [`peer::TestClient`] is a real
//! WebRTC voice client (rtc's sans-I/O PeerConnection on its own UDP socket), and
//! [`voice::Caller`] joins a call over a [`Socket`] with one.

pub mod peer;
pub mod voice;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use confab::protocol::api::{
    Attachment, ErrorBody, FollowedThread, HistoryPage, Message, Pin, PinList, Room, SearchResults,
    SendMessageRequest, ThreadList, ThreadPage, TokenResponse, User,
};
use confab::protocol::ws::{ACCEPTS_PRESENCE_BATCH, ClientFrame, ServerFrame};
use confab::protocol::{MessageId, PresenceStatus, RoomId, Seq, UserId};

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status (0 for WebSocket errors).
        status: u16,
        /// The error's code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The connection failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The answer was not what the contract says.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The socket closed.
    #[error("socket closed (code {code:?}: {reason})")]
    Closed {
        /// The close code, if one was sent.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
    /// Nothing arrived in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

impl ClientError {
    /// The error code the server gave, if it gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        ClientError::Transport(e.to_string())
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        ClientError::Transport(e.to_string())
    }
}

/// The body of a successful answer, or the contract's `{error:{code,message}}` as an error.
fn api_result(status: u16, value: Value) -> Result<Value, ClientError> {
    if status < 400 {
        return Ok(value);
    }
    let err: ErrorBody = serde_json::from_value(value)
        .map_err(|e| ClientError::Protocol(format!("{status} without error body: {e}")))?;
    Err(ClientError::Api {
        status,
        code: err.error.code,
        message: err.error.message,
    })
}

/// The HTTP API of one server, optionally as one user.
#[derive(Clone, Debug)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    /// A client for the server at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Api {
        confab::install_crypto_provider();
        Api::with_client(reqwest::Client::new(), base)
    }

    /// The same, over a given `reqwest` client (for TLS settings).
    pub fn with_client(http: reqwest::Client, base: &str) -> Api {
        Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    /// This client acting as the holder of `access_token`.
    pub fn as_user(&self, access_token: &str) -> Api {
        Api {
            token: Some(access_token.to_owned()),
            ..self.clone()
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The WebSocket URL of the server.
    pub fn ws_url(&self) -> String {
        let base = self
            .base
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        format!("{base}/api/v1/ws")
    }

    /// Any call: `path` under the base, JSON in and out. Returns the status and the body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ClientError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Protocol(format!("{status}: {e}")))?
        };
        Ok((status, value))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let (status, value) = self.call(method, path, body.as_ref()).await?;
        let value = api_result(status, value)?;
        if value.is_null() {
            return serde_json::from_value(json!({})).or_else(|_| {
                serde_json::from_value(Value::Null)
                    .map_err(|e| ClientError::Protocol(e.to_string()))
            });
        }
        serde_json::from_value(value).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    fn to_value<T: Serialize>(body: &T) -> Value {
        serde_json::to_value(body).unwrap_or(Value::Null)
    }

    /// Creates an account.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
    ) -> Result<TokenResponse, ClientError> {
        let body = json!({ "username": username, "password": password });
        self.json(Method::POST, "/api/v1/auth/register", Some(body))
            .await
    }

    /// Signs in.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<TokenResponse, ClientError> {
        let body = json!({ "username": username, "password": password });
        self.json(Method::POST, "/api/v1/auth/login", Some(body))
            .await
    }

    /// Trades a refresh token for new tokens.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, ClientError> {
        let body = json!({ "refresh_token": refresh_token });
        self.json(Method::POST, "/api/v1/auth/refresh", Some(body))
            .await
    }

    /// The signed-in user.
    pub async fn me(&self) -> Result<User, ClientError> {
        self.json(Method::GET, "/api/v1/me", None).await
    }

    /// The signed-in user's rooms.
    pub async fn rooms(&self) -> Result<Vec<Room>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Rooms {
            rooms: Vec<Room>,
        }
        let r: Rooms = self.json(Method::GET, "/api/v1/rooms", None).await?;
        Ok(r.rooms)
    }

    /// One room.
    pub async fn room(&self, room: RoomId) -> Result<Room, ClientError> {
        self.json(Method::GET, &format!("/api/v1/rooms/{room}"), None)
            .await
    }

    /// Creates a group room.
    pub async fn create_room(&self, name: &str) -> Result<Room, ClientError> {
        self.json(Method::POST, "/api/v1/rooms", Some(json!({ "name": name })))
            .await
    }

    /// Opens the DM with `user`.
    pub async fn open_dm(&self, user: UserId) -> Result<Room, ClientError> {
        self.json(
            Method::POST,
            "/api/v1/dms",
            Some(json!({ "user_id": user })),
        )
        .await
    }

    /// Adds `user` to `room`.
    pub async fn add_member(&self, room: RoomId, user: UserId) -> Result<(), ClientError> {
        let _: Value = self
            .json(
                Method::POST,
                &format!("/api/v1/rooms/{room}/members"),
                Some(json!({ "user_id": user })),
            )
            .await?;
        Ok(())
    }

    /// Removes `user` from `room` (or leaves, for oneself).
    pub async fn remove_member(&self, room: RoomId, user: UserId) -> Result<(), ClientError> {
        let _: Value = self
            .json(
                Method::DELETE,
                &format!("/api/v1/rooms/{room}/members/{user}"),
                None,
            )
            .await?;
        Ok(())
    }

    /// Posts a message.
    pub async fn send(
        &self,
        room: RoomId,
        req: &SendMessageRequest,
    ) -> Result<Message, ClientError> {
        self.json(
            Method::POST,
            &format!("/api/v1/rooms/{room}/messages"),
            Some(Self::to_value(req)),
        )
        .await
    }

    /// Posts a text message.
    pub async fn send_text(&self, room: RoomId, body: &str) -> Result<Message, ClientError> {
        let req = SendMessageRequest {
            body: Some(body.to_owned()),
            ..Default::default()
        };
        self.send(room, &req).await
    }

    /// A page of history; `query` is the query string (`before=10&limit=5`), or empty.
    pub async fn history(&self, room: RoomId, query: &str) -> Result<HistoryPage, ClientError> {
        let q = query_suffix(query);
        self.json(
            Method::GET,
            &format!("/api/v1/rooms/{room}/messages{q}"),
            None,
        )
        .await
    }

    /// `GET /search` with these query parameters (encoded here).
    pub async fn search(&self, params: &[(&str, &str)]) -> Result<SearchResults, ClientError> {
        let url = reqwest::Url::parse_with_params("http://x/api/v1/search", params)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let path = format!("/api/v1/search?{}", url.query().unwrap_or_default());
        self.json(Method::GET, &path, None).await
    }

    /// Uploads a file (multipart field `file`); returns the attachment object.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> Result<Attachment, ClientError> {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        let mut req = self
            .http
            .post(format!("{}/api/v1/files", self.base))
            .multipart(form);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let value = api_result(status, resp.json().await.unwrap_or(Value::Null))?;
        serde_json::from_value(value).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// A GET of any path with the client's token, returning the raw response.
    pub async fn get_raw(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<reqwest::Response, ClientError> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Ok(req.send().await?)
    }

    /// Reacts to `message` with `emoji` (`PUT`), or takes the reaction back (`add` false:
    /// `DELETE`). The emoji is percent-encoded into the path.
    pub async fn react(
        &self,
        message: MessageId,
        emoji: &str,
        add: bool,
    ) -> Result<(), ClientError> {
        let method = if add { Method::PUT } else { Method::DELETE };
        let path = format!(
            "/api/v1/messages/{message}/reactions/{}",
            percent_encode(emoji)
        );
        let _: Value = self.json(method, &path, None).await?;
        Ok(())
    }

    /// Pins `message` in `room` (`PUT`), or unpins it (`add` false: `DELETE`).
    pub async fn pin(
        &self,
        room: RoomId,
        message: MessageId,
        add: bool,
    ) -> Result<(), ClientError> {
        let method = if add { Method::PUT } else { Method::DELETE };
        let path = format!("/api/v1/rooms/{room}/pins/{message}");
        let _: Value = self.json(method, &path, None).await?;
        Ok(())
    }

    /// A room's pins, newest first.
    pub async fn pins(&self, room: RoomId) -> Result<Vec<Pin>, ClientError> {
        let list: PinList = self
            .json(Method::GET, &format!("/api/v1/rooms/{room}/pins"), None)
            .await?;
        Ok(list.pins)
    }

    /// Marks `room` read up to `seq`.
    pub async fn mark_read(&self, room: RoomId, seq: Seq) -> Result<(), ClientError> {
        let _: Value = self
            .json(
                Method::POST,
                &format!("/api/v1/rooms/{room}/read"),
                Some(json!({ "seq": seq })),
            )
            .await?;
        Ok(())
    }

    /// Posts a text reply in the thread of `root`.
    pub async fn send_in_thread(
        &self,
        room: RoomId,
        root: MessageId,
        body: &str,
    ) -> Result<Message, ClientError> {
        let req = SendMessageRequest {
            body: Some(body.to_owned()),
            thread_root: Some(root),
            ..Default::default()
        };
        self.send(room, &req).await
    }

    /// A thread's root and a page of its replies; `query` is the query string, or empty.
    pub async fn thread(&self, root: MessageId, query: &str) -> Result<ThreadPage, ClientError> {
        let q = query_suffix(query);
        self.json(
            Method::GET,
            &format!("/api/v1/messages/{root}/thread{q}"),
            None,
        )
        .await
    }

    /// The threads this user follows in `room` (in all their rooms if `None`).
    pub async fn followed_threads(
        &self,
        room: Option<RoomId>,
    ) -> Result<Vec<FollowedThread>, ClientError> {
        let q = room.map(|r| format!("?room_id={r}")).unwrap_or_default();
        let list: ThreadList = self
            .json(Method::GET, &format!("/api/v1/threads{q}"), None)
            .await?;
        Ok(list.threads)
    }

    /// Follows (`true`) or unfollows the thread of `root`.
    pub async fn follow_thread(&self, root: MessageId, follow: bool) -> Result<(), ClientError> {
        let method = if follow { Method::PUT } else { Method::DELETE };
        let _: Value = self
            .json(
                method,
                &format!("/api/v1/messages/{root}/thread/follow"),
                None,
            )
            .await?;
        Ok(())
    }

    /// Marks the thread of `root` read up to `seq`.
    pub async fn read_thread(&self, root: MessageId, seq: Seq) -> Result<(), ClientError> {
        let _: Value = self
            .json(
                Method::POST,
                &format!("/api/v1/messages/{root}/thread/read"),
                Some(json!({ "seq": seq })),
            )
            .await?;
        Ok(())
    }
}

/// What `frame` says of `user`'s presence, as a `presence` event or an entry of a
/// `presence.batch`: their status and whether `last_seen` is set.
pub fn presence_of(frame: &ServerFrame, user: UserId) -> Option<(PresenceStatus, bool)> {
    match frame {
        ServerFrame::Presence {
            user_id,
            status,
            last_seen,
        } if *user_id == user => Some((*status, last_seen.is_some())),
        ServerFrame::PresenceBatch { presences } => presences
            .iter()
            .rev()
            .find(|p| p.user_id == user)
            .map(|p| (p.status, p.last_seen.is_some())),
        _ => None,
    }
}

/// `s` with every byte but unreserved ASCII percent-encoded, for a path segment.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What a [`Socket`] read.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A frame.
    Frame(Box<ServerFrame>),
    /// The server closed the socket.
    Closed {
        /// Its close code.
        code: Option<u16>,
        /// Its reason.
        reason: String,
    },
}

/// Any byte stream a WebSocket can run over (plain TCP, a TLS stream of the caller's choosing).
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// The WebSocket stream a [`Socket`] runs on.
pub type Stream = WebSocketStream<Box<dyn Io>>;

/// Opens a WebSocket over an already connected stream (for example TLS set up by the caller).
pub async fn websocket(url: &str, io: impl Io + 'static) -> Result<Stream, ClientError> {
    let (ws, _) = tokio_tungstenite::client_async(url, Box::new(io) as Box<dyn Io>).await?;
    Ok(ws)
}

/// One WebSocket session.
pub struct Socket {
    ws: Stream,
    next_id: u64,
    backlog: VecDeque<Incoming>,
    /// The authenticated user.
    pub user: User,
    /// The server's id for this session.
    pub session_id: String,
}

impl Socket {
    /// Opens a session on `ws_url` and authenticates with `token`, resuming the given rooms. It
    /// reads `presence.batch`, as the web client does.
    pub async fn connect(
        ws_url: &str,
        token: &str,
        resume: Option<HashMap<RoomId, Seq>>,
    ) -> Result<Socket, ClientError> {
        Socket::connect_accepting(ws_url, token, resume, &[ACCEPTS_PRESENCE_BATCH]).await
    }

    /// [`Socket::connect`], naming in `accepts` the frames beyond the base contract this
    /// client reads (none: a client of the base contract only).
    pub async fn connect_accepting(
        ws_url: &str,
        token: &str,
        resume: Option<HashMap<RoomId, Seq>>,
        accepts: &[&str],
    ) -> Result<Socket, ClientError> {
        let addr = ws_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| ClientError::Protocol(format!("bad WebSocket URL {ws_url}")))?;
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let ws = websocket(ws_url, tcp).await?;
        Socket::authenticate_accepting(ws, token, resume, accepts).await
    }

    /// Authenticates an already open stream (reading `presence.batch`).
    pub async fn authenticate(
        ws: Stream,
        token: &str,
        resume: Option<HashMap<RoomId, Seq>>,
    ) -> Result<Socket, ClientError> {
        Socket::authenticate_accepting(ws, token, resume, &[ACCEPTS_PRESENCE_BATCH]).await
    }

    async fn authenticate_accepting(
        ws: Stream,
        token: &str,
        resume: Option<HashMap<RoomId, Seq>>,
        accepts: &[&str],
    ) -> Result<Socket, ClientError> {
        let mut socket = Socket {
            ws,
            next_id: 0,
            backlog: VecDeque::new(),
            user: User {
                id: UserId(uuid::Uuid::nil()),
                username: String::new(),
                display_name: String::new(),
                server_role: Default::default(),
                status_text: String::new(),
                avatar_url: None,
            },
            session_id: String::new(),
        };
        let ack = socket
            .request(ClientFrame::Auth {
                token: token.to_owned(),
                resume,
                accepts: accepts.iter().map(|a| (*a).to_owned()).collect(),
            })
            .await?;
        socket.user = serde_json::from_value(ack.get("user").cloned().unwrap_or(Value::Null))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        socket.session_id = ack
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(socket)
    }

    /// Sends a text frame as is.
    pub async fn send_raw(&mut self, text: &str) -> Result<(), ClientError> {
        self.ws.send(WsMessage::Text(text.into())).await?;
        Ok(())
    }

    /// Sends a frame with a fresh id and waits (10 s at most) for its ack, whose fields are
    /// returned; an `error` answer becomes [`ClientError::Api`]. Events meanwhile are kept.
    pub async fn request(&mut self, frame: ClientFrame) -> Result<Map<String, Value>, ClientError> {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let mut value =
            serde_json::to_value(&frame).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if let Value::Object(map) = &mut value {
            map.insert("id".into(), Value::String(id.clone()));
        }
        self.send_raw(&value.to_string()).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let incoming = tokio::time::timeout_at(deadline, self.read())
                .await
                .map_err(|_| ClientError::Timeout(format!("ack of request {id}")))??;
            match incoming {
                Incoming::Frame(frame) => match *frame {
                    ServerFrame::Ack { id: got, result } if got == id => return Ok(result),
                    ServerFrame::Error {
                        id: Some(got),
                        code,
                        message,
                        ..
                    } if got == id => {
                        return Err(ClientError::Api {
                            status: 0,
                            code,
                            message,
                        });
                    }
                    other => self.backlog.push_back(Incoming::Frame(Box::new(other))),
                },
                Incoming::Closed { code, reason } => {
                    return Err(ClientError::Closed { code, reason });
                }
            }
        }
    }

    /// Posts a text message and returns it once acknowledged.
    pub async fn send_text(&mut self, room: RoomId, body: &str) -> Result<Message, ClientError> {
        self.send_message(room, body, None).await
    }

    /// Posts a text message with an idempotency key.
    pub async fn send_message(
        &mut self,
        room: RoomId,
        body: &str,
        client_id: Option<&str>,
    ) -> Result<Message, ClientError> {
        let ack = self
            .request(ClientFrame::MessageSend {
                room_id: room,
                message: SendMessageRequest {
                    body: Some(body.to_owned()),
                    client_id: client_id.map(str::to_owned),
                    ..SendMessageRequest::default()
                },
            })
            .await?;
        serde_json::from_value(ack.get("message").cloned().unwrap_or(Value::Null))
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// The next event: first any kept while waiting for acks, then from the socket.
    pub async fn next_event(&mut self) -> Result<Incoming, ClientError> {
        if let Some(kept) = self.backlog.pop_front() {
            return Ok(kept);
        }
        self.read().await
    }

    /// The next event that `pick` accepts, within `within`; the others are dropped.
    pub async fn wait_for<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut pick: impl FnMut(&ServerFrame) -> Option<T>,
    ) -> Result<T, ClientError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let incoming = tokio::time::timeout_at(deadline, self.next_event())
                .await
                .map_err(|_| ClientError::Timeout(what.to_owned()))??;
            match incoming {
                Incoming::Frame(frame) => {
                    if let Some(found) = pick(frame.as_ref()) {
                        return Ok(found);
                    }
                }
                Incoming::Closed { code, reason } => {
                    return Err(ClientError::Closed { code, reason });
                }
            }
        }
    }

    /// Every event that arrives within `within`.
    pub async fn drain(&mut self, within: Duration) -> Vec<Incoming> {
        let deadline = tokio::time::Instant::now() + within;
        let mut out = Vec::new();
        while let Ok(Ok(incoming)) = tokio::time::timeout_at(deadline, self.next_event()).await {
            let closed = matches!(incoming, Incoming::Closed { .. });
            out.push(incoming);
            if closed {
                break;
            }
        }
        out
    }

    /// Reads one frame from the socket (answering nothing: tungstenite replies to pings).
    async fn read(&mut self) -> Result<Incoming, ClientError> {
        loop {
            let Some(msg) = self.ws.next().await else {
                return Ok(Incoming::Closed {
                    code: None,
                    reason: "stream ended".into(),
                });
            };
            match msg {
                Ok(WsMessage::Text(text)) => {
                    let frame: ServerFrame = serde_json::from_str(&text)
                        .map_err(|e| ClientError::Protocol(format!("{e}: {text}")))?;
                    return Ok(Incoming::Frame(Box::new(frame)));
                }
                Ok(WsMessage::Close(frame)) => {
                    let (code, reason) = match frame {
                        Some(CloseFrame { code, reason }) => {
                            (Some(u16::from(code)), reason.to_string())
                        }
                        None => (None, String::new()),
                    };
                    return Ok(Incoming::Closed { code, reason });
                }
                Ok(_) => continue,
                Err(e) => {
                    return Ok(Incoming::Closed {
                        code: None,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    /// Closes the session politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// `?query`, or nothing for an empty query string.
fn query_suffix(query: &str) -> String {
    if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    }
}
