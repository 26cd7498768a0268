//! Lets the participants' reception reports through to the SFU.
//!
//! rtc 0.21's interceptor chain answers RTCP by itself (it sends our receiver and sender
//! reports and NACK replies) and then ends every inbound RTCP packet at the chain's terminus,
//! unless an interceptor marks it `DeliverToApplication`. Its own statistics do not record
//! the reports either, so without this the SFU could not say how much of what it sends is
//! lost. [`ReportsToSfu`] marks compound packets carrying a receiver or sender report, and
//! `peer.rs` reads the loss and jitter the participant reports for each of our streams.
//! Cost: a type check per inbound RTCP packet (about one per second per stream).

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Application-most position in the chain, above every built-in interceptor.
pub(super) const SLOT: usize = 14_000;

/// See the module docs.
#[derive(Default)]
pub(super) struct ReportsToSfu {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

fn carries_reports(packets: &[Box<dyn rtc::rtcp::Packet>]) -> bool {
    packets.iter().any(|p| {
        let any = p.as_any();
        any.downcast_ref::<ReceiverReport>()
            .is_some_and(|rr| !rr.reports.is_empty())
            || any
                .downcast_ref::<SenderReport>()
                .is_some_and(|sr| !sr.reports.is_empty())
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
            && carries_reports(packets)
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
