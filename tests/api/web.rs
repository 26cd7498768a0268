//! The web client's files and the API's answers on the wire: compressed as the request accepts,
//! and cached by version (index.html revalidated, versioned files immutable).

use std::io::Read;

use crate::common::{Backend, TestApp, spawn_app};

/// What a response says and carries.
struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as sent, undone of its `Content-Encoding`.
    fn decoded(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.header("content-encoding") {
            Some("br") => {
                brotli::Decompressor::new(&self.body[..], 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Some("gzip") => {
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .unwrap();
            }
            None => out.clone_from(&self.body),
            Some(other) => panic!("unexpected encoding {other}"),
        }
        out
    }
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Got {
    let resp = app.api.get_raw(path, headers).await.unwrap();
    Got {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

fn on_disk(path: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("web")
            .join(path),
    )
    .unwrap()
}

/// The version index.html names its files under.
fn version_of(index: &str) -> String {
    let start = index.find("src=\"/v/").expect("a versioned script") + "src=\"/v/".len();
    index[start..].split('/').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_revalidated_and_names_its_files_under_a_version() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = get(&app, "/", &[("accept-encoding", "gzip")]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert_eq!(page.header("content-encoding"), Some("gzip"));
    let html = String::from_utf8(page.decoded()).unwrap();
    let version = version_of(&html);
    assert_eq!(version.len(), 16, "{version}");
    assert!(html.contains(&format!(
        "<script type=\"module\" src=\"/v/{version}/js/main.js\">"
    )));
    assert!(html.contains(&format!("href=\"/v/{version}/css/base.css\"")));
    assert!(
        !html.contains("=\"/js/") && !html.contains("=\"/css/"),
        "nothing left unversioned"
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    // Revalidation is cheap: the same page answers 304.
    let etag = page.header("etag").unwrap().to_owned();
    let again = get(&app, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_goes_out_at_brotlis_best_and_revalidates_per_encoding() {
    let app = spawn_app(Backend::Sqlite).await;
    let plain = get(&app, "/", &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    let page = get(&app, "/", &[("accept-encoding", "gzip, deflate, br, zstd")]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-encoding"), Some("br"));
    assert_eq!(page.header("vary"), Some("accept-encoding"));
    assert_eq!(page.decoded(), plain.body, "the same page");
    // Smaller than what the on-the-fly layer's quality 4 would send.
    let mut quality_4 = Vec::new();
    {
        use std::io::Write;
        let mut w = brotli::CompressorWriter::new(&mut quality_4, 4096, 4, 22);
        w.write_all(&plain.body).unwrap();
    }
    assert!(
        page.body.len() < quality_4.len(),
        "{} bytes against {} at quality 4",
        page.body.len(),
        quality_4.len()
    );
    // Each encoding has its own tag, and each revalidates.
    let etag = page.header("etag").unwrap().to_owned();
    assert!(etag.ends_with("-br\""), "{etag}");
    assert_ne!(plain.header("etag"), Some(&*etag));
    let again = get(
        &app,
        "/",
        &[("accept-encoding", "br"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, 304);
    let other = get(&app, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(other.status, 200, "a br tag does not match the plain page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_files_are_immutable_and_go_out_in_the_best_accepted_encoding() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = get(&app, "/", &[]).await;
    let version = version_of(&String::from_utf8(page.body).unwrap());
    let path = format!("/v/{version}/js/chat.js");
    let original = on_disk("js/chat.js");

    let br = get(
        &app,
        &path,
        &[("accept-encoding", "gzip, deflate, br, zstd")],
    )
    .await;
    assert_eq!(br.status, 200);
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("vary"), Some("accept-encoding"));
    assert_eq!(
        br.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(br.header("content-type"), Some("text/javascript"));
    assert_eq!(br.decoded(), original);
    assert_eq!(br.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        br.header("content-security-policy"),
        None,
        "a document's policy, not a script's"
    );
    assert!(
        br.body.len() * 3 < original.len(),
        "compressed: {} of {}",
        br.body.len(),
        original.len()
    );

    let gz = get(&app, &path, &[("accept-encoding", "br;q=0, gzip")]).await;
    assert_eq!(
        gz.header("content-encoding"),
        Some("gzip"),
        "br refused by weight"
    );
    assert_eq!(gz.decoded(), original);
    assert_ne!(
        gz.header("etag"),
        br.header("etag"),
        "each encoding is its own representation"
    );

    let plain = get(&app, &path, &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.body, original);

    // A conditional request with the tag it has gets a 304 and no body.
    let etag = br.header("etag").unwrap().to_owned();
    let cached = get(
        &app,
        &path,
        &[("accept-encoding", "br"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_versions_and_plain_paths_are_revalidated_and_unknown_files_are_404() {
    let app = spawn_app(Backend::Sqlite).await;
    let old = get(
        &app,
        "/v/0123456789abcdef/js/main.js",
        &[("accept-encoding", "br")],
    )
    .await;
    assert_eq!(old.status, 200);
    assert_eq!(
        old.header("cache-control"),
        Some("no-cache"),
        "never immutable under a name that is not today's"
    );
    assert_eq!(old.decoded(), on_disk("js/main.js"));
    let plain = get(&app, "/css/chat.css", &[("accept-encoding", "gzip")]).await;
    assert_eq!(plain.header("cache-control"), Some("no-cache"));
    assert_eq!(plain.decoded(), on_disk("css/chat.css"));
    let missing = get(&app, "/v/0123456789abcdef/js/nope.js", &[]).await;
    assert_eq!(missing.status, 404);
    let body: serde_json::Value = serde_json::from_slice(&missing.body).unwrap();
    assert_eq!(body["error"]["code"], "route_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_answers_are_compressed_and_file_downloads_are_not() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    for i in 0..30 {
        ana.api
            .create_room(&format!("room number {i}"))
            .await
            .unwrap();
    }
    let resp = ana
        .api
        .get_raw("/api/v1/rooms", &[("accept-encoding", "br, gzip")])
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("br")
    );
    let body = resp.bytes().await.unwrap();
    let mut json = Vec::new();
    brotli::Decompressor::new(&body[..], 4096)
        .read_to_end(&mut json)
        .unwrap();
    let rooms: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 30);
    assert!(
        body.len() * 4 < json.len(),
        "{} of {}",
        body.len(),
        json.len()
    );

    // A file goes out as stored: ranges and sizes keep their meaning.
    let text = "plain words ".repeat(500).into_bytes();
    let file = ana.api.upload("notes.txt", text.clone()).await.unwrap();
    let download = ana
        .api
        .get_raw(&file.url, &[("accept-encoding", "br, gzip")])
        .await
        .unwrap();
    assert_eq!(download.headers().get("content-encoding"), None);
    assert_eq!(download.bytes().await.unwrap().to_vec(), text);
}
