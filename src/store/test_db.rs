//! For the store's own tests: Postgres databases made fresh on the test server and dropped
//! after, and users.

use sqlx::Connection;

use super::{NewRoom, NewUser, Store, now};
use crate::protocol::{RoomId, UserId, Visibility};

/// The test Postgres server (`TEST_DATABASE_URL`, as for the integration tests).
fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh database on the test server: its URL and name.
pub(crate) async fn fresh_postgres() -> (String, String) {
    let admin = admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("the store's Postgres tests need a server at {admin}: {e}"));
    let name = format!("confab_unit_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    (format!("{base}/{name}"), name)
}

/// A migrated store: on `url`, or SQLite in `dir`.
async fn migrated(url: Option<&crate::config::DatabaseUrl>, dir: &std::path::Path) -> Store {
    let store = Store::connect(url, dir, 4).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A migrated SQLite store in `dir`.
pub(crate) async fn sqlite_store(dir: &std::path::Path) -> Store {
    migrated(None, dir).await
}

/// A migrated store on a fresh database, and the database's name for [`drop_postgres`].
pub(crate) async fn postgres_store(dir: &std::path::Path) -> (Store, String) {
    let (url, name) = fresh_postgres().await;
    let url = crate::config::DatabaseUrl::Postgres(url);
    (migrated(Some(&url), dir).await, name)
}

/// Drops what [`fresh_postgres`] made (if anything), once `store` is closed.
pub(crate) async fn drop_postgres(store: Store, name: Option<String>) {
    drop(store);
    let Some(name) = name else { return };
    let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await;
}

/// A new user named `name` (username and display name).
pub(crate) async fn user(store: &Store, name: &str) -> UserId {
    let id = UserId::new();
    store
        .create_user(NewUser {
            id,
            username: name.into(),
            username_key: name.into(),
            display_name: name.into(),
            password_hash: "x".into(),
            created_at: now(),
        })
        .await
        .unwrap();
    id
}

/// A new private room named `name`, created by `creator`.
pub(crate) async fn private_room(store: &Store, name: &str, creator: UserId) -> RoomId {
    let id = RoomId::new();
    store
        .create_room(NewRoom {
            id,
            name: name.into(),
            topic: String::new(),
            creator,
            created_at: now(),
            visibility: Visibility::Private,
        })
        .await
        .unwrap();
    id
}
