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

mod state;

use state::Overlay;
pub use state::{state_element, MemoryState, StateDiff, StateError, StateRead};

use serde::{Deserialize, Serialize};
use weft_crypto::MultisetHash;
use weft_types::hash::blake2b256;
use weft_types::{
    Block, BlockId, Committee, Issuer, NetworkId, Payload, PublicKeyBytes, StateRoot,
};

/// Domain prefix of the state root.
pub const STATE_ROOT_DOMAIN: &[u8] = b"weft/state-root/v1";

/// Ledger keys. Each is a short ASCII namespace followed by binary parts; the list is in
/// `specs/protocol.md` §7.
pub mod keys {
    use weft_types::PublicKeyBytes;

    /// Network name (genesis).
    pub const NETWORK: &[u8] = b"genesis/network";
    /// Committee id (genesis; later changed by committee payloads).
    pub const COMMITTEE: &[u8] = b"genesis/committee";
    /// Count of blocks applied.
    pub const APPLIED: &[u8] = b"count/applied";
    /// Count of blocks confirmed as conflicting.
    pub const CONFLICTING: &[u8] = b"count/conflicting";
    /// Count of anchors (tagged-data payloads applied).
    pub const ANCHORS: &[u8] = b"count/anchors";

    /// A milestone committee member (may sign blocks, for example tip-merging ones).
    pub fn committee_member(key: &PublicKeyBytes) -> Vec<u8> {
        [b"committee/".as_slice(), &key.0].concat()
    }

    /// An organisation allowed to sign blocks.
    pub fn organisation(key: &PublicKeyBytes) -> Vec<u8> {
        [b"org/".as_slice(), &key.0].concat()
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
}

impl ConflictReason {
    /// Stable numeric code (0 is "no conflict").
    pub fn code(self) -> u8 {
        match self {
            ConflictReason::UnknownIssuer => 1,
            ConflictReason::DuplicateAnchor => 2,
            ConflictReason::AnonymousNotAllowed => 3,
            ConflictReason::UnexpectedMilestone => 4,
        }
    }

    /// The reason for a stored code.
    pub fn from_code(code: u8) -> Option<ConflictReason> {
        match code {
            1 => Some(ConflictReason::UnknownIssuer),
            2 => Some(ConflictReason::DuplicateAnchor),
            3 => Some(ConflictReason::AnonymousNotAllowed),
            4 => Some(ConflictReason::UnexpectedMilestone),
            _ => None,
        }
    }

    /// A sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            ConflictReason::UnknownIssuer => {
                "issuer is neither a registered organisation nor a committee member"
            }
            ConflictReason::DuplicateAnchor => {
                "the same tag and data were already anchored by an earlier block"
            }
            ConflictReason::AnonymousNotAllowed => "anonymous blocks cannot carry this payload",
            ConflictReason::UnexpectedMilestone => {
                "milestone payload confirmed as an ordinary block"
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

/// Whether `key` may sign blocks in `state` (a registered organisation or a committee
/// member). The node applies the same rule when a block arrives.
pub fn may_sign_blocks(state: &dyn StateRead, key: &PublicKeyBytes) -> Result<bool, StateError> {
    Ok(state.get(&keys::organisation(key))?.is_some()
        || state.get(&keys::committee_member(key))?.is_some())
}

/// Errors that stop a milestone from being applied at all (storage failures). A block
/// breaking a ledger rule is not an error: it is [`BlockOutcome::Conflicting`].
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Reading the previous state failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The genesis: what the ledger holds before milestone 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Genesis {
    /// Network name (its hash is the network id).
    pub network_name: String,
    /// The milestone committee.
    pub committee: Committee,
    /// Organisations whose keys may sign blocks.
    pub organisations: Vec<PublicKeyBytes>,
}

impl Genesis {
    /// The network id.
    pub fn network_id(&self) -> NetworkId {
        NetworkId::from_name(&self.network_name)
    }
}

/// The state root: BLAKE2b-256(`weft/state-root/v1` || multiset sum || entry count).
pub fn state_root(commitment: &MultisetHash) -> StateRoot {
    StateRoot(blake2b256(&[
        STATE_ROOT_DOMAIN,
        &commitment.sum_bytes(),
        &commitment.count().to_le_bytes(),
    ]))
}

/// The ledger rules.
#[derive(Debug, Clone, Default)]
pub struct Ledger;

impl Ledger {
    /// The state before milestone 1: the genesis entries, their diff and commitment.
    pub fn genesis_state(genesis: &Genesis) -> (StateDiff, MultisetHash) {
        let empty = MemoryState::default();
        let mut diff = Overlay::new(&empty, MultisetHash::new());
        diff.put(keys::NETWORK, genesis.network_name.as_bytes().to_vec())
            .ok();
        diff.put(keys::COMMITTEE, genesis.committee.id().0.to_vec())
            .ok();
        for org in &genesis.organisations {
            diff.put(&keys::organisation(org), vec![1]).ok();
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

    /// Applies the newly confirmed blocks of one milestone, in white-flag order.
    pub fn apply_milestone(
        &self,
        state: &dyn StateRead,
        commitment: MultisetHash,
        ctx: MilestoneContext,
        blocks: &[(BlockId, &Block)],
    ) -> Result<MilestoneOutcome, LedgerError> {
        let mut diff = Overlay::new(state, commitment);
        let mut outcomes = Vec::with_capacity(blocks.len());
        let (mut applied, mut conflicting, mut anchors) = (0u64, 0u64, 0u64);
        for (id, block) in blocks {
            diff.savepoint();
            match self.apply_payload(&mut diff, ctx, id, block)? {
                Ok(()) => {
                    diff.commit_savepoint();
                    applied += 1;
                    if matches!(block.payload, Payload::TaggedData(_)) {
                        anchors += 1;
                    }
                    outcomes.push(BlockOutcome::Applied);
                }
                Err(reason) => {
                    diff.rollback_savepoint();
                    conflicting += 1;
                    outcomes.push(BlockOutcome::Conflicting(reason));
                }
            }
        }
        diff.add_to_counter(keys::APPLIED, applied)?;
        diff.add_to_counter(keys::CONFLICTING, conflicting)?;
        // Counters are written once per milestone: the same final state (and root) as
        // counting block by block, at a fraction of the hashing.
        diff.add_to_counter(keys::ANCHORS, anchors)?;
        let commitment = diff.commitment();
        Ok(MilestoneOutcome {
            outcomes,
            state_root: state_root(&commitment),
            commitment,
            diff: diff.into_diff(),
        })
    }

    /// One block's rules. `Ok(Err(reason))` is a conflict; `Err` a storage failure.
    fn apply_payload(
        &self,
        diff: &mut Overlay<'_>,
        ctx: MilestoneContext,
        id: &BlockId,
        block: &Block,
    ) -> Result<Result<(), ConflictReason>, LedgerError> {
        if let Issuer::Organisation { public_key } = &block.issuer {
            if diff.get(&keys::organisation(public_key))?.is_none()
                && diff.get(&keys::committee_member(public_key))?.is_none()
            {
                return Ok(Err(ConflictReason::UnknownIssuer));
            }
        }
        match &block.payload {
            Payload::None => Ok(Ok(())),
            Payload::TaggedData(t) => {
                if block.issuer == Issuer::Anonymous {
                    return Ok(Err(ConflictReason::AnonymousNotAllowed));
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
        }
    }
}

/// The anchor digest of a tagged-data payload: BLAKE2b-256(`weft/anchor/v1` || u8 tag
/// length || tag || data).
pub fn anchor_digest(tag: &[u8], data: &[u8]) -> [u8; 32] {
    blake2b256(&[b"weft/anchor/v1", &[tag.len() as u8], tag, data])
}

#[cfg(test)]
mod tests;
