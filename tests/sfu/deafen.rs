//! Deafening stops everything sent to a participant (and their microphone); quality is
//! measured from real reception reports.

use std::time::Duration;

use crate::support::*;
use confab::sfu::{CallQuality, Request, RoomEvent};
use uuid::Uuid;

#[tokio::test]
async fn a_deafened_participant_is_sent_nothing_until_they_undeafen() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 3).await;
    let (a, b, deaf) = (ps[0].user, ps[1].user, ps[2].user);
    recv_from(&mut ps[2].client, a).await;
    let deafen = |deafened| Request::Deafen {
        room,
        user: deaf,
        deafened,
    };

    t.sfu.request(deafen(true)).await.unwrap();
    t.wait_event(|e| {
        matches!(e, RoomEvent::State { participants, .. }
            if participants.iter().any(|p| p.user_id == deaf && p.deafened && p.muted))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ps[2].client.clear_received();
    let sent_before = participant_stats(&t.sfu, room, deaf)
        .await
        .unwrap()
        .packets_out;
    assert!(
        ps[2]
            .client
            .recv(Duration::from_millis(800))
            .await
            .is_none(),
        "nothing reaches the deafened participant"
    );
    let sent_after = participant_stats(&t.sfu, room, deaf)
        .await
        .unwrap()
        .packets_out;
    assert_eq!(sent_before, sent_after, "and nothing is sent to them");
    // The other two still hear each other but not the deafened one.
    ps[0].client.clear_received();
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    let mut heard_from_deaf = 0;
    while let Some(p) = ps[0]
        .client
        .recv(until.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        heard_from_deaf += usize::from(p.sender() == Some(deaf));
    }
    assert_eq!(heard_from_deaf, 0, "the deafened one is muted");
    recv_from(&mut ps[0].client, b).await;

    t.sfu.request(deafen(false)).await.unwrap();
    recv_from(&mut ps[2].client, a).await;
    recv_from(&mut ps[2].client, b).await;
    recv_from(&mut ps[0].client, deaf).await;
}

#[tokio::test]
async fn a_loopback_call_measures_its_round_trip_and_is_good() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    let other = ps[1].user;
    recv_from(&mut ps[0].client, other).await;
    // Sender reports go out about once a second; the answer follows the next one.
    let deadline = tokio::time::Instant::now() + WAIT;
    let rtt = loop {
        let s = participant_stats(&t.sfu, room, ps[0].user).await.unwrap();
        if s.round_trip > 0.0 {
            break s.round_trip;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no round trip measured"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(rtt < 0.1, "loopback round trip {rtt} s");
    let state = participants(&t.sfu, room).await;
    assert!(
        state.iter().all(|p| p.quality == CallQuality::Good),
        "{state:?}"
    );
}
