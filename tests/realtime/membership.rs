//! Membership changes take effect on open sessions at once.

use std::time::Duration;

use confab::protocol::ws::ServerFrame;
use confab_testkit::Incoming;

use crate::both_backends;
use crate::common::{Backend, spawn_app};
use crate::{SOON, new_message};

both_backends!(
    an_added_member_hears_the_room_without_reconnecting,
    a_removed_member_stops_hearing_the_room_at_once,
    renames_reach_every_member,
    a_member_removed_while_their_session_stalls_never_hears_the_room,
);

async fn an_added_member_hears_the_room_without_reconnecting(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = ana.api.create_room("later").await.unwrap();
    ana.api.send_text(room.id, "before bo").await.unwrap();
    let mut a = app.socket(&ana).await;
    let mut b = app.socket(&bo).await;
    ana.api.add_member(room.id, bo.id).await.unwrap();
    let view = b
        .wait_for(SOON, "room.updated", |f| match f {
            ServerFrame::RoomUpdated { room } => Some((**room).clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(
        (view.id, view.last_seq.0, view.unread_count),
        (room.id, 1, 1)
    );
    let joined = a
        .wait_for(SOON, "member.joined", |f| match f {
            ServerFrame::MemberJoined { room_id, user } => Some((*room_id, user.id)),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(joined, (room.id, bo.id));
    let m = a.send_text(room.id, "welcome").await.unwrap();
    assert_eq!(
        b.wait_for(SOON, "message.new", new_message)
            .await
            .unwrap()
            .id,
        m.id
    );
}

async fn a_removed_member_stops_hearing_the_room_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut a = app.socket(&ana).await;
    let mut b = app.socket(&bo).await;
    ana.api.remove_member(room.id, bo.id).await.unwrap();
    let left = b
        .wait_for(SOON, "member.left", |f| match f {
            ServerFrame::MemberLeft { room_id, user_id } => Some((*room_id, *user_id)),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(left, (room.id, bo.id));
    a.wait_for(SOON, "member.left", |f| {
        matches!(f, ServerFrame::MemberLeft { .. }).then_some(())
    })
    .await
    .unwrap();
    a.send_text(room.id, "bo is gone").await.unwrap();
    let after = b.drain(Duration::from_millis(700)).await;
    assert!(
        !after
            .iter()
            .any(|i| matches!(i, Incoming::Frame(f) if new_message(f).is_some())),
        "{after:?}"
    );
    let typing = b
        .request(confab::protocol::ws::ClientFrame::Typing {
            room_id: room.id,
            active: true,
        })
        .await
        .unwrap_err();
    assert_eq!(typing.code(), Some("room_not_found"));
}

async fn renames_reach_every_member(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut b = app.socket(&bo).await;
    ana.api
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/rooms/{}", room.id),
            Some(&serde_json::json!({"name": "renamed"})),
        )
        .await
        .unwrap();
    let view = b
        .wait_for(SOON, "room.updated", |f| match f {
            ServerFrame::RoomUpdated { room } => Some((**room).clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(view.name, "renamed");
    assert_eq!(
        view.role,
        confab::protocol::Role::Member,
        "each member gets their own view"
    );
}

/// A session whose socket is backed up still has `member.joined` for a room queued when the
/// removal arrives: it must come out of the stall without the room (no live messages, no typing,
/// no replay of what was posted after the removal, no call).
async fn a_member_removed_while_their_session_stalls_never_hears_the_room(backend: Backend) {
    let app = crate::common::Setup::new(backend)
        .tweak(|c| {
            c.send_burst = 10_000;
            c.send_rate = 10_000;
        })
        .start()
        .await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let lobby = app.room_with(&ana, &[&bo]).await;
    let secret = ana.api.create_room("secret").await.unwrap();
    // Bo reads through a tiny receive buffer, and stops reading.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(app.addr).await.unwrap();
    let ws = confab_testkit::websocket(&app.api.ws_url(), stream)
        .await
        .unwrap();
    let mut b = confab_testkit::Socket::authenticate(ws, &bo.tokens.access_token, None)
        .await
        .unwrap();
    // 1.6 MB of messages in the lobby: more than the kernel buffers, so bo's session stalls
    // writing them and its queue holds whatever comes next.
    let big = "\u{1F600}".repeat(4000);
    for _ in 0..100 {
        ana.api.send_text(lobby.id, &big).await.unwrap();
    }
    ana.api.add_member(secret.id, bo.id).await.unwrap();
    ana.api.remove_member(secret.id, bo.id).await.unwrap();
    ana.api.send_text(secret.id, "after removal").await.unwrap();
    // Bo reads again: everything queued drains.
    let marker = ana.api.send_text(lobby.id, "marker").await.unwrap();
    let mut seen_secret = Vec::new();
    b.wait_for(Duration::from_secs(20), "the marker", |f| {
        if let Some(m) = new_message(f)
            && m.room_id == secret.id
        {
            seen_secret.push(m.body.clone());
        }
        new_message(f).filter(|m| m.id == marker.id)
    })
    .await
    .unwrap();
    // Now the queue is drained: what is posted and typed in the room must not reach bo.
    ana.api.send_text(secret.id, "later").await.unwrap();
    let mut a = app.socket(&ana).await;
    a.request(confab::protocol::ws::ClientFrame::Typing {
        room_id: secret.id,
        active: true,
    })
    .await
    .unwrap();
    let marker = ana.api.send_text(lobby.id, "second marker").await.unwrap();
    let mut typing_seen = false;
    b.wait_for(SOON, "the second marker", |f| {
        match f {
            ServerFrame::Typing { room_id, .. } if *room_id == secret.id => typing_seen = true,
            _ => {}
        }
        if let Some(m) = new_message(f)
            && m.room_id == secret.id
        {
            seen_secret.push(m.body.clone());
        }
        new_message(f).filter(|m| m.id == marker.id)
    })
    .await
    .unwrap();
    assert!(seen_secret.is_empty(), "bo heard the room: {seen_secret:?}");
    assert!(!typing_seen, "bo heard typing in the room");
    for frame in [
        confab::protocol::ws::ClientFrame::Typing {
            room_id: secret.id,
            active: true,
        },
        confab::protocol::ws::ClientFrame::VoiceJoin { room_id: secret.id },
    ] {
        let refused = b.request(frame).await.unwrap_err();
        assert_eq!(refused.code(), Some("room_not_found"));
    }
}
