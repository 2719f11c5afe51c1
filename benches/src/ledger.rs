//! `weft-bench ledger`: confirmation throughput and latency of a dev node under load.
//!
//! The bench starts `weft-node run --dev` as a child process on a temporary data
//! directory and a free loopback port, waits for `/api/v1/health`, subscribes to the
//! `confirmations` WebSocket topic, and submits signed tagged-data blocks over
//! `POST /api/v1/blocks` from `--connections` lanes, each one request at a time.
//!
//! Parents: every lane chains its blocks (each block's parents are the lane's previous
//! block plus `--parents - 1` tips from `GET /api/v1/tips`, refreshed every
//! `--tips-refresh-ms`). Tips alone are not enough at this rate: a tip list fetched
//! every few milliseconds references a few hundred blocks a second, so at 10,000
//! blocks/s nearly every block would stay an unreferenced tip, the pool would exceed
//! what one milestone merges, and blocks would never be confirmed. A lane's own previous
//! block is what a real high-volume issuer references too.
//!
//! Signing: `--signer inline` (default) signs in the lane task just before the POST;
//! `--signer pipeline` signs on one dedicated thread that keeps a few blocks ready per
//! lane. On 2 cores shared with the node, inline costs the bench about 50 µs of CPU per
//! block against about 56 µs for the pipeline (thread hand-offs and wake-ups), with the
//! same node CPU per block, so inline leaves the node more headroom: with both processes
//! on the same two cores there is no idle core for a signing thread to use.
//!
//! Latency of a block: from the instant just before its POST to the arrival of the
//! `confirmations` event that lists it. If the event stream lags or skips a milestone,
//! that milestone's block list is fetched over REST and its timestamp is used instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use parking_lot::{Mutex, RwLock};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use weft_client::{Client, ClientError};
use weft_crypto::OrganisationKey;
use weft_types::hash::blake2b256;
use weft_types::{Block, BlockBuilder, BlockId, NetworkId, Payload, TaggedData};

/// The tag of every bench block.
const TAG: &[u8] = b"bench/v1";

/// How blocks are signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Signer {
    /// One dedicated thread signs ahead, a few blocks per lane.
    Pipeline,
    /// Each lane signs its next block just before sending it.
    Inline,
}

impl Signer {
    fn name(self) -> &'static str {
        match self {
            Signer::Pipeline => "pipeline",
            Signer::Inline => "inline",
        }
    }
}

/// Options of the ledger suite.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Blocks to send.
    #[arg(long, default_value_t = 1_000_000)]
    pub blocks: u64,
    /// Concurrent submission lanes (HTTP connections), each one request at a time. More
    /// lanes mean larger ingest batches (cheaper batch verification per signature), and
    /// longer queues before the node: 32 lanes of 32 blocks keep about 1,000 blocks in
    /// flight, enough for the node's throughput without adding to the latency.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// The node binary (default: `weft-node` next to this executable).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// Parents per block: the lane's previous block plus `parents - 1` node tips (2..=8).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(2..=8))]
    pub parents: u8,
    /// How often the tip list is refreshed (ms).
    #[arg(long, default_value_t = 5)]
    pub tips_refresh_ms: u64,
    /// Where blocks are signed.
    #[arg(long, value_enum, default_value_t = Signer::Inline)]
    pub signer: Signer,
    /// Blocks signed ahead per lane (pipeline signer).
    #[arg(long, default_value_t = 8)]
    pub sign_ahead: usize,
    /// Blocks per request: 1 posts each block alone; more uses the batch form
    /// (`application/vnd.weft.blocks`, at most 1024), inline signer only. Agencies
    /// anchor records in bulk, so the default is the batch form.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub batch: u16,
    /// Offered load cap in blocks/s (default: as fast as the lanes go).
    #[arg(long)]
    pub rate: Option<u64>,
    /// The node's milestone interval (ms).
    #[arg(long, default_value_t = 1000)]
    pub milestone_interval_ms: u64,
    /// Upper bound on the sending phase (s).
    #[arg(long, default_value_t = 1800)]
    pub max_send_s: u64,
    /// How long to wait for outstanding confirmations after the last submission (s).
    #[arg(long, default_value_t = 30)]
    pub drain_s: u64,
    /// Keep the node's data directory and log here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Kills the node process when dropped.
pub(crate) struct NodeProcess {
    pub(crate) child: Child,
}

impl NodeProcess {
    /// Starts `weft-node run --dev` with its data in `dir/data` and its log in `log`,
    /// its API on `127.0.0.1:port` and the given milestone interval.
    pub(crate) fn start_dev(
        node_bin: &std::path::Path,
        dir: &std::path::Path,
        port: u16,
        milestone_interval_ms: u64,
        log: std::fs::File,
    ) -> anyhow::Result<NodeProcess> {
        let child = Command::new(node_bin)
            .args(["run", "--dev", "--data-dir"])
            .arg(dir.join("data"))
            .args(["--api", &format!("127.0.0.1:{port}")])
            .args([
                "--milestone-interval-ms",
                &milestone_interval_ms.to_string(),
            ])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", node_bin.display()))?;
        Ok(NodeProcess { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn stop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counters shared by the lanes.
#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    waiting: AtomicU64,
    duplicates: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    first_send_ns: AtomicU64,
    last_send_ns: AtomicU64,
}

/// A signed block ready to send.
struct Signed {
    id: BlockId,
    bytes: Vec<u8>,
}

/// What is shared between the lanes, the signer, the tip refresher and the tracker.
struct Shared {
    /// Run start: every instant below is nanoseconds since this.
    base: Instant,
    /// Wall clock at `base` (ns since the Unix epoch), to place milestone timestamps.
    base_wall_ns: u64,
    key: OrganisationKey,
    network: NetworkId,
    run_tag: [u8; 32],
    parents: usize,
    tips: RwLock<Vec<BlockId>>,
    /// Submitted, not yet confirmed: block → send time (ns since `base`).
    sent: Mutex<HashMap<BlockId, u64>>,
    counters: Counters,
    stop: AtomicBool,
    /// Next sequence number to sign.
    next_seq: AtomicU64,
    total: u64,
    /// Pacing: earliest send time of the next block (ns since `base`), with `--rate`.
    next_slot_ns: AtomicU64,
    slot_ns: u64,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Builds and signs block `seq` on top of `previous` and the current tips.
    fn sign(&self, seq: u64, previous: Option<BlockId>) -> Signed {
        let mut parents: Vec<BlockId> = Vec::with_capacity(self.parents);
        if let Some(p) = previous {
            parents.push(p);
        }
        {
            let tips = self.tips.read();
            for t in tips.iter() {
                if parents.len() >= self.parents {
                    break;
                }
                if !parents.contains(t) {
                    parents.push(*t);
                }
            }
        }
        if parents.is_empty() {
            parents.push(BlockId::GENESIS);
        }
        let data = blake2b256(&[&self.run_tag, &seq.to_le_bytes()]).to_vec();
        let block = self.key.sign_block(
            BlockBuilder::new(self.network, parents, wall_ms())
                .payload(Payload::TaggedData(TaggedData {
                    tag: TAG.to_vec(),
                    data,
                }))
                .organisation(self.key.public_key()),
        );
        let bytes = block.to_bytes();
        Signed {
            id: BlockId::of_bytes(&bytes),
            bytes,
        }
    }
}

fn wall_ms() -> u64 {
    wall_ns() / 1_000_000
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The dev organisation key (`weft_node::config::dev_key("organisation")`).
fn dev_organisation_key() -> OrganisationKey {
    OrganisationKey::from_seed(&blake2b256(&[b"weft/dev-key/v1/", b"organisation"]))
}

pub(crate) fn default_node_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let dir = exe
        .parent()
        .context("this executable has no parent directory")?;
    // Criterion and test builds put executables in target/release/deps.
    for candidate in [dir.join("weft-node"), dir.join("../weft-node")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no weft-node next to {}: build it with `cargo build --release -p weft-node` or pass --node-bin",
        exe.display()
    )
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// VmRSS and VmHWM of a process, in KiB.
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// User plus system CPU time of a process (or `self`), in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU ticks of each thread of a process, by thread name (numbers stripped, so
/// `sled-io-3` counts as `sled-io`).
fn thread_ticks(pid: u32) -> HashMap<u32, (String, u64)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        let name = comm
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
            .to_string();
        if let Some(t) = cpu_ticks(&format!("{pid}/task/{tid}")) {
            out.insert(tid, (name, t));
        }
    }
    out
}

/// CPU seconds per thread name between two [`thread_ticks`] snapshots.
fn thread_cpu_s(
    before: &HashMap<u32, (String, u64)>,
    after: &HashMap<u32, (String, u64)>,
    ticks: f64,
) -> Value {
    let mut by_name: std::collections::BTreeMap<String, f64> = Default::default();
    for (tid, (name, t)) in after {
        let start = before.get(tid).map(|(_, s)| *s).unwrap_or(0);
        *by_name.entry(name.clone()).or_default() += t.saturating_sub(start) as f64 / ticks;
    }
    by_name.retain(|_, v| *v >= 0.01);
    json!(by_name
        .into_iter()
        .map(|(k, v)| (k, json!(round2(v))))
        .collect::<serde_json::Map<String, Value>>())
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The one-minute load average (`/proc/loadavg`), where the system has one.
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A metric's value from Prometheus text (the first sample whose name matches).
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.split_whitespace().next()?.parse().ok())?
    })
}

/// Per-milestone work time the node logged (`milestone confirmed ... ms=N`).
fn milestone_log_stats(log: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut ms: Vec<u64> = Vec::new();
    let mut confirmed: Vec<u64> = Vec::new();
    for line in text.lines().filter(|l| l.contains("milestone confirmed")) {
        let clean = strip_ansi(line);
        let field = |name: &str| -> Option<u64> {
            clean
                .split_whitespace()
                .find_map(|w| w.strip_prefix(name))?
                .parse()
                .ok()
        };
        if let (Some(m), Some(c)) = (field("ms="), field("confirmed=")) {
            ms.push(m);
            confirmed.push(c);
        }
    }
    if ms.is_empty() {
        return None;
    }
    let busy: Vec<u64> = ms
        .iter()
        .zip(&confirmed)
        .filter(|(_, c)| **c > 0)
        .map(|(m, _)| *m)
        .collect();
    let mut sorted = busy.clone();
    sorted.sort_unstable();
    Some(json!({
        "milestones": ms.len(),
        "busy_milestones": busy.len(),
        "milestone_work_ms_mean": if busy.is_empty() { 0.0 } else { busy.iter().sum::<u64>() as f64 / busy.len() as f64 },
        "milestone_work_ms_p50": percentile_u64(&sorted, 0.50),
        "milestone_work_ms_max": sorted.last().copied().unwrap_or(0),
        "milestone_blocks_max": confirmed.iter().max().copied().unwrap_or(0),
    }))
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn percentile_u64(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    round1(sorted_us[i] as f64 / 1000.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// What the confirmation tracker gathered.
#[derive(Default)]
struct Tracked {
    latencies_us: Vec<u32>,
    last_confirm_ns: u64,
    milestones: u64,
    lagged_events: u64,
    rest_milestones: u64,
    last_milestone: u32,
}

/// Records the confirmation of `ids` at `at_ns`.
fn record(shared: &Shared, tracked: &Mutex<Tracked>, ids: &[BlockId], at_ns: u64) {
    let mut hits = Vec::new();
    {
        let mut sent = shared.sent.lock();
        for id in ids {
            if let Some(t) = sent.remove(id) {
                hits.push(at_ns.saturating_sub(t));
            }
        }
    }
    if hits.is_empty() {
        return;
    }
    let mut t = tracked.lock();
    t.latencies_us.extend(
        hits.iter()
            .map(|ns| (ns / 1000).min(u32::MAX as u64) as u32),
    );
    t.last_confirm_ns = t.last_confirm_ns.max(at_ns);
}

/// Fetches a milestone's blocks over REST and records them at its timestamp.
async fn record_from_rest(
    client: &Client,
    shared: &Shared,
    tracked: &Mutex<Tracked>,
    index: u32,
) -> anyhow::Result<()> {
    let m = client.milestone(index, true).await?;
    let at_ns = (m.timestamp * 1_000_000).saturating_sub(shared.base_wall_ns);
    record(shared, tracked, &m.blocks.unwrap_or_default(), at_ns);
    tracked.lock().rest_milestones += 1;
    Ok(())
}

/// Follows the `confirmations` topic until `stop` (or the stream ends).
async fn track(
    client: Client,
    shared: Arc<Shared>,
    tracked: Arc<Mutex<Tracked>>,
    tracker_stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let stream = client.events(&["confirmations"]).await?;
    tokio::pin!(stream);
    let mut lagged = false;
    while !tracker_stop.load(Ordering::Relaxed) {
        let next = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        let v = match next {
            Err(_) => continue,
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(Some(Ok(v))) => v,
        };
        let at_ns = shared.now_ns();
        match v["type"].as_str() {
            Some("confirmations") => {
                let Some(index) = v["milestone"].as_u64().map(|i| i as u32) else {
                    continue;
                };
                let last = tracked.lock().last_milestone;
                if last != 0 && index > last + 1 {
                    // Missed milestones (the stream lagged): take them from REST.
                    for i in last + 1..index {
                        record_from_rest(&client, &shared, &tracked, i).await?;
                    }
                }
                let ids: Vec<BlockId> = v["blocks"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|b| b["blockId"].as_str()?.parse().ok())
                            .collect()
                    })
                    .unwrap_or_default();
                record(&shared, &tracked, &ids, at_ns);
                let mut t = tracked.lock();
                t.milestones += 1;
                t.last_milestone = index;
                if lagged {
                    t.lagged_events += 1;
                    lagged = false;
                }
            }
            Some("lagged") => lagged = true,
            _ => {}
        }
    }
    Ok(())
}

/// Keeps `shared.tips` fresh.
async fn refresh_tips(client: Client, shared: Arc<Shared>, every: Duration, count: usize) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !shared.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        if let Ok(tips) = client.tips(count).await {
            if !tips.is_empty() {
                *shared.tips.write() = tips;
            }
        }
    }
}

/// Samples the node's RSS and gauges while the bench runs.
#[derive(Default)]
struct Samples {
    rss_max_kib: u64,
    pending_max: f64,
    tips_max: f64,
    unsolid_max: f64,
}

async fn sample(client: Client, shared: Arc<Shared>, pid: u32, samples: Arc<Mutex<Samples>>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    while !shared.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        if let Some((rss, _)) = rss_kib(pid) {
            let mut s = samples.lock();
            s.rss_max_kib = s.rss_max_kib.max(rss);
        }
        if let Ok(text) = client.metrics().await {
            let mut s = samples.lock();
            if let Some(v) = metric(&text, "weft_pending_blocks") {
                s.pending_max = s.pending_max.max(v);
            }
            if let Some(v) = metric(&text, "weft_tips") {
                s.tips_max = s.tips_max.max(v);
            }
            if let Some(v) = metric(&text, "weft_solidifier_queue") {
                s.unsolid_max = s.unsolid_max.max(v);
            }
        }
    }
}

/// Waits for the pacing slot of the next block (`--rate`).
async fn pace(shared: &Shared) {
    if shared.slot_ns == 0 {
        return;
    }
    let slot = shared
        .next_slot_ns
        .fetch_add(shared.slot_ns, Ordering::Relaxed);
    let now = shared.now_ns();
    if slot > now {
        tokio::time::sleep(Duration::from_nanos(slot - now)).await;
    } else if now - slot > 1_000_000_000 {
        // Far behind: do not burst to catch up.
        shared.next_slot_ns.fetch_max(now, Ordering::Relaxed);
    }
}

/// After a failed request: waits before attempt `attempt + 1` and returns true when the
/// error is transient (transport, 429, 503), attempts remain and the run goes on.
async fn back_off(shared: &Shared, e: &ClientError, attempt: u32) -> bool {
    let transient = matches!(
        e,
        ClientError::Http(_)
            | ClientError::Api {
                status: 429 | 503,
                ..
            }
    );
    if !transient || attempt == 5 || shared.stop.load(Ordering::Relaxed) {
        return false;
    }
    shared.counters.retries.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
    true
}

/// Submits one block, retrying transient refusals; returns whether it was stored.
async fn submit(client: &Client, shared: &Shared, block: Signed) -> bool {
    let t = shared.now_ns();
    let _ = shared.counters.first_send_ns.compare_exchange(
        0,
        t.max(1),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    shared.sent.lock().insert(block.id, t);
    let c = &shared.counters;
    for attempt in 0..6u32 {
        match client.submit_bytes(block.bytes.clone()).await {
            Ok(r) => {
                if r.duplicate {
                    c.duplicates.fetch_add(1, Ordering::Relaxed);
                } else {
                    c.accepted.fetch_add(1, Ordering::Relaxed);
                    if r.solid == Some(false) {
                        c.waiting.fetch_add(1, Ordering::Relaxed);
                    }
                }
                c.last_send_ns.fetch_max(shared.now_ns(), Ordering::Relaxed);
                return true;
            }
            Err(e) => {
                if !back_off(shared, &e, attempt).await {
                    break;
                }
            }
        }
    }
    c.errors.fetch_add(1, Ordering::Relaxed);
    shared.sent.lock().remove(&block.id);
    false
}

/// Submits a chain of blocks in one batch request, retrying the whole request on
/// transport errors; returns the id of the last block stored.
async fn submit_batch(client: &Client, shared: &Shared, blocks: Vec<Signed>) -> Option<BlockId> {
    let t = shared.now_ns();
    let _ = shared.counters.first_send_ns.compare_exchange(
        0,
        t.max(1),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    {
        let mut sent = shared.sent.lock();
        for b in &blocks {
            sent.insert(b.id, t);
        }
    }
    let c = &shared.counters;
    let parsed: Vec<Block> = blocks
        .iter()
        .filter_map(|b| Block::from_bytes(&b.bytes).ok())
        .collect();
    for attempt in 0..6u32 {
        match client.submit_many(&parsed).await {
            Ok(results) => {
                let mut last = None;
                for (b, r) in blocks.iter().zip(results) {
                    match r {
                        Ok(r) => {
                            if r.duplicate {
                                c.duplicates.fetch_add(1, Ordering::Relaxed);
                            } else {
                                c.accepted.fetch_add(1, Ordering::Relaxed);
                            }
                            last = Some(b.id);
                        }
                        Err(_) => {
                            c.errors.fetch_add(1, Ordering::Relaxed);
                            shared.sent.lock().remove(&b.id);
                        }
                    }
                }
                c.last_send_ns.fetch_max(shared.now_ns(), Ordering::Relaxed);
                return last;
            }
            Err(e) => {
                if !back_off(shared, &e, attempt).await {
                    break;
                }
            }
        }
    }
    c.errors.fetch_add(blocks.len() as u64, Ordering::Relaxed);
    let mut sent = shared.sent.lock();
    for b in &blocks {
        sent.remove(&b.id);
    }
    None
}

/// A lane that signs chains of `batch` blocks and posts each chain in one request.
async fn batch_lane(client: Client, shared: Arc<Shared>, batch: usize) {
    let mut previous = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let mut chain = Vec::with_capacity(batch);
        let mut prev = previous;
        for _ in 0..batch {
            let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
            if seq >= shared.total {
                break;
            }
            pace(&shared).await;
            let block = shared.sign(seq, prev);
            prev = Some(block.id);
            chain.push(block);
        }
        if chain.is_empty() {
            break;
        }
        if let Some(last) = submit_batch(&client, &shared, chain).await {
            previous = Some(last);
        }
    }
}

/// A lane fed by the signing thread.
async fn pipeline_lane(client: Client, shared: Arc<Shared>, mut rx: mpsc::Receiver<Signed>) {
    while let Some(block) = rx.recv().await {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        pace(&shared).await;
        submit(&client, &shared, block).await;
    }
}

/// A lane that signs its own blocks.
async fn inline_lane(client: Client, shared: Arc<Shared>) {
    let mut previous = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
        if seq >= shared.total {
            break;
        }
        pace(&shared).await;
        let block = shared.sign(seq, previous);
        let id = block.id;
        if submit(&client, &shared, block).await {
            previous = Some(id);
        }
    }
}

/// The signing thread: keeps every lane's queue topped up, chaining each lane's blocks.
fn sign_ahead(shared: Arc<Shared>, lanes: Vec<mpsc::Sender<Signed>>) {
    let mut previous: Vec<Option<BlockId>> = vec![None; lanes.len()];
    'outer: while !shared.stop.load(Ordering::Relaxed) {
        let mut progressed = false;
        for (lane, tx) in lanes.iter().enumerate() {
            if tx.capacity() == 0 {
                continue;
            }
            let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
            if seq >= shared.total {
                break 'outer;
            }
            let block = shared.sign(seq, previous[lane]);
            previous[lane] = Some(block.id);
            if tx.try_send(block).is_err() {
                break 'outer; // the lane ended
            }
            progressed = true;
        }
        if !progressed {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Runs the ledger suite and returns its report.
pub async fn run(args: Args) -> anyhow::Result<Value> {
    anyhow::ensure!(args.blocks > 0, "--blocks must be at least 1");
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(
        args.milestone_interval_ms >= 50,
        "--milestone-interval-ms must be at least 50"
    );
    let node_bin = match &args.node_bin {
        Some(p) => p.clone(),
        None => default_node_bin()?,
    };
    let tmp;
    let dir = match &args.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new().prefix("weft-bench-").tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let log_path = dir.join("node.log");
    let port = free_port()?;
    let load_start = load_average();
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut node = NodeProcess::start_dev(&node_bin, &dir, port, args.milestone_interval_ms, log)?;
    let pid = node.pid();
    let client = Client::new(format!("http://127.0.0.1:{port}"));

    // Wait for the node.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = node.exited() {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("the node exited ({status}) before it was healthy:\n{tail}");
        }
        if let Ok(true) = client.health().await {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the node was not healthy within 30 s (log: {})",
                log_path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut run_tag = [0u8; 32];
    run_tag[..8].copy_from_slice(&wall_ns().to_le_bytes());
    run_tag[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    let base = Instant::now();
    let shared = Arc::new(Shared {
        base,
        base_wall_ns: wall_ns(),
        key: dev_organisation_key(),
        network: NetworkId::from_name("weft-dev"),
        run_tag,
        parents: args.parents as usize,
        tips: RwLock::new(Vec::new()),
        sent: Mutex::new(HashMap::with_capacity(
            (args.blocks as usize).min(1 << 20) / 4,
        )),
        counters: Counters::default(),
        stop: AtomicBool::new(false),
        next_seq: AtomicU64::new(0),
        total: args.blocks,
        next_slot_ns: AtomicU64::new(0),
        slot_ns: args.rate.map(|r| 1_000_000_000 / r.max(1)).unwrap_or(0),
    });
    *shared.tips.write() = client.tips(args.parents as usize).await?;

    let tracked = Arc::new(Mutex::new(Tracked::default()));
    let tracker_stop = Arc::new(AtomicBool::new(false));
    let tracker = tokio::spawn(track(
        client.clone(),
        shared.clone(),
        tracked.clone(),
        tracker_stop.clone(),
    ));
    let tipper = tokio::spawn(refresh_tips(
        client.clone(),
        shared.clone(),
        Duration::from_millis(args.tips_refresh_ms.max(1)),
        (args.parents as usize - 1).max(1),
    ));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let sampler = tokio::spawn(sample(client.clone(), shared.clone(), pid, samples.clone()));
    // Give the event subscription a moment to be registered by the node.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let ticks = clock_ticks_per_s();
    let node_cpu_start = cpu_ticks(&pid.to_string());
    let node_threads_start = thread_ticks(pid);
    let self_cpu_start = cpu_ticks("self");
    let send_start = shared.now_ns();

    let mut lanes = Vec::with_capacity(args.connections);
    let mut signer = None;
    match args.signer {
        Signer::Pipeline => {
            let mut txs = Vec::with_capacity(args.connections);
            for _ in 0..args.connections {
                let (tx, rx) = mpsc::channel(args.sign_ahead.max(1));
                txs.push(tx);
                lanes.push(tokio::spawn(pipeline_lane(
                    client.clone(),
                    shared.clone(),
                    rx,
                )));
            }
            let s = shared.clone();
            signer = Some(
                std::thread::Builder::new()
                    .name("weft-bench-signer".into())
                    .spawn(move || sign_ahead(s, txs))?,
            );
        }
        Signer::Inline if args.batch > 1 => {
            for _ in 0..args.connections {
                lanes.push(tokio::spawn(batch_lane(
                    client.clone(),
                    shared.clone(),
                    args.batch as usize,
                )));
            }
        }
        Signer::Inline => {
            for _ in 0..args.connections {
                lanes.push(tokio::spawn(inline_lane(client.clone(), shared.clone())));
            }
        }
    }

    // Sending phase, bounded in time.
    let send_deadline = tokio::time::Instant::now() + Duration::from_secs(args.max_send_s);
    let mut timed_out = false;
    for lane in lanes {
        tokio::select! {
            _ = lane => {}
            _ = tokio::time::sleep_until(send_deadline) => {
                timed_out = true;
                shared.stop.store(true, Ordering::Relaxed);
            }
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    if let Some(s) = signer {
        let _ = tokio::task::spawn_blocking(move || s.join()).await;
    }
    let send_end = shared.now_ns();

    // Drain: wait for outstanding confirmations.
    let drain_deadline = Instant::now() + Duration::from_secs(args.drain_s);
    while !shared.sent.lock().is_empty() && Instant::now() < drain_deadline {
        if tracker.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let node_cpu_end = cpu_ticks(&pid.to_string());
    let node_threads_end = thread_ticks(pid);
    let self_cpu_end = cpu_ticks("self");
    let end = shared.now_ns();
    tracker_stop.store(true, Ordering::Relaxed);
    let tracker_result = match tokio::time::timeout(Duration::from_secs(5), tracker).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(anyhow::anyhow!("the confirmation tracker did not stop")),
    };
    tipper.abort();
    sampler.abort();

    let metrics_text = client.metrics().await.unwrap_or_default();
    let info = client.info().await.ok();
    let (rss, hwm) = rss_kib(pid).unwrap_or((0, 0));
    node.stop();
    let load_end = load_average();

    let c = &shared.counters;
    let unconfirmed = shared.sent.lock().len() as u64;
    let mut t = std::mem::take(&mut *tracked.lock());
    t.latencies_us.sort_unstable();
    let confirmed = t.latencies_us.len() as u64;
    let first_send = c.first_send_ns.load(Ordering::Relaxed);
    let span_s = t.last_confirm_ns.saturating_sub(first_send) as f64 / 1e9;
    let send_s = (send_end.saturating_sub(send_start)) as f64 / 1e9;
    let accepted = c.accepted.load(Ordering::Relaxed);
    let sent = accepted + c.duplicates.load(Ordering::Relaxed) + c.errors.load(Ordering::Relaxed);
    let mean_ms = if confirmed == 0 {
        0.0
    } else {
        t.latencies_us.iter().map(|&u| u as f64).sum::<f64>() / confirmed as f64 / 1000.0
    };
    let elapsed_s = (end - send_start) as f64 / 1e9;
    let cpu = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => round2((b.saturating_sub(a)) as f64 / ticks / elapsed_s),
        _ => 0.0,
    };
    let per_block = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if confirmed > 0 => {
            round1((b.saturating_sub(a)) as f64 / ticks * 1e6 / confirmed as f64)
        }
        _ => 0.0,
    };
    let s = samples.lock();
    let ms_count = metric(&metrics_text, "weft_milestone_confirmation_seconds_count");
    let ms_sum = metric(&metrics_text, "weft_milestone_confirmation_seconds_sum");
    let meta_count = metric(&metrics_text, "weft_block_metadata_seconds_count");
    let meta_sum = metric(&metrics_text, "weft_block_metadata_seconds_sum");
    let mut report = json!({
        "suite": "ledger",
        "blocks": sent,
        "blocks_accepted": accepted,
        "blocks_confirmed": confirmed,
        "blocks_unconfirmed": unconfirmed,
        "blocks_confirmed_per_s": round1(if span_s > 0.0 { confirmed as f64 / span_s } else { 0.0 }),
        "submit_per_s": round1(if send_s > 0.0 { sent as f64 / send_s } else { 0.0 }),
        "confirmation_p50_ms": percentile_ms(&t.latencies_us, 0.50),
        "confirmation_p90_ms": percentile_ms(&t.latencies_us, 0.90),
        "confirmation_p99_ms": percentile_ms(&t.latencies_us, 0.99),
        "confirmation_max_ms": percentile_ms(&t.latencies_us, 1.0),
        "confirmation_mean_ms": round1(mean_ms),
        "rss_mib": round1(rss as f64 / 1024.0),
        "rss_peak_mib": round1(hwm.max(s.rss_max_kib) as f64 / 1024.0),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "milestone_interval_ms": args.milestone_interval_ms,
        "errors": c.errors.load(Ordering::Relaxed),
        "retries": c.retries.load(Ordering::Relaxed),
        "duplicates": c.duplicates.load(Ordering::Relaxed),
        "accepted_unsolid": c.waiting.load(Ordering::Relaxed),
        "elapsed_s": round2(elapsed_s),
        "send_s": round2(send_s),
        "confirm_span_s": round2(span_s),
        "send_timed_out": timed_out,
        "node_cpu_cores": cpu(node_cpu_start, node_cpu_end),
        "bench_cpu_cores": cpu(self_cpu_start, self_cpu_end),
        "node_cpu_us_per_block": per_block(node_cpu_start, node_cpu_end),
        "bench_cpu_us_per_block": per_block(self_cpu_start, self_cpu_end),
        "node_thread_cpu_s": thread_cpu_s(&node_threads_start, &node_threads_end, ticks),
        "db_mib": metric(&metrics_text, "weft_database_bytes").map(|b| round1(b / 1048576.0)),
        "milestones_seen": t.milestones,
        "milestones_from_rest": t.rest_milestones,
        "event_lags": t.lagged_events,
        "milestone_confirmation_s_mean": match (ms_sum, ms_count) {
            (Some(s), Some(n)) if n > 0.0 => Some(round4(s / n)),
            _ => None,
        },
        // Writing the per-block metadata after each milestone is announced (not part of
        // any block's confirmation latency).
        "block_metadata_s_mean": match (meta_sum, meta_count) {
            (Some(s), Some(n)) if n > 0.0 => Some(round4(s / n)),
            _ => None,
        },
        "pending_blocks_max": s.pending_max,
        "tips_max": s.tips_max,
        "solidifier_queue_max": s.unsolid_max,
        "connections": args.connections,
        "batch": args.batch,
        "parents": args.parents,
        "signer": args.signer.name(),
        "sign_ahead": args.sign_ahead,
        "tips_refresh_ms": args.tips_refresh_ms,
        "rate_limit": args.rate,
        "load_avg_start": load_start,
        "load_avg_end": load_end,
        "latest_milestone": info.as_ref().and_then(|i| i["latestMilestone"]["index"].as_u64()),
    });
    if let (Some(obj), Some(Value::Object(extra))) =
        (report.as_object_mut(), milestone_log_stats(&log_path))
    {
        obj.extend(extra);
    }
    if let Err(e) = tracker_result {
        report["tracker_error"] = json!(e.to_string());
    }
    Ok(report)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The human form of a report.
pub fn summary(r: &Value) -> String {
    format!(
        "ledger: {} blocks sent ({} errors), {} confirmed in {} s\n  \
         confirmed {} blocks/s, submitted {} blocks/s\n  \
         confirmation latency p50 {} ms, p90 {} ms, p99 {} ms, max {} ms ({} ms milestones)\n  \
         node RSS {} MiB (peak {} MiB), database {} MiB, node CPU {} cores, bench CPU {} cores of {}",
        r["blocks"],
        r["errors"],
        r["blocks_confirmed"],
        r["confirm_span_s"],
        r["blocks_confirmed_per_s"],
        r["submit_per_s"],
        r["confirmation_p50_ms"],
        r["confirmation_p90_ms"],
        r["confirmation_p99_ms"],
        r["confirmation_max_ms"],
        r["milestone_interval_ms"],
        r["rss_mib"],
        r["rss_peak_mib"],
        r["db_mib"],
        r["node_cpu_cores"],
        r["bench_cpu_cores"],
        r["cores"],
    )
}
