//! Active-speaker detection from RFC 6464 audio levels, without decoding.
//!
//! Every Opus packet a participant publishes carries a `ssrc-audio-level` header extension:
//! the encoder's estimate of the frame's loudness in -dBov (0 is loudest, 127 is silence).
//! [`SpeakerDetector`] turns that noisy per-20 ms value into a stable "is speaking" flag, in
//! the spirit of LiveKit's `active_level` / `smooth_intervals`:
//!
//! 1. Packets are grouped into fixed intervals (100 ms by default). An interval's score is the
//!    fraction of its expected frames whose level is at least as loud as `active_level`; a
//!    silent interval, or one with no packets at all (muted, DTX, a dead client), scores 0.
//! 2. Scores are smoothed with an exponential moving average over `smooth_intervals`, so one
//!    cough or one lost packet does not flip the state.
//! 3. Hysteresis: the flag turns on when the average reaches `on_ratio` and off only when it
//!    falls below `off_ratio`, so the pauses inside a sentence do not flap it.
//! 4. Rate limit: a change is reported only if the previous one is at least
//!    `min_change_interval` old (250 ms, so at most 4 changes per second); a change that comes
//!    too soon waits and is re-evaluated on a later input.
//!
//! This is a pure state machine: it reads no clock and owns no timer. It is fed
//! `(level, instant)` pairs as packets arrive and [`SpeakerDetector::tick`] calls from the
//! SFU's housekeeping timer, and it answers with the changes to report.

use std::time::{Duration, Instant};

/// Tuning of [`SpeakerDetector`]; the defaults suit speech over Opus at 20 ms frames.
#[derive(Debug, Clone)]
pub struct SpeakerConfig {
    /// A frame at this level or louder (a smaller -dBov number) counts as voice.
    pub active_level: u8,
    /// Length of one scoring interval.
    pub interval: Duration,
    /// Frames expected per interval at the usual 20 ms ptime; an interval with fewer packets
    /// still divides by this, so a trickle of loud packets does not look like speech.
    pub expected_frames: u32,
    /// Weight of the moving average: the new score counts `1 / smooth_intervals`.
    pub smooth_intervals: u32,
    /// Smoothed score at which a silent participant becomes speaking.
    pub on_ratio: f32,
    /// Smoothed score below which a speaking participant becomes silent.
    pub off_ratio: f32,
    /// Minimum time between two reported changes.
    pub min_change_interval: Duration,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        Self {
            active_level: 35,
            interval: Duration::from_millis(100),
            expected_frames: 5,
            smooth_intervals: 3,
            on_ratio: 0.5,
            off_ratio: 0.15,
            min_change_interval: Duration::from_millis(250),
        }
    }
}

/// Gaps longer than this many intervals are treated as "long silence" in one step rather than
/// by stepping the average interval by interval.
const MAX_CATCH_UP_INTERVALS: u32 = 64;

/// Per-participant speaking state; see the module docs for the algorithm.
#[derive(Debug, Clone)]
pub struct SpeakerDetector {
    cfg: SpeakerConfig,
    /// Start of the interval being filled; `None` until the first input.
    window_start: Option<Instant>,
    packets: u32,
    active: u32,
    smoothed: f32,
    speaking: bool,
    last_change: Option<Instant>,
}

impl Default for SpeakerDetector {
    fn default() -> Self {
        Self::new(SpeakerConfig::default())
    }
}

impl SpeakerDetector {
    /// A detector that starts silent.
    pub fn new(cfg: SpeakerConfig) -> Self {
        Self {
            cfg,
            window_start: None,
            packets: 0,
            active: 0,
            smoothed: 0.0,
            speaking: false,
            last_change: None,
        }
    }

    /// The state last reported.
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Feeds one packet's audio level (-dBov, 0..=127; the V bit already masked off).
    /// Returns the new state if this input changed it. Cost: a few comparisons and adds.
    pub fn observe(&mut self, level: u8, now: Instant) -> Option<bool> {
        self.roll(now);
        self.packets = self.packets.saturating_add(1);
        if level <= self.cfg.active_level {
            self.active = self.active.saturating_add(1);
        }
        self.decide(now)
    }

    /// Advances time without a packet: closes elapsed intervals (as silence if empty) and
    /// releases a change that the rate limit held back. Returns the new state if it changed.
    pub fn tick(&mut self, now: Instant) -> Option<bool> {
        self.roll(now);
        self.decide(now)
    }

    /// Forgets the audio history, as when the participant mutes: the average drops to zero
    /// and the flag turns off as soon as the rate limit allows (on this call or a later
    /// [`Self::tick`]).
    pub fn reset(&mut self, now: Instant) -> Option<bool> {
        self.smoothed = 0.0;
        self.packets = 0;
        self.active = 0;
        self.window_start = Some(now);
        self.decide(now)
    }

    /// Closes every interval that ended at or before `now`.
    fn roll(&mut self, now: Instant) {
        let Some(start) = self.window_start else {
            self.window_start = Some(now);
            return;
        };
        let interval = self.cfg.interval;
        if interval.is_zero() || now < start + interval {
            return;
        }
        let elapsed = now.duration_since(start);
        let whole = (elapsed.as_nanos() / interval.as_nanos()).min(u128::from(u32::MAX)) as u32;

        // The interval being filled closes with its counts; the others were empty.
        let score = self.score();
        self.smooth(score);
        let empty = whole.saturating_sub(1);
        if empty >= MAX_CATCH_UP_INTERVALS {
            self.smoothed = 0.0;
        } else {
            for _ in 0..empty {
                self.smooth(0.0);
            }
        }
        self.packets = 0;
        self.active = 0;
        self.window_start = Some(start + interval * whole);
    }

    fn score(&self) -> f32 {
        let denominator = self.packets.max(self.cfg.expected_frames).max(1);
        self.active as f32 / denominator as f32
    }

    fn smooth(&mut self, score: f32) {
        let weight = self.cfg.smooth_intervals.max(1) as f32;
        self.smoothed += (score - self.smoothed) / weight;
    }

    fn decide(&mut self, now: Instant) -> Option<bool> {
        let wanted = if self.speaking {
            self.smoothed >= self.cfg.off_ratio
        } else {
            self.smoothed >= self.cfg.on_ratio
        };
        if wanted == self.speaking {
            return None;
        }
        if let Some(last) = self.last_change
            && now.saturating_duration_since(last) < self.cfg.min_change_interval
        {
            return None;
        }
        self.speaking = wanted;
        self.last_change = Some(now);
        Some(wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(20);
    const LOUD: u8 = 20;
    const QUIET: u8 = 100;

    /// Feeds `frames` 20 ms packets of `level` starting at `*now`, collecting reported changes.
    fn feed(
        d: &mut SpeakerDetector,
        now: &mut Instant,
        frames: u32,
        level: u8,
        out: &mut Vec<(Instant, bool)>,
    ) {
        for _ in 0..frames {
            if let Some(s) = d.observe(level, *now) {
                out.push((*now, s));
            }
            *now += FRAME;
        }
    }

    #[test]
    fn steady_speech_turns_speaking_on_within_a_few_hundred_ms() {
        let mut d = SpeakerDetector::default();
        let start = Instant::now();
        let mut now = start;
        let mut changes = vec![];
        feed(&mut d, &mut now, 50, LOUD, &mut changes);
        assert_eq!(changes.len(), 1);
        let (at, state) = changes[0];
        assert!(state);
        assert!(at - start <= Duration::from_millis(400), "{:?}", at - start);
        assert!(d.is_speaking());
    }

    #[test]
    fn background_noise_below_the_active_level_never_counts_as_speech() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        let mut changes = vec![];
        feed(&mut d, &mut now, 500, QUIET, &mut changes);
        feed(&mut d, &mut now, 500, 36, &mut changes);
        assert!(changes.is_empty());
    }

    #[test]
    fn silence_after_speech_turns_speaking_off_but_short_pauses_do_not() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        let mut changes = vec![];
        feed(&mut d, &mut now, 50, LOUD, &mut changes);
        // A 100 ms pause between words keeps the flag on.
        feed(&mut d, &mut now, 5, QUIET, &mut changes);
        feed(&mut d, &mut now, 25, LOUD, &mut changes);
        assert_eq!(changes.len(), 1);
        // A second of silence turns it off.
        feed(&mut d, &mut now, 50, QUIET, &mut changes);
        assert_eq!(changes.len(), 2);
        assert!(!changes[1].1);
    }

    #[test]
    fn no_packets_at_all_turns_speaking_off_through_ticks() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        let mut changes = vec![];
        feed(&mut d, &mut now, 50, LOUD, &mut changes);
        let mut off_at = None;
        for _ in 0..20 {
            now += Duration::from_millis(100);
            if d.tick(now) == Some(false) {
                off_at = Some(now);
                break;
            }
        }
        assert!(
            off_at.is_some(),
            "a participant who stops sending stops speaking"
        );
    }

    #[test]
    fn one_loud_packet_in_silence_is_ignored() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        let mut changes = vec![];
        for _ in 0..20 {
            feed(&mut d, &mut now, 24, QUIET, &mut changes);
            feed(&mut d, &mut now, 1, LOUD, &mut changes);
        }
        assert!(changes.is_empty());
    }

    #[test]
    fn changes_are_limited_to_four_per_second() {
        // An adversarial pattern: speech and silence alternating as fast as the detector
        // could possibly follow.
        let cfg = SpeakerConfig {
            smooth_intervals: 1,
            on_ratio: 0.5,
            off_ratio: 0.5,
            ..SpeakerConfig::default()
        };
        let mut d = SpeakerDetector::new(cfg);
        let mut now = Instant::now();
        let mut changes = vec![];
        for _ in 0..100 {
            feed(&mut d, &mut now, 5, LOUD, &mut changes);
            feed(&mut d, &mut now, 5, QUIET, &mut changes);
        }
        assert!(changes.len() > 10, "the pattern does produce changes");
        for (i, (at, _)) in changes.iter().enumerate() {
            let in_window = changes[i..]
                .iter()
                .take_while(|(t, _)| *t < *at + Duration::from_secs(1))
                .count();
            assert!(in_window <= 4, "{in_window} changes within one second");
        }
        // Reported states alternate: never two "on" in a row.
        for pair in changes.windows(2) {
            assert_ne!(pair[0].1, pair[1].1);
        }
    }

    #[test]
    fn reset_turns_a_speaker_off_respecting_the_rate_limit() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        let mut changes = vec![];
        feed(&mut d, &mut now, 50, LOUD, &mut changes);
        assert!(d.is_speaking());
        assert_eq!(d.reset(now), Some(false));
        assert!(!d.is_speaking());

        // Right after a change, a reset's effect waits for the rate limit.
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        let mut changes = vec![];
        feed(&mut d, &mut now, 15, LOUD, &mut changes);
        let (on_at, _) = changes[0];
        assert_eq!(d.reset(on_at + Duration::from_millis(10)), None);
        assert_eq!(d.tick(on_at + Duration::from_millis(260)), Some(false));
    }

    #[test]
    fn a_long_gap_is_handled_without_iterating_every_interval() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        let mut changes = vec![];
        feed(&mut d, &mut now, 50, LOUD, &mut changes);
        now += Duration::from_secs(3600);
        assert_eq!(d.tick(now), Some(false));
    }
}
