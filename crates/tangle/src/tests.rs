use super::*;
use weft_types::{BlockBuilder, NetworkId, Payload, TaggedData};

fn block(parents: Vec<BlockId>, nonce: u64) -> (BlockId, Arc<Block>, Vec<u8>) {
    let b = BlockBuilder::new(NetworkId(1), parents, 1_000)
        .payload(Payload::TaggedData(TaggedData {
            tag: b"t".to_vec(),
            data: nonce.to_le_bytes().to_vec(),
        }))
        .nonce(nonce)
        .anonymous();
    let bytes = b.to_bytes();
    (BlockId::of_bytes(&bytes), Arc::new(b), bytes)
}

fn tangle() -> Tangle {
    Tangle::open(Arc::new(MemoryStore::default()), TangleConfig::default()).unwrap()
}

fn confirm(t: &mut Tangle, index: u32, parents: Vec<BlockId>) -> Vec<BlockId> {
    let order = t.white_flag_order(&parents).unwrap();
    let ms = block(parents, 10_000 + index as u64);
    t.confirm_milestone(Confirmation {
        milestone_block: ms.1.clone(),
        milestone_bytes: ms.2,
        latest: LatestMilestone {
            index,
            id: MilestoneId([index as u8; 32]),
            block_id: ms.0,
            timestamp: index as u64,
        },
        confirmed: order.iter().map(|id| (*id, 0)).collect(),
        ledger_writes: vec![],
        state_commitment: vec![],
        now: 5,
    })
    .unwrap();
    order
}

#[test]
fn parents_arriving_after_children_solidify_the_cone() {
    let mut t = tangle();
    let a = block(vec![BlockId::GENESIS], 1);
    let b = block(vec![a.0], 2);
    let c = block(vec![a.0, b.0], 3);
    // c first, then b, then a.
    let out = t.attach(vec![c.clone()], 1).unwrap();
    let mut expected_missing = vec![a.0, b.0];
    expected_missing.sort();
    assert_eq!(
        out,
        vec![AttachOutcome::Waiting {
            missing: expected_missing
        }]
    );
    assert_eq!(t.unsolid_count(), 1);
    let out = t.attach(vec![b.clone()], 2).unwrap();
    assert_eq!(out, vec![AttachOutcome::Waiting { missing: vec![a.0] }]);
    assert_eq!(t.missing_parents(), vec![a.0]);
    assert!(!t.metadata(&c.0).unwrap().unwrap().solid);
    let out = t.attach(vec![a.clone()], 3).unwrap();
    assert_eq!(out, vec![AttachOutcome::Solid]);
    assert_eq!(t.unsolid_count(), 0);
    for id in [a.0, b.0, c.0] {
        assert!(t.metadata(&id).unwrap().unwrap().solid);
    }
    assert_eq!(
        t.attach(vec![a], 4).unwrap(),
        vec![AttachOutcome::Duplicate]
    );
    // c is a tip; a and b stay in the pool until max_children or the referenced-tip age.
    assert!(t.select_tips(8, 4).contains(&c.0));
    assert!(t.select_tips(8, 4 + t.config().tips.max_referenced_tip_age_ms + 1) == vec![c.0]);
}

#[test]
fn the_solidifier_queue_is_bounded() {
    let mut t = Tangle::open(
        Arc::new(MemoryStore::default()),
        TangleConfig {
            max_unsolid: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let ghost = BlockId([9; 32]);
    t.attach(vec![block(vec![ghost], 1)], 0).unwrap();
    t.attach(vec![block(vec![ghost], 2)], 0).unwrap();
    // In one batch: the waiting block is refused alone, the solid one gets in.
    let refused = block(vec![ghost], 3);
    assert_eq!(
        t.attach(vec![refused.clone(), block(vec![BlockId::GENESIS], 4)], 0)
            .unwrap(),
        vec![
            AttachOutcome::QueueFull { waiting: 2 },
            AttachOutcome::Solid
        ]
    );
    assert!(!t.contains(&refused.0).unwrap());
}

#[test]
fn white_flag_order_is_depth_first_parents_in_order() {
    let mut t = tangle();
    // Diamond: a, b on genesis; c on (a, b); d on (b); milestone on (c, d).
    let a = block(vec![BlockId::GENESIS], 1);
    let b = block(vec![BlockId::GENESIS], 2);
    let c = block(vec![a.0, b.0], 3);
    let d = block(vec![b.0], 4);
    t.attach(vec![a.clone(), b.clone(), c.clone(), d.clone()], 0)
        .unwrap();
    let mut parents = vec![c.0, d.0];
    parents.sort();
    let order = t.white_flag_order(&parents).unwrap();
    // Expected: visit parents in sorted order; each block after its own (sorted) parents.
    let mut expected = Vec::new();
    fn visit(id: BlockId, t: &Tangle, seen: &mut HashSet<BlockId>, out: &mut Vec<BlockId>) {
        if !t.pending.contains_key(&id) || !seen.insert(id) {
            return;
        }
        for p in t.pending[&id].block.parents.clone() {
            visit(p, t, seen, out);
        }
        out.push(id);
    }
    let mut seen = HashSet::new();
    for p in &parents {
        visit(*p, &t, &mut seen, &mut expected);
    }
    assert_eq!(order, expected);
    assert_eq!(order.len(), 4);
    let pos = |x: BlockId| order.iter().position(|y| *y == x).unwrap();
    assert!(pos(a.0) < pos(c.0) && pos(b.0) < pos(c.0) && pos(b.0) < pos(d.0));
    // Confirm only c's cone first: d stays pending, then the next milestone takes d alone.
    let first = confirm(&mut t, 1, vec![c.0]);
    assert_eq!(first.len(), 3);
    assert_eq!(t.white_flag_order(&[d.0]).unwrap(), vec![d.0]);
    let meta = t.metadata(&a.0).unwrap().unwrap();
    assert_eq!(meta.referenced_by, Some(1));
    assert_eq!(
        meta.white_flag_index,
        Some(first.iter().position(|x| *x == a.0).unwrap() as u32)
    );
}

#[test]
fn white_flag_rejects_unknown_or_unsolid_parents() {
    let mut t = tangle();
    let ghost = BlockId([7; 32]);
    let x = block(vec![ghost], 1);
    t.attach(vec![x.clone()], 0).unwrap();
    assert!(matches!(
        t.white_flag_order(&[ghost]),
        Err(TangleError::UnknownParent(_))
    ));
    assert!(matches!(
        t.white_flag_order(&[x.0]),
        Err(TangleError::NotSolid(_))
    ));
}

#[test]
fn old_cones_become_lazy_and_leave_the_pool() {
    let mut t = tangle();
    let old = block(vec![BlockId::GENESIS], 1);
    t.attach(vec![old.clone()], 0).unwrap();
    assert_eq!(t.tip_score(&old.0), Some(TipScore::NonLazy));
    // Milestones that confirm other blocks while `old` stays unapproved.
    for i in 1..=14u32 {
        let other = block(vec![BlockId::GENESIS], 100 + i as u64);
        t.attach(vec![other.clone()], 0).unwrap();
        confirm(&mut t, i, vec![other.0]);
        let expected = match i {
            0..=3 => TipScore::NonLazy,  // L − YCRI ≤ 3
            4..=8 => TipScore::SemiLazy, // L − YCRI ≤ 8
            _ => TipScore::Lazy,
        };
        assert_eq!(t.tip_score(&old.0), Some(expected), "after milestone {i}");
    }
    assert!(!t.all_tips().contains(&old.0));
    // A block approving only that lazy cone is below max depth only later; it is never
    // returned by tip selection while lazy.
    assert!(!t.select_tips(8, 0).contains(&old.0));
}

#[test]
fn restart_reloads_unconfirmed_blocks() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let mut t = Tangle::open(store.clone(), TangleConfig::default()).unwrap();
    let a = block(vec![BlockId::GENESIS], 1);
    let b = block(vec![a.0], 2);
    let c = block(vec![BlockId([3; 32])], 3);
    t.attach(vec![a.clone(), b.clone(), c.clone()], 0).unwrap();
    confirm(&mut t, 1, vec![a.0]);
    drop(t);
    let t = Tangle::open(store, TangleConfig::default()).unwrap();
    assert_eq!(t.latest_milestone().unwrap().index, 1);
    assert_eq!(t.pending_count(), 2);
    assert_eq!(t.unsolid_count(), 1);
    assert!(t.metadata(&b.0).unwrap().unwrap().solid);
    assert_eq!(t.metadata(&a.0).unwrap().unwrap().referenced_by, Some(1));
    assert_eq!(t.white_flag_order(&[b.0]).unwrap(), vec![b.0]);
    assert_eq!(
        read::white_flag_list(t.store().as_ref(), 1).unwrap(),
        Some(vec![a.0])
    );
    assert_eq!(
        read::children(t.store().as_ref(), &a.0, 10).unwrap().len(),
        2
    ); // b and the milestone
}

#[test]
fn sled_store_round_trips_batches() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let mut b = WriteBatch::default();
    b.put(key(prefix::LEDGER, &[b"a"]), vec![1]);
    b.put(key(prefix::LEDGER, &[b"b"]), vec![2]);
    b.put(key(prefix::BLOCK, &[b"x"]), vec![3]);
    s.apply(b).unwrap();
    s.flush().unwrap();
    assert_eq!(s.scan_prefix(&[prefix::LEDGER]).unwrap().len(), 2);
    let mut d = WriteBatch::default();
    d.delete(key(prefix::LEDGER, &[b"a"]));
    s.apply(d).unwrap();
    assert_eq!(s.get(&key(prefix::LEDGER, &[b"a"])).unwrap(), None);
    assert!(s.size_on_disk() > 0);
}

#[test]
fn confirmed_metadata_is_served_from_memory_until_written_and_replayed_after_a_stop() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let mut t = Tangle::open(store.clone(), TangleConfig::default()).unwrap();
    let a = block(vec![BlockId::GENESIS], 1);
    let b = block(vec![a.0], 2);
    t.attach(vec![a.clone(), b.clone()], 7).unwrap();
    let ms = block(vec![b.0], 10_001);
    let order = t.white_flag_order(&[b.0]).unwrap();
    assert_eq!(order, vec![a.0, b.0]);
    let c = Confirmation {
        milestone_block: ms.1.clone(),
        milestone_bytes: ms.2.clone(),
        latest: LatestMilestone {
            index: 1,
            id: MilestoneId([1; 32]),
            block_id: ms.0,
            timestamp: 1,
        },
        confirmed: vec![(a.0, 0), (b.0, 4)],
        ledger_writes: vec![],
        state_commitment: vec![],
        now: 9,
    };
    // The milestone batch alone: the confirmation only in the journal entry; the
    // stored metadata is still the one written at admission.
    store.apply(t.confirmation_batch(&c).unwrap()).unwrap();
    t.apply_confirmed(&c);
    let m_key = |id: &BlockId| key(prefix::METADATA, &[&id.0]);
    let admitted = BlockMetadata::from_bytes(&store.get(&m_key(&b.0)).unwrap().unwrap()).unwrap();
    assert_eq!((admitted.arrival_time, admitted.referenced_by), (7, None));
    assert_eq!(store.scan_prefix(&[prefix::UNCONFIRMED]).unwrap().len(), 2);
    let expected = BlockMetadata {
        solid: true,
        arrival_time: 7,
        referenced_by: Some(1),
        white_flag_index: Some(1),
        conflict: 4,
        confirmation_time: Some(9),
    };
    // Served from memory meanwhile, and the blocks count as stored.
    assert_eq!(t.metadata(&b.0).unwrap(), Some(expected));
    assert!(t.contains(&a.0).unwrap());

    // A node stopped here: reopening settles the journal before anything is read.
    let reopened = Tangle::open(store.clone(), TangleConfig::default()).unwrap();
    assert_eq!(
        reopened.pending_count(),
        0,
        "confirmed blocks are not reloaded"
    );
    assert_eq!(reopened.metadata(&b.0).unwrap(), Some(expected));
    assert!(store
        .scan_prefix(&[prefix::METADATA_JOURNAL])
        .unwrap()
        .is_empty());
    assert!(store
        .scan_prefix(&[prefix::UNCONFIRMED])
        .unwrap()
        .is_empty());

    // The running node's own metadata batch writes the same entries (harmless twice).
    let (index, batches) = t.metadata_batches().unwrap();
    assert_eq!(index, 1);
    for batch in batches {
        store.apply(batch).unwrap();
    }
    t.metadata_written(index);
    assert!(t.metadata_batches().is_none());
    let stored = BlockMetadata::from_bytes(&store.get(&m_key(&b.0)).unwrap().unwrap()).unwrap();
    assert_eq!(stored, expected);
    assert_eq!(t.metadata(&a.0).unwrap().unwrap().white_flag_index, Some(0));
}

#[test]
fn unconfirmed_keys_order_by_arrival_and_refuse_other_shapes() {
    let id = BlockId([3; 32]);
    let k = unconfirmed_key(0x0102, &id);
    assert_eq!(parse_unconfirmed_key(&k).unwrap(), (0x0102, id));
    assert!(unconfirmed_key(1, &BlockId([9; 32])) < unconfirmed_key(2, &BlockId([0; 32])));
    assert!(parse_unconfirmed_key(&k[..40]).is_err());
    assert!(parse_unconfirmed_key(&key(prefix::UNCONFIRMED, &[&id.0])).is_err());
}

/// Children listed for every parent, whichever arrived first: across attach calls (the
/// edge waits for the parent), within one group in reverse order, and after a restart
/// between a child and its parent.
#[test]
fn child_edges_are_written_whichever_of_parent_and_child_arrives_first() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let mut t = Tangle::open(store.clone(), TangleConfig::default()).unwrap();
    let a = block(vec![BlockId::GENESIS], 1);
    let b = block(vec![a.0], 2);
    let c = block(vec![a.0, b.0], 3);
    let d = block(vec![c.0], 4);
    let e = block(vec![d.0], 5);
    // c before its parents a and b, which come in one group, child first.
    t.attach(vec![c.clone()], 10).unwrap();
    assert!(read::children(store.as_ref(), &a.0, 10).unwrap().is_empty());
    t.attach(vec![b.clone(), a.clone()], 20).unwrap();
    let mut of_a = read::children(store.as_ref(), &a.0, 10).unwrap();
    of_a.sort();
    let mut expected = vec![b.0, c.0];
    expected.sort();
    assert_eq!(of_a, expected);
    assert_eq!(read::children(store.as_ref(), &b.0, 10).unwrap(), vec![c.0]);
    assert_eq!(
        read::children(store.as_ref(), &BlockId::GENESIS, 10).unwrap(),
        vec![a.0]
    );
    // e before d in one group.
    t.attach(vec![e.clone(), d.clone()], 30).unwrap();
    assert_eq!(read::children(store.as_ref(), &c.0, 10).unwrap(), vec![d.0]);
    assert_eq!(read::children(store.as_ref(), &d.0, 10).unwrap(), vec![e.0]);
    // A restart between a child and its missing parent.
    let f = block(vec![e.0], 6);
    let g = block(vec![f.0], 7);
    t.attach(vec![g.clone()], 40).unwrap();
    drop(t);
    let mut t = Tangle::open(store.clone(), TangleConfig::default()).unwrap();
    t.attach(vec![f.clone()], 50).unwrap();
    assert_eq!(read::children(store.as_ref(), &f.0, 10).unwrap(), vec![g.0]);
    assert_eq!(read::children(store.as_ref(), &e.0, 10).unwrap(), vec![f.0]);
    assert_eq!(t.unsolid_count(), 0);
    // An unknown block has no children and no bytes.
    let ghost = BlockId([9; 32]);
    assert!(read::children(store.as_ref(), &ghost, 10)
        .unwrap()
        .is_empty());
    assert_eq!(read::block_bytes(store.as_ref(), &ghost).unwrap(), None);
}

/// A block's bytes are stored under its arrival time, readable (without the Tangle)
/// as soon as it is attached and after it is confirmed, pruned or not.
#[test]
fn block_bytes_are_keyed_by_arrival_and_readable_at_once() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let mut t = Tangle::open(store.clone(), TangleConfig::default()).unwrap();
    let a = block(vec![BlockId::GENESIS], 1);
    let b = block(vec![a.0], 2);
    t.attach(vec![a.clone()], 1_234).unwrap();
    t.attach(vec![b.clone()], 1_000).unwrap();
    assert_eq!(
        store.get(&block_key(1_234, &a.0)).unwrap(),
        Some(a.2.clone())
    );
    assert_eq!(
        store.get(&block_key(1_000, &b.0)).unwrap(),
        Some(b.2.clone())
    );
    assert_eq!(read::arrival(store.as_ref(), &a.0).unwrap(), Some(1_234));
    assert_eq!(
        read::block_bytes(store.as_ref(), &b.0).unwrap(),
        Some(b.2.clone())
    );
    // Pending blocks count as stored for contains(); their metadata says when.
    assert_eq!(t.stored_arrival(&b.0).unwrap(), Some(1_000));
    assert_eq!(t.stored_arrival(&BlockId::GENESIS).unwrap(), Some(0));
    // confirm_milestone writes the per-block metadata too.
    confirm(&mut t, 1, vec![b.0]);
    assert_eq!(t.metadata(&a.0).unwrap().unwrap().arrival_time, 1_234);
    assert_eq!(read::block_bytes(store.as_ref(), &a.0).unwrap(), Some(a.2));
    // The milestone block (arriving at its confirmation time, 5) lists b as a parent.
    let ms = read::milestone_block_id(store.as_ref(), 1)
        .unwrap()
        .unwrap();
    assert_eq!(read::arrival(store.as_ref(), &ms).unwrap(), Some(5));
    assert!(read::block_bytes(store.as_ref(), &ms).unwrap().is_some());
    assert_eq!(read::children(store.as_ref(), &b.0, 10).unwrap(), vec![ms]);
}
