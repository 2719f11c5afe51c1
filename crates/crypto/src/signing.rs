//! Organisation keys and Ed25519 signatures under ZIP-215 rules.
//!
//! Ed25519 has two verification equations in the wild: cofactorless
//! (`[s]B = R + [k]A`, what most single verifiers check) and cofactored
//! (`[8][s]B = [8]R + [8][k]A`, what batch verification needs). They disagree on
//! signatures involving small-order components, and in a ledger that disagreement is a
//! consensus split: one node accepts a block another rejects. ZIP-215 fixes one rule set
//! (cofactored equation, non-canonical point encodings of A and R allowed, `s < ℓ`
//! required) under which batched and single verification always agree.
//! `ed25519-consensus` implements exactly that, so every check here goes through it;
//! keys are generated and signatures made with `ed25519-dalek`, whose `SigningKey`
//! zeroizes itself on drop. Both produce and read standard RFC 8032 signatures.

use std::fmt;

use ed25519_consensus::{batch, Signature, VerificationKeyBytes};
use rand_core::{CryptoRng, RngCore};
use weft_types::{Block, PublicKeyBytes, SignatureBytes, UnsignedBlock};
use zeroize::Zeroizing;

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The 32 bytes are not an Ed25519 point encoding.
    #[error("public key {0} is not a valid Ed25519 point")]
    MalformedKey(PublicKeyBytes),
    /// The signature does not verify under the key and message (or `s` is not reduced).
    #[error("signature does not verify")]
    Invalid,
    /// At least one signature in a batch failed; the indices say which.
    #[error("{} of the batch's signatures do not verify (first at position {})", .0.len(), .0.first().copied().unwrap_or(0))]
    BatchFailed(Vec<usize>),
}

/// An organisation's (or committee member's) Ed25519 signing key. Its secret half is
/// zeroized on drop and never shown by `Debug`.
pub struct OrganisationKey {
    inner: ed25519_dalek::SigningKey,
}

impl OrganisationKey {
    /// A fresh key from a cryptographically secure generator.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> OrganisationKey {
        OrganisationKey {
            inner: ed25519_dalek::SigningKey::generate(rng),
        }
    }

    /// The key whose RFC 8032 secret seed is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> OrganisationKey {
        OrganisationKey {
            inner: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// The secret seed, for writing a key file (zeroized when dropped).
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.inner.to_bytes())
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKeyBytes {
        PublicKeyBytes(self.inner.verifying_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> SignatureBytes {
        use ed25519_dalek::Signer;
        SignatureBytes(self.inner.sign(message).to_bytes())
    }

    /// Signs a block assembled for this key.
    pub fn sign_block(&self, block: UnsignedBlock) -> Block {
        let sig = self.sign(&block.signing_message());
        block.sign(sig)
    }
}

impl fmt::Debug for OrganisationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OrganisationKey {{ public: {}, secret: <redacted> }}",
            self.public_key()
        )
    }
}

/// Verifies one signature under ZIP-215 rules.
pub fn verify(
    key: &PublicKeyBytes,
    message: &[u8],
    signature: &SignatureBytes,
) -> Result<(), SignatureError> {
    let vk = ed25519_consensus::VerificationKey::try_from(key.0)
        .map_err(|_| SignatureError::MalformedKey(*key))?;
    vk.verify(&Signature::from(signature.0), message)
        .map_err(|_| SignatureError::Invalid)
}

/// One entry of a batch: key, message, signature.
pub type BatchEntry<'a> = (PublicKeyBytes, &'a [u8], SignatureBytes);

/// Verifies many signatures at once (one multi-scalar multiplication with random
/// coefficients). ZIP-215 makes the result equal to verifying each one alone. On
/// failure every entry is checked alone to report which ones failed.
pub fn verify_batch<R: RngCore + CryptoRng>(
    entries: &[BatchEntry<'_>],
    rng: &mut R,
) -> Result<(), SignatureError> {
    match entries.len() {
        0 => return Ok(()),
        1 => {
            let (k, m, s) = &entries[0];
            return verify(k, m, s).map_err(|_| SignatureError::BatchFailed(vec![0]));
        }
        _ => {}
    }
    let mut verifier = batch::Verifier::new();
    for (key, message, signature) in entries {
        verifier.queue((
            VerificationKeyBytes::from(key.0),
            Signature::from(signature.0),
            message,
        ));
    }
    if verifier.verify(&mut *rng).is_ok() {
        return Ok(());
    }
    let failed: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, (k, m, s))| verify(k, m, s).is_err())
        .map(|(i, _)| i)
        .collect();
    Err(SignatureError::BatchFailed(failed))
}

/// [`verify_batch`] split across rayon's threads (one batch per thread, each with its own
/// randomness from the operating system). The result, and the failed indices, are the
/// same as for one batch.
pub fn verify_batch_parallel(entries: &[BatchEntry<'_>]) -> Result<(), SignatureError> {
    use rayon::prelude::*;
    let chunk = entries
        .len()
        .div_ceil(rayon::current_num_threads().max(1))
        .max(32);
    let failed: Vec<usize> = entries
        .par_chunks(chunk)
        .enumerate()
        .flat_map_iter(|(c, part)| {
            let failed = match verify_batch(part, &mut rand::rngs::OsRng) {
                Ok(()) => Vec::new(),
                Err(SignatureError::BatchFailed(f)) => f,
                Err(_) => (0..part.len()).collect(),
            };
            failed.into_iter().map(move |i| c * chunk + i)
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(SignatureError::BatchFailed(failed))
    }
}

/// Checks the signature of an organisation block (ZIP-215).
pub fn verify_block(block: &Block) -> Result<(), SignatureError> {
    match (&block.issuer, &block.signature) {
        (weft_types::Issuer::Organisation { public_key }, Some(sig)) => {
            verify(public_key, &block.signing_message(), sig)
        }
        _ => Err(SignatureError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn sign_and_verify() {
        let key = OrganisationKey::from_seed(&[1; 32]);
        let sig = key.sign(b"hello");
        assert_eq!(verify(&key.public_key(), b"hello", &sig), Ok(()));
        assert_eq!(
            verify(&key.public_key(), b"hellO", &sig),
            Err(SignatureError::Invalid)
        );
        let other = OrganisationKey::from_seed(&[2; 32]);
        assert_eq!(
            verify(&other.public_key(), b"hello", &sig),
            Err(SignatureError::Invalid)
        );
        let mut tampered = sig;
        tampered.0[3] ^= 1;
        assert_eq!(
            verify(&key.public_key(), b"hello", &tampered),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = OrganisationKey::from_seed(&[9; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&hex::encode(*key.seed())));
    }

    #[test]
    fn batch_agrees_and_names_the_bad_entries() {
        let keys: Vec<_> = (0..10u8)
            .map(|i| OrganisationKey::from_seed(&[i; 32]))
            .collect();
        let msgs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 40]).collect();
        let mut entries: Vec<BatchEntry<'_>> = keys
            .iter()
            .zip(&msgs)
            .map(|(k, m)| (k.public_key(), m.as_slice(), k.sign(m)))
            .collect();
        assert_eq!(verify_batch(&entries, &mut OsRng), Ok(()));
        entries[3].2 .0[0] ^= 1;
        entries[7].1 = b"other";
        assert_eq!(
            verify_batch(&entries, &mut OsRng),
            Err(SignatureError::BatchFailed(vec![3, 7]))
        );
    }

    #[test]
    fn parallel_batches_agree_with_one_batch() {
        let keys: Vec<_> = (0..100u8)
            .map(|i| OrganisationKey::from_seed(&[i; 32]))
            .collect();
        let msgs: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 20]).collect();
        let mut entries: Vec<BatchEntry<'_>> = keys
            .iter()
            .zip(&msgs)
            .map(|(k, m)| (k.public_key(), m.as_slice(), k.sign(m)))
            .collect();
        assert_eq!(verify_batch_parallel(&entries), Ok(()));
        entries[5].2 .0[1] ^= 1;
        entries[77].2 .0[1] ^= 1;
        assert_eq!(
            verify_batch_parallel(&entries),
            Err(SignatureError::BatchFailed(vec![5, 77]))
        );
        assert_eq!(verify_batch_parallel(&[]), Ok(()));
    }

    #[test]
    fn malformed_key_is_named() {
        // y = 2^255 - 1 reduces to a value with no square root for x: not a point.
        let mut bad = [0xff; 32];
        bad[31] = 0x7f;
        let bad = PublicKeyBytes(bad);
        let r = verify(&bad, b"m", &SignatureBytes([0; 64]));
        assert!(matches!(
            r,
            Err(SignatureError::MalformedKey(_)) | Err(SignatureError::Invalid)
        ));
    }
}
