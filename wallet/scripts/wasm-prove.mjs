// Times the wallet compiled to wasm32-unknown-unknown (examples/wasm_prove.rs) under
// Node.js. Usage: bash wallet/scripts/wasm-prove.sh
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

const bytes = readFileSync(process.argv[2]);
const module = new WebAssembly.Module(bytes);
// wasm-bindgen's glue (linked in through getrandom's "js" feature) is never called: the
// harness uses seeded randomness. Each import is a stub that fails loudly if it is.
const imports = {};
for (const i of WebAssembly.Module.imports(module)) {
  imports[i.module] ??= {};
  imports[i.module][i.name] = () => {
    throw new Error(`unexpected call to ${i.module}.${i.name}`);
  };
}
const instance = await WebAssembly.instantiate(module, imports);
const x = instance.exports;
const time = (name, f, runs) => {
  const t = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    const r = f();
    t.push(performance.now() - s);
    if (r === 0) throw new Error(`${name} failed`);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
};
const runs = Number(process.argv[3] || 3);
const setup = time("setup", x.weft_setup, 1);
const out = {
  target: "wasm32-unknown-unknown (Node.js " + process.version + ", one thread)",
  setup_ms: Math.round(setup),
  unlock_ms: Math.round(time("unlock", x.weft_unlock, runs)),
  sync_chunk_ms: Number(time("sync", x.weft_sync, runs).toFixed(1)),
  prove_end_to_end_ms: Math.round(time("prove", x.weft_prove, runs)),
  response_bytes: x.weft_prove(),
  response_verifies: x.weft_check() === 1,
};
if (!out.response_verifies) throw new Error("the response made in wasm does not verify");
console.log(JSON.stringify(out, null, 2));
