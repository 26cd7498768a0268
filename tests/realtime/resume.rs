//! Resume and sync: no gap, no duplicate; slow consumers are cut off without slowing others.

use std::collections::HashMap;
use std::time::Duration;

use confab::protocol::Seq;
use confab::protocol::ws::{ClientFrame, ServerFrame};
use confab_testkit::{Incoming, Socket};

use crate::both_backends;
use crate::common::{Backend, Setup, spawn_app};
use crate::{SOON, new_message};

both_backends!(
    a_resumed_client_gets_exactly_what_it_missed,
    sync_replays_then_reports_the_newest_seq,
    sync_past_the_end_acks_the_rooms_newest_seq,
);

async fn a_resumed_client_gets_exactly_what_it_missed(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut b = app.socket(&bo).await;
    let first = ana.api.send_text(room.id, "seen").await.unwrap();
    assert_eq!(
        b.wait_for(SOON, "first", new_message).await.unwrap().seq,
        first.seq
    );
    b.close().await;

    // 500 messages while bo is away, the last ones racing with the reconnect.
    let api = ana.api.clone();
    let sender = tokio::spawn(async move {
        for i in 0..500 {
            api.send_text(room.id, &format!("missed {i}"))
                .await
                .unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resume = HashMap::from([(room.id, first.seq)]);
    let mut b = Socket::connect(&app.api.ws_url(), &bo.tokens.access_token, Some(resume))
        .await
        .unwrap();
    sender.await.unwrap();
    let mut got = Vec::new();
    while got.len() < 500 {
        let m = b
            .wait_for(Duration::from_secs(20), "missed messages", new_message)
            .await
            .unwrap_or_else(|e| panic!("after {} messages: {e}", got.len()));
        got.push(m.seq.0);
    }
    assert_eq!(
        got,
        (2..=501).collect::<Vec<i64>>(),
        "in order, no gap, no duplicate"
    );
    let extra = b.drain(Duration::from_millis(500)).await;
    assert!(
        !extra
            .iter()
            .any(|i| matches!(i, Incoming::Frame(f) if new_message(f).is_some())),
        "{extra:?}"
    );
}

async fn sync_replays_then_reports_the_newest_seq(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    for i in 0..5 {
        ana.api.send_text(room.id, &format!("m{i}")).await.unwrap();
    }
    let mut s = app.socket(&ana).await;
    let ack = s
        .request(ClientFrame::Sync {
            room_id: room.id,
            after_seq: Seq(2),
        })
        .await
        .unwrap();
    assert_eq!(ack["last_seq"], 5);
    assert_eq!(ack["room_id"], serde_json::json!(room.id));
    // The replay came before the ack, so it is all waiting already.
    let replayed: Vec<i64> = s
        .drain(Duration::from_millis(300))
        .await
        .iter()
        .filter_map(|i| match i {
            Incoming::Frame(f) => new_message(f).map(|m| m.seq.0),
            _ => None,
        })
        .collect();
    assert_eq!(replayed, [3, 4, 5]);
    let other = ana.api.create_room("other").await.unwrap();
    let outsider = app.user("eve").await;
    let mut e = app.socket(&outsider).await;
    let denied = e
        .request(ClientFrame::Sync {
            room_id: other.id,
            after_seq: Seq(0),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("room_not_found"));
}

#[tokio::test]
async fn a_slow_reader_is_cut_off_while_the_room_keeps_up() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| {
            c.session_queue = 16;
        })
        .start()
        .await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let slow = app.user("slow").await;
    let room = app.room_with(&ana, &[&bo, &slow]).await;
    let mut b = app.socket(&bo).await;

    // A reader with a tiny receive buffer that never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(app.addr).await.unwrap();
    let ws = confab_testkit::websocket(&app.api.ws_url(), stream)
        .await
        .unwrap();
    let mut laggard = Socket::authenticate(ws, &slow.tokens.access_token, None)
        .await
        .unwrap();

    // Bigger than the server's per-socket send buffer plus the session queue.
    let body = "x".repeat(3900);
    for i in 0..400 {
        let m = ana
            .api
            .send_text(room.id, &format!("{i} {body}"))
            .await
            .unwrap();
        let got = b
            .wait_for(
                Duration::from_secs(1),
                "message within a second",
                new_message,
            )
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(got.id, m.id);
    }
    // Now read the laggard to its end: it was closed as a slow consumer.
    let rest = laggard.drain(Duration::from_secs(10)).await;
    let closed = rest.iter().find_map(|i| match i {
        Incoming::Closed { code, .. } => Some(*code),
        _ => None,
    });
    assert_eq!(
        closed,
        Some(Some(4008)),
        "got {} frames, then {closed:?}",
        rest.len()
    );
    let _ = ServerFrame::Ack {
        id: String::new(),
        result: Default::default(),
    };
}

async fn sync_past_the_end_acks_the_rooms_newest_seq(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    for i in 0..3 {
        ana.api.send_text(room.id, &format!("m{i}")).await.unwrap();
    }
    let mut s = app.socket(&ana).await;
    let ack = s
        .request(ClientFrame::Sync {
            room_id: room.id,
            after_seq: Seq(i64::MAX / 2),
        })
        .await
        .unwrap();
    assert_eq!(
        ack["last_seq"], 3,
        "the room's newest, not the client's number"
    );
}
