//! The point's configuration: who it is, what it trusts, and its device key.
//!
//! The trust anchors live here, not in the snapshot: the committee (whose signatures
//! certify milestones), the hash of the eligibility verifying key, and the programs
//! the point serves (a program id is a hash of its owner and body, so a changed
//! program cannot keep its id). The device key's seed is a secret: it is zeroized in
//! memory, never printed, and the file is written with mode 0600 (owner only); anyone
//! who can read that file can endorse claims as this point until the authority revokes
//! the key.

use std::path::Path;

use serde::{Deserialize, Serialize};
use weft_crypto::OrganisationKey;
use weft_types::hash::blake2b256;
use weft_types::{Committee, Did, ProgramId, PublicKeyBytes};
use zeroize::Zeroizing;

/// Why the configuration cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Malformed file.
    #[error("{path}: {message}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The seed of a well-known dev key (`weft_node::config::dev_key`): BLAKE2b-256 of
/// `weft/dev-key/v1/` and the name. Public by design; dev networks only.
pub fn dev_key_seed(name: &str) -> [u8; 32] {
    blake2b256(&[b"weft/dev-key/v1/", name.as_bytes()])
}

mod seed_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(v: &Zeroizing<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(hex::encode(v.as_ref()));
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<[u8; 32]>, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        let mut out = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(s.as_str(), out.as_mut()).map_err(serde::de::Error::custom)?;
        Ok(out)
    }

    pub mod opt {
        use super::*;

        pub fn serialize<S: Serializer>(
            v: &Option<Zeroizing<[u8; 32]>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Zeroizing<[u8; 32]>>, D::Error> {
            let s: Option<Zeroizing<String>> =
                Option::<String>::deserialize(d)?.map(Zeroizing::new);
            match s {
                None => Ok(None),
                Some(s) => {
                    let mut out = Zeroizing::new([0u8; 32]);
                    hex::decode_to_slice(s.as_str(), out.as_mut())
                        .map_err(serde::de::Error::custom)?;
                    Ok(Some(out))
                }
            }
        }
    }
}

/// The point's configuration (`config.json` in the data directory).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PointConfig {
    /// The point's DID (accredited as a distribution point).
    pub point: Did,
    /// The device key's seed (secret).
    #[serde(with = "seed_hex")]
    pub device_seed: Zeroizing<[u8; 32]>,
    /// The committee whose certificates the point trusts.
    pub committee: Committee,
    /// BLAKE2b-256 of the eligibility verifying key (hex); `None` until the first
    /// sync pins it (trust on first use, printed for the operator to compare).
    pub verifying_key_hash: Option<String>,
    /// Programs served (ids pinned by the operator).
    pub programs: Vec<ProgramId>,
    /// How long a shown request stays valid (ms).
    pub request_ttl_ms: u64,
    /// Dev networks only: the seed of an organisation key that signs the blocks
    /// carrying claims (the node does not yet admit anonymous claim blocks).
    #[serde(default, with = "seed_hex::opt")]
    pub block_key_seed: Option<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for PointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointConfig")
            .field("point", &self.point)
            .field("device_key", &self.device_key().public_key())
            .field("programs", &self.programs)
            .finish_non_exhaustive()
    }
}

/// Default request lifetime: ten minutes.
pub const DEFAULT_REQUEST_TTL_MS: u64 = 10 * 60 * 1000;

impl PointConfig {
    /// The device's signing key.
    pub fn device_key(&self) -> OrganisationKey {
        OrganisationKey::from_seed(&self.device_seed)
    }

    /// The device's public key.
    pub fn device_public_key(&self) -> PublicKeyBytes {
        self.device_key().public_key()
    }

    /// The block-signing key, if configured.
    pub fn block_key(&self) -> Option<OrganisationKey> {
        self.block_key_seed
            .as_ref()
            .map(|s| OrganisationKey::from_seed(s))
    }

    /// The dev network's configuration: the dev organisation as the point (accredited
    /// as a distribution point at genesis), the dev committee, and a device key from
    /// `device_seed`.
    pub fn dev(device_seed: [u8; 32]) -> PointConfig {
        let point = weft_types::DidCreate::with_key(
            OrganisationKey::from_seed(&dev_key_seed("organisation")).public_key(),
            0,
        )
        .did();
        let member = OrganisationKey::from_seed(&dev_key_seed("committee")).public_key();
        let committee = match Committee::new(1, vec![member]) {
            Ok(c) => c,
            Err(_) => unreachable!("a one-member committee with threshold 1 is valid"),
        };
        PointConfig {
            point,
            device_seed: Zeroizing::new(device_seed),
            committee,
            verifying_key_hash: None,
            programs: Vec::new(),
            request_ttl_ms: DEFAULT_REQUEST_TTL_MS,
            block_key_seed: Some(Zeroizing::new(dev_key_seed("organisation"))),
        }
    }

    /// Reads `config.json` from `dir`.
    pub fn load(dir: &Path) -> Result<PointConfig, ConfigError> {
        let path = dir.join("config.json");
        let text =
            Zeroizing::new(
                std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        serde_json::from_str(&text).map_err(|e| ConfigError::Malformed {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Writes `config.json` in `dir` (mode 0600, atomically).
    pub fn save(&self, dir: &Path) -> Result<(), ConfigError> {
        let path = dir.join("config.json");
        let text = Zeroizing::new(serde_json::to_string_pretty(self).map_err(|e| {
            ConfigError::Malformed {
                path: path.display().to_string(),
                message: e.to_string(),
            }
        })?);
        write_private(&path, text.as_bytes()).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Writes `bytes` to `path` atomically (a temporary file, fsync, rename), readable by
/// the owner only on Unix.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
