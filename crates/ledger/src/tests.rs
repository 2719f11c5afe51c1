use super::*;
use weft_crypto::OrganisationKey;
use weft_types::{BlockBuilder, DidCreate, TaggedData};

struct Fixture {
    org: OrganisationKey,
    outsider: OrganisationKey,
    genesis: Genesis,
    state: MemoryState,
    commitment: MultisetHash,
}

fn fixture() -> Fixture {
    let org = OrganisationKey::from_seed(&[1; 32]);
    let outsider = OrganisationKey::from_seed(&[2; 32]);
    let committee =
        Committee::new(1, vec![OrganisationKey::from_seed(&[3; 32]).public_key()]).unwrap();
    let genesis = Genesis {
        network_name: "weft-test".into(),
        committee,
        authority: DidCreate::with_key(OrganisationKey::from_seed(&[4; 32]).public_key(), 0),
        organisations: vec![GenesisOrganisation::with_key(org.public_key())],
        recent_roots: 64,
        eligibility_key: None,
        committee_epoch: 0,
    };
    let (diff, commitment) = Ledger::genesis_state(&genesis);
    let mut state = MemoryState::default();
    state.apply(&diff);
    Fixture {
        org,
        outsider,
        genesis,
        state,
        commitment,
    }
}

fn anchor(f: &Fixture, key: &OrganisationKey, data: &[u8], time: u64) -> Block {
    let b = BlockBuilder::new(f.genesis.network_id(), vec![BlockId::GENESIS], time)
        .payload(Payload::TaggedData(TaggedData {
            tag: b"procurement/v1".to_vec(),
            data: data.to_vec(),
        }))
        .organisation(key.public_key());
    key.sign_block(b)
}

fn apply(f: &mut Fixture, index: u32, blocks: &[Block]) -> MilestoneOutcome {
    let list: Vec<(BlockId, &Block)> = blocks.iter().map(|b| (b.id(), b)).collect();
    let out = Ledger::default()
        .apply_milestone(
            &f.state,
            f.commitment,
            MilestoneContext {
                index,
                timestamp: 1000 * index as u64,
            },
            &list,
        )
        .unwrap();
    f.state.apply(&out.diff);
    f.commitment = out.commitment;
    out
}

fn counter(f: &Fixture, key: &[u8]) -> u64 {
    u64::from_le_bytes(f.state.get(key).unwrap().unwrap().try_into().unwrap())
}

#[test]
fn first_anchor_wins_and_the_duplicate_changes_nothing() {
    let mut f = fixture();
    let a = anchor(&f, &f.org, b"invoice 17", 1);
    let a_again = anchor(&f, &f.org, b"invoice 17", 2);
    let b = anchor(&f, &f.org, b"invoice 18", 3);
    let out = apply(&mut f, 1, &[a.clone(), a_again, b]);
    assert_eq!(
        out.outcomes,
        vec![
            BlockOutcome::Applied,
            BlockOutcome::Conflicting(ConflictReason::DuplicateAnchor),
            BlockOutcome::Applied
        ]
    );
    assert_eq!(counter(&f, keys::ANCHORS), 2);
    assert_eq!(counter(&f, keys::APPLIED), 2);
    assert_eq!(counter(&f, keys::CONFLICTING), 1);
    let stored = f
        .state
        .get(&keys::anchor(&anchor_digest(
            b"procurement/v1",
            b"invoice 17",
        )))
        .unwrap()
        .unwrap();
    assert_eq!(&stored[..32], &a.id().0);
    // A later milestone cannot anchor it again either.
    let later = anchor(&f, &f.org, b"invoice 17", 9);
    let out = apply(&mut f, 2, &[later]);
    assert_eq!(
        out.outcomes,
        vec![BlockOutcome::Conflicting(ConflictReason::DuplicateAnchor)]
    );
}

#[test]
fn unknown_issuer_and_anonymous_anchor_conflict() {
    let mut f = fixture();
    let stranger = anchor(&f, &f.outsider, b"x", 1);
    let mut anon = BlockBuilder::new(f.genesis.network_id(), vec![BlockId::GENESIS], 2)
        .payload(Payload::TaggedData(TaggedData {
            tag: vec![],
            data: b"y".to_vec(),
        }))
        .anonymous();
    anon.nonce = 1;
    let empty = BlockBuilder::new(f.genesis.network_id(), vec![BlockId::GENESIS], 3).anonymous();
    let before = Ledger::genesis_root(&f.commitment);
    let out = apply(&mut f, 1, &[stranger, anon, empty]);
    assert_eq!(
        out.outcomes,
        vec![
            BlockOutcome::Conflicting(ConflictReason::UnknownIssuer),
            BlockOutcome::Conflicting(ConflictReason::AnonymousNotAllowed),
            BlockOutcome::Applied
        ]
    );
    assert_eq!(counter(&f, keys::ANCHORS), 0);
    assert_ne!(out.state_root, before, "the counters changed");
}

#[test]
fn order_decides_and_the_root_is_deterministic() {
    let mut f1 = fixture();
    let mut f2 = fixture();
    let blocks: Vec<Block> = (0..20u8)
        .map(|i| anchor(&f1, &f1.org, &[i % 7], i as u64))
        .collect();
    let r1 = apply(&mut f1, 1, &blocks).state_root;
    let r2 = apply(&mut f2, 1, &blocks).state_root;
    assert_eq!(r1, r2);
    // Replaying the state from scratch gives the same commitment as the incremental one.
    let mut recomputed = MultisetHash::new();
    for (k, v) in &f1.state.entries {
        recomputed.insert(&state_element(k, v));
    }
    assert_eq!(recomputed, f1.commitment);
    // A different order of the same blocks changes which duplicate wins, so the root.
    let mut f3 = fixture();
    let mut reversed = blocks.clone();
    reversed.reverse();
    assert_ne!(apply(&mut f3, 1, &reversed).state_root, r1);
}

#[test]
fn conflict_codes_round_trip() {
    for (i, r) in ConflictReason::all().iter().enumerate() {
        assert_eq!(r.code() as usize, i + 1);
        assert_eq!(ConflictReason::from_code(r.code()), Some(*r));
        assert!(!r.describe().is_empty());
    }
    assert_eq!(ConflictReason::from_code(0), None);
    assert_eq!(
        ConflictReason::from_code(ConflictReason::all().len() as u8 + 1),
        None
    );
}
