//! A worker process: holds a slice of the text benchmark's WebSocket sessions, sends on a
//! schedule, and times every delivery. It keeps no per-message state: the send time rides in the
//! message body (`t<Unix µs> …`), so any session that receives a message can time it.
//!
//! Cost per delivery on this side: one frame read, one partial JSON parse (borrowed, no
//! allocation for the fields we skip), one histogram record under an uncontended shard lock.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::wire::{Command, Event, Protocol, SessionPlan};

/// Histogram shards: sessions record into `index % SHARDS`, so the lock is rarely contended.
const SHARDS: usize = 64;
/// The longest latency recorded, µs (a minute).
const MAX_LATENCY_US: u64 = 60_000_000;
/// Sessions opening at once.
const CONNECT_CONCURRENCY: usize = 200;

/// Microseconds since the Unix epoch: the clock every process of a run shares.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A new latency histogram (1 µs to a minute, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant bounds are valid")
}

/// Socket buffers of the bench's sessions and of the baseline server: Confab's own size, so
/// thousands of sessions fit in memory and the two servers are compared like for like.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
}

/// What the worker's sessions share.
struct Stats {
    delivered: AtomicU64,
    errors: AtomicU64,
    latency: Vec<Mutex<Histogram<u64>>>,
    closes: Mutex<BTreeMap<u16, u64>>,
    first_error: Mutex<Option<String>>,
}

impl Stats {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(what);
    }

    fn closed(&self, code: u16) {
        *self
            .closes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(code)
            .or_default() += 1;
    }
}

/// The worker's main: reads commands from stdin until it closes.
pub async fn main() -> anyhow::Result<()> {
    let stats = Arc::new(Stats {
        delivered: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        latency: (0..SHARDS).map(|_| Mutex::new(histogram())).collect(),
        closes: Mutex::new(BTreeMap::new()),
        first_error: Mutex::new(None),
    });
    let mut stdout = tokio::io::stdout();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // Senders' queues, with the rooms each cycles through.
    let mut senders: Vec<(mpsc::Sender<u32>, Vec<u32>)> = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let command: Command = serde_json::from_str(&line).context("reading a command")?;
        let event = match command {
            Command::Connect {
                protocol,
                urls,
                rooms,
                sessions,
                body_bytes,
            } => {
                let shared = Arc::new(Setup {
                    protocol,
                    urls,
                    rooms,
                    body_bytes,
                });
                connect_all(shared, sessions, &stats, &mut senders).await
            }
            Command::Run {
                start_at_us,
                secs,
                rate,
            } => send_for(&senders, start_at_us, secs, rate).await,
            Command::Count => Event::Count {
                delivered: stats.delivered.load(Ordering::Relaxed),
            },
            Command::Report => report(&stats)?,
        };
        let mut text = serde_json::to_string(&event)?;
        text.push('\n');
        stdout.write_all(text.as_bytes()).await?;
        stdout.flush().await?;
    }
    Ok(())
}

/// What every session of the worker needs to know.
struct Setup {
    protocol: Protocol,
    urls: Vec<String>,
    rooms: Vec<String>,
    body_bytes: usize,
}

async fn connect_all(
    setup: Arc<Setup>,
    sessions: Vec<SessionPlan>,
    stats: &Arc<Stats>,
    senders: &mut Vec<(mpsc::Sender<u32>, Vec<u32>)>,
) -> Event {
    let results: Vec<_> = futures_util::stream::iter(sessions)
        .map(|plan| {
            let setup = setup.clone();
            let stats = stats.clone();
            async move {
                let opened = open(&setup, &plan).await;
                opened.map(|ws| {
                    let (tx, rx) = mpsc::channel(64);
                    let shard = plan.index % SHARDS;
                    tokio::spawn(session(ws, setup, rx, stats, shard));
                    (tx, plan.send_rooms)
                })
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let (mut ok, mut failed, mut first_error) = (0, 0, None);
    for r in results {
        match r {
            Ok((tx, send_rooms)) => {
                ok += 1;
                if !send_rooms.is_empty() {
                    senders.push((tx, send_rooms));
                }
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(format!("{e:#}"));
            }
        }
    }
    Event::Connected {
        ok,
        failed,
        first_error,
    }
}

type Ws = WebSocketStream<TcpStream>;

/// Opens one session from its own loopback source address and authenticates (or joins).
async fn open(setup: &Setup, plan: &SessionPlan) -> anyhow::Result<Ws> {
    let url = &setup.urls[plan.node % setup.urls.len()];
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .context("bad URL")?;
    let server: SocketAddr = tokio::net::lookup_host(host)
        .await?
        .next()
        .context("server address")?;
    let socket = TcpSocket::new_v4()?;
    // 127.0.0.2 onwards, one address per session, so ports never run out.
    let source =
        Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + (plan.index % 4_000_000) as u32);
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    let tcp = socket.connect(server).await.context("connecting")?;
    tcp.set_nodelay(true)?;
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(ws_config()))
            .await
            .context("WebSocket handshake")?;
    let hello = match setup.protocol {
        Protocol::Confab => serde_json::json!({
            "type": "auth",
            "id": "auth",
            "token": plan.token.as_deref().unwrap_or_default(),
            "accepts": [confab::protocol::ws::ACCEPTS_PRESENCE_BATCH],
        })
        .to_string(),
        Protocol::Baseline => {
            let rooms: Vec<String> = plan.rooms.iter().map(u32::to_string).collect();
            format!("join {}", rooms.join(","))
        }
    };
    ws.send(Message::Text(hello.into())).await?;
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let done = match setup.protocol {
                        Protocol::Confab => {
                            t.contains("\"type\":\"ack\"") || t.contains("\"error\"")
                        }
                        Protocol::Baseline => true,
                    };
                    if done {
                        return Ok(t);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(anyhow::Error::from(e)),
                None => anyhow::bail!("closed during authentication"),
            }
        }
    })
    .await
    .context("authentication timed out")??;
    let accepted = match setup.protocol {
        Protocol::Confab => answer.contains("\"type\":\"ack\""),
        Protocol::Baseline => answer.as_str() == "ok",
    };
    anyhow::ensure!(accepted, "refused: {}", answer.as_str());
    Ok(ws)
}

/// The fields of a server frame the benchmark reads; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    message: Option<ProbeMessage<'a>>,
    #[serde(borrow)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct ProbeMessage<'a> {
    #[serde(borrow)]
    body: Option<&'a str>,
}

/// The send time a body carries (`t<µs> …`).
fn sent_at(body: &str) -> Option<u64> {
    body.strip_prefix('t')?.split(' ').next()?.parse().ok()
}

/// One session: reads and times deliveries; sends what the schedule hands it.
async fn session(
    mut ws: Ws,
    setup: Arc<Setup>,
    mut sends: mpsc::Receiver<u32>,
    stats: Arc<Stats>,
    shard: usize,
) {
    let mut next_id: u64 = 0;
    let filler = "x".repeat(setup.body_bytes.saturating_sub(18));
    let mut sending = true;
    loop {
        tokio::select! {
            room = sends.recv(), if sending => {
                let Some(room) = room else { sending = false; continue };
                next_id += 1;
                let body = format!("t{} {filler}", now_us());
                let text = match setup.protocol {
                    Protocol::Confab => serde_json::json!({
                        "type": "message.send",
                        "id": next_id.to_string(),
                        "room_id": setup.rooms[room as usize],
                        "body": body,
                    })
                    .to_string(),
                    Protocol::Baseline => format!("{room} {body}"),
                };
                if let Err(e) = ws.send(Message::Text(text.into())).await {
                    stats.error(format!("send: {e}"));
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => received(&setup, &stats, shard, text.as_str()),
                Some(Ok(Message::Close(frame))) => {
                    stats.closed(frame.map_or(1005, |f| u16::from(f.code)));
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    stats.closed(0);
                    return;
                }
            }
        }
    }
}

/// Times a delivery, or counts an error frame.
fn received(setup: &Setup, stats: &Stats, shard: usize, text: &str) {
    let now = now_us();
    let body = match setup.protocol {
        Protocol::Baseline => text.split_once(' ').map(|(_, body)| body),
        Protocol::Confab => match serde_json::from_str::<Probe>(text) {
            Ok(p) if p.kind == "message.new" => p.message.and_then(|m| m.body),
            Ok(p) if p.kind == "error" => {
                stats.error(format!("error frame: {}", p.code.unwrap_or("?")));
                None
            }
            Ok(_) => None,
            Err(e) => {
                stats.error(format!("unreadable frame: {e}"));
                None
            }
        },
    };
    let Some(sent) = body.and_then(sent_at) else {
        return;
    };
    stats.delivered.fetch_add(1, Ordering::Relaxed);
    let latency = now.saturating_sub(sent).clamp(1, MAX_LATENCY_US);
    let mut h = stats.latency[shard]
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let _ = h.record(latency);
}

/// Sends `rate` messages a second across this worker's senders from `start_at_us` for `secs`,
/// on a 2 ms tick: each tick sends what is due, so the rate holds however the ticks fall.
async fn send_for(
    senders: &[(mpsc::Sender<u32>, Vec<u32>)],
    start_at_us: u64,
    secs: f64,
    rate: f64,
) -> Event {
    let wait = Duration::from_micros(start_at_us.saturating_sub(now_us()));
    tokio::time::sleep(wait).await;
    let start = tokio::time::Instant::now();
    let mut by_room: BTreeMap<u32, u64> = BTreeMap::new();
    let (mut sent, mut failed) = (0u64, 0u64);
    // Senders start at different places in their room cycles, so that a short run still sends
    // its share into each room (in the mix, one message in ten into the big room).
    let mut cursors: Vec<usize> = (0..senders.len()).collect();
    let mut next = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    if !senders.is_empty() && rate > 0.0 {
        loop {
            tick.tick().await;
            let elapsed = start.elapsed().as_secs_f64().min(secs);
            let due = (elapsed * rate) as u64;
            while sent + failed < due {
                let i = next % senders.len();
                next += 1;
                let (tx, rooms) = &senders[i];
                let room = rooms[cursors[i] % rooms.len()];
                cursors[i] += 1;
                if tx.try_send(room).is_ok() {
                    sent += 1;
                    *by_room.entry(room).or_default() += 1;
                } else {
                    failed += 1;
                }
            }
            if elapsed >= secs {
                break;
            }
        }
    }
    Event::Sent {
        by_room: by_room.into_iter().collect(),
        failed,
    }
}

/// The step's figures; resets them for the next step.
fn report(stats: &Stats) -> anyhow::Result<Event> {
    let mut merged = histogram();
    for shard in &stats.latency {
        let mut h = shard.lock().unwrap_or_else(|e| e.into_inner());
        merged.add(&*h).context("merging histograms")?;
        h.reset();
    }
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(&merged, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serializing the histogram: {e:?}"))?;
    let closes = std::mem::take(&mut *stats.closes.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(Event::Report {
        delivered: stats.delivered.swap(0, Ordering::Relaxed),
        latency: base64::engine::general_purpose::STANDARD.encode(bytes),
        errors: stats.errors.swap(0, Ordering::Relaxed),
        closes: closes.into_iter().collect(),
        first_error: stats
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_time_is_read_from_the_body() {
        assert_eq!(
            sent_at("t1700000000123456 xxxx"),
            Some(1_700_000_000_123_456)
        );
        assert_eq!(sent_at("hello"), None);
        assert_eq!(sent_at("t12x yy"), None);
    }

    #[test]
    fn a_message_new_frame_is_probed_without_its_other_fields() {
        let text = r#"{"type":"message.new","message":{"id":"a","room_id":"b","seq":3,"body":"t5 x","reply_to":{"body":"q\"uote"}}}"#;
        let p: Probe = serde_json::from_str(text).unwrap();
        assert_eq!(p.kind, "message.new");
        assert_eq!(p.message.and_then(|m| m.body), Some("t5 x"));
    }
}
