//! Counters for metrics and logs.
//!
//! The forwarding loop owns the exact per-participant counters (plain integers, no atomics on
//! the hot path). Totals are published into [`SharedStats`] (atomics) after every batch of
//! work, so [`super::Sfu::stats`] is a synchronous read for `/metrics`, at most one batch old.

use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide SFU totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SfuStats {
    /// PeerConnections alive right now (created and not yet dropped).
    pub live_peer_connections: u64,
    /// Voice rooms with at least one participant.
    pub rooms: u64,
    /// Participants in all rooms.
    pub participants: u64,
    /// RTP packets received from publishers.
    pub packets_in: u64,
    /// RTP payload+header bytes received from publishers.
    pub bytes_in: u64,
    /// RTP packets forwarded to subscribers.
    pub packets_out: u64,
    /// Bytes forwarded to subscribers.
    pub bytes_out: u64,
    /// Publisher packets lost on the way in (from our receiver statistics).
    pub lost: u64,
    /// Datagrams that matched no participant.
    pub unroutable: u64,
}

/// Per-participant figures, read on demand.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParticipantStats {
    /// RTP packets received from this participant's microphone.
    pub packets_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// RTP packets forwarded to this participant.
    pub packets_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Packets of the microphone stream that never arrived (our receiver report's count).
    pub lost_in: i64,
    /// Interarrival jitter of the microphone stream, in seconds.
    pub jitter_in: f64,
    /// Packets of our outgoing streams the participant reported lost (from their RTCP RRs),
    /// summed over streams.
    pub lost_out: i64,
    /// Highest jitter the participant reported for our outgoing streams, in seconds.
    pub jitter_out: f64,
    /// Packets dropped because the participant was muted (or deafened).
    pub dropped_muted: u64,
    /// The last round-trip time measured from their reception reports, in seconds (0 until
    /// one was measured).
    pub round_trip: f64,
}

/// Atomics behind [`super::Sfu::stats`].
#[derive(Debug, Default)]
pub(super) struct SharedStats {
    pub live_peer_connections: AtomicU64,
    pub rooms: AtomicU64,
    pub participants: AtomicU64,
    pub packets_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub lost: AtomicU64,
    pub unroutable: AtomicU64,
}

impl SharedStats {
    pub(super) fn snapshot(&self) -> SfuStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SfuStats {
            live_peer_connections: get(&self.live_peer_connections),
            rooms: get(&self.rooms),
            participants: get(&self.participants),
            packets_in: get(&self.packets_in),
            bytes_in: get(&self.bytes_in),
            packets_out: get(&self.packets_out),
            bytes_out: get(&self.bytes_out),
            lost: get(&self.lost),
            unroutable: get(&self.unroutable),
        }
    }

    /// Stores the loop's totals; `live_peer_connections` is left alone because the
    /// PeerConnections count themselves (see `peer::LiveGuard`).
    pub(super) fn publish(&self, s: &SfuStats) {
        let set = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        set(&self.rooms, s.rooms);
        set(&self.participants, s.participants);
        set(&self.packets_in, s.packets_in);
        set(&self.bytes_in, s.bytes_in);
        set(&self.packets_out, s.packets_out);
        set(&self.bytes_out, s.bytes_out);
        set(&self.lost, s.lost);
        set(&self.unroutable, s.unroutable);
    }
}
