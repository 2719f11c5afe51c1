//! `weft-node`: run a node, or run the end-to-end demo.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use weft_node::{serve, Node, NodeConfig};

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
        /// Single-node dev network with well-known (insecure) keys, no configuration.
        #[arg(long, conflicts_with = "config")]
        dev: bool,
        /// TOML configuration for a real deployment.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (dev mode; overrides the config file's).
        #[arg(long)]
        data_dir: Option<PathBuf>,
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Run {
            dev,
            config,
            data_dir,
            api,
            milestone_interval_ms,
            p2p_listen,
            no_network,
        } => {
            init_logging("info");
            let mut cfg = match (dev, config) {
                (true, _) => NodeConfig::dev(
                    PathBuf::from("./weft-data"),
                    SocketAddr::from(([127, 0, 0, 1], 7070)),
                ),
                (false, Some(path)) => NodeConfig::from_file(&path)?,
                (false, None) => anyhow::bail!("give --dev for a dev network or --config FILE"),
            };
            if let Some(d) = data_dir {
                cfg.data_dir = d;
            }
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
            runtime.block_on(run(cfg))
        }
        Command::Testnet {
            nodes,
            validators,
            unit_delay_ms,
            dir,
            api_port,
            p2p_port,
            milestone_interval_ms,
        } => {
            let options = weft_node::p2p::testnet::TestnetOptions {
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

async fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    let api = cfg.api;
    if cfg.dev {
        tracing::warn!("dev network: committee and organisation keys are public, well-known seeds; never put real data here");
    }
    tracing::info!(network = %cfg.genesis.network_name, data_dir = %cfg.data_dir.display(), "starting node");
    let network = cfg.network.clone();
    let node = Node::start(cfg).context("starting the node")?;
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
