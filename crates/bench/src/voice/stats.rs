//! What the voice receivers measure, and how their records add up to a step's figures.
//!
//! Every participant, on Confab or on the baseline, feeds each packet it receives to its own
//! [`Recorder`]: whether it is audio or screen video ([`Media`]), the publisher's id, counter
//! and send time (carried in the payload) and the arrival time. Only packets *sent* inside the
//! measurement [`Window`] count, so ramp-up and drain never blur the figures. [`summarize`]
//! then merges the records of a step, one kind of media at a time: delay percentiles, RFC 3550
//! interarrival jitter, and loss per (receiver, publisher) pair against what the publisher sent
//! in the window. The two systems share this module, so their figures are computed the same
//! way.

use std::collections::HashMap;

use hdrhistogram::Histogram;
use tokio::time::Instant;
use uuid::Uuid;

use crate::worker::histogram;

/// The measurement window: packets sent in `[start_us, end_us)` (Unix µs) count, and receivers
/// keep listening until `drain_until` for the last of them.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// First send time that counts.
    pub start_us: u64,
    /// First send time that no longer counts.
    pub end_us: u64,
    /// When receivers stop listening.
    pub drain_until: Instant,
}

impl Window {
    /// The window's length in seconds.
    pub fn secs(&self) -> f64 {
        self.end_us.saturating_sub(self.start_us) as f64 / 1e6
    }
}

/// One publisher as heard by one receiver.
#[derive(Debug, Clone, Copy)]
struct Stream {
    /// Lowest and highest counter received (in the window).
    first: u32,
    last: u32,
    received: u64,
    /// RFC 3550 interarrival jitter estimate, µs.
    jitter_us: f64,
    /// Transit time (arrival − send) of the previous packet, µs.
    last_transit: i64,
}

/// Which of a publisher's streams a packet is of. Each has its own counter, so the two are
/// recorded and summarized apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// The microphone: 50 packets/s per speaker.
    Audio,
    /// A shared screen (`--video`).
    Video,
}

/// One kind of media as one receiver got it.
struct Heard {
    streams: HashMap<Uuid, Stream>,
    delay: Histogram<u64>,
}

impl Heard {
    fn new() -> Heard {
        Heard {
            streams: HashMap::new(),
            delay: histogram(),
        }
    }
}

/// One receiver's record of the window.
pub struct Recorder {
    window: Window,
    audio: Heard,
    video: Heard,
    /// Why this participant stopped early, if it did.
    pub failure: Option<String>,
}

impl Recorder {
    /// An empty record for `window`.
    pub fn new(window: Window) -> Recorder {
        Recorder {
            window,
            audio: Heard::new(),
            video: Heard::new(),
            failure: None,
        }
    }

    fn heard(&self, media: Media) -> &Heard {
        match media {
            Media::Audio => &self.audio,
            Media::Video => &self.video,
        }
    }

    /// Records one received packet. Cost: one small hash lookup and one histogram increment,
    /// no allocation after a publisher's first packet.
    pub fn record(
        &mut self,
        media: Media,
        sender: Uuid,
        counter: u32,
        sent_at_us: u64,
        arrival_us: u64,
    ) {
        if sent_at_us < self.window.start_us || sent_at_us >= self.window.end_us {
            return;
        }
        let heard = match media {
            Media::Audio => &mut self.audio,
            Media::Video => &mut self.video,
        };
        heard
            .delay
            .saturating_record(arrival_us.saturating_sub(sent_at_us).max(1));
        let transit = arrival_us as i64 - sent_at_us as i64;
        match heard.streams.get_mut(&sender) {
            Some(s) => {
                s.first = s.first.min(counter);
                s.last = s.last.max(counter);
                s.received += 1;
                let d = (transit - s.last_transit).unsigned_abs() as f64;
                s.jitter_us += (d - s.jitter_us) / 16.0;
                s.last_transit = transit;
            }
            None => {
                heard.streams.insert(
                    sender,
                    Stream {
                        first: counter,
                        last: counter,
                        received: 1,
                        jitter_us: 0.0,
                        last_transit: transit,
                    },
                );
            }
        }
    }

    /// The window this record covers.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Packets recorded, audio and video.
    pub fn received(&self) -> u64 {
        [&self.audio, &self.video]
            .iter()
            .flat_map(|h| h.streams.values())
            .map(|s| s.received)
            .sum()
    }
}

/// A step's merged figures.
pub struct Summary {
    /// Packets received in the window, all receivers.
    pub received: u64,
    /// Packets the receivers should have received: per pair, what the publisher sent.
    pub expected: u64,
    /// Packets the publishers sent in the window (as seen by any receiver).
    pub sent: u64,
    /// Mean of the streams' final RFC 3550 jitter, ms.
    pub jitter_ms: f64,
    /// Send→receive delay, µs.
    pub delay: Histogram<u64>,
    /// Publishers that no receiver heard in the window.
    pub unheard: usize,
}

impl Summary {
    /// Lost share of the expected packets, in percent.
    pub fn loss_pct(&self) -> f64 {
        if self.expected == 0 {
            return f64::NAN;
        }
        self.expected.saturating_sub(self.received) as f64 * 100.0 / self.expected as f64
    }
}

/// Merges the records of a step for one kind of `media`. `hears[i]` lists the publishers
/// (of that kind) receiver `i` should get.
///
/// What a publisher sent in the window is the span of its counters that any receiver got:
/// its packets carry consecutive counters, and with several receivers the first and last
/// are all but never lost by everyone.
pub fn summarize(records: &[Recorder], hears: &[Vec<Uuid>], media: Media) -> Summary {
    let mut spans: HashMap<Uuid, (u32, u32)> = HashMap::new();
    for r in records {
        for (id, s) in &r.heard(media).streams {
            let span = spans.entry(*id).or_insert((s.first, s.last));
            span.0 = span.0.min(s.first);
            span.1 = span.1.max(s.last);
        }
    }
    let sent_by = |id: &Uuid| spans.get(id).map_or(0, |(a, b)| u64::from(b - a) + 1);
    let mut delay = histogram();
    let (mut received, mut expected) = (0u64, 0u64);
    let (mut jitter_sum, mut streams) = (0.0, 0u64);
    for (r, hears) in records.iter().zip(hears) {
        let heard = r.heard(media);
        let _ = delay.add(&heard.delay);
        for id in hears {
            expected += sent_by(id);
            if let Some(s) = heard.streams.get(id) {
                // Duplicates never count twice against loss.
                received += s.received.min(sent_by(id));
                jitter_sum += s.jitter_us;
                streams += 1;
            }
        }
    }
    let publishers: std::collections::HashSet<&Uuid> = hears.iter().flatten().collect();
    Summary {
        received,
        expected,
        sent: publishers.iter().map(|id| sent_by(id)).sum(),
        jitter_ms: if streams == 0 {
            f64::NAN
        } else {
            jitter_sum / streams as f64 / 1000.0
        },
        delay,
        unheard: publishers
            .iter()
            .filter(|id| !spans.contains_key(id))
            .count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> Window {
        Window {
            start_us: 1_000_000,
            end_us: 2_000_000,
            drain_until: Instant::now(),
        }
    }

    #[test]
    fn loss_counts_against_what_the_publisher_sent_in_the_window() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut full = Recorder::new(window());
        let mut lossy = Recorder::new(window());
        for c in 0..50u32 {
            let sent = 1_000_000 + u64::from(c) * 20_000;
            full.record(Media::Audio, a, c, sent, sent + 500);
            if c % 10 != 0 {
                lossy.record(Media::Audio, a, c, sent, sent + 500);
            }
        }
        // Outside the window: ignored.
        full.record(Media::Audio, a, 99, 2_000_000, 2_000_500);
        let s = summarize(&[full, lossy], &[vec![a], vec![a, b]], Media::Audio);
        assert_eq!(s.expected, 100);
        assert_eq!(s.received, 95);
        assert_eq!(s.sent, 50);
        assert_eq!(s.unheard, 1);
        assert!((s.loss_pct() - 5.0).abs() < 1e-9);
        assert!(s.jitter_ms.abs() < 1e-9, "constant transit has no jitter");
    }

    #[test]
    fn audio_and_video_of_one_publisher_are_counted_apart() {
        let a = Uuid::new_v4();
        let mut r = Recorder::new(window());
        // Both counters start at 0: mixed, the video would look like duplicated audio.
        for c in 0..10u32 {
            let sent = 1_000_000 + u64::from(c) * 20_000;
            r.record(Media::Audio, a, c, sent, sent + 500);
            if c % 2 == 0 {
                r.record(Media::Video, a, c, sent, sent + 3_000);
            }
        }
        let records = [r];
        let audio = summarize(&records, &[vec![a]], Media::Audio);
        let video = summarize(&records, &[vec![a]], Media::Video);
        assert_eq!((audio.received, audio.expected), (10, 10));
        assert_eq!((video.received, video.expected), (5, 9), "4 of 9 lost");
        assert!(
            video.delay.equivalent(video.delay.max(), 3_000),
            "video delay is its own"
        );
        assert_eq!(records[0].received(), 15);
    }
}
