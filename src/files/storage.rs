//! Where file bytes live: a directory under the data dir, or S3-API object storage.
//!
//! Both are `object_store` backends behind one handle. Bytes are stored by content
//! (`blobs/<2 hex>/<sha256>`), so the same bytes are kept once however often they are uploaded;
//! thumbnails sit beside them (`thumbs/<sha256>`). Uploads arrive in a local temporary file; on the
//! local backend it is renamed into place, on S3 it is sent in 8 MiB parts, never held in memory.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::config::Config;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend failed.
    #[error("object storage: {0}")]
    Backend(#[from] object_store::Error),
    /// A local file failed.
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
}

/// The file storage handle. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// For the local backend, the directory, so uploads can be renamed into place.
    local_root: Option<PathBuf>,
}

/// The key of a content's bytes.
pub fn blob_key(sha256: &str) -> String {
    format!("blobs/{}/{sha256}", &sha256[..2.min(sha256.len())])
}

/// The key of a content's thumbnail.
pub fn thumb_key(sha256: &str) -> String {
    format!("thumbs/{sha256}")
}

const PART: usize = 8 * 1024 * 1024;

/// Creates `dir` (and its parents) readable by this user only, and makes an existing one so:
/// the data directory holds every DM, password hash and upload.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

/// Makes `file` readable and writable by this user only.
pub fn private_file(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

impl Storage {
    /// The backend the configuration names: S3 if a bucket is set, else `data_dir/files`.
    pub fn from_config(config: &Config) -> Result<Storage, StorageError> {
        match &config.s3_bucket {
            Some(bucket) => {
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(&config.s3_region);
                if let Some(endpoint) = &config.s3_endpoint {
                    b = b
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                if let (Some(id), Some(secret)) =
                    (&config.s3_access_key_id, &config.s3_secret_access_key)
                {
                    b = b
                        .with_access_key_id(id)
                        .with_secret_access_key(String::from_utf8_lossy(secret.expose()));
                }
                Ok(Storage {
                    store: Arc::new(b.build()?),
                    local_root: None,
                })
            }
            None => {
                let root = config.data_dir.join("files");
                for dir in [root.join("blobs"), root.join("thumbs")] {
                    private_dir(&dir)?;
                }
                private_dir(&root)?;
                Ok(Storage {
                    store: Arc::new(LocalFileSystem::new_with_prefix(&root)?),
                    local_root: Some(root),
                })
            }
        }
    }

    /// `local` or `s3`.
    pub fn backend_name(&self) -> &'static str {
        if self.local_root.is_some() {
            "local"
        } else {
            "s3"
        }
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Key::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves a local temporary file to `key` (streamed in parts to S3).
    pub async fn put_file(&self, key: &str, file: &Path) -> Result<(), StorageError> {
        if let Some(root) = &self.local_root {
            let dest = root.join(key);
            if let Some(dir) = dest.parent() {
                let dir = dir.to_owned();
                tokio::task::spawn_blocking(move || private_dir(&dir))
                    .await
                    .map_err(std::io::Error::other)??;
            }
            // Same file system as the data dir's tmp/, so this is an atomic rename.
            match tokio::fs::rename(file, &dest).await {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                    tokio::fs::copy(file, &dest).await?;
                    private_file(&dest)?;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        let upload = self.store.put_multipart(&Key::from(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut f = tokio::fs::File::open(file).await?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(2).await?;
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    /// Stores small bytes (thumbnails) at `key`.
    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.store
            .put(&Key::from(key), PutPayload::from(bytes))
            .await?;
        // object_store writes with the process's default mode.
        if let Some(root) = &self.local_root {
            private_file(&root.join(key))?;
        }
        Ok(())
    }

    /// The bytes of `key`, or the given range of them, as a stream.
    pub async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, object_store::Error>>, StorageError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&Key::from(key), options).await?;
        Ok(result.into_stream())
    }

    /// Deletes `key`; a missing key is fine.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Key::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
