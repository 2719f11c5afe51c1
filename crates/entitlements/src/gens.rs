//! The fixed generators every note, proof and key of this crate is built on.
//!
//! - `B`: the Ristretto basepoint. It is the value base of commitments and the base of
//!   owner keys.
//! - `H`: bulletproofs' blinding base, the SHA3-512 hash-to-group of `B`'s encoding, so
//!   nobody knows `log_B H`. That unknown logarithm is what makes a commitment
//!   `v·B + r·H` binding: opening it to two amounts would reveal `log_B H`.
//! - The Bulletproofs vector generators for 64-bit proofs aggregated over up to 16
//!   parties (one per output, padded to a power of two).
//!
//! Computing the vector generators takes tens of milliseconds, so they are made once per
//! process and shared (`OnceLock`).

use std::sync::OnceLock;

use bulletproofs::{BulletproofGens, PedersenGens};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use weft_types::notes::MAX_NOTE_OUTPUTS;

/// Bits of every range proof: amounts are in `[0, 2^64)`.
pub const RANGE_BITS: usize = 64;

/// The Pedersen generators `B` (value) and `H` (blinding).
pub fn pedersen_gens() -> &'static PedersenGens {
    static GENS: OnceLock<PedersenGens> = OnceLock::new();
    GENS.get_or_init(PedersenGens::default)
}

/// The Bulletproofs generators: 64 bits × 16 parties.
pub fn bulletproof_gens() -> &'static BulletproofGens {
    static GENS: OnceLock<BulletproofGens> = OnceLock::new();
    GENS.get_or_init(|| BulletproofGens::new(RANGE_BITS, MAX_NOTE_OUTPUTS))
}

/// The commitment `amount·B + blinding·H`.
pub fn commit(amount: u64, blinding: &Scalar) -> RistrettoPoint {
    pedersen_gens().commit(Scalar::from(amount), *blinding)
}
