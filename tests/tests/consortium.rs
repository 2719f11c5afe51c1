//! A consortium of `weft-node` processes from `weft-node testnet`, talking over
//! 127.0.0.1: node 0 holds the committee key and issues milestones, the others follow
//! them by gossip and sync, each applying them to its own ledger and checking the
//! certified state root.
//!
//! The tests spawn the release `weft-node` binary next to this test executable (build
//! it with `cargo build --release -p weft-node`), one at a time (a lock), and poll with
//! deadlines; no test asserts on wall-clock durations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use weft_client::Client;
use weft_crypto::OrganisationKey;
use weft_tests::anchor_on;
use weft_types::{Block, BlockId, NetworkId};

/// One consortium at a time: four node processes are plenty for two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DEADLINE: Duration = Duration::from_secs(60);

fn node_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target directory");
    let bin = dir.join(format!("weft-node{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release -p weft-node`",
        bin.display()
    );
    bin
}

/// `count` consecutive free TCP ports on 127.0.0.1 (probed; another process could take
/// one meanwhile, which would only make a node fail to start).
fn free_ports(count: u16) -> u16 {
    for _ in 0..200 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = probe.local_addr().expect("addr").port();
        drop(probe);
        if base.checked_add(count).is_none() || base < 10_000 {
            continue;
        }
        let all_free =
            (base..base + count).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no {count} consecutive free ports");
}

fn read_env(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A node process, killed when dropped.
struct Proc {
    child: Child,
}

impl Proc {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A testnet written by `weft-node testnet` and the processes started from it.
struct Testnet {
    dir: tempfile::TempDir,
    clients: Vec<Client>,
    procs: Vec<Option<Proc>>,
    network: NetworkId,
    organisation: OrganisationKey,
    authority: OrganisationKey,
}

impl Testnet {
    fn create(nodes: usize, milestone_interval_ms: u64) -> Testnet {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = free_ports(2 * nodes as u16);
        let out = Command::new(node_binary())
            .args(["testnet", "--nodes", &nodes.to_string(), "--dir"])
            .arg(dir.path())
            .args(["--api-port", &base.to_string()])
            .args(["--p2p-port", &(base + nodes as u16).to_string()])
            .args([
                "--milestone-interval-ms",
                &milestone_interval_ms.to_string(),
            ])
            .output()
            .expect("weft-node testnet runs");
        assert!(
            out.status.success(),
            "testnet failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(printed.contains("weft-node run --config"), "{printed}");
        let config = weft_node::NodeConfig::from_file(&dir.path().join("node-0/config.toml"))
            .expect("node-0 config");
        let org = read_env(&dir.path().join("organisation.env"));
        let seed: [u8; 32] = hex::decode(&org["WEFT_ORGANISATION_KEY"])
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let authority: [u8; 32] = hex::decode(&org["WEFT_AUTHORITY_KEY"])
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        Testnet {
            authority: OrganisationKey::from_seed(&authority),
            clients: (0..nodes)
                .map(|i| Client::new(format!("http://127.0.0.1:{}", base + i as u16)))
                .collect(),
            procs: (0..nodes).map(|_| None).collect(),
            network: config.genesis.network_id(),
            organisation: OrganisationKey::from_seed(&seed),
            dir,
        }
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}"))
    }

    fn start(&mut self, i: usize) {
        let dir = self.node_dir(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))
            .expect("log file");
        let child = Command::new(node_binary())
            .args(["run", "--config"])
            .arg(dir.join("config.toml"))
            .envs(read_env(&dir.join("keys.env")))
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("weft-node starts");
        self.procs[i] = Some(Proc { child });
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            p.kill();
        }
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.node_dir(i).join("node.log")).unwrap_or_default()
    }

    fn logs(&self) -> String {
        (0..self.procs.len())
            .map(|i| {
                let log = self.log(i);
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- node-{i} ---\n{}\n", tail.join("\n"))
            })
            .collect()
    }

    /// The latest milestone index of node `i` (0 when none or unreachable).
    async fn latest(&self, i: usize) -> u32 {
        self.clients[i]
            .latest_milestone()
            .await
            .map(|m| m.index)
            .unwrap_or(0)
    }

    /// Waits until `check` holds, or fails with the nodes' logs.
    async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if check().await {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("{what}: not within {DEADLINE:?}\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every running node has a milestone at least `index`.
    async fn all_reach(&self, nodes: &[usize], index: u32) {
        self.until(
            &format!("nodes {nodes:?} reach milestone {index}"),
            || async {
                for &i in nodes {
                    if self.latest(i).await < index {
                        return false;
                    }
                }
                true
            },
        )
        .await;
    }

    /// An anchor signed by the genesis organisation on node `i`'s tips.
    async fn anchor(&self, i: usize, data: &[u8]) -> Block {
        let tips = self.clients[i].tips(4).await.expect("tips");
        anchor_on(self.network, &self.organisation, tips, data)
    }

    /// Milestones `1..=upto` are the same on every node in `nodes`: same id (so same
    /// essence: parents, inclusion root, state root) and same confirmed block list, and
    /// no node reports a divergence.
    async fn same_history(&self, nodes: &[usize], upto: u32) {
        for index in 1..=upto {
            let reference = self.clients[0]
                .milestone(index, true)
                .await
                .expect("milestone on node 0");
            for &i in nodes {
                let m = self.clients[i]
                    .milestone(index, true)
                    .await
                    .unwrap_or_else(|e| panic!("milestone {index} on node {i}: {e}"));
                assert_eq!(
                    m.milestone_id, reference.milestone_id,
                    "milestone {index} on node {i}"
                );
                assert_eq!(
                    m.state_root, reference.state_root,
                    "state root {index} on node {i}"
                );
                assert_eq!(
                    m.blocks, reference.blocks,
                    "confirmed blocks {index} on node {i}"
                );
            }
        }
        for &i in nodes {
            let metrics = self.clients[i].metrics().await.expect("metrics");
            assert!(
                metrics.contains("weft_state_divergence 0"),
                "node {i} diverged:\n{}",
                self.logs()
            );
        }
    }

    /// The confirming milestone and ledger outcome of a block on node `i`, once it is
    /// stored and confirmed there.
    async fn outcome(&self, i: usize, id: &BlockId) -> (u32, String) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            // Not stored yet (gossip on its way) is an error answer: poll on.
            if let Ok(m) = self.clients[i].metadata(id).await {
                if let Some(index) = m.referenced_by_milestone {
                    return (index, m.ledger_outcome);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("block {id} not confirmed on node {i}\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn digest(data: &[u8]) -> [u8; 32] {
    weft_ledger::anchor_digest(b"test/v1", data)
}

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
    let d2 = net.anchor(3, b"twice").await;
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
