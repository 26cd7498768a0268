//! Chaos under load, bounded to seconds each: a node killed with SIGKILL while clients write, on
//! SQLite and on Postgres; Postgres going away and coming back; Redis killed and restarted across
//! two nodes. The promise checked each time: an acknowledged message is never lost, seqs stay
//! gap-free, a retried send is stored once, and live sessions hear every message once, in order.

#[path = "../common/mod.rs"]
mod common;

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use confab::protocol::api::{Message, SendMessageRequest};
use confab::protocol::{RoomId, Seq};
use confab_testkit::{Api, ClientError};
use tokio::sync::Mutex;

use common::{Backend, Proxy, RedisServer, Setup, TestDb, redis_prefix};

/// A `confab serve` process of its own, so that it can be killed for real.
struct Node {
    child: std::process::Child,
    api: Api,
}

impl Node {
    /// Starts the binary on `data_dir` (and `database`, if Postgres) on a free port.
    fn start(data_dir: &std::path::Path, database: Option<&str>) -> Node {
        Node::start_with(data_dir, database, &[])
    }

    /// The same, with more settings.
    fn start_with(
        data_dir: &std::path::Path,
        database: Option<&str>,
        env: &[(&str, &str)],
    ) -> Node {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_confab"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CONFAB_LISTEN", "127.0.0.1:0")
            .env("CONFAB_DATA_DIR", data_dir)
            .env("CONFAB_RTC_UDP_PORT", "0")
            .env("CONFAB_RTC_BIND_IP", "127.0.0.1")
            .env("CONFAB_LOG", "error")
            .env("CONFAB_SEND_BURST", "100000")
            .env("CONFAB_SEND_RATE", "100000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if let Some(url) = database {
            cmd.env("DATABASE_URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("confab starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the listening line");
        let base = line
            .trim()
            .strip_prefix("confab listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Node {
            child,
            api: Api::new(&base),
        }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What writers were told: acknowledged messages by client id, and sends whose outcome is
/// unknown (the answer was lost).
#[derive(Default)]
struct Ledger {
    acked: HashMap<String, Message>,
    unknown: HashSet<String>,
}

fn send_req(client_id: &str) -> SendMessageRequest {
    SendMessageRequest {
        body: Some(format!("body of {client_id}")),
        client_id: Some(client_id.to_owned()),
        ..SendMessageRequest::default()
    }
}

/// `writers` clients posting to `room` as fast as they can until `stop`, recording outcomes.
fn write_load(
    api: &Api,
    room: RoomId,
    writers: usize,
    ledger: &Arc<Mutex<Ledger>>,
    stop: &tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|w| {
            let (api, ledger, stop) = (api.clone(), ledger.clone(), stop.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    if stop.is_cancelled() {
                        return;
                    }
                    let id = format!("w{w}-{i}");
                    match api.send(room, &send_req(&id)).await {
                        Ok(m) => {
                            ledger.lock().await.acked.insert(id, m);
                        }
                        Err(_) => {
                            ledger.lock().await.unknown.insert(id);
                            return;
                        }
                    }
                }
            })
        })
        .collect()
}

/// Every message of `room`, oldest first.
async fn history(api: &Api, room: RoomId) -> Vec<Message> {
    let mut all: Vec<Message> = Vec::new();
    loop {
        let after = all.last().map_or(0, |m| m.seq.0);
        let page = api
            .history(room, &format!("after={after}&limit=100"))
            .await
            .unwrap();
        all.extend(page.messages);
        if !page.has_more {
            return all;
        }
    }
}

/// Every acknowledged message is there with its body, seqs are 1..=n, no client id twice.
fn check_log(all: &[Message], ledger: &Ledger) {
    let seqs: Vec<i64> = all.iter().map(|m| m.seq.0).collect();
    assert_eq!(seqs, (1..=all.len() as i64).collect::<Vec<_>>(), "gap-free");
    let mut ids = HashSet::new();
    for m in all {
        if let Some(id) = &m.client_id {
            assert!(ids.insert(id.clone()), "client id {id} stored twice");
        }
    }
    for (id, acked) in &ledger.acked {
        let stored = all
            .iter()
            .find(|m| m.client_id.as_deref() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("acknowledged message {id} lost"));
        assert_eq!((stored.seq, &stored.body), (acked.seq, &acked.body), "{id}");
    }
}

/// Waits until `ledger` holds `n` acknowledged messages.
async fn until_acked(ledger: &Arc<Mutex<Ledger>>, n: usize) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while ledger.lock().await.acked.len() < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the writers make progress");
}

async fn a_node_killed_under_write_load_loses_no_acknowledged_message(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = match backend {
        Backend::Postgres => Some(TestDb::create().await),
        Backend::Sqlite => None,
    };
    let url = db.as_ref().map(|d| d.url.as_str());
    let node = Node::start(dir.path(), url);
    let tokens = node
        .api
        .register("writer", "correct horse battery")
        .await
        .unwrap();
    let api = node.api.as_user(&tokens.access_token);
    let room = api.create_room("load").await.unwrap().id;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = tokio_util::sync::CancellationToken::new();
    let writers = write_load(&api, room, 4, &ledger, &stop);
    until_acked(&ledger, 200).await;
    node.kill();
    for w in writers {
        w.await.unwrap();
    }
    // The same data, a new process; the sends whose answer was lost are retried as a client
    // would, with the same client id.
    let node = Node::start(dir.path(), url);
    let api = node.api.as_user(&tokens.access_token);
    let unknown: Vec<String> = ledger.lock().await.unknown.iter().cloned().collect();
    for id in &unknown {
        let m = api.send(room, &send_req(id)).await.unwrap();
        ledger.lock().await.acked.insert(id.clone(), m);
    }
    let all = history(&api, room).await;
    let ledger = ledger.lock().await;
    assert!(ledger.acked.len() >= 200);
    check_log(&all, &ledger);
    drop(node);
    drop(db);
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_killed_under_write_load_loses_no_acknowledged_message() {
        super::a_node_killed_under_write_load_loses_no_acknowledged_message(super::Backend::Sqlite)
            .await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_killed_under_write_load_loses_no_acknowledged_message() {
        super::a_node_killed_under_write_load_loses_no_acknowledged_message(
            super::Backend::Postgres,
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_away_sends_answer_503_and_work_again_after() {
    let target: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = Proxy::start(target).await;
    let db = Arc::new(TestDb::create().await);
    let url = db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let app = Setup::new(Backend::Sqlite)
        .tweak(move |c| c.database_url = Some(confab::config::DatabaseUrl::Postgres(url)))
        .start()
        .await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("outage").await.unwrap().id;
    let mut ledger = Ledger::default();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let mut i = 0;
    let mut send = async |ledger: &mut Ledger, outcomes: &mut HashMap<String, usize>| {
        i += 1;
        let id = format!("m{i}");
        match ana.api.send(room, &send_req(&id)).await {
            Ok(m) => {
                ledger.acked.insert(id, m);
                *outcomes.entry("ok".into()).or_default() += 1;
                true
            }
            Err(ClientError::Api { status, code, .. }) => {
                ledger.unknown.insert(id);
                *outcomes.entry(format!("{status} {code}")).or_default() += 1;
                false
            }
            Err(e) => panic!("{e}"),
        }
    };
    for _ in 0..50 {
        assert!(send(&mut ledger, &mut outcomes).await);
    }
    proxy.cut();
    // Down: every send fails, and fails as `unavailable`, until it is back.
    for _ in 0..2 {
        assert!(!send(&mut ledger, &mut outcomes).await);
    }
    proxy.restore();
    let back = tokio::time::timeout(Duration::from_secs(20), async {
        while !send(&mut ledger, &mut outcomes).await {}
    })
    .await;
    assert!(back.is_ok(), "sends work again: {outcomes:?}");
    for _ in 0..50 {
        assert!(send(&mut ledger, &mut outcomes).await, "{outcomes:?}");
    }
    let failures: Vec<&String> = outcomes.keys().filter(|k| *k != "ok").collect();
    assert_eq!(failures, [&"503 unavailable".to_owned()], "{outcomes:?}");
    // Sends that failed were not stored; every acknowledged one was.
    let all = history(&ana.api, room).await;
    check_log(&all, &ledger);
    assert_eq!(all.len(), ledger.acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load_loses_nothing_between_nodes() {
    let mut redis = RedisServer::start().await;
    let prefix = redis_prefix();
    let url = redis.url.clone();
    let a = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .tweak(move |c| c.redis_url = Some(confab::config::RedisUrl(url)))
        .start()
        .await;
    let url = redis.url.clone();
    let b = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .sharing(&a)
        .tweak(move |c| c.redis_url = Some(confab::config::RedisUrl(url)))
        .start()
        .await;
    let ana = a.user("ana").await;
    let bo = b.user("bo").await;
    let room = a.room_with(&ana, &[&bo]).await.id;
    let mut listener = b.socket(&bo).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = tokio_util::sync::CancellationToken::new();
    let writers = write_load(&ana.api, room, 2, &ledger, &stop);
    until_acked(&ledger, 50).await;
    redis.kill_and_restart(Duration::from_millis(500)).await;
    let before = ledger.lock().await.acked.len();
    until_acked(&ledger, before + 50).await;
    stop.cancel();
    for w in writers {
        w.await.unwrap();
    }
    let ledger = ledger.lock().await;
    assert!(ledger.unknown.is_empty(), "sends go on while Redis is away");
    let newest = ledger.acked.values().map(|m| m.seq).max().unwrap();
    // The other node's live session hears every acknowledged message, once, in order.
    let mut heard: Vec<Seq> = Vec::new();
    while heard.last() != Some(&newest) {
        let m = listener
            .wait_for(Duration::from_secs(20), "every message", |f| match f {
                confab::protocol::ws::ServerFrame::MessageNew { message } => Some(message.clone()),
                _ => None,
            })
            .await
            .unwrap_or_else(|e| panic!("after {} of {}: {e}", heard.len(), newest.0));
        heard.push(m.seq);
    }
    assert_eq!(
        heard,
        (1..=newest.0).map(Seq).collect::<Vec<_>>(),
        "once each, in order"
    );
    check_log(&history(&ana.api, room).await, &ledger);
}

/// Joins `room`'s call as the holder of `token` on `node`, retrying while the cluster has not yet
/// noticed that the call's old host is gone (its heartbeat has to run out first).
async fn rejoin(
    node: &common::TestApp,
    token: &str,
    room: RoomId,
) -> confab_testkit::voice::Caller {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let socket = confab_testkit::Socket::connect(&node.api.ws_url(), token, None)
            .await
            .unwrap();
        match confab_testkit::voice::Caller::join(socket, room).await {
            Ok(caller) => return caller,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "rejoin refused; retrying");
            }
            Err(e) => panic!("the call was not re-created: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_node_is_killed_is_re_created_on_another_when_its_participants_rejoin() {
    let redis = common::require_redis().await;
    let prefix = redis_prefix();
    let secret = "chaos-test-secret-0123456789abcdef-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(TestDb::create().await);
    let host = Node::start_with(
        dir.path(),
        Some(&db.url),
        &[
            ("REDIS_URL", &redis),
            ("CONFAB_REDIS_PREFIX", &prefix),
            ("CONFAB_JWT_SECRET", secret),
            ("CONFAB_PRESENCE_TTL_SECS", "3"),
            ("CONFAB_NODE_ID", "doomed"),
        ],
    );
    let url = db.url.clone();
    let (r, p) = (redis.clone(), prefix.clone());
    let survivor = Setup::new(Backend::Sqlite)
        .tweak(move |c| {
            c.database_url = Some(confab::config::DatabaseUrl::Postgres(url));
            c.redis_url = Some(confab::config::RedisUrl(r));
            c.redis_prefix = p;
            c.jwt_secret = Some(secret.to_owned().into());
            c.presence_ttl_secs = 3;
        })
        .start()
        .await;
    let ana = survivor.user("ana").await;
    let bo = survivor.user("bo").await;
    let room = survivor.room_with(&ana, &[&bo]).await.id;
    // Ana starts the call on the doomed node; bo joins from the survivor (relayed to it).
    let socket =
        confab_testkit::Socket::connect(&host.api.ws_url(), &ana.tokens.access_token, None)
            .await
            .unwrap();
    let a = confab_testkit::voice::Caller::join(socket, room)
        .await
        .unwrap();
    let mut b = rejoin(&survivor, &bo.tokens.access_token, room).await;
    a.peer.set_publishing(true).await;
    b.peer
        .recv(Duration::from_secs(10))
        .await
        .expect("media flows through the doomed node");
    host.kill();
    drop(a);
    drop(b);
    // Both come back to the survivor, which takes the call over.
    let a = rejoin(&survivor, &ana.tokens.access_token, room).await;
    let mut b = rejoin(&survivor, &bo.tokens.access_token, room).await;
    a.peer.set_publishing(true).await;
    b.peer
        .recv(Duration::from_secs(10))
        .await
        .expect("media flows through the survivor (the doomed node is dead)");
}
