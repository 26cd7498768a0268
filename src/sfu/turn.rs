//! Time-limited TURN credentials for coturn's `use-auth-secret` mode.
//!
//! The SFU itself never relays through TURN: it is an ICE-lite endpoint on a public address.
//! TURN is for clients whose network blocks direct UDP; they relay through coturn to the SFU's
//! one UDP port. coturn and Confab share one secret (coturn's `static-auth-secret`), and
//! Confab mints per-user credentials that coturn can check without a database (the "TURN REST
//! API" scheme):
//!
//! ```text
//! username   = "<unix expiry time>:<user id>"
//! credential = base64(HMAC-SHA1(secret, username))
//! ```
//!
//! The hub hands the result of [`ice_servers`] to the client in the `voice.join` ack; the
//! client passes it straight to `new RTCPeerConnection({iceServers})`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use uuid::Uuid;

/// Configured TURN service: from `CONFAB_TURN_URLS` and `CONFAB_TURN_SECRET`.
#[derive(Clone)]
pub struct TurnConfig {
    /// `turn:` / `turns:` (and optionally `stun:`) URLs of the coturn servers.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// How long minted credentials stay valid.
    pub lifetime: Duration,
}

impl std::fmt::Debug for TurnConfig {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// One entry of the browser's `RTCConfiguration.iceServers` (the wire type).
pub use crate::protocol::ws::IceServer;

/// The coturn REST-API credential pair for `user`, valid until `expires_unix` (seconds).
pub fn turn_credentials(secret: &str, user: Uuid, expires_unix: u64) -> (String, String) {
    let username = format!("{expires_unix}:{user}");
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC-SHA1.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(username.as_bytes());
    let credential = STANDARD.encode(mac.finalize().into_bytes());
    (username, credential)
}

/// The ICE server list for `user` at `now`: one TURN entry with fresh credentials, or an empty
/// list when no TURN is configured (the SFU's host candidate is then the only path).
pub fn ice_servers(turn: Option<&TurnConfig>, user: Uuid, now: SystemTime) -> Vec<IceServer> {
    let Some(turn) = turn.filter(|t| !t.urls.is_empty()) else {
        return Vec::new();
    };
    // A clock before 1970 is a broken host, not a reason to fail a join: mint from 0.
    let now_unix = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let expires = now_unix.saturating_add(turn.lifetime.as_secs());
    let (username, credential) = turn_credentials(&turn.secret, user, expires);
    vec![IceServer {
        urls: turn.urls.clone(),
        username: Some(username),
        credential: Some(credential),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "6f1c1b8e-4f0a-4d4e-9a51-3a0e6c3d2b10";

    /// Vector computed independently with Python:
    /// `base64.b64encode(hmac.new(b"north-wind-secret",
    ///  b"1700086400:6f1c1b8e-4f0a-4d4e-9a51-3a0e6c3d2b10", hashlib.sha1).digest())`
    #[test]
    fn credentials_match_an_independently_computed_vector() {
        let user = Uuid::parse_str(USER).unwrap();
        let (username, credential) = turn_credentials("north-wind-secret", user, 1_700_086_400);
        assert_eq!(username, format!("1700086400:{USER}"));
        assert_eq!(credential, "IzYCfNQlALVIjWG+evad8dAaWw4=");
    }

    #[test]
    fn ice_servers_expire_after_the_configured_lifetime() {
        let user = Uuid::parse_str(USER).unwrap();
        let turn = TurnConfig {
            urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
            secret: "north-wind-secret".into(),
            lifetime: Duration::from_secs(86_400),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let servers = ice_servers(Some(&turn), user, now);
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].urls, turn.urls);
        assert_eq!(
            servers[0].username.as_deref(),
            Some(&*format!("1700086400:{USER}"))
        );
        assert_eq!(
            servers[0].credential.as_deref(),
            Some("IzYCfNQlALVIjWG+evad8dAaWw4=")
        );
    }

    #[test]
    fn no_turn_configured_means_no_ice_servers() {
        let user = Uuid::nil();
        assert!(ice_servers(None, user, SystemTime::now()).is_empty());
        let empty = TurnConfig {
            urls: vec![],
            secret: "s".into(),
            lifetime: Duration::from_secs(60),
        };
        assert!(ice_servers(Some(&empty), user, SystemTime::now()).is_empty());
    }

    #[test]
    fn the_secret_never_appears_in_debug_output() {
        let turn = TurnConfig {
            urls: vec![],
            secret: "hunter2".into(),
            lifetime: Duration::from_secs(1),
        };
        assert!(!format!("{turn:?}").contains("hunter2"));
    }

    #[test]
    fn ice_servers_serialize_like_rtc_ice_server() {
        let s = IceServer {
            urls: vec!["turn:a".into()],
            username: Some("u".into()),
            credential: Some("c".into()),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"urls":["turn:a"],"username":"u","credential":"c"}"#
        );
    }
}
