//! `weft-bench network`: a local committee of validators, each a `weft-node` process
//! (`weft-node testnet`, every node a validator, threshold 2f+1), agreeing on milestones
//! with AlephBFT over 127.0.0.1. Signed tagged-data blocks are submitted round-robin to
//! all nodes; the network-wide confirmation rate and the finality latency (submission to
//! the certified milestone that confirms the block, as node 0 announces it on its
//! `confirmations` WebSocket topic) are reported. At the end every node must hold the
//! same milestone ids at every index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::{json, Value};
use weft_client::Client;
use weft_crypto::OrganisationKey;
use weft_types::hash::blake2b256;
use weft_types::{BlockBuilder, BlockId, NetworkId, Payload, TaggedData};

use crate::ledger::{default_node_bin, NodeProcess};

/// Tag of the bench's tagged-data blocks.
const TAG: &[u8] = b"weft-bench/network";

/// Options of `weft-bench network`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Validator nodes (each a process on this machine).
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Blocks to submit.
    #[arg(long, default_value_t = 4_000)]
    pub blocks: u64,
    /// Concurrent submission lanes, spread over the nodes (each one request at a time).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// How often validators propose a milestone (ms).
    #[arg(long, default_value_t = 250)]
    pub milestone_interval_ms: u64,
    /// The consensus round (ms).
    #[arg(long, default_value_t = 50)]
    pub unit_delay_ms: u64,
    /// The node binary (default: `weft-node` next to this executable).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// How long to wait for outstanding confirmations after the last submission (s).
    #[arg(long, default_value_t = 60)]
    pub drain_s: u64,
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn read_env(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// `count` consecutive free ports on 127.0.0.1 (probed).
fn free_ports(count: u16) -> anyhow::Result<u16> {
    for _ in 0..200 {
        let base = crate::ledger::free_port()?;
        if base < 10_000 || base.checked_add(count).is_none() {
            continue;
        }
        if (base..base + count).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return Ok(base);
        }
    }
    bail!("no {count} consecutive free ports")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// What the lanes and the tracker share.
struct Shared {
    base: Instant,
    /// Submission time (ns since `base`) of each accepted block.
    submitted: Mutex<HashMap<BlockId, u64>>,
    /// Finality latency (ms) of each confirmed block seen on node 0's event stream.
    latencies: Mutex<Vec<f64>>,
    /// Time of the last confirmation seen (ns since `base`).
    last_confirmed_ns: AtomicU64,
    confirmed: AtomicU64,
    milestones: AtomicU64,
    errors: AtomicU64,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

/// Follows node 0's `confirmations` topic until `stop`.
async fn track(client: Client, shared: Arc<Shared>, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let stream = client.events(&["confirmations"]).await?;
    tokio::pin!(stream);
    while !stop.load(Ordering::Relaxed) {
        let next = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        let v: Value = match next {
            Err(_) => continue,
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(Some(Ok(v))) => v,
        };
        if v["type"].as_str() != Some("confirmations") {
            continue;
        }
        let at = shared.now_ns();
        let ids: Vec<BlockId> = v["blocks"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|b| b["blockId"].as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        shared.milestones.fetch_add(1, Ordering::Relaxed);
        let submitted = shared.submitted.lock();
        let mut latencies = shared.latencies.lock();
        for id in ids {
            if let Some(t) = submitted.get(&id) {
                latencies.push(at.saturating_sub(*t) as f64 / 1e6);
                shared.confirmed.fetch_add(1, Ordering::Relaxed);
                shared.last_confirmed_ns.store(at, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// One submission lane: chains its blocks (each on its previous one and a tip of its
/// node) and submits them to its node.
async fn lane(
    client: Client,
    key: Arc<OrganisationKey>,
    network: NetworkId,
    shared: Arc<Shared>,
    lane: usize,
    blocks: u64,
) {
    let mut previous: Option<BlockId> = None;
    let mut tips: Vec<BlockId> = Vec::new();
    for seq in 0..blocks {
        if seq % 16 == 0 || tips.is_empty() {
            if let Ok(t) = client.tips(2).await {
                tips = t;
            }
        }
        let mut parents: Vec<BlockId> = previous.into_iter().collect();
        for t in &tips {
            if parents.len() < 2 && !parents.contains(t) {
                parents.push(*t);
            }
        }
        if parents.is_empty() {
            parents.push(BlockId::GENESIS);
        }
        let data = blake2b256(&[
            &(lane as u64).to_le_bytes(),
            &seq.to_le_bytes(),
            &shared.base.elapsed().as_nanos().to_le_bytes(),
        ])
        .to_vec();
        let block = key.sign_block(
            BlockBuilder::new(network, parents, wall_ms())
                .payload(Payload::TaggedData(TaggedData {
                    tag: TAG.to_vec(),
                    data,
                }))
                .organisation(key.public_key()),
        );
        let id = block.id();
        let at = shared.now_ns();
        match client.submit(&block).await {
            Ok(_) => {
                shared.submitted.lock().insert(id, at);
                previous = Some(id);
            }
            Err(_) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                previous = None;
                tips.clear();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Runs the bench and returns its report.
pub async fn run(args: Args) -> anyhow::Result<Value> {
    if !(1..=16).contains(&args.nodes) {
        bail!("--nodes: 1 to 16");
    }
    let node_bin = match &args.node_bin {
        Some(p) => p.clone(),
        None => default_node_bin()?,
    };
    let dir = tempfile::tempdir().context("temporary directory")?;
    let n = args.nodes;
    let base = free_ports(2 * n as u16)?;
    let out = Command::new(&node_bin)
        .args(["testnet", "--nodes", &n.to_string(), "--dir"])
        .arg(dir.path())
        .args(["--api-port", &base.to_string()])
        .args(["--p2p-port", &(base + n as u16).to_string()])
        .args([
            "--milestone-interval-ms",
            &args.milestone_interval_ms.to_string(),
        ])
        .args(["--unit-delay-ms", &args.unit_delay_ms.to_string()])
        .output()
        .with_context(|| format!("running {} testnet", node_bin.display()))?;
    if !out.status.success() {
        bail!(
            "weft-node testnet failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut nodes = Vec::with_capacity(n);
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let node_dir = dir.path().join(format!("node-{i}"));
        let log = std::fs::File::create(node_dir.join("node.log"))?;
        let child = Command::new(&node_bin)
            .args(["run", "--config"])
            .arg(node_dir.join("config.toml"))
            .envs(read_env(&node_dir.join("keys.env"))?)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", node_bin.display()))?;
        nodes.push(NodeProcess { child });
        clients.push(Client::new(format!("http://127.0.0.1:{}", base + i as u16)));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for c in &clients {
        while !matches!(c.health().await, Ok(true)) {
            if Instant::now() > deadline {
                bail!("the nodes were not healthy within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let org = read_env(&dir.path().join("organisation.env"))?;
    let seed: [u8; 32] = hex::decode(
        org.get("WEFT_ORGANISATION_KEY")
            .context("organisation key")?,
    )?
    .try_into()
    .map_err(|_| anyhow::anyhow!("the organisation key is not 32 bytes"))?;
    let key = Arc::new(OrganisationKey::from_seed(&seed));
    let config = weft_node::NodeConfig::from_file(&dir.path().join("node-0/config.toml"))?;
    let network = config.genesis.network_id();

    let shared = Arc::new(Shared {
        base: Instant::now(),
        submitted: Mutex::new(HashMap::new()),
        latencies: Mutex::new(Vec::new()),
        last_confirmed_ns: AtomicU64::new(0),
        confirmed: AtomicU64::new(0),
        milestones: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let tracker = tokio::spawn(track(clients[0].clone(), shared.clone(), stop.clone()));
    // Let the tracker subscribe before the first block.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let lanes = args.connections.max(1);
    let per_lane = args.blocks.div_ceil(lanes as u64);
    let started = shared.now_ns();
    let mut tasks = Vec::new();
    for l in 0..lanes {
        tasks.push(tokio::spawn(lane(
            clients[l % n].clone(),
            key.clone(),
            network,
            shared.clone(),
            l,
            per_lane,
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    let sent_ns = shared.now_ns() - started;
    let accepted = shared.submitted.lock().len() as u64;
    let drain = Instant::now() + Duration::from_secs(args.drain_s);
    while shared.confirmed.load(Ordering::Relaxed) < accepted && Instant::now() < drain {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = tracker.await;

    // Every node holds the same milestone at every index node 0 reached.
    let mut latest = u32::MAX;
    for c in &clients {
        latest = latest.min(c.latest_milestone().await.map(|m| m.index).unwrap_or(0));
    }
    let mut consistent = true;
    for index in 1..=latest {
        let reference = clients[0].milestone(index, false).await?.milestone_id;
        for c in &clients[1..] {
            consistent &= c.milestone(index, false).await?.milestone_id == reference;
        }
    }
    for mut node in nodes {
        node.child.kill().ok();
        node.child.wait().ok();
    }

    let confirmed = shared.confirmed.load(Ordering::Relaxed);
    let span_ns = shared
        .last_confirmed_ns
        .load(Ordering::Relaxed)
        .saturating_sub(started)
        .max(1);
    let mut lat = shared.latencies.lock().clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(json!({
        "suite": "network",
        "nodes": n,
        "threshold": 2 * n / 3 + 1,
        "blocks": accepted,
        "errors": shared.errors.load(Ordering::Relaxed),
        "blocks_confirmed": confirmed,
        "milestones": shared.milestones.load(Ordering::Relaxed),
        "blocks_confirmed_per_s": round1(confirmed as f64 / (span_ns as f64 / 1e9)),
        "submit_per_s": round1(accepted as f64 / (sent_ns.max(1) as f64 / 1e9)),
        "finality_p50_ms": round1(percentile(&lat, 0.50)),
        "finality_p99_ms": round1(percentile(&lat, 0.99)),
        "finality_max_ms": round1(lat.last().copied().unwrap_or(0.0)),
        "milestone_interval_ms": args.milestone_interval_ms,
        "unit_delay_ms": args.unit_delay_ms,
        "connections": lanes,
        "consistent": consistent,
        "cores": std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1),
    }))
}

/// A one-paragraph summary of a report.
pub fn summary(r: &Value) -> String {
    format!(
        "network: {} validators (threshold {}), {} blocks submitted ({} errors), {} confirmed \
         in {} milestones\n  confirmed {} blocks/s network-wide, submitted {} blocks/s\n  \
         finality p50 {} ms, p99 {} ms, max {} ms ({} ms proposals, {} ms rounds); \
         identical milestones on every node: {}",
        r["nodes"],
        r["threshold"],
        r["blocks"],
        r["errors"],
        r["blocks_confirmed"],
        r["milestones"],
        r["blocks_confirmed_per_s"],
        r["submit_per_s"],
        r["finality_p50_ms"],
        r["finality_p99_ms"],
        r["finality_max_ms"],
        r["milestone_interval_ms"],
        r["unit_delay_ms"],
        r["consistent"],
    )
}
