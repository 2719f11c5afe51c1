//! `weft-bench`: Weft's JSON-reporting bench harness.
//!
//! Each suite is a subcommand that prints one JSON object with `--json` (and a short
//! human summary without). Later issues add their own suites next to `ledger`.

#![recursion_limit = "256"]

mod claims;
mod entitlements;
mod issuance;
mod ledger;
mod network;
mod zk;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "weft-bench", version, about = "Weft bench harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a dev node, drive it with signed tagged-data blocks over the HTTP API and
    /// measure confirmation throughput and latency.
    Ledger(ledger::Args),
    /// Start a local committee of validator processes (`weft-node testnet`, AlephBFT
    /// agreement) and measure the network-wide confirmation rate and finality latency.
    Network(network::Args),
    /// Start a dev node and issue credentials in bulk through the HTTP API as
    /// `weft-agency issue` does (encode, commit, anchor, sign); time DID resolution.
    Issuance(issuance::Args),
    /// Start a dev node; time a distribution point's offline verify-and-record per
    /// presentation, and the node's confirmation rate of claims (batched proofs).
    Claims(claims::Args),
    /// Confidential transfers: build and verify times (2 inputs, 2 outputs), and a dev
    /// node's confirmation rate of transfers.
    Entitlements(entitlements::Args),
    /// Eligibility-proof measurements: constraints, setup, proving (1 and 2 threads),
    /// verification, batch verification, Poseidon, registry build, presentation size.
    Zk {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// A smoke run (one proof per thread count, a 2^16-leaf registry).
        #[arg(long)]
        quick: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Ledger(args) => {
            let json = args.json;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(ledger::run(args))?;
            print_report(&report, json, ledger::summary)
        }
        Command::Network(args) => {
            let json = args.json;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(network::run(args))?;
            print_report(&report, json, network::summary)
        }
        Command::Issuance(args) => {
            let json = args.json;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(issuance::run(args))?;
            print_report(&report, json, issuance::summary)
        }
        Command::Claims(args) => {
            let json = args.json;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(claims::run(args))?;
            print_report(&report, json, claims::summary)
        }
        Command::Entitlements(args) => {
            let json = args.json;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(entitlements::run(args))?;
            print_report(&report, json, entitlements::summary)
        }
        Command::Zk { json, quick } => {
            let report = if quick { zk::run_quick()? } else { zk::run()? };
            print_report(&report, json, |r| {
                serde_json::to_string_pretty(r).unwrap_or_default()
            })
        }
    }
}

fn print_report(
    report: &serde_json::Value,
    json: bool,
    summary: fn(&serde_json::Value) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("{}", summary(report));
    }
    Ok(())
}
