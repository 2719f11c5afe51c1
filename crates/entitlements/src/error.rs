//! Why a note payload is refused, or could not be built.
//!
//! One variant per reason, so the ledger can report a stable conflict reason and a
//! wallet a clear message. Verification failures never carry secrets.

use weft_types::DecodeError;

/// A rejected or unbuildable mint, transfer or redeem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntitlementError {
    /// The payload breaks a structural rule (counts, order, proof length).
    #[error("malformed payload: {0}")]
    Malformed(#[from] DecodeError),
    /// Bytes that must be a Ristretto point are not a canonical encoding of one.
    #[error("{field} {index} is not a valid Ristretto point")]
    MalformedPoint {
        /// Which field.
        field: &'static str,
        /// Its position in its list (0 for single fields).
        index: usize,
    },
    /// An output's owner key is the identity, which anyone could sign for.
    #[error("output {index} has the identity as owner key")]
    WeakOwnerKey {
        /// The output.
        index: usize,
    },
    /// The aggregated range proof does not verify (or does not parse).
    #[error("range proof does not verify: an output may be outside [0, 2^64)")]
    RangeProof,
    /// `Σ outputs − Σ inputs − δ·B` is not the kernel excess.
    #[error("balance does not add up: outputs minus inputs differ from the public amount plus the kernel excess")]
    Balance,
    /// The kernel signature does not verify, so the excess is not shown to be a
    /// commitment to zero.
    #[error("kernel signature does not verify: the excess is not proven to commit to zero")]
    KernelSignature,
    /// An input is not signed by the owner key of the note it spends.
    #[error("input {index} is not signed by the owner of the note it spends")]
    NotOwner {
        /// The input.
        index: usize,
    },
    /// An amount or a sum of amounts is 2^64 or more.
    #[error("amount too large: {0} must be below 2^64")]
    AmountTooLarge(&'static str),
    /// Building: the inputs do not cover the outputs exactly.
    #[error("inputs add up to {inputs} but outputs and redeemed amount to {outputs}")]
    Unbalanced {
        /// Sum of the inputs.
        inputs: u128,
        /// Sum of the outputs and the public amount.
        outputs: u128,
    },
    /// Building: an input note belongs to another program.
    #[error("input {index} belongs to another program")]
    WrongProgram {
        /// The input.
        index: usize,
    },
    /// Building: the prover failed (should not happen with valid inputs).
    #[error("range proof could not be made: {0}")]
    Proving(String),
}

/// Why a program's audit fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// More was redeemed than minted.
    #[error("redeemed {redeemed} exceeds minted {minted}")]
    Overdrawn {
        /// Minted total.
        minted: u128,
        /// Redeemed total.
        redeemed: u128,
    },
    /// A commitment or excess is not a valid point.
    #[error("{field} {index} is not a valid Ristretto point")]
    MalformedPoint {
        /// Which list.
        field: &'static str,
        /// Position in it.
        index: usize,
    },
    /// `Σ unspent ≠ (minted − redeemed)·B + Σ excess`.
    #[error(
        "the unspent commitments do not add up to minted minus redeemed plus the kernel excesses"
    )]
    Mismatch,
}
