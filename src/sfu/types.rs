//! The small types several SFU files share: who a participant is ([`PeerId`]) and what a
//! datagram to send looks like ([`Transmit`]).
//!
//! They live here, below everything else in the SFU, so that the files that use them import
//! in one direction only: `engine` → `core` → `peer` / `demux` → `types`. Nothing here imports
//! another SFU file, and nothing here does any work.

use std::net::SocketAddr;

use bytes::BytesMut;

/// Identifies one join of one user (a re-join gets a new id), so that a late signal or
/// datagram for an earlier join can never reach its replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// A datagram to send from the shared socket: what a PeerConnection wrote, addressed to the
/// participant's address as ICE chose it.
#[derive(Debug)]
pub(super) struct Transmit {
    pub to: SocketAddr,
    pub data: BytesMut,
}
