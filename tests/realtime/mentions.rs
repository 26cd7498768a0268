//! Mentions over the socket: the live message carries whom it mentions.

use crate::both_backends;
use crate::common::{Backend, spawn_app};
use crate::{SOON, message_with};

both_backends!(a_live_message_names_whom_it_mentions,);

async fn a_live_message_names_whom_it_mentions(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut sa = app.socket(&ana).await;
    let mut sb = app.socket(&bo).await;
    let sent = sa
        .send_text(room.id, &format!("@room and @{} especially", bo.name))
        .await
        .unwrap();
    assert_eq!(
        (sent.mentions.clone(), sent.mentions_room),
        (vec![bo.id], true)
    );
    let got = sb
        .wait_for(SOON, "message", message_with(sent.id))
        .await
        .unwrap();
    assert_eq!((got.mentions, got.mentions_room), (vec![bo.id], true));
    assert_eq!(bo.api.room(room.id).await.unwrap().mention_count, 1);
}
