//! The ledger state machine applying one milestone of 10,000 anchors (tagged-data
//! blocks of one registered organisation) over an in-memory state: the pure part of the
//! milestone thread's work, without storage reads.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use weft_crypto::OrganisationKey;
use weft_ledger::{Genesis, Ledger, MemoryState, MilestoneContext};
use weft_types::{Block, BlockBuilder, BlockId, Committee, NetworkId, Payload, TaggedData};

fn bench(c: &mut Criterion) {
    const N: usize = 10_000;
    let org = OrganisationKey::from_seed(&[5; 32]);
    let member = OrganisationKey::from_seed(&[6; 32]);
    let committee = match Committee::new(1, vec![member.public_key()]) {
        Ok(c) => c,
        Err(e) => panic!("committee: {e}"),
    };
    let genesis = Genesis {
        network_name: "weft-bench".into(),
        committee,
        authority: weft_types::DidCreate::with_key(member.public_key(), 1),
        organisations: vec![weft_ledger::GenesisOrganisation::with_key(org.public_key())],
        recent_roots: 64,
        eligibility_key: None,
        committee_epoch: 0,
    };
    let (diff, commitment) = Ledger::genesis_state(&genesis);
    let mut state = MemoryState::default();
    state.apply(&diff);
    // The ledger does not check signatures (ingestion did): sign with a dummy signature.
    let blocks: Vec<(BlockId, Block)> = (0..N as u64)
        .map(|i| {
            let b = BlockBuilder::new(NetworkId(1), vec![BlockId::GENESIS], 1_000)
                .payload(Payload::TaggedData(TaggedData {
                    tag: b"bench/v1".to_vec(),
                    data: i.to_le_bytes().repeat(4),
                }))
                .organisation(org.public_key())
                .sign(weft_types::SignatureBytes([0; 64]));
            (b.id(), b)
        })
        .collect();
    let refs: Vec<(BlockId, &Block)> = blocks.iter().map(|(id, b)| (*id, b)).collect();
    let mut g = c.benchmark_group("ledger");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("apply_milestone_10k_anchors", |b| {
        b.iter(|| {
            Ledger::default().apply_milestone(
                &state,
                commitment,
                MilestoneContext {
                    index: 1,
                    timestamp: 2_000,
                },
                &refs,
            )
        })
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
