//! Messages, edits, deletes and receipts flow live to every session of every member.

use std::time::Duration;

use confab::protocol::Seq;
use confab::protocol::api::{EditMessageRequest, ReadRequest, SendMessageRequest};
use confab::protocol::ws::{ClientFrame, ServerFrame};
use reqwest::Method;
use serde_json::Value;

use crate::both_backends;
use crate::common::{Backend, spawn_app};
use crate::{SOON, message_with, new_message};

both_backends!(
    two_users_chat_both_ways_and_every_session_hears_it,
    http_posts_edits_and_deletes_are_delivered_live,
    the_socket_follows_the_same_rules_as_http,
    receipts_move_forward_and_reach_the_room,
);

async fn two_users_chat_both_ways_and_every_session_hears_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut ana1 = app.socket(&ana).await;
    let mut ana2 = app.socket(&ana).await;
    let mut bo1 = app.socket(&bo).await;

    let sent = ana1.send_text(room.id, "hello bo").await.unwrap();
    assert_eq!(sent.seq, Seq(1));
    // Acknowledged means stored.
    assert_eq!(
        bo.api.history(room.id, "").await.unwrap().messages[0].id,
        sent.id
    );
    let got = bo1
        .wait_for(SOON, "message.new", new_message)
        .await
        .unwrap();
    assert_eq!(got, sent);
    let other_tab = ana2
        .wait_for(SOON, "message.new", new_message)
        .await
        .unwrap();
    assert_eq!(other_tab.id, sent.id);

    // The sender's own sessions hear their message too (clients drop it by id or seq).
    let echo = ana1
        .wait_for(SOON, "own message.new", new_message)
        .await
        .unwrap();
    assert_eq!(echo.id, sent.id);
    let answer = bo1.send_text(room.id, "hi ana").await.unwrap();
    let got = ana1
        .wait_for(SOON, "message.new", message_with(answer.id))
        .await
        .unwrap();
    assert_eq!(
        (got.id, got.body.as_str(), got.seq),
        (answer.id, "hi ana", Seq(2))
    );
}

async fn http_posts_edits_and_deletes_are_delivered_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut bo1 = app.socket(&bo).await;
    let m = ana.api.send_text(room.id, "via http").await.unwrap();
    assert_eq!(
        bo1.wait_for(SOON, "message.new", new_message)
            .await
            .unwrap()
            .id,
        m.id
    );

    let path = format!("/api/v1/messages/{}", m.id);
    ana.api
        .call(
            Method::PATCH,
            &path,
            Some(&serde_json::json!({"body": "edited"})),
        )
        .await
        .unwrap();
    let edited = bo1
        .wait_for(SOON, "message.edited", |f| match f {
            ServerFrame::MessageEdited { message } => Some(message.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!((edited.id, edited.body.as_str()), (m.id, "edited"));
    assert!(edited.edited_at.is_some());

    ana.api.call(Method::DELETE, &path, None).await.unwrap();
    let deleted = bo1
        .wait_for(SOON, "message.deleted", |f| match f {
            ServerFrame::MessageDeleted {
                room_id,
                message_id,
                seq,
            } => Some((*room_id, *message_id, *seq)),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(deleted, (room.id, m.id, m.seq));
}

async fn the_socket_follows_the_same_rules_as_http(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut a = app.socket(&ana).await;
    let mut b = app.socket(&bo).await;
    let first = a
        .send_message(room.id, "idempotent", Some("k-1"))
        .await
        .unwrap();
    let again = a
        .send_message(room.id, "idempotent", Some("k-1"))
        .await
        .unwrap();
    assert_eq!(first, again);
    let reply = a
        .request(ClientFrame::MessageSend {
            room_id: room.id,
            message: SendMessageRequest {
                body: Some("re".into()),
                reply_to: Some(first.id),
                ..SendMessageRequest::default()
            },
        })
        .await
        .unwrap();
    assert_eq!(
        reply["message"]["reply_to"]["id"],
        serde_json::json!(first.id)
    );
    let edit = b
        .request(ClientFrame::MessageEdit {
            message_id: first.id,
            edit: EditMessageRequest {
                body: "mine now".into(),
            },
        })
        .await
        .unwrap_err();
    assert_eq!(edit.code(), Some("not_author"));
    let edited = a
        .request(ClientFrame::MessageEdit {
            message_id: first.id,
            edit: EditMessageRequest {
                body: "better".into(),
            },
        })
        .await
        .unwrap();
    assert_eq!(edited["message"]["body"], "better");
    let del = b
        .request(ClientFrame::MessageDelete {
            message_id: first.id,
        })
        .await
        .unwrap_err();
    assert_eq!(del.code(), Some("not_allowed"));
    a.request(ClientFrame::MessageDelete {
        message_id: first.id,
    })
    .await
    .unwrap();
    let too_long = a.send_text(room.id, &"x".repeat(4001)).await.unwrap_err();
    assert_eq!(too_long.code(), Some("body_too_long"));
    // Exactly one message and one reply were stored.
    let page = ana.api.history(room.id, "").await.unwrap();
    assert_eq!(page.messages.len(), 2);
    let _ = SendMessageRequest::default();
}

async fn receipts_move_forward_and_reach_the_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut a = app.socket(&ana).await;
    let mut b = app.socket(&bo).await;
    for i in 0..3 {
        a.send_text(room.id, &format!("m{i}")).await.unwrap();
    }
    b.request(ClientFrame::Read {
        room_id: room.id,
        read: ReadRequest { seq: Seq(2) },
    })
    .await
    .unwrap();
    let receipt = a
        .wait_for(SOON, "receipt", |f| match f {
            ServerFrame::Receipt {
                room_id,
                user_id,
                seq,
            } if *user_id == bo.id => Some((*room_id, *seq)),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(receipt, (room.id, Seq(2)));
    // Backwards is accepted but changes nothing and tells no one.
    b.request(ClientFrame::Read {
        room_id: room.id,
        read: ReadRequest { seq: Seq(1) },
    })
    .await
    .unwrap();
    let quiet = a.drain(Duration::from_millis(500)).await;
    assert!(
        !quiet.iter().any(|i| matches!(i, confab_testkit::Incoming::Frame(f) if matches!(**f, ServerFrame::Receipt { .. }))),
        "{quiet:?}"
    );
    assert_eq!(bo.api.room(room.id).await.unwrap().last_read_seq, Seq(2));
    let _: Option<Value> = None;
}

/// While a send waits for the store, its session keeps writing what the room says: a sender
/// under load must not stop draining its queue (and be closed as a slow consumer for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_hears_the_room_while_its_own_send_waits_for_the_store() {
    use confab::config::DatabaseUrl;

    let app = spawn_app(Backend::Postgres).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut ana_ws = app.socket(&ana).await;
    let mut bo_ws = app.socket(&bo).await;

    // Hold the messages table, so that ana's send waits on its insert.
    let Some(DatabaseUrl::Postgres(url)) = app.config.database_url.clone() else {
        panic!("the Postgres backend has a Postgres URL");
    };
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let mut lock = db.begin().await.unwrap();
    sqlx::query("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let send = serde_json::json!({
        "type": "message.send", "id": "held", "room_id": room.id, "body": "waiting on the store",
    });
    ana_ws.send_raw(&send.to_string()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Bo starts typing: ana hears it although her send is not yet acknowledged.
    bo_ws
        .request(ClientFrame::Typing {
            room_id: room.id,
            active: true,
        })
        .await
        .unwrap();
    let mut acked_early = false;
    ana_ws
        .wait_for(SOON, "bo typing", |f| match f {
            ServerFrame::Ack { id, .. } if id == "held" => {
                acked_early = true;
                None
            }
            ServerFrame::Typing { user_id, .. } if *user_id == bo.id => Some(()),
            _ => None,
        })
        .await
        .unwrap();
    assert!(
        !acked_early,
        "the send cannot be acknowledged while the table is held"
    );

    // Released, the send completes, is acknowledged and reaches both.
    lock.rollback().await.unwrap();
    ana_ws
        .wait_for(SOON, "the held send's ack", |f| match f {
            ServerFrame::Ack { id, .. } if id == "held" => Some(()),
            _ => None,
        })
        .await
        .unwrap();
    let got = bo_ws
        .wait_for(SOON, "message.new", new_message)
        .await
        .unwrap();
    assert_eq!(got.body, "waiting on the store");
}
