//! Moderation over HTTP: bans, timeouts, slow mode, server admins' powers (suspension, deleting
//! any message or room) and the audit logs.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{Backend, TestUser, spawn_app};

both_backends!(
    a_ban_removes_the_user_and_keeps_them_out_until_lifted,
    only_moderators_who_outrank_can_ban_or_time_out,
    a_timed_out_member_reads_but_cannot_post,
    slow_mode_spaces_out_a_members_messages_but_not_a_moderators,
    server_admins_suspend_accounts_and_delete_any_message_or_room,
    every_moderation_action_is_in_the_audit_logs,
);

async fn call(user: &TestUser, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    user.api.call(method, path, body.as_ref()).await.unwrap()
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"]["code"].as_str().unwrap_or(""))
}

fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

async fn a_ban_removes_the_user_and_keeps_them_out_until_lifted(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let (_, room) = call(
        &ana,
        Method::POST,
        "/api/v1/rooms",
        Some(json!({"name": "club", "visibility": "public"})),
    )
    .await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let (_, invite) = call(
        &ana,
        Method::POST,
        &format!("/api/v1/rooms/{room_id}/invites"),
        Some(json!({})),
    )
    .await;
    let code_ = invite["code"].as_str().unwrap().to_owned();
    call(
        &bob,
        Method::POST,
        &format!("/api/v1/rooms/{room_id}/join"),
        None,
    )
    .await;

    let ban = format!("/api/v1/rooms/{room_id}/bans/{}", bob.id);
    let r = call(&ana, Method::PUT, &ban, Some(json!({"reason": "spam"}))).await;
    assert_eq!(r.0, 204, "{:?}", r.1);
    let r = call(&bob, Method::GET, &format!("/api/v1/rooms/{room_id}"), None).await;
    assert_eq!(code(&r), (404, "room_not_found"), "the ban removed him");
    let (_, bans) = call(
        &ana,
        Method::GET,
        &format!("/api/v1/rooms/{room_id}/bans"),
        None,
    )
    .await;
    assert_eq!(bans["bans"][0]["user"]["id"], json!(bob.id));
    assert_eq!(bans["bans"][0]["reason"], "spam");

    let r = call(
        &bob,
        Method::POST,
        &format!("/api/v1/rooms/{room_id}/join"),
        None,
    )
    .await;
    assert_eq!(code(&r), (403, "banned"));
    let r = call(
        &bob,
        Method::POST,
        &format!("/api/v1/invites/{code_}/accept"),
        None,
    )
    .await;
    assert_eq!(code(&r), (403, "banned"));
    let r = call(
        &ana,
        Method::POST,
        &format!("/api/v1/rooms/{room_id}/members"),
        Some(json!({"user_id": bob.id})),
    )
    .await;
    assert_eq!(code(&r), (403, "banned"));
    let (_, listed) = call(
        &ana,
        Method::GET,
        &format!("/api/v1/rooms/{room_id}/invites"),
        None,
    )
    .await;
    assert_eq!(
        listed["invites"][0]["uses"], 0,
        "a refused accept takes no use"
    );

    assert_eq!(call(&ana, Method::DELETE, &ban, None).await.0, 204);
    let r = call(&ana, Method::DELETE, &ban, None).await;
    assert_eq!(code(&r), (404, "ban_not_found"));
    let r = call(
        &bob,
        Method::POST,
        &format!("/api/v1/invites/{code_}/accept"),
        None,
    )
    .await;
    assert_eq!(r.0, 200);
}

async fn only_moderators_who_outrank_can_ban_or_time_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.user("owner").await;
    let admin = app.user("admin").await;
    let peer = app.user("peer").await;
    let member = app.user("member").await;
    let room = app.room_with(&owner, &[&admin, &peer, &member]).await;
    for who in [&admin, &peer] {
        let path = format!("/api/v1/rooms/{}/members/{}", room.id, who.id);
        assert_eq!(
            call(&owner, Method::PATCH, &path, Some(json!({"role": "admin"})))
                .await
                .0,
            204
        );
    }
    let ban = |target: &TestUser| format!("/api/v1/rooms/{}/bans/{}", room.id, target.id);
    let r = call(&member, Method::PUT, &ban(&peer), Some(json!({}))).await;
    assert_eq!(code(&r), (403, "not_allowed"));
    let r = call(&admin, Method::PUT, &ban(&peer), Some(json!({}))).await;
    assert_eq!(
        code(&r),
        (403, "not_allowed"),
        "an admin cannot ban another admin"
    );
    let r = call(&admin, Method::PUT, &ban(&owner), Some(json!({}))).await;
    assert_eq!(code(&r), (403, "not_allowed"));
    let r = call(&admin, Method::PUT, &ban(&admin), Some(json!({}))).await;
    assert_eq!(code(&r), (400, "invalid_user"));
    let r = call(
        &admin,
        Method::PUT,
        &ban(&member),
        Some(json!({"reason": "x".repeat(501)})),
    )
    .await;
    assert_eq!(code(&r), (400, "invalid_reason"));
    let member_path = format!("/api/v1/rooms/{}/members/{}", room.id, member.id);
    let r = call(
        &peer,
        Method::PATCH,
        &member_path,
        Some(json!({"timeout_until": in_secs(-5)})),
    )
    .await;
    assert_eq!(code(&r), (400, "invalid_timeout"));
    let r = call(
        &peer,
        Method::PATCH,
        &member_path,
        Some(json!({"timeout_until": in_secs(40 * 86400)})),
    )
    .await;
    assert_eq!(code(&r), (400, "invalid_timeout"));
    let r = call(
        &member,
        Method::PATCH,
        &format!("/api/v1/rooms/{}/members/{}", room.id, peer.id),
        Some(json!({"timeout_until": in_secs(60)})),
    )
    .await;
    assert_eq!(code(&r), (403, "not_allowed"));
    let r = call(&peer, Method::PATCH, &member_path, Some(json!({}))).await;
    assert_eq!(code(&r), (400, "invalid_request"));
    assert_eq!(
        call(&admin, Method::PUT, &ban(&member), Some(json!({})))
            .await
            .0,
        204
    );
}

async fn a_timed_out_member_reads_but_cannot_post(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let room = app.room_with(&ana, &[&bob]).await;
    ana.api.send_text(room.id, "rules: be kind").await.unwrap();
    let mut socket = app.socket(&bob).await;
    let path = format!("/api/v1/rooms/{}/members/{}", room.id, bob.id);
    let until = in_secs(600);
    assert_eq!(
        call(
            &ana,
            Method::PATCH,
            &path,
            Some(json!({"timeout_until": until}))
        )
        .await
        .0,
        204
    );

    let r = call(
        &bob,
        Method::POST,
        &format!("/api/v1/rooms/{}/messages", room.id),
        Some(json!({"body": "hey"})),
    )
    .await;
    assert_eq!(code(&r), (403, "timed_out"));
    let err = socket
        .send_text(room.id, "over the socket")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("timed_out"));
    let err = socket
        .request(confab::protocol::ws::ClientFrame::Typing {
            room_id: room.id,
            active: true,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("timed_out"));
    let err = socket
        .request(confab::protocol::ws::ClientFrame::VoiceJoin { room_id: room.id })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("timed_out"));
    // Nor react, over HTTP or the socket.
    let rules = bob.api.history(room.id, "").await.unwrap().messages[0].id;
    let r = call(
        &bob,
        Method::PUT,
        &format!("/api/v1/messages/{rules}/reactions/%F0%9F%91%8D"),
        None,
    )
    .await;
    assert_eq!(code(&r), (403, "timed_out"));
    let err = socket
        .request(confab::protocol::ws::ClientFrame::ReactionAdd {
            message_id: rules,
            emoji: "👍".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("timed_out"));
    // Reading goes on, and the room says until when.
    assert_eq!(
        bob.api.history(room.id, "").await.unwrap().messages.len(),
        1
    );
    let view = bob.api.room(room.id).await.unwrap();
    assert!(view.timeout_until.is_some());
    let (_, members) = call(
        &ana,
        Method::GET,
        &format!("/api/v1/rooms/{}/members", room.id),
        None,
    )
    .await;
    let listed = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["id"] == json!(bob.id))
        .unwrap()
        .clone();
    assert!(listed["timeout_until"].is_string());

    assert_eq!(
        call(
            &ana,
            Method::PATCH,
            &path,
            Some(json!({"timeout_until": null}))
        )
        .await
        .0,
        204
    );
    bob.api.send_text(room.id, "thanks").await.unwrap();
    assert!(bob.api.room(room.id).await.unwrap().timeout_until.is_none());
}

async fn slow_mode_spaces_out_a_members_messages_but_not_a_moderators(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let room = app.room_with(&ana, &[&bob]).await;
    let path = format!("/api/v1/rooms/{}", room.id);
    let r = call(
        &ana,
        Method::PATCH,
        &path,
        Some(json!({"slow_mode_secs": 100_000})),
    )
    .await;
    assert_eq!(code(&r), (400, "invalid_slow_mode"));
    let r = call(
        &bob,
        Method::PATCH,
        &path,
        Some(json!({"slow_mode_secs": 2})),
    )
    .await;
    assert_eq!(code(&r), (403, "not_allowed"));
    let (status, view) = call(
        &ana,
        Method::PATCH,
        &path,
        Some(json!({"slow_mode_secs": 2})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(view["slow_mode_secs"], 2);

    bob.api.send_text(room.id, "first").await.unwrap();
    let r = call(
        &bob,
        Method::POST,
        &format!("{path}/messages"),
        Some(json!({"body": "second"})),
    )
    .await;
    assert_eq!(code(&r), (429, "rate_limited"));
    let wait = r.1["error"]["retry_after_ms"].as_u64().unwrap();
    assert!((1..=2000).contains(&wait), "{wait}");
    for i in 0..3 {
        ana.api
            .send_text(room.id, &format!("owner {i}"))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    bob.api.send_text(room.id, "second").await.unwrap();
    call(
        &ana,
        Method::PATCH,
        &path,
        Some(json!({"slow_mode_secs": 0})),
    )
    .await;
    bob.api.send_text(room.id, "third").await.unwrap();
}

async fn server_admins_suspend_accounts_and_delete_any_message_or_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.user("root").await; // the first account: the server admin
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let room = app.room_with(&ana, &[&bob]).await;
    let said = bob.api.send_text(room.id, "spam spam").await.unwrap();

    let r = call(
        &ana,
        Method::POST,
        &format!("/api/v1/admin/users/{}/suspend", bob.id),
        None,
    )
    .await;
    assert_eq!(code(&r), (403, "not_allowed"));
    let r = call(&ana, Method::GET, "/api/v1/admin/audit", None).await;
    assert_eq!(code(&r), (403, "not_allowed"));
    let r = call(
        &ana,
        Method::DELETE,
        &format!("/api/v1/messages/{}", said.id),
        None,
    )
    .await;
    assert_eq!(r.0, 204, "the room's owner may delete it");
    let said = bob.api.send_text(room.id, "more spam").await.unwrap();
    // The server admin is not in the room, and may delete in it anyway.
    let r = call(
        &root,
        Method::DELETE,
        &format!("/api/v1/messages/{}", said.id),
        None,
    )
    .await;
    assert_eq!(r.0, 204);
    let outsider = app.user("outsider").await;
    let r = call(
        &outsider,
        Method::DELETE,
        &format!("/api/v1/messages/{}", said.id),
        None,
    )
    .await;
    assert_eq!(code(&r), (404, "message_not_found"));

    let r = call(
        &root,
        Method::POST,
        &format!("/api/v1/admin/users/{}/suspend", bob.id),
        None,
    )
    .await;
    assert_eq!(r.0, 204);
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
        Some("account_suspended")
    );
    assert_eq!(
        app.api
            .refresh(&bob.tokens.refresh_token)
            .await
            .unwrap_err()
            .code(),
        Some("invalid_refresh_token")
    );
    let r = call(
        &root,
        Method::POST,
        &format!("/api/v1/admin/users/{}/suspend", root.id),
        None,
    )
    .await;
    assert_eq!(code(&r), (400, "invalid_user"));
    let r = call(
        &root,
        Method::POST,
        &format!("/api/v1/admin/users/{}/unsuspend", bob.id),
        None,
    )
    .await;
    assert_eq!(r.0, 204);
    app.api
        .login(&bob.name, "correct horse battery")
        .await
        .unwrap();

    let r = call(
        &bob,
        Method::DELETE,
        &format!("/api/v1/rooms/{}", room.id),
        None,
    )
    .await;
    assert_eq!(r.0, 401, "bob's old token stays revoked");
    let r = call(
        &outsider,
        Method::DELETE,
        &format!("/api/v1/rooms/{}", room.id),
        None,
    )
    .await;
    assert_eq!(code(&r), (404, "room_not_found"));
    let r = call(
        &root,
        Method::DELETE,
        &format!("/api/v1/rooms/{}", room.id),
        None,
    )
    .await;
    assert_eq!(r.0, 204);
    assert!(ana.api.rooms().await.unwrap().is_empty());
}

async fn every_moderation_action_is_in_the_audit_logs(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.user("root").await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let cal = app.user("cal").await;
    let room = app.room_with(&ana, &[&bob, &cal]).await;
    let said = bob.api.send_text(room.id, "oops").await.unwrap();
    let r = format!("/api/v1/rooms/{}", room.id);
    call(
        &ana,
        Method::DELETE,
        &format!("/api/v1/messages/{}", said.id),
        None,
    )
    .await;
    call(
        &ana,
        Method::PATCH,
        &format!("{r}/members/{}", cal.id),
        Some(json!({"timeout_until": in_secs(60)})),
    )
    .await;
    call(&ana, Method::PATCH, &r, Some(json!({"slow_mode_secs": 5}))).await;
    call(
        &ana,
        Method::PUT,
        &format!("{r}/bans/{}", bob.id),
        Some(json!({"reason": "flooding"})),
    )
    .await;
    call(&ana, Method::DELETE, &format!("{r}/bans/{}", bob.id), None).await;
    call(
        &ana,
        Method::DELETE,
        &format!("{r}/members/{}", cal.id),
        None,
    )
    .await;
    call(
        &root,
        Method::POST,
        &format!("/api/v1/admin/users/{}/suspend", cal.id),
        None,
    )
    .await;

    let (status, log) = call(&ana, Method::GET, &format!("{r}/audit"), None).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "member.remove",
            "member.unban",
            "member.ban",
            "room.slow_mode",
            "member.timeout",
            "message.delete"
        ]
    );
    let ban = &log["entries"][2];
    assert_eq!(ban["actor_id"], json!(ana.id));
    assert_eq!(ban["target_user_id"], json!(bob.id));
    assert_eq!(ban["reason"], "flooding");
    assert_eq!(log["entries"][5]["target_message_id"], json!(said.id));
    let (status, _) = call(&bob, Method::GET, &format!("{r}/audit"), None).await;
    assert_eq!(status, 404, "bob is no longer a member");

    let (_, server) = call(&root, Method::GET, "/api/v1/admin/audit", None).await;
    assert_eq!(server["entries"][0]["action"], "user.suspend");
    assert_eq!(server["entries"].as_array().unwrap().len(), 7);
}
