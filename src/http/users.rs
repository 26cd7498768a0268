//! `/users`: finding people to add or DM.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Query};
use crate::protocol::api::UserSearchQuery;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/users", get(search))
}

async fn search(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    Query(q): Query<UserSearchQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let users = state.services.search_users(&q.q).await?;
    Ok(axum::Json(json!({ "users": users })))
}
