//! Web Push, end to end: a test push service (an HTTP server on 127.0.0.1 in the test) holds the
//! subscriptions of browsers the test plays, each with a real P-256 key pair and auth secret;
//! what the server pushes must decrypt with those keys (RFC 8291) and carry a VAPID token that
//! verifies against the server's public key (RFC 8292).
//!
//! The push worker takes one job at a time, in order, so "this did not push" is shown by a later
//! message that does: its push arrives first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use confab::protocol::RoomId;
use confab::protocol::ws::ClientFrame;
use confab_testkit::Api;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::both_backends;
use crate::common::{Backend, Setup, TestApp, TestUser, spawn_app};

both_backends!(
    a_dm_to_someone_offline_pushes_the_room_and_sender_and_the_text_only_if_allowed,
    someone_with_an_open_socket_is_not_pushed,
    notify_levels_decide_what_pushes_in_a_group_room,
    a_blocked_sender_does_not_push,
    a_subscription_the_push_service_calls_gone_is_deleted,
    signing_out_stops_that_sessions_pushes,
    a_dm_call_rings_an_offline_callee_by_push,
    bad_subscriptions_are_refused_with_their_code,
);

/// How long a push may take to arrive.
const WAIT: Duration = Duration::from_secs(10);

/// One request the push service received.
#[derive(Debug)]
struct Pushed {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// The test push service: records every request and answers with `status`.
struct PushService {
    base: String,
    received: mpsc::UnboundedReceiver<Pushed>,
    status: Arc<AtomicU16>,
}

#[derive(Clone)]
struct Recorder {
    tx: mpsc::UnboundedSender<Pushed>,
    status: Arc<AtomicU16>,
}

async fn record(
    State(r): State<Recorder>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    // The answer is chosen before the test hears of the request, so the test may change it then.
    let status =
        StatusCode::from_u16(r.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::CREATED);
    let _ = r.tx.send(Pushed {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    status
}

impl PushService {
    async fn start() -> PushService {
        let (tx, received) = mpsc::unbounded_channel();
        let status = Arc::new(AtomicU16::new(201));
        let app = axum::Router::new().fallback(record).with_state(Recorder {
            tx,
            status: status.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        PushService {
            base,
            received,
            status,
        }
    }

    /// The next request, within [`WAIT`].
    async fn next(&mut self) -> Pushed {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("a push within the wait")
            .expect("push service running")
    }
}

/// A browser the test plays: its subscription's endpoint and keys.
struct Device {
    endpoint: String,
    path: String,
    keys: ece::EcKeyComponents,
    auth: [u8; 16],
}

impl Device {
    fn new(service: &PushService) -> Device {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let path = format!("/push/{}", uuid::Uuid::new_v4().simple());
        Device {
            endpoint: format!("{}{path}", service.base),
            path,
            keys: pair.raw_components().unwrap(),
            auth,
        }
    }

    fn subscription(&self) -> Value {
        json!({
            "endpoint": self.endpoint,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(self.keys.public_key()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            }
        })
    }

    /// `user` subscribes this browser.
    async fn subscribe(&self, user: &TestUser) {
        let (status, body) = user
            .api
            .call(
                Method::POST,
                "/api/v1/push/subscriptions",
                Some(&self.subscription()),
            )
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["endpoint"], self.endpoint);
    }

    /// The JSON of a push to this browser, decrypted as the browser would.
    fn open(&self, pushed: &Pushed) -> Value {
        assert_eq!(pushed.path, self.path, "pushed to this device");
        assert_eq!(header(pushed, "content-encoding"), "aes128gcm");
        let plain = ece::decrypt(&self.keys, &self.auth, &pushed.body).expect("decrypts");
        serde_json::from_slice(&plain).unwrap()
    }
}

fn header<'a>(pushed: &'a Pushed, name: &str) -> &'a str {
    pushed
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn start(backend: Backend) -> TestApp {
    Setup::new(backend)
        .tweak(|c| c.push_allow_insecure_endpoints = true)
        .start()
        .await
}

async fn settings(user: &TestUser) -> Value {
    let (status, body) = user
        .api
        .call(Method::GET, "/api/v1/push", None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn set_include_text(user: &TestUser, on: bool) {
    let (status, body) = user
        .api
        .call(
            Method::PATCH,
            "/api/v1/push",
            Some(&json!({ "include_text": on })),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["include_text"], on);
}

async fn set_notify(user: &TestUser, room: RoomId, level: &str) {
    let (status, body) = user
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/rooms/{room}/settings"),
            Some(&json!({ "notify": level })),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
}

/// Checks the VAPID `Authorization` of `pushed`: the server's key, an ES256 token for the
/// endpoint's origin naming the configured contact.
fn assert_vapid(pushed: &Pushed, app: &TestApp, public_key: &str, origin: &str) {
    let auth = header(pushed, "authorization");
    let rest = auth.strip_prefix("vapid ").expect("vapid scheme");
    let (mut t, mut k) = ("", "");
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("t=") {
            t = v;
        } else if let Some(v) = part.strip_prefix("k=") {
            k = v;
        }
    }
    assert_eq!(k, public_key, "k is the server's VAPID public key");
    let point = URL_SAFE_NO_PAD.decode(k).unwrap();
    let key = jsonwebtoken::DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[origin]);
    let token = jsonwebtoken::decode::<Value>(t, &key, &validation).expect("the token verifies");
    assert_eq!(token.claims["sub"], app.config.push_subject.as_str());
    let exp = token.claims["exp"].as_i64().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(exp > now && exp <= now + 24 * 3600, "expires within a day");
}

async fn a_dm_to_someone_offline_pushes_the_room_and_sender_and_the_text_only_if_allowed(
    backend: Backend,
) {
    let app = start(backend).await;
    let mut service = PushService::start().await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let phone = Device::new(&service);
    phone.subscribe(&bo).await;
    let listed = settings(&bo).await;
    assert_eq!(listed["include_text"], false, "text is off by default");
    assert_eq!(listed["subscriptions"].as_array().unwrap().len(), 1);
    let dm = ana.api.open_dm(bo.id).await.unwrap();

    let sent = ana.api.send_text(dm.id, "the secret plan").await.unwrap();
    let pushed = service.next().await;
    let note = phone.open(&pushed);
    assert_eq!(
        note,
        json!({
            "type": "message",
            "room_id": dm.id,
            "room_kind": "dm",
            "room_name": ana.tokens.user.display_name,
            "sender": ana.tokens.user.display_name,
            "seq": sent.seq.0,
        }),
        "room and sender only"
    );
    assert_eq!(header(&pushed, "ttl"), "86400");
    assert_eq!(header(&pushed, "urgency"), "normal");
    let vapid_key = listed["vapid_public_key"].as_str().unwrap();
    assert_vapid(&pushed, &app, vapid_key, &service.base);

    set_include_text(&bo, true).await;
    let sent = ana.api.send_text(dm.id, "now with words").await.unwrap();
    let note = phone.open(&service.next().await);
    assert_eq!(note["body"], "now with words");
    assert_eq!(note["seq"], sent.seq.0);
}

async fn someone_with_an_open_socket_is_not_pushed(backend: Backend) {
    let app = start(backend).await;
    let mut service = PushService::start().await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let (bo_phone, cy_phone) = (Device::new(&service), Device::new(&service));
    bo_phone.subscribe(&bo).await;
    cy_phone.subscribe(&cy).await;
    let to_bo = ana.api.open_dm(bo.id).await.unwrap();
    let to_cy = ana.api.open_dm(cy.id).await.unwrap();

    let socket = app.socket(&bo).await;
    ana.api.send_text(to_bo.id, "you are here").await.unwrap();
    ana.api.send_text(to_cy.id, "you are not").await.unwrap();
    let note = cy_phone.open(&service.next().await);
    assert_eq!(note["room_id"], json!(to_cy.id), "Bo, online, got no push");
    drop(socket);
}

async fn notify_levels_decide_what_pushes_in_a_group_room(backend: Backend) {
    let app = start(backend).await;
    let mut service = PushService::start().await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let phone = Device::new(&service);
    phone.subscribe(&bo).await;
    let room = app.room_with(&ana, &[&bo]).await;
    let dm = ana.api.open_dm(bo.id).await.unwrap();

    // The default of a small room: mentions push, other messages show in the open app only.
    ana.api.send_text(room.id, "hello all").await.unwrap();
    let mention = ana
        .api
        .send_text(room.id, &format!("@{} look", bo.name))
        .await
        .unwrap();
    let note = phone.open(&service.next().await);
    assert_eq!(note["room_id"], json!(room.id));
    assert_eq!(note["seq"], mention.seq.0, "the plain message did not push");
    assert_eq!(note["room_kind"], "group");
    assert_eq!(note["room_name"], room.name);
    assert_eq!(note["sender"], ana.tokens.user.display_name);

    set_notify(&bo, room.id, "mentions").await;
    ana.api.send_text(room.id, "plain again").await.unwrap();
    let mention = ana
        .api
        .send_text(room.id, &format!("hey @{}", bo.name))
        .await
        .unwrap();
    let note = phone.open(&service.next().await);
    assert_eq!(note["seq"], mention.seq.0);

    set_notify(&bo, room.id, "none").await;
    ana.api
        .send_text(room.id, &format!("@{} are you there", bo.name))
        .await
        .unwrap();
    ana.api.send_text(dm.id, "marker").await.unwrap();
    let note = phone.open(&service.next().await);
    assert_eq!(note["room_id"], json!(dm.id), "notify=none never pushes");

    set_notify(&bo, dm.id, "none").await;
    ana.api.send_text(dm.id, "muted dm").await.unwrap();
    ana.api.send_text(room.id, "@room one more").await.unwrap();
    // (The level counts when the push is made, so the marker goes to another room.)
    let other = app.room_with(&ana, &[&bo]).await;
    let last = ana
        .api
        .send_text(other.id, &format!("@{} last", bo.name))
        .await
        .unwrap();
    let note = phone.open(&service.next().await);
    assert_eq!(
        note["seq"], last.seq.0,
        "neither the muted DM nor the muted room pushed"
    );
}

async fn a_blocked_sender_does_not_push(backend: Backend) {
    let app = start(backend).await;
    let mut service = PushService::start().await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let phone = Device::new(&service);
    phone.subscribe(&bo).await;
    let room = app.room_with(&ana, &[&bo, &cy]).await;
    let (status, _) = bo
        .api
        .call(Method::PUT, &format!("/api/v1/me/blocks/{}", ana.id), None)
        .await
        .unwrap();
    assert_eq!(status, 204);

    ana.api
        .send_text(room.id, &format!("@{} hi", bo.name))
        .await
        .unwrap();
    let marker = cy
        .api
        .send_text(room.id, &format!("@{} hi from cy", bo.name))
        .await
        .unwrap();
    let note = phone.open(&service.next().await);
    assert_eq!(note["seq"], marker.seq.0, "Ana, blocked, did not push");
    assert_eq!(note["sender"], cy.tokens.user.display_name);
}

async fn a_subscription_the_push_service_calls_gone_is_deleted(backend: Backend) {
    let app = start(backend).await;
    let mut service = PushService::start().await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let (bo_phone, cy_phone) = (Device::new(&service), Device::new(&service));
    bo_phone.subscribe(&bo).await;
    cy_phone.subscribe(&cy).await;
    let to_bo = ana.api.open_dm(bo.id).await.unwrap();
    let to_cy = ana.api.open_dm(cy.id).await.unwrap();

    service.status.store(410, Ordering::SeqCst);
    ana.api.send_text(to_bo.id, "one").await.unwrap();
    let pushed = service.next().await;
    assert_eq!(pushed.path, bo_phone.path);
    // The worker deletes it once it reads the answer, a moment after the request arrived here.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while settings(&bo).await["subscriptions"] != json!([]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the subscription is deleted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    service.status.store(201, Ordering::SeqCst);

    ana.api.send_text(to_bo.id, "two").await.unwrap();
    ana.api.send_text(to_cy.id, "marker").await.unwrap();
    let pushed = service.next().await;
    assert_eq!(
        pushed.path, cy_phone.path,
        "no second request for Bo's gone subscription"
    );
}

async fn signing_out_stops_that_sessions_pushes(backend: Backend) {
    let app = start(backend).await;
    let mut service = PushService::start().await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let phone = Device::new(&service);
    phone.subscribe(&bo).await;
    let dm = ana.api.open_dm(bo.id).await.unwrap();
    let (status, _) = app
        .api
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&json!({ "refresh_token": bo.tokens.refresh_token })),
        )
        .await
        .unwrap();
    assert_eq!(status, 204);

    // Signed in again on another device, which subscribes too.
    let again = app
        .api
        .login(&bo.name, "correct horse battery")
        .await
        .unwrap();
    let laptop = Device::new(&service);
    let bo_again = TestUser {
        id: bo.id,
        name: bo.name.clone(),
        api: app.api.as_user(&again.access_token),
        tokens: again,
    };
    laptop.subscribe(&bo_again).await;

    let sent = ana.api.send_text(dm.id, "after logout").await.unwrap();
    let note = laptop.open(&service.next().await);
    assert_eq!(note["seq"], sent.seq.0);
    let listed = settings(&bo_again).await;
    let endpoints: Vec<&Value> = listed["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["endpoint"])
        .collect();
    assert_eq!(
        endpoints,
        [&json!(laptop.endpoint)],
        "the signed-out phone's is gone"
    );
}

async fn a_dm_call_rings_an_offline_callee_by_push(backend: Backend) {
    let app = start(backend).await;
    let mut service = PushService::start().await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let phone = Device::new(&service);
    phone.subscribe(&bo).await;
    let dm = ana.api.open_dm(bo.id).await.unwrap();

    let mut socket = app.socket(&ana).await;
    socket
        .request(ClientFrame::VoiceJoin { room_id: dm.id })
        .await
        .unwrap();
    let pushed = service.next().await;
    let note = phone.open(&pushed);
    assert_eq!(
        note,
        json!({
            "type": "ring",
            "room_id": dm.id,
            "room_kind": "dm",
            "room_name": ana.tokens.user.display_name,
            "sender": ana.tokens.user.display_name,
        })
    );
    assert_eq!(header(&pushed, "urgency"), "high");
    assert_eq!(
        header(&pushed, "ttl"),
        "30",
        "a ring is stale once it stops ringing"
    );
}

async fn bad_subscriptions_are_refused_with_their_code(backend: Backend) {
    // The real rules: no test switch.
    let app = spawn_app(backend).await;
    let bo = app.user("bo").await;
    let keys = json!({
        "p256dh": "BGa4N1PI79lboMR_YrwCiCsgp35DRvedt7opHcf0yM3iOBTSoQYqQLwWxAfRKE6tsDnReWmhsImkhDF_DBdkNSU",
        "auth": "EvcWjEgzr4rbvhfi3yds0A",
    });
    let subscribe = |body: Value| {
        let api: Api = bo.api.clone();
        async move {
            let (status, body) = api
                .call(Method::POST, "/api/v1/push/subscriptions", Some(&body))
                .await
                .unwrap();
            (
                status,
                body["error"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    for endpoint in [
        "http://push.example.org/x",
        "https://127.0.0.1:9/x",
        "https://localhost/x",
        "https://10.0.0.1/x",
        "not a url",
    ] {
        let got = subscribe(json!({ "endpoint": endpoint, "keys": keys })).await;
        assert_eq!(got, (400, "invalid_push_endpoint".into()), "{endpoint}");
    }
    let endpoint = "https://push.example.org/sub/1";
    for bad in [
        json!({ "p256dh": "BGa4N1PI79lb", "auth": keys["auth"] }),
        json!({ "p256dh": keys["p256dh"], "auth": "c2hvcnQ" }),
        json!({ "p256dh": keys["p256dh"], "auth": "not base64 !" }),
    ] {
        let got = subscribe(json!({ "endpoint": endpoint, "keys": bad })).await;
        assert_eq!(got, (400, "invalid_push_keys".into()), "{bad}");
    }
    let (status, _) = subscribe(json!({ "endpoint": endpoint })).await;
    assert_eq!(status, 400, "keys are required");
    assert_eq!(
        subscribe(json!({ "endpoint": endpoint, "keys": keys }))
            .await
            .0,
        201,
        "a public https push service is fine"
    );

    let (status, body) = bo
        .api
        .call(
            Method::DELETE,
            "/api/v1/push/subscriptions",
            Some(&json!({ "endpoint": "https://push.example.org/other" })),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("push_subscription_not_found"))
    );
    let (status, _) = bo
        .api
        .call(
            Method::DELETE,
            "/api/v1/push/subscriptions",
            Some(&json!({ "endpoint": endpoint })),
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
    let (status, _) = app
        .api
        .call(Method::GET, "/api/v1/push", None)
        .await
        .unwrap();
    assert_eq!(status, 401, "signed in only");
}
