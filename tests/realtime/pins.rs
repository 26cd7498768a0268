//! Pin events reach the room, also when deleting a message unpins it.

use confab::protocol::ws::{ClientFrame, ServerFrame};
use confab::protocol::{MessageId, UserId};

use crate::both_backends;
use crate::common::{Backend, spawn_app};
use crate::{SOON, message_with};

both_backends!(pins_and_unpins_reach_the_room_and_a_deletion_unpins,);

/// `(pinned, message, user)` of a pin event.
fn pin_event(f: &ServerFrame) -> Option<(bool, MessageId, UserId)> {
    match f {
        ServerFrame::PinAdded {
            message_id,
            user_id,
            ..
        } => Some((true, *message_id, *user_id)),
        ServerFrame::PinRemoved {
            message_id,
            user_id,
            ..
        } => Some((false, *message_id, *user_id)),
        _ => None,
    }
}

async fn pins_and_unpins_reach_the_room_and_a_deletion_unpins(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut sb = app.socket(&bo).await;
    let m = ana
        .api
        .send_text(room.id, "rules of the room")
        .await
        .unwrap();
    sb.wait_for(SOON, "message", message_with(m.id))
        .await
        .unwrap();

    ana.api.pin(room.id, m.id, true).await.unwrap();
    // A repeated pin tells no one: the next pin event is the unpin.
    ana.api.pin(room.id, m.id, true).await.unwrap();
    let got = sb.wait_for(SOON, "pin.added", pin_event).await.unwrap();
    assert_eq!(got, (true, m.id, ana.id));
    ana.api.pin(room.id, m.id, false).await.unwrap();
    let got = sb.wait_for(SOON, "pin.removed", pin_event).await.unwrap();
    assert_eq!(got, (false, m.id, ana.id));

    ana.api.pin(room.id, m.id, true).await.unwrap();
    sb.wait_for(SOON, "pin.added again", pin_event)
        .await
        .unwrap();
    let mut sa = app.socket(&ana).await;
    sa.request(ClientFrame::MessageDelete { message_id: m.id })
        .await
        .unwrap();
    let got = sb
        .wait_for(SOON, "unpinned by the deletion", pin_event)
        .await
        .unwrap();
    assert_eq!(got, (false, m.id, ana.id));
}
