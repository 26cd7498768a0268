//! Message search at scale: `--messages` spread evenly over `--rooms`, one user a member of
//! `--member-of` of them, searching one after another over HTTP; the first page's latency.
//!
//! The rooms and memberships are made through the API. The history is written straight into
//! the node's database (its SQLite file, or `--database-url`) in multi-row inserts, as an
//! import would: a million sends over HTTP would take longer than the measurement is worth, and
//! the search index is kept by the database's own triggers and generated column either way, so
//! what is indexed is exactly what a send would have indexed. The node runs while the rows
//! arrive; searches start once they are in.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use sqlx::{Postgres, QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::Common;
use crate::report::{Figures, Report};
use crate::server::Servers;
use confab_testkit::Api;

/// Rows per INSERT statement (well under both engines' bind-parameter limits).
const ROWS_PER_INSERT: usize = 500;

#[derive(Args, Debug, Clone)]
pub struct SearchArgs {
    /// Messages in all, spread evenly over the rooms.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Rooms.
    #[arg(long, default_value_t = 1_000)]
    pub rooms: usize,
    /// Rooms the searching user is a member of.
    #[arg(long, default_value_t = 100)]
    pub member_of: usize,
    /// Searches of each kind, one after another.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
}

/// The words bodies are made of: a common one (in a tenth of the messages), then a vocabulary
/// of made-up words each rare on its own.
const COMMON: &str = "meeting";

fn body(i: usize) -> String {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let n = 6 + (next() % 8) as usize;
    let mut words: Vec<String> = (0..n).map(|_| format!("w{}", next() % 20_000)).collect();
    // Drawn, not `i % 10`: message `i` goes to room `i % rooms`, so a multiple of ten would put
    // the word in every message of a tenth of the rooms and in none of the others.
    if next().is_multiple_of(10) {
        let at = (next() as usize) % words.len();
        words[at] = COMMON.to_owned();
    }
    words.join(" ")
}

pub async fn run(common: &Common, args: &SearchArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        common.url.is_none(),
        "search writes its history into the node's database: it cannot use --url"
    );
    anyhow::ensure!(
        args.member_of <= args.rooms && args.rooms > 0,
        "--member-of must be at most --rooms"
    );
    let servers = common.confab_servers().await?;
    let accounts = servers.register(2).await?;
    let (owner, searcher) = (&accounts[0], &accounts[1]);
    let rooms = make_rooms(&servers, owner, searcher.user.id, args).await?;

    let started = Instant::now();
    let per_room = args.messages / args.rooms;
    match common.database_url.as_deref() {
        Some(url) => seed_postgres(url, &rooms, owner.user.id.0, per_room).await?,
        None => {
            let path = servers.data_dirs()[0].join("confab.db");
            seed_sqlite(&path, &rooms, owner.user.id.0, per_room).await?;
        }
    }
    let seed_secs = started.elapsed().as_secs_f64();

    let api = Api::new(&servers.urls[0]).as_user(&searcher.access_token);
    let mut figures = Figures::default();
    figures.push("messages", "", (per_room * args.rooms) as f64);
    figures.push("seed_secs", "s", seed_secs);
    for (name, q) in [
        ("common", COMMON),
        ("prefix", "meet"),
        ("rare", "w12345"),
        ("two_words", "meeting w7"),
    ] {
        let (hist, found) = measure(&api, q, args.queries).await?;
        figures.push(leak(format!("{name}_results_first_page")), "", found as f64);
        figures.push(
            leak(format!("{name}_p50_ms")),
            "ms",
            ms(hist.value_at_quantile(0.5)),
        );
        figures.push(
            leak(format!("{name}_p99_ms")),
            "ms",
            ms(hist.value_at_quantile(0.99)),
        );
        figures.push(leak(format!("{name}_max_ms")), "ms", ms(hist.max()));
    }
    servers.stop().await;
    let mut report = Report {
        mode: "search",
        baseline_name: "none: Confab's figures only",
        setup: vec![
            ("rooms".into(), json!(args.rooms)),
            ("member of".into(), json!(args.member_of)),
            ("messages".into(), json!(per_room * args.rooms)),
            ("queries of each kind".into(), json!(args.queries)),
            (
                "store".into(),
                json!(if common.database_url.is_some() {
                    "postgres"
                } else {
                    "sqlite"
                }),
            ),
        ],
        steps: Report::steps([0.0]),
        plot_x: "messages",
        plot_y: &["common_p99_ms"],
        problems: Vec::new(),
    };
    report.record(false, vec![figures], Vec::new());
    Ok(report)
}

/// Figure names are static in the report; the few made here live for the run.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// `rooms` group rooms of `owner`; the searcher joins the first `member_of`.
async fn make_rooms(
    servers: &Servers,
    owner: &confab::protocol::api::TokenResponse,
    searcher: confab::protocol::UserId,
    args: &SearchArgs,
) -> anyhow::Result<Vec<Uuid>> {
    let api = Api::new(&servers.urls[0]).as_user(&owner.access_token);
    let made: Vec<_> = futures_util::stream::iter(0..args.rooms)
        .map(|i| {
            let api = api.clone();
            async move {
                let room = api.create_room(&format!("room {i}")).await?;
                if i < args.member_of {
                    api.add_member(room.id, searcher).await?;
                }
                Ok::<_, confab_testkit::ClientError>(room.id.0)
            }
        })
        .buffered(16)
        .collect()
        .await;
    made.into_iter()
        .collect::<Result<Vec<_>, _>>()
        .context("creating the rooms")
}

/// Rows `from..to` of the history: message `i` goes to room `i % rooms` (so the rooms' messages
/// interleave in time, as a server's do), seq `i / rooms + 1`, one second after message `i - 1`.
type Row = (Uuid, Uuid, i64, String, DateTime<Utc>);

fn rows(rooms: &[Uuid], from: usize, to: usize, total: usize, now: DateTime<Utc>) -> Vec<Row> {
    (from..to)
        .map(|i| {
            let at = now - chrono::Duration::seconds((total - i) as i64);
            let seq = (i / rooms.len() + 1) as i64;
            (Uuid::now_v7(), rooms[i % rooms.len()], seq, body(i), at)
        })
        .collect()
}

/// Chunks of the history, `ROWS_PER_INSERT` rows each, in time order.
fn chunks(total: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..total)
        .step_by(ROWS_PER_INSERT)
        .map(move |from| (from, (from + ROWS_PER_INSERT).min(total)))
}

/// Writes the history through `$pool` (a pool of backend `$db`) in multi-row inserts, a
/// transaction per 20 of them, then sets each room's `last_seq`. One body for both backends:
/// sqlx's query builder is typed by backend.
macro_rules! write_history {
    ($pool:expr, $db:ty, $rooms:expr, $sender:expr, $per_room:expr) => {{
        let (rooms, sender, per_room) = ($rooms, $sender, $per_room);
        let (now, total) = (Utc::now(), per_room * rooms.len());
        let mut tx = $pool.begin().await?;
        for (n, (from, to)) in chunks(total).enumerate() {
            let mut q: QueryBuilder<$db> = QueryBuilder::new(
                "INSERT INTO messages (id, room_id, seq, sender_id, body, created_at) ",
            );
            q.push_values(
                rows(rooms, from, to, total, now),
                |mut b, (id, room, seq, body, at)| {
                    b.push_bind(id)
                        .push_bind(room)
                        .push_bind(seq)
                        .push_bind(sender)
                        .push_bind(body)
                        .push_bind(at);
                },
            );
            q.build().execute(&mut *tx).await?;
            if n % 20 == 19 {
                tx.commit().await?;
                tx = $pool.begin().await?;
            }
        }
        for room in rooms {
            sqlx::query("UPDATE rooms SET last_seq = $1 WHERE id = $2")
                .bind(per_room as i64)
                .bind(*room)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }};
}

async fn seed_sqlite(
    path: &std::path::Path,
    rooms: &[Uuid],
    sender: Uuid,
    per_room: usize,
) -> anyhow::Result<()> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(30));
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .context("opening the node's SQLite file")?;
    write_history!(pool, Sqlite, rooms, sender, per_room);
    Ok(())
}

async fn seed_postgres(
    url: &str,
    rooms: &[Uuid],
    sender: Uuid,
    per_room: usize,
) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(url)
        .await
        .context("connecting to --database-url")?;
    write_history!(pool, Postgres, rooms, sender, per_room);
    sqlx::query("ANALYZE messages").execute(&pool).await?;
    Ok(())
}

/// `n` searches for `q`, one after another; the latency of each first page (µs) and how many
/// results the first page held.
async fn measure(api: &Api, q: &str, n: usize) -> anyhow::Result<(Histogram<u64>, usize)> {
    let mut hist = Histogram::<u64>::new(3)?;
    let mut found = 0;
    // One unmeasured search warms the caches, as a running server's are.
    api.search(&[("q", q)]).await?;
    for _ in 0..n {
        let t = Instant::now();
        let page = api.search(&[("q", q)]).await?;
        hist.record(t.elapsed().as_micros() as u64)?;
        found = page.results.len();
    }
    Ok((hist, found))
}
