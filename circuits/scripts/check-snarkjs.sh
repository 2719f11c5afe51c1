#!/usr/bin/env bash
# Independent checks of Weft's zk interoperability with the JavaScript reference tools:
#  1. snarkjs accepts a Weft proof (and rejects it with one public input changed);
#  2. circomlibjs computes the same Poseidon hashes as `weft-zk poseidon`.
# Needs node and npm (the npm registry). Not part of CI; run by hand after circuit changes:
#   bash circuits/scripts/check-snarkjs.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p weft-circuits --bin weft-zk --manifest-path "$root/Cargo.toml"
zk="$root/target/release/weft-zk"
cd "$work"
npm install --silent --no-audit --no-fund snarkjs@0.7 circomlibjs@0.1.7 >/dev/null

"$zk" export-snarkjs --out out >/dev/null
npx --no-install snarkjs groth16 verify out/verification_key.json out/public.json out/proof.json | grep -q "OK"
node -e 'const p=require("./out/public.json"); p[5]=(BigInt(p[5])+1n).toString(); require("fs").writeFileSync("out/bad.json", JSON.stringify(p))'
if npx --no-install snarkjs groth16 verify out/verification_key.json out/bad.json out/proof.json | grep -q "OK"; then
  echo "snarkjs accepted a changed public input" >&2; exit 1
fi
echo "snarkjs: proof accepted, tampered input rejected"

cat > p.mjs <<'JS'
import { buildPoseidon } from "circomlibjs";
const p = await buildPoseidon();
console.log(p.F.toString(p(process.argv.slice(2).map(BigInt))));
JS
for args in "1 2" "0" "123456789 987654321 42" "1 2 3 4 5 6 7 8 9 10 11 12"; do
  a="$(node p.mjs $args)"; b="$("$zk" poseidon $args)"
  [ "$a" = "$b" ] || { echo "Poseidon($args): circomlibjs $a, weft $b" >&2; exit 1; }
done
echo "circomlibjs: Poseidon agrees"
