//! What an operator does from the command line: create users, reset passwords, change room and
//! server roles,
//! and back up the database while the server runs.
//!
//! These work on a store alone, without a running node's bus or hub (the server may be running:
//! SQLite's WAL lets another process read and write beside it, and Postgres is shared anyway), so
//! they are free functions over [`Store`] rather than methods of [`super::Services`]. Passwords are read from standard
//! input, never from arguments, so they do not show up in process lists or shell history.

use std::path::Path;

use super::Error;
use crate::protocol::api::User;
use crate::protocol::{Password, Role, RoomId, ServerRole, Username};
use crate::store::Store;

/// Creates an account.
pub async fn create_user(
    store: &Store,
    username: &str,
    password: &str,
    display_name: Option<&str>,
) -> Result<User, Error> {
    super::accounts::create_account(store, None, username, password, display_name).await
}

/// Sets a new password and signs the user out everywhere (every refresh token is revoked; the
/// running nodes close the user's sessions and refuse their access tokens within
/// [`super::accounts::REVOCATION_POLL`]).
pub async fn reset_password(store: &Store, username: &str, password: &str) -> Result<User, Error> {
    let user = find(store, username).await?;
    let password = Password::parse(password)?;
    let hash = crate::auth::hash_password(&password).await?;
    store.set_password(user.id, &hash, None).await?;
    Ok(user)
}

/// Gives `username` a role in `room`; making someone owner makes the current owner an admin.
pub async fn set_role(
    store: &Store,
    room: RoomId,
    username: &str,
    role: &str,
) -> Result<(), Error> {
    let role: Role = role.parse()?;
    let user = find(store, username).await?;
    store
        .membership(room, user.id)
        .await?
        .ok_or(Error::not_found("member"))?;
    if role == Role::Owner {
        for member in store.members(room).await? {
            if member.role == Role::Owner && member.user.id != user.id {
                store.set_role(room, member.user.id, Role::Admin).await?;
            }
        }
    }
    store.set_role(room, user.id, role).await?;
    Ok(())
}

/// Makes `username` a server admin or a plain member.
pub async fn set_server_role(store: &Store, username: &str, role: &str) -> Result<User, Error> {
    let role: ServerRole = role.parse()?;
    let user = find(store, username).await?;
    store.set_server_role(user.id, role).await?;
    Ok(User {
        server_role: role,
        ..user
    })
}

/// A consistent copy of the SQLite database into `dest` (which must not exist), taken while the
/// server runs. Postgres is backed up with its own tools.
pub async fn backup(store: &Store, dest: &Path) -> Result<(), Error> {
    if store.backend_name() == "postgres" {
        return Err(Error::invalid(
            "backup_with_pg_dump",
            "this server keeps history in Postgres: back it up with `pg_dump \"$DATABASE_URL\" > confab.sql` (see docs/operations.md)",
        ));
    }
    if dest.exists() {
        return Err(Error::conflict(
            "backup_exists",
            format!("{} already exists; choose a new file", dest.display()),
        ));
    }
    store.backup_sqlite(dest).await?;
    Ok(())
}

async fn find(store: &Store, username: &str) -> Result<User, Error> {
    let key = Username::parse(username)?.key();
    store
        .user_credentials(&key)
        .await?
        .map(|(user, _)| user)
        .ok_or(Error::not_found("user"))
}
