//! Attachments: receiving uploads within the size limit and the user's quota, checking who may
//! read them, and clearing out the unused.
//!
//! An upload is refused (413) the moment it passes the size limit or the quota, leaving nothing
//! behind; its name is sanitized, its bytes kept by [`crate::files::Blobs`], and the store keeps
//! one record per upload. A file is readable by its uploader and by members of any room where a
//! message carries it; an upload no message carries expires, and the janitor deletes it (and
//! its bytes, when no other upload shares them).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::files::{ByteStream, FilesError, Measured, Staging, sniff};
use crate::protocol::{FileId, UserId};

pub use crate::store::FileRecord;

use super::{Error, Result, Services};

/// The limits of uploads, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct FileRules {
    /// The largest upload, bytes.
    pub max_upload: u64,
    /// What one user may keep, bytes.
    pub quota: u64,
    /// How long an upload no message carries is kept.
    pub ttl: Duration,
}

impl From<FilesError> for Error {
    fn from(e: FilesError) -> Error {
        tracing::error!(error = %e, "file storage failure");
        Error::Internal(e.to_string())
    }
}

impl Services {
    /// The largest upload, in bytes.
    pub fn max_upload(&self) -> u64 {
        self.file_rules.max_upload
    }

    /// Starts an upload by `user`.
    pub async fn begin_upload(&self, user: UserId) -> Result<Upload<'_>> {
        let used = self.store.storage_used(user).await? as u64;
        Ok(Upload {
            services: self,
            user,
            staging: self.blobs.stage().await?,
            quota_left: self.file_rules.quota.saturating_sub(used),
        })
    }

    /// The record of a file `user` may read; `file_not_found` otherwise, whether or not it exists.
    pub async fn readable_file(&self, user: UserId, id: FileId) -> Result<FileRecord> {
        self.store
            .file_for(id, user)
            .await?
            .ok_or(Error::not_found("file"))
    }

    /// A readable file's bytes, or a range of them.
    pub async fn file_bytes(
        &self,
        file: &FileRecord,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        Ok(self.blobs.read(&file.sha256, range).await?)
    }

    /// A readable file's thumbnail and its type.
    pub async fn file_thumbnail(&self, file: &FileRecord) -> Result<(ByteStream, &'static str)> {
        let key = file.thumbnail.as_deref().ok_or(Error::not_found("file"))?;
        Ok(self.blobs.read_thumbnail(key).await?)
    }

    /// The record of an upload could not be stored: its bytes (and thumbnail) go too, unless
    /// another record names the same content. If the store cannot even say, the bytes stay: an
    /// orphan costs disk, deleting shared bytes would lose a file.
    async fn forget_unrecorded(&self, sha256: &str, thumbnail: Option<&str>) {
        match self.store.content_in_use(sha256).await {
            Ok(false) => {
                if let Err(e) = self.blobs.delete(sha256, thumbnail).await {
                    tracing::warn!(error = %e, "cannot delete the bytes of a failed upload");
                }
            }
            Ok(true) => {}
            Err(e) => tracing::warn!(error = %e, "bytes of a failed upload kept"),
        }
    }

    /// Deletes expired unattached uploads now and then, until `cancel`.
    pub async fn file_janitor(self: Arc<Self>, cancel: CancellationToken) {
        let every =
            (self.file_rules.ttl / 2).clamp(Duration::from_secs(1), Duration::from_secs(600));
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.sweep_files().await {
                tracing::warn!(error = %e, "cleaning expired uploads failed");
            }
        }
    }

    /// One pass of the janitor; returns how many uploads it deleted.
    pub async fn sweep_files(&self) -> Result<usize> {
        let now = chrono::Utc::now().timestamp();
        let expired = self.store.expired_files(now, 500).await?;
        for file in &expired {
            let shared = self
                .store
                .delete_expired_file(file.id, &file.sha256)
                .await?;
            if !shared {
                self.blobs
                    .delete(&file.sha256, file.thumbnail.as_deref())
                    .await?;
            }
        }
        if !expired.is_empty() {
            tracing::info!(count = expired.len(), "deleted expired uploads");
        }
        Ok(expired.len())
    }
}

/// An upload in progress. Dropped unfinished, its bytes are deleted.
pub struct Upload<'a> {
    services: &'a Services,
    user: UserId,
    staging: Staging,
    quota_left: u64,
}

impl Upload<'_> {
    /// Appends a chunk; refuses it once the upload passes the size limit or the quota.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let size = self.staging.size() + chunk.len() as u64;
        let max = self.services.file_rules.max_upload;
        if size > max {
            return Err(Error::TooLarge {
                code: "file_too_large",
                message: format!("files may be at most {} MiB", max / (1024 * 1024)),
            });
        }
        if size > self.quota_left {
            return Err(Error::TooLarge {
                code: "quota_exceeded",
                message: "this upload would pass your storage quota; delete messages with files to free space".into(),
            });
        }
        Ok(self.staging.write(chunk).await?)
    }

    /// Completes the upload: keep the bytes (once per content) and record the upload.
    pub async fn finish(self, name: &str) -> Result<FileRecord> {
        if self.staging.size() == 0 {
            return Err(Error::invalid("empty_file", "the file is empty"));
        }
        let services = self.services;
        // The same bytes uploaded before are not decoded again: their record says what they are.
        let known = services
            .store
            .file_by_content(&self.staging.sha256())
            .await?
            .map(|f| Measured {
                content_type: f.content_type,
                width: f.width,
                height: f.height,
                duration_ms: f.duration_ms,
                thumbnail: f.thumbnail,
            });
        let kept = services.blobs.keep(self.staging, known).await?;
        let record = FileRecord {
            id: FileId::new(),
            uploader_id: self.user,
            name: sniff::sanitize_name(name),
            content_type: kept.content_type,
            size: kept.size as i64,
            sha256: kept.sha256,
            width: kept.width,
            height: kept.height,
            duration_ms: kept.duration_ms,
            thumbnail: kept.thumbnail,
            created_at: crate::store::now(),
            expires_at: Some(
                chrono::Utc::now().timestamp() + services.file_rules.ttl.as_secs() as i64,
            ),
        };
        if let Err(e) = services.store.insert_file(&record).await {
            services
                .forget_unrecorded(&record.sha256, record.thumbnail.as_deref())
                .await;
            return Err(e.into());
        }
        tracing::info!(file_id = %record.id, size = record.size, content_type = %record.content_type, "file uploaded");
        Ok(record)
    }
}
