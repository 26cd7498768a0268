//! The `auth` frame: the first one opens the session, a later one renews its token.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use tokio::time::{Instant, timeout_at};

use super::{CLOSE_SUSPENDED, CLOSE_UNAUTHENTICATED, Session};
use crate::hub::Hub;
use crate::protocol::api::User;
use crate::protocol::ws::{
    ACCEPTS_PRESENCE_BATCH, Ack, ClientFrame, ServerFrame, parse_client_frame,
};
use crate::protocol::{RoomId, Seq};
use crate::service::Error;

/// What the first frame established.
pub(super) struct Authed {
    pub user: User,
    pub request_id: Option<String>,
    /// What the client has of each room; `None` if the frame named no `resume` at all.
    pub resume: Option<HashMap<RoomId, Seq>>,
    /// The client reads `presence.batch`.
    pub presence_batch: bool,
    pub expires: Instant,
    pub login: Option<uuid::Uuid>,
}

/// Reads and checks the `auth` frame; on failure, says why and gives the close code.
pub(super) async fn authenticate(
    hub: &Hub,
    socket: &mut WebSocket,
) -> Result<Authed, (u16, &'static str)> {
    let text = first_text(hub, socket).await?;
    let envelope = match parse_client_frame(&text) {
        Ok(e) => e,
        Err(e) => {
            refuse(socket, e.code, &e.message, e.id).await;
            return Err((CLOSE_UNAUTHENTICATED, "the first frame must be auth"));
        }
    };
    let ClientFrame::Auth {
        token,
        resume,
        accepts,
    } = envelope.frame
    else {
        let why = "the first frame must be auth";
        refuse(socket, "unauthenticated", why, envelope.id).await;
        return Err((CLOSE_UNAUTHENTICATED, why));
    };
    let services = &hub.inner.services;
    let claims = match services.verify_access(&token) {
        Ok(c) => c,
        Err(e) => {
            refuse(socket, e.code(), &e.to_string(), envelope.id).await;
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
        resume,
        presence_batch: accepts.iter().any(|a| a == ACCEPTS_PRESENCE_BATCH),
        expires: expiry_instant(claims.exp),
        login: claims.sid,
    })
}

/// The first text frame, within the auth timeout.
async fn first_text(hub: &Hub, socket: &mut WebSocket) -> Result<String, (u16, &'static str)> {
    let deadline = Instant::now() + hub.inner.config.auth_timeout;
    loop {
        match timeout_at(deadline, socket.recv()).await {
            Err(_) => return Err((CLOSE_UNAUTHENTICATED, "authentication timed out")),
            Ok(Some(Err(e))) if super::is_too_large(&e) => {
                return Err((super::CLOSE_TOO_LARGE, "frame too large"));
            }
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                return Err((1000, "closed"));
            }
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.to_string()),
            Ok(Some(Ok(Message::Binary(_)))) => {
                return Err((CLOSE_UNAUTHENTICATED, "the first frame must be auth"));
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Tells the client why its first frame was refused.
async fn refuse(socket: &mut WebSocket, code: &str, message: &str, id: Option<String>) {
    let frame = ServerFrame::Error {
        id,
        code: code.to_owned(),
        message: message.to_owned(),
        retry_after_ms: None,
    };
    let text = serde_json::to_string(&frame).unwrap_or_default();
    let _ = socket.send(Message::Text(text.into())).await;
}

/// The monotonic instant of a token's `exp` (seconds since the epoch).
fn expiry_instant(exp: i64) -> Instant {
    let left = exp - chrono::Utc::now().timestamp();
    Instant::now() + Duration::from_secs(left.max(0) as u64)
}

impl Session {
    /// A later `auth`: a fresh token of the same user pushes the session's expiry back.
    pub(super) fn reauthenticate(&mut self, token: &str) -> Result<Ack, Error> {
        let claims = self.hub.inner.services.verify_access(token)?;
        if claims.sub != self.user.id {
            return Err(Error::forbidden(
                "user_mismatch",
                "a session cannot change user; open a new connection",
            ));
        }
        self.token_expires = expiry_instant(claims.exp);
        Ok(self.session_ack(Vec::new()))
    }

    /// The session's login was signed out (logout, a reused refresh token, a password reset):
    /// say so and close, as for an expired token.
    pub(super) async fn revoked(&mut self, suspended: bool) {
        if suspended {
            let e = Error::forbidden("account_suspended", "this account was suspended");
            self.send_error(None, &e).await;
            super::close(&mut self.socket, CLOSE_SUSPENDED, "suspended").await;
            return;
        }
        let e = Error::Unauthenticated {
            code: "token_revoked",
            message: "this login was signed out; sign in again".into(),
        };
        self.send_error(None, &e).await;
        super::close(&mut self.socket, CLOSE_UNAUTHENTICATED, "signed out").await;
    }

    /// What an `auth` is acknowledged with; `unknown_rooms` only on the first.
    pub(super) fn session_ack(&self, unknown_rooms: Vec<RoomId>) -> Ack {
        Ack::Session {
            user: self.user.clone(),
            session_id: self.handle.id,
            unknown_rooms,
        }
    }
}
