//! Session lifecycle and the rules every frame goes through.

use std::time::Duration;

use confab::protocol::ws::{ClientFrame, ServerFrame};
use confab_testkit::{Incoming, Socket};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::common::{Backend, Setup, spawn_app};

async fn raw_socket(
    app: &crate::common::TestApp,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(app.api.ws_url())
        .await
        .unwrap()
        .0
}

/// Reads until the close frame; returns its code.
async fn close_code(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    within: Duration,
) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(WsMessage::Close(Some(f))))) => return Some(u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn the_first_frame_must_be_a_valid_auth() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut ws = raw_socket(&app).await;
    ws.send(WsMessage::Text(r#"{"type":"ping","id":"1"}"#.into()))
        .await
        .unwrap();
    let Some(Ok(WsMessage::Text(t))) = ws.next().await else {
        panic!("expected an error frame")
    };
    assert!(
        t.contains(r#""type":"error""#) && t.contains("unauthenticated"),
        "{t}"
    );
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(4001)
    );

    let mut ws = raw_socket(&app).await;
    ws.send(WsMessage::Text(
        r#"{"type":"auth","id":"a","token":"nope"}"#.into(),
    ))
    .await
    .unwrap();
    let Some(Ok(WsMessage::Text(t))) = ws.next().await else {
        panic!("expected an error frame")
    };
    assert!(
        t.contains("invalid_token") && t.contains(r#""id":"a""#),
        "{t}"
    );
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(4001)
    );
}

#[tokio::test]
async fn a_socket_that_never_authenticates_is_closed_after_ten_seconds() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut ws = raw_socket(&app).await;
    let started = tokio::time::Instant::now();
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(15)).await,
        Some(4001)
    );
    assert!(started.elapsed() >= Duration::from_secs(9));
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_session_stays_usable() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let mut s = app.socket(&ana).await;
    let cases = [
        ("not json", "invalid_json"),
        ("[1,2]", "invalid_frame"),
        (r#"{"id":"1"}"#, "invalid_frame"),
        (r#"{"type":"dance","id":"2"}"#, "unknown_type"),
        (r#"{"type":"message.send","id":"3"}"#, "invalid_frame"),
        (
            r#"{"type":"read","id":"4","room_id":"nope","seq":1}"#,
            "invalid_frame",
        ),
        (
            r#"{"type":"typing","id":"5","room_id":"00000000-0000-0000-0000-000000000000","active":"yes"}"#,
            "invalid_frame",
        ),
        (
            r#"{"type":"message.send","id":"6","room_id":"00000000-0000-0000-0000-000000000000","body":"x"}"#,
            "room_not_found",
        ),
    ];
    for (frame, code) in cases {
        s.send_raw(frame).await.unwrap();
        let got = s
            .wait_for(crate::SOON, "error", |f| match f {
                ServerFrame::Error { code, message, .. } => Some((code.clone(), message.clone())),
                _ => None,
            })
            .await
            .unwrap();
        assert_eq!(got.0, code, "{frame}: {}", got.1);
        assert!(!got.1.is_empty());
    }
    let pong = s.request(ClientFrame::Ping).await.unwrap();
    assert!(pong.is_empty());
}

#[tokio::test]
async fn frames_over_64_kib_close_the_socket_with_1009() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let ws = confab_testkit::websocket(&app.api.ws_url(), tcp)
        .await
        .unwrap();
    let mut s = Socket::authenticate(ws, &ana.tokens.access_token, None)
        .await
        .unwrap();
    let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(70 * 1024));
    let _ = s.send_raw(&big).await;
    let closed = s.drain(Duration::from_secs(5)).await;
    assert!(
        closed.iter().any(|i| matches!(
            i,
            Incoming::Closed {
                code: Some(1009),
                ..
            }
        )),
        "{closed:?}"
    );
}

#[tokio::test]
async fn a_frame_over_64_kib_before_auth_closes_with_1009() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut ws = raw_socket(&app).await;
    let big = format!(r#"{{"type":"auth","token":"{}"}}"#, "x".repeat(70 * 1024));
    let _ = ws.send(WsMessage::Text(big.into())).await;
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(1009)
    );
}

#[tokio::test]
async fn sends_are_rate_limited_without_closing_the_session() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| {
            c.send_burst = 20;
            c.send_rate = 10;
        })
        .start()
        .await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("fast").await.unwrap();
    let mut s = app.socket(&ana).await;
    // Thirty sends at once, without waiting for answers.
    for i in 0..30 {
        s.send_raw(&format!(
            r#"{{"type":"message.send","id":"s{i}","room_id":"{}","body":"m{i}"}}"#,
            room.id
        ))
        .await
        .unwrap();
    }
    let (mut acked, mut limited, mut wait) = (0, 0, 0);
    while acked + limited < 30 {
        match s
            .wait_for(crate::SOON, "answers", |f| match f {
                ServerFrame::Ack { .. } => Some(None),
                ServerFrame::Error {
                    code,
                    retry_after_ms,
                    ..
                } if code == "rate_limited" => Some(*retry_after_ms),
                _ => None,
            })
            .await
            .unwrap()
        {
            None => acked += 1,
            Some(ms) => {
                limited += 1;
                wait = ms;
            }
        }
    }
    // A burst of 20, plus what refilled at 10/s while the first ones were stored.
    assert!((20..=25).contains(&acked), "{acked} acked");
    assert!(wait > 0 && wait <= 100, "retry_after_ms {wait}");
    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    s.send_text(room.id, "after waiting")
        .await
        .expect("the session is still open");
}

#[tokio::test]
async fn shutdown_closes_sessions_with_4009() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let mut s = app.socket(&ana).await;
    let stopping = tokio::spawn(app.stop());
    let events = s.drain(Duration::from_secs(10)).await;
    assert!(
        events.iter().any(|i| matches!(
            i,
            Incoming::Closed {
                code: Some(4009),
                ..
            }
        )),
        "{events:?}"
    );
    stopping.await.unwrap();
}

#[tokio::test]
async fn an_expired_token_ends_the_session_unless_renewed() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| c.access_token_ttl_secs = 10)
        .start()
        .await;
    let ana = app.user("ana").await;
    let mut renewed = app.socket(&ana).await;
    let mut lapsed = app.socket(&ana).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let fresh = app.api.refresh(&ana.tokens.refresh_token).await.unwrap();
    renewed
        .request(ClientFrame::Auth {
            token: fresh.access_token,
            resume: None,
            accepts: Vec::new(),
        })
        .await
        .unwrap();
    let ended = lapsed.drain(Duration::from_secs(10)).await;
    assert!(
        ended.iter().any(|i| matches!(
            i,
            Incoming::Closed {
                code: Some(4001),
                ..
            }
        )),
        "{ended:?}"
    );
    renewed
        .request(ClientFrame::Ping)
        .await
        .expect("the renewed session lives on");
}

/// SDP-shaped text: lines an answer has, shuffled, repeated, cut or filled with junk.
fn sdp_like() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let line = prop_oneof![
        Just("v=0".to_owned()),
        Just("o=- 1 2 IN IP4 127.0.0.1".to_owned()),
        Just("s=-".to_owned()),
        Just("t=0 0".to_owned()),
        Just("a=group:BUNDLE 0 1".to_owned()),
        "m=audio [0-9]{1,6} UDP/TLS/RTP/SAVPF [0-9 ]{0,12}",
        Just("c=IN IP4 0.0.0.0".to_owned()),
        "a=mid:[0-9a-z]{0,3}",
        "a=ice-ufrag:[a-zA-Z0-9]{0,8}",
        "a=ice-pwd:[a-zA-Z0-9]{0,24}",
        "a=fingerprint:sha-256 [0-9A-F:]{0,95}",
        "a=setup:(active|passive|actpass|x)",
        "a=rtpmap:[0-9]{1,3} opus/48000/2",
        "a=(sendrecv|recvonly|sendonly|inactive)",
        "a=msid:.{0,20}",
        ".{0,60}",
    ];
    prop::collection::vec(line, 0..24).prop_map(|lines| lines.join("\r\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_frames_and_sdp_answers_get_error_frames_and_the_session_lives() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("fuzz").await.unwrap();
    let mut s = app.socket(&ana).await;
    s.request(ClientFrame::VoiceJoin { room_id: room.id })
        .await
        .unwrap();
    let mut runner = TestRunner::deterministic();
    let junk = proptest::string::string_regex(".{0,300}").unwrap();
    for case in 0..150 {
        let sdp = sdp_like().new_tree(&mut runner).unwrap().current();
        let frame = serde_json::json!({
            "type": "voice.answer", "id": format!("a{case}"), "room_id": room.id, "sdp": sdp,
        });
        s.send_raw(&frame.to_string()).await.unwrap();
        let raw = junk.new_tree(&mut runner).unwrap().current();
        s.send_raw(&raw).await.unwrap();
        // Each answered (an error frame, or an ack for an answer that happened to be acceptable),
        // and the session still serves requests.
        let answered = s
            .wait_for(crate::SOON, "an answer to the SDP", |f| match f {
                ServerFrame::Ack { id, .. } if id == &format!("a{case}") => Some(None),
                ServerFrame::Error {
                    id: Some(id), code, ..
                } if id == &format!("a{case}") => Some(Some(code.clone())),
                _ => None,
            })
            .await
            .unwrap();
        if let Some(code) = answered {
            assert!(
                [
                    "invalid_sdp",
                    "no_offer_pending",
                    "not_in_call",
                    "invalid_frame"
                ]
                .contains(&code.as_str()),
                "{code} for {sdp:?}"
            );
        }
        s.request(ClientFrame::Ping)
            .await
            .unwrap_or_else(|e| panic!("after {raw:?}: {e}"));
    }
}
