//! What the text benchmark's parent and its worker processes say to each other: one JSON object
//! a line, commands on the worker's stdin, events on its stdout.

use serde::{Deserialize, Serialize};

/// Which server the sessions talk to, and so how they frame messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Confab's contract: `auth`, then `message.send`, with `message.new` and acks back.
    Confab,
    /// The baseline: `join 0,3`, then `<room> <body>` broadcast as is.
    Baseline,
}

/// One session a worker holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionPlan {
    /// Index into the run's WebSocket URLs (the node this session connects to).
    pub node: usize,
    /// The access token (Confab only).
    pub token: Option<String>,
    /// The rooms the session hears, as indices into the run's rooms.
    pub rooms: Vec<u32>,
    /// The rooms it sends into, cycled message by message (empty: a listener).
    pub send_rooms: Vec<u32>,
    /// Its number in the whole run, which picks its source address.
    pub index: usize,
}

/// Parent → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Open and authenticate these sessions; answered by `Connected`.
    Connect {
        /// How to frame.
        protocol: Protocol,
        /// WebSocket URL of each node.
        urls: Vec<String>,
        /// Room ids (Confab's UUIDs, or the baseline's numbers), by room index.
        rooms: Vec<String>,
        /// The sessions.
        sessions: Vec<SessionPlan>,
        /// Bytes of each message body.
        body_bytes: usize,
    },
    /// Send `rate` messages a second in all, from `start_at_us` (Unix µs) for `secs`;
    /// answered by `Sent` when the sending ends.
    Run {
        /// When to start, so all workers start together.
        start_at_us: u64,
        /// How long to send.
        secs: f64,
        /// This worker's share of the rate.
        rate: f64,
    },
    /// How many deliveries so far; answered by `Count`.
    Count,
    /// The step's figures, which are then reset; answered by `Report`.
    Report,
}

/// Worker → parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Sessions opened.
    Connected {
        /// Opened and authenticated.
        ok: u64,
        /// Failed.
        failed: u64,
        /// The first failure, to show.
        first_error: Option<String>,
    },
    /// Sending ended.
    Sent {
        /// Messages sent (and, for Confab, acknowledged), by room index.
        by_room: Vec<(u32, u64)>,
        /// Sends that failed or could not be queued.
        failed: u64,
    },
    /// Deliveries so far.
    Count {
        /// Messages received by this worker's sessions.
        delivered: u64,
    },
    /// The step's figures.
    Report {
        /// Messages received.
        delivered: u64,
        /// Send→deliver latency in µs, an HDR histogram (V2, base64).
        latency: String,
        /// Error frames and failed sends.
        errors: u64,
        /// Sessions the server closed, by close code (0: the connection broke).
        closes: Vec<(u16, u64)>,
        /// The first error, to show.
        first_error: Option<String>,
    },
}
