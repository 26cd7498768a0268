//! Attachment bytes: staging an upload on disk while it is hashed, then measuring, thumbnailing
//! and keeping it once per content in the storage backend.
//!
//! An upload streams into a temporary file under the data directory ([`Staging`]), never held
//! whole in memory; [`Blobs::keep`] sniffs its type from its first bytes, measures images and
//! times audio (on the blocking pool), and stores the bytes by content, once. What this module
//! does not own: who may upload or read a file, the size limit and the quota, and the records of
//! uploads; those are the service layer's (`service/files.rs`), which calls in here.

pub mod media;
pub mod sniff;
pub mod storage;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::config::Config;
use storage::{Storage, StorageError, blob_key, thumb_key};

/// The bytes of a stored file, as a stream.
pub type ByteStream = BoxStream<'static, Result<Bytes, object_store::Error>>;

/// A failure of the file storage.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The storage backend or a local file failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The image or audio probe could not run.
    #[error("probing the upload failed: {0}")]
    Probe(String),
}

impl From<std::io::Error> for FilesError {
    fn from(e: std::io::Error) -> FilesError {
        FilesError::Storage(StorageError::Io(e))
    }
}

/// Where attachment bytes are kept, and where uploads are staged first.
pub struct Blobs {
    storage: Storage,
    tmp_dir: PathBuf,
    /// Bounds the probes (image decodes) running at once to one per core: each may take up to
    /// 200 MiB and a second of CPU, and a burst of uploads must not multiply that.
    probes: Arc<tokio::sync::Semaphore>,
}

/// What a probe found about some content, kept in its record: reused when the same bytes are
/// uploaded again, so they are never decoded twice.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The type sniffed from the bytes (or the probe's finer one).
    pub content_type: String,
    /// Image width.
    pub width: Option<i32>,
    /// Image height.
    pub height: Option<i32>,
    /// Audio duration.
    pub duration_ms: Option<i64>,
    /// Storage key of the thumbnail (images).
    pub thumbnail: Option<String>,
}

/// An upload's bytes once kept: what the record of the upload needs.
#[derive(Debug, Clone)]
pub struct Kept {
    /// The hex SHA-256 of the bytes: their storage key and ETag.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// The type sniffed from the bytes (or the probe's finer one).
    pub content_type: String,
    /// Image width.
    pub width: Option<i32>,
    /// Image height.
    pub height: Option<i32>,
    /// Audio duration.
    pub duration_ms: Option<i64>,
    /// Storage key of the thumbnail (images).
    pub thumbnail: Option<String>,
}

impl Blobs {
    /// Storage as configured: S3 if a bucket is set, else a directory under the data dir.
    pub fn new(config: &Config) -> Result<Blobs, StorageError> {
        let tmp_dir = config.data_dir.join("tmp");
        storage::private_dir(&tmp_dir)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Blobs {
            storage: Storage::from_config(config)?,
            tmp_dir,
            probes: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }

    /// The storage backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.storage.backend_name()
    }

    /// Opens a temporary file for an upload's bytes.
    pub async fn stage(&self) -> Result<Staging, FilesError> {
        let path = self
            .tmp_dir
            .join(format!("upload-{}", uuid::Uuid::new_v4().simple()));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Readable by this user only; renamed into storage as is.
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&path).await?;
        Ok(Staging {
            file: Some(file),
            path,
            hasher: Sha256::new(),
            size: 0,
            head: Vec::with_capacity(sniff::SNIFF_BYTES),
            finished: false,
        })
    }

    /// Makes a staged upload durable and stores its bytes once per content. `known` is what an
    /// earlier upload of the same bytes found (see [`Staging::sha256`]): its bytes are stored
    /// already, and they are not probed again. Otherwise the upload is sniffed and probed (one
    /// probe per core at a time) and its thumbnail stored.
    pub async fn keep(
        &self,
        mut staged: Staging,
        known: Option<Measured>,
    ) -> Result<Kept, FilesError> {
        if let Some(mut file) = staged.file.take() {
            file.flush().await?;
            file.sync_all().await?;
        }
        let sha256 = staged.sha256();
        let blob = blob_key(&sha256);
        let stored = self.storage.exists(&blob).await?;
        if let (Some(known), true) = (known, stored) {
            tokio::fs::remove_file(&staged.path).await?;
            staged.finished = true;
            return Ok(Kept {
                sha256,
                size: staged.size,
                content_type: known.content_type,
                width: known.width,
                height: known.height,
                duration_ms: known.duration_ms,
                thumbnail: known.thumbnail,
            });
        }
        let sniffed = sniff::content_type(&staged.head);
        let probe = self.probe(&staged.path, &sniffed).await?;
        if stored {
            tokio::fs::remove_file(&staged.path).await?;
        } else {
            self.storage.put_file(&blob, &staged.path).await?;
        }
        staged.finished = true;
        let thumbnail = match probe.thumbnail {
            Some((bytes, kind)) => {
                let ext = if kind == "image/png" { "png" } else { "jpg" };
                let key = format!("{}.{ext}", thumb_key(&sha256));
                if !self.storage.exists(&key).await? {
                    self.storage.put_bytes(&key, bytes).await?;
                }
                Some(key)
            }
            None => None,
        };
        Ok(Kept {
            sha256,
            size: staged.size,
            content_type: probe.content_type.unwrap_or(sniffed),
            width: probe.width,
            height: probe.height,
            duration_ms: probe.duration_ms,
            thumbnail,
        })
    }

    /// Probes a staged file on the blocking pool, at most one probe per core at a time.
    async fn probe(&self, path: &std::path::Path, kind: &str) -> Result<media::Probe, FilesError> {
        let _permit = self
            .probes
            .acquire()
            .await
            .map_err(|e| FilesError::Probe(e.to_string()))?;
        let (path, kind) = (path.to_owned(), kind.to_owned());
        tokio::task::spawn_blocking(move || media::probe(&path, &kind))
            .await
            .map_err(|e| FilesError::Probe(e.to_string()))
    }

    /// The bytes of the content `sha256`, or a range of them.
    /// A blob's whole content, for the few that are processed in memory (an avatar's source).
    pub async fn read_all(&self, sha256: &str) -> Result<Vec<u8>, FilesError> {
        use futures_util::TryStreamExt;
        let chunks: Vec<bytes::Bytes> = self
            .read(sha256, None)
            .await?
            .try_collect()
            .await
            .map_err(StorageError::Backend)?;
        Ok(chunks.concat())
    }

    /// A blob's bytes, or a range of them.
    pub async fn read(
        &self,
        sha256: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, FilesError> {
        Ok(self.storage.get(&blob_key(sha256), range).await?)
    }

    /// A thumbnail's bytes and type.
    pub async fn read_thumbnail(
        &self,
        key: &str,
    ) -> Result<(ByteStream, &'static str), FilesError> {
        let kind = if key.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        };
        Ok((self.storage.get(key, None).await?, kind))
    }

    /// Deletes the content `sha256` and its thumbnail.
    pub async fn delete(&self, sha256: &str, thumbnail: Option<&str>) -> Result<(), FilesError> {
        self.storage.delete(&blob_key(sha256)).await?;
        if let Some(thumb) = thumbnail {
            self.storage.delete(thumb).await?;
        }
        Ok(())
    }
}

/// An upload's bytes on their way in. Dropped before [`Blobs::keep`], it deletes its file.
pub struct Staging {
    file: Option<tokio::fs::File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
    finished: bool,
}

impl Staging {
    /// Appends a chunk, hashing it and keeping the first bytes for sniffing.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), FilesError> {
        self.size += chunk.len() as u64;
        if self.head.len() < sniff::SNIFF_BYTES {
            let take = (sniff::SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        match self.file.as_mut() {
            Some(file) => Ok(file.write_all(chunk).await?),
            None => Err(std::io::Error::other("upload already closed").into()),
        }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hex SHA-256 of the bytes written so far: the content's identity.
    pub fn sha256(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
