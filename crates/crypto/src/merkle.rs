//! The inclusion Merkle tree: a commitment to the ordered list of blocks a milestone
//! confirms, with logarithmic proofs that one block is in it.
//!
//! The shape is RFC 6962's (Certificate Transparency) with BLAKE2b-256, as in IOTA's
//! TIP-4, so leaves and inner nodes can never be confused:
//!
//! ```text
//! MTH({})       = BLAKE2b-256()
//! MTH({d})      = BLAKE2b-256(0x00 || d)
//! MTH(D[0..n])  = BLAKE2b-256(0x01 || MTH(D[0..k]) || MTH(D[k..n]))
//!                 where k is the largest power of two smaller than n
//! ```
//!
//! Unbalanced trees are split at powers of two rather than padded, so appending a leaf
//! never changes how earlier leaves are grouped. The inclusion root then binds the tree
//! hash to the leaf count, so that a proof authenticates the block's position in the
//! white-flag order and not only its membership:
//!
//! ```text
//! root(D) = BLAKE2b-256("weft/inclusion-root/v1" || u32 LE |D| || MTH(D))
//! ```

use weft_types::hash::blake2b256;
use weft_types::{BlockId, InclusionRoot};

const LEAF: u8 = 0x00;
const NODE: u8 = 0x01;

/// Why an inclusion proof does not check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The index is not below the leaf count.
    #[error("leaf index {index} outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The path has the wrong number of siblings for the index and size.
    #[error("proof has {actual} siblings, expected {expected}")]
    WrongPathLength {
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// The recomputed root differs.
    #[error("proof leads to a different root")]
    RootMismatch,
}

fn leaf_hash(id: &BlockId) -> [u8; 32] {
    blake2b256(&[&[LEAF], &id.0])
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    blake2b256(&[&[NODE], left, right])
}

/// Largest power of two strictly smaller than `n` (`n >= 2`), without loops that could
/// overflow on hostile sizes.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Domain prefix of the inclusion root.
pub const INCLUSION_ROOT_DOMAIN: &[u8] = b"weft/inclusion-root/v1";

/// Most leaves an inclusion tree may have (positions are `u32` on the wire).
pub const MAX_INCLUSION_LEAVES: u64 = u32::MAX as u64;

fn subtree_root(leaves: &[BlockId]) -> [u8; 32] {
    match leaves.len() {
        0 => blake2b256(&[]),
        1 => leaf_hash(&leaves[0]),
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&subtree_root(&leaves[..k]), &subtree_root(&leaves[k..]))
        }
    }
}

/// Binds the tree hash to the number of leaves, so a proof's index and size are
/// authenticated too (RFC 6962's hash alone lets the proof of leaf 2 of 3 pass as leaf 1
/// of 2): `BLAKE2b-256("weft/inclusion-root/v1" || u32 LE n || MTH(D))`.
fn sized_root(size: u64, tree_hash: &[u8; 32]) -> InclusionRoot {
    InclusionRoot(blake2b256(&[
        INCLUSION_ROOT_DOMAIN,
        &(size as u32).to_le_bytes(),
        tree_hash,
    ]))
}

/// The inclusion root of `ids` in the given (white-flag) order.
pub fn inclusion_root(ids: &[BlockId]) -> InclusionRoot {
    sized_root(ids.len() as u64, &subtree_root(ids))
}

/// A proof that a block id is the `index`-th leaf of an inclusion tree of `size` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// Position of the leaf.
    pub index: u64,
    /// Number of leaves.
    pub size: u64,
    /// Sibling hashes from the leaf up to the root.
    pub siblings: Vec<[u8; 32]>,
}

impl InclusionProof {
    /// Builds the proof for `ids[index]`.
    pub fn build(ids: &[BlockId], index: usize) -> Result<InclusionProof, MerkleError> {
        if index >= ids.len() {
            return Err(MerkleError::IndexOutOfRange {
                index: index as u64,
                size: ids.len() as u64,
            });
        }
        let mut siblings = Vec::new();
        let (mut lo, mut hi, mut i) = (0usize, ids.len(), index);
        // Walk down from the root, then reverse so siblings run leaf to root.
        while hi - lo > 1 {
            let k = split_point((hi - lo) as u64) as usize;
            if i < k {
                siblings.push(subtree_root(&ids[lo + k..hi]));
                hi = lo + k;
            } else {
                siblings.push(subtree_root(&ids[lo..lo + k]));
                lo += k;
                i -= k;
            }
        }
        siblings.reverse();
        Ok(InclusionProof {
            index: index as u64,
            size: ids.len() as u64,
            siblings,
        })
    }

    /// Checks that `id` is the proven leaf under `root`.
    pub fn verify(&self, id: &BlockId, root: &InclusionRoot) -> Result<(), MerkleError> {
        if self.root_of(id)? == *root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        }
    }

    /// The root this proof leads to from leaf `id` (an error if the path is malformed
    /// for its index and size).
    pub fn root_of(&self, id: &BlockId) -> Result<InclusionRoot, MerkleError> {
        if self.index >= self.size || self.size > MAX_INCLUSION_LEAVES {
            return Err(MerkleError::IndexOutOfRange {
                index: self.index,
                size: self.size,
            });
        }
        // Recompute the path shape top-down, as in `build`, recording which side each
        // sibling sits on.
        let mut sides = Vec::new();
        let (mut n, mut i) = (self.size, self.index);
        while n > 1 {
            let k = split_point(n);
            if i < k {
                sides.push(false); // sibling on the right
                n = k;
            } else {
                sides.push(true); // sibling on the left
                i -= k;
                n -= k;
            }
        }
        if sides.len() != self.siblings.len() {
            return Err(MerkleError::WrongPathLength {
                expected: sides.len(),
                actual: self.siblings.len(),
            });
        }
        let mut acc = leaf_hash(id);
        for (sibling, left) in self.siblings.iter().zip(sides.iter().rev()) {
            acc = if *left {
                node_hash(sibling, &acc)
            } else {
                node_hash(&acc, sibling)
            };
        }
        Ok(sized_root(self.size, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<BlockId> {
        (0..n)
            .map(|i| BlockId(blake2b256(&[&(i as u64).to_le_bytes()])))
            .collect()
    }

    #[test]
    fn small_trees_follow_the_definition() {
        assert_eq!(inclusion_root(&[]), sized_root(0, &blake2b256(&[])));
        let d = ids(3);
        assert_eq!(inclusion_root(&d[..1]), sized_root(1, &leaf_hash(&d[0])));
        let expected = node_hash(
            &node_hash(&leaf_hash(&d[0]), &leaf_hash(&d[1])),
            &leaf_hash(&d[2]),
        );
        assert_eq!(inclusion_root(&d), sized_root(3, &expected));
    }

    #[test]
    fn positions_are_authenticated() {
        // Without the size in the root, the proof of leaf 2 of 3 would also pass as
        // leaf 1 of 2 (its single sibling is MTH(d0, d1)).
        let d = ids(3);
        let root = inclusion_root(&d);
        let proof = InclusionProof::build(&d, 2).unwrap();
        let moved = InclusionProof {
            index: 1,
            size: 2,
            siblings: proof.siblings.clone(),
        };
        assert_eq!(moved.verify(&d[2], &root), Err(MerkleError::RootMismatch));
        assert_eq!(proof.verify(&d[2], &root), Ok(()));
    }

    #[test]
    fn hostile_sizes_do_not_hang() {
        let d = ids(2);
        let root = inclusion_root(&d);
        for size in [u64::MAX, 1 << 63, (1 << 63) + 1, MAX_INCLUSION_LEAVES + 1] {
            let p = InclusionProof {
                index: 0,
                size,
                siblings: vec![[0; 32]; 64],
            };
            assert!(p.verify(&d[0], &root).is_err());
        }
        let p = InclusionProof {
            index: 5,
            size: MAX_INCLUSION_LEAVES,
            siblings: vec![[0; 32]; 32],
        };
        assert!(p.verify(&d[0], &root).is_err());
    }

    #[test]
    fn every_leaf_proves_and_nothing_else_does() {
        for n in 1..=33 {
            let d = ids(n);
            let root = inclusion_root(&d);
            for i in 0..n {
                let proof = InclusionProof::build(&d, i).unwrap();
                assert_eq!(proof.verify(&d[i], &root), Ok(()), "n={n} i={i}");
                let other = BlockId([0xee; 32]);
                assert_eq!(proof.verify(&other, &root), Err(MerkleError::RootMismatch));
                if n > 1 {
                    let mut bad = proof.clone();
                    bad.siblings[0][0] ^= 1;
                    assert_eq!(bad.verify(&d[i], &root), Err(MerkleError::RootMismatch));
                    let mut short = proof.clone();
                    short.siblings.pop();
                    assert!(matches!(
                        short.verify(&d[i], &root),
                        Err(MerkleError::WrongPathLength { .. })
                    ));
                }
            }
        }
    }

    #[test]
    fn out_of_range_index_is_rejected() {
        let d = ids(4);
        assert!(matches!(
            InclusionProof::build(&d, 4),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
    }
}
