//! Bans and audit logs of rooms (`/rooms/{id}/bans`, `/rooms/{id}/audit`), and what server
//! admins do (`/admin/users/{id}/suspend`, `/admin/audit`).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Json, Path};
use crate::protocol::api::BanRequest;
use crate::protocol::{RoomId, UserId};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rooms/{id}/bans", get(bans))
        .route("/rooms/{id}/bans/{user_id}", put(ban).delete(unban))
        .route("/rooms/{id}/audit", get(room_audit))
        .route("/admin/users/{id}/suspend", post(suspend))
        .route("/admin/users/{id}/unsuspend", post(unsuspend))
        .route("/admin/audit", get(server_audit))
}

async fn ban(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((id, target)): Path<(RoomId, UserId)>,
    Json(req): Json<BanRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .ban(user, id, target, req.reason.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unban(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((id, target)): Path<(RoomId, UserId)>,
) -> Result<StatusCode, ApiError> {
    state.services.unban(user, id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn bans(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
) -> Result<axum::Json<Value>, ApiError> {
    let bans = state.services.bans(user, id).await?;
    Ok(axum::Json(json!({ "bans": bans })))
}

async fn room_audit(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<RoomId>,
) -> Result<axum::Json<Value>, ApiError> {
    let entries = state.services.room_audit(user, id).await?;
    Ok(axum::Json(json!({ "entries": entries })))
}

async fn server_audit(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<axum::Json<Value>, ApiError> {
    let entries = state.services.server_audit(user).await?;
    Ok(axum::Json(json!({ "entries": entries })))
}

async fn suspend(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(target): Path<UserId>,
) -> Result<StatusCode, ApiError> {
    state.services.set_suspended(user, target, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unsuspend(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(target): Path<UserId>,
) -> Result<StatusCode, ApiError> {
    state.services.set_suspended(user, target, false).await?;
    Ok(StatusCode::NO_CONTENT)
}
