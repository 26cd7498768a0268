//! The operations of the product, one function each, shared by the HTTP API and the WebSocket hub.
//!
//! A transport parses its input, calls one function here with the caller's [`UserId`], and
//! translates the result or [`Error`]. This layer decides who may do what (membership, roles,
//! authorship), asks the store to do it, and publishes what happened on the bus so every session
//! concerned hears of it, on every node. Nothing here knows about HTTP or sockets.

pub mod accounts;
pub mod error;
pub mod messages;
pub mod rooms;

use std::time::Duration;

use crate::auth::Auth;
use crate::bus::{Bus, Event};
use crate::protocol::{Role, RoomId, RoomKind, UserId};
use crate::store::Store;

pub use error::{Error, ErrorKind, Result};

/// What every operation needs: the store, credentials and the bus. Built once in `lib.rs`.
pub struct Services {
    /// History and accounts.
    pub store: Store,
    /// Tokens and password hashes.
    pub auth: Auth,
    /// Fanout.
    pub bus: Bus,
    /// How long a refresh token lives.
    pub refresh_ttl: Duration,
}

impl Services {
    /// `user`'s role in `room` and the room's kind; a non-member gets `room_not_found`, exactly as
    /// if the room did not exist, so membership cannot be probed.
    pub async fn require_member(&self, room: RoomId, user: UserId) -> Result<(RoomKind, Role)> {
        self.store
            .membership(room, user)
            .await?
            .ok_or(Error::not_found("room"))
    }

    fn publish(&self, event: Event) {
        self.bus.publish(event);
    }
}
