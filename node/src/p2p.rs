//! The node on the consortium network: `weft-network` wired to the node's Tangle, its
//! admission path and its milestone path.
//!
//! This module exists because the network crate validates nothing and owns no storage:
//! here its events meet the node. Gossiped blocks go through the same admission as
//! `POST /api/v1/blocks` and their verdict goes back to gossipsub; blocks the node
//! admits from its API, and the milestones (and tip-merging blocks) it issues, are
//! published; peers' sync requests are answered from the store ([`StoreSource`]);
//! parents a waiting block lacks are fetched from peers; and a follower (a node without
//! a committee key, or a validator of a larger committee that fell behind) applies the
//! certified milestones it receives by gossip, or fetches by sync when it is behind,
//! one index at a time, through [`crate::core::NodeInner::follow_milestone`]. A
//! validator of a committee of more than one member agrees on milestones with the
//! others ([`committee`]). `specs/network.md` §8 and `specs/consensus.md` §9 describe
//! the rules.

pub mod committee;
pub mod testnet;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinHandle;
use weft_network::{
    MilestoneData, MilestoneRange, Network, NetworkConfig, NetworkError, NetworkEvent,
    NetworkHandle, NodeKey, PeerId, PeerStatus, SyncSource, Validation,
};
use weft_tangle::{read, AttachOutcome};
use weft_types::{Block, BlockId, Issuer, Payload};

pub use self::committee::Byzantine;
use self::committee::{Committee, CommitteeLink};
use crate::config::NetworkSettings;
use crate::core::{FollowError, Node, SubmitError};

/// Gossip blocks being admitted at once (each holds one ingest slot until answered).
const MAX_ADMISSIONS: usize = 1024;
/// Blocks waiting to be published (the node's gossip sink).
const PUBLISH_QUEUE: usize = 8192;
/// Milestones received by gossip kept for application, at most.
const MAX_CANDIDATES: usize = 256;
/// Missing parents asked for per round.
const MAX_PARENTS_PER_ROUND: usize = 512;
/// How often followers compare their latest milestone with their peers', and the node
/// looks for missing parents, without being prompted.
const TICK: Duration = Duration::from_millis(1000);

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// The node key is missing or malformed (the message names the variable, never
    /// its value).
    #[error("node key: {0}")]
    Key(String),
    /// The network layer refused the configuration or could not listen.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The consensus session could not start.
    #[error("consensus: {0}")]
    Consensus(String),
}

/// The node's sync data, as peers may ask for it: blocks from the store, milestones
/// (block and white-flag list) up to the latest one whose batch is flushed.
pub struct StoreSource {
    node: Node,
}

impl StoreSource {
    /// A source over `node`'s store.
    pub fn new(node: Node) -> StoreSource {
        StoreSource { node }
    }
}

impl SyncSource for StoreSource {
    fn block(&self, id: &BlockId) -> Option<Vec<u8>> {
        self.node.block_bytes(id).ok().flatten()
    }

    fn milestone(&self, index: u32) -> Option<MilestoneData> {
        let latest = self.node.latest_milestone()?.index;
        if index == 0 || index > latest {
            return None;
        }
        let store = self.node.store.as_ref();
        let block_id = read::milestone_block_id(store, index).ok()??;
        let block = read::block_bytes(store, &block_id).ok()??;
        let confirmed = read::white_flag_list(store, index).ok()??;
        Some(MilestoneData { block, confirmed })
    }

    fn milestone_range(&self) -> MilestoneRange {
        match self.node.latest_milestone() {
            // The oldest milestone whose blocks are all still here: a peer catching up
            // asks a node that can serve the whole cone, not one that pruned it.
            Some(l) => MilestoneRange {
                oldest: self.node.pruned_below().unwrap_or(0).max(1).min(l.index),
                latest: l.index,
            },
            None => MilestoneRange {
                oldest: 0,
                latest: 0,
            },
        }
    }
}

/// The running network of a node: stop it with [`P2p::shutdown`] before the node.
pub struct P2p {
    handle: NetworkHandle,
    tasks: Vec<JoinHandle<()>>,
    committee: Option<Committee>,
}

impl P2p {
    /// The network handle (peer id, listen address, peers).
    pub fn handle(&self) -> &NetworkHandle {
        &self.handle
    }

    /// Stops the tasks and the network.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(c) = self.committee {
            c.stop().await;
        }
        self.handle.shutdown().await;
    }
}

/// Reads the node key from the environment variable the settings name.
pub fn node_key(settings: &NetworkSettings) -> Result<NodeKey, P2pError> {
    let var = &settings.key_env;
    let hex_seed = std::env::var(var)
        .map_err(|_| P2pError::Key(format!("set {var} to the node's 64-hex-digit seed")))?;
    NodeKey::from_hex(&hex_seed).map_err(|_| P2pError::Key(format!("{var}: not 64 hex digits")))
}

/// Starts the network for `node` and the tasks that connect the two (for a validator of
/// a committee of more than one member, its consensus session too). Runs on the current
/// tokio runtime.
pub async fn start(node: Node, settings: &NetworkSettings) -> Result<P2p, P2pError> {
    let key = node_key(settings)?;
    start_with(node, settings, key, None).await
}

/// As [`start`] with the node key given, for a validator that misbehaves as
/// `byzantine` says (tests of the committee's safety only; needs the `byzantine`
/// feature).
#[cfg(feature = "byzantine")]
pub async fn start_byzantine(
    node: Node,
    settings: &NetworkSettings,
    key: NodeKey,
    byzantine: Byzantine,
) -> Result<P2p, P2pError> {
    start_with(node, settings, key, Some(byzantine)).await
}

async fn start_with(
    node: Node,
    settings: &NetworkSettings,
    key: NodeKey,
    byzantine: Option<Byzantine>,
) -> Result<P2p, P2pError> {
    let mut config = NetworkConfig::new(settings.listen.clone(), key, node.network_id);
    config.allowlist = settings.allowlist.clone();
    config.ban_duration = settings.ban_duration;
    config.heartbeat_interval = settings.heartbeat_interval;
    let source: Arc<dyn SyncSource> = Arc::new(StoreSource::new(node.clone()));
    let (handle, events) = Network::start(config, source).await?;
    tracing::info!(
        peer_id = %handle.local_peer_id(),
        entry = %handle.entry(),
        peers = settings.allowlist.len(),
        "peer-to-peer network listening"
    );

    let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
    node.set_gossip_sink(publish_tx);
    let (candidates_tx, candidates_rx) = mpsc::channel(MAX_CANDIDATES);
    let behind = Arc::new(Notify::new());
    let orphans = Arc::new(Notify::new());
    let committee = match (
        &node.config.consensus,
        node.is_validator() && !node.issues_alone(),
    ) {
        (Some(consensus), true) => Some(
            committee::start(
                node.clone(),
                handle.clone(),
                consensus.clone(),
                orphans.clone(),
                byzantine,
            )
            .map_err(P2pError::Consensus)?,
        ),
        _ => None,
    };
    let ctx = Ctx {
        node: node.clone(),
        handle: handle.clone(),
        candidates: candidates_tx,
        behind: behind.clone(),
        orphans: orphans.clone(),
        committee: committee.as_ref().map(|c| c.link.clone()),
        strict_committee: node.config.consensus.is_some(),
    };
    let mut tasks = vec![
        tokio::spawn(publish_loop(handle.clone(), publish_rx)),
        tokio::spawn(ctx.clone().event_loop(events)),
        tokio::spawn(ctx.clone().parents_loop()),
    ];
    if node.issues_alone() {
        drop(candidates_rx);
    } else {
        if committee.is_some() {
            tracing::info!("validator: agreeing on milestones with the committee");
        } else {
            tracing::info!("follower: applying certified milestones received from peers");
        }
        tasks.push(tokio::spawn(ctx.follow_loop(candidates_rx)));
    }
    Ok(P2p {
        handle,
        tasks,
        committee,
    })
}

async fn publish_loop(handle: NetworkHandle, mut blocks: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = blocks.recv().await {
        match handle.publish_block(bytes).await {
            Ok(_) => {}
            Err(NetworkError::Shutdown) => break,
            Err(e) => tracing::debug!(error = %e, "publish failed"),
        }
    }
}

/// Whether a refusal holds whatever this node's state (so the peer that forwarded the
/// block earns a strike), or may change as the node catches up (not its fault).
fn invalid_whatever_the_state(e: &SubmitError, block: &Block) -> bool {
    match e {
        SubmitError::Decode(_)
        | SubmitError::Json(_)
        | SubmitError::WrongNetwork { .. }
        | SubmitError::AnonymousPayload(_)
        | SubmitError::InvalidSignature(_) => true,
        // An anonymous block's work does not depend on the state; a new DID's does
        // (its key may be registered meanwhile).
        SubmitError::InsufficientWork { .. } => matches!(block.issuer, Issuer::Anonymous),
        // A note payload's proofs and signatures do not depend on the state; whether
        // its inputs are unspent does (a racing double spend is not the relay's fault).
        SubmitError::Notes { reason, .. } => matches!(
            reason,
            weft_ledger::ConflictReason::MalformedNote
                | weft_ledger::ConflictReason::InvalidRangeProof
                | weft_ledger::ConflictReason::Unbalanced
                | weft_ledger::ConflictReason::NotNoteOwner
        ),
        _ => false,
    }
}

/// A peer that can serve milestone `index` (or, with `None`, is at least as far as
/// this node), connected and not banned; spread over peers by `salt`.
fn serving_peers(peers: &[PeerStatus], index: Option<u32>, ours: u32, salt: usize) -> Vec<PeerId> {
    let mut out: Vec<PeerId> = peers
        .iter()
        .filter(|p| p.connected && p.banned_for.is_none())
        .filter(|p| match (index, p.range) {
            (Some(i), Some(r)) => r.contains(i),
            (Some(_), None) => false,
            (None, Some(r)) => r.latest >= ours,
            (None, None) => true,
        })
        .map(|p| p.peer_id)
        .collect();
    if !out.is_empty() {
        let n = salt % out.len();
        out.rotate_left(n);
    }
    out
}

#[derive(Clone)]
struct Ctx {
    node: Node,
    handle: NetworkHandle,
    /// Milestones received by gossip, for the follower task.
    candidates: mpsc::Sender<(Block, Vec<u8>)>,
    /// A peer announced a later milestone.
    behind: Arc<Notify>,
    /// A block waits for parents this node lacks.
    orphans: Arc<Notify>,
    /// The committee wiring, on a validator of a committee of more than one member.
    committee: Option<Arc<CommitteeLink>>,
    /// Whether committee messages from peers are expected at all (a multi-member
    /// committee is configured); otherwise they are only ignored.
    strict_committee: bool,
}

impl Ctx {
    fn latest_index(&self) -> u32 {
        self.node.latest_milestone().map(|l| l.index).unwrap_or(0)
    }

    async fn event_loop(self, mut events: mpsc::Receiver<NetworkEvent>) {
        let admissions = Arc::new(Semaphore::new(MAX_ADMISSIONS));
        while let Some(event) = events.recv().await {
            match event {
                NetworkEvent::Block {
                    from, id, bytes, ..
                } => {
                    let Ok(block) = Block::from_bytes(&bytes) else {
                        self.report(from, id, Validation::Reject).await;
                        continue;
                    };
                    if matches!(block.payload, Payload::Milestone(_)) {
                        let verdict = self.judge_milestone(block, bytes);
                        self.report(from, id, verdict).await;
                        continue;
                    }
                    let Ok(permit) = admissions.clone().acquire_owned().await else {
                        break;
                    };
                    let ctx = self.clone();
                    tokio::spawn(async move {
                        let verdict = ctx.admit(&block, bytes).await;
                        ctx.report(from, id, verdict).await;
                        drop(permit);
                    });
                }
                NetworkEvent::Heartbeat { peer, latest, .. } => {
                    if latest > self.latest_index() {
                        tracing::debug!(%peer, latest, "a peer is ahead");
                        self.behind.notify_one();
                    }
                }
                NetworkEvent::PeerConnected { peer, addr } => {
                    self.node.metrics.peers_connected.inc();
                    tracing::info!(%peer, %addr, "peer connected");
                }
                NetworkEvent::PeerDisconnected { peer } => {
                    self.node.metrics.peers_connected.dec();
                    tracing::info!(%peer, "peer disconnected");
                }
                NetworkEvent::Committee { from, bytes } => {
                    let verdict = match &self.committee {
                        Some(link) => link.deliver(from, bytes),
                        // A follower of a multi-member committee: validators do not
                        // send it consensus messages.
                        None if self.strict_committee => {
                            Err("sent a consensus message to a non-validator".into())
                        }
                        None => Ok(()),
                    };
                    if let Err(reason) = verdict {
                        let _ = self.handle.strike(from, reason).await;
                    }
                }
                NetworkEvent::PeerBanned {
                    peer,
                    reason,
                    duration,
                } => {
                    tracing::warn!(%peer, %reason, secs = duration.as_secs(), "peer banned");
                }
            }
        }
    }

    async fn report(&self, from: PeerId, id: BlockId, verdict: Validation) {
        let m = &self.node.metrics;
        match verdict {
            Validation::Accept => m.gossip_accepted.inc(),
            Validation::Ignore => m.gossip_ignored.inc(),
            Validation::Reject => m.gossip_rejected.inc(),
        };
        let _ = self.handle.report(from, id, verdict).await;
    }

    /// A gossiped milestone: forwarded when its certificate holds and it is new here;
    /// a follower queues it for application.
    fn judge_milestone(&self, block: Block, bytes: Vec<u8>) -> Validation {
        match self.node.check_milestone_block(&block) {
            Ok(index) if index > self.latest_index() => {
                if let (Some(link), Payload::Milestone(m)) = (&self.committee, &block.payload) {
                    link.certified((**m).clone());
                }
                if !self.node.issues_alone() && self.candidates.try_send((block, bytes)).is_ok() {
                    self.behind.notify_one();
                }
                Validation::Accept
            }
            Ok(_) => {
                // Another validator's block of a milestone committed here: stored when
                // blocks approving it wait for it (off the event loop: it takes the
                // issuing lock).
                let node = self.node.clone();
                tokio::task::spawn_blocking(move || {
                    let id = BlockId::of_bytes(&bytes);
                    if !node.missing_parents(usize::MAX).contains(&id) {
                        return;
                    }
                    match node.store_milestone_alias(&block, &bytes) {
                        Ok(true) => {
                            tracing::debug!(%id, "stored another validator's milestone block")
                        }
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "milestone block not stored"),
                    }
                });
                Validation::Ignore
            }
            Err(e @ FollowError::CommitteeUnknown { .. }) => {
                // Not provably bad: this node is behind a committee change. The
                // follower path fetches it again once caught up.
                tracing::debug!(error = %e, "gossiped milestone not judged yet");
                Validation::Ignore
            }
            Err(e) => {
                tracing::warn!(error = %e, "gossiped milestone refused");
                Validation::Reject
            }
        }
    }

    /// A gossiped block through the API's admission path.
    async fn admit(&self, block: &Block, bytes: Vec<u8>) -> Validation {
        match self.node.submit_from_peer(bytes).await {
            Ok(s) => match s.outcome {
                AttachOutcome::Solid => Validation::Accept,
                AttachOutcome::Waiting { .. } => {
                    self.orphans.notify_one();
                    Validation::Ignore
                }
                AttachOutcome::Duplicate | AttachOutcome::QueueFull { .. } => Validation::Ignore,
            },
            Err(e) if invalid_whatever_the_state(&e, block) => {
                tracing::debug!(error = %e, "gossiped block rejected");
                Validation::Reject
            }
            Err(e) => {
                tracing::debug!(error = %e, "gossiped block ignored");
                Validation::Ignore
            }
        }
    }

    /// Fetches parents that waiting blocks lack from peers at least as far along, and
    /// admits them like gossip (a milestone block among them goes to the follower).
    async fn parents_loop(self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round = 0usize;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.orphans.notified() => {}
            }
            round += 1;
            let mut missing = self.node.missing_parents(MAX_PARENTS_PER_ROUND);
            if let Some(link) = &self.committee {
                // Tips of proposals the consensus gate waits for.
                let wanted: Vec<BlockId> = link.wanted.lock().iter().copied().collect();
                let unknown = self.node.unknown_blocks(&wanted).unwrap_or_default();
                {
                    let mut w = link.wanted.lock();
                    w.retain(|id| unknown.contains(id));
                }
                for id in unknown {
                    if missing.len() < MAX_PARENTS_PER_ROUND && !missing.contains(&id) {
                        missing.push(id);
                    }
                }
            }
            if missing.is_empty() {
                continue;
            }
            let Ok(peers) = self.handle.peers().await else {
                break;
            };
            let mut progress = false;
            for peer in serving_peers(&peers, None, self.latest_index(), round) {
                let Ok(blocks) = self.handle.request_blocks(peer, missing.clone()).await else {
                    continue;
                };
                if blocks.is_empty() {
                    continue;
                }
                self.node.metrics.blocks_synced.inc_by(blocks.len() as u64);
                for (_, bytes) in blocks {
                    let Ok(block) = Block::from_bytes(&bytes) else {
                        continue;
                    };
                    if matches!(block.payload, Payload::Milestone(_)) {
                        let _ = self.judge_milestone(block, bytes);
                    } else if let Ok(s) = self.node.submit_from_peer(bytes).await {
                        progress |= !matches!(s.outcome, AttachOutcome::Duplicate);
                    }
                }
                break;
            }
            if progress {
                // The fetched blocks may lack parents in turn.
                self.orphans.notify_one();
            }
        }
    }

    /// Applies milestones in index order, from gossip when their cone is here, else by
    /// sync from a peer that holds them, until this node is as far as its peers.
    async fn follow_loop(self, mut received: mpsc::Receiver<(Block, Vec<u8>)>) {
        let mut candidates: BTreeMap<u32, (Block, Vec<u8>)> = BTreeMap::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut halted_logged = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.behind.notified() => {}
                got = received.recv() => match got {
                    Some(c) => { insert_candidate(&mut candidates, c); }
                    None => break,
                },
            }
            while let Ok(c) = received.try_recv() {
                insert_candidate(&mut candidates, c);
            }
            if self.node.is_halted() {
                if !halted_logged {
                    tracing::error!("halted after a state divergence: not following milestones");
                    halted_logged = true;
                }
                continue;
            }
            let Ok(peers) = self.handle.peers().await else {
                break;
            };
            loop {
                let latest = self.latest_index();
                candidates.retain(|i, _| *i > latest);
                let peers_latest = peers
                    .iter()
                    .filter(|p| p.connected && p.banned_for.is_none())
                    .filter_map(|p| p.range.map(|r| r.latest))
                    .max()
                    .unwrap_or(0);
                let target = candidates
                    .keys()
                    .next_back()
                    .copied()
                    .unwrap_or(0)
                    .max(peers_latest);
                if target <= latest {
                    break;
                }
                let next = latest + 1;
                if self.committee.as_ref().is_some_and(|c| c.busy_with(next)) {
                    // This validator computed it and commits it once certified.
                    break;
                }
                let applied = match candidates.remove(&next) {
                    Some((block, bytes)) => match self.apply(block, bytes, None).await {
                        Ok(()) => true,
                        Err(FollowError::Incomplete { .. }) => {
                            self.sync_milestone(next, &peers).await
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "gossiped milestone not applied");
                            self.sync_milestone(next, &peers).await
                        }
                    },
                    None => self.sync_milestone(next, &peers).await,
                };
                if !applied {
                    break;
                }
            }
        }
    }

    async fn apply(
        &self,
        block: Block,
        bytes: Vec<u8>,
        listed: Option<Vec<BlockId>>,
    ) -> Result<(), FollowError> {
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || {
            node.follow_milestone(&block, bytes, listed.as_deref())
                .map(|_| ())
        })
        .await
        .unwrap_or(Err(FollowError::Halted))
    }

    /// Fetches milestone `index` and the blocks of its cone this node lacks from a peer
    /// that holds it, stores them, and applies the milestone. False when no peer could.
    async fn sync_milestone(&self, index: u32, peers: &[PeerStatus]) -> bool {
        for peer in serving_peers(peers, Some(index), 0, index as usize) {
            match self.sync_from(peer, index).await {
                Ok(()) => return true,
                Err(e) => {
                    tracing::warn!(%peer, index, error = %e, "milestone sync failed");
                }
            }
        }
        false
    }

    async fn sync_from(&self, peer: PeerId, index: u32) -> Result<(), String> {
        let data = self
            .handle
            .request_milestone(peer, index)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the peer does not hold it")?;
        let block = Block::from_bytes(&data.block).map_err(|e| e.to_string())?;
        let got = self
            .node
            .check_milestone_block(&block)
            .map_err(|e| e.to_string())?;
        let Payload::Milestone(milestone) = &block.payload else {
            return Err("not a milestone".into());
        };
        if got != index {
            return Err(format!("the peer sent milestone {got}"));
        }
        // The list must be the one the certificate binds, before anything is fetched.
        if weft_crypto::inclusion_root(&data.confirmed) != milestone.essence.inclusion_root {
            return Err("the confirmed list does not match the inclusion root".into());
        }
        let missing = self
            .node
            .unknown_blocks(&data.confirmed)
            .map_err(|e| e.to_string())?;
        if !missing.is_empty() {
            let fetched = self
                .handle
                .request_blocks(peer, missing.clone())
                .await
                .map_err(|e| e.to_string())?;
            if fetched.len() != missing.len() {
                return Err(format!(
                    "the peer served {} of {} blocks",
                    fetched.len(),
                    missing.len()
                ));
            }
            self.node.metrics.blocks_synced.inc_by(fetched.len() as u64);
            // In white-flag order, so parents come before their children.
            for result in self.node.attach_certified(fetched).await {
                if let Err(e) = result {
                    return Err(format!("a confirmed block was not stored: {e}"));
                }
            }
        }
        match self.apply(block, data.block, Some(data.confirmed)).await {
            Ok(()) | Err(FollowError::Known { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn insert_candidate(candidates: &mut BTreeMap<u32, (Block, Vec<u8>)>, c: (Block, Vec<u8>)) {
    let Payload::Milestone(m) = &c.0.payload else {
        return;
    };
    candidates.insert(m.essence.index, c);
    while candidates.len() > MAX_CANDIDATES {
        // Keep the lowest: they are applied first; later ones are fetched again.
        candidates.pop_last();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{dev_key, NodeConfig};
    use weft_crypto::OrganisationKey;
    use weft_tangle::MemoryStore;
    use weft_types::{BlockBuilder, Milestone, MilestoneSignature, StateRoot, TaggedData};

    /// Two nodes of one genesis (the dev keys, without the dev circuit keys): the first
    /// holds the committee key, the second follows.
    fn config(dir: &std::path::Path, validator: bool) -> NodeConfig {
        let path = dir.join(format!("{validator}.toml"));
        std::fs::write(
            &path,
            format!(
                "network_name = \"follow-test\"\ndata_dir = \"{}\"\napi = \"127.0.0.1:1\"\n\
                 committee_threshold = 1\ncommittee = [\"{}\"]\nauthority = \"{}\"\n\
                 organisations = [\"{}\"]\nmilestone_interval_ms = 3600000\npow_difficulty = 0\n",
                dir.display(),
                dev_key("committee").public_key(),
                dev_key("authority").public_key(),
                dev_key("organisation").public_key()
            ),
        )
        .unwrap();
        let mut c = NodeConfig::from_file(&path).unwrap();
        // `dev` makes the node hold the (public) dev committee key.
        c.dev = validator;
        c
    }

    /// `block`'s milestone with another state root, certified by `key`.
    fn tampered(block: &Block, key: &OrganisationKey) -> Block {
        let Payload::Milestone(m) = &block.payload else {
            panic!("not a milestone")
        };
        let mut essence = m.essence.clone();
        essence.state_root = StateRoot([7; 32]);
        let signature = key.sign(&essence.signing_message());
        let milestone = Milestone {
            signatures: vec![MilestoneSignature {
                public_key: key.public_key(),
                signature,
            }],
            essence,
        };
        key.sign_block(
            BlockBuilder::new(block.network_id, block.parents.clone(), block.issuing_time)
                .payload(Payload::Milestone(Box::new(milestone)))
                .organisation(key.public_key()),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_follower_applies_certified_milestones_and_halts_on_a_wrong_state_root() {
        let dir = tempfile::tempdir().unwrap();
        let issuer =
            Node::start_with_store(config(dir.path(), true), Arc::new(MemoryStore::default()))
                .unwrap();
        let follower =
            Node::start_with_store(config(dir.path(), false), Arc::new(MemoryStore::default()))
                .unwrap();
        assert!(issuer.is_validator() && !follower.is_validator());

        let org = dev_key("organisation");
        let anchor = org.sign_block(
            BlockBuilder::new(
                issuer.network_id,
                vec![BlockId::GENESIS],
                crate::core::now_ms(),
            )
            .payload(Payload::TaggedData(TaggedData {
                tag: b"t".to_vec(),
                data: b"d".to_vec(),
            }))
            .organisation(org.public_key()),
        );
        issuer.submit_bytes(anchor.to_bytes()).await.unwrap();
        let first = issuer.issue_milestone().unwrap();
        let bytes = issuer.block_bytes(&first.block_id).unwrap().unwrap();
        let block = Block::from_bytes(&bytes).unwrap();

        // Its cone is not here yet.
        assert!(matches!(
            follower.follow_milestone(&block, bytes.clone(), None),
            Err(FollowError::Incomplete { index: 1, .. })
        ));
        follower.submit_from_peer(anchor.to_bytes()).await.unwrap();
        // Certified by a key outside the committee: refused, nothing changes.
        let forged = tampered(&block, &OrganisationKey::from_seed(&[9; 32]));
        assert!(follower
            .follow_milestone(&forged, forged.to_bytes(), None)
            .is_err());
        assert!(!follower.is_halted());

        let followed = follower
            .follow_milestone(&block, bytes.clone(), None)
            .unwrap();
        assert_eq!(followed, first);
        assert_eq!(
            follower
                .block_metadata(&anchor.id())
                .unwrap()
                .unwrap()
                .referenced_by,
            Some(1)
        );
        assert!(matches!(
            follower.follow_milestone(&block, bytes, None),
            Err(FollowError::Known { index: 1, .. })
        ));
        // The sync source serves what the issuer stored.
        let source = StoreSource::new(issuer.clone());
        let served = source.milestone(1).unwrap();
        assert_eq!(served.confirmed, vec![anchor.id()]);
        assert_eq!(source.milestone_range().latest, 1);
        assert!(source.milestone(2).is_none());

        // Milestone 2 with a state root the follower does not compute, certified by the
        // committee: the follower halts rather than store it.
        let second = issuer.issue_milestone().unwrap();
        let bytes = issuer.block_bytes(&second.block_id).unwrap().unwrap();
        let block = Block::from_bytes(&bytes).unwrap();
        let wrong = tampered(&block, &dev_key("committee"));
        assert!(matches!(
            follower.follow_milestone(&wrong, wrong.to_bytes(), None),
            Err(FollowError::Divergence { index: 2, .. })
        ));
        assert!(follower.is_halted());
        assert!(follower
            .metrics
            .render()
            .contains("weft_state_divergence 1"));
        assert!(matches!(
            follower.follow_milestone(&block, bytes, None),
            Err(FollowError::Halted)
        ));
        assert_eq!(follower.latest_milestone(), Some(first));
        issuer.shutdown();
        follower.shutdown();
    }
}
