//! Scale checks for the registry: a 2^20-leaf build and single-leaf updates stay fast
//! (printed, and bounded loosely so a shared machine does not make them flaky).

use std::time::Instant;
use weft_crypto::poseidon::{hash2, Fr};
use weft_crypto::registry::Registry;

#[test]
fn million_leaf_registry_builds_in_seconds() {
    let n = 1usize << 20;
    let leaves: Vec<Fr> = (0..n as u64).map(Fr::from).collect();
    let t = Instant::now();
    let mut reg = Registry::from_leaves(24, leaves).unwrap();
    let build = t.elapsed();
    let t = Instant::now();
    for i in 0..100u64 {
        reg.update(i * 1000, Fr::from(i)).unwrap();
    }
    let update = t.elapsed() / 100;
    let batch: Vec<(u64, Fr)> = (0..10_000u64)
        .map(|i| (500_000 + i, Fr::from(0u64)))
        .collect();
    let t = Instant::now();
    reg.update_many(&batch).unwrap();
    let bulk = t.elapsed() / 10_000;
    let t = Instant::now();
    let mut x = Fr::from(1u64);
    for _ in 0..10_000 {
        x = hash2(x, x);
    }
    let per_hash = t.elapsed() / 10_000;
    println!("registry 2^20 build {build:?}, update {update:?}/leaf, bulk revocation {bulk:?}/leaf, hash2 {per_hash:?}");
    let p = reg.path(123_456).unwrap();
    assert!(p.verify(reg.leaf(123_456).unwrap(), reg.root()));
    assert!(build.as_secs() < 60, "build took {build:?}");
}
