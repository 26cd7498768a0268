//! Call quality: one participant's loss, jitter and round-trip time judged good, fair or poor.
//!
//! **What it owns.** The thresholds and the arithmetic that turns cumulative receiver figures
//! into figures for the last interval. **What it does not.** Reading them (the participant's
//! PeerConnection statistics, its reception reports and the round-trip meter in `rtcp.rs`) or
//! deciding when to publish (the core judges every [`QUALITY_INTERVAL`] and publishes a
//! `voice.state` only when someone's verdict changed). Pure: unit-tested with chosen figures.
//!
//! Loss is the worse direction: what we lost of the participant's microphone in the interval,
//! or the highest fraction the participant reported lost of the streams we send them. Jitter
//! is the highest either way. The thresholds follow what people hear in Opus calls: a few
//! percent loss and tens of milliseconds of jitter are concealed; 10 % loss, 100 ms of jitter
//! or half a second of round trip make speech choppy or talk-over frequent.

use std::time::Duration;

use super::signal::CallQuality;

/// How often a participant's quality is judged (and so at most how often it changes).
pub(super) const QUALITY_INTERVAL: Duration = Duration::from_secs(2);

/// Limits of "good": every figure must be under them.
const GOOD: Limits = Limits {
    loss: 0.02,
    jitter_s: 0.030,
    rtt_s: 0.250,
};
/// Limits of "poor": any figure at or over them.
const POOR: Limits = Limits {
    loss: 0.10,
    jitter_s: 0.100,
    rtt_s: 0.500,
};

struct Limits {
    loss: f64,
    jitter_s: f64,
    rtt_s: f64,
}

/// One interval's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Figures {
    /// Fraction of packets lost (0..=1), the worse direction.
    pub loss: f64,
    /// Interarrival jitter in seconds, the worse direction.
    pub jitter_s: f64,
    /// Round-trip time in seconds, if measured.
    pub rtt_s: Option<f64>,
}

/// The verdict on one interval's figures.
pub(super) fn judge(f: &Figures) -> CallQuality {
    let rtt = f.rtt_s.unwrap_or(0.0);
    if f.loss >= POOR.loss || f.jitter_s >= POOR.jitter_s || rtt >= POOR.rtt_s {
        CallQuality::Poor
    } else if f.loss < GOOD.loss && f.jitter_s < GOOD.jitter_s && rtt < GOOD.rtt_s {
        CallQuality::Good
    } else {
        CallQuality::Fair
    }
}

/// Turns the cumulative inbound counters of a stream into the loss of the last interval.
#[derive(Debug, Default)]
pub(super) struct LossMeter {
    received: u64,
    lost: i64,
}

impl LossMeter {
    /// The fraction lost since the previous call, given the totals now.
    pub(super) fn interval(&mut self, received: u64, lost: i64) -> f64 {
        let got = received.saturating_sub(self.received);
        // Cumulative loss may fall (a late packet or a duplicate counts back).
        let missed = u64::try_from(lost.saturating_sub(self.lost)).unwrap_or(0);
        self.received = received;
        self.lost = lost;
        let expected = got + missed;
        if expected == 0 {
            0.0
        } else {
            missed as f64 / expected as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(loss: f64, jitter_ms: f64, rtt_ms: Option<f64>) -> Figures {
        Figures {
            loss,
            jitter_s: jitter_ms / 1000.0,
            rtt_s: rtt_ms.map(|r| r / 1000.0),
        }
    }

    #[test]
    fn a_clean_link_is_good_and_any_bad_figure_makes_it_poor() {
        assert_eq!(judge(&figures(0.0, 2.0, Some(20.0))), CallQuality::Good);
        assert_eq!(judge(&figures(0.0, 2.0, None)), CallQuality::Good);
        assert_eq!(judge(&figures(0.25, 2.0, Some(20.0))), CallQuality::Poor);
        assert_eq!(judge(&figures(0.0, 150.0, Some(20.0))), CallQuality::Poor);
        assert_eq!(judge(&figures(0.0, 2.0, Some(800.0))), CallQuality::Poor);
    }

    #[test]
    fn figures_between_the_limits_are_fair() {
        assert_eq!(judge(&figures(0.05, 2.0, Some(20.0))), CallQuality::Fair);
        assert_eq!(judge(&figures(0.0, 50.0, Some(20.0))), CallQuality::Fair);
        assert_eq!(judge(&figures(0.0, 2.0, Some(300.0))), CallQuality::Fair);
    }

    #[test]
    fn loss_is_measured_per_interval_not_since_the_start() {
        let mut m = LossMeter::default();
        assert_eq!(m.interval(0, 0), 0.0, "nothing expected yet");
        assert!((m.interval(75, 25) - 0.25).abs() < 1e-9);
        assert_eq!(
            m.interval(175, 25),
            0.0,
            "the early loss is not counted again"
        );
        assert_eq!(
            m.interval(175, 20),
            0.0,
            "loss counted back is not negative"
        );
    }
}
