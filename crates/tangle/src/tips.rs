//! Uniform random tip selection with IOTA's URTS rules (TIP-3).
//!
//! A new block should approve recent blocks that still need approval, chosen uniformly at
//! random so that no issuer can steer where the Tangle grows. "Recent" is measured by cone
//! root indexes: for an unconfirmed block, its oldest (OCRI) and youngest (YCRI) cone root
//! index are the smallest and largest confirming-milestone indexes found where its past
//! cone meets the confirmed part of the Tangle. With `L` the latest milestone index:
//!
//! - **lazy** if `L − YCRI > max_ycri_delta` or `L − OCRI > max_ocri_delta`: approving it
//!   would drag old history along, so it is dropped from the pool;
//! - **semi-lazy** if `L − YCRI > semi_lazy_ycri_delta` or
//!   `L − OCRI > semi_lazy_ocri_delta`: only used when too few non-lazy tips exist;
//! - **non-lazy** otherwise: selected uniformly at random.
//!
//! A block is **below max depth** when `L − OCRI > below_max_depth`; it never enters the
//! pool. A tip leaves the pool once it has `max_children` children, or
//! `max_referenced_tip_age_ms` after its first child, so the pool stays a set of recent,
//! under-approved blocks rather than growing without bound; `max_tips` caps it outright.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use weft_types::BlockId;

/// Pools up to this size are shuffled whole on each selection.
const SHUFFLE_LIMIT: usize = 256;

/// Tip-selection parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TipConfig {
    /// Lazy above this `L − YCRI`.
    pub max_ycri_delta: u32,
    /// Lazy above this `L − OCRI`.
    pub max_ocri_delta: u32,
    /// Semi-lazy above this `L − YCRI`.
    pub semi_lazy_ycri_delta: u32,
    /// Semi-lazy above this `L − OCRI`.
    pub semi_lazy_ocri_delta: u32,
    /// Never a tip above this `L − OCRI`.
    pub below_max_depth: u32,
    /// A tip with this many children leaves the pool.
    pub max_children: u32,
    /// A tip leaves the pool this long after its first child.
    pub max_referenced_tip_age_ms: u64,
    /// Upper bound on the pool size.
    pub max_tips: usize,
}

impl Default for TipConfig {
    fn default() -> Self {
        TipConfig {
            max_ycri_delta: 8,
            max_ocri_delta: 13,
            semi_lazy_ycri_delta: 3,
            semi_lazy_ocri_delta: 8,
            below_max_depth: 15,
            max_children: 8,
            max_referenced_tip_age_ms: 3_000,
            max_tips: 20_000,
        }
    }
}

/// How a tip scores under the rules above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TipScore {
    /// Selectable.
    NonLazy,
    /// Selectable only as a fallback.
    SemiLazy,
    /// Not selectable.
    Lazy,
}

impl TipConfig {
    /// Scores a block with cone root indexes `ocri`, `ycri` against latest index `latest`.
    pub fn score(&self, latest: u32, ocri: u32, ycri: u32) -> TipScore {
        let (do_, dy) = (latest.saturating_sub(ocri), latest.saturating_sub(ycri));
        if dy > self.max_ycri_delta || do_ > self.max_ocri_delta {
            TipScore::Lazy
        } else if dy > self.semi_lazy_ycri_delta || do_ > self.semi_lazy_ocri_delta {
            TipScore::SemiLazy
        } else {
            TipScore::NonLazy
        }
    }

    /// Whether a block with this OCRI is below max depth.
    pub fn below_max_depth(&self, latest: u32, ocri: u32) -> bool {
        latest.saturating_sub(ocri) > self.below_max_depth
    }
}

#[derive(Debug, Clone, Copy)]
struct TipEntry {
    children: u32,
    first_child_at: Option<u64>,
}

/// The pool of candidate tips, with O(1) insert, remove and uniform sampling.
#[derive(Debug, Default)]
pub struct TipPool {
    ids: Vec<BlockId>,
    entries: HashMap<BlockId, (usize, TipEntry)>,
}

impl TipPool {
    /// Tips in the pool.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether `id` is in the pool.
    pub fn contains(&self, id: &BlockId) -> bool {
        self.entries.contains_key(id)
    }

    /// Every tip, in no particular order.
    pub fn ids(&self) -> &[BlockId] {
        &self.ids
    }

    /// Adds a tip (no-op when full or present).
    pub fn insert(&mut self, id: BlockId, config: &TipConfig) {
        if self.entries.contains_key(&id) || self.ids.len() >= config.max_tips {
            return;
        }
        self.entries.insert(
            id,
            (
                self.ids.len(),
                TipEntry {
                    children: 0,
                    first_child_at: None,
                },
            ),
        );
        self.ids.push(id);
    }

    /// Removes a tip if present.
    pub fn remove(&mut self, id: &BlockId) {
        if let Some((pos, _)) = self.entries.remove(id) {
            self.ids.swap_remove(pos);
            if let Some(moved) = self.ids.get(pos) {
                if let Some(e) = self.entries.get_mut(moved) {
                    e.0 = pos;
                }
            }
        }
    }

    /// Tips no solid block approves yet: the heads of the Tangle.
    pub fn heads(&self) -> Vec<BlockId> {
        self.ids
            .iter()
            .filter(|id| matches!(self.entries.get(id), Some((_, e)) if e.children == 0))
            .copied()
            .collect()
    }

    /// Records that a new block approves `id`; retires it at `max_children`.
    pub fn add_child(&mut self, id: &BlockId, now: u64, config: &TipConfig) {
        let retire = match self.entries.get_mut(id) {
            Some((_, e)) => {
                e.children += 1;
                e.first_child_at.get_or_insert(now);
                e.children >= config.max_children
            }
            None => false,
        };
        if retire {
            self.remove(id);
        }
    }

    /// Whether the tip was first approved too long ago.
    fn expired(&self, id: &BlockId, now: u64, config: &TipConfig) -> bool {
        matches!(self.entries.get(id), Some((_, TipEntry { first_child_at: Some(t), .. }))
            if now.saturating_sub(*t) > config.max_referenced_tip_age_ms)
    }

    /// Picks up to `count` distinct tips uniformly at random among those `score` rates
    /// non-lazy, falling back to semi-lazy ones; lazy and expired tips met on the way are
    /// removed.
    pub fn select<R: Rng>(
        &mut self,
        count: usize,
        now: u64,
        config: &TipConfig,
        rng: &mut R,
        mut score: impl FnMut(&BlockId) -> TipScore,
    ) -> Vec<BlockId> {
        let mut chosen = Vec::with_capacity(count);
        let mut semi = Vec::new();
        // Candidates in uniformly random order: a full shuffle of a copy when the pool is
        // small, otherwise distinct random draws (bounded), so the pool is not copied on
        // every request. Either way every non-lazy tip is equally likely.
        let candidates: Vec<BlockId> = if self.ids.len() <= SHUFFLE_LIMIT {
            let mut all = self.ids.clone();
            all.shuffle(rng);
            all
        } else {
            let mut seen = std::collections::HashSet::new();
            let mut drawn = Vec::new();
            for _ in 0..(4 * count + 16) {
                let id = self.ids[rng.gen_range(0..self.ids.len())];
                if seen.insert(id) {
                    drawn.push(id);
                }
            }
            drawn
        };
        for id in candidates {
            if chosen.len() >= count {
                break;
            }
            if self.expired(&id, now, config) {
                self.remove(&id);
                continue;
            }
            match score(&id) {
                TipScore::NonLazy => chosen.push(id),
                TipScore::SemiLazy => semi.push(id),
                TipScore::Lazy => self.remove(&id),
            }
        }
        for id in semi {
            if chosen.len() >= count {
                break;
            }
            chosen.push(id);
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn id(i: u8) -> BlockId {
        BlockId([i; 32])
    }

    #[test]
    fn scores_follow_the_thresholds() {
        let c = TipConfig::default();
        assert_eq!(c.score(20, 20, 20), TipScore::NonLazy);
        assert_eq!(c.score(20, 12, 17), TipScore::NonLazy);
        assert_eq!(c.score(20, 11, 20), TipScore::SemiLazy); // L − OCRI = 9 > 8
        assert_eq!(c.score(20, 20, 16), TipScore::SemiLazy); // L − YCRI = 4 > 3
        assert_eq!(c.score(20, 7, 20), TipScore::SemiLazy); // L − OCRI = 13, not above 13
        assert_eq!(c.score(20, 6, 20), TipScore::Lazy); // 14 > 13
        assert_eq!(c.score(20, 20, 11), TipScore::Lazy); // L − YCRI = 9 > 8
        assert!(!c.below_max_depth(20, 5));
        assert!(c.below_max_depth(20, 4));
    }

    #[test]
    fn lazy_tips_are_dropped_and_semi_lazy_only_fill_in() {
        let c = TipConfig::default();
        let mut pool = TipPool::default();
        for i in 0..6 {
            pool.insert(id(i), &c);
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let score = |b: &BlockId| match b.0[0] {
            0 | 1 => TipScore::Lazy,
            2 => TipScore::SemiLazy,
            _ => TipScore::NonLazy,
        };
        let picked = pool.select(3, 0, &c, &mut rng, score);
        assert_eq!(picked.len(), 3);
        assert!(
            picked.iter().all(|b| b.0[0] >= 3),
            "three non-lazy tips exist: {picked:?}"
        );
        let picked = pool.select(8, 0, &c, &mut rng, score);
        assert_eq!(picked.len(), 4, "three non-lazy and the semi-lazy one");
        assert!(
            !pool.contains(&id(0)) && !pool.contains(&id(1)),
            "lazy tips removed"
        );
    }

    #[test]
    fn tips_retire_after_max_children_or_age() {
        let c = TipConfig {
            max_children: 2,
            ..TipConfig::default()
        };
        let mut pool = TipPool::default();
        pool.insert(id(1), &c);
        pool.insert(id(2), &c);
        pool.add_child(&id(1), 100, &c);
        assert!(pool.contains(&id(1)));
        pool.add_child(&id(1), 100, &c);
        assert!(!pool.contains(&id(1)));
        pool.add_child(&id(2), 100, &c);
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let picked = pool.select(
            2,
            100 + c.max_referenced_tip_age_ms + 1,
            &c,
            &mut rng,
            |_| TipScore::NonLazy,
        );
        assert!(picked.is_empty());
        assert!(pool.is_empty());
    }

    #[test]
    fn selection_is_uniform() {
        let c = TipConfig::default();
        let mut pool = TipPool::default();
        for i in 0..4 {
            pool.insert(id(i), &c);
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            let p = pool.select(1, 0, &c, &mut rng, |_| TipScore::NonLazy);
            counts[p[0].0[0] as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }
}
