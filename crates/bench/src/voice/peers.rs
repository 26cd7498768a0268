//! Confab's voice participants: each is a WebSocket session that joins a room's call and a
//! real WebRTC peer ([`Caller`], with ICE, DTLS-SRTP and the audio-level extension), plus one
//! task here that reads what the peer receives into a [`Recorder`].
//!
//! The task reports when its peer is connected and has every other participant's stream in
//! its offer, then waits for the measurement window, records until the window has drained,
//! and hangs up. It keeps the caller's signaling queue empty so offers are always answered.

use std::time::Duration;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::stats::{Recorder, Window};
use crate::worker::now_us;
use confab::protocol::RoomId;
use confab_testkit::peer::ReceivedPacket;
use confab_testkit::voice::Caller;
use confab_testkit::{ClientError, Socket};

/// The level speakers publish (-dBov: speech).
const LEVEL: u8 = 30;
/// Packets taken from the peer per wake-up at most.
const BATCH: usize = 256;

/// Opens a session with `token` and joins `room`'s call, publishing if `speaker`.
pub async fn join(
    ws_url: &str,
    token: &str,
    room: RoomId,
    speaker: bool,
) -> Result<Caller, ClientError> {
    let socket = Socket::connect(ws_url, token, None).await?;
    let caller = Caller::join(socket, room).await?;
    if speaker {
        caller.peer.set_level(LEVEL).await;
    } else {
        caller.peer.set_publishing(false).await;
    }
    Ok(caller)
}

/// Runs one participant: signals `ready` once its peer is connected with `others` streams,
/// records the window it is given, then hangs up.
pub async fn participant(
    mut caller: Caller,
    others: usize,
    ready: oneshot::Sender<()>,
    window: oneshot::Receiver<Window>,
) -> Recorder {
    let mut buf = Vec::with_capacity(BATCH);
    let Some(window) = await_window(&mut caller, others, ready, window, &mut buf).await else {
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
                    if let Some((sender, counter, sent_at)) = fields(&p) {
                        recorder.record(sender, counter, sent_at, arrival);
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
    others: usize,
    ready: oneshot::Sender<()>,
    mut window: oneshot::Receiver<Window>,
    buf: &mut Vec<ReceivedPacket>,
) -> Option<Window> {
    let is_ready =
        |s: &confab_testkit::peer::ClientState| s.connected && s.remote_streams.len() >= others;
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

/// The publisher, counter and send time a bench client put in the payload.
fn fields(p: &ReceivedPacket) -> Option<(Uuid, u32, u64)> {
    Some((p.sender()?, p.counter()?, p.sent_at_us()?))
}
