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
            runtime.block_on(run(cfg))
        }
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
    let node = Node::start(cfg).context("starting the node")?;
    if node.is_validator() {
        tracing::info!(
            "committee member: issuing a milestone every {} ms",
            node.config.milestone_interval_ms
        );
    } else {
        tracing::warn!("no committee key (set WEFT_VALIDATOR_KEY): this node stores blocks but issues no milestones");
    }
    let listener = tokio::net::TcpListener::bind(api)
        .await
        .with_context(|| format!("binding the API to {api}"))?;
    tracing::info!(
        "API on http://{api}/api/v1 (OpenAPI at /api/v1/openapi.json, metrics at /metrics)"
    );
    serve(node.clone(), listener, shutdown_signal()).await?;
    tracing::info!("shutting down");
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
