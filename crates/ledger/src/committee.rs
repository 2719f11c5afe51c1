//! Committee changes: which committee certifies which milestone, and how it changes.
//!
//! The genesis names the first committee. A `CommitteeChange` payload, signed by a quorum
//! of the committee in force and issued by one of its members, names the next committee
//! and the first milestone index it certifies. The ledger keeps every applied change
//! under `committee/change/` ‖ `u32` BE effective index, each with a pointer to the
//! previous one, and the newest one's index under `committee/latest-change`, so
//! [`committee_at`] answers "who certifies milestone `i`" from any state by walking back
//! from the newest change. Rules (`specs/protocol.md` §7.5):
//!
//! - one change at a time: none may be applied while the newest has not taken effect
//!   (`CommitteeChangePending`);
//! - at least [`MIN_COMMITTEE_CHANGE_DELAY`] milestones of notice
//!   (`CommitteeChangeTooSoon`);
//! - effective at the first index of a committee epoch, `k · committee_epoch + 1` (the
//!   genesis' `committee_epoch`), where every consensus session ends; a network whose
//!   epoch is 0 never changes its committee (`CommitteeChangeNotAtEpoch`);
//! - the signatures are checked with `weft_crypto::certificate::verify_committee_change`
//!   against the committee in force (`InvalidCommitteeSignatures`).
//!
//! At the start of the milestone a change takes effect at, the `committee/` member
//! entries are switched from the old committee's to the new one's, so from that milestone
//! on the new members may sign tip-merging blocks and committee changes and the removed
//! ones may not.

use weft_crypto::certificate::verify_committee_change;
use weft_types::{Block, Committee, CommitteeChange, Issuer};

use crate::state::{Overlay, StateError};
use crate::{keys, ConflictReason, LedgerError, MilestoneContext, StateRead};

/// Milestones of notice a committee change needs: a change confirmed in milestone `i`
/// may take effect at `i + 3` at the earliest (`effective_index ≥ i + 3`).
///
/// Why: validators and followers learn of a change only once the milestone confirming it
/// is certified and applied, yet they must know the committee of an index before that
/// index is agreed and signed. With a committee of validators, agreement runs ahead of
/// certification: when milestone `i` is certified, `i + 1` may already be agreed and
/// being signed by the committee in force, so it cannot change hands. `i + 2` is the
/// margin for every validator and follower to have applied `i` (and for the consensus
/// session to end at the change and new members to connect); `i + 3` is the first index
/// the new committee can certify without anyone signing, or checking, a milestone
/// against a committee it did not know of.
pub const MIN_COMMITTEE_CHANGE_DELAY: u32 = 3;

fn corrupt(what: String) -> LedgerError {
    LedgerError::State(StateError(format!(
        "stored committee change is corrupt: {what}"
    )))
}

/// Decodes the value of a `committee/change/` entry: `u32` LE effective index of the
/// previous change (0 = none, the genesis committee) ‖ `CommitteeChange::to_bytes()`.
/// For readers of the raw entries (snapshots); the key carries the change's own index.
pub fn decode_committee_change_entry(value: &[u8]) -> Result<(u32, CommitteeChange), LedgerError> {
    let (prev, body) = value.split_first_chunk::<4>().ok_or_else(|| {
        corrupt(format!(
            "{} bytes, shorter than its 4-byte pointer",
            value.len()
        ))
    })?;
    let change = CommitteeChange::from_bytes(body).map_err(|e| corrupt(e.to_string()))?;
    Ok((u32::from_le_bytes(*prev), change))
}

fn encode_entry(previous: u32, change: &CommitteeChange) -> Vec<u8> {
    let mut v = previous.to_le_bytes().to_vec();
    v.extend_from_slice(&change.to_bytes());
    v
}

/// The effective index of the newest applied change, if any.
fn latest_change(state: &dyn StateRead) -> Result<Option<u32>, LedgerError> {
    match state.get(keys::COMMITTEE_LATEST_CHANGE)? {
        None => Ok(None),
        Some(v) => {
            let b: [u8; 4] = v.as_slice().try_into().map_err(|_| {
                LedgerError::State(StateError(format!(
                    "committee/latest-change is {} bytes, not 4",
                    v.len()
                )))
            })?;
            Ok(Some(u32::from_le_bytes(b)))
        }
    }
}

/// The change taking effect at `effective` and its previous pointer; a missing or
/// inconsistent entry is a corrupt state (the pointers name only written entries).
fn change_at(state: &dyn StateRead, effective: u32) -> Result<(u32, CommitteeChange), LedgerError> {
    let value = state
        .get(&keys::committee_change_key(effective))?
        .ok_or_else(|| corrupt(format!("no change at effective index {effective}")))?;
    let (previous, change) = decode_committee_change_entry(&value)?;
    if change.effective_index != effective {
        return Err(corrupt(format!(
            "the entry of index {effective} holds a change effective at {}",
            change.effective_index
        )));
    }
    if previous >= effective {
        return Err(corrupt(format!(
            "the change at {effective} points forward to {previous}"
        )));
    }
    Ok((previous, change))
}

/// The committee that certifies milestone `index` given `state`: the newest applied
/// change whose effective index is at most `index`, found by walking back from
/// `committee/latest-change` through the previous pointers; `genesis` when there is none.
///
/// With the state after milestone `m`, the answer is final for every
/// `index ≤ m + MIN_COMMITTEE_CHANGE_DELAY`: a change applied by a later milestone `j > m`
/// takes effect at `j + MIN_COMMITTEE_CHANGE_DELAY` or later. For later indexes it
/// includes the change pending, if any.
pub fn committee_at(
    state: &dyn StateRead,
    genesis: &Committee,
    index: u32,
) -> Result<Committee, LedgerError> {
    let mut next = latest_change(state)?;
    while let Some(effective) = next {
        let (previous, change) = change_at(state, effective)?;
        if effective <= index {
            return Ok(change.committee);
        }
        // Pointers strictly decrease (checked by `change_at`), so the walk ends.
        next = (previous != 0).then_some(previous);
    }
    Ok(genesis.clone())
}

/// The newest applied change if it takes effect after `index` (`effective_index >
/// index`), as its effective index and committee: with `index` the next milestone's, the
/// change confirmed but not yet in force (there is at most one, since changes are applied
/// one at a time). `None` when the newest change is in force by `index`, or there is none.
pub fn pending_committee_change(
    state: &dyn StateRead,
    index: u32,
) -> Result<Option<(u32, Committee)>, LedgerError> {
    match latest_change(state)? {
        Some(effective) if effective > index => {
            let (_, change) = change_at(state, effective)?;
            Ok(Some((effective, change.committee)))
        }
        _ => Ok(None),
    }
}

/// At the start of milestone `ctx.index`: if a change takes effect now, replaces the
/// `committee/` member entries of the committee before it with those of the new one
/// (entries of members in both stay as they are). No change at this index: no read
/// beyond `committee/latest-change`, no write.
pub(crate) fn switch_at_start(
    diff: &mut Overlay<'_>,
    genesis: Option<&Committee>,
    ctx: MilestoneContext,
) -> Result<(), LedgerError> {
    if latest_change(diff)? != Some(ctx.index) {
        return Ok(());
    }
    let (_, change) = change_at(diff, ctx.index)?;
    let old = committee_at(diff, required(genesis)?, ctx.index.saturating_sub(1))?;
    let new = &change.committee;
    for m in old.members() {
        if !new.contains(m) {
            diff.delete(&keys::committee_member(m))?;
        }
    }
    for m in new.members() {
        if !old.contains(m) {
            diff.put(&keys::committee_member(m), vec![1])?;
        }
    }
    Ok(())
}

fn required(genesis: Option<&Committee>) -> Result<&Committee, LedgerError> {
    genesis.ok_or_else(|| {
        LedgerError::Genesis(
            "this ledger has no genesis committee (built with Ledger::default): \
             committee changes need Ledger::new"
                .into(),
        )
    })
}

/// Whether `effective` is the first index of a committee epoch of `epoch` milestones
/// (`k · epoch + 1`); never with `epoch` 0.
pub fn is_epoch_start(effective: u32, epoch: u32) -> bool {
    epoch != 0 && effective.checked_sub(1).is_some_and(|e| e % epoch == 0)
}

/// `CommitteeChange` in milestone `ctx.index` (the issuer rule already admitted the
/// signer as a holder of a `committee/` entry).
pub(crate) fn apply_change(
    diff: &mut Overlay<'_>,
    genesis: Option<&Committee>,
    epoch: u32,
    ctx: MilestoneContext,
    block: &Block,
    change: &CommitteeChange,
) -> Result<Result<(), ConflictReason>, LedgerError> {
    let current = committee_at(diff, required(genesis)?, ctx.index)?;
    match &block.issuer {
        Issuer::Organisation { public_key } if current.contains(public_key) => {}
        _ => return Ok(Err(ConflictReason::NotACommitteeMember)),
    }
    let latest = latest_change(diff)?;
    if latest.is_some_and(|e| e > ctx.index) {
        return Ok(Err(ConflictReason::CommitteeChangePending));
    }
    if (change.effective_index as u64) < ctx.index as u64 + MIN_COMMITTEE_CHANGE_DELAY as u64 {
        return Ok(Err(ConflictReason::CommitteeChangeTooSoon));
    }
    if !is_epoch_start(change.effective_index, epoch) {
        return Ok(Err(ConflictReason::CommitteeChangeNotAtEpoch));
    }
    if verify_committee_change(change, &current).is_err() {
        return Ok(Err(ConflictReason::InvalidCommitteeSignatures));
    }
    diff.put(
        &keys::committee_change_key(change.effective_index),
        encode_entry(latest.unwrap_or(0), change),
    )?;
    diff.put(
        keys::COMMITTEE_LATEST_CHANGE,
        change.effective_index.to_le_bytes().to_vec(),
    )?;
    Ok(Ok(()))
}
