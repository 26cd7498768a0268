//! The shared test harness: start the real app on port 0 against a chosen backend, and drive it
//! through the public contract with `confab_testkit`.
//!
//! Postgres and Redis are the local servers unless `TEST_DATABASE_URL` / `TEST_REDIS_URL` say
//! otherwise. Each Postgres test gets a fresh database (dropped afterwards); each Redis test a fresh
//! key and channel prefix, so tests run in parallel without seeing each other. When a server is
//! unreachable the test fails naming the URL: nothing is skipped silently.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use confab::App;
use confab::config::{Config, DatabaseUrl, RedisUrl};
use confab::hub::Hub;
use confab::protocol::api::{Room, TokenResponse};
use confab::protocol::{RoomId, UserId};
use confab_testkit::{Api, Socket};
use tokio_util::sync::CancellationToken;

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a temporary directory.
    Sqlite,
    /// A fresh Postgres database.
    Postgres,
}

/// Where Postgres is.
pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Where Redis is.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Postgres database made for one test and dropped after it.
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    /// Creates `confab_test_<random>` on the test server.
    pub async fn create() -> TestDb {
        use sqlx::Connection;
        let admin_url = postgres_url();
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "the Postgres tests need a server at {admin_url} (set TEST_DATABASE_URL): {e}"
                )
            });
        let name = format!("confab_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name} on {admin_url}: {e}"));
        let _ = conn.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        TestDb {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; use a thread with its own runtime for the cleanup.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Checks Redis answers, failing the test with its URL if not.
pub async fn require_redis() -> String {
    let url = redis_url();
    let client = redis::Client::open(url.as_str())
        .unwrap_or_else(|e| panic!("bad TEST_REDIS_URL {url}: {e}"));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!("the Redis tests need a server at {url} (set TEST_REDIS_URL): {e}")
        });
    let _: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} does not answer PING: {e}"));
    url
}

/// A running app.
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub api: Api,
    pub config: Config,
    pub hub: Hub,
    pub node_id: String,
    pub shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Kept alive as long as the app (and across restarts).
    pub data_dir: Arc<tempfile::TempDir>,
    pub db: Option<Arc<TestDb>>,
}

/// A change to the config before start.
pub type Tweak = Box<dyn FnOnce(&mut Config) + Send>;

/// Settings for a test app.
pub struct Setup {
    pub backend: Backend,
    pub redis_prefix: Option<String>,
    pub data_dir: Option<Arc<tempfile::TempDir>>,
    pub db: Option<Arc<TestDb>>,
    pub tweak: Option<Tweak>,
}

impl Setup {
    pub fn new(backend: Backend) -> Setup {
        Setup {
            backend,
            redis_prefix: None,
            data_dir: None,
            db: None,
            tweak: None,
        }
    }

    /// Use Redis with this prefix (nodes sharing a prefix form one cluster).
    pub fn redis(mut self, prefix: &str) -> Setup {
        self.redis_prefix = Some(prefix.to_owned());
        self
    }

    /// Change the config before start.
    pub fn tweak(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Setup {
        self.tweak = Some(Box::new(f));
        self
    }

    /// Share a database (and data dir) with another app.
    pub fn sharing(mut self, other: &TestApp) -> Setup {
        self.data_dir = Some(other.data_dir.clone());
        self.db = other.db.clone();
        self
    }

    /// Starts the app.
    pub async fn start(self) -> TestApp {
        let data_dir = match self.data_dir {
            Some(d) => d,
            None => Arc::new(tempfile::tempdir().expect("temp dir")),
        };
        let mut config = Config::for_data_dir(data_dir.path());
        config.db_max_connections = 5;
        config.log = "warn".into();
        // Every test client comes from loopback: the throttles are tested where they are meant.
        config.registrations_per_hour = 1_000_000;
        config.login_failures_per_address = 100_000;
        config.send_burst = 100_000;
        config.send_rate = 100_000;
        let db = match (self.backend, self.db) {
            (Backend::Postgres, Some(db)) => Some(db),
            (Backend::Postgres, None) => Some(Arc::new(TestDb::create().await)),
            (Backend::Sqlite, _) => None,
        };
        if let Some(db) = &db {
            config.database_url = Some(DatabaseUrl::Postgres(db.url.clone()));
        }
        if let Some(prefix) = &self.redis_prefix {
            config.redis_url = Some(RedisUrl(require_redis().await));
            config.redis_prefix = prefix.clone();
        }
        if let Some(tweak) = self.tweak {
            tweak(&mut config);
        }
        start_with(config, data_dir, db).await
    }
}

async fn start_with(
    config: Config,
    data_dir: Arc<tempfile::TempDir>,
    db: Option<Arc<TestDb>>,
) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        confab::telemetry::init("debug");
    }
    let app = App::build(config.clone()).await.expect("app starts");
    let addr = app.local_addr();
    let shutdown = app.shutdown_token();
    let hub = app.hub();
    let node_id = app.node_id().to_owned();
    let handle = tokio::spawn(app.run());
    TestApp {
        addr,
        api: Api::new(&format!("http://{addr}")),
        config,
        hub,
        node_id,
        shutdown,
        handle,
        data_dir,
        db,
    }
}

/// Starts an app on `backend` with defaults.
pub async fn spawn_app(backend: Backend) -> TestApp {
    Setup::new(backend).start().await
}

/// A fresh Redis prefix, so a test's cluster is its own.
pub fn redis_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// A registered user with a client acting as them.
pub struct TestUser {
    pub id: UserId,
    pub name: String,
    pub tokens: TokenResponse,
    pub api: Api,
}

impl TestApp {
    /// Registers `name` (with a random suffix, so names never clash) and signs them in.
    pub async fn user(&self, name: &str) -> TestUser {
        let name = format!("{name}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let tokens = self
            .api
            .register(&name, "correct horse battery")
            .await
            .expect("register");
        TestUser {
            id: tokens.user.id,
            api: self.api.as_user(&tokens.access_token),
            name,
            tokens,
        }
    }

    /// A socket for `user` on this app.
    pub async fn socket(&self, user: &TestUser) -> Socket {
        Socket::connect(&self.api.ws_url(), &user.tokens.access_token, None)
            .await
            .expect("socket connects")
    }

    /// A group room owned by `owner` with `members` added.
    pub async fn room_with(&self, owner: &TestUser, members: &[&TestUser]) -> Room {
        let room = owner.api.create_room("general").await.expect("create room");
        for m in members {
            owner
                .api
                .add_member(room.id, m.id)
                .await
                .expect("add member");
        }
        room
    }

    /// Stops the app gracefully and waits for it.
    pub async fn stop(self) -> (Arc<tempfile::TempDir>, Option<Arc<TestDb>>) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.handle).await;
        (self.data_dir, self.db)
    }

    /// Starts a new app on the same data dir and database.
    pub async fn restart(self) -> TestApp {
        let config = self.config.clone();
        let (data_dir, db) = self.stop().await;
        let mut config = config;
        config.listen = "127.0.0.1:0".parse().expect("addr");
        start_with(config, data_dir, db).await
    }
}

/// A user's socket for `room`-scoped helpers.
pub fn room_id(room: &Room) -> RoomId {
    room.id
}

/// Runs the body of a test for each backend: `both_backends!(name_a, name_b)` makes
/// `sqlite::name_a`, `postgres::name_a`, … calling `name_a(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A private `redis-server` on a free port, stopped when dropped: for tests that kill
/// connections or stop Redis without disturbing other tests.
pub struct RedisServer {
    pub url: String,
    pub port: u16,
    child: std::process::Child,
}

impl RedisServer {
    /// Starts one and waits until it answers.
    pub async fn start() -> RedisServer {
        RedisServer::spawn_on(free_port()).await
    }

    /// Kills it (SIGKILL) and starts a new one on the same port once it is gone; returns when
    /// the new one answers. Whatever the old one held is lost, as in a crash.
    pub async fn kill_and_restart(&mut self, down_for: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        tokio::time::sleep(down_for).await;
        let restarted = RedisServer::spawn_on(self.port).await;
        // The old one's process is already reaped: dropping it signals nothing.
        drop(std::mem::replace(self, restarted));
    }

    async fn spawn_on(port: u16) -> RedisServer {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the cluster tests (apt-get install redis-server)");
        let url = format!("redis://127.0.0.1:{port}");
        let server = RedisServer { url, port, child };
        for _ in 0..100 {
            if let Ok(client) = redis::Client::open(server.url.as_str())
                && let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private redis-server on port {port} did not start");
    }

    /// A command connection to it.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// The ids of the clients connected now.
    pub async fn client_ids(&self) -> Vec<i64> {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut self.conn().await)
            .await
            .unwrap();
        list.lines()
            .filter_map(|l| l.split(' ').find_map(|kv| kv.strip_prefix("id=")))
            .filter_map(|id| id.parse().ok())
            .collect()
    }

    /// `CLIENT KILL ID` for each of `ids`.
    pub async fn kill(&self, ids: &[i64]) {
        let mut c = self.conn().await;
        for id in ids {
            let _: redis::RedisResult<i64> = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(*id)
                .query_async(&mut c)
                .await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A TCP proxy to a dependency that a test can cut (every connection dropped, new ones refused)
/// and restore: a dependency going away, seen from the app.
pub struct Proxy {
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<port> to `target`.
    pub async fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::Notify::new());
        let (up2, cut2) = (up.clone(), cut.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                let cut = cut2.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        Proxy {
            port,
            up,
            cut,
            task,
        }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
