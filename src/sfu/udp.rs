//! The media socket: batched reads that say which local address each datagram was sent to,
//! and sends that leave from that address.
//!
//! Bound to a concrete address, the socket's replies come from it. Bound to the unspecified
//! address (`0.0.0.0` or `::`, as in a container), the kernel would pick the source of each
//! reply by its routing table, which on a host with several addresses need not be the one the
//! peer wrote to; ICE then rejects our answers ("source address mismatch"). So the socket
//! reads each datagram's destination (`IP_PKTINFO` / `IPV6_RECVPKTINFO`) and remembers it per
//! peer address, and every datagram to that peer names it as its source. `quinn-udp` does
//! the control messages (and reads with `recvmmsg`, several datagrams per system call).
//!
//! Only addresses the core routes to a live participant are remembered, so a flood of
//! datagrams from forged sources adds nothing; [`MediaSocket::prune`] drops the addresses
//! of participants who left.

use std::collections::HashMap;
use std::io::{self, ErrorKind, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::debug;

/// Buffers handed to one `recvmmsg`.
const RECV_BUFFERS: usize = 8;
/// Size of each receive buffer. With UDP GRO the kernel may coalesce a burst of equal-sized
/// datagrams from one sender into one buffer (at most 64 KiB); each is split off again by
/// its stride.
const RECV_BUFFER_LEN: usize = 64 * 1024;
/// How often addresses of departed participants are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(5);

/// The SFU's one UDP socket; see the module docs.
pub(super) struct MediaSocket {
    socket: UdpSocket,
    state: UdpSocketState,
    /// Bound to the unspecified address: replies must name their source.
    wildcard: bool,
    /// Peer address → the local address it last wrote to (wildcard binds only).
    reply_from: HashMap<SocketAddr, IpAddr>,
    /// Destinations seen in the last batch that are not in `reply_from` yet; kept only if
    /// the core routes them (see [`MediaSocket::confirm`]).
    unconfirmed: Vec<(SocketAddr, IpAddr)>,
    bufs: [Box<[u8]>; RECV_BUFFERS],
    metas: Vec<RecvMeta>,
    pruned_at: Instant,
}

impl MediaSocket {
    pub(super) fn new(socket: UdpSocket) -> io::Result<Self> {
        let state = UdpSocketState::new((&socket).into())?;
        let wildcard = socket.local_addr()?.ip().is_unspecified();
        Ok(Self {
            socket,
            state,
            wildcard,
            reply_from: HashMap::new(),
            unconfirmed: Vec::new(),
            bufs: std::array::from_fn(|_| vec![0u8; RECV_BUFFER_LEN].into_boxed_slice()),
            metas: vec![RecvMeta::default(); RECV_BUFFERS],
            pruned_at: Instant::now(),
        })
    }

    /// Resolves when a datagram may be waiting.
    pub(super) async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Reads one batch of waiting datagrams without sleeping and hands each to `each` as
    /// (source, bytes). Returns how many were read; 0 means none was waiting (or an error,
    /// such as an earlier send's ICMP "port unreachable", which concerns one client and is
    /// handled by that client's timeouts).
    pub(super) fn try_recv(&mut self, mut each: impl FnMut(SocketAddr, &[u8])) -> usize {
        let Self {
            socket,
            state,
            bufs,
            metas,
            ..
        } = self;
        let mut slices = bufs.each_mut().map(|b| IoSliceMut::new(b));
        let n = match socket.try_io(Interest::READABLE, || {
            state.recv((&*socket).into(), &mut slices, metas)
        }) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return 0,
            Err(e) => {
                debug!("udp recv: {e}");
                return 0;
            }
        };
        let mut count = 0;
        for (meta, buf) in self.metas[..n].iter().zip(&slices) {
            let stride = meta.stride.max(1);
            for datagram in buf[..meta.len].chunks(stride) {
                each(meta.addr, datagram);
                count += 1;
            }
            if self.wildcard
                && let Some(local) = meta.dst_ip
                && self.reply_from.get(&meta.addr) != Some(&local)
            {
                self.unconfirmed.push((meta.addr, local));
            }
        }
        count
    }

    /// Remembers the local address of each new peer address of the last batch that `routes`
    /// (the core's routing table) says belongs to a live participant. Called after the batch
    /// was handled and before its replies are sent.
    pub(super) fn confirm(&mut self, routes: impl Fn(SocketAddr) -> bool) {
        for (peer, local) in self.unconfirmed.drain(..) {
            if routes(peer) {
                self.reply_from.insert(peer, local);
            }
        }
    }

    /// Forgets, at most every few seconds, the addresses `routes` no longer routes.
    pub(super) fn prune(&mut self, now: Instant, routes: impl Fn(SocketAddr) -> bool) {
        if now.duration_since(self.pruned_at) < PRUNE_EVERY {
            return;
        }
        self.pruned_at = now;
        self.reply_from.retain(|peer, _| routes(*peer));
    }

    /// Sends one datagram, from the local address `to` last wrote to. A full socket buffer is
    /// waited out (rare: the kernel drains it at line rate); any other error drops the
    /// datagram, as the network would.
    pub(super) async fn send(&self, data: &[u8], to: SocketAddr) {
        let transmit = Transmit {
            destination: to,
            ecn: None,
            contents: data,
            segment_size: None,
            src_ip: self.source_for(to),
        };
        loop {
            match self.socket.try_io(Interest::WRITABLE, || {
                self.state.try_send((&self.socket).into(), &transmit)
            }) {
                Ok(()) => return,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if let Err(e) = self.socket.writable().await {
                        debug!("udp send to {to}: {e}");
                        return;
                    }
                }
                Err(e) => {
                    debug!("udp send to {to}: {e}");
                    return;
                }
            }
        }
    }

    fn source_for(&self, to: SocketAddr) -> Option<IpAddr> {
        if self.wildcard {
            self.reply_from.get(&to).copied()
        } else {
            None
        }
    }

    /// Peer addresses with a remembered local address, for leak tests.
    #[cfg(test)]
    pub(super) fn remembered(&self) -> usize {
        self.reply_from.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket bound to `0.0.0.0` and a client on 127.0.0.1 that writes to 127.0.0.3.
    async fn pair() -> (MediaSocket, std::net::UdpSocket, SocketAddr) {
        let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let media = MediaSocket::new(socket).unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (media, client, SocketAddr::from(([127, 0, 0, 3], port)))
    }

    /// Waits for the datagram the client sent and returns its source.
    async fn receive(media: &mut MediaSocket) -> SocketAddr {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                media.readable().await.unwrap();
                let mut from = None;
                media.try_recv(|peer, data| {
                    assert_eq!(data, b"ping");
                    from = Some(peer);
                });
                if let Some(from) = from {
                    return from;
                }
            }
        })
        .await
        .expect("the datagram arrives")
    }

    fn reply_source(client: &std::net::UdpSocket) -> SocketAddr {
        let mut buf = [0u8; 16];
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"pong");
        from
    }

    #[tokio::test]
    async fn a_routed_peer_is_answered_from_the_address_it_wrote_to() {
        let (mut media, client, server) = pair().await;
        client.send_to(b"ping", server).unwrap();
        let peer = receive(&mut media).await;
        media.confirm(|_| true);
        media.send(b"pong", peer).await;
        assert_eq!(reply_source(&client), server);
        assert_eq!(media.remembered(), 1);

        // Once the core no longer routes the address, it is forgotten.
        media.prune(Instant::now() + PRUNE_EVERY, |_| false);
        assert_eq!(media.remembered(), 0);
    }

    #[tokio::test]
    async fn an_address_the_core_does_not_route_is_not_remembered() {
        let (mut media, client, server) = pair().await;
        client.send_to(b"ping", server).unwrap();
        let peer = receive(&mut media).await;
        media.confirm(|_| false);
        assert_eq!(media.remembered(), 0);
        // Without a remembered address the kernel picks the source: on loopback, 127.0.0.1,
        // which is what an ICE agent writing to 127.0.0.3 rejects.
        media.send(b"pong", peer).await;
        assert_eq!(reply_source(&client).ip(), IpAddr::from([127, 0, 0, 1]));
    }
}
