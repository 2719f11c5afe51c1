//! Weft's eligibility proofs: one Groth16 circuit (BN254) and one key pair for every
//! aid program.
//!
//! A holder proves to a distribution point that a credential from an accepted registry
//! satisfies the program's policy, reveals only the attributes it chooses, and outputs
//! the household's nullifier for the round, bound to the verifier's challenge. The
//! constraint-by-constraint justification is specs/circuits.md.
//!
//! - [`credential`]: the credential, its registry commitment, the holder's secrets.
//! - [`policy`]: predicates (`=, !=, <, <=, >, >=, in, not in, between`) as public data.
//! - [`circuit`]: the statement, the witness and the R1CS.
//! - [`groth16`]: keys from a seed, prove, verify, batch verify, 128-byte proofs.
//! - [`presentation`]: the compact (QR-sized) presentation encoding.
//! - [`snarkjs`]: export of keys, proofs and public inputs in snarkjs's JSON format.
//! - [`sample`] and [`measure`]: a realistic sample statement and the benchmark report.

pub mod circuit;
pub mod credential;
pub mod groth16;
pub mod measure;
pub mod policy;
pub mod presentation;
pub mod sample;
pub mod snarkjs;

pub use circuit::{EligibilityCircuit, Statement, Witness, NUM_PUBLIC_INPUTS};
pub use credential::{Credential, HolderSecrets, NUM_ATTRIBUTES};
pub use groth16::{batch_verify, prove, setup, verify, CompressedProof, Keys, PROOF_BYTES};
pub use policy::{Condition, Policy, Predicate};
pub use presentation::Presentation;
pub use weft_crypto::poseidon::Fr;

/// The registry depth the default keys are made for.
pub const DEFAULT_DEPTH: usize = weft_crypto::registry::DEFAULT_DEPTH as usize;

/// Why a circuit operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CircuitError {
    /// The policy cannot be encoded (too many conditions, bad index, bad set).
    #[error("invalid policy: {0}")]
    Policy(&'static str),
    /// The witness does not satisfy the statement; nothing was proved.
    #[error("statement not satisfied: {0}")]
    Unsatisfied(&'static str),
    /// Constraint synthesis or proving failed.
    #[error("proving failed: {0}")]
    Synthesis(String),
    /// The proof does not verify.
    #[error("proof does not verify")]
    Invalid,
    /// Bytes are not a valid proof, key or presentation.
    #[error("malformed encoding: {0}")]
    Encoding(&'static str),
    /// A key's depth does not match the circuit's.
    #[error("keys are for depth {keys}, circuit has depth {circuit}")]
    Depth {
        /// The keys' depth.
        keys: usize,
        /// The circuit's depth.
        circuit: usize,
    },
}
