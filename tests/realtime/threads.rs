//! Threads over the WebSocket: replies sent with `message.send`, `thread.updated` on replies and
//! deletions, a resumed (or synced) session catching up on replies and summaries, and two nodes
//! sharing Redis.

use std::collections::HashMap;

use confab::protocol::api::{Message, SendMessageRequest, ThreadSummary};
use confab::protocol::ws::{ClientFrame, ServerFrame};
use confab::protocol::{MessageId, Seq};
use confab_testkit::Socket;

use crate::both_backends;
use crate::common::{Backend, Setup, redis_prefix, spawn_app};
use crate::{SOON, message_with};

both_backends!(
    thread_replies_and_summaries_reach_the_room,
    a_resumed_session_gets_missed_thread_replies_and_the_new_summary,
);

/// The summary of a `thread.updated` for `root`.
fn thread_update(root: MessageId) -> impl FnMut(&ServerFrame) -> Option<Option<ThreadSummary>> {
    move |f| match f {
        ServerFrame::ThreadUpdated {
            message_id, thread, ..
        } if *message_id == root => Some(thread.clone()),
        _ => None,
    }
}

async fn send_in_thread(s: &mut Socket, m: &Message, body: &str) -> Message {
    let ack = s
        .request(ClientFrame::MessageSend {
            room_id: m.room_id,
            message: SendMessageRequest {
                body: Some(body.to_owned()),
                thread_root: Some(m.id),
                ..Default::default()
            },
        })
        .await
        .unwrap();
    serde_json::from_value(ack["message"].clone()).unwrap()
}

async fn thread_replies_and_summaries_reach_the_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut sa = app.socket(&ana).await;
    let mut sb = app.socket(&bo).await;
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    sb.wait_for(SOON, "root", message_with(root.id))
        .await
        .unwrap();

    let r = send_in_thread(&mut sa, &root, "over the socket").await;
    assert_eq!(r.thread_root, Some(root.id));
    assert_eq!(r.seq, Seq(root.seq.0 + 1));
    let heard = sb
        .wait_for(SOON, "the reply", message_with(r.id))
        .await
        .unwrap();
    assert_eq!(heard.thread_root, Some(root.id));
    let summary = sb
        .wait_for(SOON, "thread.updated", thread_update(root.id))
        .await
        .unwrap()
        .expect("a thread");
    assert_eq!(summary.reply_count, 1);
    assert_eq!(summary.participant_ids, [ana.id]);
    assert_eq!(summary.last_reply_at, r.created_at);

    // A bad root is an error frame, and the session goes on.
    let err = sa
        .request(ClientFrame::MessageSend {
            room_id: room.id,
            message: SendMessageRequest {
                body: Some("x".into()),
                thread_root: Some(r.id),
                ..Default::default()
            },
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_thread_root"));

    sa.request(ClientFrame::MessageDelete { message_id: r.id })
        .await
        .unwrap();
    sb.wait_for(SOON, "message.deleted", |f| {
        matches!(f, ServerFrame::MessageDeleted { message_id, .. } if *message_id == r.id)
            .then_some(())
    })
    .await
    .unwrap();
    let summary = sb
        .wait_for(
            SOON,
            "thread.updated after the deletion",
            thread_update(root.id),
        )
        .await
        .unwrap();
    assert_eq!(summary, None, "no live reply left");
}

async fn a_resumed_session_gets_missed_thread_replies_and_the_new_summary(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    let first = bo
        .api
        .send_in_thread(room.id, root.id, "one")
        .await
        .unwrap();
    let missed = ana
        .api
        .send_in_thread(room.id, root.id, "two")
        .await
        .unwrap();
    let resume = HashMap::from([(room.id, first.seq)]);
    let mut sb = Socket::connect(&app.api.ws_url(), &bo.tokens.access_token, Some(resume))
        .await
        .unwrap();
    let got = sb
        .wait_for(SOON, "the missed reply", message_with(missed.id))
        .await
        .unwrap();
    assert_eq!(got.thread_root, Some(root.id));
    let summary = sb
        .wait_for(SOON, "the root's new summary", thread_update(root.id))
        .await
        .unwrap()
        .expect("a thread");
    assert_eq!(summary.reply_count, 2);
    assert_eq!(summary.participant_ids, [ana.id, bo.id]);

    // Sync replays them the same way.
    sb.request(ClientFrame::Sync {
        room_id: room.id,
        after_seq: root.seq,
    })
    .await
    .unwrap();
    let again = sb
        .wait_for(SOON, "synced reply", message_with(first.id))
        .await
        .unwrap();
    assert_eq!(again.thread_root, Some(root.id));
    sb.wait_for(SOON, "synced summary", thread_update(root.id))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_updates_cross_nodes() {
    let prefix = redis_prefix();
    let a = Setup::new(Backend::Postgres).redis(&prefix).start().await;
    let b = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .sharing(&a)
        .start()
        .await;
    let ana = a.user("ana").await;
    let bo = b.user("bo").await;
    let room = a.room_with(&ana, &[&bo]).await;
    let mut sa = a.socket(&ana).await;
    let mut sb = b.socket(&bo).await;
    let root = sa.send_text(room.id, "root on node a").await.unwrap();
    sb.wait_for(SOON, "root", message_with(root.id))
        .await
        .unwrap();

    let r = send_in_thread(&mut sb, &root, "reply on node b").await;
    let heard = sa
        .wait_for(SOON, "reply from node b", message_with(r.id))
        .await
        .unwrap();
    assert_eq!(heard.thread_root, Some(root.id));
    let summary = sa
        .wait_for(SOON, "thread.updated from node b", thread_update(root.id))
        .await
        .unwrap()
        .expect("a thread");
    assert_eq!(
        (summary.reply_count, summary.participant_ids),
        (1, vec![bo.id])
    );
}
