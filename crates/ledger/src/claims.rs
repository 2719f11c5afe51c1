//! The program and claim rules: one claim per household per round, counted per point.
//!
//! A claim is accepted only if every fact it relies on is on the ledger: the program
//! and its round, an accepted issuer's registry of the program's schema, a root among
//! that registry's recent roots, an accredited point with an active device key that
//! signed it, the program's predicate table, and an unused nullifier. The proof ties
//! these together: its public inputs are rebuilt here from the ledger's data and the
//! claim, never taken from the claim as given ([`statement`]).
//!
//! The ledger stores, per claim, only the nullifier (a pseudo-random field element
//! that only the household's own key can reproduce) and counts: claims and entitlement
//! totals per program, round and point, and the double claims caught. No per-household
//! record exists.
//!
//! # Notes on verification
//!
//! Proofs of one milestone are checked together before the blocks are applied
//! ([`ClaimVerifier::check_batch`]): one batch verification (`N + 3` Miller loops, one
//! final exponentiation) for all claims whose program is already known; if the batch
//! fails, each is checked alone so that only the bad ones conflict. The batch's random
//! weights come from a ChaCha stream seeded by the milestone's block ids, so the work
//! is reproducible; the outcome does not depend on them (except with probability
//! `2^-128` per milestone).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ark_bn254::Bn254;
use ark_groth16::PreparedVerifyingKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use weft_circuits::groth16::{prepared_verifying_key_from_bytes, CompressedProof};
use weft_circuits::Statement;
pub use weft_credentials::claim::{challenge, policy, program_field, schema_field, statement};
use weft_crypto::poseidon::fr_from_bytes_be;
use weft_types::codec::{DecodeError, Reader, Writer};
use weft_types::hash::blake2b256;
use weft_types::identity::role;
use weft_types::{Block, BlockId, Claim, Did, Program, ProgramId};

use crate::identity::{device_record, roles, Stamp};
use crate::registry::{recent_roots, registry_record};
use crate::state::{Overlay, StateError};
use crate::{keys, ConflictReason, LedgerError, MilestoneContext, StateRead};

/// How far ahead of the confirming milestone a claim's time may be (clock skew of an
/// offline tablet).
pub const MAX_CLAIM_SKEW_MS: u64 = 10 * 60 * 1000;

/// A program as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramRecord {
    /// The announcing agency.
    pub owner: Did,
    /// When it was announced.
    pub announced: Stamp,
    /// The program.
    pub program: Program,
}

impl ProgramRecord {
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(&self.owner.0);
        w.u32(self.announced.milestone);
        w.u64(self.announced.timestamp);
        self.program.encode_into(&mut w);
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(b: &[u8]) -> Result<ProgramRecord, DecodeError> {
        let mut r = Reader::new(b);
        let rec = ProgramRecord {
            owner: Did(r.array("owner")?),
            announced: Stamp {
                milestone: r.u32("announced milestone")?,
                timestamp: r.u64("announced time")?,
            },
            program: Program::decode_from(&mut r)?,
        };
        r.finish("program record")?;
        Ok(rec)
    }
}

/// Claims and entitlement delivered, for a program round (and a point).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimCounts {
    /// Claims applied.
    pub claims: u64,
    /// Entitlement delivered (sum of the quantities).
    pub entitlement: u64,
    /// Claims confirmed as conflicting because the household had claimed already.
    pub double_claims: u64,
}

impl ClaimCounts {
    fn to_bytes(self) -> Vec<u8> {
        [
            self.claims.to_le_bytes(),
            self.entitlement.to_le_bytes(),
            self.double_claims.to_le_bytes(),
        ]
        .concat()
    }

    /// Decodes the stored value.
    pub fn from_bytes(b: &[u8]) -> Result<ClaimCounts, StateError> {
        if b.len() != 24 {
            return Err(StateError("claim counts are not 24 bytes".into()));
        }
        let u = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(a)
        };
        Ok(ClaimCounts {
            claims: u(0),
            entitlement: u(1),
            double_claims: u(2),
        })
    }
}

/// A program's record.
pub fn program_record(
    state: &dyn StateRead,
    id: &ProgramId,
) -> Result<Option<ProgramRecord>, LedgerError> {
    state
        .get(&keys::program(id))?
        .map(|b| {
            ProgramRecord::from_bytes(&b)
                .map_err(|e| LedgerError::State(StateError(format!("stored program: {e}"))))
        })
        .transpose()
}

/// The counts of a program round, for one point (`Some`) or in total (`None`).
pub fn claim_counts(
    state: &dyn StateRead,
    program: &ProgramId,
    round: u32,
    point: Option<&Did>,
) -> Result<ClaimCounts, StateError> {
    match state.get(&keys::claim_counts(program, round, point))? {
        Some(b) => ClaimCounts::from_bytes(&b),
        None => Ok(ClaimCounts::default()),
    }
}

/// Every point that recorded a claim in a program round.
pub fn round_points(
    state: &dyn StateRead,
    program: &ProgramId,
    round: u32,
) -> Result<Vec<Did>, StateError> {
    let b = state
        .get(&keys::round_points(program, round))?
        .unwrap_or_default();
    Ok(b.chunks_exact(32)
        .map(|c| {
            let mut d = [0u8; 32];
            d.copy_from_slice(c);
            Did(d)
        })
        .collect())
}

/// Whether a nullifier was used in a program round (and by which claim block).
pub fn nullifier_use(
    state: &dyn StateRead,
    program: &ProgramId,
    round: u32,
    nullifier: &[u8; 32],
) -> Result<Option<BlockId>, StateError> {
    Ok(state
        .get(&keys::nullifier(program, round, nullifier))?
        .and_then(|v| v.get(..32).and_then(|b| b.try_into().ok()))
        .map(BlockId))
}

/// Checks eligibility proofs (the network's verifying key, from the genesis).
#[derive(Clone)]
pub struct ClaimVerifier {
    pvk: Arc<PreparedVerifyingKey<Bn254>>,
}

impl std::fmt::Debug for ClaimVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClaimVerifier { .. }")
    }
}

impl ClaimVerifier {
    /// From the compressed verifying key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<ClaimVerifier, weft_circuits::CircuitError> {
        Ok(ClaimVerifier {
            pvk: Arc::new(prepared_verifying_key_from_bytes(bytes)?),
        })
    }

    /// Whether one claim's proof holds for `statement`.
    pub fn check(&self, statement: &Statement, proof: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 128]>::try_from(proof) else {
            return false;
        };
        let Ok(proof) = CompressedProof(bytes).to_proof() else {
            return false;
        };
        let Ok(inputs) = statement.public_inputs() else {
            return false;
        };
        weft_circuits::verify(&self.pvk, &inputs, &proof).is_ok()
    }

    /// Pre-checks the proofs of a milestone's claims whose program is known before the
    /// milestone, in one batch: block position → valid. Claims left out (unknown
    /// program, malformed) are checked alone when applied.
    pub fn check_batch(
        &self,
        state: &dyn StateRead,
        blocks: &[(BlockId, &Block)],
    ) -> Result<HashMap<usize, bool>, LedgerError> {
        // The state reads, in order; then each claim's statement, public inputs and
        // proof decompression (with its subgroup checks: most of the per-claim cost
        // besides the pairing) on every core.
        let mut candidates = Vec::new();
        let mut programs: BTreeMap<ProgramId, Option<ProgramRecord>> = BTreeMap::new();
        for (pos, (_, block)) in blocks.iter().enumerate() {
            let weft_types::Payload::Claim(claim) = &block.payload else {
                continue;
            };
            let rec = match programs.get(&claim.program) {
                Some(r) => r.clone(),
                None => {
                    let r = program_record(state, &claim.program)?;
                    programs.insert(claim.program, r.clone());
                    r
                }
            };
            if let Some(rec) = rec {
                candidates.push((pos, claim.as_ref(), rec));
            }
        }
        let prepare = |(pos, claim, rec): &(usize, &Claim, ProgramRecord)| {
            let st = statement(&claim.program, &rec.program, claim)?;
            let inputs = st.public_inputs().ok()?;
            let bytes = <[u8; 128]>::try_from(claim.proof.as_slice()).ok()?;
            // A proof that is not even valid points is simply invalid.
            let proof = CompressedProof(bytes).to_proof().unwrap_or_default();
            Some((*pos, inputs, proof))
        };
        use rayon::prelude::*;
        let items: Vec<_> = candidates.par_iter().filter_map(prepare).collect();
        let mut out = HashMap::new();
        if items.is_empty() {
            return Ok(out);
        }
        let seed = blake2b256(
            &blocks
                .iter()
                .map(|(id, _)| id.0.as_slice())
                .collect::<Vec<_>>(),
        );
        let mut rng = ChaCha20Rng::from_seed(seed);
        let batch: Vec<_> = items
            .iter()
            .map(|(_, i, p)| (i.clone(), p.clone()))
            .collect();
        if weft_circuits::batch_verify(&self.pvk, &batch, &mut rng).is_ok() {
            for (pos, _, _) in &items {
                out.insert(*pos, true);
            }
        } else {
            for (pos, inputs, proof) in &items {
                out.insert(
                    *pos,
                    weft_circuits::verify(&self.pvk, inputs, proof).is_ok(),
                );
            }
        }
        Ok(out)
    }
}

/// `Program`: announced by an accredited issuer; the policy must compile.
pub(crate) fn apply_program(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    did: Option<Did>,
    program: &Program,
) -> Result<Result<(), ConflictReason>, LedgerError> {
    let owner = match did {
        Some(d) if roles(diff, &d)? & role::ISSUER != 0 => d,
        _ => return Ok(Err(ConflictReason::NotAccredited)),
    };
    if diff.get(&keys::schema(&program.schema))?.is_none() {
        return Ok(Err(ConflictReason::UnknownSchema));
    }
    match policy(&program.conditions).map(|p| p.slot_inputs()) {
        Some(Ok(_)) => {}
        _ => return Ok(Err(ConflictReason::InvalidProgram)),
    }
    if program
        .entitlement
        .tiers
        .iter()
        .any(|t| fr_from_bytes_be(&t.value).is_err())
    {
        return Ok(Err(ConflictReason::InvalidProgram));
    }
    let id = program.id(&owner);
    if diff.get(&keys::program(&id))?.is_some() {
        return Ok(Err(ConflictReason::ProgramExists));
    }
    let rec = ProgramRecord {
        owner,
        announced: Stamp {
            milestone: ctx.index,
            timestamp: ctx.timestamp,
        },
        program: program.clone(),
    };
    diff.put(&keys::program(&id), rec.to_bytes())?;
    Ok(Ok(()))
}

/// What an applied claim adds to the counts.
pub(crate) struct Delivered {
    pub(crate) program: ProgramId,
    pub(crate) round: u32,
    pub(crate) point: Option<Did>,
    pub(crate) entitlement: u64,
}

/// `Claim`. `proof_ok` is the batch pre-check's answer, if it covered this claim.
pub(crate) fn apply_claim(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    id: &BlockId,
    claim: &Claim,
    verifier: Option<&ClaimVerifier>,
    proof_ok: Option<bool>,
) -> Result<Result<Delivered, ConflictReason>, LedgerError> {
    let Some(rec) = program_record(diff, &claim.program)? else {
        return Ok(Err(ConflictReason::UnknownProgram));
    };
    let program = &rec.program;
    let Some(round) = program.round(claim.round) else {
        return Ok(Err(ConflictReason::UnknownRound));
    };
    // The claim was made while the round was open (by the point's clock, which may run
    // a little ahead of the milestones), and reached the ledger before the round's
    // grace period ended.
    if claim.time < round.opens
        || claim.time >= round.closes
        || claim.time > ctx.timestamp.saturating_add(MAX_CLAIM_SKEW_MS)
        || ctx.timestamp > round.closes.saturating_add(program.grace_ms)
    {
        return Ok(Err(ConflictReason::RoundClosed));
    }
    // Who vouches for it: a point's device, or (if the program allows) nobody.
    match &claim.endorsement {
        None => {
            if !program.anonymous {
                return Ok(Err(ConflictReason::AnonymousNotAllowed));
            }
        }
        Some(e) => {
            if roles(diff, &e.point)? & role::DISTRIBUTION_POINT == 0 {
                return Ok(Err(ConflictReason::NotAccredited));
            }
            if !program.points.is_empty() && !program.points.contains(&e.point) {
                return Ok(Err(ConflictReason::PointNotAllowed));
            }
            match device_record(diff, &e.device_key)? {
                Some(d) if d.active && d.point == e.point => {}
                _ => return Ok(Err(ConflictReason::UnknownDeviceKey)),
            }
            let message = claim.signing_message(&e.point, &e.device_key);
            if weft_crypto::verify(&e.device_key, &message, &e.signature).is_err() {
                return Ok(Err(ConflictReason::InvalidDeviceSignature));
            }
        }
    }
    // The credential's registry: an accepted issuer's, of the program's schema, and a
    // root it had within the recent window.
    let Some(reg) = registry_record(diff, &claim.registry)? else {
        return Ok(Err(ConflictReason::UnknownRegistry));
    };
    if !program.issuers.contains(&reg.issuer) || reg.schema != program.schema {
        return Ok(Err(ConflictReason::IssuerNotAccepted));
    }
    if !recent_roots(diff, &claim.registry)?
        .iter()
        .any(|r| r.root == claim.root)
    {
        return Ok(Err(ConflictReason::StaleRoot));
    }
    let Some(st) = statement(&claim.program, program, claim) else {
        return Ok(Err(ConflictReason::InvalidProof));
    };
    let valid = match (proof_ok, verifier) {
        (Some(v), _) => v,
        (None, Some(verifier)) => verifier.check(&st, &claim.proof),
        (None, None) => false,
    };
    if !valid {
        return Ok(Err(ConflictReason::InvalidProof));
    }
    let key = keys::nullifier(&claim.program, claim.round, &claim.nullifier);
    if diff.get(&key)?.is_some() {
        return Ok(Err(ConflictReason::NullifierUsed));
    }
    let mut value = id.0.to_vec();
    value.extend_from_slice(&ctx.index.to_le_bytes());
    diff.put(&key, value)?;
    let entitlement = tier_quantity(program, &st);
    // Value programs pay it as a note to the claim's one-time key, which the proof's
    // challenge binds (so nobody else can have it minted to their own key).
    if let Some(owner) = &claim.entitlement_key {
        if !program.value_notes {
            return Ok(Err(ConflictReason::NotAValueProgram));
        }
        if let Err(reason) =
            crate::notes::apply_claim_note(diff, ctx, &claim.program, owner, entitlement)?
        {
            return Ok(Err(reason));
        }
    }
    Ok(Ok(Delivered {
        program: claim.program,
        round: claim.round,
        point: claim.endorsement.as_ref().map(|e| e.point),
        entitlement,
    }))
}

/// The entitlement of a claim's statement: the first tier whose attribute has its
/// value, else the default quantity.
fn tier_quantity(program: &Program, st: &Statement) -> u64 {
    program
        .entitlement
        .tiers
        .iter()
        .find(|t| {
            st.disclosed[t.attribute as usize]
                .zip(fr_from_bytes_be(&t.value).ok())
                .is_some_and(|(v, want)| v == want)
        })
        .map_or(program.entitlement.quantity, |t| t.quantity)
}

/// What a claim is worth under `program` (the tier its disclosures select), as the
/// ledger counts it when the claim applies; `None` if its disclosures do not fit.
pub fn entitlement_of(program: &Program, claim: &Claim) -> Option<u64> {
    let st = statement(&claim.program, program, claim)?;
    Some(tier_quantity(program, &st))
}

/// Adds a milestone's deliveries and caught double claims to the counts.
pub(crate) fn record_counts(
    diff: &mut Overlay<'_>,
    delivered: &[Delivered],
    doubles: &[(ProgramId, u32, Option<Did>)],
) -> Result<(), LedgerError> {
    let mut sums: BTreeMap<(ProgramId, u32, Option<Did>), ClaimCounts> = BTreeMap::new();
    let mut add = |k: (ProgramId, u32, Option<Did>), f: &dyn Fn(&mut ClaimCounts)| {
        f(sums.entry(k).or_default());
        if k.2.is_some() {
            f(sums.entry((k.0, k.1, None)).or_default());
        }
    };
    for d in delivered {
        let q = d.entitlement;
        add((d.program, d.round, d.point), &|c| {
            c.claims += 1;
            c.entitlement = c.entitlement.saturating_add(q);
        });
    }
    for (p, r, point) in doubles {
        add((*p, *r, *point), &|c| c.double_claims += 1);
    }
    for ((program, round, point), add) in sums {
        let key = keys::claim_counts(&program, round, point.as_ref());
        let had = match diff.get(&key)? {
            Some(b) => ClaimCounts::from_bytes(&b)?,
            None => {
                if let Some(p) = point {
                    let mut points = round_points(diff, &program, round)?;
                    if let Err(at) = points.binary_search(&p) {
                        points.insert(at, p);
                        diff.put(
                            &keys::round_points(&program, round),
                            points.iter().flat_map(|d| d.0).collect(),
                        )?;
                    }
                }
                ClaimCounts::default()
            }
        };
        let now = ClaimCounts {
            claims: had.claims + add.claims,
            entitlement: had.entitlement.saturating_add(add.entitlement),
            double_claims: had.double_claims + add.double_claims,
        };
        diff.put(&key, now.to_bytes())?;
    }
    Ok(())
}
