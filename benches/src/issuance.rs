//! `weft-bench issuance`: bulk credential issuance through the HTTP API, measured the
//! way the agency's CLI does it.
//!
//! Starts `weft-node run --dev` as a child process, publishes a schema and creates a
//! registry as the dev organisation, then runs `weft_agency::issue::issue` (the code
//! behind `weft-agency issue`) on a generated enrolment CSV: per row, encode the
//! attributes, draw a salt, compute the leaf, submit chained `Issuance` blocks of 960
//! leaves in batches, wait for confirmation, check the leaves in the ledger's chunks,
//! sign the VC 2.0 document (eddsa-jcs-2022) and write it. `credentials_per_s` counts
//! credentials issued, anchored (confirmed) and written. It then resolves the agency's
//! DID many times over HTTP for the resolution latency percentiles.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use weft_agency::issue::{issue, IssueOptions};
use weft_agency::keystore::{KdfParams, Keystore};
use weft_agency::{csv, Node};
use weft_client::DidVersion;
use weft_types::{AttributeDef, AttributeKind, DidCreate, RegistryCreate, Schema};

use crate::ledger::{default_node_bin, free_port, NodeProcess};

/// Arguments of `weft-bench issuance`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Credentials to issue.
    #[arg(long, default_value_t = 100_000)]
    pub credentials: usize,
    /// Blocks of 960 leaves per round (one journal entry, one confirmation wait).
    #[arg(long, default_value_t = 32)]
    pub blocks_per_round: usize,
    /// DID resolutions to time.
    #[arg(long, default_value_t = 2_000)]
    pub resolutions: usize,
    /// Milestone interval of the node (ms).
    #[arg(long, default_value_t = 250)]
    pub milestone_interval_ms: u64,
    /// The node binary (default: `weft-node` next to this executable).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
}

fn schema() -> Schema {
    Schema {
        name: "household-registration".into(),
        version: "1.0".into(),
        attributes: vec![
            AttributeDef {
                name: "household_size".into(),
                kind: AttributeKind::Integer { bits: 8 },
            },
            AttributeDef {
                name: "region".into(),
                kind: AttributeKind::Enumeration {
                    values: vec!["north".into(), "south".into(), "east".into()],
                },
            },
            AttributeDef {
                name: "enrolled".into(),
                kind: AttributeKind::Date,
            },
            AttributeDef {
                name: "name".into(),
                kind: AttributeKind::StringHash,
            },
        ],
    }
}

fn enrolment_csv(n: usize) -> String {
    let mut s = String::with_capacity(n * 180);
    s.push_str("holder_commitment,household_commitment,household_size,region,enrolled,name\n");
    for i in 0..n as u64 {
        s.push_str(&format!(
            "0x{:064x},0x{:064x},{},{},2026-{:02}-{:02},Person {i}\n",
            2 * i + 1,
            2 * i + 2,
            1 + i % 12,
            ["north", "south", "east"][(i % 3) as usize],
            1 + i % 12,
            1 + i % 28
        ));
    }
    s
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Runs the bench and returns its report.
pub async fn run(args: Args) -> anyhow::Result<Value> {
    let node_bin = match &args.node_bin {
        Some(p) => p.clone(),
        None => default_node_bin()?,
    };
    let dir = tempfile::Builder::new()
        .prefix("weft-bench-issuance-")
        .tempdir()?;
    let port = free_port()?;
    let log = std::fs::File::create(dir.path().join("node.log"))?;
    let _node_process =
        NodeProcess::start_dev(&node_bin, dir.path(), port, args.milestone_interval_ms, log)?;
    let url = format!("http://127.0.0.1:{port}");
    // The dev genesis may take a while (eligibility keys); wait up to 10 minutes.
    let deadline = Instant::now() + Duration::from_secs(600);
    let node = loop {
        if let Ok(n) = Node::connect(&url).await {
            if n.client.health().await.unwrap_or(false) {
                break n;
            }
        }
        if Instant::now() > deadline {
            bail!("the node was not healthy within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let seed = weft_agency::dev_organisation_seed();
    let probe = Keystore::with_seed(&seed, None, KdfParams::TEST);
    let did = DidCreate::with_key(probe.first_key().context("key")?.public_key(), 0).did();
    let ks = Keystore::with_seed(&seed, Some(did), KdfParams::TEST);
    let signer = weft_agency::signer(&node, &ks).await?;
    let schema = schema();
    let schema_id = weft_agency::publish_schema(&node, &signer, schema.clone()).await?;
    let registry = weft_agency::create_registry(
        &node,
        &signer,
        RegistryCreate {
            schema: schema_id,
            depth: 24,
            chunk_bits: 10,
            label: "bench".into(),
        },
    )
    .await?;
    let text = enrolment_csv(args.credentials);
    let out = dir.path().join("credentials");

    let start = Instant::now();
    let (rows, errors) = csv::read(&text, &schema)?;
    if !errors.is_empty() {
        bail!("{} generated rows refused: {}", errors.len(), errors[0]);
    }
    let now = (weft_agency::now_ms() / 1000) as u32;
    let report = issue(
        &node,
        &signer,
        registry,
        &schema,
        rows,
        &out,
        &IssueOptions {
            issued_at: now,
            expiry: now + 365 * 86_400,
            blocks_per_round: args.blocks_per_round,
            progress: false,
            stop_after_submit: false,
        },
    )
    .await?;
    let elapsed = start.elapsed().as_secs_f64();
    let info = node.client.registry(&registry).await?;
    if info.issued != args.credentials as u64 || report.written != args.credentials {
        bail!(
            "issued {} leaves and {} documents for {} rows",
            info.issued,
            report.written,
            args.credentials
        );
    }

    let mut lat = Vec::with_capacity(args.resolutions);
    for _ in 0..args.resolutions {
        let t = Instant::now();
        let r = node.client.resolve_did(&did, &DidVersion::Latest).await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if r.version_id().is_none() {
            bail!("resolution without versionId");
        }
    }
    lat.sort_by(f64::total_cmp);
    Ok(json!({
        "suite": "issuance",
        "credentials": args.credentials,
        "blocks": report.blocks,
        "blocks_per_round": args.blocks_per_round,
        "seconds": round2(elapsed),
        "credentials_per_s": round2(args.credentials as f64 / elapsed),
        "did_resolutions": args.resolutions,
        "did_resolve_p50_ms": round2(percentile(&lat, 0.50) * 100.0) / 100.0,
        "did_resolve_p99_ms": round2(percentile(&lat, 0.99) * 100.0) / 100.0,
        "milestone_interval_ms": args.milestone_interval_ms,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }))
}

/// A human summary.
pub fn summary(r: &Value) -> String {
    format!(
        "issued {} credentials in {} s: {} credentials/s (anchored and signed); DID resolution p50 {} ms, p99 {} ms; {} cores",
        r["credentials"], r["seconds"], r["credentials_per_s"], r["did_resolve_p50_ms"],
        r["did_resolve_p99_ms"], r["cores"]
    )
}
