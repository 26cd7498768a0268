//! Bad requests get clear errors and never disturb anyone else's call.

use crate::support::*;
use confab::sfu::{IceCandidate, SfuError, Signal};
use tokio::sync::mpsc;
use uuid::Uuid;

#[tokio::test]
async fn bad_requests_get_clear_errors_and_calls_go_on() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    let stranger = Uuid::new_v4();

    // An answer or a candidate from someone not in the call.
    let e = t
        .sfu
        .answer(room, stranger, "v=0".into())
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }), "{e}");
    assert_eq!(e.code(), "not_in_call");
    let c = IceCandidate {
        candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
        ..Default::default()
    };
    let e = t
        .sfu
        .candidate(room, stranger, c.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }), "{e}");
    let e = t.sfu.set_muted(room, stranger, true).await.unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }));
    let e = t.sfu.leave(Uuid::new_v4(), ps[0].user).await.unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }));

    // An answer when no offer is outstanding.
    let e = t
        .sfu
        .answer(room, ps[0].user, "v=0\r\n".into())
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NoOfferPending), "{e}");

    // A malformed candidate.
    let bad = IceCandidate {
        candidate: "candidate:this is not a candidate".into(),
        ..Default::default()
    };
    let e = t.sfu.candidate(room, ps[0].user, bad).await.unwrap_err();
    assert!(matches!(e, SfuError::BadCandidate(_)), "{e}");
    // A well-formed one is accepted (ICE-lite does not need it, but it is not an error).
    t.sfu.candidate(room, ps[0].user, c).await.unwrap();

    // A malformed answer to a real offer: the joiner's offer stays outstanding, so a correct
    // answer still works afterwards.
    let newcomer = Uuid::new_v4();
    let (tx, mut rx) = mpsc::channel(16);
    t.sfu.join(room, newcomer, tx).await.unwrap();
    let Some(Signal::Offer { sdp, .. }) = rx.recv().await else {
        panic!("offer expected")
    };
    for garbage in ["", "hello", "v=0\r\nm=audio"] {
        let e = t
            .sfu
            .answer(room, newcomer, garbage.into())
            .await
            .unwrap_err();
        assert!(matches!(e, SfuError::BadSdp(_)), "{garbage:?}: {e}");
        assert_eq!(e.code(), "invalid_sdp");
    }
    let client = confab_testkit::peer::TestClient::start(newcomer)
        .await
        .unwrap();
    let answer = client.accept_offer(sdp).await.unwrap();
    t.sfu.answer(room, newcomer, answer).await.unwrap();

    // Meanwhile the others' call went on.
    let (a, b) = ps.split_at_mut(1);
    a[0].client.clear_received();
    let p1 = recv_from(&mut a[0].client, b[0].user).await;
    let p2 = recv_from(&mut a[0].client, b[0].user).await;
    assert_eq!(p2.seq, p1.seq.wrapping_add(1));
    assert_eq!(t.sfu.participants(room).await.len(), 3);
}

#[tokio::test]
async fn a_full_room_refuses_the_next_join() {
    let mut t = spawn_sfu(2).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    let (tx, _rx) = mpsc::channel(16);
    let e = t.sfu.join(room, Uuid::new_v4(), tx).await.unwrap_err();
    assert!(matches!(e, SfuError::Full { max: 2, .. }), "{e}");
    assert_eq!(e.code(), "voice_full");
    // Another room is unaffected, and a member re-joining is a replacement, not a third.
    let (tx, _rx2) = mpsc::channel(16);
    t.sfu
        .join(Uuid::new_v4(), Uuid::new_v4(), tx)
        .await
        .unwrap();
    let (tx, _rx3) = mpsc::channel(16);
    t.sfu.join(room, ps[0].user, tx).await.unwrap();
    assert_eq!(t.sfu.participants(room).await.len(), 2);
    let (a, b) = ps.split_at_mut(1);
    let _ = a;
    b[0].client.clear_received();
}
