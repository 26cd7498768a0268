//! Screen share: video through the SFU with real WebRTC clients sending a synthetic VP8 screen.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::support::*;
use confab::sfu::{Request, SfuError, media};
use confab_testkit::peer::{ReceivedPacket, Remb};
use uuid::Uuid;

/// Asks the SFU to start or stop `p`'s share and the client to send (or stop) its screen.
async fn share(t: &TestSfu, p: &Participant, active: bool) -> Result<(), SfuError> {
    let (room, user) = (p.room, p.user);
    t.sfu
        .request(Request::Screen { room, user, active })
        .await?;
    p.client.set_sharing(active).await;
    Ok(())
}

/// Waits until `p`'s current offer sends exactly the screens of `users`.
async fn sees_screens(p: &mut Participant, users: &[Uuid]) {
    let mut want: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    want.sort();
    let ok = p
        .client
        .wait_state(WAIT, |s| {
            let mut got: Vec<String> = s.remote_screens.iter().map(|(_, u, _)| u.clone()).collect();
            got.sort();
            got == want
        })
        .await;
    assert!(
        ok,
        "{} expected screens {want:?}: {:?}",
        p.user,
        p.client.state()
    );
}

/// The next video packet of `from`'s screen, skipping everything else.
async fn next_video(p: &mut Participant, from: Uuid, within: Duration) -> Option<ReceivedPacket> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let pkt = p.client.recv(left).await?;
        if pkt.is_video() && pkt.sender() == Some(from) {
            return Some(pkt);
        }
    }
}

/// `ps[0]` shares its screen, and every other participant has it in its offer and receives
/// its video. The sharer's id.
async fn share_to_all(t: &TestSfu, ps: &mut [Participant]) -> Uuid {
    let sharer = ps[0].user;
    share(t, &ps[0], true).await.unwrap();
    for p in ps.iter_mut().skip(1) {
        sees_screens(p, &[sharer]).await;
        next_video(p, sharer, WAIT).await.expect("video flows");
    }
    sharer
}

/// The video of `from`'s screen reaching `p` until none has come for half a second: once the
/// sharer's client stopped sending, everything it sent. Panics if it never goes quiet.
async fn until_quiet(p: &mut Participant, from: Uuid) -> Vec<ReceivedPacket> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    while let Some(pkt) = next_video(p, from, Duration::from_millis(500)).await {
        assert!(Instant::now() < deadline, "{from}'s screen never stopped");
        got.push(pkt);
    }
    got
}

/// Waits for the start of a keyframe of `from`'s screen; how long it took.
async fn keyframe(p: &mut Participant, from: Uuid, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let pkt = next_video(p, from, left).await?;
        if pkt.is_keyframe_start() {
            return Some(start.elapsed());
        }
    }
}

#[tokio::test]
async fn viewers_receive_the_shared_screen_on_a_video_m_line_named_for_the_sharer() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 3).await;
    let sharer = ps[0].user;
    share(&t, &ps[0], true).await.unwrap();
    assert!(
        participants(&t.sfu, room)
            .await
            .iter()
            .any(|p| p.user_id == sharer && p.screen)
    );

    // The sharer's offer receives video, capped for its encoder.
    assert!(
        ps[0].client.wait_state(WAIT, |s| s.video_sent > 0).await,
        "the sharer's offer has a video m-line it sends on"
    );
    let offer = ps[0].client.state().last_offer;
    assert!(offer.contains("m=video"), "{offer}");
    assert!(
        offer.contains("a=recvonly")
            && offer.contains("b=AS:2500")
            && offer.contains("b=TIAS:2500000"),
        "{offer}"
    );

    for p in ps.iter_mut().skip(1) {
        sees_screens(p, &[sharer]).await;
        let state = p.client.state();
        let (_, stream, track) = &state.remote_screens[0];
        assert_eq!(
            stream,
            &sharer.to_string(),
            "the msid stream id is the sharer"
        );
        assert!(track.starts_with("screen-"), "track id {track}");
        let offer = &state.last_offer;
        for needle in [
            "VP8/90000",
            "H264/90000",
            "packetization-mode=1",
            "profile-level-id=42e01f",
            "nack pli",
            "ccm fir",
        ] {
            assert!(offer.contains(needle), "{needle} missing from {offer}");
        }

        // A run of packets on one SSRC, announced in the offer, numbered without gaps.
        let first = next_video(p, sharer, WAIT).await.expect("video arrives");
        assert_eq!(first.stream_id.as_deref(), Some(&*sharer.to_string()));
        let (mut seq, mut frames) = (first.seq, BTreeSet::new());
        for _ in 0..60 {
            let pkt = next_video(p, sharer, WAIT)
                .await
                .expect("video keeps flowing");
            assert_eq!(pkt.ssrc, first.ssrc, "one SSRC per screen slot");
            assert_eq!(pkt.seq, seq.wrapping_add(1), "consecutive sequence numbers");
            seq = pkt.seq;
            frames.insert(pkt.frame().unwrap());
        }
        assert!(frames.len() >= 20, "whole frames arrive: {frames:?}");
    }
    // The sharer does not get its own screen back.
    assert!(ps[0].client.state().remote_screens.is_empty());
    let stats = participant_stats(&t.sfu, room, ps[1].user).await.unwrap();
    assert!(stats.packets_out > 0);
}

#[tokio::test]
async fn a_viewer_joining_mid_share_receives_a_keyframe_within_a_second() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    let sharer = share_to_all(&t, &mut ps).await;
    // Long enough that the share's first keyframe is history.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent_before = ps[0].client.state().keyframes_sent;

    let mut late = join(&t.sfu, room, Uuid::new_v4()).await;
    late.connected().await;
    sees_screens(&mut late, &[sharer]).await;
    let took = keyframe(&mut late, sharer, Duration::from_secs(1))
        .await
        .expect("a keyframe within a second of connecting");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(ps[0].client.state().keyframes_sent > sent_before);
}

#[tokio::test]
async fn picture_loss_from_two_viewers_becomes_one_keyframe_request() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 3).await;
    let sharer = share_to_all(&t, &mut ps).await;
    // Past the rate limit of the requests the viewers' arrival caused.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = ps[0].client.state().keyframe_requests;
    for p in ps.iter_mut().skip(1) {
        p.client.clear_received();
    }
    ps[1].client.request_keyframe().await;
    ps[2].client.request_keyframe().await;
    for p in ps.iter_mut().skip(1) {
        keyframe(p, sharer, Duration::from_secs(1))
            .await
            .expect("each viewer gets the keyframe");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        ps[0].client.state().keyframe_requests,
        before + 1,
        "two PLIs, one keyframe request to the sharer"
    );
    // Later loss is asked for again: the limit is a rate, not a ban.
    tokio::time::sleep(Duration::from_millis(600)).await;
    ps[1].client.request_keyframe().await;
    let sharer_client = &mut ps[0].client;
    assert!(
        sharer_client
            .wait_state(WAIT, |s| s.keyframe_requests == before + 2)
            .await
    );
}

#[tokio::test]
async fn nacked_video_is_resent_from_the_viewers_history() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    let sharer = share_to_all(&t, &mut ps).await;
    // Every 7th packet is lost between the SFU and the viewer (never upstream: loopback).
    ps[1].client.drop_video(7);
    let mut seqs = BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Some(p) = next_video(&mut ps[1], sharer, WAIT).await {
            seqs.insert(p.seq);
        }
    }
    ps[1].client.drop_video(0);
    for _ in 0..10 {
        if let Some(p) = next_video(&mut ps[1], sharer, WAIT).await {
            seqs.insert(p.seq);
        }
    }
    let dropped = ps[1].client.video_dropped();
    assert!(dropped >= 10, "the viewer dropped {dropped}");
    let (lo, hi) = (*seqs.first().unwrap(), *seqs.last().unwrap());
    assert!(hi > lo && hi - lo < 30_000, "no wrap in this short run");
    let missing: Vec<u16> = (lo..=hi).filter(|s| !seqs.contains(s)).collect();
    assert!(
        missing.is_empty(),
        "every dropped packet was NACKed and resent; missing {missing:?} of {dropped} dropped"
    );
}

#[tokio::test]
async fn stopping_and_restarting_a_share_reuses_the_slots_and_keeps_the_sdp_bounded() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    let (sharer, viewer) = (ps[0].user, ps[1].user);
    let mut sizes = None;
    for round in 0..3 {
        share(&t, &ps[0], true).await.unwrap();
        sees_screens(&mut ps[1], &[sharer]).await;
        let pkt = next_video(&mut ps[1], sharer, WAIT)
            .await
            .expect("video flows again");
        assert_eq!(pkt.stream_id.as_deref(), Some(&*sharer.to_string()));
        share(&t, &ps[0], false).await.unwrap();
        sees_screens(&mut ps[1], &[]).await;
        let offer = ps[1].client.state().last_offer;
        assert!(
            offer.contains("m=video") && offer.contains("a=msid:-"),
            "parked: {offer}"
        );
        let now = (
            internals(&t.sfu, room, sharer).await.unwrap().m_lines,
            internals(&t.sfu, room, viewer).await.unwrap().m_lines,
            offer.matches("m=").count(),
        );
        // Mic + screen in + the viewer's audio; the viewer: mic + audio + screen slot.
        assert_eq!((now.0, now.1), (Some(3), Some(3)), "round {round}");
        assert_eq!(*sizes.get_or_insert(now), now, "round {round}");
        // Audio still flows both ways.
        recv_from(&mut ps[1].client, sharer).await;
    }
    assert!(!participants(&t.sfu, room).await.iter().any(|p| p.screen));
}

#[tokio::test]
async fn a_hundred_share_cycles_leak_nothing() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    let sharer = share_to_all(&t, &mut ps).await;
    share(&t, &ps[0], false).await.unwrap();
    sees_screens(&mut ps[1], &[]).await;
    let baseline = (
        internals(&t.sfu, room, sharer).await.unwrap(),
        internals(&t.sfu, room, ps[1].user).await.unwrap(),
        t.sfu.stats().live_peer_connections,
    );
    for _ in 0..100 {
        share(&t, &ps[0], true).await.unwrap();
        sees_screens(&mut ps[1], &[sharer]).await;
        share(&t, &ps[0], false).await.unwrap();
        sees_screens(&mut ps[1], &[]).await;
    }
    let after = (
        internals(&t.sfu, room, sharer).await.unwrap(),
        internals(&t.sfu, room, ps[1].user).await.unwrap(),
        t.sfu.stats().live_peer_connections,
    );
    assert_eq!(after, baseline, "tables and m-lines after 100 cycles");
    assert!(ps[1].client.state().last_offer.len() < 8_000);
    // The call still works.
    share(&t, &ps[0], true).await.unwrap();
    sees_screens(&mut ps[1], &[sharer]).await;
    next_video(&mut ps[1], sharer, WAIT)
        .await
        .expect("video after 100 cycles");
}

#[tokio::test]
async fn a_third_sharer_is_refused_until_one_stops() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 3).await;
    share(&t, &ps[0], true).await.unwrap();
    share(&t, &ps[1], true).await.unwrap();
    let err = share(&t, &ps[2], true).await.unwrap_err();
    assert!(matches!(err, SfuError::ScreenLimit { max: 2, .. }), "{err}");
    assert_eq!(err.code(), "screen_share_limit");
    let (a, b) = (ps[0].user, ps[1].user);
    sees_screens(&mut ps[2], &[a, b]).await;
    next_video(&mut ps[2], a, WAIT).await.expect("first screen");
    next_video(&mut ps[2], b, WAIT)
        .await
        .expect("second screen");

    share(&t, &ps[0], false).await.unwrap();
    share(&t, &ps[2], true).await.unwrap();
    let c = ps[2].user;
    sees_screens(&mut ps[1], &[c]).await;
    next_video(&mut ps[1], c, WAIT)
        .await
        .expect("the third share once one stopped");
    let sharing: Vec<Uuid> = participants(&t.sfu, room)
        .await
        .iter()
        .filter(|p| p.screen)
        .map(|p| p.user_id)
        .collect();
    assert_eq!(sharing, vec![b, c]);
}

#[tokio::test]
async fn a_sharer_who_leaves_frees_the_viewers_slot() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 3).await;
    let sharer = ps[0].user;
    share(&t, &ps[0], true).await.unwrap();
    sees_screens(&mut ps[1], &[sharer]).await;
    let leaver = ps.remove(0);
    t.sfu
        .request(Request::Leave { room, user: sharer })
        .await
        .unwrap();
    drop(leaver);
    sees_screens(&mut ps[0], &[]).await;
    // A new sharer reuses the parked video slot.
    let before = internals(&t.sfu, room, ps[0].user).await.unwrap().m_lines;
    share(&t, &ps[1], true).await.unwrap();
    let other = ps[1].user;
    sees_screens(&mut ps[0], &[other]).await;
    next_video(&mut ps[0], other, WAIT)
        .await
        .expect("the new share");
    assert_eq!(
        internals(&t.sfu, room, ps[0].user).await.unwrap().m_lines,
        before
    );
}

#[tokio::test]
async fn the_sharers_encoder_is_told_the_bitrate_cap_every_second_while_it_shares() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    share_to_all(&t, &mut ps).await;

    // One REMB a second: three within the wait is "repeatedly", not a one-off.
    let got_three = ps[0].client.wait_state(WAIT, |s| s.rembs >= 3).await;
    let state = ps[0].client.state();
    assert!(got_three, "REMBs received: {}", state.rembs);
    let ssrc = state.screen_ssrc.expect("the sharer sends its screen");
    assert_eq!(
        state.last_remb,
        Some(Remb {
            bitrate: media::SCREEN_BITRATE_CAP,
            ssrcs: vec![ssrc],
        }),
        "the cap, for the screen's SSRC"
    );
    assert_eq!(
        state.lowest_remb,
        Some(media::SCREEN_BITRATE_CAP),
        "every REMB carries the cap"
    );
    assert_eq!(ps[1].client.state().rembs, 0, "only a sharer is capped");

    // A stopped share is no longer capped (one REMB may already be on its way).
    share(&t, &ps[0], false).await.unwrap();
    sees_screens(&mut ps[1], &[]).await;
    let at_stop = ps[0].client.state().rembs;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = ps[0].client.state().rembs;
    assert!(
        later <= at_stop + 1,
        "{at_stop} REMBs at the stop, {later} after"
    );
}

#[tokio::test]
async fn a_viewer_reporting_heavy_loss_slows_neither_the_other_viewer_nor_the_cap() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 3).await;
    let sharer = share_to_all(&t, &mut ps).await;
    // Pause the sharer's encoder (the share stays on at the server), so that the window below
    // starts and ends with a known count of packets sent.
    ps[0].client.set_sharing(false).await;
    until_quiet(&mut ps[1], sharer).await;
    let before = ps[0].client.state();
    let lossy_before = ps[2].client.video_datagrams();

    // ps[2] is on a terrible link: every other video packet lost on the way (its NACKs must
    // be answered), and every 50 ms a report of near-total loss with NACKs of 68 packets.
    ps[2].client.drop_video(2);
    ps[0].client.set_sharing(true).await;
    let mut got = Vec::new();
    let start = Instant::now();
    let mut claims = 0u32;
    while start.elapsed() < Duration::from_secs(3) {
        if start.elapsed() >= Duration::from_millis(50) * claims {
            ps[2].client.claim_loss().await;
            claims += 1;
        }
        got.extend(next_video(&mut ps[1], sharer, Duration::from_millis(50)).await);
    }
    ps[0].client.set_sharing(false).await;
    got.extend(until_quiet(&mut ps[1], sharer).await);
    let after = ps[0].client.state();

    // The healthy viewer got every packet the sharer sent, in order, with no gap.
    let sent = after.video_sent - before.video_sent;
    assert!(sent >= 120, "the sharer sent {sent} packets in 3 s");
    for w in got.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "a gap or duplicate");
    }
    assert_eq!(
        got.len() as u64,
        sent,
        "received by the healthy viewer vs sent"
    );
    // The lossy viewer did cost the SFU: resends of what it lost and of all it claimed.
    let dropped = ps[2].client.video_dropped();
    let lossy_datagrams = ps[2].client.video_datagrams() - lossy_before;
    assert!(dropped >= sent / 4, "{dropped} of {sent} dropped");
    assert!(
        lossy_datagrams >= 2 * sent,
        "{lossy_datagrams} video datagrams reached the lossy viewer for {sent} sent"
    );
    // And the cap the sharer is told stayed where it was.
    assert!(
        after.rembs >= before.rembs + 2,
        "REMBs kept coming: {} then {}",
        before.rembs,
        after.rembs
    );
    assert_eq!(after.lowest_remb, Some(media::SCREEN_BITRATE_CAP));
}
