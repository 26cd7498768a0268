//! Typing indicators and presence: ephemeral, throttled, expiring.

use std::time::Duration;

use confab::protocol::PresenceStatus;
use confab::protocol::ws::{ClientFrame, ServerFrame};
use confab_testkit::Incoming;

use crate::SOON;
use crate::common::{Backend, Setup, TestApp, TestUser, spawn_app};

fn typing_of(f: &ServerFrame) -> Option<bool> {
    match f {
        ServerFrame::Typing { active, .. } => Some(*active),
        _ => None,
    }
}

#[tokio::test]
async fn typing_is_throttled_relayed_and_expires() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let mut a = app.socket(&ana).await;
    let mut b = app.socket(&bo).await;
    let typing = |active| ClientFrame::Typing {
        room_id: room.id,
        active,
    };
    a.request(typing(true)).await.unwrap();
    assert!(b.wait_for(SOON, "typing", typing_of).await.unwrap());
    // Renewals within 2 s are not relayed.
    for _ in 0..5 {
        a.request(typing(true)).await.unwrap();
    }
    let quiet = b.drain(Duration::from_millis(800)).await;
    let relayed = quiet
        .iter()
        .filter(|i| matches!(i, Incoming::Frame(f) if typing_of(f).is_some()))
        .count();
    assert_eq!(relayed, 0, "{quiet:?}");
    a.request(typing(false)).await.unwrap();
    assert!(!b.wait_for(SOON, "typing stop", typing_of).await.unwrap());
    // Started and abandoned: the server stops it after 6 s.
    a.request(typing(true)).await.unwrap();
    assert!(b.wait_for(SOON, "typing", typing_of).await.unwrap());
    let started = tokio::time::Instant::now();
    assert!(
        !b.wait_for(Duration::from_secs(9), "typing expiry", typing_of)
            .await
            .unwrap()
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(5500) && waited <= Duration::from_millis(7500),
        "{waited:?}"
    );
}

/// Picks `user`'s presence frames with `status`, giving whether they carry last_seen. Presence
/// may repeat (a new session's snapshot can race a live change), so tests wait for the state.
fn presence_is(
    user: confab::protocol::UserId,
    wanted: PresenceStatus,
) -> impl FnMut(&ServerFrame) -> Option<bool> {
    move |f| {
        confab_testkit::presence_of(f, user)
            .filter(|(status, _)| *status == wanted)
            .map(|(_, seen)| seen)
    }
}

#[tokio::test]
async fn presence_follows_sessions_and_choices() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let _room = app.room_with(&ana, &[&bo]).await;
    let mut a = app.socket(&ana).await;
    let mut b1 = app.socket(&bo).await;
    let online = a
        .wait_for(
            SOON,
            "bo online",
            presence_is(bo.id, PresenceStatus::Online),
        )
        .await
        .unwrap();
    assert!(!online, "no last_seen while online");
    // A new session is told who is online already.
    let mut a2 = app.socket(&ana).await;
    a2.wait_for(SOON, "snapshot", presence_is(bo.id, PresenceStatus::Online))
        .await
        .unwrap();
    b1.request(ClientFrame::PresenceSet {
        status: PresenceStatus::Dnd,
    })
    .await
    .unwrap();
    a.wait_for(SOON, "bo dnd", presence_is(bo.id, PresenceStatus::Dnd))
        .await
        .unwrap();
    // A second session keeps bo online when the first closes.
    let b2 = app.socket(&bo).await;
    b1.close().await;
    let quiet = a.drain(Duration::from_millis(700)).await;
    assert!(
        !quiet.iter().any(|i| matches!(i, Incoming::Frame(f)
            if confab_testkit::presence_of(f, bo.id).is_some_and(|(s, _)| s == PresenceStatus::Offline))),
        "{quiet:?}"
    );
    b2.close().await;
    let seen = a
        .wait_for(
            SOON,
            "bo offline",
            presence_is(bo.id, PresenceStatus::Offline),
        )
        .await
        .unwrap();
    assert!(seen, "offline carries last_seen");
    let bad = a2
        .request(ClientFrame::PresenceSet {
            status: PresenceStatus::Offline,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("invalid_status"));
}

#[tokio::test]
async fn new_co_members_learn_each_others_presence() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let mut a = app.socket(&ana).await;
    let mut b = app.socket(&bo).await;
    b.request(ClientFrame::PresenceSet {
        status: PresenceStatus::Away,
    })
    .await
    .unwrap();
    // They share no room yet; a DM makes them co-members.
    ana.api.open_dm(bo.id).await.unwrap();
    a.wait_for(
        SOON,
        "bo's presence",
        presence_is(bo.id, PresenceStatus::Away),
    )
    .await
    .unwrap();
    b.wait_for(
        SOON,
        "ana's presence",
        presence_is(ana.id, PresenceStatus::Online),
    )
    .await
    .unwrap();
}

/// Ana, and `n` others in a room of hers.
async fn ana_and_others(app: &TestApp, n: usize) -> (TestUser, Vec<TestUser>) {
    let ana = app.user("ana").await;
    let mut others = Vec::new();
    for i in 0..n {
        others.push(app.user(&format!("u{i}")).await);
    }
    app.room_with(&ana, &others.iter().collect::<Vec<_>>())
        .await;
    (ana, others)
}

#[tokio::test]
async fn presence_that_changes_together_comes_in_few_frames() {
    const OTHERS: usize = 12;
    let app = spawn_app(Backend::Sqlite).await;
    let (ana, others) = ana_and_others(&app, OTHERS).await;
    let mut a = app.socket(&ana).await;
    // Everyone else connects at once: ana hears each of them online, in fewer frames than
    // there are users (changes in a room within one window go out together).
    let sockets = futures_util::future::join_all(others.iter().map(|u| app.socket(u))).await;
    let mut waiting: std::collections::HashSet<_> = others.iter().map(|u| u.id).collect();
    let (mut frames, mut batches) = (0, 0);
    while !waiting.is_empty() {
        let got = a
            .wait_for(SOON, "the others online", |f| {
                let online: Vec<_> = waiting
                    .iter()
                    .copied()
                    .filter(|u| {
                        confab_testkit::presence_of(f, *u)
                            .is_some_and(|(s, _)| s == PresenceStatus::Online)
                    })
                    .collect();
                let batch = matches!(f, ServerFrame::PresenceBatch { .. });
                (!online.is_empty()).then_some((online, batch))
            })
            .await
            .unwrap();
        frames += 1;
        batches += usize::from(got.1);
        for u in got.0 {
            waiting.remove(&u);
        }
    }
    assert!(
        frames < OTHERS && batches >= 1,
        "{frames} frames, {batches} batches"
    );
    // A new session of ana's is told who is online in one `presence.batch`.
    let mut a2 = app.socket(&ana).await;
    let listed = a2
        .wait_for(SOON, "snapshot", |f| match f {
            ServerFrame::PresenceBatch { presences } => Some(presences.clone()),
            _ => None,
        })
        .await
        .unwrap();
    let mut ids: Vec<_> = listed.iter().map(|p| p.user_id).collect();
    ids.sort();
    let mut want: Vec<_> = others.iter().map(|u| u.id).collect();
    want.sort();
    assert_eq!(ids, want, "everyone online, once");
    assert!(listed.iter().all(|p| p.status == PresenceStatus::Online));
    drop(sockets);
}

#[tokio::test]
async fn a_client_of_the_base_contract_gets_one_presence_event_per_user() {
    const OTHERS: usize = 6;
    let app = spawn_app(Backend::Sqlite).await;
    let (ana, others) = ana_and_others(&app, OTHERS).await;
    let url = app.api.ws_url();
    let plain =
        || confab_testkit::Socket::connect_accepting(&url, &ana.tokens.access_token, None, &[]);
    let mut a = plain().await.unwrap();
    // The same storm as above, to a session that did not say it reads `presence.batch`.
    let sockets = futures_util::future::join_all(others.iter().map(|u| app.socket(u))).await;
    let mut waiting: std::collections::HashSet<_> = others.iter().map(|u| u.id).collect();
    while !waiting.is_empty() {
        let who = a
            .wait_for(SOON, "the others online", |f| match f {
                ServerFrame::PresenceBatch { .. } => Some(Err(())),
                ServerFrame::Presence {
                    user_id,
                    status: PresenceStatus::Online,
                    ..
                } => Some(Ok(*user_id)),
                _ => None,
            })
            .await
            .unwrap()
            .expect("no presence.batch to a client that did not accept it");
        waiting.remove(&who);
    }
    // Its snapshot: a `presence` event per user online, no batch.
    let mut a2 = plain().await.unwrap();
    let mut listed = std::collections::HashSet::new();
    while listed.len() < OTHERS {
        let who = a2
            .wait_for(SOON, "snapshot", |f| match f {
                ServerFrame::PresenceBatch { .. } => Some(Err(())),
                ServerFrame::Presence { user_id, .. } => Some(Ok(*user_id)),
                _ => None,
            })
            .await
            .unwrap()
            .expect("no presence.batch in the snapshot");
        listed.insert(who);
    }
    drop(sockets);
}

/// Whether `events` hold any presence of `user`.
fn heard_of(events: &[Incoming], user: confab::protocol::UserId) -> bool {
    events
        .iter()
        .any(|i| matches!(i, Incoming::Frame(f) if confab_testkit::presence_of(f, user).is_some()))
}

/// A room of five over a limit of three is large: its members hear each other's presence only
/// by subscribing; a DM with one of them still carries theirs without asking.
async fn large_rooms_tell_presence_only_to_subscribers(backend: Backend) {
    let app = Setup::new(backend)
        .tweak(|c| c.presence_room_limit = 3)
        .start()
        .await;
    let ana = app.user("ana").await;
    let [bo, cy, dee, eve] = [
        app.user("bo").await,
        app.user("cy").await,
        app.user("dee").await,
        app.user("eve").await,
    ];
    let zed = app.user("zed").await;
    let room = app.room_with(&ana, &[&bo, &cy, &dee, &eve]).await;
    let _dm = ana.api.open_dm(eve.id).await.unwrap();
    let mut sb = app.socket(&bo).await;
    let sc = app.socket(&cy).await;
    let mut sd = app.socket(&dee).await;
    let _se = app.socket(&eve).await;
    let mut a = app.socket(&ana).await;
    // Ana's snapshot has eve (their DM), none of the large room's others.
    a.wait_for(
        SOON,
        "eve online",
        presence_is(eve.id, PresenceStatus::Online),
    )
    .await
    .unwrap();
    let quiet = a.drain(Duration::from_millis(500)).await;
    for u in [&bo, &cy, &dee] {
        assert!(!heard_of(&quiet, u.id), "{} unasked: {quiet:?}", u.name);
    }
    // Nor did bo hear ana come online.
    let quiet = sb.drain(Duration::from_millis(300)).await;
    assert!(!heard_of(&quiet, ana.id), "{quiet:?}");

    // Ana's member list shows bo and cy: she subscribes, and at once has both online. Zed is
    // not a member of the room: his presence stays unknown to her through it.
    let subscribe = |user_ids: Vec<_>| ClientFrame::PresenceSubscribe {
        room_id: room.id,
        user_ids,
    };
    a.request(subscribe(vec![bo.id, cy.id, zed.id]))
        .await
        .unwrap();
    let mut online = std::collections::HashSet::new();
    while online.len() < 2 {
        let who = a
            .wait_for(SOON, "bo and cy", |f| {
                let who: Vec<_> = [bo.id, cy.id, zed.id]
                    .into_iter()
                    .filter(|u| confab_testkit::presence_of(f, *u).is_some())
                    .collect();
                (!who.is_empty()).then_some(who)
            })
            .await
            .unwrap();
        assert!(
            !who.contains(&zed.id),
            "no presence of a non-member through the room"
        );
        online.extend(who);
    }
    // Dee (not subscribed) goes away, then bo does not disturb: ana hears bo only.
    sd.request(ClientFrame::PresenceSet {
        status: PresenceStatus::Away,
    })
    .await
    .unwrap();
    sb.request(ClientFrame::PresenceSet {
        status: PresenceStatus::Dnd,
    })
    .await
    .unwrap();
    a.wait_for(SOON, "bo dnd", presence_is(bo.id, PresenceStatus::Dnd))
        .await
        .unwrap();
    // Cy closes: offline, with last seen.
    sc.close().await;
    let seen = a
        .wait_for(
            SOON,
            "cy offline",
            presence_is(cy.id, PresenceStatus::Offline),
        )
        .await
        .unwrap();
    assert!(seen, "offline carries last_seen");
    let quiet = a.drain(Duration::from_millis(300)).await;
    assert!(!heard_of(&quiet, dee.id), "dee unasked: {quiet:?}");

    // A new list replaces the old one: dee away at once, bo no longer heard.
    a.request(subscribe(vec![dee.id])).await.unwrap();
    a.wait_for(SOON, "dee away", presence_is(dee.id, PresenceStatus::Away))
        .await
        .unwrap();
    sb.request(ClientFrame::PresenceSet {
        status: PresenceStatus::Online,
    })
    .await
    .unwrap();
    // An empty list ends it.
    a.request(subscribe(Vec::new())).await.unwrap();
    sd.request(ClientFrame::PresenceSet {
        status: PresenceStatus::Online,
    })
    .await
    .unwrap();
    let quiet = a.drain(Duration::from_millis(500)).await;
    assert!(
        !heard_of(&quiet, bo.id) && !heard_of(&quiet, dee.id),
        "{quiet:?}"
    );

    // Only members subscribe, and to a bounded list.
    let mut sz = app.socket(&zed).await;
    let refused = sz.request(subscribe(vec![bo.id])).await.unwrap_err();
    assert_eq!(refused.code(), Some("room_not_found"));
    let many = (0..501).map(|_| confab::protocol::UserId::new()).collect();
    let refused = a.request(subscribe(many)).await.unwrap_err();
    assert_eq!(refused.code(), Some("too_many_users"));
}

#[tokio::test]
async fn large_rooms_tell_presence_only_to_subscribers_sqlite() {
    large_rooms_tell_presence_only_to_subscribers(Backend::Sqlite).await;
}

#[tokio::test]
async fn large_rooms_tell_presence_only_to_subscribers_postgres() {
    large_rooms_tell_presence_only_to_subscribers(Backend::Postgres).await;
}
