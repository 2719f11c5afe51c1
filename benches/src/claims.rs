//! `weft-bench claims`: the distribution point's offline decision and the ledger's
//! confirmation of claims, measured.
//!
//! Starts `weft-node run --dev` as a child process and sets up, through its API, what
//! `weft_node::scenario` sets up for the demo and the end-to-end tests: the dev agency
//! with a schema and a registry of `--claims` households, one distribution point with
//! its DID and device key, and a program every household qualifies for. Then:
//!
//! 1. **verify_record**: the point decides on each household's presentation with
//!    `weft_verifier::verify_and_record` (offline: request checks, the registry root
//!    among the proven recent roots, the Groth16 verification, the nullifier against
//!    the downloaded list and the local queue, then the claim signed by the device key
//!    and written to the sled queue and flushed). Each decision is timed alone.
//! 2. **claims_confirmed_per_s**: the signed claims go to the node as anonymous claim
//!    blocks in 16 lanes (each lane chains its own blocks), and the bench polls the
//!    round's count until the ledger has applied them all. The rate is claims over the
//!    time from the first submission to the poll that saw the last one applied; the
//!    node verifies each milestone's claims as one Groth16 batch.
//!
//! Proofs cost about a quarter of a second each, so the presentations are generated
//! once and cached in a fixture file next to the binary; the setup is deterministic
//! (seeded secrets and salts, fixed issuance time and rounds), so a later run rebuilds
//! the same registry root and program id and reuses the fixture. The point's decisions
//! are made at the request's time plus one second (what the counter's clock would
//! say), since cached requests are older than the point's ten-minute request lifetime.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use weft_circuits::HolderSecrets;
use weft_client::Client;
use weft_credentials::presentation::{PresentationRequest, PresentationResponse};
use weft_crypto::OrganisationKey;
use weft_node::config::dev_key;
use weft_node::scenario::{Agency, Holder, IssueRequest, Network, Point};
use weft_types::{
    AttributeDef, AttributeKind, Block, BlockBuilder, BlockId, Entitlement, Payload, Program,
    Round, Schema,
};
use weft_verifier::Decision;

use crate::ledger::{default_node_bin, free_port, NodeProcess};

/// Arguments of `weft-bench claims`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Households, each with one claim.
    #[arg(long, default_value_t = 2_000)]
    pub claims: usize,
    /// Milestone interval of the node (ms).
    #[arg(long, default_value_t = 250)]
    pub milestone_interval_ms: u64,
    /// Submission lanes (concurrent HTTP connections).
    #[arg(long, default_value_t = 16)]
    pub lanes: usize,
    /// The node binary (default: `weft-node` next to this executable).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// The presentations' cache (default: next to this executable).
    #[arg(long)]
    pub fixture: Option<PathBuf>,
}

/// Credentials' issuance time: 2026-01-01T00:00:00Z.
const ISSUED_AT: u32 = 1_767_225_600;
/// Credentials' expiry: 2031-01-01T00:00:00Z.
const EXPIRY: u32 = 1_924_992_000;
/// The round: from 2026-01-01 to 2036-01-01 (ms).
const ROUND: Round = Round {
    number: 1,
    opens: 1_767_225_600_000,
    closes: 2_082_758_400_000,
};

fn schema() -> Schema {
    Schema {
        name: "bench-household".into(),
        version: "1.0".into(),
        attributes: vec![AttributeDef {
            name: "household_size".into(),
            kind: AttributeKind::Integer { bits: 8 },
        }],
    }
}

fn program(agency: &Agency, point: &Point) -> anyhow::Result<Program> {
    let schema = schema();
    let policy = "household_size >= 1";
    let compiled = weft_credentials::policy::compile(policy, &schema)
        .map_err(|e| anyhow::anyhow!("policy: {e}"))?;
    Ok(Program {
        name: "bench parcels".into(),
        schema: schema.id(),
        issuers: vec![agency.did],
        policy_source: policy.into(),
        conditions: compiled.conditions,
        disclose: 0,
        issued_before: ISSUED_AT + 1,
        rounds: vec![ROUND],
        grace_ms: 3_600_000,
        entitlement: Entitlement {
            quantity: 1,
            unit: "parcel".into(),
            tiers: Vec::new(),
        },
        points: vec![point.config.point],
        anonymous: false,
        value_notes: false,
        nonce: 0,
    })
}

/// The cached presentations: the state they were made against, then each pair.
#[derive(serde::Serialize, serde::Deserialize)]
struct Fixture {
    program: String,
    root: String,
    pairs: Vec<(String, String)>,
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

/// Runs the bench and returns its report.
pub async fn run(args: Args) -> anyhow::Result<Value> {
    let node_bin = match &args.node_bin {
        Some(p) => p.clone(),
        None => default_node_bin()?,
    };
    let fixture_path = match &args.fixture {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary has no directory")?
            .join(format!("weft-bench-claims-{}.json", args.claims)),
    };
    let dir = tempfile::Builder::new()
        .prefix("weft-bench-claims-")
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

    // Deterministic set-up: the same registry root and program id on every run.
    let net = Network::connect(client.clone(), dev_key("authority")).await?;
    let mut agency = Agency::setup(&net, dev_key("organisation"), schema(), "bench").await?;
    agency.issued_at = Some(ISSUED_AT);
    let mut point = Point::create(
        &net,
        &dir.path().join("point"),
        OrganisationKey::from_seed(&[0x5A; 32]),
        [0x5B; 32],
    )
    .await?;
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut secrets = Vec::with_capacity(args.claims);
    let mut requests = Vec::with_capacity(args.claims);
    for i in 0..args.claims {
        let s = HolderSecrets::random(&mut rng);
        let mut attributes = serde_json::Map::new();
        attributes.insert("household_size".into(), json!(1 + i % 8));
        requests.push(IssueRequest {
            attributes,
            holder_commitment: s.holder_commitment(),
            household_commitment: s.household_commitment(),
            expiry: EXPIRY,
        });
        secrets.push(s);
    }
    let records = agency.issue(&net, requests, &mut rng).await?;
    let program_id = agency.announce(&net, program(&agency, &point)?).await?;
    point.sync(&client, &[program_id]).await?;
    let root = hex::encode(weft_crypto::poseidon::fr_to_bytes_be(&agency.tree.root()));

    // The presentations: from the fixture when it was made against this state.
    let cached = std::fs::read(&fixture_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Fixture>(&b).ok())
        .filter(|f| {
            f.program == program_id.to_string() && f.root == root && f.pairs.len() == args.claims
        });
    let fixture_reused = cached.is_some();
    let mut proving_s = 0.0;
    let pairs: Vec<(PresentationRequest, PresentationResponse)> = match cached {
        Some(f) => f
            .pairs
            .iter()
            .map(|(q, a)| -> anyhow::Result<_> {
                Ok((
                    PresentationRequest::from_bytes(&hex::decode(q)?)?,
                    PresentationResponse::from_bytes(&hex::decode(a)?)?,
                ))
            })
            .collect::<anyhow::Result<_>>()?,
        None => {
            let keys = weft_circuits::groth16::dev_keys()?;
            let started = Instant::now();
            let mut pairs = Vec::with_capacity(args.claims);
            for (s, r) in secrets.into_iter().zip(&records) {
                let holder = Holder {
                    secrets: s,
                    credential: r.credential.clone(),
                    index: r.index,
                };
                let request = point.request(&program_id, 1, &mut rng)?;
                let response = holder.respond(
                    keys,
                    agency.registry,
                    &agency.tree,
                    &request,
                    true,
                    &mut rng,
                )?;
                pairs.push((request, response));
            }
            proving_s = started.elapsed().as_secs_f64();
            let f = Fixture {
                program: program_id.to_string(),
                root: root.clone(),
                pairs: pairs
                    .iter()
                    .map(|(q, a)| (hex::encode(q.to_bytes()), hex::encode(a.to_bytes())))
                    .collect(),
            };
            std::fs::write(&fixture_path, serde_json::to_vec(&f)?)?;
            pairs
        }
    };

    // 1. The point: verify and record each presentation, timed alone.
    let verifier = point.verifier.as_ref().context("the point did not sync")?;
    let device = point.config.device_key();
    let mut times = Vec::with_capacity(pairs.len());
    for (request, response) in &pairs {
        point.queue.put_request(request)?;
        let t = Instant::now();
        let decision = weft_verifier::verify_and_record(
            verifier,
            &point.queue,
            &device,
            request,
            response,
            request.time + 1_000,
        )?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if let Decision::Reject { reason, detail } = decision {
            bail!(
                "the point refused a presentation ({}): {detail}",
                reason.code()
            );
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));

    // 2. The node: every signed claim in an anonymous block, 16 lanes of chains.
    let claims: Vec<weft_types::Claim> = point
        .queue
        .records()?
        .into_iter()
        .map(|r| r.claim)
        .collect();
    ensure!(claims.len() == args.claims, "the queue lost claims");
    let tips = client.tips(4).await?;
    let lanes = args.lanes.max(1);
    let mut lane_blocks: Vec<Vec<Block>> = vec![Vec::new(); lanes];
    let now = weft_node::core::now_ms();
    for (i, claim) in claims.into_iter().enumerate() {
        let lane = &mut lane_blocks[i % lanes];
        let parents: Vec<BlockId> = match lane.last() {
            Some(prev) => vec![prev.id()],
            None => tips.clone(),
        };
        let mut b = BlockBuilder::new(net.network, parents, now + i as u64)
            .payload(Payload::Claim(Box::new(claim)))
            .anonymous();
        b.mine(0);
        lane.push(b);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for blocks in lane_blocks {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            for chunk in blocks.chunks(32) {
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
    let (applied, doubles) = loop {
        let r = client.round_report(&program_id, 1).await?;
        let applied = r["claims"].as_u64().unwrap_or(0);
        let doubles = r["doubleClaims"].as_u64().unwrap_or(0);
        if applied + doubles >= args.claims as u64 || Instant::now() > deadline {
            break (applied, doubles);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let confirm_s = started.elapsed().as_secs_f64();
    ensure!(
        applied == args.claims as u64,
        "the ledger applied {applied} of {} claims ({doubles} double)",
        args.claims
    );
    Ok(json!({
        "claims": args.claims,
        "verify_record_p50_ms": round3(percentile(&sorted, 0.50)),
        "verify_record_p99_ms": round3(percentile(&sorted, 0.99)),
        "verify_record_mean_ms": round3(times.iter().sum::<f64>() / times.len().max(1) as f64),
        "verify_record_max_ms": round3(sorted.last().copied().unwrap_or(0.0)),
        "claims_confirmed_per_s": (args.claims as f64 / confirm_s).round(),
        "claims_applied": applied,
        "submit_s": round3(submitted_s),
        "confirm_s": round3(confirm_s),
        "lanes": lanes,
        "milestone_interval_ms": args.milestone_interval_ms,
        "fixture_reused": fixture_reused,
        "proving_s": round3(proving_s),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }))
}

/// The human summary.
pub fn summary(r: &Value) -> String {
    format!(
        "claims {}: verify+record p50 {} ms, p99 {} ms; ledger confirmed {} claims/s ({} s)",
        r["claims"],
        r["verify_record_p50_ms"],
        r["verify_record_p99_ms"],
        r["claims_confirmed_per_s"],
        r["confirm_s"]
    )
}
