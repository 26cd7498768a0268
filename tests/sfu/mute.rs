//! Muting stops a stream within 500 ms; unmuting resumes it with continuous numbering.

use std::time::Duration;

use crate::support::*;
use confab::sfu::{Request, RoomEvent};
use tokio::time::Instant;
use uuid::Uuid;

#[tokio::test]
async fn mute_stops_a_stream_and_unmute_resumes_it_with_continuous_sequence_numbers() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    let (a, b) = ps.split_at_mut(1);
    let (a, b) = (&mut a[0], &mut b[0]);

    let before = recv_from(&mut a.client, b.user).await;
    t.sfu
        .request(Request::Mute {
            room,
            user: b.user,
            muted: true,
        })
        .await
        .unwrap();
    let muted_at = Instant::now();
    t.wait_event(|e| {
        matches!(e, RoomEvent::State { participants, .. }
        if participants.iter().any(|p| p.user_id == b.user && p.muted))
    })
    .await;

    // Packets already in flight may still land; none may arrive after 500 ms.
    let mut last = before;
    let mut stragglers = 0;
    while let Some(p) = a.client.recv(Duration::from_millis(1500)).await {
        if p.sender() == Some(b.user) {
            assert!(
                muted_at.elapsed() < Duration::from_millis(500),
                "B still heard after 500 ms"
            );
            stragglers += 1;
            last = p;
        }
        if muted_at.elapsed() > Duration::from_millis(1500) {
            break;
        }
    }
    assert!(stragglers < 25, "{stragglers} packets after mute");
    let participants = participants(&t.sfu, room).await;
    assert!(
        participants
            .iter()
            .any(|p| p.user_id == b.user && p.muted && !p.speaking)
    );

    t.sfu
        .request(Request::Mute {
            room,
            user: b.user,
            muted: false,
        })
        .await
        .unwrap();
    let resumed = recv_from(&mut a.client, b.user).await;
    assert_eq!(resumed.ssrc, last.ssrc, "same outgoing stream");
    assert_eq!(
        resumed.seq,
        last.seq.wrapping_add(1),
        "no gap in sequence numbers across the mute"
    );
    assert!(
        resumed.marker,
        "the first packet after the mute starts a talk spurt"
    );
    let ts_gap = resumed.timestamp.wrapping_sub(last.timestamp);
    assert!(
        ts_gap >= 48_000,
        "timestamps advance by the muted time, got {ts_gap}"
    );
    let next = recv_from(&mut a.client, b.user).await;
    assert_eq!(next.seq, resumed.seq.wrapping_add(1));
    assert_eq!(next.timestamp, resumed.timestamp.wrapping_add(960));

    let stats = participant_stats(&t.sfu, room, b.user).await.unwrap();
    assert!(stats.dropped_muted > 0);
}
