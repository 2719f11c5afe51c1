//! An incremental, order-independent commitment to a set: the elliptic-curve multiset
//! hash (ECMH) over Ristretto.
//!
//! The ledger state is a set of key–value entries. Its root must be cheap to update when
//! a milestone changes a few entries among millions, must not depend on the order
//! entries were written, and must let a snapshot of the whole state be checked against a
//! certified root. A Merkle tree over sorted keys costs O(n) to rebuild or a sparse tree
//! to maintain; the multiset hash costs O(1) per change:
//!
//! ```text
//! H(e)      = Ristretto-from-uniform-bytes(BLAKE2b-512("weft/state-element/v1" || e))
//! M(S)      = Σ_{e ∈ S} H(e)                      (a Ristretto point)
//! insert e  : M ← M + H(e)          remove e : M ← M − H(e)
//! ```
//!
//! Finding two different multisets with the same sum reduces to the discrete logarithm
//! problem in the Ristretto group when `H` is modelled as a random oracle (Maitin-Shepard,
//! Tibouchi and Aranha, "Elliptic Curve Multiset Hash", 2016). `from_uniform_bytes` maps
//! 64 uniform bytes to a uniformly distributed group element (two Elligator maps, added),
//! which is what that argument needs. Updating a value is `remove(old) + insert(new)`.

use blake2::{Blake2b512, Digest};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;

/// Domain prefix of an element's hash to the group.
pub const ELEMENT_DOMAIN: &[u8] = b"weft/state-element/v1";

/// A multiset hash: the sum of the elements' group hashes, and how many there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultisetHash {
    sum: RistrettoPoint,
    count: u64,
}

impl Default for MultisetHash {
    fn default() -> Self {
        MultisetHash {
            sum: RistrettoPoint::identity(),
            count: 0,
        }
    }
}

fn element_point(element: &[u8]) -> RistrettoPoint {
    let mut h = Blake2b512::new();
    h.update(ELEMENT_DOMAIN);
    h.update(element);
    let wide: [u8; 64] = h.finalize().into();
    RistrettoPoint::from_uniform_bytes(&wide)
}

impl MultisetHash {
    /// The hash of the empty set.
    pub fn new() -> MultisetHash {
        MultisetHash::default()
    }

    /// Restores a hash from its compressed sum and count (as stored).
    pub fn from_parts(sum: [u8; 32], count: u64) -> Option<MultisetHash> {
        let sum = curve25519_dalek::ristretto::CompressedRistretto(sum).decompress()?;
        Some(MultisetHash { sum, count })
    }

    /// Adds one element.
    pub fn insert(&mut self, element: &[u8]) {
        self.sum += element_point(element);
        self.count += 1;
    }

    /// Removes one element (which must have been inserted).
    pub fn remove(&mut self, element: &[u8]) {
        self.sum -= element_point(element);
        self.count = self.count.saturating_sub(1);
    }

    /// Adds and removes many elements at once, hashing them to the group on all cores.
    /// Equal to inserting and removing them one by one (the group is commutative).
    pub fn update_many(&mut self, inserted: &[Vec<u8>], removed: &[Vec<u8>]) {
        use rayon::prelude::*;
        let sum_of = |elements: &[Vec<u8>]| -> RistrettoPoint {
            elements
                .par_iter()
                .map(|e| element_point(e))
                .reduce(RistrettoPoint::identity, |a, b| a + b)
        };
        let (add, sub) = rayon::join(|| sum_of(inserted), || sum_of(removed));
        self.sum += add - sub;
        self.count = (self.count + inserted.len() as u64).saturating_sub(removed.len() as u64);
    }

    /// The compressed sum.
    pub fn sum_bytes(&self) -> [u8; 32] {
        self.sum.compress().to_bytes()
    }

    /// Elements in the set.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_matter_and_removal_undoes_insertion() {
        let mut a = MultisetHash::new();
        a.insert(b"x");
        a.insert(b"y");
        let mut b = MultisetHash::new();
        b.insert(b"y");
        b.insert(b"x");
        assert_eq!(a, b);
        b.insert(b"z");
        assert_ne!(a, b);
        b.remove(b"z");
        assert_eq!(a.sum_bytes(), b.sum_bytes());
        let restored = MultisetHash::from_parts(a.sum_bytes(), a.count()).unwrap();
        assert_eq!(restored, a);
    }

    #[test]
    fn update_many_equals_one_by_one() {
        let elements: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 3]).collect();
        let mut one = MultisetHash::new();
        for e in &elements {
            one.insert(e);
        }
        one.remove(&elements[7]);
        let mut many = MultisetHash::new();
        many.update_many(&elements, &elements[7..8]);
        assert_eq!(one, many);
    }

    #[test]
    fn different_sets_differ() {
        let mut a = MultisetHash::new();
        a.insert(b"k=1");
        let mut b = MultisetHash::new();
        b.insert(b"k=2");
        assert_ne!(a.sum_bytes(), b.sum_bytes());
    }
}
