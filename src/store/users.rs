//! Accounts and refresh tokens.
//!
//! Refresh tokens form families: a login starts one, each refresh marks the presented token used
//! and adds its successor. Presenting a used token means it leaked (or a client replayed it), so
//! the whole family is revoked and every holder must log in again.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::rows::UserRow;
use super::{Store, StoreError, is_unique_violation, reader, writer};
use crate::protocol::api::User;
use crate::protocol::{ServerRole, UserId};

/// A user to create; the password is already hashed.
#[derive(Debug)]
pub struct NewUser {
    /// Fresh id.
    pub id: UserId,
    /// As typed.
    pub username: String,
    /// Lower-cased, for uniqueness.
    pub username_key: String,
    /// Name to show.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was good; it is now used and its successor stored. Carries the user and the
    /// login (the family).
    Rotated(UserId, Uuid),
    /// The token was already used: its family (the login, given) is now revoked.
    Reused(UserId, Uuid),
    /// Unknown, revoked or expired.
    Invalid,
}

const USER_COLUMNS: &str = "id, username, display_name, server_role, status_text, avatar_at";

impl Store {
    /// Creates an account; `Conflict("username_taken")` if the name exists in any case. The first
    /// account of a server becomes its admin: it claims the one `server_founder` row in the same
    /// transaction, so of two racing first registrations exactly one wins.
    pub async fn create_user(&self, u: NewUser) -> Result<User, StoreError> {
        let result = writer!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO users (id, username, username_key, display_name, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(u.id)
            .bind(&u.username)
            .bind(&u.username_key)
            .bind(&u.display_name)
            .bind(&u.password_hash)
            .bind(u.created_at)
            .execute(&mut *tx)
            .await?;
            let founder = sqlx::query(
                "INSERT INTO server_founder (id, user_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            )
            .bind(u.id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if founder {
                sqlx::query("UPDATE users SET server_role = 'admin' WHERE id = $1")
                    .bind(u.id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(founder)
        });
        match result {
            Ok(founder) => Ok(User {
                id: u.id,
                username: u.username,
                display_name: u.display_name,
                server_role: if founder {
                    ServerRole::Admin
                } else {
                    ServerRole::Member
                },
                status_text: String::new(),
                avatar_url: None,
            }),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("username_taken")),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets a user's server role.
    pub async fn set_server_role(&self, user: UserId, role: ServerRole) -> Result<(), StoreError> {
        let changed = writer!(self, |p| {
            sqlx::query("UPDATE users SET server_role = $2 WHERE id = $1")
                .bind(user)
                .bind(role.as_str())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The user with this lower-cased username and their password hash.
    pub async fn user_credentials(
        &self,
        username_key: &str,
    ) -> Result<Option<(User, String)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Credentials {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row: Option<Credentials> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT id, username, display_name, server_role, status_text, avatar_at, password_hash \
                 FROM users WHERE username_key = $1",
            )
            .bind(username_key)
            .fetch_optional(p)
            .await
        })?;
        Ok(row.map(|r| (User::from(r.user), r.password_hash)))
    }

    /// Whether a user already shows `name`, exactly or but for case (`key` is its lower-cased
    /// form; SQLite's `lower` folds ASCII only, hence both).
    pub async fn display_name_taken(&self, name: &str, key: &str) -> Result<bool, StoreError> {
        let found: Option<(i32,)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT 1 FROM users WHERE display_name = $1 OR lower(display_name) = $2 LIMIT 1",
            )
            .bind(name)
            .bind(key)
            .fetch_optional(p)
            .await
        })?;
        Ok(found.is_some())
    }

    /// One user by id.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = reader!(self, |p| {
            sqlx::query_as(&sql).bind(id).fetch_optional(p).await
        })?;
        Ok(row.map(User::from))
    }

    /// Users whose username or display name starts with `prefix` (case-insensitive), by username.
    pub async fn search_users(&self, prefix: &str, limit: i64) -> Result<Vec<User>, StoreError> {
        let pattern = format!("{}%", super::like_escape(&prefix.to_lowercase()));
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE username_key LIKE $1 ESCAPE '\\' OR lower(display_name) LIKE $1 ESCAPE '\\' \
             ORDER BY username_key LIMIT $2"
        );
        let rows: Vec<UserRow> = reader!(self, |p| {
            sqlx::query_as(&sql)
                .bind(&pattern)
                .bind(limit)
                .fetch_all(p)
                .await
        })?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// Replaces a password hash and revokes every refresh token of the user but those of the
    /// login `keep` (the one changing it, if any); returns the logins (families) that were live.
    pub async fn set_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep: Option<Uuid>,
    ) -> Result<Vec<Uuid>, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            // A nil id matches no login: nothing is kept.
            let keep = keep.unwrap_or(Uuid::nil());
            let live: Vec<(Uuid,)> = sqlx::query_as(
                "SELECT DISTINCT family_id FROM refresh_tokens \
                 WHERE user_id = $1 AND NOT revoked AND family_id <> $2",
            )
            .bind(user)
            .bind(keep)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE refresh_tokens SET revoked = TRUE, revoked_at = $2 \
                 WHERE user_id = $1 AND NOT revoked AND family_id <> $3",
            )
            .bind(user)
            .bind(chrono::Utc::now().timestamp())
            .bind(keep)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(live.into_iter().map(|(f,)| f).collect())
        })
    }

    /// Stores the first refresh token of a new family: the login `family`, made by `client`
    /// (its user agent and address, for the list of sessions).
    pub async fn insert_refresh_token(
        &self,
        hash: &[u8],
        (user, family): (UserId, Uuid),
        expires_at: i64,
        (user_agent, address): (&str, &str),
    ) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, user_id, family_id, created_at, expires_at, \
                 user_agent, address) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(hash)
            .bind(user)
            .bind(family)
            .bind(super::now())
            .bind(expires_at)
            .bind(user_agent)
            .bind(address)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Uses a refresh token: if it is live, marks it used and stores `new_hash` in its family; if it
    /// was used before, revokes the family. Both in one transaction, so two racing refreshes with
    /// the same token cannot both succeed.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now_secs: i64,
        new_expires_at: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            let row = sqlx::query(
                "SELECT user_id, family_id, expires_at, used_at IS NOT NULL AS used, revoked \
                 FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(RefreshOutcome::Invalid);
            };
            let user: UserId = row.try_get("user_id")?;
            let family: Uuid = row.try_get("family_id")?;
            let expires_at: i64 = row.try_get("expires_at")?;
            let used: bool = row.try_get("used")?;
            let revoked: bool = row.try_get("revoked")?;
            if revoked || expires_at <= now_secs {
                return Ok(RefreshOutcome::Invalid);
            }
            let claimed = if used {
                0
            } else {
                // `used_at IS NULL` again: under Postgres a concurrent rotation that committed
                // first makes this update match nothing, which is reuse too.
                sqlx::query(
                    "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
                )
                .bind(super::now())
                .bind(old_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            };
            if claimed == 0 {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked = TRUE, revoked_at = $2 WHERE family_id = $1",
                )
                .bind(family)
                .bind(now_secs)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Reused(user, family));
            }
            // The successor keeps what the login was made from.
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, user_id, family_id, created_at, expires_at, \
                 user_agent, address) \
                 SELECT $1, $2, $3, $4, $5, user_agent, address FROM refresh_tokens WHERE token_hash = $6",
            )
            .bind(new_hash)
            .bind(user)
            .bind(family)
            .bind(super::now())
            .bind(new_expires_at)
            .bind(old_hash)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(RefreshOutcome::Rotated(user, family))
        })
    }

    /// Revokes the family of a refresh token (logout); returns its user and login. Unknown
    /// tokens are ignored.
    pub async fn revoke_refresh_family(
        &self,
        hash: &[u8],
    ) -> Result<Option<(UserId, Uuid)>, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            let found: Option<(UserId, Uuid)> = sqlx::query_as(
                "SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(hash)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((_, family)) = found {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked = TRUE, revoked_at = $2 WHERE family_id = $1",
                )
                .bind(family)
                .bind(chrono::Utc::now().timestamp())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(found)
        })
    }

    /// The logins (user, family) revoked at or after `since` (unix seconds).
    pub async fn revoked_since(&self, since: i64) -> Result<Vec<(UserId, Uuid)>, StoreError> {
        let rows: Vec<(UserId, Uuid)> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT DISTINCT user_id, family_id FROM refresh_tokens WHERE revoked_at >= $1",
            )
            .bind(since)
            .fetch_all(p)
            .await
        })?;
        Ok(rows)
    }

    /// Deletes refresh tokens that expired before `now_secs`; they can no longer be presented.
    pub async fn purge_expired_refresh_tokens(&self, now_secs: i64) -> Result<u64, StoreError> {
        let deleted = writer!(self, |p| {
            sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
                .bind(now_secs)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(deleted)
    }
}
