//! `/me`: the signed-in user's profile, password, sessions and account.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthLogin, AuthUser, ClientIp, Json, Path};
use crate::protocol::UserId;
use crate::protocol::api::{ChangePasswordRequest, DeleteMeRequest, UpdateMeRequest, User};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me).patch(update).delete(delete_me))
        .route("/me/password", post(password))
        .route("/me/sessions", get(sessions))
        .route("/me/sessions/{id}", delete(sign_out))
        .route("/me/blocks", get(blocks))
        .route("/me/blocks/{user_id}", put(block).delete(unblock))
}

async fn me(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<axum::Json<User>, ApiError> {
    Ok(axum::Json(state.services.user(user).await?))
}

async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(req): Json<UpdateMeRequest>,
) -> Result<axum::Json<User>, ApiError> {
    Ok(axum::Json(state.services.update_me(user, &req).await?))
}

async fn password(
    State(state): State<AppState>,
    me: AuthLogin,
    ClientIp(from): ClientIp,
    Json(req): Json<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .change_password(
            me.user,
            me.login,
            (&req.current_password, &req.new_password),
            from,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sessions(
    State(state): State<AppState>,
    me: AuthLogin,
) -> Result<axum::Json<Value>, ApiError> {
    let sessions = state.services.sessions(me.user, me.login).await?;
    Ok(axum::Json(json!({ "sessions": sessions })))
}

async fn sign_out(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<uuid::Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services.sign_out_session(user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_me(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ClientIp(from): ClientIp,
    Json(req): Json<DeleteMeRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .delete_account(user, &req.password, from)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn blocks(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<axum::Json<Value>, ApiError> {
    let blocked = state.services.blocked_users(user).await?;
    Ok(axum::Json(json!({ "user_ids": blocked })))
}

async fn block(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(other): Path<UserId>,
) -> Result<StatusCode, ApiError> {
    state.services.block(user, other).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unblock(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(other): Path<UserId>,
) -> Result<StatusCode, ApiError> {
    state.services.unblock(user, other).await?;
    Ok(StatusCode::NO_CONTENT)
}
