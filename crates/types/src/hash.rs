//! BLAKE2b-256, the one hash function of the block layer.
//!
//! Identifiers, signing messages and the inclusion Merkle tree all use BLAKE2b with a
//! 32-byte output (RFC 7693, no key, no personalisation); domain separation is done by
//! prefixing an ASCII domain string, which `specs/protocol.md` lists.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

/// BLAKE2b with a 256-bit output.
pub type Blake2b256 = Blake2b<U32>;

/// BLAKE2b-256 of the concatenation of `parts`.
pub fn blake2b256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Blake2b256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}
