//! The voice baseline: the least a group-voice relay can do. Plain UDP datagrams, no ICE, no
//! DTLS, no SRTP, no RTCP, no renegotiation: a client says `join <room>` once (answered `ok`),
//! then every datagram it sends goes as is to every other client of that room, until it says
//! `bye`. The relay's loop is built like Confab's SFU engine (one task, one socket, a read then
//! a drain of what is already waiting, one `sendto` per destination), so the ratio between the
//! two is the price of what Confab adds: encryption, RTP/RTCP processing, speaker detection.
//!
//! This module also holds the baseline's participant: it sends packets of the same size as
//! Confab's clients (an RTP header with the audio-level extension and an 80-byte payload
//! carrying the sender id, counter and send time) on the same 20 ms grid, and records what it
//! receives into a [`Recorder`]. A sharer (`--video`) also sends the test client's synthetic
//! screen, the same bytes after the same 12-byte RTP header
//! ([`confab_testkit::peer::screen_payload`]) at the same 30 frames per second.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

use super::stats::{Media, Recorder, Window};
use crate::worker::now_us;
use confab_testkit::peer::{
    FRAME, KEYFRAME_PACKETS, PAYLOAD_LEN, VIDEO_FRAME, VIDEO_PACKETS, VIDEO_PAYLOAD_LEN,
    screen_fields, screen_payload,
};

/// RTP header (12 bytes) plus a one-byte-header extension block holding the audio level (8).
const HEADER_LEN: usize = 20;
/// A whole media datagram: as a Confab client's RTP packet before SRTP adds its tag.
pub const PACKET_LEN: usize = HEADER_LEN + PAYLOAD_LEN;
/// A whole screen datagram: a plain RTP header (no extension, as Confab's video) and payload.
pub const VIDEO_PACKET_LEN: usize = 12 + VIDEO_PAYLOAD_LEN;
/// Datagrams read per wake-up at most (as the SFU engine).
const RECV_BATCH: usize = 64;
/// How far a sender may fall behind its grid before it skips frames (as the test client).
const MAX_LAG: Duration = Duration::from_millis(200);

/// Runs the relay on a loopback port until killed; prints `baseline listening on ADDR`.
pub async fn main() -> anyhow::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    println!("baseline listening on {}", socket.local_addr()?);
    let mut relay = Relay::default();
    let mut buf = vec![0u8; 2048];
    loop {
        // A read error is an earlier send's ICMP "port unreachable": one client's business.
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        relay.handle(&socket, from, &buf[..n]).await;
        for _ in 1..RECV_BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((n, from)) => relay.handle(&socket, from, &buf[..n]).await,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => continue,
            }
        }
    }
}

/// Who is in which room.
#[derive(Default)]
struct Relay {
    room_of: HashMap<SocketAddr, u32>,
    members: HashMap<u32, Vec<SocketAddr>>,
}

impl Relay {
    /// Handles one datagram. Cost per media datagram: one hash lookup, then one `sendto` per
    /// other member of the room; no allocation.
    async fn handle(&mut self, socket: &UdpSocket, from: SocketAddr, data: &[u8]) {
        if let Some(room) = self.room_of.get(&from) {
            if data == b"bye" {
                self.leave(from);
                return;
            }
            for to in self.members.get(room).into_iter().flatten() {
                if *to != from {
                    send(socket, data, *to).await;
                }
            }
            return;
        }
        let room = data
            .strip_prefix(b"join ")
            .and_then(|r| std::str::from_utf8(r).ok())
            .and_then(|r| r.trim().parse::<u32>().ok());
        if let Some(room) = room {
            self.room_of.insert(from, room);
            self.members.entry(room).or_default().push(from);
            send(socket, b"ok", from).await;
        }
    }

    fn leave(&mut self, who: SocketAddr) {
        if let Some(room) = self.room_of.remove(&who)
            && let Some(members) = self.members.get_mut(&room)
        {
            members.retain(|m| *m != who);
        }
    }
}

/// One `sendto`; a full socket buffer is waited out, any other error drops the datagram.
async fn send(socket: &UdpSocket, data: &[u8], to: SocketAddr) {
    match socket.try_send_to(data, to) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            let _ = socket.send_to(data, to).await;
        }
        Err(_) => {}
    }
}

/// Opens a client socket and joins `room` on the relay (retrying a lost datagram).
pub async fn join(relay: SocketAddr, room: u32) -> anyhow::Result<UdpSocket> {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .context("binding a client socket")?;
    socket
        .connect(relay)
        .await
        .context("connecting to the relay")?;
    let mut buf = [0u8; 2048];
    for _ in 0..5 {
        socket.send(format!("join {room}").as_bytes()).await?;
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Ok(got) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            if got.context("reading the relay")? == 2 && &buf[..2] == b"ok" {
                return Ok(socket);
            }
        }
    }
    bail!("the relay did not answer a join within 5 s")
}

/// One baseline participant until the window has drained: publishes (if `speaker`) on the
/// 20 ms grid and shares the screen (if `sharer`) at 30 frames per second, and records what it
/// receives once `window` is known. Says `bye` at the end.
pub async fn participant(
    socket: UdpSocket,
    id: Uuid,
    (speaker, sharer): (bool, bool),
    mut window: oneshot::Receiver<Window>,
) -> Recorder {
    let mut packet = Packet::new(id);
    let mut screen = Screen::new(id);
    let mut buf = [0u8; 2048];
    let mut next_frame = Instant::now();
    let mut next_video = Instant::now();
    let mut recorder: Option<Recorder> = None;
    let mut failure = None;
    let far_future = Instant::now() + Duration::from_secs(86_400);
    loop {
        let drain_until = recorder
            .as_ref()
            .map_or(far_future, |r: &Recorder| r.window().drain_until);
        let next_send = if speaker { next_frame } else { far_future };
        let next_screen = if sharer { next_video } else { far_future };
        tokio::select! {
            w = &mut window, if recorder.is_none() => match w {
                Ok(w) => recorder = Some(Recorder::new(w)),
                Err(_) => break,
            },
            got = socket.recv(&mut buf) => match got {
                Ok(n) => {
                    if let (Some(r), Some((media, sender, counter, sent_at))) =
                        (recorder.as_mut(), parse(&buf[..n]))
                    {
                        r.record(media, sender, counter, sent_at, now_us());
                    }
                }
                // An ICMP error from an earlier send: the relay is gone if it persists,
                // which the missing packets will show.
                Err(e) => failure = Some(format!("receiving: {e}")),
            },
            _ = tokio::time::sleep_until(next_send) => {
                let _ = socket.try_send(packet.next());
                next_frame += FRAME;
                let now = Instant::now();
                if now.saturating_duration_since(next_frame) > MAX_LAG {
                    next_frame = now + FRAME;
                }
            }
            _ = tokio::time::sleep_until(next_screen) => {
                screen.send_frame(&socket);
                next_video += VIDEO_FRAME;
                let now = Instant::now();
                if now.saturating_duration_since(next_video) > MAX_LAG {
                    next_video = now + VIDEO_FRAME;
                }
            }
            _ = tokio::time::sleep_until(drain_until) => break,
        }
    }
    let _ = socket.send(b"bye").await;
    let mut recorder = recorder.unwrap_or_else(|| {
        Recorder::new(Window {
            start_us: 0,
            end_us: 0,
            drain_until: Instant::now(),
        })
    });
    if recorder.failure.is_none() && recorder.received() == 0 {
        recorder.failure = failure;
    }
    recorder
}

/// The one-byte-header extension id of the audio level (as Confab's SDP negotiates it).
const LEVEL_EXT_ID: u8 = 1;
/// The level the baseline speakers send (-dBov: speech).
const LEVEL: u8 = 30;

/// A speaker's packet, rewritten in place for each frame.
struct Packet {
    bytes: [u8; PACKET_LEN],
    seq: u16,
    ts: u32,
    counter: u32,
}

impl Packet {
    fn new(id: Uuid) -> Packet {
        let mut bytes = [0xABu8; PACKET_LEN];
        bytes[0] = 0x90; // V=2, X=1
        bytes[1] = 111; // Opus
        bytes[8..12].copy_from_slice(&rand::random::<u32>().to_be_bytes());
        bytes[12..16].copy_from_slice(&[0xBE, 0xDE, 0, 1]);
        bytes[16..20].copy_from_slice(&[LEVEL_EXT_ID << 4, LEVEL, 0, 0]);
        bytes[HEADER_LEN..HEADER_LEN + 16].copy_from_slice(id.as_bytes());
        Packet {
            bytes,
            seq: rand::random(),
            ts: rand::random(),
            counter: 0,
        }
    }

    /// The next frame's bytes: sequence number, timestamp, counter and send time filled in.
    fn next(&mut self) -> &[u8] {
        self.bytes[2..4].copy_from_slice(&self.seq.to_be_bytes());
        self.bytes[4..8].copy_from_slice(&self.ts.to_be_bytes());
        let p = HEADER_LEN + 16;
        self.bytes[p..p + 4].copy_from_slice(&self.counter.to_be_bytes());
        self.bytes[p + 4..p + 12].copy_from_slice(&now_us().to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(960);
        self.counter = self.counter.wrapping_add(1);
        &self.bytes
    }
}

/// A sharer's screen, as the test client sends it: the first frame a keyframe of
/// [`KEYFRAME_PACKETS`], then delta frames of [`VIDEO_PACKETS`] (no one asks the relay for a
/// keyframe).
struct Screen {
    id: Uuid,
    ssrc: u32,
    seq: u16,
    ts: u32,
    frame: u32,
    counter: u32,
    /// One datagram, rebuilt for each packet.
    datagram: Vec<u8>,
}

impl Screen {
    fn new(id: Uuid) -> Screen {
        Screen {
            id,
            ssrc: rand::random(),
            seq: rand::random(),
            ts: rand::random(),
            frame: 0,
            counter: 0,
            datagram: Vec::with_capacity(VIDEO_PACKET_LEN),
        }
    }

    /// Sends one frame's datagrams (a full socket buffer drops them, as a sender's would).
    fn send_frame(&mut self, socket: &UdpSocket) {
        let key = self.frame == 0;
        let packets = if key { KEYFRAME_PACKETS } else { VIDEO_PACKETS };
        for i in 0..packets {
            let last = i + 1 == packets;
            self.datagram.clear();
            // V=2; marker on the frame's last packet; VP8.
            self.datagram.push(0x80);
            self.datagram
                .push(confab::sfu::media::VP8_PAYLOAD_TYPE | if last { 0x80 } else { 0 });
            self.datagram.extend_from_slice(&self.seq.to_be_bytes());
            self.datagram.extend_from_slice(&self.ts.to_be_bytes());
            self.datagram.extend_from_slice(&self.ssrc.to_be_bytes());
            self.datagram.extend_from_slice(&screen_payload(
                self.id,
                self.frame,
                self.counter,
                key,
                i == 0,
            ));
            let _ = socket.try_send(&self.datagram);
            self.seq = self.seq.wrapping_add(1);
            self.counter = self.counter.wrapping_add(1);
        }
        self.frame = self.frame.wrapping_add(1);
        self.ts = self.ts.wrapping_add(3000);
    }
}

/// Reads (kind, sender, counter, send time) from a media datagram; `None` for anything else.
fn parse(data: &[u8]) -> Option<(Media, Uuid, u32, u64)> {
    if data.len() == VIDEO_PACKET_LEN {
        let (sender, counter, sent_at) = screen_fields(&data[12..])?;
        return Some((Media::Video, sender, counter, sent_at));
    }
    if data.len() != PACKET_LEN {
        return None;
    }
    let p = &data[HEADER_LEN..];
    let sender = Uuid::from_bytes(p.get(..16)?.try_into().ok()?);
    let counter = u32::from_be_bytes(p.get(16..20)?.try_into().ok()?);
    let sent_at = u64::from_be_bytes(p.get(20..28)?.try_into().ok()?);
    Some((Media::Audio, sender, counter, sent_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_carries_its_sender_counter_and_send_time() {
        let id = Uuid::new_v4();
        let mut p = Packet::new(id);
        let _ = p.next();
        let before = now_us();
        let (media, sender, counter, sent_at) = parse(p.next()).expect("a media packet");
        assert_eq!((media, sender, counter), (Media::Audio, id, 1));
        assert!(sent_at >= before && sent_at <= now_us());
        assert_eq!(parse(b"ok"), None);
    }

    #[tokio::test]
    async fn a_screen_datagram_carries_its_sender_counter_and_send_time() {
        let id = Uuid::new_v4();
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tx.connect(rx.local_addr().unwrap()).await.unwrap();
        // `try_send` needs the readiness a first poll gives (the bench's sockets had theirs
        // from joining).
        tx.writable().await.unwrap();
        let before = now_us();
        let mut screen = Screen::new(id);
        screen.send_frame(&tx);
        screen.send_frame(&tx);
        let mut buf = [0u8; 2048];
        let mut counters = Vec::new();
        for _ in 0..KEYFRAME_PACKETS + VIDEO_PACKETS {
            let n = tokio::time::timeout(Duration::from_secs(5), rx.recv(&mut buf))
                .await
                .expect("every packet of the two frames arrives")
                .unwrap();
            assert_eq!(n, VIDEO_PACKET_LEN);
            let (media, sender, counter, sent_at) = parse(&buf[..n]).expect("a screen packet");
            assert_eq!((media, sender), (Media::Video, id));
            assert!(sent_at >= before && sent_at <= now_us());
            counters.push(counter);
        }
        let want: Vec<u32> = (0..(KEYFRAME_PACKETS + VIDEO_PACKETS) as u32).collect();
        assert_eq!(counters, want, "one counter per packet, keyframe first");
    }
}
