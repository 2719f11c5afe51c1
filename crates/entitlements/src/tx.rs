//! Mint, transfer and redeem: building them (wallet, agency) and verifying them
//! (ledger, anyone), with no secret on the verifying side.
//!
//! # The balance equation
//!
//! Every payload moves value between notes and the public world by a public amount
//! `δ`: `+total` for a mint, `0` for a transfer, `−amount` for a redeem. With input
//! commitments `C_i = v_i·B + r_i·H` and outputs `C_o = v_o·B + r_o·H`, the payload
//! publishes a **kernel**: the excess
//!
//! ```text
//! E = Σ C_o − Σ C_i − δ·B
//! ```
//!
//! and a Schnorr signature with base `H` under `E` (the balance proof). If the amounts
//! balance, `Σ v_o − Σ v_i = δ`, then `E = (Σ r_o − Σ r_i)·H = k·H` and the builder,
//! who knows every blinding, can sign with `k`. Conversely a valid signature proves
//! knowledge of `k` with `E = k·H` (the Schnorr proof of knowledge, extractable by
//! rewinding), so `(Σ v_o − Σ v_i − δ)·B = (k − Σ r_o + Σ r_i)·H`; unless both sides
//! are zero that would give `log_B H`, which nobody knows. So `Σ v_o = Σ v_i + δ`
//! modulo the group order `ℓ ≈ 2^252`, and since every amount is in `[0, 2^64)` (range
//! proofs on outputs; inputs were outputs once) and there are at most 16 of each, both
//! sides are below `2^69 ≪ ℓ`: the equality holds over the integers. No single amount
//! is revealed: `E` is a multiple of `H` whatever the split.
//!
//! The verifier recomputes `Σ C_o − Σ C_i − δ·B` and compares it with `E` (a
//! [`Balance`](crate::EntitlementError::Balance) error otherwise), then checks the
//! kernel signature ([`KernelSignature`](crate::EntitlementError::KernelSignature)).
//!
//! # Range proofs
//!
//! One aggregated Bulletproof proves every output amount in `[0, 2^64)`. Bulletproofs 5
//! aggregates only a power-of-two number of values, so `m` outputs are padded to
//! `m' = next_power_of_two(m)` with the commitment to `(0, 0)`, the identity point,
//! which both prover and verifier append; the padding is not on the wire. The proof's
//! merlin transcript starts with the payload's label (`weft/mint/v1`,
//! `weft/transfer/v1`, `weft/redeem/v1`) and absorbs the whole statement before the
//! proof's own messages: the program, the public amount, every input (commitment,
//! owner), every output (commitment, owner, ephemeral key, ciphertext) and the kernel
//! excess. A proof therefore verifies only for the payload it was made for.
//!
//! Bulletproofs' verifier draws a random scalar to merge its checks into one
//! multi-scalar multiplication. The ledger must not depend on randomness, so the
//! verifier here seeds that draw from `H("weft/verify-rng/v1" || body digest)`: the
//! weight is a hash of a proof already fixed (a Fiat–Shamir weight), so a cheating
//! prover still faces a chance of about `1/ℓ` per try, and every node decides alike.
//!
//! # Signatures
//!
//! Every signature of a payload signs its **body digest**
//! (`weft_types::notes::{Mint, Transfer, Redeem}::body_digest`): the BLAKE2b-256 of the
//! payload's canonical encoding with every signature left out, under a tag per
//! payload. The body includes the range proof and the excess, so each signature covers
//! the whole payload: the kernel signature (label `weft/kernel/v1`, base `H`, key `E`)
//! and one spend signature per input (label `weft/spend/v1`, base `B`, key: the
//! input's owner key), which proves the spender owns the note.
//!
//! # What the ledger does on top
//!
//! The verifiers need no ledger state. The ledger checks, in white-flag order, that
//! every input's note id ([`VerifiedTransfer::spent`]) is unspent in the same program
//! (the id hashes the program, commitment and owner, so the input's inline commitment
//! and owner cannot lie); that no output id already exists; and then moves the ids.
//! A second spend of a note is a conflict: the first one confirmed wins.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use merlin::Transcript;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore};
use weft_types::hash::blake2b256;
use weft_types::notes::{
    Kernel, Mint, NoteInput, NoteOutput, Redeem, Transfer, MAX_NOTE_INPUTS, MAX_NOTE_OUTPUTS,
};
use weft_types::DecodeError;
use zeroize::Zeroize;

use bulletproofs::RangeProof;

use crate::error::EntitlementError;
use crate::gens::{bulletproof_gens, pedersen_gens, RANGE_BITS};
use crate::keys::{
    decode_point, schnorr_verify, sign_kernel, sign_spend, KERNEL_LABEL, SPEND_LABEL,
};
use crate::note::{make_output, LedgerNote, Opening, OwnedNote, Recipient};

/// Range-proof transcript label of a mint.
pub const MINT_LABEL: &[u8] = b"weft/mint/v1";
/// Range-proof transcript label of a transfer.
pub const TRANSFER_LABEL: &[u8] = b"weft/transfer/v1";
/// Range-proof transcript label of a redeem.
pub const REDEEM_LABEL: &[u8] = b"weft/redeem/v1";
/// Domain string of the seed of the verifier's batching weights.
pub const VERIFY_RNG_DOMAIN: &[u8] = b"weft/verify-rng/v1";

/// A mint that verified: what the ledger records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMint {
    /// The program.
    pub program: [u8; 32],
    /// The public total added to the program's minted total.
    pub total: u64,
    /// The new notes (unspent set).
    pub created: Vec<LedgerNote>,
    /// The kernel excess (for the audit).
    pub excess: [u8; 32],
}

/// A transfer that verified: what the ledger checks and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTransfer {
    /// The program.
    pub program: [u8; 32],
    /// The ids of the spent notes: each must be unspent in this program.
    pub spent: Vec<[u8; 32]>,
    /// The new notes.
    pub created: Vec<LedgerNote>,
    /// The kernel excess.
    pub excess: [u8; 32],
}

/// A redeem that verified: what the ledger checks and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRedeem {
    /// The program.
    pub program: [u8; 32],
    /// The public amount added to the program's redeemed total (paid by the agency).
    pub amount: u64,
    /// Whom the agency pays.
    pub payee: [u8; 32],
    /// The ids of the spent notes.
    pub spent: Vec<[u8; 32]>,
    /// The change notes.
    pub created: Vec<LedgerNote>,
    /// The kernel excess.
    pub excess: [u8; 32],
}

/// Which payload a statement belongs to, with its public amount.
#[derive(Clone, Copy)]
enum Kind {
    Mint(u64),
    Transfer,
    /// The amount and the payee.
    Redeem(u64, [u8; 32]),
}

impl Kind {
    fn label(self) -> &'static [u8] {
        match self {
            Kind::Mint(_) => MINT_LABEL,
            Kind::Transfer => TRANSFER_LABEL,
            Kind::Redeem(..) => REDEEM_LABEL,
        }
    }
    fn amount(self) -> u64 {
        match self {
            Kind::Mint(a) | Kind::Redeem(a, _) => a,
            Kind::Transfer => 0,
        }
    }
    /// `δ·B`, the public value flowing in (mint) or out (redeem).
    fn delta(self) -> RistrettoPoint {
        let b = pedersen_gens().B;
        match self {
            Kind::Mint(a) => b * Scalar::from(a),
            Kind::Transfer => RistrettoPoint::identity(),
            Kind::Redeem(a, _) => -(b * Scalar::from(a)),
        }
    }
}

/// The range-proof transcript: the label, then the whole statement.
fn statement_transcript(
    kind: Kind,
    program: &[u8; 32],
    inputs: &[NoteInput],
    outputs: &[NoteOutput],
    excess: &[u8; 32],
) -> Transcript {
    let mut t = Transcript::new(kind.label());
    t.append_message(b"program", program);
    t.append_u64(b"amount", kind.amount());
    if let Kind::Redeem(_, payee) = kind {
        t.append_message(b"payee", &payee);
    }
    t.append_u64(b"inputs", inputs.len() as u64);
    for i in inputs {
        t.append_message(b"input-commitment", &i.commitment);
        t.append_message(b"input-owner", &i.owner);
    }
    t.append_u64(b"outputs", outputs.len() as u64);
    for o in outputs {
        t.append_message(b"output-commitment", &o.commitment);
        t.append_message(b"output-owner", &o.owner);
        t.append_message(b"output-ephemeral", &o.ephemeral);
        t.append_message(b"output-ciphertext", &o.ciphertext);
    }
    t.append_message(b"excess", excess);
    t
}

fn checked_sum(
    mut amounts: impl Iterator<Item = u64>,
    what: &'static str,
) -> Result<u64, EntitlementError> {
    amounts
        .try_fold(0u64, |acc, a| acc.checked_add(a))
        .ok_or(EntitlementError::AmountTooLarge(what))
}

fn check_count(
    field: &'static str,
    n: usize,
    min: usize,
    max: usize,
) -> Result<(), EntitlementError> {
    weft_types::codec::check_range(field, n as u64, min as u64, max as u64)?;
    Ok(())
}

/// The outputs for `recipients`, sorted by note id, with their openings.
fn build_outputs<R: RngCore + CryptoRng>(
    program: &[u8; 32],
    recipients: &[Recipient],
    rng: &mut R,
) -> Result<Vec<(NoteOutput, Opening)>, EntitlementError> {
    let mut outs = recipients
        .iter()
        .map(|r| make_output(program, r, rng))
        .collect::<Result<Vec<_>, _>>()?;
    outs.sort_by_key(|(o, _)| o.id(program));
    // Two outputs with one id would need two equal random blindings; refuse anyway.
    for pair in outs.windows(2) {
        if pair[0].0.id(program) == pair[1].0.id(program) {
            return Err(DecodeError::NotStrictlyAscending {
                field: "outputs",
                position: 1,
            }
            .into());
        }
    }
    Ok(outs)
}

/// Proves the range of `openings` (padded to a power of two) on `transcript`.
fn prove_range<R: RngCore + CryptoRng>(
    transcript: &mut Transcript,
    openings: &[&Opening],
    rng: &mut R,
) -> Result<Vec<u8>, EntitlementError> {
    if openings.is_empty() {
        return Ok(Vec::new());
    }
    let m = openings.len().next_power_of_two();
    let mut values: Vec<u64> = openings.iter().map(|o| o.amount).collect();
    let mut blindings: Vec<Scalar> = openings.iter().map(|o| o.blinding).collect();
    values.resize(m, 0);
    blindings.resize(m, Scalar::ZERO);
    let result = RangeProof::prove_multiple_with_rng(
        bulletproof_gens(),
        pedersen_gens(),
        transcript,
        &values,
        &blindings,
        RANGE_BITS,
        rng,
    );
    values.zeroize();
    blindings.zeroize();
    let (proof, _) = result.map_err(|e| EntitlementError::Proving(e.to_string()))?;
    Ok(proof.to_bytes())
}

/// Verifies the aggregated range proof over `outputs` (padded with identities).
fn verify_range(
    transcript: &mut Transcript,
    outputs: &[NoteOutput],
    proof: &[u8],
    digest: &[u8; 32],
) -> Result<(), EntitlementError> {
    if outputs.is_empty() {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(EntitlementError::RangeProof)
        };
    }
    let proof = RangeProof::from_bytes(proof).map_err(|_| EntitlementError::RangeProof)?;
    let m = outputs.len().next_power_of_two();
    let mut commitments: Vec<CompressedRistretto> = outputs
        .iter()
        .map(|o| CompressedRistretto(o.commitment))
        .collect();
    commitments.resize(m, CompressedRistretto::identity());
    let mut rng = ChaCha20Rng::from_seed(blake2b256(&[VERIFY_RNG_DOMAIN, digest]));
    proof
        .verify_multiple_with_rng(
            bulletproof_gens(),
            pedersen_gens(),
            transcript,
            &commitments,
            RANGE_BITS,
            &mut rng,
        )
        .map_err(|_| EntitlementError::RangeProof)
}

/// The excess blinding `k = Σ r_o − Σ r_i` and the excess `E = k·H`.
fn excess(inputs: &[OwnedNote], outputs: &[(NoteOutput, Opening)]) -> (Scalar, [u8; 32]) {
    let mut out: Scalar = outputs.iter().map(|(_, o)| o.blinding).sum();
    let mut inp: Scalar = inputs.iter().map(|n| n.opening().blinding).sum();
    let k = out - inp;
    out.zeroize();
    inp.zeroize();
    let e = (pedersen_gens().B_blinding * k).compress().to_bytes();
    (k, e)
}

fn unsigned_inputs(
    program: &[u8; 32],
    notes: &[OwnedNote],
) -> Result<Vec<OwnedNote>, EntitlementError> {
    for (index, n) in notes.iter().enumerate() {
        if n.program() != program {
            return Err(EntitlementError::WrongProgram { index });
        }
        if n.key().public_key().to_bytes() != *n.owner() {
            return Err(EntitlementError::NotOwner { index });
        }
    }
    let mut sorted = notes.to_vec();
    sorted.sort_by_key(|n| n.id());
    for pair in sorted.windows(2) {
        if pair[0].id() == pair[1].id() {
            return Err(DecodeError::NotStrictlyAscending {
                field: "inputs",
                position: 1,
            }
            .into());
        }
    }
    Ok(sorted)
}

fn input_wire(n: &OwnedNote) -> NoteInput {
    NoteInput {
        commitment: *n.commitment(),
        owner: *n.owner(),
        signature: [0u8; 64],
    }
}

/// Mints notes for `recipients` in `program`; the public total is their sum.
///
/// Refuses an empty or over-long recipient list and a total of 2^64 or more.
pub fn mint<R: RngCore + CryptoRng>(
    program: [u8; 32],
    recipients: &[Recipient],
    rng: &mut R,
) -> Result<Mint, EntitlementError> {
    check_count("output count", recipients.len(), 1, MAX_NOTE_OUTPUTS)?;
    let total = checked_sum(recipients.iter().map(|r| r.amount), "mint total")?;
    let kind = Kind::Mint(total);
    let outs = build_outputs(&program, recipients, rng)?;
    let (mut k, excess_bytes) = excess(&[], &outs);
    let outputs: Vec<NoteOutput> = outs.iter().map(|(o, _)| o.clone()).collect();
    let openings: Vec<&Opening> = outs.iter().map(|(_, o)| o).collect();
    let mut t = statement_transcript(kind, &program, &[], &outputs, &excess_bytes);
    let range_proof = prove_range(&mut t, &openings, rng)?;
    let mut mint = Mint {
        program,
        total,
        outputs,
        range_proof,
        kernel: Kernel {
            excess: excess_bytes,
            signature: [0u8; 64],
        },
    };
    let digest = mint.body_digest();
    mint.kernel.signature = sign_kernel(&k, &excess_bytes, &digest, rng);
    k.zeroize();
    Ok(mint)
}

/// Pays `recipients` (the shop's note and the change) from `inputs`, which must add
/// up to exactly the recipients' sum.
pub fn transfer<R: RngCore + CryptoRng>(
    program: [u8; 32],
    inputs: &[OwnedNote],
    recipients: &[Recipient],
    rng: &mut R,
) -> Result<Transfer, EntitlementError> {
    check_count("input count", inputs.len(), 1, MAX_NOTE_INPUTS)?;
    check_count("output count", recipients.len(), 1, MAX_NOTE_OUTPUTS)?;
    let inputs = unsigned_inputs(&program, inputs)?;
    let ins = inputs.iter().map(|n| n.amount() as u128).sum::<u128>();
    let outs_sum = recipients.iter().map(|r| r.amount as u128).sum::<u128>();
    if ins != outs_sum {
        return Err(EntitlementError::Unbalanced {
            inputs: ins,
            outputs: outs_sum,
        });
    }
    let kind = Kind::Transfer;
    let outs = build_outputs(&program, recipients, rng)?;
    let (mut k, excess_bytes) = excess(&inputs, &outs);
    let wire_inputs: Vec<NoteInput> = inputs.iter().map(input_wire).collect();
    let outputs: Vec<NoteOutput> = outs.iter().map(|(o, _)| o.clone()).collect();
    let openings: Vec<&Opening> = outs.iter().map(|(_, o)| o).collect();
    let mut t = statement_transcript(kind, &program, &wire_inputs, &outputs, &excess_bytes);
    let range_proof = prove_range(&mut t, &openings, rng)?;
    let mut tx = Transfer {
        program,
        inputs: wire_inputs,
        outputs,
        range_proof,
        kernel: Kernel {
            excess: excess_bytes,
            signature: [0u8; 64],
        },
    };
    let digest = tx.body_digest();
    tx.kernel.signature = sign_kernel(&k, &excess_bytes, &digest, rng);
    k.zeroize();
    for (wire, note) in tx.inputs.iter_mut().zip(&inputs) {
        wire.signature = sign_spend(note.key(), &digest, rng);
    }
    Ok(tx)
}

/// Burns `inputs` for the public `amount`, paid by the agency to `payee`, returning
/// any `change` as new notes; the inputs must add up to exactly `amount` plus the
/// change.
pub fn redeem<R: RngCore + CryptoRng>(
    program: [u8; 32],
    inputs: &[OwnedNote],
    amount: u64,
    payee: [u8; 32],
    change: &[Recipient],
    rng: &mut R,
) -> Result<Redeem, EntitlementError> {
    check_count("input count", inputs.len(), 1, MAX_NOTE_INPUTS)?;
    check_count("output count", change.len(), 0, MAX_NOTE_OUTPUTS)?;
    let inputs = unsigned_inputs(&program, inputs)?;
    let ins = inputs.iter().map(|n| n.amount() as u128).sum::<u128>();
    let outs_sum = amount as u128 + change.iter().map(|r| r.amount as u128).sum::<u128>();
    if ins != outs_sum {
        return Err(EntitlementError::Unbalanced {
            inputs: ins,
            outputs: outs_sum,
        });
    }
    let kind = Kind::Redeem(amount, payee);
    let outs = build_outputs(&program, change, rng)?;
    let (mut k, excess_bytes) = excess(&inputs, &outs);
    let wire_inputs: Vec<NoteInput> = inputs.iter().map(input_wire).collect();
    let outputs: Vec<NoteOutput> = outs.iter().map(|(o, _)| o.clone()).collect();
    let openings: Vec<&Opening> = outs.iter().map(|(_, o)| o).collect();
    let mut t = statement_transcript(kind, &program, &wire_inputs, &outputs, &excess_bytes);
    let range_proof = prove_range(&mut t, &openings, rng)?;
    let mut tx = Redeem {
        program,
        amount,
        payee,
        inputs: wire_inputs,
        outputs,
        range_proof,
        kernel: Kernel {
            excess: excess_bytes,
            signature: [0u8; 64],
        },
    };
    let digest = tx.body_digest();
    tx.kernel.signature = sign_kernel(&k, &excess_bytes, &digest, rng);
    k.zeroize();
    for (wire, note) in tx.inputs.iter_mut().zip(&inputs) {
        wire.signature = sign_spend(note.key(), &digest, rng);
    }
    Ok(tx)
}

/// The checks every payload shares: points, balance equation, range proof, kernel
/// signature, spend signatures. (The range proof comes before the signatures, which
/// sign a digest that covers it, so that a damaged proof is reported as such.)
fn verify_common(
    kind: Kind,
    program: &[u8; 32],
    inputs: &[NoteInput],
    outputs: &[NoteOutput],
    range_proof: &[u8],
    kernel: &Kernel,
    digest: &[u8; 32],
) -> Result<Vec<LedgerNote>, EntitlementError> {
    let mut sum = RistrettoPoint::identity();
    for (index, o) in outputs.iter().enumerate() {
        sum += decode_point(&o.commitment, "output commitment", index)?;
        let owner = decode_point(&o.owner, "output owner", index)?;
        if owner == RistrettoPoint::identity() {
            return Err(EntitlementError::WeakOwnerKey { index });
        }
        decode_point(&o.ephemeral, "output ephemeral key", index)?;
    }
    let mut owners = Vec::with_capacity(inputs.len());
    for (index, i) in inputs.iter().enumerate() {
        sum -= decode_point(&i.commitment, "input commitment", index)?;
        owners.push(decode_point(&i.owner, "input owner", index)?);
    }
    let excess = decode_point(&kernel.excess, "kernel excess", 0)?;
    if sum - kind.delta() != excess {
        return Err(EntitlementError::Balance);
    }
    let mut t = statement_transcript(kind, program, inputs, outputs, &kernel.excess);
    verify_range(&mut t, outputs, range_proof, digest)?;
    let h = pedersen_gens().B_blinding;
    if !schnorr_verify(
        KERNEL_LABEL,
        &h,
        &excess,
        &kernel.excess,
        digest,
        &kernel.signature,
    ) {
        return Err(EntitlementError::KernelSignature);
    }
    let b = pedersen_gens().B;
    for (index, (i, owner)) in inputs.iter().zip(&owners).enumerate() {
        if !schnorr_verify(SPEND_LABEL, &b, owner, &i.owner, digest, &i.signature) {
            return Err(EntitlementError::NotOwner { index });
        }
    }
    Ok(outputs
        .iter()
        .map(|o| LedgerNote {
            id: o.id(program),
            commitment: o.commitment,
        })
        .collect())
}

/// Verifies a mint: structure, points, balance against the public total, kernel
/// signature and range proof. Whether the issuer may mint for the program is the
/// ledger's question.
pub fn verify_mint(mint: &Mint) -> Result<VerifiedMint, EntitlementError> {
    mint.check_limits()?;
    let digest = mint.body_digest();
    let created = verify_common(
        Kind::Mint(mint.total),
        &mint.program,
        &[],
        &mint.outputs,
        &mint.range_proof,
        &mint.kernel,
        &digest,
    )?;
    Ok(VerifiedMint {
        program: mint.program,
        total: mint.total,
        created,
        excess: mint.kernel.excess,
    })
}

/// Verifies a transfer: structure, points, balance, kernel and spend signatures, range
/// proof. The ledger then checks that [`VerifiedTransfer::spent`] are unspent.
pub fn verify_transfer(tx: &Transfer) -> Result<VerifiedTransfer, EntitlementError> {
    tx.check_limits()?;
    let digest = tx.body_digest();
    let created = verify_common(
        Kind::Transfer,
        &tx.program,
        &tx.inputs,
        &tx.outputs,
        &tx.range_proof,
        &tx.kernel,
        &digest,
    )?;
    Ok(VerifiedTransfer {
        program: tx.program,
        spent: tx.input_ids(),
        created,
        excess: tx.kernel.excess,
    })
}

/// Verifies a redeem: structure, points, balance against the public amount, kernel and
/// spend signatures, range proof of the change.
pub fn verify_redeem(tx: &Redeem) -> Result<VerifiedRedeem, EntitlementError> {
    tx.check_limits()?;
    let digest = tx.body_digest();
    let created = verify_common(
        Kind::Redeem(tx.amount, tx.payee),
        &tx.program,
        &tx.inputs,
        &tx.outputs,
        &tx.range_proof,
        &tx.kernel,
        &digest,
    )?;
    Ok(VerifiedRedeem {
        program: tx.program,
        amount: tx.amount,
        payee: tx.payee,
        spent: tx.input_ids(),
        created,
        excess: tx.kernel.excess,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::OwnerSecretKey;
    use rand_chacha::ChaCha20Rng;

    const PROGRAM: [u8; 32] = [7u8; 32];
    const PAYEE: [u8; 32] = [0x5au8; 32];

    fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    fn to(key: &OwnerSecretKey, amount: u64) -> Recipient {
        Recipient {
            owner: key.public_key(),
            amount,
        }
    }

    /// A household with two notes (60 and 40) minted to it.
    fn funded(rng: &mut ChaCha20Rng) -> (Mint, Vec<OwnedNote>) {
        let a = OwnerSecretKey::random(rng);
        let b = OwnerSecretKey::random(rng);
        let m = mint(PROGRAM, &[to(&a, 60), to(&b, 40)], rng).unwrap();
        let notes = m
            .outputs
            .iter()
            .filter_map(|o| {
                OwnedNote::decrypt(&PROGRAM, o, &a).or_else(|| OwnedNote::decrypt(&PROGRAM, o, &b))
            })
            .collect::<Vec<_>>();
        assert_eq!(notes.len(), 2);
        (m, notes)
    }

    fn pay(rng: &mut ChaCha20Rng) -> (Transfer, Vec<OwnedNote>) {
        let (_, notes) = funded(rng);
        let shop = OwnerSecretKey::random(rng);
        let change = OwnerSecretKey::random(rng);
        let t = transfer(PROGRAM, &notes, &[to(&shop, 75), to(&change, 25)], rng).unwrap();
        (t, notes)
    }

    #[test]
    fn mint_transfer_redeem_verify() {
        let mut rng = rng(1);
        let (m, notes) = funded(&mut rng);
        let vm = verify_mint(&m).unwrap();
        assert_eq!(vm.total, 100);
        assert_eq!(vm.created.len(), 2);
        let mut ids: Vec<_> = notes.iter().map(|n| n.id()).collect();
        ids.sort();
        assert_eq!(vm.created.iter().map(|n| n.id).collect::<Vec<_>>(), ids);

        let shop = OwnerSecretKey::random(&mut rng);
        let change = OwnerSecretKey::random(&mut rng);
        let t = transfer(PROGRAM, &notes, &[to(&shop, 75), to(&change, 25)], &mut rng).unwrap();
        assert_eq!(t.range_proof.len(), weft_types::notes::range_proof_len(2));
        let vt = verify_transfer(&t).unwrap();
        assert_eq!(vt.spent, ids);
        let shop_note = t
            .outputs
            .iter()
            .find_map(|o| OwnedNote::decrypt(&PROGRAM, o, &shop))
            .unwrap();
        assert_eq!(shop_note.amount(), 75);

        // The shop redeems 70 and keeps 5 as change; then redeems the 5 with no change.
        let keep = OwnerSecretKey::random(&mut rng);
        let r = redeem(PROGRAM, &[shop_note], 70, PAYEE, &[to(&keep, 5)], &mut rng).unwrap();
        let vr = verify_redeem(&r).unwrap();
        assert_eq!(vr.amount, 70);
        let five = OwnedNote::decrypt(&PROGRAM, &r.outputs[0], &keep).unwrap();
        let r2 = redeem(PROGRAM, &[five], 5, PAYEE, &[], &mut rng).unwrap();
        assert!(r2.range_proof.is_empty());
        verify_redeem(&r2).unwrap();

        // Encodings round-trip and still verify.
        let t2 = Transfer::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(t2, t);
        verify_transfer(&t2).unwrap();
        let m2 = Mint::from_bytes(&m.to_bytes()).unwrap();
        verify_mint(&m2).unwrap();
    }

    #[test]
    fn unbalanced_builds_are_refused() {
        let mut rng = rng(2);
        let (_, notes) = funded(&mut rng);
        let shop = OwnerSecretKey::random(&mut rng);
        assert_eq!(
            transfer(PROGRAM, &notes, &[to(&shop, 101)], &mut rng).unwrap_err(),
            EntitlementError::Unbalanced {
                inputs: 100,
                outputs: 101
            }
        );
        assert!(matches!(
            redeem(PROGRAM, &notes, 99, PAYEE, &[], &mut rng),
            Err(EntitlementError::Unbalanced { .. })
        ));
        assert_eq!(
            transfer([8u8; 32], &notes, &[to(&shop, 100)], &mut rng).unwrap_err(),
            EntitlementError::WrongProgram { index: 0 }
        );
        // The same note twice.
        let twice = vec![notes[0].clone(), notes[0].clone()];
        let amount = notes[0].amount() * 2;
        assert!(matches!(
            transfer(PROGRAM, &twice, &[to(&shop, amount)], &mut rng),
            Err(EntitlementError::Malformed(_))
        ));
        // Too many outputs, none at all.
        let many: Vec<Recipient> = (0..17).map(|_| to(&shop, 1)).collect();
        assert!(matches!(
            mint(PROGRAM, &many, &mut rng),
            Err(EntitlementError::Malformed(_))
        ));
        assert!(matches!(
            mint(PROGRAM, &[], &mut rng),
            Err(EntitlementError::Malformed(_))
        ));
    }

    #[test]
    fn amounts_of_2_64_or_more_are_refused() {
        let mut rng = rng(3);
        let k = OwnerSecretKey::random(&mut rng);
        // A total that does not fit in 64 bits is refused at construction.
        assert_eq!(
            mint(PROGRAM, &[to(&k, u64::MAX), to(&k, 1)], &mut rng).unwrap_err(),
            EntitlementError::AmountTooLarge("mint total")
        );
        // The largest amount is fine.
        let m = mint(PROGRAM, &[to(&k, u64::MAX)], &mut rng).unwrap();
        verify_mint(&m).unwrap();
    }

    /// A mint whose outputs commit to arbitrary scalars `values` (balanced against
    /// `total`, with a valid kernel), with a range proof made for `claimed` amounts.
    fn forged_mint(values: &[Scalar], claimed: &[u64], total: u64, rng: &mut ChaCha20Rng) -> Mint {
        let gens = pedersen_gens();
        let key = OwnerSecretKey::random(rng);
        let mut outs: Vec<(NoteOutput, Scalar)> = values
            .iter()
            .map(|v| {
                let r = Scalar::random(rng);
                let (mut o, _) = make_output(&PROGRAM, &to(&key, 0), rng).unwrap();
                o.commitment = gens.commit(*v, r).compress().to_bytes();
                (o, r)
            })
            .collect();
        outs.sort_by_key(|(o, _)| o.id(&PROGRAM));
        // The excess that makes the balance equation hold whatever the values: it is
        // `k·H` only when the values add up to the total.
        let k: Scalar = outs.iter().map(|(_, r)| r).sum();
        let value_sum: Scalar = values.iter().sum();
        let excess = (gens.B_blinding * k + gens.B * (value_sum - Scalar::from(total)))
            .compress()
            .to_bytes();
        let outputs: Vec<NoteOutput> = outs.iter().map(|(o, _)| o.clone()).collect();
        let openings: Vec<Opening> = outs
            .iter()
            .zip(claimed)
            .map(|((_, r), v)| Opening {
                amount: *v,
                blinding: *r,
            })
            .collect();
        let mut t = statement_transcript(Kind::Mint(total), &PROGRAM, &[], &outputs, &excess);
        let range_proof = prove_range(&mut t, &openings.iter().collect::<Vec<_>>(), rng).unwrap();
        let mut m = Mint {
            program: PROGRAM,
            total,
            outputs,
            range_proof,
            kernel: Kernel {
                excess,
                signature: [0; 64],
            },
        };
        let digest = m.body_digest();
        m.kernel.signature = sign_kernel(&k, &excess, &digest, rng);
        m
    }

    #[test]
    fn out_of_range_amounts_cannot_be_proven() {
        let mut rng = rng(4);
        let two64 = Scalar::from(u64::MAX) + Scalar::ONE;
        // Honest control: the forging helper itself makes valid mints.
        let ok = forged_mint(&[Scalar::from(5u64)], &[5], 5, &mut rng);
        verify_mint(&ok).unwrap();
        // An output of exactly 2^64 (the other output −2^64 + 5, so the sum is 5).
        let m = forged_mint(&[two64, Scalar::from(5u64) - two64], &[0, 5], 5, &mut rng);
        assert_eq!(verify_mint(&m), Err(EntitlementError::RangeProof));
        // The inflation attack: outputs −1 and 6 balance to 5.
        let m = forged_mint(&[-Scalar::ONE, Scalar::from(6u64)], &[0, 6], 5, &mut rng);
        assert_eq!(verify_mint(&m), Err(EntitlementError::RangeProof));
    }

    #[test]
    fn tampered_range_proof_is_rejected() {
        let mut rng = rng(5);
        let (t, _) = pay(&mut rng);
        for at in [0, 100, 7 * 32 + 5, t.range_proof.len() - 1] {
            let mut bad = t.clone();
            bad.range_proof[at] ^= 1;
            assert_eq!(
                verify_transfer(&bad),
                Err(EntitlementError::RangeProof),
                "byte {at}"
            );
        }
        // A proof from another transfer does not transfer.
        let (other, _) = pay(&mut rng);
        let mut bad = t.clone();
        bad.range_proof = other.range_proof;
        assert_eq!(verify_transfer(&bad), Err(EntitlementError::RangeProof));
    }

    #[test]
    fn balance_that_does_not_add_up_is_rejected() {
        let mut rng = rng(6);
        let (m, _) = funded(&mut rng);
        let mut bad = m.clone();
        bad.total += 1;
        assert_eq!(verify_mint(&bad), Err(EntitlementError::Balance));
        // Moving the difference into the excess keeps the equation (and the range proof
        // is honest) but the excess no longer commits to zero: the signature fails.
        let bad = forged_mint(&[Scalar::from(10u64)], &[10], 11, &mut rng);
        assert_eq!(verify_mint(&bad), Err(EntitlementError::KernelSignature));
        // A damaged kernel signature.
        let mut bad = m.clone();
        bad.kernel.signature[40] ^= 1;
        assert_eq!(verify_mint(&bad), Err(EntitlementError::KernelSignature));

        let (t, _) = pay(&mut rng);
        let mut bad = t.clone();
        bad.kernel.excess = pedersen_gens().B_blinding.compress().to_bytes();
        assert_eq!(verify_transfer(&bad), Err(EntitlementError::Balance));
        let (r_notes_mint, notes) = funded(&mut rng);
        drop(r_notes_mint);
        let r = redeem(PROGRAM, &notes, 100, PAYEE, &[], &mut rng).unwrap();
        let mut bad = r.clone();
        bad.amount = 101;
        assert_eq!(verify_redeem(&bad), Err(EntitlementError::Balance));
        // A copy that names another payee is refused (no change here, so no range
        // proof: the signatures catch it).
        let mut bad = r.clone();
        bad.payee = [0xa5; 32];
        assert_eq!(verify_redeem(&bad), Err(EntitlementError::KernelSignature));
    }

    #[test]
    fn input_signed_by_another_key_is_rejected() {
        let mut rng = rng(7);
        let (t, _) = pay(&mut rng);
        let digest = t.body_digest();
        let thief = OwnerSecretKey::random(&mut rng);
        let mut bad = t.clone();
        bad.inputs[1].signature = sign_spend(&thief, &digest, &mut rng);
        assert_eq!(
            verify_transfer(&bad),
            Err(EntitlementError::NotOwner { index: 1 })
        );
        // Swapping the two inputs' signatures fails too.
        let mut bad = t.clone();
        let s0 = bad.inputs[0].signature;
        bad.inputs[0].signature = bad.inputs[1].signature;
        bad.inputs[1].signature = s0;
        assert_eq!(
            verify_transfer(&bad),
            Err(EntitlementError::NotOwner { index: 0 })
        );
        // Spending a claim note needs its one-time key: a signature by the claim key
        // verifies, one by anybody else does not.
        let claim_key = OwnerSecretKey::random(&mut rng);
        let claim = OwnedNote::from_claim(&PROGRAM, claim_key, 10);
        let shop = OwnerSecretKey::random(&mut rng);
        let t = transfer(PROGRAM, &[claim], &[to(&shop, 10)], &mut rng).unwrap();
        verify_transfer(&t).unwrap();
        let mut bad = t.clone();
        bad.inputs[0].signature = sign_spend(&thief, &t.body_digest(), &mut rng);
        assert_eq!(
            verify_transfer(&bad),
            Err(EntitlementError::NotOwner { index: 0 })
        );
    }

    #[test]
    fn malformed_points_are_rejected() {
        let mut rng = rng(8);
        let k = OwnerSecretKey::random(&mut rng);
        let m = mint(PROGRAM, &[to(&k, 9)], &mut rng).unwrap();
        let mut bad = m.clone();
        bad.outputs[0].commitment = [0xff; 32];
        assert_eq!(
            verify_mint(&bad),
            Err(EntitlementError::MalformedPoint {
                field: "output commitment",
                index: 0
            })
        );
        let mut bad = m.clone();
        bad.outputs[0].owner = [0; 32];
        assert_eq!(
            verify_mint(&bad),
            Err(EntitlementError::WeakOwnerKey { index: 0 })
        );
        let mut bad = m.clone();
        bad.outputs[0].ephemeral = [0xee; 32];
        assert!(matches!(
            verify_mint(&bad),
            Err(EntitlementError::MalformedPoint { .. })
        ));
        let mut bad = m.clone();
        bad.kernel.excess = [0xff; 32];
        assert!(matches!(
            verify_mint(&bad),
            Err(EntitlementError::MalformedPoint { .. })
        ));

        let (t, _) = pay(&mut rng);
        let mut bad = t.clone();
        bad.inputs.truncate(1);
        bad.inputs[0].owner = [0xff; 32];
        assert_eq!(
            verify_transfer(&bad),
            Err(EntitlementError::MalformedPoint {
                field: "input owner",
                index: 0
            })
        );
        // Structural damage is a decoding error.
        let mut bad = t.clone();
        bad.range_proof.pop();
        assert!(matches!(
            verify_transfer(&bad),
            Err(EntitlementError::Malformed(_))
        ));
    }

    #[test]
    fn payloads_are_bound_to_their_program() {
        let mut rng = rng(9);
        let (t, _) = pay(&mut rng);
        let mut moved = t.clone();
        moved.program = [9u8; 32];
        // Input and output ids change with the program; resort to isolate the check.
        moved.inputs.sort_by_key(|i| i.id(&moved.program));
        moved.outputs.sort_by_key(|o| o.id(&moved.program));
        // The balance does not involve the program, the range proof's transcript does.
        assert_eq!(verify_transfer(&moved), Err(EntitlementError::RangeProof));
    }
}
