//! Value notes in the wallet: the one-time keys it holds, the notes it found on the
//! ledger, its balance, and the payments it makes to shops.
//!
//! Why a module: a value program (`specs/entitlements.md`) pays a household's
//! entitlement as a confidential note to a one-time key the wallet made when it
//! answered the point's request; the household then spends it at shops. Everything
//! that needs secrets for that lives here, inside the encrypted wallet data
//! ([`crate::model::WalletData::value`]), so that the app or CLI around it only moves
//! public bytes:
//!
//! - [`NoteKey`]: a one-time owner key (secret zeroized, never in `Debug`), made for a
//!   claim's entitlement or a payment's change.
//! - [`ValueNotes::scan`]: one milestone's created and spent notes (the node's
//!   `GET /api/v1/milestones/{i}/notes`, every note of the milestone, so the node never
//!   learns which notes the wallet looks for): outputs addressed to a held key are
//!   opened by trial decryption, claim notes matched by their owner key and public
//!   amount, spent notes marked.
//! - [`ValueNotes::prepare_payment`]: the transfer that pays a shop's
//!   [`PaymentRequest`], with the change to a new key of the wallet's own; the notes it
//!   spends are held back as pending until the ledger shows them spent (or the request
//!   has long expired).
//!
//! The module draws randomness and time only from its callers, like the rest of the
//! wallet's core.

use std::collections::BTreeMap;
use std::fmt;

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use weft_entitlements::{Opening, OwnedNote, OwnerPublicKey, OwnerSecretKey, Recipient};
use weft_types::notes::{NoteOutput, MAX_NOTE_INPUTS};
use weft_types::ProgramId;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::payment::{Payment, PaymentRequest};
use crate::{Result, WalletError};

/// How long after its request expired a payment that the ledger never showed is
/// presumed abandoned, and its notes offered again (ms). A shop refuses payments for
/// expired requests, so a note released after this is spent only if the payment was
/// confirmed after all, and then the ledger refuses the new one (`noteSpent`).
pub const PENDING_GRACE_MS: u64 = 10 * 60 * 1000;

/// A 32-byte secret (an owner key, a blinding) in the wallet's JSON: hex, zeroized on
/// drop, hidden from `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Secret32(pub [u8; 32]);

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret32(hidden)")
    }
}

impl Serialize for Secret32 {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let text = Zeroizing::new(hex::encode(self.0));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Secret32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let mut out = Secret32([0; 32]);
        hex::decode_to_slice(text.as_str(), &mut out.0).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

/// Serde for public byte arrays as plain lowercase hex.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// As hex.
    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    /// From hex (exactly `2N` digits).
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

/// Why the wallet holds a one-time key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum KeyPurpose {
    /// A claim's entitlement key: the ledger mints the round's entitlement to it when
    /// the point's claim is confirmed.
    Entitlement {
        /// The round claimed.
        round: u32,
    },
    /// A payment's change.
    Change,
}

/// A one-time owner key the wallet holds (`Debug` shows only the public key).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteKey {
    /// The program whose notes it receives.
    pub program: ProgramId,
    /// The public key (compressed Ristretto).
    #[serde(with = "hex_bytes")]
    pub public: [u8; 32],
    /// The secret scalar.
    pub secret: Secret32,
    /// Why it was made.
    pub purpose: KeyPurpose,
    /// When (Unix ms).
    pub created_ms: u64,
}

impl fmt::Debug for NoteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteKey")
            .field("program", &self.program)
            .field("public", &hex::encode(self.public))
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

impl NoteKey {
    /// A fresh key for `program`.
    pub fn generate<R: RngCore + CryptoRng>(
        program: ProgramId,
        purpose: KeyPurpose,
        now_ms: u64,
        rng: &mut R,
    ) -> NoteKey {
        let key = OwnerSecretKey::random(rng);
        NoteKey {
            program,
            public: key.public_key().to_bytes(),
            secret: Secret32(*key.to_bytes()),
            purpose,
            created_ms: now_ms,
        }
    }

    /// The secret key (`None` if the stored bytes are not a valid key).
    pub fn secret_key(&self) -> Option<OwnerSecretKey> {
        OwnerSecretKey::from_bytes(&self.secret.0)
    }
}

/// A payment the wallet made whose spend the ledger has not shown yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingSpend {
    /// The request's nonce.
    #[serde(with = "hex_bytes")]
    pub nonce: [u8; 16],
    /// The shop (its DID).
    pub shop: String,
    /// The amount paid.
    pub amount: u64,
    /// Until when the note is held back (Unix ms): the request's expiry plus
    /// [`PENDING_GRACE_MS`].
    pub until_ms: u64,
}

/// A note the wallet owns (`Debug` hides the blinding).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredNote {
    /// Its program.
    pub program: ProgramId,
    /// Its note id.
    #[serde(with = "hex_bytes")]
    pub id: [u8; 32],
    /// Its owner key (one of [`ValueNotes::keys`]).
    #[serde(with = "hex_bytes")]
    pub owner: [u8; 32],
    /// The amount.
    pub amount: u64,
    /// The commitment's blinding (zero for a claim note).
    pub blinding: Secret32,
    /// The milestone that created it.
    pub created_at: u32,
    /// The milestone that spent it.
    #[serde(default)]
    pub spent_at: Option<u32>,
    /// A payment made with it, not yet seen on the ledger.
    #[serde(default)]
    pub pending: Option<PendingSpend>,
}

/// What the wallet knows to call a program's value by.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramLabel {
    /// The program's name.
    pub name: String,
    /// The unit of its entitlement (`USD`, `kg rice`), from the point's summary.
    pub unit: String,
}

/// The wallet's value notes (part of [`crate::model::WalletData`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueNotes {
    /// The one-time keys held.
    #[serde(default)]
    pub keys: Vec<NoteKey>,
    /// The notes found.
    #[serde(default)]
    pub notes: Vec<StoredNote>,
    /// The last milestone scanned.
    #[serde(default)]
    pub scanned: u32,
    /// Names and units of the programs.
    #[serde(default)]
    pub labels: BTreeMap<ProgramId, ProgramLabel>,
}

/// What one milestone created, as the wallet scans it.
#[derive(Clone, Debug)]
pub struct ScannedNote {
    /// Its program.
    pub program: [u8; 32],
    /// Its id (as the node says; recomputed before it is trusted).
    pub id: [u8; 32],
    /// Its owner key.
    pub owner: [u8; 32],
    /// An output with its encrypted opening, or a claim note with its public amount.
    pub content: ScannedContent,
}

/// The part of a created note the wallet opens.
#[derive(Clone, Debug)]
pub enum ScannedContent {
    /// An output of a mint, transfer or redeem.
    Output(NoteOutput),
    /// A claim note: `amount·B` with zero blinding.
    Claim {
        /// The entitlement.
        amount: u64,
    },
    /// A kind this wallet does not know (skipped).
    Other,
}

/// One milestone's notes (`GET /api/v1/milestones/{index}/notes`).
#[derive(Clone, Debug, Default)]
pub struct ScannedMilestone {
    /// The milestone.
    pub index: u32,
    /// Notes created.
    pub created: Vec<ScannedNote>,
    /// Notes spent: `(program, note id)`.
    pub spent: Vec<([u8; 32], [u8; 32])>,
}

/// What a scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Milestones scanned.
    pub milestones: u32,
    /// Notes received: `(program, amount)`.
    pub received: Vec<(ProgramId, u64)>,
    /// Own notes seen spent.
    pub spent: usize,
}

/// One program's value in the wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramBalance {
    /// The program.
    pub program: ProgramId,
    /// Its name and unit, if known.
    pub label: Option<ProgramLabel>,
    /// The value of the unspent notes that are not held back by a pending payment.
    pub available: u128,
    /// How many notes that is.
    pub notes: usize,
    /// Value in payments made but not yet seen on the ledger.
    pub pending_out: u128,
    /// How many notes are held back by them.
    pub pending_notes: usize,
    /// Claims whose entitlement has not arrived yet (keys without a note).
    pub awaiting_claims: usize,
    /// Notes spent.
    pub spent: usize,
}

/// The unit in a point's summary (`"50 kg rice (or more by tier)"` → `kg rice`).
pub fn unit_of_summary(summary: &str) -> String {
    let s = summary.trim();
    let s = s.strip_suffix("(or more by tier)").unwrap_or(s).trim();
    match s.split_once(char::is_whitespace) {
        Some((n, unit)) if n.bytes().all(|b| b.is_ascii_digit()) => unit.trim().to_string(),
        _ => String::new(),
    }
}

impl StoredNote {
    fn unspent(&self) -> bool {
        self.spent_at.is_none()
    }

    fn held_back(&self, now_ms: u64) -> bool {
        self.pending.as_ref().is_some_and(|p| now_ms <= p.until_ms)
    }
}

impl ValueNotes {
    fn key(&self, program: &[u8; 32], public: &[u8; 32]) -> Option<&NoteKey> {
        self.keys
            .iter()
            .find(|k| k.program.bytes() == program && &k.public == public)
    }

    /// Applies one scanned milestone: opens the created notes addressed to a held key,
    /// marks own notes spent, and advances [`ValueNotes::scanned`]. A milestone at or
    /// below the last one scanned is ignored.
    pub fn scan(&mut self, m: &ScannedMilestone, report: &mut ScanReport) {
        if m.index <= self.scanned {
            return;
        }
        for c in &m.created {
            if self
                .notes
                .iter()
                .any(|n| n.program.bytes() == &c.program && n.id == c.id)
            {
                continue;
            }
            let Some(key) = self.key(&c.program, &c.owner) else {
                continue;
            };
            let (Some(secret), program) = (key.secret_key(), key.program) else {
                continue;
            };
            let note = match &c.content {
                ScannedContent::Output(o) => OwnedNote::decrypt(&c.program, o, &secret),
                ScannedContent::Claim { amount } => {
                    Some(OwnedNote::from_claim(&c.program, secret, *amount))
                }
                ScannedContent::Other => None,
            };
            // The id is recomputed from the opening: a node cannot make the wallet
            // believe in a note that is not the one on the ledger.
            let Some(note) = note.filter(|n| n.id() == c.id) else {
                continue;
            };
            let opening = note.opening().to_bytes();
            let mut blinding = Secret32([0; 32]);
            blinding.0.copy_from_slice(&opening[8..]);
            report.received.push((program, note.amount()));
            self.notes.push(StoredNote {
                program,
                id: note.id(),
                owner: c.owner,
                amount: note.amount(),
                blinding,
                created_at: m.index,
                spent_at: None,
                pending: None,
            });
        }
        for (program, id) in &m.spent {
            if let Some(n) = self
                .notes
                .iter_mut()
                .find(|n| n.program.bytes() == program && &n.id == id && n.unspent())
            {
                n.spent_at = Some(m.index);
                n.pending = None;
                report.spent += 1;
            }
        }
        self.scanned = m.index;
        report.milestones += 1;
    }

    /// The spendable form of a stored note (`None` if its key or opening is damaged).
    pub fn owned(&self, note: &StoredNote) -> Option<OwnedNote> {
        let key = self.key(note.program.bytes(), &note.owner)?.secret_key()?;
        let mut plain = Zeroizing::new([0u8; 40]);
        plain[..8].copy_from_slice(&note.amount.to_le_bytes());
        plain[8..].copy_from_slice(&note.blinding.0);
        let opening = Opening::from_bytes(&plain)?;
        let owned = OwnedNote::new(note.program.bytes(), key, opening);
        (owned.id() == note.id).then_some(owned)
    }

    /// The balance of every program the wallet has keys or notes for, at `now_ms`.
    pub fn balances(&self, now_ms: u64) -> Vec<ProgramBalance> {
        let mut programs: Vec<ProgramId> = self
            .keys
            .iter()
            .map(|k| k.program)
            .chain(self.notes.iter().map(|n| n.program))
            .collect();
        programs.sort();
        programs.dedup();
        programs
            .into_iter()
            .map(|program| {
                let mut b = ProgramBalance {
                    program,
                    label: self.labels.get(&program).cloned(),
                    available: 0,
                    notes: 0,
                    pending_out: 0,
                    pending_notes: 0,
                    awaiting_claims: 0,
                    spent: 0,
                };
                for n in self.notes.iter().filter(|n| n.program == program) {
                    if !n.unspent() {
                        b.spent += 1;
                    } else if n.held_back(now_ms) {
                        b.pending_notes += 1;
                        b.pending_out += n.amount as u128;
                    } else {
                        b.notes += 1;
                        b.available += n.amount as u128;
                    }
                }
                b.awaiting_claims = self
                    .keys
                    .iter()
                    .filter(|k| {
                        k.program == program
                            && matches!(k.purpose, KeyPurpose::Entitlement { .. })
                            && !self.notes.iter().any(|n| n.owner == k.public)
                    })
                    .count();
                b
            })
            .collect()
    }

    /// Builds the transfer paying `request` at `now_ms` and records it: a new change
    /// key (kept), the spent notes held back as pending. Refuses an expired request
    /// ([`WalletError::PaymentExpired`]), a program the wallet holds no value of
    /// ([`WalletError::WrongProgram`]) and a balance that does not cover the amount
    /// ([`WalletError::InsufficientBalance`]). Picks the largest notes first (at most
    /// 16 inputs).
    pub fn prepare_payment<R: RngCore + CryptoRng>(
        &mut self,
        request: &PaymentRequest,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Payment> {
        if request.expired(now_ms) {
            return Err(WalletError::PaymentExpired {
                seconds_ago: (now_ms - request.expires) / 1000,
            });
        }
        if request.amount == 0 {
            return Err(WalletError::Payment(
                "amount 0: a payment must be for more than nothing".into(),
            ));
        }
        let shop = OwnerPublicKey::from_bytes(&request.pay_to)
            .map_err(|e| WalletError::Payment(format!("payTo: {e}")))?;
        let program = request.program;
        if !self.notes.iter().any(|n| n.program == program) {
            return Err(WalletError::WrongProgram(program.to_string()));
        }
        let mut spendable: Vec<&StoredNote> = self
            .notes
            .iter()
            .filter(|n| n.program == program && n.unspent() && !n.held_back(now_ms))
            .collect();
        let available: u128 = spendable.iter().map(|n| n.amount as u128).sum();
        let unit = self
            .labels
            .get(&program)
            .map(|l| l.unit.clone())
            .unwrap_or_default();
        if available < request.amount as u128 {
            return Err(WalletError::InsufficientBalance {
                available,
                asked: request.amount,
                unit,
            });
        }
        spendable.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.id.cmp(&b.id)));
        let mut picked = Vec::new();
        let mut sum: u128 = 0;
        for n in spendable {
            if sum >= request.amount as u128 {
                break;
            }
            sum += n.amount as u128;
            picked.push(n);
        }
        if picked.len() > MAX_NOTE_INPUTS {
            return Err(WalletError::Payment(format!(
                "this payment needs more than {MAX_NOTE_INPUTS} notes: pay a smaller amount first"
            )));
        }
        let inputs = picked
            .iter()
            .map(|n| self.owned(n))
            .collect::<Option<Vec<_>>>()
            .ok_or(WalletError::Corrupt("a stored note does not open"))?;
        let ids: Vec<[u8; 32]> = picked.iter().map(|n| n.id).collect();
        let change = sum - request.amount as u128;
        let mut recipients = vec![Recipient {
            owner: shop,
            amount: request.amount,
        }];
        let change_key = NoteKey::generate(program, KeyPurpose::Change, now_ms, rng);
        if change > 0 {
            let owner = OwnerPublicKey::from_bytes(&change_key.public)
                .map_err(|e| WalletError::Payment(e.to_string()))?;
            recipients.push(Recipient {
                owner,
                amount: u64::try_from(change)
                    .map_err(|_| WalletError::Payment("change of 2^64 or more".into()))?,
            });
        }
        let transfer = weft_entitlements::transfer(*program.bytes(), &inputs, &recipients, rng)
            .map_err(|e| WalletError::Payment(e.to_string()))?;
        if change > 0 {
            self.keys.push(change_key);
        }
        let pending = PendingSpend {
            nonce: request.nonce,
            shop: request.shop.to_string(),
            amount: request.amount,
            until_ms: request.expires.saturating_add(PENDING_GRACE_MS),
        };
        for n in self.notes.iter_mut().filter(|n| ids.contains(&n.id)) {
            n.pending = Some(pending.clone());
        }
        Ok(Payment {
            nonce: request.nonce,
            transfer,
        })
    }

    /// Releases the notes held back by the payment with `nonce` (the ledger refused
    /// it); returns how many.
    pub fn release(&mut self, nonce: &[u8; 16]) -> usize {
        let mut n = 0;
        for note in &mut self.notes {
            if note.pending.as_ref().is_some_and(|p| &p.nonce == nonce) {
                note.pending = None;
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use weft_types::{Did, RegistryId};

    const PROGRAM: ProgramId = ProgramId(RegistryId([5; 32]));

    /// A wallet with claim notes of `amounts`, found by scanning milestone 1.
    fn wallet(amounts: &[u64], rng: &mut rand::rngs::StdRng) -> ValueNotes {
        let mut v = ValueNotes::default();
        let mut m = ScannedMilestone {
            index: 1,
            ..Default::default()
        };
        for (round, a) in amounts.iter().enumerate() {
            let k = NoteKey::generate(
                PROGRAM,
                KeyPurpose::Entitlement {
                    round: round as u32,
                },
                0,
                rng,
            );
            let note = weft_entitlements::claim_note(PROGRAM.bytes(), &k.public, *a).unwrap();
            m.created.push(ScannedNote {
                program: *PROGRAM.bytes(),
                id: note.id,
                owner: k.public,
                content: ScannedContent::Claim { amount: *a },
            });
            v.keys.push(k);
        }
        let mut r = ScanReport::default();
        v.scan(&m, &mut r);
        assert_eq!(r.received.len(), amounts.len());
        v
    }

    fn request(amount: u64, rng: &mut rand::rngs::StdRng) -> (PaymentRequest, OwnerSecretKey) {
        let shop = OwnerSecretKey::random(rng);
        (
            PaymentRequest {
                program: PROGRAM,
                amount,
                pay_to: shop.public_key().to_bytes(),
                shop: Did([1; 32]),
                nonce: [2; 16],
                expires: 10_000,
            },
            shop,
        )
    }

    #[test]
    fn pays_with_change_and_finds_the_change_and_the_spends() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut v = wallet(&[50, 20], &mut rng);
        let (req, shop) = request(60, &mut rng);
        let p = v.prepare_payment(&req, 5_000, &mut rng).unwrap();
        let verified = weft_entitlements::verify_transfer(&p.transfer).unwrap();
        assert_eq!(verified.spent.len(), 2);
        let to_shop = p
            .transfer
            .outputs
            .iter()
            .find_map(|o| OwnedNote::decrypt(PROGRAM.bytes(), o, &shop))
            .unwrap();
        assert_eq!(to_shop.amount(), 60);
        let b = &v.balances(5_000)[0];
        assert_eq!((b.available, b.pending_out, b.pending_notes), (0, 70, 2));
        // A second payment cannot reuse the held-back notes.
        let (req2, _) = request(5, &mut rng);
        assert!(matches!(
            v.prepare_payment(&req2, 5_000, &mut rng),
            Err(WalletError::InsufficientBalance { available: 0, .. })
        ));
        // The milestone that confirms it: inputs spent, the change (10) found.
        let mut m = ScannedMilestone {
            index: 2,
            ..Default::default()
        };
        for o in &p.transfer.outputs {
            m.created.push(ScannedNote {
                program: *PROGRAM.bytes(),
                id: o.id(PROGRAM.bytes()),
                owner: o.owner,
                content: ScannedContent::Output(o.clone()),
            });
        }
        m.spent = verified
            .spent
            .iter()
            .map(|id| (*PROGRAM.bytes(), *id))
            .collect();
        let mut r = ScanReport::default();
        v.scan(&m, &mut r);
        assert_eq!(r.received, vec![(PROGRAM, 10)]);
        assert_eq!(r.spent, 2);
        let b = &v.balances(5_000)[0];
        assert_eq!(
            (b.available, b.notes, b.spent, b.pending_notes),
            (10, 1, 2, 0)
        );
        // Scanning the same milestone again changes nothing.
        v.scan(&m, &mut r);
        assert_eq!(v.notes.len(), 3);
    }

    #[test]
    fn refuses_insufficient_balance_expiry_and_wrong_program() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut v = wallet(&[50], &mut rng);
        let (req, _) = request(51, &mut rng);
        let e = v.prepare_payment(&req, 5_000, &mut rng).unwrap_err();
        assert!(
            matches!(
                e,
                WalletError::InsufficientBalance {
                    available: 50,
                    asked: 51,
                    ..
                }
            ),
            "{e}"
        );
        let (req, _) = request(10, &mut rng);
        assert!(matches!(
            v.prepare_payment(&req, 10_001, &mut rng),
            Err(WalletError::PaymentExpired { .. })
        ));
        let other = PaymentRequest {
            program: ProgramId(RegistryId([6; 32])),
            ..req.clone()
        };
        assert!(matches!(
            v.prepare_payment(&other, 5_000, &mut rng),
            Err(WalletError::WrongProgram(_))
        ));
        let zero = PaymentRequest { amount: 0, ..req };
        assert!(v.prepare_payment(&zero, 5_000, &mut rng).is_err());
        // Nothing was held back by the refusals.
        assert_eq!(v.balances(5_000)[0].available, 50);
    }

    #[test]
    fn an_exact_payment_has_no_change_and_release_gives_notes_back() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut v = wallet(&[30], &mut rng);
        let keys = v.keys.len();
        let (req, _) = request(30, &mut rng);
        let p = v.prepare_payment(&req, 0, &mut rng).unwrap();
        assert_eq!(p.transfer.outputs.len(), 1);
        assert_eq!(v.keys.len(), keys, "no change key kept");
        assert_eq!(v.balances(0)[0].available, 0);
        // After the request's expiry and the grace, the note is offered again.
        assert_eq!(v.balances(10_000 + PENDING_GRACE_MS + 1)[0].available, 30);
        assert_eq!(v.release(&req.nonce), 1);
        assert_eq!(v.balances(0)[0].available, 30);
    }

    #[test]
    fn a_node_cannot_plant_a_note_and_secrets_stay_hidden() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut v = wallet(&[], &mut rng);
        let k = NoteKey::generate(PROGRAM, KeyPurpose::Entitlement { round: 1 }, 0, &mut rng);
        v.keys.push(k.clone());
        // A claim note with another amount than its id says is not taken.
        let note = weft_entitlements::claim_note(PROGRAM.bytes(), &k.public, 40).unwrap();
        let m = ScannedMilestone {
            index: 2,
            created: vec![ScannedNote {
                program: *PROGRAM.bytes(),
                id: note.id,
                owner: k.public,
                content: ScannedContent::Claim { amount: 400 },
            }],
            spent: vec![],
        };
        let mut r = ScanReport::default();
        v.scan(&m, &mut r);
        assert!(v.notes.is_empty());
        assert_eq!(v.balances(0)[0].awaiting_claims, 1);
        let debug = format!("{:?}", v);
        assert!(!debug.contains(&hex::encode(k.secret.0)));
        let json = serde_json::to_string(&v).unwrap();
        let back: ValueNotes = serde_json::from_str(&json).unwrap();
        assert_eq!(back.keys[0].public, k.public);
        assert_eq!(back.keys[0].secret, k.secret);
        assert_eq!(unit_of_summary("50 kg rice (or more by tier)"), "kg rice");
        assert_eq!(unit_of_summary("25 USD"), "USD");
        assert_eq!(unit_of_summary("rice"), "");
    }
}
