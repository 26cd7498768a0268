//! `/rooms/{id}/invites`, `/invites/{code}` and the directory (`/rooms/public`, `/rooms/{id}/join`).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Json, Path, Query};
use crate::protocol::RoomId;
use crate::protocol::api::{CreateInviteRequest, DirectoryQuery, Invite, InvitePreview, Room};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rooms/{id}/invites", get(list).post(create))
        .route("/invites/{code}", get(preview).delete(revoke))
        .route("/invites/{code}/accept", post(accept))
        .route("/rooms/public", get(directory))
        .route("/rooms/{id}/join", post(join))
}

async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
    Json(req): Json<CreateInviteRequest>,
) -> Result<(StatusCode, axum::Json<Invite>), ApiError> {
    let invite = state.services.create_invite(user, id, &req).await?;
    Ok((StatusCode::CREATED, axum::Json(invite)))
}

async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
) -> Result<axum::Json<Value>, ApiError> {
    let invites = state.services.room_invites(user, id).await?;
    Ok(axum::Json(json!({ "invites": invites })))
}

/// Answered without a token: the page behind an invite link shows it before sign-in.
async fn preview(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<InvitePreview>, ApiError> {
    Ok(axum::Json(state.services.preview_invite(&code).await?))
}

async fn revoke(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.revoke_invite(user, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn accept(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(code): Path<String>,
) -> Result<axum::Json<Room>, ApiError> {
    Ok(axum::Json(state.services.accept_invite(user, &code).await?))
}

async fn directory(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<DirectoryQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let rooms = state.services.public_rooms(user, &q.q).await?;
    Ok(axum::Json(json!({ "rooms": rooms })))
}

async fn join(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
) -> Result<axum::Json<Room>, ApiError> {
    Ok(axum::Json(state.services.join_public_room(user, id).await?))
}
