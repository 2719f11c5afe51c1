//! The holder's keys: a BIP-39 recovery phrase, the two field-element secrets derived
//! from it, and the household key's hand-over between members' wallets.
//!
//! # Notes on the derivation
//!
//! A phone is lost, so everything secret must come back from words written on paper. The
//! phrase is a standard 24-word English BIP-39 mnemonic: 256 bits of entropy from the
//! operating system's secure randomness (or from the app's RNG), maintained by the
//! `bip39` crate. From its 64-byte BIP-39 seed (PBKDF2-HMAC-SHA512, 2,048 rounds, empty
//! passphrase) the two BN254 scalars are
//!
//! ```text
//! holder_secret = LE(BLAKE2b-512("weft/wallet/v1/holder-secret"  || 0x00 || seed)) mod r
//! household_key = LE(BLAKE2b-512("weft/wallet/v1/household-key" || 0x00 || seed)) mod r
//! ```
//!
//! (`Fr::from_le_bytes_mod_order` on the 64 digest bytes.) The tags differ and contain no
//! zero byte, so the two inputs never collide. Reducing 512 uniform bits modulo the
//! 254-bit `r` leaves a bias below 2^-250: the secrets are uniform for every purpose.
//!
//! # Notes on the household key
//!
//! Every member of a household shares one household key (it makes the household's single
//! nullifier per round). The first member's wallet derives it from its own phrase; the
//! others receive it by QR ([`HouseholdHandover`]) and it replaces their derived one.
//! The recovery phrase stays a plain 24-word BIP-39 phrase that restores the holder's own
//! keys only. Restoring a wallet that had received a household key therefore needs the
//! household QR again, from any member. This was chosen over packing both keys into the
//! recovery data because (a) 256 bits of entropy is what 24 words carry, and a second
//! secret would double the words a person must copy by hand, (b) the household key is
//! not the holder's alone: it is recoverable from every other member, and the member who
//! created it restores it from their own phrase, and (c) a standard phrase can be checked
//! by any BIP-39 tool. `weft-wallet restore` says so whenever it restores.

use std::fmt;

use ark_ff::PrimeField;
use bip39::{Language, Mnemonic};
use blake2::{Blake2b512, Digest};
use rand::{CryptoRng, RngCore};
use weft_circuits::HolderSecrets;
use weft_crypto::poseidon::{fr_to_bytes_be, hash1, Fr};
use zeroize::{Zeroize, Zeroizing};

use crate::{Result, WalletError};

/// Domain tag of the holder secret's derivation.
pub const HOLDER_TAG: &[u8] = b"weft/wallet/v1/holder-secret";
/// Domain tag of the household key's derivation.
pub const HOUSEHOLD_TAG: &[u8] = b"weft/wallet/v1/household-key";
/// Words in a recovery phrase.
pub const PHRASE_WORDS: usize = 24;

/// A 24-word BIP-39 recovery phrase. Zeroized on drop; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct RecoveryPhrase(Mnemonic);

impl fmt::Debug for RecoveryPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryPhrase(..)")
    }
}

impl RecoveryPhrase {
    /// A new phrase from 256 bits of `rng` (the CLI passes the OS generator).
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Result<Self> {
        let mut entropy = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(entropy.as_mut());
        Self::from_entropy(&entropy)
    }

    /// The phrase that encodes `entropy` (32 bytes: 24 words).
    pub fn from_entropy(entropy: &[u8; 32]) -> Result<Self> {
        Mnemonic::from_entropy_in(Language::English, entropy)
            .map(RecoveryPhrase)
            .map_err(|e| WalletError::Phrase(e.to_string()))
    }

    /// Parses a phrase typed by a person: English words separated by any whitespace,
    /// case-insensitive, exactly 24 words, checksum checked.
    pub fn parse(words: &str) -> Result<Self> {
        let normal = Zeroizing::new(
            words
                .split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" "),
        );
        let m = Mnemonic::parse_in_normalized(Language::English, &normal)
            .map_err(|e| WalletError::Phrase(e.to_string()))?;
        if m.word_count() != PHRASE_WORDS {
            return Err(WalletError::Phrase(format!(
                "{} words; a Weft recovery phrase has {PHRASE_WORDS}",
                m.word_count()
            )));
        }
        Ok(RecoveryPhrase(m))
    }

    /// The words, space-separated (show only on the holder's explicit request).
    pub fn words(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.words().collect::<Vec<_>>().join(" "))
    }

    /// The holder secret and the household key this phrase derives (module notes).
    pub fn secrets(&self) -> HolderSecrets {
        let mut seed = Zeroizing::new(self.0.to_seed_normalized(""));
        let s = HolderSecrets {
            holder_secret: derive(HOLDER_TAG, seed.as_ref()),
            household_key: derive(HOUSEHOLD_TAG, seed.as_ref()),
        };
        seed.zeroize();
        s
    }
}

/// `LE(BLAKE2b-512(tag || 0x00 || seed)) mod r`.
fn derive(tag: &[u8], seed: &[u8]) -> Fr {
    let mut h = Blake2b512::new();
    h.update(tag);
    h.update([0u8]);
    h.update(seed);
    let mut digest = Zeroizing::new([0u8; 64]);
    h.finalize_into(blake2::digest::generic_array::GenericArray::from_mut_slice(
        digest.as_mut(),
    ));
    Fr::from_le_bytes_mod_order(digest.as_ref())
}

/// The household key as a hand-over code for another member's wallet (a QR code's
/// content): `{"type":"weft-household-key","version":1,"key":"0x..","commitment":"0x.."}`.
/// The commitment lets the receiving wallet detect a mistyped or damaged code.
/// Zeroized on drop; `Debug` prints only the commitment.
pub struct HouseholdHandover {
    /// The household key.
    key: Fr,
}

impl Drop for HouseholdHandover {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for HouseholdHandover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HouseholdHandover {{ commitment: 0x{} }}",
            hex::encode(fr_to_bytes_be(&hash1(self.key)))
        )
    }
}

/// The `type` field of a household hand-over code.
pub const HOUSEHOLD_TYPE: &str = "weft-household-key";

impl HouseholdHandover {
    /// The hand-over of `household_key`.
    pub fn new(household_key: Fr) -> Self {
        HouseholdHandover { key: household_key }
    }

    /// The household key.
    pub fn key(&self) -> Fr {
        self.key
    }

    /// `Poseidon(household_key)`: what credentials of this household carry.
    pub fn commitment(&self) -> Fr {
        hash1(self.key)
    }

    /// The code's text (secret: it lets anyone claim for the household).
    pub fn encode(&self) -> Zeroizing<String> {
        let mut key = fr_to_bytes_be(&self.key);
        let s = Zeroizing::new(format!(
            "{{\"type\":\"{HOUSEHOLD_TYPE}\",\"version\":1,\"key\":\"0x{}\",\"commitment\":\"0x{}\"}}",
            Zeroizing::new(hex::encode(key)).as_str(),
            hex::encode(fr_to_bytes_be(&self.commitment()))
        ));
        key.zeroize();
        s
    }

    /// Reads a code made by [`HouseholdHandover::encode`], checking its commitment.
    pub fn decode(text: &str) -> Result<Self> {
        let bad = WalletError::Household;
        let v: serde_json::Value =
            serde_json::from_str(text.trim()).map_err(|_| bad("not a household key code"))?;
        if v.get("type").and_then(|t| t.as_str()) != Some(HOUSEHOLD_TYPE) {
            return Err(bad("not a household key code"));
        }
        if v.get("version").and_then(|t| t.as_u64()) != Some(1) {
            return Err(bad("unsupported household key code version"));
        }
        let field = |name: &str| -> Result<Fr> {
            let s = v
                .get(name)
                .and_then(|t| t.as_str())
                .ok_or(bad("missing field"))?;
            crate::model::parse_fr_hex(s)
                .map_err(|_| bad("field is not 0x + 64 hex digits below the modulus"))
        };
        let key = field("key")?;
        let commitment = field("commitment")?;
        if hash1(key) != commitment {
            return Err(bad("the key does not match its commitment (damaged code?)"));
        }
        Ok(HouseholdHandover { key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn phrase_round_trip_gives_the_same_secrets() {
        let mut rng = rand_chacha_like(7);
        let p = RecoveryPhrase::generate(&mut rng).unwrap();
        let words = p.words();
        assert_eq!(words.split(' ').count(), 24);
        let q = RecoveryPhrase::parse(&format!("  {}  ", words.to_uppercase())).unwrap();
        let (a, b) = (p.secrets(), q.secrets());
        assert_eq!(a.holder_commitment(), b.holder_commitment());
        assert_eq!(a.household_commitment(), b.household_commitment());
        assert_ne!(a.holder_secret, a.household_key);
        assert_eq!(format!("{p:?}"), "RecoveryPhrase(..)");
    }

    #[test]
    fn bad_phrases_are_refused() {
        let p = RecoveryPhrase::from_entropy(&[3u8; 32]).unwrap();
        let words = p.words();
        let mut v: Vec<&str> = words.split(' ').collect();
        v.swap(0, 1);
        assert!(RecoveryPhrase::parse(&v.join(" ")).is_err(), "checksum");
        assert!(RecoveryPhrase::parse(&v[..12].join(" ")).is_err());
        assert!(RecoveryPhrase::parse("abandon notaword").is_err());
        // 12-word valid phrase: refused (Weft phrases have 24 words).
        let twelve = Mnemonic::from_entropy(&[1u8; 16]).unwrap().to_string();
        assert!(RecoveryPhrase::parse(&twelve).is_err());
    }

    #[test]
    fn derivation_is_pinned() {
        // The all-zero entropy phrase ("abandon ... art") pins the derivation.
        let p = RecoveryPhrase::from_entropy(&[0u8; 32]).unwrap();
        assert!(p.words().ends_with("abandon art"));
        let s = p.secrets();
        let mut seed = p.0.to_seed_normalized("");
        assert_eq!(s.holder_secret, derive(HOLDER_TAG, &seed));
        seed.zeroize();
        assert_ne!(s.holder_secret, s.household_key);
    }

    #[test]
    fn household_code_round_trip_and_damage() {
        let h = HouseholdHandover::new(Fr::from(12345u64));
        let code = h.encode();
        let back = HouseholdHandover::decode(&code).unwrap();
        assert_eq!(back.key(), h.key());
        assert!(!format!("{h:?}").contains("3039"), "Debug shows no key");
        let damaged = code.replace("\"key\":\"0x0", "\"key\":\"0x1");
        assert!(HouseholdHandover::decode(&damaged).is_err());
        assert!(HouseholdHandover::decode("{}").is_err());
        assert!(HouseholdHandover::decode("garbage").is_err());
    }

    fn rand_chacha_like(seed: u64) -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(seed)
    }
}
