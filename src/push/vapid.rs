//! The server's VAPID key: a P-256 key pair that signs the token of every push, so push services
//! know the pushes of one subscription come from the server the browser subscribed with.
//!
//! Kept in `data_dir/vapid_private_key` (the raw 32-byte scalar, base64url, readable by this user
//! only), generated on first start, unless `CONFAB_VAPID_PRIVATE_KEY` gives it. Every node of a
//! cluster needs the same key (set it, or share the data directory), or push services would refuse
//! pushes one node signs for browsers that subscribed through another.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use web_push::{PartialVapidSignatureBuilder, VapidSignatureBuilder};

use crate::config::Secret;

/// The file, in the data directory.
pub const FILE: &str = "vapid_private_key";

/// The VAPID key pair.
#[derive(Clone)]
pub struct VapidKey {
    signer: PartialVapidSignatureBuilder,
    public: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// The key of a raw base64url private scalar; `None` if it is not a valid P-256 key.
    fn from_base64(private: &str) -> Option<VapidKey> {
        let signer = VapidSignatureBuilder::from_base64_no_sub(private).ok()?;
        let public = URL_SAFE_NO_PAD.encode(signer.get_public_key());
        Some(VapidKey { signer, public })
    }

    /// The public key, uncompressed (65 bytes), base64url: what browsers subscribe with.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// A signer of VAPID tokens with this key.
    pub(super) fn signer(&self) -> PartialVapidSignatureBuilder {
        self.signer.clone()
    }

    /// The `configured` key if set, else the one kept in `data_dir`, generated (and saved,
    /// mode 0600) if there is none yet.
    pub fn load_or_create(
        configured: Option<&Secret>,
        data_dir: &Path,
    ) -> std::io::Result<VapidKey> {
        if let Some(secret) = configured {
            let raw = String::from_utf8_lossy(secret.expose()).trim().to_owned();
            return VapidKey::from_base64(&raw).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "CONFAB_VAPID_PRIVATE_KEY is not a P-256 private key (32 bytes, base64url)",
                )
            });
        }
        let path = data_dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(s) => {
                return VapidKey::from_base64(s.trim()).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} is not a P-256 private key; remove it to have a new one generated \
                             (browsers must then subscribe again)",
                            path.display()
                        ),
                    )
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let (encoded, key) = generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(mut f) => {
                f.write_all(encoded.as_bytes())?;
                f.sync_all()?;
                Ok(key)
            }
            // Another node sharing the directory won the race: use its key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                VapidKey::load_or_create(None, data_dir)
            }
            Err(e) => Err(e),
        }
    }
}

/// A new key: 32 random bytes are a valid P-256 scalar unless zero or past the group order
/// (a chance of about 2^-32), so draw again in that case.
fn generate() -> (String, VapidKey) {
    loop {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let encoded = URL_SAFE_NO_PAD.encode(bytes);
        if let Some(key) = VapidKey::from_base64(&encoded) {
            return (encoded, key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_generated_once_kept_private_and_public_is_uncompressed_p256() {
        let dir = tempfile::tempdir().unwrap();
        let a = VapidKey::load_or_create(None, dir.path()).unwrap();
        let b = VapidKey::load_or_create(None, dir.path()).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        let public = URL_SAFE_NO_PAD.decode(a.public_key()).unwrap();
        assert_eq!((public.len(), public[0]), (65, 4));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_key_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "not a key").unwrap();
        let e = VapidKey::load_or_create(None, dir.path()).unwrap_err();
        assert!(e.to_string().contains(FILE), "{e}");
    }
}
