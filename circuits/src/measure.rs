//! The measurements behind `weft-bench zk --json` (and `weft-zk bench`): constraint
//! count, setup, proving on 1 and 2 threads, verification, batch verification, native
//! Poseidon, registry build and presentation size. Medians over several runs; thread
//! counts are fixed with dedicated rayon pools (arkworks parallelises through rayon).

use std::time::{Duration, Instant};

use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use weft_crypto::poseidon::{hash2, Fr};
use weft_crypto::registry::Registry;

use crate::circuit::EligibilityCircuit;
use crate::groth16::{batch_verify, prove, setup, verify, CompressedProof};
use crate::sample::{presentation_of, sample_circuit};
use crate::CircuitError;

/// How much to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Registry depth of the circuit.
    pub depth: usize,
    /// Proofs per thread count (median reported).
    pub prove_runs: usize,
    /// Single verifications (median reported).
    pub verify_runs: usize,
    /// Proofs per batch verification.
    pub batch_size: usize,
    /// log2 of the registry size to build.
    pub registry_log2: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            depth: crate::DEFAULT_DEPTH,
            prove_runs: 5,
            verify_runs: 50,
            batch_size: 64,
            registry_log2: 20,
        }
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

/// A thread pool of a fixed size: rayon's with the `parallel` feature.
#[cfg(feature = "parallel")]
type Pool = rayon::ThreadPool;

#[cfg(feature = "parallel")]
fn pool(threads: usize) -> Result<Pool, CircuitError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| CircuitError::Synthesis(e.to_string()))
}

/// Without the `parallel` feature everything runs on the calling thread: the "two
/// threads" figures are then single-threaded too.
#[cfg(not(feature = "parallel"))]
struct Pool;

#[cfg(not(feature = "parallel"))]
impl Pool {
    fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        f()
    }
}

#[cfg(not(feature = "parallel"))]
fn pool(_threads: usize) -> Result<Pool, CircuitError> {
    Ok(Pool)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Number of constraints of the circuit at `depth`.
pub fn constraints(depth: usize) -> Result<usize, CircuitError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    EligibilityCircuit::blank(depth)
        .generate_constraints(cs.clone())
        .map_err(|e| CircuitError::Synthesis(e.to_string()))?;
    cs.finalize();
    Ok(cs.num_constraints())
}

/// Runs every measurement and returns the report object.
pub fn report(opts: &Options) -> Result<Value, CircuitError> {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let constraints = constraints(opts.depth)?;

    let two = pool(2)?;
    let one = pool(1)?;
    let t = Instant::now();
    let keys = two.install(|| setup(b"weft bench", opts.depth))?;
    let setup_s = t.elapsed().as_secs_f64();
    let proving_key_bytes = keys.proving_key_bytes().len();
    let verifying_key_bytes = keys.verifying_key_bytes().len();

    let circuit = sample_circuit(opts.depth, 1)?;
    let inputs = circuit.statement.public_inputs()?;
    let mut prove_times = |p: &Pool| -> Result<(Duration, _), CircuitError> {
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..opts.prove_runs.max(1) {
            let c = circuit.clone();
            let t = Instant::now();
            let proof = p.install(|| prove(&keys, c, &mut rng))?;
            times.push(t.elapsed());
            last = Some(proof);
        }
        Ok((median(times), last))
    };
    let (prove_2t, proof) = prove_times(&two)?;
    let (prove_1t, _) = prove_times(&one)?;
    let proof = proof.ok_or(CircuitError::Invalid)?;

    let mut vt = Vec::new();
    for _ in 0..opts.verify_runs.max(1) {
        let t = Instant::now();
        one.install(|| verify(&keys.pvk, &inputs, &proof))?;
        vt.push(t.elapsed());
    }
    let verify_ms = ms(median(vt));

    let batch: Vec<_> = (0..opts.batch_size.max(1))
        .map(|_| (inputs.clone(), proof.clone()))
        .collect();
    let mut bt = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        two.install(|| batch_verify(&keys.pvk, &batch, &mut rng))?;
        bt.push(t.elapsed());
    }
    let batch_per_s = batch.len() as f64 / median(bt).as_secs_f64();

    let mut pt = Vec::new();
    let mut x = Fr::from(1u64);
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..2000 {
            x = hash2(x, x);
        }
        pt.push(t.elapsed() / 2000);
    }
    let poseidon_us = median(pt).as_secs_f64() * 1e6;

    let leaves: Vec<Fr> = (0..1u64 << opts.registry_log2).map(Fr::from).collect();
    let depth_u8 = u8::try_from(opts.depth.max(opts.registry_log2 as usize)).unwrap_or(32);
    let t = Instant::now();
    let reg = two
        .install(|| Registry::from_leaves(depth_u8, leaves))
        .map_err(|_| CircuitError::Invalid)?;
    let registry_build_s = t.elapsed().as_secs_f64();
    drop(reg);

    let presentation =
        presentation_of(&circuit.statement, CompressedProof::from_proof(&proof)).to_bytes();

    Ok(json!({
        "depth": opts.depth,
        "constraints": constraints,
        "public_inputs": inputs.len(),
        "setup_s": (setup_s * 1000.0).round() / 1000.0,
        "proving_key_bytes": proving_key_bytes,
        "verifying_key_bytes": verifying_key_bytes,
        "prove_ms_1t": ms(prove_1t),
        "prove_ms_2t": ms(prove_2t),
        "verify_ms": verify_ms,
        "batch_size": batch.len(),
        "batch_verify_per_s_2t": batch_per_s.round(),
        "poseidon_us": (poseidon_us * 100.0).round() / 100.0,
        "registry_leaves": 1u64 << opts.registry_log2,
        "registry_build_s": (registry_build_s * 1000.0).round() / 1000.0,
        "presentation_bytes": presentation.len(),
        "proof_bytes": crate::groth16::PROOF_BYTES,
    }))
}
