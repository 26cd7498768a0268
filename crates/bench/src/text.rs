//! `confab-bench text`: WebSocket sessions in a chosen shape, messages at chosen rates, every
//! delivery timed. The same shape then runs against the baseline broadcast server.
//!
//! The parent sets up accounts and rooms over HTTP, then hands the sessions to worker processes
//! ([`crate::worker`]), each holding up to `--sessions-per-worker` of them, so no process runs
//! into the file limit. For each rate it starts all workers' senders at one instant, waits for
//! every expected delivery (or `--drain-secs`), and merges the workers' histograms.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use clap::{Args, ValueEnum};
use hdrhistogram::serialization::Deserializer;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::report::{Figures, Report};
use crate::server::Servers;
use crate::wire::{Command, Event, Protocol, SessionPlan};
use crate::worker::{histogram, now_us};
use crate::{Common, Systems};
use confab_testkit::Api;

/// How rooms and senders are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shape {
    /// One room with every user; `--senders` sessions send into it.
    Big,
    /// Users in pairs, each pair a DM; every user sends into their DM.
    Dm,
    /// Both: one room with everyone, and the DM pairs; every user sends, one message in ten
    /// into the big room and the rest into their DM.
    Mix,
}

/// The text load shape and schedule.
#[derive(Args, Debug, Clone)]
pub struct TextArgs {
    /// Layout of rooms and senders.
    #[arg(long, value_enum, default_value_t = Shape::Big)]
    pub shape: Shape,
    /// Accounts.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// WebSocket sessions per account (tabs, devices).
    #[arg(long, default_value_t = 1)]
    pub sessions_per_user: usize,
    /// Sending sessions, for the big shape (dm and mix: every user's first session sends).
    #[arg(long, default_value_t = 10)]
    pub senders: usize,
    /// Messages per second, all senders together; a list runs one step per rate.
    #[arg(long, value_delimiter = ',', default_value = "50")]
    pub rate: Vec<f64>,
    /// Seconds of sending per step.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// After sending, how long to wait at most for the last deliveries.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    /// Bytes in each message body (the send time rides in it).
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// Sessions one worker process holds.
    #[arg(long, default_value_t = 8000)]
    pub sessions_per_worker: usize,
    /// Drop the search index from the node's database before the load (SQLite: the FTS5
    /// triggers; Postgres: the GIN index and the tsvector column), to measure what indexing
    /// adds to a send. Destructive: search stops working on that database.
    #[arg(long)]
    pub without_search_index: bool,
}

/// Rooms, sessions and who sends where, independent of the server.
struct Plan {
    /// Each room's users.
    room_users: Vec<Vec<usize>>,
    /// Sessions hearing each room.
    room_sessions: Vec<u64>,
    /// Every session, tokens not yet filled in.
    sessions: Vec<SessionPlan>,
}

impl Plan {
    fn new(args: &TextArgs, nodes: usize) -> anyhow::Result<Plan> {
        let users = args.users;
        if users < 2 {
            bail!("--users must be at least 2");
        }
        if args.shape != Shape::Big && !users.is_multiple_of(2) {
            bail!("--users must be even for the dm and mix shapes (users come in pairs)");
        }
        let big = args.shape != Shape::Dm;
        let dm_base = usize::from(big);
        let mut room_users: Vec<Vec<usize>> = Vec::new();
        if big {
            room_users.push((0..users).collect());
        }
        if args.shape != Shape::Big {
            room_users.extend((0..users / 2).map(|k| vec![2 * k, 2 * k + 1]));
        }
        let spu = args.sessions_per_user.max(1);
        let mut sessions = Vec::with_capacity(users * spu);
        for u in 0..users {
            let dm = (dm_base + u / 2) as u32;
            let rooms = match args.shape {
                Shape::Big => vec![0],
                Shape::Dm => vec![dm],
                Shape::Mix => vec![0, dm],
            };
            for s in 0..spu {
                let index = u * spu + s;
                let sends = s == 0
                    && match args.shape {
                        Shape::Big => u < args.senders.max(1),
                        Shape::Dm | Shape::Mix => true,
                    };
                let send_rooms = match (sends, args.shape) {
                    (false, _) => Vec::new(),
                    (true, Shape::Big) => vec![0],
                    (true, Shape::Dm) => vec![dm],
                    (true, Shape::Mix) => std::iter::once(0)
                        .chain(std::iter::repeat_n(dm, 9))
                        .collect(),
                };
                sessions.push(SessionPlan {
                    node: index % nodes.max(1),
                    token: None,
                    rooms: rooms.clone(),
                    send_rooms,
                    index,
                });
            }
        }
        let room_sessions = room_users.iter().map(|u| (u.len() * spu) as u64).collect();
        Ok(Plan {
            room_users,
            room_sessions,
            sessions,
        })
    }

    fn senders(&self) -> usize {
        self.sessions
            .iter()
            .filter(|s| !s.send_rooms.is_empty())
            .count()
    }
}

/// Removes what keeps the search index in step with `messages` from the node's database (see
/// [`TextArgs::without_search_index`]).
async fn drop_search_index(servers: &Servers, database_url: Option<&str>) -> anyhow::Result<()> {
    match database_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url)
                .await
                .context("connecting to --database-url")?;
            for sql in [
                "DROP TRIGGER message_attachments_search ON message_attachments",
                "DROP INDEX messages_search",
                "ALTER TABLE messages DROP COLUMN search",
            ] {
                sqlx::query(sql).execute(&pool).await.context(sql)?;
            }
        }
        None => {
            let dirs = servers.data_dirs();
            let dir = dirs.first().context("no node data directory")?;
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(dir.join("confab.db"))
                .busy_timeout(Duration::from_secs(30));
            let pool = sqlx::SqlitePool::connect_with(options)
                .await
                .context("opening the node's SQLite file")?;
            for trigger in [
                "messages_search_insert",
                "messages_search_update",
                "messages_search_delete",
                "message_attachments_search",
            ] {
                let sql = format!("DROP TRIGGER {trigger}");
                sqlx::query(&sql).execute(&pool).await.context(sql)?;
            }
        }
    }
    Ok(())
}

/// Runs the text benchmark against the systems asked for.
pub async fn run(common: &Common, args: &TextArgs, systems: Systems) -> anyhow::Result<Report> {
    if args.rate.iter().any(|r| r.is_nan() || *r <= 0.0) || args.secs.is_nan() || args.secs <= 0.0 {
        bail!("--rate and --secs must be positive");
    }
    let nodes = if common.url.is_some() {
        1
    } else {
        common.nodes.max(1)
    };
    let mut plan = Plan::new(args, nodes)?;
    let mut report = Report {
        mode: "text",
        baseline_name: "tokio-tungstenite broadcast server: no auth, no storage, no JSON",
        setup: vec![
            (
                "shape".into(),
                json!(format!("{:?}", args.shape).to_lowercase()),
            ),
            ("users".into(), json!(args.users)),
            ("sessions".into(), json!(plan.sessions.len())),
            ("rooms".into(), json!(plan.room_users.len())),
            ("senders".into(), json!(plan.senders())),
            (
                "largest room (sessions)".into(),
                json!(plan.room_sessions.iter().max()),
            ),
            ("seconds per step".into(), json!(args.secs)),
            ("body bytes".into(), json!(args.body_bytes)),
            ("confab nodes".into(), json!(nodes)),
            (
                "store".into(),
                json!(if common.database_url.is_some() {
                    "postgres"
                } else {
                    "sqlite"
                }),
            ),
        ],
        steps: Report::steps(args.rate.iter().copied()),
        plot_x: "deliveries_per_sec",
        plot_y: &["latency_p50_ms", "latency_p99_ms"],
        problems: Vec::new(),
    };
    if systems != Systems::BaselineOnly {
        let servers = common.confab_servers().await?;
        let started = Instant::now();
        let rooms = set_up_confab(&servers, &mut plan).await?;
        if args.without_search_index {
            drop_search_index(&servers, common.database_url.as_deref()).await?;
            report.setup.push(("search index".into(), json!("dropped")));
        }
        report.setup.push((
            "setup over HTTP (s)".into(),
            json!(started.elapsed().as_secs_f64()),
        ));
        let urls = servers
            .urls
            .iter()
            .map(|u| format!("{}/api/v1/ws", ws_base(u)))
            .collect();
        let figures = measure(Protocol::Confab, urls, rooms, &plan, args, &servers).await;
        servers.stop().await;
        let (figures, problems) = figures?;
        report.record(false, figures, problems);
    }
    if systems != Systems::ConfabOnly {
        let servers = Servers::baseline("ws-baseline", &[]).await?;
        let urls = vec![format!("{}/", ws_base(&servers.urls[0]))];
        let rooms = (0..plan.room_users.len()).map(|r| r.to_string()).collect();
        let figures = measure(Protocol::Baseline, urls, rooms, &plan, args, &servers).await;
        servers.stop().await;
        let (figures, problems) = figures?;
        report.record(true, figures, problems);
    }
    if systems == Systems::BaselineOnly {
        report.mode = "limit text";
    }
    Ok(report)
}

fn ws_base(http: &str) -> String {
    http.replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1)
}

/// Registers the accounts, creates the rooms, and fills in the sessions' tokens; returns the
/// room ids by room index.
async fn set_up_confab(servers: &Servers, plan: &mut Plan) -> anyhow::Result<Vec<String>> {
    let api = Api::new(&servers.urls[0]);
    let users = plan.room_users.iter().flatten().max().map_or(0, |m| m + 1);
    let accounts = servers.register(users).await?;
    let mut room_ids = Vec::with_capacity(plan.room_users.len());
    for members in &plan.room_users {
        let room = if members.len() == 2 {
            api.as_user(&accounts[members[0]].access_token)
                .open_dm(accounts[members[1]].user.id)
                .await
                .context("opening a DM")?
        } else {
            let others: Vec<_> = members[1..].iter().map(|m| accounts[*m].user.id).collect();
            servers
                .group_room(&accounts[members[0]], "bench", &others)
                .await?
        };
        room_ids.push(room.id.to_string());
    }
    let spu = plan.sessions.len() / users.max(1);
    for s in &mut plan.sessions {
        s.token = Some(accounts[s.index / spu.max(1)].access_token.clone());
    }
    Ok(room_ids)
}

/// A worker process and its two pipes.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    events: Lines<BufReader<ChildStdout>>,
    senders: usize,
}

impl Worker {
    async fn spawn(senders: usize) -> anyhow::Result<Worker> {
        let me = std::env::current_exe().context("finding confab-bench's own path")?;
        let mut child = tokio::process::Command::new(me)
            .arg("worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting a worker")?;
        let stdin = child.stdin.take().context("worker stdin")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        Ok(Worker {
            child,
            stdin,
            events: BufReader::new(stdout).lines(),
            senders,
        })
    }

    async fn send(&mut self, command: &Command) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(command)?;
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .context("writing to a worker")?;
        Ok(())
    }

    async fn recv(&mut self, within: Duration) -> anyhow::Result<Event> {
        let line = tokio::time::timeout(within, self.events.next_line())
            .await
            .context("a worker did not answer in time")?
            .context("reading a worker")?
            .context("a worker exited")?;
        serde_json::from_str(&line).context("reading a worker's event")
    }
}

/// Sends `command` to every worker and collects one event from each.
async fn ask_all(
    workers: &mut [Worker],
    command: impl Fn(&Worker) -> Command,
    within: Duration,
) -> anyhow::Result<Vec<Event>> {
    for w in workers.iter_mut() {
        let c = command(w);
        w.send(&c).await?;
    }
    let mut out = Vec::with_capacity(workers.len());
    for w in workers.iter_mut() {
        out.push(w.recv(within).await?);
    }
    Ok(out)
}

/// Opens the plan's sessions against `urls` and runs every step; returns each step's figures
/// and the problems found.
async fn measure(
    protocol: Protocol,
    urls: Vec<String>,
    rooms: Vec<String>,
    plan: &Plan,
    args: &TextArgs,
    servers: &Servers,
) -> anyhow::Result<(Vec<Figures>, Vec<String>)> {
    let mut problems = Vec::new();
    let before = servers.usage();
    let per_worker = args.sessions_per_worker.max(1);
    let chunks: Vec<Vec<SessionPlan>> = plan
        .sessions
        .chunks(per_worker)
        .map(<[SessionPlan]>::to_vec)
        .collect();
    let mut workers = Vec::with_capacity(chunks.len());
    for chunk in &chunks {
        let senders = chunk.iter().filter(|s| !s.send_rooms.is_empty()).count();
        workers.push(Worker::spawn(senders).await?);
    }

    // Connect every session, all workers at once.
    let started = Instant::now();
    for (w, chunk) in workers.iter_mut().zip(chunks) {
        w.send(&Command::Connect {
            protocol,
            urls: urls.clone(),
            rooms: rooms.clone(),
            sessions: chunk,
            body_bytes: args.body_bytes,
        })
        .await?;
    }
    let (mut opened, mut failed) = (0u64, 0u64);
    for w in &mut workers {
        if let Event::Connected {
            ok,
            failed: f,
            first_error,
        } = w.recv(Duration::from_secs(600)).await?
        {
            opened += ok;
            failed += f;
            if let Some(e) = first_error {
                problems.push(format!("{f} sessions failed to open, first: {e}"));
            }
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    // Let the server settle (presence, subscriptions) before reading its memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = servers.usage();
    let per_session_kib = crate::server::rss_growth_per(before, connected, opened);

    let total_senders: usize = workers.iter().map(|w| w.senders).sum();
    let mut steps = Vec::with_capacity(args.rate.len());
    for &rate in &args.rate {
        let start_at = now_us() + 500_000;
        let mut sent_events = Vec::new();
        for w in &mut workers {
            let share = if total_senders == 0 {
                0.0
            } else {
                rate * w.senders as f64 / total_senders as f64
            };
            w.send(&Command::Run {
                start_at_us: start_at,
                secs: args.secs,
                rate: share,
            })
            .await?;
        }
        tokio::time::sleep(Duration::from_micros(start_at.saturating_sub(now_us()))).await;
        let worker_pids: Vec<u32> = workers.iter().filter_map(|w| w.child.id()).collect();
        let allocations_start = servers.allocations().await;
        let cpu_start = servers.usage();
        let bench_start = crate::server::usage(&worker_pids);
        let send_started = Instant::now();
        let wait = Duration::from_secs_f64(args.secs + 30.0);
        for w in &mut workers {
            sent_events.push(w.recv(wait).await?);
        }
        let (mut sent, mut send_failed, mut expected) = (0u64, 0u64, 0u64);
        for e in &sent_events {
            if let Event::Sent { by_room, failed } = e {
                send_failed += failed;
                for (room, n) in by_room {
                    sent += n;
                    expected += n * plan.room_sessions[*room as usize];
                }
            }
        }
        // Drain: wait for every expected delivery, or the deadline.
        let deadline = Instant::now() + Duration::from_secs_f64(args.drain_secs);
        let mut delivered;
        loop {
            let counts = ask_all(&mut workers, |_| Command::Count, Duration::from_secs(30)).await?;
            delivered = counts
                .iter()
                .map(|e| match e {
                    Event::Count { delivered } => *delivered,
                    _ => 0,
                })
                .sum::<u64>();
            if delivered >= expected || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let busy_secs = send_started.elapsed().as_secs_f64();
        let cpu_end = servers.usage();
        let bench_end = crate::server::usage(&worker_pids);
        let allocations_end = servers.allocations().await;

        let reports = ask_all(&mut workers, |_| Command::Report, Duration::from_secs(30)).await?;
        let mut latency = histogram();
        let (mut errors, mut slow, mut other_closes) = (0u64, 0u64, 0u64);
        delivered = 0;
        for r in reports {
            if let Event::Report {
                delivered: d,
                latency: encoded,
                errors: e,
                closes,
                first_error,
            } = r
            {
                delivered += d;
                errors += e;
                let bytes = base64::engine::general_purpose::STANDARD.decode(encoded)?;
                let h: hdrhistogram::Histogram<u64> = Deserializer::new()
                    .deserialize(&mut bytes.as_slice())
                    .map_err(|e| anyhow::anyhow!("reading a worker's histogram: {e:?}"))?;
                latency.add(&h).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                for (code, n) in closes {
                    if code == 4008 {
                        slow += n;
                    } else {
                        other_closes += n;
                    }
                }
                if let Some(e) = first_error {
                    problems.push(format!("at {rate}/s: first error: {e}"));
                }
            }
        }
        let missing = expected.saturating_sub(delivered);
        if missing > 0 {
            problems.push(format!(
                "at {rate}/s: {missing} of {expected} deliveries missing after {:.1} s",
                args.drain_secs
            ));
        }
        if delivered > expected {
            problems.push(format!(
                "at {rate}/s: {delivered} deliveries for {expected} expected (duplicates)"
            ));
        }
        if send_failed > 0 || errors > 0 || slow > 0 || other_closes > 0 {
            problems.push(format!(
                "at {rate}/s: {send_failed} sends not queued, {errors} errors, {slow} slow-consumer \
                 closes, {other_closes} other closes"
            ));
        }
        let cpu_between =
            |a: Option<crate::server::Usage>, b: Option<crate::server::Usage>| match (a, b) {
                (Some(a), Some(b)) => b.cpu_secs - a.cpu_secs,
                _ => f64::NAN,
            };
        let cpu = cpu_between(cpu_start, cpu_end);
        let bench_cpu = cpu_between(bench_start, bench_end);
        let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
        let mut f = Figures::default();
        f.push("sessions", "", opened as f64);
        f.push("connects_per_sec", "/s", opened as f64 / connect_secs);
        f.push("memory_per_session_kib", "KiB", per_session_kib);
        f.push("sent_per_sec", "/s", sent as f64 / args.secs);
        f.push("deliveries_per_sec", "/s", delivered as f64 / args.secs);
        f.push("deliveries_expected", "", expected as f64);
        f.push("deliveries_missing", "", missing as f64);
        f.push("latency_p50_ms", "ms", ms(0.5));
        f.push("latency_p90_ms", "ms", ms(0.9));
        f.push("latency_p99_ms", "ms", ms(0.99));
        f.push("latency_max_ms", "ms", latency.max() as f64 / 1000.0);
        f.push("errors", "", (errors + send_failed + failed) as f64);
        f.push("slow_consumer_closes", "", slow as f64);
        f.push("server_cpu_pct", "% of a core", cpu / busy_secs * 100.0);
        // The load generator shares the machine: when the two add up to every core, latency
        // measures the machine, not the server.
        f.push(
            "bench_cpu_pct",
            "% of a core",
            bench_cpu / busy_secs * 100.0,
        );
        f.push(
            "cpu_us_per_delivery",
            "µs",
            if delivered > 0 {
                cpu * 1e6 / delivered as f64
            } else {
                f64::NAN
            },
        );
        f.push(
            "server_rss_mib",
            "MiB",
            cpu_end.map_or(f64::NAN, |u| u.rss_kib as f64 / 1024.0),
        );
        if let Some(n) =
            crate::server::allocations_per(allocations_start, allocations_end, delivered)
        {
            f.push("allocations_per_delivery", "", n);
        }
        steps.push(f);
    }
    for mut w in workers {
        drop(w.stdin);
        let _ = tokio::time::timeout(Duration::from_secs(10), w.child.wait()).await;
        let _ = w.child.kill().await;
    }
    Ok((steps, problems))
}
