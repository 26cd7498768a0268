//! Shared helpers: start an SFU on loopback port 0 and join real WebRTC clients to it.
#![allow(dead_code)]

use std::net::IpAddr;
use std::time::Duration;

use confab::sfu::{
    Internals, ParticipantState, ParticipantStats, Reply, Request, RoomEvent, Sfu, SfuConfig,
    SfuError, Signal,
};
use confab_testkit::peer::{ClientHandle, TestClient, TestClientError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long tests wait for anything before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running SFU and its room-event stream.
pub struct TestSfu {
    pub sfu: Sfu,
    pub events: mpsc::Receiver<RoomEvent>,
    pub cancel: CancellationToken,
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub async fn spawn_sfu(max_participants: usize) -> TestSfu {
    spawn_sfu_with(SfuConfig {
        bind_ip: IpAddr::from([127, 0, 0, 1]),
        udp_port: 0,
        public_ip: None,
        max_participants,
        rejoin_grace: Duration::ZERO,
        max_screen_shares: 2,
    })
    .await
}

pub async fn spawn_sfu_with(cfg: SfuConfig) -> TestSfu {
    init_tracing();
    let cancel = CancellationToken::new();
    let (sfu, events) = Sfu::start(cfg, cancel.clone()).await.expect("sfu starts");
    TestSfu {
        sfu,
        events,
        cancel,
    }
}

impl TestSfu {
    /// Waits for a room event matching `pred`, skipping others.
    pub async fn wait_event(&mut self, pred: impl Fn(&RoomEvent) -> bool) -> RoomEvent {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.events.recv().await {
                    Some(ev) if pred(&ev) => return ev,
                    Some(_) => continue,
                    None => panic!("event stream ended"),
                }
            }
        })
        .await
        .expect("timed out waiting for a room event")
    }

    /// Waits for a `State` of `room` with exactly `n` participants.
    pub async fn wait_state(&mut self, room: Uuid, n: usize) -> RoomEvent {
        self.wait_event(|ev| {
            matches!(ev, RoomEvent::State { room: r, participants } if *r == room && participants.len() == n)
        })
        .await
    }
}

/// A joined participant: the client plus the task that carries its signaling.
pub struct Participant {
    pub user: Uuid,
    pub room: Uuid,
    pub client: TestClient,
    /// The reason of `Signal::Closed`, once received.
    pub closed: watch::Receiver<Option<String>>,
    /// Ends by itself on `Signal::Closed` or when the SFU drops the signal channel.
    pub signaling: JoinHandle<()>,
}

/// Joins `user` to `room` with a fresh client and answers every offer it gets.
pub async fn join(sfu: &Sfu, room: Uuid, user: Uuid) -> Participant {
    let client = TestClient::start(user).await.expect("client starts");
    let rx = join_signals(sfu, room, user).await.expect("join succeeds");
    let (closed_tx, closed_rx) = watch::channel(None);
    let signaling = tokio::spawn(signaling_loop(
        sfu.clone(),
        room,
        user,
        client.handle(),
        rx,
        closed_tx,
    ));
    Participant {
        user,
        room,
        client,
        closed: closed_rx,
        signaling,
    }
}

async fn signaling_loop(
    sfu: Sfu,
    room: Uuid,
    user: Uuid,
    client: ClientHandle,
    mut rx: mpsc::Receiver<Signal>,
    closed: watch::Sender<Option<String>>,
) {
    while let Some(signal) = rx.recv().await {
        match signal {
            Signal::Offer { sdp, .. } => match client.accept_offer(sdp).await {
                Ok(sdp) => match sfu.request(Request::Answer { room, user, sdp }).await {
                    Ok(_) => {}
                    // The test made this participant leave while an offer was in flight.
                    Err(SfuError::NotInCall { .. } | SfuError::Closed) => return,
                    Err(e) => panic!("answer rejected: {e}"),
                },
                // The test closed the client while an offer was in flight.
                Err(TestClientError::Stopped) => return,
                Err(e) => panic!("client could not answer: {e}"),
            },
            Signal::Candidate { .. } => {}
            Signal::Closed { reason, .. } => {
                let _ = closed.send(Some(reason));
                return;
            }
        }
    }
}

impl Participant {
    /// Waits until the client's transport is up.
    pub async fn connected(&mut self) {
        assert!(
            self.client.wait_state(WAIT, |s| s.connected).await,
            "client {} did not connect",
            self.user
        );
    }

    /// Waits until the current offer sends exactly the streams of `users`.
    pub async fn sees_streams(&mut self, users: &[Uuid]) {
        let mut want: Vec<String> = users.iter().map(|u| u.to_string()).collect();
        want.sort();
        let ok = self
            .client
            .wait_state(WAIT, |s| {
                let mut got: Vec<String> =
                    s.remote_streams.iter().map(|(_, id)| id.clone()).collect();
                got.sort();
                got == want
            })
            .await;
        assert!(
            ok,
            "{} expected streams {:?}, state {:?}",
            self.user,
            want,
            self.client.state()
        );
    }
}

/// Asks for `user` to join `room` with no client behind it; the participant's signals.
pub async fn join_signals(
    sfu: &Sfu,
    room: Uuid,
    user: Uuid,
) -> Result<mpsc::Receiver<Signal>, SfuError> {
    match sfu.request(Request::Join { room, user }).await? {
        Reply::Joined(signals) => Ok(signals),
        other => panic!("a join answered {other:?}"),
    }
}

/// The call's participants in join order.
pub async fn participants(sfu: &Sfu, room: Uuid) -> Vec<ParticipantState> {
    match sfu.request(Request::Participants { room }).await {
        Ok(Reply::Participants(participants)) => participants,
        other => panic!("participants answered {other:?}"),
    }
}

/// One participant's figures.
pub async fn participant_stats(
    sfu: &Sfu,
    room: Uuid,
    user: Uuid,
) -> Result<ParticipantStats, SfuError> {
    match sfu.request(Request::Stats { room, user }).await? {
        Reply::Stats(stats) => Ok(stats),
        other => panic!("stats answered {other:?}"),
    }
}

/// The SFU's table sizes and `user`'s m-line count.
pub async fn internals(sfu: &Sfu, room: Uuid, user: Uuid) -> Result<Internals, SfuError> {
    match sfu.request(Request::Inspect { room, user }).await? {
        Reply::Internals(internals) => Ok(internals),
        other => panic!("inspect answered {other:?}"),
    }
}

/// Receives packets until one from `from` arrives (others are dropped), or panics after WAIT.
pub async fn recv_from(
    client: &mut TestClient,
    from: Uuid,
) -> confab_testkit::peer::ReceivedPacket {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let p = client
            .recv(left)
            .await
            .unwrap_or_else(|| panic!("{} received nothing from {from}", client.user));
        if p.sender() == Some(from) {
            return p;
        }
    }
}

/// Joins `n` fresh users to `room`, waits until everyone is connected and sees everyone else.
pub async fn full_room(t: &mut TestSfu, room: Uuid, n: usize) -> Vec<Participant> {
    let mut ps = Vec::new();
    for _ in 0..n {
        ps.push(join(&t.sfu, room, Uuid::new_v4()).await);
    }
    t.wait_state(room, n).await;
    let users: Vec<Uuid> = ps.iter().map(|p| p.user).collect();
    for p in ps.iter_mut() {
        p.connected().await;
        let others: Vec<Uuid> = users.iter().copied().filter(|u| *u != p.user).collect();
        p.sees_streams(&others).await;
    }
    ps
}
