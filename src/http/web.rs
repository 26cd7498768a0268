//! The browser client: the files of `web/`, served at `/`.
//!
//! Release builds embed the files in the binary; debug builds read them from disk at each request
//! (rust-embed's default), so a change to `web/` shows on reload. Every page carries a strict
//! Content-Security-Policy: scripts and styles only from this origin, no inline code, no plugins,
//! no framing, so user text can never become script even if a bug let it into the DOM as markup.
//!
//! Caching: the client has no build step to fingerprint file names, so the whole client gets one
//! version instead, a hash over every file. `index.html` (always revalidated) names its styles and
//! modules under `/v/<version>/…`, and the modules import each other by relative paths, so the
//! whole graph loads from there; those answers are `immutable`, and a warm load asks for no static
//! file at all. Any change to any file makes a new version, so a new set of URLs. The plain paths
//! (`/js/main.js`) still answer, revalidated each time.
//!
//! Compression: `build.rs` compresses each text file with brotli and gzip at build time; a file
//! goes out in the best encoding the request accepts, as long as it is still the file that was
//! compressed (in a debug build, an edited file goes out as it is). `index.html`, rewritten per
//! version, is compressed with brotli's best once per version (the router's `CompressionLayer`
//! uses brotli's quality 4, 680 bytes against 542 for this page) and gzipped on the fly for
//! clients without brotli.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::service::Error;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

/// A file of `web/` as build.rs compressed it: its path, the SHA-256 of its bytes, its brotli and
/// its gzip encodings.
type Precompressed = (&'static str, [u8; 32], &'static [u8], &'static [u8]);

// `PRECOMPRESSED: &[Precompressed]`, one entry per compressible file.
include!(concat!(env!("OUT_DIR"), "/web_compressed.rs"));

/// The policy for the client's pages.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; \
    connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// The answer for a file of the current version: kept for a year and never revalidated.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The routes of the client.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/v/{version}/{*path}", get(versioned))
        .route("/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve_index(&headers)
}

/// A file of `web/`; a path without an extension is a client-side route, answered with the app.
async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if Assets::get(&path).is_some() {
        return serve(&path, &headers, "no-cache");
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if !last.contains('.') && !path.starts_with("api/") {
        return serve_index(&headers);
    }
    ApiError(Error::not_found("route")).into_response()
}

/// A file under a version. An old version's URL (a page loaded before an upgrade) still gets
/// the file, but revalidated, so no cache keeps today's bytes under yesterday's name for a year.
async fn versioned(Path((wanted, path)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let cache = if wanted == version() {
        IMMUTABLE
    } else {
        "no-cache"
    };
    serve(&path, &headers, cache)
}

/// The client's version: the first 8 bytes of a hash over every file's path and content hash.
fn version() -> String {
    // A debug build reads web/ from disk, so the version follows edits; a release build's files
    // are fixed, so it is computed once.
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if cfg!(debug_assertions) {
        return compute_version();
    }
    VERSION.get_or_init(compute_version).clone()
}

fn compute_version() -> String {
    let mut paths: Vec<_> = Assets::iter().collect();
    paths.sort();
    let mut hasher = Sha256::new();
    for path in paths {
        if let Some(file) = Assets::get(&path) {
            hasher.update(path.as_bytes());
            hasher.update(file.metadata.sha256_hash());
        }
    }
    hex(&hasher.finalize()[..8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The app's page, its local URLs moved under the current version.
fn serve_index(request: &HeaderMap) -> Response {
    let Some(file) = Assets::get("index.html") else {
        return ApiError(Error::not_found("route")).into_response();
    };
    let version = version();
    let page = String::from_utf8_lossy(&file.data)
        .replace("href=\"/", &format!("href=\"/v/{version}/"))
        .replace("src=\"/", &format!("src=\"/v/{version}/"));
    let hash = hex(&Sha256::digest(page.as_bytes())[..8]);
    let br = accepts(request, "br");
    let etag = if br {
        format!("\"{hash}-br\"")
    } else {
        format!("\"{hash}\"")
    };
    let mut response = if matches_etag(request, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if br {
        Response::new(Body::from(index_brotli(&hash, &page)))
    } else {
        Response::new(Body::from(page))
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if br {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
    }
    set_common(headers, &etag, "no-cache", true);
    response
}

/// `page` (whose hash is `hash`) compressed with brotli's best, kept for as long as the page is
/// the same (in a release build, for good).
fn index_brotli(hash: &str, page: &str) -> bytes::Bytes {
    static KEPT: std::sync::Mutex<Option<(String, bytes::Bytes)>> = std::sync::Mutex::new(None);
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((h, body)) = kept.as_ref()
        && h == hash
    {
        return body.clone();
    }
    let mut out = Vec::new();
    {
        use std::io::Write;
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        // Writing into memory cannot fail.
        let _ = w.write_all(page.as_bytes());
    }
    let body = bytes::Bytes::from(out);
    *kept = Some((hash.to_owned(), body.clone()));
    body
}

fn serve(path: &str, request: &HeaderMap, cache: &'static str) -> Response {
    let Some(file) = Assets::get(path) else {
        return ApiError(Error::not_found("route")).into_response();
    };
    let hash = file.metadata.sha256_hash();
    // Only the files that build.rs compressed, and only while they are still what it compressed.
    let compressed = PRECOMPRESSED
        .iter()
        .find(|(p, h, _, _)| *p == path && *h == hash);
    // Brotli when accepted (the smaller), else gzip, else the file as it is.
    let (encoding, body) = match compressed {
        Some((_, _, br, _)) if accepts(request, "br") => (Some("br"), Body::from(*br)),
        Some((_, _, _, gz)) if accepts(request, "gzip") => (Some("gzip"), Body::from(*gz)),
        _ => (None, Body::from(file.data)),
    };
    // Each encoding is its own representation, with its own tag. 64 bits of the content's hash
    // tell versions of one path apart; every byte of a header is paid on each of ~40 files.
    let etag = format!(
        "\"{}{}\"",
        hex(&hash[..8]),
        encoding.map(|e| format!("-{e}")).unwrap_or_default()
    );
    let mut response = if matches_etag(request, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(body)
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    if compressed.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    // Scripts and styles are not documents: the page's policy governs them, and the
    // document-only headers would only add bytes to each of them. SVG can be opened as one.
    let document = matches!(file.metadata.mimetype(), "text/html" | "image/svg+xml");
    set_common(headers, &etag, cache, document);
    response
}

fn matches_etag(request: &HeaderMap, etag: &str) -> bool {
    request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

/// The encodings of `Accept-Encoding` with a non-zero weight.
fn accepted(request: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim().to_ascii_lowercase();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (weight > 0.0).then_some(name)
        })
}

fn accepts(request: &HeaderMap, encoding: &str) -> bool {
    accepted(request).any(|e| e == encoding || e == "*")
}

/// The headers of every file; a `document` (a page, or an SVG opened as one) also gets the
/// policies that only documents obey.
fn set_common(headers: &mut HeaderMap, etag: &str, cache: &'static str, document: bool) {
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Also for scripts and styles: the requests they make follow it.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !document {
        return;
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("microphone=(self), camera=(), geolocation=()"),
    );
}
