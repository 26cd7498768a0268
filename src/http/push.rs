//! `/push`: Web Push settings and the caller's browser subscriptions.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthLogin, AuthUser, Json};
use crate::protocol::api::{
    PushSettings, PushSubscribeRequest, PushSubscription, PushUnsubscribeRequest, UpdatePushRequest,
};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/push", get(show).patch(update))
        .route("/push/subscriptions", post(subscribe).delete(unsubscribe))
}

async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<axum::Json<PushSettings>, ApiError> {
    Ok(axum::Json(state.services.push_settings(user).await?))
}

async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(req): Json<UpdatePushRequest>,
) -> Result<axum::Json<PushSettings>, ApiError> {
    let settings = state
        .services
        .set_push_include_text(user, req.include_text)
        .await?;
    Ok(axum::Json(settings))
}

async fn subscribe(
    State(state): State<AppState>,
    me: AuthLogin,
    Json(req): Json<PushSubscribeRequest>,
) -> Result<(StatusCode, axum::Json<PushSubscription>), ApiError> {
    let sub = state
        .services
        .subscribe_push(me.user, me.login, &req)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(sub)))
}

async fn unsubscribe(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(req): Json<PushUnsubscribeRequest>,
) -> Result<StatusCode, ApiError> {
    state.services.unsubscribe_push(user, &req.endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}
