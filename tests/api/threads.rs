//! Threads over HTTP: replies that take the room's next seq and carry `thread_root`, the root's
//! summary, which roots and quotes are allowed, deletions, the thread page, following, thread
//! read positions and unread counts, the room's counts, search, and membership.

use confab::protocol::api::{Message, SendMessageRequest};
use confab::protocol::{MessageId, RoomId, Seq};
use confab_testkit::{Api, ClientError};
use reqwest::Method;
use serde_json::Value;

use crate::both_backends;
use crate::common::{Backend, spawn_app};

both_backends!(
    a_thread_reply_takes_the_next_seq_and_the_root_shows_its_summary,
    the_thread_page_lists_replies_oldest_first_in_pages,
    a_thread_root_must_be_a_live_main_timeline_message_of_the_room,
    a_thread_reply_quotes_only_inside_its_thread,
    deleting_replies_updates_the_summary_and_a_deleted_root_keeps_its_thread,
    posters_mentioned_members_and_the_roots_author_follow_with_unread_counts,
    unfollowing_sticks_until_you_post_or_follow_again,
    an_edit_that_mentions_someone_new_makes_them_follow,
    thread_replies_stay_out_of_the_rooms_unread_count_but_mentions_count,
    search_finds_thread_replies,
    non_members_get_room_not_found,
);

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    match r {
        Err(e) => e.code().unwrap_or("no code").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

async fn send(api: &Api, room: RoomId, req: SendMessageRequest) -> Result<Message, ClientError> {
    api.send(room, &req).await
}

fn reply(body: &str, root: MessageId) -> SendMessageRequest {
    SendMessageRequest {
        body: Some(body.to_owned()),
        thread_root: Some(root),
        ..Default::default()
    }
}

/// The room's message with this id, as history shows it.
async fn in_history(api: &Api, room: RoomId, id: MessageId) -> Message {
    let page = api.history(room, "").await.unwrap();
    page.messages
        .into_iter()
        .find(|m| m.id == id)
        .expect("in history")
}

async fn unread_of(api: &Api, room: RoomId) -> Vec<(MessageId, i64)> {
    api.followed_threads(Some(room))
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.root.id, t.unread))
        .collect()
}

async fn a_thread_reply_takes_the_next_seq_and_the_root_shows_its_summary(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let root = ana.api.send_text(room.id, "shall we ship?").await.unwrap();
    assert_eq!((root.thread_root, root.thread.clone()), (None, None));

    let r = send(&bo.api, room.id, reply("yes", root.id)).await.unwrap();
    assert_eq!(
        r.seq,
        Seq(root.seq.0 + 1),
        "an ordinary message of the room"
    );
    assert_eq!(r.thread_root, Some(root.id));
    let main = ana.api.send_text(room.id, "ok then").await.unwrap();
    assert_eq!(main.seq, Seq(r.seq.0 + 1));

    let page = ana.api.history(room.id, "").await.unwrap();
    let seqs: Vec<(i64, Option<MessageId>)> = page
        .messages
        .iter()
        .map(|m| (m.seq.0, m.thread_root))
        .collect();
    assert_eq!(
        seqs,
        [
            (root.seq.0, None),
            (r.seq.0, Some(root.id)),
            (main.seq.0, None)
        ]
    );
    let thread = page.messages[0].thread.clone().expect("the root's thread");
    assert_eq!(thread.reply_count, 1);
    assert_eq!(thread.participant_ids, [bo.id]);
    assert_eq!(thread.last_reply_at, r.created_at);
    assert_eq!(
        page.messages[2].thread, None,
        "no thread under a plain message"
    );

    // On the wire every message carries both fields, null when empty.
    let (_, raw) = ana
        .api
        .call(
            Method::GET,
            &format!("/api/v1/rooms/{}/messages", room.id),
            None,
        )
        .await
        .unwrap();
    let raw = raw["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(raw[2]["thread_root"], Value::Null);
    assert!(raw[2].as_object().unwrap().contains_key("thread_root"));
    assert!(raw[2].as_object().unwrap().contains_key("thread"));
    assert_eq!(raw[0]["thread"]["reply_count"], 1);

    // Around a permalink to the reply, too.
    let around = ana
        .api
        .history(room.id, &format!("around={}&limit=3", r.seq.0))
        .await
        .unwrap();
    assert!(
        around
            .messages
            .iter()
            .any(|m| m.id == r.id && m.thread_root == Some(root.id))
    );

    // A second replier goes first among the participants.
    let r2 = send(&ana.api, room.id, reply("shipping", root.id))
        .await
        .unwrap();
    let t = in_history(&bo.api, room.id, root.id)
        .await
        .thread
        .expect("thread");
    assert_eq!(t.reply_count, 2);
    assert_eq!(t.participant_ids, [ana.id, bo.id], "latest replier first");
    assert_eq!(t.last_reply_at, r2.created_at);
}

async fn the_thread_page_lists_replies_oldest_first_in_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    let mut replies = Vec::new();
    for i in 0..5 {
        ana.api
            .send_text(room.id, &format!("main {i}"))
            .await
            .unwrap();
        let r = ana
            .api
            .send_in_thread(room.id, root.id, &format!("reply {i}"))
            .await
            .unwrap();
        replies.push(r);
    }
    let page = ana.api.thread(root.id, "limit=3").await.unwrap();
    assert_eq!(page.root.id, root.id);
    assert_eq!(page.root.thread.as_ref().map(|t| t.reply_count), Some(5));
    let bodies: Vec<&str> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["reply 0", "reply 1", "reply 2"]);
    assert!(page.has_more);
    let after = page.messages[2].seq.0;
    let next = ana
        .api
        .thread(root.id, &format!("after={after}&limit=3"))
        .await
        .unwrap();
    let bodies: Vec<&str> = next.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["reply 3", "reply 4"]);
    assert!(!next.has_more);

    // A message without replies has an empty thread.
    let lone = ana.api.send_text(room.id, "lone").await.unwrap();
    let empty = ana.api.thread(lone.id, "").await.unwrap();
    assert!(empty.messages.is_empty() && !empty.has_more);
    assert_eq!(empty.root.thread, None);

    assert_eq!(
        code(ana.api.thread(root.id, "limit=0").await),
        "invalid_limit"
    );
    assert_eq!(
        code(ana.api.thread(root.id, "limit=101").await),
        "invalid_limit"
    );
    assert_eq!(
        code(ana.api.thread(root.id, "after=-1").await),
        "invalid_query"
    );
    assert_eq!(
        code(ana.api.thread(replies[0].id, "").await),
        "invalid_thread_root",
        "a reply has no thread of its own"
    );
    assert_eq!(
        code(ana.api.thread(MessageId::new(), "").await),
        "message_not_found"
    );
}

async fn a_thread_root_must_be_a_live_main_timeline_message_of_the_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    let other = ana.api.create_room("other").await.unwrap();
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    let elsewhere = ana.api.send_text(other.id, "elsewhere").await.unwrap();
    let gone = ana.api.send_text(room.id, "gone").await.unwrap();
    ana.api
        .call(
            Method::DELETE,
            &format!("/api/v1/messages/{}", gone.id),
            None,
        )
        .await
        .unwrap();
    let r = ana
        .api
        .send_in_thread(room.id, root.id, "in")
        .await
        .unwrap();

    for (what, bad) in [
        ("unknown", MessageId::new()),
        ("another room's", elsewhere.id),
        ("deleted", gone.id),
        ("a thread reply", r.id),
    ] {
        let (status, body) = ana
            .api
            .call(
                Method::POST,
                &format!("/api/v1/rooms/{}/messages", room.id),
                Some(&serde_json::json!({"body": "x", "thread_root": bad})),
            )
            .await
            .unwrap();
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"]["code"], "invalid_thread_root", "{what}");
    }
    let before = ana.api.room(room.id).await.unwrap().last_seq;
    assert_eq!(before, r.seq, "nothing refused took a seq");
}

async fn a_thread_reply_quotes_only_inside_its_thread(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    let main = ana.api.send_text(room.id, "main").await.unwrap();
    let first = ana.api.send_in_thread(room.id, root.id, "a").await.unwrap();

    let quoting_reply = send(
        &ana.api,
        room.id,
        SendMessageRequest {
            reply_to: Some(first.id),
            ..reply("answering a", root.id)
        },
    )
    .await
    .unwrap();
    assert_eq!(quoting_reply.reply_to.map(|q| q.id), Some(first.id));
    assert_eq!(quoting_reply.thread_root, Some(root.id));
    let quoting_root = send(
        &ana.api,
        room.id,
        SendMessageRequest {
            reply_to: Some(root.id),
            ..reply("answering the root", root.id)
        },
    )
    .await
    .unwrap();
    assert_eq!(quoting_root.reply_to.map(|q| q.id), Some(root.id));

    let out_of_thread = send(
        &ana.api,
        room.id,
        SendMessageRequest {
            reply_to: Some(main.id),
            ..reply("x", root.id)
        },
    )
    .await;
    assert_eq!(code(out_of_thread), "invalid_reply_to");
    let into_thread = send(
        &ana.api,
        room.id,
        SendMessageRequest {
            body: Some("x".into()),
            reply_to: Some(first.id),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(code(into_thread), "invalid_reply_to");
}

async fn deleting_replies_updates_the_summary_and_a_deleted_root_keeps_its_thread(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let room = app.room_with(&ana, &[&bo, &cy]).await;
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    let b = bo.api.send_in_thread(room.id, root.id, "b").await.unwrap();
    let c = cy.api.send_in_thread(room.id, root.id, "c").await.unwrap();
    let delete = |api: &Api, id: MessageId| {
        let api = api.clone();
        async move {
            let (status, _) = api
                .call(Method::DELETE, &format!("/api/v1/messages/{id}"), None)
                .await
                .unwrap();
            assert_eq!(status, 204);
        }
    };
    delete(&cy.api, c.id).await;
    let t = in_history(&ana.api, room.id, root.id)
        .await
        .thread
        .expect("a live reply is left");
    assert_eq!((t.reply_count, t.participant_ids.clone()), (1, vec![bo.id]));
    assert_eq!(t.last_reply_at, b.created_at);

    // Deleting the root keeps the replies reachable; the root shows as deleted, with its thread.
    delete(&ana.api, root.id).await;
    let page = bo.api.thread(root.id, "").await.unwrap();
    assert!(page.root.deleted);
    assert_eq!(page.root.body, "");
    assert_eq!(page.root.thread.as_ref().map(|t| t.reply_count), Some(1));
    let shown: Vec<(MessageId, bool)> = page.messages.iter().map(|m| (m.id, m.deleted)).collect();
    assert_eq!(shown, [(b.id, false), (c.id, true)]);
    assert_eq!(
        in_history(&bo.api, room.id, root.id)
            .await
            .thread
            .map(|t| t.reply_count),
        Some(1)
    );
    assert_eq!(
        code(bo.api.send_in_thread(room.id, root.id, "late").await),
        "invalid_thread_root",
        "no new replies under a deleted root"
    );

    // The last live reply gone, the root has no thread.
    delete(&bo.api, b.id).await;
    assert_eq!(in_history(&bo.api, room.id, root.id).await.thread, None);
}

async fn posters_mentioned_members_and_the_roots_author_follow_with_unread_counts(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let dee = app.user("dee").await;
    let room = app.room_with(&ana, &[&bo, &cy, &dee]).await;
    let root = ana.api.send_text(room.id, "plan").await.unwrap();
    assert!(
        unread_of(&ana.api, room.id).await.is_empty(),
        "no thread yet"
    );

    let r = bo
        .api
        .send_in_thread(room.id, root.id, &format!("@{} can you check?", cy.name))
        .await
        .unwrap();
    assert_eq!(
        unread_of(&ana.api, room.id).await,
        [(root.id, 1)],
        "root's author"
    );
    assert_eq!(unread_of(&bo.api, room.id).await, [(root.id, 0)], "poster");
    assert_eq!(
        unread_of(&cy.api, room.id).await,
        [(root.id, 1)],
        "mentioned"
    );
    assert!(unread_of(&dee.api, room.id).await.is_empty(), "bystander");
    let listed = &ana.api.followed_threads(None).await.unwrap()[0];
    assert_eq!(listed.root.id, root.id);
    assert_eq!(listed.root.thread.as_ref().map(|t| t.reply_count), Some(1));

    // Opening the thread marks it read.
    ana.api.read_thread(root.id, r.seq).await.unwrap();
    assert_eq!(unread_of(&ana.api, room.id).await, [(root.id, 0)]);
    let listed = &ana.api.followed_threads(Some(room.id)).await.unwrap()[0];
    assert_eq!(listed.last_read_seq, r.seq);
    // A read position never goes back, and stops at the room's newest.
    ana.api.read_thread(root.id, Seq(1)).await.unwrap();
    ana.api.read_thread(root.id, Seq(10_000)).await.unwrap();
    let listed = &ana.api.followed_threads(Some(room.id)).await.unwrap()[0];
    assert_eq!(listed.last_read_seq, r.seq);
    assert_eq!(
        code(ana.api.read_thread(root.id, Seq(-1)).await),
        "invalid_seq"
    );

    // cy answers: bo and ana have one unread each; a deleted reply no longer counts.
    let c = cy
        .api
        .send_in_thread(room.id, root.id, "done")
        .await
        .unwrap();
    assert_eq!(unread_of(&bo.api, room.id).await, [(root.id, 1)]);
    assert_eq!(unread_of(&ana.api, room.id).await, [(root.id, 1)]);
    assert_eq!(unread_of(&cy.api, room.id).await, [(root.id, 0)]);
    cy.api
        .call(Method::DELETE, &format!("/api/v1/messages/{}", c.id), None)
        .await
        .unwrap();
    assert_eq!(unread_of(&bo.api, room.id).await, [(root.id, 0)]);

    // The newest thread comes first; threads of other rooms are listed without room_id.
    let second = dee.api.send_text(room.id, "second").await.unwrap();
    bo.api
        .send_in_thread(room.id, second.id, "me too")
        .await
        .unwrap();
    let order: Vec<MessageId> = unread_of(&bo.api, room.id)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(order, [second.id, root.id]);
    let other = bo.api.create_room("other").await.unwrap();
    let far = bo.api.send_text(other.id, "far").await.unwrap();
    bo.api.send_in_thread(other.id, far.id, "x").await.unwrap();
    assert_eq!(unread_of(&bo.api, room.id).await.len(), 2);
    assert_eq!(bo.api.followed_threads(None).await.unwrap().len(), 3);
}

async fn unfollowing_sticks_until_you_post_or_follow_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let room = app.room_with(&ana, &[&bo, &cy]).await;
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    bo.api.send_in_thread(room.id, root.id, "1").await.unwrap();

    ana.api.follow_thread(root.id, false).await.unwrap();
    ana.api.follow_thread(root.id, false).await.unwrap();
    assert!(unread_of(&ana.api, room.id).await.is_empty());
    bo.api.send_in_thread(room.id, root.id, "2").await.unwrap();
    assert!(
        unread_of(&ana.api, room.id).await.is_empty(),
        "the root's author who unfollowed is not followed again by a reply"
    );
    ana.api.follow_thread(root.id, true).await.unwrap();
    assert_eq!(unread_of(&ana.api, room.id).await, [(root.id, 2)]);

    // A bystander follows explicitly, unfollows, and posting follows again.
    cy.api.follow_thread(root.id, true).await.unwrap();
    assert_eq!(unread_of(&cy.api, room.id).await, [(root.id, 2)]);
    cy.api.follow_thread(root.id, false).await.unwrap();
    assert!(unread_of(&cy.api, room.id).await.is_empty());
    cy.api.send_in_thread(room.id, root.id, "3").await.unwrap();
    assert_eq!(unread_of(&cy.api, room.id).await, [(root.id, 0)]);

    let r = bo.api.send_in_thread(room.id, root.id, "4").await.unwrap();
    assert_eq!(
        code(ana.api.follow_thread(r.id, true).await),
        "invalid_thread_root"
    );
    assert_eq!(
        code(ana.api.follow_thread(MessageId::new(), true).await),
        "message_not_found"
    );
}

async fn an_edit_that_mentions_someone_new_makes_them_follow(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let room = app.room_with(&ana, &[&bo, &cy]).await;
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    let r = bo
        .api
        .send_in_thread(room.id, root.id, &format!("@{} look", cy.name))
        .await
        .unwrap();
    cy.api.follow_thread(root.id, false).await.unwrap();

    let edit = |body: String| {
        let api = bo.api.clone();
        async move {
            api.call(
                Method::PATCH,
                &format!("/api/v1/messages/{}", r.id),
                Some(&serde_json::json!({ "body": body })),
            )
            .await
            .unwrap()
        }
    };
    // Still mentioning cy, who unfollowed: their say stands. Now mentioning ana too.
    let (status, _) = edit(format!("@{} look, and @{} too", cy.name, ana.name)).await;
    assert_eq!(status, 200);
    assert!(
        unread_of(&cy.api, room.id).await.is_empty(),
        "an edit does not follow again someone it mentioned before"
    );
    // A bystander newly mentioned by the edit follows, with the reply unread.
    let dee = app.user("dee").await;
    ana.api.add_member(room.id, dee.id).await.unwrap();
    assert!(unread_of(&dee.api, room.id).await.is_empty());
    let (status, _) = edit(format!("@{} look, and @{} too", dee.name, ana.name)).await;
    assert_eq!(status, 200);
    assert_eq!(unread_of(&dee.api, room.id).await, [(root.id, 1)]);

    // Outside a thread an edit's mentions follow nothing.
    let plain = bo.api.send_text(room.id, "plain").await.unwrap();
    bo.api
        .call(
            Method::PATCH,
            &format!("/api/v1/messages/{}", plain.id),
            Some(&serde_json::json!({ "body": format!("@{} plain", cy.name) })),
        )
        .await
        .unwrap();
    assert!(unread_of(&cy.api, room.id).await.is_empty());
}

async fn thread_replies_stay_out_of_the_rooms_unread_count_but_mentions_count(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    bo.api.mark_read(room.id, root.seq).await.unwrap();
    ana.api
        .send_in_thread(room.id, root.id, "a quiet reply")
        .await
        .unwrap();
    ana.api
        .send_in_thread(room.id, root.id, &format!("@{} have a look", bo.name))
        .await
        .unwrap();
    ana.api.send_text(room.id, "main").await.unwrap();
    let seen = bo.api.room(room.id).await.unwrap();
    assert_eq!(seen.unread_count, 1, "only the main timeline's message");
    assert_eq!(seen.mention_count, 1, "a mention in a thread still counts");
}

async fn search_finds_thread_replies(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    let r = ana
        .api
        .send_in_thread(room.id, root.id, "the zeppelin launches friday")
        .await
        .unwrap();
    let found = ana.api.search(&[("q", "zeppelin")]).await.unwrap();
    assert_eq!(found.results.len(), 1);
    assert_eq!(found.results[0].message.id, r.id);
    assert_eq!(found.results[0].message.thread_root, Some(root.id));
}

async fn non_members_get_room_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let eve = app.user("eve").await;
    let room = ana.api.create_room("r").await.unwrap();
    let root = ana.api.send_text(room.id, "root").await.unwrap();
    ana.api.send_in_thread(room.id, root.id, "r").await.unwrap();

    assert_eq!(
        code(eve.api.send_in_thread(room.id, root.id, "hi").await),
        "room_not_found"
    );
    let own = eve.api.create_room("mine").await.unwrap();
    assert_eq!(
        code(eve.api.send_in_thread(own.id, root.id, "hi").await),
        "invalid_thread_root",
        "another room's message is no root here"
    );
    assert_eq!(code(eve.api.thread(root.id, "").await), "room_not_found");
    assert_eq!(
        code(eve.api.follow_thread(root.id, true).await),
        "room_not_found"
    );
    assert_eq!(
        code(eve.api.read_thread(root.id, Seq(1)).await),
        "room_not_found"
    );
    assert_eq!(
        code(eve.api.followed_threads(Some(room.id)).await),
        "room_not_found"
    );
    assert!(eve.api.followed_threads(None).await.unwrap().is_empty());

    // A member who leaves no longer sees the threads they followed.
    let bo = app.user("bo").await;
    ana.api.add_member(room.id, bo.id).await.unwrap();
    bo.api.send_in_thread(room.id, root.id, "hi").await.unwrap();
    assert_eq!(bo.api.followed_threads(None).await.unwrap().len(), 1);
    bo.api.remove_member(room.id, bo.id).await.unwrap();
    assert!(bo.api.followed_threads(None).await.unwrap().is_empty());
    assert_eq!(code(bo.api.thread(root.id, "").await), "room_not_found");
}
