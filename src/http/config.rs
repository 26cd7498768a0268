//! `/config`: the server's limits, for clients to check before they send.
//!
//! Public, like the limits in protocol.md: a client reads them before signing in and refuses a
//! file over the upload limit or a message over the length limit without sending its bytes.

use axum::Router;
use axum::extract::State;
use axum::routing::get;

use super::AppState;
use crate::protocol::api::ServerConfig;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/config", get(show))
}

async fn show(State(state): State<AppState>) -> axum::Json<ServerConfig> {
    axum::Json(state.services.client_config())
}
