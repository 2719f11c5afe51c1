//! A real chain in memory (genesis, milestones signed by the committee, blocks applied by
//! the ledger), snapshotted, restored and tampered with.

use std::sync::Arc;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use weft_crypto::{merkle::inclusion_root, OrganisationKey};
use weft_ledger::{BlockOutcome, Genesis, Ledger, MilestoneContext, StateError, StateRead};
use weft_tangle::{
    key, prefix, system, Confirmation, LatestMilestone, MemoryStore, Store, Tangle, TangleConfig,
};
use weft_types::{
    Block, BlockBuilder, BlockId, Committee, DidCreate, Milestone, MilestoneEssence, MilestoneId,
    MilestoneSignature, Payload, TaggedData,
};

use super::*;

struct LedgerOf<'a>(&'a dyn Store);

impl StateRead for LedgerOf<'_> {
    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.0
            .get(&key(prefix::LEDGER, &[k]))
            .map_err(|e| StateError(e.to_string()))
    }
}

fn committee_key() -> OrganisationKey {
    OrganisationKey::from_seed(&[7; 32])
}

fn genesis(name: &str) -> Genesis {
    let key = committee_key();
    Genesis {
        network_name: name.into(),
        committee: Committee::new(1, vec![key.public_key()]).unwrap(),
        authority: DidCreate::with_key(OrganisationKey::from_seed(&[8; 32]).public_key(), 0),
        organisations: vec![],
        recent_roots: 64,
        eligibility_key: None,
        committee_epoch: 0,
    }
}

/// A store holding the genesis and `milestones` milestones, each confirming a few
/// anonymous blocks (empty ones are applied, tagged ones conflict).
fn chain(genesis: &Genesis, milestones: u32) -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let mut tangle = Tangle::open(store.clone(), TangleConfig::default()).unwrap();
    let (diff, mut commitment) = Ledger::genesis_state(genesis);
    tangle
        .write_genesis(
            serde_json::to_vec(genesis).unwrap(),
            diff.writes.into_iter().collect(),
            [
                &commitment.sum_bytes()[..],
                &commitment.count().to_le_bytes(),
            ]
            .concat(),
        )
        .unwrap();
    let ledger = Ledger::new(genesis).unwrap();
    let net = genesis.network_id();
    let key = committee_key();
    let mut previous = MilestoneId::NONE;
    let mut tip = BlockId::GENESIS;
    for index in 1..=milestones {
        let mut attached = Vec::new();
        for n in 0..3u64 {
            let builder = BlockBuilder::new(net, vec![tip], 1_000 + n).nonce(index as u64 * 10 + n);
            let block = if n == 2 {
                builder
                    .payload(Payload::TaggedData(TaggedData {
                        tag: b"t".to_vec(),
                        data: vec![index as u8],
                    }))
                    .anonymous()
            } else {
                builder.anonymous()
            };
            let bytes = block.to_bytes();
            let id = BlockId::of_bytes(&bytes);
            attached.push((id, Arc::new(block), bytes));
        }
        let parents: Vec<BlockId> = attached.iter().map(|b| b.0).collect();
        tangle.attach(attached, 5).unwrap();
        let order = tangle.white_flag_order(&parents).unwrap();
        let blocks: Vec<(BlockId, Arc<Block>)> = order
            .iter()
            .map(|id| (*id, tangle.pending_block(id).unwrap()))
            .collect();
        let refs: Vec<(BlockId, &Block)> = blocks.iter().map(|(i, b)| (*i, b.as_ref())).collect();
        let timestamp = 10_000 + index as u64;
        let outcome = ledger
            .apply_milestone(
                &LedgerOf(store.as_ref()),
                commitment,
                MilestoneContext { index, timestamp },
                &refs,
            )
            .unwrap();
        let essence = MilestoneEssence {
            index,
            timestamp,
            previous_milestone_id: previous,
            parents: {
                let mut p = parents.clone();
                p.sort();
                p
            },
            inclusion_root: inclusion_root(&order),
            state_root: outcome.state_root,
            committee_id: genesis.committee.id(),
        };
        let milestone = Milestone {
            signatures: vec![MilestoneSignature {
                public_key: key.public_key(),
                signature: key.sign(&essence.signing_message()),
            }],
            essence: essence.clone(),
        };
        let block = key.sign_block(
            BlockBuilder::new(net, parents, timestamp)
                .payload(Payload::Milestone(Box::new(milestone)))
                .organisation(key.public_key()),
        );
        let bytes = block.to_bytes();
        let block_id = BlockId::of_bytes(&bytes);
        let codes = order
            .iter()
            .zip(&outcome.outcomes)
            .map(|(id, o)| {
                let code = match o {
                    BlockOutcome::Applied => 0,
                    BlockOutcome::Conflicting(r) => r.code(),
                };
                (*id, code)
            })
            .collect();
        tangle
            .confirm_milestone(Confirmation {
                milestone_block: Arc::new(block),
                milestone_bytes: bytes,
                latest: LatestMilestone {
                    index,
                    id: essence.id(),
                    block_id,
                    timestamp,
                },
                confirmed: codes,
                ledger_writes: outcome.diff.writes.into_iter().collect(),
                state_commitment: [
                    &outcome.commitment.sum_bytes()[..],
                    &outcome.commitment.count().to_le_bytes(),
                ]
                .concat(),
                now: timestamp,
            })
            .unwrap();
        commitment = outcome.commitment;
        previous = essence.id();
        tip = block_id;
    }
    store
}

fn full_of(store: &dyn Store) -> Vec<u8> {
    let mut out = Vec::new();
    write_full(store, DEFAULT_ENTRY_POINT_WINDOW, &mut out).unwrap();
    out
}

fn entries(store: &dyn Store, p: u8) -> Vec<(Vec<u8>, Vec<u8>)> {
    store.scan_prefix(&[p]).unwrap()
}

/// Replaces the trailing checksum with the right one for the (tampered) content.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len() - 32;
    let digest = Blake2b::<U32>::digest(&bytes[..n]);
    bytes[n..].copy_from_slice(&digest);
    bytes
}

#[test]
fn a_full_snapshot_restores_the_same_state_and_milestone() {
    let g = genesis("snapshot-test");
    let source = chain(&g, 20);
    let file = full_of(source.as_ref());
    let target: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let verified = restore_full(target.as_ref(), file.as_slice(), &g).unwrap();
    assert_eq!(verified.latest.index, 20);
    assert_eq!(
        entries(source.as_ref(), prefix::LEDGER),
        entries(target.as_ref(), prefix::LEDGER)
    );
    for name in [
        system::LATEST_MILESTONE,
        system::STATE_COMMITMENT,
        system::GENESIS,
    ] {
        assert_eq!(
            source.get(&key(prefix::SYSTEM, &[name])).unwrap(),
            target.get(&key(prefix::SYSTEM, &[name])).unwrap()
        );
    }
    assert!(target
        .get(&key(prefix::SYSTEM, &[system::RESTORING]))
        .unwrap()
        .is_none());
    // The last 16 milestones' blocks (4 each, with the milestone block) are entry points:
    // the restored Tangle knows them as confirmed, with their conflict codes.
    assert_eq!(verified.entry_points.len(), 16 * 4);
    let tangle = Tangle::open(target.clone(), TangleConfig::default()).unwrap();
    assert_eq!(tangle.latest_milestone(), Some(verified.latest));
    for p in &verified.entry_points {
        let meta = tangle.metadata(&p.id).unwrap().unwrap();
        let original = weft_tangle::BlockMetadata::from_bytes(
            &source
                .get(&key(prefix::METADATA, &[&p.id.0]))
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(meta.referenced_by, original.referenced_by);
        assert_eq!(meta.white_flag_index, original.white_flag_index);
        assert_eq!(meta.conflict, original.conflict);
        assert!(tangle.contains(&p.id).unwrap());
    }
    assert!(verified.entry_points.iter().any(|p| p.conflict != 0));
    // Blocks older than the window are not known.
    let old = weft_tangle::read::white_flag_list(source.as_ref(), 2)
        .unwrap()
        .unwrap();
    assert!(!tangle.contains(&old[0]).unwrap());
}

#[test]
fn a_changed_entry_fails_the_certified_state_root_and_leaves_the_store_empty() {
    let g = genesis("snapshot-test");
    let source = chain(&g, 3);
    let file = full_of(source.as_ref());
    // The applied-blocks counter sits in the entries; change its last byte.
    let counter = weft_ledger::keys::APPLIED;
    let at = file
        .windows(counter.len())
        .position(|w| w == counter)
        .unwrap();
    let mut tampered = file.clone();
    tampered[at + counter.len() + 4] ^= 1;
    let tampered = reseal(tampered);
    let target = MemoryStore::default();
    let err = restore_full(&target, tampered.as_slice(), &g).unwrap_err();
    assert!(
        matches!(err, SnapshotError::StateRootMismatch { index: 3, .. }),
        "{err}"
    );
    assert!(entries(&target, prefix::LEDGER).is_empty());
    assert!(entries(&target, prefix::SYSTEM).is_empty());
    // The untampered file then restores into the same store.
    restore_full(&target, file.as_slice(), &g).unwrap();
}

#[test]
fn a_dropped_or_added_entry_fails_the_state_root() {
    let g = genesis("snapshot-test");
    let source = chain(&g, 3);
    // A store with one ledger entry more than the certified state.
    let mut batch = weft_tangle::WriteBatch::default();
    batch.put(key(prefix::LEDGER, &[b"zzz/extra"]), vec![1]);
    source.apply(batch).unwrap();
    let err = restore_full(
        &MemoryStore::default(),
        full_of(source.as_ref()).as_slice(),
        &g,
    )
    .unwrap_err();
    assert!(
        matches!(err, SnapshotError::StateRootMismatch { .. }),
        "{err}"
    );
}

#[test]
fn an_uncertified_milestone_is_refused() {
    let g = genesis("snapshot-test");
    let source = chain(&g, 2);
    let file = full_of(source.as_ref());
    // Flip a byte of the milestone's signature (the last 64 bytes of the block).
    let header = 8 + 2 + 4 + serde_json::to_vec(&g).unwrap().len();
    let len = u32::from_le_bytes(file[header..header + 4].try_into().unwrap()) as usize;
    let mut tampered = file.clone();
    tampered[header + 4 + len - 70] ^= 0x40;
    let err = restore_full(&MemoryStore::default(), reseal(tampered).as_slice(), &g).unwrap_err();
    assert!(matches!(err, SnapshotError::NotCertified { .. }), "{err}");
    // A committee that is not this network's does not certify it either.
    let mut other = g.clone();
    other.committee =
        Committee::new(1, vec![OrganisationKey::from_seed(&[9; 32]).public_key()]).unwrap();
    let err = restore_full(&MemoryStore::default(), file.as_slice(), &other).unwrap_err();
    assert!(
        matches!(err, SnapshotError::GenesisMismatch { .. }),
        "{err}"
    );
    let block = Block::from_bytes(&{
        let v = read_full(file.as_slice(), &g, &mut |_| Ok(())).unwrap();
        v.milestone_bytes
    })
    .unwrap();
    assert!(matches!(
        verify_milestone_block(&block, &other.committee),
        Err(SnapshotError::NotCertified { index: 2, .. })
    ));
}

#[test]
fn another_network_damage_and_truncation_are_named() {
    let g = genesis("snapshot-test");
    let source = chain(&g, 2);
    let file = full_of(source.as_ref());
    let err = read_full(file.as_slice(), &genesis("other-net"), &mut |_| Ok(())).unwrap_err();
    assert!(
        matches!(err, SnapshotError::GenesisMismatch { .. }),
        "{err}"
    );
    let counter = weft_ledger::keys::APPLIED;
    let at = file
        .windows(counter.len())
        .position(|w| w == counter)
        .unwrap();
    let mut damaged = file.clone();
    damaged[at + counter.len() + 4] ^= 1;
    let err = read_full(damaged.as_slice(), &g, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, SnapshotError::Checksum), "{err}");
    let err = read_full(&file[..file.len() / 2], &g, &mut |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = read_full(&b"not a snapshot at all"[..], &g, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, SnapshotError::NotASnapshot), "{err}");
    let mut delta = Vec::new();
    write_delta(source.as_ref(), 1, &mut delta).unwrap();
    let err = read_full(delta.as_slice(), &g, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, SnapshotError::Kind { .. }), "{err}");
}

#[test]
fn a_store_that_holds_a_ledger_is_not_overwritten() {
    let g = genesis("snapshot-test");
    let source = chain(&g, 2);
    let file = full_of(source.as_ref());
    let before = entries(source.as_ref(), prefix::LEDGER);
    let err = restore_full(source.as_ref(), file.as_slice(), &g).unwrap_err();
    assert!(matches!(err, SnapshotError::NotEmpty), "{err}");
    assert_eq!(entries(source.as_ref(), prefix::LEDGER), before);
}

#[test]
fn an_interrupted_restore_is_started_over() {
    let g = genesis("snapshot-test");
    let source = chain(&g, 2);
    let file = full_of(source.as_ref());
    let target = MemoryStore::default();
    let mut batch = weft_tangle::WriteBatch::default();
    batch.put(key(prefix::SYSTEM, &[system::RESTORING]), vec![]);
    batch.put(key(prefix::LEDGER, &[b"half/written"]), vec![1]);
    target.apply(batch).unwrap();
    restore_full(&target, file.as_slice(), &g).unwrap();
    assert_eq!(
        entries(source.as_ref(), prefix::LEDGER),
        entries(&target, prefix::LEDGER)
    );
}

#[test]
fn a_delta_carries_each_milestone_with_its_confirmed_blocks() {
    let g = genesis("snapshot-test");
    let source = chain(&g, 5);
    let mut delta = Vec::new();
    let summary = write_delta(source.as_ref(), 2, &mut delta).unwrap();
    assert_eq!((summary.base, summary.to, summary.blocks), (2, 5, 9));
    let mut reader = DeltaReader::open(delta.as_slice(), &g).unwrap();
    assert_eq!((reader.base, reader.to()), (2, 5));
    let mut indexes = Vec::new();
    while let Some(m) = reader
        .next_milestone(|_| Some(g.committee.clone()))
        .unwrap()
    {
        let list = weft_tangle::read::white_flag_list(source.as_ref(), m.index)
            .unwrap()
            .unwrap();
        let ids: Vec<BlockId> = m.blocks.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, list);
        indexes.push(m.index);
    }
    assert_eq!(indexes, vec![3, 4, 5]);
    // Damage shows at the end, after the last milestone.
    let mut damaged = delta.clone();
    let at = damaged.len() - 40;
    damaged[at] ^= 1;
    let mut reader = DeltaReader::open(damaged.as_slice(), &g).unwrap();
    let mut result = Ok(Some(()));
    while let Ok(Some(_)) = result {
        result = reader
            .next_milestone(|_| Some(g.committee.clone()))
            .map(|m| m.map(|_| ()));
    }
    assert!(result.is_err());
    // Nothing after the latest milestone: refused with a reason.
    assert!(write_delta(source.as_ref(), 5, &mut Vec::new()).is_err());
}
