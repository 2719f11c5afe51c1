//! The encrypted wallet file: one blob, two equal-size encrypted slots, a PIN that is
//! slow to guess.
//!
//! Phones get searched and seized, so everything the wallet keeps is encrypted under a
//! key derived from the holder's PIN or passphrase, and a second PIN (the duress PIN)
//! opens a decoy wallet that looks empty and valid. The blob goes to a
//! [`WalletStorage`]: the CLI's is an atomically replaced file (`crate::file`), an app
//! supplies its own (Android Keystore-backed file, IndexedDB, ...).
//!
//! # Notes on the format (version 1)
//!
//! ```text
//! offset  size  field
//! 0       8     magic "WEFTWLT\0"
//! 8       1     format version = 1
//! 9       4     Argon2id memory, KiB (u32 LE)
//! 13      4     Argon2id passes (u32 LE)
//! 17      4     Argon2id lanes (u32 LE)
//! 21      16    salt (random, fixed for the file's life)
//! 37      4     failed PIN attempts since the last unlock (u32 LE)
//! 41      8     time of the last failure, Unix ms (u64 LE)
//! 49      4     slot length L = padded plaintext + 16 (u32 LE)
//! 53      24    nonce of slot 0
//! 77      24    nonce of slot 1
//! 101     L     slot 0: XChaCha20-Poly1305 ciphertext and tag
//! 101+L   L     slot 1
//! 101+2L  32    BLAKE2b-256 of everything before
//! ```
//!
//! - **Key**: `K = Argon2id(PIN, salt, m, t, p)`, 32 bytes, computed once per unlock and
//!   tried on both slots (an AEAD failure costs microseconds), so an unlock costs one
//!   Argon2id run whether or not a duress PIN exists. The real PIN opens one slot, the
//!   duress PIN the other.
//! - **Associated data** of each slot: bytes 0..37 (magic, version, Argon2id parameters,
//!   salt) and `L`, so a file whose parameters were tampered with opens nothing.
//! - **Plaintext**: `len (u32 LE) || JSON (model::WalletData) || zeros`, padded to a
//!   multiple of [`BUCKET`] (32 KiB: about six credentials with their documents and paths).
//!   Both slots always have the same length, so the file's size tells only the bucket of
//!   the larger wallet, never how many credentials it holds.
//! - **Which slot is real** is drawn at random when the file is created. Without a duress
//!   PIN the other slot is random bytes, indistinguishable from a ciphertext, so the file
//!   never reveals whether a duress PIN exists. The real wallet holds the decoy slot's key
//!   (not the duress PIN) so that it can re-encrypt the decoy with fresh nonces on every
//!   save (both slots change together) and re-pad it when the wallet grows. The decoy
//!   wallet knows nothing of the real slot and leaves it untouched; if it outgrows its
//!   slot it reports [`WalletError::Full`].
//! - **Checksum**: a plain hash (no key) that tells a damaged file
//!   ([`WalletError::Corrupt`]) from a wrong PIN before any key derivation.
//!
//! # Notes on wrong PINs
//!
//! The failure counter and its time are plaintext and unauthenticated: a key cannot check
//! them before the PIN is known. After [`FREE_ATTEMPTS`] failures each attempt must wait
//! `2^(n - FREE_ATTEMPTS)` seconds (capped at one hour) after the last failure;
//! [`unlock`] returns [`WalletError::RetryLater`] without trying the PIN, and the CLI
//! sleeps. The counter is reset by any successful unlock, the duress PIN's too (so that
//! the decoy behaves like a real wallet). This slows down a person guessing on the phone
//! through the app. It does nothing against someone who copies the file, who can reset
//! the counter or run Argon2id elsewhere: against them the Argon2id cost and the PIN's
//! entropy are the only defence (with the [`KdfParams::RECOMMENDED`] cost, about 0.5 s
//! per guess on one core, a 6-digit PIN falls in days; a 6-word passphrase does not).
//! The counter write is the only change a wrong PIN makes to the file.

use argon2::{Algorithm, Argon2, Params, Version};
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::model::WalletData;
use crate::{Result, WalletError};

/// The file's first 8 bytes.
pub const MAGIC: &[u8; 8] = b"WEFTWLT\0";
/// The file format version.
pub const FORMAT_VERSION: u8 = 1;
/// Plaintexts are padded to a multiple of this many bytes.
pub const BUCKET: usize = 32 * 1024;
/// Header bytes before the slots.
pub const HEADER_BYTES: usize = 101;
/// Bytes of the trailing checksum.
pub const CHECKSUM_BYTES: usize = 32;
/// Poly1305 tag bytes.
const TAG: usize = 16;
/// Wrong PINs allowed without delay.
pub const FREE_ATTEMPTS: u32 = 3;
/// The longest delay between attempts (one hour).
pub const MAX_DELAY_MS: u64 = 3_600_000;
/// The largest slot the reader accepts (64 MiB): bounds memory on a damaged file.
const MAX_SLOT: usize = 64 * 1024 * 1024;

/// Why an app's storage failed (its own words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// Where the encrypted blob lives. An app implements this over its own storage; the
/// CLI's implementation replaces a file atomically (`crate::file::FileStorage`).
///
/// `store` must be atomic: after a crash at any moment, `load` returns either the old
/// or the new blob, whole.
pub trait WalletStorage {
    /// The stored blob, or `None` when there is no wallet yet.
    fn load(&self) -> std::result::Result<Option<Vec<u8>>, StorageError>;
    /// Replaces the stored blob atomically.
    fn store(&mut self, blob: &[u8]) -> std::result::Result<(), StorageError>;
}

/// A storage in memory (tests, and apps that persist the blob themselves).
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    /// The current blob.
    pub blob: Option<Vec<u8>>,
}

impl WalletStorage for MemoryStorage {
    fn load(&self) -> std::result::Result<Option<Vec<u8>>, StorageError> {
        Ok(self.blob.clone())
    }
    fn store(&mut self, blob: &[u8]) -> std::result::Result<(), StorageError> {
        self.blob = Some(blob.to_vec());
        Ok(())
    }
}

impl<S: WalletStorage + ?Sized> WalletStorage for &mut S {
    fn load(&self) -> std::result::Result<Option<Vec<u8>>, StorageError> {
        (**self).load()
    }
    fn store(&mut self, blob: &[u8]) -> std::result::Result<(), StorageError> {
        (**self).store(blob)
    }
}

/// Argon2id cost parameters (stored in the file's header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes over the memory.
    pub t: u32,
    /// Lanes (1: the same cost on a single-threaded phone, browser or wasm).
    pub p: u32,
}

impl KdfParams {
    /// What `weft-wallet init` uses: 64 MiB, 3 passes, 1 lane (measured in the README).
    pub const RECOMMENDED: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };

    /// A deliberately cheap cost for tests only (never for a real wallet).
    pub const INSECURE_TEST: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    /// Checks the parameters are usable and bounded (a damaged or hostile header must
    /// not make the wallet allocate gigabytes).
    pub fn check(&self) -> Result<()> {
        let ok = (1..=1024 * 1024).contains(&self.m_kib)
            && (1..=64).contains(&self.t)
            && (1..=16).contains(&self.p)
            && self.m_kib >= 8 * self.p;
        if ok {
            Ok(())
        } else {
            Err(WalletError::Corrupt("unreasonable Argon2id parameters"))
        }
    }

    /// `Argon2id(pin, salt)`, 32 bytes.
    pub fn derive(&self, pin: &[u8], salt: &[u8; 16]) -> Result<Zeroizing<[u8; 32]>> {
        self.check()?;
        let params = Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|_| WalletError::Corrupt("unreasonable Argon2id parameters"))?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(pin, salt, key.as_mut())
            .map_err(|_| WalletError::BadPin("Argon2id refused the input"))?;
        Ok(key)
    }
}

/// The parsed plaintext header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Argon2id parameters.
    pub kdf: KdfParams,
    /// The Argon2id salt.
    pub salt: [u8; 16],
    /// Failed attempts since the last unlock.
    pub failed_attempts: u32,
    /// Unix ms of the last failure.
    pub last_failure_ms: u64,
}

/// A parsed file: its header and both slots.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The plaintext header.
    pub header: Header,
    /// Nonce and ciphertext of each slot.
    pub slots: [([u8; 24], Vec<u8>); 2],
}

/// How long the next attempt must wait after `failed` failures (see the module notes).
pub fn delay_ms(failed: u32) -> u64 {
    if failed < FREE_ATTEMPTS {
        return 0;
    }
    let exp = (failed - FREE_ATTEMPTS).min(31);
    (1000u64 << exp).min(MAX_DELAY_MS)
}

fn checksum(data: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(data).into()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

impl Blob {
    /// Parses and checks a stored blob (magic, version, lengths, checksum, parameters).
    pub fn parse(bytes: &[u8]) -> Result<Blob> {
        if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES {
            return Err(WalletError::Corrupt("file too short"));
        }
        if &bytes[..8] != MAGIC {
            return Err(WalletError::Corrupt("not a Weft wallet file"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
        if checksum(body) != sum {
            return Err(WalletError::Corrupt(
                "checksum mismatch (damaged or truncated)",
            ));
        }
        if bytes[8] != FORMAT_VERSION {
            return Err(WalletError::UnsupportedVersion(bytes[8]));
        }
        let kdf = KdfParams {
            m_kib: u32_at(bytes, 9),
            t: u32_at(bytes, 13),
            p: u32_at(bytes, 17),
        };
        kdf.check()?;
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&bytes[21..37]);
        let failed_attempts = u32_at(bytes, 37);
        let mut t = [0u8; 8];
        t.copy_from_slice(&bytes[41..49]);
        let last_failure_ms = u64::from_le_bytes(t);
        let len = u32_at(bytes, 49) as usize;
        if !(TAG + BUCKET..=MAX_SLOT).contains(&len) || !(len - TAG).is_multiple_of(BUCKET) {
            return Err(WalletError::Corrupt("bad slot length"));
        }
        if body.len() != HEADER_BYTES + 2 * len {
            return Err(WalletError::Corrupt("length does not match the slots"));
        }
        let mut n0 = [0u8; 24];
        n0.copy_from_slice(&bytes[53..77]);
        let mut n1 = [0u8; 24];
        n1.copy_from_slice(&bytes[77..101]);
        let s0 = bytes[HEADER_BYTES..HEADER_BYTES + len].to_vec();
        let s1 = bytes[HEADER_BYTES + len..HEADER_BYTES + 2 * len].to_vec();
        Ok(Blob {
            header: Header {
                kdf,
                salt,
                failed_attempts,
                last_failure_ms,
            },
            slots: [(n0, s0), (n1, s1)],
        })
    }

    /// The slot length `L`.
    pub fn slot_len(&self) -> usize {
        self.slots[0].1.len()
    }

    /// The associated data of both slots.
    fn aad(header: &Header, slot_len: usize) -> Vec<u8> {
        let mut a = Vec::with_capacity(41);
        a.extend_from_slice(MAGIC);
        a.push(FORMAT_VERSION);
        a.extend_from_slice(&header.kdf.m_kib.to_le_bytes());
        a.extend_from_slice(&header.kdf.t.to_le_bytes());
        a.extend_from_slice(&header.kdf.p.to_le_bytes());
        a.extend_from_slice(&header.salt);
        a.extend_from_slice(&(slot_len as u32).to_le_bytes());
        a
    }

    /// The serialized file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = self.slot_len();
        let h = &self.header;
        let mut out = Vec::with_capacity(HEADER_BYTES + 2 * len + CHECKSUM_BYTES);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&h.kdf.m_kib.to_le_bytes());
        out.extend_from_slice(&h.kdf.t.to_le_bytes());
        out.extend_from_slice(&h.kdf.p.to_le_bytes());
        out.extend_from_slice(&h.salt);
        out.extend_from_slice(&h.failed_attempts.to_le_bytes());
        out.extend_from_slice(&h.last_failure_ms.to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&self.slots[0].0);
        out.extend_from_slice(&self.slots[1].0);
        out.extend_from_slice(&self.slots[0].1);
        out.extend_from_slice(&self.slots[1].1);
        let sum = checksum(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Opens slot `i` with `key`: the padded plaintext, or `None` for a wrong key.
    fn open(&self, i: usize, key: &[u8; 32]) -> Option<Zeroizing<Vec<u8>>> {
        let (nonce, ct) = &self.slots[i];
        let aad = Self::aad(&self.header, self.slot_len());
        XChaCha20Poly1305::new(key.into())
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .ok()
            .map(Zeroizing::new)
    }

    /// Encrypts `plain` (already padded to `slot_len - 16`) into slot `i` with a fresh
    /// nonce.
    fn seal<R: RngCore + CryptoRng>(
        &mut self,
        i: usize,
        key: &[u8; 32],
        plain: &[u8],
        rng: &mut R,
    ) -> Result<()> {
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let aad = Self::aad(&self.header, plain.len() + TAG);
        let ct = XChaCha20Poly1305::new(key.into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| WalletError::Corrupt("encryption failed"))?;
        self.slots[i] = (nonce, ct);
        Ok(())
    }
}

/// `len || json || zeros`, padded to a multiple of [`BUCKET`] and at least `min_len`.
fn pad(json: &[u8], min_len: usize) -> Zeroizing<Vec<u8>> {
    let need = 4 + json.len();
    let len = need.div_ceil(BUCKET).max(1) * BUCKET;
    let len = len.max(min_len);
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(json);
    out.resize(len, 0);
    out
}

/// Reads a padded plaintext back into wallet data.
fn unpad(plain: &[u8]) -> Result<WalletData> {
    let bad = WalletError::Corrupt("the decrypted wallet is malformed");
    if plain.len() < 4 {
        return Err(bad);
    }
    let len = u32_at(plain, 0) as usize;
    let json = plain.get(4..4 + len).ok_or(bad)?;
    serde_json::from_slice(json)
        .map_err(|_| WalletError::Corrupt("the decrypted wallet is malformed"))
}

/// An opened slot: the data, the slot's key and position, and the file it came from.
pub struct Opened {
    /// The wallet data.
    pub data: WalletData,
    /// The slot's key.
    pub key: Zeroizing<[u8; 32]>,
    /// Which slot (0 or 1).
    pub slot: usize,
    /// The file as loaded.
    pub blob: Blob,
}

/// What [`create`] writes: the real wallet, and the decoy if there is a duress PIN.
pub fn create<S: WalletStorage, R: RngCore + CryptoRng>(
    storage: &mut S,
    kdf: KdfParams,
    pin: &str,
    real: &mut WalletData,
    duress: Option<(&str, &WalletData)>,
    rng: &mut R,
) -> Result<Opened> {
    check_pin(pin)?;
    if let Some((d, _)) = duress {
        check_pin(d)?;
        if d == pin {
            return Err(WalletError::BadPin(
                "the duress PIN must differ from the PIN",
            ));
        }
    }
    if storage.load()?.is_some() {
        return Err(WalletError::AlreadyExists);
    }
    kdf.check()?;
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let key = kdf.derive(pin.as_bytes(), &salt)?;
    let decoy_key = match duress {
        Some((d, _)) => Some(kdf.derive(d.as_bytes(), &salt)?),
        None => None,
    };
    real.decoy_key = decoy_key.as_ref().map(|k| hex::encode(k.as_ref()));
    let slot = (rng.next_u32() & 1) as usize;
    let mut blob = Blob {
        header: Header {
            kdf,
            salt,
            failed_attempts: 0,
            last_failure_ms: 0,
        },
        slots: [([0u8; 24], Vec::new()), ([0u8; 24], Vec::new())],
    };
    let real_json = real.to_json();
    let decoy_json = duress.map(|(_, d)| d.to_json());
    let len = pad(&real_json, 0)
        .len()
        .max(decoy_json.as_ref().map(|j| pad(j, 0).len()).unwrap_or(0));
    blob.seal(slot, &key, &pad(&real_json, len), rng)?;
    match (&decoy_key, &decoy_json) {
        (Some(k), Some(j)) => blob.seal(1 - slot, k, &pad(j, len), rng)?,
        _ => blob.slots[1 - slot] = filler(len + TAG, rng),
    }
    storage.store(&blob.to_bytes())?;
    Ok(Opened {
        data: real.clone(),
        key,
        slot,
        blob,
    })
}

/// Random bytes the size of a slot: indistinguishable from a ciphertext.
fn filler<R: RngCore + CryptoRng>(len: usize, rng: &mut R) -> ([u8; 24], Vec<u8>) {
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let mut ct = vec![0u8; len];
    rng.fill_bytes(&mut ct);
    (nonce, ct)
}

/// The shortest PIN accepted.
pub const MIN_PIN_CHARS: usize = 4;

/// Refuses PINs too short to be worth an Argon2id run.
pub fn check_pin(pin: &str) -> Result<()> {
    if pin.chars().count() < MIN_PIN_CHARS {
        return Err(WalletError::BadPin("a PIN needs at least 4 characters"));
    }
    Ok(())
}

/// Opens the wallet with `pin` at time `now_ms` (Unix ms, from the app's clock).
pub fn unlock<S: WalletStorage>(storage: &mut S, pin: &str, now_ms: u64) -> Result<Opened> {
    let bytes = storage.load()?.ok_or(WalletError::NoWallet)?;
    let mut blob = Blob::parse(&bytes)?;
    let h = blob.header.clone();
    let wait = delay_ms(h.failed_attempts);
    let allowed_at = h.last_failure_ms.saturating_add(wait);
    if wait > 0 && now_ms < allowed_at {
        return Err(WalletError::RetryLater {
            retry_after_ms: allowed_at - now_ms,
        });
    }
    let key = h.kdf.derive(pin.as_bytes(), &h.salt)?;
    for slot in 0..2 {
        if let Some(plain) = blob.open(slot, &key) {
            let data = unpad(&plain)?;
            if h.failed_attempts != 0 {
                blob.header.failed_attempts = 0;
                blob.header.last_failure_ms = 0;
                storage.store(&blob.to_bytes())?;
            }
            return Ok(Opened {
                data,
                key,
                slot,
                blob,
            });
        }
    }
    let failed = h.failed_attempts.saturating_add(1);
    blob.header.failed_attempts = failed;
    blob.header.last_failure_ms = now_ms;
    storage.store(&blob.to_bytes())?;
    Err(WalletError::WrongPin {
        failed_attempts: failed,
        retry_after_ms: delay_ms(failed),
    })
}

/// Writes `data` into the opened slot (fresh nonce), and, from the real wallet, the
/// decoy or filler slot too (see the module notes). On error nothing is written.
pub fn save<S: WalletStorage, R: RngCore + CryptoRng>(
    storage: &mut S,
    opened: &mut Opened,
    data: &WalletData,
    rng: &mut R,
) -> Result<()> {
    let json = data.to_json();
    let mut blob = opened.blob.clone();
    let own = opened.slot;
    let other = 1 - own;
    let real = opened.data_is_real();
    let needed = pad(&json, 0).len();
    let current = blob.slot_len() - TAG;
    if real {
        match &data.decoy_key {
            Some(k) => {
                let dk = decoy_key(k)?;
                let plain = blob
                    .open(other, &dk)
                    .ok_or(WalletError::Corrupt("the duress slot does not open"))?;
                let decoy = unpad(&plain)?;
                let len = needed.max(pad(&decoy.to_json(), 0).len());
                blob.seal(own, &opened.key, &pad(&json, len), rng)?;
                blob.seal(other, &dk, &pad(&decoy.to_json(), len), rng)?;
            }
            None => {
                let len = needed;
                blob.seal(own, &opened.key, &pad(&json, len), rng)?;
                blob.slots[other] = filler(len + TAG, rng);
            }
        }
    } else {
        if needed > current {
            return Err(WalletError::Full);
        }
        blob.seal(own, &opened.key, &pad(&json, current), rng)?;
    }
    blob.header.failed_attempts = 0;
    blob.header.last_failure_ms = 0;
    storage.store(&blob.to_bytes())?;
    opened.blob = blob;
    opened.data = data.clone();
    Ok(())
}

fn decoy_key(hex_key: &str) -> Result<Zeroizing<[u8; 32]>> {
    let mut k = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_key, k.as_mut())
        .map_err(|_| WalletError::Corrupt("the duress slot's key is malformed"))?;
    Ok(k)
}

impl Opened {
    /// Whether this is the real wallet. The real wallet is the one that may hold the
    /// decoy's key; a decoy never does. A real wallet without a duress PIN has no key
    /// either: then the other slot is filler and is rewritten as filler, which is right
    /// for the real wallet; the decoy is told apart by [`Opened::is_decoy`].
    fn data_is_real(&self) -> bool {
        !self.is_decoy()
    }

    /// Whether this slot was opened by the duress PIN. Internal: callers must never show
    /// it. The decoy wallet is created with `decoy_key = None` and the marker below.
    pub fn is_decoy(&self) -> bool {
        self.data.decoy_key.as_deref() == Some(DECOY_MARKER)
    }

    /// Sets a duress PIN from the real wallet, with a fresh decoy wallet.
    pub fn set_duress<S: WalletStorage, R: RngCore + CryptoRng>(
        &mut self,
        storage: &mut S,
        duress_pin: &str,
        decoy: &WalletData,
        rng: &mut R,
    ) -> Result<()> {
        check_pin(duress_pin)?;
        if self.is_decoy() {
            return Err(WalletError::BadPin("not available"));
        }
        let dk = self
            .blob
            .header
            .kdf
            .derive(duress_pin.as_bytes(), &self.blob.header.salt)?;
        if dk.as_ref() == self.key.as_ref() {
            return Err(WalletError::BadPin(
                "the duress PIN must differ from the PIN",
            ));
        }
        let mut data = self.data.clone();
        data.decoy_key = Some(hex::encode(dk.as_ref()));
        let mut blob = self.blob.clone();
        let other = 1 - self.slot;
        let len = pad(&data.to_json(), 0)
            .len()
            .max(pad(&decoy.to_json(), 0).len());
        blob.seal(self.slot, &self.key, &pad(&data.to_json(), len), rng)?;
        blob.seal(other, &dk, &pad(&decoy.to_json(), len), rng)?;
        storage.store(&blob.to_bytes())?;
        self.blob = blob;
        self.data = data;
        Ok(())
    }
}

/// What a decoy wallet holds in `decoy_key`: it marks the slot as the decoy (it is
/// encrypted, so an observer never sees it) and is never a valid key.
pub const DECOY_MARKER: &str = "-";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecoveryPhrase;
    use rand::SeedableRng;

    fn data(seed: u8) -> WalletData {
        WalletData::new(&RecoveryPhrase::from_entropy(&[seed; 32]).unwrap())
    }

    #[test]
    fn delays_grow_and_cap() {
        assert_eq!(delay_ms(0), 0);
        assert_eq!(delay_ms(2), 0);
        assert_eq!(delay_ms(3), 1000);
        assert_eq!(delay_ms(5), 4000);
        assert_eq!(delay_ms(40), MAX_DELAY_MS);
    }

    #[test]
    fn padding_hides_the_size() {
        let a = pad(b"{}", 0);
        let b = pad(&vec![b'x'; 20_000], 0);
        assert_eq!(a.len(), BUCKET);
        assert_eq!(b.len(), BUCKET);
        assert_eq!(pad(&vec![b'x'; BUCKET], 0).len(), 2 * BUCKET);
    }

    #[test]
    fn both_slots_equal_and_the_file_parses() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut s = MemoryStorage::default();
        let mut real = data(1);
        let o = create(
            &mut s,
            KdfParams::INSECURE_TEST,
            "1234",
            &mut real,
            None,
            &mut rng,
        )
        .unwrap();
        let blob = Blob::parse(s.blob.as_ref().unwrap()).unwrap();
        assert_eq!(blob.slots[0].1.len(), blob.slots[1].1.len());
        assert_eq!(o.blob.to_bytes(), blob.to_bytes());
    }
}
