//! Uploaded files, who may read them, and the attachments of messages.
//!
//! A file is readable by its uploader and by members of any room where a message carries it, and
//! by everyone when it is a custom emoji's image ([`super::emoji`]). An
//! upload no message carries has an `expires_at`; attaching clears it, and the janitor deletes the
//! ones that ran out (and, when no other upload shares its content, the stored bytes).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Store, StoreError, reader, writer};
use crate::protocol::api::{Attachment, Message};
use crate::protocol::{FileId, MessageId, UserId};

/// An upload, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FileRecord {
    /// Its id.
    pub id: FileId,
    /// Who uploaded it.
    pub uploader_id: UserId,
    /// Its sanitized name.
    pub name: String,
    /// Its sniffed type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// The hex SHA-256 of its bytes: where they are stored, and its ETag.
    pub sha256: String,
    /// Image width.
    pub width: Option<i32>,
    /// Image height.
    pub height: Option<i32>,
    /// Audio duration.
    pub duration_ms: Option<i64>,
    /// Storage key of its thumbnail (images).
    pub thumbnail: Option<String>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When it will be deleted unless attached (unix seconds).
    pub expires_at: Option<i64>,
}

impl FileRecord {
    /// The attachment object messages carry.
    pub fn attachment(&self) -> Attachment {
        Attachment {
            id: self.id,
            name: self.name.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms,
            url: format!("/api/v1/files/{}", self.id),
            thumbnail_url: self
                .thumbnail
                .as_ref()
                .map(|_| format!("/api/v1/files/{}/thumbnail", self.id)),
        }
    }
}

const FILE_COLUMNS: &str = "f.id, f.uploader_id, f.name, f.content_type, f.size, f.sha256, \
    f.width, f.height, f.duration_ms, f.thumbnail, f.created_at, f.expires_at";

/// `$first, $first+1, …` for `n` values: an `IN (…)` list both backends accept.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Records an upload.
    pub async fn insert_file(&self, f: &FileRecord) -> Result<(), StoreError> {
        writer!(self, |p| {
            sqlx::query(
                "INSERT INTO files (id, uploader_id, name, content_type, size, sha256, width, height, \
                 duration_ms, thumbnail, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(f.id)
            .bind(f.uploader_id)
            .bind(&f.name)
            .bind(&f.content_type)
            .bind(f.size)
            .bind(&f.sha256)
            .bind(f.width)
            .bind(f.height)
            .bind(f.duration_ms)
            .bind(&f.thumbnail)
            .bind(f.created_at)
            .bind(f.expires_at)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// A file, if `user` may read it: they uploaded it, a message in one of their rooms carries
    /// it, or it is the image of a custom emoji (which every signed-in user sees).
    pub async fn file_for(
        &self,
        id: FileId,
        user: UserId,
    ) -> Result<Option<FileRecord>, StoreError> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM files f WHERE f.id = $1 AND (f.uploader_id = $2 OR EXISTS \
             (SELECT 1 FROM message_attachments ma JOIN room_members rm ON rm.room_id = ma.room_id \
              WHERE ma.file_id = f.id AND rm.user_id = $2) \
             OR EXISTS (SELECT 1 FROM custom_emoji ce WHERE ce.file_id = f.id))"
        );
        let row: Option<FileRecord> = reader!(self, |p| {
            sqlx::query_as(&sql)
                .bind(id)
                .bind(user)
                .fetch_optional(p)
                .await
        })?;
        Ok(row)
    }

    /// The uploads among `ids` that `uploader` made.
    pub async fn own_files(
        &self,
        uploader: UserId,
        ids: &[FileId],
    ) -> Result<Vec<FileRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM files f WHERE f.uploader_id = $1 AND f.id IN ({})",
            placeholders(2, ids.len())
        );
        let rows: Vec<FileRecord> = reader!(self, |p| {
            let mut q = sqlx::query_as(&sql).bind(uploader);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        Ok(rows)
    }

    /// One record of an upload of the content `sha256`, if any: what its probe found.
    pub async fn file_by_content(&self, sha256: &str) -> Result<Option<FileRecord>, StoreError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM files f WHERE f.sha256 = $1 LIMIT 1");
        let row: Option<FileRecord> = reader!(self, |p| {
            sqlx::query_as(&sql).bind(sha256).fetch_optional(p).await
        })?;
        Ok(row)
    }

    /// Whether any upload's record names the content `sha256`.
    pub async fn content_in_use(&self, sha256: &str) -> Result<bool, StoreError> {
        let (n,): (i64,) = reader!(self, |p| {
            sqlx::query_as("SELECT COUNT(*) FROM files WHERE sha256 = $1")
                .bind(sha256)
                .fetch_one(p)
                .await
        })?;
        Ok(n > 0)
    }

    /// Bytes a user's uploads take.
    pub async fn storage_used(&self, user: UserId) -> Result<i64, StoreError> {
        let (used,): (Option<i64>,) = reader!(self, |p| {
            sqlx::query_as("SELECT CAST(SUM(size) AS BIGINT) FROM files WHERE uploader_id = $1")
                .bind(user)
                .fetch_one(p)
                .await
        })?;
        Ok(used.unwrap_or(0))
    }

    /// Uploads whose time ran out before `now_secs` (at most `limit`).
    pub async fn expired_files(
        &self,
        now_secs: i64,
        limit: i64,
    ) -> Result<Vec<FileRecord>, StoreError> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM files f WHERE f.expires_at IS NOT NULL AND f.expires_at < $1 LIMIT $2"
        );
        let rows: Vec<FileRecord> = reader!(self, |p| {
            sqlx::query_as(&sql)
                .bind(now_secs)
                .bind(limit)
                .fetch_all(p)
                .await
        })?;
        Ok(rows)
    }

    /// Deletes an upload's record if it is still unattached; returns whether another upload still
    /// uses the same content (so its bytes must stay).
    pub async fn delete_expired_file(&self, id: FileId, sha256: &str) -> Result<bool, StoreError> {
        writer!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "DELETE FROM files WHERE id = $1 AND expires_at IS NOT NULL AND NOT EXISTS \
                 (SELECT 1 FROM message_attachments WHERE file_id = $1) AND NOT EXISTS \
                 (SELECT 1 FROM custom_emoji WHERE file_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let (shared,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM files WHERE sha256 = $1")
                .bind(sha256)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(shared > 0)
        })
    }

    /// Fills in the attachments of `messages` (only those that have any), with one query.
    pub(crate) async fn fill_attachments(
        &self,
        messages: &mut [Message],
        counts: &[i32],
    ) -> Result<(), StoreError> {
        let wanted: Vec<MessageId> = messages
            .iter()
            .zip(counts)
            .filter(|(_, n)| **n > 0)
            .map(|(m, _)| m.id)
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        #[derive(sqlx::FromRow)]
        struct Row {
            message_id: MessageId,
            #[sqlx(flatten)]
            file: FileRecord,
        }
        let sql = format!(
            "SELECT ma.message_id, {FILE_COLUMNS} FROM message_attachments ma \
             JOIN files f ON f.id = ma.file_id WHERE ma.message_id IN ({}) \
             ORDER BY ma.message_id, ma.position",
            placeholders(1, wanted.len())
        );
        let rows: Vec<Row> = reader!(self, |p| {
            let mut q = sqlx::query_as(&sql);
            for id in &wanted {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        let mut by_message: HashMap<MessageId, Vec<Attachment>> = HashMap::new();
        for r in rows {
            by_message
                .entry(r.message_id)
                .or_default()
                .push(r.file.attachment());
        }
        for m in messages.iter_mut() {
            if let Some(list) = by_message.remove(&m.id) {
                m.attachments = list;
            }
        }
        Ok(())
    }
}
