//! A consortium of `weft-node` processes from `weft-node testnet`, talking over
//! 127.0.0.1: node 0 holds the committee key and issues milestones, the others follow
//! them by gossip and sync, each applying them to its own ledger and checking the
//! certified state root.
//!
//! The tests spawn the release `weft-node` binary next to this test executable (build
//! it with `cargo build --release -p weft-node`), one at a time (a lock), and poll with
//! deadlines; no test asserts on wall-clock durations.

mod common;

use common::{digest, Testnet, ONE_AT_A_TIME};
use weft_crypto::OrganisationKey;
use weft_tests::anchor_on;
use weft_types::Block;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_submitted_to_followers_are_confirmed_by_all_four_with_equal_state_roots() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = Testnet::create(4, 500);
    for i in 0..4 {
        net.start(i);
    }
    net.all_reach(&[0, 1, 2, 3], 2).await;

    // A block on a follower's API; and one anchor twice, on two other followers.
    let a = net.anchor(2, b"on a follower").await;
    net.clients[2].submit(&a).await.expect("node 2 admits it");
    let d1 = net.anchor(1, b"twice").await;
    net.clients[1].submit(&d1).await.expect("node 1 admits it");
    // Two distinct blocks with the same anchor: built in the same millisecond on the
    // same tips they would be one block (the same id), so wait for another timestamp.
    let mut d2 = net.anchor(3, b"twice").await;
    while d2.id() == d1.id() {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        d2 = net.anchor(3, b"twice").await;
    }
    net.clients[3].submit(&d2).await.expect("node 3 admits it");

    let mut seen = Vec::new();
    for i in 0..4 {
        let outcomes = (
            net.outcome(i, &a.id()).await,
            net.outcome(i, &d1.id()).await,
            net.outcome(i, &d2.id()).await,
        );
        seen.push(outcomes);
    }
    // Every node confirmed them at the same milestones with the same ledger outcomes.
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:?}");
    let (first, d1_outcome, d2_outcome) = &seen[0];
    assert_eq!(first.1, "applied");
    // First wins: exactly one of the two equal anchors is applied.
    let applied = [&d1_outcome.1, &d2_outcome.1]
        .iter()
        .filter(|o| o.as_str() == "applied")
        .count();
    assert_eq!(applied, 1, "{seen:?}");
    // Each follower's own ledger holds the anchor.
    for i in 0..4 {
        let (block, _) = net.clients[i]
            .anchor(&digest(b"on a follower"))
            .await
            .expect("anchor in the ledger");
        assert_eq!(block, a.id());
    }

    // A burst of siblings on the followers: more tips than a milestone has parents, so
    // the issuer merges them with tip-merging blocks, which the followers get by gossip
    // or sync.
    let tips = net.clients[1].tips(2).await.expect("tips");
    let mut burst = Vec::new();
    for k in 0..40u8 {
        let block = anchor_on(net.network, &net.organisation, tips.clone(), &[b'b', k]);
        net.clients[1 + k as usize % 3]
            .submit(&block)
            .await
            .expect("admitted");
        burst.push(block.id());
    }
    for id in &burst {
        let on_issuer = net.outcome(0, id).await;
        for i in 1..4 {
            assert_eq!(net.outcome(i, id).await, on_issuer);
        }
    }

    let upto = net.latest(0).await;
    net.all_reach(&[0, 1, 2, 3], upto).await;
    net.same_history(&[1, 2, 3], upto).await;
    for i in 1..4 {
        let metrics = net.clients[i].metrics().await.expect("metrics");
        assert!(
            !metrics.contains("weft_milestones_followed_total 0\n"),
            "node {i} followed nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_killed_and_restarted_catches_up() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = Testnet::create(4, 500);
    for i in 0..4 {
        net.start(i);
    }
    net.all_reach(&[0, 1, 2, 3], 2).await;
    net.kill(3);
    let down_at = net.latest(0).await;

    // The others go on without it.
    let b = net.anchor(1, b"while node 3 was down").await;
    net.clients[1].submit(&b).await.expect("node 1 admits it");
    let (confirmed_at, outcome) = net.outcome(2, &b.id()).await;
    assert_eq!(outcome, "applied");
    net.all_reach(&[0, 1, 2], down_at + 5).await;

    net.start(3);
    // Same latest milestone and state root as the issuer (which keeps going).
    net.until("node 3 catches up with node 0", || async {
        let (Ok(ours), Ok(theirs)) = (
            net.clients[3].latest_milestone().await,
            net.clients[0].latest_milestone().await,
        ) else {
            return false;
        };
        if ours.index + 1 < theirs.index {
            return false;
        }
        match net.clients[0].milestone(ours.index, false).await {
            Ok(m) => m.state_root == ours.state_root && m.milestone_id == ours.milestone_id,
            Err(_) => false,
        }
    })
    .await;
    assert_eq!(net.outcome(3, &b.id()).await, (confirmed_at, outcome));
    let upto = net.latest(3).await;
    net.same_history(&[1, 2, 3], upto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_started_late_syncs_the_history() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = Testnet::create(4, 500);
    for i in 0..3 {
        net.start(i);
    }
    net.all_reach(&[0, 1, 2], 2).await;
    let mut blocks = Vec::new();
    for k in 0..5u8 {
        let i = 1 + (k as usize % 2);
        let block = net.anchor(i, &[b'h', k]).await;
        net.clients[i].submit(&block).await.expect("admitted");
        blocks.push(block.id());
        net.outcome(i, &block.id()).await;
    }
    let before = net.latest(0).await;
    net.all_reach(&[0, 1, 2], before + 3).await;

    net.start(3);
    net.all_reach(&[3], before + 3).await;
    for id in &blocks {
        assert_eq!(net.outcome(3, id).await, net.outcome(0, id).await);
    }
    let upto = net.latest(3).await;
    net.same_history(&[1, 2, 3], upto).await;
}

/// A household's note spent twice at once, once through each of two nodes: the network
/// settles on exactly one payment, the same on both nodes, and the books balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_spend_through_two_nodes_resolves_to_exactly_one() {
    use rand::SeedableRng;
    use weft_entitlements::{mint, transfer, OwnedNote, OwnerSecretKey, Recipient};
    use weft_node::scenario::{one_round, Agency, Network};
    use weft_types::{
        AttributeDef, AttributeKind, Entitlement, Payload, PolicyCondition, PredicateOp, Program,
        Schema,
    };

    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = Testnet::create(2, 500);
    net.start(0);
    net.start(1);
    net.all_reach(&[0, 1], 2).await;
    let scene = Network::connect(
        net.clients[0].clone(),
        OrganisationKey::from_seed(&net.authority.seed()),
    )
    .await
    .expect("node 0 info");
    let schema = Schema {
        name: "household".into(),
        version: "1".into(),
        attributes: vec![AttributeDef {
            name: "household_size".into(),
            kind: AttributeKind::Integer { bits: 8 },
        }],
    };
    let agency = Agency::setup(
        &scene,
        OrganisationKey::from_seed(&net.organisation.seed()),
        schema.clone(),
        "cash",
    )
    .await
    .expect("schema and registry");
    let program = Program {
        name: "cash".into(),
        schema: schema.id(),
        issuers: vec![agency.did],
        policy_source: "household_size >= 1".into(),
        conditions: vec![PolicyCondition {
            attribute: 0,
            predicate: PredicateOp::Ge { value: 1 },
        }],
        disclose: 0,
        issued_before: u32::MAX,
        rounds: vec![one_round(1, weft_node::core::now_ms(), 1)],
        grace_ms: 0,
        entitlement: Entitlement {
            quantity: 1_000,
            unit: "USD cents".into(),
            tiers: vec![],
        },
        points: vec![],
        anonymous: false,
        value_notes: true,
        nonce: 0,
    };
    let id = agency.announce(&scene, program).await.expect("program");
    let pid = *id.bytes();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let household = OwnerSecretKey::random(&mut rng);
    let m = mint(
        pid,
        &[Recipient {
            owner: household.public_key(),
            amount: 1_000,
        }],
        &mut rng,
    )
    .expect("mint");
    let note = OwnedNote::decrypt(&pid, &m.outputs[0], &household).expect("opens");
    let block = scene
        .signed(&agency.key, Payload::Mint(Box::new(m)))
        .await
        .expect("mint block");
    scene.apply_all(&[block]).await.expect("minted");

    // Two shops, one note: each payment goes to a different node at the same moment.
    let pay = |rng: &mut rand_chacha::ChaCha20Rng| {
        transfer(
            pid,
            std::slice::from_ref(&note),
            &[Recipient {
                owner: OwnerSecretKey::random(rng).public_key(),
                amount: 1_000,
            }],
            rng,
        )
        .expect("transfer")
    };
    let (p0, p1) = (pay(&mut rng), pay(&mut rng));
    let scene1 = Network::connect(
        net.clients[1].clone(),
        OrganisationKey::from_seed(&net.authority.seed()),
    )
    .await
    .expect("node 1 info");
    let b0 = scene
        .anonymous(Payload::Transfer(Box::new(p0)))
        .await
        .unwrap();
    let b1 = scene1
        .anonymous(Payload::Transfer(Box::new(p1)))
        .await
        .unwrap();
    let (r0, r1) = tokio::join!(net.clients[0].submit(&b0), net.clients[1].submit(&b1));
    // Both nodes admit their payment (the note is unspent at their latest milestone),
    // unless one already saw the other confirmed.
    let admitted: Vec<&Block> = [(&b0, r0.is_ok()), (&b1, r1.is_ok())]
        .into_iter()
        .filter(|(_, ok)| *ok)
        .map(|(b, _)| b)
        .collect();
    assert!(!admitted.is_empty(), "{r0:?} {r1:?}");
    // Wait until both nodes are past the milestone that settles it.
    let settled = {
        let mut at = 0;
        for b in &admitted {
            at = at.max(net.outcome(0, &b.id()).await.0);
        }
        at
    };
    net.all_reach(&[0, 1], settled + 1).await;
    let mut applied = 0;
    for b in [&b0, &b1] {
        let on0 = net.clients[0].metadata(&b.id()).await.ok();
        let on1 = net.clients[1].metadata(&b.id()).await.ok();
        let outcome = |m: &Option<weft_client::BlockMetadata>| {
            m.as_ref()
                .filter(|m| m.referenced_by_milestone.is_some())
                .map(|m| m.ledger_outcome.clone())
        };
        // The same outcome on both nodes; a payment the issuer never took (it saw the
        // other confirmed first) is confirmed nowhere.
        assert_eq!(outcome(&on0), outcome(&on1), "block {}", b.id());
        if outcome(&on0).as_deref() == Some("applied") {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "exactly one payment of the note");
    let a0 = net.clients[0].program_audit(&pid).await.expect("audit 0");
    let a1 = net.clients[1].program_audit(&pid).await.expect("audit 1");
    assert_eq!(a0["conservationOk"], true, "{a0}");
    assert_eq!(a0["transfers"], 1);
    for k in [
        "minted",
        "transfers",
        "unspentNotes",
        "unspentCommitmentSum",
        "kernelSum",
    ] {
        assert_eq!(a0[k], a1[k], "{k}");
    }
    net.same_history(&[1], settled).await;
}
