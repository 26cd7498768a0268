//! `/embeds`: the pictures of link previews, as this server re-encoded them.
//!
//! A preview's picture is served only to members of a room where a live message shows it; to
//! anyone else it is `404 embed_not_found`, as if it did not exist. Its bytes never change under
//! its id, so browsers may keep it a day (privately: it is a member's).

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Path};
use crate::protocol::EmbedId;
use crate::service::embeds::IMAGE_MAX_AGE;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/embeds/{id}/image", get(image))
}

/// `GET /embeds/{id}/image`.
async fn image(
    axum::extract::State(state): axum::extract::State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<EmbedId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (bytes, kind) = state.services.embed_image(user, id).await?;
    let etag = format!("\"{id}\"");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        bytes.into_response()
    };
    let h = response.headers_mut();
    let cache = format!("private, max-age={}, immutable", IMAGE_MAX_AGE.as_secs());
    for (name, value) in [
        (header::CONTENT_TYPE, kind.as_str()),
        (header::ETAG, etag.as_str()),
        (header::CACHE_CONTROL, cache.as_str()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        ),
        (header::CONTENT_DISPOSITION, "inline"),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    Ok(response)
}
