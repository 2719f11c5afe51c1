//! The one error type of the network layer.
//!
//! It exists so that callers (the node) can tell a configuration mistake from a peer
//! that is unreachable, banned or misbehaving, and a network that has shut down,
//! without matching on libp2p's many error types.

use libp2p::PeerId;

/// Everything that can go wrong in `weft-network`.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The configuration is inconsistent.
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
    /// A node key could not be read.
    #[error("invalid node key: {0}")]
    InvalidKey(String),
    /// An allowlist entry could not be read.
    #[error("invalid peer entry: {0}")]
    InvalidPeer(String),
    /// The transport could not be built or could not listen.
    #[error("transport: {0}")]
    Transport(String),
    /// Bytes handed to `publish_block` are not one canonical block of this network.
    #[error("not a block of this network: {0}")]
    InvalidBlock(String),
    /// Gossipsub refused to publish.
    #[error("publish failed: {0}")]
    Publish(String),
    /// The peer is not on the allowlist.
    #[error("peer {0} is not on the allowlist")]
    UnknownPeer(PeerId),
    /// The peer is banned for misbehaviour.
    #[error("peer {0} is banned")]
    Banned(PeerId),
    /// Too many outbound requests are awaiting responses.
    #[error("too many pending sync requests")]
    TooManyRequests,
    /// A request asked for more than the protocol allows.
    #[error("request too large: {0}")]
    RequestTooLarge(String),
    /// The request failed: the peer could not be reached, timed out, closed the
    /// connection or does not speak the protocol.
    #[error("request to {peer} failed: {reason}")]
    RequestFailed {
        /// The peer asked.
        peer: PeerId,
        /// What happened.
        reason: String,
    },
    /// The peer answered with data that does not match the request (it is banned).
    #[error("peer {peer} answered with invalid data: {reason}")]
    InvalidResponse {
        /// The peer.
        peer: PeerId,
        /// What was wrong.
        reason: String,
    },
    /// The peer is overloaded and did not serve the request; try another.
    #[error("peer {0} is busy")]
    Busy(PeerId),
    /// The network task has stopped.
    #[error("the network has shut down")]
    Shutdown,
}
