//! `weft-verifier`: the distribution point's command line.
//!
//! A thin shell over the library: `init` writes the configuration (the device key's
//! seed is a secret: `config.json` is mode 0600 and the seed is never printed),
//! `sync` downloads and checks a snapshot, `request` shows a presentation request,
//! `verify` decides on an answer offline and records it before printing ACCEPT,
//! `submit` sends the queue and reports double claims, `status` summarises the queue.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use weft_client::Client;
use weft_credentials::presentation::PresentationResponse;
use weft_types::{Did, ProgramId};
use weft_verifier::net::{submit, sync};
use weft_verifier::{
    now_ms, qr, ClaimState, Decision, PointConfig, Queue, RejectReason, Snapshot, Verifier,
};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(name = "weft-verifier", about = "Weft distribution point", version)]
struct Cli {
    /// Data directory (configuration, snapshot, queue).
    #[arg(long, global = true, default_value = "./weft-verifier-data")]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the configuration.
    Init {
        /// The point's DID (not needed with --dev).
        #[arg(long)]
        point: Option<Did>,
        /// Environment variable holding the device key's seed (64 hex digits);
        /// unset: a fresh random seed.
        #[arg(long, default_value = "WEFT_DEVICE_SEED")]
        device_seed_env: String,
        /// The dev network: the dev organisation is the point, the dev committee is
        /// trusted, blocks are signed with the (public) dev organisation key.
        #[arg(long)]
        dev: bool,
        /// Committee as JSON `{"threshold":N,"members":[...]}` (not with --dev).
        #[arg(long)]
        committee: Option<String>,
        /// Pin the verifying key's hash (hex); otherwise the first sync pins it.
        #[arg(long)]
        verifying_key_hash: Option<String>,
    },
    /// Downloads what the point needs offline and checks it.
    Sync {
        /// The node's API base URL.
        #[arg(long)]
        node: String,
        /// Also serve this program (its id, as the agency published it).
        #[arg(long)]
        program: Vec<ProgramId>,
    },
    /// Writes a sync file for holders' wallets (roots, whole chunks, programs) to carry
    /// to a camp with no connection (`weft-wallet sync --file`).
    SyncFile {
        /// The node's API base URL.
        #[arg(long)]
        node: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Shows a presentation request (JSON and QR).
    Request {
        /// The program.
        #[arg(long)]
        program: ProgramId,
        /// The round.
        #[arg(long)]
        round: u32,
        /// Also write the QR code as a PNG.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Print only the JSON.
        #[arg(long)]
        json: bool,
    },
    /// Decides on a holder's answer (JSON, binary or hex; a file, `-` for stdin, or a
    /// QR image).
    Verify {
        /// The answer's file (`-`: stdin).
        file: Option<PathBuf>,
        /// Read the answer from a QR code in this PNG.
        #[arg(long)]
        qr_image: Option<PathBuf>,
        /// Print the decision as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sends queued claims and reports conflicts.
    Submit {
        /// The node's API base URL.
        #[arg(long)]
        node: String,
        /// Seconds to wait for confirmations.
        #[arg(long, default_value_t = 30)]
        wait: u64,
        /// Pause between blocks (ms).
        #[arg(long, default_value_t = 0)]
        pace_ms: u64,
    },
    /// Summarises the queue.
    Status,
}

fn parse_seed(hex_text: &str) -> Result<Zeroizing<[u8; 32]>> {
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_text.trim(), seed.as_mut())
        .context("the device seed must be 64 hex digits")?;
    Ok(seed)
}

fn load(dir: &Path) -> Result<(PointConfig, Verifier)> {
    let config = PointConfig::load(dir)?;
    let snapshot = Snapshot::load(dir).context("no snapshot: run `weft-verifier sync` first")?;
    let verifier = Verifier::new(snapshot, &config).context("the snapshot is refused")?;
    Ok((config, verifier))
}

fn read_answer(file: Option<&Path>, qr_image: Option<&Path>) -> Result<PresentationResponse> {
    let bytes = match (file, qr_image) {
        (_, Some(img)) => {
            let png = std::fs::read(img).with_context(|| img.display().to_string())?;
            qr::decode_png(&png)?
        }
        (Some(p), None) if p != Path::new("-") => {
            std::fs::read(p).with_context(|| p.display().to_string())?
        }
        _ => {
            let mut b = Vec::new();
            std::io::stdin().read_to_end(&mut b)?;
            b
        }
    };
    let text = std::str::from_utf8(&bytes).ok().map(str::trim);
    Ok(match text {
        Some(t) if t.starts_with('{') => {
            PresentationResponse::from_json(&serde_json::from_str(t)?)?
        }
        Some(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            PresentationResponse::from_bytes(&hex::decode(t)?)?
        }
        _ => PresentationResponse::from_bytes(&bytes)?,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let dir = cli.dir;
    match cli.command {
        Command::Init {
            point,
            device_seed_env,
            dev,
            committee,
            verifying_key_hash,
        } => {
            std::fs::create_dir_all(&dir)?;
            if dir.join("config.json").exists() {
                bail!("{} is already initialised", dir.display());
            }
            let seed = match std::env::var(&device_seed_env) {
                Ok(s) => parse_seed(&Zeroizing::new(s))?,
                Err(_) => {
                    let mut s = Zeroizing::new([0u8; 32]);
                    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, s.as_mut());
                    s
                }
            };
            let mut config = PointConfig::dev(*seed);
            if !dev {
                config.point = point.context("--point is required without --dev")?;
                config.block_key_seed = None;
                let c = committee.context("--committee is required without --dev")?;
                config.committee = serde_json::from_str(&c).context("--committee")?;
            }
            config.verifying_key_hash = verifying_key_hash;
            config.save(&dir)?;
            println!("point      {}", config.point);
            println!("device key {}", config.device_public_key());
            println!("The accreditation authority must register this device key (a DeviceKey payload) before its claims confirm.");
            println!(
                "The device seed is stored in {} (mode 0600): keep this directory private.",
                dir.join("config.json").display()
            );
        }
        Command::Sync { node, program } => {
            let mut config = PointConfig::load(&dir)?;
            for p in program {
                if !config.programs.contains(&p) {
                    config.programs.push(p);
                }
            }
            let pinned = config.verifying_key_hash.is_some();
            let snapshot = sync(&Client::new(node), &mut config, now_ms()).await?;
            snapshot.save(&dir)?;
            config.save(&dir)?;
            if !pinned {
                println!(
                    "pinned verifying key hash {} (compare it with the network's published one)",
                    config.verifying_key_hash.clone().unwrap_or_default()
                );
            }
            println!(
                "synced: {} programs, {} registries, milestone {}",
                snapshot.programs.len(),
                snapshot.registries.len(),
                snapshot.milestone_index()
            );
            if snapshot.device_active != Some(true) {
                println!("warning: the ledger does not have this device key active for this point");
            }
        }
        Command::SyncFile { node, out } => {
            let (_, verifier) = load(&dir)?;
            let file = weft_verifier::net::holder_sync_file(&Client::new(node), &verifier).await?;
            std::fs::write(&out, serde_json::to_vec(&file)?)
                .with_context(|| out.display().to_string())?;
            println!(
                "wrote {}: {} registries, {} chunks, {} programs",
                out.display(),
                file["roots"].as_array().map_or(0, Vec::len),
                file["chunks"].as_array().map_or(0, Vec::len),
                file["programs"].as_array().map_or(0, Vec::len)
            );
        }
        Command::Request {
            program,
            round,
            png,
            json,
        } => {
            let (config, verifier) = load(&dir)?;
            let mut nonce = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
            let request = verifier
                .request(&config, &program, round, nonce, now_ms())
                .context("this point does not serve that program: sync --program ID")?;
            Queue::open(&dir)?.put_request(&request)?;
            println!("{}", serde_json::to_string_pretty(&request.to_json())?);
            if !json {
                println!("{}", qr::render_text(&request.to_bytes())?);
            }
            if let Some(path) = png {
                std::fs::write(&path, qr::render_png(&request.to_bytes())?)?;
            }
        }
        Command::Verify {
            file,
            qr_image,
            json,
        } => {
            let (config, verifier) = load(&dir)?;
            let queue = Queue::open(&dir)?;
            let decision = match read_answer(file.as_deref(), qr_image.as_deref()) {
                Err(e) => Decision::Reject {
                    reason: RejectReason::Tampered,
                    detail: e.to_string(),
                },
                Ok(response) => weft_verifier::decide(
                    &verifier,
                    &queue,
                    &config.device_key(),
                    &response,
                    now_ms(),
                )?,
            };
            match decision {
                Decision::Accept(a) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"decision": "accept", "quantity": a.quantity, "unit": a.unit})
                        );
                    } else {
                        println!("ACCEPT: hand over {} {}", a.quantity, a.unit);
                    }
                }
                Decision::Reject { reason, detail } => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"decision": "reject", "reason": reason.code(), "detail": detail})
                        );
                    } else {
                        println!("REJECT ({}): {}", reason.code(), reason.advice());
                    }
                    std::process::exit(2);
                }
            }
        }
        Command::Submit {
            node,
            wait,
            pace_ms,
        } => {
            let config = PointConfig::load(&dir)?;
            let queue = Queue::open(&dir)?;
            let report = submit(
                &Client::new(node),
                &config,
                &queue,
                Duration::from_secs(wait),
                Duration::from_millis(pace_ms),
            )
            .await?;
            println!(
                "sent {}, applied {}, pending {}, conflicting {}",
                report.sent,
                report.applied,
                report.pending,
                report.conflicts.len()
            );
            for c in &report.conflicts {
                match (&c.other_point, c.other_time) {
                    (Some(p), Some(t)) if c.reason == "nullifierUsed" => println!(
                        "double claim: program {} round {}: first at point {p} (t={t}), then here at {} (t={})",
                        c.program, c.round, c.point, c.time
                    ),
                    _ => println!(
                        "conflict {}: program {} round {}, accepted here at t={}",
                        c.reason, c.program, c.round, c.time
                    ),
                }
            }
        }
        Command::Status => {
            let queue = Queue::open(&dir)?;
            let (mut q, mut s, mut a, mut c) = (0, 0, 0, 0);
            for r in queue.records()? {
                match r.state {
                    ClaimState::Queued => q += 1,
                    ClaimState::Submitted { .. } => s += 1,
                    ClaimState::Confirmed { ref outcome, .. } if outcome == "applied" => a += 1,
                    ClaimState::Confirmed { .. } => c += 1,
                }
            }
            println!("queued {q}, submitted {s}, applied {a}, conflicting {c}");
        }
    }
    Ok(())
}
