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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::{
        balance, claim_note, mint, redeem, transfer, verify_mint, verify_redeem, verify_transfer,
        LedgerNote, OwnedNote, OwnerSecretKey, Recipient,
    };

    const PROGRAM: [u8; 32] = [42u8; 32];

    /// The ledger's part, reduced to one program: unspent and spent note ids, kernels
    /// and the public totals.
    #[derive(Default)]
    struct Book {
        unspent: BTreeMap<[u8; 32], [u8; 32]>,
        spent: BTreeSet<[u8; 32]>,
        excesses: Vec<[u8; 32]>,
        minted: u128,
        redeemed: u128,
    }

    impl Book {
        fn apply(
            &mut self,
            spent: &[[u8; 32]],
            created: &[LedgerNote],
            excess: Option<[u8; 32]>,
        ) -> Result<(), &'static str> {
            if spent.iter().any(|id| !self.unspent.contains_key(id)) {
                return Err("input not unspent");
            }
            if created
                .iter()
                .any(|n| self.unspent.contains_key(&n.id) || self.spent.contains(&n.id))
            {
                return Err("output exists");
            }
            for id in spent {
                self.unspent.remove(id);
                self.spent.insert(*id);
            }
            for n in created {
                self.unspent.insert(n.id, n.commitment);
            }
            self.excesses.extend(excess);
            Ok(())
        }

        fn audit(&self) -> Result<(), AuditError> {
            let unspent: Vec<[u8; 32]> = self.unspent.values().copied().collect();
            audit(self.minted, self.redeemed, &unspent, &self.excesses)
        }
    }

    fn to(key: &OwnerSecretKey, amount: u64) -> Recipient {
        Recipient {
            owner: key.public_key(),
            amount,
        }
    }

    #[test]
    fn conservation_over_a_random_history() {
        let mut rng = ChaCha20Rng::seed_from_u64(2026);
        let mut book = Book::default();
        let mut wallet: Vec<OwnedNote> = Vec::new();
        book.audit().unwrap();
        for step in 0..40 {
            match rng.gen_range(0..4) {
                // Mint to fresh keys.
                0 => {
                    let n = rng.gen_range(1..=3);
                    let keys: Vec<OwnerSecretKey> =
                        (0..n).map(|_| OwnerSecretKey::random(&mut rng)).collect();
                    let recipients: Vec<Recipient> = keys
                        .iter()
                        .map(|k| to(k, rng.gen_range(0..1_000_000)))
                        .collect();
                    let m = mint(PROGRAM, &recipients, &mut rng).unwrap();
                    let v = verify_mint(&m).unwrap();
                    book.apply(&[], &v.created, Some(v.excess)).unwrap();
                    book.minted += v.total as u128;
                    for o in &m.outputs {
                        wallet.extend(keys.iter().find_map(|k| OwnedNote::decrypt(&PROGRAM, o, k)));
                    }
                }
                // A claim's note, computed by the ledger.
                1 => {
                    let key = OwnerSecretKey::random(&mut rng);
                    let amount = rng.gen_range(1..5_000);
                    let c = claim_note(&PROGRAM, &key.public_key().to_bytes(), amount).unwrap();
                    book.apply(&[], &[c], None).unwrap();
                    book.minted += amount as u128;
                    wallet.push(OwnedNote::from_claim(&PROGRAM, key, amount));
                }
                // Transfer some notes to two fresh keys.
                2 if !wallet.is_empty() => {
                    let take = rng.gen_range(1..=wallet.len().min(3));
                    let inputs: Vec<OwnedNote> = wallet.drain(..take).collect();
                    let total = balance(&inputs) as u64;
                    let split = rng.gen_range(0..=total);
                    let (a, b) = (
                        OwnerSecretKey::random(&mut rng),
                        OwnerSecretKey::random(&mut rng),
                    );
                    let t = transfer(
                        PROGRAM,
                        &inputs,
                        &[to(&a, split), to(&b, total - split)],
                        &mut rng,
                    )
                    .unwrap();
                    let v = verify_transfer(&t).unwrap();
                    book.apply(&v.spent, &v.created, Some(v.excess)).unwrap();
                    // Replaying it is a double spend: the ledger refuses, nothing changes.
                    assert_eq!(
                        book.apply(&v.spent, &v.created, Some(v.excess)),
                        Err("input not unspent")
                    );
                    for o in &t.outputs {
                        wallet.extend(
                            [&a, &b]
                                .iter()
                                .find_map(|k| OwnedNote::decrypt(&PROGRAM, o, k)),
                        );
                    }
                }
                // Redeem part of a note, with change.
                3 if !wallet.is_empty() => {
                    let note = wallet.remove(0);
                    let amount = rng.gen_range(0..=note.amount());
                    let k = OwnerSecretKey::random(&mut rng);
                    let change = [to(&k, note.amount() - amount)];
                    let change: &[Recipient] = if rng.gen_bool(0.5) || change[0].amount > 0 {
                        &change
                    } else {
                        &[]
                    };
                    let r = redeem(PROGRAM, &[note], amount, [1u8; 32], change, &mut rng).unwrap();
                    let v = verify_redeem(&r).unwrap();
                    book.apply(&v.spent, &v.created, Some(v.excess)).unwrap();
                    book.redeemed += v.amount as u128;
                    wallet.extend(
                        r.outputs
                            .iter()
                            .filter_map(|o| OwnedNote::decrypt(&PROGRAM, o, &k)),
                    );
                }
                _ => continue,
            }
            book.audit().unwrap_or_else(|e| panic!("step {step}: {e}"));
            // The wallet holds every unspent note, so its balance is minted − redeemed.
            assert_eq!(balance(&wallet), book.minted - book.redeemed, "step {step}");
            assert_eq!(wallet.len(), book.unspent.len());
        }
        assert!(book.spent.len() > 5, "the history spent something");

        // Running sums give the same answer.
        let unspent: Vec<[u8; 32]> = book.unspent.values().copied().collect();
        let u = fold_points(&[0u8; 32], &unspent, &[]).unwrap();
        let e = fold_points(&[0u8; 32], &book.excesses, &[]).unwrap();
        audit(book.minted, book.redeemed, &[u], &[e]).unwrap();

        // Any lie in the public totals or the sets is caught.
        assert_eq!(
            audit(book.minted + 1, book.redeemed, &unspent, &book.excesses),
            Err(AuditError::Mismatch)
        );
        assert_eq!(
            audit(book.minted, book.minted + 1, &unspent, &book.excesses),
            Err(AuditError::Overdrawn {
                minted: book.minted,
                redeemed: book.minted + 1
            })
        );
        assert_eq!(
            audit(book.minted, book.redeemed, &unspent[1..], &book.excesses),
            Err(AuditError::Mismatch)
        );
        assert!(matches!(
            audit(book.minted, book.redeemed, &[[0xff; 32]], &[]),
            Err(AuditError::MalformedPoint { .. })
        ));
    }
}
