//! Pins over HTTP: who may pin, the per-room limit, the list, `message.pinned`, membership, and
//! deleted or foreign messages.

use confab::protocol::MessageId;
use confab::protocol::api::Pin;
use confab_testkit::{Api, ClientError};
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::common::{Backend, spawn_app};

both_backends!(
    owners_and_admins_pin_and_every_member_sees_the_pins,
    either_member_of_a_dm_pins,
    a_room_keeps_at_most_fifty_pins,
    only_live_messages_of_the_room_are_pinned_and_deleting_unpins,
    non_members_get_room_not_found,
);

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    match r {
        Err(e) => e.code().unwrap_or("no code").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

fn pinned_ids(pins: &[Pin]) -> Vec<MessageId> {
    pins.iter().map(|p| p.message.id).collect()
}

async fn pinned_in_history(api: &Api, room: confab::protocol::RoomId) -> Vec<(String, bool)> {
    let page = api.history(room, "").await.unwrap();
    page.messages
        .into_iter()
        .map(|m| (m.body, m.pinned))
        .collect()
}

async fn owners_and_admins_pin_and_every_member_sees_the_pins(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let room = app.room_with(&ana, &[&bo, &cy]).await;
    let first = bo.api.send_text(room.id, "agenda").await.unwrap();
    let second = cy.api.send_text(room.id, "minutes").await.unwrap();

    assert_eq!(
        code(bo.api.pin(room.id, first.id, true).await),
        "not_allowed"
    );
    ana.api.pin(room.id, first.id, true).await.unwrap();
    ana.api.pin(room.id, first.id, true).await.unwrap();
    let (status, _) = ana
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/rooms/{}/members/{}", room.id, bo.id),
            Some(&json!({"role": "admin"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
    bo.api.pin(room.id, second.id, true).await.unwrap();

    let pins = cy.api.pins(room.id).await.unwrap();
    assert_eq!(pinned_ids(&pins), [second.id, first.id], "newest first");
    assert_eq!(pins[0].pinned_by, Some(bo.id));
    assert_eq!(pins[1].message.body, "agenda");
    assert!(pins.iter().all(|p| p.message.pinned));
    assert_eq!(
        pinned_in_history(&cy.api, room.id).await,
        [("agenda".into(), true), ("minutes".into(), true)]
    );

    assert_eq!(
        code(cy.api.pin(room.id, first.id, false).await),
        "not_allowed"
    );
    bo.api.pin(room.id, first.id, false).await.unwrap();
    bo.api.pin(room.id, first.id, false).await.unwrap();
    assert_eq!(
        pinned_ids(&cy.api.pins(room.id).await.unwrap()),
        [second.id]
    );
    assert_eq!(
        pinned_in_history(&cy.api, room.id).await,
        [("agenda".into(), false), ("minutes".into(), true)]
    );
}

async fn either_member_of_a_dm_pins(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let dm = ana.api.open_dm(bo.id).await.unwrap();
    let m = ana
        .api
        .send_text(dm.id, "address: 1 Main St")
        .await
        .unwrap();
    bo.api.pin(dm.id, m.id, true).await.unwrap();
    assert_eq!(pinned_ids(&ana.api.pins(dm.id).await.unwrap()), [m.id]);
    ana.api.pin(dm.id, m.id, false).await.unwrap();
    assert!(bo.api.pins(dm.id).await.unwrap().is_empty());
}

async fn a_room_keeps_at_most_fifty_pins(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    let mut ids = Vec::new();
    for i in 0..=Pin::MAX_PER_ROOM {
        ids.push(
            ana.api
                .send_text(room.id, &format!("note {i}"))
                .await
                .unwrap()
                .id,
        );
    }
    for id in &ids[..Pin::MAX_PER_ROOM as usize] {
        ana.api.pin(room.id, *id, true).await.unwrap();
    }
    let last = ids[Pin::MAX_PER_ROOM as usize];
    let refused = ana.api.pin(room.id, last, true).await.unwrap_err();
    assert!(
        matches!(&refused, ClientError::Api { status: 409, code, .. } if code == "too_many_pins"),
        "{refused:?}"
    );
    // Pinning one already pinned is still fine, and unpinning frees a slot.
    ana.api.pin(room.id, ids[0], true).await.unwrap();
    ana.api.pin(room.id, ids[0], false).await.unwrap();
    ana.api.pin(room.id, last, true).await.unwrap();
    assert_eq!(ana.api.pins(room.id).await.unwrap().len(), 50);
}

async fn only_live_messages_of_the_room_are_pinned_and_deleting_unpins(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let other = app.room_with(&ana, &[]).await;
    let elsewhere = ana.api.send_text(other.id, "not here").await.unwrap();
    assert_eq!(
        code(ana.api.pin(room.id, elsewhere.id, true).await),
        "message_not_found"
    );
    assert_eq!(
        code(ana.api.pin(room.id, MessageId::new(), true).await),
        "message_not_found"
    );

    let m = bo
        .api
        .send_text(room.id, "pin me, then delete me")
        .await
        .unwrap();
    ana.api.pin(room.id, m.id, true).await.unwrap();
    bo.api
        .call(Method::DELETE, &format!("/api/v1/messages/{}", m.id), None)
        .await
        .unwrap();
    assert!(ana.api.pins(room.id).await.unwrap().is_empty());
    assert_eq!(
        pinned_in_history(&ana.api, room.id).await,
        [(String::new(), false)]
    );
    assert_eq!(
        code(ana.api.pin(room.id, m.id, true).await),
        "message_deleted"
    );
}

async fn non_members_get_room_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let eve = app.user("eve").await;
    let room = app.room_with(&ana, &[]).await;
    let m = ana.api.send_text(room.id, "private").await.unwrap();
    ana.api.pin(room.id, m.id, true).await.unwrap();
    assert_eq!(code(eve.api.pins(room.id).await), "room_not_found");
    assert_eq!(
        code(eve.api.pin(room.id, m.id, true).await),
        "room_not_found"
    );
    assert_eq!(
        code(eve.api.pin(room.id, m.id, false).await),
        "room_not_found"
    );
    assert_eq!(pinned_ids(&ana.api.pins(room.id).await.unwrap()), [m.id]);
}
