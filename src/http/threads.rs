//! `/messages/{id}/thread…` and `/threads`: a thread's replies, following it, reading it, and the
//! threads a user follows. Posting in a thread is an ordinary send naming `thread_root`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Json, Path, Query};
use crate::protocol::MessageId;
use crate::protocol::api::{ReadRequest, ThreadList, ThreadPage, ThreadQuery, ThreadsQuery};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/messages/{id}/thread", get(page))
        .route("/messages/{id}/thread/follow", put(follow).delete(unfollow))
        .route("/messages/{id}/thread/read", post(read))
        .route("/threads", get(followed))
}

async fn page(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(root): Path<MessageId>,
    Query(q): Query<ThreadQuery>,
) -> Result<axum::Json<ThreadPage>, ApiError> {
    let page = state
        .services
        .thread_page(user, root, q.after, q.limit)
        .await?;
    Ok(axum::Json(page))
}

/// 204 whether the user followed the thread already or not.
async fn follow(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(root): Path<MessageId>,
) -> Result<StatusCode, ApiError> {
    state.services.follow_thread(user, root, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 204 whether the user followed the thread or not.
async fn unfollow(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(root): Path<MessageId>,
) -> Result<StatusCode, ApiError> {
    state.services.follow_thread(user, root, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn read(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(root): Path<MessageId>,
    Json(req): Json<ReadRequest>,
) -> Result<StatusCode, ApiError> {
    state.services.read_thread(user, root, req.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn followed(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ThreadsQuery>,
) -> Result<axum::Json<ThreadList>, ApiError> {
    Ok(axum::Json(
        state.services.followed_threads(user, q.room_id).await?,
    ))
}
