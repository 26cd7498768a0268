//! Leaving frees everything: 300 join/leave cycles leave no PeerConnection, demux entry,
//! channel, file descriptor or memory behind. Asserts on counts, never on timing.

use std::time::Duration;

use crate::support::*;
use confab::sfu::Request;
use uuid::Uuid;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

const CYCLES: usize = 300;
const WARM_UP: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_join_leave_cycles_leave_nothing_behind() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut resident = join(&t.sfu, room, Uuid::new_v4()).await;
    resident.connected().await;
    let mut baseline = None;
    let started = std::time::Instant::now();

    for cycle in 0..CYCLES {
        let mut guest = join(&t.sfu, room, Uuid::new_v4()).await;
        guest.connected().await;
        // Media really flowed both ways through the guest's PeerConnection.
        recv_from(&mut resident.client, guest.user).await;
        recv_from(&mut guest.client, resident.user).await;
        assert_eq!(t.sfu.stats().live_peer_connections, 2);

        let user = guest.user;
        t.sfu.request(Request::Leave { room, user }).await.unwrap();
        assert_eq!(
            t.sfu.stats().live_peer_connections,
            1,
            "cycle {cycle}: the PeerConnection is gone when leave returns"
        );
        guest.client.close().await;
        let _ = guest.signaling.await;
        while t.events.try_recv().is_ok() {}
        resident.client.clear_received();

        if cycle + 1 == WARM_UP {
            baseline = Some((rss_kib(), open_fds()));
        }
    }
    let elapsed = started.elapsed();
    let (rss0, fds0) = baseline.unwrap();
    let (rss1, fds1) = (rss_kib(), open_fds());
    println!(
        "{CYCLES} cycles in {elapsed:?}; after {WARM_UP}: VmRSS {rss0} KiB, {fds0} fds; \
         after {CYCLES}: VmRSS {rss1} KiB, {fds1} fds"
    );
    assert!(fds1 <= fds0, "file descriptors leaked: {fds0} -> {fds1}");
    assert!(
        rss1 < rss0 + 8 * 1024,
        "memory grew by {} KiB over {} cycles",
        rss1.saturating_sub(rss0),
        CYCLES - WARM_UP
    );

    let inside = internals(&t.sfu, room, resident.user).await.unwrap();
    assert_eq!(inside.peers, 1);
    assert_eq!(inside.rooms, 1);
    assert_eq!(inside.ufrags, 1);
    assert_eq!(inside.signal_channels, 1);
    assert!(
        inside.addrs <= 2,
        "only the resident's address is remembered: {inside:?}"
    );
    assert_eq!(
        inside.m_lines,
        Some(2),
        "guests reused one m-line of the resident's connection"
    );

    let user = resident.user;
    t.sfu.request(Request::Leave { room, user }).await.unwrap();
    let stats = t.sfu.stats();
    assert_eq!(stats.live_peer_connections, 0);
    assert_eq!((stats.rooms, stats.participants), (0, 0));
    let inside = internals(&t.sfu, room, resident.user).await.unwrap();
    assert_eq!(
        (
            inside.rooms,
            inside.peers,
            inside.ufrags,
            inside.addrs,
            inside.signal_channels
        ),
        (0, 0, 0, 0, 0)
    );
    assert!(stats.packets_out >= 2 * CYCLES as u64);
    resident.client.close().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), resident.signaling).await;
}
