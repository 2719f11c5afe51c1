//! Runs `benches/src/zk.rs` (the `weft-bench zk` module) standalone, so that it is
//! compiled and smoke-tested with this crate: `cargo run --release -p weft-circuits
//! --example zk_report [-- --full]`.

#[path = "../../benches/src/zk.rs"]
mod zk;

fn main() -> anyhow::Result<()> {
    let full = std::env::args().any(|a| a == "--full");
    let report = if full { zk::run()? } else { zk::run_quick()? };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
