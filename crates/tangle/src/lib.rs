//! The Tangle: blocks stored on disk, their solidification, tip selection and the
//! white-flag order in which a milestone confirms them.
//!
//! A block enters through [`Tangle::attach`] once the node has checked its signature and
//! rules. It is stored at once; it is *solid* when its whole past cone is stored. Blocks
//! waiting for parents sit in a bounded queue, and their missing parents are reported so
//! the network layer can ask peers for them. Solid, unconfirmed blocks feed the tip pool
//! ([`tips`]). A milestone names parents; [`Tangle::white_flag_order`] lists the blocks of
//! their past cone not yet confirmed, in the deterministic depth-first order every node
//! computes alike; [`Tangle::confirm_milestone`] writes the milestone, the metadata of
//! every confirmed block (as one [`journal`] entry) and the ledger's state changes in one
//! atomic batch and flushes it, so a crash leaves either the whole milestone or none of
//! it; the per-block metadata entries follow ([`Tangle::metadata_batches`]).
//!
//! Unconfirmed blocks are kept in memory (they are few: a couple of milestone intervals'
//! worth) and reloaded from the `u` namespace on restart.

pub mod filter;
pub mod journal;
pub mod metadata;
pub mod prune;
pub mod store;
pub mod tips;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;
use weft_types::{Block, BlockId, MilestoneId};

pub use filter::KeyFilter;
pub use metadata::BlockMetadata;
pub use prune::{prune_milestones, PruneError, Pruned, MIN_KEEP_MILESTONES};
pub use store::{key, prefix, MemoryStore, SledStore, Store, StoreError, WriteBatch};
pub use tips::{TipConfig, TipPool, TipScore};

/// The layout version of the store; a node refuses a store written by another layout.
pub const STORAGE_VERSION: u32 = 3;

/// System keys (under [`prefix::SYSTEM`]).
pub mod system {
    /// Storage layout version (u32 LE).
    pub const VERSION: &[u8] = b"version";
    /// Latest milestone: index u32 LE || milestone id || milestone block id || timestamp u64 LE.
    pub const LATEST_MILESTONE: &[u8] = b"latest-milestone";
    /// State commitment: compressed multiset sum || entry count u64 LE.
    pub const STATE_COMMITMENT: &[u8] = b"state-commitment";
    /// The genesis the store was created with (JSON).
    pub const GENESIS: &[u8] = b"genesis";
    /// Pruning's lower bound (u32 LE): the blocks confirmed by every milestone below this
    /// index have lost their bodies and child edges (metadata, white-flag lists,
    /// milestone entries and milestone blocks are kept); absent when nothing was pruned.
    /// Written by [`crate::prune::prune_milestones`] in the batch of each milestone it
    /// prunes.
    pub const PRUNED_BELOW: &[u8] = b"pruned-below";
    /// Present while a snapshot is being restored into the store: a node refuses to
    /// open a store an interrupted restore left half written.
    pub const RESTORING: &[u8] = b"restoring";
    /// The index of the full snapshot the store was started from (u32 LE), if any:
    /// blocks confirmed before it are known only as solid entry points.
    pub const SNAPSHOT_BASE: &[u8] = b"snapshot-base";
}

/// Tangle errors.
#[derive(Debug, thiserror::Error)]
pub enum TangleError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A milestone names a parent that is not stored.
    #[error("milestone parent {0} is unknown")]
    UnknownParent(BlockId),
    /// A milestone names a parent that is not solid.
    #[error("milestone parent {0} is not solid")]
    NotSolid(BlockId),
    /// The store was written by another layout version.
    #[error(
        "store layout version {found}, this node reads {expected}: start it on a new data \
         directory, or restore a snapshot into one"
    )]
    StorageVersion {
        /// Found.
        found: u32,
        /// Expected.
        expected: u32,
    },
}

/// Tangle parameters.
#[derive(Debug, Clone, Copy)]
pub struct TangleConfig {
    /// Most blocks that may wait for missing parents.
    pub max_unsolid: usize,
    /// Tip selection.
    pub tips: TipConfig,
    /// How many recent milestones' confirmed ids are cached in memory.
    pub confirmed_cache_milestones: usize,
}

impl Default for TangleConfig {
    fn default() -> Self {
        TangleConfig {
            max_unsolid: 50_000,
            tips: TipConfig::default(),
            confirmed_cache_milestones: 16,
        }
    }
}

/// What [`Tangle::attach`] did with one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachOutcome {
    /// Stored and solid.
    Solid,
    /// Stored; waits for these parents (unknown to this node).
    Waiting {
        /// Parents the node does not have.
        missing: Vec<BlockId>,
    },
    /// Already stored; nothing changed.
    Duplicate,
    /// Not stored: it would wait for parents and the solidifier queue is full.
    QueueFull {
        /// Blocks waiting.
        waiting: usize,
    },
}

/// The marker of a stored block whose confirmation is not yet written: `u` || arrival
/// time (u64 big-endian, ms) || block id, empty value. Ordered by arrival, so new
/// markers and the ones a milestone removes sit on the same few pages of the store
/// instead of one random page each.
pub fn unconfirmed_key(arrival: u64, id: &BlockId) -> Vec<u8> {
    key(prefix::UNCONFIRMED, &[&arrival.to_be_bytes(), &id.0])
}

/// Where a block's bytes are stored: `b` || arrival time (u64 big-endian, ms, as in its
/// metadata) || block id. Ordered by arrival, so a new block's bytes go on the newest
/// page of the store instead of a random one: at a million blocks, random pages of
/// block bodies (16 bodies, ~5 KiB, to read back and rewrite for every insert) were the
/// node's largest cost and most of the store's cache. A reader finds the arrival time in
/// the block's metadata, written with it.
pub fn block_key(arrival: u64, id: &BlockId) -> Vec<u8> {
    key(prefix::BLOCK, &[&arrival.to_be_bytes(), &id.0])
}

/// The children of a block are stored under `c` || its arrival time (u64 big-endian) ||
/// its id, followed by each child's id: this prefix. Parents are recent blocks, so new
/// edges, too, land on the newest pages.
pub fn children_prefix(parent_arrival: u64, parent: &BlockId) -> Vec<u8> {
    key(prefix::CHILD, &[&parent_arrival.to_be_bytes(), &parent.0])
}

/// The edge from a parent to one child (see [`children_prefix`]), with an empty value.
pub fn child_key(parent_arrival: u64, parent: &BlockId, child: &BlockId) -> Vec<u8> {
    key(
        prefix::CHILD,
        &[&parent_arrival.to_be_bytes(), &parent.0, &child.0],
    )
}

/// Reads an [`unconfirmed_key`] back: arrival time and block id.
pub fn parse_unconfirmed_key(k: &[u8]) -> Result<(u64, BlockId), StoreError> {
    let corrupt = || StoreError::Corrupt("unconfirmed key".into());
    if k.len() != 41 || k[0] != prefix::UNCONFIRMED {
        return Err(corrupt());
    }
    let arrival = <[u8; 8]>::try_from(&k[1..9]).map_err(|_| corrupt())?;
    let id = <[u8; 32]>::try_from(&k[9..41]).map_err(|_| corrupt())?;
    Ok((u64::from_be_bytes(arrival), BlockId(id)))
}

/// Blocks [`Tangle::prepare_attach`] accepted: their outcomes so far and the batch that
/// stores them.
#[derive(Debug)]
pub struct PreparedAttach {
    outcomes: Vec<AttachOutcome>,
    accepted: Vec<(usize, BlockId, Arc<Block>)>,
    now: u64,
    batches: Vec<WriteBatch>,
}

/// Blocks per admission batch. sled applies a batch under a lock that every other read
/// and write of the store waits for, so a large group of blocks is stored in slices
/// (each block whole within one), letting a milestone's reads and writes interleave.
pub const BLOCKS_PER_ADMISSION_BATCH: usize = 128;

impl PreparedAttach {
    /// The batches to store, in order, before [`Tangle::finish_attach`] (empty when no
    /// block is new, or once taken). Each holds whole blocks: a crash between two
    /// leaves some blocks of the group stored and the rest not, never half a block.
    pub fn take_batches(&mut self) -> Vec<WriteBatch> {
        std::mem::take(&mut self.batches)
    }
}

/// The latest confirmed milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestMilestone {
    /// Its index.
    pub index: u32,
    /// Its id.
    pub id: MilestoneId,
    /// The id of the block that carries it.
    pub block_id: BlockId,
    /// Its timestamp (ms).
    pub timestamp: u64,
}

impl LatestMilestone {
    /// The `latest-milestone` system entry: `u32 index || milestone id || block id ||
    /// u64 timestamp`, little-endian (76 bytes).
    pub fn to_bytes(self) -> Vec<u8> {
        [
            &self.index.to_le_bytes()[..],
            &self.id.0,
            &self.block_id.0,
            &self.timestamp.to_le_bytes(),
        ]
        .concat()
    }

    /// Reads [`LatestMilestone::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<LatestMilestone, StoreError> {
        if b.len() != 76 {
            return Err(StoreError::Corrupt("latest milestone entry".into()));
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&b[4..36]);
        let mut block = [0u8; 32];
        block.copy_from_slice(&b[36..68]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[68..76]);
        Ok(LatestMilestone {
            index: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            id: MilestoneId(id),
            block_id: BlockId(block),
            timestamp: u64::from_le_bytes(ts),
        })
    }
}

/// Everything a milestone confirms, ready to be written.
#[derive(Debug)]
pub struct Confirmation {
    /// The milestone block.
    pub milestone_block: Arc<Block>,
    /// Its canonical bytes.
    pub milestone_bytes: Vec<u8>,
    /// Where it stands.
    pub latest: LatestMilestone,
    /// Newly confirmed blocks in white-flag order, with their ledger conflict codes
    /// (0 = applied).
    pub confirmed: Vec<(BlockId, u8)>,
    /// Ledger writes (key without namespace → value or deletion).
    pub ledger_writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// The new state commitment (compressed sum || count), stored as a system entry.
    pub state_commitment: Vec<u8>,
    /// Confirmation time (ms).
    pub now: u64,
}

#[derive(Debug)]
struct Pending {
    block: Arc<Block>,
    arrival: u64,
    /// Parents this block still waits for (0 when solid).
    waiting_for: usize,
    /// Order in which blocks became solid (parents before children).
    solid_seq: u64,
    ocri: u32,
    ycri: u32,
}

impl Pending {
    fn solid(&self) -> bool {
        self.waiting_for == 0
    }
}

/// The Tangle over a [`Store`].
pub struct Tangle {
    store: Arc<dyn Store>,
    config: TangleConfig,
    pending: HashMap<BlockId, Pending>,
    /// Missing or unsolid parent → children waiting for it.
    waiting: HashMap<BlockId, Vec<BlockId>>,
    unsolid: usize,
    next_solid_seq: u64,
    tips: TipPool,
    recent: HashMap<BlockId, u32>,
    recent_by_milestone: VecDeque<Vec<BlockId>>,
    /// Confirmed blocks whose metadata is journaled, not yet written under `m`.
    unwritten: HashMap<BlockId, BlockMetadata>,
    /// The milestones of those journal entries, oldest first, with their blocks.
    journaled: VecDeque<(u32, Vec<(BlockId, BlockMetadata)>)>,
    latest: Option<LatestMilestone>,
    /// Ids of every stored block (approximate: skips store reads for new ids).
    stored: KeyFilter,
    rng: StdRng,
}

impl Tangle {
    /// Opens the Tangle on `store`, reloading unconfirmed blocks.
    pub fn open(store: Arc<dyn Store>, config: TangleConfig) -> Result<Tangle, TangleError> {
        match store.get(&key(prefix::SYSTEM, &[system::VERSION]))? {
            Some(v) => {
                let found = u32::from_le_bytes(
                    v.as_slice()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("storage version entry".into()))?,
                );
                if found != STORAGE_VERSION {
                    return Err(TangleError::StorageVersion {
                        found,
                        expected: STORAGE_VERSION,
                    });
                }
            }
            None => {
                let mut b = WriteBatch::default();
                b.put(
                    key(prefix::SYSTEM, &[system::VERSION]),
                    STORAGE_VERSION.to_le_bytes().to_vec(),
                );
                store.apply(b)?;
            }
        }
        // Metadata a stopped node journaled but did not spread: written before the
        // metadata and the unconfirmed markers are read below.
        journal::replay(store.as_ref())?;
        let latest = match store.get(&key(prefix::SYSTEM, &[system::LATEST_MILESTONE]))? {
            Some(b) => Some(LatestMilestone::from_bytes(&b)?),
            None => None,
        };
        let mut tangle = Tangle {
            store,
            config,
            pending: HashMap::new(),
            waiting: HashMap::new(),
            unsolid: 0,
            next_solid_seq: 0,
            tips: TipPool::default(),
            recent: HashMap::new(),
            recent_by_milestone: VecDeque::new(),
            unwritten: HashMap::new(),
            journaled: VecDeque::new(),
            latest,
            stored: KeyFilter::default(),
            rng: StdRng::from_entropy(),
        };
        // Built from the metadata, not the bodies: a block is known once confirmed even
        // when its body was pruned or the node started from a snapshot that lists it
        // as a solid entry point (unconfirmed blocks are in `pending`).
        let mut stored = KeyFilter::default();
        tangle
            .store
            .for_each_key(&[prefix::METADATA], &mut |k| stored.insert(&k[1..]))?;
        tangle.stored = stored;
        let unconfirmed = tangle.store.scan_prefix(&[prefix::UNCONFIRMED])?;
        let mut blocks = Vec::with_capacity(unconfirmed.len());
        for (k, _) in unconfirmed {
            let (arrival, id) = parse_unconfirmed_key(&k)?;
            let bytes = tangle.store.get(&block_key(arrival, &id))?.ok_or_else(|| {
                StoreError::Corrupt(format!("unconfirmed block {id} has no bytes"))
            })?;
            let block = Block::from_bytes(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("block {id}: {e}")))?;
            blocks.push((id, Arc::new(block), arrival));
        }
        for (id, block, arrival) in blocks {
            tangle.insert_pending(id, block, arrival);
        }
        Ok(tangle)
    }

    /// The store (for reads that need no Tangle state).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Parameters.
    pub fn config(&self) -> &TangleConfig {
        &self.config
    }

    /// The latest confirmed milestone, if any.
    pub fn latest_milestone(&self) -> Option<LatestMilestone> {
        self.latest
    }

    fn latest_index(&self) -> u32 {
        self.latest.map(|l| l.index).unwrap_or(0)
    }

    /// Whether the block is stored (the genesis id always is).
    pub fn contains(&self, id: &BlockId) -> Result<bool, TangleError> {
        Ok(self.stored_arrival(id)?.is_some())
    }

    /// Adds a milestone block written as confirmed by milestone `index` at `now`, outside
    /// [`Tangle::attach`] (this node's own, or another validator's block of a milestone
    /// this node committed): its bytes and metadata, arriving at `now`, the edges from
    /// each stored parent to it, and from it to the stored blocks waiting for it.
    pub fn put_milestone_block(
        &self,
        batch: &mut WriteBatch,
        id: &BlockId,
        block: (&Block, &[u8]),
        index: u32,
        now: u64,
    ) -> Result<(), TangleError> {
        batch.put(block_key(now, id), block.1.to_vec());
        let meta = BlockMetadata {
            solid: true,
            arrival_time: now,
            referenced_by: Some(index),
            white_flag_index: None,
            conflict: 0,
            confirmation_time: Some(now),
        };
        batch.put(key(prefix::METADATA, &[&id.0]), meta.to_bytes());
        for p in &block.0.parents {
            if let Some(a) = self.stored_arrival(p)? {
                batch.put(child_key(a, p, id), Vec::new());
            }
        }
        for child in self.waiting.get(id).into_iter().flatten() {
            batch.put(child_key(now, id, child), Vec::new());
        }
        Ok(())
    }

    /// The arrival time in a stored block's keys (its metadata's; 0 for the genesis),
    /// `None` if the block is not stored.
    pub fn stored_arrival(&self, id: &BlockId) -> Result<Option<u64>, TangleError> {
        if *id == BlockId::GENESIS {
            return Ok(Some(0));
        }
        if let Some(p) = self.pending.get(id) {
            return Ok(Some(p.arrival));
        }
        if let Some(m) = self.unwritten.get(id) {
            return Ok(Some(m.arrival_time));
        }
        // The filter spares the store read for ids never stored (missing parents).
        if !self.stored.may_contain(&id.0) {
            return Ok(None);
        }
        Ok(read::arrival(self.store.as_ref(), id)?)
    }

    /// The confirming milestone of a stored block (0 for the genesis), `None` if
    /// unconfirmed or unknown.
    fn confirmed_index(&self, id: &BlockId) -> Result<Option<u32>, TangleError> {
        if *id == BlockId::GENESIS {
            return Ok(Some(0));
        }
        if self.pending.contains_key(id) {
            return Ok(None);
        }
        if let Some(i) = self.recent.get(id) {
            return Ok(Some(*i));
        }
        if let Some(m) = self.unwritten.get(id) {
            return Ok(m.referenced_by);
        }
        Ok(match self.store.get(&key(prefix::METADATA, &[&id.0]))? {
            Some(m) => BlockMetadata::from_bytes(&m)?.referenced_by,
            None => None,
        })
    }

    /// Stores blocks that passed the node's checks, solidifying what can be. One write
    /// batch for all of them; each block gets its own outcome (a block that would wait
    /// while the solidifier queue is full is refused alone).
    pub fn attach(
        &mut self,
        blocks: Vec<(BlockId, Arc<Block>, Vec<u8>)>,
        now: u64,
    ) -> Result<Vec<AttachOutcome>, TangleError> {
        let mut prepared = self.prepare_attach(blocks, now)?;
        for batch in prepared.take_batches() {
            self.store.apply(batch)?;
        }
        Ok(self.finish_attach(prepared))
    }

    /// The first half of [`Tangle::attach`], reading only: which blocks are new and
    /// whether they wait, and the batch that stores them. The node writes the batch
    /// without holding the Tangle's lock (at a million blocks those writes are the
    /// slowest part of admission, and a milestone being built needs the lock), then
    /// calls [`Tangle::finish_attach`]. Only one thread may have blocks prepared and not
    /// finished at a time.
    pub fn prepare_attach(
        &self,
        blocks: Vec<(BlockId, Arc<Block>, Vec<u8>)>,
        now: u64,
    ) -> Result<PreparedAttach, TangleError> {
        let mut batches = Vec::new();
        let mut batch = WriteBatch::default();
        let mut in_current = 0;
        let mut outcomes = Vec::with_capacity(blocks.len());
        let mut accepted = Vec::with_capacity(blocks.len());
        let mut in_batch = HashSet::new();
        let mut new_unsolid = 0;
        // Blocks of this group that came before a parent also in it: parent → children.
        let mut early_children: HashMap<BlockId, Vec<BlockId>> = HashMap::new();
        for (id, block, bytes) in blocks {
            if in_batch.contains(&id) || self.contains(&id)? {
                outcomes.push(AttachOutcome::Duplicate);
                continue;
            }
            let mut missing = Vec::new();
            let mut parent_arrivals = Vec::with_capacity(block.parents.len());
            for p in &block.parents {
                let arrival = if in_batch.contains(p) {
                    Some(now)
                } else {
                    self.stored_arrival(p)?
                };
                match arrival {
                    Some(a) => parent_arrivals.push((*p, a)),
                    None => missing.push(*p),
                }
            }
            let waits = !missing.is_empty()
                || block
                    .parents
                    .iter()
                    .any(|p| self.pending.get(p).is_some_and(|q| !q.solid()));
            if waits {
                if self.unsolid + new_unsolid >= self.config.max_unsolid {
                    outcomes.push(AttachOutcome::QueueFull {
                        waiting: self.unsolid + new_unsolid,
                    });
                    continue;
                }
                new_unsolid += 1;
            }
            batch.put(block_key(now, &id), bytes);
            // The arrival time, which readers need to find the bytes; the rest of the
            // metadata of an unconfirmed block is served from memory and written at
            // confirmation.
            let arrived = BlockMetadata {
                solid: !waits,
                arrival_time: now,
                ..Default::default()
            };
            batch.put(key(prefix::METADATA, &[&id.0]), arrived.to_bytes());
            batch.put(unconfirmed_key(now, &id), Vec::new());
            for (p, arrival) in &parent_arrivals {
                batch.put(child_key(*arrival, p, &id), Vec::new());
            }
            // A parent this node does not have gets the edge when it arrives: here, for
            // the blocks stored earlier (or earlier in this group) that wait for it.
            for p in &missing {
                early_children.entry(*p).or_default().push(id);
            }
            let waited_for = self.waiting.get(&id).into_iter().flatten();
            for child in waited_for.chain(early_children.get(&id).into_iter().flatten()) {
                batch.put(child_key(now, &id, child), Vec::new());
            }
            in_current += 1;
            if in_current == BLOCKS_PER_ADMISSION_BATCH {
                batches.push(std::mem::take(&mut batch));
                in_current = 0;
            }
            in_batch.insert(id);
            outcomes.push(AttachOutcome::Waiting { missing });
            accepted.push((outcomes.len() - 1, id, block));
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        Ok(PreparedAttach {
            outcomes,
            accepted,
            now,
            batches,
        })
    }

    /// The second half of [`Tangle::attach`], once [`PreparedAttach::take_batches`] are
    /// stored: the blocks join the pending set and solidify.
    pub fn finish_attach(&mut self, prepared: PreparedAttach) -> Vec<AttachOutcome> {
        let PreparedAttach {
            mut outcomes,
            accepted,
            now,
            ..
        } = prepared;
        for (_, id, block) in &accepted {
            // A Tangle reloaded from the store in between already holds the block.
            if self.pending.contains_key(id) || self.unwritten.contains_key(id) {
                continue;
            }
            self.stored.insert(&id.0);
            self.insert_pending(*id, block.clone(), now);
        }
        for (pos, id, _) in accepted {
            if self.pending.get(&id).is_some_and(Pending::solid) {
                outcomes[pos] = AttachOutcome::Solid;
            }
        }
        outcomes
    }

    fn insert_pending(&mut self, id: BlockId, block: Arc<Block>, arrival: u64) {
        let mut waiting_for = 0;
        for p in &block.parents {
            let parent_solid = match self.pending.get(p) {
                Some(q) => q.solid(),
                None => *p == BlockId::GENESIS || self.confirmed_index(p).ok().flatten().is_some(),
            };
            if !parent_solid {
                waiting_for += 1;
                self.waiting.entry(*p).or_default().push(id);
            }
        }
        self.pending.insert(
            id,
            Pending {
                block,
                arrival,
                waiting_for,
                solid_seq: 0,
                ocri: 0,
                ycri: 0,
            },
        );
        if waiting_for == 0 {
            self.on_solid(id, arrival);
        } else {
            self.unsolid += 1;
        }
    }

    /// Marks `id` solid, scores it, and solidifies children that waited only for it.
    fn on_solid(&mut self, id: BlockId, now: u64) {
        let mut queue = vec![id];
        while let Some(id) = queue.pop() {
            let (ocri, ycri) = self.cone_root_indexes(&id);
            let latest = self.latest_index();
            let seq = self.next_solid_seq;
            self.next_solid_seq += 1;
            let parents = match self.pending.get_mut(&id) {
                Some(p) => {
                    p.solid_seq = seq;
                    p.ocri = ocri;
                    p.ycri = ycri;
                    p.block.parents.clone()
                }
                None => continue,
            };
            for p in &parents {
                self.tips.add_child(p, now, &self.config.tips);
            }
            if !self.config.tips.below_max_depth(latest, ocri) {
                self.tips.insert(id, &self.config.tips);
            }
            if let Some(children) = self.waiting.remove(&id) {
                for c in children {
                    if let Some(child) = self.pending.get_mut(&c) {
                        child.waiting_for = child.waiting_for.saturating_sub(1);
                        if child.waiting_for == 0 {
                            self.unsolid = self.unsolid.saturating_sub(1);
                            queue.push(c);
                        }
                    }
                }
            }
        }
    }

    /// OCRI and YCRI of a solid pending block from its parents.
    fn cone_root_indexes(&self, id: &BlockId) -> (u32, u32) {
        let Some(p) = self.pending.get(id) else {
            return (0, 0);
        };
        let (mut ocri, mut ycri) = (u32::MAX, 0u32);
        for parent in &p.block.parents {
            let (o, y) = match self.pending.get(parent) {
                Some(q) => (q.ocri, q.ycri),
                None => {
                    let i = self.confirmed_index(parent).ok().flatten().unwrap_or(0);
                    (i, i)
                }
            };
            ocri = ocri.min(o);
            ycri = ycri.max(y);
        }
        (if ocri == u32::MAX { 0 } else { ocri }, ycri)
    }

    /// Up to `count` (clamped to 1..=8) tips chosen by URTS. Falls back to the latest
    /// milestone block (or the genesis) so the answer is never empty.
    pub fn select_tips(&mut self, count: usize, now: u64) -> Vec<BlockId> {
        let count = count.clamp(1, weft_types::MAX_PARENTS);
        let latest = self.latest_index();
        let config = self.config.tips;
        let pending = &self.pending;
        let mut chosen = self.tips.select(count, now, &config, &mut self.rng, |id| {
            match pending.get(id) {
                Some(p) => config.score(latest, p.ocri, p.ycri),
                None => TipScore::Lazy,
            }
        });
        if chosen.is_empty() {
            chosen.push(self.latest.map(|l| l.block_id).unwrap_or(BlockId::GENESIS));
        }
        chosen.sort();
        chosen
    }

    /// Every tip currently in the pool.
    pub fn all_tips(&self) -> Vec<BlockId> {
        self.tips.ids().to_vec()
    }

    /// The tips a milestone must reference to confirm every solid block the pool covers:
    /// the heads (tips nothing approves yet) plus any pool tip outside the heads' past
    /// cone. Usually a few dozen, where the pool holds thousands: approved tips stay in
    /// the pool for a while (URTS retention) but are already in a head's cone.
    pub fn milestone_tips(&self) -> Result<Vec<BlockId>, TangleError> {
        let mut tips = self.tips.heads();
        let cone: HashSet<BlockId> = self.white_flag_order(&tips)?.into_iter().collect();
        tips.extend(
            self.tips
                .ids()
                .iter()
                .filter(|t| !cone.contains(t))
                .copied(),
        );
        tips.sort();
        tips.dedup();
        Ok(tips)
    }

    /// Tips in the pool.
    pub fn tip_count(&self) -> usize {
        self.tips.len()
    }

    /// Blocks waiting for parents.
    pub fn unsolid_count(&self) -> usize {
        self.unsolid
    }

    /// Stored blocks not yet confirmed.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Parents that blocks wait for and that this node does not have.
    pub fn missing_parents(&self) -> Vec<BlockId> {
        self.waiting
            .keys()
            .filter(|id| !self.pending.contains_key(*id))
            .copied()
            .collect()
    }

    /// A stored, unconfirmed block.
    pub fn pending_block(&self, id: &BlockId) -> Option<Arc<Block>> {
        self.pending.get(id).map(|p| p.block.clone())
    }

    /// Metadata of a stored block.
    pub fn metadata(&self, id: &BlockId) -> Result<Option<BlockMetadata>, TangleError> {
        if let Some(p) = self.pending.get(id) {
            return Ok(Some(BlockMetadata {
                solid: p.solid(),
                arrival_time: p.arrival,
                ..Default::default()
            }));
        }
        if *id == BlockId::GENESIS {
            return Ok(Some(BlockMetadata {
                solid: true,
                referenced_by: Some(0),
                ..Default::default()
            }));
        }
        if let Some(m) = self.unwritten.get(id) {
            return Ok(Some(*m));
        }
        Ok(match self.store.get(&key(prefix::METADATA, &[&id.0]))? {
            Some(m) => Some(BlockMetadata::from_bytes(&m)?),
            None => None,
        })
    }

    /// Whether a pending block's cone is recent enough to be approved (URTS score).
    pub fn tip_score(&self, id: &BlockId) -> Option<TipScore> {
        self.pending
            .get(id)
            .map(|p| self.config.tips.score(self.latest_index(), p.ocri, p.ycri))
    }

    /// The blocks a milestone with these parents newly confirms, in white-flag order:
    /// depth-first over parents in the order listed, each block after its parents,
    /// skipping blocks already confirmed. Every parent must be stored and solid.
    pub fn white_flag_order(&self, parents: &[BlockId]) -> Result<Vec<BlockId>, TangleError> {
        let mut order = Vec::new();
        let mut visited: HashSet<BlockId> = HashSet::new();
        let mut stack: Vec<(BlockId, usize)> = Vec::new();
        for root in parents {
            match self.pending.get(root) {
                Some(p) if !p.solid() => return Err(TangleError::NotSolid(*root)),
                Some(_) => {}
                None => {
                    if !self.contains(root)? {
                        return Err(TangleError::UnknownParent(*root));
                    }
                    continue; // already confirmed
                }
            }
            if !visited.insert(*root) {
                continue;
            }
            stack.push((*root, 0));
            while let Some((id, next)) = stack.last_mut() {
                let block = &self.pending[id].block;
                if *next < block.parents.len() {
                    let parent = block.parents[*next];
                    *next += 1;
                    if self.pending.contains_key(&parent) && visited.insert(parent) {
                        stack.push((parent, 0));
                    }
                } else {
                    order.push(*id);
                    stack.pop();
                }
            }
        }
        Ok(order)
    }

    /// Writes a milestone and everything it confirms in one atomic batch, flushes it,
    /// updates the in-memory state, then writes the confirmed blocks' metadata entries.
    pub fn confirm_milestone(&mut self, c: Confirmation) -> Result<(), TangleError> {
        let batch = self.confirmation_batch(&c)?;
        self.store.apply(batch)?;
        self.store.flush()?;
        self.apply_confirmed(&c);
        while let Some((index, batches)) = self.metadata_batches() {
            for batch in batches {
                self.store.apply(batch)?;
            }
            self.metadata_written(index);
        }
        Ok(())
    }

    /// The oldest journaled milestone and the batches, in order, that write its blocks'
    /// metadata entries (see [`journal::metadata_batches`]); `None` when every
    /// milestone's metadata is written. Needs no Tangle lock to apply; call
    /// [`Tangle::metadata_written`] after the last.
    pub fn metadata_batches(&self) -> Option<(u32, Vec<WriteBatch>)> {
        self.journaled
            .front()
            .map(|(index, blocks)| (*index, journal::metadata_batches(*index, blocks)))
    }

    /// Forgets the journaled metadata of milestone `index`, now in the store.
    pub fn metadata_written(&mut self, index: u32) {
        if self.journaled.front().is_some_and(|(i, _)| *i == index) {
            if let Some((_, blocks)) = self.journaled.pop_front() {
                for (id, _) in blocks {
                    self.unwritten.remove(&id);
                }
            }
        }
    }

    /// The atomic batch that records a milestone and everything it confirms. Writing it
    /// (and flushing) needs no Tangle lock; call [`Tangle::apply_confirmed`] after.
    pub fn confirmation_batch(&self, c: &Confirmation) -> Result<WriteBatch, TangleError> {
        let index = c.latest.index;
        let ms_id = c.latest.block_id;
        let mut batch = WriteBatch::default();
        self.put_milestone_block(
            &mut batch,
            &ms_id,
            (&c.milestone_block, &c.milestone_bytes),
            index,
            c.now,
        )?;
        batch.put(
            key(prefix::MILESTONE, &[&index.to_be_bytes()]),
            ms_id.0.to_vec(),
        );
        let mut list = Vec::with_capacity(32 * c.confirmed.len());
        let mut journaled = Vec::with_capacity(c.confirmed.len());
        for (id, conflict) in &c.confirmed {
            list.extend_from_slice(&id.0);
            journaled.push((*id, self.arrival(id, c.now), *conflict));
        }
        batch.put(key(prefix::WHITE_FLAG, &[&index.to_be_bytes()]), list);
        // The blocks' metadata as one sequential entry; their `m` entries follow.
        batch.put(
            journal::journal_key(index),
            journal::encode(c.now, &journaled),
        );
        for (k, v) in &c.ledger_writes {
            let k = key(prefix::LEDGER, &[k]);
            match v {
                Some(v) => batch.put(k, v.clone()),
                None => batch.delete(k),
            }
        }
        batch.put(
            key(prefix::SYSTEM, &[system::STATE_COMMITMENT]),
            c.state_commitment.clone(),
        );
        batch.put(
            key(prefix::SYSTEM, &[system::LATEST_MILESTONE]),
            c.latest.to_bytes(),
        );
        Ok(batch)
    }

    /// When a pending block arrived (`otherwise` for a block not pending).
    fn arrival(&self, id: &BlockId, otherwise: u64) -> u64 {
        self.pending.get(id).map(|p| p.arrival).unwrap_or(otherwise)
    }

    /// Brings memory in line with a milestone whose batch is durably stored. The
    /// confirmed blocks' metadata is served from memory until
    /// [`Tangle::metadata_written`].
    pub fn apply_confirmed(&mut self, c: &Confirmation) {
        let index = c.latest.index;
        let ms_id = c.latest.block_id;
        let mut journaled = Vec::with_capacity(c.confirmed.len());
        for (pos, (id, conflict)) in c.confirmed.iter().enumerate() {
            let meta = BlockMetadata {
                solid: true,
                arrival_time: self.arrival(id, c.now),
                referenced_by: Some(index),
                white_flag_index: Some(pos as u32),
                conflict: *conflict,
                confirmation_time: Some(c.now),
            };
            self.unwritten.insert(*id, meta);
            journaled.push((*id, meta));
        }
        self.journaled.push_back((index, journaled));
        let mut ids = Vec::with_capacity(c.confirmed.len() + 1);
        for (id, _) in &c.confirmed {
            self.pending.remove(id);
            self.tips.remove(id);
            self.recent.insert(*id, index);
            ids.push(*id);
        }
        self.recent.insert(ms_id, index);
        self.stored.insert(&ms_id.0);
        ids.push(ms_id);
        self.recent_by_milestone.push_back(ids);
        while self.recent_by_milestone.len() > self.config.confirmed_cache_milestones {
            if let Some(old) = self.recent_by_milestone.pop_front() {
                for id in old {
                    self.recent.remove(&id);
                }
            }
        }
        self.latest = Some(c.latest);
        self.rescore();
    }

    /// Recomputes cone root indexes of the unconfirmed solid blocks (parents first) and
    /// drops tips that became lazy or below max depth.
    fn rescore(&mut self) {
        let mut solid: Vec<(u64, BlockId)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.solid())
            .map(|(id, p)| (p.solid_seq, *id))
            .collect();
        solid.sort_unstable();
        for (_, id) in solid {
            let (o, y) = self.cone_root_indexes(&id);
            if let Some(p) = self.pending.get_mut(&id) {
                p.ocri = o;
                p.ycri = y;
            }
        }
        let latest = self.latest_index();
        let stale: Vec<BlockId> = self
            .tips
            .ids()
            .iter()
            .filter(|id| match self.pending.get(id) {
                Some(p) => {
                    self.config.tips.score(latest, p.ocri, p.ycri) == TipScore::Lazy
                        || self.config.tips.below_max_depth(latest, p.ocri)
                }
                None => true,
            })
            .copied()
            .collect();
        for id in stale {
            self.tips.remove(&id);
        }
    }

    /// Reads a system entry.
    pub fn system_entry(&self, name: &[u8]) -> Result<Option<Vec<u8>>, TangleError> {
        Ok(self.store.get(&key(prefix::SYSTEM, &[name]))?)
    }

    /// Writes a system entry (used once, for the genesis, with its ledger entries).
    pub fn write_genesis(
        &mut self,
        genesis_json: Vec<u8>,
        ledger_writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        state_commitment: Vec<u8>,
    ) -> Result<(), TangleError> {
        let mut batch = WriteBatch::default();
        batch.put(key(prefix::SYSTEM, &[system::GENESIS]), genesis_json);
        for (k, v) in ledger_writes {
            if let Some(v) = v {
                batch.put(key(prefix::LEDGER, &[&k]), v);
            }
        }
        batch.put(
            key(prefix::SYSTEM, &[system::STATE_COMMITMENT]),
            state_commitment,
        );
        self.store.apply(batch)?;
        self.store.flush()?;
        Ok(())
    }
}

/// Reads from the store without the Tangle's lock: confirmed data never changes.
pub mod read {
    use super::*;

    /// The arrival time in a stored block's keys, from its metadata (0 for the genesis),
    /// `None` if the block is not stored.
    pub fn arrival(store: &dyn Store, id: &BlockId) -> Result<Option<u64>, StoreError> {
        if *id == BlockId::GENESIS {
            return Ok(Some(0));
        }
        match store.get(&key(prefix::METADATA, &[&id.0]))? {
            Some(m) => Ok(Some(BlockMetadata::from_bytes(&m)?.arrival_time)),
            None => Ok(None),
        }
    }

    /// Canonical bytes of a stored block.
    pub fn block_bytes(store: &dyn Store, id: &BlockId) -> Result<Option<Vec<u8>>, StoreError> {
        match arrival(store, id)? {
            Some(a) => store.get(&block_key(a, id)),
            None => Ok(None),
        }
    }

    /// Children of a block (at most `limit`).
    pub fn children(
        store: &dyn Store,
        id: &BlockId,
        limit: usize,
    ) -> Result<Vec<BlockId>, StoreError> {
        let Some(a) = arrival(store, id)? else {
            return Ok(Vec::new());
        };
        let entries = store.scan_prefix(&children_prefix(a, id))?;
        entries
            .into_iter()
            .take(limit)
            .map(|(k, _)| {
                k.get(41..73)
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .map(BlockId)
                    .ok_or_else(|| StoreError::Corrupt("child key".into()))
            })
            .collect()
    }

    /// The block carrying milestone `index`.
    pub fn milestone_block_id(
        store: &dyn Store,
        index: u32,
    ) -> Result<Option<BlockId>, StoreError> {
        match store.get(&key(prefix::MILESTONE, &[&index.to_be_bytes()]))? {
            Some(v) => {
                Ok(Some(BlockId(v.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt("milestone entry".into())
                })?)))
            }
            None => Ok(None),
        }
    }

    /// The blocks milestone `index` confirmed, in white-flag order.
    pub fn white_flag_list(
        store: &dyn Store,
        index: u32,
    ) -> Result<Option<Vec<BlockId>>, StoreError> {
        match store.get(&key(prefix::WHITE_FLAG, &[&index.to_be_bytes()]))? {
            Some(v) if v.len() % 32 == 0 => Ok(Some(
                v.chunks_exact(32)
                    .map(|c| BlockId(c.try_into().unwrap_or([0; 32])))
                    .collect(),
            )),
            Some(_) => Err(StoreError::Corrupt("white-flag list".into())),
            None => Ok(None),
        }
    }

    /// A ledger value.
    pub fn ledger_value(
        store: &dyn Store,
        ledger_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        store.get(&key(prefix::LEDGER, &[ledger_key]))
    }
}

#[cfg(test)]
mod tests;
