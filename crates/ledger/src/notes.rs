//! Confidential entitlements in the ledger: the unspent and spent note sets of every
//! value program, its public totals and the running sums its audit compares.
//!
//! `weft-entitlements` says whether a mint, transfer or redeem is *valid* (range
//! proof, balance, ownership: stateless, and done for a whole milestone in parallel by
//! [`check_batch`]); this module says whether it *applies*: the program pays in value
//! notes, a mint comes from the program's owner and a redeem from an accredited point,
//! every input is unspent (the first spend confirmed in white-flag order wins, a
//! second one conflicts), no created note exists already. The rules are normative in
//! `specs/entitlements.md` §7; the audit identity they preserve is §8:
//!
//! ```text
//! Σ unspent C  =  (minted − redeemed)·B  +  Σ kernel excesses
//! ```
//!
//! The ledger keeps both sides as running sums in [`NoteTotals`], and every term of
//! them as its own state entry (unspent notes with their commitments, kernels by
//! block), so an auditor can recompute the sums from the state alone
//! ([`crate::keys::note_prefix`], [`crate::keys::kernel_prefix`]) instead of trusting
//! the running ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use weft_entitlements::{
    claim_note, fold_points, verify_mint, verify_redeem, verify_transfer, EntitlementError,
    LedgerNote, VerifiedMint, VerifiedRedeem, VerifiedTransfer,
};
use weft_types::identity::role;
use weft_types::{Block, BlockId, Did, Payload, ProgramId};

use crate::claims::program_record;
use crate::identity::roles;
use crate::state::{Overlay, StateError, StateRead};
use crate::{keys, ConflictReason, LedgerError, MilestoneContext};

/// A note payload that passed the stateless checks.
#[derive(Debug, Clone)]
pub enum VerifiedNotes {
    /// A mint.
    Mint(VerifiedMint),
    /// A transfer.
    Transfer(VerifiedTransfer),
    /// A redeem.
    Redeem(VerifiedRedeem),
}

/// Most verdicts a [`VerdictMemo`] keeps; past it, it starts again empty (a block
/// whose verdict was dropped is simply verified again when confirmed).
const MEMO_CAPACITY: usize = 65_536;

/// Verdicts of note payloads this node verified at admission, by block id, so that
/// confirming them does not verify the same proofs twice.
///
/// Verification is a pure function of the payload bytes, which the block id hashes, so
/// a remembered verdict is exactly what verifying again would give: the ledger stays
/// deterministic with or without the memo. Only successes are kept (a failure is
/// refused at admission and never reaches a milestone from this node).
#[derive(Debug, Clone, Default)]
pub struct VerdictMemo(Arc<Mutex<HashMap<BlockId, VerifiedNotes>>>);

impl VerdictMemo {
    /// Remembers that `block`'s note payload verified as `verified`.
    pub fn remember(&self, block: BlockId, verified: VerifiedNotes) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= MEMO_CAPACITY {
                m.clear();
            }
            m.insert(block, verified);
        }
    }

    fn take(&self, block: &BlockId) -> Option<VerifiedNotes> {
        self.0.lock().ok()?.remove(block)
    }
}

/// The stateless verdict of each note payload of a milestone, by position: the range
/// proofs, balances and signatures, checked on every core (or taken from `memo`).
pub fn check_batch(
    blocks: &[(BlockId, &Block)],
    memo: &VerdictMemo,
) -> HashMap<usize, Result<VerifiedNotes, EntitlementError>> {
    use rayon::prelude::*;
    let mut out = HashMap::new();
    let mut candidates: Vec<(usize, &Payload)> = Vec::new();
    for (pos, (id, b)) in blocks.iter().enumerate() {
        if !matches!(
            b.payload,
            Payload::Mint(_) | Payload::Transfer(_) | Payload::Redeem(_)
        ) {
            continue;
        }
        match memo.take(id) {
            Some(v) => {
                out.insert(pos, Ok(v));
            }
            None => candidates.push((pos, &b.payload)),
        }
    }
    out.extend(
        candidates
            .par_iter()
            .filter_map(|(pos, payload)| verify_payload(payload).map(|v| (*pos, v)))
            .collect::<Vec<_>>(),
    );
    out
}

/// The stateless verdict of one payload (`None` if it is not a note payload).
pub fn verify_payload(payload: &Payload) -> Option<Result<VerifiedNotes, EntitlementError>> {
    Some(match payload {
        Payload::Mint(m) => verify_mint(m).map(VerifiedNotes::Mint),
        Payload::Transfer(t) => verify_transfer(t).map(VerifiedNotes::Transfer),
        Payload::Redeem(r) => verify_redeem(r).map(VerifiedNotes::Redeem),
        _ => return None,
    })
}

/// The conflict reason a failed stateless check is recorded with.
pub fn conflict_reason(error: &EntitlementError) -> ConflictReason {
    match error {
        EntitlementError::RangeProof => ConflictReason::InvalidRangeProof,
        EntitlementError::Balance | EntitlementError::KernelSignature => ConflictReason::Unbalanced,
        EntitlementError::NotOwner { .. } => ConflictReason::NotNoteOwner,
        _ => ConflictReason::MalformedNote,
    }
}

/// Public totals and audit sums of one value program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoteTotals {
    /// Everything minted (mints and claim notes).
    pub minted: u128,
    /// Everything redeemed.
    pub redeemed: u128,
    /// Σ of the unspent notes' commitments (compressed Ristretto; zeros: identity).
    pub unspent_sum: [u8; 32],
    /// Σ of the kernel excesses.
    pub kernel_sum: [u8; 32],
    /// Unspent notes.
    pub unspent: u64,
    /// Spent notes.
    pub spent: u64,
    /// Mint payloads applied.
    pub mints: u64,
    /// Claim notes minted.
    pub claim_notes: u64,
    /// Transfers applied.
    pub transfers: u64,
    /// Redeems applied.
    pub redeems: u64,
}

/// Length of [`NoteTotals::to_bytes`].
const TOTALS_LEN: usize = 16 * 2 + 32 * 2 + 8 * 6;

impl NoteTotals {
    /// `minted u128 || redeemed u128 || unspent sum || kernel sum || six u64 counts`,
    /// little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(TOTALS_LEN);
        b.extend_from_slice(&self.minted.to_le_bytes());
        b.extend_from_slice(&self.redeemed.to_le_bytes());
        b.extend_from_slice(&self.unspent_sum);
        b.extend_from_slice(&self.kernel_sum);
        for n in [
            self.unspent,
            self.spent,
            self.mints,
            self.claim_notes,
            self.transfers,
            self.redeems,
        ] {
            b.extend_from_slice(&n.to_le_bytes());
        }
        b
    }

    /// Reads [`NoteTotals::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<NoteTotals, StateError> {
        if b.len() != TOTALS_LEN {
            return Err(StateError("note totals entry".into()));
        }
        let u128_at = |at: usize| {
            let mut x = [0u8; 16];
            x.copy_from_slice(&b[at..at + 16]);
            u128::from_le_bytes(x)
        };
        let arr_at = |at: usize| {
            let mut x = [0u8; 32];
            x.copy_from_slice(&b[at..at + 32]);
            x
        };
        let u64_at = |i: usize| {
            let at = 96 + 8 * i;
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(x)
        };
        Ok(NoteTotals {
            minted: u128_at(0),
            redeemed: u128_at(16),
            unspent_sum: arr_at(32),
            kernel_sum: arr_at(64),
            unspent: u64_at(0),
            spent: u64_at(1),
            mints: u64_at(2),
            claim_notes: u64_at(3),
            transfers: u64_at(4),
            redeems: u64_at(5),
        })
    }

    /// Whether the running sums satisfy the audit identity (`specs/entitlements.md`
    /// §8). `Err` names what does not hold.
    pub fn audit(&self) -> Result<(), weft_entitlements::AuditError> {
        let unspent = [self.unspent_sum];
        let kernels = [self.kernel_sum];
        weft_entitlements::audit(self.minted, self.redeemed, &unspent, &kernels)
    }
}

/// A program's note totals (all zero before its first note).
pub fn totals(state: &dyn StateRead, program: &ProgramId) -> Result<NoteTotals, StateError> {
    match state.get(&keys::note_totals(program))? {
        Some(b) => NoteTotals::from_bytes(&b),
        None => Ok(NoteTotals::default()),
    }
}

/// What the ledger records of a note: unspent with its commitment and the milestone
/// that created it, or spent at a milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteStatus {
    /// In the unspent set.
    Unspent {
        /// The commitment.
        commitment: [u8; 32],
        /// The milestone that created it.
        created: u32,
    },
    /// Spent.
    Spent {
        /// The milestone that spent it.
        spent: u32,
    },
}

/// A note's status, if the ledger knows the note.
pub fn note_status(
    state: &dyn StateRead,
    program: &ProgramId,
    id: &[u8; 32],
) -> Result<Option<NoteStatus>, StateError> {
    if let Some(v) = state.get(&keys::note(program, id))? {
        let (commitment, created) = parse_unspent(&v)?;
        return Ok(Some(NoteStatus::Unspent {
            commitment,
            created,
        }));
    }
    match state.get(&keys::spent_note(program, id))? {
        Some(v) => {
            let b: [u8; 4] = v
                .as_slice()
                .try_into()
                .map_err(|_| StateError("spent note entry".into()))?;
            Ok(Some(NoteStatus::Spent {
                spent: u32::from_le_bytes(b),
            }))
        }
        None => Ok(None),
    }
}

/// Reads an unspent-note value: `commitment [32] || created milestone u32 LE`.
pub fn parse_unspent(v: &[u8]) -> Result<([u8; 32], u32), StateError> {
    if v.len() != 36 {
        return Err(StateError("unspent note entry".into()));
    }
    let mut c = [0u8; 32];
    c.copy_from_slice(&v[..32]);
    let mut i = [0u8; 4];
    i.copy_from_slice(&v[32..]);
    Ok((c, u32::from_le_bytes(i)))
}

/// The program of a note payload, and that it pays in value notes.
fn value_program(
    diff: &Overlay<'_>,
    program: &[u8; 32],
) -> Result<Result<(ProgramId, Did), ConflictReason>, LedgerError> {
    let id = ProgramId(weft_types::RegistryId(*program));
    let Some(rec) = program_record(diff, &id)? else {
        return Ok(Err(ConflictReason::UnknownProgram));
    };
    if !rec.program.value_notes {
        return Ok(Err(ConflictReason::NotAValueProgram));
    }
    Ok(Ok((id, rec.owner)))
}

/// Moves `spent` from the unspent to the spent set and adds `created`, updating the
/// totals' counts and unspent sum; the first conflict leaves the overlay to be rolled
/// back by the caller.
fn move_notes(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    program: &ProgramId,
    totals: &mut NoteTotals,
    spent: &[[u8; 32]],
    created: &[LedgerNote],
) -> Result<Result<(), ConflictReason>, LedgerError> {
    let mut removed = Vec::with_capacity(spent.len());
    for id in spent {
        let key = keys::note(program, id);
        let Some(v) = diff.get(&key)? else {
            return Ok(Err(ConflictReason::NoteSpent));
        };
        let (commitment, _) = parse_unspent(&v)?;
        removed.push(commitment);
        diff.delete(&key)?;
        diff.put(
            &keys::spent_note(program, id),
            ctx.index.to_le_bytes().to_vec(),
        )?;
    }
    let mut added = Vec::with_capacity(created.len());
    for note in created {
        let key = keys::note(program, &note.id);
        if diff.get(&key)?.is_some() || diff.get(&keys::spent_note(program, &note.id))?.is_some() {
            return Ok(Err(ConflictReason::NoteExists));
        }
        let mut v = note.commitment.to_vec();
        v.extend_from_slice(&ctx.index.to_le_bytes());
        diff.put(&key, v)?;
        added.push(note.commitment);
    }
    // Points were decoded by the verifier; a failure here is a corrupt state entry.
    totals.unspent_sum = fold_points(&totals.unspent_sum, &added, &removed)
        .map_err(|e| StateError(format!("note sum: {e}")))?;
    totals.unspent = totals.unspent + added.len() as u64 - removed.len() as u64;
    totals.spent += removed.len() as u64;
    Ok(Ok(()))
}

fn add_kernel(
    diff: &mut Overlay<'_>,
    program: &ProgramId,
    block: &BlockId,
    totals: &mut NoteTotals,
    excess: &[u8; 32],
) -> Result<(), LedgerError> {
    diff.put(&keys::kernel(program, block), excess.to_vec())?;
    totals.kernel_sum = fold_points(&totals.kernel_sum, &[*excess], &[])
        .map_err(|e| StateError(format!("kernel sum: {e}")))?;
    Ok(())
}

/// Applies a mint, transfer or redeem whose stateless verdict is `verdict`. `signer` is
/// the DID that signed the block (`None`: anonymous).
pub(crate) fn apply(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    block_id: &BlockId,
    signer: Option<Did>,
    payload: &Payload,
    verdict: Option<Result<VerifiedNotes, EntitlementError>>,
) -> Result<Result<(), ConflictReason>, LedgerError> {
    let verified = match verdict.or_else(|| verify_payload(payload)) {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Ok(Err(conflict_reason(&e))),
        None => return Ok(Err(ConflictReason::MalformedNote)),
    };
    let program = match &verified {
        VerifiedNotes::Mint(m) => m.program,
        VerifiedNotes::Transfer(t) => t.program,
        VerifiedNotes::Redeem(r) => r.program,
    };
    let (program, owner) = match value_program(diff, &program)? {
        Ok(p) => p,
        Err(reason) => return Ok(Err(reason)),
    };
    let mut totals = totals(diff, &program)?;
    let moved = match &verified {
        VerifiedNotes::Mint(m) => {
            if signer != Some(owner) {
                return Ok(Err(ConflictReason::NotProgramOwner));
            }
            totals.minted += m.total as u128;
            totals.mints += 1;
            add_kernel(diff, &program, block_id, &mut totals, &m.excess)?;
            move_notes(diff, ctx, &program, &mut totals, &[], &m.created)?
        }
        VerifiedNotes::Transfer(t) => {
            totals.transfers += 1;
            add_kernel(diff, &program, block_id, &mut totals, &t.excess)?;
            move_notes(diff, ctx, &program, &mut totals, &t.spent, &t.created)?
        }
        VerifiedNotes::Redeem(r) => {
            let Some(shop) = signer else {
                return Ok(Err(ConflictReason::AnonymousNotAllowed));
            };
            if roles(diff, &shop)? & role::DISTRIBUTION_POINT == 0 {
                return Ok(Err(ConflictReason::NotAccredited));
            }
            totals.redeemed += r.amount as u128;
            totals.redeems += 1;
            add_kernel(diff, &program, block_id, &mut totals, &r.excess)?;
            move_notes(diff, ctx, &program, &mut totals, &r.spent, &r.created)?
        }
    };
    if let Err(reason) = moved {
        return Ok(Err(reason));
    }
    if totals.redeemed > totals.minted {
        // Impossible with valid proofs (the audit identity and the range proofs), kept
        // as a guard: value is never paid out beyond what was minted.
        return Ok(Err(ConflictReason::Unbalanced));
    }
    diff.put(&keys::note_totals(&program), totals.to_bytes())?;
    Ok(Ok(()))
}

/// Mints a claim's entitlement `amount` to the claim's one-time key `owner` as the
/// public note `amount·B` (`specs/entitlements.md` §2).
pub(crate) fn apply_claim_note(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    program: &ProgramId,
    owner: &[u8; 32],
    amount: u64,
) -> Result<Result<(), ConflictReason>, LedgerError> {
    let Ok(note) = claim_note(program.bytes(), owner, amount) else {
        return Ok(Err(ConflictReason::MalformedNote));
    };
    let mut totals = totals(diff, program)?;
    if let Err(reason) = move_notes(diff, ctx, program, &mut totals, &[], &[note])? {
        return Ok(Err(reason));
    }
    totals.minted += amount as u128;
    totals.claim_notes += 1;
    diff.put(&keys::note_totals(program), totals.to_bytes())?;
    Ok(Ok(()))
}
