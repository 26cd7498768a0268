//! Reactions over the socket: the same rules as HTTP, events to the room, and the current
//! reactions in what a resuming session is replayed.

use std::collections::HashMap;

use confab::protocol::Seq;
use confab::protocol::ws::{ClientFrame, ServerFrame};
use confab_testkit::Socket;

use crate::both_backends;
use crate::common::{Backend, spawn_app};
use crate::{SOON, message_with};

both_backends!(
    reactions_over_the_socket_reach_everyone_in_the_room,
    the_socket_refuses_what_http_refuses,
    a_resumed_session_is_replayed_the_current_reactions,
);

/// `(added, emoji, user)` of a reaction event.
fn reaction_event(f: &ServerFrame) -> Option<(bool, String, confab::protocol::UserId)> {
    match f {
        ServerFrame::ReactionAdded { emoji, user_id, .. } => Some((true, emoji.clone(), *user_id)),
        ServerFrame::ReactionRemoved { emoji, user_id, .. } => {
            Some((false, emoji.clone(), *user_id))
        }
        _ => None,
    }
}

async fn reactions_over_the_socket_reach_everyone_in_the_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut sa = app.socket(&ana).await;
    let mut sb = app.socket(&bo).await;
    let m = sa.send_text(room.id, "lunch?").await.unwrap();
    sb.wait_for(SOON, "message", message_with(m.id))
        .await
        .unwrap();

    let add = ClientFrame::ReactionAdd {
        message_id: m.id,
        emoji: "🍕".into(),
    };
    sb.request(add.clone()).await.unwrap();
    let got = sa
        .wait_for(SOON, "reaction.added", reaction_event)
        .await
        .unwrap();
    assert_eq!(got, (true, "🍕".into(), bo.id));
    // The reactor's own session hears it too.
    let own = sb
        .wait_for(SOON, "own reaction.added", reaction_event)
        .await
        .unwrap();
    assert_eq!(own, (true, "🍕".into(), bo.id));

    // A repeated add changes nothing and tells no one: the next event ana hears is the removal.
    sb.request(add).await.unwrap();
    ana.api.react(m.id, "🍕", true).await.unwrap();
    let got = sa
        .wait_for(SOON, "ana's own reaction", reaction_event)
        .await
        .unwrap();
    assert_eq!(got, (true, "🍕".into(), ana.id));
    sb.request(ClientFrame::ReactionRemove {
        message_id: m.id,
        emoji: "🍕".into(),
    })
    .await
    .unwrap();
    let got = sa
        .wait_for(SOON, "reaction.removed", reaction_event)
        .await
        .unwrap();
    assert_eq!(got, (false, "🍕".into(), bo.id));
}

async fn the_socket_refuses_what_http_refuses(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let eve = app.user("eve").await;
    let room = app.room_with(&ana, &[]).await;
    let m = ana.api.send_text(room.id, "hi").await.unwrap();
    let mut sa = app.socket(&ana).await;
    let mut se = app.socket(&eve).await;
    let bad = sa
        .request(ClientFrame::ReactionAdd {
            message_id: m.id,
            emoji: "no".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("invalid_emoji"));
    let outsider = se
        .request(ClientFrame::ReactionAdd {
            message_id: m.id,
            emoji: "👍".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(outsider.code(), Some("room_not_found"));
    // The session stays usable.
    sa.request(ClientFrame::Ping).await.unwrap();
}

async fn a_resumed_session_is_replayed_the_current_reactions(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let m = ana
        .api
        .send_text(room.id, "while you were out")
        .await
        .unwrap();
    ana.api.react(m.id, "👀", true).await.unwrap();
    let resume = HashMap::from([(room.id, Seq::ZERO)]);
    let mut sb = Socket::connect(&app.api.ws_url(), &bo.tokens.access_token, Some(resume))
        .await
        .unwrap();
    let replayed = sb
        .wait_for(SOON, "replay", message_with(m.id))
        .await
        .unwrap();
    assert_eq!(replayed.reactions.len(), 1);
    assert_eq!(replayed.reactions[0].emoji, "👀");
    assert_eq!(replayed.reactions[0].user_ids, [ana.id]);
}
