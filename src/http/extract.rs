//! Extractors that answer bad input with the contract's JSON errors, and the authenticated user.

use std::net::IpAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
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

/// The address of the client that made the request: the connection's peer, or, when that peer
/// is a trusted proxy, the right-most `X-Forwarded-For` entry that is not itself a trusted proxy
/// (entries further left are whatever the client chose to send).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<super::server::PeerAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.0.ip());
        let trusted = |ip: IpAddr| state.trusted_proxies.iter().any(|r| r.contains(ip));
        if !trusted(peer) {
            return Ok(ClientIp(peer));
        }
        let mut client = peer;
        for value in parts.headers.get_all("x-forwarded-for").iter().rev() {
            let Ok(list) = value.to_str() else { break };
            for entry in list.rsplit(',') {
                match entry.trim().parse::<IpAddr>() {
                    Ok(ip) if trusted(ip) => client = ip,
                    Ok(ip) => return Ok(ClientIp(ip)),
                    Err(_) => return Ok(ClientIp(client)),
                }
            }
        }
        Ok(ClientIp(client))
    }
}

/// Who is signing in: the client's address and user agent.
#[derive(Debug, Clone)]
pub struct Caller(pub crate::service::accounts::Client);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientIp(address) = ClientIp::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        Ok(Caller(crate::service::accounts::Client {
            address,
            user_agent,
        }))
    }
}

/// The user named by the request's `Authorization: Bearer` access token, and the login it
/// belongs to.
#[derive(Debug, Clone, Copy)]
pub struct AuthLogin {
    /// The user.
    pub user: UserId,
    /// The login (refresh-token family) of the token; `None` for tokens minted before logins
    /// were named.
    pub login: Option<uuid::Uuid>,
}

impl FromRequestParts<AppState> for AuthLogin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.get(7..))
            .unwrap_or_default();
        let login = state.services.verify_access(token.trim())?.sid;
        Ok(AuthLogin { user, login })
    }
}

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
        let user = state.services.authenticate(token.trim())?;
        if let Some(mark) = parts.extensions.get::<super::server::ConnMark>() {
            mark.authenticated();
        }
        Ok(AuthUser(user))
    }
}
