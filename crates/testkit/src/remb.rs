//! Lets the bitrate cap a server sends (REMB) through to the test client.
//!
//! rtc 0.21 ends every inbound RTCP packet at the end of its interceptor chain unless an
//! interceptor marks it `DeliverToApplication` (see `rtc::interceptor::NoopInterceptor`).
//! Confab's own marker ([`confab::sfu::media::FeedbackToApplication`]) lets through what the
//! SFU needs (reception reports, PLI, FIR); a browser's encoder also reads REMB, so the test
//! client marks those too and records them, which is how a test sees the cap the sharer's
//! encoder is told. Cost: a type check per inbound RTCP packet.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Where [`RembToApplication`] sits: next to Confab's feedback marker, above the built-ins.
pub(crate) const SLOT: usize = confab::sfu::media::FEEDBACK_SLOT + 1;

/// Marks inbound compound RTCP packets that carry a REMB for delivery to the application.
#[derive(Default)]
pub(crate) struct RembToApplication {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

/// The REMBs in `packets`.
pub(crate) fn rembs(
    packets: &[Box<dyn rtc::rtcp::Packet>],
) -> impl Iterator<Item = &ReceiverEstimatedMaximumBitrate> {
    packets
        .iter()
        .filter_map(|p| p.as_any().downcast_ref::<ReceiverEstimatedMaximumBitrate>())
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RembToApplication {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && rembs(packets).next().is_some()
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

impl Interceptor for RembToApplication {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}
