//! `GET /search`: stems, prefixes and phrases; only the rooms the caller is in now; deletes
//! and edits take effect at once; filters, pages and bad input.

use std::collections::BTreeSet;

use confab::protocol::api::{SearchResults, SendMessageRequest};
use confab_testkit::ClientError;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::common::{Backend, TestUser, spawn_app};

both_backends!(
    words_match_by_stem_and_prefix_and_quotes_match_a_phrase,
    only_rooms_the_caller_is_a_member_of_now_are_searched,
    deleted_messages_never_match_and_an_edit_is_reindexed_at_once,
    filters_narrow_and_cursors_page_without_repeats,
    bad_input_is_a_clear_error_and_operators_are_plain_text,
);

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    match r {
        Err(e) => e.code().unwrap_or("no code").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

fn bodies(r: &SearchResults) -> Vec<&str> {
    r.results.iter().map(|r| r.message.body.as_str()).collect()
}

/// The highlighted words of each result, as a user sees them marked.
fn marked(r: &SearchResults) -> Vec<Vec<String>> {
    r.results
        .iter()
        .map(|res| {
            let units: Vec<u16> = res.message.body.encode_utf16().collect();
            res.highlights
                .iter()
                .map(|[s, e]| String::from_utf16(&units[*s..*e]).unwrap())
                .collect()
        })
        .collect()
}

async fn q(user: &TestUser, query: &str) -> SearchResults {
    user.api.search(&[("q", query)]).await.unwrap()
}

async fn words_match_by_stem_and_prefix_and_quotes_match_a_phrase(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    for body in [
        "We deployed the release notes 🚀 yesterday",
        "notes on the next release",
        "Deploying tonight, after the review",
        "nothing to see here",
        "the deployment is done",
    ] {
        ana.api.send_text(room.id, body).await.unwrap();
    }

    let r = q(&ana, "deploy").await;
    assert_eq!(
        bodies(&r),
        [
            "the deployment is done",
            "Deploying tonight, after the review",
            "We deployed the release notes 🚀 yesterday"
        ],
        "stems match, newest first"
    );
    assert_eq!(
        marked(&r),
        [vec!["deployment"], vec!["Deploying"], vec!["deployed"]]
    );
    let r = q(&ana, "releasing").await;
    assert_eq!(
        r.results.len(),
        2,
        "a word finds the other forms of its stem"
    );
    assert_eq!(r.results[0].message.room_id, room.id);
    assert!(r.next_cursor.is_none());

    let r = q(&ana, "rel").await;
    assert_eq!(
        r.results.len(),
        2,
        "a word of three letters matches as a prefix"
    );

    let r = q(&ana, "release notes").await;
    assert_eq!(r.results.len(), 2, "every word must match, in any order");
    let r = q(&ana, "\"release notes\"").await;
    assert_eq!(
        bodies(&r),
        ["We deployed the release notes 🚀 yesterday"],
        "a quoted phrase matches its words in order"
    );
    assert_eq!(marked(&r), [vec!["release", "notes"]]);
    let r = q(&ana, "yesterday").await;
    // The rocket before it is two UTF-16 units, as a JavaScript string counts.
    let body = "We deployed the release notes 🚀 yesterday";
    let start = body.encode_utf16().count() - "yesterday".len();
    assert_eq!(r.results[0].highlights, vec![[start, start + 9]]);
    assert!(q(&ana, "absent").await.results.is_empty());
}

async fn only_rooms_the_caller_is_a_member_of_now_are_searched(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let shared = app.room_with(&ana, &[&bo]).await;
    let private = app.room_with(&ana, &[]).await;
    ana.api
        .send_text(shared.id, "budget in the shared room")
        .await
        .unwrap();
    ana.api
        .send_text(private.id, "budget in private")
        .await
        .unwrap();
    let dm = ana.api.open_dm(bo.id).await.unwrap();
    bo.api.send_text(dm.id, "budget by DM").await.unwrap();

    assert_eq!(q(&ana, "budget").await.results.len(), 3);
    let seen: BTreeSet<_> = q(&bo, "budget")
        .await
        .results
        .iter()
        .map(|r| r.message.room_id)
        .collect();
    assert_eq!(seen, [shared.id, dm.id].into());

    // Another room's id is refused as unknown, exactly as its history is.
    let room = private.id.to_string();
    let r = bo.api.search(&[("q", "budget"), ("room_id", &room)]).await;
    assert_eq!(code(r), "room_not_found");

    // Removed from the room, its messages stop matching at once.
    ana.api.remove_member(shared.id, bo.id).await.unwrap();
    assert_eq!(bodies(&q(&bo, "budget").await), ["budget by DM"]);

    let (status, body) = app
        .api
        .call(Method::GET, "/api/v1/search?q=budget", None)
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("missing_token"))
    );
}

async fn deleted_messages_never_match_and_an_edit_is_reindexed_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    let m = ana.api.send_text(room.id, "alpha version").await.unwrap();
    assert_eq!(q(&ana, "alpha").await.results.len(), 1);

    let path = format!("/api/v1/messages/{}", m.id);
    let (status, _) = ana
        .api
        .call(
            Method::PATCH,
            &path,
            Some(&json!({"body": "gamma version"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        q(&ana, "alpha").await.results.is_empty(),
        "the old text is gone"
    );
    let r = q(&ana, "gamma").await;
    assert_eq!(bodies(&r), ["gamma version"]);
    assert!(r.results[0].message.edited_at.is_some());

    let (status, _) = ana.api.call(Method::DELETE, &path, None).await.unwrap();
    assert_eq!(status, 204);
    assert!(q(&ana, "gamma").await.results.is_empty());
    assert!(q(&ana, "version").await.results.is_empty());
}

async fn filters_narrow_and_cursors_page_without_repeats(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let other = app.room_with(&ana, &[]).await;
    let file = ana
        .api
        .upload("quarterly-report.txt", b"numbers".to_vec())
        .await
        .unwrap();
    let with_file = SendMessageRequest {
        body: Some("the plan, attached".into()),
        attachments: Some(vec![file.id]),
        ..Default::default()
    };
    ana.api.send(room.id, &with_file).await.unwrap();
    ana.api
        .send_text(room.id, "the plan is at https://example.org/plan")
        .await
        .unwrap();
    // Times are stored to the millisecond and a send can take less: keep the cutoff in a
    // millisecond of its own, or the next message may be stored as if sent before it.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let cutoff = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    bo.api.send_text(room.id, "my plan differs").await.unwrap();
    ana.api
        .send_text(other.id, "a plan elsewhere")
        .await
        .unwrap();

    let search = |params: Vec<(&'static str, String)>| {
        let api = ana.api.clone();
        async move {
            let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api.search(&p).await.unwrap()
        }
    };
    let plan = || ("q", "plan".to_string());
    assert_eq!(search(vec![plan()]).await.results.len(), 4);
    let r = search(vec![("q", "quarterly".into())]).await;
    assert_eq!(
        bodies(&r),
        ["the plan, attached"],
        "file names are searched too"
    );
    let r = search(vec![plan(), ("has", "file".into())]).await;
    assert_eq!(bodies(&r), ["the plan, attached"]);
    assert_eq!(
        r.results[0].message.attachments[0].name,
        "quarterly-report.txt"
    );
    let r = search(vec![plan(), ("has", "link".into())]).await;
    assert_eq!(bodies(&r), ["the plan is at https://example.org/plan"]);
    let r = search(vec![plan(), ("from", bo.id.to_string())]).await;
    assert_eq!(bodies(&r), ["my plan differs"]);
    let r = search(vec![("from", bo.id.to_string())]).await;
    assert_eq!(
        bodies(&r),
        ["my plan differs"],
        "a filter alone searches too"
    );
    let r = search(vec![plan(), ("room_id", other.id.to_string())]).await;
    assert_eq!(bodies(&r), ["a plan elsewhere"]);
    let r = search(vec![plan(), ("before", cutoff.clone())]).await;
    assert_eq!(r.results.len(), 2);
    let r = search(vec![plan(), ("after", cutoff)]).await;
    assert_eq!(r.results.len(), 2);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![plan(), ("limit", "1".into())];
        if let Some(c) = cursor.take() {
            params.push(("cursor", c));
        }
        let page = search(params).await;
        seen.extend(page.results.iter().map(|r| r.message.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(seen.len() <= 4, "pages end");
    }
    let unique: BTreeSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (4, 4));
    let newest_first: Vec<_> = search(vec![plan()])
        .await
        .results
        .iter()
        .map(|r| r.message.id)
        .collect();
    assert_eq!(seen, newest_first);
}

async fn bad_input_is_a_clear_error_and_operators_are_plain_text(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let room = app.room_with(&ana, &[]).await;
    ana.api
        .send_text(room.id, "NEAR the OR gate")
        .await
        .unwrap();
    for query in [
        "NEAR(",
        "or -gate*",
        "\"unclosed",
        "a:b & c | !d",
        "'; DROP TABLE",
    ] {
        ana.api
            .search(&[("q", query)])
            .await
            .unwrap_or_else(|e| panic!("{query:?}: {e:?}"));
    }
    assert_eq!(q(&ana, "or -gate*").await.results.len(), 1);
    for (params, expected) in [
        (vec![("q", "")], "invalid_query"),
        (vec![("q", "x"), ("has", "video")], "invalid_query"),
        (vec![("q", "x"), ("limit", "0")], "invalid_limit"),
        (vec![("q", "x"), ("limit", "51")], "invalid_limit"),
        (vec![("q", "x"), ("cursor", "nope")], "invalid_cursor"),
    ] {
        assert_eq!(code(ana.api.search(&params).await), expected, "{params:?}");
    }
    let long = "word ".repeat(60);
    assert_eq!(code(ana.api.search(&[("q", &long)]).await), "invalid_query");
    let (status, body) = ana
        .api
        .call(Method::GET, "/api/v1/search?q=x&before=yesterday", None)
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
}
