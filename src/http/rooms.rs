//! `/rooms`, `/dms`, members and read positions.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Json, Path};
use crate::protocol::api::{
    CreateRoomRequest, ReadRequest, Room, RoomSettingsRequest, SetRoleRequest, UpdateRoomRequest,
    UserRef,
};
use crate::protocol::{RoomId, UserId};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rooms", get(list).post(create))
        .route("/dms", post(open_dm))
        .route("/rooms/{id}", get(show).patch(update).delete(delete_room))
        .route("/rooms/{id}/members", get(members).post(add_member))
        .route(
            "/rooms/{id}/members/{user_id}",
            delete(remove_member).patch(set_role),
        )
        .route("/rooms/{id}/read", post(mark_read))
        .route("/rooms/{id}/settings", patch(settings))
}

async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<axum::Json<Value>, ApiError> {
    let rooms = state.services.list_rooms(user).await?;
    Ok(axum::Json(json!({ "rooms": rooms })))
}

async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(req): Json<CreateRoomRequest>,
) -> Result<(StatusCode, axum::Json<Room>), ApiError> {
    let room = state
        .services
        .create_room(
            user,
            &req.name,
            req.topic.as_deref(),
            req.visibility.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(room)))
}

async fn open_dm(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(req): Json<UserRef>,
) -> Result<(StatusCode, axum::Json<Room>), ApiError> {
    let (room, created) = state.services.open_dm(user, req.user_id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(room)))
}

async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
) -> Result<axum::Json<Room>, ApiError> {
    Ok(axum::Json(state.services.room(user, id).await?))
}

async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
    Json(req): Json<UpdateRoomRequest>,
) -> Result<axum::Json<Room>, ApiError> {
    let room = state.services.update_room(user, id, &req).await?;
    Ok(axum::Json(room))
}

async fn delete_room(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_room(user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn members(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
) -> Result<axum::Json<Value>, ApiError> {
    let members = state.services.members(user, id).await?;
    Ok(axum::Json(json!({ "members": members })))
}

async fn add_member(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
    Json(req): Json<UserRef>,
) -> Result<StatusCode, ApiError> {
    state.services.add_member(user, id, req.user_id).await?;
    Ok(StatusCode::CREATED)
}

async fn remove_member(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((id, target)): Path<(RoomId, UserId)>,
) -> Result<StatusCode, ApiError> {
    state.services.remove_member(user, id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_role(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((id, target)): Path<(RoomId, UserId)>,
    Json(req): Json<SetRoleRequest>,
) -> Result<StatusCode, ApiError> {
    state.services.update_member(user, id, target, &req).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn mark_read(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
    Json(req): Json<ReadRequest>,
) -> Result<StatusCode, ApiError> {
    state.services.mark_read(user, id, req.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The viewer's own settings for the room; answers the room as they see it now.
async fn settings(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
    Json(req): Json<RoomSettingsRequest>,
) -> Result<axum::Json<Room>, ApiError> {
    Ok(axum::Json(
        state.services.set_notify(user, id, &req.notify).await?,
    ))
}
