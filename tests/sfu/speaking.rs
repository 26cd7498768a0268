//! Audio levels in the RFC 6464 extension drive Speaking events.

use crate::support::*;
use confab::sfu::{Request, RoomEvent};
use uuid::Uuid;

#[tokio::test]
async fn audio_levels_turn_speaking_on_and_off() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let ps = full_room(&mut t, room, 2).await;
    let speaker = ps[1].user;

    ps[1].client.set_level(10).await;
    t.wait_event(
        |e| matches!(e, RoomEvent::Speaking { user, speaking: true, .. } if *user == speaker),
    )
    .await;
    assert!(
        participants(&t.sfu, room)
            .await
            .iter()
            .any(|p| p.user_id == speaker && p.speaking)
    );

    ps[1].client.set_level(127).await;
    t.wait_event(
        |e| matches!(e, RoomEvent::Speaking { user, speaking: false, .. } if *user == speaker),
    )
    .await;

    // Muting a speaker also ends their speaking.
    ps[1].client.set_level(10).await;
    t.wait_event(
        |e| matches!(e, RoomEvent::Speaking { user, speaking: true, .. } if *user == speaker),
    )
    .await;
    t.sfu
        .request(Request::Mute {
            room,
            user: speaker,
            muted: true,
        })
        .await
        .unwrap();
    t.wait_event(
        |e| matches!(e, RoomEvent::Speaking { user, speaking: false, .. } if *user == speaker),
    )
    .await;
    // The quiet one never spoke.
    assert!(
        participants(&t.sfu, room)
            .await
            .iter()
            .any(|p| p.user_id == ps[0].user && !p.speaking)
    );
}
