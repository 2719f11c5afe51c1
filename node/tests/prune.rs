//! Pruning on a running dev node: with `[storage] prune_keep_milestones` set and fast
//! milestones, the pruner deletes old confirmed blocks' bodies; the API then answers
//! 410 `pruned` for them, while their metadata and inclusion proofs (checked offline
//! with the committee keys), new blocks approving them, new milestones and a restart on
//! the same data directory keep working.

use std::time::{Duration, Instant};

use weft_client::{Client, ClientError};
use weft_crypto::certificate::verify_inclusion;
use weft_node::{Node, NodeConfig};
use weft_types::{Block, BlockBuilder, BlockId, NetworkId, Payload, TaggedData};

struct Running {
    node: Node,
    client: Client,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(config: NodeConfig) -> Running {
    let node = tokio::task::spawn_blocking(move || Node::start(config))
        .await
        .unwrap()
        .expect("node starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(weft_node::serve(node.clone(), listener, async move {
        let _ = stopped.await;
    }));
    Running {
        node,
        client: Client::new(base),
        http: reqwest::Client::new(),
        stop,
        server,
    }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || node.shutdown())
            .await
            .unwrap();
    }

    async fn info(&self) -> serde_json::Value {
        self.client.info().await.unwrap()
    }

    /// Waits until `check` holds on `/api/v1/info`, for at most 20 s.
    async fn wait_info(&self, what: &str, check: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = self.info().await;
            if check(&info) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {info}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn anchor(parents: Vec<BlockId>, data: &[u8]) -> Block {
    let key = weft_node::config::dev_key("organisation");
    key.sign_block(
        BlockBuilder::new(
            NetworkId::from_name(weft_node::config::DEV_NETWORK),
            parents,
            weft_node::core::now_ms(),
        )
        .payload(Payload::TaggedData(TaggedData {
            tag: b"prune/test".to_vec(),
            data: data.to_vec(),
        }))
        .organisation(key.public_key()),
    )
}

fn latest(info: &serde_json::Value) -> u64 {
    info["latestMilestone"]["index"].as_u64().unwrap_or(0)
}

fn pruned_below(info: &serde_json::Value) -> u64 {
    info["prunedBelow"].as_u64().expect("prunedBelow in /info")
}

/// Expects `result` to be the API's 410 `pruned`.
fn assert_pruned<T: std::fmt::Debug>(result: Result<T, ClientError>) {
    match result {
        Err(ClientError::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (410, "pruned"));
        }
        other => panic!("expected 410 pruned, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_blocks_are_pruned_and_proofs_milestones_and_restarts_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::dev(dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap());
    config.milestone_interval_ms = 50;
    // Raised to the minimum window (32 milestones, under two seconds here).
    config.storage.prune_keep_milestones = Some(2);
    let committee = config.genesis.committee.clone();
    let n = start(config.clone()).await;

    let mut old_blocks = Vec::new();
    for i in 0..4u8 {
        let tips = n.client.tips(2).await.unwrap();
        let b = anchor(tips, &[i; 32]);
        n.client.submit(&b).await.unwrap();
        old_blocks.push(b);
    }
    let old: Vec<BlockId> = old_blocks.iter().map(Block::id).collect();
    let mut confirmed_by = 0;
    for id in &old {
        let m = n
            .client
            .wait_confirmed(id, Duration::from_secs(10))
            .await
            .unwrap();
        confirmed_by = confirmed_by.max(m.referenced_by_milestone.unwrap() as u64);
    }
    // Pruning is off until the blocks fall out of the window.
    assert!(n.client.block(&old[0]).await.is_ok());
    n.wait_info("the blocks to be pruned", |i| {
        pruned_below(i) > confirmed_by
    })
    .await;
    let info = n.info().await;
    assert!(
        latest(&info) >= pruned_below(&info) + weft_tangle::MIN_KEEP_MILESTONES as u64 - 1,
        "the minimum window is kept: {info}"
    );

    for id in &old {
        // The body is gone: 410 `pruned`, as JSON and as raw bytes.
        assert_pruned(n.client.block(id).await);
        assert_pruned(n.client.block_bytes(id).await);
        let r = n
            .http
            .get(format!("{}/api/v1/blocks/{id}", n.client.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 410);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "pruned");
        assert!(v["error"]["message"].is_string());
        // Metadata and the inclusion proof stay, and the proof checks offline.
        let meta = n.client.metadata(id).await.unwrap();
        assert_eq!(meta.ledger_outcome, "applied");
        let index = meta.referenced_by_milestone.unwrap();
        let proof = n.client.block_proof(id).await.unwrap();
        assert_eq!(proof.milestone.essence.index, index);
        verify_inclusion(id, &proof.milestone, &proof.proof, &committee).unwrap();
        // The milestone itself is still served; its notes are not (their blocks are gone).
        assert!(n.client.milestone(index, true).await.is_ok());
        assert_pruned(n.client.milestone_notes(index).await);
    }
    // An unknown block is still 404.
    match n.client.block(&BlockId([7; 32])).await {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 404),
        other => panic!("expected 404, got {other:?}"),
    }
    // Blocks the last milestones confirmed keep their bodies.
    let recent = n.client.latest_milestone().await.unwrap();
    assert!(n.client.block(&recent.block_id).await.is_ok());

    // A pruned block is still known: a new block approving it is solid at once, nothing
    // is asked of peers. (It is below max depth, so tip selection leaves it alone.)
    let late = anchor(vec![old[0]], b"approves a pruned block");
    let answer = n.client.submit(&late).await.unwrap();
    assert_eq!(answer.solid, Some(true), "{answer:?}");
    assert!(answer.missing_parents.is_empty());
    assert!(n.client.block(&late.id()).await.is_ok());

    // Milestones and state roots keep coming.
    let before = latest(&n.info().await);
    n.wait_info("new milestones", |i| {
        latest(i) > before + 3 && i["stateRoot"].is_string()
    })
    .await;
    let metrics = n.client.metrics().await.unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    assert!(value("weft_pruned_below_index ") > confirmed_by as f64);
    assert!(value("weft_blocks_pruned_total ") >= old.len() as f64);
    let pruned_at_stop = pruned_below(&n.info().await);
    n.stop().await;

    // A restart on the same data directory: pruned blocks are still known (not
    // confirmed again, still 410), and the node goes on.
    let n = start(config).await;
    let info = n.info().await;
    assert!(pruned_below(&info) >= pruned_at_stop, "{info}");
    for id in &old {
        assert_pruned(n.client.block(id).await);
        let meta = n.client.metadata(id).await.unwrap();
        assert_eq!(meta.ledger_outcome, "applied");
    }
    // Resubmitting a pruned block is a duplicate, not a block to confirm again.
    let again = n.client.submit(&old_blocks[0]).await.unwrap();
    assert!(again.duplicate, "{again:?}");
    assert_pruned(n.client.block(&old[0]).await);
    let before = latest(&info);
    n.wait_info("milestones after the restart", |i| latest(i) > before + 2)
        .await;
    let proof = n.client.block_proof(&old[0]).await.unwrap();
    verify_inclusion(&old[0], &proof.milestone, &proof.proof, &committee).unwrap();
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_limit_prunes_the_oldest_milestones_but_never_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::dev(dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap());
    config.milestone_interval_ms = 50;
    // Far below what the blocks below take: pruning goes on down to the window.
    config.storage.prune_max_db_mib = Some(1);
    let n = start(config).await;
    let mut ids = Vec::new();
    for i in 0..200u32 {
        let tips = n.client.tips(2).await.unwrap();
        let mut data = vec![0u8; weft_types::MAX_TAGGED_DATA_BYTES];
        data[..4].copy_from_slice(&i.to_le_bytes());
        let b = anchor(tips, &data);
        n.client.submit(&b).await.unwrap();
        ids.push(b.id());
    }
    let mut confirmed_by = 0;
    for id in &ids {
        let m = n
            .client
            .wait_confirmed(id, Duration::from_secs(10))
            .await
            .unwrap();
        confirmed_by = confirmed_by.max(m.referenced_by_milestone.unwrap() as u64);
    }
    n.wait_info("the size limit to prune the blocks", |i| {
        pruned_below(i) > confirmed_by
    })
    .await;
    for _ in 0..10 {
        let info = n.info().await;
        assert!(
            latest(&info) >= pruned_below(&info) + weft_tangle::MIN_KEEP_MILESTONES as u64 - 1,
            "the minimum window is kept: {info}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_pruned(n.client.block(&ids[0]).await);
    let recent = n.client.latest_milestone().await.unwrap();
    assert!(n.client.block(&recent.block_id).await.is_ok());
    n.stop().await;
}
