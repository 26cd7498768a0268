//! `GET /search`: full-text search over the messages of the caller's rooms.

use axum::Router;
use axum::extract::State;
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Query};
use crate::protocol::api::{SearchQuery, SearchResults};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/search", get(search))
}

async fn search(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<SearchQuery>,
) -> Result<axum::Json<SearchResults>, ApiError> {
    Ok(axum::Json(state.services.search(user, q).await?))
}
