use std::collections::BTreeSet;

use confab::protocol::Seq;
use confab::protocol::api::SendMessageRequest;
use confab_testkit::ClientError;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::common::{Backend, spawn_app};

both_backends!(
    concurrent_posters_get_gap_free_seqs,
    a_repeated_client_id_returns_the_first_message,
    replies_quote_a_message_of_the_same_room,
    forwards_keep_the_original_and_need_read_access,
    only_the_author_edits,
    authors_and_admins_delete_leaving_a_tombstone,
    bodies_are_checked,
    history_pages_by_seq_in_both_directions,
    history_around_a_seq_is_centred_on_it,
    history_survives_a_restart,
);

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    match r {
        Err(e) => e.code().unwrap_or("no code").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

fn text(body: &str) -> SendMessageRequest {
    SendMessageRequest {
        body: Some(body.to_owned()),
        ..Default::default()
    }
}

async fn concurrent_posters_get_gap_free_seqs(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.user("owner").await;
    let mut posters = Vec::new();
    for i in 0..20 {
        posters.push(app.user(&format!("p{i}")).await);
    }
    let room = app
        .room_with(&owner, &posters.iter().collect::<Vec<_>>())
        .await;
    let mut tasks = Vec::new();
    for (i, p) in posters.iter().enumerate() {
        let api = p.api.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..5 {
                let m = api.send_text(room.id, &format!("{i}-{n}")).await.unwrap();
                seqs.push(m.seq.0);
            }
            seqs
        }));
    }
    let mut acked = BTreeSet::new();
    for t in tasks {
        for s in t.await.unwrap() {
            assert!(acked.insert(s), "seq {s} handed out twice");
        }
    }
    assert_eq!(acked, (1..=100).collect::<BTreeSet<i64>>());
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = owner
            .api
            .history(room.id, &format!("after={after}&limit=100"))
            .await
            .unwrap();
        stored.extend(page.messages.iter().map(|m| m.seq.0));
        after = stored.last().copied().unwrap_or(after);
        if !page.has_more {
            break;
        }
    }
    assert_eq!(stored, (1..=100).collect::<Vec<i64>>());
}

async fn a_repeated_client_id_returns_the_first_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    let req = SendMessageRequest {
        body: Some("once".into()),
        client_id: Some("c-1".into()),
        ..Default::default()
    };
    let first = ana.api.send(room.id, &req).await.unwrap();
    let again = ana.api.send(room.id, &req).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(first.client_id.as_deref(), Some("c-1"));
    let page = ana.api.history(room.id, "").await.unwrap();
    assert_eq!(page.messages.len(), 1);
    let other = ana.api.create_room("s").await.unwrap();
    assert_eq!(code(ana.api.send(other.id, &req).await), "client_id_reused");
    let bad = SendMessageRequest {
        client_id: Some("x".repeat(65)),
        ..text("hi")
    };
    assert_eq!(code(ana.api.send(room.id, &bad).await), "invalid_client_id");
}

async fn replies_quote_a_message_of_the_same_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("a").await.unwrap();
    let elsewhere = ana.api.create_room("b").await.unwrap();
    let long = "q".repeat(300);
    let original = ana.api.send_text(room.id, &long).await.unwrap();
    let reply = ana
        .api
        .send(
            room.id,
            &SendMessageRequest {
                reply_to: Some(original.id),
                ..text("answer")
            },
        )
        .await
        .unwrap();
    let quoted = reply.reply_to.expect("reply_to");
    assert_eq!((quoted.id, quoted.sender_id), (original.id, ana.id));
    assert_eq!(quoted.body, "q".repeat(200));
    let history = ana.api.history(room.id, "").await.unwrap();
    assert_eq!(
        history.messages[1].reply_to.as_ref().unwrap().id,
        original.id
    );
    let cross = SendMessageRequest {
        reply_to: Some(original.id),
        ..text("wrong room")
    };
    assert_eq!(
        code(ana.api.send(elsewhere.id, &cross).await),
        "invalid_reply_to"
    );
    let missing = SendMessageRequest {
        reply_to: Some(confab::protocol::MessageId::new()),
        ..text("nothing")
    };
    assert_eq!(
        code(ana.api.send(room.id, &missing).await),
        "invalid_reply_to"
    );
}

async fn forwards_keep_the_original_and_need_read_access(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let eve = app.user("eve").await;
    let source = app.room_with(&ana, &[&bo]).await;
    let target = app.room_with(&bo, &[&eve]).await;
    let original = ana.api.send_text(source.id, "worth sharing").await.unwrap();
    let fwd = |id| SendMessageRequest {
        forward_of: Some(id),
        ..Default::default()
    };
    let copy = bo.api.send(target.id, &fwd(original.id)).await.unwrap();
    assert_eq!(copy.body, "worth sharing");
    assert_eq!(copy.sender_id, bo.id);
    let from = copy.forwarded_from.clone().expect("forwarded_from");
    assert_eq!(
        (
            from.message_id,
            from.room_id,
            from.sender_id,
            from.created_at
        ),
        (original.id, source.id, ana.id, original.created_at)
    );
    // Eve cannot read the source room: forwarding from it is refused as if it did not exist.
    assert_eq!(
        code(eve.api.send(target.id, &fwd(original.id)).await),
        "message_not_found"
    );
    // A forward of a forward still names the first original.
    let again = eve.api.send(target.id, &fwd(copy.id)).await.unwrap();
    assert_eq!(again.forwarded_from.unwrap().message_id, original.id);
    let with_body = SendMessageRequest {
        body: Some("look".into()),
        forward_of: Some(original.id),
        ..Default::default()
    };
    assert_eq!(
        code(bo.api.send(target.id, &with_body).await),
        "invalid_request"
    );
}

async fn only_the_author_edits(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let m = ana.api.send_text(room.id, "draft").await.unwrap();
    let path = format!("/api/v1/messages/{}", m.id);
    let (status, body) = bo
        .api
        .call(Method::PATCH, &path, Some(&json!({"body": "hijack"})))
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("not_author"))
    );
    let (status, body) = ana
        .api
        .call(Method::PATCH, &path, Some(&json!({"body": "final"})))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["body"], "final");
    assert!(body["edited_at"].is_string());
    assert_eq!(body["seq"], 1);
    let page = bo.api.history(room.id, "").await.unwrap();
    assert_eq!(page.messages[0].body, "final");
    assert!(page.messages[0].edited_at.is_some());
    let (status, body) = ana
        .api
        .call(Method::PATCH, &path, Some(&json!({"body": ""})))
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("empty_message"))
    );
    ana.api.call(Method::DELETE, &path, None).await.unwrap();
    let (status, body) = ana
        .api
        .call(Method::PATCH, &path, Some(&json!({"body": "again"})))
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("message_deleted"))
    );
}

async fn authors_and_admins_delete_leaving_a_tombstone(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.user("olga").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let room = app.room_with(&owner, &[&bo, &cy]).await;
    let by_bo = bo.api.send_text(room.id, "bo's").await.unwrap();
    let by_cy = cy.api.send_text(room.id, "cy's").await.unwrap();
    let del = |id| format!("/api/v1/messages/{id}");
    let (status, _) = cy
        .api
        .call(Method::DELETE, &del(by_bo.id), None)
        .await
        .unwrap();
    assert_eq!(status, 403);
    let (status, _) = bo
        .api
        .call(Method::DELETE, &del(by_bo.id), None)
        .await
        .unwrap();
    assert_eq!(status, 204);
    let (status, _) = owner
        .api
        .call(Method::DELETE, &del(by_cy.id), None)
        .await
        .unwrap();
    assert_eq!(status, 204);
    let (status, _) = owner
        .api
        .call(Method::DELETE, &del(by_cy.id), None)
        .await
        .unwrap();
    assert_eq!(status, 204, "deleting twice is harmless");
    let page = cy.api.history(room.id, "").await.unwrap();
    assert_eq!(page.messages.len(), 2);
    for (m, seq) in page.messages.iter().zip([1, 2]) {
        assert!(m.deleted);
        assert_eq!(m.body, "");
        assert_eq!(m.seq, Seq(seq));
    }
    // A reply to a deleted message is refused; a reply made before shows the deletion.
    let live = bo.api.send_text(room.id, "live").await.unwrap();
    let reply = cy
        .api
        .send(
            room.id,
            &SendMessageRequest {
                reply_to: Some(live.id),
                ..text("re")
            },
        )
        .await
        .unwrap();
    bo.api
        .call(Method::DELETE, &del(live.id), None)
        .await
        .unwrap();
    let page = cy.api.history(room.id, "").await.unwrap();
    let shown = page.messages.iter().find(|m| m.id == reply.id).unwrap();
    let quoted = shown.reply_to.as_ref().unwrap();
    assert!(quoted.deleted);
    assert_eq!(quoted.body, "");
    let late = SendMessageRequest {
        reply_to: Some(live.id),
        ..text("late")
    };
    assert_eq!(code(cy.api.send(room.id, &late).await), "message_deleted");
}

async fn bodies_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    assert!(ana.api.send_text(room.id, &"é".repeat(4000)).await.is_ok());
    assert_eq!(
        code(ana.api.send_text(room.id, &"é".repeat(4001)).await),
        "body_too_long"
    );
    assert_eq!(
        code(ana.api.send_text(room.id, "  \n ").await),
        "empty_message"
    );
    assert_eq!(
        code(ana.api.send_text(room.id, "nul\u{0}").await),
        "invalid_body"
    );
    let m = ana
        .api
        .send_text(room.id, "<b>not html</b>\nline two")
        .await
        .unwrap();
    assert_eq!(m.body, "<b>not html</b>\nline two");
}

async fn history_pages_by_seq_in_both_directions(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    for i in 1..=25 {
        ana.api.send_text(room.id, &format!("m{i}")).await.unwrap();
    }
    let seqs = |p: &confab::protocol::api::HistoryPage| {
        p.messages.iter().map(|m| m.seq.0).collect::<Vec<_>>()
    };
    let newest = ana.api.history(room.id, "limit=10").await.unwrap();
    assert_eq!(
        (seqs(&newest), newest.has_more),
        ((16..=25).collect(), true)
    );
    let older = ana
        .api
        .history(room.id, "before=16&limit=10")
        .await
        .unwrap();
    assert_eq!((seqs(&older), older.has_more), ((6..=15).collect(), true));
    let oldest = ana.api.history(room.id, "before=6&limit=10").await.unwrap();
    assert_eq!((seqs(&oldest), oldest.has_more), ((1..=5).collect(), false));
    let forward = ana.api.history(room.id, "after=0&limit=10").await.unwrap();
    assert_eq!(
        (seqs(&forward), forward.has_more),
        ((1..=10).collect(), true)
    );
    let tail = ana.api.history(room.id, "after=20&limit=10").await.unwrap();
    assert_eq!((seqs(&tail), tail.has_more), ((21..=25).collect(), false));
    let default = ana.api.history(room.id, "").await.unwrap();
    assert_eq!((default.messages.len(), default.has_more), (25, false));
    for bad in ["limit=0", "limit=101", "before=3&after=1", "before=-1"] {
        let e = ana.api.history(room.id, bad).await.unwrap_err();
        assert!(
            matches!(e.code(), Some("invalid_limit" | "invalid_query")),
            "{bad}: {e}"
        );
    }
}

async fn history_survives_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    for i in 1..=3 {
        ana.api
            .send_text(room.id, &format!("before restart {i}"))
            .await
            .unwrap();
    }
    let token = ana.tokens.access_token.clone();
    let app = app.restart().await;
    // The signing key was kept in the data dir, so the token is still good.
    let api = app.api.as_user(&token);
    let page = api.history(room.id, "").await.unwrap();
    let bodies: Vec<&str> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["before restart 1", "before restart 2", "before restart 3"]
    );
    assert_eq!(api.send_text(room.id, "after").await.unwrap().seq, Seq(4));
}

async fn history_around_a_seq_is_centred_on_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let eve = app.user("eve").await;
    let room = app.room_with(&ana, &[]).await;
    for i in 1..=10 {
        ana.api.send_text(room.id, &format!("m{i}")).await.unwrap();
    }
    let seqs = |page: &confab::protocol::api::HistoryPage| -> Vec<i64> {
        page.messages.iter().map(|m| m.seq.0).collect()
    };
    let page = ana.api.history(room.id, "around=5&limit=5").await.unwrap();
    assert_eq!(seqs(&page), [3, 4, 5, 6, 7]);
    assert_eq!((page.has_more, page.has_newer), (true, Some(true)));
    let page = ana.api.history(room.id, "around=10&limit=4").await.unwrap();
    assert_eq!(
        seqs(&page),
        [9, 10],
        "the newer half would lie past the newest"
    );
    assert_eq!((page.has_more, page.has_newer), (true, Some(false)));
    let page = ana.api.history(room.id, "around=1&limit=4").await.unwrap();
    assert_eq!(seqs(&page), [1, 2, 3]);
    assert_eq!((page.has_more, page.has_newer), (false, Some(true)));
    let page = ana.api.history(room.id, "around=5&limit=1").await.unwrap();
    assert_eq!((seqs(&page), page.has_newer), (vec![5], Some(true)));
    // Paging without `around` says nothing of newer messages.
    let (_, raw) = ana
        .api
        .call(
            Method::GET,
            &format!("/api/v1/rooms/{}/messages", room.id),
            None,
        )
        .await
        .unwrap();
    assert!(raw.get("has_newer").is_none());

    assert_eq!(
        code(ana.api.history(room.id, "around=5&before=3").await),
        "invalid_query"
    );
    assert_eq!(
        code(ana.api.history(room.id, "around=-1").await),
        "invalid_query"
    );
    assert_eq!(
        code(eve.api.history(room.id, "around=5").await),
        "room_not_found"
    );
}
