//! Operating a node: metrics that move with traffic, readiness that follows the database, built-in
//! TLS, admin commands and online backups. Metrics are process-wide, so this binary's tests run
//! one at a time.

#[path = "../common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use confab::protocol::api::SendMessageRequest;
use confab::protocol::ws::ClientFrame;
use confab::protocol::{Role, Seq, ServerRole};
use confab_testkit::{Api, Socket};
use reqwest::Method;

use common::{Backend, Proxy, Setup, spawn_app};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The samples of a Prometheus text page: `name{labels}` → value.
async fn scrape(api: &Api) -> HashMap<String, f64> {
    let text = api
        .get_raw("/metrics", &[])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn get(m: &HashMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_rise_by_what_was_sent() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut a = app.socket(&ana).await;
    let mut b = app.socket(&bo).await;
    let before = scrape(&app.api).await;
    assert_eq!(get(&before, "confab_sessions"), 2.0);
    for i in 0..5 {
        a.send_text(room.id, &format!("m{i}")).await.unwrap();
    }
    // Both sessions (the sender's too) get each message.
    for s in [&mut a, &mut b] {
        let mut n = 0;
        while n < 5 {
            s.wait_for(Duration::from_secs(5), "message", |f| {
                matches!(f, confab::protocol::ws::ServerFrame::MessageNew { .. }).then_some(())
            })
            .await
            .unwrap();
            n += 1;
        }
    }
    let (status, _) = ana
        .api
        .call(
            Method::GET,
            &format!("/api/v1/rooms/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
    let after = scrape(&app.api).await;
    let delta = |key: &str| get(&after, key) - get(&before, key);
    assert_eq!(delta("confab_messages_sent_total"), 5.0);
    assert_eq!(delta("confab_messages_delivered_total"), 10.0);
    assert_eq!(delta("confab_errors_total{code=\"room_not_found\"}"), 1.0);
    assert!(delta("confab_http_requests_total{status=\"4xx\"}") >= 1.0);
    assert!(get(&after, "confab_delivery_latency_seconds_count") >= 10.0);
    assert!(get(&after, "confab_fanout_latency_seconds_count") >= 5.0);
    assert!(get(&after, "confab_store_seconds_count{access=\"write\"}") > 0.0);
    assert_eq!(get(&after, "confab_bus_up"), 1.0);

    // Voice: a call of two, with media flowing.
    let ca = confab_testkit::voice::Caller::join(app.socket(&ana).await, room.id)
        .await
        .unwrap();
    let mut cb = confab_testkit::voice::Caller::join(app.socket(&bo).await, room.id)
        .await
        .unwrap();
    ca.peer.set_publishing(true).await;
    cb.peer
        .recv(Duration::from_secs(10))
        .await
        .expect("media flows");
    // The SFU publishes its counters on its housekeeping tick: wait for them.
    let mut during = scrape(&app.api).await;
    for _ in 0..50 {
        if get(&during, "confab_rtp_packets_total{direction=\"out\"}") > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        during = scrape(&app.api).await;
    }
    assert_eq!(get(&during, "confab_voice_rooms"), 1.0);
    assert_eq!(get(&during, "confab_voice_participants"), 2.0);
    assert!(get(&during, "confab_rtp_packets_total{direction=\"in\"}") > 0.0);
    assert!(get(&during, "confab_rtp_packets_total{direction=\"out\"}") > 0.0);
    assert!(get(&during, "confab_rtp_bytes_total{direction=\"out\"}") > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database() {
    let _serial = SERIAL.lock().await;
    let target: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = Proxy::start(target).await;
    let db = Arc::new(common::TestDb::create().await);
    let url = db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let app = Setup::new(Backend::Sqlite)
        .tweak(move |c| c.database_url = Some(confab::config::DatabaseUrl::Postgres(url)))
        .start()
        .await;
    let ready = || async { app.api.call(Method::GET, "/readyz", None).await.unwrap() };
    let (status, body) = ready().await;
    assert_eq!(
        (status, body["store"]["backend"].as_str()),
        (200, Some("postgres"))
    );
    proxy.cut();
    let (status, body) = ready().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["store"]["status"], "down");
    assert_eq!(
        app.api.call(Method::GET, "/healthz", None).await.unwrap().0,
        200,
        "alive all the same"
    );
    proxy.restore();
    let mut status = 0;
    for _ in 0..50 {
        status = ready().await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_wss_with_a_self_signed_certificate() {
    let _serial = SERIAL.lock().await;
    confab::install_crypto_provider();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let (c, k) = (cert_path.clone(), key_path.clone());
    let app = Setup::new(Backend::Sqlite)
        .tweak(move |cfg| {
            cfg.tls_cert = Some(c);
            cfg.tls_key = Some(k);
        })
        .start()
        .await;
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let api = Api::with_client(http, &format!("https://localhost:{}", app.addr.port()));
    let (status, _) = api.call(Method::GET, "/healthz", None).await.unwrap();
    assert_eq!(status, 200);
    let page = api.get_raw("/", &[]).await.unwrap();
    assert_eq!(
        page.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=63072000"),
        "browsers are told to keep to HTTPS"
    );
    let tokens = api.register("tls_user", "password-1").await.unwrap();
    // Plain HTTP to the TLS port is refused.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{}/healthz", app.addr.port()))
            .await
            .is_err()
    );

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let url = format!("wss://localhost:{}/api/v1/ws", app.addr.port());
    let ws = confab_testkit::websocket(&url, tls).await.unwrap();
    let mut socket = Socket::authenticate(ws, &tokens.access_token, None)
        .await
        .unwrap();
    assert_eq!(socket.user.username, "tls_user");
    socket.request(ClientFrame::Ping).await.unwrap();
}

fn confab_cli(args: &[&str], data_dir: &std::path::Path, stdin: Option<&str>) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_confab"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_manage_users_and_roles_beside_a_running_server() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app(Backend::Sqlite).await;
    let dir = app.data_dir.path().to_owned();
    let (ok, out) = confab_cli(
        &[
            "admin",
            "create-user",
            "root_admin",
            "--display-name",
            "Root",
        ],
        &dir,
        Some("first-password\n"),
    );
    assert!(ok, "{out}");
    let first = app.api.login("root_admin", "first-password").await.unwrap();
    assert_eq!(first.user.display_name, "Root");
    assert_eq!(
        first.user.server_role,
        ServerRole::Admin,
        "the first account"
    );
    let (ok, out) = confab_cli(
        &["admin", "set-server-role", "root_admin", "member"],
        &dir,
        None,
    );
    assert!(ok, "{out}");
    let api = app.api.as_user(&first.access_token);
    assert_eq!(api.me().await.unwrap().server_role, ServerRole::Member);
    let (ok, out) = confab_cli(
        &["admin", "set-server-role", "root_admin", "king"],
        &dir,
        None,
    );
    assert!(!ok && out.contains("server role"), "{out}");
    let mut open = Socket::connect(&app.api.ws_url(), &first.access_token, None)
        .await
        .unwrap();
    let (ok, out) = confab_cli(
        &["admin", "create-user", "root_admin"],
        &dir,
        Some("whatever-pass\n"),
    );
    assert!(!ok && out.contains("taken"), "{out}");
    let (ok, out) = confab_cli(&["admin", "create-user", "nopass"], &dir, None);
    assert!(!ok && out.contains("no password"), "{out}");

    let (ok, out) = confab_cli(
        &["admin", "reset-password", "root_admin"],
        &dir,
        Some("second-password\n"),
    );
    assert!(ok, "{out}");
    assert!(app.api.login("root_admin", "first-password").await.is_err());
    assert_eq!(
        app.api
            .refresh(&first.refresh_token)
            .await
            .unwrap_err()
            .code(),
        Some("invalid_refresh_token"),
        "reset signs the user out everywhere"
    );
    // The open socket of that login closes, and its access token stops working, within the
    // nodes' revocation poll (the command runs beside the server, without its bus).
    let closed = open.drain(Duration::from_secs(5)).await;
    assert!(
        closed.iter().any(|i| matches!(
            i,
            confab_testkit::Incoming::Closed {
                code: Some(4001),
                ..
            }
        )),
        "{closed:?}"
    );
    assert_eq!(
        app.api
            .as_user(&first.access_token)
            .me()
            .await
            .unwrap_err()
            .code(),
        Some("token_revoked")
    );
    let admin = app
        .api
        .login("root_admin", "second-password")
        .await
        .unwrap();

    let owner = app.user("owner").await;
    let room = owner.api.create_room("ops").await.unwrap();
    owner.api.add_member(room.id, admin.user.id).await.unwrap();
    let (ok, out) = confab_cli(
        &[
            "admin",
            "set-role",
            &room.id.to_string(),
            "root_admin",
            "owner",
        ],
        &dir,
        None,
    );
    assert!(ok, "{out}");
    let api = app.api.as_user(&admin.access_token);
    assert_eq!(api.room(room.id).await.unwrap().role, Role::Owner);
    assert_eq!(owner.api.room(room.id).await.unwrap().role, Role::Admin);
    let (ok, out) = confab_cli(
        &[
            "admin",
            "set-role",
            &room.id.to_string(),
            "root_admin",
            "emperor",
        ],
        &dir,
        None,
    );
    assert!(!ok && out.contains("role"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_holds_every_acknowledged_message() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("keep").await.unwrap();
    let mut acked = Vec::new();
    for i in 0..40 {
        acked.push(
            ana.api
                .send_text(room.id, &format!("before {i}"))
                .await
                .unwrap()
                .seq,
        );
    }
    // Writers keep writing while the backup runs.
    let api = ana.api.clone();
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            api.send(
                room.id,
                &SendMessageRequest {
                    body: Some(format!("during {i}")),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
    });
    let dest = app.data_dir.path().join("backup.db");
    let dir = app.data_dir.path().to_owned();
    let (ok, out) = confab_cli(&["backup", dest.to_str().unwrap()], &dir, None);
    assert!(ok, "{out}");
    writer.await.unwrap();
    let (ok, out) = confab_cli(&["backup", dest.to_str().unwrap()], &dir, None);
    assert!(!ok && out.contains("already exists"), "{out}");

    // Restore into a fresh data dir, with the same signing key.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&dest, restored.path().join("confab.db")).unwrap();
    std::fs::copy(
        app.data_dir.path().join("jwt_secret"),
        restored.path().join("jwt_secret"),
    )
    .unwrap();
    let restored = Arc::new(restored);
    let mut config = confab::config::Config::for_data_dir(restored.path());
    config.log = "warn".into();
    let app2 = confab::App::build(config).await.unwrap();
    let addr = app2.local_addr();
    let stop = app2.shutdown_token();
    let served = tokio::spawn(app2.run());
    let api = Api::new(&format!("http://{addr}")).as_user(&ana.tokens.access_token);
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page = api
            .history(room.id, &format!("after={after}&limit=100"))
            .await
            .unwrap();
        seqs.extend(page.messages.iter().map(|m| m.seq));
        after = seqs.last().map_or(after, |s| s.0);
        if !page.has_more {
            break;
        }
    }
    for s in &acked {
        assert!(
            seqs.contains(s),
            "acknowledged message {s} missing from the backup"
        );
    }
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).map(Seq).collect::<Vec<_>>(),
        "gap-free"
    );
    stop.cancel();
    let _ = served.await;
}

fn bare_command(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_confab"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("CONFAB_")
            || key == "DATABASE_URL"
            || key == "REDIS_URL"
            || key == "RUST_LOG"
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_configuration_it_serves_on_8080_from_a_data_dir_it_creates() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = bare_command(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        first_line.trim(),
        "confab listening on http://127.0.0.1:8080"
    );
    let (status, _) = Api::new("http://127.0.0.1:8080")
        .call(Method::GET, "/healthz", None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(dir.path().join("data/confab.db").exists());
    let secret = dir.path().join("data/jwt_secret");
    assert!(std::fs::read_to_string(&secret).unwrap().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
    }
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exits cleanly on SIGTERM: {status}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn bad_settings_are_refused_at_start_with_a_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("CONFAB_LISTEN", "not-an-address")],
            "invalid value 'not-an-address' for '--listen",
        ),
        (
            &[("CONFAB_JWT_SECRET", "too-short")],
            "invalid CONFAB_JWT_SECRET",
        ),
        (
            &[("DATABASE_URL", "mysql://x")],
            "expected a URL starting with sqlite:, postgres://",
        ),
        (
            &[("CONFAB_TURN_URLS", "turn:turn.example.org")],
            "invalid CONFAB_TURN_SECRET",
        ),
        (&[("CONFAB_RTC_UDP_PORT", "70000")], "invalid value '70000'"),
    ];
    for (env, expected) in cases {
        let mut cmd = bare_command(dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{env:?} was accepted");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains(expected), "{env:?}: {stderr}");
    }
}
