//! How the SFU's PeerConnections are built: codecs, header extensions, RTCP, ICE-lite.
//!
//! Everything here is decided once per PeerConnection and then negotiated by SDP:
//! - Opus only (payload type 111, 48 kHz stereo signalling, in-band FEC), with RTCP feedback
//!   `nack` so a client that supports audio NACK gets retransmissions from us and sends us
//!   NACKs we answer; receiver/sender reports always.
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
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MediaEngine};
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
        rtcp_feedback: vec![RTCPFeedback {
            typ: "nack".to_owned(),
            parameter: String::new(),
        }],
    }
}

/// A media engine with exactly what the SFU speaks: Opus and the audio-level extension.
pub fn media_engine() -> Result<MediaEngine, rtc::shared::error::Error> {
    let mut engine = MediaEngine::default();
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
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

/// Packets kept per outgoing stream for NACK resends (a power of two): 2.56 s of 20 ms frames.
const NACK_HISTORY: u16 = 128;

/// Builds one participant's PeerConnection: ICE-lite with the given credentials, the media
/// engine above, NACK and RTCP report interceptors, and the round-trip meter writing to `rtt`.
pub(super) fn build_peer_connection(
    now: Instant,
    (ufrag, pwd): (String, String),
    rtt: rtcp::RttMicros,
) -> Result<RTCPeerConnection, rtc::shared::error::Error> {
    let engine = media_engine()?;
    // The NACK interceptors act on any stream whose negotiated codec lists `nack`, as our Opus
    // codec does. The responder keeps a copy of every packet it sent per outgoing stream, for
    // resending: rtc's default of 1,024 packets is 20 s of audio per slot, about 5 MiB per
    // participant of a 40-person call. A resent audio packet older than the receiver's jitter
    // buffer (well under a second) is useless, so keep 2.5 s.
    let registry = configure_rtcp_reports(
        Registry::new()
            .with(
                Slot::NackResponder,
                NackResponderBuilder::new().with_size(NACK_HISTORY).build(),
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
