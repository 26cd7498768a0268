//! Connections that hold the server without using it are cut off: headers or bodies trickled
//! byte by byte, idle keep-alives, and a pile of unauthenticated connections from one address.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Backend, Setup, TestApp};

async fn app() -> TestApp {
    Setup::new(Backend::Sqlite)
        .tweak(|c| {
            c.header_timeout_secs = 1;
            c.idle_timeout_secs = 1;
            c.body_timeout_secs = 1;
        })
        .start()
        .await
}

/// One request on `tcp`: the head of the answer.
async fn get(tcp: &mut TcpStream, request: &str) -> String {
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Reads until the server closes the connection (or `within` passes): what it sent, and how
/// long it took; `None` if it was still open.
async fn until_closed(tcp: &mut TcpStream, within: Duration) -> Option<(String, Duration)> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((
                    String::from_utf8_lossy(&got).into_owned(),
                    started.elapsed(),
                ));
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn trickled_headers_are_cut_off() {
    let app = app().await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = async {
        for i in 0..30 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if tcp
                .write_all(format!("X-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    trickle.await;
    let closed = until_closed(&mut tcp, Duration::from_secs(1)).await;
    assert!(closed.is_some(), "still open after 6 s of trickled headers");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let app = app().await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let (_, after) = until_closed(&mut tcp, Duration::from_secs(5))
        .await
        .expect("the idle connection is closed");
    assert!(after >= Duration::from_millis(500), "{after:?}");
}

#[tokio::test]
async fn trickled_bodies_are_answered_408() {
    let app = app().await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n{\"username\":",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(6) {
        let _ = tcp.write_all(b" ").await;
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(300), tcp.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test]
async fn unauthenticated_connections_are_capped_per_address() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| c.unauthenticated_connections_per_address = 3)
        .start()
        .await;
    let ana = app.user("ana").await;
    // (The test's own HTTP client may keep one unauthenticated connection in its pool.)
    let mut held = Vec::new();
    let refused_at = loop {
        assert!(held.len() < 4, "four unauthenticated connections were kept");
        let mut tcp = TcpStream::connect(app.addr).await.unwrap();
        let _ = tcp
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let mut buf = [0u8; 4096];
        match tcp.read(&mut buf).await {
            Ok(n) if String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200") => {
                held.push(tcp)
            }
            _ => break held.len(),
        }
    };
    assert!(refused_at >= 2, "refused after {refused_at}");
    // One of them signs in: it no longer counts, and there is room again.
    let me = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        ana.tokens.access_token
    );
    let head = get(&mut held[0], &me).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut next = TcpStream::connect(app.addr).await.unwrap();
    let head = get(&mut next, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}
