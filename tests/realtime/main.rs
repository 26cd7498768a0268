//! The WebSocket hub, driven over real sockets: sessions, chat, membership, typing, receipts,
//! presence, resume and sync, limits, and clusters of nodes sharing Postgres and Redis.

#[path = "../common/mod.rs"]
mod common;

mod chat;
mod cluster;
mod embeds;
mod membership;
mod mentions;
mod moderation;
mod pins;
mod presence;
mod push;
mod reactions;
mod resume;
mod revocation;
mod sessions;
mod threads;
mod voice;

use std::time::Duration;

use confab::protocol::api::Message;
use confab::protocol::ws::ServerFrame;

/// How long a live event may take to arrive.
pub const SOON: Duration = Duration::from_secs(5);

/// `Some(message)` for a `message.new` frame.
pub fn new_message(f: &ServerFrame) -> Option<Message> {
    match f {
        ServerFrame::MessageNew { message } => Some(message.clone()),
        _ => None,
    }
}

/// `Some(message)` for the `message.new` of message `id` (other frames, and one's own echoes of
/// other messages, are skipped).
pub fn message_with(
    id: confab::protocol::MessageId,
) -> impl FnMut(&ServerFrame) -> Option<Message> {
    move |f| new_message(f).filter(|m| m.id == id)
}
