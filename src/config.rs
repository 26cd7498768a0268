//! Every setting of a Confab node, from command-line flags or the environment.
//!
//! [`Config`] is a `clap` parser whose fields also read `CONFAB_*` variables (plus `DATABASE_URL` and
//! `REDIS_URL`). Parsing checks each value's form; [`Config::validate`] then checks the settings that
//! depend on one another. Nothing else in the crate reads the environment: the validated `Config` is
//! passed down from `main`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

pub use crate::protocol::IpRange;

/// A secret value (signing key, shared TURN secret) that never shows up in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret's bytes, for the one place that signs or verifies with it.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("a secret must not be empty".into());
        }
        Ok(Secret(s.to_owned()))
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Who may register (`CONFAB_REGISTRATION`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RegistrationMode {
    /// Anyone who reaches the server.
    #[default]
    Open,
    /// Only with a valid invite code, which also joins its room.
    Invite,
    /// Nobody over HTTP; operators create accounts with `confab admin create-user`.
    Closed,
}

/// Where history is kept, parsed from `DATABASE_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://path` (or `sqlite:path`): an embedded database file.
    Sqlite(String),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(s.to_owned()))
        } else if s.starts_with("sqlite:") {
            Ok(DatabaseUrl::Sqlite(s.to_owned()))
        } else {
            Err("expected a URL starting with sqlite:, postgres:// or postgresql://".into())
        }
    }
}

/// A Redis URL, checked for its scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisUrl(pub String);

impl FromStr for RedisUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if ["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|p| s.starts_with(p))
        {
            Ok(RedisUrl(s.to_owned()))
        } else {
            Err("expected a URL starting with redis://, rediss:// or unix://".into())
        }
    }
}

/// A STUN or TURN server URL as RTCIceServer expects it (`stun:`, `turn:` or `turns:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IceUrl(pub String);

impl IceUrl {
    /// TURN URLs need credentials; STUN URLs do not.
    pub fn is_turn(&self) -> bool {
        self.0.starts_with("turn:") || self.0.starts_with("turns:")
    }
}

impl FromStr for IceUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let ok = ["stun:", "turn:", "turns:"]
            .iter()
            .any(|p| s.starts_with(p) && s.len() > p.len());
        if ok {
            Ok(IceUrl(s.to_owned()))
        } else {
            Err(format!("'{s}' is not a stun:, turn: or turns: URL"))
        }
    }
}

/// A node's name in a cluster: letters, digits, `-` and `_`, at most 64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeId(pub String);

impl FromStr for NodeId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(NodeId(s.to_owned()))
        } else {
            Err("use 1 to 64 letters, digits, '-' or '_'".into())
        }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Settings of `confab serve` (and the store settings every other subcommand shares).
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// HTTP and WebSocket listen address.
    #[arg(long, env = "CONFAB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the SQLite file, uploaded files and generated secrets.
    #[arg(long, env = "CONFAB_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// `sqlite:…` or `postgres://…`; the default is a SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<DatabaseUrl>,

    /// Most connections held open to the database.
    #[arg(long, env = "CONFAB_DB_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,

    /// Redis for presence and cross-node fanout; without it, one node works alone in-process.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<RedisUrl>,

    /// Prefix of every Redis key and channel, so several deployments (or tests) can share one Redis.
    #[arg(long, env = "CONFAB_REDIS_PREFIX", default_value = "confab")]
    pub redis_prefix: String,

    /// Token signing key (at least 32 characters); generated once and kept in the data directory if unset.
    #[arg(long, env = "CONFAB_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "CONFAB_ACCESS_TOKEN_TTL_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub access_token_ttl_secs: u64,

    /// Lifetime of refresh tokens, in seconds (each use rotates the token).
    #[arg(long, env = "CONFAB_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 86_400,
          value_parser = clap::value_parser!(u64).range(60..=365 * 86_400))]
    pub refresh_token_ttl_secs: u64,

    /// This node's name in a cluster; generated at start if unset.
    #[arg(long, env = "CONFAB_NODE_ID")]
    pub node_id: Option<NodeId>,

    /// The one UDP port all voice media uses (0: any free port).
    #[arg(long, env = "CONFAB_RTC_UDP_PORT", default_value_t = 7882)]
    pub rtc_udp_port: u16,

    /// Address the voice UDP socket binds to.
    #[arg(long, env = "CONFAB_RTC_BIND_IP", default_value = "0.0.0.0")]
    pub rtc_bind_ip: IpAddr,

    /// Address announced in ICE candidates (NAT 1:1, containers); the host's addresses if unset.
    #[arg(long, env = "CONFAB_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,

    /// STUN/TURN URLs handed to clients, comma-separated (`turn:host:3478?transport=udp,…`).
    #[arg(long, env = "CONFAB_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<IceUrl>,

    /// coturn's `static-auth-secret`, for minting time-limited TURN credentials.
    #[arg(long, env = "CONFAB_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<Secret>,

    /// Lifetime of minted TURN credentials, in seconds.
    #[arg(long, env = "CONFAB_TURN_TTL_SECS", default_value_t = 6 * 3600,
          value_parser = clap::value_parser!(u64).range(60..=7 * 86_400))]
    pub turn_ttl_secs: u64,

    /// Most participants in one voice room.
    #[arg(long, env = "CONFAB_VOICE_MAX_PARTICIPANTS", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub voice_max_participants: u32,

    /// Most participants of one voice room sharing their screen at once.
    #[arg(long, env = "CONFAB_VOICE_MAX_SCREEN_SHARES", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    pub voice_max_screen_shares: u32,

    /// Seconds a voice participant whose connection was lost (socket closed, page reloaded)
    /// keeps their place in the call: coming back within it continues the same participation
    /// with no leave and join for the others. 0 removes them at once.
    #[arg(long, env = "CONFAB_VOICE_REJOIN_GRACE_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=600))]
    pub voice_rejoin_grace_secs: u64,

    /// Frames a WebSocket session may have queued before it is closed as a slow consumer (4008).
    #[arg(long, env = "CONFAB_SESSION_QUEUE", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(16..=1_000_000))]
    pub session_queue: u32,

    /// Members above which a room's presence goes only to the sessions that subscribed to those
    /// users (`presence.subscribe`, what a member list on screen asks for), not to every member.
    #[arg(long, env = "CONFAB_PRESENCE_ROOM_LIMIT", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub presence_room_limit: u32,

    /// Seconds a client has to send a request's headers once it has started one.
    #[arg(long, env = "CONFAB_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_timeout_secs: u64,

    /// Seconds a request body may take before it must keep arriving at 16 KiB/s or more (a
    /// trickled body is cut off with 408 `request_timeout`).
    #[arg(long, env = "CONFAB_BODY_TIMEOUT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,

    /// Seconds an idle keep-alive connection (no request in progress) is kept open.
    #[arg(long, env = "CONFAB_IDLE_TIMEOUT_SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_secs: u64,

    /// Connections one address may hold open before any of them has authenticated (a request
    /// with a valid access token, or a WebSocket `auth`); more are closed at once. Trusted
    /// proxies are exempt.
    #[arg(long, env = "CONFAB_UNAUTHENTICATED_CONNECTIONS_PER_ADDRESS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub unauthenticated_connections_per_address: u32,

    /// Proxies whose `X-Forwarded-For` names the client (addresses or CIDR ranges,
    /// comma-separated); from anyone else the header is ignored and the connection's address
    /// counts. Needed behind a reverse proxy, or every client looks like the proxy.
    #[arg(long, env = "CONFAB_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpRange>,

    /// Failed logins an account may have (from addresses it has not signed in from) before each
    /// further attempt must wait.
    #[arg(long, env = "CONFAB_LOGIN_FAILURES_PER_ACCOUNT", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub login_failures_per_account: u32,

    /// Failed logins one address may have, whatever the accounts, before each further attempt
    /// must wait.
    #[arg(long, env = "CONFAB_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub login_failures_per_address: u32,

    /// The first wait after too many failed logins, in milliseconds; it doubles with each
    /// further failure, up to 15 minutes.
    #[arg(long, env = "CONFAB_LOGIN_DELAY_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=900_000))]
    pub login_delay_ms: u64,

    /// Accounts one address may register per hour.
    #[arg(long, env = "CONFAB_REGISTRATIONS_PER_HOUR", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub registrations_per_hour: u32,

    /// Who may create an account: `open` (anyone who reaches the server), `invite` (only with a
    /// valid invite code) or `closed` (only an operator, with `confab admin create-user`).
    #[arg(long, env = "CONFAB_REGISTRATION", value_enum, default_value_t = RegistrationMode::Open)]
    pub registration: RegistrationMode,

    /// Password hashes (logins, registrations) computed at once; each takes 19 MiB and tens of
    /// milliseconds of a core, and the rest wait their turn.
    #[arg(long, env = "CONFAB_PASSWORD_HASH_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub password_hash_concurrency: u32,

    /// Message sends (and edits, deletes) a user may make at once, over all their sessions and HTTP.
    #[arg(long, env = "CONFAB_SEND_BURST", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub send_burst: u32,

    /// Message sends a user may make per second, sustained.
    #[arg(long, env = "CONFAB_SEND_RATE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub send_rate: u32,

    /// How long a node's presence entries live in Redis without a heartbeat, in seconds; a node
    /// that dies silently has its users shown offline within this plus a third.
    #[arg(long, env = "CONFAB_PRESENCE_TTL_SECS", default_value_t = 45,
          value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub presence_ttl_secs: u64,

    /// Largest upload, in MiB (413 past it).
    #[arg(long, env = "CONFAB_MAX_UPLOAD_MB", default_value_t = 25,
          value_parser = clap::value_parser!(u64).range(1..=10_240))]
    pub max_upload_mb: u64,

    /// Storage each user may fill with uploads, in MiB (413 `quota_exceeded` past it).
    #[arg(long, env = "CONFAB_USER_QUOTA_MB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=10_485_760))]
    pub user_quota_mb: u64,

    /// How long an upload that no message carries is kept, in seconds.
    #[arg(long, env = "CONFAB_UPLOAD_TTL_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    pub upload_ttl_secs: u64,

    /// S3 bucket for uploads (S3-API object storage); files go to the data directory if unset.
    #[arg(long, env = "CONFAB_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// S3 endpoint, for S3-compatible services (MinIO, Garage, …); AWS if unset.
    #[arg(long, env = "CONFAB_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region.
    #[arg(long, env = "CONFAB_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// S3 access key id.
    #[arg(long, env = "CONFAB_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key.
    #[arg(long, env = "CONFAB_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<Secret>,

    /// PEM certificate chain for built-in HTTPS (with `CONFAB_TLS_KEY`).
    #[arg(long, env = "CONFAB_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for built-in HTTPS.
    #[arg(long, env = "CONFAB_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// The Web Push (VAPID) private key: a raw P-256 scalar, base64url (32 bytes). Generated once
    /// and kept in the data directory if unset; every node of a cluster needs the same one.
    #[arg(long, env = "CONFAB_VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<Secret>,

    /// The contact the VAPID token of every Web Push names (`mailto:` or `https:`), so push
    /// services can reach the operator; Apple's refuses pushes without a real one.
    #[arg(
        long,
        env = "CONFAB_PUSH_SUBJECT",
        default_value = "mailto:postmaster@localhost"
    )]
    pub push_subject: String,

    /// FOR TESTS ONLY: accept push subscriptions whose endpoint is plain `http://` or a
    /// loopback or private address (a test's own push service). Off, only `https://` endpoints
    /// on public hosts are accepted, so the server cannot be made to post to the local network.
    #[arg(long, env = "CONFAB_PUSH_ALLOW_INSECURE_ENDPOINTS", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub push_allow_insecure_endpoints: bool,
    /// Previews of the links in messages, fetched by the server (`false` turns them off).
    #[arg(long, env = "CONFAB_LINK_PREVIEWS", default_value_t = true, action = clap::ArgAction::Set)]
    pub link_previews: bool,

    /// TESTING ONLY (hidden from `--help`): address ranges the link fetcher may reach although
    /// they are not public, for the browser tests' page server on 127.0.0.1. Setting it in
    /// production opens the fetcher to those ranges; a warning is logged at start.
    #[arg(
        long,
        env = "CONFAB_TEST_LINK_PREVIEW_ALLOW",
        value_delimiter = ',',
        hide = true
    )]
    pub link_preview_allow: Vec<ipnet::IpNet>,

    /// TESTING ONLY (hidden from `--help`): ports the link fetcher may use besides 80 and 443.
    #[arg(
        long,
        env = "CONFAB_TEST_LINK_PREVIEW_PORTS",
        value_delimiter = ',',
        hide = true
    )]
    pub link_preview_ports: Vec<u16>,

    /// Testing only, no flag or variable: the deadline of one link's preview (5 s).
    #[arg(skip = Duration::from_secs(5))]
    pub link_preview_timeout: Duration,

    /// Log filter (`info`, `confab=debug,tower_http=info`, …); `RUST_LOG` works too.
    #[arg(long, env = "CONFAB_LOG", default_value = "info")]
    pub log: String,
}

/// A setting that parsed on its own but does not fit with the others.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A bad value, with the setting it belongs to.
    #[error("invalid {setting}: {message}")]
    Invalid {
        /// The flag and variable name.
        setting: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl Config {
    /// Checks the settings that depend on one another; each failure is one clear line.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(secret) = &self.jwt_secret
            && secret.expose().len() < 32
        {
            return Err(ConfigError::Invalid {
                setting: "CONFAB_JWT_SECRET (--jwt-secret)",
                message: "must be at least 32 characters; leave it unset to have one generated"
                    .into(),
            });
        }
        if let Some(secret) = &self.turn_secret
            && secret.expose().len() < 16
        {
            return Err(ConfigError::Invalid {
                setting: "CONFAB_TURN_SECRET (--turn-secret)",
                message: "must be at least 16 characters".into(),
            });
        }
        if self.turn_urls.iter().any(IceUrl::is_turn) && self.turn_secret.is_none() {
            return Err(ConfigError::Invalid {
                setting: "CONFAB_TURN_SECRET (--turn-secret)",
                message: "TURN URLs are set, so the secret shared with coturn (static-auth-secret) is required".into(),
            });
        }
        if self.redis_prefix.is_empty()
            || self.redis_prefix.len() > 64
            || self.redis_prefix.contains(char::is_whitespace)
        {
            return Err(ConfigError::Invalid {
                setting: "CONFAB_REDIS_PREFIX (--redis-prefix)",
                message: "use 1 to 64 characters without spaces".into(),
            });
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid {
                setting: "CONFAB_TLS_CERT / CONFAB_TLS_KEY",
                message: "give both the certificate and its key, or neither".into(),
            });
        }
        if self.s3_bucket.is_some()
            && (self.s3_access_key_id.is_none() != self.s3_secret_access_key.is_none())
        {
            return Err(ConfigError::Invalid {
                setting: "CONFAB_S3_ACCESS_KEY_ID / CONFAB_S3_SECRET_ACCESS_KEY",
                message: "give both, or neither to use the environment's AWS credentials".into(),
            });
        }
        if let Some(endpoint) = &self.s3_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                setting: "CONFAB_S3_ENDPOINT",
                message: "must be an http:// or https:// URL".into(),
            });
        }
        if !(self.push_subject.starts_with("mailto:") || self.push_subject.starts_with("https://"))
            || self.push_subject.len() < 8
        {
            return Err(ConfigError::Invalid {
                setting: "CONFAB_PUSH_SUBJECT",
                message: "must be a mailto: or https:// contact, such as mailto:admin@example.org"
                    .into(),
            });
        }
        if self.access_token_ttl_secs >= self.refresh_token_ttl_secs {
            return Err(ConfigError::Invalid {
                setting: "CONFAB_ACCESS_TOKEN_TTL_SECS",
                message: "must be shorter than the refresh token lifetime".into(),
            });
        }
        Ok(())
    }

    /// The address the media socket binds and the one it announces in ICE candidates: the public
    /// IP if set; else the bind address if concrete; else the HTTP listen address if concrete (the
    /// address clients already reach); else the host's first non-loopback IPv4 address.
    pub fn media_addresses(&self) -> Result<(IpAddr, IpAddr), ConfigError> {
        let bind = self.rtc_bind_ip;
        if let Some(ip) = self.public_ip {
            return Ok((bind, ip));
        }
        if !bind.is_unspecified() {
            return Ok((bind, bind));
        }
        if !self.listen.ip().is_unspecified() {
            return Ok((bind, self.listen.ip()));
        }
        let host = if_addrs::get_if_addrs()
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.ip())
            .find(|ip| ip.is_ipv4() && !ip.is_loopback());
        match host {
            Some(ip) => Ok((bind, ip)),
            None => Err(ConfigError::Invalid {
                setting: "CONFAB_PUBLIC_IP (--public-ip)",
                message: "no address to announce for voice media was found; set the address clients reach this host at".into(),
            }),
        }
    }

    /// Access token lifetime.
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    /// Refresh token lifetime.
    pub fn refresh_token_ttl(&self) -> Duration {
        Duration::from_secs(self.refresh_token_ttl_secs)
    }

    /// A configuration for tests and embedding: everything default, data under `data_dir`,
    /// HTTP and media on free loopback ports.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        // Parsing an empty command line cannot fail: every field has a default or is optional.
        let mut config = Wrapper::parse_from(["confab"]).config;
        config.data_dir = data_dir.into();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.rtc_udp_port = 0;
        config.rtc_bind_ip = IpAddr::from([127, 0, 0, 1]);
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_recognised_by_scheme() {
        assert!(matches!(
            "postgres://u@h/db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(matches!(
            "sqlite://data/x.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite(_))
        ));
        assert!("mysql://h/db".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn turn_urls_without_a_secret_are_refused() {
        let mut c = Config::for_data_dir("/tmp/x");
        c.turn_urls = vec!["turn:example.org:3478".parse().unwrap()];
        assert!(c.validate().is_err());
        c.turn_urls = vec!["stun:example.org:3478".parse().unwrap()];
        assert!(c.validate().is_ok());
    }

    #[test]
    fn short_jwt_secrets_are_refused() {
        let mut c = Config::for_data_dir("/tmp/x");
        c.jwt_secret = Some(Secret("0123456789abcdef".into()));
        assert!(c.validate().is_err());
        c.jwt_secret = Some(Secret("0123456789abcdef0123456789abcdef".into()));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn node_ids_are_restricted_to_safe_characters() {
        assert!("node-1".parse::<NodeId>().is_ok());
        assert!("node 1".parse::<NodeId>().is_err());
        assert!("".parse::<NodeId>().is_err());
    }
}
