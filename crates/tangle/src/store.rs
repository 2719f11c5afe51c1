//! The storage trait and its two implementations (sled on disk, a map in memory).
//!
//! The Tangle needs very little from storage: point reads, prefix scans, atomic batches
//! and a durability barrier. Keeping the trait that small keeps sled replaceable and lets
//! the unit tests run in memory. Every key starts with a one-byte namespace (see
//! [`prefix`]), so the whole node lives in one keyspace and one batch can change blocks,
//! metadata, the milestone index and the ledger state together.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;

/// Key namespaces. `specs/protocol.md` §8 lists them with their value layouts.
pub mod prefix {
    /// Arrival time (u64 big-endian) || block id → canonical block bytes (see
    /// `crate::block_key`).
    pub const BLOCK: u8 = b'b';
    /// Block id → metadata (see `BlockMetadata::to_bytes`), written at admission and
    /// again at confirmation.
    pub const METADATA: u8 = b'm';
    /// Parent's arrival time (u64 big-endian) || parent id || child id → empty (see
    /// `crate::child_key`).
    pub const CHILD: u8 = b'c';
    /// Milestone index (u32 big-endian) → milestone block id.
    pub const MILESTONE: u8 = b'M';
    /// Milestone index (u32 big-endian) → the confirmed block ids in white-flag order.
    pub const WHITE_FLAG: u8 = b'W';
    /// Arrival time (u64 big-endian) || block id → empty, for every stored block whose
    /// confirmation is not yet written under `m` (see `crate::unconfirmed_key`).
    pub const UNCONFIRMED: u8 = b'u';
    /// Milestone index (u32 big-endian) → the metadata of the blocks it confirmed, until
    /// it is written under `m` (see `crate::journal`).
    pub const METADATA_JOURNAL: u8 = b'J';
    /// Ledger key → ledger value.
    pub const LEDGER: u8 = b'l';
    /// System key → value (storage version, latest milestone, state commitment).
    pub const SYSTEM: u8 = b's';
}

/// Builds a namespaced key.
pub fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// What [`Store::for_each_entry`] calls with each key and value; an error stops the walk.
pub type EntryVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed.
    #[error("storage backend: {0}")]
    Backend(String),
    /// Stored bytes do not decode (the database is corrupt or from another version).
    #[error("corrupt store entry: {0}")]
    Corrupt(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// Writes applied together or not at all.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    /// Sets `key` to `value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }
    /// Deletes `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }
    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    /// The operations, in order (`None`: a deletion).
    pub fn ops(&self) -> impl Iterator<Item = &(Vec<u8>, Option<Vec<u8>>)> {
        self.ops.iter()
    }
}

/// An ordered key–value store with atomic batches.
pub trait Store: Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// All entries whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError>;
    /// Calls `f` with every key that starts with `prefix`, in key order, without loading
    /// the values into a list.
    fn for_each_key(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<(), StoreError>;
    /// Calls `f` with every entry whose key starts with `prefix`, in key order, one at a
    /// time (snapshots stream the whole ledger state this way); an error from `f` stops
    /// the walk and is returned.
    fn for_each_entry(&self, prefix: &[u8], f: &mut EntryVisitor<'_>) -> Result<(), StoreError>;
    /// Applies every write of `batch` atomically.
    fn apply(&self, batch: WriteBatch) -> Result<(), StoreError>;
    /// Returns once every earlier write is durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Bytes used on disk (0 in memory).
    fn size_on_disk(&self) -> u64;
}

/// sled, one tree, namespaced keys.
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
}

/// The default page cache of a [`SledStore`], in MiB. Measured with `weft-bench ledger`
/// at a million blocks (benches/README.md): 32 MiB kept the node at about 450 MiB
/// resident and 10,300 blocks/s, 48 MiB at 500 MiB and 12,500 blocks/s. The memory
/// beyond the cache grows with the store (sled keeps a record of every page). Nodes with
/// memory to spare may set more (`[storage] cache_mib`).
pub const DEFAULT_CACHE_MIB: u64 = 40;

impl SledStore {
    /// Opens (or creates) the database in `dir`, with the default cache.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(dir, DEFAULT_CACHE_MIB)
    }

    /// Opens (or creates) the database in `dir` with a page cache of `cache_mib` MiB.
    pub fn open_with_cache(dir: &Path, cache_mib: u64) -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mib.saturating_mul(1024 * 1024))
            // Favour write throughput over space: blocks arrive by the thousand per second.
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Ok(SledStore { db })
    }
}

impl Store for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        self.db
            .scan_prefix(prefix)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into))
            .collect()
    }

    fn for_each_key(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<(), StoreError> {
        for k in self.db.scan_prefix(prefix).keys() {
            f(&k?);
        }
        Ok(())
    }

    fn for_each_entry(&self, prefix: &[u8], f: &mut EntryVisitor<'_>) -> Result<(), StoreError> {
        for r in self.db.scan_prefix(prefix) {
            let (k, v) = r?;
            f(&k, &v)?;
        }
        Ok(())
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.db.apply_batch(b)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// A store in memory, for tests.
#[derive(Clone, Default)]
pub struct MemoryStore {
    map: Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>,
}

impl Store for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.read().get(key).cloned())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .map
            .read()
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn for_each_key(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<(), StoreError> {
        for (k, _) in self
            .map
            .read()
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            f(k);
        }
        Ok(())
    }

    fn for_each_entry(&self, prefix: &[u8], f: &mut EntryVisitor<'_>) -> Result<(), StoreError> {
        for (k, v) in self
            .map
            .read()
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            f(k, v)?;
        }
        Ok(())
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut map = self.map.write();
        for (k, v) in batch.ops {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        0
    }
}
