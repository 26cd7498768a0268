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
        .route("/users/{id}/avatar", get(avatar))
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

/// The avatar PNG; any signed-in user may fetch it. Its URL carries a version, so it may be
/// cached for long.
async fn avatar(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    Path(id): Path<UserId>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let png = state.services.avatar(id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        png,
    )
        .into_response())
}
