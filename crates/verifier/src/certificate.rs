//! A milestone's committee certificate, checked offline.
//!
//! The same rule as `weft_node::milestone::verify_certificate` (a threshold of
//! distinct committee members' Ed25519 signatures over the essence's signing message),
//! built from the same lower-level functions (`Milestone::check_signers`,
//! `weft_crypto::verify`), because the point must not depend on the node crate. The
//! function is small and pure: it belongs in `weft-types` or `weft-crypto`, where both
//! could share one copy.

use weft_types::{Committee, CommitteeId, Milestone, PublicKeyBytes};

/// Why a milestone certificate is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The essence names another committee.
    #[error("milestone names committee {named}, expected {expected}")]
    WrongCommittee {
        /// Named in the essence.
        named: CommitteeId,
        /// The committee checked against.
        expected: CommitteeId,
    },
    /// A signer is not a member.
    #[error("signer {0} is not a committee member")]
    NotAMember(PublicKeyBytes),
    /// A signature does not verify.
    #[error("signature of {0} does not verify")]
    BadSignature(PublicKeyBytes),
    /// The signature list is malformed (signers repeated or unordered).
    #[error("malformed signature list: {0}")]
    Malformed(String),
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
    milestone
        .check_signers()
        .map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let message = milestone.essence.signing_message();
    for s in &milestone.signatures {
        if !committee.contains(&s.public_key) {
            return Err(CertificateError::NotAMember(s.public_key));
        }
        weft_crypto::verify(&s.public_key, &message, &s.signature)
            .map_err(|_| CertificateError::BadSignature(s.public_key))?;
    }
    if milestone.signatures.len() < committee.threshold() as usize {
        return Err(CertificateError::BelowThreshold {
            got: milestone.signatures.len(),
            needed: committee.threshold(),
        });
    }
    Ok(())
}
