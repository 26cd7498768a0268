//! Prometheus metrics: what to watch a node by, served at `GET /metrics`.
//!
//! Counters and histograms are recorded where things happen through the `metrics` facade; gauges
//! of state owned elsewhere (sessions, voice rooms, the SFU's packet counters) arrive as a
//! [`Gauges`] snapshot when `/metrics` is scraped, so this module, which every layer records
//! into, imports none of them. The recorder is process-wide, as the facade is: one per process,
//! which is one node in production.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    Counter, Histogram, counter, describe_counter, describe_gauge, describe_histogram, gauge,
    histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets, in seconds: 100 µs to 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How often the histograms' samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the recorder (once per process) and describes every metric.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

/// Folds the histograms' samples into their buckets every [`UPKEEP_EVERY`] until `shutdown`.
/// The recorder holds each recorded sample until then (or until a scrape): without this, a node
/// that nobody scrapes grows by 8 bytes a sample, one per delivered batch and per store
/// operation, which at 100,000 deliveries a second is hundreds of kilobytes a second.
pub async fn upkeep(shutdown: tokio_util::sync::CancellationToken) {
    let Some(handle) = install() else {
        return;
    };
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => handle.run_upkeep(),
            _ = shutdown.cancelled() => return,
        }
    }
}

fn describe() {
    describe_gauge!("confab_sessions", "Open WebSocket sessions on this node.");
    describe_gauge!(
        "confab_password_hashes_running",
        "Password hashes being computed now."
    );
    describe_counter!(
        "confab_messages_sent_total",
        "Messages stored (acknowledged sends)."
    );
    describe_counter!(
        "confab_messages_delivered_total",
        "message.new frames written to sockets (one per receiving session)."
    );
    describe_histogram!(
        "confab_fanout_latency_seconds",
        "From a message's commit to its arrival in this node's fanout (includes the bus)."
    );
    describe_histogram!(
        "confab_delivery_latency_seconds",
        "From a message's commit to its write to a receiving socket."
    );
    describe_histogram!(
        "confab_store_seconds",
        "Duration of store operations, by access."
    );
    describe_histogram!(
        "confab_bus_publish_seconds",
        "Duration of a Redis publish batch."
    );
    describe_gauge!(
        "confab_bus_up",
        "1 while the bus carries events to other nodes (or is in-process)."
    );
    describe_counter!(
        "confab_slow_consumer_closes_total",
        "Sessions closed with 4008."
    );
    describe_counter!(
        "confab_errors_total",
        "Errors answered to clients, by code."
    );
    describe_counter!(
        "confab_http_requests_total",
        "HTTP requests, by status class."
    );
    describe_gauge!(
        "confab_voice_rooms",
        "Voice calls hosted by this node's SFU."
    );
    describe_gauge!(
        "confab_voice_participants",
        "Participants in this node's SFU."
    );
    describe_counter!(
        "confab_rtp_packets_total",
        "RTP packets through the SFU, by direction."
    );
    describe_counter!(
        "confab_rtp_bytes_total",
        "RTP bytes through the SFU, by direction."
    );
    describe_counter!(
        "confab_rtp_packets_lost_total",
        "RTP packets lost, from receiver statistics and reports."
    );
    if crate::allocations::totals().is_some() {
        describe_counter!(
            "confab_allocations_total",
            "Heap allocations since start (builds with the count-allocations feature only)."
        );
        describe_counter!(
            "confab_allocated_bytes_total",
            "Heap bytes allocated since start (builds with the count-allocations feature only)."
        );
    }
}

/// State owned elsewhere, read when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Open sessions on this node.
    pub sessions: u64,
    /// Whether the bus carries events (or is in-process).
    pub bus_up: bool,
    /// Voice calls hosted by this node's SFU.
    pub voice_rooms: u64,
    /// Participants in this node's SFU.
    pub voice_participants: u64,
    /// RTP packets received by the SFU since start.
    pub rtp_packets_in: u64,
    /// RTP packets sent by the SFU since start.
    pub rtp_packets_out: u64,
    /// RTP bytes received.
    pub rtp_bytes_in: u64,
    /// RTP bytes sent.
    pub rtp_bytes_out: u64,
    /// RTP packets lost, from receiver statistics and reports.
    pub rtp_lost: u64,
    /// Password hashes being computed.
    pub password_hashes: u64,
}

/// The text for `/metrics`, with `gauges` as read now.
pub fn render(gauges: &Gauges) -> String {
    let Some(handle) = install() else {
        return String::new();
    };
    gauge!("confab_sessions").set(gauges.sessions as f64);
    gauge!("confab_password_hashes_running").set(gauges.password_hashes as f64);
    bus_up(gauges.bus_up);
    gauge!("confab_voice_rooms").set(gauges.voice_rooms as f64);
    gauge!("confab_voice_participants").set(gauges.voice_participants as f64);
    counter!("confab_rtp_packets_total", "direction" => "in").absolute(gauges.rtp_packets_in);
    counter!("confab_rtp_packets_total", "direction" => "out").absolute(gauges.rtp_packets_out);
    counter!("confab_rtp_bytes_total", "direction" => "in").absolute(gauges.rtp_bytes_in);
    counter!("confab_rtp_bytes_total", "direction" => "out").absolute(gauges.rtp_bytes_out);
    counter!("confab_rtp_packets_lost_total").absolute(gauges.rtp_lost);
    if let Some((count, bytes)) = crate::allocations::totals() {
        counter!("confab_allocations_total").absolute(count);
        counter!("confab_allocated_bytes_total").absolute(bytes);
    }
    handle.render()
}

/// The metrics recorded per message, per delivered batch or per store operation, registered
/// once. Each `counter!` or `histogram!` call looks its key up in the recorder's registry: a hash,
/// a read lock and an allocation, measured at two allocations per delivered batch.
struct Hot {
    sent: Counter,
    delivered: Counter,
    delivery_latency: Histogram,
    fanout: Histogram,
    store_read: Histogram,
    store_write: Histogram,
}

fn hot() -> &'static Hot {
    static HOT: OnceLock<Hot> = OnceLock::new();
    HOT.get_or_init(|| {
        // Registered after the recorder, or they would record nowhere.
        install();
        Hot {
            sent: counter!("confab_messages_sent_total"),
            delivered: counter!("confab_messages_delivered_total"),
            delivery_latency: histogram!("confab_delivery_latency_seconds"),
            fanout: histogram!("confab_fanout_latency_seconds"),
            store_read: histogram!("confab_store_seconds", "access" => "read"),
            store_write: histogram!("confab_store_seconds", "access" => "write"),
        }
    })
}

/// A message was stored.
pub fn message_sent() {
    hot().sent.increment(1);
}

/// A push service accepted a Web Push.
pub fn push_sent() {
    counter!("confab_pushes_sent_total").increment(1);
}

/// `n` message frames were written to a socket, the oldest `age` after its commit.
pub fn messages_delivered(n: u64, age: Option<Duration>) {
    let hot = hot();
    hot.delivered.increment(n);
    if let Some(age) = age {
        hot.delivery_latency.record(age.as_secs_f64());
    }
}

/// A message reached this node's fanout `age` after its commit.
pub fn fanout(age: Duration) {
    hot().fanout.record(age.as_secs_f64());
}

/// A store operation took `took`.
pub fn store(access: &'static str, took: Duration) {
    let seconds = took.as_secs_f64();
    match access {
        "read" => hot().store_read.record(seconds),
        "write" => hot().store_write.record(seconds),
        other => histogram!("confab_store_seconds", "access" => other).record(seconds),
    }
}

/// A Redis publish batch took `took`.
pub fn bus_publish(took: Duration) {
    histogram!("confab_bus_publish_seconds").record(took.as_secs_f64());
}

/// Whether the bus carries events.
pub fn bus_up(up: bool) {
    gauge!("confab_bus_up").set(if up { 1.0 } else { 0.0 });
}

/// A session was closed as a slow consumer.
pub fn slow_consumer() {
    counter!("confab_slow_consumer_closes_total").increment(1);
}

/// An error with `code` was answered.
pub fn error(code: &str) {
    counter!("confab_errors_total", "code" => code.to_owned()).increment(1);
}

/// An HTTP request ended with `status`.
pub fn http_request(status: u16) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    counter!("confab_http_requests_total", "status" => class).increment(1);
}

/// How long ago `at` was (zero if in the future).
pub fn since(at: chrono::DateTime<chrono::Utc>) -> Duration {
    (chrono::Utc::now() - at).to_std().unwrap_or_default()
}
