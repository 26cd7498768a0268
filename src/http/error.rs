//! The HTTP face of errors: every failure becomes a status and `{"error":{"code","message"}}`.
//!
//! Handlers return `Result<_, ApiError>` and use `?` on service calls; extractor rejections (bad
//! JSON, a malformed id in the path, a body over the limit) are mapped here too, so a client never
//! sees axum's plain-text defaults.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::protocol::api::{ErrorBody, ErrorDetail};
use crate::service::{Error, ErrorKind};

/// An error on its way to an HTTP client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

/// The status for each class of error.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Gone => StatusCode::GONE,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::TimedOut => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.0.kind());
        crate::metrics::error(self.0.code());
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.0.code().to_owned(),
                message: self.0.to_string(),
                retry_after_ms: self.0.retry_after_ms(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(ms) = self.0.retry_after_ms() {
            let secs = ms.div_ceil(1000).max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        if super::server::is_body_timeout(&r) {
            return ApiError(Error::TimedOut);
        }
        let e = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge {
                code: "payload_too_large",
                message: "request body is too large".into(),
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::invalid(
                "unsupported_media_type",
                "send JSON with Content-Type: application/json",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => Error::invalid("invalid_request", r.body_text()),
            _ => Error::invalid("invalid_json", r.body_text()),
        };
        ApiError(e)
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError(Error::invalid("invalid_id", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError(Error::invalid("invalid_query", r.body_text()))
    }
}
