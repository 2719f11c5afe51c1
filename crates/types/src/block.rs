//! Blocks: the vertices of the Tangle.
//!
//! Layout (all integers little-endian; `specs/protocol.md` §2 is normative):
//!
//! ```text
//! u8   protocol version (1)
//! u64  network id
//! u8   parent count (1..=8), then the parent ids, strictly ascending
//! u64  issuing time, ms since the Unix epoch
//! u8   issuer kind: 0 anonymous, 1 organisation, then its 32-byte Ed25519 key
//! u16  payload kind, u32 payload length, payload body
//! u64  nonce
//! [64] Ed25519 signature (organisation blocks only)
//! ```
//!
//! The block id is BLAKE2b-256 of all of it. The signature covers BLAKE2b-256 of every
//! byte before it, prefixed by a domain string; an anonymous block instead carries a
//! proof of work in its nonce.

use serde::{Deserialize, Serialize};

use crate::codec::{check_range, check_strictly_ascending, DecodeError, Reader, Writer};
use crate::hash::blake2b256;
use crate::id::{BlockId, NetworkId, PublicKeyBytes, SignatureBytes};
use crate::payload::Payload;

/// The block layout this implementation speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest canonical block, in bytes.
pub const MAX_BLOCK_BYTES: usize = 32 * 1024;
/// Most parents a block may have.
pub const MAX_PARENTS: usize = 8;
/// Domain prefix of the message an organisation signs.
pub const BLOCK_SIGNATURE_DOMAIN: &[u8] = b"weft/block-signature/v1";
/// Domain prefix of the proof-of-work hash.
pub const POW_DOMAIN: &[u8] = b"weft/pow/v1";

const ISSUER_ANONYMOUS: u8 = 0;
const ISSUER_ORGANISATION: u8 = 1;

/// Who issued a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Issuer {
    /// Nobody in particular; the block carries proof of work instead of a signature.
    Anonymous,
    /// A registered organisation, by its Ed25519 key; the block carries its signature.
    #[serde(rename_all = "camelCase")]
    Organisation {
        /// The signing key.
        public_key: PublicKeyBytes,
    },
}

/// A block. Build one with [`BlockBuilder`]; decode received bytes with [`Block::from_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    /// Layout version, [`PROTOCOL_VERSION`].
    pub protocol_version: u8,
    /// Network the block belongs to.
    #[serde(with = "network_id_string")]
    pub network_id: NetworkId,
    /// 1–8 parents, strictly ascending.
    pub parents: Vec<BlockId>,
    /// Issuing time, ms since the Unix epoch.
    #[serde(with = "crate::payload::u64_string")]
    pub issuing_time: u64,
    /// Issuer.
    pub issuer: Issuer,
    /// Payload.
    pub payload: Payload,
    /// Free for signed blocks; the proof of work for anonymous ones.
    #[serde(with = "crate::payload::u64_string")]
    pub nonce: u64,
    /// The organisation's signature; `None` for anonymous blocks.
    pub signature: Option<SignatureBytes>,
}

mod network_id_string {
    use super::NetworkId;
    use serde::{Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &NetworkId, s: S) -> Result<S::Ok, S::Error> {
        crate::payload::u64_string::serialize(&v.0, s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NetworkId, D::Error> {
        crate::payload::u64_string::deserialize(d).map(NetworkId)
    }
}

impl Block {
    /// Decodes canonical bytes, rejecting anything that is not exactly one canonical block.
    pub fn from_bytes(bytes: &[u8]) -> Result<Block, DecodeError> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return Err(DecodeError::TooLong {
                what: "block",
                len: bytes.len(),
                max: MAX_BLOCK_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let protocol_version = r.u8("protocol version")?;
        if protocol_version != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion(protocol_version));
        }
        let network_id = NetworkId(r.u64("network id")?);
        let count = r.u8("parent count")?;
        check_range("parent count", count as u64, 1, MAX_PARENTS as u64)?;
        let mut parents = Vec::with_capacity(count as usize);
        for _ in 0..count {
            parents.push(BlockId(r.array("parent")?));
        }
        let issuing_time = r.u64("issuing time")?;
        let issuer = match r.u8("issuer kind")? {
            ISSUER_ANONYMOUS => Issuer::Anonymous,
            ISSUER_ORGANISATION => Issuer::Organisation {
                public_key: PublicKeyBytes(r.array("issuer key")?),
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "issuer kind",
                    tag: tag as u64,
                })
            }
        };
        let payload = Payload::decode_from(&mut r)?;
        let nonce = r.u64("nonce")?;
        let signature = match issuer {
            Issuer::Anonymous => None,
            Issuer::Organisation { .. } => Some(SignatureBytes(r.array("signature")?)),
        };
        r.finish("block")?;
        let block = Block {
            protocol_version,
            network_id,
            parents,
            issuing_time,
            issuer,
            payload,
            nonce,
            signature,
        };
        block.check_structure()?;
        Ok(block)
    }

    /// Checks every rule the encoding alone can check (parents, issuer and signature
    /// agree, payload limits, milestone consistency, size). Decoding applies it; call it on
    /// blocks built from JSON before encoding them.
    pub fn check_structure(&self) -> Result<(), DecodeError> {
        if self.protocol_version != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion(self.protocol_version));
        }
        check_range(
            "parent count",
            self.parents.len() as u64,
            1,
            MAX_PARENTS as u64,
        )?;
        check_strictly_ascending("parents", &self.parents)?;
        match (&self.issuer, &self.signature) {
            (Issuer::Anonymous, None) | (Issuer::Organisation { .. }, Some(_)) => {}
            (Issuer::Anonymous, Some(_)) => {
                return Err(DecodeError::Inconsistent(
                    "anonymous block carries a signature",
                ))
            }
            (Issuer::Organisation { .. }, None) => {
                return Err(DecodeError::Inconsistent(
                    "organisation block has no signature",
                ))
            }
        }
        self.payload.check_limits()?;
        if let Payload::Milestone(m) = &self.payload {
            {
                if m.essence.parents != self.parents {
                    return Err(DecodeError::Inconsistent(
                        "milestone parents differ from the block's parents",
                    ));
                }
                if m.essence.timestamp != self.issuing_time {
                    return Err(DecodeError::Inconsistent(
                        "milestone timestamp differs from the issuing time",
                    ));
                }
                if self.issuer == Issuer::Anonymous {
                    return Err(DecodeError::Inconsistent(
                        "a milestone block must be issued by a committee member",
                    ));
                }
                m.essence.check()?;
                m.check_signers()?;
            }
        }
        let len = self.encoded_len();
        if len > MAX_BLOCK_BYTES {
            return Err(DecodeError::TooLong {
                what: "block",
                len,
                max: MAX_BLOCK_BYTES,
            });
        }
        Ok(())
    }

    fn encode_without_signature(&self, w: &mut Writer) {
        w.u8(self.protocol_version);
        w.u64(self.network_id.0);
        w.u8(self.parents.len() as u8);
        for p in &self.parents {
            w.bytes(&p.0);
        }
        w.u64(self.issuing_time);
        match &self.issuer {
            Issuer::Anonymous => w.u8(ISSUER_ANONYMOUS),
            Issuer::Organisation { public_key } => {
                w.u8(ISSUER_ORGANISATION);
                w.bytes(&public_key.0);
            }
        }
        self.payload.encode_into(w);
        w.u64(self.nonce);
    }

    /// The canonical bytes. Only meaningful for a block that passes [`Block::check_structure`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(256);
        self.encode_without_signature(&mut w);
        if let Some(sig) = &self.signature {
            w.bytes(&sig.0);
        }
        w.into_bytes()
    }

    /// Length of the canonical bytes.
    pub fn encoded_len(&self) -> usize {
        self.to_bytes().len()
    }

    /// The block id: BLAKE2b-256 of the canonical bytes.
    pub fn id(&self) -> BlockId {
        BlockId::of_bytes(&self.to_bytes())
    }

    /// The message an organisation signs:
    /// `weft/block-signature/v1` || BLAKE2b-256(every byte before the signature).
    pub fn signing_message(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(256);
        self.encode_without_signature(&mut w);
        let digest = blake2b256(&[&w.into_bytes()]);
        let mut m = BLOCK_SIGNATURE_DOMAIN.to_vec();
        m.extend_from_slice(&digest);
        m
    }

    /// Leading zero bits of BLAKE2b-256(`weft/pow/v1` || BLAKE2b-256(bytes before the
    /// nonce) || nonce), the proof-of-work score of an anonymous block.
    pub fn pow_score(&self) -> u32 {
        pow_score(&self.pow_prefix_digest(), self.nonce)
    }

    /// BLAKE2b-256 of every byte before the nonce.
    pub fn pow_prefix_digest(&self) -> [u8; 32] {
        let mut w = Writer::with_capacity(256);
        self.encode_without_signature(&mut w);
        let bytes = w.into_bytes();
        blake2b256(&[&bytes[..bytes.len() - 8]])
    }

    /// Searches for a nonce reaching `difficulty` leading zero bits and sets it.
    pub fn mine(&mut self, difficulty: u32) {
        let prefix = self.pow_prefix_digest();
        let mut nonce = 0u64;
        while pow_score(&prefix, nonce) < difficulty {
            nonce = nonce.wrapping_add(1);
        }
        self.nonce = nonce;
    }
}

/// The proof-of-work score of `nonce` over a block whose pre-nonce digest is `prefix`.
pub fn pow_score(prefix: &[u8; 32], nonce: u64) -> u32 {
    let digest = blake2b256(&[POW_DOMAIN, prefix, &nonce.to_le_bytes()]);
    let mut zeros = 0;
    for byte in digest {
        if byte == 0 {
            zeros += 8;
        } else {
            zeros += byte.leading_zeros();
            break;
        }
    }
    zeros
}

/// Assembles a block before it is signed (or mined).
#[derive(Debug, Clone)]
pub struct BlockBuilder {
    block: Block,
}

impl BlockBuilder {
    /// A block on `network_id` with the given parents (sorted and deduplicated here).
    pub fn new(
        network_id: NetworkId,
        mut parents: Vec<BlockId>,
        issuing_time: u64,
    ) -> BlockBuilder {
        parents.sort();
        parents.dedup();
        BlockBuilder {
            block: Block {
                protocol_version: PROTOCOL_VERSION,
                network_id,
                parents,
                issuing_time,
                issuer: Issuer::Anonymous,
                payload: Payload::None,
                nonce: 0,
                signature: None,
            },
        }
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: Payload) -> BlockBuilder {
        self.block.payload = payload;
        self
    }

    /// Sets the nonce.
    pub fn nonce(mut self, nonce: u64) -> BlockBuilder {
        self.block.nonce = nonce;
        self
    }

    /// An anonymous block (mine it with [`Block::mine`] if the node asks for work).
    pub fn anonymous(self) -> Block {
        self.block
    }

    /// An organisation block awaiting its signature: call `sign` with the signature of
    /// [`Block::signing_message`] of the returned block.
    pub fn organisation(mut self, public_key: PublicKeyBytes) -> UnsignedBlock {
        self.block.issuer = Issuer::Organisation { public_key };
        UnsignedBlock { block: self.block }
    }
}

/// An organisation block whose signature is still missing.
#[derive(Debug, Clone)]
pub struct UnsignedBlock {
    block: Block,
}

impl UnsignedBlock {
    /// The message to sign.
    pub fn signing_message(&self) -> Vec<u8> {
        self.block.signing_message()
    }

    /// Attaches the signature.
    pub fn sign(mut self, signature: SignatureBytes) -> Block {
        self.block.signature = Some(signature);
        self.block
    }
}
