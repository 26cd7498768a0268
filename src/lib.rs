//! Confab: a self-hosted realtime chat server.
//!
//! Start reading at [`App::build`], which wires the parts together from a [`config::Config`]:
//! the [`store`] keeps history (SQLite or Postgres); the [`service`] layer holds every operation
//! and its rules; [`http`] and the WebSocket [`hub`] are the two transports onto it; the [`bus`]
//! carries events between the nodes of a cluster (in-process, or Redis pub/sub). The wire contract
//! lives in [`protocol`], and `docs/protocol.md` describes it for client authors.
//!
//! Tests and embedders run the real app on port 0: `App::build(config)` binds, [`App::local_addr`]
//! says where, and [`App::run`] serves until the shutdown token is cancelled.

#![warn(clippy::too_many_lines)]

pub mod allocations;
pub mod auth;
pub mod bus;
pub mod config;
pub mod embeds;
pub mod files;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod protocol;
pub mod push;
pub mod service;
pub mod sfu;
pub mod store;
pub mod telemetry;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::{Bus, Presence};
use crate::config::Config;
use crate::hub::registry::Registry;
use crate::hub::{Hub, HubConfig};
use crate::service::Services;
use crate::store::Store;

/// Makes ring the process's TLS crypto provider (for HTTPS to S3 and TURN-less clients, and the
/// built-in TLS listener). Ring is what the WebRTC stack already uses, so there is one crypto
/// library in the binary. Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The kernel send buffer of each accepted connection. Bounding it bounds what a client that
/// stops reading can hold in kernel memory (auto-tuning would let it reach 4 MiB per socket), and
/// lets backpressure reach the session queue, which then closes the slow consumer. 512 KiB still
/// carries about 5 MB/s per download at 100 ms round trip.
pub const SOCKET_SEND_BUFFER: usize = 512 * 1024;

/// How long shutdown waits for sessions and tasks to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the app could not start; each names the setting or resource to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The data directory could not be created or read.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    /// Redis could not be reached.
    #[error(transparent)]
    Redis(#[from] bus::redis::ConnectError),
    /// Signing keys could not be set up.
    #[error("auth: {0}")]
    Auth(#[from] auth::AuthError),
    /// File storage could not be set up.
    #[error("file storage: {0}")]
    Files(#[from] files::storage::StorageError),
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The link previewer's HTTP client could not be built.
    #[error("link previews: {0}")]
    Previews(#[from] reqwest::Error),
    /// The voice media socket could not be set up.
    #[error("voice: {0}")]
    Sfu(#[from] sfu::SfuError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
}

/// This node's name: as configured, or made up at start.
fn node_id(config: &Config) -> String {
    config
        .node_id
        .as_ref()
        .map(|n| n.0.clone())
        .unwrap_or_else(|| format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]))
}

/// The limits of uploads.
fn file_rules(config: &Config) -> service::FileRules {
    service::FileRules {
        max_upload: config.max_upload_mb * 1024 * 1024,
        quota: config.user_quota_mb * 1024 * 1024,
        ttl: Duration::from_secs(config.upload_ttl_secs),
    }
}

/// The throttles of logins, registrations and sends.
fn throttle_rules(config: &Config) -> service::ThrottleRules {
    service::ThrottleRules {
        failures_per_account: config.login_failures_per_account,
        failures_per_address: config.login_failures_per_address,
        first_delay: Duration::from_millis(config.login_delay_ms),
        registrations_per_hour: config.registrations_per_hour,
        send_burst: config.send_burst,
        send_rate: config.send_rate,
    }
}

/// The timeouts and caps of HTTP connections.
fn connection_limits(config: &Config) -> http::server::Limits {
    http::server::Limits {
        header: Duration::from_secs(config.header_timeout_secs),
        idle: Duration::from_secs(config.idle_timeout_secs),
        body: Duration::from_secs(config.body_timeout_secs),
        unauthenticated: config.unauthenticated_connections_per_address as usize,
        trusted: Arc::new(config.trusted_proxies.clone()),
    }
}

/// Limits and timings of sessions.
fn hub_config(config: &Config) -> HubConfig {
    HubConfig {
        session_queue: config.session_queue as usize,
        presence_room_limit: i64::from(config.presence_room_limit),
        ..HubConfig::default()
    }
}

/// The link previewer, unless `CONFAB_LINK_PREVIEWS=false`.
fn previewer(config: &Config) -> Result<Option<embeds::Previewer>, StartError> {
    if !config.link_previews {
        return Ok(None);
    }
    if !config.link_preview_allow.is_empty() || !config.link_preview_ports.is_empty() {
        tracing::warn!(
            allow = ?config.link_preview_allow,
            ports = ?config.link_preview_ports,
            "link previews may reach non-public addresses or ports: a testing setting"
        );
    }
    let guard = embeds::Guard::allowing(
        config.link_preview_allow.clone(),
        config.link_preview_ports.clone(),
    );
    let limits = embeds::Limits {
        timeout: config.link_preview_timeout,
    };
    Ok(Some(embeds::Previewer::new(guard, limits)?))
}

/// Binds the media socket and starts the SFU.
async fn start_sfu(
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(sfu::Sfu, mpsc::Receiver<sfu::RoomEvent>), StartError> {
    let (media_bind, media_announce) = config.media_addresses()?;
    let sfu_config = sfu::SfuConfig {
        bind_ip: media_bind,
        udp_port: config.rtc_udp_port,
        public_ip: Some(media_announce),
        max_participants: config.voice_max_participants as usize,
        rejoin_grace: std::time::Duration::from_secs(config.voice_rejoin_grace_secs),
        max_screen_shares: config.voice_max_screen_shares as usize,
    };
    Ok(sfu::Sfu::start(sfu_config, shutdown).await?)
}

/// No delay for small frames, and a bounded send buffer (see [`SOCKET_SEND_BUFFER`]).
fn tune_socket(tcp: &tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
    let _ = socket2::SockRef::from(tcp).set_send_buffer_size(SOCKET_SEND_BUFFER);
}

/// The ICE servers clients get, from the TURN/STUN settings.
fn ice_config(config: &Config) -> hub::voice::IceConfig {
    let urls: Vec<String> = config.turn_urls.iter().map(|u| u.0.clone()).collect();
    match (&config.turn_secret, urls.is_empty()) {
        (_, true) => hub::voice::IceConfig::default(),
        (Some(secret), false) => hub::voice::IceConfig {
            turn: Some(sfu::turn::TurnConfig {
                urls,
                secret: String::from_utf8_lossy(secret.expose()).into_owned(),
                lifetime: Duration::from_secs(config.turn_ttl_secs),
            }),
            stun: Vec::new(),
        },
        (None, false) => hub::voice::IceConfig {
            turn: None,
            stun: urls,
        },
    }
}

/// What every long-lived part of a node is built with: its name, the token that stops it, and
/// the tracker its tasks run on.
struct Node {
    id: String,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Node {
    /// Builds the parts in the order they depend on each other: the bus around the registry it
    /// delivers into, presence over the bus, Web Push over presence, the services over the
    /// store, the bus and push (whose queued jobs are returned for the push worker), the SFU
    /// and voice, then the hub over all of them.
    async fn wire(
        &self,
        config: &Config,
        store: Store,
        (secret, vapid): (&config::Secret, push::VapidKey),
    ) -> Result<(Arc<Services>, Hub, service::PushJobs), StartError> {
        let (tasks, shutdown) = (&self.tasks, &self.shutdown);
        let redis_url = config.redis_url.as_ref().map(|u| u.0.as_str());
        let link = bus::Link::connect(redis_url, &config.redis_prefix, &self.id).await?;
        let (relay_tx, relay_rx) = mpsc::channel(1024);
        // Access tokens are refused past their expiry anyway: keep revocations that long.
        let revocations = Arc::new(auth::Revocations::new(
            config.access_token_ttl() + Duration::from_secs(60),
        ));
        let registry = Registry::new(
            service::RoomLog::new(store.clone()),
            revocations.clone(),
            relay_tx,
            tasks.clone(),
            |sink| Bus::new(link, &self.id, sink, tasks, shutdown.clone()),
        );
        let bus = registry.bus().clone();
        let (presence_tx, presence_rx) = mpsc::channel(1024);
        let presence_ttl = Duration::from_secs(config.presence_ttl_secs);
        let presence = Presence::for_bus(&bus, presence_ttl, presence_tx, tasks, shutdown.clone());
        let (push, push_jobs) = service::Push::new(
            push::Pusher::new(vapid, config.push_subject.clone()),
            presence.clone(),
            config.push_allow_insecure_endpoints,
        );
        let services = Arc::new(Services::new(
            store,
            auth::Auth::new(
                secret,
                config.access_token_ttl(),
                config.password_hash_concurrency as usize,
                revocations,
            )?,
            bus,
            files::Blobs::new(config)?,
            (
                file_rules(config),
                throttle_rules(config),
                config.registration,
            ),
            config.refresh_token_ttl(),
            (push, previewer(config)?),
        ));
        let (sfu, room_events) = start_sfu(config, shutdown.clone()).await?;
        let voice = hub::voice::Voice::start(
            sfu,
            ice_config(config),
            registry.clone(),
            tasks.clone(),
            (room_events, relay_rx),
            shutdown.clone(),
        );
        let hub = Hub::new(
            services.clone(),
            registry,
            voice,
            presence,
            hub_config(config),
            shutdown.clone(),
            tasks.clone(),
            presence_rx,
        );
        Ok((services, hub, push_jobs))
    }
}

/// A built, bound, not yet serving Confab node.
pub struct App {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: axum::Router,
    limits: http::server::Limits,
    store: Store,
    hub: Hub,
    node_id: String,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl App {
    /// Validates `config`, opens the store (migrating it), connects the bus, and binds the listen
    /// address. Nothing is served until [`App::run`].
    pub async fn build(config: Config) -> Result<App, StartError> {
        install_crypto_provider();
        metrics::install();
        config.validate()?;
        let data_dir = |source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        };
        files::storage::private_dir(&config.data_dir).map_err(data_dir)?;
        let secret = auth::load_or_create_jwt_secret(config.jwt_secret.as_ref(), &config.data_dir)
            .map_err(data_dir)?;
        let vapid =
            push::VapidKey::load_or_create(config.vapid_private_key.as_ref(), &config.data_dir)
                .map_err(data_dir)?;
        let store = Store::open(&config).await?;
        let node = Node {
            id: node_id(&config),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let (services, hub, push_jobs) =
            node.wire(&config, store.clone(), (&secret, vapid)).await?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
            _ => None,
        };
        let Node {
            id: node_id,
            shutdown,
            tasks,
        } = node;
        tasks.spawn(metrics::upkeep(shutdown.clone()));
        tasks.spawn(services.clone().file_janitor(shutdown.clone()));
        tasks.spawn(services.clone().purge_refresh_tokens(shutdown.clone()));
        tasks.spawn(services.clone().watch_revocations(shutdown.clone()));
        tasks.spawn(services.clone().push_worker(push_jobs, shutdown.clone()));
        tasks.spawn(services.clone().run_link_previews(shutdown.clone()));
        let router = http::router(http::AppState {
            services,
            hub: hub.clone(),
            tls: tls.is_some(),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        });
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        tracing::info!(
            node_id = %node_id,
            store = store.backend_name(),
            redis = config.redis_url.is_some(),
            "confab built"
        );
        Ok(App {
            listener,
            tls,
            router,
            limits: connection_limits(&config),
            store,
            hub,
            node_id,
            shutdown,
            tasks,
        })
    }

    /// The bound HTTP address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has a local address.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Cancelling this token starts a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// This node's id in a cluster.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// `https` when serving TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The hub, for counts tests and metrics read.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// Serves until the shutdown token is cancelled; then stops accepting, closes sessions with
    /// 4009, lets in-flight requests finish, and returns within [`SHUTDOWN_GRACE`].
    pub async fn run(self) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr(), scheme = self.scheme(), "listening");
        let server = http::server::Server {
            listener: self.listener,
            tls: self.tls.clone(),
            router: self.router,
            tune: tune_socket,
            limits: self.limits,
        };
        let served = server.run(self.tasks.clone(), self.shutdown.clone());
        served.await;
        self.shutdown.cancel();
        self.hub.voice().sfu().stopped().await;
        self.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not finish within the grace period");
        }
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}
