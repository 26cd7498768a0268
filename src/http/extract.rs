//! Extractors that answer bad input with the contract's JSON errors, and the authenticated user.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::protocol::UserId;
use crate::service::Error;

/// `axum::Json`, with rejections as [`ApiError`]s.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

/// `axum::extract::Path`, with rejections as [`ApiError`]s (`invalid_id`).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query`, with rejections as [`ApiError`]s (`invalid_query`).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The user named by the request's `Authorization: Bearer` access token.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Error::Unauthenticated {
                code: "missing_token",
                message: "send Authorization: Bearer <access_token>".into(),
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(Error::Unauthenticated {
                code: "invalid_token",
                message: "the Authorization header must be `Bearer <access_token>`".into(),
            })?;
        Ok(AuthUser(state.services.authenticate(token.trim())?))
    }
}
