//! What the network asks of the node: the `SyncSource` trait through which peers'
//! sync requests are answered from the node's storage.
//!
//! This module exists because the network owns no storage (the node does, in
//! `weft-tangle`): the trait is the whole contract between the two, small enough for a
//! test to implement with a map.

use weft_types::BlockId;

use crate::protocol::MilestoneRange;

/// A milestone as the sync protocol serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestoneData {
    /// The milestone block's canonical bytes.
    pub block: Vec<u8>,
    /// The ids of the blocks it confirmed, in white-flag order.
    pub confirmed: Vec<BlockId>,
}

/// The node's stored data, as peers may ask for it.
///
/// Methods are called on tokio's blocking thread pool (at most
/// [`crate::NetworkConfig::max_inbound_requests`] at once), so they may read from
/// disk. They must not panic; a block or milestone the node does not hold is `None`.
pub trait SyncSource: Send + Sync + 'static {
    /// The canonical bytes of a stored block.
    fn block(&self, id: &BlockId) -> Option<Vec<u8>>;

    /// Milestone `index`: its block and the blocks it confirmed, in white-flag order.
    fn milestone(&self, index: u32) -> Option<MilestoneData>;

    /// The milestones this node holds, announced in heartbeats and status answers
    /// (`(0, 0)` before the first milestone).
    fn milestone_range(&self) -> MilestoneRange;
}
