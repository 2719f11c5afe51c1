//! Value notes: the commitment, the encrypted opening, the note id, and the wallet's
//! view of a note it owns.
//!
//! # The note
//!
//! A note of program `p` is the triple (commitment `C`, owner key `P`, encrypted
//! opening) with
//!
//! ```text
//! C = v·B + r·H        v ∈ [0, 2^64) the amount, r a uniformly random blinding
//! P = x·B              the owner's one-time key (x known only to the owner)
//! id = H("weft/note-id/v1" || p || C || P)          (weft_types::notes::note_id)
//! ```
//!
//! `C` hides `v` perfectly (for a uniform `r`, `C` is a uniform point whatever `v` is)
//! and binds it computationally (two openings give `log_B H`). The id is what the
//! ledger stores: in the unspent set when the note is created, in the spent set when an
//! input consumes it. Spends are public (the input names the note), amounts are not.
//!
//! # The encrypted opening
//!
//! The sender picks an ephemeral scalar `e` and publishes `R_e = e·B`. Sender and owner
//! share the point `S = e·P = x·R_e` (Diffie-Hellman on Ristretto), and
//!
//! ```text
//! key        = BLAKE2b-256("weft/note-key/v1" || S || R_e || P || C || p)
//! ciphertext = ChaCha20-Poly1305(key, nonce = 0^12, aad = empty, amount (u64 LE) || r)
//! ```
//!
//! 40 bytes of plaintext give 56 bytes of ciphertext. The key is fresh for every output
//! (it hashes the fresh `R_e` and the output's own `C`), so the fixed nonce is never
//! used twice with one key. Binding `C`, `P` and the program into the key means a
//! ciphertext cannot be moved to another output. After decrypting, the owner checks
//! `v·B + r·H == C`: a sender who encrypts a wrong opening is caught, not believed.
//!
//! # A note minted to a claim's one-time key
//!
//! When a claim is confirmed the ledger itself creates the household's note for the
//! round, so the ledger must be able to compute it from public data alone: the program,
//! the public per-round amount `a` and the one-time key `P` carried in the claim. The
//! note uses the zero blinding, `C = a·B`, and needs no ciphertext (the opening `(a, 0)`
//! is public); see [`claim_note`].
//!
//! Privacy trade-off: the amount of such a note is public, which it already is (the
//! program's entitlement per round), and the key `P` is not linked to the credential
//! (the claim's zero-knowledge proof hides which credential it is). But when the
//! household later spends the note, everyone sees that this input carries `a`; the
//! outputs stay hidden individually, yet their sum is known to be `a` (or the sum of
//! the inputs' known amounts). Spending several claim notes together, or first moving
//! them to a freshly blinded note of one's own, gives back the usual hiding for later
//! payments. A blinding derived from public data would change nothing: anyone could
//! derive it too.

use core::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use rand_core::{CryptoRng, RngCore};
use weft_types::hash::blake2b256;
use weft_types::notes::{note_id, NoteOutput, OPENING_CIPHERTEXT_BYTES};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::EntitlementError;
use crate::gens::commit;
use crate::keys::{decode_point, OwnerPublicKey, OwnerSecretKey};

/// Domain string of the opening encryption key.
pub const NOTE_KEY_DOMAIN: &[u8] = b"weft/note-key/v1";

/// What opens a commitment: the amount and the blinding (zeroized on drop; `Debug`
/// hides both).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Opening {
    /// The amount `v`.
    pub amount: u64,
    /// The blinding `r`.
    pub blinding: Scalar,
}

impl Opening {
    /// The commitment `v·B + r·H`.
    pub fn commitment(&self) -> RistrettoPoint {
        commit(self.amount, &self.blinding)
    }

    /// `amount (u64 LE) || blinding (32 bytes)`: the encrypted plaintext, also a form
    /// for a wallet's own store (a secret: it stays zeroized).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 40]> {
        let mut p = Zeroizing::new([0u8; 40]);
        p[..8].copy_from_slice(&self.amount.to_le_bytes());
        p[8..].copy_from_slice(self.blinding.as_bytes());
        p
    }

    /// Reads [`Opening::to_bytes`]; `None` if the blinding is not a canonical scalar.
    pub fn from_bytes(bytes: &[u8; 40]) -> Option<Opening> {
        let mut amount = [0u8; 8];
        amount.copy_from_slice(&bytes[..8]);
        let mut r = Zeroizing::new([0u8; 32]);
        r.copy_from_slice(&bytes[8..]);
        let blinding: Option<Scalar> = Scalar::from_canonical_bytes(*r).into();
        Some(Opening {
            amount: u64::from_le_bytes(amount),
            blinding: blinding?,
        })
    }
}

impl fmt::Debug for Opening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Opening(hidden)")
    }
}

/// Who gets a new note and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient {
    /// The recipient's one-time key (a fresh one per payment).
    pub owner: OwnerPublicKey,
    /// The amount.
    pub amount: u64,
}

/// A note the wallet can spend: its program, owner secret and opening (secrets
/// zeroized on drop; `Debug` shows only the note id).
#[derive(Clone)]
pub struct OwnedNote {
    program: [u8; 32],
    key: OwnerSecretKey,
    opening: Opening,
    commitment: [u8; 32],
    owner: [u8; 32],
}

impl OwnedNote {
    /// Opens an output addressed to `key`: `None` if the output is not for this key,
    /// does not decrypt, or its opening does not match its commitment.
    pub fn decrypt(program: &[u8; 32], output: &NoteOutput, key: &OwnerSecretKey) -> Option<Self> {
        let public = key.public_key();
        if public.to_bytes() != output.owner {
            return None;
        }
        let ephemeral = decode_point(&output.ephemeral, "ephemeral", 0).ok()?;
        let mut shared = ephemeral * key.scalar();
        let aead_key = opening_key(program, &shared, output);
        shared.zeroize();
        let cipher = ChaCha20Poly1305::new(Key::from_slice(aead_key.as_ref()));
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    Nonce::from_slice(&[0u8; 12]),
                    Payload {
                        msg: &output.ciphertext,
                        aad: &[],
                    },
                )
                .ok()?,
        );
        let plain: &[u8; 40] = plain.as_slice().try_into().ok()?;
        let note = OwnedNote::new(program, key.clone(), Opening::from_bytes(plain)?);
        (note.commitment == output.commitment).then_some(note)
    }

    /// A note from its parts (for a wallet restoring its store): the commitment and
    /// owner key are recomputed from the opening and the key.
    pub fn new(program: &[u8; 32], key: OwnerSecretKey, opening: Opening) -> OwnedNote {
        let commitment = opening.commitment().compress().to_bytes();
        let owner = key.public_key().to_bytes();
        OwnedNote {
            program: *program,
            key,
            opening,
            commitment,
            owner,
        }
    }

    /// The note the ledger mints to `key` when a claim for `amount` is confirmed
    /// ([`claim_note`]).
    pub fn from_claim(program: &[u8; 32], key: OwnerSecretKey, amount: u64) -> OwnedNote {
        let opening = Opening {
            amount,
            blinding: Scalar::ZERO,
        };
        OwnedNote::new(program, key, opening)
    }

    /// The program.
    pub fn program(&self) -> &[u8; 32] {
        &self.program
    }
    /// The amount.
    pub fn amount(&self) -> u64 {
        self.opening.amount
    }
    /// The opening.
    pub fn opening(&self) -> &Opening {
        &self.opening
    }
    /// The owner's secret key.
    pub fn key(&self) -> &OwnerSecretKey {
        &self.key
    }
    /// The commitment bytes.
    pub fn commitment(&self) -> &[u8; 32] {
        &self.commitment
    }
    /// The owner key bytes.
    pub fn owner(&self) -> &[u8; 32] {
        &self.owner
    }
    /// The note id.
    pub fn id(&self) -> [u8; 32] {
        note_id(&self.program, &self.commitment, &self.owner)
    }
}

impl fmt::Debug for OwnedNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnedNote(id: {})", hex::encode(self.id()))
    }
}

/// The sum of the amounts of `notes` (a u128 cannot overflow for any realistic wallet).
pub fn balance(notes: &[OwnedNote]) -> u128 {
    notes.iter().map(|n| n.amount() as u128).sum()
}

/// A note the ledger records: its id and commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LedgerNote {
    /// The note id.
    pub id: [u8; 32],
    /// The commitment (for the audit sum).
    pub commitment: [u8; 32],
}

/// The note minted to a claim's one-time key `owner` for the public `amount`:
/// commitment `amount·B` (zero blinding), no ciphertext. The ledger computes it itself.
pub fn claim_note(
    program: &[u8; 32],
    owner: &[u8; 32],
    amount: u64,
) -> Result<LedgerNote, EntitlementError> {
    OwnerPublicKey::from_bytes(owner)?;
    let commitment = commit(amount, &Scalar::ZERO).compress().to_bytes();
    Ok(LedgerNote {
        id: note_id(program, &commitment, owner),
        commitment,
    })
}

fn opening_key(
    program: &[u8; 32],
    shared: &RistrettoPoint,
    output: &NoteOutput,
) -> Zeroizing<[u8; 32]> {
    let shared = Zeroizing::new(shared.compress().to_bytes());
    Zeroizing::new(blake2b256(&[
        NOTE_KEY_DOMAIN,
        shared.as_ref(),
        &output.ephemeral,
        &output.owner,
        &output.commitment,
        program,
    ]))
}

/// Builds the output for `recipient` with a fresh blinding, returning it with its
/// blinding.
pub(crate) fn make_output<R: RngCore + CryptoRng>(
    program: &[u8; 32],
    recipient: &Recipient,
    rng: &mut R,
) -> Result<(NoteOutput, Opening), EntitlementError> {
    let opening = Opening {
        amount: recipient.amount,
        blinding: Scalar::random(rng),
    };
    let mut e = Scalar::random(rng);
    let ephemeral = RistrettoPoint::mul_base(&e).compress().to_bytes();
    let mut shared = recipient.owner.point() * e;
    e.zeroize();
    let mut output = NoteOutput {
        commitment: opening.commitment().compress().to_bytes(),
        owner: recipient.owner.to_bytes(),
        ephemeral,
        ciphertext: [0u8; OPENING_CIPHERTEXT_BYTES],
    };
    let key = opening_key(program, &shared, &output);
    shared.zeroize();
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let plain = opening.to_bytes();
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: plain.as_ref(),
                aad: &[],
            },
        )
        .map_err(|_| EntitlementError::Proving("opening encryption failed".into()))?;
    if sealed.len() != OPENING_CIPHERTEXT_BYTES {
        return Err(EntitlementError::Proving("opening ciphertext size".into()));
    }
    output.ciphertext.copy_from_slice(&sealed);
    Ok((output, opening))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::mint;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn only_the_owner_decrypts() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let program = [3u8; 32];
        let owner = OwnerSecretKey::random(&mut rng);
        let other = OwnerSecretKey::random(&mut rng);
        let m = mint(
            program,
            &[Recipient {
                owner: owner.public_key(),
                amount: 1234,
            }],
            &mut rng,
        )
        .unwrap();
        let out = &m.outputs[0];
        let note = OwnedNote::decrypt(&program, out, &owner).unwrap();
        assert_eq!(note.amount(), 1234);
        assert_eq!(note.id(), out.id(&program));
        assert_eq!(balance(&[note.clone(), note.clone()]), 2468);
        // The wallet's store form restores the same note.
        let restored = OwnedNote::new(
            &program,
            OwnerSecretKey::from_bytes(&note.key().to_bytes()).unwrap(),
            Opening::from_bytes(&note.opening().to_bytes()).unwrap(),
        );
        assert_eq!(restored.id(), note.id());
        assert!(Opening::from_bytes(&[0xff; 40]).is_none());
        assert!(OwnedNote::decrypt(&program, out, &other).is_none());
        // Even with the owner field rewritten to the other key, the ciphertext stays shut.
        let mut stolen = out.clone();
        stolen.owner = other.public_key().to_bytes();
        assert!(OwnedNote::decrypt(&program, &stolen, &other).is_none());
        // Another program, a damaged ciphertext or ephemeral key: nothing.
        assert!(OwnedNote::decrypt(&[4u8; 32], out, &owner).is_none());
        let mut bad = out.clone();
        bad.ciphertext[0] ^= 1;
        assert!(OwnedNote::decrypt(&program, &bad, &owner).is_none());
        let mut bad = out.clone();
        bad.ephemeral = RistrettoPoint::mul_base(&Scalar::from(5u64))
            .compress()
            .to_bytes();
        assert!(OwnedNote::decrypt(&program, &bad, &owner).is_none());
        // Secrets stay out of Debug.
        let debug = format!("{note:?} {:?}", note.opening());
        assert!(!debug.contains("1234"));
        assert!(!debug.contains(&hex::encode(note.opening().blinding.as_bytes())));
    }

    #[test]
    fn claim_notes_are_public_and_spendable() {
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        let program = [5u8; 32];
        let key = OwnerSecretKey::random(&mut rng);
        let ledger = claim_note(&program, &key.public_key().to_bytes(), 50).unwrap();
        let note = OwnedNote::from_claim(&program, key, 50);
        assert_eq!(ledger.id, note.id());
        assert_eq!(&ledger.commitment, note.commitment());
        assert_eq!(
            claim_note(&program, &[0u8; 32], 50),
            Err(EntitlementError::WeakOwnerKey { index: 0 })
        );
        let shop = OwnerSecretKey::random(&mut rng);
        let t = crate::tx::transfer(
            program,
            &[note],
            &[Recipient {
                owner: shop.public_key(),
                amount: 50,
            }],
            &mut rng,
        )
        .unwrap();
        let v = crate::tx::verify_transfer(&t).unwrap();
        assert_eq!(v.spent, vec![ledger.id]);
    }
}
