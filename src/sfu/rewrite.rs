//! Per-outgoing-track rewriting of RTP sequence numbers and timestamps.
//!
//! Every subscriber receives each other participant on an outgoing m-line ("slot") with an
//! SSRC the SFU chose when the slot was created, and that SSRC never changes, even when the
//! slot is later reused for another participant. What flows into a slot, though, changes: a
//! publisher mutes and unmutes (the SFU drops packets meanwhile, the publisher's counters keep
//! running), the browser restarts its sender (new SSRC, new random sequence/timestamp bases),
//! or the slot is handed from a departed participant to a new one.
//!
//! [`StreamRewriter`] hides all of that: within one *source* (a run of packets from one
//! publisher SSRC with no re-base in between) it applies a fixed offset, so gaps and
//! reordering the network introduced are preserved exactly (the subscriber's jitter buffer and
//! NACK logic need them); at every source change it picks offsets such that the first packet
//! gets the next sequence number after the last one sent, and a timestamp advanced by the wall
//! time that passed. The subscriber sees one continuous stream with a talk-spurt gap.
//!
//! Pure arithmetic, no clock, no allocation: one call per forwarded packet per subscriber.

use std::time::{Duration, Instant};

/// Opus' RTP clock is always 48 kHz (RFC 7587), whatever the actual sampling rate.
pub const OPUS_CLOCK_RATE: u32 = 48_000;

/// The smallest timestamp step at a source change: one 20 ms Opus frame.
const MIN_TS_STEP: u32 = OPUS_CLOCK_RATE / 50;

/// Video's RTP clock is 90 kHz for every codec we offer (VP8, H.264).
pub const VIDEO_CLOCK_RATE: u32 = 90_000;

/// The mapping of the current source onto the outgoing stream.
#[derive(Debug, Clone, Copy)]
struct Source {
    ssrc: u32,
    /// The first incoming sequence number of this source; older packets are dropped, since
    /// their outgoing numbers could collide with those of the previous source.
    base_seq: u16,
    seq_offset: u16,
    ts_offset: u32,
}

/// The rewritten header fields of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    /// Outgoing sequence number.
    pub seq: u16,
    /// Outgoing RTP timestamp.
    pub timestamp: u32,
    /// True on the first packet of a new source: the start of a talk spurt (RFC 3551 §4.1),
    /// which tells the receiver's jitter buffer the timestamp jump is intended.
    pub marker: bool,
}

/// Sequence/timestamp rewriter of one outgoing track; see the module docs.
#[derive(Debug, Clone)]
pub struct StreamRewriter {
    source: Option<Source>,
    /// The highest outgoing sequence number sent so far, with the timestamp and instant of
    /// that packet; `None` before the first packet.
    last: Option<(u16, u32, Instant)>,
    /// Where the first outgoing stream starts (random, as RFC 3550 asks).
    initial_seq: u16,
    initial_ts: u32,
    /// The stream's RTP clock (ticks per second) and the smallest timestamp step at a source
    /// change (one frame).
    clock: u32,
    min_step: u32,
}

impl StreamRewriter {
    /// A rewriter whose outgoing stream will start at `initial_seq` / `initial_ts`.
    pub fn new(initial_seq: u16, initial_ts: u32) -> Self {
        Self::with_clock(initial_seq, initial_ts, OPUS_CLOCK_RATE, MIN_TS_STEP)
    }

    /// A rewriter for a video stream (90 kHz clock, a 30 fps frame as the smallest step).
    pub fn video(initial_seq: u16, initial_ts: u32) -> Self {
        Self::with_clock(
            initial_seq,
            initial_ts,
            VIDEO_CLOCK_RATE,
            VIDEO_CLOCK_RATE / 30,
        )
    }

    fn with_clock(initial_seq: u16, initial_ts: u32, clock: u32, min_step: u32) -> Self {
        Self {
            source: None,
            last: None,
            initial_seq,
            initial_ts,
            clock,
            min_step,
        }
    }

    /// Forces the next packet to start a new source, continuing the outgoing numbering. Called
    /// when the publisher unmutes and when the slot is handed to another publisher.
    pub fn rebase(&mut self) {
        self.source = None;
    }

    /// Maps one incoming packet; `None` means "drop it" (a straggler from before a re-base).
    pub fn rewrite(
        &mut self,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        now: Instant,
    ) -> Option<Rewritten> {
        let mut marker = false;
        let source = match self.source {
            Some(source) if source.ssrc == ssrc => {
                if (seq.wrapping_sub(source.base_seq) as i16) < 0 {
                    return None;
                }
                source
            }
            _ => {
                marker = true;
                let (out_seq, out_ts) = match self.last {
                    None => (self.initial_seq, self.initial_ts),
                    Some((last_seq, last_ts, last_at)) => (
                        last_seq.wrapping_add(1),
                        last_ts.wrapping_add(ts_step(
                            now.saturating_duration_since(last_at),
                            self.clock,
                            self.min_step,
                        )),
                    ),
                };
                let source = Source {
                    ssrc,
                    base_seq: seq,
                    seq_offset: out_seq.wrapping_sub(seq),
                    ts_offset: out_ts.wrapping_sub(timestamp),
                };
                self.source = Some(source);
                source
            }
        };
        let out = Rewritten {
            seq: seq.wrapping_add(source.seq_offset),
            timestamp: timestamp.wrapping_add(source.ts_offset),
            marker,
        };
        let newer = match self.last {
            None => true,
            Some((last_seq, _, _)) => (out.seq.wrapping_sub(last_seq) as i16) > 0,
        };
        if newer {
            self.last = Some((out.seq, out.timestamp, now));
        }
        Some(out)
    }
}

/// Timestamp advance for a pause of `elapsed`: the wall time in `clock` ticks, at least one
/// frame (`min_step`) so the stream never goes backwards or repeats a timestamp.
fn ts_step(elapsed: Duration, clock: u32, min_step: u32) -> u32 {
    let ticks = elapsed.as_micros() * u128::from(clock) / 1_000_000;
    (ticks.min(u128::from(u32::MAX / 2)) as u32).max(min_step)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_TS: u32 = 960;
    const FRAME: Duration = Duration::from_millis(20);

    #[test]
    fn one_source_keeps_its_spacing_gaps_and_order() {
        let mut r = StreamRewriter::new(1000, 5000);
        let t0 = Instant::now();
        let a = r.rewrite(7, 40_000, 123, t0).unwrap();
        assert_eq!((a.seq, a.timestamp, a.marker), (1000, 5000, true));
        let b = r.rewrite(7, 40_001, 123 + FRAME_TS, t0 + FRAME).unwrap();
        assert_eq!(
            (b.seq, b.timestamp, b.marker),
            (1001, 5000 + FRAME_TS, false)
        );
        // A lost packet stays a gap; a late one keeps its place.
        let d = r
            .rewrite(7, 40_003, 123 + 3 * FRAME_TS, t0 + 3 * FRAME)
            .unwrap();
        assert_eq!(d.seq, 1003);
        let c = r
            .rewrite(7, 40_002, 123 + 2 * FRAME_TS, t0 + 3 * FRAME)
            .unwrap();
        assert_eq!(c.seq, 1002);
    }

    #[test]
    fn sequence_numbers_and_timestamps_wrap() {
        let mut r = StreamRewriter::new(u16::MAX, u32::MAX - 10);
        let t0 = Instant::now();
        r.rewrite(1, 5, 0, t0).unwrap();
        let b = r.rewrite(1, 6, FRAME_TS, t0 + FRAME).unwrap();
        assert_eq!(b.seq, 0);
        assert_eq!(b.timestamp, FRAME_TS - 11);
    }

    #[test]
    fn rebase_continues_numbering_and_advances_time_by_the_pause() {
        let mut r = StreamRewriter::new(10, 0);
        let t0 = Instant::now();
        for i in 0..5u16 {
            r.rewrite(
                9,
                100 + i,
                u32::from(i) * FRAME_TS,
                t0 + FRAME * u32::from(i),
            )
            .unwrap();
        }
        // Muted for 2 s: the publisher kept counting, the SFU forwarded nothing.
        r.rebase();
        let resumed_at = t0 + FRAME * 4 + Duration::from_secs(2);
        let p = r.rewrite(9, 200, 100 * FRAME_TS, resumed_at).unwrap();
        assert_eq!(p.seq, 15, "continuous sequence numbers across the mute");
        assert!(p.marker);
        assert_eq!(p.timestamp, 4 * FRAME_TS + 2 * OPUS_CLOCK_RATE);
        let q = r
            .rewrite(9, 201, 101 * FRAME_TS, resumed_at + FRAME)
            .unwrap();
        assert_eq!((q.seq, q.timestamp), (16, p.timestamp + FRAME_TS));
    }

    #[test]
    fn a_new_publisher_ssrc_continues_the_same_outgoing_stream() {
        let mut r = StreamRewriter::new(500, 0);
        let t0 = Instant::now();
        r.rewrite(1, 7, 70, t0).unwrap();
        let p = r.rewrite(2, 60_000, 9_999_999, t0 + FRAME).unwrap();
        assert_eq!(p.seq, 501);
        assert_eq!(p.timestamp, FRAME_TS);
        assert!(p.marker);
    }

    #[test]
    fn stragglers_from_before_a_rebase_are_dropped() {
        let mut r = StreamRewriter::new(0, 0);
        let t0 = Instant::now();
        r.rewrite(3, 50, 0, t0).unwrap();
        r.rebase();
        r.rewrite(3, 60, 10 * FRAME_TS, t0 + FRAME).unwrap();
        assert_eq!(r.rewrite(3, 59, 9 * FRAME_TS, t0 + FRAME), None);
    }

    #[test]
    fn a_video_stream_advances_by_the_90_khz_clock_across_a_pause() {
        let mut r = StreamRewriter::video(0, 0);
        let t0 = Instant::now();
        r.rewrite(3, 50, 0, t0).unwrap();
        r.rebase();
        let p = r.rewrite(4, 9, 77, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!((p.seq, p.timestamp), (1, VIDEO_CLOCK_RATE));
        r.rebase();
        let q = r.rewrite(5, 1, 0, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(q.timestamp, VIDEO_CLOCK_RATE + VIDEO_CLOCK_RATE / 30);
    }

    #[test]
    fn an_immediate_rebase_still_moves_time_forward_by_a_frame() {
        let mut r = StreamRewriter::new(0, 0);
        let t0 = Instant::now();
        r.rewrite(3, 50, 0, t0).unwrap();
        r.rebase();
        let p = r.rewrite(3, 51, FRAME_TS, t0).unwrap();
        assert_eq!(p.timestamp, MIN_TS_STEP);
    }
}
