//! Checking a milestone's certificate against a committee.
//!
//! A milestone is final when at least `threshold` distinct members of the committee its
//! essence names have signed the essence id. This check needs only the committee's
//! public keys, so the node, a distribution point and any auditor run this one copy
//! offline. A committee change (`weft_types::CommitteeChange`) is checked the same way,
//! against the committee in force when it is confirmed ([`verify_committee_change`]).

use crate::{verify, SignatureError};
use weft_types::{Committee, CommitteeChange, Milestone, MilestoneSignature, PublicKeyBytes};

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
    check_quorum(
        &milestone.signatures,
        &milestone.essence.signing_message(),
        committee,
    )
}

/// Checks the signatures of a committee change against `current`, the committee that
/// certifies the milestone confirming it: distinct signers (strictly ascending), every
/// signer a member of `current`, every signature valid (ZIP-215) over
/// `change.signing_message(&current.id())`, and at least `current.threshold()` of them.
pub fn verify_committee_change(
    change: &CommitteeChange,
    current: &Committee,
) -> Result<(), CertificateError> {
    change
        .check_signers()
        .map_err(|e| CertificateError::Malformed(e.to_string()))?;
    check_quorum(
        &change.signatures,
        &change.signing_message(&current.id()),
        current,
    )
}

/// Rules 3 to 5 of a certificate (signers already known distinct): every signer a
/// member, every signature valid over `message`, at least the threshold of them.
fn check_quorum(
    signatures: &[MilestoneSignature],
    message: &[u8],
    committee: &Committee,
) -> Result<(), CertificateError> {
    for s in signatures {
        if !committee.contains(&s.public_key) {
            return Err(CertificateError::NotAMember(s.public_key));
        }
        verify(&s.public_key, message, &s.signature).map_err(|e| match e {
            SignatureError::MalformedKey(k) => CertificateError::BadSignature(k),
            _ => CertificateError::BadSignature(s.public_key),
        })?;
    }
    if signatures.len() < committee.threshold() as usize {
        return Err(CertificateError::BelowThreshold {
            got: signatures.len(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrganisationKey;

    fn keys(seeds: &[u8]) -> Vec<OrganisationKey> {
        seeds
            .iter()
            .map(|s| OrganisationKey::from_seed(&[*s; 32]))
            .collect()
    }

    fn committee(members: &[OrganisationKey], threshold: u16) -> Committee {
        Committee::new(threshold, members.iter().map(|k| k.public_key()).collect()).unwrap()
    }

    /// `change` signed over `current`'s id by `signers`, sorted by public key.
    fn signed(
        mut change: CommitteeChange,
        current: &Committee,
        signers: &[&OrganisationKey],
    ) -> CommitteeChange {
        let message = change.signing_message(&current.id());
        let mut signatures: Vec<MilestoneSignature> = signers
            .iter()
            .map(|k| MilestoneSignature {
                public_key: k.public_key(),
                signature: k.sign(&message),
            })
            .collect();
        signatures.sort_by_key(|s| s.public_key);
        change.signatures = signatures;
        change
    }

    fn unsigned(next: &Committee, effective_index: u32) -> CommitteeChange {
        CommitteeChange {
            committee: next.clone(),
            effective_index,
            signatures: vec![],
        }
    }

    #[test]
    fn a_quorum_of_the_current_committee_passes() {
        let old = keys(&[1, 2, 3, 4]);
        let current = committee(&old, 3);
        let next = committee(&keys(&[2, 3, 4, 5]), 3);
        let change = signed(unsigned(&next, 10), &current, &[&old[0], &old[2], &old[3]]);
        assert_eq!(verify_committee_change(&change, &current), Ok(()));
        let all = signed(
            unsigned(&next, 10),
            &current,
            &[&old[0], &old[1], &old[2], &old[3]],
        );
        assert_eq!(verify_committee_change(&all, &current), Ok(()));
    }

    #[test]
    fn below_threshold_fails() {
        let old = keys(&[1, 2, 3, 4]);
        let current = committee(&old, 3);
        let next = committee(&keys(&[5]), 1);
        let change = signed(unsigned(&next, 10), &current, &[&old[0], &old[1]]);
        assert_eq!(
            verify_committee_change(&change, &current),
            Err(CertificateError::BelowThreshold { got: 2, needed: 3 })
        );
        let none = unsigned(&next, 10);
        assert!(matches!(
            verify_committee_change(&none, &current),
            Err(CertificateError::Malformed(_))
        ));
    }

    #[test]
    fn a_non_member_fails() {
        let old = keys(&[1, 2, 3, 4]);
        let current = committee(&old, 3);
        let outsider = OrganisationKey::from_seed(&[9; 32]);
        let next = committee(&keys(&[5]), 1);
        let change = signed(
            unsigned(&next, 10),
            &current,
            &[&old[0], &old[1], &old[2], &outsider],
        );
        assert_eq!(
            verify_committee_change(&change, &current),
            Err(CertificateError::NotAMember(outsider.public_key()))
        );
    }

    #[test]
    fn a_repeated_signer_fails() {
        let old = keys(&[1, 2, 3, 4]);
        let current = committee(&old, 3);
        let next = committee(&keys(&[5]), 1);
        let mut change = signed(unsigned(&next, 10), &current, &[&old[0], &old[1]]);
        // The same member twice must not make up the third signature.
        let again = change.signatures[1];
        change.signatures.push(again);
        assert!(matches!(
            verify_committee_change(&change, &current),
            Err(CertificateError::Malformed(_))
        ));
    }

    #[test]
    fn a_signature_over_another_effective_index_fails() {
        let old = keys(&[1, 2, 3, 4]);
        let current = committee(&old, 3);
        let next = committee(&keys(&[5]), 1);
        let mut change = signed(unsigned(&next, 10), &current, &[&old[0], &old[1], &old[2]]);
        change.effective_index = 11;
        assert!(matches!(
            verify_committee_change(&change, &current),
            Err(CertificateError::BadSignature(_))
        ));
        // Nor may the signatures be moved to another new committee.
        let mut moved = signed(unsigned(&next, 10), &current, &[&old[0], &old[1], &old[2]]);
        moved.committee = committee(&keys(&[6]), 1);
        assert!(matches!(
            verify_committee_change(&moved, &current),
            Err(CertificateError::BadSignature(_))
        ));
    }

    #[test]
    fn signatures_by_another_committee_fail() {
        let old = keys(&[1, 2, 3, 4]);
        let current = committee(&old, 3);
        let next = committee(&keys(&[5]), 1);
        // Signed by the same keys, but as members of another committee (its id differs).
        let other = committee(&old, 4);
        let change = signed(unsigned(&next, 10), &other, &[&old[0], &old[1], &old[2]]);
        assert!(matches!(
            verify_committee_change(&change, &current),
            Err(CertificateError::BadSignature(_))
        ));
        assert_eq!(
            verify_committee_change(&change, &other),
            Err(CertificateError::BelowThreshold { got: 3, needed: 4 })
        );
        // Signed by the members of another committee altogether.
        let strangers = keys(&[6, 7, 8, 9]);
        let foreign = committee(&strangers, 3);
        let change = signed(
            unsigned(&next, 10),
            &foreign,
            &[&strangers[0], &strangers[1], &strangers[2]],
        );
        assert_eq!(verify_committee_change(&change, &foreign), Ok(()));
        assert!(matches!(
            verify_committee_change(&change, &current),
            Err(CertificateError::NotAMember(_))
        ));
    }
}
