//! Weft's cryptographic primitives, each a thin, documented layer over a maintained crate.
//!
//! - [`signing`]: organisation keys (Ed25519, zeroized) and ZIP-215 verification, single
//!   and batched, which agree on every input (consensus needs that).
//! - [`merkle`]: the BLAKE2b-256 Merkle tree of milestone inclusion roots, with proofs.
//! - [`multiset`]: the elliptic-curve multiset hash that commits to the ledger state.
//! - [`poseidon`]: circomlib-compatible Poseidon over BN254 (and, with the `r1cs`
//!   feature, its R1CS gadget); [`registry`]: the issuers' Poseidon Merkle trees.

pub mod certificate;
pub mod merkle;
pub mod multiset;
pub mod poseidon;
#[cfg(feature = "r1cs")]
pub mod poseidon_r1cs;
pub mod registry;
pub mod signing;

pub use merkle::{inclusion_root, InclusionProof, MerkleError};
pub use multiset::MultisetHash;
pub use poseidon::{Fr, PoseidonError};
pub use registry::{Registry, RegistryChunk, RegistryError, RegistryPath};
pub use signing::{
    verify, verify_batch, verify_batch_parallel, verify_block, BatchEntry, OrganisationKey,
    SignatureError,
};
