//! Reactions over HTTP: idempotent adds and removes, the emoji rule, the per-message limit,
//! membership, tombstones, and the summary every message carries.

use confab::protocol::MessageId;
use confab::protocol::api::Message;
use confab_testkit::{Api, ClientError};

use crate::both_backends;
use crate::common::{Backend, spawn_app};

both_backends!(
    reactions_are_idempotent_and_listed_in_first_use_order,
    only_single_emoji_or_custom_names_are_accepted,
    a_message_carries_at_most_twenty_distinct_emoji,
    non_members_get_room_not_found_and_leavers_keep_their_reactions,
    deleted_messages_lose_their_reactions_and_take_no_more,
);

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    match r {
        Err(e) => e.code().unwrap_or("no code").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// The message as history shows it to `api`.
async fn reread(api: &Api, m: &Message) -> Message {
    let page = api.history(m.room_id, "").await.unwrap();
    page.messages
        .into_iter()
        .find(|x| x.id == m.id)
        .expect("message in history")
}

fn summary(m: &Message) -> Vec<(String, i64)> {
    m.reactions
        .iter()
        .map(|r| (r.emoji.clone(), r.count))
        .collect()
}

async fn reactions_are_idempotent_and_listed_in_first_use_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let m = ana.api.send_text(room.id, "ship it?").await.unwrap();
    assert!(m.reactions.is_empty());

    bo.api.react(m.id, "👍", true).await.unwrap();
    bo.api.react(m.id, "👍", true).await.unwrap();
    ana.api.react(m.id, "🎉", true).await.unwrap();
    ana.api.react(m.id, "👍", true).await.unwrap();
    let seen = reread(&bo.api, &m).await;
    assert_eq!(summary(&seen), [("👍".into(), 2), ("🎉".into(), 1)]);
    assert_eq!(seen.reactions[0].user_ids, [bo.id, ana.id]);
    assert_eq!(seen.reactions[1].user_ids, [ana.id]);

    bo.api.react(m.id, "👍", false).await.unwrap();
    bo.api.react(m.id, "👍", false).await.unwrap();
    // The order is that of the reactions standing: ana's 👍 came after her 🎉.
    let seen = reread(&ana.api, &m).await;
    assert_eq!(summary(&seen), [("🎉".into(), 1), ("👍".into(), 1)]);
    assert_eq!(seen.reactions[1].user_ids, [ana.id]);
    ana.api.react(m.id, "👍", false).await.unwrap();
    // The emoji that emptied is gone; the other keeps its place.
    assert_eq!(summary(&reread(&ana.api, &m).await), [("🎉".into(), 1)]);
}

async fn only_single_emoji_or_custom_names_are_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    let m = ana.api.send_text(room.id, "emoji test").await.unwrap();
    // ana is the server's first account, so its admin: a custom emoji needs adding first.
    crate::emoji::add_emoji(&ana, "party_parrot").await;
    for ok in ["👍🏽", "👩‍👩‍👧‍👦", "🇵🇹", ":party_parrot:"] {
        ana.api
            .react(m.id, ok, true)
            .await
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    // An unqualified heart is the same reaction as the fully qualified one.
    ana.api.react(m.id, "\u{2764}", true).await.unwrap();
    ana.api.react(m.id, "\u{2764}\u{fe0f}", true).await.unwrap();
    let seen = reread(&ana.api, &m).await;
    let emoji: Vec<_> = summary(&seen).into_iter().map(|(e, _)| e).collect();
    assert_eq!(
        emoji,
        ["👍🏽", "👩‍👩‍👧‍👦", "🇵🇹", ":party_parrot:", "\u{2764}\u{fe0f}"]
    );
    assert_eq!(seen.reactions[4].count, 1);

    for bad in ["a", "👍👍", "👍x", ":Party:", ":a b:", "<script>", "%00"] {
        assert_eq!(
            code(ana.api.react(m.id, bad, true).await),
            "invalid_emoji",
            "{bad}"
        );
    }
    let (status, body) = ana
        .api
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/messages/{}/reactions/nope", m.id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_emoji");
}

async fn a_message_carries_at_most_twenty_distinct_emoji(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let m = ana.api.send_text(room.id, "vote").await.unwrap();
    let twenty = [
        "😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂", "🙂", "🙃", "😉", "😊", "😇", "🥰", "😍",
        "🤩", "😘", "😗", "😚", "😙",
    ];
    for e in twenty {
        ana.api.react(m.id, e, true).await.unwrap();
    }
    assert_eq!(
        code(bo.api.react(m.id, "🔥", true).await),
        "too_many_reactions"
    );
    // Joining one of the twenty is always fine.
    bo.api.react(m.id, "😀", true).await.unwrap();
    let seen = reread(&bo.api, &m).await;
    assert_eq!(seen.reactions.len(), 20);
    assert_eq!(seen.reactions[0].count, 2);
    // Freeing a slot makes room for a new emoji.
    ana.api.react(m.id, "😙", false).await.unwrap();
    bo.api.react(m.id, "🔥", true).await.unwrap();
}

async fn non_members_get_room_not_found_and_leavers_keep_their_reactions(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let eve = app.user("eve").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let m = ana.api.send_text(room.id, "members only").await.unwrap();
    assert_eq!(
        code(eve.api.react(m.id, "👍", true).await),
        "room_not_found"
    );
    assert_eq!(
        code(eve.api.react(m.id, "👍", false).await),
        "room_not_found"
    );
    assert_eq!(
        code(ana.api.react(MessageId::new(), "👍", true).await),
        "message_not_found"
    );

    bo.api.react(m.id, "👋", true).await.unwrap();
    bo.api.remove_member(room.id, bo.id).await.unwrap();
    let seen = reread(&ana.api, &m).await;
    assert_eq!(seen.reactions[0].user_ids, [bo.id]);
    // Gone from the room, bo can no longer touch it.
    assert_eq!(
        code(bo.api.react(m.id, "👋", false).await),
        "room_not_found"
    );
}

async fn deleted_messages_lose_their_reactions_and_take_no_more(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let m = ana.api.send_text(room.id, "oops").await.unwrap();
    bo.api.react(m.id, "😬", true).await.unwrap();
    ana.api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/messages/{}", m.id),
            None,
        )
        .await
        .unwrap();
    let seen = reread(&bo.api, &m).await;
    assert!(seen.deleted && seen.reactions.is_empty(), "{seen:?}");
    assert_eq!(
        code(bo.api.react(m.id, "😬", true).await),
        "message_deleted"
    );
}
