//! Ed25519 sign / verify / batch verify (ZIP-215), the inclusion Merkle root and the
//! multiset state hash.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::rngs::OsRng;
use std::time::Duration;
use weft_crypto::{
    inclusion_root, verify, verify_batch, BatchEntry, MultisetHash, OrganisationKey,
};
use weft_types::hash::blake2b256;
use weft_types::BlockId;

fn signatures(c: &mut Criterion) {
    let key = OrganisationKey::from_seed(&[3; 32]);
    let public = key.public_key();
    // A block's signing message is about 150 bytes.
    let message = vec![0x5a; 150];
    let signature = key.sign(&message);
    let mut g = c.benchmark_group("ed25519");
    g.bench_function("sign", |b| b.iter(|| key.sign(black_box(&message))));
    g.bench_function("verify", |b| {
        b.iter(|| verify(&public, black_box(&message), &signature))
    });
    g.finish();

    let mut g = c.benchmark_group("ed25519/verify_batch");
    for n in [16usize, 64, 256, 1024] {
        let messages: Vec<Vec<u8>> = (0..n)
            .map(|i| blake2b256(&[&(i as u64).to_le_bytes()]).repeat(5))
            .collect();
        let entries: Vec<BatchEntry<'_>> = messages
            .iter()
            .map(|m| (public, m.as_slice(), key.sign(m)))
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| verify_batch(black_box(&entries), &mut OsRng))
        });
    }
    g.finish();
}

fn merkle(c: &mut Criterion) {
    let ids: Vec<BlockId> = (0..10_000u64)
        .map(|i| BlockId(blake2b256(&[&i.to_le_bytes()])))
        .collect();
    let mut g = c.benchmark_group("inclusion_root");
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.bench_function("10k", |b| b.iter(|| inclusion_root(black_box(&ids))));
    g.finish();
}

fn multiset(c: &mut Criterion) {
    let element = [0x11u8; 75]; // an anchor's state element: length, key, value
    let mut g = c.benchmark_group("multiset");
    g.bench_function("insert", |b| {
        b.iter_batched_ref(
            MultisetHash::new,
            |h| h.insert(black_box(&element)),
            BatchSize::SmallInput,
        )
    });
    let mut h = MultisetHash::new();
    h.insert(&element);
    g.bench_function("sum_bytes", |b| b.iter(|| black_box(&h).sum_bytes()));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = signatures, merkle, multiset
}
criterion_main!(benches);
