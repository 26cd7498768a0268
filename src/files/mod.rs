//! Attachments: receiving uploads, checking who may read them, and clearing out the unused.
//!
//! An upload streams into a temporary file under the data directory while it is hashed and
//! counted, never held whole in memory, and is refused (413) the moment it passes the size limit
//! or the user's quota, leaving nothing behind. Then its type is sniffed from its first bytes, its
//! name sanitized, images measured and thumbnailed and audio timed (on the blocking pool), and its
//! bytes stored by content, once. The store keeps one record per upload.

pub mod media;
pub mod sniff;
pub mod storage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::protocol::{FileId, UserId};
use crate::service::Error;
use crate::store::{FileRecord, Store};
use storage::{Storage, blob_key, thumb_key};

/// Uploads and downloads.
pub struct Files {
    storage: Storage,
    store: Store,
    tmp_dir: PathBuf,
    max_upload: u64,
    quota: u64,
    ttl: Duration,
}

fn internal(e: impl std::fmt::Display) -> Error {
    tracing::error!(error = %e, "file storage failure");
    Error::Internal(e.to_string())
}

impl Files {
    /// File handling as configured.
    pub fn new(config: &Config, store: Store) -> Result<Files, storage::StorageError> {
        let tmp_dir = config.data_dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir)?;
        Ok(Files {
            storage: Storage::from_config(config)?,
            store,
            tmp_dir,
            max_upload: config.max_upload_mb * 1024 * 1024,
            quota: config.user_quota_mb * 1024 * 1024,
            ttl: Duration::from_secs(config.upload_ttl_secs),
        })
    }

    /// The largest upload, in bytes.
    pub fn max_upload(&self) -> u64 {
        self.max_upload
    }

    /// The storage backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.storage.backend_name()
    }

    /// Starts an upload by `user`.
    pub async fn begin(&self, user: UserId) -> Result<Upload<'_>, Error> {
        let used = self.store.storage_used(user).await? as u64;
        let path = self
            .tmp_dir
            .join(format!("upload-{}", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&path).await.map_err(internal)?;
        Ok(Upload {
            files: self,
            user,
            file: Some(file),
            path,
            hasher: Sha256::new(),
            size: 0,
            head: Vec::with_capacity(sniff::SNIFF_BYTES),
            quota_left: self.quota.saturating_sub(used),
            finished: false,
        })
    }

    /// The record of a file `user` may read; `file_not_found` otherwise, whether or not it exists.
    pub async fn readable(&self, user: UserId, id: FileId) -> Result<FileRecord, Error> {
        self.store
            .file_for(id, user)
            .await?
            .ok_or(Error::not_found("file"))
    }

    /// A file's bytes, or a range of them.
    pub async fn bytes(
        &self,
        file: &FileRecord,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<
        futures_util::stream::BoxStream<'static, Result<bytes::Bytes, object_store::Error>>,
        Error,
    > {
        self.storage
            .get(&blob_key(&file.sha256), range)
            .await
            .map_err(internal)
    }

    /// A file's thumbnail and its type.
    pub async fn thumbnail(
        &self,
        file: &FileRecord,
    ) -> Result<
        (
            futures_util::stream::BoxStream<'static, Result<bytes::Bytes, object_store::Error>>,
            &'static str,
        ),
        Error,
    > {
        let key = file.thumbnail.as_deref().ok_or(Error::not_found("file"))?;
        let kind = if key.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        };
        let stream = self.storage.get(key, None).await.map_err(internal)?;
        Ok((stream, kind))
    }

    /// Deletes expired unattached uploads now and then, until `cancel`.
    pub async fn janitor(self: Arc<Self>, cancel: CancellationToken) {
        let every = (self.ttl / 2).clamp(Duration::from_secs(1), Duration::from_secs(600));
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = %e, "cleaning expired uploads failed");
            }
        }
    }

    /// One pass of the janitor; returns how many uploads it deleted.
    pub async fn sweep(&self) -> Result<usize, Error> {
        let now = chrono::Utc::now().timestamp();
        let expired = self.store.expired_files(now, 500).await?;
        for file in &expired {
            let shared = self
                .store
                .delete_expired_file(file.id, &file.sha256)
                .await?;
            if !shared {
                self.storage
                    .delete(&blob_key(&file.sha256))
                    .await
                    .map_err(internal)?;
                if let Some(thumb) = &file.thumbnail {
                    self.storage.delete(thumb).await.map_err(internal)?;
                }
            }
        }
        if !expired.is_empty() {
            tracing::info!(count = expired.len(), "deleted expired uploads");
        }
        Ok(expired.len())
    }
}

/// An upload in progress. Dropped unfinished, it deletes its temporary file.
pub struct Upload<'a> {
    files: &'a Files,
    user: UserId,
    file: Option<tokio::fs::File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
    quota_left: u64,
    finished: bool,
}

impl Upload<'_> {
    /// Appends a chunk; refuses it once the upload passes the size limit or the quota.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.size += chunk.len() as u64;
        if self.size > self.files.max_upload {
            return Err(Error::TooLarge {
                code: "file_too_large",
                message: format!(
                    "files may be at most {} MiB",
                    self.files.max_upload / (1024 * 1024)
                ),
            });
        }
        if self.size > self.quota_left {
            return Err(Error::TooLarge {
                code: "quota_exceeded",
                message: "this upload would pass your storage quota; delete messages with files to free space".into(),
            });
        }
        if self.head.len() < sniff::SNIFF_BYTES {
            let take = (sniff::SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| internal("upload already closed"))?;
        file.write_all(chunk).await.map_err(internal)
    }

    /// Completes the upload: sniff, probe, store the bytes (once per content) and the record.
    pub async fn finish(mut self, name: &str) -> Result<FileRecord, Error> {
        if self.size == 0 {
            return Err(Error::invalid("empty_file", "the file is empty"));
        }
        if let Some(mut file) = self.file.take() {
            file.flush().await.map_err(internal)?;
            file.sync_all().await.map_err(internal)?;
        }
        let sha256 = hex(&std::mem::take(&mut self.hasher).finalize());
        let sniffed = sniff::content_type(&self.head);
        let path = self.path.clone();
        let kind = sniffed.clone();
        let probe = tokio::task::spawn_blocking(move || media::probe(&path, &kind))
            .await
            .map_err(internal)?;
        let storage = &self.files.storage;
        let blob = blob_key(&sha256);
        if storage.exists(&blob).await.map_err(internal)? {
            tokio::fs::remove_file(&self.path).await.map_err(internal)?;
        } else {
            storage
                .put_file(&blob, &self.path)
                .await
                .map_err(internal)?;
        }
        self.finished = true;
        let thumbnail = match probe.thumbnail {
            Some((bytes, kind)) => {
                let ext = if kind == "image/png" { "png" } else { "jpg" };
                let key = format!("{}.{ext}", thumb_key(&sha256));
                if !storage.exists(&key).await.map_err(internal)? {
                    storage.put_bytes(&key, bytes).await.map_err(internal)?;
                }
                Some(key)
            }
            None => None,
        };
        let record = FileRecord {
            id: FileId::new(),
            uploader_id: self.user,
            name: sniff::sanitize_name(name),
            content_type: probe.content_type.unwrap_or(sniffed),
            size: self.size as i64,
            sha256,
            width: probe.width,
            height: probe.height,
            duration_ms: probe.duration_ms,
            thumbnail,
            created_at: crate::store::now(),
            expires_at: Some(chrono::Utc::now().timestamp() + self.files.ttl.as_secs() as i64),
        };
        self.files.store.insert_file(&record).await?;
        tracing::info!(file_id = %record.id, size = record.size, content_type = %record.content_type, "file uploaded");
        Ok(record)
    }
}

impl Drop for Upload<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
