//! Confab's voice participants: each is a WebSocket session that joins a room's call and a
//! real WebRTC peer ([`Caller`], with ICE, DTLS-SRTP and the audio-level extension), plus one
//! task here that reads what the peer receives into a [`Recorder`].
//!
//! The task reports when its peer is connected and has every other participant's stream (and,
//! with `--video`, the room's shared screen) in its offer, then waits for the measurement
//! window, records until the window has drained, and hangs up. It keeps the caller's signaling
//! queue empty so offers are always answered. A sharer also waits until its screen is sent.

use std::time::Duration;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::stats::{Media, Recorder, Window};
use crate::worker::now_us;
use confab::protocol::RoomId;
use confab_testkit::peer::ReceivedPacket;
use confab_testkit::voice::Caller;
use confab_testkit::{ClientError, Socket};

/// The level speakers publish (-dBov: speech).
const LEVEL: u8 = 30;
/// Packets taken from the peer per wake-up at most.
const BATCH: usize = 256;

/// What one participant does and must have before it is ready.
#[derive(Debug, Clone, Copy)]
pub struct Role {
    /// Publishes its microphone.
    pub speaker: bool,
    /// Shares its screen (`--video`).
    pub sharer: bool,
    /// Other participants' streams its offer must carry.
    pub others: usize,
    /// Shared screens its offer must carry.
    pub screens: usize,
}

/// Opens a session with `token` and joins `room`'s call, publishing if the role speaks and
/// sharing the screen if it shares.
pub async fn join(
    ws_url: &str,
    token: &str,
    room: RoomId,
    role: Role,
) -> Result<Caller, ClientError> {
    let socket = Socket::connect(ws_url, token, None).await?;
    let caller = Caller::join(socket, room).await?;
    if role.speaker {
        caller.peer.set_level(LEVEL).await;
    } else {
        caller.peer.set_publishing(false).await;
    }
    if role.sharer {
        caller.screen(true).await?;
    }
    Ok(caller)
}

/// Runs one participant: signals `ready` once its peer is connected with what its `role`
/// must have, records the window it is given, then hangs up.
pub async fn participant(
    mut caller: Caller,
    role: Role,
    ready: oneshot::Sender<()>,
    window: oneshot::Receiver<Window>,
) -> Recorder {
    let mut buf = Vec::with_capacity(BATCH);
    let Some(window) = await_window(&mut caller, role, ready, window, &mut buf).await else {
        caller.hang_up().await;
        return Recorder::new(Window {
            start_us: 0,
            end_us: 0,
            drain_until: tokio::time::Instant::now(),
        });
    };
    let mut recorder = Recorder::new(window);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            n = caller.peer.recv_many(&mut buf, BATCH) => {
                if n == 0 {
                    recorder.failure = Some("the peer stopped".into());
                    break;
                }
                let arrival = now_us();
                for p in buf.drain(..) {
                    let media = if p.is_video() { Media::Video } else { Media::Audio };
                    if let Some((sender, counter, sent_at)) = fields(&p) {
                        recorder.record(media, sender, counter, sent_at, arrival);
                    }
                }
            }
            _ = tick.tick() => {
                if let Some(e) = caller.discard_events() {
                    recorder.failure = Some(format!("the call's socket closed: {e}"));
                    break;
                }
            }
            _ = tokio::time::sleep_until(window.drain_until) => break,
        }
    }
    caller.hang_up().await;
    recorder
}

/// Until the window is given: watches for readiness, and throws away packets and frames so
/// no queue fills. `None` if the bench gave up on this participant.
async fn await_window(
    caller: &mut Caller,
    role: Role,
    ready: oneshot::Sender<()>,
    mut window: oneshot::Receiver<Window>,
    buf: &mut Vec<ReceivedPacket>,
) -> Option<Window> {
    let is_ready = |s: &confab_testkit::peer::ClientState| {
        s.connected
            && s.remote_streams.len() >= role.others
            && s.remote_screens.len() >= role.screens
            && (!role.sharer || s.video_sent > 0)
    };
    let mut state = caller.peer.watch_state();
    let mut ready = Some(ready);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        if ready.is_some() && is_ready(&state.borrow_and_update()) {
            let _ = ready.take().map(|r| r.send(()));
        }
        tokio::select! {
            w = &mut window => return w.ok(),
            changed = state.changed(), if ready.is_some() => {
                if changed.is_err() {
                    return None;
                }
            }
            n = caller.peer.recv_many(buf, BATCH) => {
                buf.clear();
                if n == 0 {
                    return None;
                }
            }
            _ = tick.tick() => {
                if caller.discard_events().is_some() {
                    return None;
                }
            }
        }
    }
}

/// The publisher, counter and send time a bench client put in the payload (each kind of media
/// has its own counter).
fn fields(p: &ReceivedPacket) -> Option<(Uuid, u32, u64)> {
    Some((p.sender()?, p.counter()?, p.sent_at_us()?))
}
