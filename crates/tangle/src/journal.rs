//! The metadata journal: a milestone's per-block metadata as one entry, written with the
//! milestone, and spread into the per-block `m` entries afterwards.
//!
//! Why: at a million blocks the store is many times its cache, and every per-block key
//! (`m`‖id, `u`‖id) lands on a cold page. Writing those 2 × n random keys inside the
//! milestone's atomic batch put them between a block's arrival and its confirmation
//! (they were most of the milestone's work). The milestone batch now carries one
//! sequential entry instead, `J`‖index → the confirmed blocks' metadata, so the batch is
//! as atomic and as durable as before (everything a milestone decides is in it); the
//! per-block entries are written by [`metadata_batches`] once the milestone is announced,
//! and a node that stops between the two finishes the work when it opens the store
//! ([`replay`]). Until then the Tangle answers metadata reads for those blocks from
//! memory.
//!
//! Entry layout (`specs/protocol.md` §8): `u64 confirmation time || n × (block id ||
//! u64 arrival time || u8 conflict code)`, little-endian; the white-flag index of a
//! block is its position in the list.

use weft_types::BlockId;

use crate::metadata::BlockMetadata;
use crate::store::{key, prefix, Store, StoreError, WriteBatch};

/// Bytes per block in a journal entry.
const ENTRY_BYTES: usize = 32 + 8 + 1;

/// The journal entry of milestone `index`: its confirmed blocks in white-flag order,
/// each with its arrival time and conflict code.
pub fn encode(confirmation_time: u64, blocks: &[(BlockId, u64, u8)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + ENTRY_BYTES * blocks.len());
    v.extend_from_slice(&confirmation_time.to_le_bytes());
    for (id, arrival, conflict) in blocks {
        v.extend_from_slice(&id.0);
        v.extend_from_slice(&arrival.to_le_bytes());
        v.push(*conflict);
    }
    v
}

/// Reads [`encode`] back as the metadata of each block confirmed by milestone `index`.
pub fn decode(index: u32, bytes: &[u8]) -> Result<Vec<(BlockId, BlockMetadata)>, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("metadata journal of milestone {index}"));
    let (time, list) = bytes.split_first_chunk::<8>().ok_or_else(corrupt)?;
    if list.len() % ENTRY_BYTES != 0 {
        return Err(corrupt());
    }
    let confirmation_time = u64::from_le_bytes(*time);
    list.chunks_exact(ENTRY_BYTES)
        .enumerate()
        .map(|(pos, e)| {
            let id = <[u8; 32]>::try_from(&e[..32]).map_err(|_| corrupt())?;
            let arrival = <[u8; 8]>::try_from(&e[32..40]).map_err(|_| corrupt())?;
            Ok((
                BlockId(id),
                BlockMetadata {
                    solid: true,
                    arrival_time: u64::from_le_bytes(arrival),
                    referenced_by: Some(index),
                    white_flag_index: Some(u32::try_from(pos).map_err(|_| corrupt())?),
                    conflict: e[40],
                    confirmation_time: Some(confirmation_time),
                },
            ))
        })
        .collect()
}

/// The journal key of milestone `index`.
pub fn journal_key(index: u32) -> Vec<u8> {
    key(prefix::METADATA_JOURNAL, &[&index.to_be_bytes()])
}

/// Blocks per metadata batch. sled applies a batch under a lock that every other read
/// and write of the store waits for, so a milestone's metadata (tens of thousands of
/// writes) goes in slices: admission and API reads interleave with it.
pub const BLOCKS_PER_METADATA_BATCH: usize = 256;

/// The batches that settle milestone `index`'s journal, to apply in order: each block's
/// `m` entry and its unconfirmed marker removed, in slices of
/// [`BLOCKS_PER_METADATA_BATCH`] blocks; the last batch also removes the journal entry.
/// The writes need no atomicity between slices (a node stopped in between replays the
/// whole entry, and applying them twice is harmless).
pub fn metadata_batches(index: u32, blocks: &[(BlockId, BlockMetadata)]) -> Vec<WriteBatch> {
    let mut batches: Vec<WriteBatch> = blocks
        .chunks(BLOCKS_PER_METADATA_BATCH)
        .map(|slice| {
            let mut batch = WriteBatch::default();
            for (id, meta) in slice {
                batch.put(key(prefix::METADATA, &[&id.0]), meta.to_bytes());
                batch.delete(crate::unconfirmed_key(meta.arrival_time, id));
            }
            batch
        })
        .collect();
    match batches.last_mut() {
        Some(last) => last.delete(journal_key(index)),
        None => {
            let mut only = WriteBatch::default();
            only.delete(journal_key(index));
            batches.push(only);
        }
    }
    batches
}

/// Settles every journal entry left in the store (a node stopped between a milestone
/// and its metadata), oldest first, and returns how many there were. Call before
/// reading metadata or unconfirmed markers from a store a node may have left.
pub fn replay(store: &dyn Store) -> Result<usize, StoreError> {
    let entries = store.scan_prefix(&[prefix::METADATA_JOURNAL])?;
    for (k, v) in &entries {
        let index = k
            .get(1..5)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .filter(|_| k.len() == 5)
            .ok_or_else(|| StoreError::Corrupt("metadata journal key".into()))?;
        for batch in metadata_batches(index, &decode(index, v)?) {
            store.apply(batch)?;
        }
    }
    if !entries.is_empty() {
        store.flush()?;
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn id(n: u8) -> BlockId {
        BlockId([n; 32])
    }

    #[test]
    fn an_entry_round_trips_with_positions_as_white_flag_indexes() {
        let bytes = encode(99, &[(id(1), 5, 0), (id(2), 6, 3)]);
        assert_eq!(bytes.len(), 8 + 2 * ENTRY_BYTES);
        let blocks = decode(7, &bytes).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].0, id(2));
        assert_eq!(
            blocks[1].1,
            BlockMetadata {
                solid: true,
                arrival_time: 6,
                referenced_by: Some(7),
                white_flag_index: Some(1),
                conflict: 3,
                confirmation_time: Some(99),
            }
        );
    }

    #[test]
    fn a_large_entry_settles_in_slices_with_the_entry_removed_last() {
        let blocks: Vec<(BlockId, BlockMetadata)> = (0..(2 * BLOCKS_PER_METADATA_BATCH + 1))
            .map(|i| (BlockId([(i % 251) as u8; 32]), BlockMetadata::default()))
            .collect();
        let batches = metadata_batches(4, &blocks);
        assert_eq!(batches.len(), 3);
        let journal = journal_key(4);
        for (i, b) in batches.iter().enumerate() {
            let removes_entry = b.ops().any(|(k, v)| *k == journal && v.is_none());
            assert_eq!(removes_entry, i == 2, "batch {i}");
        }
        // An empty milestone still removes its entry.
        let only = metadata_batches(5, &[]);
        assert_eq!(only.len(), 1);
        assert!(only[0].ops().any(|(k, _)| *k == journal_key(5)));
    }

    #[test]
    fn truncated_entries_are_refused() {
        let bytes = encode(1, &[(id(1), 5, 0)]);
        for cut in [0, 7, 9, bytes.len() - 1] {
            assert!(decode(1, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(1, &bytes[..8]).unwrap().is_empty());
    }

    #[test]
    fn replay_writes_metadata_removes_markers_and_the_entry() {
        let store = MemoryStore::default();
        let mut b = WriteBatch::default();
        b.put(crate::unconfirmed_key(5, &id(1)), Vec::new());
        b.put(journal_key(3), encode(10, &[(id(1), 5, 0)]));
        store.apply(b).unwrap();
        assert_eq!(replay(&store).unwrap(), 1);
        let meta = store
            .get(&key(prefix::METADATA, &[&id(1).0]))
            .unwrap()
            .unwrap();
        assert_eq!(
            BlockMetadata::from_bytes(&meta).unwrap().referenced_by,
            Some(3)
        );
        assert!(store
            .scan_prefix(&[prefix::UNCONFIRMED])
            .unwrap()
            .is_empty());
        assert!(store
            .scan_prefix(&[prefix::METADATA_JOURNAL])
            .unwrap()
            .is_empty());
        // Nothing left: a second replay does nothing.
        assert_eq!(replay(&store).unwrap(), 0);
    }
}
