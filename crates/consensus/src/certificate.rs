//! Collecting validators' signatures into milestone certificates.
//!
//! After the committee agreed what milestone `i` confirms, each validator computes the
//! essence (with its own inclusion and state roots) and signs it. Signatures travel as
//! [`SignatureShare`]s; the [`CertificateCollector`] checks each against the committee
//! and, once `threshold` (2f+1) distinct members signed the *same* essence for an index,
//! yields the certified [`Milestone`]. A member that signs two different essences for one
//! index is recorded as equivocating and counted for neither; since honest members sign
//! only the essence they computed, two different essences can never both gather a
//! quorum. The collector is pure (no I/O, no clock) and bounded in memory.

use std::collections::{BTreeMap, BTreeSet};

use weft_crypto::OrganisationKey;
use weft_types::codec::{Reader, Writer};
use weft_types::{
    Committee, CommitteeId, DecodeError, Milestone, MilestoneEssence, MilestoneId,
    MilestoneSignature, PublicKeyBytes, SignatureBytes,
};

/// How many indexes past the lowest open one the collector keeps shares for.
pub const COLLECTION_WINDOW: u32 = 64;

/// One validator's signature on one essence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureShare {
    /// What was signed.
    pub essence: MilestoneEssence,
    /// The validator's key and its signature on [`MilestoneEssence::signing_message`].
    pub signature: MilestoneSignature,
}

impl SignatureShare {
    /// Signs `essence` with a validator's key.
    pub fn sign(essence: MilestoneEssence, key: &OrganisationKey) -> SignatureShare {
        let signature = MilestoneSignature {
            public_key: key.public_key(),
            signature: key.sign(&essence.signing_message()),
        };
        SignatureShare { essence, signature }
    }

    /// Canonical bytes: those of a [`Milestone`] with this one signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(512);
        Milestone {
            essence: self.essence.clone(),
            signatures: vec![self.signature],
        }
        .encode_into(&mut w);
        w.into_bytes()
    }

    /// Decodes a share (a canonical one-signature milestone, nothing after it).
    pub fn from_bytes(bytes: &[u8]) -> Result<SignatureShare, DecodeError> {
        let mut r = Reader::new(bytes);
        let m = Milestone::decode_from(&mut r)?;
        r.finish("signature share")?;
        match m.signatures.as_slice() {
            [signature] => Ok(SignatureShare {
                essence: m.essence,
                signature: *signature,
            }),
            _ => Err(DecodeError::Inconsistent(
                "a signature share carries exactly one signature",
            )),
        }
    }
}

/// Proof that a validator signed two different essences for one index. Anyone holding
/// the committee's keys can check it ([`EquivocationEvidence::verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquivocationEvidence {
    /// The validator's key.
    pub validator: PublicKeyBytes,
    /// The first essence and its signature.
    pub first: (MilestoneEssence, SignatureBytes),
    /// The second, different essence for the same index and its signature.
    pub second: (MilestoneEssence, SignatureBytes),
}

impl EquivocationEvidence {
    /// The milestone index both essences claim.
    pub fn index(&self) -> u32 {
        self.first.0.index
    }

    /// Whether this is real evidence: same index and committee, different essences, both
    /// signatures valid under the validator's key, the validator a member of `committee`.
    pub fn verify(&self, committee: &Committee) -> bool {
        let (a, sa) = &self.first;
        let (b, sb) = &self.second;
        committee.contains(&self.validator)
            && a.index == b.index
            && a.committee_id == committee.id()
            && b.committee_id == committee.id()
            && a != b
            && weft_crypto::verify(&self.validator, &a.signing_message(), sa).is_ok()
            && weft_crypto::verify(&self.validator, &b.signing_message(), sb).is_ok()
    }
}

/// Why a share was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectError {
    /// The essence names another committee.
    #[error("share names committee {named}, expected {expected}")]
    WrongCommittee {
        /// Named in the essence.
        named: CommitteeId,
        /// This collector's committee.
        expected: CommitteeId,
    },
    /// The essence breaks the essence rules (index, previous id, parents).
    #[error("invalid essence: {0}")]
    InvalidEssence(DecodeError),
    /// The signer is not a committee member.
    #[error("signer {0} is not a committee member")]
    NotAMember(PublicKeyBytes),
    /// The signature does not verify.
    #[error("signature of {0} does not verify")]
    BadSignature(PublicKeyBytes),
    /// The index is more than [`COLLECTION_WINDOW`] past the lowest open index.
    #[error("index {index} is too far ahead (collecting {lowest}..{lowest}+{COLLECTION_WINDOW})")]
    TooFarAhead {
        /// The share's index.
        index: u32,
        /// The lowest index still collected.
        lowest: u32,
    },
    /// This share and an earlier one of the same validator sign different essences for
    /// one index; the evidence is recorded.
    #[error("validator {validator} signed two different essences for milestone {index}")]
    Equivocation {
        /// The validator.
        validator: PublicKeyBytes,
        /// The index.
        index: u32,
    },
    /// The validator already equivocated for this index; its shares no longer count.
    #[error("validator {validator} equivocated for milestone {index}; share ignored")]
    Equivocator {
        /// The validator.
        validator: PublicKeyBytes,
        /// The index.
        index: u32,
    },
}

/// What a valid share changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// Counted; the essence has `signers` of the `needed` signatures.
    Pending {
        /// The index.
        index: u32,
        /// Distinct valid signers of this essence so far.
        signers: usize,
        /// The committee's threshold.
        needed: u16,
    },
    /// This share completed the certificate.
    Certified(Milestone),
    /// The index is already certified (or below the lowest open index): nothing to do.
    AlreadyCertified {
        /// The index.
        index: u32,
    },
    /// The same validator's share for the same essence, seen before.
    Duplicate,
}

#[derive(Debug, Default)]
struct IndexState {
    /// Each validator's first (and only counted) share: essence id and signature.
    signed: BTreeMap<PublicKeyBytes, (MilestoneId, SignatureBytes)>,
    essences: BTreeMap<MilestoneId, MilestoneEssence>,
    equivocators: BTreeSet<PublicKeyBytes>,
    certified: bool,
}

/// Collects shares into certificates for one committee.
#[derive(Debug)]
pub struct CertificateCollector {
    committee: Committee,
    committee_id: CommitteeId,
    lowest: u32,
    indexes: BTreeMap<u32, IndexState>,
    evidence: Vec<EquivocationEvidence>,
}

impl CertificateCollector {
    /// A collector for `committee`, collecting from index `lowest` on.
    pub fn new(committee: Committee, lowest: u32) -> CertificateCollector {
        CertificateCollector {
            committee_id: committee.id(),
            committee,
            lowest: lowest.max(1),
            indexes: BTreeMap::new(),
            evidence: Vec::new(),
        }
    }

    /// The id of the committee this collector counts signatures of.
    pub fn committee_id(&self) -> CommitteeId {
        self.committee_id
    }

    /// The lowest index still collected.
    pub fn lowest(&self) -> u32 {
        self.lowest
    }

    /// Forgets every index below `index` (the node committed them); shares for them are
    /// answered [`Collected::AlreadyCertified`] from now on.
    pub fn forget_below(&mut self, index: u32) {
        if index > self.lowest {
            self.lowest = index;
            self.indexes = self.indexes.split_off(&index);
        }
    }

    /// Equivocation evidence found so far.
    pub fn evidence(&self) -> &[EquivocationEvidence] {
        &self.evidence
    }

    /// Takes the evidence found so far (for the node to publish or act on).
    pub fn take_evidence(&mut self) -> Vec<EquivocationEvidence> {
        std::mem::take(&mut self.evidence)
    }

    /// Checks one share and counts it.
    pub fn add(&mut self, share: SignatureShare) -> Result<Collected, CollectError> {
        let SignatureShare { essence, signature } = share;
        if essence.committee_id != self.committee_id {
            return Err(CollectError::WrongCommittee {
                named: essence.committee_id,
                expected: self.committee_id,
            });
        }
        essence.check().map_err(CollectError::InvalidEssence)?;
        let index = essence.index;
        if index < self.lowest {
            return Ok(Collected::AlreadyCertified { index });
        }
        if index - self.lowest >= COLLECTION_WINDOW {
            return Err(CollectError::TooFarAhead {
                index,
                lowest: self.lowest,
            });
        }
        let validator = signature.public_key;
        if !self.committee.contains(&validator) {
            return Err(CollectError::NotAMember(validator));
        }
        if self
            .indexes
            .get(&index)
            .is_some_and(|s| s.equivocators.contains(&validator))
        {
            return Err(CollectError::Equivocator { validator, index });
        }
        weft_crypto::verify(&validator, &essence.signing_message(), &signature.signature)
            .map_err(|_| CollectError::BadSignature(validator))?;

        let id = essence.id();
        let needed = self.committee.threshold();
        let state = self.indexes.entry(index).or_default();
        if let Some((first_id, first_sig)) = state.signed.get(&validator).copied() {
            if first_id == id {
                return Ok(Collected::Duplicate);
            }
            let first = state
                .essences
                .get(&first_id)
                .cloned()
                .unwrap_or_else(|| essence.clone());
            state.signed.remove(&validator);
            state.equivocators.insert(validator);
            self.evidence.push(EquivocationEvidence {
                validator,
                first: (first, first_sig),
                second: (essence, signature.signature),
            });
            return Err(CollectError::Equivocation { validator, index });
        }
        if state.certified {
            return Ok(Collected::AlreadyCertified { index });
        }
        state.signed.insert(validator, (id, signature.signature));
        state.essences.entry(id).or_insert(essence);
        let signers: Vec<MilestoneSignature> = state
            .signed
            .iter()
            .filter(|(_, (e, _))| *e == id)
            .map(|(k, (_, s))| MilestoneSignature {
                public_key: *k,
                signature: *s,
            })
            .collect();
        if signers.len() < needed as usize {
            return Ok(Collected::Pending {
                index,
                signers: signers.len(),
                needed,
            });
        }
        state.certified = true;
        let essence = state
            .essences
            .get(&id)
            .cloned()
            .ok_or(CollectError::InvalidEssence(DecodeError::Inconsistent(
                "collected essence missing",
            )))?;
        Ok(Collected::Certified(Milestone {
            essence,
            signatures: signers,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_crypto::certificate::verify_certificate;
    use weft_types::{BlockId, InclusionRoot, StateRoot};

    struct Setup {
        keys: Vec<OrganisationKey>,
        committee: Committee,
    }

    fn setup() -> Setup {
        let keys: Vec<_> = (1..=4u8)
            .map(|i| OrganisationKey::from_seed(&[i; 32]))
            .collect();
        let committee = Committee::new(3, keys.iter().map(|k| k.public_key()).collect()).unwrap();
        Setup { keys, committee }
    }

    fn essence(s: &Setup, index: u32, state: u8) -> MilestoneEssence {
        MilestoneEssence {
            index,
            timestamp: 1_000 + index as u64,
            previous_milestone_id: if index == 1 {
                MilestoneId::NONE
            } else {
                MilestoneId([7; 32])
            },
            parents: vec![BlockId([1; 32])],
            inclusion_root: InclusionRoot([2; 32]),
            state_root: StateRoot([state; 32]),
            committee_id: s.committee.id(),
        }
    }

    #[test]
    fn a_quorum_on_one_essence_certifies_it() {
        let s = setup();
        let mut c = CertificateCollector::new(s.committee.clone(), 1);
        let e = essence(&s, 1, 3);
        for (i, k) in s.keys.iter().take(2).enumerate() {
            assert_eq!(
                c.add(SignatureShare::sign(e.clone(), k)),
                Ok(Collected::Pending {
                    index: 1,
                    signers: i + 1,
                    needed: 3
                })
            );
        }
        let Ok(Collected::Certified(m)) = c.add(SignatureShare::sign(e.clone(), &s.keys[2])) else {
            panic!("expected a certificate");
        };
        assert_eq!(m.essence, e);
        assert_eq!(m.signatures.len(), 3);
        assert_eq!(verify_certificate(&m, &s.committee), Ok(()));
        // The fourth signature arrives late: nothing more to do.
        assert_eq!(
            c.add(SignatureShare::sign(e, &s.keys[3])),
            Ok(Collected::AlreadyCertified { index: 1 })
        );
    }

    #[test]
    fn below_threshold_and_split_votes_certify_nothing() {
        let s = setup();
        let mut c = CertificateCollector::new(s.committee.clone(), 1);
        let (a, b) = (essence(&s, 2, 3), essence(&s, 2, 4));
        for (i, k) in s.keys.iter().enumerate() {
            let e = if i < 2 { a.clone() } else { b.clone() };
            let r = c.add(SignatureShare::sign(e, k)).unwrap();
            assert!(
                matches!(r, Collected::Pending { signers, .. } if signers <= 2),
                "{r:?}"
            );
        }
        assert!(c.evidence().is_empty());
    }

    #[test]
    fn strangers_bad_signatures_and_other_committees_are_refused() {
        let s = setup();
        let mut c = CertificateCollector::new(s.committee.clone(), 1);
        let e = essence(&s, 1, 3);
        let stranger = OrganisationKey::from_seed(&[50; 32]);
        assert_eq!(
            c.add(SignatureShare::sign(e.clone(), &stranger)),
            Err(CollectError::NotAMember(stranger.public_key()))
        );
        let mut bad = SignatureShare::sign(e.clone(), &s.keys[0]);
        bad.signature.signature.0[5] ^= 1;
        assert_eq!(
            c.add(bad),
            Err(CollectError::BadSignature(s.keys[0].public_key()))
        );
        // A signature by one member presented as another's.
        let mut stolen = SignatureShare::sign(e.clone(), &s.keys[0]);
        stolen.signature.public_key = s.keys[1].public_key();
        assert_eq!(
            c.add(stolen),
            Err(CollectError::BadSignature(s.keys[1].public_key()))
        );
        let mut other = e.clone();
        other.committee_id = CommitteeId([9; 32]);
        assert!(matches!(
            c.add(SignatureShare::sign(other, &s.keys[0])),
            Err(CollectError::WrongCommittee { .. })
        ));
        let mut broken = e;
        broken.previous_milestone_id = MilestoneId([1; 32]);
        assert!(matches!(
            c.add(SignatureShare::sign(broken, &s.keys[0])),
            Err(CollectError::InvalidEssence(_))
        ));
        // None of that counted.
        let good = essence(&s, 1, 3);
        assert!(matches!(
            c.add(SignatureShare::sign(good, &s.keys[0])),
            Ok(Collected::Pending { signers: 1, .. })
        ));
    }

    #[test]
    fn an_equivocator_is_recorded_and_never_counted() {
        let s = setup();
        let mut c = CertificateCollector::new(s.committee.clone(), 1);
        let (a, b) = (essence(&s, 3, 3), essence(&s, 3, 4));
        let liar = &s.keys[0];
        assert!(c.add(SignatureShare::sign(a.clone(), liar)).is_ok());
        assert!(c.add(SignatureShare::sign(a.clone(), &s.keys[1])).is_ok());
        assert_eq!(
            c.add(SignatureShare::sign(b.clone(), liar)),
            Err(CollectError::Equivocation {
                validator: liar.public_key(),
                index: 3
            })
        );
        assert_eq!(c.evidence().len(), 1);
        assert!(c.evidence()[0].verify(&s.committee));
        assert_eq!(c.evidence()[0].index(), 3);
        // Its first share no longer counts, and nothing more from it does.
        assert_eq!(
            c.add(SignatureShare::sign(a.clone(), liar)),
            Err(CollectError::Equivocator {
                validator: liar.public_key(),
                index: 3
            })
        );
        assert_eq!(
            c.add(SignatureShare::sign(a.clone(), &s.keys[2])),
            Ok(Collected::Pending {
                index: 3,
                signers: 2,
                needed: 3
            })
        );
        let Ok(Collected::Certified(m)) = c.add(SignatureShare::sign(a, &s.keys[3])) else {
            panic!("the three honest members certify");
        };
        assert!(m
            .signatures
            .iter()
            .all(|x| x.public_key != liar.public_key()));
        assert_eq!(verify_certificate(&m, &s.committee), Ok(()));
        // Forged evidence does not verify.
        let mut forged = c.take_evidence().remove(0);
        forged.second.0 = forged.first.0.clone();
        assert!(!forged.verify(&s.committee));
    }

    #[test]
    fn duplicates_window_and_forgetting() {
        let s = setup();
        let mut c = CertificateCollector::new(s.committee.clone(), 10);
        let e = essence(&s, 10, 3);
        assert!(c.add(SignatureShare::sign(e.clone(), &s.keys[0])).is_ok());
        assert_eq!(
            c.add(SignatureShare::sign(e, &s.keys[0])),
            Ok(Collected::Duplicate)
        );
        assert_eq!(
            c.add(SignatureShare::sign(
                essence(&s, 10 + COLLECTION_WINDOW, 3),
                &s.keys[0]
            )),
            Err(CollectError::TooFarAhead {
                index: 10 + COLLECTION_WINDOW,
                lowest: 10
            })
        );
        assert_eq!(
            c.add(SignatureShare::sign(essence(&s, 9, 3), &s.keys[0])),
            Ok(Collected::AlreadyCertified { index: 9 })
        );
        c.forget_below(11);
        assert_eq!(c.lowest(), 11);
        assert_eq!(
            c.add(SignatureShare::sign(essence(&s, 10, 3), &s.keys[1])),
            Ok(Collected::AlreadyCertified { index: 10 })
        );
    }

    #[test]
    fn shares_round_trip_and_garbage_is_refused() {
        let s = setup();
        let share = SignatureShare::sign(essence(&s, 4, 3), &s.keys[2]);
        let bytes = share.to_bytes();
        assert_eq!(SignatureShare::from_bytes(&bytes), Ok(share));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(SignatureShare::from_bytes(&trailing).is_err());
        for cut in 0..bytes.len() {
            assert!(SignatureShare::from_bytes(&bytes[..cut]).is_err());
        }
    }
}
