//! Custom emoji: a name, the upload that is its image, who added it and when.
//!
//! The image is an ordinary upload ([`super::files`]): making it an emoji clears its expiry, so the
//! janitor keeps it, and [`Store::file_for`] lets every signed-in user read a file that is an
//! emoji. Taking the emoji away starts the expiry again if no message carries the file, so the
//! janitor can clear it then. The number of emoji is bounded: the count and the insert run in one
//! transaction that first takes a lock every add shares (an update of the `custom_emoji_lock` row),
//! so two admins racing for the last slot cannot both get it.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, is_unique_violation, reader, writer};
use crate::protocol::api::CustomEmoji;
use crate::protocol::{CustomEmojiName, FileId, UserId};

#[derive(sqlx::FromRow)]
struct EmojiRow {
    name: String,
    file_id: FileId,
    created_by: Option<UserId>,
    created_at: DateTime<Utc>,
}

impl From<EmojiRow> for CustomEmoji {
    fn from(r: EmojiRow) -> CustomEmoji {
        CustomEmoji {
            name: r.name,
            url: format!("/api/v1/files/{}", r.file_id),
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

impl Store {
    /// Adds the emoji `name` with the upload `file` as its image. `Conflict("emoji_exists")` if
    /// the name is taken, `Conflict("too_many_emoji")` once there are `max`.
    pub async fn add_custom_emoji(
        &self,
        name: &CustomEmojiName,
        file: FileId,
        by: UserId,
        max: i64,
    ) -> Result<CustomEmoji, StoreError> {
        let at = super::now();
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            // Serializes adds (Postgres locks the row; SQLite has one writer anyway).
            sqlx::query("UPDATE custom_emoji_lock SET id = id WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            let (taken, count): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM custom_emoji WHERE name = $1), \
                 (SELECT COUNT(*) FROM custom_emoji)",
            )
            .bind(name.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if taken > 0 {
                return Err(StoreError::Conflict("emoji_exists"));
            }
            if count >= max {
                return Err(StoreError::Conflict("too_many_emoji"));
            }
            sqlx::query(
                "INSERT INTO custom_emoji (name, file_id, created_by, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(name.as_str())
            .bind(file)
            .bind(by)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("emoji_exists")
                } else {
                    e.into()
                }
            })?;
            sqlx::query("UPDATE files SET expires_at = NULL WHERE id = $1")
                .bind(file)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(CustomEmoji {
                name: name.as_str().to_owned(),
                url: format!("/api/v1/files/{file}"),
                created_by: Some(by),
                created_at: at,
            })
        })
    }

    /// Every custom emoji, in name order (at most the server's limit of them).
    pub async fn custom_emoji(&self) -> Result<Vec<CustomEmoji>, StoreError> {
        let rows: Vec<EmojiRow> = reader!(self, |p| {
            sqlx::query_as(
                "SELECT name, file_id, created_by, created_at FROM custom_emoji ORDER BY name",
            )
            .fetch_all(p)
            .await
        })?;
        Ok(rows.into_iter().map(CustomEmoji::from).collect())
    }

    /// Whether a custom emoji is called `name` (without colons).
    pub async fn custom_emoji_exists(&self, name: &str) -> Result<bool, StoreError> {
        let (n,): (i64,) = reader!(self, |p| {
            sqlx::query_as("SELECT COUNT(*) FROM custom_emoji WHERE name = $1")
                .bind(name)
                .fetch_one(p)
                .await
        })?;
        Ok(n > 0)
    }

    /// Removes the emoji `name`; false if there was none. Its image expires `expires_at` (unix
    /// seconds) unless a message carries it. Reactions with it stay, as the name they were.
    pub async fn delete_custom_emoji(
        &self,
        name: &CustomEmojiName,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            let file: Option<(FileId,)> =
                sqlx::query_as("DELETE FROM custom_emoji WHERE name = $1 RETURNING file_id")
                    .bind(name.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((file,)) = file else {
                return Ok(false);
            };
            sqlx::query(
                "UPDATE files SET expires_at = $2 WHERE id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM message_attachments WHERE file_id = $1) \
                 AND NOT EXISTS (SELECT 1 FROM custom_emoji WHERE file_id = $1)",
            )
            .bind(file)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}
