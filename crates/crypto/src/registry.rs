//! Issuer registries: append-only Poseidon Merkle trees of credential commitments.
//!
//! Each issuer appends one leaf (a credential commitment) per credential it issues and
//! revokes a credential by setting its leaf to zero. Holders prove membership against a
//! root inside the eligibility circuit, so the node hash is the circuit-friendly
//! `Poseidon(left, right)` ([`crate::poseidon::hash2`]), circomlib-compatible.
//!
//! # Notes on the layout
//!
//! The tree has a fixed `depth` (default 24, at most 32): `2^depth` leaf positions, leaf
//! `i` at position `i`, every position not yet appended holding the zero leaf. An empty
//! subtree of height `h` has the root
//!
//! ```text
//! E_0 = 0,    E_{h+1} = Poseidon(E_h, E_h)
//! ```
//!
//! which is computed once per depth ([`empty_roots`]). Only the non-empty prefix of every
//! level is stored, densely: level `h` holds nodes `0 .. ceil(len / 2^h)`, so a registry of
//! `n` leaves keeps about `2n` field elements (64 MiB for 2^20 leaves) and any missing
//! node is `E_h`. That makes
//!
//! - `append` and `update`: `depth` hashes (one path to the root);
//! - building from `n` leaves: `n` hashes in total, level by level, each level in parallel;
//! - an authentication path or a `2^k`-leaf chunk with its `depth - k` siblings: lookups;
//! - bulk issuance ([`Registry::extend`]) and bulk revocation ([`Registry::update_many`]):
//!   each touched ancestor hashed once, about two hashes per leaf for a contiguous batch.
//!
//! A revoked leaf is the zero leaf. A commitment is a Poseidon output, so it is zero
//! only with probability `1/p`; a zeroed position therefore opens to no credential.

use std::sync::OnceLock;

use ark_ff::Zero;
use rayon::prelude::*;

use crate::poseidon::{fr_from_bytes_be, fr_to_bytes_be, hash2, Fr};

/// The default registry depth: 2^24 (16.7 million) credentials per registry.
pub const DEFAULT_DEPTH: u8 = 24;
/// The largest depth a registry may have.
pub const MAX_DEPTH: u8 = 32;

/// Why a registry operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The depth is not in `1..=MAX_DEPTH`.
    #[error("registry depth {0} outside 1..={max}", max = MAX_DEPTH)]
    Depth(u8),
    /// Every leaf position is used.
    #[error("registry of depth {0} is full")]
    Full(u8),
    /// The leaf index has not been appended.
    #[error("leaf index {index} not below the registry size {len}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The number of leaves appended.
        len: u64,
    },
    /// A chunk size `2^k` larger than the tree or a chunk index past its end.
    #[error("chunk of 2^{k} leaves number {index} does not exist at depth {depth}")]
    Chunk {
        /// log2 of the chunk size.
        k: u8,
        /// The chunk's index.
        index: u64,
        /// The tree depth.
        depth: u8,
    },
    /// A path or chunk of the wrong shape.
    #[error("malformed path or chunk")]
    Malformed,
}

/// `E_h` for `h = 0..=MAX_DEPTH`: the roots of empty subtrees, computed once.
pub fn empty_roots() -> &'static [Fr] {
    static EMPTY: OnceLock<Vec<Fr>> = OnceLock::new();
    EMPTY.get_or_init(|| {
        let mut e = Vec::with_capacity(MAX_DEPTH as usize + 1);
        e.push(Fr::zero());
        for h in 0..MAX_DEPTH as usize {
            e.push(hash2(e[h], e[h]));
        }
        e
    })
}

/// A Poseidon Merkle tree of credential commitments (see the module notes).
#[derive(Debug, Clone)]
pub struct Registry {
    depth: u8,
    /// `levels[h]` = the stored (non-empty prefix) nodes at height `h`; `levels[0]` are
    /// the leaves and `levels[depth]` holds at most the root.
    levels: Vec<Vec<Fr>>,
}

/// An authentication path: the siblings from the leaf up to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryPath {
    /// The leaf position; bit `h` says whether the node at height `h` is a right child.
    pub index: u64,
    /// `siblings[h]` is the sibling of the path's node at height `h`.
    pub siblings: Vec<Fr>,
}

impl RegistryPath {
    /// The root this path and `leaf` hash up to.
    pub fn root(&self, leaf: Fr) -> Fr {
        self.siblings
            .iter()
            .enumerate()
            .fold(leaf, |node, (h, sib)| {
                if self.index.checked_shr(h as u32).unwrap_or(0) & 1 == 1 {
                    hash2(*sib, node)
                } else {
                    hash2(node, *sib)
                }
            })
    }

    /// `index` (u64 big-endian) followed by the 32-byte big-endian siblings.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.siblings.len());
        out.extend_from_slice(&self.index.to_be_bytes());
        for s in &self.siblings {
            out.extend_from_slice(&fr_to_bytes_be(s));
        }
        out
    }

    /// Parses [`RegistryPath::to_bytes`] strictly (canonical field elements, at most
    /// [`MAX_DEPTH`] siblings, an index that fits the depth).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RegistryError> {
        let (index, rest) = bytes.split_at_checked(8).ok_or(RegistryError::Malformed)?;
        let mut ix = [0u8; 8];
        ix.copy_from_slice(index);
        let index = u64::from_be_bytes(ix);
        if rest.len() % 32 != 0 || rest.len() / 32 > MAX_DEPTH as usize {
            return Err(RegistryError::Malformed);
        }
        let siblings = rest
            .chunks_exact(32)
            .map(|c| {
                let mut b = [0u8; 32];
                b.copy_from_slice(c);
                fr_from_bytes_be(&b).map_err(|_| RegistryError::Malformed)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if index >> siblings.len() != 0 {
            return Err(RegistryError::Malformed);
        }
        Ok(RegistryPath { index, siblings })
    }

    /// Whether `leaf` is at `self.index` in the tree with `root`.
    pub fn verify(&self, leaf: Fr, root: Fr) -> bool {
        self.siblings.len() <= MAX_DEPTH as usize
            && self.index >> self.siblings.len() == 0
            && self.root(leaf) == root
    }
}

/// A whole aligned `2^k`-leaf chunk and the `depth - k` siblings of its subtree root:
/// what a wallet downloads to find its own path without revealing which leaf is its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryChunk {
    /// log2 of the number of leaves.
    pub k: u8,
    /// Which chunk: leaves `index * 2^k .. (index + 1) * 2^k`.
    pub index: u64,
    /// The `2^k` leaves (zero where not appended or revoked).
    pub leaves: Vec<Fr>,
    /// Siblings of the chunk's subtree root, from height `k` up to the root.
    pub siblings: Vec<Fr>,
}

impl RegistryChunk {
    /// The root of the chunk's own subtree (`2^k - 1` hashes).
    pub fn subtree_root(&self) -> Fr {
        let mut level = self.leaves.clone();
        while level.len() > 1 {
            level = level.chunks_exact(2).map(|p| hash2(p[0], p[1])).collect();
        }
        level.first().copied().unwrap_or_else(Fr::zero)
    }

    /// The registry root this chunk hashes to.
    pub fn root(&self) -> Fr {
        RegistryPath {
            index: self.index,
            siblings: self.siblings.clone(),
        }
        .root(self.subtree_root())
    }

    /// The authentication path of leaf `offset` of the chunk, checked against `root`.
    pub fn path(&self, offset: u64, root: Fr) -> Result<RegistryPath, RegistryError> {
        let k = self.k as usize;
        if k > 20
            || self.leaves.len() != 1usize << k
            || offset >> k != 0
            || self.index >> (63 - k) != 0
        {
            return Err(RegistryError::Malformed);
        }
        let mut siblings = Vec::with_capacity(k + self.siblings.len());
        let mut level = self.leaves.clone();
        let mut pos = offset as usize;
        for _ in 0..k {
            siblings.push(level[pos ^ 1]);
            level = level.chunks_exact(2).map(|p| hash2(p[0], p[1])).collect();
            pos >>= 1;
        }
        siblings.extend_from_slice(&self.siblings);
        let path = RegistryPath {
            index: (self.index << k) | offset,
            siblings,
        };
        if path.verify(self.leaves[offset as usize], root) {
            Ok(path)
        } else {
            Err(RegistryError::Malformed)
        }
    }
}

/// The parents of one level: pairs hashed in parallel, a missing right child is `empty`.
fn parents(children: &[Fr], empty: Fr) -> Vec<Fr> {
    children
        .par_chunks(2)
        .with_min_len(256)
        .map(|p| hash2(p[0], p.get(1).copied().unwrap_or(empty)))
        .collect()
}

impl Registry {
    /// An empty registry of the given depth.
    pub fn new(depth: u8) -> Result<Self, RegistryError> {
        if depth == 0 || depth > MAX_DEPTH {
            return Err(RegistryError::Depth(depth));
        }
        Ok(Registry {
            depth,
            levels: vec![Vec::new(); depth as usize + 1],
        })
    }

    /// A registry holding `leaves` at positions `0..leaves.len()`, built level by level in
    /// parallel (one hash per internal node).
    pub fn from_leaves(depth: u8, leaves: Vec<Fr>) -> Result<Self, RegistryError> {
        let mut reg = Registry::new(depth)?;
        if (leaves.len() as u128) > 1u128 << depth {
            return Err(RegistryError::Full(depth));
        }
        reg.levels[0] = leaves;
        for (h, empty) in empty_roots().iter().enumerate().take(depth as usize) {
            let up = parents(&reg.levels[h], *empty);
            reg.levels[h + 1] = up;
        }
        Ok(reg)
    }

    /// The tree depth.
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The number of leaves appended (revoked ones included).
    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Whether nothing was appended yet.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// The node at height `h`, position `i` (`E_h` where nothing is stored).
    fn node(&self, h: usize, i: u64) -> Fr {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.levels[h].get(i).copied())
            .unwrap_or(empty_roots()[h])
    }

    /// The current root.
    pub fn root(&self) -> Fr {
        self.node(self.depth as usize, 0)
    }

    /// The leaf at `index`.
    pub fn leaf(&self, index: u64) -> Result<Fr, RegistryError> {
        self.check_index(index)?;
        Ok(self.node(0, index))
    }

    fn check_index(&self, index: u64) -> Result<(), RegistryError> {
        if index < self.len() {
            Ok(())
        } else {
            Err(RegistryError::IndexOutOfRange {
                index,
                len: self.len(),
            })
        }
    }

    /// Recomputes the ancestors of leaf `index` (`depth` hashes).
    fn rehash_path(&mut self, index: u64) {
        let mut i = index as usize;
        for h in 0..self.depth as usize {
            let left = self.node(h, (i & !1) as u64);
            let right = self.node(h, (i | 1) as u64);
            let parent = hash2(left, right);
            i >>= 1;
            let up = &mut self.levels[h + 1];
            if i == up.len() {
                up.push(parent);
            } else {
                up[i] = parent;
            }
        }
    }

    /// Appends a leaf and returns its index.
    pub fn append(&mut self, leaf: Fr) -> Result<u64, RegistryError> {
        let index = self.len();
        if (index as u128) >= 1u128 << self.depth {
            return Err(RegistryError::Full(self.depth));
        }
        self.levels[0].push(leaf);
        self.rehash_path(index);
        Ok(index)
    }

    /// Replaces the leaf at `index` (already appended).
    pub fn update(&mut self, index: u64, leaf: Fr) -> Result<(), RegistryError> {
        self.check_index(index)?;
        self.levels[0][index as usize] = leaf;
        self.rehash_path(index);
        Ok(())
    }

    /// Revokes the credential at `index`: its leaf becomes zero.
    pub fn revoke(&mut self, index: u64) -> Result<(), RegistryError> {
        self.update(index, Fr::zero())
    }

    /// Recomputes the parents of the sorted, deduplicated `dirty` positions at every
    /// level: each touched ancestor is hashed once, each level in parallel.
    fn rehash_many(&mut self, mut dirty: Vec<usize>) {
        for h in 0..self.depth as usize {
            dirty = dirty.into_iter().map(|i| i >> 1).collect();
            dirty.dedup();
            let me = &*self;
            let parents: Vec<Fr> = dirty
                .par_iter()
                .with_min_len(64)
                .map(|&i| hash2(me.node(h, (2 * i) as u64), me.node(h, (2 * i + 1) as u64)))
                .collect();
            let up = &mut self.levels[h + 1];
            for (&i, parent) in dirty.iter().zip(parents) {
                if i == up.len() {
                    up.push(parent);
                } else if let Some(slot) = up.get_mut(i) {
                    *slot = parent;
                }
            }
        }
    }

    /// Appends many leaves at once (about two hashes per leaf instead of `depth`);
    /// returns the index of the first.
    pub fn extend(&mut self, leaves: &[Fr]) -> Result<u64, RegistryError> {
        let first = self.len();
        if (first as u128) + (leaves.len() as u128) > 1u128 << self.depth {
            return Err(RegistryError::Full(self.depth));
        }
        self.levels[0].extend_from_slice(leaves);
        let start = first as usize;
        self.rehash_many((start..start + leaves.len()).collect());
        Ok(first)
    }

    /// Sets many already-appended leaves at once (for example a bulk revocation with
    /// zero leaves); touched ancestors are hashed once.
    pub fn update_many(&mut self, updates: &[(u64, Fr)]) -> Result<(), RegistryError> {
        for (index, _) in updates {
            self.check_index(*index)?;
        }
        let mut dirty = Vec::with_capacity(updates.len());
        for (index, leaf) in updates {
            self.levels[0][*index as usize] = *leaf;
            dirty.push(*index as usize);
        }
        dirty.sort_unstable();
        dirty.dedup();
        self.rehash_many(dirty);
        Ok(())
    }

    /// The authentication path of leaf `index`.
    pub fn path(&self, index: u64) -> Result<RegistryPath, RegistryError> {
        self.check_index(index)?;
        let siblings = (0..self.depth as usize)
            .map(|h| self.node(h, (index >> h) ^ 1))
            .collect();
        Ok(RegistryPath { index, siblings })
    }

    /// The aligned chunk number `index` of `2^k` leaves, with its siblings to the root.
    pub fn chunk(&self, k: u8, index: u64) -> Result<RegistryChunk, RegistryError> {
        let bad = RegistryError::Chunk {
            k,
            index,
            depth: self.depth,
        };
        if k > self.depth || k > 20 || (index as u128) >= 1u128 << (self.depth - k) {
            return Err(bad);
        }
        let start = index << k;
        let leaves = (0..1u64 << k).map(|o| self.node(0, start + o)).collect();
        let siblings = (k as usize..self.depth as usize)
            .map(|h| self.node(h, (index >> (h - k as usize)) ^ 1))
            .collect();
        Ok(RegistryChunk {
            k,
            index,
            leaves,
            siblings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u64) -> Fr {
        Fr::from(i * 1_000_003 + 7)
    }

    /// The root by the definition: hash every level of the full, zero-padded tree.
    fn naive_root(depth: u8, leaves: &[Fr]) -> Fr {
        let mut level: Vec<Fr> = (0..1u64 << depth)
            .map(|i| leaves.get(i as usize).copied().unwrap_or_default())
            .collect();
        while level.len() > 1 {
            level = level.chunks(2).map(|p| hash2(p[0], p[1])).collect();
        }
        level[0]
    }

    #[test]
    fn append_update_and_build_agree_with_the_definition() {
        let depth = 6;
        let mut reg = Registry::new(depth).unwrap();
        assert_eq!(reg.root(), empty_roots()[depth as usize]);
        assert_eq!(reg.root(), naive_root(depth, &[]));
        let mut leaves = Vec::new();
        for i in 0..37 {
            assert_eq!(reg.append(leaf(i)).unwrap(), i);
            leaves.push(leaf(i));
            assert_eq!(reg.root(), naive_root(depth, &leaves));
        }
        reg.revoke(5).unwrap();
        leaves[5] = Fr::zero();
        reg.update(36, leaf(99)).unwrap();
        leaves[36] = leaf(99);
        assert_eq!(reg.root(), naive_root(depth, &leaves));
        let built = Registry::from_leaves(depth, leaves.clone()).unwrap();
        assert_eq!(built.root(), reg.root());
        for i in 0..leaves.len() as u64 {
            let p = reg.path(i).unwrap();
            assert!(p.verify(leaves[i as usize], reg.root()));
            assert!(!p.verify(leaf(1234), reg.root()));
        }
    }

    #[test]
    fn batch_operations_match_single_ones() {
        let depth = 7;
        let mut one = Registry::new(depth).unwrap();
        let mut many = Registry::new(depth).unwrap();
        for chunk in [
            &(0..5).collect::<Vec<u64>>()[..],
            &(5..6).collect::<Vec<_>>(),
            &(6..40).collect::<Vec<_>>(),
        ] {
            for i in chunk {
                one.append(leaf(*i)).unwrap();
            }
            let leaves: Vec<Fr> = chunk.iter().map(|i| leaf(*i)).collect();
            assert_eq!(many.extend(&leaves).unwrap(), chunk[0]);
            assert_eq!(one.root(), many.root());
        }
        let updates = [
            (3u64, Fr::zero()),
            (39, leaf(77)),
            (3, leaf(5)),
            (17, Fr::zero()),
        ];
        for (i, l) in updates {
            one.update(i, l).unwrap();
        }
        many.update_many(&updates).unwrap();
        assert_eq!(one.root(), many.root());
        assert_eq!(
            many.leaf(3).unwrap(),
            leaf(5),
            "the last update of a position wins"
        );
        for i in 0..40 {
            assert_eq!(one.path(i).unwrap(), many.path(i).unwrap());
        }
        assert!(many.update_many(&[(40, Fr::zero())]).is_err());
        assert!(many.extend(&vec![Fr::zero(); 89]).is_err());
        assert!(many.extend(&vec![Fr::zero(); 88]).is_ok());
    }

    #[test]
    fn path_bytes_round_trip() {
        let reg = Registry::from_leaves(24, (0..10).map(leaf).collect()).unwrap();
        let p = reg.path(9).unwrap();
        let bytes = p.to_bytes();
        assert_eq!(bytes.len(), 8 + 24 * 32);
        assert_eq!(RegistryPath::from_bytes(&bytes).unwrap(), p);
        assert!(RegistryPath::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut bad = bytes.clone();
        bad[8..40].copy_from_slice(&[0xff; 32]);
        assert!(
            RegistryPath::from_bytes(&bad).is_err(),
            "non-canonical sibling"
        );
        let mut big = bytes.clone();
        big[0] = 0x80;
        assert!(
            RegistryPath::from_bytes(&big).is_err(),
            "index beyond the depth"
        );
    }

    #[test]
    fn revoked_leaf_no_longer_opens() {
        let mut reg = Registry::from_leaves(8, (0..10).map(leaf).collect()).unwrap();
        let before = reg.path(3).unwrap();
        reg.revoke(3).unwrap();
        assert!(!before.verify(leaf(3), reg.root()));
        assert!(!reg.path(3).unwrap().verify(leaf(3), reg.root()));
        assert!(reg.path(3).unwrap().verify(Fr::zero(), reg.root()));
    }

    #[test]
    fn errors() {
        assert_eq!(Registry::new(0).unwrap_err(), RegistryError::Depth(0));
        assert_eq!(Registry::new(33).unwrap_err(), RegistryError::Depth(33));
        assert!(Registry::new(32).is_ok());
        let mut reg = Registry::new(2).unwrap();
        for i in 0..4 {
            reg.append(leaf(i)).unwrap();
        }
        assert_eq!(reg.append(leaf(4)), Err(RegistryError::Full(2)));
        assert!(matches!(
            reg.path(4),
            Err(RegistryError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            reg.update(9, leaf(0)),
            Err(RegistryError::IndexOutOfRange { .. })
        ));
        assert!(Registry::from_leaves(2, (0..5).map(leaf).collect()).is_err());
        assert!(reg.chunk(3, 0).is_err());
        assert!(reg.chunk(1, 2).is_err());
    }

    #[test]
    fn chunks_serve_paths() {
        let reg = Registry::from_leaves(10, (0..300).map(leaf).collect()).unwrap();
        for (k, idx) in [(0u8, 5u64), (4, 0), (4, 18), (6, 4), (10, 0)] {
            let c = reg.chunk(k, idx).unwrap();
            assert_eq!(c.root(), reg.root());
            for off in [0u64, (1 << k) - 1] {
                let p = c.path(off, reg.root()).unwrap();
                assert_eq!(p, reg.path(p.index).unwrap_or_else(|_| p.clone()));
            }
        }
        let c = reg.chunk(4, 2).unwrap();
        assert!(c.path(1, Fr::from(5u64)).is_err());
        let mut hostile = c.clone();
        hostile.k = 200;
        assert!(hostile.path(0, reg.root()).is_err());
        let long = RegistryPath {
            index: 3,
            siblings: vec![Fr::zero(); 100],
        };
        let _ = long.root(Fr::zero());
        assert!(!long.verify(Fr::zero(), reg.root()));
        assert!(c.path(16, reg.root()).is_err());
    }

    #[test]
    fn deep_registry_paths() {
        let mut reg = Registry::new(32).unwrap();
        let i = reg.append(leaf(1)).unwrap();
        reg.append(leaf(2)).unwrap();
        let p = reg.path(i).unwrap();
        assert_eq!(p.siblings.len(), 32);
        assert!(p.verify(leaf(1), reg.root()));
        let bad = RegistryPath {
            index: 1 << 40,
            siblings: p.siblings.clone(),
        };
        assert!(!bad.verify(leaf(1), reg.root()));
    }
}
