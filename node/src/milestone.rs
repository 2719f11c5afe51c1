//! Checking a milestone's certificate against a committee.
//!
//! A milestone is final when at least `threshold` distinct members of the committee its
//! essence names have signed the essence id. This check needs only the committee's
//! public keys, so a distribution point can run it offline.

pub use weft_crypto::certificate::{verify_certificate, CertificateError};

#[cfg(test)]
mod tests {
    use super::*;
    use weft_crypto::OrganisationKey;
    use weft_types::{
        BlockId, CommitteeId, InclusionRoot, MilestoneEssence, MilestoneId, MilestoneSignature,
        StateRoot,
    };
    use weft_types::{Committee, Milestone};

    fn essence(committee: &Committee) -> MilestoneEssence {
        MilestoneEssence {
            index: 1,
            timestamp: 5,
            previous_milestone_id: MilestoneId::NONE,
            parents: vec![BlockId::GENESIS],
            inclusion_root: InclusionRoot([1; 32]),
            state_root: StateRoot([2; 32]),
            committee_id: committee.id(),
        }
    }

    fn signed(keys: &[&OrganisationKey], essence: &MilestoneEssence) -> Vec<MilestoneSignature> {
        let mut sigs: Vec<_> = keys
            .iter()
            .map(|k| MilestoneSignature {
                public_key: k.public_key(),
                signature: k.sign(&essence.signing_message()),
            })
            .collect();
        sigs.sort_by_key(|s| s.public_key);
        sigs
    }

    #[test]
    fn a_quorum_of_distinct_members_is_needed() {
        let keys: Vec<_> = (1..=4u8)
            .map(|i| OrganisationKey::from_seed(&[i; 32]))
            .collect();
        let committee = Committee::new(3, keys.iter().map(|k| k.public_key()).collect()).unwrap();
        let e = essence(&committee);
        let ok = Milestone {
            essence: e.clone(),
            signatures: signed(&[&keys[0], &keys[1], &keys[2]], &e),
        };
        assert_eq!(verify_certificate(&ok, &committee), Ok(()));
        let two = Milestone {
            essence: e.clone(),
            signatures: signed(&[&keys[0], &keys[1]], &e),
        };
        assert_eq!(
            verify_certificate(&two, &committee),
            Err(CertificateError::BelowThreshold { got: 2, needed: 3 })
        );
        let mut repeated = two.clone();
        repeated.signatures.push(repeated.signatures[1]);
        assert!(matches!(
            verify_certificate(&repeated, &committee),
            Err(CertificateError::Malformed(_))
        ));
        let outsider = OrganisationKey::from_seed(&[9; 32]);
        let foreign = Milestone {
            essence: e.clone(),
            signatures: signed(&[&keys[0], &keys[1], &outsider], &e),
        };
        assert_eq!(
            verify_certificate(&foreign, &committee),
            Err(CertificateError::NotAMember(outsider.public_key()))
        );
        let mut tampered = ok.clone();
        tampered.essence.state_root = StateRoot([3; 32]);
        assert!(matches!(
            verify_certificate(&tampered, &committee),
            Err(CertificateError::BadSignature(_))
        ));
        let mut other_committee = ok.clone();
        other_committee.essence.committee_id = CommitteeId([0; 32]);
        assert!(matches!(
            verify_certificate(&other_committee, &committee),
            Err(CertificateError::WrongCommittee { .. })
        ));
    }
}
