//! Throttles: failed logins per account and per address (with exponential delays), registrations
//! per address, and the send rate over HTTP. Addresses come from the connection, or from
//! `X-Forwarded-For` when the connection is a trusted proxy (the tests' own: loopback).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Backend, Setup, TestApp};

/// A request through the "proxy" on behalf of client `from`: status, body, `Retry-After`.
async fn post(app: &TestApp, from: &str, path: &str, body: Value) -> (u16, Value, Option<String>) {
    let r = reqwest::Client::new()
        .post(format!("http://{}{path}", app.addr))
        .header("x-forwarded-for", format!("192.0.2.99, {from}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, r.json().await.unwrap_or(Value::Null), retry)
}

async fn login(
    app: &TestApp,
    from: &str,
    user: &str,
    password: &str,
) -> (u16, Value, Option<String>) {
    post(
        app,
        from,
        "/api/v1/auth/login",
        json!({"username": user, "password": password}),
    )
    .await
}

fn retry_after_ms(body: &Value) -> u64 {
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    body["error"]["retry_after_ms"].as_u64().unwrap()
}

fn proxied(c: &mut confab::config::Config) {
    c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
}

#[tokio::test]
async fn failed_logins_slow_an_account_down_but_never_its_owner_at_home() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| {
            proxied(c);
            c.login_failures_per_account = 3;
            c.login_delay_ms = 300;
        })
        .start()
        .await;
    let home = "198.51.100.7";
    let (status, ..) = post(
        &app,
        home,
        "/api/v1/auth/register",
        json!({"username": "ana", "password": "right-password"}),
    )
    .await;
    assert_eq!(status, 201);
    // An attacker spreads guesses over addresses.
    for i in 1..=3 {
        let (status, ..) = login(&app, &format!("203.0.113.{i}"), "ana", "guess").await;
        assert_eq!(status, 401);
    }
    let (status, body, retry) = login(&app, "203.0.113.4", "ana", "right-password").await;
    assert_eq!(status, 429, "{body}");
    let first = retry_after_ms(&body);
    assert!(first > 0 && first <= 300, "{first}");
    assert_eq!(retry.as_deref(), Some("1"));
    // Ana, from where she signs in, is not locked out.
    let (status, ..) = login(&app, home, "ana", "right-password").await;
    assert_eq!(status, 200);
    // Her success does not reset the attacker's count; each further failure doubles the delay.
    tokio::time::sleep(Duration::from_millis(first)).await;
    let (status, ..) = login(&app, "203.0.113.5", "ana", "guess").await;
    assert_eq!(status, 401);
    let (status, body, _) = login(&app, "203.0.113.6", "ana", "guess").await;
    assert_eq!(status, 429);
    let second = retry_after_ms(&body);
    assert!(second > first && second <= 600, "{first} then {second}");
}

#[tokio::test]
async fn failed_logins_slow_an_address_down_whatever_the_accounts() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| {
            proxied(c);
            c.login_failures_per_address = 4;
            c.login_delay_ms = 1000;
        })
        .start()
        .await;
    for i in 0..4 {
        let (status, ..) = login(&app, "203.0.113.9", &format!("nobody{i}"), "guess").await;
        assert_eq!(status, 401);
    }
    let (status, body, _) = login(&app, "203.0.113.9", "someone", "guess").await;
    assert_eq!(status, 429);
    retry_after_ms(&body);
    let (status, ..) = login(&app, "203.0.113.10", "someone", "guess").await;
    assert_eq!(status, 401, "another address is not slowed down");
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| {
            c.login_failures_per_address = 2;
            c.login_delay_ms = 1000;
        })
        .start()
        .await;
    for i in 0..2 {
        let (status, ..) = login(&app, &format!("203.0.113.{i}"), "nobody", "guess").await;
        assert_eq!(status, 401);
    }
    let (status, ..) = login(&app, "203.0.113.77", "nobody", "guess").await;
    assert_eq!(status, 429, "a client cannot pick its own address");
}

#[tokio::test]
async fn registrations_are_limited_per_address_and_hour() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| {
            proxied(c);
            c.registrations_per_hour = 2;
        })
        .start()
        .await;
    let register = |from: &'static str, name: &'static str| {
        post(
            &app,
            from,
            "/api/v1/auth/register",
            json!({"username": name, "password": "password-1"}),
        )
    };
    assert_eq!(register("203.0.113.20", "one").await.0, 201);
    assert_eq!(register("203.0.113.20", "two").await.0, 201);
    let (status, body, _) = register("203.0.113.20", "three").await;
    assert_eq!(status, 429);
    let wait = retry_after_ms(&body);
    assert!(wait > 3_500_000 && wait <= 3_600_000, "{wait}");
    assert_eq!(register("203.0.113.21", "four").await.0, 201);
}

#[tokio::test]
async fn http_sends_share_the_per_user_send_rate() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| {
            c.send_burst = 5;
            c.send_rate = 1;
        })
        .start()
        .await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("fast").await.unwrap();
    let mut socket = app.socket(&ana).await;
    for i in 0..3 {
        ana.api
            .send_text(room.id, &format!("http {i}"))
            .await
            .unwrap();
        socket.send_text(room.id, &format!("ws {i}")).await.ok();
    }
    let (status, body) = ana
        .api
        .call(
            Method::POST,
            &format!("/api/v1/rooms/{}/messages", room.id),
            Some(&json!({"body": "one too many"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 429, "{body}");
    let wait = retry_after_ms(&body);
    assert!(wait > 0 && wait <= 1000, "{wait}");
}
