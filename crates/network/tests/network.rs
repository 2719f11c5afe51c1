//! End-to-end tests of the network layer: real nodes on 127.0.0.1 (port 0) in one
//! process, talking TCP + noise + yamux. Every wait is a poll with a 30 s deadline;
//! fixed sleeps are used only as windows in which something must *not* happen.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use weft_network::{
    MilestoneData, NetworkError, NetworkEvent, PeerEntry, Published, Validation,
    MAX_CONFIRMED_PER_MILESTONE,
};
use weft_types::BlockId;

/// Three nodes: A (listens only), B (dials A), C (dials A and B).
async fn mesh() -> (TestNode, TestNode, TestNode) {
    let a = start(test_config(1, vec![accept_only(2), accept_only(3)])).await;
    let b = start(test_config(2, vec![a.handle.entry(), accept_only(3)])).await;
    let c = start(test_config(3, vec![a.handle.entry(), b.handle.entry()])).await;
    for (node, others) in [(&a, [2, 3]), (&b, [1, 3]), (&c, [1, 2])] {
        for other in others {
            eventually("the mesh to connect", || node.connected_to(peer(other))).await;
        }
    }
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_reaches_every_other_node_exactly_once() {
    let (a, b, c) = mesh().await;
    let nodes = [&a, &b, &c];
    let mut sent = Vec::new();
    for (i, origin) in [0usize, 1, 2, 0, 2].into_iter().enumerate() {
        let bytes = block(100 + i as u64);
        sent.push((origin, BlockId::of_bytes(&bytes)));
        publish(nodes[origin], bytes).await;
    }
    for (origin, id) in &sent {
        for (n, node) in nodes.iter().enumerate() {
            if n != *origin {
                eventually("every block at every other node", || async {
                    node.received(*id) >= 1
                })
                .await;
            }
        }
    }
    // Forwarding settles within a few gossip heartbeats; then count.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (origin, id) in &sent {
        for (n, node) in nodes.iter().enumerate() {
            let expected = usize::from(n != *origin);
            assert_eq!(
                node.received(*id),
                expected,
                "node {n}, block from node {origin}"
            );
        }
    }
    // The same block again is a duplicate, not a second delivery.
    assert_eq!(
        a.handle.publish_block(block(100)).await.ok(),
        Some(Published::Duplicate)
    );
    // Bytes that are not a block of this network are refused before gossip.
    assert!(matches!(
        a.handle.publish_block(vec![1, 2, 3]).await,
        Err(NetworkError::InvalidBlock(_))
    ));
    for node in nodes {
        node.handle.shutdown().await;
    }
    assert!(matches!(
        a.handle.peers().await,
        Err(NetworkError::Shutdown)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_off_the_allowlist_cannot_connect_or_receive() {
    let a = start(test_config(1, vec![accept_only(2)])).await;
    let b = start(test_config(2, vec![a.handle.entry()])).await;
    // The stranger (seed 9) allowlists A and dials it; A does not list it.
    let stranger = start(test_config(9, vec![a.handle.entry()])).await;
    eventually("B to connect", || b.connected_to(peer(1))).await;

    let bytes = block(7);
    let id = BlockId::of_bytes(&bytes);
    publish(&a, bytes).await;
    eventually("B to receive the block", || async { b.received(id) == 1 }).await;
    // The stranger has been redialling all along; give it a few more attempts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stranger.received(id), 0);
    assert!(!stranger.connected_to(peer(1)).await);
    let a_saw_stranger = a
        .events()
        .iter()
        .any(|e| matches!(e, NetworkEvent::PeerConnected { peer: p, .. } if *p == peer(9)));
    assert!(!a_saw_stranger, "A must never accept the stranger");
    assert!(
        a.handle
            .peers()
            .await
            .expect("peers")
            .iter()
            .all(|p| p.peer_id != peer(9)),
        "the stranger is not in A's peer table"
    );
    assert!(matches!(
        a.handle.request_blocks(peer(9), vec![id]).await,
        Err(NetworkError::UnknownPeer(_))
    ));
    for node in [&a, &b, &stranger] {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_and_milestones_are_served_from_the_sync_source() {
    let server = start(test_config(1, vec![accept_only(2)])).await;
    let client = start(test_config(2, vec![server.handle.entry()])).await;
    eventually("connection", || client.connected_to(peer(1))).await;

    // 200 ids asked (more than one request holds), 150 of them stored.
    let mut ids = Vec::new();
    let mut stored = HashMap::new();
    for n in 0..200u64 {
        let bytes = block(1_000 + n);
        let id = BlockId::of_bytes(&bytes);
        if n % 4 != 3 {
            server.source.insert(bytes.clone());
            stored.insert(id, bytes);
        }
        ids.push(id);
    }
    let got = client
        .handle
        .request_blocks(peer(1), ids.clone())
        .await
        .expect("blocks");
    assert_eq!(got.len(), 150);
    let expected_order: Vec<BlockId> = ids
        .iter()
        .filter(|id| stored.contains_key(id))
        .copied()
        .collect();
    assert_eq!(
        got.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        expected_order
    );
    for (id, bytes) in &got {
        assert_eq!(Some(bytes), stored.get(id));
    }

    // A small milestone, and one whose confirmed list needs two pages.
    let small = MilestoneData {
        block: block(5_000),
        confirmed: ids[..10].to_vec(),
    };
    let large = MilestoneData {
        block: block(5_001),
        confirmed: (0..70_000u32)
            .map(|i| {
                let mut id = [0u8; 32];
                id[..4].copy_from_slice(&i.to_le_bytes());
                BlockId(id)
            })
            .collect(),
    };
    server
        .source
        .milestones
        .lock()
        .expect("lock")
        .insert(1, small.clone());
    server
        .source
        .milestones
        .lock()
        .expect("lock")
        .insert(2, large.clone());
    assert_eq!(
        client
            .handle
            .request_milestone(peer(1), 1)
            .await
            .expect("milestone 1"),
        Some(small)
    );
    assert_eq!(
        client
            .handle
            .request_milestone(peer(1), 2)
            .await
            .expect("milestone 2"),
        Some(large)
    );
    assert_eq!(
        client
            .handle
            .request_milestone(peer(1), 99)
            .await
            .expect("milestone 99"),
        None
    );
    const { assert!(MAX_CONFIRMED_PER_MILESTONE > 70_000) };
    for node in [&server, &client] {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_announce_milestone_ranges() {
    let source_a = Arc::new(MemorySource::default());
    source_a.set_range(1, 5);
    let source_b = Arc::new(MemorySource::default());
    source_b.set_range(3, 9);
    let a = start_with(test_config(1, vec![accept_only(2)]), source_a.clone()).await;
    let b = start_with(test_config(2, vec![a.handle.entry()]), source_b.clone()).await;

    eventually("A to know B's range", || async {
        a.range_of(peer(2)).await.map(|r| (r.oldest, r.latest)) == Some((3, 9))
    })
    .await;
    eventually("B to know A's range", || async {
        b.range_of(peer(1)).await.map(|r| (r.oldest, r.latest)) == Some((1, 5))
    })
    .await;
    // A new milestone at B, and pruning: the periodic heartbeat carries the change.
    source_b.set_range(4, 10);
    eventually("A to see B's new range", || async {
        a.range_of(peer(2)).await.map(|r| (r.oldest, r.latest)) == Some((4, 10))
    })
    .await;
    let heartbeat = a.events().into_iter().any(
        |e| matches!(e, NetworkEvent::Heartbeat { peer: p, latest: 10, oldest: 4 } if p == peer(2)),
    );
    assert!(heartbeat, "the change arrived as a Heartbeat event");
    assert_eq!(
        a.handle.request_status(peer(2)).await.expect("status"),
        weft_network::MilestoneRange {
            oldest: 4,
            latest: 10
        }
    );
    for node in [&a, &b] {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_reported_invalid_three_times_is_banned_then_forgiven() {
    let mut config = test_config(1, vec![accept_only(2)]);
    config.ban_duration = Duration::from_secs(4);
    let a = start(config).await;
    *a.verdict.lock().expect("lock") = Validation::Reject;
    let b = start(test_config(2, vec![a.handle.entry()])).await;
    eventually("connection", || a.connected_to(peer(2))).await;

    for n in 0..3u64 {
        let bytes = block(200 + n);
        let id = BlockId::of_bytes(&bytes);
        publish(&b, bytes).await;
        eventually("A to judge the block", || async { a.received(id) == 1 }).await;
        if n < 2 {
            // The report is asynchronous; the strike shows in the peer table.
            eventually("a strike", || async {
                a.handle
                    .peers()
                    .await
                    .ok()
                    .and_then(|ps| ps.first().map(|p| p.strikes))
                    == Some(n as u32 + 1)
            })
            .await;
            assert!(!a.banned(peer(2)));
        }
    }
    eventually("B banned", || async { a.banned(peer(2)) }).await;
    eventually("B disconnected", || async {
        !a.connected_to(peer(2)).await
    })
    .await;
    let status = a.handle.peers().await.expect("peers");
    assert!(status[0].banned_for.is_some());
    assert!(matches!(
        a.handle
            .request_blocks(peer(2), vec![BlockId([0; 32])])
            .await,
        Err(NetworkError::Banned(_))
    ));
    // After the ban B redials and is accepted again.
    *a.verdict.lock().expect("lock") = Validation::Accept;
    eventually("B back after the ban", || a.connected_to(peer(2))).await;
    let status = a.handle.peers().await.expect("peers");
    assert_eq!((status[0].strikes, status[0].banned_for), (0, None));
    for node in [&a, &b] {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_node_connects_and_fetches_what_it_missed() {
    let source_a = Arc::new(MemorySource::default());
    let a = start_with(
        test_config(1, vec![accept_only(2), accept_only(3)]),
        source_a.clone(),
    )
    .await;
    let b = start(test_config(2, vec![a.handle.entry(), accept_only(3)])).await;
    eventually("A and B connected", || a.connected_to(peer(2))).await;

    // A issues five blocks and a milestone confirming them; B follows by gossip.
    let mut ids = Vec::new();
    for n in 0..5u64 {
        let bytes = block(300 + n);
        ids.push(source_a.insert(bytes.clone()));
        publish(&a, bytes).await;
    }
    let milestone = MilestoneData {
        block: block(399),
        confirmed: ids.clone(),
    };
    source_a.insert(milestone.block.clone());
    source_a
        .milestones
        .lock()
        .expect("lock")
        .insert(1, milestone.clone());
    source_a.set_range(1, 1);
    for id in &ids {
        eventually("B to follow", || async { b.received(*id) == 1 }).await;
    }

    // C starts now: it dials both, learns A holds milestone 1, and fetches it.
    let c = start(test_config(3, vec![a.handle.entry(), b.handle.entry()])).await;
    eventually("C connected to A and B", || async {
        c.connected_to(peer(1)).await && c.connected_to(peer(2)).await
    })
    .await;
    eventually("C to learn A's range", || async {
        c.range_of(peer(1)).await.is_some_and(|r| r.contains(1))
    })
    .await;
    let fetched = c
        .handle
        .request_milestone(peer(1), 1)
        .await
        .expect("milestone")
        .expect("A holds milestone 1");
    assert_eq!(fetched, milestone);
    // The confirmed blocks, from B this time (it stored what it accepted).
    let blocks = c
        .handle
        .request_blocks(peer(2), fetched.confirmed.clone())
        .await
        .expect("blocks");
    assert_eq!(blocks.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
    for (id, bytes) in &blocks {
        assert_eq!(BlockId::of_bytes(bytes), *id);
    }
    // And gossip reaches C from now on.
    let bytes = block(400);
    let id = BlockId::of_bytes(&bytes);
    publish(&b, bytes).await;
    eventually("C to receive new gossip", || async { c.received(id) == 1 }).await;
    for node in [&a, &b, &c] {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_peer_is_redialled_when_it_returns() {
    let a = start(test_config(1, vec![accept_only(2)])).await;
    let b_config = test_config(2, vec![a.handle.entry()]);
    let b = start(b_config.clone()).await;
    eventually("connection", || a.connected_to(peer(2))).await;

    // A goes away (a field office losing its link) and comes back on the same port.
    let a_entry: PeerEntry = a.handle.entry();
    a.handle.shutdown().await;
    eventually("B to notice", || async { !b.connected_to(peer(1)).await }).await;
    let mut a_config = test_config(1, vec![accept_only(2)]);
    a_config.listen = a_entry.addr.clone().expect("address");
    let a = start(a_config).await;
    eventually("B to redial A", || b.connected_to(peer(1))).await;
    let bytes = block(500);
    let id = BlockId::of_bytes(&bytes);
    publish(&a, bytes).await;
    eventually("gossip over the new connection", || async {
        b.received(id) == 1
    })
    .await;
    for node in [&a, &b] {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_event_channel_drops_blocks_without_stalling_the_network() {
    // A's events are never read: the first event fills its one-slot channel.
    let mut config = test_config(1, vec![accept_only(2)]);
    config.event_capacity = 1;
    let (a, _unread_events) =
        weft_network::Network::start(config, Arc::new(MemorySource::default()))
            .await
            .expect("network starts");
    let b = start(test_config(2, vec![a.entry()])).await;
    eventually("connection", || b.connected_to(peer(1))).await;
    for n in 0..3u64 {
        publish(&b, block(600 + n)).await;
    }
    eventually("A to drop the three blocks", || async {
        a.dropped_blocks() == 3
    })
    .await;
    // A still serves requests and answers its handle.
    assert_eq!(
        b.handle.request_status(peer(1)).await.expect("status"),
        weft_network::MilestoneRange::default()
    );
    assert_eq!(a.peers().await.expect("peers").len(), 1);
    a.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committee_messages_arrive_from_the_authenticated_peer_and_strikes_ban() {
    let mut config = test_config(1, vec![accept_only(2)]);
    config.ban_duration = Duration::from_secs(60);
    let a = start(config).await;
    let b = start(test_config(2, vec![a.handle.entry()])).await;
    eventually("connection", || a.connected_to(peer(2))).await;
    eventually("connection", || b.connected_to(peer(1))).await;

    let committee = |node: &TestNode| -> Vec<(weft_network::PeerId, Vec<u8>)> {
        node.events()
            .into_iter()
            .filter_map(|e| match e {
                NetworkEvent::Committee { from, bytes } => Some((from, bytes)),
                _ => None,
            })
            .collect()
    };
    b.handle
        .send_committee(peer(1), vec![0, 1, 2, 3])
        .await
        .expect("queued");
    a.handle
        .send_committee(peer(2), vec![7; 100_000])
        .await
        .expect("queued");
    eventually("A receives B's message", || async {
        committee(&a) == vec![(peer(2), vec![0, 1, 2, 3])]
    })
    .await;
    eventually("B receives A's message", || async {
        committee(&b) == vec![(peer(1), vec![7; 100_000])]
    })
    .await;
    // Too large to send at all.
    assert!(matches!(
        a.handle
            .send_committee(peer(2), vec![0; weft_network::MAX_COMMITTEE_BYTES + 1])
            .await,
        Err(NetworkError::RequestTooLarge(_))
    ));
    // The node strikes a peer for what it refuses in a message; three strikes ban it.
    for n in 0..3 {
        a.handle
            .strike(peer(2), format!("bad committee message {n}"))
            .await
            .expect("strike");
    }
    eventually("B banned", || async { a.banned(peer(2)) }).await;
    for node in [&a, &b] {
        node.handle.shutdown().await;
    }
}
