//! Registry build scaling on 1 and 2 threads (development aid):
//! `cargo run --release -p weft-circuits --example registry_probe`.

use std::time::Instant;

use weft_crypto::poseidon::Fr;
use weft_crypto::registry::Registry;

fn main() -> anyhow::Result<()> {
    let leaves: Vec<Fr> = (0..1u64 << 17).map(Fr::from).collect();
    for _ in 0..2 {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()?;
            let t = Instant::now();
            let reg = pool.install(|| Registry::from_leaves(24, leaves.clone()))?;
            println!(
                "{threads} thread(s): 2^17 leaves in {:?} (root {})",
                t.elapsed(),
                reg.root()
            );
        }
    }
    Ok(())
}
