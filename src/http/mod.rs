//! The HTTP API under `/api/v1`, the WebSocket endpoint, and health checks.
//!
//! One router per resource, merged here; handlers translate between HTTP and the service layer
//! and nothing else. Every failure leaves as a status with `{"error":{"code","message"}}` (see
//! [`error`]); JSON bodies are capped at 64 KiB; JSON answers and the client's files go out
//! compressed when the request accepts it; each request is logged once with its status and
//! latency, by path only (no query strings, no headers, so no tokens).

mod account;
mod auth;
mod config;
mod embeds;
mod emoji;
pub mod error;
pub mod extract;
mod files;
mod health;
mod invites;
mod messages;
mod moderation;
mod pins;
mod push;
mod rooms;
mod search;
pub mod server;
mod threads;
mod users;
mod web;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, header};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::hub::Hub;
use crate::service::{Error, Services};
use error::ApiError;

/// The largest JSON body accepted.
pub const JSON_LIMIT: usize = 64 * 1024;

/// What handlers share: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The operations.
    pub services: Arc<Services>,
    /// The realtime hub.
    pub hub: Hub,
    /// This node serves HTTPS itself: responses carry HSTS.
    pub tls: bool,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<Vec<crate::protocol::IpRange>>,
}

/// What browsers are told when this node serves HTTPS itself: keep to HTTPS for two years.
/// Not sent over plain HTTP (browsers ignore it there, and behind a proxy the proxy decides).
pub const HSTS: &str = "max-age=63072000";

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let hsts = state.tls.then(|| {
        SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        )
    });
    // JSON answers are compressed as the request accepts (brotli or gzip); file downloads are
    // not (they are media, or ranges of bytes), nor the WebSocket upgrade.
    let json = Router::new()
        .merge(auth::router())
        .merge(config::router())
        .merge(account::router())
        .merge(users::router())
        .merge(rooms::router())
        .merge(invites::router())
        .merge(moderation::router())
        .merge(messages::router())
        .merge(pins::router())
        .merge(push::router())
        .merge(emoji::router())
        .merge(embeds::router())
        .merge(search::router())
        .merge(threads::router())
        .layer(CompressionLayer::new());
    let api = json
        .merge(files::router(state.services.max_upload()))
        .merge(ws::router())
        .fallback(not_found);
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .merge(web::router().layer(CompressionLayer::new()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .layer(tower::util::option_layer(hsts))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(
                    |response: &axum::response::Response, latency: Duration, _span: &tracing::Span| {
                        let status = response.status().as_u16();
                        crate::metrics::http_request(status);
                        tracing::info!(status, latency_us = latency.as_micros() as u64, "request done");
                    },
                ),
        )
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError(Error::not_found("route"))
}

async fn method_not_allowed() -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(serde_json::json!({
            "error": {"code": "method_not_allowed", "message": "this method is not allowed here"}
        })),
    )
}

/// How long a readiness probe waits for each dependency.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);
