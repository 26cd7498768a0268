//! Mentions over HTTP: `@username` of members, `@room` from owners and admins, re-parsed on
//! edit and gone on delete, each member's `mention_count`, and per-room notification levels.

use confab::protocol::api::{Message, Room};
use confab::protocol::{NotifyLevel, RoomId};
use confab_testkit::{Api, ClientError};
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::common::{Backend, spawn_app};

both_backends!(
    members_named_with_at_are_mentioned_and_counted_until_read,
    only_owners_and_admins_mention_the_room,
    edits_re_parse_mentions_and_deletes_drop_them,
    each_member_sets_their_notification_level,
    busy_rooms_default_to_mentions_only,
);

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    match r {
        Err(e) => e.code().unwrap_or("no code").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

async fn mention_count(api: &Api, room: RoomId) -> i64 {
    api.room(room).await.unwrap().mention_count
}

async fn settings(api: &Api, room: RoomId, notify: &str) -> Result<Room, ClientError> {
    let (status, body) = api
        .call(
            Method::PATCH,
            &format!("/api/v1/rooms/{room}/settings"),
            Some(&json!({ "notify": notify })),
        )
        .await?;
    if status >= 400 {
        return Err(ClientError::Api {
            status,
            code: body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            message: String::new(),
        });
    }
    Ok(serde_json::from_value(body).unwrap())
}

async fn members_named_with_at_are_mentioned_and_counted_until_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let eve = app.user("eve").await;
    let room = app.room_with(&ana, &[&bo, &cy]).await;
    let body = format!(
        "@{} and @{}: see mail@{}.org, and hi @{}!",
        ana.name.to_uppercase(),
        eve.name,
        cy.name,
        cy.name
    );
    let m = bo.api.send_text(room.id, &body).await.unwrap();
    // eve is not a member: her name is text; an address mentions no one.
    assert_eq!(m.mentions, [ana.id, cy.id]);
    assert!(!m.mentions_room);
    let page = cy.api.history(room.id, "").await.unwrap();
    assert_eq!(page.messages[0].mentions, [ana.id, cy.id]);

    assert_eq!(mention_count(&ana.api, room.id).await, 1);
    assert_eq!(mention_count(&cy.api, room.id).await, 1);
    assert_eq!(
        mention_count(&bo.api, room.id).await,
        0,
        "not for the author"
    );
    bo.api.send_text(room.id, "no mention here").await.unwrap();
    let listed = ana.api.rooms().await.unwrap();
    assert_eq!((listed[0].unread_count, listed[0].mention_count), (2, 1));
    ana.api.mark_read(room.id, m.seq).await.unwrap();
    assert_eq!(mention_count(&ana.api, room.id).await, 0);
    assert_eq!(mention_count(&cy.api, room.id).await, 1);
}

async fn only_owners_and_admins_mention_the_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let room = app.room_with(&ana, &[&bo, &cy]).await;
    let plain = bo.api.send_text(room.id, "@room anyone?").await.unwrap();
    assert!(!plain.mentions_room);
    assert_eq!(mention_count(&cy.api, room.id).await, 0);
    let loud = ana
        .api
        .send_text(room.id, "@room standup in 5")
        .await
        .unwrap();
    assert!(loud.mentions_room);
    assert!(loud.mentions.is_empty());
    assert_eq!(mention_count(&cy.api, room.id).await, 1);
    assert_eq!(mention_count(&bo.api, room.id).await, 1);
    // In a DM both are plain members: @room is text.
    let dm = bo.api.open_dm(cy.id).await.unwrap();
    assert!(
        !bo.api
            .send_text(dm.id, "@room")
            .await
            .unwrap()
            .mentions_room
    );
}

async fn edits_re_parse_mentions_and_deletes_drop_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let m = bo.api.send_text(room.id, "ping").await.unwrap();
    assert_eq!(mention_count(&ana.api, room.id).await, 0);
    let edit = |body: String| {
        let api = bo.api.clone();
        async move {
            let (_, v) = api
                .call(
                    Method::PATCH,
                    &format!("/api/v1/messages/{}", m.id),
                    Some(&json!({ "body": body })),
                )
                .await
                .unwrap();
            serde_json::from_value::<Message>(v).unwrap()
        }
    };
    let edited = edit(format!("ping @{}", ana.name)).await;
    assert_eq!(edited.mentions, [ana.id]);
    assert_eq!(mention_count(&ana.api, room.id).await, 1);
    let edited = edit("ping, never mind".into()).await;
    assert!(edited.mentions.is_empty());
    assert_eq!(mention_count(&ana.api, room.id).await, 0);

    edit(format!("ping @{}", ana.name)).await;
    bo.api
        .call(Method::DELETE, &format!("/api/v1/messages/{}", m.id), None)
        .await
        .unwrap();
    assert_eq!(mention_count(&ana.api, room.id).await, 0);
    let page = ana.api.history(room.id, "").await.unwrap();
    assert!(page.messages[0].mentions.is_empty());
}

async fn each_member_sets_their_notification_level(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let eve = app.user("eve").await;
    let room = app.room_with(&ana, &[&bo]).await;
    assert_eq!(room.notify, NotifyLevel::All);
    let view = settings(&bo.api, room.id, "none").await.unwrap();
    assert_eq!(view.notify, NotifyLevel::None);
    assert_eq!(
        bo.api.room(room.id).await.unwrap().notify,
        NotifyLevel::None
    );
    // Bo's choice is his alone.
    assert_eq!(
        ana.api.room(room.id).await.unwrap().notify,
        NotifyLevel::All
    );
    settings(&bo.api, room.id, "mentions").await.unwrap();
    assert_eq!(
        bo.api.rooms().await.unwrap()[0].notify,
        NotifyLevel::Mentions
    );
    assert_eq!(
        code(settings(&bo.api, room.id, "loud").await),
        "invalid_notify"
    );
    assert_eq!(
        code(settings(&eve.api, room.id, "none").await),
        "room_not_found"
    );
}

async fn busy_rooms_default_to_mentions_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let mut people = Vec::new();
    for i in 0..NotifyLevel::BUSY_ROOM {
        people.push(app.user(&format!("p{i}")).await);
    }
    let room = app
        .room_with(&ana, &people.iter().collect::<Vec<_>>())
        .await;
    let view = people[0].api.room(room.id).await.unwrap();
    assert_eq!(view.members_count, NotifyLevel::BUSY_ROOM + 1);
    assert_eq!(view.notify, NotifyLevel::Mentions);
    let view = settings(&people[0].api, room.id, "all").await.unwrap();
    assert_eq!(view.notify, NotifyLevel::All);
}
