//! Shared harness of the network tests: in-memory sync sources, test nodes on
//! 127.0.0.1 with port 0, an event log per node, and polling with a deadline.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weft_network::{
    MilestoneData, MilestoneRange, Network, NetworkConfig, NetworkEvent, NetworkHandle, NodeKey,
    PeerEntry, PeerId, SyncSource, Validation,
};
use weft_types::{BlockBuilder, BlockId, NetworkId};

/// How long any awaited condition may take (generous: the machine is shared).
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn network_id() -> NetworkId {
    NetworkId::from_name("weft-network-test")
}

pub fn key(seed: u8) -> NodeKey {
    NodeKey::from_seed([seed; 32])
}

pub fn peer(seed: u8) -> PeerId {
    key(seed).peer_id()
}

/// An allowlist entry that is accepted but never dialled.
pub fn accept_only(seed: u8) -> PeerEntry {
    PeerEntry::new(peer(seed), None)
}

/// A distinct canonical block of the test network.
pub fn block(n: u64) -> Vec<u8> {
    BlockBuilder::new(network_id(), vec![BlockId::GENESIS], 1_700_000_000_000 + n)
        .nonce(n)
        .anonymous()
        .to_bytes()
}

/// A sync source backed by maps.
#[derive(Default)]
pub struct MemorySource {
    pub blocks: Mutex<HashMap<BlockId, Vec<u8>>>,
    pub milestones: Mutex<HashMap<u32, MilestoneData>>,
    pub range: Mutex<MilestoneRange>,
}

impl MemorySource {
    pub fn insert(&self, bytes: Vec<u8>) -> BlockId {
        let id = BlockId::of_bytes(&bytes);
        self.blocks.lock().expect("lock").insert(id, bytes);
        id
    }

    pub fn set_range(&self, oldest: u32, latest: u32) {
        *self.range.lock().expect("lock") = MilestoneRange { oldest, latest };
    }
}

impl SyncSource for MemorySource {
    fn block(&self, id: &BlockId) -> Option<Vec<u8>> {
        self.blocks.lock().ok()?.get(id).cloned()
    }

    fn milestone(&self, index: u32) -> Option<MilestoneData> {
        self.milestones.lock().ok()?.get(&index).cloned()
    }

    fn milestone_range(&self) -> MilestoneRange {
        self.range.lock().map(|r| *r).unwrap_or_default()
    }
}

/// A running node with its event log. Gossiped blocks get `verdict`; accepted ones
/// are stored in the node's source, as a real node would.
pub struct TestNode {
    pub handle: NetworkHandle,
    pub source: Arc<MemorySource>,
    pub log: Arc<Mutex<Vec<NetworkEvent>>>,
    pub verdict: Arc<Mutex<Validation>>,
}

pub fn test_config(seed: u8, allowlist: Vec<PeerEntry>) -> NetworkConfig {
    let mut config = NetworkConfig::new(
        "/ip4/127.0.0.1/tcp/0".parse().expect("listen address"),
        key(seed),
        network_id(),
    );
    config.allowlist = allowlist;
    config.heartbeat_interval = Duration::from_millis(500);
    config.redial_min = Duration::from_millis(200);
    config.redial_max = Duration::from_secs(2);
    config
}

pub async fn start(config: NetworkConfig) -> TestNode {
    start_with(config, Arc::new(MemorySource::default())).await
}

/// Logs to the test's output when `RUST_LOG` is set (e.g. `RUST_LOG=weft_network=debug`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub async fn start_with(config: NetworkConfig, source: Arc<MemorySource>) -> TestNode {
    init_tracing();
    let (handle, mut events) = Network::start(config, source.clone())
        .await
        .expect("network starts");
    let log = Arc::new(Mutex::new(Vec::new()));
    let verdict = Arc::new(Mutex::new(Validation::Accept));
    let (h, l, s, v) = (handle.clone(), log.clone(), source.clone(), verdict.clone());
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetworkEvent::Block {
                from, id, bytes, ..
            } = &event
            {
                let verdict = *v.lock().expect("lock");
                if verdict == Validation::Accept {
                    s.insert(bytes.clone());
                }
                let _ = h.report(*from, *id, verdict).await;
            }
            l.lock().expect("lock").push(event);
        }
    });
    TestNode {
        handle,
        source,
        log,
        verdict,
    }
}

impl TestNode {
    pub fn events(&self) -> Vec<NetworkEvent> {
        self.log.lock().expect("lock").clone()
    }

    /// How many times block `id` arrived by gossip.
    pub fn received(&self, id: BlockId) -> usize {
        self.events()
            .iter()
            .filter(|e| matches!(e, NetworkEvent::Block { id: got, .. } if *got == id))
            .count()
    }

    pub fn banned(&self, peer: PeerId) -> bool {
        self.events()
            .iter()
            .any(|e| matches!(e, NetworkEvent::PeerBanned { peer: p, .. } if *p == peer))
    }

    pub async fn connected_to(&self, peer: PeerId) -> bool {
        self.handle
            .peers()
            .await
            .map(|ps| ps.iter().any(|p| p.peer_id == peer && p.connected))
            .unwrap_or(false)
    }

    pub async fn range_of(&self, peer: PeerId) -> Option<MilestoneRange> {
        self.handle
            .peers()
            .await
            .ok()?
            .into_iter()
            .find(|p| p.peer_id == peer)?
            .range
    }
}

/// Polls `check` every 100 ms until it holds; fails the test after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    loop {
        if check().await {
            return;
        }
        if start.elapsed() > DEADLINE {
            panic!("timed out after {DEADLINE:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Publishes until some peer is subscribed (the mesh forms within a few heartbeats).
pub async fn publish(node: &TestNode, bytes: Vec<u8>) {
    let handle = node.handle.clone();
    eventually("a subscribed peer to publish to", || {
        let (handle, bytes) = (handle.clone(), bytes.clone());
        async move {
            matches!(
                handle.publish_block(bytes).await,
                Ok(weft_network::Published::Sent)
            )
        }
    })
    .await;
}
