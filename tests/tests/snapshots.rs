//! Snapshots across processes: four validators (`weft-node testnet --nodes 5
//! --validators 4`), node 0 writing full and delta snapshots on its `[snapshots]`
//! schedule and serving them over its API; a fifth node, started from the downloaded
//! full snapshot and delta, follows the committee and reaches the same state roots; a
//! tampered copy is refused before a node starts on it.

mod common;

use std::ffi::OsStr;

use common::{digest, Testnet, ONE_AT_A_TIME};
use serde_json::Value;

const INTERVAL_MS: u64 = 200;

/// The newest snapshot of `kind` node 0 lists that satisfies `ready`. A committee
/// issues milestones only when there is something to confirm, so while waiting this
/// submits filler anchors to move the milestones on.
async fn snapshot_on_node_0(net: &Testnet, kind: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    for filler in 0u32.. {
        let list = net.clients[0].snapshots().await.unwrap_or_default();
        if let Some(s) = list
            .into_iter()
            .rev()
            .find(|s| s["kind"] == kind && ready(s))
        {
            return s;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("node 0 wrote no such {kind} snapshot\n{}", net.logs());
        }
        let block = net
            .anchor(0, format!("filler {kind} {filler}").as_bytes())
            .await;
        let _ = net.clients[0].submit(&block).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    unreachable!("the loop returns or panics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_from_a_snapshot_reaches_the_same_state_roots() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = Testnet::create_with(
        5,
        INTERVAL_MS,
        &["--validators", "4", "--unit-delay-ms", "50"],
    );
    let config = net.node_dir(0).join("config.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("\n[snapshots]\nfull_every_milestones = 6\ndelta_every_milestones = 2\n");
    std::fs::write(&config, text).expect("config");
    for i in 0..4 {
        net.start(i);
    }
    net.wait_up(&[0, 1, 2, 3]).await;

    // State before the snapshot: anchors confirmed by all four.
    let mut before = Vec::new();
    for k in 0..3 {
        let data = format!("before the snapshot {k}");
        before.push((
            data.clone(),
            net.confirm(k % 4, data.as_bytes(), &[0, 1, 2, 3]).await.1,
        ));
    }
    let last_before = before.iter().map(|(_, m)| *m).max().expect("three");
    let full = snapshot_on_node_0(&net, "full", |s| {
        s["index"].as_u64().is_some_and(|i| i as u32 >= last_before)
    })
    .await;
    let base = full["index"].as_u64().expect("index") as u32;
    // More state after it, carried by a delta.
    let (_, after) = net
        .confirm(1, b"after the full snapshot", &[0, 1, 2, 3])
        .await;
    let delta = snapshot_on_node_0(&net, "delta", |s| {
        s["base"].as_u64() == Some(base as u64)
            && s["to"].as_u64().is_some_and(|t| t as u32 >= after)
    })
    .await;

    let dir = net.node_dir(4);
    let mut paths = Vec::new();
    for s in [&full, &delta] {
        let name = s["name"].as_str().expect("name");
        let path = dir.join(name);
        let mut file = std::fs::File::create(&path).expect("file");
        let n = net.clients[0]
            .download_snapshot(name, &mut file)
            .await
            .expect("download");
        assert_eq!(n, s["bytes"].as_u64().expect("bytes"));
        paths.push(path);
    }

    // A tampered copy: one byte of the middle flipped. `snapshot verify` refuses it, and
    // so does `run --snapshot`, which leaves the data directory without a ledger.
    let mut tampered = std::fs::read(&paths[0]).expect("read");
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x01;
    let bad = dir.join("tampered.weftsnap");
    std::fs::write(&bad, tampered).expect("write");
    let out = std::process::Command::new(common::node_binary())
        .args(["snapshot", "verify", "--config"])
        .arg(dir.join("config.toml"))
        .arg(&bad)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let out = std::process::Command::new(common::node_binary())
        .args(["snapshot", "verify", "--config"])
        .arg(dir.join("config.toml"))
        .arg(&paths[0])
        .args(["--json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["index"].as_u64(), Some(base as u64));

    net.start_with(
        4,
        &[
            OsStr::new("--snapshot"),
            paths[0].as_os_str(),
            OsStr::new("--delta"),
            paths[1].as_os_str(),
        ],
    );
    net.wait_up(&[4]).await;
    let log = net.log(4);
    assert!(log.contains("started from a full snapshot"), "{log}");
    assert!(log.contains("delta snapshot applied"), "{log}");
    // The restored state answers for anchors confirmed before the snapshot and in the
    // delta, with the milestones that confirmed them.
    for (data, milestone) in &before {
        let (_, m) = net.clients[4]
            .anchor(&digest(data.as_bytes()))
            .await
            .expect("anchor from the snapshot");
        assert_eq!(m, *milestone);
    }
    assert_eq!(
        net.clients[4]
            .anchor(&digest(b"after the full snapshot"))
            .await
            .expect("anchor from the delta")
            .1,
        after
    );

    // It follows the committee: new blocks submitted to it and to others are
    // confirmed everywhere, and every milestone it applied has the validators' root.
    net.confirm(4, b"submitted to the restored node", &[0, 1, 2, 3, 4])
        .await;
    net.confirm(2, b"submitted to a validator", &[4, 0]).await;
    let upto = net.latest(4).await.min(net.latest(0).await);
    for index in base..=upto {
        let theirs = net.clients[0]
            .milestone(index, false)
            .await
            .expect("node 0");
        let ours = net.clients[4]
            .milestone(index, false)
            .await
            .expect("node 4");
        assert_eq!(ours.milestone_id, theirs.milestone_id, "milestone {index}");
        assert_eq!(ours.state_root, theirs.state_root, "state root {index}");
    }
    let metrics = net.clients[4].metrics().await.expect("metrics");
    assert!(
        metrics.contains("weft_state_divergence 0"),
        "{}",
        net.logs()
    );
    // It says where its history starts: the blocks of milestones up to the
    // snapshot's are not here (peers catching up ask someone else for them).
    let info = net.clients[4].info().await.expect("info");
    assert_eq!(
        info["prunedBelow"].as_u64(),
        Some(base as u64 + 1),
        "{info}"
    );
}
