#!/usr/bin/env bash
# Builds the wallet for wasm32-unknown-unknown (the library, as the issue asks, then the
# timing harness examples/wasm_prove.rs) and times unlock, chunk sync and proving under
# Node.js, one thread.
#
#   bash wallet/scripts/wasm-prove.sh [RUNS]
#
# The workspace enables arkworks' `parallel` feature (and ark-groth16's default is
# `parallel`). In wasm, ark-ec's MSM then builds a rayon thread pool per chunk and
# unwraps the error (no threads there): the library builds, but proving panics. Until
# the workspace turns `parallel` on for native targets only, this script measures a
# copy of the tracked tree with those features off (WEFT_WASM_AS_IS=1 builds the tree as
# it is instead).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-3}"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
cd "$root"
cargo build -p weft-wallet --lib --target wasm32-unknown-unknown --release
if [ "${WEFT_WASM_AS_IS:-0}" = 1 ]; then
  src="$root"; target="$root/target"
else
  src="$(mktemp -d)"; target="${CARGO_TARGET_DIR_WASM:-/tmp/weft-wasm-target}"
  git ls-files | grep -v '^target/' | tar -cf - -T - | tar -xf - -C "$src"
  sed -i -E '/^ark-(ff|ec|r1cs-std|std) =/ s/, features = \["parallel"\]//' "$src/Cargo.toml"
  sed -i -E 's/^ark-groth16 = .*/ark-groth16 = { version = "0.6", default-features = false, features = ["std"] }/' "$src/Cargo.toml"
fi
(cd "$src" && CARGO_TARGET_DIR="$target" cargo build -p weft-wallet --example wasm_prove \
  --target wasm32-unknown-unknown --release)
node "$root/wallet/scripts/wasm-prove.mjs" \
  "$target/wasm32-unknown-unknown/release/examples/wasm_prove.wasm" "$runs"
