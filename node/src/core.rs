//! The node's core: accepts blocks, keeps the Tangle, issues and applies milestones.
//!
//! Three paths meet here. Submissions are checked without locks (decoding, network,
//! time, issuer, proof of work), then queued to one ingest thread that batch-verifies
//! their signatures (ZIP-215) and attaches them to the Tangle in one store batch. The
//! milestone thread, when this node holds the key of a one-member committee, merges the
//! tip pool into at most eight parents, computes the white-flag order of the new cone,
//! applies it to the ledger, signs the essence and writes everything in one atomic,
//! flushed batch. A validator of a larger committee runs the same steps split in three
//! (`proposal_tips`, `compute_agreed`, `commit_certified`) around the committee's
//! agreement (`crate::p2p::committee`); a follower applies certified milestones
//! (`follow_milestone`). Readers go straight to the store for confirmed data, and take
//! the Tangle lock only for the unconfirmed part. With `[storage]` limits a pruner
//! thread deletes old confirmed blocks' bodies ([`NodeInner::prune_round`]), taking no
//! lock: confirmed data never changes.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc, oneshot};
use weft_crypto::{
    inclusion_root, verify_batch_parallel, BatchEntry, MultisetHash, OrganisationKey,
};
use weft_ledger::keys::ANCHOR_PREFIX;
use weft_ledger::{BlockOutcome, Ledger, MilestoneContext, StateError, StateRead};
use weft_tangle::{
    prefix, read, system, AttachOutcome, Confirmation, KeyFilter, LatestMilestone, SledStore,
    Store, StoreError, Tangle, TangleConfig, TangleError,
};
use weft_types::{
    Block, BlockBuilder, BlockId, Committee, DecodeError, Issuer, Milestone, MilestoneEssence,
    MilestoneId, MilestoneSignature, NetworkId, Payload, PayloadKind, PublicKeyBytes,
};

use crate::config::{NodeConfig, VALIDATOR_KEY_ENV};
use crate::events::{ConfirmedBlock, Event};
use crate::metrics::Metrics;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milestones the pruner deletes at most between two checks for shutdown (and, over the
/// database size limit, per round).
pub const PRUNE_STEP: u32 = 16;

/// Milestones are committed one index at a time: refuses an `index` that is already
/// committed (`latest` or below) or that would leave a gap after `latest`.
fn next_index(index: u32, latest: u32) -> Result<(), FollowError> {
    if index <= latest {
        return Err(FollowError::Known { index, latest });
    }
    if index > latest + 1 {
        return Err(FollowError::Gap { index, latest });
    }
    Ok(())
}

/// Why a submitted block was refused. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Not a canonical block.
    #[error("invalid block encoding: {0}")]
    Decode(#[from] DecodeError),
    /// JSON that is not a block.
    #[error("invalid block JSON: {0}")]
    Json(String),
    /// Another network's block.
    #[error("block is for network {got}, this node runs network {expected}")]
    WrongNetwork {
        /// This node's network id.
        expected: NetworkId,
        /// The block's.
        got: NetworkId,
    },
    /// Issuing time too far ahead of this node's clock.
    #[error("issuing time {time} is more than {skew_ms} ms ahead of this node's clock ({now})")]
    FromTheFuture {
        /// Block time.
        time: u64,
        /// Node time.
        now: u64,
        /// Allowed skew.
        skew_ms: u64,
    },
    /// The signing key may not sign this block (never registered, or retired).
    #[error("issuer {key} may not sign this block: {}", reason.describe())]
    UnknownIssuer {
        /// The signing key.
        key: PublicKeyBytes,
        /// Why (`unknownIssuer` or `revokedKey` as the ledger would record it).
        reason: weft_ledger::ConflictReason,
    },
    /// Anonymous block without enough work.
    #[error("proof of work has {score} leading zero bits, this node requires {required}")]
    InsufficientWork {
        /// Score.
        score: u32,
        /// Required.
        required: u32,
    },
    /// Anonymous block with an organisation-only payload.
    #[error("anonymous blocks cannot carry a {0:?} payload")]
    AnonymousPayload(PayloadKind),
    /// Milestones come from the committee, not from API clients.
    #[error("milestone blocks are issued by the committee and not accepted through the API")]
    MilestoneNotAccepted,
    /// Signature check failed.
    #[error("signature does not verify for issuer {0}")]
    InvalidSignature(PublicKeyBytes),
    /// Too many blocks await confirmation; the node sheds load instead of growing.
    #[error("{0} blocks await confirmation, over this node's limit; retry later")]
    Overloaded(usize),
    /// The solidifier queue is full.
    #[error("too many blocks are waiting for parents ({0}); retry later")]
    SolidifierFull(usize),
    /// The node is shutting down.
    #[error("node is shutting down")]
    ShuttingDown,
    /// A mint, transfer or redeem (or a claim's entitlement key) that the ledger would
    /// confirm as conflicting: refused at once, with the ledger's reason.
    #[error("{message}")]
    Notes {
        /// The conflict reason the ledger would record.
        reason: weft_ledger::ConflictReason,
        /// What exactly is wrong (which input, which check).
        message: String,
    },
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(String),
}

/// A submission that was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The block id.
    pub block_id: BlockId,
    /// Solid, waiting for parents, or already known.
    pub outcome: AttachOutcome,
}

/// Errors opening or running the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Tangle or storage.
    #[error(transparent)]
    Tangle(#[from] TangleError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Ledger.
    #[error(transparent)]
    Ledger(#[from] weft_ledger::LedgerError),
    /// Pruning old blocks.
    #[error(transparent)]
    Prune(#[from] weft_tangle::PruneError),
    /// Writing, reading or restoring a snapshot.
    #[error(transparent)]
    Snapshot(#[from] weft_snapshot::SnapshotError),
    /// The data directory holds another network.
    #[error("data directory holds network {stored:?}, not {configured:?}; use another --data-dir")]
    GenesisMismatch {
        /// Stored network name.
        stored: String,
        /// Configured network name.
        configured: String,
    },
    /// A key or configuration problem.
    #[error("{0}")]
    Setup(String),
}

struct IngestJob {
    block_id: BlockId,
    block: Arc<Block>,
    bytes: Vec<u8>,
    /// Whether the block is gossiped to peers once stored (blocks from this node's API;
    /// blocks from peers are forwarded by gossip itself).
    publish: bool,
    reply: oneshot::Sender<Result<Submitted, SubmitError>>,
}

/// Why a milestone received from a peer was not applied (followers only).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The block carries no milestone.
    #[error("not a milestone block")]
    NotAMilestone,
    /// This node issues milestones itself (the member of a one-member committee).
    #[error("this node is the committee's only member and issues its own milestones")]
    Validator,
    /// The milestone block's own signature, or its issuer, is wrong.
    #[error("milestone block is not signed by a committee member: {0}")]
    BadBlockSignature(String),
    /// The milestone is ahead of this node by more than one, and names a committee this
    /// node cannot confirm yet (a committee change it has not applied).
    #[error("milestone {index} names a committee this node (at {latest}) does not know yet")]
    CommitteeUnknown {
        /// The milestone's index.
        index: u32,
        /// This node's latest.
        latest: u32,
    },
    /// The certificate does not verify against the committee in force at its index.
    #[error("milestone {index} certificate: {error}")]
    Certificate {
        /// The milestone index.
        index: u32,
        /// Why.
        error: crate::milestone::CertificateError,
    },
    /// This node already holds milestone `index`.
    #[error("milestone {index} is already applied (latest {latest})")]
    Known {
        /// The milestone's index.
        index: u32,
        /// This node's latest.
        latest: u32,
    },
    /// Earlier milestones must be applied first.
    #[error("milestone {index} does not follow this node's latest milestone {latest}")]
    Gap {
        /// The milestone's index.
        index: u32,
        /// This node's latest.
        latest: u32,
    },
    /// The milestone does not chain onto this node's latest (previous id or time).
    #[error("milestone {index} does not chain onto milestone {latest}: {reason}")]
    BadChain {
        /// The milestone's index.
        index: u32,
        /// This node's latest.
        latest: u32,
        /// What differs.
        reason: String,
    },
    /// Part of the milestone's past cone is missing or not solid yet: fetch it.
    #[error("milestone {index}: past cone incomplete ({source})")]
    Incomplete {
        /// The milestone's index.
        index: u32,
        /// A block that is missing or not solid.
        #[source]
        source: TangleError,
    },
    /// The confirmed blocks or the state root computed here differ from the
    /// milestone's: this node has stopped applying milestones.
    #[error("HALTED at milestone {index}: {what}")]
    Divergence {
        /// The milestone's index.
        index: u32,
        /// What differs.
        what: String,
    },
    /// The node stopped applying milestones after an earlier divergence.
    #[error("halted after a divergence; milestones are no longer applied")]
    Halted,
    /// Storage or ledger failure.
    #[error(transparent)]
    Node(#[from] NodeError),
}

struct Chain {
    tangle: Tangle,
    commitment: MultisetHash,
}

/// An agreed milestone as this validator computed it, not yet written
/// ([`NodeInner::compute_agreed`]); written by [`NodeInner::commit_certified`] once the
/// committee certified the same essence.
pub struct ComputedMilestone {
    /// The essence this validator signs.
    pub essence: MilestoneEssence,
    /// The blocks it confirms, in white-flag order.
    pub order: Vec<BlockId>,
    outcome: weft_ledger::MilestoneOutcome,
    started: Instant,
}

impl std::fmt::Debug for ComputedMilestone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputedMilestone")
            .field("index", &self.essence.index)
            .field("state_root", &self.essence.state_root)
            .field("confirmed", &self.order.len())
            .finish_non_exhaustive()
    }
}

/// Reads ledger state from the store.
pub struct StoreState<'a>(pub &'a dyn Store);

impl StateRead for StoreState<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        read::ledger_value(self.0, key).map_err(|e| StateError(e.to_string()))
    }
}

/// Reads ledger state from the store, answering "absent" from memory for anchor keys that
/// were never written (every new anchor), so the duplicate check does not read the disk.
struct AnchorFilteredState<'a> {
    store: &'a dyn Store,
    anchors: &'a KeyFilter,
}

impl StateRead for AnchorFilteredState<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if key.starts_with(ANCHOR_PREFIX) && !self.anchors.may_contain(key) {
            return Ok(None);
        }
        read::ledger_value(self.store, key).map_err(|e| StateError(e.to_string()))
    }
}

/// Shared node state.
pub struct NodeInner {
    /// Configuration.
    pub config: NodeConfig,
    /// Network id.
    pub network_id: NetworkId,
    /// The store (confirmed data is read here without locks).
    pub store: Arc<dyn Store>,
    chain: Mutex<Chain>,
    /// Event stream.
    pub events: broadcast::Sender<Arc<Event>>,
    /// Metrics.
    pub metrics: Metrics,
    validator_key: Option<OrganisationKey>,
    /// Whether this node holds the key of a one-member committee and so issues every
    /// milestone alone (a larger committee agrees through `crate::p2p::committee`).
    issues_alone: bool,
    ingest: Mutex<Option<mpsc::Sender<IngestJob>>>,
    stopping: AtomicBool,
    /// Stored, unconfirmed blocks (mirrors the Tangle, readable without its lock).
    pending_blocks: AtomicUsize,
    /// WebSocket subscribers of the `blocks` topic (block events are built only for them).
    pub block_subscribers: AtomicUsize,
    /// Where blocks to be gossiped go (set when the network runs).
    gossip: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    /// Set when a received milestone's confirmed blocks or state root differ from what
    /// this node computed: it then applies no further milestone.
    halted: AtomicBool,
    /// Serialises milestone issuance (the ledger and the cone are only consistent for one
    /// issuer at a time), and holds the filter of confirmed anchor keys it maintains.
    issuing: Mutex<KeyFilter>,
    received_since_milestone: AtomicU64,
    /// When the node started.
    pub started: Instant,
    /// The ledger rules of this network (with its eligibility verifying key).
    ledger: Ledger,
}

/// A running node (cheap to clone).
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
    threads: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

impl std::ops::Deref for Node {
    type Target = NodeInner;
    fn deref(&self) -> &NodeInner {
        &self.inner
    }
}

impl Node {
    /// Opens the store, writes or checks the genesis, and starts the ingest and (for the
    /// member of a one-member committee) milestone threads.
    pub fn start(config: NodeConfig) -> Result<Node, NodeError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            NodeError::Setup(format!("cannot create {}: {e}", config.data_dir.display()))
        })?;
        let store: Arc<dyn Store> = Arc::new(SledStore::open_with_cache(
            &config.data_dir.join("db"),
            config.storage.cache_mib(),
        )?);
        Node::start_with_store(config, store)
    }

    /// As [`Node::start`], on a given store (the validator key, if any, from
    /// `WEFT_VALIDATOR_KEY`, or the dev committee key in dev mode).
    pub fn start_with_store(config: NodeConfig, store: Arc<dyn Store>) -> Result<Node, NodeError> {
        let validator_key = if config.dev {
            Some(crate::config::dev_key("committee"))
        } else {
            match std::env::var(VALIDATOR_KEY_ENV) {
                Ok(hex_seed) => {
                    let seed: [u8; 32] = weft_types::id::parse_hex_array(hex_seed.trim())
                        .map_err(|e| NodeError::Setup(format!("{VALIDATOR_KEY_ENV}: {e}")))?;
                    Some(OrganisationKey::from_seed(&seed))
                }
                Err(_) => None,
            }
        };
        let validator_key = match validator_key {
            Some(k) if is_validator_key(&config, &k.public_key()) => Some(k),
            Some(k) => {
                return Err(NodeError::Setup(format!(
                    "{VALIDATOR_KEY_ENV} holds key {} which is neither a committee member nor \
                     a standby validator of [consensus]",
                    k.public_key()
                )))
            }
            None => None,
        };
        Node::start_with_key(config, store, validator_key)
    }

    /// As [`Node::start_with_store`], with the validator key given by the caller (tests
    /// and tools that run several validators in one process) instead of read from the
    /// environment.
    pub fn start_with_key(
        config: NodeConfig,
        store: Arc<dyn Store>,
        validator_key: Option<OrganisationKey>,
    ) -> Result<Node, NodeError> {
        if let Some(k) = &validator_key {
            if !is_validator_key(&config, &k.public_key()) {
                return Err(NodeError::Setup(format!(
                    "validator key {} is neither a committee member nor a standby validator",
                    k.public_key()
                )));
            }
        }
        let issues_alone = validator_key.is_some() && config.genesis.committee.members().len() == 1;
        if validator_key.is_some()
            && !issues_alone
            && (config.network.is_none() || config.consensus.is_none())
        {
            return Err(NodeError::Setup(
                "a validator of a committee of more than one member needs the [network] and \
                 [consensus] sections: milestones are agreed with the other members"
                    .into(),
            ));
        }
        let tangle_config = TangleConfig {
            max_unsolid: config.max_unsolid,
            tips: config.tips,
            ..Default::default()
        };
        if store
            .get(&weft_tangle::key(prefix::SYSTEM, &[system::RESTORING]))?
            .is_some()
        {
            return Err(NodeError::Setup(
                "the data directory holds an interrupted snapshot restore: start again from \
                 the snapshot (`weft-node run --snapshot FILE`) or remove the directory"
                    .into(),
            ));
        }
        let mut tangle = Tangle::open(store.clone(), tangle_config)?;
        let commitment = match tangle.system_entry(system::GENESIS)? {
            Some(stored) => {
                let stored: weft_ledger::Genesis = serde_json::from_slice(&stored)
                    .map_err(|e| StoreError::Corrupt(format!("stored genesis: {e}")))?;
                if stored != config.genesis {
                    return Err(NodeError::GenesisMismatch {
                        stored: stored.network_name,
                        configured: config.genesis.network_name.clone(),
                    });
                }
                let bytes = tangle
                    .system_entry(system::STATE_COMMITMENT)?
                    .ok_or_else(|| StoreError::Corrupt("no state commitment".into()))?;
                decode_commitment(&bytes)?
            }
            None => {
                let (diff, commitment) = Ledger::genesis_state(&config.genesis);
                let json = serde_json::to_vec(&config.genesis)
                    .map_err(|e| NodeError::Setup(e.to_string()))?;
                tangle.write_genesis(
                    json,
                    diff.writes.into_iter().collect(),
                    encode_commitment(&commitment),
                )?;
                commitment
            }
        };
        let mut anchors = KeyFilter::default();
        store.for_each_key(
            &weft_tangle::key(prefix::LEDGER, &[ANCHOR_PREFIX]),
            &mut |k| anchors.insert(&k[1..]),
        )?;
        let (events, _) = broadcast::channel(4096);
        let (tx, rx) = mpsc::channel(65_536);
        let ledger = Ledger::new(&config.genesis)?;
        let inner = Arc::new(NodeInner {
            ledger,
            network_id: config.genesis.network_id(),
            config,
            store,
            chain: Mutex::new(Chain { tangle, commitment }),
            events,
            metrics: Metrics::default(),
            validator_key,
            issues_alone,
            ingest: Mutex::new(Some(tx)),
            gossip: Mutex::new(None),
            halted: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            pending_blocks: AtomicUsize::new(0),
            block_subscribers: AtomicUsize::new(0),
            issuing: Mutex::new(anchors),
            received_since_milestone: AtomicU64::new(0),
            started: Instant::now(),
        });
        inner.refresh_gauges();
        let node = Node {
            inner,
            threads: Arc::new(Mutex::new(Vec::new())),
        };
        let ingest_node = node.inner.clone();
        let ingest = std::thread::Builder::new()
            .name("weft-ingest".into())
            .spawn(move || ingest_node.ingest_loop(rx))
            .map_err(|e| NodeError::Setup(e.to_string()))?;
        node.threads.lock().push(ingest);
        if node.issues_alone {
            let ms_node = node.inner.clone();
            let t = std::thread::Builder::new()
                .name("weft-milestones".into())
                .spawn(move || ms_node.milestone_loop())
                .map_err(|e| NodeError::Setup(e.to_string()))?;
            node.threads.lock().push(t);
        }
        node.metrics
            .pruned_below_index
            .set(node.pruned_below()? as i64);
        if node.config.snapshots.enabled() {
            let snapshot_node = node.inner.clone();
            let t = std::thread::Builder::new()
                .name("weft-snapshots".into())
                .spawn(move || snapshot_node.snapshot_loop())
                .map_err(|e| NodeError::Setup(e.to_string()))?;
            node.threads.lock().push(t);
        }
        if node.config.storage.prunes() {
            let prune_node = node.inner.clone();
            let t = std::thread::Builder::new()
                .name("weft-pruner".into())
                .spawn(move || prune_node.prune_loop())
                .map_err(|e| NodeError::Setup(e.to_string()))?;
            node.threads.lock().push(t);
        }
        Ok(node)
    }

    /// Stops the threads after the milestone in progress and flushes the store.
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.ingest.lock().take();
        let threads: Vec<_> = self.threads.lock().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        let _ = self.inner.store.flush();
    }
}

/// Whether `key` may run a validator: a member of the genesis committee, or a standby
/// validator listed in `[consensus]` that a committee change may add.
fn is_validator_key(config: &NodeConfig, key: &PublicKeyBytes) -> bool {
    config.genesis.committee.contains(key)
        || config
            .consensus
            .as_ref()
            .is_some_and(|c| c.position_of_key(key).is_some())
}

fn encode_commitment(c: &MultisetHash) -> Vec<u8> {
    [&c.sum_bytes()[..], &c.count().to_le_bytes()].concat()
}

fn decode_commitment(b: &[u8]) -> Result<MultisetHash, StoreError> {
    if b.len() != 40 {
        return Err(StoreError::Corrupt("state commitment entry".into()));
    }
    let mut sum = [0u8; 32];
    sum.copy_from_slice(&b[..32]);
    let mut count = [0u8; 8];
    count.copy_from_slice(&b[32..]);
    MultisetHash::from_parts(sum, u64::from_le_bytes(count))
        .ok_or_else(|| StoreError::Corrupt("state commitment point".into()))
}

impl NodeInner {
    /// Checks everything about a block that needs no signature verification or lock.
    pub fn precheck(&self, block: &Block) -> Result<(), SubmitError> {
        if block.network_id != self.network_id {
            return Err(SubmitError::WrongNetwork {
                expected: self.network_id,
                got: block.network_id,
            });
        }
        let now = now_ms();
        if block.issuing_time > now.saturating_add(self.config.max_clock_skew_ms) {
            return Err(SubmitError::FromTheFuture {
                time: block.issuing_time,
                now,
                skew_ms: self.config.max_clock_skew_ms,
            });
        }
        if let Payload::Milestone(_) = block.payload {
            return Err(SubmitError::MilestoneNotAccepted);
        }
        match &block.issuer {
            Issuer::Organisation { public_key } => {
                let state = StoreState(self.store.as_ref());
                let rule = weft_ledger::check_issuer(&state, block)
                    .map_err(|e| SubmitError::Storage(e.to_string()))?;
                if let Err(reason) = rule {
                    return Err(SubmitError::UnknownIssuer {
                        key: *public_key,
                        reason,
                    });
                }
                // A new DID signed by its own, not yet registered key costs the same
                // proof of work as an anonymous block: creating identities is open to
                // anyone, so it must not be free.
                let registered = weft_ledger::may_sign_blocks(&state, public_key)
                    .map_err(|e| SubmitError::Storage(e.to_string()))?;
                if !registered {
                    let score = block.pow_score();
                    if score < self.config.pow_difficulty {
                        return Err(SubmitError::InsufficientWork {
                            score,
                            required: self.config.pow_difficulty,
                        });
                    }
                }
            }
            Issuer::Anonymous => {
                // Anonymous blocks carry nothing, a claim (whose endorsement or the
                // program's anonymous flag the ledger checks), or a transfer (a
                // household paying a shop; each input is signed by its owner key).
                if !matches!(
                    block.payload.kind(),
                    PayloadKind::None | PayloadKind::Claim | PayloadKind::Transfer
                ) {
                    return Err(SubmitError::AnonymousPayload(block.payload.kind()));
                }
                let score = block.pow_score();
                if score < self.config.pow_difficulty {
                    return Err(SubmitError::InsufficientWork {
                        score,
                        required: self.config.pow_difficulty,
                    });
                }
            }
        }
        Ok(())
    }

    /// The note rules a node can check before storing a block: a claim's entitlement
    /// key is a usable point; a mint, transfer or redeem verifies (range proof,
    /// balance, ownership: on a blocking thread, and remembered so the milestone does
    /// not verify it again), is for a value program, and spends only notes unspent at
    /// the latest milestone. The ledger checks all of it again when it confirms the
    /// block (another block may spend a note first).
    async fn admit_notes(&self, block_id: BlockId, block: Block) -> Result<Block, SubmitError> {
        if let Payload::Claim(c) = &block.payload {
            if let Some(k) = &c.entitlement_key {
                weft_entitlements::OwnerPublicKey::from_bytes(k).map_err(|e| {
                    SubmitError::Notes {
                        reason: weft_ledger::ConflictReason::MalformedNote,
                        message: format!("entitlement key: {e}"),
                    }
                })?;
            }
            return Ok(block);
        }
        if !matches!(
            block.payload.kind(),
            PayloadKind::Mint | PayloadKind::Transfer | PayloadKind::Redeem
        ) {
            return Ok(block);
        }
        let ledger = self.ledger.clone();
        let (block, verdict) = tokio::task::spawn_blocking(move || {
            let verdict = ledger.admit_notes(block_id, &block.payload);
            (block, verdict)
        })
        .await
        .map_err(|_| SubmitError::ShuttingDown)?;
        let verified = match verdict {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                return Err(SubmitError::Notes {
                    reason: weft_ledger::notes::conflict_reason(&e),
                    message: e.to_string(),
                })
            }
            None => return Ok(block),
        };
        let state = StoreState(self.store.as_ref());
        let storage = |e: StateError| SubmitError::Storage(e.to_string());
        let (program, spent) = match &verified {
            weft_ledger::VerifiedNotes::Mint(m) => (m.program, &[][..]),
            weft_ledger::VerifiedNotes::Transfer(t) => (t.program, t.spent.as_slice()),
            weft_ledger::VerifiedNotes::Redeem(r) => (r.program, r.spent.as_slice()),
        };
        let program = weft_types::ProgramId(weft_types::RegistryId(program));
        match weft_ledger::claims::program_record(&state, &program)
            .map_err(|e| SubmitError::Storage(e.to_string()))?
        {
            Some(rec) if rec.program.value_notes => {}
            Some(_) => {
                return Err(SubmitError::Notes {
                    reason: weft_ledger::ConflictReason::NotAValueProgram,
                    message: format!("program {program} does not pay in value notes"),
                })
            }
            None => {
                return Err(SubmitError::Notes {
                    reason: weft_ledger::ConflictReason::UnknownProgram,
                    message: format!("no program {program}"),
                })
            }
        }
        for (index, id) in spent.iter().enumerate() {
            match weft_ledger::notes::note_status(&state, &program, id).map_err(storage)? {
                Some(weft_ledger::NoteStatus::Unspent { .. }) => {}
                Some(weft_ledger::NoteStatus::Spent { spent }) => {
                    return Err(SubmitError::Notes {
                        reason: weft_ledger::ConflictReason::NoteSpent,
                        message: format!(
                            "input {index} (note {}) was spent at milestone {spent}",
                            hex::encode(id)
                        ),
                    })
                }
                None => {
                    return Err(SubmitError::Notes {
                        reason: weft_ledger::ConflictReason::NoteSpent,
                        message: format!(
                            "input {index} (note {}) is not a confirmed note of the program",
                            hex::encode(id)
                        ),
                    })
                }
            }
        }
        Ok(block)
    }

    /// Decodes, checks and stores canonical block bytes.
    pub async fn submit_bytes(&self, bytes: Vec<u8>) -> Result<Submitted, SubmitError> {
        let block = Block::from_bytes(&bytes)?;
        self.submit_decoded(block, bytes, true).await
    }

    /// Decodes, checks and stores canonical block bytes received from a peer: the same
    /// admission as [`NodeInner::submit_bytes`] (the API's), but the block is not
    /// published again (gossip forwards it once the node reports it valid).
    pub async fn submit_from_peer(&self, bytes: Vec<u8>) -> Result<Submitted, SubmitError> {
        let block = Block::from_bytes(&bytes)?;
        self.submit_decoded(block, bytes, false).await
    }

    /// Stores blocks that a certified milestone confirmed (fetched by sync), in the
    /// order given (parents first). Their ids are bound by the certificate through the
    /// milestone's parents, so the admission checks against this node's current state
    /// (issuer standing, proof of work, load) are skipped: the ledger judges them again
    /// at confirmation. Signatures are still verified, and the network id checked.
    pub async fn attach_certified(
        &self,
        blocks: Vec<(BlockId, Vec<u8>)>,
    ) -> Vec<Result<Submitted, SubmitError>> {
        let mut waits = Vec::with_capacity(blocks.len());
        for (block_id, bytes) in blocks {
            let block = match Block::from_bytes(&bytes) {
                Ok(b) => b,
                Err(e) => {
                    waits.push(Err(SubmitError::Decode(e)));
                    continue;
                }
            };
            if block.network_id != self.network_id {
                waits.push(Err(SubmitError::WrongNetwork {
                    expected: self.network_id,
                    got: block.network_id,
                }));
                continue;
            }
            let (reply, rx) = oneshot::channel();
            let Some(tx) = self.ingest.lock().clone() else {
                waits.push(Err(SubmitError::ShuttingDown));
                continue;
            };
            let job = IngestJob {
                block_id,
                block: Arc::new(block),
                bytes,
                publish: false,
                reply,
            };
            if tx.send(job).await.is_err() {
                waits.push(Err(SubmitError::ShuttingDown));
                continue;
            }
            waits.push(Ok(rx));
        }
        let mut out = Vec::with_capacity(waits.len());
        for w in waits {
            out.push(match w {
                Ok(rx) => rx.await.unwrap_or(Err(SubmitError::ShuttingDown)),
                Err(e) => Err(e),
            });
        }
        out
    }

    /// Sends the canonical bytes of blocks this node admits from its API, and of the
    /// milestones (and tip-merging blocks) it issues, to `sink`, to be gossiped. When
    /// the sink is full a block is not gossiped; peers then fetch it by sync.
    pub fn set_gossip_sink(&self, sink: mpsc::Sender<Vec<u8>>) {
        *self.gossip.lock() = Some(sink);
    }

    fn gossip(&self, bytes: Vec<u8>) {
        if let Some(sink) = self.gossip.lock().as_ref() {
            if sink.try_send(bytes).is_err() {
                tracing::debug!("gossip queue full: a block is left to sync");
            }
        }
    }

    /// Whether this node stopped applying milestones after a divergence.
    pub fn is_halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// Checks and stores a block given as JSON.
    pub async fn submit_json(&self, json: &[u8]) -> Result<Submitted, SubmitError> {
        let block: Block =
            serde_json::from_slice(json).map_err(|e| SubmitError::Json(e.to_string()))?;
        block.check_structure()?;
        let bytes = block.to_bytes();
        // Re-decode: the JSON form must describe exactly one canonical block.
        let block = Block::from_bytes(&bytes)?;
        self.submit_decoded(block, bytes, true).await
    }

    async fn submit_decoded(
        &self,
        block: Block,
        bytes: Vec<u8>,
        publish: bool,
    ) -> Result<Submitted, SubmitError> {
        let result = self.submit_inner(block, bytes, publish).await;
        if result.is_err() {
            self.metrics.blocks_rejected.inc();
        }
        result
    }

    async fn submit_inner(
        &self,
        block: Block,
        bytes: Vec<u8>,
        publish: bool,
    ) -> Result<Submitted, SubmitError> {
        self.precheck(&block)?;
        let pending = self.pending_blocks.load(Ordering::Relaxed);
        if pending >= self.config.max_pending_blocks {
            return Err(SubmitError::Overloaded(pending));
        }
        let block_id = BlockId::of_bytes(&bytes);
        let block = self.admit_notes(block_id, block).await?;
        let (reply, rx) = oneshot::channel();
        let tx = self
            .ingest
            .lock()
            .clone()
            .ok_or(SubmitError::ShuttingDown)?;
        tx.send(IngestJob {
            block_id,
            block: Arc::new(block),
            bytes,
            publish,
            reply,
        })
        .await
        .map_err(|_| SubmitError::ShuttingDown)?;
        rx.await.map_err(|_| SubmitError::ShuttingDown)?
    }

    fn ingest_loop(&self, mut rx: mpsc::Receiver<IngestJob>) {
        const MAX_BATCH: usize = 2048;
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            // Batch-verify the signatures of organisation blocks.
            let messages: Vec<Option<Vec<u8>>> = jobs
                .iter()
                .map(|j| {
                    matches!(j.block.issuer, Issuer::Organisation { .. })
                        .then(|| j.block.signing_message())
                })
                .collect();
            let mut entries: Vec<BatchEntry<'_>> = Vec::new();
            let mut entry_job = Vec::new();
            for (i, j) in jobs.iter().enumerate() {
                if let (Issuer::Organisation { public_key }, Some(sig), Some(msg)) =
                    (&j.block.issuer, &j.block.signature, &messages[i])
                {
                    entries.push((*public_key, msg.as_slice(), *sig));
                    entry_job.push(i);
                }
            }
            let mut bad = vec![false; jobs.len()];
            if let Err(weft_crypto::SignatureError::BatchFailed(failed)) =
                verify_batch_parallel(&entries)
            {
                for f in failed {
                    bad[entry_job[f]] = true;
                }
            }
            drop(entries);
            let mut to_attach = Vec::with_capacity(jobs.len());
            let mut replies = Vec::with_capacity(jobs.len());
            for (i, j) in jobs.into_iter().enumerate() {
                if bad[i] {
                    let key = match j.block.issuer {
                        Issuer::Organisation { public_key } => public_key,
                        Issuer::Anonymous => PublicKeyBytes([0; 32]),
                    };
                    self.metrics.blocks_rejected.inc();
                    let _ = j.reply.send(Err(SubmitError::InvalidSignature(key)));
                    continue;
                }
                let publish = (j.publish && self.gossip.lock().is_some()).then(|| j.bytes.clone());
                to_attach.push((j.block_id, j.block.clone(), j.bytes));
                replies.push((j.block_id, j.block, publish, j.reply));
            }
            if to_attach.is_empty() {
                continue;
            }
            // The batch is written without the Tangle's lock: a milestone being built
            // needs it, and at a million blocks these writes take tens of milliseconds
            // (sled applies each batch under its own global lock). This thread is the
            // only one with blocks prepared.
            let prepared = self.chain.lock().tangle.prepare_attach(to_attach, now_ms());
            let result = prepared.and_then(|mut prepared| {
                for batch in prepared.take_batches() {
                    self.store.apply(batch)?;
                }
                let mut chain = self.chain.lock();
                let outcomes = chain.tangle.finish_attach(prepared);
                self.pending_blocks
                    .store(chain.tangle.pending_count(), Ordering::Relaxed);
                Ok(outcomes)
            });
            match result {
                Ok(outcomes) => {
                    for ((block_id, block, publish, reply), outcome) in
                        replies.into_iter().zip(outcomes)
                    {
                        if matches!(
                            outcome,
                            AttachOutcome::Solid | AttachOutcome::Waiting { .. }
                        ) {
                            if let Some(bytes) = publish {
                                self.gossip(bytes);
                            }
                            self.metrics.blocks_received.inc();
                            self.received_since_milestone
                                .fetch_add(1, Ordering::Relaxed);
                            if self.block_subscribers.load(Ordering::Relaxed) > 0 {
                                let _ = self.events.send(Arc::new(Event::Block {
                                    block_id,
                                    payload: block.payload.kind(),
                                    solid: outcome == AttachOutcome::Solid,
                                }));
                            }
                        }
                        let answer = match outcome {
                            AttachOutcome::QueueFull { waiting } => {
                                Err(SubmitError::SolidifierFull(waiting))
                            }
                            outcome => Ok(Submitted { block_id, outcome }),
                        };
                        let _ = reply.send(answer);
                    }
                }
                Err(e) => {
                    for (_, _, _, reply) in replies {
                        let _ = reply.send(Err(SubmitError::Storage(e.to_string())));
                    }
                }
            }
        }
    }

    fn milestone_loop(&self) {
        let interval = Duration::from_millis(self.config.milestone_interval_ms);
        let mut next = Instant::now() + interval;
        while !self.stopping.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now < next {
                std::thread::sleep((next - now).min(Duration::from_millis(50)));
                continue;
            }
            next += interval;
            if next < Instant::now() {
                next = Instant::now() + interval;
            }
            if let Err(e) = self.issue_milestone() {
                tracing::error!(error = %e, "milestone failed");
            }
        }
    }

    /// The pruner thread (`weft-pruner`, only when `[storage]` sets a limit): a round of
    /// [`NodeInner::prune_round`] every few seconds (four milestone intervals, between
    /// 100 ms and 5 s), until shutdown.
    fn prune_loop(&self) {
        let storage = self.config.storage;
        if let Some(keep) = storage.prune_keep_milestones {
            if keep < weft_tangle::MIN_KEEP_MILESTONES {
                tracing::warn!(
                    configured = keep,
                    used = weft_tangle::MIN_KEEP_MILESTONES,
                    "storage.prune_keep_milestones is below the minimum window; raised"
                );
            }
        }
        tracing::info!(
            keep_milestones = storage
                .prune_keep_milestones
                .map(|k| k.max(weft_tangle::MIN_KEEP_MILESTONES)),
            max_db_mib = storage.prune_max_db_mib,
            "pruning old blocks"
        );
        let wake = Duration::from_millis(self.config.milestone_interval_ms.saturating_mul(4))
            .clamp(Duration::from_millis(100), Duration::from_secs(5));
        let mut next = Instant::now() + wake;
        while !self.stopping.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now < next {
                std::thread::sleep((next - now).min(Duration::from_millis(50)));
                continue;
            }
            if let Err(e) = self.prune_round() {
                tracing::error!(error = %e, "pruning failed");
            }
            next = Instant::now() + wake;
        }
    }

    /// Whether the node is shutting down (background threads stop).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The lower bound of pruning: the blocks of every milestone below this index have
    /// lost their bodies (0 when nothing was pruned).
    pub fn pruned_below(&self) -> Result<u32, StoreError> {
        weft_tangle::prune::pruned_below(self.store.as_ref())
    }

    /// One round of pruning under the `[storage]` limits, in steps of
    /// [`PRUNE_STEP`] milestones (checking for shutdown between them): every milestone
    /// older than the last `prune_keep_milestones` (raised to
    /// `weft_tangle::MIN_KEEP_MILESTONES`), then, while the database is over
    /// `prune_max_db_mib`, one more step of the oldest milestones outside the minimum
    /// window (sled frees space lazily, so the size is checked again next round rather
    /// than pruning on against a figure that has not caught up). Holds neither the
    /// `issuing` nor the `chain` lock while deleting: confirmed data never changes.
    pub fn prune_round(&self) -> Result<weft_tangle::Pruned, NodeError> {
        use weft_tangle::prune::{prunable_below, prune_milestones};
        let storage = self.config.storage;
        let mut total = weft_tangle::Pruned::default();
        let Some(latest) = self.latest_milestone().map(|l| l.index) else {
            return Ok(total);
        };
        let mut below = self.pruned_below()?.max(1);
        let mut step = |from: u32, to: u32| -> Result<u32, NodeError> {
            let done = prune_milestones(self.store.as_ref(), from, to)?;
            self.metrics.blocks_pruned.inc_by(done.blocks);
            self.metrics
                .pruned_below_index
                .set(done.pruned_below as i64);
            if done.milestones > 0 {
                tracing::info!(
                    milestones = done.milestones,
                    blocks = done.blocks,
                    bytes = done.bytes,
                    pruned_below = done.pruned_below,
                    "pruned old blocks"
                );
            }
            total.add(done);
            Ok(done.pruned_below)
        };
        if let Some(keep) = storage.prune_keep_milestones {
            let target = prunable_below(latest, keep);
            while below < target && !self.stopping.load(Ordering::SeqCst) {
                let to = below.saturating_add(PRUNE_STEP).min(target);
                below = step(below, to)?.max(to);
            }
        }
        if let Some(max_mib) = storage.prune_max_db_mib {
            let window = prunable_below(latest, weft_tangle::MIN_KEEP_MILESTONES);
            let size = self.store.size_on_disk();
            if size > max_mib.saturating_mul(1024 * 1024) && below < window {
                let to = below.saturating_add(PRUNE_STEP).min(window);
                step(below, to)?;
            }
        }
        self.metrics
            .database_bytes
            .set(self.store.size_on_disk() as i64);
        Ok(total)
    }

    /// Merges the heads of the Tangle into at most eight tips with tip-merging blocks (no
    /// payload, signed by this committee member, attached here), so a milestone on them
    /// confirms every solid block that arrived before it. Returns the tips and the
    /// merging blocks' bytes to be gossiped (empty without a network).
    fn merge_tips(
        &self,
        chain: &mut Chain,
        key: &OrganisationKey,
        timestamp: u64,
        now: u64,
    ) -> Result<(Vec<BlockId>, Vec<Vec<u8>>), NodeError> {
        let mut tips = chain.tangle.milestone_tips()?;
        if tips.len() > self.config.max_milestone_tips {
            // Under overload take a random sample, so no tip is skipped every time.
            use rand::seq::SliceRandom;
            tips.shuffle(&mut rand::thread_rng());
            tips.truncate(self.config.max_milestone_tips);
            tips.sort();
        }
        let mut merging = Vec::new();
        while tips.len() > weft_types::MAX_PARENTS {
            let mut merged = Vec::with_capacity(tips.len() / weft_types::MAX_PARENTS + 1);
            let mut blocks = Vec::with_capacity(merged.capacity());
            for group in tips.chunks(weft_types::MAX_PARENTS) {
                let b = key.sign_block(
                    BlockBuilder::new(self.network_id, group.to_vec(), timestamp)
                        .organisation(key.public_key()),
                );
                let bytes = b.to_bytes();
                let id = BlockId::of_bytes(&bytes);
                if self.gossip.lock().is_some() {
                    merging.push(bytes.clone());
                }
                merged.push(id);
                blocks.push((id, Arc::new(b), bytes));
            }
            chain.tangle.attach(blocks, now)?;
            tips = merged;
        }
        Ok((tips, merging))
    }

    /// A validator's proposal when a milestone is due (committees of more than one
    /// member): the Tangle's heads merged into at most eight tips, the tip-merging
    /// blocks gossiped. `None` when there is nothing new to confirm.
    pub fn proposal_tips(&self) -> Result<Option<Vec<BlockId>>, NodeError> {
        let key = self
            .validator_key
            .as_ref()
            .ok_or_else(|| NodeError::Setup("not a committee member".into()))?;
        let now = now_ms();
        let (tips, merging) = {
            let mut chain = self.chain.lock();
            self.merge_tips(&mut chain, key, now, now)?
        };
        for b in merging {
            self.gossip(b);
        }
        Ok((!tips.is_empty()).then_some(tips))
    }

    /// Computes the essence of an agreed milestone (`index`, `timestamp`, `parents`)
    /// exactly as [`NodeInner::issue_milestone`] does for its own: the white-flag order
    /// of the parents' unconfirmed past cone, the ledger applied to it, the inclusion
    /// and state roots; nothing is written. `index` must be this node's latest + 1 and
    /// the cone stored and solid ([`FollowError::Incomplete`] otherwise: fetch it).
    pub fn compute_agreed(
        &self,
        index: u32,
        timestamp: u64,
        parents: &[BlockId],
    ) -> Result<ComputedMilestone, FollowError> {
        let anchors = self.issuing.lock();
        if self.is_halted() {
            return Err(FollowError::Halted);
        }
        let started = Instant::now();
        let chain = self.chain.lock();
        let previous = chain.tangle.latest_milestone();
        let latest = previous.map(|p| p.index).unwrap_or(0);
        next_index(index, latest)?;
        let order = match chain.tangle.white_flag_order(parents) {
            Ok(order) => order,
            Err(source @ (TangleError::NotSolid(_) | TangleError::UnknownParent(_))) => {
                return Err(FollowError::Incomplete { index, source })
            }
            Err(e) => return Err(FollowError::Node(e.into())),
        };
        let previous_id = previous.map(|p| p.id).unwrap_or(MilestoneId::NONE);
        self.essence_of(
            chain,
            &anchors,
            (index, timestamp, previous_id),
            parents.to_vec(),
            order,
            started,
        )
        .map_err(|e| FollowError::Node(e.into()))
    }

    /// The one computation behind every milestone this node issues or signs: the blocks
    /// of `order` (the white-flag order of the parents' unconfirmed cone, computed by the
    /// caller under the Tangle lock it passes in) applied to the ledger on the confirmed
    /// state, and the essence they make, `(index, timestamp, previous milestone id)`
    /// given. The Tangle lock is released before the ledger runs: the caller holds the
    /// issuing lock, and only its holder confirms blocks, so the cone cannot change.
    fn essence_of(
        &self,
        chain: parking_lot::MutexGuard<'_, Chain>,
        anchors: &KeyFilter,
        (index, timestamp, previous_milestone_id): (u32, u64, MilestoneId),
        parents: Vec<BlockId>,
        order: Vec<BlockId>,
        started: Instant,
    ) -> Result<ComputedMilestone, weft_ledger::LedgerError> {
        let blocks: Vec<(BlockId, Arc<Block>)> = order
            .iter()
            .filter_map(|id| chain.tangle.pending_block(id).map(|b| (*id, b)))
            .collect();
        let commitment = chain.commitment;
        drop(chain);
        let refs: Vec<(BlockId, &Block)> = blocks.iter().map(|(id, b)| (*id, b.as_ref())).collect();
        let outcome = self.ledger.apply_milestone(
            &AnchorFilteredState {
                store: self.store.as_ref(),
                anchors,
            },
            commitment,
            MilestoneContext { index, timestamp },
            &refs,
        )?;
        let essence = MilestoneEssence {
            index,
            timestamp,
            previous_milestone_id,
            parents,
            inclusion_root: inclusion_root(&order),
            state_root: outcome.state_root,
            committee_id: self.committee_for(index)?.id(),
        };
        Ok(ComputedMilestone {
            essence,
            order,
            outcome,
            started,
        })
    }

    /// Commits an agreed milestone this node computed ([`NodeInner::compute_agreed`])
    /// once the committee certified it: the certified essence must be the one computed
    /// here (else the node halts: a divergence), the certificate must verify, and the
    /// milestone must still be the next one. The milestone block (signed by this
    /// validator) and everything it confirms are written in one atomic, flushed batch by
    /// the same code as every other milestone, then the block is gossiped.
    pub fn commit_certified(
        &self,
        computed: ComputedMilestone,
        milestone: Milestone,
    ) -> Result<LatestMilestone, FollowError> {
        let key = self
            .validator_key
            .as_ref()
            .ok_or_else(|| NodeError::Setup("not a committee member".into()))?;
        let mut anchors = self.issuing.lock();
        if self.is_halted() {
            return Err(FollowError::Halted);
        }
        let index = computed.essence.index;
        let previous = self.chain.lock().tangle.latest_milestone();
        let latest = previous.map(|p| p.index).unwrap_or(0);
        next_index(index, latest)?;
        let previous_id = previous.map(|p| p.id).unwrap_or(MilestoneId::NONE);
        if computed.essence.previous_milestone_id != previous_id {
            return Err(FollowError::Gap { index, latest });
        }
        let committee = self.committee_for(index).map_err(NodeError::from)?;
        crate::milestone::verify_certificate(&milestone, &committee)
            .map_err(|error| FollowError::Certificate { index, error })?;
        if milestone.essence != computed.essence {
            drop(anchors);
            return Err(self.diverged(
                index,
                format!(
                    "the committee certified state root {} and inclusion root {}, this \
                     validator computed {} and {}",
                    milestone.essence.state_root,
                    milestone.essence.inclusion_root,
                    computed.essence.state_root,
                    computed.essence.inclusion_root
                ),
            ));
        }
        let ComputedMilestone {
            essence,
            order,
            outcome,
            started,
        } = computed;
        let timestamp = essence.timestamp;
        let parents = essence.parents.clone();
        let block = key.sign_block(
            BlockBuilder::new(self.network_id, parents, timestamp)
                .payload(Payload::Milestone(Box::new(milestone)))
                .organisation(key.public_key()),
        );
        let bytes = block.to_bytes();
        let latest = LatestMilestone {
            index,
            id: essence.id(),
            block_id: BlockId::of_bytes(&bytes),
            timestamp,
        };
        let latest = self.commit_milestone(
            &mut anchors,
            started,
            block,
            bytes.clone(),
            latest,
            &order,
            outcome,
        )?;
        self.metrics.milestones_certified.inc();
        drop(anchors);
        self.gossip(bytes);
        Ok(latest)
    }

    /// Stores another validator's block of a milestone this node already committed
    /// (same index, same essence, certified) so that blocks approving it become solid:
    /// each validator of a committee wraps the certified milestone in a block it signs,
    /// so the milestone blocks of one index differ between validators. The block is
    /// written as confirmed by that milestone; it is not part of the milestone's
    /// white-flag order. Returns whether it was stored.
    pub fn store_milestone_alias(&self, block: &Block, bytes: &[u8]) -> Result<bool, FollowError> {
        let index = self.check_milestone_block(block)?;
        let Payload::Milestone(milestone) = &block.payload else {
            return Err(FollowError::NotAMilestone);
        };
        let block_id = BlockId::of_bytes(bytes);
        let _issuing = self.issuing.lock();
        let mut chain = self.chain.lock();
        let latest = chain
            .tangle
            .latest_milestone()
            .map(|l| l.index)
            .unwrap_or(0);
        if index > latest {
            return Ok(false);
        }
        if chain
            .tangle
            .contains(&block_id)
            .map_err(|e| FollowError::Node(e.into()))?
        {
            return Ok(false);
        }
        let ours = match self.milestone_by_index(index) {
            Ok(Some((m, _))) => Some(m),
            // Before this node's snapshot base: its own block of that milestone is not
            // here. The certificate checked above is enough: two certified essences
            // for one index would need f + 1 faulty members.
            Ok(None) => None,
            Err(e) => return Err(FollowError::Node(e.into())),
        };
        if ours.is_some_and(|ours| ours.essence.id() != milestone.essence.id()) {
            return Err(FollowError::BadChain {
                index,
                latest,
                reason: "another essence than the one certified here".into(),
            });
        }
        let now = now_ms();
        let mut batch = weft_tangle::WriteBatch::default();
        chain
            .tangle
            .put_milestone_block(&mut batch, &block_id, (block, bytes), index, now)
            .map_err(|e| FollowError::Node(e.into()))?;
        self.store.apply(batch).map_err(NodeError::from)?;
        self.store.flush().map_err(NodeError::from)?;
        // Blocks waiting for it are solidified by reloading the unconfirmed blocks.
        let config = *chain.tangle.config();
        match Tangle::open(self.store.clone(), config) {
            Ok(t) => chain.tangle = t,
            Err(e) => tracing::error!(error = %e, "reloading the Tangle failed"),
        }
        self.pending_blocks
            .store(chain.tangle.pending_count(), Ordering::Relaxed);
        Ok(true)
    }

    /// Issues the next milestone (this node must hold a committee key).
    pub fn issue_milestone(&self) -> Result<LatestMilestone, NodeError> {
        let key = self
            .validator_key
            .as_ref()
            .ok_or_else(|| NodeError::Setup("not a committee member".into()))?;
        let mut anchors = self.issuing.lock();
        let started = Instant::now();
        let mut chain = self.chain.lock();
        let previous = chain.tangle.latest_milestone();
        let now = now_ms();
        let timestamp = match previous {
            Some(p) if p.timestamp >= now => p.timestamp + 1,
            _ => now,
        };
        let index = previous.map(|p| p.index + 1).unwrap_or(1);

        let (tips, merging) = self.merge_tips(&mut chain, key, timestamp, now)?;
        let mut parents = if tips.is_empty() {
            vec![previous.map(|p| p.block_id).unwrap_or(BlockId::GENESIS)]
        } else {
            tips
        };
        parents.sort();

        let order = chain.tangle.white_flag_order(&parents)?;
        let previous_id = previous.map(|p| p.id).unwrap_or(MilestoneId::NONE);
        let ComputedMilestone {
            essence,
            order,
            outcome,
            started,
        } = self.essence_of(
            chain,
            &anchors,
            (index, timestamp, previous_id),
            parents.clone(),
            order,
            started,
        )?;
        let signature = key.sign(&essence.signing_message());
        let milestone_id = essence.id();
        let milestone = Milestone {
            essence,
            signatures: vec![MilestoneSignature {
                public_key: key.public_key(),
                signature,
            }],
        };
        crate::milestone::verify_certificate(&milestone, &self.committee_for(index)?)
            .map_err(|e| NodeError::Setup(format!("own milestone does not verify: {e}")))?;
        let block = key.sign_block(
            BlockBuilder::new(self.network_id, parents, timestamp)
                .payload(Payload::Milestone(Box::new(milestone)))
                .organisation(key.public_key()),
        );
        let bytes = block.to_bytes();
        let block_id = BlockId::of_bytes(&bytes);
        let latest = LatestMilestone {
            index,
            id: milestone_id,
            block_id,
            timestamp,
        };
        let latest = self.commit_milestone(
            &mut anchors,
            started,
            block,
            bytes.clone(),
            latest,
            &order,
            outcome,
        )?;
        for b in merging {
            self.gossip(b);
        }
        self.gossip(bytes);
        Ok(latest)
    }

    /// Checks a milestone block received from a peer: the block is signed (ZIP-215) by a
    /// member of the committee in force at its index (the genesis committee, or the one
    /// a committee change on the ledger made effective), and the milestone's certificate
    /// verifies against that committee (`specs/protocol.md` §4.6). The committee of an
    /// index more than one ahead of this node's latest may not be known here yet (a
    /// change confirmed by a milestone this node has not applied): a failure there is
    /// [`FollowError::CommitteeUnknown`], not proof of a bad block.
    pub fn check_milestone_block(&self, block: &Block) -> Result<u32, FollowError> {
        let Payload::Milestone(milestone) = &block.payload else {
            return Err(FollowError::NotAMilestone);
        };
        let index = milestone.essence.index;
        let committee = self.committee_for(index).map_err(NodeError::from)?;
        let latest = self.latest_milestone().map(|l| l.index).unwrap_or(0);
        let unsure =
            index > latest.saturating_add(1) && milestone.essence.committee_id != committee.id();
        if unsure {
            return Err(FollowError::CommitteeUnknown { index, latest });
        }
        match &block.issuer {
            Issuer::Organisation { public_key } if committee.contains(public_key) => {}
            _ => {
                return Err(FollowError::BadBlockSignature(
                    "issuer is not a committee member".into(),
                ))
            }
        }
        weft_crypto::verify_block(block)
            .map_err(|e| FollowError::BadBlockSignature(e.to_string()))?;
        crate::milestone::verify_certificate(milestone, &committee)
            .map_err(|error| FollowError::Certificate { index, error })?;
        Ok(index)
    }

    /// The committee that certifies milestone `index`, from the confirmed state: the
    /// genesis committee until a committee change takes effect (`weft_ledger::committee_at`).
    /// Exact for every index up to one past the latest milestone (a change is confirmed
    /// at least `MIN_COMMITTEE_CHANGE_DELAY` milestones before it takes effect).
    pub fn committee_for(&self, index: u32) -> Result<Committee, weft_ledger::LedgerError> {
        weft_ledger::committee_at(
            &StoreState(self.store.as_ref()),
            &self.config.genesis.committee,
            index,
        )
    }

    /// Applies a certified milestone received from a peer (a follower, which holds no
    /// committee key, does this instead of issuing). The milestone must be the next one
    /// (`latest + 1`), chain onto this node's latest (previous id, later time), and its
    /// past cone must be stored and solid. The node computes the white-flag order of
    /// that cone itself and applies it to the ledger by the same path as the issuer
    /// ([`NodeInner::issue_milestone`]); the inclusion root and the state root it computes
    /// must equal the milestone's, or the node halts: it logs the divergence, applies no
    /// further milestone and reports it in `weft_state_divergence`. `listed`, the
    /// confirmed ids a peer sent by sync, is only compared (a wrong list is the peer's
    /// error, not a divergence).
    pub fn follow_milestone(
        &self,
        block: &Block,
        bytes: Vec<u8>,
        listed: Option<&[BlockId]>,
    ) -> Result<LatestMilestone, FollowError> {
        if self.issues_alone {
            return Err(FollowError::Validator);
        }
        let index = self.check_milestone_block(block)?;
        let Payload::Milestone(milestone) = &block.payload else {
            return Err(FollowError::NotAMilestone);
        };
        let essence = &milestone.essence;
        let mut anchors = self.issuing.lock();
        if self.is_halted() {
            return Err(FollowError::Halted);
        }
        let started = Instant::now();
        let chain = self.chain.lock();
        let previous = chain.tangle.latest_milestone();
        let latest = previous.map(|p| p.index).unwrap_or(0);
        next_index(index, latest)?;
        let previous_id = previous.map(|p| p.id).unwrap_or(MilestoneId::NONE);
        if essence.previous_milestone_id != previous_id {
            return Err(FollowError::BadChain {
                index,
                latest,
                reason: format!(
                    "previous milestone {} is not this node's {}",
                    essence.previous_milestone_id, previous_id
                ),
            });
        }
        if let Some(p) = previous {
            if essence.timestamp <= p.timestamp {
                return Err(FollowError::BadChain {
                    index,
                    latest,
                    reason: format!("timestamp {} not after {}", essence.timestamp, p.timestamp),
                });
            }
        }
        let order = match chain.tangle.white_flag_order(&essence.parents) {
            Ok(order) => order,
            Err(source @ (TangleError::NotSolid(_) | TangleError::UnknownParent(_))) => {
                return Err(FollowError::Incomplete { index, source })
            }
            Err(e) => return Err(FollowError::Node(e.into())),
        };
        if let Some(listed) = listed {
            if listed != order.as_slice() {
                tracing::warn!(
                    index,
                    "a peer's list of confirmed blocks differs from the white-flag order"
                );
            }
        }
        if inclusion_root(&order) != essence.inclusion_root {
            drop(chain);
            return Err(self.diverged(
                index,
                format!(
                    "the {} blocks this node orders do not match the milestone's inclusion root",
                    order.len()
                ),
            ));
        }
        let blocks: Vec<(BlockId, Arc<Block>)> = order
            .iter()
            .filter_map(|id| chain.tangle.pending_block(id).map(|b| (*id, b)))
            .collect();
        let commitment = chain.commitment;
        // Only this thread (under the issuing lock) confirms blocks: the cone cannot
        // change while the ledger is applied without the Tangle lock.
        drop(chain);
        let refs: Vec<(BlockId, &Block)> = blocks.iter().map(|(id, b)| (*id, b.as_ref())).collect();
        let outcome = self
            .ledger
            .apply_milestone(
                &AnchorFilteredState {
                    store: self.store.as_ref(),
                    anchors: &anchors,
                },
                commitment,
                MilestoneContext {
                    index,
                    timestamp: essence.timestamp,
                },
                &refs,
            )
            .map_err(|e| FollowError::Node(e.into()))?;
        if outcome.state_root != essence.state_root {
            return Err(self.diverged(
                index,
                format!(
                    "state root {} computed here, the milestone certifies {}",
                    outcome.state_root, essence.state_root
                ),
            ));
        }
        let block_id = BlockId::of_bytes(&bytes);
        let latest = LatestMilestone {
            index,
            id: essence.id(),
            block_id,
            timestamp: essence.timestamp,
        };
        let latest = self.commit_milestone(
            &mut anchors,
            started,
            block.clone(),
            bytes,
            latest,
            &order,
            outcome,
        )?;
        self.metrics.milestones_followed.inc();
        Ok(latest)
    }

    fn diverged(&self, index: u32, what: String) -> FollowError {
        self.halted.store(true, Ordering::SeqCst);
        self.metrics.state_divergence.set(1);
        tracing::error!(
            index,
            "STATE DIVERGENCE: {what}; this node stops applying milestones (its data \
             directory must be rebuilt from peers)"
        );
        FollowError::Divergence { index, what }
    }

    /// Writes a milestone this node issued or followed, with everything it confirmed
    /// (`order`, applied as `outcome`), in one atomic, flushed batch; then updates memory,
    /// metrics and events. The caller holds the issuing lock (`anchors`).
    #[allow(clippy::too_many_arguments)]
    fn commit_milestone(
        &self,
        anchors: &mut KeyFilter,
        started: Instant,
        block: Block,
        bytes: Vec<u8>,
        latest: LatestMilestone,
        order: &[BlockId],
        outcome: weft_ledger::MilestoneOutcome,
    ) -> Result<LatestMilestone, NodeError> {
        let codes: Vec<(BlockId, u8)> = order
            .iter()
            .zip(&outcome.outcomes)
            .map(|(id, o)| {
                (
                    *id,
                    match o {
                        BlockOutcome::Applied => 0,
                        BlockOutcome::Conflicting(r) => r.code(),
                    },
                )
            })
            .collect();
        let conflicting = codes.iter().filter(|(_, c)| *c != 0).count();
        let confirmation = Confirmation {
            milestone_block: Arc::new(block),
            milestone_bytes: bytes,
            latest,
            confirmed: codes,
            ledger_writes: outcome.diff.writes.into_iter().collect(),
            state_commitment: encode_commitment(&outcome.commitment),
            now: now_ms(),
        };
        let index = latest.index;
        let block_id = latest.block_id;
        let milestone_id = latest.id;
        let timestamp = latest.timestamp;
        let batch = self.chain.lock().tangle.confirmation_batch(&confirmation)?;
        // One atomic batch, flushed before anyone is told: a crash leaves all of the
        // milestone or none of it.
        self.store.apply(batch)?;
        self.store.flush()?;
        for (k, v) in &confirmation.ledger_writes {
            if v.is_some() && k.starts_with(ANCHOR_PREFIX) {
                anchors.insert(k);
            }
        }
        let mut chain = self.chain.lock();
        chain.tangle.apply_confirmed(&confirmation);
        chain.commitment = outcome.commitment;
        if chain.tangle.missing_parents().contains(&block_id) {
            // Blocks that approve this milestone's block arrived before it (a follower
            // receives both by gossip): the Tangle solidifies blocks as they are
            // attached, and the milestone block is written, not attached, so reload
            // the unconfirmed blocks from the store, which solidifies them.
            let config = *chain.tangle.config();
            match Tangle::open(self.store.clone(), config) {
                Ok(t) => chain.tangle = t,
                Err(e) => tracing::error!(error = %e, "reloading the Tangle failed"),
            }
        }
        self.pending_blocks
            .store(chain.tangle.pending_count(), Ordering::Relaxed);
        let confirmed_at = now_ms();
        drop(chain);

        let elapsed = started.elapsed();
        self.metrics
            .milestone_confirmation_seconds
            .observe(elapsed.as_secs_f64());
        self.metrics.blocks_confirmed.inc_by(order.len() as u64);
        self.metrics.blocks_conflicting.inc_by(conflicting as u64);
        let secs = self.config.milestone_interval_ms as f64 / 1000.0;
        self.metrics
            .blocks_confirmed_per_second
            .set(order.len() as f64 / secs);
        let received = self.received_since_milestone.swap(0, Ordering::Relaxed);
        self.metrics
            .blocks_received_per_second
            .set(received as f64 / secs);
        self.refresh_gauges();
        if self.events.receiver_count() > 0 {
            let ms = self.milestone_by_index(index).ok().flatten();
            if let Some((m, _)) = ms {
                let _ = self.events.send(Arc::new(Event::Milestone {
                    index,
                    milestone_id,
                    block_id,
                    timestamp,
                    confirmed_blocks: order.len(),
                    conflicting_blocks: conflicting,
                    inclusion_root: m.essence.inclusion_root,
                    state_root: m.essence.state_root,
                }));
            }
            let blocks = order
                .iter()
                .zip(&outcome.outcomes)
                .map(|(id, o)| ConfirmedBlock {
                    block_id: *id,
                    conflict: match o {
                        BlockOutcome::Applied => None,
                        BlockOutcome::Conflicting(r) => Some(*r),
                    },
                })
                .collect();
            let _ = self.events.send(Arc::new(Event::Confirmations {
                milestone: index,
                time: confirmed_at,
                blocks,
            }));
        }
        tracing::info!(
            index,
            confirmed = order.len(),
            conflicting,
            ms = elapsed.as_millis() as u64,
            "milestone confirmed"
        );
        self.write_journaled_metadata();
        Ok(latest)
    }

    /// Writes the per-block metadata entries of the milestones whose metadata is only
    /// journaled (`weft_tangle::journal`): after the milestone is announced, so the
    /// random-key writes are not part of any block's confirmation latency. The caller
    /// holds the issuing lock, so a snapshot or a consistent read never sees a
    /// milestone half spread. A failure leaves the journal entry, and the next
    /// milestone (or the next start) tries again.
    fn write_journaled_metadata(&self) {
        let started = Instant::now();
        let mut blocks = 0;
        loop {
            let Some((index, batches)) = self.chain.lock().tangle.metadata_batches() else {
                break;
            };
            for batch in batches {
                blocks += batch.len() / 2;
                if let Err(e) = self.store.apply(batch) {
                    tracing::error!(index, error = %e, "writing journaled block metadata failed");
                    return;
                }
            }
            self.chain.lock().tangle.metadata_written(index);
        }
        if blocks > 0 {
            self.metrics
                .block_metadata_seconds
                .observe(started.elapsed().as_secs_f64());
        }
    }

    /// Updates the gauges from the Tangle.
    pub fn refresh_gauges(&self) {
        let chain = self.chain.lock();
        self.metrics.tips.set(chain.tangle.tip_count() as i64);
        self.metrics
            .solidifier_queue
            .set(chain.tangle.unsolid_count() as i64);
        self.metrics
            .pending_blocks
            .set(chain.tangle.pending_count() as i64);
        self.metrics.latest_milestone.set(
            chain
                .tangle
                .latest_milestone()
                .map(|l| l.index as i64)
                .unwrap_or(0),
        );
        drop(chain);
        self.metrics
            .database_bytes
            .set(self.store.size_on_disk() as i64);
    }

    /// Whether this node holds a committee key (it issues milestones alone, or agrees
    /// on them with the other members).
    pub fn is_validator(&self) -> bool {
        self.validator_key.is_some()
    }

    /// Whether this node issues every milestone alone (it holds the key of a one-member
    /// committee); a validator of a larger committee agrees on milestones instead.
    pub fn issues_alone(&self) -> bool {
        self.issues_alone
    }

    /// This node's validator key, if it holds one.
    pub fn validator_key(&self) -> Option<&OrganisationKey> {
        self.validator_key.as_ref()
    }

    /// Whether every block in `tips` is stored here and solid; the ids not stored at
    /// all are returned (to be fetched from peers).
    pub fn tips_solid(&self, tips: &[BlockId]) -> (bool, Vec<BlockId>) {
        let chain = self.chain.lock();
        let mut all = true;
        let mut unknown = Vec::new();
        for id in tips {
            match chain.tangle.metadata(id) {
                Ok(Some(m)) if m.solid => {}
                Ok(Some(_)) | Err(_) => all = false,
                Ok(None) => {
                    all = false;
                    unknown.push(*id);
                }
            }
        }
        (all, unknown)
    }

    /// Tips for a client's next block.
    pub fn select_tips(&self, count: usize) -> Vec<BlockId> {
        self.chain.lock().tangle.select_tips(count, now_ms())
    }

    /// Metadata of a block, if stored.
    pub fn block_metadata(
        &self,
        id: &BlockId,
    ) -> Result<Option<weft_tangle::BlockMetadata>, TangleError> {
        self.chain.lock().tangle.metadata(id)
    }

    /// Canonical bytes of a stored block.
    pub fn block_bytes(&self, id: &BlockId) -> Result<Option<Vec<u8>>, StoreError> {
        read::block_bytes(self.store.as_ref(), id)
    }

    /// The latest milestone.
    pub fn latest_milestone(&self) -> Option<LatestMilestone> {
        self.chain.lock().tangle.latest_milestone()
    }

    /// Counts for `/info`: tips, unsolid, pending.
    pub fn tangle_counts(&self) -> (usize, usize, usize) {
        let chain = self.chain.lock();
        (
            chain.tangle.tip_count(),
            chain.tangle.unsolid_count(),
            chain.tangle.pending_count(),
        )
    }

    /// Parents that waiting blocks need and this node lacks (at most `limit`); the network
    /// layer asks peers for them.
    pub fn missing_parents(&self, limit: usize) -> Vec<BlockId> {
        let mut m = self.chain.lock().tangle.missing_parents();
        m.sort();
        m.truncate(limit);
        m
    }

    /// The ids among `ids` that this node does not store (to be fetched from peers).
    pub fn unknown_blocks(&self, ids: &[BlockId]) -> Result<Vec<BlockId>, TangleError> {
        let chain = self.chain.lock();
        let mut out = Vec::new();
        for id in ids {
            if !chain.tangle.contains(id)? {
                out.push(*id);
            }
        }
        Ok(out)
    }

    /// Milestone `index` and the id of its block.
    pub fn milestone_by_index(
        &self,
        index: u32,
    ) -> Result<Option<(Milestone, BlockId)>, StoreError> {
        let Some(block_id) = read::milestone_block_id(self.store.as_ref(), index)? else {
            return Ok(None);
        };
        let bytes = read::block_bytes(self.store.as_ref(), &block_id)?
            .ok_or_else(|| StoreError::Corrupt(format!("milestone {index} block missing")))?;
        let block = Block::from_bytes(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match block.payload {
            Payload::Milestone(m) => Ok(Some((*m, block_id))),
            _ => Err(StoreError::Corrupt(format!(
                "milestone {index} block has no milestone payload"
            ))),
        }
    }

    /// A ledger value (confirmed state).
    pub fn ledger_value(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(&weft_tangle::key(prefix::LEDGER, &[key]))
    }

    /// Runs `read` on the confirmed state while no milestone is being written, with the
    /// latest milestone and the state commitment that belong to exactly that state: for
    /// reads of several entries that must agree (a registry chunk and its siblings, a
    /// proof against a state root).
    pub fn consistent_read<T>(
        &self,
        read: impl FnOnce(&dyn StateRead, Option<LatestMilestone>, &MultisetHash) -> T,
    ) -> T {
        let _issuing = self.issuing.lock();
        let (latest, commitment) = {
            let chain = self.chain.lock();
            (chain.tangle.latest_milestone(), chain.commitment)
        };
        let state = StoreState(self.store.as_ref());
        read(&state, latest, &commitment)
    }

    /// Every ledger entry whose key starts with `ledger_prefix` (confirmed state), read
    /// while no milestone is written.
    pub fn ledger_scan(
        &self,
        ledger_prefix: &[u8],
    ) -> Result<Vec<weft_tangle::store::Entry>, StoreError> {
        let _issuing = self.issuing.lock();
        let full = weft_tangle::key(prefix::LEDGER, &[ledger_prefix]);
        Ok(self
            .store
            .scan_prefix(&full)?
            .into_iter()
            .map(|(k, v)| (k[1..].to_vec(), v))
            .collect())
    }

    /// Entries under each of `ledger_prefixes` and the latest milestone, all read while
    /// no milestone is written (so they belong to one state).
    pub fn ledger_scan_at(
        &self,
        ledger_prefixes: &[&[u8]],
    ) -> Result<(Option<LatestMilestone>, Vec<Vec<weft_tangle::store::Entry>>), StoreError> {
        let _issuing = self.issuing.lock();
        let latest = self.chain.lock().tangle.latest_milestone();
        let mut out = Vec::with_capacity(ledger_prefixes.len());
        for p in ledger_prefixes {
            let full = weft_tangle::key(prefix::LEDGER, &[p]);
            out.push(
                self.store
                    .scan_prefix(&full)?
                    .into_iter()
                    .map(|(k, v)| (k[1..].to_vec(), v))
                    .collect(),
            );
        }
        Ok((latest, out))
    }

    /// The confirmed state, for single-entry reads (each entry is written atomically
    /// with its milestone).
    pub fn state(&self) -> StoreState<'_> {
        StoreState(self.store.as_ref())
    }
}
