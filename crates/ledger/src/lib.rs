//! The ledger state machine: pure, deterministic, no I/O.
//!
//! Consensus decides *which* blocks a milestone confirms and in what (white-flag) order;
//! this crate decides what they *mean*. Given read access to the state after the previous
//! milestone and the newly confirmed blocks in order, [`Ledger::apply_milestone`] returns,
//! per block, applied or conflicting (with a reason), the state changes to write in the
//! milestone's atomic batch, and the new state root. Two nodes that start from the same
//! state and apply the same blocks in the same order always reach the same root.
//!
//! A conflicting block changes nothing: each block's writes go to a savepoint that is
//! discarded if its payload's rules fail. Later payloads (identities, registries,
//! programs, claims, notes) are new arms of [`Ledger::apply_payload`] with their own keys;
//! the interface does not change.

pub mod claims;
pub mod committee;
pub mod identity;
pub mod notes;
pub mod registry;
mod state;

use std::collections::BTreeSet;

use state::Overlay;
pub use state::{state_element, MemoryState, StateDiff, StateError, StateRead};

pub use claims::{ClaimCounts, ClaimVerifier, ProgramRecord};
pub use committee::{
    committee_at, decode_committee_change_entry, is_epoch_start, pending_committee_change,
    MIN_COMMITTEE_CHANGE_DELAY,
};
pub use identity::{check_issuer, may_sign_blocks, DidRecord, KeyRecord, Stamp};
pub use keys::{committee_change_key, COMMITTEE_CHANGE_PREFIX};
pub use notes::{NoteStatus, NoteTotals, VerifiedNotes};
pub use registry::{RecentRoot, RegistryProof, RegistryProofError, RegistryRecord, SchemaRecord};

use serde::{Deserialize, Serialize};
use weft_crypto::MultisetHash;
use weft_types::hash::blake2b256;
use weft_types::identity::role;
use weft_types::{
    Block, BlockId, Committee, DidCreate, InclusionRoot, Issuer, NetworkId, Payload, StateRoot,
};

/// Domain prefix of the state root.
pub const STATE_ROOT_DOMAIN: &[u8] = b"weft/state-root/v2";

/// Ledger keys. Each is a short ASCII namespace followed by binary parts; the list is in
/// `specs/protocol.md` §7.
pub mod keys {
    use weft_types::{Did, ProgramId, PublicKeyBytes, RegistryId, SchemaId};

    /// Network name (genesis).
    pub const NETWORK: &[u8] = b"genesis/network";
    /// The genesis committee's id (written at genesis and never changed; the committee
    /// in force at an index is [`crate::committee_at`]).
    pub const COMMITTEE: &[u8] = b"genesis/committee";
    /// Count of blocks applied.
    pub const APPLIED: &[u8] = b"count/applied";
    /// Count of blocks confirmed as conflicting.
    pub const CONFLICTING: &[u8] = b"count/conflicting";
    /// Count of anchors (tagged-data payloads applied).
    pub const ANCHORS: &[u8] = b"count/anchors";

    /// A member of the committee in force (may sign tip-merging blocks and committee
    /// changes): 42 bytes, `committee/` ‖ key.
    pub fn committee_member(key: &PublicKeyBytes) -> Vec<u8> {
        [b"committee/".as_slice(), &key.0].concat()
    }

    /// Namespace of the applied committee changes. Their keys are exactly 21 bytes
    /// ([`committee_change_key`]); a reader scanning this prefix must skip longer keys,
    /// which are member entries ([`committee_member`]) whose key happens to begin with
    /// `change/`.
    pub const COMMITTEE_CHANGE_PREFIX: &[u8] = b"committee/change/";

    /// An applied committee change, by the `u32` **big-endian** index it takes effect at
    /// (so a prefix scan lists them in order). Value: `u32` LE effective index of the
    /// previous change (0 = none) ‖ `CommitteeChange::to_bytes()`
    /// ([`crate::decode_committee_change_entry`]).
    pub fn committee_change_key(effective: u32) -> Vec<u8> {
        [COMMITTEE_CHANGE_PREFIX, &effective.to_be_bytes()].concat()
    }

    /// The effective index (`u32` LE) of the newest applied committee change; absent
    /// while the genesis committee has never been changed.
    pub const COMMITTEE_LATEST_CHANGE: &[u8] = b"committee/latest-change";

    /// The accreditation authority's DID (genesis).
    pub const AUTHORITY: &[u8] = b"genesis/authority";
    /// How many recent roots each registry keeps (genesis, u32 LE).
    pub const RECENT_ROOTS: &[u8] = b"genesis/recent-roots";
    /// Every registry id, ascending, concatenated.
    pub const REGISTRIES: &[u8] = b"registries";
    /// The registry commitment (bound into the state root).
    pub const REGISTRIES_ROOT: &[u8] = b"registries/root";

    /// A DID's current record.
    pub fn did(did: &Did) -> Vec<u8> {
        [b"did/".as_slice(), &did.0].concat()
    }

    /// A DID's record at one version (u32 big-endian, so versions sort).
    pub fn did_version(did: &Did, version: u32) -> Vec<u8> {
        [b"didver/".as_slice(), &did.0, &version.to_be_bytes()].concat()
    }

    /// What the ledger knows of a public key (its DID, purposes, active or retired).
    pub fn did_key(key: &PublicKeyBytes) -> Vec<u8> {
        [b"didkey/".as_slice(), &key.0].concat()
    }

    /// The roles granted to a DID.
    pub fn accreditation(did: &Did) -> Vec<u8> {
        [b"accr/".as_slice(), &did.0].concat()
    }

    /// A distribution point's device key.
    pub fn device(key: &PublicKeyBytes) -> Vec<u8> {
        [b"device/".as_slice(), &key.0].concat()
    }

    /// A published schema.
    pub fn schema(id: &SchemaId) -> Vec<u8> {
        [b"schema/".as_slice(), &id.0].concat()
    }

    /// A registry's record.
    pub fn registry(id: &RegistryId) -> Vec<u8> {
        [b"reg/".as_slice(), &id.0].concat()
    }

    /// A registry's recent roots.
    pub fn registry_roots(id: &RegistryId) -> Vec<u8> {
        [b"regroots/".as_slice(), &id.0].concat()
    }

    /// The leaves of one chunk of a registry.
    pub fn registry_chunk(id: &RegistryId, chunk: u64) -> Vec<u8> {
        [b"regchunk/".as_slice(), &id.0, &chunk.to_be_bytes()].concat()
    }

    /// An aid program.
    pub fn program(id: &ProgramId) -> Vec<u8> {
        [b"program/".as_slice(), id.bytes()].concat()
    }

    /// A used nullifier of a program round (u32 BE round).
    pub fn nullifier(program: &ProgramId, round: u32, nullifier: &[u8; 32]) -> Vec<u8> {
        [
            b"nullifier/".as_slice(),
            program.bytes(),
            &round.to_be_bytes(),
            nullifier,
        ]
        .concat()
    }

    /// Namespace of a program round's used nullifiers.
    pub fn nullifier_prefix(program: &ProgramId, round: u32) -> Vec<u8> {
        [
            b"nullifier/".as_slice(),
            program.bytes(),
            &round.to_be_bytes(),
        ]
        .concat()
    }

    /// Claim counts of a program round, per point or (`None`) in total.
    pub fn claim_counts(program: &ProgramId, round: u32, point: Option<&Did>) -> Vec<u8> {
        let mut k = [b"claims/".as_slice(), program.bytes(), &round.to_be_bytes()].concat();
        if let Some(p) = point {
            k.extend_from_slice(&p.0);
        }
        k
    }

    /// The points that recorded claims in a program round (ascending DIDs).
    pub fn round_points(program: &ProgramId, round: u32) -> Vec<u8> {
        [b"points/".as_slice(), program.bytes(), &round.to_be_bytes()].concat()
    }

    /// An inner node of a registry at a height at or above its chunks.
    pub fn registry_node(id: &RegistryId, level: u8, index: u64) -> Vec<u8> {
        [
            b"regnode/".as_slice(),
            &id.0,
            &[level],
            &index.to_be_bytes(),
        ]
        .concat()
    }

    /// An unspent value note of a program: commitment || creating milestone (u32 LE).
    pub fn note(program: &ProgramId, id: &[u8; 32]) -> Vec<u8> {
        [b"note/".as_slice(), program.bytes(), id].concat()
    }

    /// Namespace of a program's unspent notes.
    pub fn note_prefix(program: &ProgramId) -> Vec<u8> {
        [b"note/".as_slice(), program.bytes()].concat()
    }

    /// A spent value note of a program: the spending milestone (u32 LE).
    pub fn spent_note(program: &ProgramId, id: &[u8; 32]) -> Vec<u8> {
        [b"spent/".as_slice(), program.bytes(), id].concat()
    }

    /// The kernel excess of a note payload, by its block.
    pub fn kernel(program: &ProgramId, block: &weft_types::BlockId) -> Vec<u8> {
        [b"kernel/".as_slice(), program.bytes(), &block.0].concat()
    }

    /// Namespace of a program's kernels.
    pub fn kernel_prefix(program: &ProgramId) -> Vec<u8> {
        [b"kernel/".as_slice(), program.bytes()].concat()
    }

    /// A value program's totals and audit sums (`notes::NoteTotals`).
    pub fn note_totals(program: &ProgramId) -> Vec<u8> {
        [b"notetotals/".as_slice(), program.bytes()].concat()
    }

    /// Namespace of anchor entries.
    pub const ANCHOR_PREFIX: &[u8] = b"anchor/";

    /// The first confirmed anchor of a (tag, data) pair, by its digest.
    pub fn anchor(digest: &[u8; 32]) -> Vec<u8> {
        [ANCHOR_PREFIX, digest].concat()
    }
}

/// Why a confirmed block was not applied. The code is stable: it is stored and served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConflictReason {
    /// The issuer is neither a registered organisation nor a committee member at this
    /// milestone.
    UnknownIssuer,
    /// The same tag and data were anchored by an earlier confirmed block.
    DuplicateAnchor,
    /// An anonymous block carries a payload only organisations may issue.
    AnonymousNotAllowed,
    /// A milestone payload inside another milestone's cone that is not that milestone.
    UnexpectedMilestone,
    /// Signed by a key that was removed, rotated out or deactivated.
    RevokedKey,
    /// The DID already exists.
    DidExists,
    /// A key (or device key) that is, or was, registered already.
    KeyInUse,
    /// No such DID.
    UnknownDid,
    /// Not signed by a current controller key of the DID.
    NotController,
    /// The update names another version than the DID's current one.
    StaleSequence,
    /// The update would leave an invalid DID document (unknown id, no controller, too
    /// many keys or services).
    InvalidDidDocument,
    /// The DID is deactivated.
    DidDeactivated,
    /// Only the accreditation authority may do this.
    NotAuthority,
    /// The signer's organisation lacks the role this needs.
    NotAccredited,
    /// No such active device key of that point.
    UnknownDeviceKey,
    /// The schema was published already.
    SchemaExists,
    /// No such schema.
    UnknownSchema,
    /// The registry exists already.
    RegistryExists,
    /// No such registry.
    UnknownRegistry,
    /// The signer is not the registry's issuer.
    NotRegistryIssuer,
    /// The issuance does not start at the registry's current size.
    WrongFirstIndex,
    /// The registry has no room for the leaves.
    RegistryFull,
    /// A leaf is zero or not a canonical field element.
    InvalidLeaf,
    /// A revoked index was never issued.
    LeafOutOfRange,
    /// A revoked index was revoked already.
    AlreadyRevoked,
    /// The program's policy or tiers do not compile (a constant outside the field, an
    /// impossible slot).
    InvalidProgram,
    /// The program exists already.
    ProgramExists,
    /// No such program.
    UnknownProgram,
    /// The program has no such round.
    UnknownRound,
    /// The claim was made outside the round, or reached the ledger after its grace.
    RoundClosed,
    /// The point is not one of the program's.
    PointNotAllowed,
    /// The device's signature over the claim does not verify.
    InvalidDeviceSignature,
    /// The registry's issuer or schema is not accepted by the program.
    IssuerNotAccepted,
    /// The root is not among the registry's recent roots.
    StaleRoot,
    /// The eligibility proof does not verify (or its disclosures are not the program's).
    InvalidProof,
    /// The household already claimed in this round.
    NullifierUsed,
    /// A note payload, or a claim's entitlement key, is malformed (a count, a point
    /// that is not one, an owner key that is the identity).
    MalformedNote,
    /// The aggregated range proof does not verify.
    InvalidRangeProof,
    /// Outputs do not equal inputs plus the public amount (or the kernel signature
    /// does not verify).
    Unbalanced,
    /// An input is not signed by the owner of the note it spends.
    NotNoteOwner,
    /// An input is not in the unspent set (spent already, or never created).
    NoteSpent,
    /// A created note exists already.
    NoteExists,
    /// Only the program's owner may mint for it.
    NotProgramOwner,
    /// The program does not pay its entitlement in value notes.
    NotAValueProgram,
    /// A committee change while the newest one has not taken effect yet (one change at
    /// a time).
    CommitteeChangePending,
    /// A committee change taking effect less than `MIN_COMMITTEE_CHANGE_DELAY`
    /// milestones after the milestone confirming it.
    CommitteeChangeTooSoon,
    /// A committee change not signed by a quorum of the committee in force.
    InvalidCommitteeSignatures,
    /// A committee change issued by a key that is not a member of the committee in
    /// force.
    NotACommitteeMember,
    /// A committee change that does not take effect at the first index of a committee
    /// epoch (`k · committee_epoch + 1`), or on a network without committee epochs.
    CommitteeChangeNotAtEpoch,
}

/// Every reason, in code order (code = position + 1).
const REASONS: [ConflictReason; 49] = [
    ConflictReason::UnknownIssuer,
    ConflictReason::DuplicateAnchor,
    ConflictReason::AnonymousNotAllowed,
    ConflictReason::UnexpectedMilestone,
    ConflictReason::RevokedKey,
    ConflictReason::DidExists,
    ConflictReason::KeyInUse,
    ConflictReason::UnknownDid,
    ConflictReason::NotController,
    ConflictReason::StaleSequence,
    ConflictReason::InvalidDidDocument,
    ConflictReason::DidDeactivated,
    ConflictReason::NotAuthority,
    ConflictReason::NotAccredited,
    ConflictReason::UnknownDeviceKey,
    ConflictReason::SchemaExists,
    ConflictReason::UnknownSchema,
    ConflictReason::RegistryExists,
    ConflictReason::UnknownRegistry,
    ConflictReason::NotRegistryIssuer,
    ConflictReason::WrongFirstIndex,
    ConflictReason::RegistryFull,
    ConflictReason::InvalidLeaf,
    ConflictReason::LeafOutOfRange,
    ConflictReason::AlreadyRevoked,
    ConflictReason::InvalidProgram,
    ConflictReason::ProgramExists,
    ConflictReason::UnknownProgram,
    ConflictReason::UnknownRound,
    ConflictReason::RoundClosed,
    ConflictReason::PointNotAllowed,
    ConflictReason::InvalidDeviceSignature,
    ConflictReason::IssuerNotAccepted,
    ConflictReason::StaleRoot,
    ConflictReason::InvalidProof,
    ConflictReason::NullifierUsed,
    ConflictReason::MalformedNote,
    ConflictReason::InvalidRangeProof,
    ConflictReason::Unbalanced,
    ConflictReason::NotNoteOwner,
    ConflictReason::NoteSpent,
    ConflictReason::NoteExists,
    ConflictReason::NotProgramOwner,
    ConflictReason::NotAValueProgram,
    ConflictReason::CommitteeChangePending,
    ConflictReason::CommitteeChangeTooSoon,
    ConflictReason::InvalidCommitteeSignatures,
    ConflictReason::NotACommitteeMember,
    ConflictReason::CommitteeChangeNotAtEpoch,
];

impl ConflictReason {
    /// Stable numeric code (0 is "no conflict").
    pub fn code(self) -> u8 {
        REASONS
            .iter()
            .position(|r| *r == self)
            .map_or(0, |p| p as u8 + 1)
    }

    /// The reason for a stored code.
    pub fn from_code(code: u8) -> Option<ConflictReason> {
        REASONS.get((code as usize).checked_sub(1)?).copied()
    }

    /// Every reason, in code order.
    pub fn all() -> &'static [ConflictReason] {
        &REASONS
    }

    /// A sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            ConflictReason::UnknownIssuer => {
                "the signing key is not an authentication key of a DID on the ledger"
            }
            ConflictReason::DuplicateAnchor => {
                "the same tag and data were already anchored by an earlier block"
            }
            ConflictReason::AnonymousNotAllowed => "anonymous blocks cannot carry this payload",
            ConflictReason::UnexpectedMilestone => {
                "milestone payload confirmed as an ordinary block"
            }
            ConflictReason::RevokedKey => {
                "signed by a key that was removed, rotated out or deactivated"
            }
            ConflictReason::DidExists => "the DID exists already",
            ConflictReason::KeyInUse => "the key is, or was, registered already",
            ConflictReason::UnknownDid => "no such DID",
            ConflictReason::NotController => "not signed by a controller key of the DID",
            ConflictReason::StaleSequence => "the update is not for the DID's current version",
            ConflictReason::InvalidDidDocument => "the update would leave an invalid DID document",
            ConflictReason::DidDeactivated => "the DID is deactivated",
            ConflictReason::NotAuthority => "only the accreditation authority may do this",
            ConflictReason::NotAccredited => "the organisation lacks the role this needs",
            ConflictReason::UnknownDeviceKey => "no such active device key of that point",
            ConflictReason::SchemaExists => "the schema was published already",
            ConflictReason::UnknownSchema => "no such schema",
            ConflictReason::RegistryExists => "the registry exists already",
            ConflictReason::UnknownRegistry => "no such registry",
            ConflictReason::NotRegistryIssuer => "the signer is not the registry's issuer",
            ConflictReason::WrongFirstIndex => {
                "the issuance does not start at the registry's current size"
            }
            ConflictReason::RegistryFull => "the registry has no room for these leaves",
            ConflictReason::InvalidLeaf => "a leaf is zero or not a canonical field element",
            ConflictReason::LeafOutOfRange => "a revoked index was never issued",
            ConflictReason::AlreadyRevoked => "a revoked index was revoked already",
            ConflictReason::InvalidProgram => "the program's policy or tiers do not compile",
            ConflictReason::ProgramExists => "the program exists already",
            ConflictReason::UnknownProgram => "no such program",
            ConflictReason::UnknownRound => "the program has no such round",
            ConflictReason::RoundClosed => {
                "the claim was made outside the round, or arrived after its grace period"
            }
            ConflictReason::PointNotAllowed => "the distribution point is not one of the program's",
            ConflictReason::InvalidDeviceSignature => "the device signature does not verify",
            ConflictReason::IssuerNotAccepted => {
                "the credential's issuer or schema is not accepted by the program"
            }
            ConflictReason::StaleRoot => "the registry root is older than the recent window",
            ConflictReason::InvalidProof => "the eligibility proof does not verify",
            ConflictReason::NullifierUsed => "the household already claimed in this round",
            ConflictReason::MalformedNote => {
                "a note payload or entitlement key is malformed (count, point or owner key)"
            }
            ConflictReason::InvalidRangeProof => {
                "the range proof does not verify: an amount may be outside [0, 2^64)"
            }
            ConflictReason::Unbalanced => {
                "the outputs do not add up to the inputs and the public amount"
            }
            ConflictReason::NotNoteOwner => {
                "an input is not signed by the owner of the note it spends"
            }
            ConflictReason::NoteSpent => "an input note is spent already or does not exist",
            ConflictReason::NoteExists => "a created note exists already",
            ConflictReason::NotProgramOwner => "only the program's owner may mint for it",
            ConflictReason::NotAValueProgram => {
                "the program does not pay its entitlement in value notes"
            }
            ConflictReason::CommitteeChangePending => {
                "a committee change is pending: the newest one has not taken effect yet"
            }
            ConflictReason::CommitteeChangeTooSoon => {
                "the committee change takes effect too soon after the milestone confirming it"
            }
            ConflictReason::InvalidCommitteeSignatures => {
                "the committee change is not signed by a quorum of the committee in force"
            }
            ConflictReason::NotACommitteeMember => {
                "only a member of the committee in force may issue a committee change"
            }
            ConflictReason::CommitteeChangeNotAtEpoch => {
                "the committee change does not take effect at the first milestone of a \
                 committee epoch (or the network has no committee epochs)"
            }
        }
    }
}

/// What happened to one confirmed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "camelCase")]
pub enum BlockOutcome {
    /// Its payload's effects are in the state.
    Applied,
    /// Confirmed, but without effect.
    Conflicting(ConflictReason),
}

/// Where in the ledger's history a block is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MilestoneContext {
    /// Index of the confirming milestone.
    pub index: u32,
    /// Its timestamp (ms).
    pub timestamp: u64,
}

/// The result of applying one milestone's cone.
#[derive(Debug, Clone)]
pub struct MilestoneOutcome {
    /// Per block, in the order given.
    pub outcomes: Vec<BlockOutcome>,
    /// The writes, to be stored in the milestone's batch.
    pub diff: StateDiff,
    /// The state commitment after the milestone.
    pub commitment: MultisetHash,
    /// The state root after the milestone.
    pub state_root: StateRoot,
}

/// Errors that stop a milestone from being applied at all (storage failures). A block
/// breaking a ledger rule is not an error: it is [`BlockOutcome::Conflicting`].
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Reading the previous state failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The genesis cannot be used.
    #[error("genesis: {0}")]
    Genesis(String),
}

/// The genesis: what the ledger holds before milestone 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Genesis {
    /// Network name (its hash is the network id).
    pub network_name: String,
    /// The milestone committee.
    pub committee: Committee,
    /// The consortium's accreditation authority: a DID created at genesis.
    pub authority: DidCreate,
    /// Organisations created and accredited at genesis (dev networks and tests; real
    /// networks accredit on the ledger).
    #[serde(default)]
    pub organisations: Vec<GenesisOrganisation>,
    /// How many recent roots each registry keeps (64 unless set).
    #[serde(default = "default_recent_roots")]
    pub recent_roots: u32,
    /// The eligibility circuit's verifying key (compressed, hex); without it every
    /// claim is refused.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_hex")]
    pub eligibility_key: Option<Vec<u8>>,
    /// Committee epochs, in milestones: a committee change may take effect only at the
    /// first index of an epoch (`k · committee_epoch + 1`), where every consensus session
    /// ends (`specs/consensus.md`). 0 (the default, left out of the JSON): committee
    /// changes are refused.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub committee_epoch: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| hex::decode(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

fn default_recent_roots() -> u32 {
    registry::DEFAULT_RECENT_ROOTS
}

/// An organisation the genesis creates and accredits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisOrganisation {
    /// Its DID's creation payload.
    pub did: DidCreate,
    /// Its roles (`weft_types::identity::role` bits).
    pub roles: u8,
}

impl GenesisOrganisation {
    /// An issuer and distribution point with a one-key DID.
    pub fn with_key(public_key: weft_types::PublicKeyBytes) -> GenesisOrganisation {
        GenesisOrganisation {
            did: DidCreate::with_key(public_key, 0),
            roles: role::ALL,
        }
    }
}

impl Genesis {
    /// The network id.
    pub fn network_id(&self) -> NetworkId {
        NetworkId::from_name(&self.network_name)
    }
}

/// The state root: BLAKE2b-256(`weft/state-root/v2` || multiset sum || u64 LE entry
/// count || registry commitment); see [`registry`] for why the registries have a
/// commitment of their own.
pub fn state_root(commitment: &MultisetHash, registries: &InclusionRoot) -> StateRoot {
    state_root_from_parts(&commitment.sum_bytes(), commitment.count(), registries)
}

/// [`state_root`] from its serialised parts (what a proof carries).
pub fn state_root_from_parts(
    multiset_sum: &[u8; 32],
    entry_count: u64,
    registries: &InclusionRoot,
) -> StateRoot {
    StateRoot(blake2b256(&[
        STATE_ROOT_DOMAIN,
        multiset_sum,
        &entry_count.to_le_bytes(),
        &registries.0,
    ]))
}

/// The ledger rules, with the network's eligibility verifying key, genesis committee
/// and committee epoch.
///
/// `Ledger::default()` (tests, benches) has none of them: every claim is refused, and a
/// milestone that must know the genesis committee (applying a committee change, or
/// switching from the genesis committee) fails with [`LedgerError::Genesis`].
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    claims: Option<ClaimVerifier>,
    notes: notes::VerdictMemo,
    genesis_committee: Option<Committee>,
    committee_epoch: u32,
}

impl Ledger {
    /// The rules of a network: claims are verified with the genesis' eligibility key
    /// (an unreadable key is an error; no key means every claim is refused).
    pub fn new(genesis: &Genesis) -> Result<Ledger, LedgerError> {
        let claims = genesis
            .eligibility_key
            .as_deref()
            .map(ClaimVerifier::from_bytes)
            .transpose()
            .map_err(|e| LedgerError::Genesis(format!("eligibility key: {e}")))?;
        Ok(Ledger {
            claims,
            notes: notes::VerdictMemo::default(),
            genesis_committee: Some(genesis.committee.clone()),
            committee_epoch: genesis.committee_epoch,
        })
    }

    /// The genesis committee (none for `Ledger::default()`).
    pub fn genesis_committee(&self) -> Option<&Committee> {
        self.genesis_committee.as_ref()
    }

    /// Verifies a note payload at admission (range proof, balance, ownership) and, if
    /// it holds, remembers the verdict so that confirming `block` does not verify it
    /// again. `None`: not a note payload.
    pub fn admit_notes(
        &self,
        block: BlockId,
        payload: &Payload,
    ) -> Option<Result<VerifiedNotes, weft_entitlements::EntitlementError>> {
        let verdict = notes::verify_payload(payload)?;
        if let Ok(v) = &verdict {
            self.notes.remember(block, v.clone());
        }
        Some(verdict)
    }

    /// The state before milestone 1: the genesis entries, their diff and commitment.
    pub fn genesis_state(genesis: &Genesis) -> (StateDiff, MultisetHash) {
        let empty = MemoryState::default();
        let mut diff = Overlay::new(&empty, MultisetHash::new());
        let ctx = MilestoneContext {
            index: 0,
            timestamp: 0,
        };
        // Writes into an empty overlay cannot fail, and the genesis DIDs are distinct
        // unless the genesis lists one twice (then the later one is skipped).
        diff.put(keys::NETWORK, genesis.network_name.as_bytes().to_vec())
            .ok();
        diff.put(keys::COMMITTEE, genesis.committee.id().0.to_vec())
            .ok();
        diff.put(
            keys::RECENT_ROOTS,
            genesis.recent_roots.max(1).to_le_bytes().to_vec(),
        )
        .ok();
        if let Ok(Ok(authority)) = identity::create_did(&mut diff, ctx, &genesis.authority) {
            diff.put(keys::AUTHORITY, authority.0.to_vec()).ok();
        }
        for org in &genesis.organisations {
            if let Ok(Ok(did)) = identity::create_did(&mut diff, ctx, &org.did) {
                identity::put_roles(&mut diff, &did, org.roles, 0).ok();
            }
        }
        for member in genesis.committee.members() {
            diff.put(&keys::committee_member(member), vec![1]).ok();
        }
        for counter in [keys::APPLIED, keys::CONFLICTING, keys::ANCHORS] {
            diff.put(counter, 0u64.to_le_bytes().to_vec()).ok();
        }
        let commitment = diff.commitment();
        (diff.into_diff(), commitment)
    }

    /// The state root of the genesis state.
    pub fn genesis_root(commitment: &MultisetHash) -> StateRoot {
        state_root(commitment, &weft_crypto::merkle::inclusion_root(&[]))
    }

    /// Applies the newly confirmed blocks of one milestone, in white-flag order. First,
    /// if a committee change takes effect at `ctx.index`, the committee member entries
    /// switch to the new committee's.
    pub fn apply_milestone(
        &self,
        state: &dyn StateRead,
        commitment: MultisetHash,
        ctx: MilestoneContext,
        blocks: &[(BlockId, &Block)],
    ) -> Result<MilestoneOutcome, LedgerError> {
        let mut diff = Overlay::new(state, commitment);
        committee::switch_at_start(&mut diff, self.genesis_committee.as_ref(), ctx)?;
        diff.commit_savepoint();
        let mut outcomes = Vec::with_capacity(blocks.len());
        let (mut applied, mut conflicting, mut anchors) = (0u64, 0u64, 0u64);
        let mut touched = BTreeSet::new();
        let proofs = match &self.claims {
            Some(v) => v.check_batch(state, blocks)?,
            None => Default::default(),
        };
        let mut note_verdicts = notes::check_batch(blocks, &self.notes);
        let mut delivered = Vec::new();
        let mut doubles = Vec::new();
        for (pos, (id, block)) in blocks.iter().enumerate() {
            diff.savepoint();
            let mut block_touched = BTreeSet::new();
            let result = match &block.payload {
                Payload::Claim(claim) => self
                    .apply_claim(&mut diff, ctx, id, block, claim, proofs.get(&pos).copied())?
                    .map(|d| delivered.push(d)),
                Payload::Mint(_) | Payload::Transfer(_) | Payload::Redeem(_) => {
                    self.apply_notes(&mut diff, ctx, id, block, note_verdicts.remove(&pos))?
                }
                _ => self.apply_payload(&mut diff, ctx, id, block, &mut block_touched)?,
            };
            match result {
                Ok(()) => {
                    diff.commit_savepoint();
                    applied += 1;
                    if matches!(block.payload, Payload::TaggedData(_)) {
                        anchors += 1;
                    }
                    touched.extend(block_touched);
                    outcomes.push(BlockOutcome::Applied);
                }
                Err(reason) => {
                    diff.rollback_savepoint();
                    conflicting += 1;
                    if let (ConflictReason::NullifierUsed, Payload::Claim(c)) =
                        (reason, &block.payload)
                    {
                        doubles.push((c.program, c.round, c.endorsement.as_ref().map(|e| e.point)));
                    }
                    outcomes.push(BlockOutcome::Conflicting(reason));
                }
            }
        }
        claims::record_counts(&mut diff, &delivered, &doubles)?;
        diff.add_to_counter(keys::APPLIED, applied)?;
        diff.add_to_counter(keys::CONFLICTING, conflicting)?;
        // Counters are written once per milestone: the same final state (and root) as
        // counting block by block, at a fraction of the hashing.
        diff.add_to_counter(keys::ANCHORS, anchors)?;
        let registries = registry::finish_milestone(&mut diff, ctx, &touched)?;
        let commitment = diff.commitment();
        Ok(MilestoneOutcome {
            outcomes,
            state_root: state_root(&commitment, &registries),
            commitment,
            diff: diff.into_diff(),
        })
    }

    /// A claim's rules (the issuer rule first: a claim may also be anonymous).
    #[allow(clippy::too_many_arguments)]
    fn apply_claim(
        &self,
        diff: &mut Overlay<'_>,
        ctx: MilestoneContext,
        id: &BlockId,
        block: &Block,
        claim: &weft_types::Claim,
        proof_ok: Option<bool>,
    ) -> Result<Result<claims::Delivered, ConflictReason>, LedgerError> {
        if let Err(reason) = check_issuer(diff, block)? {
            return Ok(Err(reason));
        }
        claims::apply_claim(diff, ctx, id, claim, self.claims.as_ref(), proof_ok)
    }

    /// A mint, transfer or redeem (the issuer rule first: a transfer may be anonymous).
    fn apply_notes(
        &self,
        diff: &mut Overlay<'_>,
        ctx: MilestoneContext,
        id: &BlockId,
        block: &Block,
        verdict: Option<Result<VerifiedNotes, weft_entitlements::EntitlementError>>,
    ) -> Result<Result<(), ConflictReason>, LedgerError> {
        let signer = match check_issuer(diff, block)? {
            Ok(did) => did,
            Err(reason) => return Ok(Err(reason)),
        };
        notes::apply(diff, ctx, id, signer, &block.payload, verdict)
    }

    /// One block's rules. `Ok(Err(reason))` is a conflict; `Err` a storage failure.
    fn apply_payload(
        &self,
        diff: &mut Overlay<'_>,
        ctx: MilestoneContext,
        id: &BlockId,
        block: &Block,
        touched: &mut BTreeSet<weft_types::RegistryId>,
    ) -> Result<Result<(), ConflictReason>, LedgerError> {
        let did = match check_issuer(diff, block)? {
            Ok(did) => did,
            Err(reason) => return Ok(Err(reason)),
        };
        let anonymous = block.issuer == Issuer::Anonymous;
        if anonymous && !matches!(block.payload, Payload::None) {
            return Ok(Err(ConflictReason::AnonymousNotAllowed));
        }
        match &block.payload {
            Payload::None => Ok(Ok(())),
            Payload::TaggedData(t) => {
                // Free-form data only from accountable organisations: accredited ones
                // or the authority itself.
                let accountable = match did {
                    Some(d) => {
                        identity::roles(diff, &d)? != 0 || identity::authority(diff)? == Some(d)
                    }
                    None => false,
                };
                if !accountable {
                    return Ok(Err(ConflictReason::NotAccredited));
                }
                let digest = anchor_digest(&t.tag, &t.data);
                let key = keys::anchor(&digest);
                if diff.get(&key)?.is_some() {
                    return Ok(Err(ConflictReason::DuplicateAnchor));
                }
                let mut value = id.0.to_vec();
                value.extend_from_slice(&ctx.index.to_le_bytes());
                diff.put(&key, value)?;
                Ok(Ok(()))
            }
            // Milestone blocks are referenced by their own milestone and never walked as
            // part of a cone; one that reaches the ledger is not that milestone.
            Payload::Milestone(_) => Ok(Err(ConflictReason::UnexpectedMilestone)),
            Payload::DidCreate(c) => identity::apply_create(diff, ctx, c),
            Payload::DidUpdate(u) => identity::apply_update(diff, ctx, block, u),
            Payload::DidDeactivate(d) => identity::apply_deactivate(diff, ctx, block, d),
            Payload::Accreditation(a) => identity::apply_accreditation(diff, ctx, block, a),
            Payload::DeviceKey(d) => identity::apply_device_key(diff, ctx, block, d),
            Payload::Schema(s) => registry::apply_schema(diff, ctx, did, s),
            Payload::RegistryCreate(c) => {
                registry::apply_registry_create(diff, ctx, did, c, touched)
            }
            Payload::Issuance(i) => registry::apply_issuance(diff, did, i, touched),
            Payload::Revocation(r) => registry::apply_revocation(diff, did, r, touched),
            Payload::Program(p) => claims::apply_program(diff, ctx, did, p),
            // Claims and notes are applied by `apply_claim` and `apply_notes`.
            Payload::Claim(_) => Ok(Err(ConflictReason::InvalidProof)),
            Payload::Mint(_) | Payload::Transfer(_) | Payload::Redeem(_) => {
                Ok(Err(ConflictReason::MalformedNote))
            }
            Payload::CommitteeChange(c) => committee::apply_change(
                diff,
                self.genesis_committee.as_ref(),
                self.committee_epoch,
                ctx,
                block,
                c,
            ),
        }
    }
}

/// The anchor digest of a tagged-data payload: BLAKE2b-256(`weft/anchor/v1` || u8 tag
/// length || tag || data).
pub fn anchor_digest(tag: &[u8], data: &[u8]) -> [u8; 32] {
    blake2b256(&[b"weft/anchor/v1", &[tag.len() as u8], tag, data])
}

#[cfg(test)]
mod claims_tests;
#[cfg(test)]
mod committee_tests;
#[cfg(test)]
mod identity_tests;
#[cfg(test)]
mod notes_tests;
#[cfg(test)]
mod tests;
