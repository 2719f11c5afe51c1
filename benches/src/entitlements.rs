//! `weft-bench entitlements`: confidential transfers, built, verified and confirmed.
//!
//! 1. **transfer_create_ms**, **transfer_verify_ms**: a household's payment with two
//!    input notes and two outputs (the shop's and the change) is built with
//!    `weft_entitlements::transfer` (one aggregated 64-bit Bulletproof over both
//!    outputs, the kernel signature, two spend signatures) and checked with
//!    `verify_transfer` (what the node does at admission), each timed alone on one
//!    thread; medians and 99th percentiles are reported.
//! 2. **transfers_confirmed_per_s**: `weft-node run --dev` as a child process; through
//!    its API the dev agency announces a value program and mints the notes (16 per
//!    mint), then the transfers (built beforehand, on every core) go to the node as
//!    anonymous blocks in `--lanes` chains. The rate is transfers over the time from
//!    the first submission to the poll of the program's audit that saw the last one
//!    applied; the node verifies each at admission and remembers the verdict, so the
//!    milestone does not verify it twice.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use serde_json::{json, Value};
use weft_client::Client;
use weft_entitlements::{mint, transfer, verify_transfer, OwnedNote, OwnerSecretKey, Recipient};
use weft_node::config::dev_key;
use weft_node::scenario::{one_round, Agency, Network};
use weft_types::notes::MAX_NOTE_OUTPUTS;
use weft_types::{
    AttributeDef, AttributeKind, Block, BlockBuilder, BlockId, Entitlement, Payload,
    PolicyCondition, PredicateOp, Program, Schema,
};

use crate::ledger::{default_node_bin, free_port, NodeProcess};

/// Arguments of `weft-bench entitlements`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Transfers built and verified alone (timings).
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Transfers sent to the node (throughput).
    #[arg(long, default_value_t = 1_000)]
    pub transfers: usize,
    /// Milestone interval of the node (ms).
    #[arg(long, default_value_t = 250)]
    pub milestone_interval_ms: u64,
    /// Submission lanes (concurrent HTTP connections).
    #[arg(long, default_value_t = 16)]
    pub lanes: usize,
    /// The node binary (default: `weft-node` next to this executable).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `count` notes of `amount` owned by fresh keys, as the wallet holds them (built
/// from a local mint; for the timings they need not be on a ledger).
fn local_notes(
    program: [u8; 32],
    count: usize,
    amount: u64,
    rng: &mut ChaCha20Rng,
) -> anyhow::Result<Vec<OwnedNote>> {
    let mut notes = Vec::with_capacity(count);
    while notes.len() < count {
        let n = (count - notes.len()).min(MAX_NOTE_OUTPUTS);
        let keys: Vec<OwnerSecretKey> = (0..n).map(|_| OwnerSecretKey::random(rng)).collect();
        let recipients: Vec<Recipient> = keys
            .iter()
            .map(|k| Recipient {
                owner: k.public_key(),
                amount,
            })
            .collect();
        let m = mint(program, &recipients, rng)?;
        for k in &keys {
            let note = m
                .outputs
                .iter()
                .find_map(|o| OwnedNote::decrypt(&program, o, k))
                .context("a minted output does not open")?;
            notes.push(note);
        }
    }
    Ok(notes)
}

/// A 2-input, 2-output payment of `pair`: 60% to a shop, the rest back as change.
fn payment(
    program: [u8; 32],
    pair: &[OwnedNote],
    seed: u64,
) -> anyhow::Result<weft_types::notes::Transfer> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let total: u64 = pair.iter().map(OwnedNote::amount).sum();
    let price = total * 3 / 5;
    Ok(transfer(
        program,
        pair,
        &[
            Recipient {
                owner: OwnerSecretKey::random(&mut rng).public_key(),
                amount: price,
            },
            Recipient {
                owner: OwnerSecretKey::random(&mut rng).public_key(),
                amount: total - price,
            },
        ],
        &mut rng,
    )?)
}

fn schema() -> Schema {
    Schema {
        name: "bench-cash-household".into(),
        version: "1.0".into(),
        attributes: vec![AttributeDef {
            name: "household_size".into(),
            kind: AttributeKind::Integer { bits: 8 },
        }],
    }
}

fn program(agency: &Agency) -> Program {
    Program {
        name: "bench cash".into(),
        schema: schema().id(),
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
            quantity: 5_000,
            unit: "USD cents".into(),
            tiers: Vec::new(),
        },
        points: Vec::new(),
        anonymous: false,
        value_notes: true,
        nonce: weft_node::core::now_ms(),
    }
}

/// Runs the bench and returns its report.
pub async fn run(args: Args) -> anyhow::Result<Value> {
    // 1. Build and verify, one thread, each timed alone.
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let scratch = [0x42; 32];
    let notes = local_notes(scratch, 2 * args.samples, 5_000, &mut rng)?;
    let mut create = Vec::with_capacity(args.samples);
    let mut verify = Vec::with_capacity(args.samples);
    let mut bytes = 0;
    for (i, pair) in notes.chunks(2).enumerate() {
        let t = Instant::now();
        let tx = payment(scratch, pair, i as u64)?;
        create.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        verify_transfer(&tx)?;
        verify.push(t.elapsed().as_secs_f64() * 1e3);
        bytes = tx.to_bytes().len();
    }
    create.sort_by(|a, b| a.total_cmp(b));
    verify.sort_by(|a, b| a.total_cmp(b));

    // 2. A dev node: program, mints, then the burst of transfers.
    let node_bin = match &args.node_bin {
        Some(p) => p.clone(),
        None => default_node_bin()?,
    };
    let dir = tempfile::Builder::new()
        .prefix("weft-bench-entitlements-")
        .tempdir()?;
    let port = free_port()?;
    let log = std::fs::File::create(dir.path().join("node.log"))?;
    let _node_process =
        NodeProcess::start_dev(&node_bin, dir.path(), port, args.milestone_interval_ms, log)?;
    let client = Client::new(format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(600);
    while !client.health().await.unwrap_or(false) {
        if Instant::now() > deadline {
            bail!("the node was not healthy within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let net = Network::connect(client.clone(), dev_key("authority")).await?;
    let agency = Agency::setup(&net, dev_key("organisation"), schema(), "bench-cash").await?;
    let program_id = agency.announce(&net, program(&agency)).await?;
    let pid = *program_id.bytes();

    // Mint 2 notes per transfer, 16 per mint block, built on every core.
    let needed = 2 * args.transfers;
    let mints: Vec<(weft_types::notes::Mint, Vec<OwnedNote>)> = (0..needed
        .div_ceil(MAX_NOTE_OUTPUTS))
        .into_par_iter()
        .map(|i| -> anyhow::Result<_> {
            let mut rng = ChaCha20Rng::seed_from_u64(1_000 + i as u64);
            let keys: Vec<OwnerSecretKey> = (0..MAX_NOTE_OUTPUTS)
                .map(|_| OwnerSecretKey::random(&mut rng))
                .collect();
            let recipients: Vec<Recipient> = keys
                .iter()
                .map(|k| Recipient {
                    owner: k.public_key(),
                    amount: 5_000,
                })
                .collect();
            let m = mint(pid, &recipients, &mut rng)?;
            let owned = keys
                .iter()
                .filter_map(|k| {
                    m.outputs
                        .iter()
                        .find_map(|o| OwnedNote::decrypt(&pid, o, k))
                })
                .collect();
            Ok((m, owned))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut mint_blocks = Vec::with_capacity(mints.len());
    let mut held = Vec::with_capacity(needed);
    for (m, owned) in mints {
        mint_blocks.push(net.signed(&agency.key, Payload::Mint(Box::new(m))).await?);
        held.extend(owned);
    }
    // Eight mints (about 3.6 KB each) per request, under the node's 64 KiB body limit.
    for chunk in mint_blocks.chunks(8) {
        for r in client.submit_many(chunk).await? {
            r?;
        }
    }
    for b in &mint_blocks {
        let meta = client
            .wait_confirmed(&b.id(), Duration::from_secs(300))
            .await?;
        ensure!(meta.ledger_outcome == "applied", "a mint was not applied");
    }

    // The payments, built on every core, then sent in lanes of chained blocks.
    let started_build = Instant::now();
    let payments: Vec<weft_types::notes::Transfer> = held
        .par_chunks(2)
        .take(args.transfers)
        .enumerate()
        .map(|(i, pair)| payment(pid, pair, 10_000 + i as u64))
        .collect::<anyhow::Result<_>>()?;
    let build_s = started_build.elapsed().as_secs_f64();
    let tips = client.tips(4).await?;
    let lanes = args.lanes.max(1);
    let mut lane_blocks: Vec<Vec<Block>> = vec![Vec::new(); lanes];
    let now = weft_node::core::now_ms();
    for (i, tx) in payments.into_iter().enumerate() {
        let lane = &mut lane_blocks[i % lanes];
        let parents: Vec<BlockId> = match lane.last() {
            Some(prev) => vec![prev.id()],
            None => tips.clone(),
        };
        let mut b = BlockBuilder::new(net.network, parents, now + i as u64)
            .payload(Payload::Transfer(Box::new(tx)))
            .anonymous();
        b.mine(0);
        lane.push(b);
    }
    let before = client.program_audit(&pid).await?["transfers"]
        .as_u64()
        .unwrap_or(0);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for blocks in lane_blocks {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            for chunk in blocks.chunks(16) {
                for r in c.submit_many(chunk).await? {
                    r?;
                }
            }
            Ok::<_, weft_client::ClientError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let submitted_s = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(600);
    let audit = loop {
        let a = client.program_audit(&pid).await?;
        let done = a["transfers"].as_u64().unwrap_or(0) - before;
        if done >= args.transfers as u64 || Instant::now() > deadline {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let confirm_s = started.elapsed().as_secs_f64();
    let applied = audit["transfers"].as_u64().unwrap_or(0) - before;
    ensure!(
        applied == args.transfers as u64,
        "the ledger applied {applied} of {} transfers",
        args.transfers
    );
    ensure!(
        audit["conservationOk"] == json!(true),
        "the audit failed after the burst: {}",
        audit["problem"]
    );
    Ok(json!({
        "transfer_create_ms": round3(percentile(&create, 0.50)),
        "transfer_create_p99_ms": round3(percentile(&create, 0.99)),
        "transfer_verify_ms": round3(percentile(&verify, 0.50)),
        "transfer_verify_p99_ms": round3(percentile(&verify, 0.99)),
        "transfer_bytes": bytes,
        "samples": args.samples,
        "transfers": args.transfers,
        "transfers_confirmed_per_s": (args.transfers as f64 / confirm_s).round(),
        "submit_s": round3(submitted_s),
        "confirm_s": round3(confirm_s),
        "build_s": round3(build_s),
        "conservation_ok": true,
        "lanes": lanes,
        "milestone_interval_ms": args.milestone_interval_ms,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }))
}

/// The human summary.
pub fn summary(r: &Value) -> String {
    format!(
        "transfer (2 in, 2 out, {} B): create p50 {} ms, verify p50 {} ms; ledger confirmed {} transfers/s ({} in {} s), conservation ok",
        r["transfer_bytes"],
        r["transfer_create_ms"],
        r["transfer_verify_ms"],
        r["transfers_confirmed_per_s"],
        r["transfers"],
        r["confirm_s"]
    )
}
