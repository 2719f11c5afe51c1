//! `weft-bench network`: a local committee of validators, each a `weft-node` process
//! (`weft-node testnet`, every node a validator, threshold 2f+1), agreeing on milestones
//! with AlephBFT over 127.0.0.1.
//!
//! The load is what an agency sends in bulk: signed tagged-data blocks in batches of
//! `--batch` blocks per request (`application/vnd.weft.blocks`, split further only where
//! the node's body limit requires it), from `--connections` lanes spread round-robin
//! over all nodes, each lane one request at a time. Each lane chains its blocks (every
//! block approves the lane's previous block and one of its node's tips, fetched again
//! for every batch).
//!
//! The bookkeeping is kept honest and free of races: the time of each block's
//! submission is the start of the request that carried it; node 0's `confirmations`
//! WebSocket topic is recorded for every block it names, independently of the lanes,
//! and joined with the submissions only after the drain (so a confirmation that arrives
//! before the lane has read its HTTP answer still counts). A block counts as confirmed
//! only when node 0 reported it confirmed; the rate is those blocks over the time from
//! the first submission to the last of their confirmations; finality is per block, from
//! its submission to the event that confirmed it. Blocks that were accepted but never
//! reported are looked up in node 0's metadata at the end and reported as either
//! confirmed without an event (`confirmed_unreported`) or still pending
//! (`unconfirmed`). At the end every node must hold the same milestone ids at every
//! index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::{Stream, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};
use weft_client::{Client, ClientError};
use weft_crypto::OrganisationKey;
use weft_types::hash::blake2b256;
use weft_types::{Block, BlockBuilder, BlockId, NetworkId, Payload, TaggedData};

use crate::ledger::{default_node_bin, NodeProcess};

/// Tag of the bench's tagged-data blocks.
const TAG: &[u8] = b"weft-bench/network";

/// Most blocks one batch request may carry (the node's `MAX_BATCH_BLOCKS`).
const MAX_BATCH: u16 = 1024;

/// Tips fetched per batch; the blocks of a batch take them in turn.
const TIPS_PER_BATCH: usize = 8;

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
    #[arg(long, default_value_t = 20_000)]
    pub blocks: u64,
    /// Blocks per request (`application/vnd.weft.blocks`, 1 to 1024); a batch larger
    /// than the node's body limit allows is sent in as few requests as fit.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u16).range(1..=MAX_BATCH as i64))]
    pub batch: u16,
    /// Concurrent submission lanes, spread round-robin over the nodes (each one request
    /// at a time).
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Offered load in blocks/s, network-wide, shared evenly by the lanes (each lane
    /// sends its batches on a fixed schedule, its start staggered). Without it each lane
    /// sends its next batch as soon as the previous one is answered: the nodes admit
    /// faster than the committee confirms, so that measures the confirmation capacity
    /// while finality grows with the backlog.
    #[arg(long)]
    pub rate: Option<u64>,
    /// How often validators propose a milestone (ms); the targets are set at
    /// 1 s.
    #[arg(long, default_value_t = 1000)]
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
    /// Write the testnet (configurations, databases, `node.log` of each node) here and
    /// keep it, instead of a temporary directory removed at the end.
    #[arg(long)]
    pub dir: Option<PathBuf>,
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
    /// Of each block the node accepted: its submission time (ns since `base`: the start
    /// of the request that carried it) and when the lane read the node's answer.
    submitted: Mutex<HashMap<BlockId, (u64, u64)>>,
    /// Every block node 0 reported confirmed, with the time (ns since `base`) its
    /// `confirmations` event was read. Kept apart from `submitted` and joined after the
    /// drain, so the order in which a lane and the tracker learn of a block does not
    /// matter.
    seen: Mutex<HashMap<BlockId, u64>>,
    /// Start of the first request (ns since `base`, 0 until then).
    first_send_ns: AtomicU64,
    /// End of the last answered request (ns since `base`).
    last_send_ns: AtomicU64,
    requests: AtomicU64,
    milestones: AtomicU64,
    /// Events node 0 dropped for this subscriber (`lagged` notices).
    lagged: AtomicU64,
    /// Blocks refused, lost with their request, or built on a refused block.
    errors: AtomicU64,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

/// Records node 0's `confirmations` events until `stop` (or until the stream ends:
/// that is returned as an error, since confirmations would go unseen).
async fn track(
    stream: impl Stream<Item = Result<Value, ClientError>>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    tokio::pin!(stream);
    while !stop.load(Ordering::Relaxed) {
        let next = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        let v: Value = match next {
            Err(_) => continue,
            Ok(None) => bail!("node 0 closed the event stream"),
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(Some(Ok(v))) => v,
        };
        match v["type"].as_str() {
            Some("confirmations") => {}
            Some("lagged") => {
                let missed = v["missed"].as_u64().unwrap_or(1);
                shared.lagged.fetch_add(missed, Ordering::Relaxed);
                continue;
            }
            _ => continue,
        }
        let at = shared.now_ns();
        shared.milestones.fetch_add(1, Ordering::Relaxed);
        let Some(blocks) = v["blocks"].as_array() else {
            continue;
        };
        let mut seen = shared.seen.lock();
        for id in blocks
            .iter()
            .filter_map(|b| b["blockId"].as_str()?.parse().ok())
        {
            seen.entry(id).or_insert(at);
        }
    }
    Ok(())
}

/// One submission lane's fixed inputs.
struct Lane {
    client: Client,
    key: Arc<OrganisationKey>,
    network: NetworkId,
    shared: Arc<Shared>,
    lane: usize,
    blocks: u64,
    batch: usize,
    /// The node's request body limit.
    max_body: usize,
    /// When the lane's first block is due and how long each further block adds to the
    /// schedule (`None`: as fast as the node answers).
    pace: Option<(Instant, Duration)>,
}

impl Lane {
    /// Signs the lane's next block: on `previous` (the lane's last block) and `tip`.
    fn sign(&self, seq: u64, previous: Option<BlockId>, tip: Option<BlockId>) -> Block {
        let mut parents: Vec<BlockId> = previous.into_iter().chain(tip).collect();
        if parents.is_empty() {
            parents.push(BlockId::GENESIS);
        }
        let data = blake2b256(&[
            &(self.lane as u64).to_le_bytes(),
            &seq.to_le_bytes(),
            &self.shared.base.elapsed().as_nanos().to_le_bytes(),
        ])
        .to_vec();
        self.key.sign_block(
            BlockBuilder::new(self.network, parents, wall_ms())
                .payload(Payload::TaggedData(TaggedData {
                    tag: TAG.to_vec(),
                    data,
                }))
                .organisation(self.key.public_key()),
        )
    }

    /// Submits the lane's blocks in batches: each batch a chain (every block on the one
    /// before it), signed just before its request is sent.
    async fn run(self) {
        let shared = &self.shared;
        let mut previous: Option<BlockId> = None;
        let mut seq = 0u64;
        while seq < self.blocks {
            if let Some((start, per_block)) = self.pace {
                let due = start + per_block.saturating_mul(seq.min(u32::MAX as u64) as u32);
                tokio::time::sleep_until(due.into()).await;
            }
            let tips = self.client.tips(TIPS_PER_BATCH).await.unwrap_or_default();
            let count = (self.blocks - seq).min(self.batch as u64) as usize;
            let mut ids: Vec<BlockId> = Vec::with_capacity(count);
            let mut blocks: Vec<Block> = Vec::with_capacity(count);
            let mut body = 0usize;
            let mut last = previous;
            for k in 0..count {
                let tip = match tips.len() {
                    0 => None,
                    len => Some(tips[k % len]).filter(|t| Some(*t) != last),
                };
                let block = self.sign(seq, last, tip);
                let size = block.to_bytes().len() + 4;
                if body + size > self.max_body && !blocks.is_empty() {
                    // The rest of the batch goes in the next request.
                    break;
                }
                body += size;
                seq += 1;
                let id = block.id();
                last = Some(id);
                ids.push(id);
                blocks.push(block);
            }
            let at = shared.now_ns();
            let _ = shared.first_send_ns.compare_exchange(
                0,
                at.max(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            shared.requests.fetch_add(1, Ordering::Relaxed);
            let answer = self.client.submit_many(&blocks).await;
            let answered = shared.now_ns();
            shared.last_send_ns.fetch_max(answered, Ordering::Relaxed);
            match answer {
                Ok(results) => {
                    // Blocks are a chain: after the first refusal the rest of the batch
                    // approves a block the node does not hold and can never be confirmed.
                    let mut refused = false;
                    let mut accepted = 0;
                    {
                        let mut submitted = shared.submitted.lock();
                        for (id, r) in ids.iter().zip(&results) {
                            if refused || r.is_err() {
                                refused = true;
                                continue;
                            }
                            submitted.insert(*id, (at, answered));
                            previous = Some(*id);
                            accepted += 1;
                        }
                    }
                    let lost = (ids.len() - accepted) as u64;
                    if lost > 0 {
                        shared.errors.fetch_add(lost, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                Err(_) => {
                    // Whatever the node did with them, these blocks are not counted; the
                    // next batch builds on the last block known to be accepted.
                    shared.errors.fetch_add(ids.len() as u64, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

/// Runs the bench and returns its report.
pub async fn run(args: Args) -> anyhow::Result<Value> {
    if !(1..=16).contains(&args.nodes) {
        bail!("--nodes: 1 to 16");
    }
    let load_start = crate::ledger::load_average();
    let node_bin = match &args.node_bin {
        Some(p) => p.clone(),
        None => default_node_bin()?,
    };
    let temporary;
    let dir: &Path = match &args.dir {
        Some(d) => d,
        None => {
            temporary = tempfile::tempdir().context("temporary directory")?;
            temporary.path()
        }
    };
    let n = args.nodes;
    let base = free_ports(2 * n as u16)?;
    let out = Command::new(&node_bin)
        .args(["testnet", "--nodes", &n.to_string(), "--dir"])
        .arg(dir)
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
        let node_dir = dir.join(format!("node-{i}"));
        let log = std::fs::File::create(node_dir.join("node.log"))?;
        let child = Command::new(&node_bin)
            .args(["run", "--config"])
            .arg(node_dir.join("config.toml"))
            .envs(read_env(&node_dir.join("keys.env"))?)
            .env("NO_COLOR", "1")
            // The nodes' log filter: `warn` unless WEFT_BENCH_NODE_LOG says otherwise.
            .env(
                "RUST_LOG",
                std::env::var("WEFT_BENCH_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
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
    let org = read_env(&dir.join("organisation.env"))?;
    let seed: [u8; 32] = hex::decode(
        org.get("WEFT_ORGANISATION_KEY")
            .context("organisation key")?,
    )?
    .try_into()
    .map_err(|_| anyhow::anyhow!("the organisation key is not 32 bytes"))?;
    let key = Arc::new(OrganisationKey::from_seed(&seed));
    let config = weft_node::NodeConfig::from_file(&dir.join("node-0/config.toml"))?;
    let network = config.genesis.network_id();

    let shared = Arc::new(Shared {
        base: Instant::now(),
        submitted: Mutex::new(HashMap::new()),
        seen: Mutex::new(HashMap::new()),
        first_send_ns: AtomicU64::new(0),
        last_send_ns: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        milestones: AtomicU64::new(0),
        lagged: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    // Subscribed (the handshake done) before the first block is sent.
    let stream = clients[0]
        .events(&["confirmations"])
        .await
        .context("subscribing to node 0's confirmations")?;
    let tracker = tokio::spawn(track(stream, shared.clone(), stop.clone()));

    let lanes = args.connections.max(1);
    let per_lane = args.blocks.div_ceil(lanes as u64);
    if args.rate == Some(0) {
        bail!("--rate: at least 1 block/s");
    }
    // Each lane offers rate/lanes blocks/s; lane l starts l/lanes of a batch interval
    // after the first, so that the batches of the lanes interleave.
    let per_block = args
        .rate
        .map(|r| Duration::from_secs_f64(lanes as f64 / r as f64));
    let start = Instant::now() + Duration::from_millis(10);
    let mut tasks = Vec::new();
    for l in 0..lanes {
        let pace = per_block.map(|d| {
            let offset = d.mul_f64(f64::from(args.batch) * l as f64 / lanes as f64);
            (start + offset, d)
        });
        let lane = Lane {
            client: clients[l % n].clone(),
            key: key.clone(),
            network,
            shared: shared.clone(),
            lane: l,
            blocks: per_lane,
            batch: args.batch as usize,
            max_body: config.max_body_bytes,
            pace,
        };
        tasks.push(tokio::spawn(lane.run()));
    }
    for t in tasks {
        t.await.context("a submission lane failed")?;
    }
    let submitted: Vec<(BlockId, (u64, u64))> = shared
        .submitted
        .lock()
        .iter()
        .map(|(id, t)| (*id, *t))
        .collect();
    let drain = Instant::now() + Duration::from_secs(args.drain_s);
    loop {
        let seen = {
            let seen = shared.seen.lock();
            submitted
                .iter()
                .filter(|(id, _)| seen.contains_key(id))
                .count()
        };
        if seen == submitted.len() || Instant::now() >= drain || tracker.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let event_stream = match tracker.await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };

    // Join the submissions with the confirmations node 0 reported.
    let seen = std::mem::take(&mut *shared.seen.lock());
    let mut latencies = Vec::with_capacity(submitted.len());
    let mut last_confirmed_ns = 0u64;
    let mut missing = Vec::new();
    // Confirmations read before the lane had the node's answer for the block: a
    // bookkeeping that matched events against the accepted blocks as they arrived
    // would have lost these.
    let mut before_answer = 0u64;
    for (id, (at, answered)) in &submitted {
        match seen.get(id) {
            Some(c) => {
                latencies.push(c.saturating_sub(*at) as f64 / 1e6);
                last_confirmed_ns = last_confirmed_ns.max(*c);
                before_answer += u64::from(c < answered);
            }
            None => missing.push(*id),
        }
    }
    // What node 0 says of the blocks it did not report: confirmed without an event (the
    // stream lost it), or still pending (never confirmed).
    let (mut unreported, mut unconfirmed, mut unknown) = (0u64, 0u64, 0u64);
    for id in &missing {
        match clients[0].metadata(id).await {
            Ok(m) if m.referenced_by_milestone.is_some() => unreported += 1,
            Ok(m) => {
                unconfirmed += 1;
                if unconfirmed <= 8 {
                    eprintln!(
                        "weft-bench network: block {id} not confirmed on node 0 (solid {}, \
                         arrived {} ms)",
                        m.solid, m.arrival_time
                    );
                }
            }
            Err(_) => unknown += 1,
        }
    }

    // Every node holds the same milestone at every index they all reached.
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
    drop(nodes);
    let load_end = crate::ledger::load_average();

    let accepted = submitted.len() as u64;
    let confirmed = latencies.len() as u64;
    let first = shared.first_send_ns.load(Ordering::Relaxed);
    let span_ns = last_confirmed_ns.saturating_sub(first).max(1);
    let send_ns = shared
        .last_send_ns
        .load(Ordering::Relaxed)
        .saturating_sub(first)
        .max(1);
    let requests = shared.requests.load(Ordering::Relaxed);
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(json!({
        "suite": "network",
        "nodes": n,
        "threshold": 2 * n / 3 + 1,
        "blocks": accepted,
        "errors": shared.errors.load(Ordering::Relaxed),
        "blocks_confirmed": confirmed,
        "confirmed_unreported": unreported,
        "confirmed_before_answer": before_answer,
        "unconfirmed": unconfirmed + unknown,
        "milestones": shared.milestones.load(Ordering::Relaxed),
        "blocks_confirmed_per_s": round1(confirmed as f64 / (span_ns as f64 / 1e9)),
        "submit_per_s": round1(accepted as f64 / (send_ns as f64 / 1e9)),
        "finality_p50_ms": round1(percentile(&latencies, 0.50)),
        "finality_p99_ms": round1(percentile(&latencies, 0.99)),
        "finality_max_ms": round1(latencies.last().copied().unwrap_or(0.0)),
        "milestone_interval_ms": args.milestone_interval_ms,
        "unit_delay_ms": args.unit_delay_ms,
        "connections": lanes,
        "batch_size": args.batch,
        "offered_per_s": args.rate,
        "requests": requests,
        "events_lagged": shared.lagged.load(Ordering::Relaxed),
        "event_stream": event_stream,
        "consistent": consistent,
        "cores": std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1),
        "load_average_start": load_start,
        "load_average_end": load_end,
    }))
}

/// A one-paragraph summary of a report.
pub fn summary(r: &Value) -> String {
    format!(
        "network: {} validators (threshold {}), {} blocks submitted in batches of {} \
         ({} requests, {} errors), {} confirmed in {} milestones ({} confirmed without an \
         event, {} not confirmed)\n  confirmed {} blocks/s network-wide, submitted {} \
         blocks/s (offered: {})\n  finality p50 {} ms, p99 {} ms, max {} ms ({} ms proposals, {} ms \
         rounds); identical milestones on every node: {}; load average {} → {}",
        r["nodes"],
        r["threshold"],
        r["blocks"],
        r["batch_size"],
        r["requests"],
        r["errors"],
        r["blocks_confirmed"],
        r["milestones"],
        r["confirmed_unreported"],
        r["unconfirmed"],
        r["blocks_confirmed_per_s"],
        r["submit_per_s"],
        r["offered_per_s"],
        r["finality_p50_ms"],
        r["finality_p99_ms"],
        r["finality_max_ms"],
        r["milestone_interval_ms"],
        r["unit_delay_ms"],
        r["consistent"],
        r["load_average_start"],
        r["load_average_end"],
    )
}
