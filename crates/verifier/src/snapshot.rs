//! What a point needs to work offline, and the checks that make it trustworthy.
//!
//! A snapshot is downloaded from any node (which need not be trusted) and checked
//! against the point's own trust anchors ([`PointConfig`]):
//!
//! - every registry's recent roots by a [`RegistryProof`] against the state root of a
//!   milestone certified by the committee, and the registry's issuer and schema by its
//!   id (a hash of both);
//! - every program by its id (a hash of owner and body), which the operator pinned;
//! - the verifying key by its pinned BLAKE2b-256 hash.
//!
//! What cannot be proven from a state root is used only where a forgery cannot make
//! the point accept what the ledger would refuse: the used-nullifier lists (a removed
//! entry only delays the detection of a double claim to reconciliation, an added one
//! only makes the point stricter) and the device key's status (informational).

use std::path::Path;

use serde::{Deserialize, Serialize};
use weft_ledger::RegistryProof;
use weft_types::hash::blake2b256;
use weft_types::{BlockId, Did, Milestone, Program, ProgramId, RegistryCreate, RegistryId};

use crate::certificate::{verify_certificate, CertificateError};
use crate::config::PointConfig;

/// A program the point serves, as announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramEntry {
    /// Its id.
    pub id: ProgramId,
    /// The announcing agency.
    pub owner: Did,
    /// The program.
    pub program: Program,
}

/// An accepted registry: who issues it, of which schema, and its recent roots proven
/// against a certified milestone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryEntry {
    /// The issuer.
    pub issuer: Did,
    /// Its creation (schema, depth, chunk size, label): with the issuer, its id.
    pub create: RegistryCreate,
    /// Its recent roots, proven.
    pub proof: RegistryProof,
    /// The certified milestone the proof is against.
    pub milestone: Milestone,
    /// The block carrying that milestone.
    pub milestone_block_id: BlockId,
}

/// The nullifiers already used in one program round, as the ledger had them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundNullifiers {
    /// The program.
    pub program: ProgramId,
    /// The round.
    pub round: u32,
    /// The milestone they were read at.
    pub milestone: u32,
    /// The nullifiers.
    #[serde(with = "weft_ledger::registry::hex32_list")]
    pub nullifiers: Vec<[u8; 32]>,
}

/// Everything the point checks presentations with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The network's id (blocks are built for it).
    pub network_id: u64,
    /// The point's DID (as configured when synced).
    pub point: Did,
    /// The programs served.
    pub programs: Vec<ProgramEntry>,
    /// The accepted registries of those programs.
    pub registries: Vec<RegistryEntry>,
    /// The eligibility verifying key (compressed, hex).
    pub verifying_key: String,
    /// Used nullifiers per program round.
    pub nullifiers: Vec<RoundNullifiers>,
    /// Whether the ledger had the device key active at sync (`None`: unknown).
    pub device_active: Option<bool>,
    /// When it was synced (Unix ms, the point's clock).
    pub synced_at: u64,
}

/// Why a snapshot is refused.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A milestone's certificate does not check.
    #[error("registry {registry}: milestone {index} is not certified by the committee: {source}")]
    Certificate {
        /// The registry whose proof uses it.
        registry: RegistryId,
        /// The milestone index.
        index: u32,
        /// Why.
        source: CertificateError,
    },
    /// A registry proof does not lead to the certified state root.
    #[error("registry {0}: its recent roots are not proven by the certified milestone")]
    RegistryProof(RegistryId),
    /// A registry's id does not match its issuer and creation.
    #[error("registry {0}: its id does not match its issuer and schema")]
    RegistryId(RegistryId),
    /// A program's id does not match its owner and body (the program was changed).
    #[error("program {0}: its id does not match its owner and body (changed program)")]
    ProgramId(ProgramId),
    /// A program the point was not configured to serve.
    #[error("program {0} is not one this point serves")]
    UnknownProgram(ProgramId),
    /// A program fails its own limits.
    #[error("program {0} is malformed: {1}")]
    Program(ProgramId, String),
    /// The verifying key does not have the pinned hash.
    #[error("the verifying key's hash {got} is not the pinned {pinned}")]
    VerifyingKey {
        /// Its hash.
        got: String,
        /// The pinned one.
        pinned: String,
    },
    /// The verifying key is malformed.
    #[error("the verifying key is malformed: {0}")]
    VerifyingKeyFormat(String),
    /// The snapshot is for another point.
    #[error("the snapshot was made for point {0}")]
    OtherPoint(Did),
    /// Read or write failure.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Snapshot {
    /// The verifying key's bytes.
    pub fn verifying_key_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        hex::decode(&self.verifying_key)
            .map_err(|e| SnapshotError::VerifyingKeyFormat(e.to_string()))
    }

    /// The BLAKE2b-256 of the verifying key, hex (what the configuration pins).
    pub fn verifying_key_hash(&self) -> Result<String, SnapshotError> {
        Ok(hex::encode(blake2b256(&[&self.verifying_key_bytes()?])))
    }

    /// Checks everything against the configuration's trust anchors: the committee
    /// certifies each milestone, each registry proof leads to its certified state root,
    /// registry and program ids match their contents, programs are the pinned ones,
    /// and the verifying key has the pinned hash.
    pub fn check(&self, config: &PointConfig) -> Result<(), SnapshotError> {
        if self.point != config.point {
            return Err(SnapshotError::OtherPoint(self.point));
        }
        for r in &self.registries {
            let id = r.proof.registry;
            verify_certificate(&r.milestone, &config.committee).map_err(|source| {
                SnapshotError::Certificate {
                    registry: id,
                    index: r.milestone.essence.index,
                    source,
                }
            })?;
            r.proof
                .verify(&r.milestone.essence.state_root)
                .map_err(|_| SnapshotError::RegistryProof(id))?;
            if r.create.id(&r.issuer) != id {
                return Err(SnapshotError::RegistryId(id));
            }
        }
        for p in &self.programs {
            if p.program.id(&p.owner) != p.id {
                return Err(SnapshotError::ProgramId(p.id));
            }
            if !config.programs.contains(&p.id) {
                return Err(SnapshotError::UnknownProgram(p.id));
            }
            p.program
                .check_limits()
                .map_err(|e| SnapshotError::Program(p.id, e.to_string()))?;
        }
        let got = self.verifying_key_hash()?;
        match &config.verifying_key_hash {
            Some(pinned) if pinned.eq_ignore_ascii_case(&got) => {}
            Some(pinned) => {
                return Err(SnapshotError::VerifyingKey {
                    got,
                    pinned: pinned.clone(),
                })
            }
            None => {
                return Err(SnapshotError::VerifyingKey {
                    got,
                    pinned: "(none: run sync to pin it)".into(),
                })
            }
        }
        weft_circuits::groth16::prepared_verifying_key_from_bytes(&self.verifying_key_bytes()?)
            .map_err(|e| SnapshotError::VerifyingKeyFormat(e.to_string()))?;
        Ok(())
    }

    /// The newest milestone index the snapshot's proofs are against.
    pub fn milestone_index(&self) -> u32 {
        self.registries
            .iter()
            .map(|r| r.milestone.essence.index)
            .max()
            .unwrap_or(0)
    }

    /// Reads `snapshot.json` from `dir` (unchecked: call [`Snapshot::check`]).
    pub fn load(dir: &Path) -> Result<Snapshot, SnapshotError> {
        let path = dir.join("snapshot.json");
        let file = |message: String| SnapshotError::File {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read(&path).map_err(|e| file(e.to_string()))?;
        serde_json::from_slice(&text).map_err(|e| file(e.to_string()))
    }

    /// Writes `snapshot.json` in `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), SnapshotError> {
        let path = dir.join("snapshot.json");
        let file = |message: String| SnapshotError::File {
            path: path.display().to_string(),
            message,
        };
        let text = serde_json::to_vec_pretty(self).map_err(|e| file(e.to_string()))?;
        crate::config::write_private(&path, &text).map_err(|e| file(e.to_string()))
    }
}
