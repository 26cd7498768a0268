//! How the SFU's PeerConnections are built: codecs, header extensions, RTCP, ICE-lite.
//!
//! Everything here is decided once per PeerConnection and then negotiated by SDP:
//! - Opus only (payload type 111, 48 kHz stereo signalling, in-band FEC), without RTCP
//!   feedback `nack`: browsers do not negotiate NACK for audio, a resent voice packet is late
//!   for the receiver's jitter buffer anyway, and in-band FEC covers single losses. So no
//!   outgoing audio stream keeps a send history. Receiver/sender reports always.
//! - One header extension: RFC 6464 `ssrc-audio-level`, which the speaker detector reads.
//! - ICE-lite with credentials we choose: the ufrag is how the one shared UDP socket finds the
//!   participant a STUN request belongs to (see `demux.rs`).
//! - BUNDLE and rtcp-mux required: every m-line shares the one 5-tuple.
//!
//! The server is always the offerer, so these choices are also what the client must accept. They
//! are public because they are part of the voice contract: a client of it (the test kit's voice
//! client) builds its PeerConnection from the same codec and extension definitions.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::configure_rtcp_reports;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::{
    RTCBundlePolicy, RTCConfigurationBuilder, RTCRtcpMuxPolicy,
};
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sdp::extmap::AUDIO_LEVEL_URI;

use super::rtcp;

/// The payload type we offer for Opus (the value browsers use too).
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// The payload type we offer for VP8 (screen share), listed first so it is preferred.
pub const VP8_PAYLOAD_TYPE: u8 = 96;
/// The payload type we offer for H.264 constrained baseline, packetization-mode 1.
pub const H264_PAYLOAD_TYPE: u8 = 102;
/// H.264's format parameters as offered: constrained baseline 3.1, packetization-mode 1.
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// Whether `pt` is one of the video payload types we offer.
pub fn is_video_payload_type(pt: u8) -> bool {
    pt == VP8_PAYLOAD_TYPE || pt == H264_PAYLOAD_TYPE
}

/// ICE timing. As ICE-lite we never send checks; the browser pings us (Chrome every ~2.5 s
/// once stable) and the agent marks the pair disconnected, then failed, when the pings stop.
/// The SFU also drops a participant whose datagrams (media included) stop for
/// [`super::core::PEER_IDLE_TIMEOUT`], which is what usually fires first.
const ICE_DISCONNECTED_TIMEOUT: Duration = Duration::from_secs(5);
const ICE_FAILED_TIMEOUT: Duration = Duration::from_secs(5);
const ICE_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);

/// An Opus track with a fixed SSRC: a participant's outgoing slot on the server, a test client's
/// microphone.
pub fn opus_track(
    stream_id: String,
    track_id: String,
    label: String,
    ssrc: u32,
) -> MediaStreamTrack {
    MediaStreamTrack::new(
        stream_id,
        track_id,
        label,
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            active: true,
            codec: opus_codec(),
            ..Default::default()
        }],
    )
}

/// The Opus codec as we offer it and as forwarding tracks carry it.
pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: Vec::new(),
    }
}

/// RTCP feedback of the video codecs: retransmissions (`nack`), keyframe requests (`nack pli`,
/// `ccm fir`) and the bitrate cap the SFU sends the sharer (`goog-remb`).
fn video_feedback() -> Vec<RTCPFeedback> {
    [
        ("nack", ""),
        ("nack", "pli"),
        ("ccm", "fir"),
        ("goog-remb", ""),
    ]
    .into_iter()
    .map(|(typ, parameter)| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    })
    .collect()
}

/// VP8 as we offer it and as screen-share tracks carry it.
pub fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: video_feedback(),
    }
}

/// H.264 constrained baseline (packetization-mode 1) as we offer it.
pub fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.to_owned(),
        rtcp_feedback: video_feedback(),
    }
}

/// A VP8 video track with a fixed SSRC: a viewer's screen-share slot on the server, a test
/// client's shared screen.
pub fn video_track(
    stream_id: String,
    track_id: String,
    label: String,
    ssrc: u32,
) -> MediaStreamTrack {
    MediaStreamTrack::new(
        stream_id,
        track_id,
        label,
        RtpCodecKind::Video,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            active: true,
            codec: vp8_codec(),
            ..Default::default()
        }],
    )
}

/// The video codecs in the order we prefer them, with their payload types.
pub fn video_codecs() -> Vec<RTCRtpCodecParameters> {
    vec![
        RTCRtpCodecParameters {
            rtp_codec: vp8_codec(),
            payload_type: VP8_PAYLOAD_TYPE,
        },
        RTCRtpCodecParameters {
            rtp_codec: h264_codec(),
            payload_type: H264_PAYLOAD_TYPE,
        },
    ]
}

/// A media engine with exactly what the SFU speaks: Opus with the audio-level extension, and
/// VP8 and H.264 for screen share.
pub fn media_engine() -> Result<MediaEngine, rtc::shared::error::Error> {
    let mut engine = MediaEngine::default();
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8_codec(),
            payload_type: VP8_PAYLOAD_TYPE,
        },
        RtpCodecKind::Video,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: h264_codec(),
            payload_type: H264_PAYLOAD_TYPE,
        },
        RtpCodecKind::Video,
    )?;
    engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    Ok(engine)
}

/// Packets kept per outgoing video stream for NACK resends: a screen share at its 2.5 Mbit/s
/// cap is about 250 packets per second, so 1,024 packets are about 4 s, and a keyframe (often
/// 50-100 packets) always fits whole. The buffer holds references to packets the SFU already
/// forwards (payloads are shared `Bytes`), at most 1,024 × ~1.2 kB per viewer per sharer.
pub const VIDEO_NACK_HISTORY: u16 = 1024;

/// Builds one participant's PeerConnection: ICE-lite with the given credentials, the media
/// engine above, NACK and RTCP report interceptors, and the round-trip meter writing to `rtt`.
pub(super) fn build_peer_connection(
    now: Instant,
    (ufrag, pwd): (String, String),
    rtt: rtcp::RttMicros,
) -> Result<RTCPeerConnection, rtc::shared::error::Error> {
    let engine = media_engine()?;
    // The NACK interceptors act on the streams whose negotiated codec lists `nack`: the video
    // ones only (see `opus_codec`). The responder keeps what it sent per outgoing stream, for
    // resending.
    let registry = configure_rtcp_reports(
        Registry::new()
            .with(
                Slot::NackResponder,
                NackResponderBuilder::new()
                    .with_size(VIDEO_NACK_HISTORY)
                    .build(),
            )
            .with(Slot::NackGenerator, NackGeneratorBuilder::new().build()),
    )
    .with(Slot::Custom(rtcp::SLOT), rtcp::ReportsToSfu::default())
    .with(
        Slot::Custom(rtcp::ROUND_TRIP_SLOT),
        rtcp::RoundTrip::new(rtt),
    );
    let settings = SettingEngineBuilder::new()
        .with_lite(true)
        .with_ice_credentials(ufrag, pwd)
        .with_ice_timeouts(
            Some(ICE_DISCONNECTED_TIMEOUT),
            Some(ICE_FAILED_TIMEOUT),
            Some(ICE_KEEPALIVE_INTERVAL),
        )
        .build();
    let config = RTCConfigurationBuilder::new()
        .with_bundle_policy(RTCBundlePolicy::MaxBundle)
        .with_rtcp_mux_policy(RTCRtcpMuxPolicy::Require)
        .build();
    RTCPeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .build(now)
}

/// Adds the SFU's single host candidate (the announced address of the shared socket).
pub fn add_host_candidate(
    pc: &mut RTCPeerConnection,
    addr: SocketAddr,
) -> Result<(), rtc::shared::error::Error> {
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()?;
    pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)?;
    // End of candidates: we have no others, so the offer can say so (no trickle from us).
    pc.add_local_candidate(Default::default())
}

/// An Opus packet as a client's microphone sends it: payload type 111 and, when the RFC 6464
/// extension was negotiated (`level_ext`), the audio level (0 loudest, 127 silence).
pub fn microphone_packet(
    (seq, timestamp, ssrc): (u16, u32, u32),
    level: Option<(u8, u8)>,
    payload: bytes::Bytes,
) -> rtc::rtp::Packet {
    let mut header = rtc::rtp::Header {
        version: 2,
        payload_type: OPUS_PAYLOAD_TYPE,
        sequence_number: seq,
        timestamp,
        ssrc,
        ..Default::default()
    };
    if let Some((id, level)) = level {
        let _ = header.set_extension(id, bytes::Bytes::copy_from_slice(&[level]));
    }
    rtc::rtp::Packet { header, payload }
}

/// For clients of the contract (the test kit's voice client): the interceptor that hands
/// reception reports and keyframe requests (PLI, FIR) to the application instead of ending
/// them inside the chain, and the position it goes in.
pub use super::rtcp::ReportsToSfu as FeedbackToApplication;
/// See [`FeedbackToApplication`].
pub const FEEDBACK_SLOT: usize = rtcp::SLOT;

/// The bitrate cap the SFU asks of a screen sharer's encoder, in bits per second: in the offer
/// (`b=AS` in kbit/s, `b=TIAS` in bit/s on the video m-line the server receives on) and in a
/// REMB every second.
pub const SCREEN_BITRATE_CAP: u64 = 2_500_000;

/// Adds the screen-share bitrate cap (`b=AS`, `b=TIAS`) to every video m-line of `sdp` on
/// which the server receives (`a=recvonly`): a sharer's encoder reads it from our offer.
pub fn cap_video_bandwidth(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len() + 64);
    let mut section: Vec<&str> = Vec::new();
    let flush = |section: &mut Vec<&str>, out: &mut String| {
        let video_in = section.first().is_some_and(|l| l.starts_with("m=video"))
            && section.contains(&"a=recvonly");
        for line in section.iter() {
            out.push_str(line);
            out.push_str("\r\n");
            if video_in && line.starts_with("c=") {
                out.push_str(&format!(
                    "b=AS:{}\r\nb=TIAS:{}\r\n",
                    SCREEN_BITRATE_CAP / 1000,
                    SCREEN_BITRATE_CAP
                ));
            }
        }
        section.clear();
    };
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("m=") {
            flush(&mut section, &mut out);
        }
        section.push(line);
    }
    flush(&mut section, &mut out);
    out
}
