//! Pruning: deleting the bodies of old confirmed blocks while keeping everything the
//! ledger and the proofs need.
//!
//! A node that runs for months stores every block it ever saw, yet once a block is
//! confirmed its bytes matter to almost no one: the ledger state (`l`) already holds
//! its effect, and what a client asks about an old block is whether and where it was
//! confirmed. This module deletes, milestone by milestone from the oldest, the bodies
//! (`b`) of the blocks a milestone confirmed and their child edges (`c` keys under
//! their id), and keeps their metadata (`m`), the milestone's white-flag list (`W`),
//! the milestone index (`M`) and the milestone blocks themselves. So an inclusion proof
//! (`GET /api/v1/blocks/{id}/proof`: the metadata gives the milestone and the position,
//! the white-flag list the Merkle path, the milestone block the certified root) still
//! works for a pruned block, and milestones stay servable. The ledger state and
//! unconfirmed blocks are never touched.
//!
//! Each milestone is pruned in one write batch that also records the new lower bound
//! ([`crate::system::PRUNED_BELOW`]), so a crash leaves a consistent prefix: every
//! milestone below the recorded bound is pruned entirely, and one above it at most
//! partly re-done on the next run (deleting is idempotent).
//!
//! The last [`MIN_KEEP_MILESTONES`] milestones are never pruned. New blocks may still
//! approve blocks confirmed by recent milestones (a block is below max depth, and never
//! a tip, only `TipConfig::below_max_depth` = 15 milestones after its oldest cone root),
//! and a peer that receives such a new block must be able to fetch its parents from
//! someone; the window is twice that, so every block that can still be approved keeps
//! its body on every node.

use crate::store::{key, prefix, Store, StoreError, WriteBatch};
use crate::{read, system, BlockMetadata, LatestMilestone};

/// The most recent milestones whose blocks are never pruned (see the module comment:
/// larger than the tip selection's below-max-depth of 15, so every block new blocks may
/// still approve keeps its body).
pub const MIN_KEEP_MILESTONES: u32 = 32;

/// What one call of [`prune_milestones`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Milestones whose blocks were pruned.
    pub milestones: u32,
    /// Block bodies deleted.
    pub blocks: u64,
    /// Bytes of the block bodies deleted (keys and child edges not counted).
    pub bytes: u64,
    /// The lower bound after the call: every milestone below it is pruned.
    pub pruned_below: u32,
}

impl Pruned {
    /// Adds the counts of a later call (and takes its lower bound).
    pub fn add(&mut self, later: Pruned) {
        self.milestones += later.milestones;
        self.blocks += later.blocks;
        self.bytes += later.bytes;
        self.pruned_below = self.pruned_below.max(later.pruned_below);
    }
}

/// Why pruning stopped.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// Storage failed or holds entries that do not decode.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The recorded lower bound: every milestone with a smaller index has had its blocks
/// pruned (0 when nothing was ever pruned).
pub fn pruned_below(store: &dyn Store) -> Result<u32, StoreError> {
    match store.get(&key(prefix::SYSTEM, &[system::PRUNED_BELOW]))? {
        Some(v) => <[u8; 4]>::try_from(v.as_slice())
            .map(u32::from_le_bytes)
            .map_err(|_| StoreError::Corrupt("pruned-below entry".into())),
        None => Ok(0),
    }
}

/// The first milestone index whose blocks must be kept when the latest milestone is
/// `latest` and the last `keep` milestones keep their blocks (`keep` is raised to
/// [`MIN_KEEP_MILESTONES`]): milestones below it may be pruned. At least 1 (milestone 0
/// is the genesis, which confirms nothing).
pub fn prunable_below(latest: u32, keep: u32) -> u32 {
    latest.saturating_sub(keep.max(MIN_KEEP_MILESTONES)) + 1
}

/// The latest milestone index recorded in the store (0 before the first).
fn latest_index(store: &dyn Store) -> Result<u32, StoreError> {
    Ok(
        match store.get(&key(prefix::SYSTEM, &[system::LATEST_MILESTONE]))? {
            Some(b) => LatestMilestone::from_bytes(&b)?.index,
            None => 0,
        },
    )
}

/// Prunes the blocks confirmed by the milestones with index in `[from, to)`, oldest
/// first, one write batch per milestone: deletes each confirmed block's body and its
/// child edges, keeps its metadata, the white-flag list, the milestone index entry and
/// the milestone block. `to` is lowered so that the last [`MIN_KEEP_MILESTONES`]
/// milestones recorded in the store are never pruned; milestones below the recorded
/// lower bound are skipped (they are pruned already), so calling it again changes
/// nothing. The lower bound ([`crate::system::PRUNED_BELOW`]) advances, in the same
/// batch, over each milestone that extends the pruned prefix; a milestone pruned out of
/// order (`from` above the bound) loses its blocks but does not move the bound.
///
/// Only blocks whose metadata says this milestone confirmed them at a white-flag
/// position are touched: never a milestone block, never a block without metadata. A
/// milestone without a white-flag list (none is stored below a snapshot's milestone)
/// has nothing to prune.
///
/// Confirmed data never changes, so this needs no lock of the Tangle and may run while
/// blocks are attached and milestones written.
pub fn prune_milestones(store: &dyn Store, from: u32, to: u32) -> Result<Pruned, PruneError> {
    let mut below = pruned_below(store)?;
    let mut out = Pruned {
        pruned_below: below,
        ..Pruned::default()
    };
    let to = to.min(prunable_below(latest_index(store)?, MIN_KEEP_MILESTONES));
    // Milestone 0 is the genesis: nothing to prune, and the bound starts past it.
    let mut expected = below.max(1);
    for index in from.max(expected)..to {
        let mut batch = WriteBatch::default();
        let mut blocks = 0u64;
        let mut bytes = 0u64;
        for id in read::white_flag_list(store, index)?.unwrap_or_default() {
            let Some(meta) = store.get(&key(prefix::METADATA, &[&id.0]))? else {
                continue;
            };
            let meta = BlockMetadata::from_bytes(&meta)?;
            if meta.referenced_by != Some(index) || meta.white_flag_index.is_none() {
                continue;
            }
            let body = crate::block_key(meta.arrival_time, &id);
            if let Some(b) = store.get(&body)? {
                blocks += 1;
                bytes += b.len() as u64;
                batch.delete(body);
            }
            let mut edges = Vec::new();
            store.for_each_key(&crate::children_prefix(meta.arrival_time, &id), &mut |k| {
                edges.push(k.to_vec())
            })?;
            for k in edges {
                batch.delete(k);
            }
        }
        if index == expected {
            expected = index + 1;
            below = expected;
            batch.put(
                key(prefix::SYSTEM, &[system::PRUNED_BELOW]),
                below.to_le_bytes().to_vec(),
            );
        }
        if !batch.is_empty() {
            store.apply(batch)?;
        }
        out.milestones += 1;
        out.blocks += blocks;
        out.bytes += bytes;
        out.pruned_below = below;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weft_types::{Block, BlockBuilder, BlockId, MilestoneId, NetworkId, Payload, TaggedData};

    use super::*;
    use crate::{Confirmation, MemoryStore, Tangle, TangleConfig};

    fn block(parents: Vec<BlockId>, nonce: u64) -> (BlockId, Arc<Block>, Vec<u8>) {
        let b = BlockBuilder::new(NetworkId(1), parents, 1_000)
            .payload(Payload::TaggedData(TaggedData {
                tag: b"p".to_vec(),
                data: nonce.to_le_bytes().to_vec(),
            }))
            .nonce(nonce)
            .anonymous();
        let bytes = b.to_bytes();
        (BlockId::of_bytes(&bytes), Arc::new(b), bytes)
    }

    /// Confirms the cone of `parents` as milestone `index`; returns the milestone block id.
    fn confirm(t: &mut Tangle, index: u32, parents: Vec<BlockId>) -> BlockId {
        let order = t.white_flag_order(&parents).unwrap();
        let ms = block(parents, 1_000_000 + index as u64);
        t.confirm_milestone(Confirmation {
            milestone_block: ms.1.clone(),
            milestone_bytes: ms.2,
            latest: LatestMilestone {
                index,
                id: MilestoneId([index as u8; 32]),
                block_id: ms.0,
                timestamp: index as u64,
            },
            confirmed: order.iter().map(|id| (*id, 0)).collect(),
            ledger_writes: vec![(format!("k{index}").into_bytes(), Some(vec![1]))],
            state_commitment: vec![index as u8],
            now: 5,
        })
        .unwrap();
        ms.0
    }

    struct Built {
        store: Arc<dyn Store>,
        tangle: Tangle,
        /// Per milestone index (from 1): its block and the two blocks it confirmed.
        milestones: Vec<(BlockId, [BlockId; 2])>,
        /// A block stored and never confirmed.
        unconfirmed: BlockId,
    }

    /// `n` milestones, each confirming a chain of two blocks on the previous milestone,
    /// and one unconfirmed block that approves an old block.
    fn build(n: u32) -> Built {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let mut tangle = Tangle::open(store.clone(), TangleConfig::default()).unwrap();
        let mut milestones = Vec::new();
        let mut tip = BlockId::GENESIS;
        for i in 1..=n {
            let a = block(vec![tip], 2 * i as u64);
            let b = block(vec![a.0], 2 * i as u64 + 1);
            tangle.attach(vec![a.clone(), b.clone()], 0).unwrap();
            let ms = confirm(&mut tangle, i, vec![b.0]);
            milestones.push((ms, [a.0, b.0]));
            tip = ms;
        }
        let old = milestones[0].1[0];
        let u = block(vec![old, tip], 99_999);
        tangle.attach(vec![u.clone()], 0).unwrap();
        Built {
            store,
            tangle,
            milestones,
            unconfirmed: u.0,
        }
    }

    fn body(store: &dyn Store, id: &BlockId) -> Option<Vec<u8>> {
        read::block_bytes(store, id).unwrap()
    }

    #[test]
    fn prunes_bodies_and_keeps_metadata_lists_milestones_and_state() {
        let t = build(MIN_KEEP_MILESTONES + 8);
        let s = t.store.as_ref();
        let ledger_before = s.scan_prefix(&[prefix::LEDGER]).unwrap();
        assert_eq!(pruned_below(s).unwrap(), 0);
        let out = prune_milestones(s, 1, 4).unwrap();
        assert_eq!(out.milestones, 3);
        assert_eq!(out.blocks, 6);
        assert!(out.bytes > 0);
        assert_eq!(out.pruned_below, 4);
        assert_eq!(pruned_below(s).unwrap(), 4);
        for (i, (ms, ids)) in t.milestones.iter().enumerate() {
            let index = i as u32 + 1;
            let pruned = index < 4;
            for id in ids {
                assert_eq!(body(s, id).is_none(), pruned, "block of milestone {index}");
                let meta = t.tangle.metadata(id).unwrap().expect("metadata kept");
                assert_eq!(meta.referenced_by, Some(index));
                assert!(t.tangle.contains(id).unwrap());
            }
            // Child edges of pruned blocks are gone; those of kept blocks remain.
            assert_eq!(
                read::children(s, &ids[0], 10).unwrap().is_empty(),
                pruned,
                "children of milestone {index}'s first block"
            );
            // The milestone block, its index entry and its white-flag list stay.
            assert!(body(s, ms).is_some());
            assert_eq!(read::milestone_block_id(s, index).unwrap(), Some(*ms));
            assert_eq!(
                read::white_flag_list(s, index).unwrap(),
                Some(ids.to_vec()),
                "white-flag list of {index}"
            );
        }
        // The ledger state and the unconfirmed block are untouched.
        assert_eq!(s.scan_prefix(&[prefix::LEDGER]).unwrap(), ledger_before);
        assert!(body(s, &t.unconfirmed).is_some());
        let markers = s.scan_prefix(&[prefix::UNCONFIRMED]).unwrap();
        assert_eq!(markers.len(), 1);
        assert_eq!(
            crate::parse_unconfirmed_key(&markers[0].0).unwrap().1,
            t.unconfirmed
        );
        // It reopens: the unconfirmed block is reloaded, pruned blocks are still known.
        let reopened = Tangle::open(t.store.clone(), TangleConfig::default()).unwrap();
        assert_eq!(reopened.pending_count(), 1);
        assert!(reopened.contains(&t.milestones[0].1[0]).unwrap());
    }

    #[test]
    fn the_last_milestones_are_never_pruned() {
        let n = MIN_KEEP_MILESTONES + 5;
        let t = build(n);
        let s = t.store.as_ref();
        // Asked for everything: only the milestones before the window go.
        let out = prune_milestones(s, 0, u32::MAX).unwrap();
        assert_eq!(out.milestones, 5);
        assert_eq!(out.pruned_below, 6);
        assert_eq!(prunable_below(n, 0), 6);
        assert_eq!(prunable_below(n, MIN_KEEP_MILESTONES + 2), 4);
        for (i, (_, ids)) in t.milestones.iter().enumerate() {
            let index = i as u32 + 1;
            assert_eq!(body(s, &ids[1]).is_none(), index <= 5, "milestone {index}");
        }
        // A young store has nothing to prune.
        let young = build(MIN_KEEP_MILESTONES);
        let out = prune_milestones(young.store.as_ref(), 1, u32::MAX).unwrap();
        assert_eq!(out, Pruned::default());
        assert_eq!(pruned_below(young.store.as_ref()).unwrap(), 0);
        assert_eq!(prunable_below(3, 0), 1);
    }

    #[test]
    fn pruning_again_changes_nothing() {
        let t = build(MIN_KEEP_MILESTONES + 4);
        let s = t.store.as_ref();
        let first = prune_milestones(s, 1, 3).unwrap();
        let after_first = s.scan_prefix(&[]).unwrap();
        let again = prune_milestones(s, 1, 3).unwrap();
        assert_eq!(again.milestones, 0);
        assert_eq!(again.blocks, 0);
        assert_eq!(again.pruned_below, first.pruned_below);
        assert_eq!(s.scan_prefix(&[]).unwrap(), after_first);
        // Continuing from below the bound picks up where the last call stopped.
        let next = prune_milestones(s, 1, 5).unwrap();
        assert_eq!(next.milestones, 2);
        assert_eq!(next.pruned_below, 5);
    }

    #[test]
    fn a_gap_prunes_without_moving_the_bound() {
        let t = build(MIN_KEEP_MILESTONES + 6);
        let s = t.store.as_ref();
        let out = prune_milestones(s, 3, 5).unwrap();
        assert_eq!(out.milestones, 2);
        assert_eq!(out.pruned_below, 0);
        assert_eq!(pruned_below(s).unwrap(), 0);
        assert!(body(s, &t.milestones[2].1[0]).is_none());
        assert!(body(s, &t.milestones[0].1[0]).is_some());
        // Filling the gap moves the bound over the milestones pruned before.
        let out = prune_milestones(s, 1, 6).unwrap();
        assert_eq!(out.pruned_below, 6);
        assert_eq!(out.blocks, 6, "milestones 1, 2 and 5; 3 and 4 were done");
    }

    #[test]
    fn a_corrupt_bound_is_an_error() {
        let t = build(MIN_KEEP_MILESTONES + 2);
        let mut b = WriteBatch::default();
        b.put(key(prefix::SYSTEM, &[system::PRUNED_BELOW]), vec![1, 2]);
        t.store.apply(b).unwrap();
        assert!(matches!(
            prune_milestones(t.store.as_ref(), 1, 2),
            Err(PruneError::Store(StoreError::Corrupt(_)))
        ));
    }
}
