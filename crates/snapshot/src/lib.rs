//! Snapshots: the ledger state at a certified milestone in a file another node can
//! start from (full), and the milestones after it in a file a node can catch up with
//! (delta).
//!
//! A node that joins a consortium (a new agency, a field office whose disk was wiped)
//! should neither replay every block since the genesis nor trust whoever hands it the
//! file. A **full** snapshot carries the certified milestone `S`, the state entries after
//! `S`, and the solid entry points (the blocks confirmed by the last few milestones, which
//! new blocks may still approve). The reader hashes the entries into the multiset
//! commitment while they stream past and accepts the file only if the state root it
//! computes is the one that `S`'s certificate (2f+1 committee signatures, checked with the
//! committee keys of the reader's own genesis) signs. A **delta** snapshot carries the
//! milestones after a base index with the blocks each confirmed, in white-flag order; the
//! node applies them as it applies milestones from peers, so each is checked against its
//! certificate, its inclusion root and its state root. `specs/snapshots.md` is the
//! normative format.
//!
//! Everything here works on the [`Store`](weft_tangle::Store) trait and on
//! `std::io::Read`/`Write` streams: no file names, no network.

mod codec;
mod delta;
mod full;
#[cfg(test)]
mod tests;

pub use delta::{write_delta, DeltaMilestone, DeltaReader, DeltaSummary};
pub use full::{
    read_full, restore_full, verify_milestone_block, write_full, EntryPoint, EntrySink,
    FullSummary, VerifiedFull,
};

use weft_tangle::StoreError;
use weft_types::{BlockId, NetworkId, StateRoot};

/// The first eight bytes of every snapshot file.
pub const MAGIC: &[u8; 8] = b"WEFTSNAP";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// How many milestones' confirmed blocks a full snapshot lists as solid entry points by
/// default: more than the tip selection's below-max-depth (15), so every block a new
/// block may still approve is known to the restored node.
pub const DEFAULT_ENTRY_POINT_WINDOW: u32 = 16;

/// The two kinds of snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    /// The state at one certified milestone.
    Full,
    /// The milestones after a base index, with their blocks.
    Delta,
}

impl SnapshotKind {
    fn code(self) -> u8 {
        match self {
            SnapshotKind::Full => 0,
            SnapshotKind::Delta => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SnapshotKind::Full => "full",
            SnapshotKind::Delta => "delta",
        }
    }
}

/// Why a snapshot could not be written, read or restored. Reading stops at the first
/// problem and, when restoring, leaves the store as it was.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The stream failed.
    #[error("reading or writing the snapshot: {0}")]
    Io(#[from] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file does not start with [`MAGIC`].
    #[error("not a Weft snapshot (the file does not start with WEFTSNAP)")]
    NotASnapshot,
    /// Another format version.
    #[error("snapshot format version {0}; this node reads version {FORMAT_VERSION}")]
    Version(u8),
    /// A full snapshot where a delta was expected, or the reverse.
    #[error("this is a {found} snapshot; a {expected} snapshot was expected")]
    Kind {
        /// Expected kind.
        expected: &'static str,
        /// Kind in the file.
        found: &'static str,
    },
    /// A field is out of range or the structure is broken.
    #[error("malformed snapshot: {0}")]
    Malformed(String),
    /// The snapshot's genesis is not this node's.
    #[error("the snapshot belongs to network {snapshot} (genesis differs from this node's {configured})")]
    GenesisMismatch {
        /// Network id of the snapshot's genesis.
        snapshot: NetworkId,
        /// Network id of the node's genesis.
        configured: NetworkId,
    },
    /// The milestone is not certified by the committee.
    #[error("milestone {index} of the snapshot is not certified by the committee: {reason}")]
    NotCertified {
        /// The milestone's index (0 when it could not be read).
        index: u32,
        /// Why.
        reason: String,
    },
    /// The entries do not hash to the certified state root.
    #[error("the snapshot's state does not match milestone {index}: its entries hash to state root {computed}, the milestone certifies {certified}")]
    StateRootMismatch {
        /// Milestone index.
        index: u32,
        /// Root of the entries in the file.
        computed: StateRoot,
        /// Root in the certified essence.
        certified: StateRoot,
    },
    /// The trailing checksum does not match the bytes read.
    #[error("checksum mismatch: the snapshot file is damaged or truncated")]
    Checksum,
    /// Restoring needs an empty store.
    #[error("the data directory already holds a ledger: a snapshot can only be restored into an empty one")]
    NotEmpty,
    /// Nothing to snapshot yet.
    #[error("the store has no confirmed milestone yet")]
    NoMilestone,
    /// A milestone the snapshot needs is not in the store.
    #[error("milestone {0} is not in the store")]
    MissingMilestone(u32),
    /// A block a delta needs is not in the store.
    #[error("block {block} confirmed by milestone {milestone} is not in the store (pruned?)")]
    MissingBlock {
        /// The block.
        block: BlockId,
        /// Its milestone.
        milestone: u32,
    },
}
