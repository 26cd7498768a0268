//! `/emoji`: the server's custom emoji, listed to everyone signed in, added and deleted by its
//! admins. The images are served as files (`/files/{id}`), which every signed-in user may read.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Json, Path};
use crate::protocol::api::{CreateEmojiRequest, CustomEmoji, CustomEmojiList};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/emoji", get(list).post(create))
        .route("/emoji/{name}", delete(remove))
}

async fn list(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
) -> Result<axum::Json<CustomEmojiList>, ApiError> {
    let emoji = state.services.custom_emoji().await?;
    Ok(axum::Json(CustomEmojiList { emoji }))
}

/// 201 with the new emoji.
async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(req): Json<CreateEmojiRequest>,
) -> Result<(StatusCode, axum::Json<CustomEmoji>), ApiError> {
    let emoji = state.services.add_custom_emoji(user, &req).await?;
    Ok((StatusCode::CREATED, axum::Json(emoji)))
}

/// 204 once it is gone.
async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_custom_emoji(user, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
