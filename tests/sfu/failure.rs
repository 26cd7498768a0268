//! A participant that disappears without leaving is removed within seconds, freeing its
//! PeerConnection, and the others are renegotiated.

use std::time::{Duration, Instant};

use crate::support::*;
use uuid::Uuid;

#[tokio::test]
async fn a_vanished_client_is_removed_within_five_seconds_of_going_quiet() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 3).await;
    let gone = ps.pop().unwrap();
    let gone_user = gone.user;
    let mut closed = gone.closed.clone();
    recv_from(&mut ps[0].client, gone_user).await;

    gone.client.vanish().await;
    let vanished_at = Instant::now();
    t.wait_state(room, 2).await;
    let took = vanished_at.elapsed();
    println!("removed {took:?} after the client went quiet");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert_eq!(
        closed.wait_for(|c| c.is_some()).await.unwrap().as_deref(),
        Some("connection lost")
    );
    assert_eq!(t.sfu.stats().live_peer_connections, 2);

    let users = [ps[0].user, ps[1].user];
    for p in ps.iter_mut() {
        let o: Vec<Uuid> = users.iter().copied().filter(|u| *u != p.user).collect();
        p.sees_streams(&o).await;
    }
    let (a, b) = ps.split_at_mut(1);
    recv_from(&mut a[0].client, b[0].user).await;
}

#[tokio::test]
async fn shutting_down_closes_every_call() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let ps = full_room(&mut t, room, 2).await;
    t.cancel.cancel();
    tokio::time::timeout(WAIT, t.sfu.stopped())
        .await
        .expect("the SFU stops in time");
    for p in &ps {
        let mut closed = p.closed.clone();
        let reason = tokio::time::timeout(WAIT, closed.wait_for(|c| c.is_some()))
            .await
            .expect("closed in time")
            .unwrap()
            .clone();
        assert_eq!(reason.as_deref(), Some("server shutting down"));
    }
    let user = ps[0].user;
    let e = t
        .sfu
        .request(confab::sfu::Request::Leave { room, user })
        .await
        .unwrap_err();
    assert!(matches!(e, confab::sfu::SfuError::Closed));
    assert_eq!(t.sfu.stats().live_peer_connections, 0);
}
