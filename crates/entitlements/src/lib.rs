//! Confidential entitlements: value notes whose amounts are hidden in Pedersen
//! commitments while the totals of every program stay publicly auditable.
//!
//! This crate is the pure cryptographic core of Weft's aid entitlements: it builds and
//! verifies the payloads whose wire forms live in [`weft_types::notes`]. It does no
//! I/O, reads no clock and draws randomness only from the RNG its caller passes; the
//! verifiers need no secret and no randomness, so every node decides alike.
//!
//! # Overview
//!
//! | what | how | where |
//! |---|---|---|
//! | a note | `C = v·B + r·H` on Ristretto, owned by a one-time key `P = x·B`, its opening encrypted to `P` (Ristretto DH, BLAKE2b, ChaCha20-Poly1305) | [`note`](crate::note) |
//! | note id, spent marker | `H("weft/note-id/v1" ‖ program ‖ C ‖ P)` | [`weft_types::notes::note_id`] |
//! | ownership | a Schnorr signature by `P` on the payload's body digest, per input | [`keys`](crate::keys) |
//! | balance | a public kernel excess `E = Σ C_o − Σ C_i − δ·B` and a Schnorr signature with base `H` under `E` | [`tx`](crate::tx) |
//! | amounts in `[0, 2^64)` | one aggregated 64-bit Bulletproof over the outputs, on a merlin transcript binding the whole payload | [`tx`](crate::tx) |
//! | a claim's entitlement | the note `a·B` (zero blinding) to the claim's one-time key, computable by the ledger | [`claim_note`] |
//! | audit | `Σ unspent C = (minted − redeemed)·B + Σ E` | [`audit`](crate::audit) |
//!
//! `specs/entitlements.md` gives the byte layouts, transcripts and a test vector.
//!
//! # Example
//!
//! ```
//! use rand::SeedableRng;
//! use weft_entitlements::*;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! let program = [1u8; 32];
//! let household = OwnerSecretKey::random(&mut rng);
//! let mint = mint(program, &[Recipient { owner: household.public_key(), amount: 100 }], &mut rng)?;
//! let minted = verify_mint(&mint)?;
//! let note = OwnedNote::decrypt(&program, &mint.outputs[0], &household).unwrap();
//! assert_eq!(note.amount(), 100);
//!
//! let shop = OwnerSecretKey::random(&mut rng);
//! let change = OwnerSecretKey::random(&mut rng);
//! let pay = transfer(program, &[note], &[
//!     Recipient { owner: shop.public_key(), amount: 30 },
//!     Recipient { owner: change.public_key(), amount: 70 },
//! ], &mut rng)?;
//! let moved = verify_transfer(&pay)?;
//! assert_eq!(moved.spent, vec![minted.created[0].id]);
//! # Ok::<(), EntitlementError>(())
//! ```

pub mod audit;
pub mod error;
pub mod gens;
pub mod keys;
pub mod note;
pub mod tx;

pub use audit::{audit, fold_points};
pub use error::{AuditError, EntitlementError};
pub use gens::{bulletproof_gens, commit, pedersen_gens, RANGE_BITS};
pub use keys::{OwnerPublicKey, OwnerSecretKey, KERNEL_LABEL, SPEND_LABEL};
pub use note::{balance, claim_note, LedgerNote, Opening, OwnedNote, Recipient, NOTE_KEY_DOMAIN};
pub use tx::{
    mint, redeem, transfer, verify_mint, verify_redeem, verify_transfer, VerifiedMint,
    VerifiedRedeem, VerifiedTransfer, MINT_LABEL, REDEEM_LABEL, TRANSFER_LABEL, VERIFY_RNG_DOMAIN,
};
