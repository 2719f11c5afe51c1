//! A committee of four validators, each a `weft-node` process from `weft-node testnet`
//! (threshold 3), agreeing on milestones with AlephBFT over 127.0.0.1: blocks submitted
//! to any node are confirmed by all with the same milestones and state roots; one
//! validator killed does not stop the others and catches up when restarted; sessions
//! end one after another and a validator down across two ends joins the committee's
//! session; a 2+2 partition finalises nothing and resumes when healed; a validator that
//! signs garbage or equivocates gets nothing certified.
//!
//! Short milestone intervals and 50 ms engine rounds keep the tests fast; every wait is
//! a poll with a generous deadline (`common::DEADLINE`), nothing asserts on durations.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{read_env, Testnet, ONE_AT_A_TIME};
use weft_crypto::OrganisationKey;
use weft_tests::anchor_on;
use weft_types::StateRoot;

const INTERVAL_MS: u64 = 200;

fn committee_of_four() -> Testnet {
    Testnet::create_with(4, INTERVAL_MS, &["--unit-delay-ms", "50"])
}

/// Each node's latest milestone index (0 when unreachable).
async fn latests(net: &Testnet, nodes: &[usize]) -> Vec<u32> {
    let mut out = Vec::new();
    for &i in nodes {
        out.push(net.latest(i).await);
    }
    out
}

/// Waits until validator `node` (restarted) signs a milestone again — blocks submitted
/// to it are confirmed by a milestone that carries its signature — then checks that
/// nodes 1..=3 hold the same history up to the lowest latest milestone.
async fn signs_again(net: &Testnet, node: usize) {
    let key = net.validator_key(node).expect("a validator");
    let mut k = 0u32;
    net.until(&format!("node {node} signs a milestone again"), || {
        k += 1;
        let data = format!("after the restart {k}");
        async move {
            let (_, index) = net.confirm(node, data.as_bytes(), &[0, 1, 2, 3]).await;
            for i in 0..4 {
                if let Ok(m) = net.clients[i].milestone(index, false).await {
                    if m.signatures.iter().any(|s| s.public_key == key) {
                        return true;
                    }
                }
            }
            false
        }
    })
    .await;
    let upto = *latests(net, &[0, 1, 2, 3])
        .await
        .iter()
        .min()
        .expect("four");
    net.same_history(&[1, 2, 3], upto).await;
}

/// Every milestone `1..=upto` on node 0 carries at least 3 committee signatures.
async fn certified_by_three(net: &Testnet, upto: u32) {
    for index in 1..=upto {
        let m = net.clients[0]
            .milestone(index, false)
            .await
            .expect("milestone");
        assert!(m.signatures.len() >= 3, "milestone {index}: {m:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_confirm_blocks_from_any_node_with_equal_state_roots() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = committee_of_four();
    for i in 0..4 {
        net.start(i);
    }
    // A block on each node's API.
    for i in 0..4 {
        net.confirm(i, format!("on node {i}").as_bytes(), &[0, 1, 2, 3])
            .await;
    }
    // A burst of siblings on all nodes: more tips than a milestone has parents, so the
    // validators merge them with tip-merging blocks of their own.
    let tips = net.clients[1].tips(2).await.expect("tips");
    let mut burst = Vec::new();
    for k in 0..40u8 {
        let block = anchor_on(net.network, &net.organisation, tips.clone(), &[b'b', k]);
        net.clients[k as usize % 4]
            .submit(&block)
            .await
            .expect("admitted");
        burst.push(block.id());
    }
    for id in &burst {
        let on0 = net.outcome(0, id).await;
        for i in 1..4 {
            assert_eq!(net.outcome(i, id).await, on0, "node {i}");
        }
    }
    let upto = *latests(&net, &[0, 1, 2, 3])
        .await
        .iter()
        .min()
        .expect("four");
    assert!(upto >= 2, "{upto}");
    net.same_history(&[1, 2, 3], upto).await;
    certified_by_three(&net, upto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_validator_is_not_needed_and_signs_again_after_restart() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = committee_of_four();
    for i in 0..4 {
        net.start(i);
    }
    net.confirm(0, b"all four", &[0, 1, 2, 3]).await;

    net.kill(3);
    let (b, _) = net.confirm(1, b"while node 3 is down", &[0, 1, 2]).await;
    net.confirm(2, b"still down", &[0, 1, 2]).await;

    net.start(3);
    assert_eq!(net.outcome(3, &b).await, net.outcome(0, &b).await);
    // It takes part again: a later milestone carries its signature.
    signs_again(&net, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_two_partition_finalises_nothing_and_resumes_when_healed() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = committee_of_four();
    for i in 0..4 {
        net.start(i);
    }
    net.confirm(0, b"before the partition", &[0, 1, 2, 3]).await;

    // Cut the links between {0, 1} and {2, 3}: each node restarts allowing only its pair.
    for i in 0..4 {
        net.kill(i);
    }
    for (i, pair) in [(0, 1), (1, 0), (2, 3), (3, 2)] {
        net.set_allowlist(i, &[pair]);
        net.start(i);
    }
    net.wait_up(&[0, 1, 2, 3]).await;
    let before = latests(&net, &[0, 1, 2, 3]).await;
    let left = net.anchor(0, b"left side").await;
    net.clients[0]
        .submit(&left)
        .await
        .expect("node 0 admits it");
    let right = net.anchor(2, b"right side").await;
    net.clients[2]
        .submit(&right)
        .await
        .expect("node 2 admits it");
    // For a few seconds (many milestone intervals and engine rounds), nothing is
    // finalised on either side.
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < until {
        assert_eq!(
            latests(&net, &[0, 1, 2, 3]).await,
            before,
            "a milestone was finalised in a partition\n{}",
            net.logs()
        );
        for (i, id) in [
            (0, left.id()),
            (1, left.id()),
            (2, right.id()),
            (3, right.id()),
        ] {
            if let Ok(m) = net.clients[i].metadata(&id).await {
                assert_eq!(m.referenced_by_milestone, None, "node {i}");
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Heal: every node gets its full allowlist again.
    for i in 0..4 {
        net.kill(i);
    }
    for i in 0..4 {
        net.restore_allowlist(i);
        net.start(i);
    }
    for id in [left.id(), right.id()] {
        let on0 = net.outcome(0, &id).await;
        assert_eq!(on0.1, "applied");
        for i in 1..4 {
            assert_eq!(net.outcome(i, &id).await, on0, "node {i}");
        }
    }
    net.confirm(3, b"after healing", &[0, 1, 2, 3]).await;
    let upto = *latests(&net, &[0, 1, 2, 3])
        .await
        .iter()
        .min()
        .expect("four");
    // No index holds two different milestones anywhere.
    net.same_history(&[1, 2, 3], upto).await;
}

/// The consensus session node `i` runs (its `data/consensus/session` file; 0 before
/// the first session ends).
fn session_of(net: &Testnet, i: usize) -> u64 {
    std::fs::read_to_string(net.node_dir(i).join("data/consensus/session"))
        .ok()
        .and_then(|t| t.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_and_a_validator_that_missed_an_end_joins_the_next() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = committee_of_four();
    // Sessions of 40 rounds (about 2 s at 50 ms a round) instead of 3000.
    for i in 0..4 {
        let path = net.node_dir(i).join("config.toml");
        let text = std::fs::read_to_string(&path).expect("config");
        let text = text.replace(
            "unit_delay_ms = 50\n",
            "unit_delay_ms = 50\nend_round = 40\n",
        );
        std::fs::write(&path, text).expect("config");
        net.start(i);
    }
    net.confirm(0, b"first session", &[0, 1, 2, 3]).await;
    net.until("a session ends and the next begins", || async {
        (0..4).all(|i| session_of(&net, i) >= 1)
    })
    .await;
    net.confirm(1, b"a later session", &[0, 1, 2, 3]).await;

    // Node 3 is down while the others move on by two sessions; when it returns it
    // joins theirs (announced by f + 1 members) rather than wait in its own.
    net.kill(3);
    let left_at = session_of(&net, 3);
    net.until("two more sessions", || async {
        session_of(&net, 0) >= left_at + 2
    })
    .await;
    net.confirm(2, b"while node 3 is down", &[0, 1, 2]).await;
    net.start(3);
    net.until("node 3 joins the committee's session", || async {
        session_of(&net, 3) > left_at + 1
    })
    .await;
    // And signs again: a later milestone carries its signature.
    signs_again(&net, 3).await;
}

/// Nodes 0–2 are honest processes; node 3 runs in this process as a validator that
/// misbehaves as `byzantine` says.
async fn with_a_byzantine_validator(byzantine: weft_node::p2p::Byzantine) {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = committee_of_four();
    for i in 0..3 {
        net.start(i);
    }
    let dir = net.node_dir(3);
    let config = weft_node::NodeConfig::from_file(&dir.join("config.toml")).expect("node 3 config");
    let env = read_env(&dir.join("keys.env"));
    let seed: [u8; 32] = hex::decode(&env["WEFT_VALIDATOR_KEY"])
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let node_key = weft_network::NodeKey::from_hex(&env["WEFT_NODE_KEY"]).expect("node key");
    let settings = config.network.clone().expect("[network]");
    let node = weft_node::Node::start_with_key(
        config,
        Arc::new(weft_tangle::MemoryStore::default()),
        Some(OrganisationKey::from_seed(&seed)),
    )
    .expect("node 3 starts");
    let p2p = weft_node::p2p::start_byzantine(node.clone(), &settings, node_key, byzantine)
        .await
        .expect("node 3's network");
    let byzantine_key = net.validator_key(3).expect("a validator");

    for k in 0..3u8 {
        net.confirm(k as usize, &[b'h', k], &[0, 1, 2]).await;
    }
    for k in 3..6u8 {
        net.confirm((k % 3) as usize, &[b'h', k], &[0, 1, 2]).await;
    }
    let upto = *latests(&net, &[0, 1, 2]).await.iter().min().expect("three");
    net.same_history(&[1, 2], upto).await;
    for index in 1..=upto {
        let m = net.clients[0]
            .milestone(index, false)
            .await
            .expect("milestone");
        assert_ne!(m.state_root, StateRoot([0xBA; 32]));
        // The honest three suffice; whatever the byzantine member signed for this
        // index was either the real essence or counted for nothing.
        let honest = m
            .signatures
            .iter()
            .filter(|s| s.public_key != byzantine_key)
            .count();
        if byzantine == weft_node::p2p::Byzantine::Garbage {
            assert_eq!(honest, m.signatures.len(), "milestone {index}: {m:?}");
        }
        assert!(m.signatures.len() >= 3, "milestone {index}: {m:?}");
    }
    // The byzantine member was connected all along: it holds the certified milestones
    // too (committed with the honest essence it computed, or followed).
    net.until("the byzantine member holds the milestones", || async {
        node.latest_milestone().map(|l| l.index).unwrap_or(0) >= upto
    })
    .await;
    p2p.shutdown().await;
    let _ = tokio::task::spawn_blocking(move || node.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_signing_garbage_gets_nothing_certified() {
    with_a_byzantine_validator(weft_node::p2p::Byzantine::Garbage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_validator_gets_nothing_certified() {
    with_a_byzantine_validator(weft_node::p2p::Byzantine::Equivocate).await;
}
