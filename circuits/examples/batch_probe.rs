//! Probes batch-verification throughput on 1 and 2 threads (development aid):
//! `cargo run --release -p weft-circuits --example batch_probe`.

use std::time::Instant;

use weft_circuits::groth16::{batch_verify, prove, setup, verify};
use weft_circuits::sample::sample_circuit;

fn main() -> anyhow::Result<()> {
    let keys = setup(b"probe", 24)?;
    let c = sample_circuit(24, 1)?;
    let inputs = c.statement.public_inputs()?;
    let proof = prove(&keys, c, &mut rand::rngs::OsRng)?;
    let items: Vec<_> = (0..128).map(|_| (inputs.clone(), proof.clone())).collect();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        for _ in 0..3 {
            let t = Instant::now();
            pool.install(|| batch_verify(&keys.pvk, &items, &mut rand::rngs::OsRng))?;
            let b = t.elapsed();
            let t = Instant::now();
            for _ in 0..20 {
                pool.install(|| verify(&keys.pvk, &inputs, &proof))?;
            }
            let v = t.elapsed() / 20;
            println!(
                "{threads} threads: batch of 128 {:.0}/s, single verify {v:?}",
                128.0 / b.as_secs_f64()
            );
        }
    }
    Ok(())
}
