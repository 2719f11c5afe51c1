//! Delta snapshots: the milestones after a base index, each with the blocks it
//! confirmed in white-flag order.
//!
//! A delta carries no state: the node that reads it re-applies each milestone's blocks
//! through its ordinary follower path, so the certificate, the inclusion root (which
//! binds the exact list of confirmed blocks) and the state root of every milestone are
//! checked as if the milestone had come from a peer. This is why a delta can be small and
//! unsigned: a block left out, added or altered makes the milestone fail its roots.

use std::io::{Read, Write};

use weft_ledger::Genesis;
use weft_tangle::{key, prefix, system, LatestMilestone, Store, StoreError};
use weft_types::{Block, BlockId, Committee, MilestoneId};

use crate::codec::{HashingReader, HashingWriter};
use crate::full::verify_milestone_block;
use crate::{SnapshotError, SnapshotKind};

/// Most milestones one delta may carry.
const MAX_MILESTONES: u32 = 1_000_000;
/// Most blocks one milestone of a delta may carry.
const MAX_BLOCKS_PER_MILESTONE: u32 = 1_000_000;

/// What [`write_delta`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaSummary {
    /// The milestone the delta starts after.
    pub base: u32,
    /// The last milestone it carries.
    pub to: u32,
    /// Blocks written (milestone blocks not counted).
    pub blocks: u64,
    /// Bytes written (checksum included).
    pub bytes: u64,
}

/// One milestone of a delta, its certificate checked.
#[derive(Debug, Clone)]
pub struct DeltaMilestone {
    /// Its index.
    pub index: u32,
    /// The milestone block.
    pub block: Block,
    /// Its canonical bytes.
    pub bytes: Vec<u8>,
    /// Other validators' blocks of earlier milestones that its blocks approve (canonical
    /// bytes; to be checked and stored as certified milestone blocks first).
    pub aliases: Vec<Vec<u8>>,
    /// The blocks it confirmed, in white-flag order (ids computed from the bytes).
    pub blocks: Vec<(BlockId, Vec<u8>)>,
}

/// Writes the milestones `base + 1 ..=` the store's latest, with the bodies of the
/// blocks each confirmed. Needs those bodies (not pruned). Confirmed data never changes,
/// so this needs no lock.
pub fn write_delta(
    store: &dyn Store,
    base: u32,
    out: impl Write,
) -> Result<DeltaSummary, SnapshotError> {
    let latest = store
        .get(&key(prefix::SYSTEM, &[system::LATEST_MILESTONE]))?
        .map(|b| LatestMilestone::from_bytes(&b))
        .transpose()?
        .ok_or(SnapshotError::NoMilestone)?;
    let to = latest.index;
    if base >= to {
        return Err(SnapshotError::Malformed(format!(
            "a delta after milestone {base} is empty: the latest milestone is {to}"
        )));
    }
    let genesis_json = store
        .get(&key(prefix::SYSTEM, &[system::GENESIS]))?
        .ok_or_else(|| StoreError::Corrupt("no genesis entry".into()))?;
    let base_id = milestone_id(store, base)?;
    let mut w = HashingWriter::new(out);
    w.header(SnapshotKind::Delta, &genesis_json)?;
    w.u32(base)?;
    w.write_all(&base_id.0)?;
    w.u32(to - base)?;
    let mut blocks = 0u64;
    for index in base + 1..=to {
        let ms = weft_tangle::read::milestone_block_id(store, index)?
            .ok_or(SnapshotError::MissingMilestone(index))?;
        let ms_bytes = weft_tangle::read::block_bytes(store, &ms)?
            .ok_or(SnapshotError::MissingMilestone(index))?;
        let list = weft_tangle::read::white_flag_list(store, index)?
            .ok_or(SnapshotError::MissingMilestone(index))?;
        // Other validators' blocks of earlier milestones that these blocks approve:
        // the reader stores them first (as certified milestone blocks) so that the
        // blocks that approve them are solid.
        let mut aliases: Vec<Vec<u8>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in &list {
            for alias in crate::full::milestone_aliases(store, id, 1)? {
                let own = weft_tangle::read::milestone_block_id(store, alias.milestone)?;
                if own == Some(alias.id) || !seen.insert(alias.id) {
                    continue;
                }
                if let Some(bytes) = weft_tangle::read::block_bytes(store, &alias.id)? {
                    aliases.push(bytes);
                }
            }
        }
        w.field(&ms_bytes)?;
        w.u32(aliases.len() as u32)?;
        for a in &aliases {
            w.field(a)?;
        }
        w.u32(list.len() as u32)?;
        for id in list {
            let bytes =
                weft_tangle::read::block_bytes(store, &id)?.ok_or(SnapshotError::MissingBlock {
                    block: id,
                    milestone: index,
                })?;
            w.field(&bytes)?;
            blocks += 1;
        }
    }
    let bytes = w.finish()?;
    Ok(DeltaSummary {
        base,
        to,
        blocks,
        bytes,
    })
}

/// The id of milestone `index` (the genesis' "none" for 0).
fn milestone_id(store: &dyn Store, index: u32) -> Result<MilestoneId, SnapshotError> {
    if index == 0 {
        return Ok(MilestoneId::NONE);
    }
    let block_id = weft_tangle::read::milestone_block_id(store, index)?
        .ok_or(SnapshotError::MissingMilestone(index))?;
    let bytes = weft_tangle::read::block_bytes(store, &block_id)?
        .ok_or(SnapshotError::MissingMilestone(index))?;
    match Block::from_bytes(&bytes) {
        Ok(Block {
            payload: weft_types::Payload::Milestone(m),
            ..
        }) => Ok(m.essence.id()),
        _ => Err(StoreError::Corrupt(format!("milestone {index} block")).into()),
    }
}

/// Reads a delta milestone by milestone; the checksum is checked after the last one.
pub struct DeltaReader<R: Read> {
    r: Option<HashingReader<R>>,
    /// The milestone the delta starts after.
    pub base: u32,
    /// That milestone's id (the first milestone's previous milestone).
    pub base_id: MilestoneId,
    /// How many milestones it carries.
    pub count: u32,
    read: u32,
}

impl<R: Read> DeltaReader<R> {
    /// Reads the header and checks the genesis against `trusted`.
    pub fn open(input: R, trusted: &Genesis) -> Result<DeltaReader<R>, SnapshotError> {
        let mut r = HashingReader::new(input);
        r.header(SnapshotKind::Delta, trusted)?;
        let base = r.u32()?;
        let base_id = MilestoneId(r.id()?);
        let count = r.u32()?;
        if count == 0 || count > MAX_MILESTONES {
            return Err(SnapshotError::Malformed(format!(
                "{count} milestones (1 to {MAX_MILESTONES})"
            )));
        }
        Ok(DeltaReader {
            r: Some(r),
            base,
            base_id,
            count,
            read: 0,
        })
    }

    /// The last milestone the delta carries.
    pub fn to(&self) -> u32 {
        self.base.saturating_add(self.count)
    }

    /// The next milestone with its blocks (its index the next one; its certificate
    /// checked against the committee `committee` gives for its essence, when it gives
    /// one: the node passes the committee in force on its ledger, a reader without state
    /// the genesis committee while the milestones name it), or `None` after the last one
    /// once the checksum matched.
    pub fn next_milestone(
        &mut self,
        committee: impl FnOnce(&weft_types::MilestoneEssence) -> Option<Committee>,
    ) -> Result<Option<DeltaMilestone>, SnapshotError> {
        let Some(r) = self.r.as_mut() else {
            return Ok(None);
        };
        if self.read == self.count {
            if let Some(r) = self.r.take() {
                r.finish()?;
            }
            return Ok(None);
        }
        let max_block = weft_types::block::MAX_BLOCK_BYTES as u32;
        let bytes = r.field(max_block, "milestone block")?;
        let block = Block::from_bytes(&bytes).map_err(|e| SnapshotError::NotCertified {
            index: 0,
            reason: format!("milestone block: {e}"),
        })?;
        let weft_types::Payload::Milestone(milestone) = &block.payload else {
            return Err(SnapshotError::NotCertified {
                index: 0,
                reason: "the block carries no milestone".into(),
            });
        };
        let index = milestone.essence.index;
        if let Some(c) = committee(&milestone.essence) {
            verify_milestone_block(&block, &c)?;
        }
        let expected = self.base + self.read + 1;
        if index != expected {
            return Err(SnapshotError::Malformed(format!(
                "milestone {index} where {expected} was expected"
            )));
        }
        let n = r.u32()?;
        if n > MAX_BLOCKS_PER_MILESTONE {
            return Err(SnapshotError::Malformed(format!(
                "milestone {index} lists {n} other milestone blocks (at most {MAX_BLOCKS_PER_MILESTONE})"
            )));
        }
        let mut aliases = Vec::with_capacity(n.min(1024) as usize);
        for _ in 0..n {
            aliases.push(r.field(max_block, "milestone block")?);
        }
        let n = r.u32()?;
        if n > MAX_BLOCKS_PER_MILESTONE {
            return Err(SnapshotError::Malformed(format!(
                "milestone {index} lists {n} blocks (at most {MAX_BLOCKS_PER_MILESTONE})"
            )));
        }
        let mut blocks = Vec::with_capacity(n.min(65_536) as usize);
        for _ in 0..n {
            let b = r.field(max_block, "block")?;
            blocks.push((BlockId::of_bytes(&b), b));
        }
        self.read += 1;
        Ok(Some(DeltaMilestone {
            index,
            block,
            bytes,
            aliases,
            blocks,
        }))
    }
}
