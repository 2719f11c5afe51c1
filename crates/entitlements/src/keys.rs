//! Owner keys and the Schnorr signatures of this crate.
//!
//! # Why Ristretto and not Ed25519
//!
//! A note's owner key is a one-time key `P = x·B` on Ristretto, the group the
//! commitments already live in. One group means one decoding rule (Ristretto's
//! encodings are canonical and the group has prime order, so there are no small-order
//! or malleable keys to worry about, unlike Ed25519's cofactor), one library, and the
//! same Schnorr code for the two signatures a payload carries:
//!
//! - the **spend signature** of an input, with base `B` under the owner key, and
//! - the **kernel signature**, with base `H` under the excess `E`, which proves
//!   knowledge of `k` with `E = k·H`, that is, that `E` commits to the amount zero.
//!
//! # The signature
//!
//! Schnorr over a merlin transcript with base `G` (either `B` or `H`), public key
//! `X = x·G` and a 32-byte message `m` (the payload's body digest):
//!
//! ```text
//! T = Transcript(label); T.append("public", X); T.append("message", m)
//! n = a nonce from T's RNG, rekeyed with x and fed by the caller's RNG
//! R = n·G; T.append("R", R); c = T.challenge_scalar("c")     (64 bytes, reduced)
//! s = n + c·x                  signature = R || s            (64 bytes)
//! verify: s canonical and s·G − c·X == R
//! ```
//!
//! The label separates the uses (`weft/spend/v1`, `weft/kernel/v1`): a signature made
//! for one can never verify as the other. The nonce is derived from the transcript, the
//! secret and fresh randomness (merlin's `TranscriptRng`), so even a weak caller RNG
//! cannot leak the key through a repeated nonce on different messages.

use core::fmt;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};
use merlin::Transcript;
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::EntitlementError;
use crate::gens::pedersen_gens;

/// Transcript label of an input's spend signature.
pub const SPEND_LABEL: &[u8] = b"weft/spend/v1";
/// Transcript label of a kernel signature.
pub const KERNEL_LABEL: &[u8] = b"weft/kernel/v1";

/// A note owner's one-time secret key `x` (zeroized on drop; `Debug` shows only the
/// public key).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct OwnerSecretKey {
    secret: Scalar,
}

impl OwnerSecretKey {
    /// A fresh random key.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> OwnerSecretKey {
        loop {
            let secret = Scalar::random(rng);
            if secret != Scalar::ZERO {
                return OwnerSecretKey { secret };
            }
        }
    }

    /// A key from its 32 canonical little-endian bytes; `None` unless canonical and
    /// non-zero.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<OwnerSecretKey> {
        let secret: Option<Scalar> = Scalar::from_canonical_bytes(*bytes).into();
        secret
            .filter(|s| *s != Scalar::ZERO)
            .map(|secret| OwnerSecretKey { secret })
    }

    /// The key's bytes (a secret: zeroize the copy after use).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.secret.to_bytes())
    }

    /// The public key `x·B`.
    pub fn public_key(&self) -> OwnerPublicKey {
        OwnerPublicKey::from_point(RistrettoPoint::mul_base(&self.secret))
    }

    pub(crate) fn scalar(&self) -> &Scalar {
        &self.secret
    }
}

impl fmt::Debug for OwnerSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnerSecretKey(public: {})", self.public_key())
    }
}

/// A note owner's one-time public key: a Ristretto point other than the identity.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OwnerPublicKey {
    point: RistrettoPoint,
    bytes: [u8; 32],
}

impl OwnerPublicKey {
    fn from_point(point: RistrettoPoint) -> OwnerPublicKey {
        OwnerPublicKey {
            point,
            bytes: point.compress().to_bytes(),
        }
    }

    /// Decodes a key; refuses non-canonical encodings and the identity.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<OwnerPublicKey, EntitlementError> {
        let point = decode_point(bytes, "owner key", 0)?;
        if point == RistrettoPoint::identity() {
            return Err(EntitlementError::WeakOwnerKey { index: 0 });
        }
        Ok(OwnerPublicKey {
            point,
            bytes: *bytes,
        })
    }

    /// The compressed encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    pub(crate) fn point(&self) -> &RistrettoPoint {
        &self.point
    }
}

impl fmt::Display for OwnerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.bytes))
    }
}

impl fmt::Debug for OwnerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnerPublicKey({self})")
    }
}

/// Decompresses a point, naming the field on failure.
pub(crate) fn decode_point(
    bytes: &[u8; 32],
    field: &'static str,
    index: usize,
) -> Result<RistrettoPoint, EntitlementError> {
    CompressedRistretto(*bytes)
        .decompress()
        .ok_or(EntitlementError::MalformedPoint { field, index })
}

fn challenge(t: &mut Transcript) -> Scalar {
    let mut wide = [0u8; 64];
    t.challenge_bytes(b"c", &mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn start(label: &'static [u8], public: &[u8; 32], message: &[u8; 32]) -> Transcript {
    let mut t = Transcript::new(label);
    t.append_message(b"public", public);
    t.append_message(b"message", message);
    t
}

/// Signs `message` with secret `x` for base `base`, whose public key `x·base` encodes
/// as `public`.
pub(crate) fn schnorr_sign<R: RngCore + CryptoRng>(
    label: &'static [u8],
    base: &RistrettoPoint,
    secret: &Scalar,
    public: &[u8; 32],
    message: &[u8; 32],
    rng: &mut R,
) -> [u8; 64] {
    let mut t = start(label, public, message);
    let mut nonce_rng = t
        .build_rng()
        .rekey_with_witness_bytes(b"secret", secret.as_bytes())
        .finalize(rng);
    let mut nonce = Scalar::random(&mut nonce_rng);
    let r = (base * nonce).compress();
    t.append_message(b"R", r.as_bytes());
    let c = challenge(&mut t);
    let s = nonce + c * secret;
    nonce.zeroize();
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r.as_bytes());
    out[32..].copy_from_slice(s.as_bytes());
    out
}

/// Verifies a signature made by [`schnorr_sign`].
pub(crate) fn schnorr_verify(
    label: &'static [u8],
    base: &RistrettoPoint,
    public_point: &RistrettoPoint,
    public: &[u8; 32],
    message: &[u8; 32],
    signature: &[u8; 64],
) -> bool {
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let mut t = start(label, public, message);
    t.append_message(b"R", &r);
    let c = challenge(&mut t);
    let check = RistrettoPoint::vartime_multiscalar_mul([s, -c], [*base, *public_point]);
    check.compress().to_bytes() == r
}

/// The spend signature of an input over the payload's body digest.
pub(crate) fn sign_spend<R: RngCore + CryptoRng>(
    key: &OwnerSecretKey,
    digest: &[u8; 32],
    rng: &mut R,
) -> [u8; 64] {
    let public = key.public_key().to_bytes();
    schnorr_sign(
        SPEND_LABEL,
        &pedersen_gens().B,
        key.scalar(),
        &public,
        digest,
        rng,
    )
}

/// The kernel signature: knowledge of `k` with `excess = k·H`.
pub(crate) fn sign_kernel<R: RngCore + CryptoRng>(
    k: &Scalar,
    excess: &[u8; 32],
    digest: &[u8; 32],
    rng: &mut R,
) -> [u8; 64] {
    schnorr_sign(
        KERNEL_LABEL,
        &pedersen_gens().B_blinding,
        k,
        excess,
        digest,
        rng,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn sign_verify_and_separation() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let key = OwnerSecretKey::random(&mut rng);
        let public = key.public_key();
        let msg = [5u8; 32];
        let sig = sign_spend(&key, &msg, &mut rng);
        let b = pedersen_gens().B;
        assert!(schnorr_verify(
            SPEND_LABEL,
            &b,
            public.point(),
            &public.to_bytes(),
            &msg,
            &sig
        ));
        // Another message, label, key or a tampered signature fails.
        assert!(!schnorr_verify(
            SPEND_LABEL,
            &b,
            public.point(),
            &public.to_bytes(),
            &[6u8; 32],
            &sig
        ));
        assert!(!schnorr_verify(
            KERNEL_LABEL,
            &b,
            public.point(),
            &public.to_bytes(),
            &msg,
            &sig
        ));
        let other = OwnerSecretKey::random(&mut rng).public_key();
        assert!(!schnorr_verify(
            SPEND_LABEL,
            &b,
            other.point(),
            &other.to_bytes(),
            &msg,
            &sig
        ));
        let mut bad = sig;
        bad[40] ^= 1;
        assert!(!schnorr_verify(
            SPEND_LABEL,
            &b,
            public.point(),
            &public.to_bytes(),
            &msg,
            &bad
        ));
        // A non-canonical s is refused.
        let mut bad = sig;
        bad[32..].copy_from_slice(&[0xff; 32]);
        assert!(!schnorr_verify(
            SPEND_LABEL,
            &b,
            public.point(),
            &public.to_bytes(),
            &msg,
            &bad
        ));
    }

    #[test]
    fn keys_decode_and_hide() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let key = OwnerSecretKey::random(&mut rng);
        let bytes = key.to_bytes();
        let again = OwnerSecretKey::from_bytes(&bytes).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert!(OwnerSecretKey::from_bytes(&[0u8; 32]).is_none());
        assert!(OwnerSecretKey::from_bytes(&[0xffu8; 32]).is_none());
        let debug = format!("{key:?}");
        assert!(!debug.contains(&hex::encode(*bytes)));
        assert!(debug.contains(&key.public_key().to_string()));
        assert_eq!(
            OwnerPublicKey::from_bytes(&[0u8; 32]),
            Err(EntitlementError::WeakOwnerKey { index: 0 })
        );
        assert!(matches!(
            OwnerPublicKey::from_bytes(&[0xffu8; 32]),
            Err(EntitlementError::MalformedPoint { .. })
        ));
    }
}
