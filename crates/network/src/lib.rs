//! Weft's peer-to-peer layer: a consortium of nodes that know each other.
//!
//! Each node has a libp2p identity ([`NodeKey`]) and an allowlist of the peers it
//! talks to, each pinned by its [`libp2p::PeerId`]; connections run over TCP with noise
//! and yamux, and anyone else is refused. Blocks spread by gossipsub on one topic per
//! network, with the block id as the message id, and are forwarded only after the node
//! has validated them ([`NetworkHandle::report`]). Every node announces the milestones
//! it holds (heartbeats), and missing blocks and milestones are fetched from peers over
//! the `/weft/sync/1` request/response protocol, answered from the node's storage
//! through [`SyncSource`]. Validators of a committee exchange their consensus messages,
//! opaque to this crate, on the `/weft/committee/1` request/response protocol
//! ([`NetworkHandle::send_committee`], [`NetworkEvent::Committee`]). A peer that sends
//! undecodable or oversize data, or keeps sending blocks the node rejects, is
//! disconnected and banned for a while. Every queue, map and cache is bounded; the
//! bounds are stated where each is defined.
//!
//! `specs/network.md` is the normative description of the wire formats.
//!
//! ```no_run
//! # async fn demo(source: std::sync::Arc<dyn weft_network::SyncSource>) -> Result<(), weft_network::NetworkError> {
//! use weft_network::{Network, NetworkConfig, NetworkEvent, NodeKey, Validation};
//! let config = NetworkConfig::new(
//!     "/ip4/0.0.0.0/tcp/4100".parse().map_err(|e| weft_network::NetworkError::InvalidConfig(format!("{e}")))?,
//!     NodeKey::generate(),
//!     weft_types::NetworkId::from_name("weft-dev"),
//! );
//! let (handle, mut events) = Network::start(config, source).await?;
//! while let Some(event) = events.recv().await {
//!     if let NetworkEvent::Block { from, id, bytes, .. } = event {
//!         // … verify `bytes`, attach the block …
//!         handle.report(from, id, Validation::Accept).await?;
//!     }
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod peers;
pub mod protocol;
pub mod service;
pub mod source;

pub use config::{node_address, peer_id_from_seed, NetworkConfig, NodeKey, PeerEntry};
pub use error::NetworkError;
pub use libp2p::{Multiaddr, PeerId};
pub use peers::PeerStatus;
pub use protocol::{MilestoneRange, MAX_COMMITTEE_BYTES};
pub use service::{
    Network, NetworkEvent, NetworkHandle, Published, Validation, MAX_CONFIRMED_PER_MILESTONE,
    MAX_PENDING_COMMITTEE,
};
pub use source::{MilestoneData, SyncSource};

/// Most peers an allowlist may hold (the peer table and connection limits are sized
/// from the allowlist, never from traffic).
pub const MAX_PEERS: usize = 256;
