//! `weft-bench zk --json`: the eligibility-proof measurements (issue 3).
//!
//! All the work is in [`weft_circuits::measure`] so that `weft-zk bench` prints the same
//! report: constraint count, setup time, proving-key size, proving time (median) on one
//! and two rayon threads, single verification, batch verification throughput on two
//! threads, one native 2-to-1 Poseidon, a 2^20-leaf registry build and the presentation
//! size, all at the default registry depth (24).

use anyhow::Result;
use serde_json::Value;
use weft_circuits::measure::{report, Options};

/// Runs the zk benchmark with the default options and returns its JSON object.
pub fn run() -> Result<Value> {
    Ok(report(&Options::default())?)
}

/// A smoke run (one proof per thread count, a 2^16-leaf registry) for CI.
pub fn run_quick() -> Result<Value> {
    let opts = Options {
        prove_runs: 1,
        verify_runs: 5,
        batch_size: 16,
        registry_log2: 16,
        ..Options::default()
    };
    Ok(report(&opts)?)
}
