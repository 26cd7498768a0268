//! Server roles and registration modes: the first account administers the server, the most common
//! passwords are refused, and `CONFAB_REGISTRATION` decides who may create an account.

use confab::config::RegistrationMode;
use confab::protocol::ServerRole;
use confab::store::Store;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{Backend, Setup, TestApp, spawn_app};

both_backends!(
    the_first_account_administers_the_server,
    of_racing_first_registrations_exactly_one_becomes_admin,
    the_most_common_passwords_are_refused,
    a_closed_server_takes_accounts_only_from_its_operator,
    an_invite_only_server_takes_accounts_only_with_a_usable_invite,
);

async fn register(app: &TestApp, body: Value) -> (u16, Value) {
    app.api
        .call(Method::POST, "/api/v1/auth/register", Some(&body))
        .await
        .unwrap()
}

/// An account made as `confab admin create-user` makes it, signed in.
async fn operator_made(app: &TestApp, name: &str) -> confab_testkit::Api {
    let store = Store::open(&app.config).await.unwrap();
    confab::service::admin::create_user(&store, name, "operator-made-pass", None)
        .await
        .unwrap();
    store.close().await;
    let tokens = app.api.login(name, "operator-made-pass").await.unwrap();
    app.api.as_user(&tokens.access_token)
}

async fn the_first_account_administers_the_server(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.user("founder").await;
    let second = app.user("second").await;
    assert_eq!(first.tokens.user.server_role, ServerRole::Admin);
    assert_eq!(second.tokens.user.server_role, ServerRole::Member);
    assert_eq!(first.api.me().await.unwrap().server_role, ServerRole::Admin);
    let (_, me) = second
        .api
        .call(Method::GET, "/api/v1/me", None)
        .await
        .unwrap();
    assert_eq!(me["server_role"], "member");

    let store = Store::open(&app.config).await.unwrap();
    let promoted = confab::service::admin::set_server_role(&store, &second.name, "admin")
        .await
        .unwrap();
    assert_eq!(promoted.server_role, ServerRole::Admin);
    let refused = confab::service::admin::set_server_role(&store, &second.name, "emperor").await;
    assert_eq!(refused.unwrap_err().code(), "invalid_server_role");
    store.close().await;
    assert_eq!(
        second.api.me().await.unwrap().server_role,
        ServerRole::Admin
    );
}

async fn of_racing_first_registrations_exactly_one_becomes_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let racers = (0..6).map(|i| {
        let api = app.api.clone();
        tokio::spawn(async move {
            api.register(&format!("racer{i}"), "correct horse battery")
                .await
                .unwrap()
                .user
                .server_role
        })
    });
    let mut admins = 0;
    for r in racers {
        if r.await.unwrap() == ServerRole::Admin {
            admins += 1;
        }
    }
    assert_eq!(admins, 1);
}

async fn the_most_common_passwords_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for password in ["password123", "QWERTYUIOP", "iloveyou1"] {
        let (status, body) =
            register(&app, json!({"username": "cleo", "password": password})).await;
        assert_eq!(status, 400, "{password}");
        assert_eq!(body["error"]["code"], "common_password");
    }
    let (status, _) = register(
        &app,
        json!({"username": "cleo", "password": "purple-otter-42"}),
    )
    .await;
    assert_eq!(status, 201);
}

async fn a_closed_server_takes_accounts_only_from_its_operator(backend: Backend) {
    let app = Setup::new(backend)
        .tweak(|c| c.registration = RegistrationMode::Closed)
        .start()
        .await;
    let (status, body) = register(
        &app,
        json!({"username": "walkin", "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "registration_closed");
    let admin = operator_made(&app, "operator").await;
    assert_eq!(admin.me().await.unwrap().server_role, ServerRole::Admin);
    // An invite does not open a closed server.
    let room = admin.create_room("staff").await.unwrap();
    let (_, invite) = admin
        .call(
            Method::POST,
            &format!("/api/v1/rooms/{}/invites", room.id),
            Some(&json!({})),
        )
        .await
        .unwrap();
    let (status, body) = register(
        &app,
        json!({"username": "walkin", "password": "correct horse battery", "invite_code": invite["code"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("registration_closed"))
    );
}

async fn an_invite_only_server_takes_accounts_only_with_a_usable_invite(backend: Backend) {
    let app = Setup::new(backend)
        .tweak(|c| c.registration = RegistrationMode::Invite)
        .start()
        .await;
    let account = |code: Option<&Value>| {
        let mut body = json!({"username": "newcomer", "password": "correct horse battery"});
        if let Some(code) = code {
            body["invite_code"] = code.clone();
        }
        body
    };
    let (status, body) = register(&app, account(None)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("invite_required"))
    );
    let (status, body) = register(&app, account(Some(&json!("no-such-code")))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("invite_not_found"))
    );

    let owner = operator_made(&app, "owner").await;
    let room = owner.create_room("welcome").await.unwrap();
    let (_, invite) = owner
        .call(
            Method::POST,
            &format!("/api/v1/rooms/{}/invites", room.id),
            Some(&json!({"max_uses": 1})),
        )
        .await
        .unwrap();
    // A registration that fails for another reason gives the use back.
    let mut taken = account(Some(&invite["code"]));
    taken["username"] = json!("OWNER");
    let (status, _) = register(&app, taken).await;
    assert_eq!(status, 409);

    let (status, body) = register(&app, account(Some(&invite["code"]))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["server_role"], "member");
    let newcomer = app.api.as_user(body["access_token"].as_str().unwrap());
    let rooms = newcomer.rooms().await.unwrap();
    assert_eq!(rooms.len(), 1, "the invite joined its room");
    assert_eq!(rooms[0].id, room.id);
    assert_eq!(rooms[0].members_count, 2);

    let mut second = account(Some(&invite["code"]));
    second["username"] = json!("latecomer");
    let (status, body) = register(&app, second).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (410, Some("invite_expired"))
    );
    assert!(
        app.api
            .login("latecomer", "correct horse battery")
            .await
            .is_err()
    );
}
