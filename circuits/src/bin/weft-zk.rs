//! `weft-zk`: key generation, Poseidon, snarkjs export and benchmarks for Weft's
//! eligibility circuit.
//!
//! ```text
//! weft-zk setup --out DIR [--seed S] [--depth 24]    keys + their BLAKE2b-256 hashes
//! weft-zk poseidon X1 X2 ...                          Poseidon of decimal field elements
//! weft-zk export-snarkjs --out DIR [--proof FILE]     verification_key.json, proof.json, public.json
//! weft-zk bench [--quick]                             the `weft-bench zk` JSON report
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use weft_circuits::groth16::{blake2b256, prove, setup, verify, CompressedProof, Keys};
use weft_circuits::{measure, sample, snarkjs, DEFAULT_DEPTH, NUM_PUBLIC_INPUTS};
use weft_crypto::poseidon::{fr_from_decimal, fr_to_decimal, hash, Fr};

/// Development seed of the keys (never for production: see specs/circuits.md).
const DEV_SEED: &str = "weft-dev-setup";

#[derive(Parser)]
#[command(
    name = "weft-zk",
    about = "Weft eligibility circuit: keys, Poseidon, snarkjs export, benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the proving and verifying keys from a seed (development ceremony).
    Setup {
        /// Directory to write proving_key.bin and verifying_key.bin into.
        #[arg(long)]
        out: PathBuf,
        /// The seed (anyone who knows it can forge proofs).
        #[arg(long, default_value = DEV_SEED)]
        seed: String,
        /// Registry depth the circuit is built for.
        #[arg(long, default_value_t = DEFAULT_DEPTH)]
        depth: usize,
    },
    /// Print Poseidon(X1, ..., Xn) of decimal field elements, in decimal.
    Poseidon {
        /// 1 to 12 canonical decimal field elements.
        #[arg(required = true)]
        inputs: Vec<String>,
    },
    /// Write verification_key.json, proof.json and public.json in snarkjs's format.
    ExportSnarkjs {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Keys written by `setup` (default: generate from --seed).
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Seed used when --keys is absent.
        #[arg(long, default_value = DEV_SEED)]
        seed: String,
        /// A proof to export instead of a fresh sample: JSON
        /// `{"proof": "<256 hex chars>", "public_inputs": ["<decimal>", ...]}`.
        #[arg(long)]
        proof: Option<PathBuf>,
    },
    /// Run the zk benchmark and print one JSON object.
    Bench {
        /// Fewer repetitions (a smoke run).
        #[arg(long)]
        quick: bool,
    },
}

fn load_or_setup(keys: Option<&Path>, seed: &str) -> Result<Keys> {
    match keys {
        Some(dir) => {
            let bytes = fs::read(dir.join("proving_key.bin"))
                .with_context(|| format!("reading keys in {}", dir.display()))?;
            Ok(Keys::from_proving_key_bytes(&bytes)?)
        }
        None => Ok(setup(seed.as_bytes(), DEFAULT_DEPTH)?),
    }
}

fn write_json(dir: &Path, name: &str, v: &serde_json::Value) -> Result<()> {
    let path = dir.join(name);
    fs::write(&path, serde_json::to_string_pretty(v)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Setup { out, seed, depth } => {
            if depth == 0 || depth > 32 {
                bail!("depth must be 1 to 32");
            }
            fs::create_dir_all(&out)?;
            let keys = setup(seed.as_bytes(), depth)?;
            let pk = keys.proving_key_bytes();
            let vk = keys.verifying_key_bytes();
            fs::write(out.join("proving_key.bin"), &pk)?;
            fs::write(out.join("verifying_key.bin"), &vk)?;
            println!("depth {depth}, {NUM_PUBLIC_INPUTS} public inputs");
            println!(
                "proving_key.bin   {} bytes  blake2b-256 {}",
                pk.len(),
                hex::encode(blake2b256(&pk))
            );
            println!(
                "verifying_key.bin {} bytes  blake2b-256 {}",
                vk.len(),
                hex::encode(blake2b256(&vk))
            );
        }
        Command::Poseidon { inputs } => {
            let xs = inputs
                .iter()
                .map(|s| fr_from_decimal(s))
                .collect::<Result<Vec<Fr>, _>>()?;
            println!("{}", fr_to_decimal(&hash(&xs)?));
        }
        Command::ExportSnarkjs {
            out,
            keys,
            seed,
            proof,
        } => {
            let keys = load_or_setup(keys.as_deref(), &seed)?;
            let (inputs, proof) = match proof {
                Some(file) => {
                    let v: serde_json::Value = serde_json::from_slice(&fs::read(&file)?)?;
                    let hex_proof = v["proof"]
                        .as_str()
                        .context("\"proof\" must be a hex string")?;
                    let bytes: [u8; 128] = hex::decode(hex_proof)?
                        .try_into()
                        .map_err(|_| anyhow::anyhow!("a proof is 128 bytes"))?;
                    let inputs = v["public_inputs"]
                        .as_array()
                        .context("\"public_inputs\" must be an array")?
                        .iter()
                        .map(|x| {
                            Ok(fr_from_decimal(
                                x.as_str().context("inputs are decimal strings")?,
                            )?)
                        })
                        .collect::<Result<Vec<Fr>>>()?;
                    (inputs, CompressedProof(bytes).to_proof()?)
                }
                None => {
                    let circuit = sample::sample_circuit(keys.depth, 1)?;
                    let inputs = circuit.statement.public_inputs()?;
                    let proof = prove(&keys, circuit, &mut rand::rngs::OsRng)?;
                    (inputs, proof)
                }
            };
            verify(&keys.pvk, &inputs, &proof)
                .context("the proof does not verify with these keys")?;
            fs::create_dir_all(&out)?;
            write_json(
                &out,
                "verification_key.json",
                &snarkjs::verification_key(keys.vk()),
            )?;
            write_json(&out, "proof.json", &snarkjs::proof(&proof))?;
            write_json(&out, "public.json", &snarkjs::public(&inputs))?;
            println!(
                "wrote {0}/verification_key.json, {0}/proof.json, {0}/public.json; check with:\n  snarkjs groth16 verify {0}/verification_key.json {0}/public.json {0}/proof.json",
                out.display()
            );
        }
        Command::Bench { quick } => {
            let mut opts = measure::Options::default();
            if quick {
                opts = measure::Options {
                    prove_runs: 1,
                    verify_runs: 5,
                    batch_size: 16,
                    registry_log2: 16,
                    ..opts
                };
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&measure::report(&opts)?)?
            );
        }
    }
    Ok(())
}
