//! The test vector of `specs/entitlements.md` §9: a deterministic mint from a seeded
//! RNG, checked byte for byte against the hex printed in the spec.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use weft_entitlements::{mint, verify_mint, OwnedNote, OwnerSecretKey, Recipient};
use weft_types::notes::Mint;

const SPEC: &str = include_str!("../../../specs/entitlements.md");

/// The vector's values, by the names the spec prints them under.
fn vector() -> Vec<(&'static str, String)> {
    let program = [0x11u8; 32];
    let mut secret = [0u8; 32];
    secret[0] = 7;
    let owner = OwnerSecretKey::from_bytes(&secret).unwrap();
    let mut rng = ChaCha20Rng::from_seed([0u8; 32]);
    let m = mint(
        program,
        &[Recipient {
            owner: owner.public_key(),
            amount: 1000,
        }],
        &mut rng,
    )
    .unwrap();
    let verified = verify_mint(&m).unwrap();
    let bytes = m.to_bytes();
    assert_eq!(Mint::from_bytes(&bytes).unwrap(), m);
    let note = OwnedNote::decrypt(&program, &m.outputs[0], &owner).unwrap();
    assert_eq!(note.amount(), 1000);
    vec![
        ("owner key", hex::encode(owner.public_key().to_bytes())),
        ("commitment", hex::encode(m.outputs[0].commitment)),
        ("note id", hex::encode(verified.created[0].id)),
        ("kernel excess", hex::encode(m.kernel.excess)),
        ("body digest", hex::encode(m.body_digest())),
        ("blinding", hex::encode(note.opening().blinding.as_bytes())),
        ("mint bytes", hex::encode(&bytes)),
    ]
}

#[test]
fn spec_vector_matches() {
    let flat = SPEC.replace('\n', "");
    let mut missing = Vec::new();
    for (name, hex) in vector() {
        if !flat.contains(&hex) {
            missing.push(format!("{name}: {hex}"));
        }
    }
    assert!(
        missing.is_empty(),
        "specs/entitlements.md §9 does not contain:\n{}",
        missing.join("\n")
    );
}
