//! Shared fixtures for the integration tests: a dev node on a free port, and block makers.

use std::time::Duration;

use weft_client::Client;
use weft_crypto::OrganisationKey;
use weft_node::config::dev_key;
use weft_node::{Node, NodeConfig};
use weft_types::{Block, BlockBuilder, BlockId, NetworkId, Payload, TaggedData};

/// A running dev node with its API, stopped on drop.
pub struct TestNode {
    /// The node.
    pub node: Node,
    /// A client for its API.
    pub client: Client,
    /// Its network id.
    pub network: NetworkId,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestNode {
    /// Starts a dev node with the given milestone interval and proof-of-work difficulty.
    pub async fn start(milestone_interval_ms: u64, pow_difficulty: u32) -> TestNode {
        Self::start_with(milestone_interval_ms, pow_difficulty, |_| {}).await
    }

    /// Like [`TestNode::start`], with a last change to the configuration (the genesis,
    /// say) before the node starts.
    pub async fn start_with(
        milestone_interval_ms: u64,
        pow_difficulty: u32,
        adjust: impl FnOnce(&mut NodeConfig),
    ) -> TestNode {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut cfg = NodeConfig::dev(dir.path().to_path_buf(), addr);
        cfg.milestone_interval_ms = milestone_interval_ms;
        cfg.pow_difficulty = pow_difficulty;
        adjust(&mut cfg);
        let network = cfg.genesis.network_id();
        let node = Node::start(cfg).expect("node starts");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(weft_node::serve(node.clone(), listener, async {
            let _ = rx.await;
        }));
        let client = Client::new(format!("http://{addr}"));
        TestNode {
            node,
            client,
            network,
            stop: Some(tx),
            _dir: dir,
        }
    }

    /// The dev organisation's key.
    pub fn agency(&self) -> OrganisationKey {
        dev_key("organisation")
    }

    /// A signed anchor block on fresh tips.
    pub async fn anchor(&self, key: &OrganisationKey, data: &[u8]) -> Block {
        let tips = self.client.tips(4).await.expect("tips");
        anchor_on(self.network, key, tips, data)
    }

    /// Waits for confirmation of `id` (at most 20 s).
    pub async fn confirmed(&self, id: &BlockId) -> weft_client::BlockMetadata {
        self.client
            .wait_confirmed(id, Duration::from_secs(20))
            .await
            .expect("confirmed in time")
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.node.shutdown();
    }
}

/// A signed tagged-data block with the given parents.
pub fn anchor_on(
    network: NetworkId,
    key: &OrganisationKey,
    parents: Vec<BlockId>,
    data: &[u8],
) -> Block {
    key.sign_block(
        BlockBuilder::new(network, parents, weft_node::core::now_ms())
            .payload(Payload::TaggedData(TaggedData {
                tag: b"test/v1".to_vec(),
                data: data.to_vec(),
            }))
            .organisation(key.public_key()),
    )
}

/// Posts headers announcing a `length`-byte body to `base` (`http://host:port`) without
/// sending the body, and returns the status and JSON body of the answer. A server that
/// refuses an oversized body answers before reading it; sending the body anyway races
/// with the server closing the connection, so tests of the limit use this.
pub async fn post_announcing_length(base: &str, length: usize) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/v1/blocks HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}
