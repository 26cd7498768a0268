use confab::protocol::{Role, RoomKind, Seq};
use confab_testkit::ClientError;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::common::{Backend, spawn_app};

both_backends!(
    the_creator_of_a_room_owns_it,
    non_members_cannot_see_a_room_at_all,
    owners_and_admins_add_members_and_members_cannot,
    a_pair_of_users_has_exactly_one_dm,
    leaving_and_removing_follow_rank_and_owners_hand_over,
    read_positions_move_forward_only_and_drive_unread_counts,
    owners_and_admins_rename_rooms,
);

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    match r {
        Err(e) => e.code().unwrap_or("no code").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

async fn the_creator_of_a_room_owns_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let (status, room) = ana
        .api
        .call(
            Method::POST,
            "/api/v1/rooms",
            Some(&json!({"name": " Design ", "topic": "pixels"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(room["name"], "Design");
    assert_eq!(room["topic"], "pixels");
    assert_eq!(room["kind"], "group");
    assert_eq!(room["role"], "owner");
    assert_eq!(room["members_count"], 1);
    assert_eq!(room["last_seq"], 0);
    assert_eq!(room["unread_count"], 0);
    assert!(room["last_message"].is_null());
    let rooms = ana.api.rooms().await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].name, "Design");
    let (_, members) = ana
        .api
        .call(
            Method::GET,
            &format!("/api/v1/rooms/{}/members", rooms[0].id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(members["members"][0]["role"], "owner");
    assert_eq!(members["members"][0]["user"]["id"], json!(ana.id));
    assert_eq!(code(ana.api.create_room("   ").await), "invalid_room_name");
}

async fn non_members_cannot_see_a_room_at_all(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let eve = app.user("eve").await;
    let room = ana.api.create_room("secret").await.unwrap();
    ana.api.send_text(room.id, "classified").await.unwrap();
    let r = room.id;
    let calls: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/rooms/{r}"), None),
        (Method::GET, format!("/api/v1/rooms/{r}/members"), None),
        (Method::GET, format!("/api/v1/rooms/{r}/messages"), None),
        (
            Method::POST,
            format!("/api/v1/rooms/{r}/messages"),
            Some(json!({"body": "hi"})),
        ),
        (
            Method::POST,
            format!("/api/v1/rooms/{r}/read"),
            Some(json!({"seq": 1})),
        ),
        (
            Method::POST,
            format!("/api/v1/rooms/{r}/members"),
            Some(json!({"user_id": eve.id})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/rooms/{r}"),
            Some(json!({"name": "mine"})),
        ),
    ];
    for (method, path, body) in calls {
        let (status, answer) = eve
            .api
            .call(method.clone(), &path, body.as_ref())
            .await
            .unwrap();
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(answer["error"]["code"], "room_not_found", "{method} {path}");
    }
    let history = ana.api.history(room.id, "").await.unwrap();
    let id = history.messages[0].id;
    let (status, _) = eve
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/messages/{id}"),
            Some(&json!({"body": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (status, _) = eve
        .api
        .call(Method::DELETE, &format!("/api/v1/messages/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert!(eve.api.rooms().await.unwrap().is_empty());
}

async fn owners_and_admins_add_members_and_members_cannot(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.user("olga").await;
    let admin = app.user("adam").await;
    let member = app.user("mia").await;
    let newcomer = app.user("nico").await;
    let room = app.room_with(&owner, &[&admin, &member]).await;
    assert_eq!(
        code(member.api.add_member(room.id, newcomer.id).await),
        "not_allowed"
    );
    let (status, _) = owner
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/rooms/{}/members/{}", room.id, admin.id),
            Some(&json!({"role": "admin"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(admin.api.room(room.id).await.unwrap().role, Role::Admin);
    admin.api.add_member(room.id, newcomer.id).await.unwrap();
    assert_eq!(
        code(admin.api.add_member(room.id, newcomer.id).await),
        "already_member"
    );
    assert_eq!(
        code(
            admin
                .api
                .add_member(room.id, confab::protocol::UserId::new())
                .await
        ),
        "user_not_found"
    );
    let joined = newcomer.api.room(room.id).await.unwrap();
    assert_eq!((joined.role, joined.members_count), (Role::Member, 4));
    // Only the owner changes roles.
    let (status, body) = admin
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/rooms/{}/members/{}", room.id, member.id),
            Some(&json!({"role": "admin"})),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("not_allowed"))
    );
}

async fn a_pair_of_users_has_exactly_one_dm(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let (status, first) = ana
        .api
        .call(
            Method::POST,
            "/api/v1/dms",
            Some(&json!({"user_id": bo.id})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    let (status, again) = bo
        .api
        .call(
            Method::POST,
            "/api/v1/dms",
            Some(&json!({"user_id": ana.id})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["kind"], "dm");
    // Each sees the other's name and identity.
    assert_eq!(first["name"], bo.name.as_str());
    assert_eq!(again["name"], ana.name.as_str());
    assert_eq!(first["dm_user"]["id"], json!(bo.id));
    let dm = ana.api.rooms().await.unwrap().remove(0);
    assert_eq!((dm.kind, dm.members_count), (RoomKind::Dm, 2));
    let carl = app.user("carl").await;
    assert_eq!(
        code(ana.api.add_member(dm.id, carl.id).await),
        "dm_membership_fixed"
    );
    assert_eq!(
        code(ana.api.remove_member(dm.id, ana.id).await),
        "dm_membership_fixed"
    );
    assert_eq!(code(ana.api.open_dm(ana.id).await), "invalid_user");
    assert_eq!(
        code(ana.api.open_dm(confab::protocol::UserId::new()).await),
        "user_not_found"
    );
}

async fn leaving_and_removing_follow_rank_and_owners_hand_over(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.user("olga").await;
    let admin = app.user("adam").await;
    let m1 = app.user("mia").await;
    let m2 = app.user("max").await;
    let room = app.room_with(&owner, &[&admin, &m1, &m2]).await;
    let set_admin = owner
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/rooms/{}/members/{}", room.id, admin.id),
            Some(&json!({"role": "admin"})),
        )
        .await
        .unwrap();
    assert_eq!(set_admin.0, 204);
    assert_eq!(
        code(m1.api.remove_member(room.id, m2.id).await),
        "not_allowed"
    );
    assert_eq!(
        code(admin.api.remove_member(room.id, owner.id).await),
        "not_allowed"
    );
    admin.api.remove_member(room.id, m2.id).await.unwrap();
    assert_eq!(code(m2.api.room(room.id).await), "room_not_found");
    assert_eq!(code(m2.api.history(room.id, "").await), "room_not_found");
    m1.api.remove_member(room.id, m1.id).await.unwrap();
    assert!(m1.api.rooms().await.unwrap().is_empty());
    // The owner leaves: the admin inherits the room.
    owner.api.remove_member(room.id, owner.id).await.unwrap();
    let left = admin.api.room(room.id).await.unwrap();
    assert_eq!(left.role, Role::Owner);
    assert_eq!(
        code(admin.api.remove_member(room.id, m1.id).await),
        "member_not_found"
    );
    // The count follows every removal, and a refused one changes nothing (the store keeps it
    // beside the room rather than counting the memberships on each read).
    assert_eq!(left.members_count, 1);
    admin.api.add_member(room.id, m2.id).await.unwrap();
    assert_eq!(
        code(admin.api.add_member(room.id, m2.id).await),
        "already_member"
    );
    assert_eq!(m2.api.room(room.id).await.unwrap().members_count, 2);
}

async fn read_positions_move_forward_only_and_drive_unread_counts(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    for text in ["one", "two", "three"] {
        ana.api.send_text(room.id, text).await.unwrap();
    }
    let seen = bo.api.rooms().await.unwrap().remove(0);
    assert_eq!(
        (seen.unread_count, seen.last_read_seq, seen.last_seq),
        (3, Seq(0), Seq(3))
    );
    assert_eq!(seen.last_message.unwrap().body, "three");
    // The sender has read their own messages.
    let mine = ana.api.rooms().await.unwrap().remove(0);
    assert_eq!((mine.unread_count, mine.last_read_seq), (0, Seq(3)));
    bo.api.mark_read(room.id, Seq(2)).await.unwrap();
    assert_eq!(bo.api.room(room.id).await.unwrap().unread_count, 1);
    // Everyone's read position is part of the member list ("seen by" after a reload).
    let (_, members) = ana
        .api
        .call(
            Method::GET,
            &format!("/api/v1/rooms/{}/members", room.id),
            None,
        )
        .await
        .unwrap();
    let seen: Vec<(String, i64)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["username"].as_str().unwrap().to_owned(),
                m["last_read_seq"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        seen.contains(&(bo.name.clone(), 2)) && seen.contains(&(ana.name.clone(), 3)),
        "{seen:?}"
    );
    bo.api.mark_read(room.id, Seq(1)).await.unwrap();
    assert_eq!(bo.api.room(room.id).await.unwrap().last_read_seq, Seq(2));
    bo.api.mark_read(room.id, Seq(99)).await.unwrap();
    let r = bo.api.room(room.id).await.unwrap();
    assert_eq!((r.last_read_seq, r.unread_count), (Seq(3), 0));
    // Deleted messages do not count as unread.
    let m = ana.api.send_text(room.id, "oops").await.unwrap();
    let (status, _) = ana
        .api
        .call(Method::DELETE, &format!("/api/v1/messages/{}", m.id), None)
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(bo.api.room(room.id).await.unwrap().unread_count, 0);
    let (status, body) = bo
        .api
        .call(
            Method::POST,
            &format!("/api/v1/rooms/{}/read", room.id),
            Some(&json!({"seq": -1})),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_seq"))
    );
}

async fn owners_and_admins_rename_rooms(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let (status, body) = bo
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/rooms/{}", room.id),
            Some(&json!({"name": "mine"})),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("not_allowed"))
    );
    let (status, body) = ana
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/rooms/{}", room.id),
            Some(&json!({"name": "launch", "topic": "T-minus 3"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        (body["name"].as_str(), body["topic"].as_str()),
        (Some("launch"), Some("T-minus 3"))
    );
    assert_eq!(bo.api.room(room.id).await.unwrap().name, "launch");
}
