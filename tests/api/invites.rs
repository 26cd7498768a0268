//! Invites (create, list, preview without a token, accept, revoke, expiry) and the directory of
//! public rooms.

use std::time::Duration;

use confab::protocol::ws::ServerFrame;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{Backend, TestApp, TestUser, spawn_app};

both_backends!(
    an_invite_is_made_by_moderators_and_joins_whoever_accepts_it,
    a_used_up_revoked_or_expired_invite_is_gone,
    invite_limits_are_checked,
    public_rooms_are_listed_and_open_to_join,
);

const SOON: Duration = Duration::from_secs(5);

async fn call(user: &TestUser, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    user.api.call(method, path, body.as_ref()).await.unwrap()
}

async fn invite(user: &TestUser, room: confab::protocol::RoomId, body: Value) -> (u16, Value) {
    call(
        user,
        Method::POST,
        &format!("/api/v1/rooms/{room}/invites"),
        Some(body),
    )
    .await
}

/// Runs one statement on the app's database, behind the server's back (to age an invite).
async fn sql(app: &TestApp, statement: &str) {
    use sqlx::Connection;
    match &app.db {
        Some(db) => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(statement).execute(&mut c).await.unwrap();
        }
        None => {
            let path = app.data_dir.path().join("confab.db");
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query(statement).execute(&mut c).await.unwrap();
        }
    }
}

async fn an_invite_is_made_by_moderators_and_joins_whoever_accepts_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let mia = app.user("mia").await;
    let eve = app.user("eve").await;
    let room = app.room_with(&ana, &[&mia]).await;
    let (status, created) = invite(&ana, room.id, json!({})).await;
    assert_eq!(status, 201);
    let code = created["code"].as_str().unwrap().to_owned();
    assert!(code.len() >= 16);
    assert_eq!(created["url"], format!("/invite/{code}"));
    assert_eq!(created["room_id"], json!(room.id));
    assert_eq!(created["uses"], 0);
    assert!(created["max_uses"].is_null());
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(created["expires_at"].clone()).unwrap();
    let week = (expires - chrono::Utc::now()).num_seconds();
    assert!((7 * 86400 - 60..=7 * 86400).contains(&week), "{week}");

    let (status, body) = invite(&mia, room.id, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("not_allowed"))
    );
    let (status, body) = invite(&eve, room.id, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("room_not_found"))
    );
    let path = format!("/api/v1/rooms/{}/invites", room.id);
    let (_, listed) = call(&ana, Method::GET, &path, None).await;
    assert_eq!(listed["invites"][0]["code"], code.as_str());
    let (status, _) = call(&mia, Method::GET, &path, None).await;
    assert_eq!(status, 403);

    // Without a token: the room's name, topic and size, nothing else.
    let (status, preview) = app
        .api
        .call(Method::GET, &format!("/api/v1/invites/{code}"), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        preview,
        json!({"name": "general", "topic": "", "members_count": 2})
    );

    let mut ana_socket = app.socket(&ana).await;
    let mut bob_socket = app.socket(&bob).await;
    let accept = format!("/api/v1/invites/{code}/accept");
    let (status, joined) = call(&bob, Method::POST, &accept, None).await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["id"], json!(room.id));
    assert_eq!(joined["members_count"], 3);
    ana_socket
        .wait_for(SOON, "member.joined", |f| match f {
            ServerFrame::MemberJoined { user, .. } if user.id == bob.id => Some(()),
            _ => None,
        })
        .await
        .unwrap();
    // Bob's open session now hears the room: it gets the room, then what is posted after it
    // (what was posted before is in the room's history, which a client loads from the view).
    bob_socket
        .wait_for(SOON, "room.updated", |f| match f {
            ServerFrame::RoomUpdated { room: view } if view.id == room.id => Some(()),
            _ => None,
        })
        .await
        .unwrap();
    ana.api.send_text(room.id, "welcome bob").await.unwrap();
    bob_socket
        .wait_for(SOON, "message.new", |f| match f {
            ServerFrame::MessageNew { message } if message.body == "welcome bob" => Some(()),
            _ => None,
        })
        .await
        .unwrap();
    // Accepting again as a member takes no use.
    let (status, _) = call(&bob, Method::POST, &accept, None).await;
    assert_eq!(status, 200);
    let (_, listed) = call(&ana, Method::GET, &path, None).await;
    assert_eq!(listed["invites"][0]["uses"], 1);
}

async fn a_used_up_revoked_or_expired_invite_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let cal = app.user("cal").await;
    let room = ana.api.create_room("club").await.unwrap();
    let gone = |r: (u16, Value)| (r.0, r.1["error"]["code"].as_str().map(str::to_owned));
    let expired = (410, Some("invite_expired".to_owned()));

    let (_, once) = invite(&ana, room.id, json!({"max_uses": 1})).await;
    let once = once["code"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &bob,
        Method::POST,
        &format!("/api/v1/invites/{once}/accept"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let r = call(
        &cal,
        Method::POST,
        &format!("/api/v1/invites/{once}/accept"),
        None,
    )
    .await;
    assert_eq!(gone(r), expired);
    let r = call(&cal, Method::GET, &format!("/api/v1/invites/{once}"), None).await;
    assert_eq!(gone(r), expired);

    let (_, revoked) = invite(&ana, room.id, json!({})).await;
    let revoked = revoked["code"].as_str().unwrap().to_owned();
    let r = call(
        &bob,
        Method::DELETE,
        &format!("/api/v1/invites/{revoked}"),
        None,
    )
    .await;
    assert_eq!(r.0, 403, "a plain member cannot revoke");
    let r = call(
        &ana,
        Method::DELETE,
        &format!("/api/v1/invites/{revoked}"),
        None,
    )
    .await;
    assert_eq!(r.0, 204);
    let r = call(
        &cal,
        Method::POST,
        &format!("/api/v1/invites/{revoked}/accept"),
        None,
    )
    .await;
    assert_eq!(gone(r), expired);

    let (_, old) = invite(&ana, room.id, json!({})).await;
    let old = old["code"].as_str().unwrap().to_owned();
    sql(
        &app,
        &format!("UPDATE invites SET expires_at = 1 WHERE code = '{old}'"),
    )
    .await;
    let r = call(
        &cal,
        Method::POST,
        &format!("/api/v1/invites/{old}/accept"),
        None,
    )
    .await;
    assert_eq!(gone(r), expired);
    let (_, listed) = call(
        &ana,
        Method::GET,
        &format!("/api/v1/rooms/{}/invites", room.id),
        None,
    )
    .await;
    assert_eq!(
        listed["invites"],
        json!([]),
        "only working invites are listed"
    );

    let r = call(&cal, Method::POST, "/api/v1/invites/nonsense/accept", None).await;
    assert_eq!(gone(r), (404, Some("invite_not_found".to_owned())));
    assert_eq!(ana.api.room(room.id).await.unwrap().members_count, 2);
}

async fn invite_limits_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("club").await.unwrap();
    for (body, code) in [
        (json!({"expires_in_secs": 10}), "invalid_expiry"),
        (json!({"expires_in_secs": 400 * 86400}), "invalid_expiry"),
        (json!({"max_uses": 0}), "invalid_max_uses"),
        (json!({"max_uses": 10_001}), "invalid_max_uses"),
    ] {
        let (status, answer) = invite(&ana, room.id, body).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code))
        );
    }
    let (status, made) = invite(
        &ana,
        room.id,
        json!({"expires_in_secs": 3600, "max_uses": 5}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(made["max_uses"], 5);
    let dm = ana.api.open_dm(app.user("bob").await.id).await.unwrap();
    let (status, answer) = invite(&ana, dm.id, json!({})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (403, Some("dm_membership_fixed"))
    );
}

async fn public_rooms_are_listed_and_open_to_join(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bob = app.user("bob").await;
    let (status, open) = call(
        &ana,
        Method::POST,
        "/api/v1/rooms",
        Some(json!({"name": "Rust Lounge", "topic": "borrowck 100%", "visibility": "public"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(open["visibility"], "public");
    let secret = ana.api.create_room("Rust secrets").await.unwrap();
    assert_eq!(secret.visibility, confab::protocol::Visibility::Private);

    let (_, found) = call(&bob, Method::GET, "/api/v1/rooms/public?q=rust", None).await;
    assert_eq!(found["rooms"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["rooms"][0]["name"], "Rust Lounge");
    assert_eq!(found["rooms"][0]["members_count"], 1);
    assert_eq!(found["rooms"][0]["joined"], false);
    let (_, by_topic) = call(&bob, Method::GET, "/api/v1/rooms/public?q=100%25", None).await;
    assert_eq!(
        by_topic["rooms"].as_array().unwrap().len(),
        1,
        "% is matched literally"
    );
    let (_, none) = call(&bob, Method::GET, "/api/v1/rooms/public?q=python", None).await;
    assert_eq!(none["rooms"], json!([]));
    let r = app
        .api
        .call(Method::GET, "/api/v1/rooms/public", None)
        .await
        .unwrap();
    assert_eq!(r.0, 401, "the directory is for signed-in users");

    let open_id = open["id"].as_str().unwrap();
    let (status, joined) = call(
        &bob,
        Method::POST,
        &format!("/api/v1/rooms/{open_id}/join"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(joined["members_count"], 2);
    let (_, found) = call(&bob, Method::GET, "/api/v1/rooms/public", None).await;
    assert_eq!(found["rooms"][0]["joined"], true);
    let (status, body) = call(
        &bob,
        Method::POST,
        &format!("/api/v1/rooms/{}/join", secret.id),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("room_not_found"))
    );

    let path = format!("/api/v1/rooms/{}", secret.id);
    let (status, body) = call(
        &ana,
        Method::PATCH,
        &path,
        Some(json!({"visibility": "open"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_visibility"))
    );
    let (status, _) = call(
        &ana,
        Method::PATCH,
        &path,
        Some(json!({"visibility": "public"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&bob, Method::POST, &format!("{path}/join"), None).await;
    assert_eq!(status, 200);
}
