//! Three participants publish distinct streams; each hears exactly the other two, in order.

use std::collections::HashMap;

use crate::support::*;
use uuid::Uuid;

const PACKETS_PER_STREAM: usize = 100;

#[tokio::test]
async fn each_participant_receives_exactly_the_other_two_streams_in_order() {
    let mut t = spawn_sfu(50).await;
    let room = Uuid::new_v4();
    let mut ps = full_room(&mut t, room, 3).await;
    for p in ps.iter() {
        p.client.set_level(30).await;
    }
    let users: Vec<Uuid> = ps.iter().map(|p| p.user).collect();

    for p in ps.iter_mut() {
        p.client.clear_received();
        // stream id -> (ssrc, last seq, last counter, count)
        let mut seen: HashMap<String, (u32, u16, u32, usize)> = HashMap::new();
        while seen.len() < 2 || seen.values().any(|s| s.3 < PACKETS_PER_STREAM) {
            let pkt = p.client.recv(WAIT).await.expect("packets keep flowing");
            let sender = pkt.sender().expect("payload names its sender");
            assert_ne!(
                sender, p.user,
                "a participant never receives its own stream"
            );
            assert!(users.contains(&sender));
            let stream = pkt
                .stream_id
                .clone()
                .expect("every SSRC is announced in the offer");
            assert_eq!(
                stream,
                sender.to_string(),
                "the msid stream id names the publisher"
            );
            let counter = pkt.counter().unwrap();
            match seen.get_mut(&stream) {
                None => {
                    seen.insert(stream, (pkt.ssrc, pkt.seq, counter, 1));
                }
                Some((ssrc, seq, last_counter, count)) => {
                    assert_eq!(*ssrc, pkt.ssrc, "one SSRC per outgoing stream");
                    assert_eq!(
                        pkt.seq,
                        seq.wrapping_add(1),
                        "sequence numbers are consecutive"
                    );
                    assert_eq!(
                        counter,
                        last_counter.wrapping_add(1),
                        "payloads arrive in order, none lost"
                    );
                    *seq = pkt.seq;
                    *last_counter = counter;
                    *count += 1;
                }
            }
        }
        assert_eq!(seen.len(), 2, "{} hears exactly two streams", p.user);
    }

    // The counters saw the traffic, both ways.
    for p in &ps {
        let s = participant_stats(&t.sfu, room, p.user)
            .await
            .expect("stats of a participant");
        assert!(s.packets_in >= PACKETS_PER_STREAM as u64, "{s:?}");
        assert!(s.packets_out >= 2 * PACKETS_PER_STREAM as u64, "{s:?}");
        assert!(s.bytes_in > 0 && s.bytes_out > 0);
        assert!(
            s.lost_in <= 0 && s.lost_out <= 0,
            "loopback loses nothing: {s:?}"
        );
        // Jitter comes from RTCP: ours about their microphone, theirs about our streams.
        assert!(s.jitter_in > 0.0 && s.jitter_in < 0.1, "{s:?}");
        assert!(
            s.jitter_out > 0.0 && s.jitter_out < 0.1,
            "receiver reports arrived: {s:?}"
        );
    }
    let totals = t.sfu.stats();
    assert_eq!(totals.live_peer_connections, 3);
    assert_eq!(totals.participants, 3);
    assert_eq!(totals.rooms, 1);
}
