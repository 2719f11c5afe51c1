//! Helpers shared by the process-level consortium tests (`consortium.rs`, `bft.rs`): a
//! testnet written by `weft-node testnet`, its node processes, and polling helpers.
//!
//! The tests spawn the release `weft-node` binary next to the test executable (build it
//! with `cargo build --release -p weft-node`), one consortium at a time (a lock), and
//! poll with deadlines; no test asserts on wall-clock durations.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use weft_client::Client;
use weft_crypto::OrganisationKey;
use weft_tests::anchor_on;
use weft_types::{Block, BlockId, NetworkId};

/// One consortium at a time: four node processes are plenty for two cores.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn node_binary() -> PathBuf {
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
pub fn free_ports(count: u16) -> u16 {
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

pub fn read_env(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A node process, killed when dropped.
pub struct Proc {
    /// The process.
    pub child: Child,
}

impl Proc {
    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
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
pub struct Testnet {
    /// Where `weft-node testnet` wrote it.
    pub dir: tempfile::TempDir,
    /// A client of each node's API.
    pub clients: Vec<Client>,
    /// The running node processes.
    pub procs: Vec<Option<Proc>>,
    /// The network id.
    pub network: NetworkId,
    /// The genesis organisation's key.
    pub organisation: OrganisationKey,
    /// The accreditation authority's key.
    pub authority: OrganisationKey,
    /// The peer-to-peer port of node 0 (node `i` listens on this + `i`).
    pub p2p_base: u16,
}

impl Testnet {
    /// A testnet whose node 0 issues every milestone alone (one validator).
    pub fn create(nodes: usize, milestone_interval_ms: u64) -> Testnet {
        Testnet::create_with(nodes, milestone_interval_ms, &["--validators", "1"])
    }

    /// A testnet with more `weft-node testnet` arguments.
    pub fn create_with(nodes: usize, milestone_interval_ms: u64, extra: &[&str]) -> Testnet {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = free_ports(2 * nodes as u16);
        let out = Command::new(node_binary())
            .args(["testnet", "--nodes", &nodes.to_string(), "--dir"])
            .arg(dir.path())
            .args(extra)
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
            p2p_base: base + nodes as u16,
        }
    }

    /// Node `i`'s validator public key (its `keys.env`), if it is a validator.
    pub fn validator_key(&self, i: usize) -> Option<weft_types::PublicKeyBytes> {
        let env = read_env(&self.node_dir(i).join("keys.env"));
        let seed: [u8; 32] = hex::decode(env.get("WEFT_VALIDATOR_KEY")?)
            .ok()?
            .try_into()
            .ok()?;
        Some(OrganisationKey::from_seed(&seed).public_key())
    }

    /// Rewrites node `i`'s allowlist to only the nodes in `keep` (the original is kept
    /// in `config.toml.full`); takes effect when the node is started again.
    pub fn set_allowlist(&self, i: usize, keep: &[usize]) {
        let path = self.node_dir(i).join("config.toml");
        let full = self.node_dir(i).join("config.toml.full");
        if !full.exists() {
            std::fs::copy(&path, &full).expect("keep the full configuration");
        }
        let text = std::fs::read_to_string(&full).expect("config");
        let kept: Vec<String> = keep
            .iter()
            .map(|j| format!("/tcp/{}/", self.p2p_base + *j as u16))
            .collect();
        let mut out = String::new();
        let mut entries = Vec::new();
        let mut in_list = false;
        for line in text.lines() {
            if line.starts_with("allowlist = [") {
                in_list = true;
                continue;
            }
            if in_list {
                if line.trim() == "]" {
                    in_list = false;
                    out.push_str(&format!("allowlist = [\n{}\n]\n", entries.join(",\n")));
                } else if kept.iter().any(|k| line.contains(k.as_str())) {
                    entries.push(line.trim_end_matches(',').to_string());
                }
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        std::fs::write(&path, out).expect("write config");
    }

    /// Gives node `i` its full allowlist again (takes effect at its next start).
    pub fn restore_allowlist(&self, i: usize) {
        let full = self.node_dir(i).join("config.toml.full");
        if full.exists() {
            std::fs::copy(&full, self.node_dir(i).join("config.toml")).expect("restore");
        }
    }

    /// Node `i`'s directory.
    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}"))
    }

    pub fn start(&mut self, i: usize) {
        self.start_with(i, &[]);
    }

    /// Starts node `i` with more `weft-node run` arguments.
    pub fn start_with(&mut self, i: usize, extra: &[&std::ffi::OsStr]) {
        let dir = self.node_dir(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))
            .expect("log file");
        let child = Command::new(node_binary())
            .args(["run", "--config"])
            .arg(dir.join("config.toml"))
            .args(extra)
            .envs(read_env(&dir.join("keys.env")))
            .env("RUST_LOG", "info,weft_node::p2p::committee=debug")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("weft-node starts");
        self.procs[i] = Some(Proc { child });
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            p.kill();
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.node_dir(i).join("node.log")).unwrap_or_default()
    }

    pub fn logs(&self) -> String {
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
    pub async fn latest(&self, i: usize) -> u32 {
        self.clients[i]
            .latest_milestone()
            .await
            .map(|m| m.index)
            .unwrap_or(0)
    }

    /// Waits until `check` holds, or fails with the nodes' logs.
    pub async fn until<F, Fut>(&self, what: &str, mut check: F)
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

    /// Waits until the API of every node in `nodes` answers.
    pub async fn wait_up(&self, nodes: &[usize]) {
        self.until(&format!("nodes {nodes:?} answer"), || async {
            for &i in nodes {
                if self.clients[i].tips(1).await.is_err() {
                    return false;
                }
            }
            true
        })
        .await;
    }

    /// Waits until every running node has a milestone at least `index`.
    pub async fn all_reach(&self, nodes: &[usize], index: u32) {
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
    pub async fn anchor(&self, i: usize, data: &[u8]) -> Block {
        let tips = self.clients[i].tips(4).await.expect("tips");
        anchor_on(self.network, &self.organisation, tips, data)
    }

    /// Milestones `1..=upto` are the same on every node in `nodes`: same id (so same
    /// essence: parents, inclusion root, state root) and same confirmed block list, and
    /// no node reports a divergence.
    pub async fn same_history(&self, nodes: &[usize], upto: u32) {
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

    /// Submits an anchor to node `i` and waits until every node in `everywhere`
    /// confirmed it applied, by the same milestone; returns the block and that milestone.
    pub async fn confirm(&self, i: usize, data: &[u8], everywhere: &[usize]) -> (BlockId, u32) {
        self.wait_up(&[i]).await;
        let block = self.anchor(i, data).await;
        self.clients[i].submit(&block).await.expect("admitted");
        let first = self.outcome(everywhere[0], &block.id()).await;
        assert_eq!(first.1, "applied");
        for &j in &everywhere[1..] {
            assert_eq!(self.outcome(j, &block.id()).await, first, "node {j}");
        }
        (block.id(), first.0)
    }

    /// The confirming milestone and ledger outcome of a block on node `i`, once it is
    /// stored and confirmed there.
    pub async fn outcome(&self, i: usize, id: &BlockId) -> (u32, String) {
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

pub fn digest(data: &[u8]) -> [u8; 32] {
    weft_ledger::anchor_digest(b"test/v1", data)
}
