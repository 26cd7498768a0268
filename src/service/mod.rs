//! The operations of the product, one function each, shared by the HTTP API and the WebSocket hub.
//!
//! A transport parses its input, calls one function here with the caller's [`UserId`], and
//! translates the result or [`Error`]. This layer decides who may do what (membership, roles,
//! authorship), asks the store to do it, and publishes what happened on the bus so every session
//! concerned hears of it, on every node. It is the only door to the store: the transports hold
//! a [`Services`] (and the hub's registry a [`RoomLog`]), never a [`Store`]. Nothing here knows
//! about HTTP or sockets.

pub mod accounts;
pub mod admin;
pub mod blocks;
pub mod embeds;
pub mod emoji;
pub mod error;
pub mod files;
pub mod invites;
pub mod mentions;
pub mod messages;
pub mod moderation;
pub mod pins;
pub mod profile;
pub mod push;
pub mod ratelimit;
pub mod reactions;
pub mod roomlog;
pub mod rooms;
pub mod search;
pub mod sessions;
pub mod threads;
pub mod throttle;

use std::time::Duration;

use crate::auth::Auth;
use crate::bus::{Bus, BusHealth, Event};
use crate::config::RegistrationMode;
use crate::files::Blobs;
use crate::protocol::{Role, RoomId, RoomKind, UserId};
use crate::store::Store;

pub use crate::auth::Revocations;
pub use error::{Error, ErrorKind, Result};
pub use files::FileRules;
pub use push::{Push, PushJobs};
pub use roomlog::RoomLog;
pub use throttle::ThrottleRules;

use throttle::Throttles;

/// What every operation needs: the store, credentials, the bus and file storage. Built once in
/// `lib.rs`.
pub struct Services {
    store: Store,
    auth: Auth,
    bus: Bus,
    blobs: Blobs,
    file_rules: FileRules,
    refresh_ttl: Duration,
    throttles: Throttles,
    registration: RegistrationMode,
    push: Push,
    previews: embeds::LinkPreviews,
}

/// Whether the store answers, for readiness probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreHealth {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// It answered a ping in time.
    pub up: bool,
}

impl Services {
    /// The operations over these parts; refresh tokens live `refresh_ttl`. What the server
    /// fetches and sends on its own comes in one pair: `push` sends Web Push, and links in
    /// messages are previewed by `previewer` (none: previews are off).
    pub fn new(
        store: Store,
        auth: Auth,
        bus: Bus,
        blobs: Blobs,
        (file_rules, throttle_rules, registration): (FileRules, ThrottleRules, RegistrationMode),
        refresh_ttl: Duration,
        (push, previewer): (Push, Option<crate::embeds::Previewer>),
    ) -> Services {
        Services {
            store,
            auth,
            bus,
            blobs,
            file_rules,
            refresh_ttl,
            throttles: Throttles::new(throttle_rules),
            registration,
            push,
            previews: embeds::LinkPreviews::new(previewer),
        }
    }

    /// `user` sends, edits or deletes a message: within their rate, over every transport.
    fn throttle_send(&self, user: UserId) -> Result<()> {
        self.throttles
            .send(user, tokio::time::Instant::now())
            .map_err(rate_limited)
    }

    /// `user`'s role in `room` and the room's kind; a non-member gets `room_not_found`, exactly as
    /// if the room did not exist, so membership cannot be probed.
    pub async fn require_member(&self, room: RoomId, user: UserId) -> Result<(RoomKind, Role)> {
        self.store
            .membership(room, user)
            .await?
            .ok_or(Error::not_found("room"))
    }

    /// Pings the store within `wait`.
    pub async fn store_health(&self, wait: Duration) -> StoreHealth {
        let up = matches!(
            tokio::time::timeout(wait, self.store.ping()).await,
            Ok(Ok(()))
        );
        StoreHealth {
            backend: self.store.backend_name(),
            up,
        }
    }

    /// The limits clients may check before sending (`GET /config`).
    pub fn client_config(&self) -> crate::protocol::api::ServerConfig {
        crate::protocol::api::ServerConfig {
            max_upload_bytes: self.file_rules.max_upload,
            user_quota_bytes: self.file_rules.quota,
            max_message_chars: crate::protocol::MessageBody::MAX_CHARS,
            max_attachments: messages::MAX_ATTACHMENTS,
        }
    }

    /// Password hashes being computed now (for `/metrics`).
    pub fn password_hashes_running(&self) -> usize {
        self.auth.running_hashes()
    }

    /// Whether the bus carries events to other nodes now.
    pub fn bus_health(&self) -> BusHealth {
        self.bus.health()
    }

    fn publish(&self, event: Event) {
        self.bus.publish(event);
    }
}

/// `429 rate_limited`, to retry after `wait`.
fn rate_limited(wait: Duration) -> Error {
    Error::RateLimited {
        retry_after_ms: wait.as_millis().max(1) as u64,
    }
}
