//! The public audit of a program: minted minus redeemed equals what the unspent notes
//! hold, checked from ledger data alone without opening any note.
//!
//! # The equation
//!
//! For a program, let `M` be the sum of its public mint totals (mints and notes minted
//! to claims), `R` the sum of its public redeemed amounts, `U` its unspent notes and
//! `K` the kernels of every mint, transfer and redeem applied so far. Then
//!
//! ```text
//! Σ_{C ∈ U} C  =  (M − R)·B  +  Σ_{k ∈ K} E_k                                    (A)
//! ```
//!
//! **Proof** (induction over the payloads the ledger applies). With no payload, both
//! sides are the identity. Each payload keeps (A), because its verified balance
//! equation `Σ C_o − Σ C_i = δ·B + E` says exactly how the left side changes:
//!
//! - a mint of total `t` adds outputs (`δ = t`): the left grows by `t·B + E`, the right
//!   by `t·B` (as `M` grows by `t`) plus its new kernel `E`;
//! - a transfer removes its inputs from `U` and adds its outputs (`δ = 0`): both sides
//!   grow by `E`;
//! - a redeem of `a` (`δ = −a`): the left grows by `−a·B + E`, and so does the right,
//!   as `R` grows by `a`;
//! - a note minted to a claim's key for `a` adds `a·B` (zero blinding, no kernel) to
//!   the left and `a` to `M`.
//!
//! **Meaning.** Each kernel signature proves `E_k = k_k·H` for a known `k_k` (the
//! excess commits to zero), so `Σ E_k = κ·H`, and (A) reads
//! `Σ_{C ∈ U} C = (M − R)·B + κ·H`: the unspent notes together commit to exactly
//! `M − R`. As `log_B H` is unknown, nobody can make the notes hold more than was
//! minted publicly, and since each unspent amount was range-proven in `[0, 2^64)` the
//! sum of the hidden amounts is `M − R` over the integers (for fewer than
//! `2^188` notes). No single amount is revealed: only commitments and excesses,
//! which are uniformly distributed whatever the amounts, are used.
//!
//! An auditor who does not trust the nodes re-verifies every confirmed payload of the
//! program (the `verify_*` functions: kernels, range proofs, balances) and recomputes
//! `U`, `M`, `R` and `K` from them; one who trusts the state root can take the ledger's
//! stored sets. Either way [`audit`] is one multi-point sum.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;

use crate::error::AuditError;
use crate::gens::pedersen_gens;

fn sum(points: &[[u8; 32]], field: &'static str) -> Result<RistrettoPoint, AuditError> {
    points
        .iter()
        .enumerate()
        .try_fold(RistrettoPoint::identity(), |acc, (index, p)| {
            CompressedRistretto(*p)
                .decompress()
                .map(|p| acc + p)
                .ok_or(AuditError::MalformedPoint { field, index })
        })
}

/// Checks equation (A): `Σ unspent_commitments = (minted − redeemed)·B + Σ
/// kernel_excesses`, for one program.
pub fn audit(
    minted: u128,
    redeemed: u128,
    unspent_commitments: &[[u8; 32]],
    kernel_excesses: &[[u8; 32]],
) -> Result<(), AuditError> {
    let net = minted
        .checked_sub(redeemed)
        .ok_or(AuditError::Overdrawn { minted, redeemed })?;
    let left = sum(unspent_commitments, "unspent commitment")?;
    let right = pedersen_gens().B * Scalar::from(net) + sum(kernel_excesses, "kernel excess")?;
    if left == right {
        Ok(())
    } else {
        Err(AuditError::Mismatch)
    }
}

/// `start + Σ add − Σ sub`, on compressed points: for a ledger that keeps a running
/// sum of a program's unspent commitments (add the outputs, subtract the inputs) or of
/// its excesses, and passes the sums to [`audit`] as one-element lists. Use the
/// identity (32 zero bytes) as the first `start`.
pub fn fold_points(
    start: &[u8; 32],
    add: &[[u8; 32]],
    sub: &[[u8; 32]],
) -> Result<[u8; 32], AuditError> {
    let start = CompressedRistretto(*start)
        .decompress()
        .ok_or(AuditError::MalformedPoint {
            field: "start",
            index: 0,
        })?;
    Ok(
        (start + sum(add, "added point")? - sum(sub, "subtracted point")?)
            .compress()
            .to_bytes(),
    )
}
