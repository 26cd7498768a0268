//! Room history, `/messages/{id}` and its reactions.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, put};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Json, Path, Query};
use crate::protocol::api::{
    EditMessageRequest, HistoryPage, HistoryQuery, Message, SendMessageRequest,
};
use crate::protocol::{MessageId, RoomId};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rooms/{id}/messages", get(history).post(send))
        .route("/messages/{id}", patch(edit).delete(remove))
        .route(
            "/messages/{id}/reactions/{emoji}",
            put(react).delete(unreact),
        )
}

async fn history(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(room): Path<RoomId>,
    Query(q): Query<HistoryQuery>,
) -> Result<axum::Json<HistoryPage>, ApiError> {
    let page = state
        .services
        .history(user, room, q.before, q.after, q.around, q.limit)
        .await?;
    Ok(axum::Json(page))
}

/// Answers 201 whether the message was stored now or its `client_id` was seen before, with the
/// same message either way: a retried request gets the answer it missed.
async fn send(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(room): Path<RoomId>,
    Json(req): Json<SendMessageRequest>,
) -> Result<(StatusCode, axum::Json<Message>), ApiError> {
    let (message, _) = state.services.send_message(user, room, req).await?;
    Ok((StatusCode::CREATED, axum::Json(message)))
}

async fn edit(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<MessageId>,
    Json(req): Json<EditMessageRequest>,
) -> Result<axum::Json<Message>, ApiError> {
    Ok(axum::Json(
        state.services.edit_message(user, id, &req.body).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<MessageId>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_message(user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 204 whether the reaction is new or was there already: the request is idempotent.
async fn react(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((id, emoji)): Path<(MessageId, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.add_reaction(user, id, &emoji).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 204 whether there was such a reaction or not.
async fn unreact(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((id, emoji)): Path<(MessageId, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.remove_reaction(user, id, &emoji).await?;
    Ok(StatusCode::NO_CONTENT)
}
