//! The core forwarding real media between simulated browsers: ICE, DTLS and SRTP run for
//! real, over the simulated network, on the simulated clock. Every test takes well under a
//! second of wall time, however much simulated time it covers.

use std::time::Duration;

use uuid::Uuid;

use super::Sim;
use super::client::{Client, FRAME, Received, SILENT};
use crate::sfu::core::PEER_IDLE_TIMEOUT;
use crate::sfu::request::{Reply, Request};
use crate::sfu::signal::{CallQuality, ParticipantState, RoomEvent};
use crate::sfu::stats::ParticipantStats;

/// Microphone frames per second.
const FRAMES_PER_SECOND: usize = 50;
/// A test's simulated patience for anything that should happen at once.
const SOON: Duration = Duration::from_secs(2);

/// `n` participants join one room; returns once every one of them is connected and has heard
/// every other.
fn call(n: usize) -> (Sim, Uuid) {
    let mut sim = Sim::new(50);
    let room = Uuid::new_v4();
    for _ in 0..n {
        sim.join(room);
    }
    assert!(
        sim.run_until(SOON, everyone_hears_everyone),
        "the call did not come up; clients connected: {:?}",
        sim.clients.iter().map(|c| c.connected).collect::<Vec<_>>()
    );
    (sim, room)
}

fn everyone_hears_everyone(sim: &Sim) -> bool {
    sim.clients.iter().filter(|r| r.closed.is_none()).all(|r| {
        r.connected
            && sim
                .clients
                .iter()
                .filter(|p| p.user != r.user && p.closed.is_none())
                .all(|p| r.heard_from(p.user).next().is_some())
    })
}

fn participants(sim: &mut Sim, room: Uuid) -> Vec<ParticipantState> {
    match sim.request(Request::Participants { room }) {
        Ok(Reply::Participants(p)) => p,
        other => panic!("participants answered {other:?}"),
    }
}

fn stats(sim: &mut Sim, room: Uuid, user: Uuid) -> ParticipantStats {
    match sim.request(Request::Stats { room, user }) {
        Ok(Reply::Stats(s)) => s,
        other => panic!("stats answered {other:?}"),
    }
}

fn m_lines(sim: &mut Sim, room: Uuid, user: Uuid) -> Option<usize> {
    match sim.request(Request::Inspect { room, user }) {
        Ok(Reply::Internals(i)) => i.m_lines,
        other => panic!("inspect answered {other:?}"),
    }
}

fn last_heard(sim: &Sim, listener: usize, speaker: Uuid) -> Received {
    let heard = sim.clients[listener].heard_from(speaker).last();
    heard.cloned().expect("heard something")
}

fn spoke(sim: &Sim, who: Uuid, state: bool) -> bool {
    sim.events.iter().any(|e| {
        matches!(e, RoomEvent::Speaking { user, speaking, .. } if *user == who && *speaking == state)
    })
}

/// Checks what `listener` heard of `publisher` over a second of a lossless call: every frame,
/// on the m-line whose msid names the publisher, on one SSRC that is the slot's (rewritten,
/// not the microphone's), numbered without gaps. Returns that SSRC.
fn hears_on_its_slot(listener: &Client, publisher: &Client) -> u32 {
    let heard: Vec<&Received> = listener.heard_from(publisher.user).collect();
    assert!(
        heard.len() >= FRAMES_PER_SECOND,
        "{} packets in a second",
        heard.len()
    );
    let name = publisher.user.to_string();
    assert!(
        heard
            .iter()
            .all(|p| p.stream_id.as_deref() == Some(name.as_str())),
        "every packet arrives on the m-line whose msid names its publisher"
    );
    let ssrc = heard[0].ssrc;
    assert!(heard.iter().all(|p| p.ssrc == ssrc), "one SSRC per slot");
    assert_ne!(
        Some(ssrc),
        publisher.mic_ssrc(),
        "the SSRC is the slot's, not the mic's"
    );
    assert!(
        heard
            .windows(2)
            .all(|w| w[1].seq == w[0].seq.wrapping_add(1)),
        "a lossless network leaves no gap in the numbering"
    );
    ssrc
}

#[test]
fn three_participants_each_hear_the_other_two_on_slots_named_for_them() {
    let (mut sim, room) = call(3);
    assert!(
        sim.elapsed() < Duration::from_secs(1),
        "ICE and DTLS took {:?}",
        sim.elapsed()
    );
    sim.run_for(Duration::from_secs(1));

    for listener in &sim.clients {
        let mut others: Vec<String> = sim
            .clients
            .iter()
            .filter(|c| c.user != listener.user)
            .map(|c| c.user.to_string())
            .collect();
        others.sort();
        assert_eq!(
            listener.live_streams(),
            others,
            "one slot per other participant"
        );
        let ssrcs: Vec<u32> = sim
            .clients
            .iter()
            .filter(|c| c.user != listener.user)
            .map(|publisher| hears_on_its_slot(listener, publisher))
            .collect();
        assert_ne!(ssrcs[0], ssrcs[1], "each publisher has its own slot");
    }
    let user = sim.clients[0].user;
    let s = stats(&mut sim, room, user);
    assert!(s.packets_in >= FRAMES_PER_SECOND as u64, "{s:?}");
    assert!(s.packets_out >= 2 * FRAMES_PER_SECOND as u64, "{s:?}");
}

#[test]
fn a_muted_participant_is_not_forwarded_and_unmuting_continues_the_numbering() {
    let (mut sim, room) = call(2);
    let b = sim.clients[1].user;
    sim.run_for(Duration::from_millis(200));

    sim.request(Request::Mute {
        room,
        user: b,
        muted: true,
    })
    .unwrap();
    let before = last_heard(&sim, 0, b);
    let heard_before = sim.clients[0].heard_from(b).count();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        sim.clients[0].heard_from(b).count(),
        heard_before,
        "nothing while muted"
    );
    let state = participants(&mut sim, room);
    assert!(
        state
            .iter()
            .any(|p| p.user_id == b && p.muted && !p.speaking)
    );
    assert!(stats(&mut sim, room, b).dropped_muted >= (FRAMES_PER_SECOND - 1) as u64);

    sim.request(Request::Mute {
        room,
        user: b,
        muted: false,
    })
    .unwrap();
    assert!(sim.run_until(SOON, |s| s.clients[0].heard_from(b).count()
        > heard_before + 1));
    let resumed: Vec<Received> = sim.clients[0]
        .heard_from(b)
        .skip(heard_before)
        .cloned()
        .collect();
    assert_eq!(resumed[0].ssrc, before.ssrc, "the same outgoing stream");
    assert_eq!(
        resumed[0].seq,
        before.seq.wrapping_add(1),
        "no jump in sequence numbers"
    );
    assert!(
        resumed[0].marker,
        "the first packet after the mute starts a talk spurt"
    );
    let ts_gap = resumed[0].timestamp.wrapping_sub(before.timestamp);
    assert!(
        ts_gap >= 48_000,
        "timestamps advance by the muted second, got {ts_gap}"
    );
    assert_eq!(resumed[1].seq, resumed[0].seq.wrapping_add(1));
    assert_eq!(resumed[1].timestamp, resumed[0].timestamp.wrapping_add(960));
}

#[test]
fn a_leavers_slot_is_parked_and_the_next_joiner_reuses_it() {
    let (mut sim, room) = call(3);
    let (a, b, c) = (
        sim.clients[0].user,
        sim.clients[1].user,
        sim.clients[2].user,
    );
    assert_eq!(m_lines(&mut sim, room, a), Some(3));
    let last_of_c = last_heard(&sim, 0, c);

    sim.request(Request::Leave { room, user: c }).unwrap();
    assert_eq!(sim.clients[2].closed.as_deref(), Some("left"));
    let b_only = [b.to_string()];
    assert!(sim.run_until(SOON, |s| s.clients[0].live_streams() == b_only));
    assert_eq!(
        m_lines(&mut sim, room, a),
        Some(3),
        "the slot is parked, not removed"
    );
    assert!(
        sim.clients[0]
            .streams
            .iter()
            .any(|s| !s.sending && s.stream_id == "-"),
        "the parked m-line is inactive and names nobody: {:?}",
        sim.clients[0].streams
    );
    assert_eq!(sim.shared.snapshot().live_peer_connections, 2);

    let newcomer = sim.join(room);
    let d = sim.clients[newcomer].user;
    assert!(sim.run_until(SOON, everyone_hears_everyone));
    assert_eq!(
        m_lines(&mut sim, room, a),
        Some(3),
        "the newcomer took the parked slot"
    );
    assert_eq!(m_lines(&mut sim, room, d), Some(3));
    let first_of_d = sim.clients[0].heard_from(d).next().cloned().unwrap();
    assert_eq!(
        first_of_d.ssrc, last_of_c.ssrc,
        "on the SSRC the slot always had"
    );
    assert_eq!(
        first_of_d.stream_id,
        Some(d.to_string()),
        "under the newcomer's name"
    );
    assert_eq!(
        first_of_d.seq,
        last_of_c.seq.wrapping_add(1),
        "the slot's numbering goes on"
    );
    assert_eq!(sim.shared.snapshot().live_peer_connections, 3);
}

#[test]
fn a_loud_participant_is_reported_speaking_until_they_fall_silent() {
    let (mut sim, room) = call(2);
    let (quiet, loud) = (sim.clients[0].user, sim.clients[1].user);

    sim.clients[1].level = 10;
    let started = sim.now();
    assert!(sim.run_until(SOON, |s| spoke(s, loud, true)));
    let took = sim.now() - started;
    assert!(
        took < Duration::from_millis(600),
        "speaking detected after {took:?}"
    );
    let state = participants(&mut sim, room);
    assert!(state.iter().any(|p| p.user_id == loud && p.speaking));

    sim.clients[1].level = SILENT;
    let stopped = sim.now();
    assert!(sim.run_until(SOON, |s| spoke(s, loud, false)));
    assert!(sim.now() - stopped < Duration::from_secs(1));
    assert!(!spoke(&sim, quiet, true), "the quiet one never spoke");
}

#[test]
fn a_participant_that_goes_silent_on_the_network_is_removed_after_the_idle_timeout() {
    let (mut sim, room) = call(2);
    let a = sim.clients[0].user;

    sim.clients[1].online = false;
    let vanished = sim.now();
    sim.run_for(PEER_IDLE_TIMEOUT - FRAME * 2);
    assert!(sim.clients[1].closed.is_none(), "still within the timeout");
    assert_eq!(participants(&mut sim, room).len(), 2);

    assert!(sim.run_until(SOON, |s| s.clients[1].closed.is_some()));
    let silent_for = sim.now() - vanished;
    assert!(
        silent_for >= PEER_IDLE_TIMEOUT - FRAME,
        "removed after {silent_for:?}"
    );
    assert!(
        silent_for <= PEER_IDLE_TIMEOUT + Duration::from_millis(300),
        "{silent_for:?}"
    );
    assert_eq!(sim.clients[1].closed.as_deref(), Some("connection lost"));
    let state = participants(&mut sim, room);
    assert_eq!(state.iter().map(|p| p.user_id).collect::<Vec<_>>(), [a]);
    assert!(
        sim.run_until(SOON, |s| s.clients[0].live_streams().is_empty()),
        "the one left is offered nobody"
    );
    assert_eq!(sim.shared.snapshot().live_peer_connections, 1);
}

#[test]
fn a_deafened_participant_is_sent_nothing_and_is_muted_until_they_undeafen() {
    let (mut sim, room) = call(2);
    let (a, b) = (sim.clients[0].user, sim.clients[1].user);
    sim.run_for(Duration::from_millis(200));
    let deafen = |deafened| Request::Deafen {
        room,
        user: b,
        deafened,
    };

    sim.request(deafen(true)).unwrap();
    let before = last_heard(&sim, 1, a);
    let (b_heard, a_heard) = (
        sim.clients[1].heard_from(a).count(),
        sim.clients[0].heard_from(b).count(),
    );
    let out_before = stats(&mut sim, room, b).packets_out;
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        sim.clients[1].heard_from(a).count(),
        b_heard,
        "B hears nothing"
    );
    assert_eq!(
        sim.clients[0].heard_from(b).count(),
        a_heard,
        "nobody hears B"
    );
    assert_eq!(
        stats(&mut sim, room, b).packets_out,
        out_before,
        "nothing is sent to B: its bandwidth is saved"
    );
    let state = participants(&mut sim, room);
    let b_state = state.iter().find(|p| p.user_id == b).unwrap();
    assert!(b_state.deafened && b_state.muted, "{b_state:?}");
    assert!(
        sim.events
            .iter()
            .any(|e| matches!(e, RoomEvent::State { participants, .. }
        if participants.iter().any(|p| p.user_id == b && p.deafened)))
    );

    sim.request(deafen(false)).unwrap();
    assert!(
        sim.run_until(SOON, |s| s.clients[1].heard_from(a).count() > b_heard + 1
            && s.clients[0].heard_from(b).count() > a_heard)
    );
    let resumed = sim.clients[1].heard_from(a).nth(b_heard).cloned().unwrap();
    assert_eq!(resumed.ssrc, before.ssrc, "the same slot");
    assert_eq!(
        resumed.seq,
        before.seq.wrapping_add(1),
        "numbering continues"
    );
    assert!(resumed.marker);
    assert!(resumed.timestamp.wrapping_sub(before.timestamp) >= 48_000);
    let state = participants(&mut sim, room);
    assert!(
        state.iter().all(|p| !p.deafened && !p.muted),
        "undeafening unmutes: {state:?}"
    );
}

#[test]
fn a_self_muted_participant_stays_muted_after_undeafening() {
    let (mut sim, room) = call(2);
    let b = sim.clients[1].user;
    let mute = Request::Mute {
        room,
        user: b,
        muted: true,
    };
    sim.request(mute).unwrap();
    for deafened in [true, false] {
        sim.request(Request::Deafen {
            room,
            user: b,
            deafened,
        })
        .unwrap();
    }
    let state = participants(&mut sim, room);
    let b_state = state.iter().find(|p| p.user_id == b).unwrap();
    assert!(b_state.muted && !b_state.deafened, "{b_state:?}");
}

/// The quality the room's latest `voice.state` gave `user`, and how many states changed it.
fn quality_of(sim: &Sim, user: Uuid) -> (Option<CallQuality>, usize) {
    let mut last = None;
    let mut changes = 0;
    for e in &sim.events {
        if let RoomEvent::State { participants, .. } = e
            && let Some(p) = participants.iter().find(|p| p.user_id == user)
        {
            if last.is_some_and(|q| q != p.quality) {
                changes += 1;
            }
            last = Some(p.quality);
        }
    }
    (last, changes)
}

#[test]
fn a_participant_losing_most_of_its_audio_is_judged_poor_and_the_others_good() {
    let (mut sim, room) = call(3);
    let lossy = sim.clients[2].user;
    sim.clients[2].lose = (3, 4);
    let started = sim.now();
    assert!(
        sim.run_until(Duration::from_secs(6), |s| quality_of(s, lossy).0
            == Some(CallQuality::Poor)),
        "events: {:?}",
        sim.events.last()
    );
    assert!(
        sim.now() - started <= Duration::from_secs(5),
        "judged within two intervals"
    );
    sim.run_for(Duration::from_secs(10));
    let state = participants(&mut sim, room);
    for p in &state {
        let want = if p.user_id == lossy {
            CallQuality::Poor
        } else {
            CallQuality::Good
        };
        assert_eq!(p.quality, want, "{state:?}");
    }
    assert_eq!(
        quality_of(&sim, lossy).1,
        1,
        "a steady link is judged once, not republished every interval"
    );

    sim.clients[2].lose = (0, 1);
    assert!(
        sim.run_until(Duration::from_secs(6), |s| quality_of(s, lossy).0
            == Some(CallQuality::Good))
    );
}

#[test]
fn a_participant_who_vanishes_keeps_their_place_and_a_rejoin_takes_it_over() {
    let grace = Duration::from_secs(30);
    let mut sim = Sim::with_grace(50, grace);
    let room = Uuid::new_v4();
    sim.join(room);
    sim.join(room);
    assert!(sim.run_until(SOON, everyone_hears_everyone));
    let bo = sim.clients[1].user;
    let offers = sim.clients[0].offers;
    let slot = last_heard(&sim, 0, bo);

    sim.clients[1].online = false;
    sim.run_for(PEER_IDLE_TIMEOUT * 2);
    assert!(
        sim.clients[1].closed.is_none(),
        "no goodbye within the grace"
    );
    assert_eq!(participants(&mut sim, room).len(), 2, "Bo keeps his place");
    let states_then = sim.events.len();

    // Bo comes back: a new browser, the same user.
    let addr = "10.0.2.9:50000".parse().unwrap();
    sim.clients.push(Client::new(bo, room, addr, sim.server));
    sim.rejoin(2).unwrap();
    assert!(
        sim.run_until(SOON, |s| s.clients[0].heard_from(bo).count() > 1
            && s.clients[0].heard_from(bo).last().unwrap().seq != slot.seq
            && s.clients[2].heard_from(s.clients[0].user).next().is_some())
    );
    let back = sim.clients[0].heard_from(bo).last().cloned().unwrap();
    assert_eq!(back.ssrc, slot.ssrc, "on the slot Bo always had");
    assert_eq!(sim.clients[0].offers, offers, "Ana needed no new offer");
    assert!(
        sim.events[states_then..].iter().all(|e| !matches!(e,
            RoomEvent::State { participants, .. } if participants.len() != 2)),
        "nobody saw Bo leave"
    );
    assert_eq!(
        sim.shared.snapshot().live_peer_connections,
        2,
        "the old one is freed"
    );

    // Gone for longer than the grace: removed.
    sim.clients[2].online = false;
    sim.run_for(PEER_IDLE_TIMEOUT + grace + Duration::from_secs(1));
    assert_eq!(sim.clients[2].closed.as_deref(), Some("connection lost"));
    assert_eq!(participants(&mut sim, room).len(), 1);
}
