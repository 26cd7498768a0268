//! Moderation reaches open sessions at once, on every node: a banned user's sessions lose the
//! room (and hear nothing more from it), a suspended user's sessions close with 4003.

use std::time::Duration;

use confab::protocol::ws::ServerFrame;
use confab_testkit::{Incoming, Socket};
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::common::{Backend, Setup, TestApp, TestUser, redis_prefix, spawn_app};
use crate::{SOON, new_message};

both_backends!(a_banned_users_session_loses_the_room_at_once);

/// `ana` bans `bob` from `room` on `on`.
async fn ban(on: &TestApp, ana: &TestUser, room: confab::protocol::RoomId, bob: &TestUser) {
    let (status, _) = on
        .api
        .as_user(&ana.tokens.access_token)
        .call(
            Method::PUT,
            &format!("/api/v1/rooms/{room}/bans/{}", bob.id),
            Some(&json!({})),
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
}

/// Waits for `bob`'s own `member.left` of `room`, then checks nothing of the room follows
/// while `ana` keeps posting.
async fn loses_the_room(
    socket: &mut Socket,
    bob: &TestUser,
    ana: &TestUser,
    room: confab::protocol::RoomId,
) {
    socket
        .wait_for(SOON, "member.left of the banned user", |f| match f {
            ServerFrame::MemberLeft { room_id, user_id }
                if *room_id == room && *user_id == bob.id =>
            {
                Some(())
            }
            _ => None,
        })
        .await
        .unwrap();
    ana.api.send_text(room, "after the ban").await.unwrap();
    let after = socket.drain(Duration::from_millis(700)).await;
    assert!(
        !after
            .iter()
            .any(|i| matches!(i, Incoming::Frame(f) if new_message(f).is_some())),
        "the banned session still hears the room: {after:?}"
    );
}

async fn a_banned_users_session_loses_the_room_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let room = app.room_with(&ana, &[&bob]).await;
    let mut socket = app.socket(&bob).await;
    ana.api.send_text(room.id, "before").await.unwrap();
    socket
        .wait_for(SOON, "message.new", new_message)
        .await
        .unwrap();
    ban(&app, &ana, room.id, &bob).await;
    loses_the_room(&mut socket, &bob, &ana, room.id).await;
    let err = socket.send_text(room.id, "let me back").await.unwrap_err();
    assert_eq!(err.code(), Some("room_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_on_one_node_takes_the_room_from_sessions_on_another() {
    let prefix = redis_prefix();
    let a = Setup::new(Backend::Postgres).redis(&prefix).start().await;
    let b = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .sharing(&a)
        .start()
        .await;
    let ana = a.user("ana").await;
    let bob = a.user("bob").await;
    let room = a.room_with(&ana, &[&bob]).await;
    let mut on_b = b.socket(&bob).await;
    ana.api.send_text(room.id, "before").await.unwrap();
    on_b.wait_for(SOON, "message.new", new_message)
        .await
        .unwrap();
    ban(&a, &ana, room.id, &bob).await;
    loses_the_room(&mut on_b, &bob, &ana, room.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_on_one_node_closes_the_sessions_on_every_node() {
    let prefix = redis_prefix();
    let a = Setup::new(Backend::Postgres).redis(&prefix).start().await;
    let b = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .sharing(&a)
        .start()
        .await;
    let root = a.user("root").await;
    let bob = a.user("bob").await;
    let second_login = b
        .api
        .login(&bob.name, "correct horse battery")
        .await
        .unwrap();
    let mut on_a = a.socket(&bob).await;
    let mut on_b = Socket::connect(&b.api.ws_url(), &second_login.access_token, None)
        .await
        .unwrap();
    let (status, _) = a
        .api
        .as_user(&root.tokens.access_token)
        .call(
            Method::POST,
            &format!("/api/v1/admin/users/{}/suspend", bob.id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
    for socket in [&mut on_a, &mut on_b] {
        let events = socket.drain(SOON).await;
        let suspended = events.iter().any(|i| matches!(i, Incoming::Frame(f) if matches!(f.as_ref(), ServerFrame::Error { code, .. } if code == "account_suspended")));
        let code = events.iter().find_map(|i| match i {
            Incoming::Closed { code, .. } => *code,
            _ => None,
        });
        assert!(suspended, "{events:?}");
        assert_eq!(code, Some(4003));
    }
    let (status, body) = b
        .api
        .as_user(&second_login.access_token)
        .call(Method::GET, "/api/v1/me", None)
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("token_revoked"))
    );
}
