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
            ServerFrame::RoomUpdated { room } => Some(room.clone()),
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
            ServerFrame::RoomUpdated { room } => Some(room.clone()),
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
