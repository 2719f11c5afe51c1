//! Committee changes through `apply_milestone`: who may issue them, the signature,
//! notice and one-at-a-time rules, `committee_at` before and after, and the switch of
//! the member entries at the effective index.

use super::*;
use weft_crypto::OrganisationKey;
use weft_types::{BlockBuilder, CommitteeChange, MilestoneSignature};

struct World {
    ledger: Ledger,
    genesis: Genesis,
    state: MemoryState,
    commitment: MultisetHash,
    time: u64,
    index: u32,
}

fn key(n: u8) -> OrganisationKey {
    OrganisationKey::from_seed(&[n; 32])
}

fn committee(members: &[&OrganisationKey], threshold: u16) -> Committee {
    Committee::new(threshold, members.iter().map(|k| k.public_key()).collect()).unwrap()
}

/// The genesis committee: members 1 to 4, threshold 3.
fn c0() -> Committee {
    committee(&[&key(1), &key(2), &key(3), &key(4)], 3)
}

/// Member 1 out, member 5 in.
fn c1() -> Committee {
    committee(&[&key(2), &key(3), &key(4), &key(5)], 3)
}

/// Members 5 to 7, all needed.
fn c2() -> Committee {
    committee(&[&key(5), &key(6), &key(7)], 3)
}

/// A world with committee epochs of one milestone (every index may start a committee).
fn world() -> World {
    world_with_epoch(1)
}

fn world_with_epoch(committee_epoch: u32) -> World {
    let genesis = Genesis {
        network_name: "weft-test".into(),
        committee: c0(),
        authority: DidCreate::with_key(key(10).public_key(), 0),
        organisations: vec![GenesisOrganisation::with_key(key(11).public_key())],
        recent_roots: 64,
        eligibility_key: None,
        committee_epoch,
    };
    let (diff, commitment) = Ledger::genesis_state(&genesis);
    let mut state = MemoryState::default();
    state.apply(&diff);
    World {
        ledger: Ledger::new(&genesis).unwrap(),
        genesis,
        state,
        commitment,
        time: 0,
        index: 0,
    }
}

/// `next` effective at `effective`, signed over `current`'s id by `signers`.
fn change(
    next: &Committee,
    effective: u32,
    current: &Committee,
    signers: &[&OrganisationKey],
) -> CommitteeChange {
    let mut c = CommitteeChange {
        committee: next.clone(),
        effective_index: effective,
        signatures: vec![],
    };
    let message = c.signing_message(&current.id());
    c.signatures = signers
        .iter()
        .map(|k| MilestoneSignature {
            public_key: k.public_key(),
            signature: k.sign(&message),
        })
        .collect();
    c.signatures.sort_by_key(|s| s.public_key);
    c
}

impl World {
    fn block(&mut self, signer: &OrganisationKey, payload: Payload) -> Block {
        self.time += 1;
        let b = BlockBuilder::new(self.genesis.network_id(), vec![BlockId::GENESIS], self.time)
            .payload(payload)
            .organisation(signer.public_key());
        signer.sign_block(b)
    }

    fn propose(&mut self, issuer: &OrganisationKey, c: CommitteeChange) -> Block {
        self.block(issuer, Payload::CommitteeChange(Box::new(c)))
    }

    /// A tip-merging block: an empty payload.
    fn merge(&mut self, signer: &OrganisationKey) -> Block {
        self.block(signer, Payload::None)
    }

    /// Applies the next milestone.
    fn apply(&mut self, blocks: &[Block]) -> MilestoneOutcome {
        self.index += 1;
        let list: Vec<(BlockId, &Block)> = blocks.iter().map(|b| (b.id(), b)).collect();
        let out = self
            .ledger
            .apply_milestone(
                &self.state,
                self.commitment,
                MilestoneContext {
                    index: self.index,
                    timestamp: 1_000 * self.index as u64,
                },
                &list,
            )
            .unwrap();
        self.state.apply(&out.diff);
        self.commitment = out.commitment;
        out
    }

    /// Applies empty milestones until the last applied one is `index`.
    fn advance_to(&mut self, index: u32) {
        while self.index < index {
            self.apply(&[]);
        }
    }

    fn outcomes(&mut self, blocks: &[Block]) -> Vec<BlockOutcome> {
        self.apply(blocks).outcomes
    }

    fn at(&self, index: u32) -> Committee {
        committee_at(&self.state, &self.genesis.committee, index).unwrap()
    }

    fn is_member_entry(&self, k: &OrganisationKey) -> bool {
        self.state
            .get(&keys::committee_member(&k.public_key()))
            .unwrap()
            .is_some()
    }

    fn latest_change(&self) -> Option<Vec<u8>> {
        self.state.get(keys::COMMITTEE_LATEST_CHANGE).unwrap()
    }
}

fn conflict(r: ConflictReason) -> BlockOutcome {
    BlockOutcome::Conflicting(r)
}

const OK: BlockOutcome = BlockOutcome::Applied;

#[test]
fn accepted_change_gives_the_old_committee_before_and_the_new_one_from_its_index() {
    let mut w = world();
    assert_eq!(w.at(0), c0());
    assert_eq!(w.at(u32::MAX), c0());
    assert_eq!(pending_committee_change(&w.state, 0).unwrap(), None);
    let (k1, k2, k3) = (key(1), key(2), key(3));
    let c = change(&c1(), 4, &c0(), &[&k1, &k2, &k3]);
    let b = w.propose(&k1, c.clone());
    assert_eq!(w.outcomes(&[b]), vec![OK]);
    for i in 0..4 {
        assert_eq!(w.at(i), c0(), "index {i}");
    }
    assert_eq!(
        pending_committee_change(&w.state, 2).unwrap(),
        Some((4, c1()))
    );
    assert_eq!(pending_committee_change(&w.state, 4).unwrap(), None);
    for i in [4, 5, 1_000, u32::MAX] {
        assert_eq!(w.at(i), c1(), "index {i}");
    }
    // The two entries, as specified.
    assert_eq!(w.latest_change(), Some(4u32.to_le_bytes().to_vec()));
    let raw = w.state.get(&committee_change_key(4)).unwrap().unwrap();
    assert_eq!(&raw[..4], &0u32.to_le_bytes());
    assert_eq!(&raw[4..], &c.to_bytes()[..]);
    assert_eq!(decode_committee_change_entry(&raw).unwrap(), (0, c));
    assert_eq!(
        committee_change_key(4),
        [b"committee/change/".as_slice(), &[0, 0, 0, 4]].concat()
    );
    // Applying milestones does not change the answer; the switch at 4 neither.
    w.advance_to(6);
    assert_eq!(w.at(3), c0());
    assert_eq!(w.at(4), c1());
}

#[test]
fn member_entries_switch_at_the_effective_index() {
    let mut w = world();
    let (k1, k2, k3, k5) = (key(1), key(2), key(3), key(5));
    let c = change(&c1(), 4, &c0(), &[&k1, &k2, &k3]);
    let b = w.propose(&k2, c);
    assert_eq!(w.outcomes(&[b]), vec![OK]);
    // Milestones 2 and 3: still the genesis committee's entries.
    for _ in 2..4 {
        let added = w.merge(&k5);
        let removed = w.merge(&k1);
        assert_eq!(
            w.outcomes(&[added, removed]),
            vec![conflict(ConflictReason::UnknownIssuer), OK]
        );
        assert!(w.is_member_entry(&k1) && !w.is_member_entry(&k5));
    }
    // From milestone 4 on: the new committee's.
    for _ in 4..7 {
        let added = w.merge(&k5);
        let removed = w.merge(&k1);
        let kept = w.merge(&k2);
        assert_eq!(
            w.outcomes(&[added, removed, kept]),
            vec![OK, conflict(ConflictReason::UnknownIssuer), OK]
        );
        assert!(!w.is_member_entry(&k1) && w.is_member_entry(&k5));
    }
    for k in c1().members() {
        assert!(w.state.get(&keys::committee_member(k)).unwrap().is_some());
    }
    // The incremental commitment is the commitment of the entries.
    let mut recomputed = MultisetHash::new();
    for (k, v) in &w.state.entries {
        recomputed.insert(&state_element(k, v));
    }
    assert_eq!(recomputed, w.commitment);
}

#[test]
fn the_switch_alone_changes_the_member_entries_and_nothing_else() {
    let mut w = world();
    let (k1, k2, k3) = (key(1), key(2), key(3));
    let b = w.propose(&k1, change(&c1(), 4, &c0(), &[&k1, &k2, &k3]));
    w.apply(&[b]);
    w.advance_to(2);
    // An empty milestone with no change at its index writes nothing.
    assert!(w.apply(&[]).diff.writes.is_empty());
    let out = w.apply(&[]);
    assert_eq!(w.index, 4);
    assert_eq!(
        out.diff.writes,
        std::collections::BTreeMap::from([
            (keys::committee_member(&key(1).public_key()), None),
            (keys::committee_member(&key(5).public_key()), Some(vec![1])),
        ])
    );
}

#[test]
fn signatures_must_be_a_quorum_of_the_committee_in_force() {
    let mut w = world();
    let (k1, k2, k3, k4, k9) = (key(1), key(2), key(3), key(4), key(9));
    // Two of four (threshold 3).
    let below = change(&c1(), 5, &c0(), &[&k1, &k2]);
    // Three signatures, one of them by a non-member.
    let outsider = change(&c1(), 5, &c0(), &[&k1, &k2, &k9]);
    // Signed for index 5, presented for index 6.
    let mut moved = change(&c1(), 5, &c0(), &[&k1, &k2, &k3]);
    moved.effective_index = 6;
    // Signed by the right keys as members of another committee (its id differs).
    let other = committee(&[&k1, &k2, &k3, &k4], 4);
    let foreign = change(&c1(), 5, &other, &[&k1, &k2, &k3]);
    // Signed by the new committee rather than the one in force.
    let by_new = change(&c1(), 5, &c1(), &[&k2, &k3, &key(5)]);
    let blocks: Vec<Block> = [below, outsider, moved, foreign, by_new]
        .into_iter()
        .map(|c| w.propose(&k4, c))
        .collect();
    assert_eq!(
        w.outcomes(&blocks),
        vec![conflict(ConflictReason::InvalidCommitteeSignatures); 5]
    );
    assert_eq!(w.latest_change(), None);
    assert_eq!(w.at(5), c0());
    // A quorum passes.
    let ok = change(&c1(), 5, &c0(), &[&k2, &k3, &k4]);
    let b = w.propose(&k4, ok);
    assert_eq!(w.outcomes(&[b]), vec![OK]);
}

#[test]
fn a_change_needs_three_milestones_of_notice() {
    assert_eq!(MIN_COMMITTEE_CHANGE_DELAY, 3);
    let mut w = world();
    let (k1, k2, k3) = (key(1), key(2), key(3));
    w.advance_to(9);
    // Confirmed in milestone 10: effective 12 is too soon, and so are 10 and 1; 13 = 10
    // + 3 is the first index allowed.
    let blocks: Vec<Block> = [12, 10, 1, 13]
        .into_iter()
        .map(|e| {
            let c = change(&c1(), e, &c0(), &[&k1, &k2, &k3]);
            w.propose(&k1, c)
        })
        .collect();
    let too_soon = conflict(ConflictReason::CommitteeChangeTooSoon);
    assert_eq!(w.outcomes(&blocks), vec![too_soon, too_soon, too_soon, OK]);
    assert_eq!(w.latest_change(), Some(13u32.to_le_bytes().to_vec()));
    assert_eq!(w.at(12), c0());
    assert_eq!(w.at(13), c1());
}

#[test]
fn a_change_takes_effect_at_the_start_of_a_committee_epoch() {
    assert!(is_epoch_start(1, 1) && is_epoch_start(7, 1));
    assert!(is_epoch_start(1, 10) && is_epoch_start(11, 10) && is_epoch_start(21, 10));
    assert!(!is_epoch_start(10, 10) && !is_epoch_start(12, 10) && !is_epoch_start(0, 10));
    assert!(!is_epoch_start(1, 0) && !is_epoch_start(11, 0));
    let (k1, k2, k3) = (key(1), key(2), key(3));
    // Epochs of 4 milestones: 5, 9, 13 … start one.
    let mut w = world_with_epoch(4);
    let blocks: Vec<Block> = [6, 8, 9]
        .into_iter()
        .map(|e| {
            let c = change(&c1(), e, &c0(), &[&k1, &k2, &k3]);
            w.propose(&k1, c)
        })
        .collect();
    let not_at_epoch = conflict(ConflictReason::CommitteeChangeNotAtEpoch);
    assert_eq!(w.outcomes(&blocks), vec![not_at_epoch, not_at_epoch, OK]);
    assert_eq!(w.at(8), c0());
    assert_eq!(w.at(9), c1());
    // A network without epochs (the default) never changes its committee.
    let mut w = world_with_epoch(0);
    let c = change(&c1(), 5, &c0(), &[&k1, &k2, &k3]);
    let b = w.propose(&k1, c);
    assert_eq!(w.outcomes(&[b]), vec![not_at_epoch]);
    assert_eq!(w.latest_change(), None);
}

#[test]
fn one_change_at_a_time() {
    let mut w = world();
    let (k1, k2, k3) = (key(1), key(2), key(3));
    let first = change(&c1(), 6, &c0(), &[&k1, &k2, &k3]);
    let rival = change(&c2(), 7, &c0(), &[&k1, &k2, &k3]);
    // Two changes in one milestone: the first in white-flag order wins.
    let a = w.propose(&k1, first);
    let b = w.propose(&k2, rival.clone());
    assert_eq!(
        w.outcomes(&[a, b]),
        vec![OK, conflict(ConflictReason::CommitteeChangePending)]
    );
    // In later milestones, until the pending change has taken effect.
    for _ in 2..6 {
        let again = change(&c2(), 20, &c0(), &[&k1, &k2, &k3]);
        let b = w.propose(&k1, again);
        assert_eq!(
            w.outcomes(&[b]),
            vec![conflict(ConflictReason::CommitteeChangePending)]
        );
    }
    assert_eq!(w.latest_change(), Some(6u32.to_le_bytes().to_vec()));
    assert_eq!(w.at(7), c1());
}

#[test]
fn only_members_of_the_committee_in_force_issue_changes() {
    let mut w = world();
    let (k1, k2, k3, k5, k9) = (key(1), key(2), key(3), key(5), key(9));
    let good = change(&c1(), 5, &c0(), &[&k1, &k2, &k3]);
    let org = key(11);
    let by_org = w.propose(&org, good.clone());
    let by_stranger = w.propose(&k9, good.clone());
    // A member of the next committee, not yet in force.
    let by_next = w.propose(&k5, good.clone());
    w.time += 1;
    let mut anonymous = BlockBuilder::new(w.genesis.network_id(), vec![BlockId::GENESIS], w.time)
        .payload(Payload::CommitteeChange(Box::new(good.clone())))
        .anonymous();
    anonymous.nonce = 1;
    for b in [&by_org, &by_stranger, &by_next] {
        assert_eq!(
            check_issuer(&w.state, b).unwrap(),
            Err(ConflictReason::NotACommitteeMember)
        );
    }
    assert_eq!(
        w.outcomes(&[by_org, by_stranger, by_next, anonymous]),
        vec![
            conflict(ConflictReason::NotACommitteeMember),
            conflict(ConflictReason::NotACommitteeMember),
            conflict(ConflictReason::NotACommitteeMember),
            conflict(ConflictReason::AnonymousNotAllowed),
        ]
    );
    // A member issues it (milestone 2, effective 5).
    let by_member = w.propose(&k3, good);
    assert_eq!(check_issuer(&w.state, &by_member).unwrap(), Ok(None));
    assert_eq!(w.outcomes(&[by_member]), vec![OK]);
    // After the switch a removed member may not issue one, an added one may.
    w.advance_to(5);
    let next = change(&c2(), 9, &c1(), &[&k2, &k3, &key(4)]);
    let removed = w.propose(&k1, next.clone());
    let added = w.propose(&k5, next);
    assert_eq!(
        w.outcomes(&[removed, added]),
        vec![conflict(ConflictReason::NotACommitteeMember), OK]
    );
}

#[test]
fn two_changes_in_a_row_chain() {
    let mut w = world();
    let (k1, k2, k3, k4, k5) = (key(1), key(2), key(3), key(4), key(5));
    let first = change(&c1(), 4, &c0(), &[&k1, &k2, &k3]);
    let b = w.propose(&k1, first);
    assert_eq!(w.outcomes(&[b]), vec![OK]);
    w.advance_to(3);
    // Milestone 4: the first change is in force; the second must be signed by it.
    let by_old = change(&c2(), 8, &c0(), &[&k1, &k2, &k3]);
    let second = change(&c2(), 8, &c1(), &[&k2, &k4, &k5]);
    let x = w.propose(&k5, by_old);
    let y = w.propose(&k5, second.clone());
    assert_eq!(
        w.outcomes(&[x, y]),
        vec![conflict(ConflictReason::InvalidCommitteeSignatures), OK]
    );
    for i in 0..4 {
        assert_eq!(w.at(i), c0(), "index {i}");
    }
    for i in 4..8 {
        assert_eq!(w.at(i), c1(), "index {i}");
    }
    for i in [8, 9, 100, u32::MAX] {
        assert_eq!(w.at(i), c2(), "index {i}");
    }
    let raw = w.state.get(&committee_change_key(8)).unwrap().unwrap();
    assert_eq!(decode_committee_change_entry(&raw).unwrap(), (4, second));
    assert_eq!(w.latest_change(), Some(8u32.to_le_bytes().to_vec()));
    // At 8 the entries are the second change's committee: 2, 3 and 4 out, 6 and 7 in.
    w.advance_to(8);
    for n in 1..=7 {
        let expected = c2().contains(&key(n).public_key());
        assert_eq!(w.is_member_entry(&key(n)), expected, "key {n}");
    }
    let merges: Vec<Block> = [1, 2, 5, 6, 7]
        .into_iter()
        .map(|n| w.merge(&key(n)))
        .collect();
    let unknown = conflict(ConflictReason::UnknownIssuer);
    assert_eq!(w.outcomes(&merges), vec![unknown, unknown, OK, OK, OK]);
    // The answers hold in every later state.
    assert_eq!(w.at(3), c0());
    assert_eq!(w.at(7), c1());
    assert_eq!(w.at(9), c2());
    let mut recomputed = MultisetHash::new();
    for (k, v) in &w.state.entries {
        recomputed.insert(&state_element(k, v));
    }
    assert_eq!(recomputed, w.commitment);
}

#[test]
fn corrupt_entries_are_errors_not_guesses() {
    assert!(decode_committee_change_entry(&[1, 2, 3]).is_err());
    assert!(decode_committee_change_entry(&[0, 0, 0, 0, 1]).is_err());
    let mut state = MemoryState::default();
    // A latest-change pointer to nothing.
    state.entries.insert(
        keys::COMMITTEE_LATEST_CHANGE.to_vec(),
        5u32.to_le_bytes().to_vec(),
    );
    assert!(committee_at(&state, &c0(), 7).is_err());
    // An entry whose previous pointer does not go back.
    let c = change(&c1(), 5, &c0(), &[&key(1)]);
    let mut v = 5u32.to_le_bytes().to_vec();
    v.extend_from_slice(&c.to_bytes());
    state.entries.insert(committee_change_key(5), v);
    assert!(committee_at(&state, &c0(), 4).is_err());
    // An entry under another index than its own.
    let mut v = 0u32.to_le_bytes().to_vec();
    v.extend_from_slice(&c.to_bytes());
    state.entries.insert(committee_change_key(6), v);
    state.entries.insert(
        keys::COMMITTEE_LATEST_CHANGE.to_vec(),
        6u32.to_le_bytes().to_vec(),
    );
    assert!(committee_at(&state, &c0(), 9).is_err());
    // A short latest-change pointer.
    state
        .entries
        .insert(keys::COMMITTEE_LATEST_CHANGE.to_vec(), vec![6]);
    assert!(committee_at(&state, &c0(), 9).is_err());
}

#[test]
fn a_ledger_without_its_genesis_committee_does_not_guess() {
    let mut w = world();
    let (k1, k2, k3) = (key(1), key(2), key(3));
    let b = w.propose(&k1, change(&c1(), 4, &c0(), &[&k1, &k2, &k3]));
    let out = Ledger::default().apply_milestone(
        &w.state,
        w.commitment,
        MilestoneContext {
            index: 1,
            timestamp: 1_000,
        },
        &[(b.id(), &b)],
    );
    assert!(matches!(out, Err(LedgerError::Genesis(_))));
    // Without committee changes it needs none.
    let m = w.merge(&k1);
    let out = Ledger::default()
        .apply_milestone(
            &w.state,
            w.commitment,
            MilestoneContext {
                index: 1,
                timestamp: 1_000,
            },
            &[(m.id(), &m)],
        )
        .unwrap();
    assert_eq!(out.outcomes, vec![OK]);
    assert_eq!(w.ledger.genesis_committee(), Some(&c0()));
}

#[test]
fn committee_conflict_codes_are_stable() {
    for (reason, code, json) in [
        (
            ConflictReason::CommitteeChangePending,
            45,
            "committeeChangePending",
        ),
        (
            ConflictReason::CommitteeChangeTooSoon,
            46,
            "committeeChangeTooSoon",
        ),
        (
            ConflictReason::InvalidCommitteeSignatures,
            47,
            "invalidCommitteeSignatures",
        ),
        (
            ConflictReason::NotACommitteeMember,
            48,
            "notACommitteeMember",
        ),
        (
            ConflictReason::CommitteeChangeNotAtEpoch,
            49,
            "committeeChangeNotAtEpoch",
        ),
    ] {
        assert_eq!(reason.code(), code);
        assert_eq!(ConflictReason::from_code(code), Some(reason));
        assert_eq!(
            serde_json::to_string(&reason).unwrap(),
            format!("\"{json}\"")
        );
    }
    // The codes before them are unchanged.
    assert_eq!(ConflictReason::NotAValueProgram.code(), 44);
    assert_eq!(ConflictReason::AlreadyRevoked.code(), 25);
}
