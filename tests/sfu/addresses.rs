//! A media socket bound to every address (`0.0.0.0`, as in a container) on a host with
//! several: clients write to the announced address, which is not the one the kernel would
//! pick as the source of a reply to them. Replies must still come from the announced address,
//! or the clients' ICE drops every answer as coming from the wrong place (browsers and aiortc do;
//! the test kit's client is lenient, so the test checks the source of every datagram it got).

use std::net::IpAddr;

use confab::sfu::SfuConfig;
use uuid::Uuid;

use crate::support::*;

#[tokio::test]
async fn a_socket_bound_to_every_address_answers_from_the_one_the_peer_used() {
    // Loopback answers for all of 127.0.0.0/8; the test clients sit on 127.0.0.1, so a reply
    // whose source the kernel chose would come from 127.0.0.1, not from 127.0.0.2.
    let announced = IpAddr::from([127, 0, 0, 2]);
    let mut t = spawn_sfu_with(SfuConfig {
        bind_ip: IpAddr::from([0, 0, 0, 0]),
        udp_port: 0,
        public_ip: Some(announced),
        max_participants: 10,
        rejoin_grace: std::time::Duration::ZERO,
        max_screen_shares: 2,
    })
    .await;
    assert!(t.sfu.local_addr().ip().is_unspecified());
    let room = Uuid::new_v4();
    // Connecting needs ICE to accept our binding responses; hearing each other needs SRTP
    // both ways through the forwarded path.
    let mut ps = full_room(&mut t, room, 2).await;
    for p in ps.iter() {
        p.client.set_level(30).await;
    }
    let (a, b) = (ps[0].user, ps[1].user);
    for (p, other) in ps.iter_mut().zip([b, a]) {
        p.client.clear_received();
        let pkt = p.client.recv(WAIT).await.expect("media flows");
        assert_eq!(pkt.sender(), Some(other));
    }
    let port = t.sfu.local_addr().port();
    for p in &ps {
        assert_eq!(
            p.client.sources(),
            [std::net::SocketAddr::new(announced, port)].into(),
            "every datagram comes from the address the client wrote to"
        );
    }
}
