//! Criterion benches of the entitlement payloads: transfer create and verify with two
//! inputs and two outputs (the household-to-shop payment with change), mint verify.
//!
//! `cargo bench -p weft-entitlements --bench entitlements`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use weft_entitlements::{
    bulletproof_gens, mint, redeem, transfer, verify_mint, verify_redeem, verify_transfer,
    OwnedNote, OwnerSecretKey, Recipient,
};

const PROGRAM: [u8; 32] = [1u8; 32];

fn to(key: &OwnerSecretKey, amount: u64) -> Recipient {
    Recipient {
        owner: key.public_key(),
        amount,
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    bulletproof_gens();
    let a = OwnerSecretKey::random(&mut rng);
    let b = OwnerSecretKey::random(&mut rng);
    let m = mint(PROGRAM, &[to(&a, 600), to(&b, 400)], &mut rng).unwrap();
    let notes: Vec<OwnedNote> = m
        .outputs
        .iter()
        .filter_map(|o| {
            OwnedNote::decrypt(&PROGRAM, o, &a).or_else(|| OwnedNote::decrypt(&PROGRAM, o, &b))
        })
        .collect();
    let shop = OwnerSecretKey::random(&mut rng);
    let change = OwnerSecretKey::random(&mut rng);
    let outs = [to(&shop, 750), to(&change, 250)];

    c.bench_function("mint create (2 outputs)", |bench| {
        bench.iter(|| mint(PROGRAM, black_box(&[to(&a, 600), to(&b, 400)]), &mut rng).unwrap())
    });
    c.bench_function("mint verify (2 outputs)", |bench| {
        bench.iter(|| verify_mint(black_box(&m)).unwrap())
    });
    c.bench_function("transfer create (2 in, 2 out)", |bench| {
        bench.iter(|| transfer(PROGRAM, black_box(&notes), &outs, &mut rng).unwrap())
    });
    let t = transfer(PROGRAM, &notes, &outs, &mut rng).unwrap();
    c.bench_function("transfer verify (2 in, 2 out)", |bench| {
        bench.iter(|| verify_transfer(black_box(&t)).unwrap())
    });
    let r = redeem(
        PROGRAM,
        &notes,
        900,
        [2u8; 32],
        &[to(&change, 100)],
        &mut rng,
    )
    .unwrap();
    c.bench_function("redeem verify (2 in, 1 change)", |bench| {
        bench.iter(|| verify_redeem(black_box(&r)).unwrap())
    });

    // The largest transfer: 16 inputs, 16 outputs.
    let keys: Vec<OwnerSecretKey> = (0..16).map(|_| OwnerSecretKey::random(&mut rng)).collect();
    let recipients: Vec<Recipient> = keys.iter().map(|k| to(k, 10)).collect();
    let big = mint(PROGRAM, &recipients, &mut rng).unwrap();
    let inputs: Vec<OwnedNote> = big
        .outputs
        .iter()
        .filter_map(|o| keys.iter().find_map(|k| OwnedNote::decrypt(&PROGRAM, o, k)))
        .collect();
    let t16 = transfer(PROGRAM, &inputs, &recipients, &mut rng).unwrap();
    c.bench_function("transfer verify (16 in, 16 out)", |bench| {
        bench.iter(|| verify_transfer(black_box(&t16)).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
