//! `weft-verifier`: the distribution point's command line.
//!
//! A thin shell over the library: `init` writes the configuration (the device key's
//! seed is a secret: `config.json` is mode 0600 and the seed is never printed),
//! `sync` downloads and checks a snapshot, `request` shows a presentation request,
//! `verify` decides on an answer offline and records it before printing ACCEPT,
//! `submit` sends the queue and reports double claims, `status` summarises the queue.
//! `shop …` is the point as a shop of a value program: payment requests, payments
//! received, balance, redemption (`weft_verifier::shop`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use weft_client::Client;
use weft_credentials::presentation::PresentationResponse;
use weft_types::{Did, ProgramId};
use weft_verifier::net::{submit, sync};
use weft_verifier::shop::{default_payee, deliver, Outcome, Refusal, ShopError, ShopStore};
use weft_verifier::{
    now_ms, qr, ClaimState, Decision, PointConfig, Queue, RejectReason, Snapshot, Verifier,
};
use weft_wallet::payment::Payment;
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
    /// The shop of a value program: payment requests, payments received, balance,
    /// redemption.
    Shop {
        #[command(subcommand)]
        command: ShopCommand,
    },
}

#[derive(Subcommand)]
enum ShopCommand {
    /// Shows a payment request (JSON and QR) to a fresh one-time key of the shop.
    Request {
        /// The value program.
        #[arg(long)]
        program: ProgramId,
        /// The amount, in the program's unit (1 ..= 2^64 - 1).
        #[arg(long)]
        amount: String,
        /// Minutes the request stays valid.
        #[arg(long, default_value_t = 15)]
        ttl_minutes: u64,
        /// Also write the QR code as a PNG.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Print only the JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reads a household's payment (a file, `-` for stdin, or a PNG of its QR code),
    /// checks it, submits it and prints PAID or REFUSED with the reason.
    Receive {
        /// The payment (`weft-wallet pay` output).
        file: PathBuf,
        /// The node's API base URL.
        #[arg(long)]
        node: String,
        /// Seconds to wait for the confirmation.
        #[arg(long, default_value_t = 30)]
        wait: u64,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The notes the shop holds, per program.
    Balance {
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Redeems held notes with the agency for a public amount, signed by the point's
    /// organisation key.
    Redeem {
        /// The value program.
        #[arg(long)]
        program: ProgramId,
        /// The amount.
        #[arg(long)]
        amount: String,
        /// Whom the agency pays: 64 hex digits (an account reference agreed with the
        /// agency); default: the point's organisation key.
        #[arg(long)]
        payee: Option<String>,
        /// The node's API base URL.
        #[arg(long)]
        node: String,
        /// Seconds to wait for the confirmation.
        #[arg(long, default_value_t = 30)]
        wait: u64,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The unit of `program` from the snapshot (`None` if the point does not serve it).
fn unit_of(verifier: &Verifier, program: &ProgramId) -> Option<String> {
    verifier
        .program(program)
        .map(|p| p.program.entitlement.unit.clone())
}

fn amount_arg(text: &str) -> Result<u64> {
    Ok(weft_wallet::payment::parse_amount(text)?)
}

fn read_bytes(file: &Path) -> Result<Vec<u8>> {
    if file == Path::new("-") {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b)?;
        return Ok(b);
    }
    std::fs::read(file).with_context(|| file.display().to_string())
}

fn print_outcome(outcome: &Outcome, json: bool, what: &str, paid: &str) -> bool {
    match outcome {
        Outcome::Applied(m) => {
            if json {
                println!("{}", serde_json::json!({"outcome": what, "milestone": m}));
            } else {
                println!("{paid} (confirmed at milestone {m})");
            }
            true
        }
        Outcome::Refused(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"outcome": "refused", "reason": r.code, "detail": r.detail})
                );
            } else {
                println!("REFUSED ({}): {}", r.code, r.detail);
            }
            false
        }
        Outcome::Pending => {
            if json {
                println!("{}", serde_json::json!({"outcome": "pending"}));
            } else {
                println!("PENDING: sent, not confirmed yet; run the command again to check");
            }
            false
        }
    }
}

async fn shop(dir: &Path, command: ShopCommand) -> Result<()> {
    match command {
        ShopCommand::Request {
            program,
            amount,
            ttl_minutes,
            png,
            json,
        } => {
            let amount = amount_arg(&amount)?;
            let (config, verifier) = load(dir)?;
            let entry = verifier
                .program(&program)
                .context("this point does not serve that program: sync --program ID")?;
            if !entry.program.value_notes {
                bail!("program {program} pays in kind, not in value notes: it takes no payments");
            }
            let mut store = ShopStore::open(dir)?;
            let request = store.new_request(
                &config,
                program,
                amount,
                now_ms(),
                ttl_minutes.saturating_mul(60_000),
                &mut rand::rngs::OsRng,
            )?;
            println!("{}", serde_json::to_string_pretty(&request.to_json())?);
            if !json {
                eprintln!(
                    "Payment request: {amount} {} of \"{}\". Show this QR code to the household:",
                    entry.program.entitlement.unit, entry.program.name
                );
                println!("{}", qr::render_text(&request.to_bytes())?);
            }
            if let Some(path) = png {
                std::fs::write(&path, qr::render_png(&request.to_bytes())?)?;
            }
        }
        ShopCommand::Receive {
            file,
            node,
            wait,
            json,
        } => {
            let config = PointConfig::load(dir)?;
            let mut store = ShopStore::open(dir)?;
            let bytes = read_bytes(&file)?;
            let bytes = if bytes.starts_with(b"\x89PNG") {
                qr::decode_png(&bytes)?
            } else {
                bytes
            };
            let checked = Payment::read(&bytes)
                .map_err(|e| Refusal {
                    code: "malformedPayment".into(),
                    detail: e.to_string(),
                })
                .and_then(|p| store.check_payment(&p, now_ms()).map(|c| (p, c)));
            let (outcome, amount) = match checked {
                Err(r) => (Outcome::Refused(r), 0),
                Ok((payment, checked)) => {
                    let outcome = deliver(
                        &Client::new(node),
                        &config,
                        &mut store,
                        &checked,
                        &payment,
                        Duration::from_secs(wait),
                    )
                    .await?;
                    (outcome, checked.request.amount)
                }
            };
            if !print_outcome(&outcome, json, "paid", &format!("PAID: {amount} received")) {
                std::process::exit(2);
            }
        }
        ShopCommand::Balance { json } => {
            let store = ShopStore::open(dir)?;
            let verifier = load(dir).ok().map(|(_, v)| v);
            let balances = store.balances();
            if json {
                println!("{}", serde_json::to_string_pretty(&balances)?);
            } else {
                if balances.is_empty() {
                    println!("No notes held.");
                }
                for b in balances {
                    let unit = verifier
                        .as_ref()
                        .and_then(|v| unit_of(v, &b.program))
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default();
                    println!(
                        "program {}: {}{unit} in {} note(s); {}{unit} being redeemed; {}{unit} redeemed",
                        b.program, b.total, b.notes, b.redeeming, b.redeemed
                    );
                }
            }
        }
        ShopCommand::Redeem {
            program,
            amount,
            payee,
            node,
            wait,
            json,
        } => {
            let amount = amount_arg(&amount)?;
            let config = PointConfig::load(dir)?;
            let payee = match payee {
                Some(h) => {
                    let mut p = [0u8; 32];
                    hex::decode_to_slice(h.trim().trim_start_matches("0x"), &mut p)
                        .context("--payee must be 64 hex digits")?;
                    p
                }
                None => default_payee(&config).ok_or(ShopError::NoBlockKey)?,
            };
            let mut store = ShopStore::open(dir)?;
            let outcome = weft_verifier::shop::redeem(
                &Client::new(node),
                &config,
                &mut store,
                program,
                amount,
                payee,
                Duration::from_secs(wait),
                &mut rand::rngs::OsRng,
            )
            .await?;
            let paid = format!(
                "REDEEMED: {amount} of program {program}; the agency pays it to {}",
                hex::encode(payee)
            );
            if !print_outcome(&outcome, json, "redeemed", &paid) {
                std::process::exit(2);
            }
        }
    }
    Ok(())
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
                            serde_json::json!({"decision": "accept", "quantity": a.quantity, "unit": a.unit, "paidAsValue": a.paid_as_value()})
                        );
                    } else if a.paid_as_value() {
                        println!(
                            "ACCEPT: {} {} is paid as value to the household's wallet when this point submits its claims (nothing to hand over)",
                            a.quantity, a.unit
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
        Command::Shop { command } => shop(&dir, command).await?,
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
