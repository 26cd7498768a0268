//! Several nodes sharing Postgres and Redis act as one service.

use std::time::Duration;

use confab::protocol::api::ReadRequest;
use confab::protocol::ws::{ClientFrame, ServerFrame};
use confab::protocol::{PresenceStatus, Seq};

use crate::common::{Backend, Proxy, RedisServer, Setup, TestApp, redis_prefix};
use crate::{SOON, message_with, new_message};

async fn cluster(n: usize) -> Vec<TestApp> {
    let prefix = redis_prefix();
    let first = Setup::new(Backend::Postgres).redis(&prefix).start().await;
    let mut nodes = vec![];
    for _ in 1..n {
        nodes.push(
            Setup::new(Backend::Postgres)
                .redis(&prefix)
                .sharing(&first)
                .start()
                .await,
        );
    }
    nodes.insert(0, first);
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_three_nodes_hear_each_other() {
    let nodes = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let ana = a.user("ana").await;
    let bo = b.user("bo").await;
    let cy = c.user("cy").await;
    let room = a.room_with(&ana, &[&bo, &cy]).await;
    let mut sa = a.socket(&ana).await;
    let mut sb = b.socket(&bo).await;
    let mut sc = c.socket(&cy).await;

    let m = sa.send_text(room.id, "from node a").await.unwrap();
    for s in [&mut sb, &mut sc] {
        s.wait_for(SOON, "message on another node", message_with(m.id))
            .await
            .unwrap();
    }
    let m2 = sc.send_text(room.id, "from node c").await.unwrap();
    sa.wait_for(SOON, "reply", message_with(m2.id))
        .await
        .unwrap();

    sb.request(ClientFrame::Typing {
        room_id: room.id,
        active: true,
    })
    .await
    .unwrap();
    let who = sa
        .wait_for(SOON, "typing", |f| match f {
            ServerFrame::Typing {
                user_id,
                active: true,
                ..
            } => Some(*user_id),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(who, bo.id);

    sb.request(ClientFrame::Read {
        room_id: room.id,
        read: ReadRequest { seq: Seq(2) },
    })
    .await
    .unwrap();
    let read = sc
        .wait_for(SOON, "receipt", |f| match f {
            ServerFrame::Receipt { user_id, seq, .. } if *user_id == bo.id => Some(*seq),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(read, Seq(2));

    // Presence crosses nodes: dee connects on c, ana on a sees it.
    let dee = c.user("dee").await;
    ana.api.add_member(room.id, dee.id).await.unwrap();
    let mut sd = c.socket(&dee).await;
    let online = sa
        .wait_for(SOON, "dee online", |f| {
            confab_testkit::presence_of(f, dee.id).map(|(status, _)| status)
        })
        .await
        .unwrap();
    assert_eq!(online, PresenceStatus::Online);

    // Membership: a user on node b is added by a user on node a, live.
    let eli = b.user("eli").await;
    let mut se = b.socket(&eli).await;
    ana.api.add_member(room.id, eli.id).await.unwrap();
    let view = se
        .wait_for(SOON, "room.updated", |f| match f {
            ServerFrame::RoomUpdated { room } => Some(room.id),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(view, room.id);
    let m3 = sd.send_text(room.id, "welcome eli").await.unwrap();
    se.wait_for(SOON, "message for eli", message_with(m3.id))
        .await
        .unwrap();
    ana.api.remove_member(room.id, eli.id).await.unwrap();
    se.wait_for(SOON, "member.left", |f| {
        matches!(f, ServerFrame::MemberLeft { .. }).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaction_and_pin_events_cross_nodes() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let ana = a.user("ana").await;
    let bo = b.user("bo").await;
    let room = a.room_with(&ana, &[&bo]).await;
    let mut sa = a.socket(&ana).await;
    let mut sb = b.socket(&bo).await;
    let m = sa
        .send_text(room.id, "react on the other node")
        .await
        .unwrap();
    sb.wait_for(SOON, "message", message_with(m.id))
        .await
        .unwrap();

    sb.request(ClientFrame::ReactionAdd {
        message_id: m.id,
        emoji: "🚀".into(),
    })
    .await
    .unwrap();
    let added = sa
        .wait_for(SOON, "reaction.added from node b", |f| match f {
            ServerFrame::ReactionAdded {
                message_id,
                emoji,
                user_id,
                ..
            } if *message_id == m.id => Some((emoji.clone(), *user_id)),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(added, ("🚀".to_owned(), bo.id));
    bo.api.react(m.id, "🚀", false).await.unwrap();
    let removed = sa
        .wait_for(SOON, "reaction.removed from node b", |f| match f {
            ServerFrame::ReactionRemoved { user_id, .. } => Some(*user_id),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(removed, bo.id);

    // Pins cross too.
    ana.api.pin(room.id, m.id, true).await.unwrap();
    let pinned = sb
        .wait_for(SOON, "pin.added from node a", |f| match f {
            ServerFrame::PinAdded {
                message_id,
                user_id,
                ..
            } => Some((*message_id, *user_id)),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(pinned, (m.id, ana.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_connection_loses_nothing() {
    let redis = RedisServer::start().await;
    let prefix = redis_prefix();
    let url = redis.url.clone();
    let before = redis.client_ids().await;
    let a = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .tweak(move |c| c.redis_url = Some(confab::config::RedisUrl(url)))
        .start()
        .await;
    let a_clients: Vec<i64> = redis
        .client_ids()
        .await
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    let url = redis.url.clone();
    let b = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .sharing(&a)
        .tweak(move |c| c.redis_url = Some(confab::config::RedisUrl(url)))
        .start()
        .await;
    let ana = a.user("ana").await;
    let bo = b.user("bo").await;
    let room = a.room_with(&ana, &[&bo]).await;
    let mut sa = a.socket(&ana).await;
    let mut sb = b.socket(&bo).await;
    let warm = sb.send_text(room.id, "warm up").await.unwrap();
    sa.wait_for(SOON, "warm up", message_with(warm.id))
        .await
        .unwrap();

    redis.kill(&a_clients).await;
    let mut sent = Vec::new();
    for i in 0..15 {
        sent.push(
            sb.send_text(room.id, &format!("during outage {i}"))
                .await
                .unwrap()
                .seq
                .0,
        );
    }
    // Node a reconnects and catches up by itself; the client's sync covers anything else.
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let m = sa
            .wait_for(
                Duration::from_secs(15),
                "messages after reconnect",
                new_message,
            )
            .await
            .unwrap_or_else(|e| panic!("after {got:?}: {e}"));
        got.push(m.seq.0);
    }
    assert_eq!(got, sent, "in order, nothing lost");
    let ack = sa
        .request(ClientFrame::Sync {
            room_id: room.id,
            after_seq: Seq(1),
        })
        .await
        .unwrap();
    assert_eq!(ack["last_seq"], 16);
    let after = sb.send_text(room.id, "after").await.unwrap();
    sa.wait_for(SOON, "live again", message_with(after.id))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_node_serves_its_own_and_says_it_is_not_ready() {
    let redis = RedisServer::start().await;
    let proxy = Proxy::start(format!("127.0.0.1:{}", redis.port).parse().unwrap()).await;
    let url = format!("redis://127.0.0.1:{}", proxy.port);
    let prefix = redis_prefix();
    let a = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .tweak(move |c| c.redis_url = Some(confab::config::RedisUrl(url)))
        .start()
        .await;
    let ana = a.user("ana").await;
    let bo = a.user("bo").await;
    let room = a.room_with(&ana, &[&bo]).await;
    let mut sa = a.socket(&ana).await;
    let mut sb = a.socket(&bo).await;
    let ready = |app: &TestApp| {
        let api = app.api.clone();
        async move {
            api.call(reqwest::Method::GET, "/readyz", None)
                .await
                .unwrap()
        }
    };
    assert_eq!(ready(&a).await.0, 200);
    // Both sessions hear the room before the outage: the room's first join subscribes on Redis,
    // and a cut in the middle of that subscription is a different case (the join waits for its
    // timeout) from the one tested here, a node whose sessions are up when Redis goes.
    let before = sa.send_text(room.id, "before the cut").await.unwrap();
    assert_eq!(
        sb.wait_for(SOON, "message before the cut", new_message)
            .await
            .unwrap()
            .id,
        before.id
    );
    proxy.cut();
    let mut status = ready(&a).await;
    for _ in 0..100 {
        if status.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = ready(&a).await;
    }
    assert_eq!(status.0, 503, "{}", status.1);
    assert_eq!(status.1["bus"], "down");
    let m = sa
        .send_text(room.id, "local delivery goes on")
        .await
        .unwrap();
    assert_eq!(
        sb.wait_for(SOON, "local message", new_message)
            .await
            .unwrap()
            .id,
        m.id
    );
    proxy.restore();
    let mut status = ready(&a).await;
    for _ in 0..100 {
        if status.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = ready(&a).await;
    }
    assert_eq!(status.0, 200, "{}", status.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_of_a_node_that_dies_silently_go_offline() {
    let prefix = redis_prefix();
    let a = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .tweak(|c| c.presence_ttl_secs = 3)
        .start()
        .await;
    // Node b runs on its own runtime, so it can die without running any cleanup.
    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let setup = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .sharing(&a)
        .tweak(|c| c.presence_ttl_secs = 3);
    let b = doomed.spawn(setup.start()).await.unwrap();
    let ana = a.user("ana").await;
    let bo = b.user("bo").await;
    let _room = a.room_with(&ana, &[&bo]).await;
    let mut sa = a.socket(&ana).await;
    let b_addr = b.addr;
    let bo_token = bo.tokens.access_token.clone();
    let _sb = doomed
        .spawn(async move {
            confab_testkit::Socket::connect(&format!("ws://{b_addr}/api/v1/ws"), &bo_token, None)
                .await
                .unwrap()
        })
        .await
        .unwrap();
    let status_of_bo = |f: &ServerFrame| confab_testkit::presence_of(f, bo.id);
    assert_eq!(
        sa.wait_for(SOON, "bo online", status_of_bo)
            .await
            .unwrap()
            .0,
        PresenceStatus::Online
    );
    std::mem::forget(b);
    doomed.shutdown_background();
    let started = tokio::time::Instant::now();
    // (A duplicate "online" may come first: ana's presence snapshot raced bo's arrival.)
    let gone = sa
        .wait_for(Duration::from_secs(15), "bo offline", |f| {
            status_of_bo(f).filter(|(s, _)| *s == PresenceStatus::Offline)
        })
        .await
        .unwrap();
    assert!(gone.1, "offline comes with last_seen");
    // TTL 3 s plus a sweep every second: well within the 60 s the default settings promise.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_subscriptions_reach_across_nodes() {
    let prefix = redis_prefix();
    let limit = |c: &mut confab::config::Config| c.presence_room_limit = 2;
    let a = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .tweak(limit)
        .start()
        .await;
    let b = Setup::new(Backend::Postgres)
        .redis(&prefix)
        .sharing(&a)
        .tweak(limit)
        .start()
        .await;
    let ana = a.user("ana").await;
    let bo = b.user("bo").await;
    let cy = b.user("cy").await;
    // Three members over a limit of two: a large room.
    let room = a.room_with(&ana, &[&bo, &cy]).await;
    let mut sa = a.socket(&ana).await;
    let mut sb = b.socket(&bo).await;
    sa.request(ClientFrame::PresenceSubscribe {
        room_id: room.id,
        user_ids: vec![bo.id],
    })
    .await
    .unwrap();
    let status_of_bo = |f: &ServerFrame| confab_testkit::presence_of(f, bo.id).map(|(s, _)| s);
    assert_eq!(
        sa.wait_for(SOON, "bo online", status_of_bo).await.unwrap(),
        PresenceStatus::Online
    );
    // Bo, on node b, goes away: ana, on node a, hears it through her subscription.
    sb.request(ClientFrame::PresenceSet {
        status: PresenceStatus::Away,
    })
    .await
    .unwrap();
    sa.wait_for(SOON, "bo away", |f| {
        status_of_bo(f).filter(|s| *s == PresenceStatus::Away)
    })
    .await
    .unwrap();
    // Cy connects on node b; ana did not subscribe to her and hears nothing.
    let _sc = b.socket(&cy).await;
    let quiet = sa.drain(Duration::from_millis(500)).await;
    assert!(
        !quiet
            .iter()
            .any(|i| matches!(i, confab_testkit::Incoming::Frame(f)
            if confab_testkit::presence_of(f, cy.id).is_some())),
        "{quiet:?}"
    );
}
