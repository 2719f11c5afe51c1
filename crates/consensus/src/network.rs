//! AlephBFT's messages over any transport.
//!
//! The engine asks for a [`aleph_bft::Network`]: send a message to one member or to all,
//! and receive the next one. Weft carries these messages over its own libp2p transport,
//! which this crate does not know; so the adapter here only turns messages into bytes and
//! back, and meets the node through two channels: [`OutgoingMessage`]s it must deliver
//! and [`IncomingMessage`]s it received. Bytes from a peer are untrusted: anything too
//! large or undecodable is dropped and reported as a [`PeerReport`], never a panic.
//! Optionally, messages whose proposals name tips this member does not hold yet wait
//! until it does ([`TipAvailability`]), so a byzantine member cannot get unavailable
//! tips ordered.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aleph_bft::{NetworkData, Recipient};
use parity_scale_codec::{DecodeLimit, Encode};
use tokio::sync::mpsc;
use weft_types::BlockId;

use crate::keychain::{Blake2bHasher, Ed25519Signature, SignatureSet};
use crate::proposal::Proposal;

/// Version byte in front of every consensus message.
pub const MESSAGE_VERSION: u8 = 1;

/// Largest consensus message accepted from a peer, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Deepest nesting the SCALE decoder follows in a peer's message.
const MAX_DECODE_DEPTH: u32 = 64;

/// How many messages may wait for their tips at once (the oldest is dropped beyond).
pub const MAX_PARKED_MESSAGES: usize = 1_024;

/// How long a message may wait for its tips before it is dropped (AlephBFT asks again).
pub const MAX_PARKED_AGE: Duration = Duration::from_secs(30);

/// How often waiting messages are checked again.
const PARKED_RECHECK: Duration = Duration::from_millis(50);

/// The engine's message type for Weft's choice of data, hash and signatures.
pub type ConsensusMessage = NetworkData<Blake2bHasher, Proposal, Ed25519Signature, SignatureSet>;

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageRecipient {
    /// Every other member of the committee.
    Everyone,
    /// The member at this committee position.
    Member(usize),
}

/// A message the transport must deliver (best effort: AlephBFT resends what matters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Where it goes.
    pub recipient: MessageRecipient,
    /// `u8` version (1) || the SCALE encoding of the engine's message.
    pub bytes: Vec<u8>,
}

/// A message the transport received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    /// The committee position of the authenticated peer it came from (used for reports;
    /// the engine checks signatures inside the message itself).
    pub from: usize,
    /// The bytes as received.
    pub bytes: Vec<u8>,
}

/// Why a message from a peer was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Longer than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Empty, or a version this node does not speak.
    #[error("unknown message version {0:?}")]
    Version(Option<u8>),
    /// Not a message of the engine (or trailing bytes).
    #[error("undecodable message: {0}")]
    Undecodable(String),
    /// The message names a sender other than the peer it came from, or a member
    /// outside the committee.
    #[error("message claims member {claimed}, but came from member {from}")]
    WrongSender {
        /// The member index written in the message.
        claimed: u64,
        /// The authenticated peer's committee position.
        from: usize,
    },
    /// A unit coordinate names a creator outside the committee.
    #[error("message asks for a unit of member {0}, outside the committee")]
    UnknownCreator(u64),
}

/// A peer sent something that is not a consensus message; the node may strike it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerReport {
    /// The committee position of the peer.
    pub from: usize,
    /// What was wrong.
    pub error: MessageError,
}

/// Whether this member holds the whole past cone of some tips. The node answers from its
/// Tangle (solid blocks), and may start fetching what is missing when it answers `false`.
pub trait TipAvailability: Send + Sync + 'static {
    /// True when every tip is stored here and solid.
    fn all_solid(&self, tips: &[BlockId]) -> bool;
}

/// Encodes a message for the transport.
pub fn encode_message(message: &ConsensusMessage) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + message.size_hint());
    bytes.push(MESSAGE_VERSION);
    message.encode_to(&mut bytes);
    bytes
}

/// Decodes a message that the peer at committee position `from` sent, in a committee of
/// `committee_size`: version, size limit, bounded SCALE decoding of the whole buffer,
/// then the sender check below. Never panics.
///
/// AlephBFT's requests (for a unit by coordinate, for parents, for the newest unit, for
/// an alert, and reliable-broadcast messages) carry the requester's index unsigned: the
/// engine trusts the transport to have authenticated it, and indexes its tables with it
/// (an index outside the committee makes it panic). So such a message is accepted only
/// when the index it names is `from`, and a requested coordinate only when its creator
/// is a member. Everything else the engine checks by signature.
pub fn decode_message(
    bytes: &[u8],
    from: usize,
    committee_size: usize,
) -> Result<ConsensusMessage, MessageError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge(bytes.len()));
    }
    match bytes.first() {
        Some(&MESSAGE_VERSION) => {}
        other => return Err(MessageError::Version(other.copied())),
    }
    let message = ConsensusMessage::decode_all_with_depth_limit(MAX_DECODE_DEPTH, &mut &bytes[1..])
        .map_err(|e| MessageError::Undecodable(e.to_string()))?;
    check_sender(&bytes[1..], from, committee_size)?;
    Ok(message)
}

/// The unsigned member indexes of a well-formed encoding (SCALE: enum variants are one
/// byte in declaration order, a member index is a `u64`). Layout, after the version:
/// `0` units: `1` CoordRequest(requester, round u16, creator) · `2` ParentsRequest
/// (requester, hash) · `4` NewestRequest(requester, salt); `1` alerts: `1` RmcMessage
/// (sender, …) · `2` AlertRequest(requester, hash). Other variants carry signed indexes.
fn check_sender(encoded: &[u8], from: usize, committee_size: usize) -> Result<(), MessageError> {
    let u64_at = |at: usize| -> Option<u64> {
        let b: [u8; 8] = encoded.get(at..at + 8)?.try_into().ok()?;
        Some(u64::from_le_bytes(b))
    };
    let tags = (encoded.first().copied(), encoded.get(1).copied());
    let claimed = match tags {
        (Some(0), Some(1 | 2 | 4)) | (Some(1), Some(1 | 2)) => u64_at(2),
        _ => return Ok(()),
    };
    let Some(claimed) = claimed else {
        return Err(MessageError::Undecodable("truncated sender".into()));
    };
    if from >= committee_size || claimed != from as u64 {
        return Err(MessageError::WrongSender { claimed, from });
    }
    if tags == (Some(0), Some(1)) {
        match u64_at(12) {
            Some(creator) if creator < committee_size as u64 => {}
            Some(creator) => return Err(MessageError::UnknownCreator(creator)),
            None => return Err(MessageError::Undecodable("truncated coordinate".into())),
        }
    }
    Ok(())
}

/// The proposals a message would bring into this member's DAG (for availability checks).
pub fn proposals_in(message: &ConsensusMessage) -> Vec<Proposal> {
    message.included_data()
}

/// The [`aleph_bft::Network`] of a session: outgoing messages to one channel, incoming
/// from another.
pub(crate) struct ChannelNetwork {
    outgoing: mpsc::Sender<OutgoingMessage>,
    incoming: mpsc::Receiver<IncomingMessage>,
    reports: Option<mpsc::Sender<PeerReport>>,
    availability: Option<Arc<dyn TipAvailability>>,
    parked: VecDeque<(Instant, ConsensusMessage)>,
    committee_size: usize,
}

impl ChannelNetwork {
    pub(crate) fn new(
        committee_size: usize,
        outgoing: mpsc::Sender<OutgoingMessage>,
        incoming: mpsc::Receiver<IncomingMessage>,
        reports: Option<mpsc::Sender<PeerReport>>,
        availability: Option<Arc<dyn TipAvailability>>,
    ) -> ChannelNetwork {
        ChannelNetwork {
            outgoing,
            incoming,
            reports,
            availability,
            parked: VecDeque::new(),
            committee_size,
        }
    }

    fn available(&self, message: &ConsensusMessage) -> bool {
        match &self.availability {
            None => true,
            Some(a) => {
                let tips: Vec<BlockId> = proposals_in(message)
                    .iter()
                    .flat_map(|p| p.tips().iter().copied())
                    .collect();
                tips.is_empty() || a.all_solid(&tips)
            }
        }
    }

    /// The first waiting message whose tips arrived; drops those waiting too long.
    fn take_ready(&mut self) -> Option<ConsensusMessage> {
        let now = Instant::now();
        self.parked
            .retain(|(since, _)| now.duration_since(*since) < MAX_PARKED_AGE);
        let pos = self.parked.iter().position(|(_, m)| self.available(m))?;
        self.parked.remove(pos).map(|(_, m)| m)
    }

    fn park(&mut self, message: ConsensusMessage) {
        if self.parked.len() >= MAX_PARKED_MESSAGES {
            self.parked.pop_front();
        }
        self.parked.push_back((Instant::now(), message));
    }

    fn report(&self, from: usize, error: MessageError) {
        tracing::debug!(from, %error, "dropped a consensus message");
        if let Some(r) = &self.reports {
            let _ = r.try_send(PeerReport { from, error });
        }
    }
}

#[async_trait::async_trait]
impl aleph_bft::Network<ConsensusMessage> for ChannelNetwork {
    fn send(&self, data: ConsensusMessage, recipient: Recipient) {
        let recipient = match recipient {
            Recipient::Everyone => MessageRecipient::Everyone,
            Recipient::Node(i) => MessageRecipient::Member(i.0),
        };
        let message = OutgoingMessage {
            recipient,
            bytes: encode_message(&data),
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.outgoing.try_send(message) {
            tracing::warn!("consensus outgoing queue full: message dropped");
        }
    }

    // Cancel-safe: the only await points are the channel's `recv` and a timer, and all
    // state changes happen between them.
    async fn next_event(&mut self) -> Option<ConsensusMessage> {
        loop {
            if !self.parked.is_empty() {
                if let Some(m) = self.take_ready() {
                    return Some(m);
                }
            }
            let received = if self.parked.is_empty() {
                self.incoming.recv().await
            } else {
                tokio::select! {
                    m = self.incoming.recv() => m,
                    _ = tokio::time::sleep(PARKED_RECHECK) => continue,
                }
            };
            let IncomingMessage { from, bytes } = received?;
            match decode_message(&bytes, from, self.committee_size) {
                Ok(m) if self.available(&m) => return Some(m),
                Ok(m) => self.park(m),
                Err(e) => self.report(from, e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<ConsensusMessage, MessageError> {
        decode_message(bytes, 3, 4)
    }

    #[test]
    fn unsigned_requester_indexes_must_be_the_sending_peer() {
        // Units / NewestRequest(requester, salt).
        let newest = |who: u64| {
            let mut b = vec![MESSAGE_VERSION, 0, 4];
            b.extend_from_slice(&who.to_le_bytes());
            b.extend_from_slice(&7u64.to_le_bytes());
            b
        };
        assert!(decode(&newest(3)).is_ok());
        assert_eq!(
            decode(&newest(1 << 46)),
            Err(MessageError::WrongSender {
                claimed: 1 << 46,
                from: 3
            })
        );
        assert!(matches!(
            decode(&newest(1)),
            Err(MessageError::WrongSender { .. })
        ));
        // A peer outside the committee.
        assert!(matches!(
            decode_message(&newest(4), 4, 4),
            Err(MessageError::WrongSender { .. })
        ));
        // Units / CoordRequest(requester, round, creator).
        let coord = |creator: u64| {
            let mut b = vec![MESSAGE_VERSION, 0, 1];
            b.extend_from_slice(&3u64.to_le_bytes());
            b.extend_from_slice(&5u16.to_le_bytes());
            b.extend_from_slice(&creator.to_le_bytes());
            b
        };
        assert!(decode(&coord(0)).is_ok());
        assert_eq!(decode(&coord(9)), Err(MessageError::UnknownCreator(9)));
        // Alerts / AlertRequest(requester, hash).
        let mut alert = vec![MESSAGE_VERSION, 1, 2];
        alert.extend_from_slice(&2u64.to_le_bytes());
        alert.extend_from_slice(&[0; 32]);
        assert!(matches!(
            decode(&alert),
            Err(MessageError::WrongSender { claimed: 2, .. })
        ));
    }

    #[test]
    fn garbage_is_refused_without_panic() {
        assert_eq!(decode(&[]), Err(MessageError::Version(None)));
        assert_eq!(decode(&[2, 0]), Err(MessageError::Version(Some(2))));
        assert!(matches!(decode(&[1]), Err(MessageError::Undecodable(_))));
        assert!(matches!(
            decode(&vec![1; MAX_MESSAGE_BYTES + 1]),
            Err(MessageError::TooLarge(_))
        ));
        // Huge length prefixes and deep nesting must not allocate or recurse unboundedly.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..2_000usize {
            let mut bytes = vec![MESSAGE_VERSION];
            for _ in 0..(len % 300) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.push(x as u8);
            }
            let _ = decode(&bytes);
        }
        let mut all_ff = vec![MESSAGE_VERSION];
        all_ff.extend_from_slice(&[0xff; 64]);
        assert!(decode(&all_ff).is_err());
    }
}
