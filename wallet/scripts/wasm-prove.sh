#!/usr/bin/env bash
# Builds the wallet for wasm32-unknown-unknown (the library, as the issue asks, then the
# timing harness) and times unlock, chunk sync and proving under Node.js.
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
cargo build -p weft-wallet --lib --target wasm32-unknown-unknown --release
cargo build -p weft-wallet --example wasm_prove --target wasm32-unknown-unknown --release
node wallet/scripts/wasm-prove.mjs target/wasm32-unknown-unknown/release/examples/wasm_prove.wasm "${1:-3}"
