//! Prometheus metrics at `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    /// Blocks accepted into the Tangle.
    pub blocks_received: Counter,
    /// Blocks rejected at submission.
    pub blocks_rejected: Counter,
    /// Blocks confirmed by milestones (applied or conflicting).
    pub blocks_confirmed: Counter,
    /// Blocks confirmed as conflicting.
    pub blocks_conflicting: Counter,
    /// Blocks confirmed per second over the last milestone interval.
    pub blocks_confirmed_per_second: Gauge<f64, AtomicU64>,
    /// Blocks received per second over the last milestone interval.
    pub blocks_received_per_second: Gauge<f64, AtomicU64>,
    /// Time to build, apply and store one milestone.
    pub milestone_confirmation_seconds: Histogram,
    /// Time to write a milestone's journaled block metadata, after it is announced.
    pub block_metadata_seconds: Histogram,
    /// Latest milestone index.
    pub latest_milestone: Gauge,
    /// Tips in the pool.
    pub tips: Gauge,
    /// Blocks waiting for parents.
    pub solidifier_queue: Gauge,
    /// Stored, unconfirmed blocks.
    pub pending_blocks: Gauge,
    /// Database size on disk.
    pub database_bytes: Gauge,
    /// Milestones received from peers, checked and applied (followers).
    pub milestones_followed: Counter,
    /// Milestones this validator computed and signed, and committed once the committee
    /// certified them (committees of more than one member).
    pub milestones_certified: Counter,
    /// 1 once a received milestone's confirmed blocks or state root differed from this
    /// node's (it then applies no further milestone).
    pub state_divergence: Gauge,
    /// Allowlisted peers connected.
    pub peers_connected: Gauge,
    /// Gossiped blocks by verdict.
    pub gossip_accepted: Counter,
    /// Gossiped blocks ignored (known, or not judgeable yet).
    pub gossip_ignored: Counter,
    /// Gossiped blocks rejected as invalid.
    pub gossip_rejected: Counter,
    /// Blocks fetched from peers by sync (missing parents and milestone cones).
    pub blocks_synced: Counter,
    /// Pruning's lower bound: the blocks of every milestone below it lost their bodies.
    pub pruned_below_index: Gauge,
    /// Block bodies deleted by pruning (since the node started).
    pub blocks_pruned: Counter,
    /// Index of the latest full snapshot this node wrote.
    pub snapshot_index: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("weft"),
            blocks_received: Counter::default(),
            blocks_rejected: Counter::default(),
            blocks_confirmed: Counter::default(),
            blocks_conflicting: Counter::default(),
            blocks_confirmed_per_second: Gauge::default(),
            blocks_received_per_second: Gauge::default(),
            milestone_confirmation_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            block_metadata_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            latest_milestone: Gauge::default(),
            tips: Gauge::default(),
            solidifier_queue: Gauge::default(),
            pending_blocks: Gauge::default(),
            database_bytes: Gauge::default(),
            milestones_followed: Counter::default(),
            milestones_certified: Counter::default(),
            state_divergence: Gauge::default(),
            peers_connected: Gauge::default(),
            gossip_accepted: Counter::default(),
            gossip_ignored: Counter::default(),
            gossip_rejected: Counter::default(),
            blocks_synced: Counter::default(),
            pruned_below_index: Gauge::default(),
            blocks_pruned: Counter::default(),
            snapshot_index: Gauge::default(),
        };
        m.registry.register(
            "blocks_received",
            "Blocks accepted into the Tangle",
            m.blocks_received.clone(),
        );
        m.registry.register(
            "blocks_rejected",
            "Blocks rejected at submission",
            m.blocks_rejected.clone(),
        );
        m.registry.register(
            "blocks_confirmed",
            "Blocks confirmed by milestones",
            m.blocks_confirmed.clone(),
        );
        m.registry.register(
            "blocks_conflicting",
            "Blocks confirmed as conflicting",
            m.blocks_conflicting.clone(),
        );
        m.registry.register(
            "blocks_confirmed_per_second",
            "Blocks confirmed per second over the last milestone interval",
            m.blocks_confirmed_per_second.clone(),
        );
        m.registry.register(
            "blocks_received_per_second",
            "Blocks received per second over the last milestone interval",
            m.blocks_received_per_second.clone(),
        );
        m.registry.register(
            "milestone_confirmation_seconds",
            "Time to order, apply, store and flush one milestone",
            m.milestone_confirmation_seconds.clone(),
        );
        m.registry.register(
            "block_metadata_seconds",
            "Time to write the per-block metadata of a milestone after it is announced",
            m.block_metadata_seconds.clone(),
        );
        m.registry.register(
            "latest_milestone",
            "Latest milestone index",
            m.latest_milestone.clone(),
        );
        m.registry
            .register("tips", "Tips in the pool", m.tips.clone());
        m.registry.register(
            "solidifier_queue",
            "Blocks waiting for parents",
            m.solidifier_queue.clone(),
        );
        m.registry.register(
            "pending_blocks",
            "Stored, unconfirmed blocks",
            m.pending_blocks.clone(),
        );
        m.registry.register(
            "database_bytes",
            "Database size on disk",
            m.database_bytes.clone(),
        );
        m.registry.register(
            "milestones_followed",
            "Milestones received from peers, checked and applied",
            m.milestones_followed.clone(),
        );
        m.registry.register(
            "milestones_certified",
            "Milestones this validator computed, signed and committed with the committee's certificate",
            m.milestones_certified.clone(),
        );
        m.registry.register(
            "state_divergence",
            "1 when a received milestone disagreed with this node's ledger (halted)",
            m.state_divergence.clone(),
        );
        m.registry.register(
            "peers_connected",
            "Allowlisted peers connected",
            m.peers_connected.clone(),
        );
        m.registry.register(
            "gossip_blocks_accepted",
            "Gossiped blocks accepted and forwarded",
            m.gossip_accepted.clone(),
        );
        m.registry.register(
            "gossip_blocks_ignored",
            "Gossiped blocks ignored (known or not judgeable yet)",
            m.gossip_ignored.clone(),
        );
        m.registry.register(
            "gossip_blocks_rejected",
            "Gossiped blocks rejected as invalid",
            m.gossip_rejected.clone(),
        );
        m.registry.register(
            "blocks_synced",
            "Blocks fetched from peers by sync",
            m.blocks_synced.clone(),
        );
        m.registry.register(
            "pruned_below_index",
            "Pruning's lower bound: blocks of milestones below it have no body here",
            m.pruned_below_index.clone(),
        );
        m.registry.register(
            "blocks_pruned",
            "Block bodies deleted by pruning",
            m.blocks_pruned.clone(),
        );
        m.registry.register(
            "snapshot_index",
            "Index of the latest full snapshot this node wrote",
            m.snapshot_index.clone(),
        );
        m
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
