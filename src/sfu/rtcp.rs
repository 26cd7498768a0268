//! Lets the participants' reception reports through to the SFU.
//!
//! rtc 0.21's interceptor chain answers RTCP by itself (it sends our receiver and sender
//! reports and NACK replies) and then ends every inbound RTCP packet at the chain's terminus,
//! unless an interceptor marks it `DeliverToApplication`. Its own statistics do not record
//! the reports either, so without this the SFU could not say how much of what it sends is
//! lost. [`ReportsToSfu`] marks compound packets carrying a receiver or sender report, and
//! `peer.rs` reads the loss and jitter the participant reports for each of our streams.
//! Cost: a type check per inbound RTCP packet (about one per second per stream).
//!
//! rtc 0.21 does not measure the round-trip time either, so [`RoundTrip`] sits next to the
//! wire, where it sees the sender reports rtc writes and the reception reports that answer
//! them: RTT = arrival − when the named sender report left − the receiver's delay since it
//! (RFC 3550 §6.4.1). Both instants are the chain's own `now`s, so the measure needs no clock
//! and is exact on the simulated network too. The latest sample goes to an atomic the
//! participant reads when it judges call quality.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Application-most position in the chain, above every built-in interceptor.
pub(super) const SLOT: usize = 14_000;
/// Wire-most position, below every built-in interceptor: [`RoundTrip`] must see the sender
/// reports the report interceptor writes.
pub(super) const ROUND_TRIP_SLOT: usize = 500;
/// Sender reports remembered per PeerConnection for matching (one per outgoing stream and
/// second; a reception report answers one of the last few).
const SENT_REPORTS: usize = 64;

/// Which compound RTCP packets to let through besides reports and keyframe requests.
pub type AlsoDeliver = fn(&[Box<dyn rtc::rtcp::Packet>]) -> bool;

/// See the module docs. Also lets keyframe requests (PLI, FIR) through: the SFU coalesces
/// its viewers' requests into one to the sharer, and the test kit's sharer counts them.
pub struct ReportsToSfu {
    also: AlsoDeliver,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl Default for ReportsToSfu {
    fn default() -> Self {
        Self::also(|_| false)
    }
}

impl ReportsToSfu {
    /// Lets through, besides reports and keyframe requests, the packets `also` picks (the
    /// test kit's client: the REMBs a browser's encoder would read).
    pub fn also(also: AlsoDeliver) -> Self {
        Self {
            also,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
        }
    }
}

fn carries_reports(packets: &[Box<dyn rtc::rtcp::Packet>]) -> bool {
    packets.iter().any(|p| {
        let any = p.as_any();
        any.downcast_ref::<ReceiverReport>()
            .is_some_and(|rr| !rr.reports.is_empty())
            || any
                .downcast_ref::<SenderReport>()
                .is_some_and(|sr| !sr.reports.is_empty())
            || any.is::<PictureLossIndication>()
            || any.is::<FullIntraRequest>()
    })
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for ReportsToSfu {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && (carries_reports(packets) || (self.also)(packets))
        {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }

    fn close(&mut self) -> Result<(), Error> {
        self.reads.clear();
        self.writes.clear();
        Ok(())
    }
}

impl Interceptor for ReportsToSfu {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// The last measured round-trip time of one PeerConnection in microseconds (0: none yet).
pub(super) type RttMicros = Arc<AtomicU32>;

/// Measures round-trip time from sender reports and their answers; see the module docs.
pub(super) struct RoundTrip {
    /// (SSRC, NTP middle 32 bits, when it left) of our recent sender reports.
    sent: VecDeque<(u32, u32, Instant)>,
    rtt: RttMicros,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl RoundTrip {
    pub(super) fn new(rtt: RttMicros) -> Self {
        Self {
            sent: VecDeque::with_capacity(SENT_REPORTS),
            rtt,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
        }
    }

    fn sent_report(&mut self, sr: &SenderReport, now: Instant) {
        if self.sent.len() == SENT_REPORTS {
            self.sent.pop_front();
        }
        // The "last SR" field a receiver echoes is the middle 32 bits of the NTP time.
        self.sent
            .push_back((sr.ssrc, (sr.ntp_time >> 16) as u32, now));
    }

    fn reports_arrived(
        &mut self,
        reports: &[rtc::rtcp::reception_report::ReceptionReport],
        now: Instant,
    ) {
        for r in reports.iter().filter(|r| r.last_sender_report != 0) {
            let Some(&(_, _, sent_at)) = self
                .sent
                .iter()
                .find(|(ssrc, lsr, _)| *ssrc == r.ssrc && *lsr == r.last_sender_report)
            else {
                continue;
            };
            // The delay is in units of 1/65536 s.
            let delay_us = u64::from(r.delay) * 1_000_000 / 65_536;
            let elapsed_us = u64::try_from(now.saturating_duration_since(sent_at).as_micros())
                .unwrap_or(u64::MAX);
            let rtt = elapsed_us.saturating_sub(delay_us).max(1);
            self.rtt
                .store(u32::try_from(rtt).unwrap_or(u32::MAX), Ordering::Relaxed);
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RoundTrip {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for p in packets {
                let any = p.as_any();
                if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                    self.reports_arrived(&rr.reports, msg.now);
                } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                    self.reports_arrived(&sr.reports, msg.now);
                }
            }
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for p in packets {
                if let Some(sr) = p.as_any().downcast_ref::<SenderReport>() {
                    self.sent_report(sr, msg.now);
                }
            }
        }
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }

    fn close(&mut self) -> Result<(), Error> {
        self.reads.clear();
        self.writes.clear();
        self.sent.clear();
        Ok(())
    }
}

impl Interceptor for RoundTrip {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rtc::interceptor::AttributedPacket;
    use rtc::rtcp::reception_report::ReceptionReport;
    use rtc::shared::TransportContext;

    use super::*;

    fn rtcp(now: Instant, p: Box<dyn rtc::rtcp::Packet>) -> TaggedPacket {
        TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtcp(vec![p])),
        }
    }

    #[test]
    fn the_round_trip_is_the_time_since_the_named_report_less_the_receivers_delay() {
        let rtt = RttMicros::default();
        let mut meter = RoundTrip::new(rtt.clone());
        let t0 = Instant::now();
        let ntp = 0x1234_5678_9abc_0000_u64;
        let sr = SenderReport {
            ssrc: 7,
            ntp_time: ntp,
            ..Default::default()
        };
        meter.handle_write(rtcp(t0, Box::new(sr))).unwrap();
        assert!(
            meter.poll_write().is_some(),
            "the report goes on to the wire"
        );

        let answer = |lsr: u32| ReceiverReport {
            ssrc: 1,
            reports: vec![ReceptionReport {
                ssrc: 7,
                last_sender_report: lsr,
                // 100 ms in 1/65536 s.
                delay: 6_554,
                ..Default::default()
            }],
            ..Default::default()
        };
        let t1 = t0 + Duration::from_millis(350);
        meter
            .handle_read(rtcp(t1, Box::new(answer(0xdead))))
            .unwrap();
        assert_eq!(
            rtt.load(Ordering::Relaxed),
            0,
            "an unknown report is no sample"
        );
        meter
            .handle_read(rtcp(t1, Box::new(answer((ntp >> 16) as u32))))
            .unwrap();
        let us = rtt.load(Ordering::Relaxed);
        assert!((249_000..=251_000).contains(&us), "{us} µs");
        assert!(meter.poll_read().is_some() && meter.poll_read().is_some());
    }
}
