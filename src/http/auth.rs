//! `/auth/*`: accounts and tokens.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, Json};
use crate::protocol::api::{LoginRequest, RefreshRequest, RegisterRequest, TokenResponse};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
}

async fn register(
    state: axum::extract::State<AppState>,
    Caller(from): Caller,
    Json(req): Json<RegisterRequest>,
) -> Result<(StatusCode, axum::Json<TokenResponse>), ApiError> {
    let tokens = state.services.register(&req, &from).await?;
    Ok((StatusCode::CREATED, axum::Json(tokens)))
}

async fn login(
    state: axum::extract::State<AppState>,
    Caller(from): Caller,
    Json(req): Json<LoginRequest>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    Ok(axum::Json(
        state
            .services
            .login(&req.username, &req.password, &from)
            .await?,
    ))
}

async fn refresh(
    state: axum::extract::State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    Ok(axum::Json(
        state.services.refresh(&req.refresh_token).await?,
    ))
}

async fn logout(
    state: axum::extract::State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state.services.logout(&req.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
