//! `/rooms/{id}/pins`: a room's pinned messages.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Path};
use crate::protocol::api::PinList;
use crate::protocol::{MessageId, RoomId};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rooms/{id}/pins", get(list))
        .route("/rooms/{id}/pins/{message_id}", put(pin).delete(unpin))
}

async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(room): Path<RoomId>,
) -> Result<axum::Json<PinList>, ApiError> {
    Ok(axum::Json(state.services.pins(user, room).await?))
}

/// 204 whether the message is pinned now or was already.
async fn pin(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((room, message)): Path<(RoomId, MessageId)>,
) -> Result<StatusCode, ApiError> {
    state.services.pin(user, room, message).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 204 whether it was pinned or not.
async fn unpin(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((room, message)): Path<(RoomId, MessageId)>,
) -> Result<StatusCode, ApiError> {
    state.services.unpin(user, room, message).await?;
    Ok(StatusCode::NO_CONTENT)
}
