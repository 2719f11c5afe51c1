#!/usr/bin/env bash
# Builds the wallet for wasm32-unknown-unknown (the library, then the harness
# examples/wasm_prove.rs) and runs it under Node.js, one thread: unlock, chunk sync, and
# a distribution point's request answered with a Groth16 proof (depth 24), the response
# checked in wasm as the point checks it. Prints the medians as JSON.
#
#   bash wallet/scripts/wasm-prove.sh [RUNS]
#
# Proving in wasm needs arkworks without `parallel` (ark-ec's MSM would build rayon
# thread pools, which do not exist there): weft-circuits has it as a default feature
# that the wallet enables only for native targets, so the tree builds as it is.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-3}"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
cd "$root"
cargo build -p weft-wallet --lib --target wasm32-unknown-unknown --release
cargo build -p weft-wallet --example wasm_prove --target wasm32-unknown-unknown --release
target="${CARGO_TARGET_DIR:-$root/target}"
node "$root/wallet/scripts/wasm-prove.mjs" \
  "$target/wasm32-unknown-unknown/release/examples/wasm_prove.wasm" "$runs"
