//! `weft-node`: run a node, or run the end-to-end demo.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::{BufReader, BufWriter};
use std::sync::Arc;

use weft_node::{serve, Node, NodeConfig};
use weft_tangle::{SledStore, Store};

/// jemalloc rather than glibc malloc: sled copies and frees page nodes on every insert,
/// and glibc's allocator was 41 % of the node's CPU at a million blocks, with arena-lock
/// contention across its threads; jemalloc cut the node's CPU per block by a quarter
/// without the consortium regressions mimalloc showed (`benches/README.md`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "weft-node", version, about = "Weft ledger node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node: `--dev` for a single-node dev network, or `--config FILE`.
    Run {
        #[command(flatten)]
        node: NodeArgs,
        /// API listen address (overrides the config file's).
        #[arg(long)]
        api: Option<SocketAddr>,
        /// Milestone interval in milliseconds (dev mode).
        #[arg(long)]
        milestone_interval_ms: Option<u64>,
        /// Peer-to-peer listen multiaddr (overrides the `[network]` section's).
        #[arg(long)]
        p2p_listen: Option<weft_network::Multiaddr>,
        /// Run alone even if the configuration has a `[network]` section.
        #[arg(long)]
        no_network: bool,
        /// Start from this full snapshot (into an empty data directory): its milestone's
        /// certificate and state root are checked against this network's committee.
        #[arg(long)]
        snapshot: Option<PathBuf>,
        /// Then apply this delta snapshot (the milestones after the full snapshot's),
        /// each checked as if it came from peers.
        #[arg(long)]
        delta: Option<PathBuf>,
    },
    /// Change the validator committee: propose, sign (each current member, with its
    /// own key in WEFT_VALIDATOR_KEY) and submit a committee change.
    Committee {
        #[command(subcommand)]
        action: CommitteeCommand,
    },
    /// Write, check or inspect snapshots of a stopped node's ledger.
    Snapshot {
        #[command(subcommand)]
        action: SnapshotCommand,
    },
    /// Write the configurations and keys of a local consortium of nodes on 127.0.0.1:
    /// by default every node is a validator of one committee (threshold 2f+1).
    Testnet {
        /// Number of nodes.
        #[arg(long, default_value_t = 4)]
        nodes: usize,
        /// How many of the nodes are validators (default: all); 1 makes node 0 issue
        /// every milestone alone and the others follow.
        #[arg(long)]
        validators: Option<usize>,
        /// The consensus engine's round delay in milliseconds.
        #[arg(long, default_value_t = 500)]
        unit_delay_ms: u64,
        /// Directory to write (`DIR/node-i/config.toml`, `DIR/node-i/keys.env`).
        #[arg(long)]
        dir: PathBuf,
        /// API port of node 0 (node i uses this + i).
        #[arg(long, default_value_t = 7100)]
        api_port: u16,
        /// Peer-to-peer port of node 0 (node i uses this + i).
        #[arg(long, default_value_t = 7200)]
        p2p_port: u16,
        /// Milestone interval in milliseconds.
        #[arg(long, default_value_t = 1000)]
        milestone_interval_ms: u64,
        /// Nodes after the validators that hold standby validator keys (listed in
        /// `[consensus]`, not in the genesis committee): a committee change can add them.
        #[arg(long, default_value_t = 0)]
        standby: usize,
        /// Committee epochs in milestones: committee changes take effect at
        /// `k · epoch + 1`, where consensus sessions end.
        #[arg(long, default_value_t = 100)]
        committee_epoch: u32,
    },
    /// Audit every value program (or one) from a node's ledger: the unspent notes must
    /// commit to exactly minted minus redeemed. Exits with status 1 if any does not.
    Audit {
        /// The node's API.
        #[arg(long, default_value = "http://127.0.0.1:7070")]
        node: String,
        /// Only this program (64 hex digits).
        #[arg(long)]
        program: Option<String>,
        /// Print the node's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the end-to-end demo on an embedded dev node.
    Demo {
        /// Print the report as JSON only.
        #[arg(long)]
        json: bool,
        /// Write the report and artefacts into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Households registered for the aid round.
        #[arg(long, default_value_t = 1000)]
        households: usize,
    },
}

#[derive(Subcommand)]
enum CommitteeCommand {
    /// Write a proposal: the committee in force (read from a node) with validators added
    /// or removed, effective at the start of a later committee epoch.
    Propose {
        /// A node's API.
        #[arg(long, default_value = "http://127.0.0.1:7070")]
        node: String,
        /// A validator key to add (64 hex digits; repeat for several).
        #[arg(long)]
        add: Vec<String>,
        /// A member key to remove (repeat for several).
        #[arg(long)]
        remove: Vec<String>,
        /// Signatures the new committee needs (default: more than two thirds).
        #[arg(long)]
        threshold: Option<u16>,
        /// The first milestone the new committee certifies (default: the first epoch
        /// start at least ten milestones ahead).
        #[arg(long)]
        effective_index: Option<u32>,
        /// The proposal file to write (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Add this validator's signature (key in WEFT_VALIDATOR_KEY) to a proposal file.
    Sign {
        /// The proposal file (rewritten).
        file: PathBuf,
    },
    /// Submit a proposal signed by a quorum, in a block signed by this validator (key in
    /// WEFT_VALIDATOR_KEY), and wait for the ledger's decision.
    Submit {
        /// The proposal file.
        file: PathBuf,
        /// A node's API.
        #[arg(long, default_value = "http://127.0.0.1:7070")]
        node: String,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Write a full snapshot of the latest milestone of a stopped node's data directory.
    Create {
        #[command(flatten)]
        node: NodeArgs,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// Milestones whose blocks are listed as solid entry points.
        #[arg(long, default_value_t = weft_snapshot::DEFAULT_ENTRY_POINT_WINDOW)]
        window: u32,
    },
    /// Write a delta snapshot: the milestones after `--base` with their blocks.
    Delta {
        #[command(flatten)]
        node: NodeArgs,
        /// The milestone the delta continues (a full snapshot's index).
        #[arg(long)]
        base: u32,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a snapshot against this network's genesis and committee without starting a
    /// node: a full one completely (certificate, entries, state root, checksum), a delta's
    /// certificates, sequence and checksum (its state roots are checked when applied).
    Verify {
        #[command(flatten)]
        node: NodeArgs,
        /// The snapshot file.
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Which network and data directory a command works on.
#[derive(clap::Args)]
struct NodeArgs {
    /// Single-node dev network with well-known (insecure) keys, no configuration.
    #[arg(long, conflicts_with = "config")]
    dev: bool,
    /// TOML configuration for a real deployment.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (overrides the configuration's; `./weft-data` in dev mode).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl NodeArgs {
    fn load(self) -> anyhow::Result<NodeConfig> {
        let mut cfg = load_config(self.dev, self.config)?;
        if let Some(d) = self.data_dir {
            cfg.data_dir = d;
        }
        Ok(cfg)
    }
}

fn load_config(dev: bool, config: Option<PathBuf>) -> anyhow::Result<NodeConfig> {
    Ok(match (dev, config) {
        (true, _) => NodeConfig::dev(
            PathBuf::from("./weft-data"),
            SocketAddr::from(([127, 0, 0, 1], 7070)),
        ),
        (false, Some(path)) => NodeConfig::from_file(&path)?,
        (false, None) => anyhow::bail!("give --dev for a dev network or --config FILE"),
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Run {
            node,
            api,
            milestone_interval_ms,
            p2p_listen,
            no_network,
            snapshot,
            delta,
        } => {
            init_logging("info");
            let mut cfg = node.load()?;
            if let Some(a) = api {
                cfg.api = a;
            }
            if let Some(ms) = milestone_interval_ms {
                anyhow::ensure!(ms >= 50, "--milestone-interval-ms must be at least 50");
                cfg.milestone_interval_ms = ms;
            }
            if no_network {
                cfg.network = None;
            }
            if let Some(listen) = p2p_listen {
                let network = cfg
                    .network
                    .as_mut()
                    .context("--p2p-listen needs a [network] section in the configuration")?;
                network.listen = listen;
            }
            runtime.block_on(run(cfg, snapshot, delta))
        }
        Command::Snapshot { action } => snapshot_command(action),
        Command::Committee { action } => runtime.block_on(committee_command(action)),
        Command::Testnet {
            nodes,
            validators,
            unit_delay_ms,
            dir,
            api_port,
            p2p_port,
            milestone_interval_ms,
            standby,
            committee_epoch,
        } => {
            let options = weft_node::p2p::testnet::TestnetOptions {
                standby,
                committee_epoch,
                nodes,
                dir,
                api_port,
                p2p_port,
                milestone_interval_ms,
                validators,
                unit_delay_ms,
            };
            let written = weft_node::p2p::testnet::write(&options)?;
            print!(
                "{}",
                weft_node::p2p::testnet::instructions(&options, &written)
            );
            Ok(())
        }
        Command::Audit {
            node,
            program,
            json,
        } => runtime.block_on(audit(node, program, json)),
        Command::Demo {
            json,
            out,
            households,
        } => {
            init_logging(if json {
                "warn"
            } else {
                "warn,weft_node::demo=info"
            });
            runtime.block_on(weft_node::demo::run(json, out, households))
        }
    }
}

/// `weft-node audit`: the node recomputes each program's sums from its unspent notes
/// and kernels; this checks the identity again on the sums it reports, so a node that
/// reported sums that do not balance is caught here too.
async fn audit(node: String, program: Option<String>, json: bool) -> anyhow::Result<()> {
    let client = weft_client::Client::new(node);
    let programs = match program {
        Some(p) => {
            let id = weft_types::id::parse_hex_array::<32>(&p)
                .map_err(|e| anyhow::anyhow!("--program {p:?}: {e}"))?;
            vec![client.program_audit(&id).await?]
        }
        None => client.audit().await?["programs"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    };
    let mut all_ok = true;
    let mut rows = Vec::new();
    for p in &programs {
        let amount = |k: &str| -> anyhow::Result<u128> {
            p[k].as_str()
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("the node's audit has no {k}"))
        };
        let point = |k: &str| -> anyhow::Result<[u8; 32]> {
            weft_types::id::parse_hex_array::<32>(p[k].as_str().unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("the node's audit: {k}: {e}"))
        };
        let (minted, redeemed) = (amount("minted")?, amount("redeemed")?);
        let here = weft_entitlements::audit(
            minted,
            redeemed,
            &[point("unspentCommitmentSum")?],
            &[point("kernelSum")?],
        );
        let ok = p["conservationOk"] == serde_json::json!(true) && here.is_ok();
        all_ok &= ok;
        rows.push(format!(
            "{}  minted {minted}  redeemed {redeemed}  outstanding {}  unspent notes {}  transfers {}  {}",
            p["program"].as_str().unwrap_or("?"),
            minted.saturating_sub(redeemed),
            p["unspentNotes"],
            p["transfers"],
            if ok {
                "conservation holds".to_string()
            } else {
                format!(
                    "CONSERVATION FAILS: {}",
                    p["problem"]
                        .as_str()
                        .map(str::to_owned)
                        .or_else(|| here.err().map(|e| e.to_string()))
                        .unwrap_or_default()
                )
            }
        ));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "conservationOk": all_ok,
                "programs": programs,
            }))?
        );
    } else if rows.is_empty() {
        println!("no program has value notes yet");
    } else {
        for r in rows {
            println!("{r}");
        }
    }
    if !all_ok {
        std::process::exit(1);
    }
    Ok(())
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

/// The validator key from `WEFT_VALIDATOR_KEY` (never from a file or the command line).
fn validator_key_from_env() -> anyhow::Result<weft_crypto::OrganisationKey> {
    let hex_seed = std::env::var(weft_node::config::VALIDATOR_KEY_ENV).with_context(|| {
        format!(
            "set {} to this validator's seed",
            weft_node::config::VALIDATOR_KEY_ENV
        )
    })?;
    let seed: [u8; 32] = weft_types::id::parse_hex_array(hex_seed.trim())
        .map_err(|e| anyhow::anyhow!("{}: {e}", weft_node::config::VALIDATOR_KEY_ENV))?;
    Ok(weft_crypto::OrganisationKey::from_seed(&seed))
}

async fn committee_command(action: CommitteeCommand) -> anyhow::Result<()> {
    use weft_node::committee_change::{propose, sign, submit, ChangeProposal};
    let read = |file: &PathBuf| -> anyhow::Result<ChangeProposal> {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a proposal", file.display()))
    };
    let keys = |list: &[String]| -> anyhow::Result<Vec<weft_types::PublicKeyBytes>> {
        list.iter()
            .map(|k| k.parse().map_err(|e| anyhow::anyhow!("key {k}: {e}")))
            .collect()
    };
    match action {
        CommitteeCommand::Propose {
            node,
            add,
            remove,
            threshold,
            effective_index,
            out,
        } => {
            let info = weft_client::Client::new(node).info().await?;
            let p = propose(
                &info,
                &keys(&add)?,
                &keys(&remove)?,
                threshold,
                effective_index,
            )?;
            std::fs::write(&out, serde_json::to_string_pretty(&p)?)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "proposed: {} members, threshold {}, effective at milestone {}; needs {} signatures of the current committee -> {}",
                p.change.committee.members().len(),
                p.change.committee.threshold(),
                p.change.effective_index,
                p.current.threshold(),
                out.display()
            );
        }
        CommitteeCommand::Sign { file } => {
            let mut p = read(&file)?;
            let key = validator_key_from_env()?;
            sign(&mut p, &key)?;
            std::fs::write(&file, serde_json::to_string_pretty(&p)?)
                .with_context(|| format!("writing {}", file.display()))?;
            println!(
                "signed by {}: {} of {} signatures",
                key.public_key(),
                p.change.signatures.len(),
                p.current.threshold()
            );
        }
        CommitteeCommand::Submit { file, node } => {
            let p = read(&file)?;
            let key = validator_key_from_env()?;
            let client = weft_client::Client::new(node);
            let id = submit(&client, &p, &key).await?;
            match client
                .wait_outcome(&id, std::time::Duration::from_secs(120))
                .await?
            {
                weft_client::LedgerOutcome::Applied { milestone } => println!(
                    "committee change {id} confirmed by milestone {milestone}: the new committee certifies from milestone {} on",
                    p.change.effective_index
                ),
                weft_client::LedgerOutcome::Conflicting {
                    reason, description, ..
                } => anyhow::bail!("the ledger refused the change: {reason}: {description}"),
            }
        }
    }
    Ok(())
}

/// Opens the node's store (sled, `DATA_DIR/db`).
fn open_store(cfg: &NodeConfig) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let db = cfg.data_dir.join("db");
    let store = SledStore::open(&db)
        .with_context(|| format!("opening {} (is a node running on it?)", db.display()))?;
    // A node stopped between a milestone and its per-block metadata left a journal
    // entry: settle it before anything reads the store.
    weft_tangle::journal::replay(&store).context("settling the metadata journal")?;
    Ok(Arc::new(store))
}

fn snapshot_command(action: SnapshotCommand) -> anyhow::Result<()> {
    match action {
        SnapshotCommand::Create { node, out, window } => {
            let cfg = node.load()?;
            let store = open_store(&cfg)?;
            let file = std::fs::File::create(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            let s = weft_snapshot::write_full(store.as_ref(), window, BufWriter::new(file))?;
            println!(
                "full snapshot of milestone {} (state root {}): {} entries, {} solid entry points, {} bytes -> {}",
                s.index, s.state_root, s.entries, s.entry_points, s.bytes, out.display()
            );
        }
        SnapshotCommand::Delta { node, base, out } => {
            let cfg = node.load()?;
            let store = open_store(&cfg)?;
            let file = std::fs::File::create(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            let s = weft_snapshot::write_delta(store.as_ref(), base, BufWriter::new(file))?;
            println!(
                "delta snapshot of milestones {}..={}: {} blocks, {} bytes -> {}",
                s.base + 1,
                s.to,
                s.blocks,
                s.bytes,
                out.display()
            );
        }
        SnapshotCommand::Verify { node, file, json } => {
            let cfg = node.load()?;
            let open = || -> anyhow::Result<BufReader<std::fs::File>> {
                Ok(BufReader::new(
                    std::fs::File::open(&file)
                        .with_context(|| format!("opening {}", file.display()))?,
                ))
            };
            let mut kind = [0u8; 10];
            std::io::Read::read_exact(&mut open()?, &mut kind)
                .map_err(|_| weft_snapshot::SnapshotError::NotASnapshot)?;
            let report = if kind[9] == 1 {
                let mut reader = weft_snapshot::DeltaReader::open(open()?, &cfg.genesis)?;
                let (base, to) = (reader.base, reader.to());
                let mut blocks = 0usize;
                // Without a state only the genesis committee is known: milestones that
                // name another (after a committee change) are checked when applied.
                let genesis = cfg.genesis.committee.clone();
                let mut unchecked = 0usize;
                while let Some(m) = reader.next_milestone(|e| {
                    let known = e.committee_id == genesis.id();
                    unchecked += usize::from(!known);
                    known.then(|| genesis.clone())
                })? {
                    blocks += m.blocks.len();
                }
                serde_json::json!({
                    "ok": true, "kind": "delta", "base": base, "to": to, "blocks": blocks,
                    "certificatesLeftToApply": unchecked,
                    "checked": "certificates, milestone sequence, checksum; state roots are checked when applied",
                })
            } else {
                let mut entries = 0usize;
                let v = weft_snapshot::read_full(open()?, &cfg.genesis, &mut |chunk| {
                    entries += chunk.len();
                    Ok(())
                })?;
                serde_json::json!({
                    "ok": true, "kind": "full", "index": v.latest.index,
                    "milestoneId": v.latest.id.to_string(), "stateRoot": v.state_root.to_string(),
                    "entries": entries, "entryPoints": v.entry_points.len(),
                    "checked": "certificate, entries, state root, checksum",
                })
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} snapshot OK ({})",
                    report["kind"].as_str().unwrap_or("?"),
                    report["checked"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

async fn run(
    cfg: NodeConfig,
    snapshot: Option<PathBuf>,
    delta: Option<PathBuf>,
) -> anyhow::Result<()> {
    let api = cfg.api;
    if cfg.dev {
        tracing::warn!("dev network: committee and organisation keys are public, well-known seeds; never put real data here");
    }
    tracing::info!(network = %cfg.genesis.network_name, data_dir = %cfg.data_dir.display(), "starting node");
    let network = cfg.network.clone();
    let store = open_store(&cfg)?;
    if let Some(path) = &snapshot {
        let file = std::fs::File::open(path)
            .with_context(|| format!("opening the snapshot {}", path.display()))?;
        let started = std::time::Instant::now();
        let v = weft_snapshot::restore_full(store.as_ref(), BufReader::new(file), &cfg.genesis)
            .with_context(|| format!("restoring {}", path.display()))?;
        tracing::info!(
            index = v.latest.index,
            state_root = %v.state_root,
            entry_points = v.entry_points.len(),
            ms = started.elapsed().as_millis() as u64,
            "started from a full snapshot: certificate and state root checked"
        );
    }
    let node = Node::start_with_store(cfg, store).context("starting the node")?;
    if let Some(path) = &delta {
        let index = node
            .apply_delta(path)
            .await
            .with_context(|| format!("applying the delta {}", path.display()))?;
        tracing::info!(
            index,
            "delta snapshot applied: every milestone's roots checked"
        );
    }
    if node.issues_alone() {
        tracing::info!(
            "committee member: issuing a milestone every {} ms",
            node.config.milestone_interval_ms
        );
    } else if node.is_validator() {
        tracing::info!(
            members = node.config.genesis.committee.members().len(),
            "validator: proposing every {} ms and agreeing on milestones with the committee",
            node.config.milestone_interval_ms
        );
    } else if network.is_some() {
        tracing::info!("no committee key: this node follows the committee's certified milestones");
    } else {
        tracing::warn!("no committee key (set WEFT_VALIDATOR_KEY): this node stores blocks but issues no milestones");
    }
    let p2p = match &network {
        Some(settings) => Some(
            weft_node::p2p::start(node.clone(), settings)
                .await
                .context("starting the peer-to-peer network")?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(api)
        .await
        .with_context(|| format!("binding the API to {api}"))?;
    tracing::info!(
        "API on http://{api}/api/v1 (OpenAPI at /api/v1/openapi.json, metrics at /metrics)"
    );
    serve(node.clone(), listener, shutdown_signal()).await?;
    tracing::info!("shutting down");
    if let Some(p2p) = p2p {
        p2p.shutdown().await;
    }
    tokio::task::spawn_blocking(move || node.shutdown()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
