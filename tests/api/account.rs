//! A user's own account: profile, password change, the list of sessions and signing one out,
//! and deleting the account (a tombstone that keeps the messages).

use std::time::Duration;

use confab::protocol::ws::ServerFrame;
use confab_testkit::{Api, Incoming, Socket};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{Backend, TestApp, TestUser, spawn_app};

both_backends!(
    a_profile_change_reaches_everyone_who_shares_a_room,
    changing_the_password_signs_out_every_other_login,
    sessions_are_listed_and_one_can_be_signed_out,
    a_deleted_account_leaves_its_messages_under_a_tombstone,
    an_uploaded_image_becomes_a_square_avatar,
    a_blocked_user_cannot_dm_the_blocker,
);

const SOON: Duration = Duration::from_secs(5);

async fn call(api: &Api, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    api.call(method, path, body.as_ref()).await.unwrap()
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"]["code"].as_str().unwrap_or(""))
}

/// A second login of `user`, from a client calling itself `agent`.
async fn login_as(
    app: &TestApp,
    user: &TestUser,
    agent: &str,
) -> (Api, confab::protocol::api::TokenResponse) {
    let http = reqwest::Client::builder()
        .user_agent(agent)
        .build()
        .unwrap();
    let anon = Api::with_client(http, &format!("http://{}", app.addr));
    let tokens = anon
        .login(&user.name, "correct horse battery")
        .await
        .unwrap();
    (anon.as_user(&tokens.access_token), tokens)
}

async fn closes_with(socket: &mut Socket, expected: u16) {
    let events = socket.drain(SOON).await;
    let code = events.iter().find_map(|i| match i {
        Incoming::Closed { code, .. } => *code,
        _ => None,
    });
    assert_eq!(code, Some(expected), "{events:?}");
}

async fn a_profile_change_reaches_everyone_who_shares_a_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    app.room_with(&ana, &[&bob]).await;
    let mut bobs = app.socket(&bob).await;
    let (status, me) = call(
        &ana.api,
        Method::PATCH,
        "/api/v1/me",
        Some(json!({"display_name": "Ana Lima", "status_text": " in a meeting "})),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["display_name"], "Ana Lima");
    assert_eq!(me["status_text"], "in a meeting");
    let seen = bobs
        .wait_for(SOON, "user.updated", |f| match f {
            ServerFrame::UserUpdated { user } if user.id == ana.id => Some(user.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(seen.status_text, "in a meeting");
    assert_eq!(
        bob.api
            .call(Method::GET, &format!("/api/v1/users/{}", ana.id), None)
            .await
            .unwrap()
            .1["display_name"],
        "Ana Lima"
    );

    let r = call(
        &ana.api,
        Method::PATCH,
        "/api/v1/me",
        Some(json!({"status_text": "a\nb"})),
    )
    .await;
    assert_eq!(code(&r), (400, "invalid_status_text"));
    let r = call(
        &ana.api,
        Method::PATCH,
        "/api/v1/me",
        Some(json!({"status_text": "x".repeat(141)})),
    )
    .await;
    assert_eq!(code(&r), (400, "invalid_status_text"));
    let r = call(
        &bob.api,
        Method::PATCH,
        "/api/v1/me",
        Some(json!({"display_name": "ana lima"})),
    )
    .await;
    assert_eq!(code(&r), (409, "display_name_taken"));
    let r = call(
        &ana.api,
        Method::PATCH,
        "/api/v1/me",
        Some(json!({"display_name": "ANA LIMA"})),
    )
    .await;
    assert_eq!(r.0, 200, "one's own name in another case is fine");
    let r = call(&ana.api, Method::PATCH, "/api/v1/me", Some(json!({}))).await;
    assert_eq!(code(&r), (400, "invalid_request"));
}

async fn changing_the_password_signs_out_every_other_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let (_, other) = login_as(&app, &ana, "phone").await;
    let mut here = app.socket(&ana).await;
    let mut there = Socket::connect(&app.api.ws_url(), &other.access_token, None)
        .await
        .unwrap();
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let r = call(
        &ana.api,
        Method::POST,
        "/api/v1/me/password",
        Some(change("wrong one!", "brand new secret")),
    )
    .await;
    assert_eq!(code(&r), (401, "invalid_credentials"));
    let r = call(
        &ana.api,
        Method::POST,
        "/api/v1/me/password",
        Some(change("correct horse battery", "password123")),
    )
    .await;
    assert_eq!(code(&r), (400, "common_password"));
    let r = call(
        &ana.api,
        Method::POST,
        "/api/v1/me/password",
        Some(change("correct horse battery", "brand new secret")),
    )
    .await;
    assert_eq!(r.0, 204);

    closes_with(&mut there, 4001).await;
    assert_eq!(
        app.api
            .refresh(&other.refresh_token)
            .await
            .unwrap_err()
            .code(),
        Some("invalid_refresh_token")
    );
    // The login that changed it goes on.
    here.request(confab::protocol::ws::ClientFrame::Ping)
        .await
        .unwrap();
    ana.api.me().await.unwrap();
    app.api.refresh(&ana.tokens.refresh_token).await.unwrap();
    assert!(
        app.api
            .login(&ana.name, "correct horse battery")
            .await
            .is_err()
    );
    app.api.login(&ana.name, "brand new secret").await.unwrap();
}

async fn sessions_are_listed_and_one_can_be_signed_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let eve = app.user("eve").await;
    let (phone, phone_tokens) = login_as(&app, &ana, "Phone/1.0").await;
    let mut on_phone = Socket::connect(&app.api.ws_url(), &phone_tokens.access_token, None)
        .await
        .unwrap();
    let (_, listed) = call(&phone, Method::GET, "/api/v1/me/sessions", None).await;
    let sessions = listed["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{listed}");
    let mine = sessions.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(mine["user_agent"], "Phone/1.0");
    assert_eq!(mine["address"], "127.0.0.1");
    assert!(mine["created_at"].is_string() && mine["last_used_at"].is_string());
    let phone_id = mine["id"].as_str().unwrap().to_owned();

    let r = call(
        &eve.api,
        Method::DELETE,
        &format!("/api/v1/me/sessions/{phone_id}"),
        None,
    )
    .await;
    assert_eq!(code(&r), (404, "session_not_found"), "not eve's");
    let r = call(
        &ana.api,
        Method::DELETE,
        &format!("/api/v1/me/sessions/{phone_id}"),
        None,
    )
    .await;
    assert_eq!(r.0, 204);
    closes_with(&mut on_phone, 4001).await;
    assert_eq!(phone.me().await.unwrap_err().code(), Some("token_revoked"));
    let r = call(
        &ana.api,
        Method::DELETE,
        &format!("/api/v1/me/sessions/{phone_id}"),
        None,
    )
    .await;
    assert_eq!(code(&r), (404, "session_not_found"));
    let (_, listed) = call(&ana.api, Method::GET, "/api/v1/me/sessions", None).await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    // A refresh keeps the login (and what it was made from) and moves its last use.
    let refreshed = app.api.refresh(&ana.tokens.refresh_token).await.unwrap();
    let api = app.api.as_user(&refreshed.access_token);
    let (_, listed) = call(&api, Method::GET, "/api/v1/me/sessions", None).await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(listed["sessions"][0]["current"], true);
}

async fn a_deleted_account_leaves_its_messages_under_a_tombstone(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let room = app.room_with(&ana, &[&bob]).await;
    let dm = bob.api.open_dm(ana.id).await.unwrap();
    let said = bob.api.send_text(room.id, "goodbye all").await.unwrap();
    let mut bobs = app.socket(&bob).await;

    let r = call(
        &bob.api,
        Method::DELETE,
        "/api/v1/me",
        Some(json!({"password": "not it at all"})),
    )
    .await;
    assert_eq!(code(&r), (401, "invalid_credentials"));
    let r = call(
        &bob.api,
        Method::DELETE,
        "/api/v1/me",
        Some(json!({"password": "correct horse battery"})),
    )
    .await;
    assert_eq!(r.0, 204);
    closes_with(&mut bobs, 4001).await;
    assert_eq!(
        bob.api.me().await.unwrap_err().code(),
        Some("token_revoked")
    );
    assert_eq!(
        app.api
            .login(&bob.name, "correct horse battery")
            .await
            .unwrap_err()
            .code(),
        Some("invalid_credentials")
    );

    let history = ana.api.history(room.id, "").await.unwrap();
    assert_eq!(history.messages[0].id, said.id);
    assert_eq!(history.messages[0].body, "goodbye all");
    let (_, author) = call(
        &ana.api,
        Method::GET,
        &format!("/api/v1/users/{}", bob.id),
        None,
    )
    .await;
    assert_eq!(author["display_name"], "Deleted user");
    assert!(author["username"].as_str().unwrap().starts_with("deleted-"));
    assert_eq!(
        ana.api.room(room.id).await.unwrap().members_count,
        1,
        "left the group room"
    );
    assert_eq!(
        ana.api.room(dm.id).await.unwrap().name,
        "Deleted user",
        "the DM stays"
    );
    // The name is free again.
    app.api
        .register(&bob.name, "correct horse battery")
        .await
        .unwrap();
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, _| {
        image::Rgb([(x % 256) as u8, 100, 200])
    }));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn an_uploaded_image_becomes_a_square_avatar(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let wide = ana.api.upload("me.png", png(600, 300)).await.unwrap();
    let text = ana
        .api
        .upload("notes.txt", b"not a picture".to_vec())
        .await
        .unwrap();
    let bobs = bob.api.upload("bob.png", png(64, 64)).await.unwrap();
    for file in [text.id, bobs.id] {
        let r = call(
            &ana.api,
            Method::PATCH,
            "/api/v1/me",
            Some(json!({"avatar_file_id": file})),
        )
        .await;
        assert_eq!(code(&r), (400, "invalid_avatar"));
    }
    let (status, me) = call(
        &ana.api,
        Method::PATCH,
        "/api/v1/me",
        Some(json!({"avatar_file_id": wide.id})),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    let url = me["avatar_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("/api/v1/users/{}/avatar?v=", ana.id)));
    // Another user sees it, cropped square and shrunk to 256 pixels.
    let resp = bob.api.get_raw(&url, &[]).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let img = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));
    assert_eq!(
        bob.api
            .call(Method::GET, &format!("/api/v1/users/{}", ana.id), None)
            .await
            .unwrap()
            .1["avatar_url"],
        url.as_str()
    );
    let anonymous = app.api.get_raw(&url, &[]).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let none = bob
        .api
        .get_raw(&format!("/api/v1/users/{}/avatar", bob.id), &[])
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
}

async fn a_blocked_user_cannot_dm_the_blocker(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let eve = app.user("eve").await;
    let cal = app.user("cal").await;
    let dm = eve.api.open_dm(ana.id).await.unwrap();
    let group = app.room_with(&ana, &[&eve]).await;
    let path = format!("/api/v1/me/blocks/{}", eve.id);
    assert_eq!(call(&ana.api, Method::PUT, &path, None).await.0, 204);
    assert_eq!(
        call(&ana.api, Method::PUT, &path, None).await.0,
        204,
        "again is fine"
    );
    let (_, listed) = call(&ana.api, Method::GET, "/api/v1/me/blocks", None).await;
    assert_eq!(listed["user_ids"], json!([eve.id]));
    let r = call(
        &ana.api,
        Method::PUT,
        &format!("/api/v1/me/blocks/{}", ana.id),
        None,
    )
    .await;
    assert_eq!(code(&r), (400, "invalid_user"));

    // No DM either way: not a new one, not in the existing one, over HTTP or the socket.
    let r = call(
        &eve.api,
        Method::POST,
        "/api/v1/dms",
        Some(json!({"user_id": ana.id})),
    )
    .await;
    assert_eq!(code(&r), (403, "blocked"));
    let r = call(
        &eve.api,
        Method::POST,
        &format!("/api/v1/rooms/{}/messages", dm.id),
        Some(json!({"body": "hi?"})),
    )
    .await;
    assert_eq!(code(&r), (403, "blocked"));
    let mut socket = app.socket(&eve).await;
    assert_eq!(
        socket.send_text(dm.id, "hello?").await.unwrap_err().code(),
        Some("blocked")
    );
    let r = call(
        &ana.api,
        Method::POST,
        &format!("/api/v1/rooms/{}/messages", dm.id),
        Some(json!({"body": "no"})),
    )
    .await;
    assert_eq!(code(&r), (403, "blocked"));
    // Shared rooms go on (the blocker's client collapses eve's messages); others are unaffected.
    eve.api.send_text(group.id, "in the group").await.unwrap();
    cal.api.open_dm(ana.id).await.unwrap();

    assert_eq!(call(&ana.api, Method::DELETE, &path, None).await.0, 204);
    let r = call(&ana.api, Method::DELETE, &path, None).await;
    assert_eq!(code(&r), (404, "block_not_found"));
    eve.api.send_text(dm.id, "friends again").await.unwrap();
}
