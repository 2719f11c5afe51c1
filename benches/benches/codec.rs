//! Block codec: canonical encode, decode, and the block id (BLAKE2b-256 of the bytes).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;
use weft_crypto::OrganisationKey;
use weft_types::{Block, BlockBuilder, BlockId, NetworkId, Payload, TaggedData};

/// A signed tagged-data block like the load generator's: 2 parents, 32 bytes of data.
fn sample_block(parents: usize) -> Block {
    let key = OrganisationKey::from_seed(&[7; 32]);
    let parents = (0..parents as u8).map(|i| BlockId([i + 1; 32])).collect();
    key.sign_block(
        BlockBuilder::new(NetworkId::from_name("weft-dev"), parents, 1_700_000_000_000)
            .payload(Payload::TaggedData(TaggedData {
                tag: b"bench/v1".to_vec(),
                data: vec![0xab; 32],
            }))
            .organisation(key.public_key()),
    )
}

fn codec(c: &mut Criterion) {
    for parents in [2usize, 8] {
        let block = sample_block(parents);
        let bytes = block.to_bytes();
        let mut g = c.benchmark_group(format!("block/{parents}-parents/{}B", bytes.len()));
        g.bench_function("encode", |b| b.iter(|| black_box(&block).to_bytes()));
        g.bench_function("decode", |b| {
            b.iter(|| Block::from_bytes(black_box(&bytes)).map(|b| b.nonce))
        });
        g.bench_function("id", |b| b.iter(|| BlockId::of_bytes(black_box(&bytes))));
        g.bench_function("signing_message", |b| {
            b.iter(|| black_box(&block).signing_message())
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = codec
}
criterion_main!(benches);
