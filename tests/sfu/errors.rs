//! Bad requests get clear errors and never disturb anyone else's call.

use crate::support::*;
use confab::sfu::{IceCandidate, Request, SfuError, Signal};
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
        .request(Request::Answer {
            room,
            user: stranger,
            sdp: "v=0".into(),
        })
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
        .request(Request::Candidate {
            room,
            user: stranger,
            candidate: c.clone(),
        })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }), "{e}");
    let e = t
        .sfu
        .request(Request::Mute {
            room,
            user: stranger,
            muted: true,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }));
    let e = t
        .sfu
        .request(Request::Leave {
            room: Uuid::new_v4(),
            user: ps[0].user,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NotInCall { .. }));

    // An answer when no offer is outstanding.
    let e = t
        .sfu
        .request(Request::Answer {
            room,
            user: ps[0].user,
            sdp: "v=0\r\n".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::NoOfferPending), "{e}");

    // A malformed candidate.
    let bad = IceCandidate {
        candidate: "candidate:this is not a candidate".into(),
        ..Default::default()
    };
    let e = t
        .sfu
        .request(Request::Candidate {
            room,
            user: ps[0].user,
            candidate: bad,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::BadCandidate(_)), "{e}");
    // A well-formed one is accepted (ICE-lite does not need it, but it is not an error).
    t.sfu
        .request(Request::Candidate {
            room,
            user: ps[0].user,
            candidate: c,
        })
        .await
        .unwrap();

    // A malformed answer to a real offer: the joiner's offer stays outstanding, so a correct
    // answer still works afterwards.
    let newcomer = Uuid::new_v4();
    let mut rx = join_signals(&t.sfu, room, newcomer).await.unwrap();
    let Some(Signal::Offer { sdp, .. }) = rx.recv().await else {
        panic!("offer expected")
    };
    for garbage in ["", "hello", "v=0\r\nm=audio"] {
        let e = t
            .sfu
            .request(Request::Answer {
                room,
                user: newcomer,
                sdp: garbage.into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(e, SfuError::BadSdp(_)), "{garbage:?}: {e}");
        assert_eq!(e.code(), "invalid_sdp");
    }
    let client = confab_testkit::peer::TestClient::start(newcomer)
        .await
        .unwrap();
    let sdp = client.accept_offer(sdp).await.unwrap();
    t.sfu
        .request(Request::Answer {
            room,
            user: newcomer,
            sdp,
        })
        .await
        .unwrap();

    // Meanwhile the others' call went on.
    let (a, b) = ps.split_at_mut(1);
    a[0].client.clear_received();
    let p1 = recv_from(&mut a[0].client, b[0].user).await;
    let p2 = recv_from(&mut a[0].client, b[0].user).await;
    assert_eq!(p2.seq, p1.seq.wrapping_add(1));
    assert_eq!(participants(&t.sfu, room).await.len(), 3);
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
