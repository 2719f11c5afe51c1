//! Process-level crash test: SIGKILL a loaded node at arbitrary moments, restart it on the
//! same data directory, and check that no confirmed block was lost and no milestone was
//! half applied.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Mutex;
use weft_client::Client;
use weft_types::{BlockBuilder, BlockId, NetworkId, Payload, TaggedData};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn_node(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_weft-node"))
        .args([
            "run",
            "--dev",
            "--milestone-interval-ms",
            "150",
            "--api",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts")
}

async fn wait_healthy(client: &Client) {
    for _ in 0..200 {
        if client.health().await.unwrap_or(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node did not become healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_confirmed_block_and_no_half_milestone() {
    let dir = tempfile::tempdir().unwrap();
    let agency = weft_node::config::dev_key("organisation");
    let network = NetworkId::from_name(weft_node::config::DEV_NETWORK);
    let mut confirmed_before: HashMap<BlockId, (u32, bool)> = HashMap::new();
    let mut max_index_seen = 0;
    let mut seq = 0u64;

    for (round, run_ms) in [900u64, 1700, 1300].into_iter().enumerate() {
        let port = free_port();
        let mut child = spawn_node(dir.path(), port);
        let client = Client::new(format!("http://127.0.0.1:{port}"));
        wait_healthy(&client).await;

        // Record what the node reports confirmed while it runs.
        let seen: Arc<Mutex<Vec<(BlockId, u32, bool)>>> = Arc::default();
        let mut events = client.events(&["confirmations"]).await.unwrap();
        let seen_w = seen.clone();
        let watcher = tokio::spawn(async move {
            while let Some(Ok(e)) = events.next().await {
                let index = e["milestone"].as_u64().unwrap_or(0) as u32;
                let mut s = seen_w.lock().await;
                for b in e["blocks"].as_array().into_iter().flatten() {
                    if let Ok(id) = serde_json::from_value::<BlockId>(b["blockId"].clone()) {
                        s.push((id, index, b.get("conflict").is_none()));
                    }
                }
            }
        });
        // Load: four submitters; every 7th block repeats an earlier anchor (a conflict).
        let mut loaders = Vec::new();
        for w in 0..4u64 {
            let client = client.clone();
            let agency = weft_node::config::dev_key("organisation");
            let base = seq + w * 1_000_000;
            loaders.push(tokio::spawn(async move {
                for i in 0..100_000u64 {
                    let n = base + i;
                    let data = if n.is_multiple_of(7) {
                        (n / 7).to_le_bytes()
                    } else {
                        n.to_le_bytes()
                    };
                    let Ok(tips) = client.tips(3).await else {
                        return;
                    };
                    let block = agency.sign_block(
                        BlockBuilder::new(network, tips, weft_node::core::now_ms())
                            .payload(Payload::TaggedData(TaggedData {
                                tag: vec![round as u8],
                                data: data.to_vec(),
                            }))
                            .organisation(agency.public_key()),
                    );
                    if client.submit(&block).await.is_err() {
                        return;
                    }
                }
            }));
        }
        seq += 10_000_000;
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        for l in loaders {
            let _ = l.await;
        }
        watcher.abort();
        for (id, index, applied) in seen.lock().await.drain(..) {
            max_index_seen = max_index_seen.max(index);
            confirmed_before.insert(id, (index, applied));
        }
        assert!(
            !confirmed_before.is_empty(),
            "round {round}: nothing was confirmed before the kill"
        );
        eprintln!("round {round}: killed after {run_ms} ms; {} blocks seen confirmed so far, up to milestone {max_index_seen}", confirmed_before.len());
    }

    // Restart once more and check everything.
    let port = free_port();
    let mut child = spawn_node(dir.path(), port);
    let client = Client::new(format!("http://127.0.0.1:{port}"));
    wait_healthy(&client).await;
    // Let the restarted node confirm what it reloaded.
    let mut info = client.info().await.unwrap();
    for _ in 0..100 {
        if info["pendingBlocks"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        info = client.info().await.unwrap();
    }
    let latest = info["latestMilestone"]["index"].as_u64().unwrap() as u32;
    assert!(
        latest >= max_index_seen,
        "milestone {max_index_seen} was seen, the store ends at {latest}"
    );

    for (id, (index, applied)) in &confirmed_before {
        let m = client
            .metadata(id)
            .await
            .unwrap_or_else(|e| panic!("confirmed block {id} lost: {e}"));
        assert_eq!(m.referenced_by_milestone, Some(*index), "block {id}");
        assert_eq!(m.ledger_outcome == "applied", *applied, "block {id}");
    }

    // Every milestone is whole: chained, with every listed block marked by it, and the
    // ledger's counters equal to what the milestones list.
    let mut previous = weft_types::MilestoneId::NONE;
    let mut listed = 0u64;
    for index in 1..=latest {
        let m = client.milestone(index, true).await.unwrap();
        assert_eq!(
            m.previous_milestone_id,
            previous,
            "milestone {index} does not follow {}",
            index - 1
        );
        previous = m.milestone_id;
        let blocks = m.blocks.unwrap();
        let root = weft_crypto::inclusion_root(&blocks);
        assert_eq!(
            root, m.inclusion_root,
            "milestone {index}: stored list does not match its inclusion root"
        );
        for (pos, id) in blocks.iter().enumerate() {
            let meta = client.metadata(id).await.unwrap();
            assert_eq!(meta.referenced_by_milestone, Some(index));
            assert_eq!(meta.white_flag_index, Some(pos as u32));
        }
        listed += blocks.len() as u64;
    }
    let info = client.info().await.unwrap();
    let counted = info["ledger"]["appliedBlocks"].as_u64().unwrap()
        + info["ledger"]["conflictingBlocks"].as_u64().unwrap();
    let latest_now = info["latestMilestone"]["index"].as_u64().unwrap() as u32;
    for index in latest + 1..=latest_now {
        listed += client
            .milestone(index, true)
            .await
            .unwrap()
            .blocks
            .unwrap()
            .len() as u64;
    }
    assert_eq!(
        counted, listed,
        "ledger counters disagree with the milestones' lists"
    );
    eprintln!(
        "after restart: {latest} milestones whole, {listed} confirmed blocks counted by the ledger"
    );

    // And it still works.
    let tips = client.tips(2).await.unwrap();
    let block = agency.sign_block(
        BlockBuilder::new(network, tips, weft_node::core::now_ms())
            .payload(Payload::TaggedData(TaggedData {
                tag: b"after".to_vec(),
                data: b"restart".to_vec(),
            }))
            .organisation(agency.public_key()),
    );
    client.submit(&block).await.unwrap();
    client
        .wait_confirmed(&block.id(), Duration::from_secs(10))
        .await
        .unwrap();
    child.kill().ok();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_the_node_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn_node(dir.path(), port);
    let client = Client::new(format!("http://127.0.0.1:{port}"));
    wait_healthy(&client).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let agency = weft_node::config::dev_key("organisation");
    let network = NetworkId::from_name(weft_node::config::DEV_NETWORK);
    let anchor = |tips: Vec<BlockId>| {
        agency.sign_block(
            BlockBuilder::new(network, tips, weft_node::core::now_ms())
                .payload(Payload::TaggedData(TaggedData {
                    tag: b"invoice".to_vec(),
                    data: b"INV-2026-0042".to_vec(),
                }))
                .organisation(agency.public_key()),
        )
    };
    let first = anchor(client.tips(2).await.unwrap());
    client.submit(&first).await.unwrap();
    client
        .wait_confirmed(&first.id(), Duration::from_secs(10))
        .await
        .unwrap();
    let before = client.latest_milestone().await.unwrap().index;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(code) = child.try_wait().unwrap() {
            exited = Some(code);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let code = exited.expect("node exits within 5 s of SIGTERM");
    assert!(code.success(), "clean exit, got {code:?}");
    let port = free_port();
    let mut child = spawn_node(dir.path(), port);
    let client = Client::new(format!("http://127.0.0.1:{port}"));
    wait_healthy(&client).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = client.latest_milestone().await.unwrap();
    assert!(
        after.index > before,
        "milestones continue from {before}, got {}",
        after.index
    );
    let m = client.milestone(before, false).await.unwrap();
    assert_eq!(
        client
            .milestone(before + 1, false)
            .await
            .unwrap()
            .previous_milestone_id,
        m.milestone_id
    );
    // The anchor index survives the restart: the same record anchored again conflicts.
    let again = anchor(client.tips(2).await.unwrap());
    client.submit(&again).await.unwrap();
    let meta = client
        .wait_confirmed(&again.id(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(meta.ledger_outcome, "conflicting");
    assert_eq!(meta.conflict.unwrap().reason, "duplicateAnchor");
    child.kill().ok();
    let _ = child.wait();
}
