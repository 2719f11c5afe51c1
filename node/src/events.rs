//! Events the node publishes to WebSocket subscribers.

use serde::Serialize;
use weft_ledger::ConflictReason;
use weft_types::{BlockId, InclusionRoot, MilestoneId, PayloadKind, StateRoot};

/// One event of the `/api/v1/events` stream.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    /// A block was stored.
    #[serde(rename_all = "camelCase")]
    Block {
        /// Its id.
        block_id: BlockId,
        /// Its payload kind.
        payload: PayloadKind,
        /// Whether its past cone is complete.
        solid: bool,
    },
    /// A milestone was confirmed.
    #[serde(rename_all = "camelCase")]
    Milestone {
        /// Index.
        index: u32,
        /// Milestone id.
        milestone_id: MilestoneId,
        /// Id of the block carrying it.
        block_id: BlockId,
        /// Timestamp (ms).
        timestamp: u64,
        /// Blocks it confirmed.
        confirmed_blocks: usize,
        /// Of which conflicting.
        conflicting_blocks: usize,
        /// Inclusion root.
        inclusion_root: InclusionRoot,
        /// State root.
        state_root: StateRoot,
    },
    /// The blocks a milestone confirmed, in white-flag order.
    #[serde(rename_all = "camelCase")]
    Confirmations {
        /// Milestone index.
        milestone: u32,
        /// Confirmation time (ms).
        time: u64,
        /// The blocks.
        blocks: Vec<ConfirmedBlock>,
    },
}

/// One confirmed block in a [`Event::Confirmations`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmedBlock {
    /// Its id.
    pub block_id: BlockId,
    /// Why it had no effect, if it was conflicting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictReason>,
}

impl Event {
    /// The topic a subscriber filters on: `blocks`, `milestones` or `confirmations`.
    pub fn topic(&self) -> &'static str {
        match self {
            Event::Block { .. } => "blocks",
            Event::Milestone { .. } => "milestones",
            Event::Confirmations { .. } => "confirmations",
        }
    }
}
