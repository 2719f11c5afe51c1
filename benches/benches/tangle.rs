//! The Tangle over an in-memory store: attaching a milestone's worth of blocks, and
//! ordering and confirming them (white flag), as the node's ingest and milestone
//! threads do.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::sync::Arc;
use std::time::Duration;
use weft_tangle::{Confirmation, LatestMilestone, MemoryStore, Tangle, TangleConfig};
use weft_types::{Block, BlockBuilder, BlockId, MilestoneId, NetworkId, Payload, TaggedData};

type Attachable = (BlockId, Arc<Block>, Vec<u8>);

/// `n` blocks in `lanes` chains; each block also references the head of the next lane,
/// like the load generator's blocks (own previous block plus a tip).
fn blocks(n: usize, lanes: usize) -> Vec<Attachable> {
    let mut heads = vec![BlockId::GENESIS; lanes];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let lane = i % lanes;
        let other = heads[(lane + 1) % lanes];
        let b = BlockBuilder::new(NetworkId(1), vec![heads[lane], other], 1_000)
            .payload(Payload::TaggedData(TaggedData {
                tag: b"bench/v1".to_vec(),
                data: (i as u64).to_le_bytes().to_vec(),
            }))
            .nonce(i as u64)
            .anonymous();
        let bytes = b.to_bytes();
        let id = BlockId::of_bytes(&bytes);
        heads[lane] = id;
        out.push((id, Arc::new(b), bytes));
    }
    out
}

fn tangle() -> Tangle {
    match Tangle::open(Arc::new(MemoryStore::default()), TangleConfig::default()) {
        Ok(t) => t,
        Err(e) => panic!("opening an in-memory tangle: {e}"),
    }
}

fn attach_all(t: &mut Tangle, blocks: &[Attachable], batch: usize) {
    for chunk in blocks.chunks(batch) {
        if let Err(e) = t.attach(chunk.to_vec(), 1) {
            panic!("attach: {e}");
        }
    }
}

fn bench(c: &mut Criterion) {
    const N: usize = 10_000;
    let input = blocks(N, 32);
    let mut g = c.benchmark_group("tangle");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("attach_10k_in_batches_of_256", |b| {
        b.iter_batched_ref(
            tangle,
            |t| attach_all(t, &input, 256),
            BatchSize::LargeInput,
        )
    });
    let filled = || {
        let mut t = tangle();
        attach_all(&mut t, &input, 256);
        t
    };
    let parents: Vec<BlockId> = {
        let t = filled();
        let mut tips = t.all_tips();
        tips.sort();
        tips.truncate(8);
        tips
    };
    g.bench_function("white_flag_order_10k", |b| {
        b.iter_batched_ref(
            filled,
            |t| t.white_flag_order(&parents).map(|o| o.len()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("white_flag_and_confirm_10k", |b| {
        b.iter_batched_ref(
            filled,
            |t| {
                let order = match t.white_flag_order(&parents) {
                    Ok(o) => o,
                    Err(e) => panic!("white flag: {e}"),
                };
                let ms = BlockBuilder::new(NetworkId(1), parents.clone(), 2_000).anonymous();
                let bytes = ms.to_bytes();
                let block_id = BlockId::of_bytes(&bytes);
                t.confirm_milestone(Confirmation {
                    milestone_block: Arc::new(ms),
                    milestone_bytes: bytes,
                    latest: LatestMilestone {
                        index: 1,
                        id: MilestoneId([1; 32]),
                        block_id,
                        timestamp: 2_000,
                    },
                    confirmed: order.iter().map(|id| (*id, 0)).collect(),
                    ledger_writes: vec![],
                    state_commitment: vec![],
                    now: 2_000,
                })
                .map(|_| order.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
