//! Bad requests get clear errors and never disturb anyone else's call.

use crate::support::*;
use confab::sfu::{IceCandidate, Request, Sfu, SfuError, Signal};
use confab_testkit::peer::TestClient;
use tokio::sync::mpsc;
use uuid::Uuid;

#[tokio::test]
async fn bad_requests_get_clear_errors_and_calls_go_on() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;

    strangers_are_not_in_the_call(&t.sfu, room, ps[0].user).await;
    untimely_and_malformed_requests_are_refused(&t.sfu, room, ps[0].user).await;
    let _newcomer = a_malformed_answer_leaves_the_offer_outstanding(&t.sfu, room).await;

    // Meanwhile the others' call went on.
    let (a, b) = ps.split_at_mut(1);
    a[0].client.clear_received();
    let p1 = recv_from(&mut a[0].client, b[0].user).await;
    let p2 = recv_from(&mut a[0].client, b[0].user).await;
    assert_eq!(p2.seq, p1.seq.wrapping_add(1));
    assert_eq!(participants(&t.sfu, room).await.len(), 3);
}

fn well_formed_candidate() -> IceCandidate {
    IceCandidate {
        candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
        ..Default::default()
    }
}

/// An answer, a candidate, a mute from someone not in the call; a leave from a room `member`
/// is not in.
async fn strangers_are_not_in_the_call(sfu: &Sfu, room: Uuid, member: Uuid) {
    let user = Uuid::new_v4();
    let sdp = "v=0".to_owned();
    let e = sfu
        .request(Request::Answer { room, user, sdp })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }), "{e}");
    assert_eq!(e.code(), "not_in_call");
    let candidate = well_formed_candidate();
    let e = sfu
        .request(Request::Candidate {
            room,
            user,
            candidate,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }), "{e}");
    let muted = true;
    let e = sfu
        .request(Request::Mute { room, user, muted })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }));
    let (room, user) = (Uuid::new_v4(), member);
    let e = sfu
        .request(Request::Leave { room, user })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }));
}

/// `user`, who is in the call, answers when no offer is outstanding and sends a malformed
/// candidate, then a well-formed one.
async fn untimely_and_malformed_requests_are_refused(sfu: &Sfu, room: Uuid, user: Uuid) {
    // An answer when no offer is outstanding.
    let sdp = "v=0\r\n".to_owned();
    let e = sfu
        .request(Request::Answer { room, user, sdp })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NoOfferPending), "{e}");

    // A malformed candidate.
    let candidate = IceCandidate {
        candidate: "candidate:this is not a candidate".into(),
        ..Default::default()
    };
    let e = sfu
        .request(Request::Candidate {
            room,
            user,
            candidate,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::BadCandidate(_)), "{e}");
    // A well-formed one is accepted (ICE-lite does not need it, but it is not an error).
    let candidate = well_formed_candidate();
    sfu.request(Request::Candidate {
        room,
        user,
        candidate,
    })
    .await
    .unwrap();
}

/// A malformed answer to a real offer: the joiner's offer stays outstanding, so a correct
/// answer still works afterwards. Returns what keeps the newcomer in the call.
async fn a_malformed_answer_leaves_the_offer_outstanding(
    sfu: &Sfu,
    room: Uuid,
) -> (mpsc::Receiver<Signal>, TestClient) {
    let user = Uuid::new_v4();
    let mut rx = join_signals(sfu, room, user).await.unwrap();
    let Some(Signal::Offer { sdp: offer, .. }) = rx.recv().await else {
        panic!("offer expected")
    };
    for garbage in ["", "hello", "v=0\r\nm=audio"] {
        let sdp = garbage.to_owned();
        let e = sfu
            .request(Request::Answer { room, user, sdp })
            .await
            .unwrap_err();
        assert!(matches!(e, SfuError::BadSdp(_)), "{garbage:?}: {e}");
        assert_eq!(e.code(), "invalid_sdp");
    }
    let client = TestClient::start(user).await.unwrap();
    let sdp = client.accept_offer(offer).await.unwrap();
    sfu.request(Request::Answer { room, user, sdp })
        .await
        .unwrap();
    (rx, client)
}

#[tokio::test]
async fn a_full_room_refuses_the_next_join() {
    let mut t = spawn_sfu(2).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;
    let e = join_signals(&t.sfu, room, Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::Full { max: 2, .. }), "{e}");
    assert_eq!(e.code(), "voice_full");
    // Another room is unaffected, and a member re-joining is a replacement, not a third.
    let _rx2 = join_signals(&t.sfu, Uuid::new_v4(), Uuid::new_v4())
        .await
        .unwrap();
    let _rx3 = join_signals(&t.sfu, room, ps[0].user).await.unwrap();
    assert_eq!(participants(&t.sfu, room).await.len(), 2);
    let (a, b) = ps.split_at_mut(1);
    let _ = a;
    b[0].client.clear_received();
}
