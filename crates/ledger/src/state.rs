//! Reading the previous state and collecting a milestone's writes.
//!
//! The ledger never touches storage: the node hands it a [`StateRead`] over the state
//! after the previous milestone, and gets back a [`StateDiff`] to write in the same
//! atomic batch as the milestone. While applying, an [`Overlay`] shows the ledger its own
//! earlier writes, keeps per-block savepoints so a conflicting block leaves no trace, and
//! updates the multiset commitment as entries change.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use weft_crypto::MultisetHash;

/// A failure of the store behind [`StateRead`].
#[derive(Debug, thiserror::Error)]
#[error("state store: {0}")]
pub struct StateError(pub String);

/// Read access to the ledger state after the previous milestone.
pub trait StateRead {
    /// The value stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
}

/// An in-memory state (tests, tools, and the genesis computation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryState {
    /// The entries.
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl StateRead for MemoryState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.entries.get(key).cloned())
    }
}

impl MemoryState {
    /// Applies a diff.
    pub fn apply(&mut self, diff: &StateDiff) {
        for (k, v) in &diff.writes {
            match v {
                Some(v) => self.entries.insert(k.clone(), v.clone()),
                None => self.entries.remove(k),
            };
        }
    }
}

/// The writes of a milestone: `Some(value)` to set, `None` to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateDiff {
    /// Key to new value (or deletion), in key order.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// The byte string a state entry contributes to the multiset commitment:
/// `u32 key length (LE) || key || value`.
pub fn state_element(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(4 + key.len() + value.len());
    e.extend_from_slice(&(key.len() as u32).to_le_bytes());
    e.extend_from_slice(key);
    e.extend_from_slice(value);
    e
}

/// Writes layered over a base state, with one level of savepoint.
///
/// The multiset commitment is not updated entry by entry: the elements a milestone adds
/// and removes are collected (a savepoint is just their two lengths, so a rollback is a
/// truncation) and hashed to the group once, on all cores, when the commitment is asked
/// for. Base reads are cached: the base does not change while a milestone is applied.
pub(crate) struct Overlay<'a> {
    base: &'a dyn StateRead,
    read_cache: RefCell<HashMap<Vec<u8>, Option<Vec<u8>>>>,
    committed: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    commitment: MultisetHash,
    inserted: Vec<Vec<u8>>,
    removed: Vec<Vec<u8>>,
    saved: (usize, usize),
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(base: &'a dyn StateRead, commitment: MultisetHash) -> Overlay<'a> {
        Overlay {
            base,
            read_cache: RefCell::default(),
            committed: BTreeMap::new(),
            pending: BTreeMap::new(),
            commitment,
            inserted: Vec::new(),
            removed: Vec::new(),
            saved: (0, 0),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if let Some(v) = self.pending.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.committed.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.read_cache.borrow().get(key) {
            return Ok(v.clone());
        }
        let v = self.base.get(key)?;
        self.read_cache.borrow_mut().insert(key.to_vec(), v.clone());
        Ok(v)
    }

    fn write(&mut self, key: &[u8], value: Option<Vec<u8>>) -> Result<(), StateError> {
        let old = self.get(key)?;
        if old == value {
            return Ok(());
        }
        if let Some(old) = &old {
            self.removed.push(state_element(key, old));
        }
        if let Some(new) = &value {
            self.inserted.push(state_element(key, new));
        }
        self.pending.insert(key.to_vec(), value);
        Ok(())
    }

    pub(crate) fn put(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), StateError> {
        self.write(key, Some(value))
    }

    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<(), StateError> {
        self.write(key, None)
    }

    /// Adds `n` to a little-endian u64 counter (missing counts as 0).
    pub(crate) fn add_to_counter(&mut self, key: &[u8], n: u64) -> Result<(), StateError> {
        if n == 0 {
            return Ok(());
        }
        let current = match self.get(key)? {
            Some(v) => u64::from_le_bytes(
                v.try_into()
                    .map_err(|_| StateError(format!("counter {key:?} is not 8 bytes")))?,
            ),
            None => 0,
        };
        self.put(key, current.saturating_add(n).to_le_bytes().to_vec())
    }

    pub(crate) fn savepoint(&mut self) {
        debug_assert!(self.pending.is_empty());
        self.saved = (self.inserted.len(), self.removed.len());
    }

    pub(crate) fn commit_savepoint(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.committed.extend(pending);
        self.saved = (self.inserted.len(), self.removed.len());
    }

    pub(crate) fn rollback_savepoint(&mut self) {
        self.pending.clear();
        self.inserted.truncate(self.saved.0);
        self.removed.truncate(self.saved.1);
    }

    /// The commitment after every write so far (hashing the collected elements).
    pub(crate) fn commitment(&self) -> MultisetHash {
        let mut c = self.commitment;
        c.update_many(&self.inserted, &self.removed);
        c
    }

    pub(crate) fn into_diff(mut self) -> StateDiff {
        self.commit_savepoint();
        StateDiff {
            writes: self.committed,
        }
    }
}

impl StateRead for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Overlay::get(self, key)
    }
}
