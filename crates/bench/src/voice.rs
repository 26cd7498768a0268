//! `confab-bench voice`: P participants in K calls, S of each room's participants publishing
//! Opus-sized RTP at 50 packets/s and the rest listening, against Confab's SFU over real
//! WebRTC ([`peers`]), then the same shape against a bare UDP relay ([`relay`]). With
//! `--video` the first speaker of each room also shares a screen (the test client's synthetic
//! VP8, about 60 packets/s of 1 kB), and video is measured beside audio; the relay forwards
//! the same screen packets.
//!
//! This module owns the layout (who is in which room, who speaks) and a step's schedule:
//! connect everyone, wait until every peer is connected and has every stream, let
//! renegotiation settle, then one measurement window of `--secs` in which only packets *sent*
//! count ([`stats`]), and a drain. The server's CPU time is read from `/proc` at the window's
//! edges, so CPU per forwarded packet is the server's alone even though the bench's own
//! clients share the machine.

mod peers;
mod relay;
mod stats;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::report::{Figures, Report};
use crate::server::{Servers, Usage, usage};
use crate::worker::now_us;
use crate::{Common, Systems};
use confab::protocol::api::TokenResponse;
use confab_testkit::Api;
use stats::{Media, Recorder, Window};

/// Packets each speaker publishes per second (one 20 ms Opus frame each).
const PACKETS_PER_SEC: f64 = 50.0;

/// Screen packets a sharer sends per second between keyframes (30 frames of 2 packets).
fn video_packets_per_sec() -> f64 {
    confab_testkit::peer::VIDEO_PACKETS as f64 / confab_testkit::peer::VIDEO_FRAME.as_secs_f64()
}

/// The voice load shape.
#[derive(Args, Debug, Clone)]
pub struct VoiceArgs {
    /// Participants in all, spread evenly over the rooms; a list runs one step per count.
    #[arg(long, value_delimiter = ',', default_value = "20")]
    pub participants: Vec<usize>,
    /// Voice rooms (calls).
    #[arg(long, default_value_t = 2)]
    pub rooms: usize,
    /// Publishing participants per room; the others only listen.
    #[arg(long, default_value_t = 2)]
    pub speakers_per_room: usize,
    /// Seconds of measurement per step.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// After the window, how long receivers wait for its last packets.
    #[arg(long, default_value_t = 1.0)]
    pub drain_secs: f64,
    /// Seconds between everyone being connected and the window (renegotiation settles).
    #[arg(long, default_value_t = 1.0)]
    pub warmup_secs: f64,
    /// How long all participants of a step may take to connect.
    #[arg(long, default_value_t = 120.0)]
    pub connect_timeout_secs: f64,
    /// Calls being joined at once (each join is a WebSocket, an offer and a DTLS handshake).
    #[arg(long, default_value_t = 8)]
    pub join_concurrency: usize,
    /// The first speaker of each room also shares a screen (30 frames/s of 2 packets of
    /// 1,000 bytes, keyframes of 8), and video figures are reported beside audio.
    #[arg(long)]
    pub video: bool,
}

/// Who is in which room and who speaks, for one participant count.
struct Layout {
    /// Each participant's room.
    room_of: Vec<usize>,
    /// Whether each participant publishes.
    speaker: Vec<bool>,
    /// Whether each participant shares a screen (`--video`: the first of each room).
    sharer: Vec<bool>,
    /// Participants per room.
    sizes: Vec<usize>,
}

/// Whom each participant should receive, by kind of media.
struct Audience {
    /// The speakers each participant should hear.
    hears: Vec<Vec<Uuid>>,
    /// The screens each participant should see.
    sees: Vec<Vec<Uuid>>,
}

impl Layout {
    fn new(participants: usize, args: &VoiceArgs) -> anyhow::Result<Layout> {
        let rooms = args.rooms.max(1);
        if participants < 2 * rooms {
            bail!(
                "--participants {participants} leaves a room of --rooms {rooms} with fewer than 2"
            );
        }
        let room_of: Vec<usize> = (0..participants).map(|i| i % rooms).collect();
        let mut sizes = vec![0; rooms];
        let mut speaker = Vec::with_capacity(participants);
        let mut sharer = Vec::with_capacity(participants);
        for r in &room_of {
            speaker.push(sizes[*r] < args.speakers_per_room);
            // The room's first member is its first speaker (there is at least one).
            sharer.push(args.video && sizes[*r] == 0);
            sizes[*r] += 1;
        }
        Ok(Layout {
            room_of,
            speaker,
            sharer,
            sizes,
        })
    }

    /// Packets per second the server should forward: each speaker to everyone else in its
    /// room, and each shared screen (between keyframes) likewise.
    fn offered(&self, args: &VoiceArgs) -> f64 {
        let video = if args.video {
            video_packets_per_sec()
        } else {
            0.0
        };
        self.sizes
            .iter()
            .map(|n| {
                (args.speakers_per_room.min(*n) * (n - 1)) as f64 * PACKETS_PER_SEC
                    + (n - 1) as f64 * video
            })
            .sum()
    }

    /// For each participant, the others of its room for whom `of` holds.
    fn receives(&self, ids: &[Uuid], of: &[bool]) -> Vec<Vec<Uuid>> {
        (0..self.room_of.len())
            .map(|i| {
                (0..self.room_of.len())
                    .filter(|j| *j != i && of[*j] && self.room_of[*j] == self.room_of[i])
                    .map(|j| ids[j])
                    .collect()
            })
            .collect()
    }

    /// For each participant, the speakers it should hear and the screens it should see.
    fn audience(&self, ids: &[Uuid]) -> Audience {
        Audience {
            hears: self.receives(ids, &self.speaker),
            sees: self.receives(ids, &self.sharer),
        }
    }

    /// Participant `i`'s part in the call.
    fn role(&self, i: usize) -> peers::Role {
        let room = self.room_of[i];
        let screens = (0..self.room_of.len())
            .filter(|j| *j != i && self.sharer[*j] && self.room_of[*j] == room)
            .count();
        peers::Role {
            speaker: self.speaker[i],
            sharer: self.sharer[i],
            others: self.sizes[room] - 1,
            screens,
        }
    }
}

/// One participant's task, as the step's schedule sees it.
struct Member {
    /// Fires once the participant is connected and hears (or could hear) its room.
    ready: oneshot::Receiver<()>,
    /// Gives the participant the measurement window.
    window: oneshot::Sender<Window>,
    /// Its record, once the window has drained.
    done: JoinHandle<Recorder>,
}

impl Member {
    /// Spawns `run(ready, window)`.
    fn spawn<F, Fut>(run: F) -> Member
    where
        F: FnOnce(oneshot::Sender<()>, oneshot::Receiver<Window>) -> Fut,
        Fut: Future<Output = Recorder> + Send + 'static,
    {
        let (ready_tx, ready) = oneshot::channel();
        let (window, window_rx) = oneshot::channel();
        Member {
            ready,
            window,
            done: tokio::spawn(run(ready_tx, window_rx)),
        }
    }
}

/// The record of a participant that never got going.
fn failed(why: String) -> Recorder {
    let mut r = Recorder::new(Window {
        start_us: 0,
        end_us: 0,
        drain_until: Instant::now(),
    });
    r.failure = Some(why);
    r
}

/// Runs the voice benchmark against the systems asked for.
pub async fn run(common: &Common, args: &VoiceArgs, systems: Systems) -> anyhow::Result<Report> {
    if args.secs.is_nan() || args.secs <= 0.0 || args.participants.is_empty() {
        bail!("--secs must be positive and --participants not empty");
    }
    if args.speakers_per_room == 0 {
        bail!("--speakers-per-room must be at least 1");
    }
    let layouts = args
        .participants
        .iter()
        .map(|p| Layout::new(*p, args))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut report = Report {
        mode: if systems == Systems::BaselineOnly {
            "limit voice"
        } else {
            "voice"
        },
        baseline_name: if args.video {
            "bare UDP relay: plain datagrams (audio and the same screen packets) to the rest of \
             the room, no ICE, DTLS, SRTP or RTCP"
        } else {
            "bare UDP relay: plain datagrams to the rest of the room, no ICE, DTLS, SRTP or RTCP"
        },
        setup: vec![
            ("rooms".into(), json!(args.rooms.max(1))),
            ("speakers per room".into(), json!(args.speakers_per_room)),
            ("packets per speaker (/s)".into(), json!(PACKETS_PER_SEC)),
            (
                "packet bytes (before SRTP)".into(),
                json!(relay::PACKET_LEN),
            ),
            ("seconds per step".into(), json!(args.secs)),
            ("confab nodes".into(), json!(common.nodes.max(1))),
        ],
        steps: Report::steps(layouts.iter().map(|l| l.offered(args))),
        plot_x: "forwarded_per_sec",
        plot_y: &["delay_p50_ms", "delay_p99_ms"],
        problems: Vec::new(),
    };
    if args.video {
        report.setup.extend([
            ("screen sharers per room".into(), json!(1)),
            (
                "video packets per sharer (/s)".into(),
                json!(video_packets_per_sec().round()),
            ),
            (
                "video packet bytes (before SRTP)".into(),
                json!(relay::VIDEO_PACKET_LEN),
            ),
        ]);
    }
    if systems != Systems::BaselineOnly {
        let (figures, problems) = run_confab(common, args, &layouts).await?;
        report.record(false, figures, problems);
    }
    if systems != Systems::ConfabOnly {
        let (figures, problems) = run_baseline(args, &layouts).await?;
        report.record(true, figures, problems);
    }
    Ok(report)
}

/// Every step against Confab: one server (or cluster) for the run, accounts registered once,
/// fresh rooms per step.
async fn run_confab(
    common: &Common,
    args: &VoiceArgs,
    layouts: &[Layout],
) -> anyhow::Result<(Vec<Figures>, Vec<String>)> {
    let servers = common.confab_servers().await?;
    let result = async {
        let most = layouts.iter().map(|l| l.room_of.len()).max().unwrap_or(0);
        let accounts = servers.register(most).await?;
        let ws_urls: Vec<String> = servers.urls.iter().map(|u| Api::new(u).ws_url()).collect();
        let mut figures = Vec::new();
        let mut problems = Vec::new();
        for layout in layouts {
            let rooms = create_rooms(&servers, &accounts, layout).await?;
            let before = servers.usage();
            let started = Instant::now();
            let joins = Arc::new(Semaphore::new(args.join_concurrency.max(1)));
            let members = (0..layout.room_of.len())
                .map(|i| {
                    let url = ws_urls[i % ws_urls.len()].clone();
                    let token = accounts[i].access_token.clone();
                    let room = rooms[layout.room_of[i]];
                    let role = layout.role(i);
                    let joins = joins.clone();
                    Member::spawn(move |ready, window| async move {
                        let caller = {
                            let _permit = joins.acquire_owned().await;
                            peers::join(&url, &token, room, role).await
                        };
                        match caller {
                            Ok(c) => peers::participant(c, role, ready, window).await,
                            Err(e) => failed(format!("joining the call: {e}")),
                        }
                    })
                })
                .collect();
            let ids: Vec<Uuid> = accounts[..layout.room_of.len()]
                .iter()
                .map(|a| a.user.id.0)
                .collect();
            let (f, p) = measure(
                members,
                &layout.audience(&ids),
                started,
                before,
                args,
                &servers,
            )
            .await;
            figures.push(f);
            let n = layout.room_of.len();
            problems.extend(p.into_iter().map(|p| format!("{n} participants: {p}")));
            // Let the server see every hang-up before the next step.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok::<_, anyhow::Error>((figures, problems))
    }
    .await;
    servers.stop().await;
    result
}

/// Every step against the relay: one relay process for the run, fresh rooms per step.
async fn run_baseline(
    args: &VoiceArgs,
    layouts: &[Layout],
) -> anyhow::Result<(Vec<Figures>, Vec<String>)> {
    let servers = Servers::baseline("udp-baseline", &[]).await?;
    let result = async {
        let addr: std::net::SocketAddr = servers.urls[0]
            .trim_start_matches("http://")
            .parse()
            .context("reading the relay's address")?;
        let mut figures = Vec::new();
        let mut problems = Vec::new();
        for (step, layout) in layouts.iter().enumerate() {
            let before = servers.usage();
            let started = Instant::now();
            let ids: Vec<Uuid> = layout.room_of.iter().map(|_| Uuid::new_v4()).collect();
            let members = (0..layout.room_of.len())
                .map(|i| {
                    let room = u32::try_from(step * layout.sizes.len() + layout.room_of[i])
                        .unwrap_or(u32::MAX);
                    let (id, kinds) = (ids[i], (layout.speaker[i], layout.sharer[i]));
                    Member::spawn(move |ready, window| async move {
                        match relay::join(addr, room).await {
                            Ok(socket) => {
                                let _ = ready.send(());
                                relay::participant(socket, id, kinds, window).await
                            }
                            Err(e) => failed(format!("joining the relay: {e:#}")),
                        }
                    })
                })
                .collect();
            let (f, p) = measure(
                members,
                &layout.audience(&ids),
                started,
                before,
                args,
                &servers,
            )
            .await;
            figures.push(f);
            let n = layout.room_of.len();
            problems.extend(p.into_iter().map(|p| format!("{n} participants: {p}")));
        }
        Ok::<_, anyhow::Error>((figures, problems))
    }
    .await;
    servers.stop().await;
    result
}

/// One step's schedule (see the module docs) and its figures and problems.
async fn measure(
    mut members: Vec<Member>,
    audience: &Audience,
    started: Instant,
    before: Option<Usage>,
    args: &VoiceArgs,
    servers: &Servers,
) -> (Figures, Vec<String>) {
    let mut problems = Vec::new();
    let deadline = started + Duration::from_secs_f64(args.connect_timeout_secs.max(1.0));
    let mut ready = 0usize;
    for m in &mut members {
        if let Ok(Ok(())) = tokio::time::timeout_at(deadline, &mut m.ready).await {
            ready += 1;
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    if ready < members.len() {
        problems.push(format!(
            "{} of {} participants never connected with every stream of their room within {:.0} s",
            members.len() - ready,
            members.len(),
            args.connect_timeout_secs
        ));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup_secs.max(0.0))).await;
    let connected = servers.usage();

    // The window starts a little ahead so every participant has it before the first packet.
    let lead = Duration::from_millis(100);
    let secs = Duration::from_secs_f64(args.secs);
    let start_us = now_us() + lead.as_micros() as u64;
    let window = Window {
        start_us,
        end_us: start_us + secs.as_micros() as u64,
        drain_until: Instant::now() + lead + secs + Duration::from_secs_f64(args.drain_secs),
    };
    let mut done = Vec::with_capacity(members.len());
    for m in members {
        let _ = m.window.send(window);
        done.push(m.done);
    }
    tokio::time::sleep(lead).await;
    let bench = [std::process::id()];
    let allocations_start = servers.allocations().await;
    let (cpu_start, bench_start, at_start) = (servers.usage(), usage(&bench), Instant::now());
    tokio::time::sleep(secs).await;
    let (cpu_end, bench_end) = (servers.usage(), usage(&bench));
    let allocations_end = servers.allocations().await;
    let busy_secs = at_start.elapsed().as_secs_f64();

    let records: Vec<Recorder> = futures_util::stream::iter(done)
        .then(|h| async move {
            tokio::time::timeout(Duration::from_secs(30), h)
                .await
                .map_err(|_| "did not finish".to_owned())
                .and_then(|r| r.map_err(|e| format!("crashed: {e}")))
                .unwrap_or_else(failed)
        })
        .collect()
        .await;
    let failures: Vec<&String> = records.iter().filter_map(|r| r.failure.as_ref()).collect();
    if let Some(first) = failures.first() {
        problems.push(format!(
            "{} participants failed, first: {first}",
            failures.len()
        ));
    }
    let summary = stats::summarize(&records, &audience.hears, Media::Audio);
    if summary.received == 0 {
        problems.push("no packets were received in the window".into());
    }
    if summary.unheard > 0 {
        problems.push(format!(
            "{} speakers were heard by no one in the window",
            summary.unheard
        ));
    }
    let video = args.video.then(|| {
        let video = stats::summarize(&records, &audience.sees, Media::Video);
        if video.unheard > 0 {
            problems.push(format!(
                "{} shared screens were seen by no one in the window",
                video.unheard
            ));
        }
        video
    });
    let forwarded = summary.received + video.as_ref().map_or(0, |v| v.received);

    let cpu = |a: Option<Usage>, b: Option<Usage>| match (a, b) {
        (Some(a), Some(b)) => b.cpu_secs - a.cpu_secs,
        _ => f64::NAN,
    };
    let server_cpu = cpu(cpu_start, cpu_end);
    let window_secs = window.secs();
    let ms = |q: f64| summary.delay.value_at_quantile(q) as f64 / 1000.0;
    let mut f = Figures::default();
    f.push("participants_connected", "", ready as f64);
    f.push("connect_secs", "s", connect_secs);
    f.push(
        "memory_per_participant_kib",
        "KiB",
        crate::server::rss_growth_per(before, connected, ready as u64),
    );
    f.push("sent_per_sec", "/s", summary.sent as f64 / window_secs);
    f.push(
        "forwarded_per_sec",
        "/s",
        summary.received as f64 / window_secs,
    );
    f.push("loss_pct", "%", summary.loss_pct());
    f.push("jitter_ms", "ms", summary.jitter_ms);
    f.push("delay_p50_ms", "ms", ms(0.5));
    f.push("delay_p90_ms", "ms", ms(0.9));
    f.push("delay_p99_ms", "ms", ms(0.99));
    f.push("delay_max_ms", "ms", summary.delay.max() as f64 / 1000.0);
    if let Some(v) = &video {
        let ms = |q: f64| v.delay.value_at_quantile(q) as f64 / 1000.0;
        f.push("video_sent_per_sec", "/s", v.sent as f64 / window_secs);
        f.push(
            "video_forwarded_per_sec",
            "/s",
            v.received as f64 / window_secs,
        );
        f.push("video_loss_pct", "%", v.loss_pct());
        f.push("video_delay_p50_ms", "ms", ms(0.5));
        f.push("video_delay_p99_ms", "ms", ms(0.99));
    }
    f.push(
        "server_cpu_pct",
        "% of a core",
        server_cpu / busy_secs * 100.0,
    );
    // With --video: per forwarded packet of either kind.
    f.push(
        "cpu_us_per_packet",
        "µs",
        if forwarded > 0 {
            server_cpu * 1e6 / forwarded as f64
        } else {
            f64::NAN
        },
    );
    // Peak RSS includes account registration (Argon2 hashing); RSS at the window's end is
    // the calls' own footprint.
    f.push(
        "server_rss_mib",
        "MiB",
        cpu_end.map_or(f64::NAN, |u| u.rss_kib as f64 / 1024.0),
    );
    f.push(
        "server_peak_rss_mib",
        "MiB",
        cpu_end.map_or(f64::NAN, |u| u.peak_rss_kib as f64 / 1024.0),
    );
    f.push(
        "bench_cpu_pct",
        "% of a core",
        cpu(bench_start, bench_end) / busy_secs * 100.0,
    );
    if let Some(n) = crate::server::allocations_per(allocations_start, allocations_end, forwarded) {
        f.push("allocations_per_packet", "", n);
    }
    (f, problems)
}

/// Creates the layout's rooms, the first participant of each as owner; returns their ids.
async fn create_rooms(
    servers: &Servers,
    accounts: &[TokenResponse],
    layout: &Layout,
) -> anyhow::Result<Vec<confab::protocol::RoomId>> {
    let mut ids = Vec::with_capacity(layout.sizes.len());
    for r in 0..layout.sizes.len() {
        let members: Vec<usize> = (0..layout.room_of.len())
            .filter(|i| layout.room_of[*i] == r)
            .collect();
        let others: Vec<_> = members[1..].iter().map(|m| accounts[*m].user.id).collect();
        let room = servers
            .group_room(&accounts[members[0]], &format!("voice bench {r}"), &others)
            .await?;
        ids.push(room.id);
    }
    Ok(ids)
}

/// The baseline UDP relay's process.
pub async fn relay_main() -> anyhow::Result<()> {
    relay::main().await
}
