//! Finding the participant a datagram on the shared UDP socket belongs to.
//!
//! All participants share one socket, so every datagram must be attributed before its
//! PeerConnection can see it. Two keys do that:
//! - The ICE ufrag. Each PeerConnection gets a random local ufrag, and the client's STUN
//!   binding requests carry `USERNAME = <our ufrag>:<their ufrag>`. The first request from a
//!   new address is routed by that.
//! - The source address. Once a STUN request from an address named a participant, later
//!   datagrams from it (DTLS, SRTP, SRTCP, which carry no ufrag) go to the same participant.
//!
//! An address is learned from an unauthenticated STUN request, before the PeerConnection has
//! checked its MESSAGE-INTEGRITY, so a participant keeps at most [`MAX_ADDRS_PER_PEER`]
//! addresses: a forged request can at worst make its sender's packets reach a PeerConnection
//! that drops them. Removing a participant removes its ufrag and all its addresses, so the
//! maps hold exactly the live participants.

use std::collections::HashMap;
use std::net::SocketAddr;

use rtc::stun::attributes::ATTR_USERNAME;
use rtc::stun::message::{Message, is_stun_message};
use rtc::stun::textattrs::Username;

use super::types::PeerId;

/// Addresses remembered per participant: a client moving networks (ICE restart is not
/// supported yet) or probing several local addresses needs a few, never many.
pub(super) const MAX_ADDRS_PER_PEER: usize = 8;

/// ufrag and address tables; see the module docs.
#[derive(Debug, Default)]
pub(super) struct Demux {
    by_ufrag: HashMap<String, PeerId>,
    by_addr: HashMap<SocketAddr, PeerId>,
    addrs_of: HashMap<PeerId, Vec<SocketAddr>>,
}

impl Demux {
    /// Registers a participant's local ufrag.
    pub(super) fn insert_ufrag(&mut self, ufrag: String, peer: PeerId) {
        self.by_ufrag.insert(ufrag, peer);
    }

    /// The participant a datagram from `from` belongs to. Hot path: one hash lookup for
    /// established flows; a STUN parse (one small allocation) for the first request of a flow.
    pub(super) fn route(&mut self, from: SocketAddr, datagram: &[u8]) -> Option<PeerId> {
        if let Some(peer) = self.by_addr.get(&from) {
            return Some(*peer);
        }
        if !is_stun_message(datagram) {
            return None;
        }
        let peer = self.peer_of_stun(datagram)?;
        let addrs = self.addrs_of.entry(peer).or_default();
        if addrs.len() < MAX_ADDRS_PER_PEER {
            addrs.push(from);
            self.by_addr.insert(from, peer);
        }
        Some(peer)
    }

    fn peer_of_stun(&self, datagram: &[u8]) -> Option<PeerId> {
        let mut msg = Message::new();
        msg.unmarshal_binary(datagram).ok()?;
        let username = Username::get_from_as(&msg, ATTR_USERNAME).ok()?;
        let (local_ufrag, _remote) = username.text.split_once(':')?;
        self.by_ufrag.get(local_ufrag).copied()
    }

    /// Forgets everything about a participant.
    pub(super) fn remove(&mut self, peer: PeerId, ufrag: &str) {
        if self.by_ufrag.get(ufrag) == Some(&peer) {
            self.by_ufrag.remove(ufrag);
        }
        for addr in self.addrs_of.remove(&peer).unwrap_or_default() {
            if self.by_addr.get(&addr) == Some(&peer) {
                self.by_addr.remove(&addr);
            }
        }
    }

    /// Whether `addr` is a learned address of a live participant.
    pub(super) fn routes(&self, addr: SocketAddr) -> bool {
        self.by_addr.contains_key(&addr)
    }

    /// Entries held, for leak tests: (ufrags, addresses).
    pub(super) fn len(&self) -> (usize, usize) {
        (self.by_ufrag.len(), self.by_addr.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::stun::message::TransactionId;
    use rtc::stun::message::{BINDING_REQUEST, Setter};

    fn binding_request(username: &str) -> Vec<u8> {
        let mut msg = Message::new();
        let setters: Vec<Box<dyn Setter>> = vec![
            Box::new(BINDING_REQUEST),
            Box::new(TransactionId::new()),
            Box::new(Username::new(ATTR_USERNAME, username.to_owned())),
        ];
        msg.build(&setters).unwrap();
        msg.raw.clone()
    }

    #[test]
    fn stun_username_routes_a_new_address_then_the_address_routes_the_rest() {
        let mut d = Demux::default();
        d.insert_ufrag("abcd".into(), PeerId(7));
        let from: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        assert_eq!(d.route(from, b"\x16\xfe\xfd not stun"), None);
        assert_eq!(d.route(from, &binding_request("abcd:xyz")), Some(PeerId(7)));
        assert_eq!(d.route(from, b"\x80\x6f srtp"), Some(PeerId(7)));
    }

    #[test]
    fn unknown_ufrags_and_garbage_route_nowhere() {
        let mut d = Demux::default();
        d.insert_ufrag("abcd".into(), PeerId(7));
        let from: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        assert_eq!(d.route(from, &binding_request("nope:xyz")), None);
        assert_eq!(d.route(from, &binding_request("abcd")), None);
        assert_eq!(d.route(from, &[0u8; 3]), None);
        assert_eq!(d.len(), (1, 0));
    }

    #[test]
    fn removing_a_peer_forgets_its_ufrag_and_every_address() {
        let mut d = Demux::default();
        d.insert_ufrag("abcd".into(), PeerId(7));
        for port in 0..20u16 {
            let from = SocketAddr::from(([10, 0, 0, 1], 6000 + port));
            assert_eq!(d.route(from, &binding_request("abcd:x")), Some(PeerId(7)));
        }
        assert_eq!(d.len(), (1, MAX_ADDRS_PER_PEER));
        d.remove(PeerId(7), "abcd");
        assert_eq!(d.len(), (0, 0));
        assert!(d.addrs_of.is_empty());
    }
}
