//! Splits proving time into witness synthesis (constraint generation and inlining) and
//! the Groth16 prover proper (development aid):
//! `cargo run --release -p weft-circuits --example prove_probe`.

use std::time::Instant;

use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem, SynthesisMode};
use weft_circuits::groth16::{prove, setup};
use weft_circuits::sample::sample_circuit;
use weft_circuits::Fr;

fn main() -> anyhow::Result<()> {
    let keys = setup(b"probe", 24)?;
    let c = sample_circuit(24, 1)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    println!(
        "h_query {} (domain - 1), a_query {}, b_g2_query {}, l_query {}",
        keys.pk.h_query.len(),
        keys.pk.a_query.len(),
        keys.pk.b_g2_query.len(),
        keys.pk.l_query.len()
    );
    for _ in 0..3 {
        let t = Instant::now();
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(SynthesisMode::Prove {
            construct_matrices: false,
            generate_lc_assignments: true,
        });
        c.clone().generate_constraints(cs.clone())?;
        cs.finalize();
        let synth = t.elapsed();
        let t = Instant::now();
        let cs2 = ConstraintSystem::<Fr>::new_ref();
        cs2.set_mode(SynthesisMode::Prove {
            construct_matrices: true,
            generate_lc_assignments: false,
        });
        c.clone().generate_constraints(cs2.clone())?;
        cs2.finalize();
        let m = cs2.to_matrices();
        println!(
            "with matrices {:?} ({} predicates)",
            t.elapsed(),
            m.map(|m| m.len()).unwrap_or(0)
        );
        let t = Instant::now();
        pool.install(|| prove(&keys, c.clone(), &mut rand::rngs::OsRng))?;
        println!(
            "synthesis {synth:?}, whole prove (2 threads) {:?}",
            t.elapsed()
        );
    }
    Ok(())
}
