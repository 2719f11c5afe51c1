//! The agency's encrypted keystore: its Ed25519 seeds never touch the disk in clear.
//!
//! The file is JSON: the Argon2id parameters and salt, an XChaCha20-Poly1305 nonce and
//! the ciphertext of the secrets (the seeds with their DID key fragments, and the
//! agency's DID). The key is derived from a passphrase with Argon2id; the default cost
//! is 64 MiB, 3 passes, 1 lane ([`KdfParams::RECOMMENDED`]); tests use
//! [`KdfParams::TEST`] (set `WEFT_AGENCY_KDF=test`), and the parameters used are kept in
//! the file so that either opens. Writes go to a temporary file in the same directory,
//! flushed, then renamed over the old file, so a crash leaves the old or the new
//! keystore, never a torn one.

use std::fs;
use std::io::Write;
use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use weft_crypto::OrganisationKey;
use weft_types::{Did, PublicKeyBytes};
use zeroize::{Zeroize, Zeroizing};

use crate::AgencyError;

/// Environment variable that selects the cheap KDF for tests (`test`).
pub const KDF_ENV: &str = "WEFT_AGENCY_KDF";

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// The default for real keystores: 64 MiB, 3 passes, 1 lane.
    pub const RECOMMENDED: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };
    /// Tests only: 64 KiB, 1 pass.
    pub const TEST: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// [`KdfParams::TEST`] when `WEFT_AGENCY_KDF=test`, else [`KdfParams::RECOMMENDED`].
    pub fn from_env() -> KdfParams {
        match std::env::var(KDF_ENV).as_deref() {
            Ok("test") => KdfParams::TEST,
            _ => KdfParams::RECOMMENDED,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeystoreFile {
    version: u32,
    kdf: String,
    params: KdfParams,
    salt: String,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

/// One key: its fragment in the DID document and its seed (zeroized on drop).
#[derive(Clone, Serialize, Deserialize, Zeroize)]
#[zeroize(drop)]
struct Entry {
    fragment: String,
    seed: String,
}

#[derive(Serialize, Deserialize, Zeroize)]
#[zeroize(drop)]
struct Secrets {
    did: Option<String>,
    keys: Vec<Entry>,
}

/// The opened keystore. `Debug` shows only public keys.
pub struct Keystore {
    /// The agency's DID, once created (or the dev organisation's).
    pub did: Option<Did>,
    keys: Vec<(String, OrganisationKey)>,
    params: KdfParams,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("did", &self.did)
            .field("keys", &self.public_keys())
            .finish()
    }
}

fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, AgencyError> {
    let p = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| AgencyError::Keystore(format!("Argon2 parameters: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(passphrase, salt, out.as_mut())
        .map_err(|e| AgencyError::Keystore(format!("Argon2: {e}")))?;
    Ok(out)
}

fn random<const N: usize>() -> Result<[u8; N], AgencyError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b)
        .map_err(|e| AgencyError::Keystore(format!("no randomness: {e}")))?;
    Ok(b)
}

/// Writes `bytes` to `path` atomically: a temporary file next to it, synced, renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AgencyError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = match dir {
        Some(d) => d.join(format!(".{name}.tmp")),
        None => Path::new(&format!(".{name}.tmp")).to_path_buf(),
    };
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    Ok(())
}

impl Keystore {
    /// A keystore with one key (fragment `key-1`) from `seed`.
    pub fn with_seed(seed: &[u8; 32], did: Option<Did>, params: KdfParams) -> Keystore {
        Keystore {
            did,
            keys: vec![("key-1".into(), OrganisationKey::from_seed(seed))],
            params,
        }
    }

    /// A keystore with a fresh random key.
    pub fn generate(params: KdfParams) -> Result<Keystore, AgencyError> {
        let seed = Zeroizing::new(random::<32>()?);
        Ok(Keystore::with_seed(&seed, None, params))
    }

    /// The keys: fragment and public key.
    pub fn public_keys(&self) -> Vec<(String, PublicKeyBytes)> {
        self.keys
            .iter()
            .map(|(f, k)| (f.clone(), k.public_key()))
            .collect()
    }

    /// The key with this public key.
    pub fn key_for(&self, pk: &PublicKeyBytes) -> Option<&OrganisationKey> {
        self.keys
            .iter()
            .find(|(_, k)| &k.public_key() == pk)
            .map(|(_, k)| k)
    }

    /// The first key (the one a new DID is created with).
    pub fn first_key(&self) -> Option<&OrganisationKey> {
        self.keys.first().map(|(_, k)| k)
    }

    /// Adds a fresh random key under `fragment` and returns its public key.
    pub fn add_generated(&mut self, fragment: &str) -> Result<PublicKeyBytes, AgencyError> {
        let seed = Zeroizing::new(random::<32>()?);
        let key = OrganisationKey::from_seed(&seed);
        let pk = key.public_key();
        self.keys.push((fragment.to_string(), key));
        Ok(pk)
    }

    /// Keeps only the keys `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &PublicKeyBytes) -> bool) {
        self.keys.retain(|(f, k)| keep(f, &k.public_key()));
    }

    /// Encrypts and writes the keystore to `path` (atomically).
    pub fn save(&self, path: &Path, passphrase: &[u8]) -> Result<(), AgencyError> {
        let secrets = Secrets {
            did: self.did.map(|d| d.to_string()),
            keys: self
                .keys
                .iter()
                .map(|(f, k)| Entry {
                    fragment: f.clone(),
                    seed: hex::encode(k.seed().as_ref()),
                })
                .collect(),
        };
        let plain = Zeroizing::new(serde_json::to_vec(&secrets)?);
        let salt = random::<16>()?;
        let nonce = random::<24>()?;
        let key = derive_key(passphrase, &salt, self.params)?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
            .map_err(|_| AgencyError::Keystore("encryption failed".into()))?;
        let file = KeystoreFile {
            version: 1,
            kdf: "argon2id".into(),
            params: self.params,
            salt: hex::encode(salt),
            cipher: "xchacha20poly1305".into(),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
        };
        write_atomic(path, &serde_json::to_vec_pretty(&file)?)
    }

    /// Reads and decrypts the keystore at `path`.
    pub fn open(path: &Path, passphrase: &[u8]) -> Result<Keystore, AgencyError> {
        let bytes = fs::read(path)
            .map_err(|e| AgencyError::Keystore(format!("{}: {e}", path.display())))?;
        let file: KeystoreFile = serde_json::from_slice(&bytes)
            .map_err(|e| AgencyError::Keystore(format!("{}: {e}", path.display())))?;
        if file.version != 1 || file.kdf != "argon2id" || file.cipher != "xchacha20poly1305" {
            return Err(AgencyError::Keystore(format!(
                "{}: unsupported keystore format",
                path.display()
            )));
        }
        let bad = |what: &str| AgencyError::Keystore(format!("{}: bad {what}", path.display()));
        let salt = hex::decode(&file.salt).map_err(|_| bad("salt"))?;
        let nonce = hex::decode(&file.nonce).map_err(|_| bad("nonce"))?;
        let ciphertext = hex::decode(&file.ciphertext).map_err(|_| bad("ciphertext"))?;
        if nonce.len() != 24 {
            return Err(bad("nonce"));
        }
        let key = derive_key(passphrase, &salt, file.params)?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(XNonce::from_slice(&nonce), ciphertext.as_slice())
                .map_err(|_| {
                    AgencyError::Keystore("wrong passphrase or damaged keystore".into())
                })?,
        );
        let secrets: Secrets = serde_json::from_slice(&plain).map_err(|_| bad("contents"))?;
        let did = match &secrets.did {
            Some(d) => Some(d.parse::<Did>().map_err(|_| bad("DID"))?),
            None => None,
        };
        let mut keys = Vec::new();
        for e in &secrets.keys {
            let mut seed = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(&e.seed, seed.as_mut()).map_err(|_| bad("seed"))?;
            keys.push((e.fragment.clone(), OrganisationKey::from_seed(&seed)));
        }
        Ok(Keystore {
            did,
            keys,
            params: file.params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ks.json");
        let mut ks = Keystore::generate(KdfParams::TEST).expect("ks");
        ks.add_generated("key-2").expect("key");
        ks.save(&path, b"correct horse").expect("save");
        let text = fs::read_to_string(&path).expect("read");
        let seed = hex::encode(ks.first_key().expect("key").seed().as_ref());
        assert!(!text.contains(&seed), "seed in clear");
        let back = Keystore::open(&path, b"correct horse").expect("open");
        assert_eq!(back.public_keys(), ks.public_keys());
        assert!(Keystore::open(&path, b"wrong").is_err());
        assert!(!format!("{back:?}").contains(&seed));
    }
}
