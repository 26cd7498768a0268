//! Joins and leaves renegotiate everyone else's PeerConnection in place.

use crate::support::*;
use confab::sfu::{Request, RoomEvent};
use uuid::Uuid;

#[tokio::test]
async fn leaving_renegotiates_the_others_and_a_newcomer_reuses_the_freed_m_line() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 3).await;
    let leaver = ps.pop().unwrap();
    let offers_before: Vec<u64> = ps.iter().map(|p| p.client.state().offers).collect();
    let m_lines_before = internals(&t.sfu, room, ps[0].user).await.unwrap().m_lines;
    assert_eq!(m_lines_before, Some(3));

    let user = leaver.user;
    t.sfu.request(Request::Leave { room, user }).await.unwrap();
    let ev = t.wait_state(room, 2).await;
    let RoomEvent::State { participants, .. } = ev else {
        unreachable!()
    };
    assert!(participants.iter().all(|p| p.user_id != leaver.user));
    assert_eq!(
        t.sfu.stats().live_peer_connections,
        2,
        "the leaver's PeerConnection is freed"
    );
    let mut closed = leaver.closed.clone();
    assert_eq!(
        closed.wait_for(|c| c.is_some()).await.unwrap().as_deref(),
        Some("left")
    );

    let others: Vec<Uuid> = ps.iter().map(|p| p.user).collect();
    for (i, p) in ps.iter_mut().enumerate() {
        let o: Vec<Uuid> = others.iter().copied().filter(|u| *u != p.user).collect();
        p.sees_streams(&o).await;
        assert!(
            p.client.state().offers > offers_before[i],
            "a new offer on the same PeerConnection"
        );
        assert!(p.client.state().connected, "the connection stayed up");
    }
    // Audio keeps flowing between the two who stayed.
    let (a, b) = ps.split_at_mut(1);
    recv_from(&mut a[0].client, b[0].user).await;

    // A newcomer takes the parked m-line instead of growing the SDP.
    let mut c = join(&t.sfu, room, Uuid::new_v4()).await;
    t.wait_state(room, 3).await;
    c.connected().await;
    let all: Vec<Uuid> = vec![ps[0].user, ps[1].user, c.user];
    for p in ps.iter_mut().chain(std::iter::once(&mut c)) {
        let o: Vec<Uuid> = all.iter().copied().filter(|u| *u != p.user).collect();
        p.sees_streams(&o).await;
    }
    assert_eq!(
        internals(&t.sfu, room, ps[0].user).await.unwrap().m_lines,
        Some(3)
    );
    let pkt = recv_from(&mut ps[0].client, c.user).await;
    assert_eq!(
        pkt.stream_id.as_deref(),
        Some(&*c.user.to_string()),
        "the reused m-line names the newcomer"
    );
    recv_from(&mut c.client, ps[1].user).await;
}

#[tokio::test]
async fn joining_again_replaces_the_earlier_join() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    let user = ps[1].user;
    let mut second_tab = join(&t.sfu, room, user).await;
    let mut closed = ps[1].closed.clone();
    let reason = closed.wait_for(|c| c.is_some()).await.unwrap().clone();
    assert!(reason.unwrap().contains("replaced"));
    second_tab.connected().await;
    recv_from(&mut ps[0].client, user).await;
    recv_from(&mut second_tab.client, ps[0].user).await;
    assert_eq!(participants(&t.sfu, room).await.len(), 2);
    assert_eq!(t.sfu.stats().live_peer_connections, 2);
}
