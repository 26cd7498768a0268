//! `/users`: finding people to add or DM.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Path, Query};
use crate::protocol::UserId;
use crate::protocol::api::{User, UserSearchQuery};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(search))
        .route("/users/{id}", get(show))
}

/// Any signed-in user can look another up by id (names of forwarded authors, past members).
async fn show(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    Path(id): Path<UserId>,
) -> Result<axum::Json<User>, ApiError> {
    Ok(axum::Json(state.services.user(id).await?))
}

async fn search(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    Query(q): Query<UserSearchQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let users = state.services.search_users(&q.q).await?;
    Ok(axum::Json(json!({ "users": users })))
}
