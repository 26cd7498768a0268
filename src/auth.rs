//! Credentials: argon2id password hashes, JWT access tokens and opaque refresh tokens.
//!
//! Access tokens are HS256 JWTs, short-lived (15 minutes by default), checked without touching the
//! store. Refresh tokens are 256 random bits handed to the client once and kept only as SHA-256
//! hashes; rotating and revoking them is the store's job (`store::users`). The signing key is never a
//! default in code: it comes from `CONFAB_JWT_SECRET` or is generated once into the data directory.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Secret;
use crate::protocol::{Password, UserId};

/// Why a credential was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The access token's time is up; refresh it.
    #[error("access token expired")]
    Expired,
    /// Not a token we signed.
    #[error("invalid access token")]
    Invalid,
    /// Its login was signed out (logout, a reused refresh token, a password reset).
    #[error("access token revoked")]
    Revoked,
    /// Hashing failed (out of memory); not the client's fault.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// The login the token belongs to (its refresh-token family): what revocation names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<LoginId>,
}

/// One sign-in and the refresh tokens rotated from it (their family id).
pub type LoginId = uuid::Uuid;

/// The logins revoked recently, so their access tokens are refused without asking the store:
/// one lock and a hash lookup per token checked. Filled from the bus (logouts and reused refresh
/// tokens on any node) and from the store's record of revocations; an entry is kept as long as
/// an access token of the login could still be valid, then forgotten.
pub struct Revocations {
    revoked: std::sync::Mutex<std::collections::HashMap<LoginId, std::time::Instant>>,
    keep: Duration,
}

impl Revocations {
    /// Remembers revocations for `keep` (the access token lifetime, plus leeway).
    pub fn new(keep: Duration) -> Revocations {
        Revocations {
            revoked: Default::default(),
            keep,
        }
    }

    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<LoginId, std::time::Instant>> {
        // One insert, lookup or sweep at a time: a panic cannot leave it half-changed.
        self.revoked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Revokes `login`; true if it was not known to be revoked yet.
    pub fn revoke(&self, login: LoginId) -> bool {
        let now = std::time::Instant::now();
        let mut map = self.map();
        let keep = self.keep;
        if map.len() > 1024 {
            map.retain(|_, at| now.duration_since(*at) < keep);
        }
        map.insert(login, now).is_none()
    }

    /// Whether `login` was revoked.
    pub fn is_revoked(&self, login: LoginId) -> bool {
        self.map().contains_key(&login)
    }
}

/// The hashed form of a refresh token: what the store keeps.
pub type RefreshHash = Vec<u8>;

/// Signs and checks tokens; hashes and verifies passwords.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
    /// A real hash of a random password, verified against when a login names an unknown user, so
    /// that unknown users and wrong passwords take the same time and cannot be told apart.
    dummy_hash: String,
    /// Bounds the hashes computed at once: each takes argon2's 19 MiB, and a hundred concurrent
    /// logins would otherwise take 2 GB. The rest wait their turn.
    hashing: tokio::sync::Semaphore,
    /// Logins whose tokens are refused.
    revocations: std::sync::Arc<Revocations>,
    /// Hashes running now, and the most that ever ran at once (a gauge, and for tests).
    running: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl Auth {
    /// Keys from `secret`; tokens live `access_ttl`; at most `concurrency` password hashes at once.
    pub fn new(
        secret: &Secret,
        access_ttl: Duration,
        concurrency: usize,
        revocations: std::sync::Arc<Revocations>,
    ) -> Result<Auth, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        let mut random = [0u8; 24];
        rand::rng().fill_bytes(&mut random);
        let dummy_hash = hash_password_raw(&URL_SAFE_NO_PAD.encode(random))?;
        Ok(Auth {
            encoding: EncodingKey::from_secret(secret.expose()),
            decoding: DecodingKey::from_secret(secret.expose()),
            validation,
            access_ttl,
            dummy_hash,
            hashing: tokio::sync::Semaphore::new(concurrency.max(1)),
            revocations,
            running: Default::default(),
            peak: Default::default(),
        })
    }

    /// Runs `work` (a password hash or check) on the blocking pool once a hashing permit is free.
    async fn hash_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        use std::sync::atomic::Ordering;
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Hashing(e.to_string()))?;
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let result = tokio::task::spawn_blocking(work).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        result.map_err(|e| AuthError::Hashing(e.to_string()))
    }

    /// The password hashes running now.
    pub fn running_hashes(&self) -> usize {
        self.running.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most password hashes that ran at once since start.
    pub fn peak_hashes(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How long access tokens live.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// The logins whose tokens are refused.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// An access token for `user`'s `login`, and its lifetime in seconds.
    pub fn issue_access_token(&self, user: UserId, login: LoginId) -> (String, u64) {
        let now = chrono::Utc::now().timestamp();
        let ttl = self.access_ttl.as_secs();
        let claims = Claims {
            sub: user,
            iat: now,
            exp: now + ttl as i64,
            sid: Some(login),
        };
        // Encoding HS256 claims of plain fields cannot fail.
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default();
        (token, ttl)
    }

    /// Checks an access token's signature, expiry, and that its login was not revoked.
    pub fn verify_access_token(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        if claims
            .sid
            .is_some_and(|login| self.revocations.is_revoked(login))
        {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    /// Hashes a new password with argon2id. CPU-heavy: runs on the blocking pool, within the
    /// bound on concurrent hashes.
    pub async fn hash_password(&self, password: &Password) -> Result<String, AuthError> {
        let pw = password.expose().to_owned();
        self.hash_work(move || hash_password_raw(&pw)).await?
    }

    /// Checks a password against a stored hash; with no hash (unknown user) it checks a dummy so
    /// the answer takes as long and is always false. CPU-heavy: runs on the blocking pool.
    pub async fn verify_password(&self, stored: Option<String>, password: &str) -> bool {
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash.clone(), false),
        };
        let pw = password.to_owned();
        let ok = self
            .hash_work(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        Argon2::default()
                            .verify_password(pw.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await
            .unwrap_or(false);
        ok && real
    }
}

/// Hashes a password with argon2id on the blocking pool (for callers without an [`Auth`]).
pub async fn hash_password(password: &Password) -> Result<String, AuthError> {
    let pw = password.expose().to_owned();
    tokio::task::spawn_blocking(move || hash_password_raw(&pw))
        .await
        .map_err(|e| AuthError::Hashing(e.to_string()))?
}

fn hash_password_raw(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// A new refresh token: the text for the client and the hash for the store.
pub fn new_refresh_token() -> (String, RefreshHash) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// A fresh invite code: 96 random bits, URL-safe (16 characters), so codes cannot be guessed.
pub fn new_invite_code() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a refresh token. SHA-256 suffices: the token is 256 random bits, so there is
/// nothing to brute-force that a slow hash would protect.
pub fn hash_refresh_token(token: &str) -> RefreshHash {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The signing key: `configured` if set, else the one kept in `data_dir/jwt_secret`, generated on
/// first start (readable by this user only).
pub fn load_or_create_jwt_secret(
    configured: Option<&Secret>,
    data_dir: &Path,
) -> std::io::Result<Secret> {
    if let Some(s) = configured {
        return Ok(s.clone());
    }
    let path = data_dir.join("jwt_secret");
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(Secret::from(s.trim().to_owned())),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} holds fewer than 32 characters; remove it to have a new one generated",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut f) => {
            f.write_all(secret.as_bytes())?;
            f.sync_all()?;
            Ok(Secret::from(secret))
        }
        // Another node sharing the directory won the race: use its secret.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            load_or_create_jwt_secret(None, data_dir)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let revoked = std::sync::Arc::new(Revocations::new(Duration::from_secs(60)));
        Auth::new(
            &Secret::from("k".repeat(32)),
            Duration::from_secs(60),
            2,
            revoked,
        )
        .unwrap()
    }

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let a = auth();
        let user = UserId::new();
        let login = uuid::Uuid::now_v7();
        let (token, ttl) = a.issue_access_token(user, login);
        assert_eq!(ttl, 60);
        assert_eq!(a.verify_access_token(&token).unwrap().sub, user);
        let mut forged = token.clone();
        forged.pop();
        forged.push('x');
        assert!(matches!(
            a.verify_access_token(&forged),
            Err(AuthError::Invalid)
        ));
        let revoked = std::sync::Arc::new(Revocations::new(Duration::from_secs(60)));
        let other = Auth::new(
            &Secret::from("z".repeat(32)),
            Duration::from_secs(60),
            2,
            revoked,
        )
        .unwrap();
        assert!(matches!(
            other.verify_access_token(&token),
            Err(AuthError::Invalid)
        ));
        // Once its login is revoked, the token is refused.
        a.revocations().revoke(login);
        assert!(matches!(
            a.verify_access_token(&token),
            Err(AuthError::Revoked)
        ));
    }

    #[test]
    fn expired_access_tokens_say_so() {
        let a = auth();
        let claims = Claims {
            sub: UserId::new(),
            iat: 0,
            exp: 1,
            sid: None,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &a.encoding).unwrap();
        assert!(matches!(
            a.verify_access_token(&token),
            Err(AuthError::Expired)
        ));
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let a = auth();
        let pw = Password::parse("correct horse").unwrap();
        let hash = a.hash_password(&pw).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(a.verify_password(Some(hash.clone()), "correct horse").await);
        assert!(!a.verify_password(Some(hash), "wrong horse").await);
        assert!(!a.verify_password(None, "correct horse").await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_password_hashes_run_at_once_than_allowed() {
        let a = std::sync::Arc::new(auth());
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let a = a.clone();
                tokio::spawn(async move { a.verify_password(None, "guess-guess").await })
            })
            .collect();
        for c in checks {
            assert!(!c.await.unwrap());
        }
        assert_eq!(
            a.peak_hashes(),
            2,
            "eight concurrent logins, two hashes at a time"
        );
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (t1, h1) = new_refresh_token();
        let (t2, _) = new_refresh_token();
        assert_ne!(t1, t2);
        assert_eq!(hash_refresh_token(&t1), h1);
        assert_eq!(h1.len(), 32);
    }

    #[test]
    fn the_jwt_secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s1 = load_or_create_jwt_secret(None, dir.path()).unwrap();
        let s2 = load_or_create_jwt_secret(None, dir.path()).unwrap();
        assert_eq!(s1, s2);
        assert!(s1.expose().len() >= 32);
    }
}
