//! Link previews end to end, against a test site on 127.0.0.1: the preview arrives as
//! `message.embeds`, is kept in history, and its picture is served resized by Confab to members
//! only; the fetcher's limits (redirects, denied addresses, types, sizes, the deadline) hold;
//! `<url>` and code are not fetched; an edit re-fetches and a delete drops; previews can be off;
//! and two nodes both hear the event.
//!
//! The guard allows the test site's address and port through the test-only config fields; the
//! production rules (everything else denied, ports 80 and 443) are unchanged, and a redirect to
//! another loopback or private address is refused as in production.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab::protocol::MessageId;
use confab::protocol::api::{Embed, Message};
use confab::protocol::ws::ServerFrame;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::common::{Backend, Setup, TestApp, redis_prefix};

/// How long a preview may take to arrive: a 4 s deadline, then shrinking the picture (slow in
/// an unoptimised build on a busy machine).
const SOON: Duration = Duration::from_secs(15);

both_backends!(
    a_link_gets_a_preview_whose_picture_confab_serves_to_members,
    redirects_are_followed_three_times_and_never_to_a_denied_address,
    only_pages_and_pictures_within_their_caps_are_read,
    a_slow_site_runs_into_the_deadline,
    bracketed_links_and_code_are_not_fetched,
    an_edit_with_new_links_fetches_again_and_a_delete_drops_the_previews,
    previews_can_be_turned_off,
);

/// The test site: what it was asked, and with which User-Agent.
#[derive(Clone, Default)]
struct Site {
    hits: Arc<Mutex<Vec<(String, String)>>>,
}

impl Site {
    fn paths(&self) -> Vec<String> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .map(|h| h.0.clone())
            .collect()
    }
    fn count(&self, path: &str) -> usize {
        self.paths().iter().filter(|p| *p == path).count()
    }
}

fn page(name: &str, image: &str) -> String {
    format!(
        "<!doctype html><html><head><title>Plain {name}</title>\
         <meta property=\"og:title\" content=\"Page {name} &amp; more\">\
         <meta property=\"og:description\" content=\"About {name}\">\
         <meta property=\"og:site_name\" content=\"Test Site\">\
         <meta property=\"og:image\" content=\"{image}\"></head><body>hello</body></html>"
    )
}

/// An 800×400 PNG: a preview shrinks it to 400×200.
fn picture() -> Vec<u8> {
    let img = image::RgbImage::from_fn(800, 400, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn serve(State(site): State<Site>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let path = format!("/{path}");
    site.hits.lock().unwrap().push((path.clone(), ua));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["page", name] => html(page(name, &format!("/img/{name}.png"))),
        ["img", _] => ([(header::CONTENT_TYPE, "image/png")], picture()).into_response(),
        ["redirect", n, name] => match n.parse::<u32>() {
            Ok(0) => html(page(name, "/img/r.png")),
            Ok(n) => redirect(&format!("/redirect/{}/{name}", n - 1)),
            Err(_) => StatusCode::BAD_REQUEST.into_response(),
        },
        // Denied although loopback: the guard admits 127.0.0.1 only.
        ["to-loopback"] => redirect("http://127.0.0.2/page/x"),
        ["to-metadata"] => redirect("http://169.254.169.254/latest/meta-data/"),
        ["to-private-v6"] => redirect("http://[::ffff:10.0.0.1]/"),
        ["text"] => (
            [(header::CONTENT_TYPE, "text/plain")],
            page("text", "/img/t.png"),
        )
            .into_response(),
        ["json"] => (
            [(header::CONTENT_TYPE, "application/json")],
            "{\"title\":\"no\"}",
        )
            .into_response(),
        // The tags come first: cut at 1 MiB, the page still previews.
        ["big-tail"] => html(format!(
            "{}<p>{}</p>",
            page("big-tail", "/img/bt.png"),
            "x".repeat(3 << 19)
        )),
        // The tags come after 1 MiB: never read.
        ["big-head"] => html(format!(
            "<!-- {} -->{}",
            "x".repeat(5 << 18),
            page("big-head", "/img/bh.png")
        )),
        ["huge-picture-page"] => html(page("huge", "/huge.png")),
        ["huge.png"] => ([(header::CONTENT_TYPE, "image/png")], vec![0u8; 6 << 20]).into_response(),
        ["slow"] => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            html(page("slow", "/img/s.png"))
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_owned())]).into_response()
}

/// Starts the test site; its address and what it saw.
async fn site() -> (SocketAddr, Site) {
    let site = Site::default();
    let router = axum::Router::new()
        .route("/{*path}", axum::routing::get(serve))
        .with_state(site.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, site)
}

/// Lets the fetcher reach the test site (and only it), with a 4 s deadline to keep tests quick.
fn reach(setup: Setup, site: SocketAddr) -> Setup {
    setup.tweak(move |c| {
        c.link_preview_allow = vec!["127.0.0.1/32".parse().unwrap()];
        c.link_preview_ports = vec![site.port()];
        c.link_preview_timeout = Duration::from_secs(4);
    })
}

async fn app_for(backend: Backend, site: SocketAddr) -> TestApp {
    reach(Setup::new(backend), site).start().await
}

/// The embeds of message `id` when they arrive.
fn embeds_of(id: MessageId) -> impl FnMut(&ServerFrame) -> Option<Vec<Embed>> {
    move |f| match f {
        ServerFrame::MessageEmbeds {
            message_id, embeds, ..
        } if *message_id == id => Some(embeds.clone()),
        _ => None,
    }
}

fn urls(embeds: &[Embed]) -> Vec<String> {
    embeds.iter().map(|e| e.url.clone()).collect()
}

async fn in_history(api: &confab_testkit::Api, m: &Message) -> Message {
    let page = api.history(m.room_id, "").await.unwrap();
    page.messages
        .into_iter()
        .find(|x| x.id == m.id)
        .expect("in history")
}

async fn a_link_gets_a_preview_whose_picture_confab_serves_to_members(backend: Backend) {
    let (addr, site) = site().await;
    let app = app_for(backend, addr).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut sb = app.socket(&bo).await;
    let link = format!("http://{addr}/page/one");
    let sent = ana
        .api
        .send_text(room.id, &format!("look: {link}."))
        .await
        .unwrap();
    assert!(
        sent.embeds.is_empty(),
        "the send does not wait for the preview"
    );

    let embeds = sb
        .wait_for(SOON, "message.embeds", embeds_of(sent.id))
        .await
        .unwrap();
    assert_eq!(embeds.len(), 1);
    let e = &embeds[0];
    assert_eq!(e.url, link);
    assert_eq!(e.title.as_deref(), Some("Page one & more"));
    assert_eq!(e.description.as_deref(), Some("About one"));
    assert_eq!(e.site_name.as_deref(), Some("Test Site"));
    let image = e.image.clone().expect("a picture");
    assert_eq!((image.width, image.height), (400, 200));
    assert!(image.url.starts_with("/api/v1/embeds/"), "{}", image.url);
    assert!(
        site.hits
            .lock()
            .unwrap()
            .iter()
            .all(|(_, ua)| ua.contains("ConfabLinkPreview")),
        "a descriptive User-Agent"
    );

    // History (and so resume and sync, which read the same rows) carries it.
    assert_eq!(in_history(&bo.api, &sent).await.embeds, embeds);

    // The picture comes from Confab, re-encoded at the preview's size, to members only.
    let resp = bo.api.get_raw(&image.url, &[]).await.unwrap();
    assert_eq!(resp.status(), 200);
    let cache = resp.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cache.contains("private") && cache.contains("max-age"),
        "{cache}"
    );
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "image/jpeg");
    let bytes = resp.bytes().await.unwrap();
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (400, 200));
    let resp = cy.api.get_raw(&image.url, &[]).await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "embed_not_found");
    let anonymous = app.api.get_raw(&image.url, &[]).await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // The same link within the hour is not fetched again, and shows the same preview.
    let again = ana.api.send_text(room.id, &link).await.unwrap();
    let second = sb
        .wait_for(SOON, "cached embeds", embeds_of(again.id))
        .await
        .unwrap();
    assert_eq!(second, embeds);
    assert_eq!(site.count("/page/one"), 1);
    assert_eq!(site.count("/img/one.png"), 1);
}

async fn redirects_are_followed_three_times_and_never_to_a_denied_address(backend: Backend) {
    let (addr, site) = site().await;
    let app = app_for(backend, addr).await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    let mut sa = app.socket(&ana).await;
    let body = format!(
        "http://{addr}/redirect/4/far http://{addr}/redirect/3/near http://{addr}/to-loopback"
    );
    let m = ana.api.send_text(room.id, &body).await.unwrap();
    let embeds = sa.wait_for(SOON, "embeds", embeds_of(m.id)).await.unwrap();
    assert_eq!(urls(&embeds), [format!("http://{addr}/redirect/3/near")]);
    assert_eq!(embeds[0].title.as_deref(), Some("Page near & more"));
    // Four redirects: the fourth is never followed.
    assert_eq!(site.count("/redirect/0/far"), 0);
    assert_eq!(site.count("/redirect/1/far"), 1);

    let body =
        format!("http://{addr}/to-metadata http://{addr}/to-private-v6 http://{addr}/page/after");
    let m = ana.api.send_text(room.id, &body).await.unwrap();
    let embeds = sa.wait_for(SOON, "embeds", embeds_of(m.id)).await.unwrap();
    assert_eq!(urls(&embeds), [format!("http://{addr}/page/after")]);
    // A link straight to a denied address, or to an unlisted port, is refused too.
    let body = format!(
        "http://127.0.0.2:{}/page/x http://127.0.0.1:1/page/y http://{addr}/page/z",
        addr.port()
    );
    let m = ana.api.send_text(room.id, &body).await.unwrap();
    let embeds = sa.wait_for(SOON, "embeds", embeds_of(m.id)).await.unwrap();
    assert_eq!(urls(&embeds), [format!("http://{addr}/page/z")]);
    assert_eq!(site.count("/page/x") + site.count("/page/y"), 0);
}

async fn only_pages_and_pictures_within_their_caps_are_read(backend: Backend) {
    let (addr, site) = site().await;
    let app = app_for(backend, addr).await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    let mut sa = app.socket(&ana).await;
    let body = format!("http://{addr}/text http://{addr}/big-head http://{addr}/big-tail");
    let m = ana.api.send_text(room.id, &body).await.unwrap();
    let embeds = sa.wait_for(SOON, "embeds", embeds_of(m.id)).await.unwrap();
    assert_eq!(urls(&embeds), [format!("http://{addr}/big-tail")]);
    assert_eq!(embeds[0].title.as_deref(), Some("Page big-tail & more"));
    assert!(embeds[0].image.is_some());
    assert_eq!(site.count("/img/t.png") + site.count("/img/bh.png"), 0);

    // A picture over 5 MiB is not taken: the page previews without one. JSON is no page.
    let body = format!("http://{addr}/json http://{addr}/huge-picture-page");
    let m = ana.api.send_text(room.id, &body).await.unwrap();
    let embeds = sa.wait_for(SOON, "embeds", embeds_of(m.id)).await.unwrap();
    assert_eq!(urls(&embeds), [format!("http://{addr}/huge-picture-page")]);
    assert_eq!(embeds[0].title.as_deref(), Some("Page huge & more"));
    assert_eq!(embeds[0].image, None);
    assert_eq!(site.count("/huge.png"), 1);

    // A picture linked directly previews as the picture alone.
    let link = format!("http://{addr}/img/direct.png");
    let m = ana.api.send_text(room.id, &link).await.unwrap();
    let embeds = sa.wait_for(SOON, "embeds", embeds_of(m.id)).await.unwrap();
    assert_eq!(embeds[0].title, None);
    let image = embeds[0].image.as_ref().unwrap();
    assert_eq!((image.width, image.height), (400, 200));
}

async fn a_slow_site_runs_into_the_deadline(backend: Backend) {
    let (addr, site) = site().await;
    let app = app_for(backend, addr).await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    let mut sa = app.socket(&ana).await;
    let started = std::time::Instant::now();
    let body = format!("http://{addr}/slow http://{addr}/page/quick");
    let m = ana.api.send_text(room.id, &body).await.unwrap();
    let embeds = sa.wait_for(SOON, "embeds", embeds_of(m.id)).await.unwrap();
    assert_eq!(urls(&embeds), [format!("http://{addr}/page/quick")]);
    // The slow page answers after 10 s; the 4 s deadline gave up on it long before.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(site.count("/slow"), 1);
    assert_eq!(site.count("/img/s.png"), 0);
}

async fn bracketed_links_and_code_are_not_fetched(backend: Backend) {
    let (addr, site) = site().await;
    let app = app_for(backend, addr).await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    let mut sa = app.socket(&ana).await;
    let body = format!(
        "<http://{addr}/page/quiet> `http://{addr}/page/code`\n```\nhttp://{addr}/page/block\n```\nhttp://{addr}/page/loud"
    );
    let m = ana.api.send_text(room.id, &body).await.unwrap();
    let embeds = sa.wait_for(SOON, "embeds", embeds_of(m.id)).await.unwrap();
    assert_eq!(urls(&embeds), [format!("http://{addr}/page/loud")]);
    let paths = site.paths();
    for quiet in ["/page/quiet", "/page/code", "/page/block"] {
        assert!(
            !paths.iter().any(|p| p == quiet),
            "{quiet} was fetched: {paths:?}"
        );
    }
}

async fn an_edit_with_new_links_fetches_again_and_a_delete_drops_the_previews(backend: Backend) {
    let (addr, _site) = site().await;
    let app = app_for(backend, addr).await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    let mut sa = app.socket(&ana).await;
    let m = ana
        .api
        .send_text(room.id, &format!("http://{addr}/page/first"))
        .await
        .unwrap();
    let first = sa.wait_for(SOON, "embeds", embeds_of(m.id)).await.unwrap();
    let first_image = first[0].image.clone().unwrap().url;

    // The same links in other words keep their previews.
    let edit = |body: String| {
        let api = ana.api.clone();
        async move {
            let (status, v) = api
                .call(
                    Method::PATCH,
                    &format!("/api/v1/messages/{}", m.id),
                    Some(&json!({ "body": body })),
                )
                .await
                .unwrap();
            assert_eq!(status, 200, "{v}");
            serde_json::from_value::<Message>(v).unwrap()
        }
    };
    let kept = edit(format!("now see http://{addr}/page/first")).await;
    assert_eq!(kept.embeds, first);

    let changed = edit(format!("no: http://{addr}/page/second")).await;
    assert!(
        changed.embeds.is_empty(),
        "old previews go with the old links"
    );
    let second = sa
        .wait_for(SOON, "embeds after edit", embeds_of(m.id))
        .await
        .unwrap();
    assert_eq!(second[0].title.as_deref(), Some("Page second & more"));
    assert_eq!(in_history(&ana.api, &m).await.embeds, second);

    let (status, _) = ana
        .api
        .call(Method::DELETE, &format!("/api/v1/messages/{}", m.id), None)
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert!(in_history(&ana.api, &m).await.embeds.is_empty());
    let image = second[0].image.clone().unwrap().url;
    for url in [image, first_image] {
        assert_eq!(ana.api.get_raw(&url, &[]).await.unwrap().status(), 404);
    }
}

async fn previews_can_be_turned_off(backend: Backend) {
    let (addr, site) = site().await;
    let app = reach(Setup::new(backend), addr)
        .tweak(|c| c.link_previews = false)
        .start()
        .await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    let mut sa = app.socket(&ana).await;
    let m = ana
        .api
        .send_text(room.id, &format!("http://{addr}/page/off"))
        .await
        .unwrap();
    // Nothing is to come: wait a while for anything at all.
    let seen = sa.drain(Duration::from_millis(1500)).await;
    assert!(
        !seen.iter().any(|i| matches!(i, confab_testkit::Incoming::Frame(f) if matches!(f.as_ref(), ServerFrame::MessageEmbeds { .. }))),
        "no embeds event"
    );
    assert!(site.paths().is_empty(), "{:?}", site.paths());
    assert!(in_history(&ana.api, &m).await.embeds.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_nodes_of_a_cluster_hear_of_a_preview() {
    let (addr, _site) = site().await;
    let prefix = redis_prefix();
    let a = reach(Setup::new(Backend::Postgres).redis(&prefix), addr)
        .start()
        .await;
    let b = reach(
        Setup::new(Backend::Postgres).redis(&prefix).sharing(&a),
        addr,
    )
    .start()
    .await;
    let ana = a.user("ana").await;
    let bo = b.user("bo").await;
    let room = a.room_with(&ana, &[&bo]).await;
    let mut sa = a.socket(&ana).await;
    let mut sb = b.socket(&bo).await;
    let m = sa
        .send_text(room.id, &format!("http://{addr}/page/cluster"))
        .await
        .unwrap();
    let mut seen = HashMap::new();
    for (name, s) in [("a", &mut sa), ("b", &mut sb)] {
        seen.insert(
            name,
            s.wait_for(SOON, "embeds on each node", embeds_of(m.id))
                .await
                .unwrap(),
        );
    }
    assert_eq!(seen["a"], seen["b"]);
    // Bo on the other node reads the picture there.
    let url = seen["b"][0].image.clone().unwrap().url;
    assert_eq!(bo.api.get_raw(&url, &[]).await.unwrap().status(), 200);
}
