//! A timing harness for the wallet in WebAssembly: built as a `cdylib` for
//! `wasm32-unknown-unknown` and driven by `scripts/wasm-prove.mjs` under Node.js, which
//! times each exported call with `performance.now()`.
//!
//! It uses only seeded randomness, so the module needs no host imports (no
//! `crypto.getRandomValues`): a real app passes its own RNG to the library.
//!
//! Exports (each returns 0 on failure):
//! - `weft_setup()`: development Groth16 keys at depth 24 and a wallet fixture (the
//!   recommended Argon2id cost);
//! - `weft_unlock()`: one unlock (Argon2id);
//! - `weft_sync()`: one chunk sync;
//! - `weft_prove()`: a distribution point's request to the response; returns its length
//!   in bytes;
//! - `weft_check()`: checks the last response as the point does (statement rebuilt from
//!   `to_claim`, Groth16 verification); 1 when it holds.

use std::sync::Mutex;

use rand::SeedableRng;
use weft_circuits::Keys;
use weft_wallet::measure::Fixture;
use weft_wallet::KdfParams;

struct State {
    keys: Keys,
    fixture: Fixture,
    rng: rand::rngs::StdRng,
    last: Vec<u8>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Builds the keys and the fixture.
#[no_mangle]
pub extern "C" fn weft_setup() -> u32 {
    let Ok(keys) = weft_circuits::groth16::setup(b"weft-wallet wasm", weft_circuits::DEFAULT_DEPTH)
    else {
        return 0;
    };
    let Ok(fixture) = Fixture::new(KdfParams::RECOMMENDED, 7) else {
        return 0;
    };
    let Ok(mut s) = STATE.lock() else { return 0 };
    *s = Some(State {
        keys,
        fixture,
        rng: rand::rngs::StdRng::seed_from_u64(9),
        last: Vec::new(),
    });
    1
}

fn with<F: FnOnce(&mut State) -> u32>(f: F) -> u32 {
    match STATE.lock() {
        Ok(mut s) => s.as_mut().map(f).unwrap_or(0),
        Err(_) => 0,
    }
}

/// One unlock.
#[no_mangle]
pub extern "C" fn weft_unlock() -> u32 {
    with(|s| u32::from(s.fixture.unlock_once().is_ok()))
}

/// One chunk sync.
#[no_mangle]
pub extern "C" fn weft_sync() -> u32 {
    with(|s| u32::from(s.fixture.sync_once(&mut s.rng).is_ok()))
}

/// One proof; the response's length.
#[no_mangle]
pub extern "C" fn weft_prove() -> u32 {
    with(|s| match s.fixture.prove_once(&s.keys, &mut s.rng) {
        Ok(b) => {
            let n = b.len() as u32;
            s.last = b;
            n
        }
        Err(_) => 0,
    })
}

/// Checks the last response as the distribution point does.
#[no_mangle]
pub extern "C" fn weft_check() -> u32 {
    with(|s| u32::from(s.fixture.check_response(&s.keys, &s.last).is_ok()))
}
