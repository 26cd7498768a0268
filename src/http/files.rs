//! `/files`: uploads (multipart, streamed) and downloads (with ranges), for members only.
//!
//! Downloads carry the sniffed type, `X-Content-Type-Options: nosniff`, a sandboxing CSP, a strong
//! ETag (the content hash), and `Content-Disposition: inline` only for images, audio and video;
//! anything else is an attachment, so no upload can run as a page of this origin.

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Path};
use crate::files::sniff;
use crate::protocol::FileId;
use crate::protocol::api::Attachment;
use crate::service::Error;
use crate::service::files::FileRecord;

/// The routes of this resource; uploads may be as large as configured (plus multipart framing).
pub fn router(max_upload: u64) -> Router<AppState> {
    let limit = usize::try_from(max_upload)
        .unwrap_or(usize::MAX)
        .saturating_add(1 << 20);
    Router::new()
        .route(
            "/files",
            post(upload_or_close).layer(DefaultBodyLimit::max(limit)),
        )
        .route("/files/{id}", get(download))
        .route("/files/{id}/thumbnail", get(thumbnail))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if super::server::is_body_timeout(&e) {
        return ApiError(Error::TimedOut);
    }
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError(Error::TooLarge {
            code: "file_too_large",
            message: "the upload is larger than the server accepts".into(),
        })
    } else {
        ApiError(Error::invalid("invalid_multipart", e.body_text()))
    }
}

/// An upload refused part-way (too large, over quota, a failure) is answered before its body
/// has been read: the connection is then closed rather than kept alive with the rest of the
/// body still in it, so that a client does not send its next request into the leftovers.
async fn upload_or_close(state: State<AppState>, user: AuthUser, multipart: Multipart) -> Response {
    match upload(state, user, multipart).await {
        Ok(created) => created.into_response(),
        Err(e) => {
            let mut response = e.into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// `POST /files` with a multipart field `file`: 201 with the attachment object.
async fn upload(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    mut multipart: Multipart,
) -> Result<(StatusCode, axum::Json<Attachment>), ApiError> {
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("file").to_owned();
        let mut upload = state.services.begin_upload(user).await?;
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            upload.write(&chunk).await?;
        }
        let record = upload.finish(&name).await?;
        return Ok((StatusCode::CREATED, axum::Json(record.attachment())));
    }
    Err(ApiError(Error::invalid(
        "invalid_multipart",
        "send the file in a multipart field named `file`",
    )))
}

/// `GET /files/{id}`: the bytes, or the range asked for.
async fn download(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<FileId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = state.services.readable_file(user, id).await?;
    let etag = format!("\"{}\"", file.sha256);
    if matches_etag(&headers, &etag) {
        return Ok(with_file_headers(
            StatusCode::NOT_MODIFIED.into_response(),
            &file,
            &etag,
        ));
    }
    let size = file.size as u64;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) => match parse_range(spec, size) {
            RangeSpec::One(r) => Some(r),
            RangeSpec::Unsatisfiable => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(response);
            }
            RangeSpec::Ignore => None,
        },
        None => None,
    };
    let stream = state.services.file_bytes(&file, range.clone()).await?;
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    match &range {
        Some(r) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let headers = response.headers_mut();
            insert(
                headers,
                header::CONTENT_LENGTH,
                &(r.end - r.start).to_string(),
            );
            insert(
                headers,
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{size}", r.start, r.end - 1),
            );
        }
        None => insert(headers, header::CONTENT_LENGTH, &size.to_string()),
    }
    Ok(with_file_headers(response, &file, &etag))
}

/// `GET /files/{id}/thumbnail`: the small picture of an image.
async fn thumbnail(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<FileId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = state.services.readable_file(user, id).await?;
    let etag = format!("\"{}-thumb\"", file.sha256);
    if matches_etag(&headers, &etag) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let (stream, kind) = state.services.file_thumbnail(&file).await?;
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    insert(h, header::CONTENT_TYPE, kind);
    insert(h, header::ETAG, &etag);
    insert(h, header::CACHE_CONTROL, "private, max-age=3600");
    insert(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(h, header::CONTENT_DISPOSITION, "inline");
    Ok(response)
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

fn with_file_headers(mut response: Response, file: &FileRecord, etag: &str) -> Response {
    let h = response.headers_mut();
    insert(h, header::CONTENT_TYPE, &file.content_type);
    insert(h, header::ETAG, etag);
    insert(h, header::ACCEPT_RANGES, "bytes");
    insert(h, header::CACHE_CONTROL, "private, max-age=3600");
    insert(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(
        h,
        header::CONTENT_SECURITY_POLICY,
        "sandbox; default-src 'none'",
    );
    let disposition = if sniff::inline(&file.content_type) {
        "inline"
    } else {
        "attachment"
    };
    insert(
        h,
        header::CONTENT_DISPOSITION,
        &format!(
            "{disposition}; filename*=UTF-8''{}",
            encode_filename(&file.name)
        ),
    );
    response
}

/// RFC 5987 percent-encoding of a file name.
fn encode_filename(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    /// One satisfiable range (end exclusive).
    One(std::ops::Range<u64>),
    /// Past the end: 416.
    Unsatisfiable,
    /// Not understood, or several ranges: serve the whole file (RFC 9110 allows it).
    Ignore,
}

fn parse_range(spec: &str, size: u64) -> RangeSpec {
    let Some(ranges) = spec.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if ranges.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((start, end)) = ranges.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let parsed = match (start.trim(), end.trim()) {
        ("", suffix) => suffix
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| size.saturating_sub(n)..size),
        (s, "") => s.parse::<u64>().ok().map(|s| s..size),
        (s, e) => match (s.parse::<u64>(), e.parse::<u64>()) {
            (Ok(s), Ok(e)) if e >= s => Some(s..(e + 1).min(size)),
            _ => return RangeSpec::Ignore,
        },
    };
    match parsed {
        Some(r) if r.start < size && r.start < r.end => RangeSpec::One(r),
        Some(_) => RangeSpec::Unsatisfiable,
        None => RangeSpec::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-99", 1000), RangeSpec::One(0..100));
        assert_eq!(parse_range("bytes=900-", 1000), RangeSpec::One(900..1000));
        assert_eq!(parse_range("bytes=-100", 1000), RangeSpec::One(900..1000));
        assert_eq!(
            parse_range("bytes=990-2000", 1000),
            RangeSpec::One(990..1000)
        );
        assert_eq!(parse_range("bytes=1000-", 1000), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), RangeSpec::Ignore);
        assert_eq!(parse_range("items=0-1", 1000), RangeSpec::Ignore);
        assert_eq!(parse_range("bytes=5-1", 1000), RangeSpec::Ignore);
    }

    #[test]
    fn file_names_are_percent_encoded_for_content_disposition() {
        assert_eq!(encode_filename("a b\"c.txt"), "a%20b%22c.txt");
        assert_eq!(encode_filename("é.png"), "%C3%A9.png");
    }
}
