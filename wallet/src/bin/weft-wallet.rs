//! `weft-wallet`: the holder's wallet on the command line, over an encrypted file.
//!
//! It drives the `weft_wallet` library with the file storage, the OS's randomness and
//! clock, and the terminal. PINs come from `WEFT_WALLET_PIN` (and
//! `WEFT_WALLET_DURESS_PIN`) or from standard input, one per line (not echoed when it is
//! a terminal); a phrase to restore from `WEFT_WALLET_PHRASE` or standard input.
//! Secrets are never printed, except the phrase by `phrase --show` and the household key
//! by `household export`, both on explicit request.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rand::rngs::OsRng;
use weft_wallet::file::FileStorage;
use weft_wallet::import::{IssuerEvidence, RegistryEvidence};
use weft_wallet::model::{fr_hex, StoredCredential};
use weft_wallet::notes::{ScannedContent, ScannedMilestone, ScannedNote};
use weft_wallet::wallet::now_ms;
use weft_wallet::{
    qr, read_request, KdfParams, Payment, PaymentRequest, RecoveryPhrase, SyncBundle, Wallet,
    WalletError,
};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "weft-wallet",
    version,
    about = "The holder's wallet: keys, credentials, registry sync and eligibility proofs"
)]
struct Cli {
    /// The wallet file.
    #[arg(long, global = true, default_value = "weft-wallet.bin")]
    wallet: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new wallet (new recovery phrase) and print the enrolment commitments.
    Init(CreateArgs),
    /// Re-create a wallet from its recovery phrase (WEFT_WALLET_PHRASE or stdin).
    Restore(CreateArgs),
    /// Print the commitments a registration station needs (JSON, CSV, QR).
    Enrol {
        /// Also write the QR code as a PNG image.
        #[arg(long)]
        png: Option<PathBuf>,
    },
    /// Show the recovery phrase (secret: write it on paper, show no one).
    Phrase {
        /// Required: confirms that the phrase may be shown.
        #[arg(long)]
        show: bool,
    },
    /// Hand the household key to another member's wallet, or receive it.
    Household {
        #[command(subcommand)]
        command: HouseholdCommand,
    },
    /// List, show or import credentials.
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
    },
    /// Refresh registry roots and credential paths from a sync file or a node.
    Sync {
        /// A sync file carried by a distribution point (JSON).
        #[arg(long, conflicts_with = "node", required_unless_present = "node")]
        file: Option<PathBuf>,
        /// A node's API (http://host:port): the chunks holding the wallet's leaves.
        #[arg(long)]
        node: Option<String>,
        /// log2 of the node's chunk size.
        #[arg(long, default_value_t = 10)]
        chunk_bits: u8,
    },
    /// Answer a distribution point's presentation request with an eligibility proof.
    Prove {
        /// The request (`weft-verifier request`): its JSON, its binary form (raw or hex),
        /// or a PNG image of its QR code.
        #[arg(long)]
        request: PathBuf,
        /// The proving key (`weft-zk setup` writes proving_key.bin).
        #[arg(long, env = "WEFT_PROVING_KEY")]
        proving_key: PathBuf,
        /// Use this credential (an id from `credentials list`).
        #[arg(long)]
        credential: Option<String>,
        /// Also write the response's QR code as a PNG image.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Print only the response's JSON (no terminal QR code), e.g. for a file the
        /// point reads with `weft-verifier verify FILE`.
        #[arg(long)]
        json: bool,
        /// Consent without asking (scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Value notes (a value program's entitlements and change).
    Notes {
        #[command(subcommand)]
        command: NotesCommand,
    },
    /// The value this wallet holds, per program.
    Balance {
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pay a shop's payment request (`weft-verifier shop request`): prints the payment
    /// for the shop to read (JSON and QR), or submits it with --node.
    Pay {
        /// The request: its JSON, its binary form (raw or hex), or a PNG of its QR code.
        request: PathBuf,
        /// Also write the payment's QR code as a PNG image.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Print only JSON (no terminal QR code).
        #[arg(long)]
        json: bool,
        /// Submit the payment to this node (an anonymous block with the node's proof of
        /// work) and wait for the ledger's answer, instead of handing it to the shop.
        #[arg(long)]
        node: Option<String>,
        /// Pay without asking (scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Set or replace the duress PIN (it opens an empty decoy wallet).
    Duress,
    /// Measure unlock, chunk sync and proving (a throw-away wallet in memory).
    Bench {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Runs per measurement (medians are reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// A proving key (default: development keys made on the spot).
        #[arg(long)]
        proving_key: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct CreateArgs {
    /// Also set a duress PIN (WEFT_WALLET_DURESS_PIN or stdin).
    #[arg(long)]
    duress: bool,
    /// Also write the enrolment QR code as a PNG image.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Tests only: a cheap Argon2id cost that makes the PIN easy to guess.
    #[arg(long, hide = true)]
    insecure_test_kdf: bool,
}

#[derive(Subcommand)]
enum HouseholdCommand {
    /// Show the household key as a QR code for another member's wallet (secret).
    Export {
        /// Confirms that the household key may be shown.
        #[arg(long)]
        yes: bool,
        /// Write the QR code as a PNG image instead of the terminal.
        #[arg(long)]
        png: Option<PathBuf>,
    },
    /// Adopt the household key from another member's code (text file or PNG of the QR).
    Import {
        /// The code: a text file with its JSON, or a PNG image of the QR code.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum NotesCommand {
    /// Scan the milestones since the last scan for notes to this wallet's keys and for
    /// spends of its notes. Every milestone's notes are downloaded (the node never
    /// learns which ones the wallet looks for).
    Sync {
        /// The node's API (http://host:port).
        #[arg(long)]
        node: String,
    },
}

#[derive(Subcommand)]
enum CredentialsCommand {
    /// List stored credentials.
    List,
    /// Show one credential's attributes.
    Show {
        /// Its id (from `list`).
        id: String,
    },
    /// Import the signed credential document (W3C VC 2.0) the agency issued, after
    /// checking the issuer's signature, that it was issued to this wallet, and, with
    /// --node, the issuer on the ledger and the leaf in its registry chunk.
    Import {
        /// The document (JSON).
        #[arg(required_unless_present = "qr_image", conflicts_with = "qr_image")]
        file: Option<PathBuf>,
        /// A PNG image of the document's QR code instead of a file.
        #[arg(long)]
        qr_image: Option<PathBuf>,
        /// A node's API (http://host:port): resolve the issuer's DID at issuance, check
        /// its accreditation and the registry chunk holding the credential.
        #[arg(long)]
        node: Option<String>,
        /// Without --node: the issuer's DID document, or a DID resolution result
        /// (`GET /api/v1/identifiers/{did}`, the demo's issuer-did.json).
        #[arg(long, conflicts_with = "node")]
        did_document: Option<PathBuf>,
        /// Without --node: the schema the document names (its JSON, or the node's
        /// `GET /api/v1/schemas/{id}` answer).
        #[arg(long, conflicts_with = "node")]
        schema: Option<PathBuf>,
    },
}

/// Reads secrets: the environment first, then stdin lines (prompting on a terminal).
struct Input {
    lines: Option<std::io::Lines<std::io::StdinLock<'static>>>,
}

impl Input {
    fn new() -> Self {
        Input { lines: None }
    }

    fn secret(&mut self, env: &str, prompt: &str) -> Result<Zeroizing<String>> {
        if let Ok(v) = std::env::var(env) {
            return Ok(Zeroizing::new(v));
        }
        let tty = std::io::stdin().is_terminal();
        if tty {
            eprint!("{prompt}: ");
            let _ = std::io::stderr().flush();
            echo(false);
        }
        let lines = self
            .lines
            .get_or_insert_with(|| std::io::stdin().lock().lines());
        let line = lines.next();
        if tty {
            echo(true);
            eprintln!();
        }
        match line {
            Some(Ok(l)) => Ok(Zeroizing::new(l.trim_end_matches(['\r', '\n']).to_string())),
            Some(Err(e)) => Err(e).context("cannot read standard input"),
            None => bail!("{prompt}: nothing on standard input (or set {env})"),
        }
    }
}

/// Turns terminal echo off or on (best effort; only for a terminal on stdin).
fn echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status();
}

fn open(path: &Path, input: &mut Input) -> Result<Wallet<FileStorage>> {
    let pin = input.secret("WEFT_WALLET_PIN", "PIN")?;
    loop {
        match Wallet::unlock(FileStorage::new(path), &pin, now_ms()) {
            Err(WalletError::RetryLater { retry_after_ms }) => {
                eprintln!(
                    "Too many wrong PINs: waiting {:.1} s before trying.",
                    retry_after_ms as f64 / 1000.0
                );
                std::thread::sleep(std::time::Duration::from_millis(retry_after_ms));
            }
            Err(e @ WalletError::NoWallet) => {
                return Err(e).with_context(|| format!("{}", path.display()))
            }
            other => return other.with_context(|| format!("cannot open {}", path.display())),
        }
    }
}

fn print_enrolment(w: &Wallet<FileStorage>, png: Option<&Path>) -> Result<()> {
    let e = w.enrolment();
    let json = e.to_json();
    println!("Enrolment (give these to the registration station; they are not secret):");
    println!("{json}");
    println!();
    println!("{}", e.to_csv());
    println!();
    print!("{}", qr::terminal(json.as_bytes())?);
    if let Some(p) = png {
        write_file(p, &qr::png(json.as_bytes(), 8)?)?;
        println!("QR code written to {}", p.display());
    }
    Ok(())
}

fn write_file(p: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
}

/// A file's content, or the content of the QR code in it when it is a PNG image.
fn read_input(p: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    if bytes.starts_with(b"\x89PNG") {
        return qr::read_png(&bytes).with_context(|| format!("{}", p.display()));
    }
    Ok(bytes)
}

fn create(cli: &Cli, args: &CreateArgs, restore: bool) -> Result<()> {
    let mut input = Input::new();
    if cli.wallet.exists() {
        bail!(
            "{} already exists; a wallet is never overwritten",
            cli.wallet.display()
        );
    }
    let phrase = if restore {
        let words = input.secret("WEFT_WALLET_PHRASE", "Recovery phrase (24 words)")?;
        RecoveryPhrase::parse(&words)?
    } else {
        RecoveryPhrase::generate(&mut OsRng)?
    };
    let pin = input.secret("WEFT_WALLET_PIN", "New PIN")?;
    if std::env::var("WEFT_WALLET_PIN").is_err() {
        let again = input.secret("WEFT_WALLET_PIN", "New PIN again")?;
        if *again != *pin {
            bail!("the two PINs differ; nothing was created");
        }
    }
    let duress = if args.duress {
        let d = input.secret("WEFT_WALLET_DURESS_PIN", "Duress PIN")?;
        if std::env::var("WEFT_WALLET_DURESS_PIN").is_err() {
            let again = input.secret("WEFT_WALLET_DURESS_PIN", "Duress PIN again")?;
            if *again != *d {
                bail!("the two duress PINs differ; nothing was created");
            }
        }
        Some(d)
    } else {
        None
    };
    let kdf = if args.insecure_test_kdf {
        eprintln!("warning: insecure test key derivation; this wallet's PIN is easy to guess");
        KdfParams::INSECURE_TEST
    } else {
        KdfParams::RECOMMENDED
    };
    let w = Wallet::create(
        FileStorage::new(&cli.wallet),
        phrase,
        &pin,
        duress.as_ref().map(|d| d.as_str()),
        kdf,
        &mut OsRng,
    )?;
    if restore {
        println!(
            "Wallet restored from the recovery phrase: {}",
            cli.wallet.display()
        );
        println!(
            "If your household key came from another member, import it again: \
             `weft-wallet household import FILE`."
        );
    } else {
        println!("Wallet created: {}", cli.wallet.display());
        println!(
            "Write down your recovery phrase now (`weft-wallet phrase --show`): \
             it is the only way back if this phone is lost."
        );
    }
    print_enrolment(&w, args.png.as_deref())
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<()> {
    let mut input = Input::new();
    match &cli.command {
        Command::Init(a) => create(cli, a, false),
        Command::Restore(a) => create(cli, a, true),
        Command::Enrol { png } => {
            let w = open(&cli.wallet, &mut input)?;
            print_enrolment(&w, png.as_deref())
        }
        Command::Phrase { show } => {
            if !show {
                bail!("the recovery phrase is secret: pass --show to display it");
            }
            let w = open(&cli.wallet, &mut input)?;
            eprintln!("Your recovery phrase. Write it on paper; never show it to anyone:");
            println!("{}", w.phrase().words().as_str());
            Ok(())
        }
        Command::Household { command } => match command {
            HouseholdCommand::Export { yes, png } => {
                if !yes {
                    bail!(
                        "the household key lets its holder claim for your household: \
                         pass --yes to show it, and show it only to a member of your household"
                    );
                }
                let w = open(&cli.wallet, &mut input)?;
                let code = w.export_household().encode();
                eprintln!(
                    "Household key: scan this only with the wallet of a member of your household."
                );
                match png {
                    Some(p) => {
                        write_file(p, &qr::png(code.as_bytes(), 8)?)?;
                        println!("Household QR code written to {}", p.display());
                    }
                    None => print!("{}", qr::terminal(code.as_bytes())?),
                }
                Ok(())
            }
            HouseholdCommand::Import { file } => {
                let code = Zeroizing::new(read_input(file)?);
                let text = std::str::from_utf8(&code).context("the code is not text")?;
                let mut w = open(&cli.wallet, &mut input)?;
                w.import_household(text, &mut OsRng)?;
                println!("Household key adopted. Your new enrolment:");
                print_enrolment(&w, None)
            }
        },
        Command::Credentials { command } => match command {
            CredentialsCommand::List => {
                let w = open(&cli.wallet, &mut input)?;
                if w.credentials().is_empty() {
                    println!("No credentials.");
                }
                for c in w.credentials() {
                    let state = if c.revoked {
                        "REVOKED".to_string()
                    } else if let Some(p) = &c.path {
                        format!("synced at milestone {}", p.milestone)
                    } else {
                        "not synced".to_string()
                    };
                    println!(
                        "{}  issuer {}  expires {}  {state}",
                        c.id(),
                        c.issuer,
                        c.expiry
                    );
                }
                Ok(())
            }
            CredentialsCommand::Show { id } => {
                let w = open(&cli.wallet, &mut input)?;
                let c = w.credential(id)?;
                println!("id:        {}", c.id());
                println!("issuer:    {}", c.issuer);
                println!("registry:  {} (leaf {})", c.registry, c.leaf_index);
                println!("schema:    {}", fr_hex(&c.schema.0));
                println!("issued at: {}  expires: {}", c.issued_at, c.expiry);
                let named = c.attribute_names.len().max(
                    c.attributes
                        .iter()
                        .rposition(|a| a.0 != Default::default())
                        .map_or(0, |j| j + 1),
                );
                for j in 0..named {
                    println!("  {}: {}", c.attribute_name(j), c.attribute_text(j));
                }
                if c.revoked {
                    println!("REVOKED by its issuer");
                }
                Ok(())
            }
            CredentialsCommand::Import {
                file,
                qr_image,
                node,
                did_document,
                schema,
            } => {
                let (bytes, from) = match (file, qr_image) {
                    (_, Some(img)) => (read_input(img)?, img),
                    (Some(f), None) => (read_input(f)?, f),
                    (None, None) => bail!("pass the document FILE or --qr-image PNG"),
                };
                let doc: serde_json::Value = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not a JSON document", from.display()))?;
                let evidence = match (node, did_document, schema) {
                    (Some(url), _, _) => node_evidence(url, &doc)?,
                    (None, Some(did), Some(schema)) => {
                        IssuerEvidence::offline(read_json(did)?, read_schema(schema)?)
                    }
                    _ => bail!(
                        "pass --node URL, or --did-document FILE and --schema FILE to check the document offline"
                    ),
                };
                let mut w = open(&cli.wallet, &mut input)?;
                let id = w.import_document(&doc, &evidence, &mut OsRng)?;
                let synced = w.credential(&id)?.path.is_some();
                if synced {
                    println!("Credential {id} stored and synced: its leaf is in the registry.");
                } else {
                    println!("Credential {id} stored. Sync its registry before using it.");
                }
                Ok(())
            }
        },
        Command::Sync {
            file,
            node,
            chunk_bits,
        } => {
            let mut w = open(&cli.wallet, &mut input)?;
            let bundle = match (file, node) {
                (Some(file), _) => {
                    let bytes = std::fs::read(file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    SyncBundle::from_json(&bytes)?
                }
                (None, Some(node)) => fetch_chunks(node, *chunk_bits, w.credentials())?,
                (None, None) => bail!("pass --file FILE or --node URL"),
            };
            let r = w.sync(&bundle, &mut OsRng)?;
            println!(
                "Synced: {} registry root(s) updated, {} credential path(s) refreshed, {} program(s), {} issuer(s) known.",
                r.roots_updated,
                r.refreshed.len(),
                r.programs,
                r.issuers
            );
            for id in &r.revoked {
                println!("Credential {id} has been REVOKED by its issuer.");
            }
            Ok(())
        }
        Command::Prove {
            request,
            proving_key,
            credential,
            png,
            json,
            yes,
        } => {
            let bytes = std::fs::read(request)
                .with_context(|| format!("cannot read {}", request.display()))?;
            let req = read_request(&bytes).with_context(|| format!("{}", request.display()))?;
            let mut w = open(&cli.wallet, &mut input)?;
            let consent = w.describe(&req, credential.as_deref())?;
            eprintln!("{}", consent.text);
            if !yes {
                let answer = input.secret("WEFT_WALLET_CONSENT", "Make this proof? (yes/no)")?;
                if !answer.trim().eq_ignore_ascii_case("yes")
                    && !answer.trim().eq_ignore_ascii_case("y")
                {
                    bail!("not consented; nothing was proved");
                }
            }
            let pk = std::fs::read(proving_key)
                .with_context(|| format!("cannot read {}", proving_key.display()))?;
            let keys = weft_circuits::Keys::from_proving_key_bytes(&pk)
                .context("the proving key is not valid")?;
            let response = w.answer(
                &keys,
                &req,
                Some(&consent.credential_id),
                now_ms(),
                &mut OsRng,
            )?;
            if response.entitlement_key.is_some() {
                eprintln!(
                    "The entitlement will be paid to a new one-time key kept in this wallet: \
                     run `weft-wallet notes sync --node URL` after the point has submitted its claims."
                );
            }
            let bytes = response.to_bytes();
            println!("{}", serde_json::to_string_pretty(&response.to_json())?);
            if !json {
                eprintln!("Show this QR code to the distribution point:");
                print!("{}", qr::terminal(&bytes)?);
            }
            if let Some(path) = png {
                write_file(path, &qr::png(&bytes, 6)?)?;
                eprintln!("Response QR code written to {}", path.display());
            }
            Ok(())
        }
        Command::Bench {
            json,
            runs,
            proving_key,
        } => {
            let pk = match proving_key {
                Some(p) => {
                    Some(std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?)
                }
                None => None,
            };
            let r = weft_wallet::measure::run(KdfParams::RECOMMENDED, pk.as_deref(), *runs)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "unlock {:.0} ms (Argon2id m={} KiB, t={}, p={}), sync one chunk {:.1} ms, \
                     load keys {:.0} ms, prove end to end {:.0} ms ({} threads, depth {}), \
                     presentation {} bytes",
                    r.unlock_ms,
                    r.argon2_m_kib,
                    r.argon2_t,
                    r.argon2_p,
                    r.sync_chunk_ms,
                    r.load_keys_ms,
                    r.prove_end_to_end_ms,
                    r.threads,
                    r.depth,
                    r.presentation_bytes
                );
            }
            Ok(())
        }
        Command::Notes {
            command: NotesCommand::Sync { node },
        } => {
            let mut w = open(&cli.wallet, &mut input)?;
            notes_sync(node, &mut w)?;
            print_balance(&w, false)
        }
        Command::Balance { json } => {
            let w = open(&cli.wallet, &mut input)?;
            print_balance(&w, *json)
        }
        Command::Pay {
            request,
            png,
            json,
            node,
            yes,
        } => {
            let bytes = std::fs::read(request)
                .with_context(|| format!("cannot read {}", request.display()))?;
            let req =
                PaymentRequest::read(&bytes).with_context(|| format!("{}", request.display()))?;
            let mut w = open(&cli.wallet, &mut input)?;
            let label = w.value().labels.get(&req.program).cloned();
            let (name, unit) = label
                .map(|l| (format!("\"{}\"", l.name), format!(" {}", l.unit)))
                .unwrap_or_else(|| (format!("program {}", req.program), String::new()));
            eprintln!(
                "Pay {}{unit} of {name} to the shop {}.",
                req.amount, req.shop
            );
            if !yes {
                let answer = input.secret("WEFT_WALLET_CONSENT", "Pay? (yes/no)")?;
                if !answer.trim().eq_ignore_ascii_case("yes")
                    && !answer.trim().eq_ignore_ascii_case("y")
                {
                    bail!("not paid");
                }
            }
            let payment = w.pay(&req, now_ms(), &mut OsRng)?;
            let bytes = payment.to_bytes();
            if let Some(path) = png {
                write_file(path, &qr::png(&bytes, 4)?)?;
                eprintln!("Payment QR code written to {}", path.display());
            }
            match node {
                Some(url) => submit_payment(url, &mut w, &payment, *json),
                None => {
                    println!("{}", serde_json::to_string_pretty(&payment.to_json())?);
                    if !json {
                        eprintln!("Show this QR code to the shop:");
                        match qr::terminal(&bytes) {
                            Ok(code) => print!("{code}"),
                            Err(e) => {
                                eprintln!("(no QR code: {e}; hand the shop the JSON instead)")
                            }
                        }
                    }
                    Ok(())
                }
            }
        }
        Command::Duress => {
            let mut w = open(&cli.wallet, &mut input)?;
            let d = input.secret("WEFT_WALLET_DURESS_PIN", "Duress PIN")?;
            w.set_duress_pin(&d, &mut OsRng)?;
            println!("Duress PIN set: it opens an empty wallet.");
            Ok(())
        }
    }
}

/// The chunks that hold the wallet's leaves, one request per chunk (never per leaf).
fn fetch_chunks(node: &str, k: u8, creds: &[StoredCredential]) -> Result<SyncBundle> {
    if k > weft_wallet::sync::MAX_K {
        bail!("--chunk-bits above {}", weft_wallet::sync::MAX_K);
    }
    let mut wanted: Vec<(weft_wallet::RegistryId, u64)> = creds
        .iter()
        .filter(|c| !c.revoked)
        .map(|c| (c.registry, c.leaf_index >> k))
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut bundle = SyncBundle::new();
    for (registry, index) in wanted {
        let url = format!(
            "{}/api/v1/registries/{registry}/chunks/{index}",
            node.trim_end_matches('/')
        );
        let body = http_get(&url)?;
        let chunk = weft_wallet::ChunkResponse::from_json(&body)
            .with_context(|| format!("answer of {url}"))?;
        if chunk.k != k || chunk.index != index || chunk.registry != registry {
            bail!(
                "the node answered chunk {} of 2^{} leaves of registry {}; pass --chunk-bits {}",
                chunk.index,
                chunk.k,
                chunk.registry,
                chunk.k
            );
        }
        bundle.chunks.push(chunk);
    }
    Ok(bundle)
}

/// A plain HTTP/1.0 GET (the node's API on a local or camp network; no TLS).
fn http_get(url: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let rest = url
        .strip_prefix("http://")
        .context("only http:// node URLs are supported")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s =
        std::net::TcpStream::connect(host).with_context(|| format!("cannot reach {host}"))?;
    let timeout = Some(std::time::Duration::from_secs(30));
    s.set_read_timeout(timeout)?;
    s.set_write_timeout(timeout)?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    s.take(32 * 1024 * 1024)
        .read_to_end(&mut raw)
        .with_context(|| format!("reading {url}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("malformed HTTP answer")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .context("malformed HTTP status line")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("the node answered with chunked encoding to an HTTP/1.0 request");
    }
    if status != 200 {
        bail!(
            "{url}: HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    Ok(body)
}

fn read_json(p: &Path) -> Result<serde_json::Value> {
    let bytes = read_input(p)?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", p.display()))
}

/// A schema file: the schema's JSON, or the node's answer that wraps it in `schema`.
fn read_schema(p: &Path) -> Result<weft_types::Schema> {
    let mut v = read_json(p)?;
    if let Some(inner) = v.get_mut("schema").filter(|s| s.is_object()) {
        v = inner.take();
    }
    serde_json::from_value(v).with_context(|| format!("{} is not a schema", p.display()))
}

/// Gathers from a node what [`Wallet::import_document`] checks a document against:
/// the issuer's DID resolved at issuance and now, its accreditation, the schema, the
/// registry's owner and size, and the whole chunk holding the credential (never its
/// single-leaf path).
fn node_evidence(url: &str, doc: &serde_json::Value) -> Result<IssuerEvidence> {
    use weft_client::{Client, ClientError, DidVersion};
    use weft_wallet::import;
    let issuer = import::issuer(doc)?;
    let schema_id = import::schema_id(doc)?;
    let (registry, index) = import::status(doc)?;
    let valid_from = import::valid_from(doc)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the network runtime")?;
    let client = Client::new(url.trim_end_matches('/'));
    let not_found = |e: &ClientError| matches!(e, ClientError::Api { status: 404, .. });
    rt.block_on(async {
        let at_issuance = match client
            .resolve_did(&issuer, &DidVersion::Time(valid_from.clone()))
            .await
        {
            Err(e) if not_found(&e) => {
                return Err(WalletError::UnknownIssuer(format!(
                    "{issuer} is not on the ledger (or had no DID document at {valid_from})"
                ))
                .into())
            }
            other => other.with_context(|| format!("resolving {issuer} at {valid_from}"))?,
        };
        let now = client
            .resolve_did(&issuer, &DidVersion::Latest)
            .await
            .with_context(|| format!("resolving {issuer}"))?;
        let accredited = match client.organisation(&issuer).await {
            Ok(o) => o.roles.iter().any(|r| r == "issuer") && !o.deactivated,
            Err(e) if not_found(&e) => false,
            Err(e) => {
                return Err(anyhow::Error::from(e).context("reading the issuer's accreditation"))
            }
        };
        let schema = client
            .schema(&schema_id)
            .await
            .with_context(|| format!("fetching schema {}", schema_id.to_hex()))?
            .schema;
        let info = client
            .registry(&registry)
            .await
            .with_context(|| format!("fetching registry {}", registry.to_hex()))?;
        let k = info.chunk_bits;
        let chunk = client
            .chunk(&registry, index.checked_shr(u32::from(k)).unwrap_or(0))
            .await
            .with_context(|| format!("fetching the chunk of registry {}", registry.to_hex()))?;
        Ok(IssuerEvidence {
            did_document: at_issuance.did_document,
            deactivated: now.deactivated(),
            schema,
            registry: Some(RegistryEvidence {
                issuer: info.issuer,
                schema: info.schema,
                accredited,
                chunk: chunk.chunk,
                root: chunk.root,
                size: info.issued,
                milestone: chunk.milestone,
            }),
        })
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}

/// A milestone's notes as the node lists them, in the wallet's terms.
fn scanned(m: weft_client::MilestoneNotes) -> ScannedMilestone {
    ScannedMilestone {
        index: m.milestone,
        created: m
            .created
            .into_iter()
            .map(|c| {
                let content = match (c.kind.as_str(), c.output(), c.claim_amount()) {
                    ("output", Some(o), _) => ScannedContent::Output(o),
                    ("claim", _, Some(amount)) => ScannedContent::Claim { amount },
                    _ => ScannedContent::Other,
                };
                ScannedNote {
                    program: c.program,
                    id: c.note,
                    owner: c.owner,
                    content,
                }
            })
            .collect(),
        spent: m.spent.into_iter().map(|s| (s.program, s.note)).collect(),
    }
}

/// Milestones fetched at once.
const SCAN_PARALLEL: u32 = 16;
/// Milestones applied (and the wallet saved) at once.
const SCAN_SAVE_EVERY: usize = 2_000;

/// `notes sync`: every milestone since the last scan, all of its notes.
fn notes_sync(node: &str, w: &mut Wallet<FileStorage>) -> Result<()> {
    let rt = runtime()?;
    let client = weft_client::Client::new(node.trim_end_matches('/'));
    let from = w.value().scanned + 1;
    let latest = match rt.block_on(client.latest_milestone()) {
        Ok(m) => m.index,
        Err(weft_client::ClientError::Api { status: 404, .. }) => 0,
        Err(e) => return Err(e).context("asking the node for its latest milestone"),
    };
    if latest < from {
        println!("Notes up to date (milestone {}).", latest.max(from - 1));
        return Ok(());
    }
    let mut batch: Vec<ScannedMilestone> = Vec::new();
    let mut received = Vec::new();
    let mut spent = 0;
    let mut start = from;
    while start <= latest {
        let end = latest.min(start + SCAN_PARALLEL - 1);
        let fetched = rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for i in start..=end {
                let c = client.clone();
                set.spawn(async move { (i, c.milestone_notes(i).await) });
            }
            let mut out = Vec::new();
            while let Some(r) = set.join_next().await {
                let (i, notes) = r.context("a download task failed")?;
                out.push(notes.with_context(|| format!("notes of milestone {i}"))?);
            }
            anyhow::Ok(out)
        })?;
        let mut fetched: Vec<ScannedMilestone> = fetched.into_iter().map(scanned).collect();
        fetched.sort_by_key(|m| m.index);
        batch.extend(fetched);
        if batch.len() >= SCAN_SAVE_EVERY || end == latest {
            let r = w.scan_notes(&batch, &mut OsRng)?;
            received.extend(r.received);
            spent += r.spent;
            batch.clear();
        }
        start = end + 1;
    }
    println!(
        "Scanned milestones {from}..{latest}: {} note(s) received, {spent} of yours seen spent.",
        received.len()
    );
    for (program, amount) in received {
        let unit = w
            .value()
            .labels
            .get(&program)
            .map(|l| format!(" {}", l.unit))
            .unwrap_or_default();
        println!("  received {amount}{unit} (program {program})");
    }
    Ok(())
}

fn print_balance(w: &Wallet<FileStorage>, json: bool) -> Result<()> {
    let balances = w.balances(now_ms());
    if json {
        let list: Vec<serde_json::Value> = balances
            .iter()
            .map(|b| {
                serde_json::json!({
                    "program": b.program,
                    "name": b.label.as_ref().map(|l| l.name.clone()),
                    "unit": b.label.as_ref().map(|l| l.unit.clone()),
                    "available": b.available.to_string(),
                    "notes": b.notes,
                    "pendingOut": b.pending_out.to_string(),
                    "pendingNotes": b.pending_notes,
                    "awaitingClaims": b.awaiting_claims,
                    "spentNotes": b.spent,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "scannedTo": w.value().scanned,
                "programs": list,
            }))?
        );
        return Ok(());
    }
    if balances.is_empty() {
        println!("No value held (answer a value program's request first).");
    }
    for b in &balances {
        let (name, unit) = match &b.label {
            Some(l) => (format!("\"{}\"", l.name), format!(" {}", l.unit)),
            None => (String::from("program"), String::new()),
        };
        println!(
            "{name} ({}): {}{unit} available in {} note(s); {}{unit} pending in {} note(s) of unconfirmed payments; {} claim(s) awaiting; {} note(s) spent",
            b.program, b.available, b.notes, b.pending_out, b.pending_notes, b.awaiting_claims, b.spent
        );
    }
    println!("(notes scanned up to milestone {})", w.value().scanned);
    Ok(())
}

/// `pay --node`: the payment in an anonymous block with the node's proof of work; waits
/// for the ledger's answer. A refusal gives the notes back.
fn submit_payment(
    url: &str,
    w: &mut Wallet<FileStorage>,
    payment: &Payment,
    json: bool,
) -> Result<()> {
    use weft_client::{Client, ClientError, LedgerOutcome};
    use weft_types::{BlockBuilder, NetworkId, Payload};
    let rt = runtime()?;
    let client = Client::new(url.trim_end_matches('/'));
    let outcome: std::result::Result<u32, (String, String)> = rt.block_on(async {
        let info = client.info().await?;
        let network = info["networkId"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| info["networkId"].as_u64())
            .context("the node's info has no networkId")?;
        let difficulty = info["powDifficulty"].as_u64().unwrap_or(0) as u32;
        let tips = client.tips(4).await?;
        let mut block = BlockBuilder::new(NetworkId(network), tips, now_ms())
            .payload(Payload::Transfer(Box::new(payment.transfer.clone())))
            .anonymous();
        block.mine(difficulty);
        match client.submit(&block).await {
            Ok(_) => {}
            Err(ClientError::Api {
                status: 400,
                code,
                message,
            }) => return anyhow::Ok(Err((code, message))),
            Err(e) => return Err(e.into()),
        }
        Ok(
            match client
                .wait_outcome(&block.id(), std::time::Duration::from_secs(60))
                .await?
            {
                LedgerOutcome::Applied { milestone } => Ok(milestone),
                LedgerOutcome::Conflicting {
                    reason,
                    description,
                    ..
                } => Err((reason, description)),
            },
        )
    })?;
    match outcome {
        Ok(milestone) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"outcome": "paid", "milestone": milestone, "payment": payment.to_json()})
                );
            } else {
                println!("PAID: confirmed at milestone {milestone}. Run `weft-wallet notes sync` to see your change.");
            }
            Ok(())
        }
        Err((code, message)) => {
            w.release_payment(&payment.nonce, &mut OsRng)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"outcome": "refused", "reason": code, "detail": message})
                );
            } else {
                println!("REFUSED ({code}): {message}");
                println!(
                    "Nothing was paid. Run `weft-wallet notes sync --node URL` and try again."
                );
            }
            std::process::exit(2);
        }
    }
}
