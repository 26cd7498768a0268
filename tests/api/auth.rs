use confab_testkit::ClientError;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::common::{Backend, spawn_app};

both_backends!(
    registering_signs_in_and_me_answers,
    usernames_are_unique_whatever_their_case,
    registration_rules_are_enforced,
    login_ignores_case_and_refuses_wrong_passwords_alike,
    refresh_rotates_and_a_reused_token_revokes_the_chain,
    logout_revokes_the_login,
    expired_and_forged_access_tokens_are_refused,
    expired_refresh_tokens_are_refused_and_purged,
    display_names_that_impersonate_are_refused,
);

fn code(r: Result<impl std::fmt::Debug, ClientError>) -> String {
    match r {
        Err(e) => e.code().unwrap_or("no code").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

async fn registering_signs_in_and_me_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app
        .api
        .call(
            Method::POST,
            "/api/v1/auth/register",
            Some(&json!({"username": "Ana.Maria", "password": "s3cret-pass", "display_name": "  Ana  "})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(body["user"]["username"], "Ana.Maria");
    assert_eq!(body["user"]["display_name"], "Ana");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();
    let me = app.api.as_user(token).me().await.unwrap();
    assert_eq!(me.username, "Ana.Maria");
    assert_eq!(serde_json::to_value(&me).unwrap()["id"], body["user"]["id"]);
    // Anyone signed in can look a user up by id; unknown ids are 404.
    let other = app.api.register("bruno", "password-1").await.unwrap();
    let (status, found) = app
        .api
        .as_user(&other.access_token)
        .call(Method::GET, &format!("/api/v1/users/{}", me.id), None)
        .await
        .unwrap();
    assert_eq!((status, found["display_name"].as_str()), (200, Some("Ana")));
    let (status, _) = app
        .api
        .as_user(&other.access_token)
        .call(
            Method::GET,
            &format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
}

async fn usernames_are_unique_whatever_their_case(backend: Backend) {
    let app = spawn_app(backend).await;
    app.api.register("Bruno", "password-1").await.unwrap();
    assert_eq!(
        code(app.api.register("bRUNO", "password-2").await),
        "username_taken"
    );
}

async fn registration_rules_are_enforced(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        code(app.api.register("ab", "password-1").await),
        "invalid_username"
    );
    assert_eq!(
        code(app.api.register("has space", "password-1").await),
        "invalid_username"
    );
    assert_eq!(
        code(app.api.register(&"x".repeat(33), "password-1").await),
        "invalid_username"
    );
    assert_eq!(
        code(app.api.register("carla", "short").await),
        "weak_password"
    );
    let (status, body) = app
        .api
        .call(
            Method::POST,
            "/api/v1/auth/register",
            Some(&json!({"username": "carla", "password": "password-1", "display_name": "x".repeat(65)})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_display_name");
    // Nothing was created by the refusals.
    assert!(app.api.register("carla", "password-1").await.is_ok());
}

async fn login_ignores_case_and_refuses_wrong_passwords_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    app.api.register("Dora", "right-password").await.unwrap();
    let ok = app.api.login("dORA", "right-password").await.unwrap();
    assert_eq!(ok.user.username, "Dora");
    let wrong = app.api.login("dora", "wrong-password").await.unwrap_err();
    let unknown = app.api.login("nobody", "right-password").await.unwrap_err();
    for e in [&wrong, &unknown] {
        match e {
            ClientError::Api {
                status,
                code,
                message,
            } => {
                assert_eq!((*status, code.as_str()), (401, "invalid_credentials"));
                assert_eq!(message, "wrong username or password");
            }
            other => panic!("{other:?}"),
        }
    }
}

async fn refresh_rotates_and_a_reused_token_revokes_the_chain(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.api.register("emil", "password-1").await.unwrap();
    let second = app.api.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.user.id, first.user.id);
    app.api.as_user(&second.access_token).me().await.unwrap();
    // The old token again: a leak. The whole chain dies, including the newest token.
    assert_eq!(
        code(app.api.refresh(&first.refresh_token).await),
        "refresh_token_reused"
    );
    assert_eq!(
        code(app.api.refresh(&second.refresh_token).await),
        "invalid_refresh_token"
    );
    // Another login is its own chain and unaffected.
    let other = app.api.login("emil", "password-1").await.unwrap();
    assert!(app.api.refresh(&other.refresh_token).await.is_ok());
    assert_eq!(
        code(app.api.refresh("not-a-token").await),
        "invalid_refresh_token"
    );
}

async fn logout_revokes_the_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = app.api.register("fay", "password-1").await.unwrap();
    let (status, _) = app
        .api
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&json!({"refresh_token": t.refresh_token})),
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(
        code(app.api.refresh(&t.refresh_token).await),
        "invalid_refresh_token"
    );
}

async fn expired_and_forged_access_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = app.api.register("gus", "password-1").await.unwrap();
    let secret = std::fs::read_to_string(app.data_dir.path().join("jwt_secret")).unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": t.user.id, "iat": now - 3600, "exp": now - 1800});
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.trim().as_bytes()),
    )
    .unwrap();
    assert_eq!(code(app.api.as_user(&expired).me().await), "token_expired");
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": t.user.id, "iat": now, "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-servers-secret-not-the-servers"),
    )
    .unwrap();
    assert_eq!(code(app.api.as_user(&forged).me().await), "invalid_token");
    assert_eq!(code(app.api.me().await), "missing_token");
    let (status, body) = app
        .api
        .call(Method::GET, "/api/v1/rooms", None)
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("missing_token"))
    );
}

async fn expired_refresh_tokens_are_refused_and_purged(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = app.api.register("hugo", "password-1").await.unwrap();
    let store = confab::store::Store::open(&app.config).await.unwrap();
    let (token, hash) = confab::auth::new_refresh_token();
    let now = chrono::Utc::now().timestamp();
    store
        .insert_refresh_token(
            &hash,
            (t.user.id, uuid::Uuid::now_v7()),
            now - 1,
            ("test", "127.0.0.1"),
        )
        .await
        .unwrap();
    assert_eq!(code(app.api.refresh(&token).await), "invalid_refresh_token");
    assert_eq!(store.purge_expired_refresh_tokens(now).await.unwrap(), 1);
    // The live token of the registration is untouched.
    assert!(app.api.refresh(&t.refresh_token).await.is_ok());
}

async fn display_names_that_impersonate_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let register = |username: &'static str, display: &'static str| {
        let api = app.api.clone();
        async move {
            api.call(
                Method::POST,
                "/api/v1/auth/register",
                Some(&json!({"username": username, "password": "s3cret-pass", "display_name": display})),
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(register("ana", "Ana Lima").await.0, 201);
    for (username, display, code) in [
        ("mallory1", "Ana Lima", "display_name_taken"),
        ("mallory2", "  ana lima ", "display_name_taken"),
        ("mallory3", "Ana\u{202E}amiL", "invalid_display_name"),
        ("mallory4", "An\u{200B}a Lima", "invalid_display_name"),
        (
            "mallory5",
            "\u{2066}Ana Lima\u{2069}",
            "invalid_display_name",
        ),
        ("mallory6", "Ana\u{FEFF} Lima", "invalid_display_name"),
    ] {
        let (status, body) = register(username, display).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (
                if code == "display_name_taken" {
                    409
                } else {
                    400
                },
                Some(code)
            ),
            "{display:?}"
        );
    }
    // Names that only look alike in part are fine, and so are accents and emoji.
    assert_eq!(register("ana2", "Ana Lima 2").await.0, 201);
    assert_eq!(register("zoe", "Zoë \u{1F600}").await.0, 201);
}
