//! The offer follows the wire contract: ICE-lite, BUNDLE, rtcp-mux, DTLS actpass, Opus with
//! the audio-level extension, the microphone first, one m-line per other participant whose
//! `a=msid` stream id is that participant's user id, parked m-lines inactive with `msid:-`.

use crate::support::*;
use confab::sfu::{Request, Signal};
use confab_testkit::peer::sending_streams;
use uuid::Uuid;

/// The m-line sections of an SDP (session part dropped).
fn sections(sdp: &str) -> Vec<String> {
    sdp.split("\r\nm=")
        .skip(1)
        .map(|s| format!("m={s}"))
        .collect()
}

#[tokio::test]
async fn offers_follow_the_wire_contract() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 2).await;

    let newcomer = Uuid::new_v4();
    let mut rx = join_signals(&t.sfu, room, newcomer).await.unwrap();
    let Some(Signal::Offer { room: r, sdp }) = rx.recv().await else {
        panic!("offer expected")
    };
    assert_eq!(r, room);
    let session = sdp.split("\r\nm=").next().unwrap();
    assert!(session.contains("a=ice-lite"), "{sdp}");
    assert!(session.contains("a=group:BUNDLE 0 1 2"), "{sdp}");
    let ms = sections(&sdp);
    assert_eq!(ms.len(), 3);
    for m in &ms {
        assert!(m.starts_with("m=audio "));
        assert!(m.contains("a=rtcp-mux"));
        assert!(m.contains("a=setup:actpass"));
        assert!(m.contains("a=rtpmap:111 opus/48000/2"));
        assert!(m.contains("urn:ietf:params:rtp-hdrext:ssrc-audio-level"));
        // No audio NACK (browsers decline it; in-band FEC covers loss), so no send history.
        assert!(!m.contains("a=rtcp-fb:111 nack"), "{m}");
    }
    // BUNDLE: the transport (and our single host candidate) is described on the first m-line.
    assert!(
        ms[0].contains("typ host") && ms[0].contains("a=end-of-candidates"),
        "{sdp}"
    );
    assert!(
        ms[0].contains("a=recvonly"),
        "the first m-line is the client's microphone"
    );
    assert!(!ms[0].contains("a=msid"));
    let streams = sending_streams(&sdp);
    let mut ids: Vec<String> = streams.iter().map(|s| s.stream_id.clone()).collect();
    ids.sort();
    let mut want = vec![ps[0].user.to_string(), ps[1].user.to_string()];
    want.sort();
    assert_eq!(
        ids, want,
        "one m-line per other participant, named by user id"
    );
    assert!(streams.iter().all(|s| s.ssrcs.len() == 1));

    // After a departure the m-line stays, parked: inactive and naming no one.
    let user = ps[1].user;
    t.sfu.request(Request::Leave { room, user }).await.unwrap();
    ps[0].sees_streams(&[newcomer]).await;
    let offer = ps[0].client.state().last_offer;
    let ms = sections(&offer);
    assert_eq!(ms.len(), 3, "no m-line is removed: {offer}");
    let parked: Vec<&String> = ms.iter().filter(|m| m.contains("a=inactive")).collect();
    assert_eq!(parked.len(), 1, "{offer}");
    assert!(
        parked[0].contains("a=msid:- "),
        "a parked m-line names no one: {offer}"
    );
    assert!(
        !offer.contains(&ps[1].user.to_string()),
        "the leaver is gone from the SDP"
    );
    let inside = internals(&t.sfu, room, ps[0].user).await.unwrap();
    assert_eq!(inside.m_lines, Some(3));
}
