//! `GET /api/v1/ws`: the upgrade into a hub session.

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};

use super::AppState;
use super::server::ConnMark;

/// The largest frame a client may send (1009 past it).
pub const MAX_FRAME: usize = 64 * 1024;

/// Read buffer of each session's socket, bytes: held for the session's life, and client frames
/// are small (a larger one grows it while it is read).
pub const READ_BUFFER: usize = 4 * 1024;

/// Queued output past which a session's socket writes without waiting for the flush, bytes.
pub const WRITE_BUFFER: usize = 8 * 1024;

/// The route of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

/// Authentication happens inside the socket (the first frame), so that no token rides in a URL
/// where proxies log it.
/// The connection counts as unauthenticated (see [`super::server`]) until the session's `auth`.
async fn upgrade(
    State(state): State<AppState>,
    mark: Option<Extension<ConnMark>>,
    ws: WebSocketUpgrade,
) -> Response {
    let mark = mark.map(|Extension(m)| m);
    let on_auth = move || {
        if let Some(mark) = mark {
            mark.authenticated();
        }
    };
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        // tungstenite's 128 KiB buffers would cost a quarter of a MiB per idle session; chat
        // frames are small, the buffers grow for a large one, and writes are flushed in batches.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| state.hub.serve(socket, Box::new(on_auth)))
}
