//! Bad input of every kind gets a status and `{"error":{"code","message"}}`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{Backend, spawn_app};

both_backends!(bad_requests_get_json_errors_with_codes);

async fn raw(
    app: &crate::common::TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("http://{}{path}", app.addr))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn bad_requests_get_json_errors_with_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("hana").await;
    let token = user.tokens.access_token.as_str();
    let json_ct = "application/json";
    type Case<'a> = (Method, String, &'a str, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/api/v1/rooms".into(),
            json_ct,
            b"{not json".to_vec(),
            400,
            "invalid_json",
        ),
        (
            Method::POST,
            "/api/v1/rooms".into(),
            json_ct,
            b"{}".to_vec(),
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/api/v1/rooms".into(),
            json_ct,
            br#"{"name": 5}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/api/v1/rooms".into(),
            "text/plain",
            br#"{"name":"x"}"#.to_vec(),
            400,
            "unsupported_media_type",
        ),
        (
            Method::POST,
            "/api/v1/rooms".into(),
            json_ct,
            json!({"name": "x", "topic": "t".repeat(70 * 1024)})
                .to_string()
                .into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            Method::GET,
            "/api/v1/rooms/not-a-uuid".into(),
            json_ct,
            vec![],
            400,
            "invalid_id",
        ),
        (
            Method::GET,
            format!("/api/v1/rooms/{}", uuid::Uuid::new_v4()),
            json_ct,
            vec![],
            404,
            "room_not_found",
        ),
        (
            Method::PATCH,
            format!("/api/v1/messages/{}", uuid::Uuid::new_v4()),
            json_ct,
            br#"{"body":"x"}"#.to_vec(),
            404,
            "message_not_found",
        ),
        (
            Method::GET,
            "/api/v1/rooms/00000000-0000-0000-0000-000000000000/messages?limit=abc".into(),
            json_ct,
            vec![],
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/v1/nothing-here".into(),
            json_ct,
            vec![],
            404,
            "route_not_found",
        ),
        (
            Method::PUT,
            "/api/v1/rooms".into(),
            json_ct,
            vec![],
            405,
            "method_not_allowed",
        ),
    ];
    for (method, path, ct, body, status, code) in cases {
        let (got, answer) = raw(&app, method.clone(), &path, Some(token), ct, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{method} {path} has no message: {answer}"
        );
    }
}
