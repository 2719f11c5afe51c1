//! `weft-agency`: the tools an aid agency uses against a Weft node — its encrypted
//! keystore and DID, schemas, registries, bulk issuance from CSV, revocation and aid
//! programs.
//!
//! A thin command line over the `weft_agency` library: argument parsing, the
//! passphrase, and printing. On `weft-node run --dev`, `keystore init --dev` imports
//! the dev network's accredited organisation key so every command works at once.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use weft_agency::keystore::{KdfParams, Keystore};
use weft_agency::program::{self, AnnounceOutcome, ProgramDefinition};
use weft_agency::{csv, issue, Node};
use weft_client::Client;
use weft_types::identity::purpose;
use weft_types::{
    Did, DidCreate, DidKey, DidOperation, DidService, ProgramId, RegistryCreate, RegistryId,
    Schema, SchemaId,
};
use zeroize::Zeroizing;

/// Environment variable holding the keystore passphrase.
const PASSPHRASE_ENV: &str = "WEFT_AGENCY_PASSPHRASE";

#[derive(Parser)]
#[command(
    name = "weft-agency",
    version,
    about = "An aid agency's tools for Weft"
)]
struct Cli {
    /// The node's API.
    #[arg(long, global = true, default_value = "http://127.0.0.1:7070")]
    node: String,
    /// The keystore file.
    #[arg(long, global = true, default_value = "agency-keystore.json")]
    keystore: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The encrypted keystore.
    Keystore {
        #[command(subcommand)]
        command: KeystoreCommand,
    },
    /// The agency's DID.
    Did {
        #[command(subcommand)]
        command: DidCommand,
    },
    /// Credential schemas.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Credential registries.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Issues one credential per CSV row; resumable (journal in --out).
    Issue {
        /// The registry.
        #[arg(long)]
        registry: RegistryId,
        /// The enrolment CSV.
        #[arg(long)]
        csv: PathBuf,
        /// Where the credential documents (`<line>.json`) and the journal go.
        #[arg(long)]
        out: PathBuf,
        /// Expiry: `YYYY-MM-DD` or RFC 3339 (default: one year from now).
        #[arg(long)]
        valid_until: Option<String>,
        /// Blocks of 960 leaves per round.
        #[arg(long, default_value_t = 16)]
        blocks_per_round: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Revokes credentials (zeroes their leaves).
    Revoke {
        /// The registry (with --index).
        #[arg(long)]
        registry: Option<RegistryId>,
        /// Leaf positions.
        #[arg(long)]
        index: Vec<u64>,
        /// A credential document (its credentialStatus names registry and index).
        #[arg(long)]
        credential: Option<PathBuf>,
    },
    /// Lists the revoked positions of a registry.
    Revoked {
        /// The registry.
        #[arg(long)]
        registry: RegistryId,
    },
    /// Aid programs: check a definition, announce it, show one with its counts.
    Program {
        #[command(subcommand)]
        command: ProgramCommand,
    },
}

#[derive(Subcommand)]
enum ProgramCommand {
    /// Checks a program definition (TOML or JSON) and prints it in plain words with the
    /// id it will have. Needs no node when the definition names a schema file.
    Check {
        /// The definition file.
        file: PathBuf,
        /// The announcing agency's DID (default: the keystore's, which asks for the
        /// passphrase).
        #[arg(long)]
        owner: Option<Did>,
    },
    /// Announces the program signed by the agency, waits for its milestone, and prints
    /// its id and the outcome.
    Announce {
        /// The definition file.
        file: PathBuf,
    },
    /// Shows a program (`GET /api/v1/programs/{id}`) and its rounds' counts.
    Show {
        /// The program id.
        id: ProgramId,
        /// The node's JSON (the program record and the round reports).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeystoreCommand {
    /// Creates the keystore with a fresh key (or the dev organisation's with --dev).
    Init {
        /// Import the dev network's well-known organisation key (dev networks only).
        #[arg(long)]
        dev: bool,
        /// Overwrite an existing keystore.
        #[arg(long)]
        force: bool,
    },
    /// Shows the DID and public keys.
    Show,
}

#[derive(Subcommand)]
enum DidCommand {
    /// Creates the agency's DID with the keystore's key.
    Create {
        /// Nonce (to create a new DID with the same key after a deactivation).
        #[arg(long, default_value_t = 0)]
        nonce: u64,
    },
    /// Rotates keys, adds keys and services.
    Update {
        /// Rotates this key (fragment) to a fresh key.
        #[arg(long)]
        rotate: Option<String>,
        /// Adds a fresh key under this fragment.
        #[arg(long)]
        add_key: Option<String>,
        /// Adds a service: `ID,TYPE,URL`.
        #[arg(long)]
        add_service: Option<String>,
        /// Removes a service by id.
        #[arg(long)]
        remove_service: Option<String>,
    },
    /// Prints the DID Resolution result.
    Show,
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Publishes a schema (JSON) and prints its id.
    Publish {
        /// The schema file.
        file: PathBuf,
    },
    /// Prints a published schema.
    Show {
        /// The schema id.
        id: SchemaId,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Creates a registry and prints its id.
    Create {
        /// The schema id.
        #[arg(long)]
        schema: SchemaId,
        /// A label.
        #[arg(long, default_value = "")]
        label: String,
        /// Tree depth.
        #[arg(long, default_value_t = 24)]
        depth: u8,
        /// Chunk size exponent.
        #[arg(long, default_value_t = 10)]
        chunk_bits: u8,
    },
    /// Lists the agency's registries with their counts and roots.
    List {
        /// Every issuer's registries.
        #[arg(long)]
        all: bool,
    },
}

fn passphrase(confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(p));
    }
    let read = |prompt: &str| -> anyhow::Result<Zeroizing<String>> {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let mut line = Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(Zeroizing::new(
            line.trim_end_matches(['\r', '\n']).to_string(),
        ))
    };
    let p = read("Keystore passphrase: ")?;
    if confirm && *read("Again: ")? != *p {
        bail!("the passphrases differ");
    }
    if p.is_empty() {
        bail!("empty passphrase");
    }
    Ok(p)
}

fn open(path: &Path) -> anyhow::Result<Keystore> {
    let p = passphrase(false)?;
    Keystore::open(path, p.as_bytes()).map_err(Into::into)
}

fn unix_seconds(s: &str) -> anyhow::Result<u32> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    let secs = weft_credentials::datetime::unix_seconds_from_rfc3339(&full)
        .with_context(|| format!("--valid-until {s:?}: YYYY-MM-DD or RFC 3339"))?;
    u32::try_from(secs).context("--valid-until after 2106")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Keystore { command } => keystore(&cli.keystore, command),
        Command::Did { command } => did(&cli.node, &cli.keystore, command).await,
        Command::Schema { command } => {
            let node = Node::connect(&cli.node).await?;
            match command {
                SchemaCommand::Publish { file } => {
                    let schema: Schema = serde_json::from_slice(
                        &std::fs::read(&file).with_context(|| file.display().to_string())?,
                    )
                    .with_context(|| format!("{}: not a schema", file.display()))?;
                    let ks = open(&cli.keystore)?;
                    let signer = weft_agency::signer(&node, &ks).await?;
                    let id = weft_agency::publish_schema(&node, &signer, schema).await?;
                    println!("{id}");
                }
                SchemaCommand::Show { id } => {
                    let s = node.client.schema(&id).await?;
                    println!("{}", serde_json::to_string_pretty(&s.schema)?);
                }
            }
            Ok(())
        }
        Command::Registry { command } => {
            let node = Node::connect(&cli.node).await?;
            match command {
                RegistryCommand::Create {
                    schema,
                    label,
                    depth,
                    chunk_bits,
                } => {
                    let ks = open(&cli.keystore)?;
                    let signer = weft_agency::signer(&node, &ks).await?;
                    let id = weft_agency::create_registry(
                        &node,
                        &signer,
                        RegistryCreate {
                            schema,
                            depth,
                            chunk_bits,
                            label,
                        },
                    )
                    .await?;
                    println!("{id}");
                }
                RegistryCommand::List { all } => {
                    let issuer = if all { None } else { open(&cli.keystore)?.did };
                    println!("registry                                                           issued  revoked  root");
                    for r in node.client.registries(issuer.as_ref()).await? {
                        println!(
                            "{} {:>7} {:>8}  {}  {}",
                            r.id, r.issued, r.revoked, r.root, r.label
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Issue {
            registry,
            csv: csv_path,
            out,
            valid_until,
            blocks_per_round,
            quiet,
        } => {
            let node = Node::connect(&cli.node).await?;
            let ks = open(&cli.keystore)?;
            let signer = weft_agency::signer(&node, &ks).await?;
            let info = node.client.registry(&registry).await?;
            let schema = node.client.schema(&info.schema).await?.schema;
            let text = std::fs::read_to_string(&csv_path)
                .with_context(|| csv_path.display().to_string())?;
            let (rows, errors) = csv::read(&text, &schema)?;
            for e in &errors {
                eprintln!("{e}");
            }
            let now = (weft_agency::now_ms() / 1000) as u32;
            let expiry = match valid_until {
                Some(s) => unix_seconds(&s)?,
                None => now.saturating_add(365 * 86_400),
            };
            let good = rows.len();
            let report = issue::issue(
                &node,
                &signer,
                registry,
                &schema,
                rows,
                &out,
                &issue::IssueOptions {
                    issued_at: now,
                    expiry,
                    blocks_per_round,
                    progress: !quiet,
                    stop_after_submit: false,
                },
            )
            .await?;
            println!(
                "{good} good rows, {} refused; {} credentials written ({} already there), {} blocks",
                errors.len(),
                report.written,
                report.already,
                report.blocks
            );
            Ok(())
        }
        Command::Revoke {
            registry,
            index,
            credential,
        } => {
            let node = Node::connect(&cli.node).await?;
            let (registry, indices) = match (credential, registry) {
                (Some(file), _) => {
                    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file)?)?;
                    let status = &doc["credentialStatus"];
                    let registry: RegistryId = status["registry"]
                        .as_str()
                        .context("credentialStatus.registry missing")?
                        .parse()
                        .context("credentialStatus.registry")?;
                    let index: u64 = status["index"]
                        .as_str()
                        .context("credentialStatus.index missing")?
                        .parse()
                        .context("credentialStatus.index")?;
                    (registry, vec![index])
                }
                (None, Some(r)) if !index.is_empty() => (r, index),
                _ => bail!("give --credential FILE or --registry ID --index N"),
            };
            let ks = open(&cli.keystore)?;
            let signer = weft_agency::signer(&node, &ks).await?;
            let m = weft_agency::revoke(&node, &signer, registry, indices.clone()).await?;
            println!("revoked {indices:?} in {registry} (milestone {m})");
            Ok(())
        }
        Command::Revoked { registry } => {
            let node = Node::connect(&cli.node).await?;
            for i in weft_agency::revoked(&node, &registry).await? {
                println!("{i}");
            }
            Ok(())
        }
        Command::Program { command } => programs(&cli.node, &cli.keystore, command).await,
    }
}

/// The definition and its schema (from its file, or from the node by id).
async fn definition(file: &Path, url: &str) -> anyhow::Result<(ProgramDefinition, Schema)> {
    let def = ProgramDefinition::read(file)?;
    let base = file.parent().unwrap_or(Path::new("."));
    let client = Client::new(url);
    let schema = program::load_schema(&def.schema_source(base), Some(&client)).await?;
    Ok((def, schema))
}

async fn programs(url: &str, keystore: &Path, command: ProgramCommand) -> anyhow::Result<()> {
    match command {
        ProgramCommand::Check { file, owner } => {
            let (def, schema) = definition(&file, url).await?;
            let owner = match owner {
                Some(d) => d,
                None => open(keystore)?
                    .did
                    .context("the keystore has no DID yet: give --owner DID")?,
            };
            let built = program::build(&def, &schema, &owner)?;
            print!("{}", program::describe(&built.program, &schema, &owner));
            println!("ok: the definition is valid (not announced)");
        }
        ProgramCommand::Announce { file } => {
            let (def, schema) = definition(&file, url).await?;
            let node = Node::connect(url).await?;
            let ks = open(keystore)?;
            let signer = weft_agency::signer(&node, &ks).await?;
            let built = program::build(&def, &schema, &signer.did)?;
            print!(
                "{}",
                program::describe(&built.program, &schema, &signer.did)
            );
            let a = program::announce(&node, &signer, built.program).await?;
            match a.outcome {
                AnnounceOutcome::Applied { block, milestone } => {
                    println!("{}: applied (block {block}, milestone {milestone})", a.id);
                }
                AnnounceOutcome::AlreadyAnnounced => {
                    println!("{}: already on the ledger (nothing sent)", a.id);
                }
                AnnounceOutcome::Conflicting {
                    block,
                    milestone,
                    reason,
                    description,
                } => {
                    println!("{}: conflicting: {reason} ({description})", a.id);
                    bail!(
                        "the ledger refused the program: {reason} ({description}); block \
                         {block}, milestone {milestone}; the program was not created"
                    );
                }
            }
        }
        ProgramCommand::Show { id, json } => {
            let client = Client::new(url);
            let record = program::fetch_program(&client, &id)
                .await?
                .with_context(|| format!("{url} has no program {id}"))?;
            let reports = program::round_reports(&client, &record).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "program": record.json,
                        "rounds": reports,
                    }))?
                );
            } else {
                let schema = client.schema(&record.program.schema).await?.schema;
                print!(
                    "{}",
                    program::describe(&record.program, &schema, &record.owner)
                );
                println!(
                    "announced at milestone {}",
                    record.json["announced"]["milestone"]
                );
                for r in &reports {
                    println!(
                        "{}",
                        program::describe_round(r, &record.program.entitlement.unit)
                    );
                }
            }
        }
    }
    Ok(())
}

fn keystore(path: &Path, command: KeystoreCommand) -> anyhow::Result<()> {
    match command {
        KeystoreCommand::Init { dev, force } => {
            if path.exists() && !force {
                bail!("{} exists (use --force to replace it)", path.display());
            }
            let params = KdfParams::from_env();
            let ks = if dev {
                let seed = Zeroizing::new(weft_agency::dev_organisation_seed());
                let probe = Keystore::with_seed(&seed, None, params);
                let did = probe
                    .first_key()
                    .map(|k| DidCreate::with_key(k.public_key(), 0).did());
                Keystore::with_seed(&seed, did, params)
            } else {
                Keystore::generate(params)?
            };
            let p = passphrase(true)?;
            ks.save(path, p.as_bytes())?;
            println!("keystore written to {}", path.display());
            show(&ks);
            Ok(())
        }
        KeystoreCommand::Show => {
            show(&open(path)?);
            Ok(())
        }
    }
}

fn show(ks: &Keystore) {
    match &ks.did {
        Some(d) => println!("did: {d}"),
        None => println!("did: (none yet: `weft-agency did create`)"),
    }
    for (f, pk) in ks.public_keys() {
        println!("key {f}: {pk}");
    }
}

async fn did(url: &str, path: &Path, command: DidCommand) -> anyhow::Result<()> {
    let node = Node::connect(url).await?;
    match command {
        DidCommand::Create { nonce } => {
            let p = passphrase(false)?;
            let mut ks = Keystore::open(path, p.as_bytes())?;
            if let Some(d) = ks.did {
                bail!("the keystore already has the DID {d}");
            }
            let (did, m) = weft_agency::create_did(&node, &ks, nonce).await?;
            ks.did = Some(did);
            ks.save(path, p.as_bytes())?;
            println!("{did} (milestone {m})");
        }
        DidCommand::Update {
            rotate,
            add_key,
            add_service,
            remove_service,
        } => {
            let p = passphrase(false)?;
            let mut ks = Keystore::open(path, p.as_bytes())?;
            let signer = weft_agency::signer(&node, &ks).await?;
            let mut ops = Vec::new();
            // New keys are saved before the update is sent: a crash cannot lose them.
            if let Some(fragment) = rotate {
                let pk = ks.add_generated(&fragment)?;
                ops.push(DidOperation::RotateKey {
                    id: fragment,
                    public_key: pk,
                });
            }
            if let Some(fragment) = add_key {
                let pk = ks.add_generated(&fragment)?;
                ops.push(DidOperation::AddKey(DidKey {
                    id: fragment,
                    public_key: pk,
                    purposes: purpose::ALL,
                }));
            }
            if let Some(s) = add_service {
                let mut parts = s.splitn(3, ',');
                let (Some(id), Some(t), Some(url)) = (parts.next(), parts.next(), parts.next())
                else {
                    bail!("--add-service ID,TYPE,URL");
                };
                ops.push(DidOperation::AddService(DidService {
                    id: id.into(),
                    service_type: t.into(),
                    endpoint: url.into(),
                }));
            }
            if let Some(id) = remove_service {
                ops.push(DidOperation::RemoveService { id });
            }
            if ops.is_empty() {
                bail!("nothing to change");
            }
            ks.save(path, p.as_bytes())?;
            let m = weft_agency::update_did(&node, &signer, ops).await?;
            // Keys the DID no longer lists are dropped.
            let listed = weft_agency::document_keys(&node.resolve(&signer.did).await?);
            ks.retain(|_, pk| listed.iter().any(|(_, l)| l == pk));
            ks.save(path, p.as_bytes())?;
            println!("{} updated (milestone {m})", signer.did);
        }
        DidCommand::Show => {
            let ks = open(path)?;
            let did = ks.did.context("no DID yet")?;
            let r = node.resolve(&did).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "didDocument": r.did_document,
                    "didDocumentMetadata": r.did_document_metadata,
                    "didResolutionMetadata": r.did_resolution_metadata,
                }))?
            );
        }
    }
    Ok(())
}
