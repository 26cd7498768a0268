//! Revocation is immediate: a login that ends (logout, a reused refresh token, a password reset)
//! loses its open sockets at once and its access tokens stop working, on every node.

use confab::protocol::ws::ClientFrame;
use confab_testkit::{Api, Incoming, Socket};

use crate::SOON;
use crate::both_backends;
use crate::common::{Backend, Setup, TestApp, redis_prefix, spawn_app};

both_backends!(
    logout_closes_the_logins_sockets_and_refuses_its_token,
    a_reused_refresh_token_closes_the_sockets_of_the_whole_chain,
);

/// Waits for `socket` to be closed; returns the close code.
async fn closed(socket: &mut Socket) -> Option<u16> {
    let events = socket.drain(SOON).await;
    events.iter().find_map(|i| match i {
        Incoming::Closed { code, .. } => Some(code.unwrap_or(0)),
        _ => None,
    })
}

async fn me_code(app: &TestApp, token: &str) -> (u16, String) {
    let (status, body) = Api::new(&format!("http://{}", app.addr))
        .as_user(token)
        .call(reqwest::Method::GET, "/api/v1/me", None)
        .await
        .unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

async fn logout_closes_the_logins_sockets_and_refuses_its_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let other = app
        .api
        .login(&ana.name, "correct horse battery")
        .await
        .unwrap();
    let mut first = app.socket(&ana).await;
    let mut second = Socket::connect(&app.api.ws_url(), &other.access_token, None)
        .await
        .unwrap();
    let (status, _) = app
        .api
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&serde_json::json!({"refresh_token": ana.tokens.refresh_token})),
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(
        closed(&mut first).await,
        Some(4001),
        "the login's socket closes at once"
    );
    assert_eq!(
        me_code(&app, &ana.tokens.access_token).await,
        (401, "token_revoked".to_owned())
    );
    // The user's other login goes on.
    second.request(ClientFrame::Ping).await.unwrap();
    assert_eq!(me_code(&app, &other.access_token).await.0, 200);
    // A fresh socket with the revoked token is refused too.
    let refused = Socket::connect(&app.api.ws_url(), &ana.tokens.access_token, None).await;
    assert!(refused.is_err());
}

async fn a_reused_refresh_token_closes_the_sockets_of_the_whole_chain(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let next = app.api.refresh(&ana.tokens.refresh_token).await.unwrap();
    let mut old = app.socket(&ana).await;
    let mut new = Socket::connect(&app.api.ws_url(), &next.access_token, None)
        .await
        .unwrap();
    let reused = app
        .api
        .refresh(&ana.tokens.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Some("refresh_token_reused"));
    assert_eq!(closed(&mut old).await, Some(4001));
    assert_eq!(closed(&mut new).await, Some(4001));
    for token in [&ana.tokens.access_token, &next.access_token] {
        assert_eq!(
            me_code(&app, token).await,
            (401, "token_revoked".to_owned())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_node_closes_the_sockets_on_another() {
    let prefix = redis_prefix();
    let a = Setup::new(Backend::Postgres).redis(&prefix).start().await;
    let b = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .sharing(&a)
        .start()
        .await;
    let ana = a.user("ana").await;
    let mut on_b = b.socket(&ana).await;
    a.api
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&serde_json::json!({"refresh_token": ana.tokens.refresh_token})),
        )
        .await
        .unwrap();
    assert_eq!(closed(&mut on_b).await, Some(4001));
    assert_eq!(
        me_code(&b, &ana.tokens.access_token).await,
        (401, "token_revoked".to_owned())
    );
    // A node that starts afterwards knows too.
    let c = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .sharing(&a)
        .start()
        .await;
    assert_eq!(
        me_code(&c, &ana.tokens.access_token).await,
        (401, "token_revoked".to_owned())
    );
}
