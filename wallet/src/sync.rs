//! Private registry sync: whole chunks in, fresh authentication paths out.
//!
//! A wallet never asks for its own leaf: the server (a node, or the tablet of a
//! distribution point that carried a sync file to a camp with no connection) would learn
//! which credential is whose. It fetches the aligned `2^k`-leaf chunk holding its leaf
//! with the `d - k` siblings above it, derives its own path
//! (`weft_crypto::registry::RegistryChunk::path`) and checks it against the registry's
//! root.
//!
//! # Notes on the forms
//!
//! The node's `GET /api/v1/registries/{registryId}/chunks/{chunkIndex}` answers a
//! [`ChunkResponse`]:
//!
//! ```json
//! {"registry": "<64 hex>", "k": 10, "index": 3, "leaves": ["0x<64 hex>", ... 2^k],
//!  "siblings": ["0x..", ... d-k], "root": "0x..", "milestone": 1234}
//! ```
//!
//! A sync file ([`SyncBundle`]) is
//!
//! ```json
//! {"type": "weft-sync", "version": 1,
//!  "roots": [{"registry": "<64 hex>", "root": "0x..", "milestone": 1234}],
//!  "chunks": [<ChunkResponse>, ...],
//!  "programs": [{"id": "0x..", "name": "Winter food 2026"}],
//!  "issuers": [{"did": "did:weft:..", "registries": ["<64 hex>"]}]}
//! ```
//!
//! A distribution point carries the chunks of everyone in the camp; each wallet keeps
//! those holding its leaves and ignores the rest.
//!
//! # Rules
//!
//! - A root newer (by milestone) than the one known replaces it; an older one is ignored.
//! - A chunk must hash to its own `root`, and that root must be the newest known for its
//!   registry (else [`WalletError::StaleRegistry`]): a path against an old root would make
//!   proofs that verifiers reject.
//! - The leaf at a credential's position must be its commitment
//!   ([`WalletError::LeafMismatch`] otherwise), or zero: then the issuer revoked it, and
//!   the credential is marked revoked (reported, not an error).
//! - Everything is checked before anything changes: any error leaves the wallet as it was.

use serde::{Deserialize, Serialize};
use weft_crypto::registry::RegistryChunk;

use ark_ff::Zero;

use crate::model::{CachedPath, FrHex, IssuerInfo, ProgramInfo, RegistryId, RootInfo, WalletData};
use crate::{Result, WalletError};

/// The largest chunk the wallet accepts (2^16 leaves).
pub const MAX_K: u8 = 16;

/// One registry chunk as the node serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkResponse {
    /// The registry id.
    pub registry: RegistryId,
    /// log2 of the number of leaves.
    pub k: u8,
    /// Which chunk (leaves `index * 2^k ..`).
    pub index: u64,
    /// The `2^k` leaves.
    pub leaves: Vec<FrHex>,
    /// The `d - k` siblings of the chunk's subtree root.
    pub siblings: Vec<FrHex>,
    /// The registry root at `milestone`.
    pub root: FrHex,
    /// The milestone that confirmed the root.
    pub milestone: u32,
}

impl ChunkResponse {
    /// Parses the node's JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| WalletError::Sync(format!("chunk: {e}")))
    }

    /// The registry depth (`k` + siblings).
    pub fn depth(&self) -> usize {
        self.k as usize + self.siblings.len()
    }

    fn to_chunk(&self) -> Result<RegistryChunk> {
        if self.k > MAX_K
            || self.leaves.len() != 1usize << self.k
            || self.depth() > 32
            || self.index >> (self.depth() - self.k as usize).min(63) != 0
        {
            return Err(WalletError::Sync(format!(
                "chunk {} of registry {} has the wrong shape",
                self.index, self.registry
            )));
        }
        Ok(RegistryChunk {
            k: self.k,
            index: self.index,
            leaves: self.leaves.iter().map(|l| l.0).collect(),
            siblings: self.siblings.iter().map(|s| s.0).collect(),
        })
    }
}

/// A root entry of a sync file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootEntry {
    /// The registry.
    pub registry: RegistryId,
    /// Its root.
    pub root: FrHex,
    /// The milestone that confirmed it.
    pub milestone: u32,
}

/// The `type` of a sync file.
pub const SYNC_TYPE: &str = "weft-sync";

/// A sync file: roots, chunks and programs (module notes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncBundle {
    /// Always [`SYNC_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Format version (1).
    pub version: u32,
    /// The newest roots.
    #[serde(default)]
    pub roots: Vec<RootEntry>,
    /// Chunks.
    #[serde(default)]
    pub chunks: Vec<ChunkResponse>,
    /// Aid programs.
    #[serde(default)]
    pub programs: Vec<ProgramInfo>,
    /// Issuers (DIDs) and their registries.
    #[serde(default)]
    pub issuers: Vec<IssuerInfo>,
}

impl SyncBundle {
    /// An empty bundle of the current version.
    pub fn new() -> Self {
        SyncBundle {
            kind: SYNC_TYPE.into(),
            version: 1,
            ..Default::default()
        }
    }

    /// Parses a sync file.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let b: SyncBundle = serde_json::from_slice(bytes)
            .map_err(|e| WalletError::Sync(format!("sync file: {e}")))?;
        if b.kind != SYNC_TYPE || b.version != 1 {
            return Err(WalletError::Sync("not a version-1 Weft sync file".into()));
        }
        Ok(b)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// What a sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Registries whose known root moved forward.
    pub roots_updated: usize,
    /// Credentials (by id) whose path was refreshed.
    pub refreshed: Vec<String>,
    /// Credentials (by id) found revoked.
    pub revoked: Vec<String>,
    /// Programs now known.
    pub programs: usize,
    /// Issuers now known.
    pub issuers: usize,
}

/// Applies `bundle` to a copy of `data` and returns it with the report; `data` itself is
/// unchanged, so an error changes nothing.
pub fn apply(data: &WalletData, bundle: &SyncBundle) -> Result<(WalletData, SyncReport)> {
    let mut next = data.clone();
    let mut report = SyncReport::default();
    // Roots: from the root list and from the chunks themselves; the newest wins.
    let mut offered: Vec<RootEntry> = bundle.roots.clone();
    offered.extend(bundle.chunks.iter().map(|c| RootEntry {
        registry: c.registry,
        root: c.root,
        milestone: c.milestone,
    }));
    for e in &offered {
        let newer = next
            .roots
            .get(&e.registry)
            .is_none_or(|known| e.milestone > known.milestone);
        let same = next
            .roots
            .get(&e.registry)
            .is_some_and(|known| e.milestone == known.milestone);
        if same && next.roots[&e.registry].root != e.root {
            return Err(WalletError::Sync(format!(
                "two different roots for registry {} at milestone {}",
                e.registry, e.milestone
            )));
        }
        if newer {
            next.roots.insert(
                e.registry,
                RootInfo {
                    root: e.root,
                    milestone: e.milestone,
                },
            );
        }
    }
    report.roots_updated = next
        .roots
        .iter()
        .filter(|(r, v)| data.roots.get(r) != Some(v))
        .count();
    for c in &bundle.chunks {
        let ours: Vec<usize> = next
            .credentials
            .iter()
            .enumerate()
            .filter(|(_, cred)| {
                cred.registry == c.registry && cred.leaf_index >> c.k.min(63) == c.index
            })
            .map(|(i, _)| i)
            .collect();
        if ours.is_empty() {
            continue;
        }
        let chunk = c.to_chunk()?;
        let newest = next.roots.get(&c.registry).copied();
        if newest.is_some_and(|n| n.milestone > c.milestone) {
            return Err(WalletError::StaleRegistry(format!(
                "the chunk of registry {} is from milestone {}, but milestone {} is known",
                c.registry,
                c.milestone,
                newest.map(|n| n.milestone).unwrap_or(0)
            )));
        }
        if chunk.root() != c.root.0 {
            return Err(WalletError::Sync(format!(
                "chunk {} of registry {} does not hash to its root",
                c.index, c.registry
            )));
        }
        for i in ours {
            let cred = &next.credentials[i];
            let id = cred.id();
            let offset = cred.leaf_index & ((1u64 << c.k) - 1);
            let leaf = chunk.leaves[offset as usize];
            if leaf.is_zero() {
                let cred = &mut next.credentials[i];
                cred.revoked = true;
                cred.path = None;
                report.revoked.push(id);
                continue;
            }
            if leaf != cred.commitment() {
                return Err(WalletError::LeafMismatch(id));
            }
            let path = chunk
                .path(offset, c.root.0)
                .map_err(|e| WalletError::Sync(format!("chunk path: {e}")))?;
            let cred = &mut next.credentials[i];
            cred.revoked = false;
            cred.path = Some(CachedPath {
                root: c.root,
                milestone: c.milestone,
                siblings: path.siblings.iter().map(|s| FrHex(*s)).collect(),
            });
            report.refreshed.push(id);
        }
    }
    if !bundle.programs.is_empty() {
        for p in &bundle.programs {
            if p.name.trim().is_empty() || p.name.len() > 200 {
                return Err(WalletError::Sync("a program without a usable name".into()));
            }
        }
        next.programs = bundle.programs.clone();
        report.programs = next.programs.len();
    }
    if !bundle.issuers.is_empty() {
        if bundle.issuers.iter().any(|i| i.did.trim().is_empty()) {
            return Err(WalletError::Sync("an issuer without a DID".into()));
        }
        next.issuers = bundle.issuers.clone();
        report.issuers = next.issuers.len();
    }
    Ok((next, report))
}

/// Checks that a credential's cached path is usable now: the credential is not revoked,
/// it has a path, and the path is against the newest root the wallet synced for its
/// registry. A path against any other root is stale ([`WalletError::StaleRegistry`]):
/// the wallet proves only against a root it has itself checked a chunk against.
pub fn check_fresh(data: &WalletData, cred: &crate::StoredCredential) -> Result<()> {
    let id = cred.id();
    if cred.revoked {
        return Err(WalletError::Revoked(id));
    }
    let path = cred.path.as_ref().ok_or_else(|| {
        WalletError::StaleRegistry(format!(
            "credential {id} has never been synced: sync its registry first"
        ))
    })?;
    let newest = data.roots.get(&cred.registry).ok_or_else(|| {
        WalletError::StaleRegistry(format!(
            "the wallet knows no root of registry {}: sync it first",
            cred.registry
        ))
    })?;
    if newest.root != path.root {
        return Err(WalletError::StaleRegistry(format!(
            "credential {id} has a path for the root of milestone {}, but the newest root the wallet knows for registry {} is of milestone {}: sync its chunk",
            path.milestone, cred.registry, newest.milestone
        )));
    }
    Ok(())
}
