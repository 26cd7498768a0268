//! Group voice through the hub: real WebRTC peers signaled over real WebSockets.

use std::collections::HashMap;
use std::time::Duration;

use confab::protocol::ws::{ClientFrame, ServerFrame, VoiceParticipant};
use confab::protocol::{RoomId, UserId};
use confab_testkit::peer::{ReceivedPacket, TestClient};
use confab_testkit::voice::Caller;

use crate::common::{Backend, Setup, TestApp, TestUser, redis_prefix, spawn_app};

const WAIT: Duration = Duration::from_secs(10);

async fn call(app: &TestApp, user: &TestUser, room: RoomId) -> Caller {
    Caller::join(app.socket(user).await, room)
        .await
        .expect("joins the call")
}

fn state_of(room: RoomId, n: usize) -> impl FnMut(&ServerFrame) -> Option<Vec<VoiceParticipant>> {
    move |f| match f {
        ServerFrame::VoiceState {
            room_id,
            participants,
        } if *room_id == room && participants.len() == n => Some(participants.clone()),
        _ => None,
    }
}

/// Packets received within `for_`, grouped by sender.
async fn receive(
    peer: &mut TestClient,
    for_: Duration,
) -> HashMap<uuid::Uuid, Vec<ReceivedPacket>> {
    let deadline = tokio::time::Instant::now() + for_;
    let mut by_sender: HashMap<uuid::Uuid, Vec<ReceivedPacket>> = HashMap::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return by_sender;
        }
        match peer.recv(left).await {
            Some(p) => {
                if let Some(s) = p.sender() {
                    by_sender.entry(s).or_default().push(p);
                }
            }
            None => return by_sender,
        }
    }
}

/// Waits until `peer` gets packets from every one of `from`.
async fn hears(peer: &mut TestClient, from: &[UserId]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut heard = std::collections::HashSet::new();
    while heard.len() < from.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let p = peer
            .recv(left)
            .await
            .unwrap_or_else(|| panic!("{} heard only {heard:?} of {from:?}", peer.user));
        if let Some(s) = p.sender() {
            assert_ne!(s, peer.user, "a participant never receives their own audio");
            if from.iter().any(|u| u.0 == s) {
                heard.insert(s);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_callers_each_hear_exactly_the_other_two() {
    let app = spawn_app(Backend::Sqlite).await;
    let users = [
        app.user("ana").await,
        app.user("bo").await,
        app.user("cy").await,
    ];
    let watcher = app.user("watcher").await;
    let room = app
        .room_with(&users[0], &[&users[1], &users[2], &watcher])
        .await;
    let mut watching = app.socket(&watcher).await;
    let mut callers = Vec::new();
    for u in &users {
        let c = call(&app, u, room.id).await;
        c.peer.set_publishing(true).await;
        callers.push(c);
    }
    // Everyone in the room sees who is in the call, even without joining.
    let state = watching
        .wait_for(WAIT, "voice.state of three", state_of(room.id, 3))
        .await
        .unwrap();
    assert!(state.iter().all(|p| !p.muted));
    let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    for c in &mut callers {
        let others: Vec<UserId> = ids.iter().copied().filter(|u| u.0 != c.peer.user).collect();
        hears(&mut c.peer, &others).await;
    }
    for c in &mut callers {
        c.peer.clear_received();
        let got = receive(&mut c.peer, Duration::from_millis(1500)).await;
        let mut senders: Vec<_> = got.keys().copied().collect();
        senders.sort();
        let mut expected: Vec<_> = ids
            .iter()
            .map(|u| u.0)
            .filter(|u| *u != c.peer.user)
            .collect();
        expected.sort();
        assert_eq!(senders, expected, "exactly the other two streams");
        for (sender, packets) in got {
            assert!(
                packets.len() >= 40,
                "{sender}: {} packets in 1.5 s",
                packets.len()
            );
            for w in packets.windows(2) {
                assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "in order, nothing lost");
                assert_eq!(
                    w[1].counter(),
                    w[0].counter().map(|c| c + 1),
                    "payloads in order"
                );
            }
        }
    }
    // A session connecting now is told who is in the call.
    let mut late = app.socket(&watcher).await;
    late.wait_for(WAIT, "voice.state snapshot", state_of(room.id, 3))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_stops_a_stream_and_unmute_resumes_it_without_a_gap() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let a = call(&app, &ana, room.id).await;
    let mut b = call(&app, &bo, room.id).await;
    a.peer.set_publishing(true).await;
    hears(&mut b.peer, &[ana.id]).await;
    let before = receive(&mut b.peer, Duration::from_millis(300)).await;
    let last_before = before[&ana.id.0].last().unwrap().seq;
    a.mute(true).await.unwrap();
    let muted = b.wait_for(WAIT, "muted state", |f| match f {
        ServerFrame::VoiceState { participants, .. } => participants
            .iter()
            .find(|p| p.user_id == ana.id && p.muted)
            .cloned(),
        _ => None,
    });
    muted.await.unwrap();
    // Within 500 ms nothing more arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.peer.clear_received();
    let during = receive(&mut b.peer, Duration::from_millis(700)).await;
    assert!(
        during.get(&ana.id.0).is_none_or(|p| p.is_empty()),
        "muted audio still forwarded"
    );
    a.mute(false).await.unwrap();
    let after = recv_first_from(&mut b.peer, ana.id).await;
    let resumed = after.seq;
    assert!(after.marker, "the resumed stream starts a talkspurt");
    // Continuous numbering: the gap is only what arrived between `last_before` and the mute.
    let skipped = resumed.wrapping_sub(last_before);
    assert!(
        (1..40).contains(&skipped),
        "sequence continues ({last_before} → {resumed})"
    );
}

async fn recv_first_from(peer: &mut TestClient, from: UserId) -> ReceivedPacket {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let p = peer.recv(left).await.expect("a packet");
        if p.sender() == Some(from.0) {
            return p;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_renegotiates_and_a_closed_socket_leaves_after_the_rejoin_grace() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| c.voice_rejoin_grace_secs = 1)
        .start()
        .await;
    let users = [
        app.user("ana").await,
        app.user("bo").await,
        app.user("cy").await,
    ];
    let room = app.room_with(&users[0], &[&users[1], &users[2]]).await;
    let mut callers = Vec::new();
    for u in &users {
        callers.push(call(&app, u, room.id).await);
    }
    callers[0]
        .wait_for(WAIT, "three", state_of(room.id, 3))
        .await
        .unwrap();
    let offers_before = callers[1].peer.state().offers;
    callers[2].leave().await.unwrap();
    callers[0]
        .wait_for(WAIT, "two after leave", state_of(room.id, 2))
        .await
        .unwrap();
    let renegotiated = callers[1]
        .peer
        .wait_state(WAIT, |s| {
            s.offers > offers_before && s.remote_streams.len() == 1
        })
        .await;
    assert!(renegotiated, "{:?}", callers[1].peer.state());
    // Hanging up without a word (socket closed) removes the participant as well, once the
    // rejoin grace has passed.
    let gone = callers.remove(1);
    gone.hang_up().await;
    let hung_up = tokio::time::Instant::now();
    callers[0]
        .wait_for(WAIT, "one after hang-up", state_of(room.id, 1))
        .await
        .unwrap();
    assert!(
        hung_up.elapsed() >= Duration::from_millis(900),
        "kept for the grace"
    );
    let live = app.hub.voice().sfu().stats().live_peer_connections;
    assert_eq!(live, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_levels_drive_speaking() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let a = call(&app, &ana, room.id).await;
    let mut b = call(&app, &bo, room.id).await;
    a.peer.set_level(20).await;
    a.peer.set_publishing(true).await;
    let speaking = |want: bool| {
        move |f: &ServerFrame| match f {
            ServerFrame::VoiceSpeaking {
                user_id, speaking, ..
            } if *speaking == want => Some(*user_id),
            _ => None,
        }
    };
    assert_eq!(
        b.wait_for(WAIT, "speaking", speaking(true)).await.unwrap(),
        ana.id
    );
    a.peer.set_level(127).await;
    assert_eq!(
        b.wait_for(WAIT, "silent", speaking(false)).await.unwrap(),
        ana.id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_voice_requests_get_errors_and_the_call_goes_on() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| c.voice_max_participants = 2)
        .start()
        .await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let outsider = app.user("eve").await;
    let room = app.room_with(&ana, &[&bo, &cy]).await;
    let mut stranger = app.socket(&outsider).await;
    let e = stranger
        .request(ClientFrame::VoiceJoin { room_id: room.id })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("room_not_found"));
    let mut cs = app.socket(&cy).await;
    let e = cs
        .request(ClientFrame::VoiceAnswer {
            room_id: room.id,
            sdp: "v=0".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("not_in_call"),
        "an answer for a call you are not in"
    );
    let candidate = confab::protocol::ws::IceCandidateInit {
        candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
        ..Default::default()
    };
    let e = cs
        .request(ClientFrame::VoiceCandidate {
            room_id: room.id,
            candidate,
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("not_in_call"),
        "a candidate before any offer"
    );

    let mut a = call(&app, &ana, room.id).await;
    let mut b = call(&app, &bo, room.id).await;
    a.peer.set_publishing(true).await;
    hears(&mut b.peer, &[ana.id]).await;
    let e = b
        .request(ClientFrame::VoiceAnswer {
            room_id: room.id,
            sdp: "this is not SDP".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Some("invalid_sdp" | "no_offer_pending")),
        "{e}"
    );
    let full = cs
        .request(ClientFrame::VoiceJoin { room_id: room.id })
        .await
        .unwrap_err();
    assert_eq!(full.code(), Some("voice_full"));
    // The others' call went on.
    b.peer.clear_received();
    let got = receive(&mut b.peer, Duration::from_millis(500)).await;
    assert!(got.get(&ana.id.0).is_some_and(|p| p.len() >= 10));
    a.wait_for(WAIT, "still two", state_of(room.id, 2))
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_hands_out_time_limited_turn_credentials() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| {
            c.turn_urls = vec!["turn:turn.example.org:3478?transport=udp".parse().unwrap()];
            c.turn_secret = Some("a-long-shared-turn-secret".parse().unwrap());
            c.turn_ttl_secs = 600;
        })
        .start()
        .await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    let c = call(&app, &ana, room.id).await;
    let server = &c.ice_servers[0];
    assert_eq!(server.urls, ["turn:turn.example.org:3478?transport=udp"]);
    let username = server.username.clone().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, ana.id.to_string());
    let expiry: i64 = expiry.parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((expiry - now - 600).abs() <= 5);
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"a-long-shared-turn-secret").unwrap();
    mac.update(username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(server.credential.as_deref(), Some(expected.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_on_two_nodes_meet_in_the_owners_sfu() {
    let prefix = redis_prefix();
    // The owner keeps a hung-up participant's place for a second, not the default 30.
    let a = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .tweak(|c| c.voice_rejoin_grace_secs = 1)
        .start()
        .await;
    let b = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .sharing(&a)
        .start()
        .await;
    let ana = a.user("ana").await;
    let bo = b.user("bo").await;
    let cy = b.user("cy").await;
    let room = a.room_with(&ana, &[&bo, &cy]).await;
    let mut ca = call(&a, &ana, room.id).await;
    let mut cb = call(&b, &bo, room.id).await;
    let mut cc = call(&b, &cy, room.id).await;
    for c in [&ca, &cb, &cc] {
        c.peer.set_publishing(true).await;
    }
    hears(&mut ca.peer, &[bo.id, cy.id]).await;
    hears(&mut cb.peer, &[ana.id, cy.id]).await;
    hears(&mut cc.peer, &[ana.id, bo.id]).await;
    // All media meets in node a, which took the lease with the first join.
    assert_eq!(a.hub.voice().sfu().stats().live_peer_connections, 3);
    assert_eq!(b.hub.voice().sfu().stats().live_peer_connections, 0);
    // Mute and leave are relayed too.
    cb.mute(true).await.unwrap();
    ca.wait_for(WAIT, "bo muted", |f| match f {
        ServerFrame::VoiceState { participants, .. } => participants
            .iter()
            .find(|p| p.user_id == bo.id && p.muted)
            .cloned(),
        _ => None,
    })
    .await
    .unwrap();
    cc.leave().await.unwrap();
    ca.wait_for(WAIT, "two left", state_of(room.id, 2))
        .await
        .unwrap();
    let e = cc
        .request(ClientFrame::VoiceMute {
            room_id: room.id,
            muted: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("not_in_call"));
    cb.hang_up().await;
    ca.wait_for(WAIT, "bo hung up", state_of(room.id, 1))
        .await
        .unwrap();
    assert_eq!(a.hub.voice().sfu().stats().live_peer_connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_again_on_the_same_socket_is_not_ended_by_the_first_join() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    let mut s = app.socket(&ana).await;
    s.request(ClientFrame::VoiceJoin { room_id: room.id })
        .await
        .unwrap();
    s.request(ClientFrame::VoiceJoin { room_id: room.id })
        .await
        .unwrap();
    // Leave and join back to back, without waiting between them.
    s.send_raw(&format!(
        r#"{{"type":"voice.leave","room_id":"{}"}}"#,
        room.id
    ))
    .await
    .unwrap();
    s.request(ClientFrame::VoiceJoin { room_id: room.id })
        .await
        .unwrap();
    s.request(ClientFrame::VoiceMute {
        room_id: room.id,
        muted: true,
    })
    .await
    .expect("the newest join is still in the call");
    let events = s.drain(Duration::from_millis(800)).await;
    assert!(
        !events.iter().any(|i| matches!(i, confab_testkit::Incoming::Frame(f) if matches!(**f, ServerFrame::VoiceEnded { .. }))),
        "no stale voice.ended: {events:?}"
    );
    let request = confab::sfu::Request::Participants { room: room.id.0 };
    let Ok(confab::sfu::Reply::Participants(state)) = app.hub.voice().sfu().request(request).await
    else {
        panic!("the SFU lists the call's participants");
    };
    assert_eq!(state.len(), 1);
}

/// The next `voice.state` in which `who` matches `pick`.
fn participant_where(
    who: UserId,
    pick: impl Fn(&VoiceParticipant) -> bool,
) -> impl FnMut(&ServerFrame) -> Option<VoiceParticipant> {
    move |f| match f {
        ServerFrame::VoiceState { participants, .. } => participants
            .iter()
            .find(|p| p.user_id == who && pick(p))
            .cloned(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deafen_stops_audio_both_ways_and_undeafen_restores_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut a = call(&app, &ana, room.id).await;
    let mut b = call(&app, &bo, room.id).await;
    a.peer.set_publishing(true).await;
    b.peer.set_publishing(true).await;
    hears(&mut b.peer, &[ana.id]).await;
    hears(&mut a.peer, &[bo.id]).await;

    let mut outsider = app.socket(&ana).await;
    let e = outsider
        .request(ClientFrame::VoiceDeafen {
            room_id: room.id,
            deafened: true,
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("not_in_call"),
        "deafening a call you are not in: {e}"
    );

    b.deafen(true).await.unwrap();
    let seen = a
        .wait_for(
            WAIT,
            "bo deafened",
            participant_where(bo.id, |p| p.deafened),
        )
        .await
        .unwrap();
    assert!(seen.muted, "a deafened participant is muted too");
    // What was in flight lands within a moment; after that, nothing either way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.peer.clear_received();
    b.peer.clear_received();
    let to_b = receive(&mut b.peer, Duration::from_millis(800)).await;
    let to_a = receive(&mut a.peer, Duration::from_millis(200)).await;
    assert!(
        to_b.is_empty(),
        "the deafened one is sent nothing: {:?}",
        to_b.keys()
    );
    assert!(!to_a.contains_key(&bo.id.0), "nor forwarded");

    b.deafen(false).await.unwrap();
    a.wait_for(
        WAIT,
        "bo back",
        participant_where(bo.id, |p| !p.deafened && !p.muted),
    )
    .await
    .unwrap();
    hears(&mut b.peer, &[ana.id]).await;
    hears(&mut a.peer, &[bo.id]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_state_names_deafened_and_quality_on_the_wire() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let a = call(&app, &ana, room.id).await;
    let mut b = call(&app, &bo, room.id).await;
    a.peer.set_publishing(true).await;
    hears(&mut b.peer, &[ana.id]).await;
    let state = b
        .wait_for(WAIT, "voice.state", state_of(room.id, 2))
        .await
        .unwrap();
    let json = serde_json::to_value(&state).unwrap();
    for p in json.as_array().unwrap() {
        assert_eq!(p["quality"], "good", "{p}");
        assert_eq!(p["deafened"], false, "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_share_over_the_socket_names_the_sharer_and_refuses_a_third() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn_app(backend).await;
        let ana = app.user("ana").await;
        let bo = app.user("bo").await;
        let cy = app.user("cy").await;
        let room = app.room_with(&ana, &[&bo, &cy]).await;
        let a = call(&app, &ana, room.id).await;
        let b = call(&app, &bo, room.id).await;
        let mut c = call(&app, &cy, room.id).await;
        a.screen(true).await.unwrap();
        let seen = c
            .wait_for(WAIT, "ana shares", participant_where(ana.id, |p| p.screen))
            .await
            .unwrap();
        assert!(seen.screen);
        // cy receives ana's screen on a video m-line named for her.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let p = c.peer.recv(left).await.expect("ana's screen arrives");
            if p.is_video() && p.sender() == Some(ana.id.0) {
                assert_eq!(p.stream_id.as_deref(), Some(&*ana.id.0.to_string()));
                break;
            }
        }
        b.screen(true).await.unwrap();
        let e = c
            .request(ClientFrame::VoiceScreen {
                room_id: room.id,
                active: true,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("screen_share_limit"), "{e}");
        let both = c
            .wait_for(WAIT, "two sharers", |f| match f {
                ServerFrame::VoiceState { participants, .. }
                    if participants.iter().filter(|p| p.screen).count() == 2 =>
                {
                    Some(participants.clone())
                }
                _ => None,
            })
            .await
            .unwrap();
        let json = serde_json::to_value(&both).unwrap();
        for p in json.as_array().unwrap() {
            let sharing = p["user_id"] != cy.id.0.to_string();
            assert_eq!(p["screen"], sharing, "{p}");
        }
        a.screen(false).await.unwrap();
        c.wait_for(
            WAIT,
            "ana stopped",
            participant_where(ana.id, |p| !p.screen),
        )
        .await
        .unwrap();
        c.screen(true).await.unwrap();
    }
}

/// The next `voice.ring` of `room`: who calls.
fn ring_of(room: RoomId) -> impl FnMut(&ServerFrame) -> Option<UserId> {
    move |f| match f {
        ServerFrame::VoiceRing { room_id, from } if *room_id == room => Some(*from),
        _ => None,
    }
}

/// The next `voice.ring_ended` of `room`: why.
fn ring_end_of(room: RoomId) -> impl FnMut(&ServerFrame) -> Option<String> {
    move |f| match f {
        ServerFrame::VoiceRingEnded { room_id, reason } if *room_id == room => Some(reason.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_call_rings_every_session_of_the_other_member_until_declined_or_answered() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let dm = ana.api.open_dm(bo.id).await.unwrap();
    let (mut phone, mut laptop) = (app.socket(&bo).await, app.socket(&bo).await);

    // Declined on one of Bo's sessions: both stop, and Ana hears why.
    let mut a = call(&app, &ana, dm.id).await;
    for s in [&mut phone, &mut laptop] {
        let from = s
            .wait_for(WAIT, "voice.ring", ring_of(dm.id))
            .await
            .unwrap();
        assert_eq!(from, ana.id);
    }
    laptop
        .request(ClientFrame::VoiceDecline { room_id: dm.id })
        .await
        .unwrap();
    for s in [&mut phone, &mut laptop] {
        let why = s
            .wait_for(WAIT, "ring ended", ring_end_of(dm.id))
            .await
            .unwrap();
        assert_eq!(why, "declined");
    }
    let why = a
        .wait_for(WAIT, "ring ended", ring_end_of(dm.id))
        .await
        .unwrap();
    assert_eq!(why, "declined");

    // Leaving before an answer cancels the ring.
    a.leave().await.unwrap();
    let _ = phone.wait_for(WAIT, "ring ended", ring_end_of(dm.id)).await;
    let a = call(&app, &ana, dm.id).await;
    phone
        .wait_for(WAIT, "voice.ring", ring_of(dm.id))
        .await
        .unwrap();
    a.leave().await.unwrap();
    let why = phone
        .wait_for(WAIT, "ring ended", ring_end_of(dm.id))
        .await
        .unwrap();
    assert_eq!(why, "cancelled");

    // Answered on the laptop: the phone stops ringing; Ana is not told anything but the state.
    let a = call(&app, &ana, dm.id).await;
    phone
        .wait_for(WAIT, "voice.ring", ring_of(dm.id))
        .await
        .unwrap();
    laptop
        .wait_for(WAIT, "voice.ring", ring_of(dm.id))
        .await
        .unwrap();
    let mut b = Caller::join(laptop, dm.id).await.unwrap();
    let why = phone
        .wait_for(WAIT, "ring ended", ring_end_of(dm.id))
        .await
        .unwrap();
    assert_eq!(why, "answered");
    hears(&mut b.peer, &[ana.id]).await;
    drop(a);

    // Declining a group room's call is refused with an error frame, not a panic.
    let room = app.room_with(&ana, &[&bo]).await;
    let e = phone
        .request(ClientFrame::VoiceDecline { room_id: room.id })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("not_a_dm"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coming_back_within_the_grace_continues_the_call_with_no_leave_for_the_others() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut a = call(&app, &ana, room.id).await;
    let b = call(&app, &bo, room.id).await;
    hears(&mut a.peer, &[bo.id]).await;
    a.wait_for(WAIT, "two", state_of(room.id, 2)).await.unwrap();
    let offers = a.peer.state().offers;
    let before = a.peer.recv(WAIT).await.unwrap();

    // Bo's socket and PeerConnection drop (a reload); he is back within a second.
    b.hang_up().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut b = call(&app, &bo, room.id).await;
    hears(&mut b.peer, &[ana.id]).await;
    hears(&mut a.peer, &[bo.id]).await;
    let after = recv_first_from(&mut a.peer, bo.id).await;
    assert_eq!(after.ssrc, before.ssrc, "Ana hears Bo on the same slot");
    assert_eq!(a.peer.state().offers, offers, "and needed no new offer");
    // Nothing ever told the room that Bo left.
    let mut states = Vec::new();
    while let Ok(s) = a
        .wait_for(Duration::from_millis(300), "states", |f| match f {
            ServerFrame::VoiceState { participants, .. } => Some(participants.len()),
            _ => None,
        })
        .await
    {
        states.push(s);
    }
    assert!(states.iter().all(|n| *n == 2), "states seen: {states:?}");
    let live = app.hub.voice().sfu().stats().live_peer_connections;
    assert_eq!(live, 2, "the replaced PeerConnection is freed");
}
