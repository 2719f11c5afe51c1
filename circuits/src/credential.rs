//! The credential a holder keeps, its registry commitment, and the holder's secrets.
//!
//! # Notes on the commitment
//!
//! A credential is 22 field elements (widths in specs/circuits.md):
//!
//! ```text
//! schema, a_0 .. a_15, expiry, issued_at, holder_cm, household_cm, salt
//! holder_cm    = Poseidon(holder_secret)
//! household_cm = Poseidon(household_key)
//! ```
//!
//! Poseidon (with the constants Weft uses) takes at most 12 inputs, so the leaf is two
//! calls, the first absorbing the attributes that fill a whole width-13 state:
//!
//! ```text
//! A    = Poseidon(a_0, ..., a_11)                                       (12 inputs)
//! leaf = Poseidon(A, a_12, ..., a_15, schema, expiry, issued_at,
//!                 holder_cm, household_cm, salt)                       (11 inputs)
//! ```
//!
//! The salt is a uniformly random field element, so the leaf is a hiding commitment:
//! without the salt, a leaf is a pseudo-random field element that says nothing about
//! the attributes (and two credentials with equal attributes have unrelated leaves).
//! Binding follows from Poseidon's collision resistance.

use std::fmt;

use ark_ff::UniformRand;
use rand::{CryptoRng, RngCore};
use weft_crypto::poseidon::{hash, hash1, hash_array, Fr};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Attribute slots in every credential.
pub const NUM_ATTRIBUTES: usize = 16;
/// Attributes in the first (inner) Poseidon call of the leaf.
pub const INNER_ATTRIBUTES: usize = 12;

/// The holder's two secrets. Zeroized on drop; `Debug` prints nothing of them.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HolderSecrets {
    /// Binds the credential to this holder (`holder_cm = Poseidon(holder_secret)`).
    pub holder_secret: Fr,
    /// The household's key: shared by its members, it makes the nullifier.
    pub household_key: Fr,
}

impl fmt::Debug for HolderSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HolderSecrets { .. }")
    }
}

impl HolderSecrets {
    /// Fresh random secrets.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        HolderSecrets {
            holder_secret: Fr::rand(rng),
            household_key: Fr::rand(rng),
        }
    }

    /// `Poseidon(holder_secret)`, what the issuer puts in the credential.
    pub fn holder_commitment(&self) -> Fr {
        hash1(self.holder_secret)
    }

    /// `Poseidon(household_key)`, what the issuer puts in the credential.
    pub fn household_commitment(&self) -> Fr {
        hash1(self.household_key)
    }

    /// The household's nullifier for one round of one program.
    pub fn nullifier(&self, program: Fr, round: u64) -> Fr {
        nullifier(self.household_key, program, round)
    }
}

/// `Poseidon(household_key, program, round)`: one per household per round; without the
/// key, nullifiers of different rounds or programs cannot be linked.
pub fn nullifier(household_key: Fr, program: Fr, round: u64) -> Fr {
    hash_array(&[household_key, program, Fr::from(round)])
}

/// A credential as the holder keeps it. Zeroized on drop; `Debug` hides the attributes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Credential {
    /// The schema id (a field element; the identity layer derives it from the schema).
    pub schema: Fr,
    /// Attribute values; unused slots are zero.
    pub attributes: [Fr; NUM_ATTRIBUTES],
    /// Unix time (seconds) after which the credential is no longer valid.
    pub expiry: u32,
    /// Unix time (seconds) of issuance.
    pub issued_at: u32,
    /// `Poseidon(holder_secret)`.
    pub holder_commitment: Fr,
    /// `Poseidon(household_key)`.
    pub household_commitment: Fr,
    /// The random blinding factor that makes the leaf hiding.
    pub salt: Fr,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("expiry", &self.expiry)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// A credential for the holder of `secrets`, with a fresh random salt.
    pub fn issue<R: RngCore + CryptoRng>(
        schema: Fr,
        attributes: [Fr; NUM_ATTRIBUTES],
        expiry: u32,
        issued_at: u32,
        holder_commitment: Fr,
        household_commitment: Fr,
        rng: &mut R,
    ) -> Self {
        Credential {
            schema,
            attributes,
            expiry,
            issued_at,
            holder_commitment,
            household_commitment,
            salt: Fr::rand(rng),
        }
    }

    /// The registry leaf (see the module notes).
    pub fn commitment(&self) -> Fr {
        let inner = hash(&self.attributes[..INNER_ATTRIBUTES]).unwrap_or_default();
        let mut outer = Vec::with_capacity(11);
        outer.push(inner);
        outer.extend_from_slice(&self.attributes[INNER_ATTRIBUTES..]);
        outer.extend_from_slice(&[
            self.schema,
            Fr::from(self.expiry),
            Fr::from(self.issued_at),
            self.holder_commitment,
            self.household_commitment,
            self.salt,
        ]);
        hash(&outer).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn commitment_hides_and_binds() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let s = HolderSecrets::random(&mut rng);
        let attrs = [Fr::from(7u64); NUM_ATTRIBUTES];
        let a = Credential::issue(
            Fr::from(1u64),
            attrs,
            10,
            5,
            s.holder_commitment(),
            s.household_commitment(),
            &mut rng,
        );
        let b = Credential::issue(
            Fr::from(1u64),
            attrs,
            10,
            5,
            s.holder_commitment(),
            s.household_commitment(),
            &mut rng,
        );
        assert_ne!(
            a.commitment(),
            b.commitment(),
            "salt must make equal credentials differ"
        );
        let mut c = a.clone();
        c.attributes[15] = Fr::from(8u64);
        assert_ne!(a.commitment(), c.commitment());
        let mut d = a.clone();
        d.expiry += 1;
        assert_ne!(a.commitment(), d.commitment());
    }

    #[test]
    fn debug_hides_secrets() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let s = HolderSecrets::random(&mut rng);
        assert_eq!(format!("{s:?}"), "HolderSecrets { .. }");
        let c = Credential::issue(
            Fr::from(1u64),
            [Fr::from(123456789u64); 16],
            1,
            1,
            Fr::from(1u64),
            Fr::from(1u64),
            &mut rng,
        );
        assert!(!format!("{c:?}").contains("123456789"));
    }

    #[test]
    fn nullifiers_differ_across_rounds_and_programs() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let s = HolderSecrets::random(&mut rng);
        let p = Fr::from(9u64);
        assert_eq!(s.nullifier(p, 1), s.nullifier(p, 1));
        assert_ne!(s.nullifier(p, 1), s.nullifier(p, 2));
        assert_ne!(s.nullifier(p, 1), s.nullifier(Fr::from(10u64), 1));
    }
}
