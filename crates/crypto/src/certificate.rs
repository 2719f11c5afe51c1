//! Checking a milestone's certificate against a committee.
//!
//! A milestone is final when at least `threshold` distinct members of the committee its
//! essence names have signed the essence id. This check needs only the committee's
//! public keys, so the node, a distribution point and any auditor run this one copy
//! offline.

use crate::{verify, SignatureError};
use weft_types::{Committee, Milestone, PublicKeyBytes};

/// Why a milestone certificate is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The essence names another committee.
    #[error("milestone names committee {named}, expected {expected}")]
    WrongCommittee {
        /// Named in the essence.
        named: weft_types::CommitteeId,
        /// The committee checked against.
        expected: weft_types::CommitteeId,
    },
    /// A signer is not a member.
    #[error("signer {0} is not a committee member")]
    NotAMember(PublicKeyBytes),
    /// A signature does not verify.
    #[error("signature of {0} does not verify")]
    BadSignature(PublicKeyBytes),
    /// The signature list is malformed (empty, too long, or signers not strictly
    /// ascending, that is, repeated).
    #[error("malformed signature list: {0}")]
    Malformed(String),
    /// The block is not where the proof says in the milestone's inclusion tree.
    #[error("the block is not in the milestone's inclusion tree: {0}")]
    NotIncluded(crate::MerkleError),
    /// Too few signatures.
    #[error("{got} signatures, the committee needs {needed}")]
    BelowThreshold {
        /// Valid signatures.
        got: usize,
        /// Threshold.
        needed: u16,
    },
}

/// Checks the committee signatures of a milestone.
pub fn verify_certificate(
    milestone: &Milestone,
    committee: &Committee,
) -> Result<(), CertificateError> {
    if milestone.essence.committee_id != committee.id() {
        return Err(CertificateError::WrongCommittee {
            named: milestone.essence.committee_id,
            expected: committee.id(),
        });
    }
    // Distinct signers: a repeated key must not count twice.
    milestone
        .check_signers()
        .map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let message = milestone.essence.signing_message();
    for s in &milestone.signatures {
        if !committee.contains(&s.public_key) {
            return Err(CertificateError::NotAMember(s.public_key));
        }
        verify(&s.public_key, &message, &s.signature).map_err(|e| match e {
            SignatureError::MalformedKey(k) => CertificateError::BadSignature(k),
            _ => CertificateError::BadSignature(s.public_key),
        })?;
    }
    if milestone.signatures.len() < committee.threshold() as usize {
        return Err(CertificateError::BelowThreshold {
            got: milestone.signatures.len(),
            needed: committee.threshold(),
        });
    }
    Ok(())
}

/// Checks, with only the committee's keys, that `block` was confirmed by `milestone`:
/// the milestone's certificate, then the Merkle path from the block id to the
/// milestone's inclusion root (what `GET /api/v1/blocks/{id}/proof` serves).
pub fn verify_inclusion(
    block: &weft_types::BlockId,
    milestone: &Milestone,
    proof: &crate::InclusionProof,
    committee: &Committee,
) -> Result<(), CertificateError> {
    verify_certificate(milestone, committee)?;
    proof
        .verify(block, &milestone.essence.inclusion_root)
        .map_err(CertificateError::NotIncluded)
}
