//! Who a node is and whom it talks to: its libp2p key, its listening address, the
//! allowlist of consortium peers and every limit of the network layer.
//!
//! This module exists so that everything an operator writes in a node's configuration
//! (or `weft-node testnet` generates) is one plain value, checked before any socket is
//! opened, and so that the node's secret seed has exactly one owner that zeroizes it and
//! never prints it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use weft_types::NetworkId;
use zeroize::Zeroizing;

use crate::error::NetworkError;

/// The node's libp2p identity: a 32-byte Ed25519 secret seed.
///
/// The seed is zeroized on drop and never shown: `Debug` and `Display` print only the
/// [`PeerId`] it derives. It is distinct from any organisation or committee key: it
/// authenticates transport connections (noise) and gossip messages, nothing else.
#[derive(Clone)]
pub struct NodeKey {
    seed: Zeroizing<[u8; 32]>,
}

impl NodeKey {
    /// A key from its 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> NodeKey {
        NodeKey {
            seed: Zeroizing::new(seed),
        }
    }

    /// A key from the seed written as 64 hexadecimal digits (how configuration files
    /// and environment variables carry it).
    pub fn from_hex(hex_seed: &str) -> Result<NodeKey, NetworkError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_seed.trim(), seed.as_mut_slice())
            .map_err(|_| NetworkError::InvalidKey("the seed must be 64 hex digits".into()))?;
        Ok(NodeKey { seed })
    }

    /// A fresh random key (the operating system's generator, through libp2p).
    pub fn generate() -> NodeKey {
        let secret = libp2p::identity::ed25519::SecretKey::generate();
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(secret.as_ref());
        NodeKey { seed }
    }

    /// The seed as 64 hexadecimal digits, for writing a new node's key file. The
    /// returned string is zeroized on drop.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.seed.as_slice()))
    }

    /// The libp2p keypair of this seed.
    pub fn keypair(&self) -> Keypair {
        // `ed25519_from_bytes` zeroizes the buffer it is given: hand it a copy that is
        // itself zeroized on drop. Every 32-byte string is a valid Ed25519 seed, so the
        // error branch cannot be taken; it is mapped rather than unwrapped all the same.
        let mut copy = Zeroizing::new(*self.seed);
        match Keypair::ed25519_from_bytes(copy.as_mut_slice()) {
            Ok(keypair) => keypair,
            Err(_) => Keypair::generate_ed25519(),
        }
    }

    /// The [`PeerId`] this seed identifies.
    pub fn peer_id(&self) -> PeerId {
        self.keypair().public().to_peer_id()
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field("peer_id", &self.peer_id())
            .finish_non_exhaustive()
    }
}

/// The [`PeerId`] of a 32-byte Ed25519 seed (what other nodes pin in their allowlists).
pub fn peer_id_from_seed(seed: [u8; 32]) -> PeerId {
    NodeKey::from_seed(seed).peer_id()
}

/// The address other nodes put in their allowlist to reach this one:
/// `<listen address>/p2p/<peer id>`, for example
/// `/ip4/10.0.0.5/tcp/4100/p2p/12D3KooW…`.
pub fn node_address(listen: &Multiaddr, peer_id: PeerId) -> Multiaddr {
    PeerEntry::new(peer_id, Some(listen.clone())).to_multiaddr()
}

/// One allowlisted peer: its pinned identity and, when this node should dial it, its
/// address.
///
/// A peer without an address is accepted when it dials in but never dialled: a field
/// office behind NAT, or a node whose address is not known in advance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    /// The peer's libp2p identity; a connection whose noise handshake proves another
    /// key is refused.
    pub peer_id: PeerId,
    /// Where to dial it (without the `/p2p/` suffix), if this node dials it.
    pub addr: Option<Multiaddr>,
}

impl PeerEntry {
    /// An entry; a trailing `/p2p/<id>` on `addr` is removed.
    pub fn new(peer_id: PeerId, addr: Option<Multiaddr>) -> PeerEntry {
        let addr = addr.map(|mut a| {
            if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
                a.pop();
            }
            a
        });
        PeerEntry { peer_id, addr }
    }

    /// `<addr>/p2p/<peer id>`, or `/p2p/<peer id>` alone for an entry without address.
    pub fn to_multiaddr(&self) -> Multiaddr {
        let base = self.addr.clone().unwrap_or_else(Multiaddr::empty);
        base.with(Protocol::P2p(self.peer_id))
    }
}

impl fmt::Display for PeerEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_multiaddr())
    }
}

impl FromStr for PeerEntry {
    type Err = NetworkError;

    /// Parses `<multiaddr>/p2p/<peer id>` or `/p2p/<peer id>` (accept only, never dial).
    fn from_str(s: &str) -> Result<PeerEntry, NetworkError> {
        let mut addr: Multiaddr = s
            .trim()
            .parse()
            .map_err(|e| NetworkError::InvalidPeer(format!("{s}: {e}")))?;
        let peer_id = match addr.pop() {
            Some(Protocol::P2p(peer_id)) => peer_id,
            _ => {
                return Err(NetworkError::InvalidPeer(format!(
                    "{s}: must end in /p2p/<peer id>"
                )))
            }
        };
        let addr = if addr.is_empty() { None } else { Some(addr) };
        Ok(PeerEntry { peer_id, addr })
    }
}

/// Everything [`crate::Network::start`] needs. Build one with [`NetworkConfig::new`] and
/// adjust the public fields; the defaults suit a consortium of a few dozen nodes.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Where to listen, e.g. `/ip4/0.0.0.0/tcp/4100` (port 0 picks a free port).
    pub listen: Multiaddr,
    /// This node's identity (secret; not printed by `Debug`).
    pub key: NodeKey,
    /// The only peers this node connects to or accepts connections from.
    pub allowlist: Vec<PeerEntry>,
    /// The network; it names the gossip topics, and blocks of another network are
    /// refused.
    pub network_id: NetworkId,
    /// How long a misbehaving peer stays banned (default 10 minutes).
    pub ban_duration: Duration,
    /// Blocks a peer may gossip that the node reports as invalid before it is banned
    /// (default 3). Undecodable or oversize data bans at once.
    pub max_invalid_blocks: u32,
    /// How often this node announces its milestone range (default 5 s).
    pub heartbeat_interval: Duration,
    /// How long an outbound sync request may take before it fails (default 10 s).
    pub request_timeout: Duration,
    /// Capacity of the event channel returned by `start` (default 4 096). When it is
    /// full, further gossip blocks are dropped (reported to gossipsub as `Ignore`) and
    /// counted, so a slow consumer never stalls the network.
    pub event_capacity: usize,
    /// Most outbound sync requests awaiting a response at once (default 256); more
    /// fail with [`NetworkError::TooManyRequests`].
    pub max_pending_requests: usize,
    /// Most inbound sync requests being answered from the [`crate::SyncSource`] at
    /// once (default 32); more are answered `Busy`.
    pub max_inbound_requests: usize,
    /// First redial delay after an allowlisted peer drops or a dial fails (default
    /// 500 ms); it doubles on each failure up to `redial_max`.
    pub redial_min: Duration,
    /// Longest redial delay (default 30 s).
    pub redial_max: Duration,
    /// A connection that no protocol keeps open (gossipsub keeps its mesh peers'
    /// connections open) is closed after this long (default 1 hour): consortium
    /// connections are meant to last; dead ones are found by ping (15 s interval, 20 s
    /// timeout). A closed connection is redialled like any other drop.
    pub idle_timeout: Duration,
}

impl NetworkConfig {
    /// A configuration with the default limits and an empty allowlist.
    pub fn new(listen: Multiaddr, key: NodeKey, network_id: NetworkId) -> NetworkConfig {
        NetworkConfig {
            listen,
            key,
            allowlist: Vec::new(),
            network_id,
            ban_duration: Duration::from_secs(600),
            max_invalid_blocks: 3,
            heartbeat_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            event_capacity: 4096,
            max_pending_requests: 256,
            max_inbound_requests: 32,
            redial_min: Duration::from_millis(500),
            redial_max: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(3600),
        }
    }

    /// Checks the values that would make the network misbehave.
    pub fn validate(&self) -> Result<(), NetworkError> {
        let bad = |what: &str| Err(NetworkError::InvalidConfig(what.to_string()));
        if self.event_capacity == 0 {
            return bad("event_capacity must be at least 1");
        }
        if self.max_pending_requests == 0 || self.max_inbound_requests == 0 {
            return bad("max_pending_requests and max_inbound_requests must be at least 1");
        }
        if self.max_invalid_blocks == 0 {
            return bad("max_invalid_blocks must be at least 1");
        }
        if self.heartbeat_interval.is_zero() || self.request_timeout.is_zero() {
            return bad("heartbeat_interval and request_timeout must be positive");
        }
        if self.redial_min.is_zero() || self.redial_max < self.redial_min {
            return bad("redial_min must be positive and at most redial_max");
        }
        if self.allowlist.len() > crate::MAX_PEERS {
            return bad("the allowlist holds at most MAX_PEERS peers");
        }
        let me = self.key.peer_id();
        for (i, entry) in self.allowlist.iter().enumerate() {
            if entry.peer_id == me {
                return bad("the allowlist must not contain this node itself");
            }
            if self.allowlist[..i]
                .iter()
                .any(|e| e.peer_id == entry.peer_id)
            {
                return Err(NetworkError::InvalidConfig(format!(
                    "peer {} is listed twice",
                    entry.peer_id
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_debug_hides_the_seed() {
        let key = NodeKey::from_seed([7; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.peer_id().to_string()));
        assert!(!shown.contains("0707"));
        assert_eq!(
            NodeKey::from_hex(&key.to_hex()).map(|k| k.peer_id()).ok(),
            Some(key.peer_id())
        );
        let config = NetworkConfig::new(Multiaddr::empty(), key, NetworkId(1));
        assert!(!format!("{config:?}").contains("0707"));
    }

    #[test]
    fn peer_entries_round_trip() {
        let id = peer_id_from_seed([1; 32]);
        let text = format!("/ip4/127.0.0.1/tcp/4100/p2p/{id}");
        let entry: PeerEntry = text.parse().expect("parses");
        assert_eq!(entry.peer_id, id);
        assert_eq!(entry.to_string(), text);
        let accept_only: PeerEntry = format!("/p2p/{id}").parse().expect("parses");
        assert_eq!(accept_only.addr, None);
        assert!("/ip4/127.0.0.1/tcp/4100".parse::<PeerEntry>().is_err());
    }
}
