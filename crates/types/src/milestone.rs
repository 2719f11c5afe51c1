//! Milestones: the committee's certificate that a past cone of the Tangle is final.
//!
//! A milestone's essence names its index, time, predecessor, the parents whose past cone
//! it confirms, the inclusion root of the newly confirmed blocks (in white-flag order)
//! and the ledger state root after applying them, and the committee its signatures are
//! checked against. The committee signs the essence's id; a milestone is final with a
//! quorum of signatures. A one-member committee (dev mode) and an n-member consortium
//! use the same format.

use serde::{Deserialize, Serialize};

use crate::codec::{check_range, check_strictly_ascending, DecodeError, Reader, Writer};
use crate::hash::blake2b256;
use crate::id::{
    BlockId, CommitteeId, InclusionRoot, MilestoneId, PublicKeyBytes, SignatureBytes, StateRoot,
};
use crate::MAX_PARENTS;

/// Largest committee (and so largest signature list).
pub const MAX_COMMITTEE_SIZE: usize = 64;

/// Domain prefix of a milestone id.
pub const MILESTONE_ID_DOMAIN: &[u8] = b"weft/milestone/v1";
/// Domain prefix of the message a committee member signs.
pub const MILESTONE_SIGNATURE_DOMAIN: &[u8] = b"weft/milestone-signature/v1";
/// Domain prefix of a committee id.
pub const COMMITTEE_ID_DOMAIN: &[u8] = b"weft/committee/v1";

/// What the committee agrees on and signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MilestoneEssence {
    /// 1 for the first milestone, then +1.
    pub index: u32,
    /// Milestone time, milliseconds since the Unix epoch (equal to the block's issuing time).
    #[serde(with = "crate::payload::u64_string")]
    pub timestamp: u64,
    /// Id of milestone `index - 1` (zero for milestone 1).
    pub previous_milestone_id: MilestoneId,
    /// The tips whose past cone this milestone confirms (equal to the block's parents).
    pub parents: Vec<BlockId>,
    /// Merkle root over the ids of the newly confirmed blocks, in white-flag order.
    pub inclusion_root: InclusionRoot,
    /// Ledger state root after applying them.
    pub state_root: StateRoot,
    /// The committee whose signatures certify this milestone.
    pub committee_id: CommitteeId,
}

impl MilestoneEssence {
    /// Canonical bytes of the essence.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(4 + 8 + 32 + 1 + 32 * self.parents.len() + 96);
        self.encode_into(&mut w);
        w.into_bytes()
    }

    fn encode_into(&self, w: &mut Writer) {
        w.u32(self.index);
        w.u64(self.timestamp);
        w.bytes(&self.previous_milestone_id.0);
        w.u8(self.parents.len() as u8);
        for p in &self.parents {
            w.bytes(&p.0);
        }
        w.bytes(&self.inclusion_root.0);
        w.bytes(&self.state_root.0);
        w.bytes(&self.committee_id.0);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<MilestoneEssence, DecodeError> {
        let index = r.u32("milestone index")?;
        check_range("milestone index", index as u64, 1, u32::MAX as u64)?;
        let timestamp = r.u64("milestone timestamp")?;
        let previous_milestone_id = MilestoneId(r.array("previous milestone id")?);
        let count = r.u8("milestone parent count")?;
        check_range(
            "milestone parent count",
            count as u64,
            1,
            MAX_PARENTS as u64,
        )?;
        let mut parents = Vec::with_capacity(count as usize);
        for _ in 0..count {
            parents.push(BlockId(r.array("milestone parent")?));
        }
        check_strictly_ascending("milestone parents", &parents)?;
        let inclusion_root = InclusionRoot(r.array("inclusion root")?);
        let state_root = StateRoot(r.array("state root")?);
        let committee_id = CommitteeId(r.array("committee id")?);
        let essence = MilestoneEssence {
            index,
            timestamp,
            previous_milestone_id,
            parents,
            inclusion_root,
            state_root,
            committee_id,
        };
        essence.check()?;
        Ok(essence)
    }

    /// The rules every essence obeys, decoded or built: index at least 1, a zero previous
    /// id exactly for milestone 1, 1–8 strictly ascending parents.
    pub fn check(&self) -> Result<(), DecodeError> {
        check_range("milestone index", self.index as u64, 1, u32::MAX as u64)?;
        check_range(
            "milestone parent count",
            self.parents.len() as u64,
            1,
            MAX_PARENTS as u64,
        )?;
        check_strictly_ascending("milestone parents", &self.parents)?;
        if (self.index == 1) != (self.previous_milestone_id == MilestoneId::NONE) {
            return Err(DecodeError::Inconsistent(
                "exactly milestone 1 has a zero previous milestone id",
            ));
        }
        Ok(())
    }

    /// The milestone id: BLAKE2b-256(`weft/milestone/v1` || essence bytes).
    pub fn id(&self) -> MilestoneId {
        MilestoneId(blake2b256(&[MILESTONE_ID_DOMAIN, &self.to_bytes()]))
    }

    /// The message each committee member signs:
    /// `weft/milestone-signature/v1` || milestone id.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut m = MILESTONE_SIGNATURE_DOMAIN.to_vec();
        m.extend_from_slice(&self.id().0);
        m
    }
}

/// One committee member's signature on a milestone essence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MilestoneSignature {
    /// The member's Ed25519 public key.
    pub public_key: PublicKeyBytes,
    /// Its signature on [`MilestoneEssence::signing_message`].
    pub signature: SignatureBytes,
}

/// A milestone: the essence and the committee's signatures, sorted by public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Milestone {
    /// What was agreed.
    pub essence: MilestoneEssence,
    /// Signatures, strictly ascending by public key, 1 to 64 of them.
    pub signatures: Vec<MilestoneSignature>,
}

impl Milestone {
    /// Writes the canonical encoding: essence, then `u8` count and the signatures.
    pub fn encode_into(&self, w: &mut Writer) {
        self.essence.encode_into(w);
        encode_signatures(w, &self.signatures);
    }

    /// Reads the canonical encoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Milestone, DecodeError> {
        let essence = MilestoneEssence::decode_from(r)?;
        let signatures = decode_signatures(r, &MILESTONE_SIGNATURES)?;
        let milestone = Milestone {
            essence,
            signatures,
        };
        milestone.check_signers()?;
        Ok(milestone)
    }

    /// 1–64 signatures, strictly ascending by public key (so signers are distinct).
    pub fn check_signers(&self) -> Result<(), DecodeError> {
        check_signers(&self.signatures, &MILESTONE_SIGNATURES)
    }

    /// The milestone id (of its essence).
    pub fn id(&self) -> MilestoneId {
        self.essence.id()
    }
}

/// The field names a list of committee signatures is reported under (decode errors name
/// the field, so a milestone's and a committee change's stay distinguishable).
struct SignatureFields {
    count: &'static str,
    key: &'static str,
    signature: &'static str,
    signers: &'static str,
}

const MILESTONE_SIGNATURES: SignatureFields = SignatureFields {
    count: "milestone signature count",
    key: "milestone signer key",
    signature: "milestone signature",
    signers: "milestone signers",
};

const CHANGE_SIGNATURES: SignatureFields = SignatureFields {
    count: "committee change signature count",
    key: "committee change signer key",
    signature: "committee change signature",
    signers: "committee change signers",
};

/// `u8 count`, then `[32] key || [64] signature` per signature.
fn encode_signatures(w: &mut Writer, signatures: &[MilestoneSignature]) {
    w.u8(signatures.len() as u8);
    for s in signatures {
        w.bytes(&s.public_key.0);
        w.bytes(&s.signature.0);
    }
}

/// Reads [`encode_signatures`]: 1 to [`MAX_COMMITTEE_SIZE`] signatures (their order is
/// checked by [`check_signers`]).
fn decode_signatures(
    r: &mut Reader<'_>,
    f: &SignatureFields,
) -> Result<Vec<MilestoneSignature>, DecodeError> {
    let count = r.u8(f.count)?;
    check_range(f.count, count as u64, 1, MAX_COMMITTEE_SIZE as u64)?;
    let mut signatures = Vec::with_capacity(count as usize);
    for _ in 0..count {
        signatures.push(MilestoneSignature {
            public_key: PublicKeyBytes(r.array(f.key)?),
            signature: SignatureBytes(r.array(f.signature)?),
        });
    }
    Ok(signatures)
}

/// 1 to [`MAX_COMMITTEE_SIZE`] signatures, strictly ascending by public key (so the
/// signers are distinct).
fn check_signers(
    signatures: &[MilestoneSignature],
    f: &SignatureFields,
) -> Result<(), DecodeError> {
    check_range(
        f.count,
        signatures.len() as u64,
        1,
        MAX_COMMITTEE_SIZE as u64,
    )?;
    let keys: Vec<_> = signatures.iter().map(|s| s.public_key).collect();
    check_strictly_ascending(f.signers, &keys)
}

/// Why a committee description is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitteeError {
    /// No members or more than [`MAX_COMMITTEE_SIZE`].
    #[error("committee size {0} outside 1..={MAX_COMMITTEE_SIZE}")]
    Size(usize),
    /// A member listed twice.
    #[error("committee member {0} listed twice")]
    DuplicateMember(PublicKeyBytes),
    /// The threshold is not a Byzantine quorum (more than two thirds) or exceeds the size.
    #[error("threshold {threshold} is not a Byzantine quorum of {size} members (needs > 2/3 and <= size)")]
    Threshold {
        /// Given threshold.
        threshold: u16,
        /// Committee size.
        size: usize,
    },
}

/// The milestone committee: members' keys and how many signatures make a milestone final.
/// Deserialising goes through [`Committee::new`], so a committee read from a file or a
/// store obeys the same rules as one built in code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CommitteeParts")]
pub struct Committee {
    threshold: u16,
    members: Vec<PublicKeyBytes>,
}

/// The serialised form of a committee, checked on the way in.
#[derive(Deserialize)]
struct CommitteeParts {
    threshold: u16,
    members: Vec<PublicKeyBytes>,
}

impl TryFrom<CommitteeParts> for Committee {
    type Error = CommitteeError;
    fn try_from(p: CommitteeParts) -> Result<Committee, CommitteeError> {
        Committee::new(p.threshold, p.members)
    }
}

impl Committee {
    /// A committee of `members` (any order) needing `threshold` signatures. With n = 3f+1
    /// members the threshold must be at least 2f+1: more than two thirds of n.
    pub fn new(
        threshold: u16,
        mut members: Vec<PublicKeyBytes>,
    ) -> Result<Committee, CommitteeError> {
        if members.is_empty() || members.len() > MAX_COMMITTEE_SIZE {
            return Err(CommitteeError::Size(members.len()));
        }
        members.sort();
        if let Some(pair) = members.windows(2).find(|p| p[0] == p[1]) {
            return Err(CommitteeError::DuplicateMember(pair[0]));
        }
        let n = members.len();
        if threshold as usize > n || (threshold as usize) * 3 <= 2 * n {
            return Err(CommitteeError::Threshold { threshold, size: n });
        }
        Ok(Committee { threshold, members })
    }

    /// Members, ascending.
    pub fn members(&self) -> &[PublicKeyBytes] {
        &self.members
    }

    /// Signatures needed.
    pub fn threshold(&self) -> u16 {
        self.threshold
    }

    /// Whether `key` is a member.
    pub fn contains(&self, key: &PublicKeyBytes) -> bool {
        self.members.binary_search(key).is_ok()
    }

    /// BLAKE2b-256(`weft/committee/v1` || threshold u16 || count u8 || members).
    pub fn id(&self) -> CommitteeId {
        let mut w = Writer::with_capacity(3 + 32 * self.members.len());
        self.encode_into(&mut w);
        CommitteeId(blake2b256(&[COMMITTEE_ID_DOMAIN, &w.into_bytes()]))
    }

    /// Writes the canonical encoding: `u16 threshold || u8 count || members` (ascending),
    /// the bytes its id hashes.
    pub fn encode_into(&self, w: &mut Writer) {
        w.u16(self.threshold);
        w.u8(self.members.len() as u8);
        for m in &self.members {
            w.bytes(&m.0);
        }
    }

    /// Reads the canonical encoding: 1..=64 members, strictly ascending, and a threshold
    /// that is a Byzantine quorum of them (checked by [`Committee::new`]), so an invalid
    /// committee cannot be decoded.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Committee, DecodeError> {
        let threshold = r.u16("committee threshold")?;
        let count = r.u8("committee member count")?;
        check_range(
            "committee member count",
            count as u64,
            1,
            MAX_COMMITTEE_SIZE as u64,
        )?;
        let mut members = Vec::with_capacity(count as usize);
        for _ in 0..count {
            members.push(PublicKeyBytes(r.array("committee member")?));
        }
        check_strictly_ascending("committee members", &members)?;
        let n = members.len() as u64;
        // 3t > 2n and t <= n: the smallest quorum is floor(2n/3) + 1.
        check_range("committee threshold", threshold as u64, 2 * n / 3 + 1, n)?;
        Committee::new(threshold, members)
            .map_err(|_| DecodeError::Inconsistent("the committee is not a valid committee"))
    }
}

/// Domain prefix of the message the current committee signs to change the committee.
pub const COMMITTEE_CHANGE_DOMAIN: &[u8] = b"weft/committee-change/v1";

/// A change of the milestone committee, signed by the committee in force when it is
/// confirmed.
///
/// The ledger applies it only when signed by a quorum of the committee that certifies
/// the confirming milestone, with enough notice, and one at a time; from
/// `effective_index` on, `committee` certifies milestones and its members may sign
/// tip-merging blocks (`specs/protocol.md` §3.7, §7.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitteeChange {
    /// The committee that certifies milestones from `effective_index` on.
    pub committee: Committee,
    /// The first milestone index the new committee certifies.
    pub effective_index: u32,
    /// Signatures of members of the current committee over `signing_message`, signers
    /// strictly ascending.
    pub signatures: Vec<MilestoneSignature>,
}

impl CommitteeChange {
    /// `"weft/committee-change/v1" || current committee id (32) || new committee id (32)
    /// || effective_index u32 LE` (92 bytes): what each signer of the current committee
    /// signs. Naming the current committee makes a change signed for one committee
    /// useless under another; naming the index makes it useless for another date.
    pub fn signing_message(&self, current: &CommitteeId) -> Vec<u8> {
        let mut m = Vec::with_capacity(COMMITTEE_CHANGE_DOMAIN.len() + 32 + 32 + 4);
        m.extend_from_slice(COMMITTEE_CHANGE_DOMAIN);
        m.extend_from_slice(&current.0);
        m.extend_from_slice(&self.committee.id().0);
        m.extend_from_slice(&self.effective_index.to_le_bytes());
        m
    }

    /// Signers strictly ascending (no repeats), 1..=[`MAX_COMMITTEE_SIZE`] of them.
    pub fn check_signers(&self) -> Result<(), DecodeError> {
        check_signers(&self.signatures, &CHANGE_SIGNATURES)
    }

    /// The rules every change obeys, decoded or built in code: an effective index of at
    /// least 1 and well-formed signers ([`CommitteeChange::check_signers`]); the
    /// committee is valid by construction.
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_range(
            "committee change effective index",
            self.effective_index as u64,
            1,
            u32::MAX as u64,
        )?;
        self.check_signers()
    }

    /// Writes the canonical encoding: committee, `u32 effective index`, `u8` count and
    /// the signatures (`[32] key || [64] signature` each).
    pub fn encode_into(&self, w: &mut Writer) {
        self.committee.encode_into(w);
        w.u32(self.effective_index);
        encode_signatures(w, &self.signatures);
    }

    /// Reads the canonical encoding and checks it ([`CommitteeChange::check_limits`]).
    pub fn decode_from(r: &mut Reader<'_>) -> Result<CommitteeChange, DecodeError> {
        let committee = Committee::decode_from(r)?;
        let effective_index = r.u32("committee change effective index")?;
        check_range(
            "committee change effective index",
            effective_index as u64,
            1,
            u32::MAX as u64,
        )?;
        let signatures = decode_signatures(r, &CHANGE_SIGNATURES)?;
        let change = CommitteeChange {
            committee,
            effective_index,
            signatures,
        };
        change.check_limits()?;
        Ok(change)
    }

    /// The canonical bytes (the payload body of kind 17).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(
            3 + 32 * self.committee.members().len() + 5 + 96 * self.signatures.len(),
        );
        self.encode_into(&mut w);
        w.into_bytes()
    }

    /// Decodes exactly `b`: nothing may follow the change.
    pub fn from_bytes(b: &[u8]) -> Result<CommitteeChange, DecodeError> {
        let mut r = Reader::new(b);
        let change = CommitteeChange::decode_from(&mut r)?;
        r.finish("committee change")?;
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> PublicKeyBytes {
        PublicKeyBytes([b; 32])
    }

    #[test]
    fn committee_needs_a_byzantine_quorum() {
        assert!(Committee::new(1, vec![key(1)]).is_ok());
        assert!(Committee::new(3, vec![key(1), key(2), key(3), key(4)]).is_ok());
        assert_eq!(
            Committee::new(2, vec![key(1), key(2), key(3), key(4)]),
            Err(CommitteeError::Threshold {
                threshold: 2,
                size: 4
            })
        );
        assert_eq!(
            Committee::new(5, vec![key(1), key(2), key(3), key(4)]),
            Err(CommitteeError::Threshold {
                threshold: 5,
                size: 4
            })
        );
        assert_eq!(Committee::new(1, vec![]), Err(CommitteeError::Size(0)));
        assert_eq!(
            Committee::new(2, vec![key(1), key(1)]),
            Err(CommitteeError::DuplicateMember(key(1)))
        );
    }

    #[test]
    fn committee_id_ignores_input_order() {
        let a = Committee::new(3, vec![key(1), key(2), key(3), key(4)]).unwrap();
        let b = Committee::new(3, vec![key(4), key(3), key(2), key(1)]).unwrap();
        assert_eq!(a.id(), b.id());
        let c = Committee::new(4, vec![key(4), key(3), key(2), key(1)]).unwrap();
        assert_ne!(a.id(), c.id());
    }

    fn sample_change() -> CommitteeChange {
        CommitteeChange {
            committee: Committee::new(3, vec![key(9), key(1), key(5), key(7)]).unwrap(),
            effective_index: 42,
            signatures: vec![
                MilestoneSignature {
                    public_key: key(2),
                    signature: SignatureBytes([0xaa; 64]),
                },
                MilestoneSignature {
                    public_key: key(3),
                    signature: SignatureBytes([0xbb; 64]),
                },
            ],
        }
    }

    #[test]
    fn committee_encoding_is_what_its_id_hashes() {
        let c = Committee::new(3, vec![key(4), key(3), key(2), key(1)]).unwrap();
        let mut w = Writer::default();
        c.encode_into(&mut w);
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), 3 + 4 * 32);
        assert_eq!(&bytes[..3], &[3, 0, 4]);
        assert_eq!(
            c.id(),
            CommitteeId(blake2b256(&[COMMITTEE_ID_DOMAIN, &bytes]))
        );
        let mut r = Reader::new(&bytes);
        assert_eq!(Committee::decode_from(&mut r), Ok(c));
        r.finish("committee").unwrap();
    }

    #[test]
    fn committee_change_round_trips_and_rejects_truncation() {
        let change = sample_change();
        change.check_limits().unwrap();
        let bytes = change.to_bytes();
        assert_eq!(bytes.len(), 3 + 4 * 32 + 4 + 1 + 2 * 96);
        // threshold 3, 4 members, ascending.
        assert_eq!(&bytes[..3], &[3, 0, 4]);
        assert_eq!(&bytes[3..35], &[1; 32]);
        assert_eq!(&bytes[131..135], &42u32.to_le_bytes());
        assert_eq!(bytes[135], 2);
        let back = CommitteeChange::from_bytes(&bytes).unwrap();
        assert_eq!(back, change);
        assert_eq!(back.to_bytes(), bytes);
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    CommitteeChange::from_bytes(&bytes[..cut]),
                    Err(DecodeError::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            CommitteeChange::from_bytes(&long),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn invalid_committee_changes_do_not_decode() {
        let bytes = sample_change().to_bytes();
        // Threshold 2 of 4 is not a Byzantine quorum; 5 of 4 is more than the members.
        for t in [0u8, 2, 5] {
            let mut b = bytes.clone();
            b[0] = t;
            assert!(
                matches!(
                    CommitteeChange::from_bytes(&b),
                    Err(DecodeError::OutOfRange {
                        field: "committee threshold",
                        ..
                    })
                ),
                "threshold {t}"
            );
        }
        // No members, 65 members.
        for n in [0u8, 65] {
            let mut b = bytes.clone();
            b[2] = n;
            assert!(matches!(
                CommitteeChange::from_bytes(&b),
                Err(DecodeError::OutOfRange {
                    field: "committee member count",
                    ..
                })
            ));
        }
        // Members out of order, or repeated.
        let mut b = bytes.clone();
        b[3..35].copy_from_slice(&[8; 32]);
        assert!(matches!(
            CommitteeChange::from_bytes(&b),
            Err(DecodeError::NotStrictlyAscending {
                field: "committee members",
                position: 1
            })
        ));
        let mut b = bytes.clone();
        b[3..35].copy_from_slice(&[5; 32]);
        assert!(matches!(
            CommitteeChange::from_bytes(&b),
            Err(DecodeError::NotStrictlyAscending { .. })
        ));
        // Effective index 0.
        let mut b = bytes.clone();
        b[131..135].copy_from_slice(&[0; 4]);
        assert!(matches!(
            CommitteeChange::from_bytes(&b),
            Err(DecodeError::OutOfRange {
                field: "committee change effective index",
                ..
            })
        ));
        // No signatures; signers repeated or unordered.
        let mut c = sample_change();
        c.signatures.clear();
        assert!(c.check_signers().is_err());
        assert!(CommitteeChange::from_bytes(&c.to_bytes()).is_err());
        let mut c = sample_change();
        c.signatures.swap(0, 1);
        assert!(matches!(
            CommitteeChange::from_bytes(&c.to_bytes()),
            Err(DecodeError::NotStrictlyAscending {
                field: "committee change signers",
                ..
            })
        ));
        c.signatures[0] = c.signatures[1];
        assert!(c.check_signers().is_err());
        assert!(c.check_limits().is_err());
    }

    #[test]
    fn committee_change_signing_message_layout() {
        let change = sample_change();
        let current = CommitteeId([0x11; 32]);
        let m = change.signing_message(&current);
        assert_eq!(m.len(), 24 + 32 + 32 + 4);
        assert_eq!(&m[..24], b"weft/committee-change/v1");
        assert_eq!(&m[24..56], &current.0);
        assert_eq!(&m[56..88], &change.committee.id().0);
        assert_eq!(&m[88..], &42u32.to_le_bytes());
        let mut later = change.clone();
        later.effective_index += 1;
        assert_ne!(later.signing_message(&current), m);
        assert_ne!(change.signing_message(&CommitteeId([0x12; 32])), m);
        // Signatures are not signed.
        let mut other = change.clone();
        other.signatures.pop();
        assert_eq!(other.signing_message(&current), m);
    }

    #[test]
    fn committee_change_json() {
        let change = sample_change();
        let json = serde_json::to_string(&change).unwrap();
        assert!(json.contains("\"effectiveIndex\":42"), "{json}");
        assert!(json.contains("\"threshold\":3"), "{json}");
        assert!(json.contains("\"publicKey\""), "{json}");
        assert_eq!(
            serde_json::from_str::<CommitteeChange>(&json).unwrap(),
            change
        );
        // An invalid committee is refused in JSON too.
        let bad = json.replace("\"threshold\":3", "\"threshold\":2");
        assert!(serde_json::from_str::<CommitteeChange>(&bad).is_err());
    }
}
