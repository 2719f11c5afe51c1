//! An approximate set of keys written to the store, so that reads of keys that were never
//! written (every new block id, every new anchor) skip the disk.
//!
//! At a million blocks the store no longer fits in its cache, and a read that finds
//! nothing still walks cold pages. A Bloom filter answers "certainly not stored" from
//! memory; "maybe stored" (about 1 % false positives at the expected size, more beyond
//! it) falls through to the store, so answers stay exact.

use fastbloom::BloomFilter;

/// Keys expected before the false-positive rate rises above 1 %.
pub const EXPECTED_KEYS: usize = 4_000_000;

/// A Bloom filter over byte-string keys.
pub struct KeyFilter {
    bloom: BloomFilter,
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter {
            bloom: BloomFilter::with_false_pos(0.01).expected_items(EXPECTED_KEYS),
        }
    }
}

impl std::fmt::Debug for KeyFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyFilter")
    }
}

impl KeyFilter {
    /// Records a written key.
    pub fn insert(&mut self, key: &[u8]) {
        self.bloom.insert(key);
    }

    /// False only if `key` was never inserted.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.bloom.contains(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut f = KeyFilter::default();
        for i in 0..10_000u32 {
            f.insert(&i.to_le_bytes());
        }
        assert!((0..10_000u32).all(|i| f.may_contain(&i.to_le_bytes())));
        let false_positives = (10_000..110_000u32)
            .filter(|i| f.may_contain(&i.to_le_bytes()))
            .count();
        assert!(
            false_positives < 1_000,
            "{false_positives} false positives in 100000"
        );
    }
}
