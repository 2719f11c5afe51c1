//! Mints, transfers and redeems through `apply_milestone`: every rejection, double
//! spends in one milestone and across milestones, and conservation after a random
//! sequence of payloads.

use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use weft_crypto::OrganisationKey;
use weft_entitlements::{mint, redeem, transfer, OwnedNote, OwnerSecretKey, Recipient};
use weft_types::{
    AttributeDef, AttributeKind, BlockBuilder, Did, DidCreate, Entitlement, PolicyCondition,
    PredicateOp, Program, ProgramId, Round, Schema,
};

fn key(n: u8) -> OrganisationKey {
    OrganisationKey::from_seed(&[n; 32])
}

fn did(n: u8) -> Did {
    DidCreate::with_key(key(n).public_key(), 0).did()
}

/// Agency (11: issuer and point), shop (13: issuer and point), issuer-only (14).
const AGENCY: u8 = 11;
const SHOP: u8 = 13;
const ISSUER_ONLY: u8 = 14;

struct World {
    genesis: Genesis,
    ledger: Ledger,
    state: MemoryState,
    commitment: MultisetHash,
    index: u32,
    time: u64,
    rng: ChaCha20Rng,
    program: [u8; 32],
    in_kind: [u8; 32],
}

fn schema() -> Schema {
    Schema {
        name: "household".into(),
        version: "1".into(),
        attributes: vec![AttributeDef {
            name: "household_size".into(),
            kind: AttributeKind::Integer { bits: 8 },
        }],
    }
}

fn program(value_notes: bool) -> Program {
    Program {
        name: if value_notes { "cash" } else { "rice" }.into(),
        schema: schema().id(),
        issuers: vec![did(AGENCY)],
        policy_source: "household_size >= 3".into(),
        conditions: vec![PolicyCondition {
            attribute: 0,
            predicate: PredicateOp::Ge { value: 3 },
        }],
        disclose: 0,
        issued_before: 2_000_000_000,
        rounds: vec![Round {
            number: 1,
            opens: 1,
            closes: u64::MAX / 2,
        }],
        grace_ms: 0,
        entitlement: Entitlement {
            quantity: 5_000,
            unit: "USD cents".into(),
            tiers: vec![],
        },
        points: vec![],
        anonymous: false,
        value_notes,
        nonce: 0,
    }
}

impl World {
    fn new() -> World {
        let mut issuer_only = GenesisOrganisation::with_key(key(ISSUER_ONLY).public_key());
        issuer_only.roles = weft_types::identity::role::ISSUER;
        let genesis = Genesis {
            network_name: "weft-notes-test".into(),
            committee: Committee::new(1, vec![key(12).public_key()]).unwrap(),
            authority: DidCreate::with_key(key(10).public_key(), 0),
            organisations: vec![
                GenesisOrganisation::with_key(key(AGENCY).public_key()),
                GenesisOrganisation::with_key(key(SHOP).public_key()),
                issuer_only,
            ],
            recent_roots: 64,
            eligibility_key: None,
            committee_epoch: 0,
        };
        let (diff, commitment) = Ledger::genesis_state(&genesis);
        let mut state = MemoryState::default();
        state.apply(&diff);
        let mut w = World {
            ledger: Ledger::new(&genesis).unwrap(),
            genesis,
            state,
            commitment,
            index: 0,
            time: 0,
            rng: ChaCha20Rng::seed_from_u64(17),
            program: *program(true).id(&did(AGENCY)).bytes(),
            in_kind: *program(false).id(&did(AGENCY)).bytes(),
        };
        let blocks = vec![
            w.signed(AGENCY, Payload::Schema(schema())),
            w.signed(AGENCY, Payload::Program(Box::new(program(true)))),
            w.signed(AGENCY, Payload::Program(Box::new(program(false)))),
        ];
        assert!(w.apply(&blocks).iter().all(|o| *o == BlockOutcome::Applied));
        w
    }

    fn signed(&mut self, signer: u8, payload: Payload) -> Block {
        self.time += 1;
        let k = key(signer);
        k.sign_block(
            BlockBuilder::new(self.genesis.network_id(), vec![BlockId::GENESIS], self.time)
                .payload(payload)
                .organisation(k.public_key()),
        )
    }

    fn anonymous(&mut self, payload: Payload) -> Block {
        self.time += 1;
        BlockBuilder::new(self.genesis.network_id(), vec![BlockId::GENESIS], self.time)
            .payload(payload)
            .anonymous()
    }

    fn apply(&mut self, blocks: &[Block]) -> Vec<BlockOutcome> {
        self.index += 1;
        let list: Vec<(BlockId, &Block)> = blocks.iter().map(|b| (b.id(), b)).collect();
        let out = self
            .ledger
            .apply_milestone(
                &self.state,
                self.commitment,
                MilestoneContext {
                    index: self.index,
                    timestamp: 1_000 + self.index as u64,
                },
                &list,
            )
            .unwrap();
        self.state.apply(&out.diff);
        self.commitment = out.commitment;
        out.outcomes
    }

    /// Mints `amounts` to fresh keys; returns the owned notes.
    fn mint(&mut self, amounts: &[u64]) -> Vec<OwnedNote> {
        let keys: Vec<_> = amounts
            .iter()
            .map(|_| OwnerSecretKey::random(&mut self.rng))
            .collect();
        let recipients: Vec<_> = keys
            .iter()
            .zip(amounts)
            .map(|(k, a)| Recipient {
                owner: k.public_key(),
                amount: *a,
            })
            .collect();
        let m = mint(self.program, &recipients, &mut self.rng).unwrap();
        let notes = open(&self.program, &m.outputs, &keys);
        let b = self.signed(AGENCY, Payload::Mint(Box::new(m)));
        assert_eq!(self.apply(&[b]), vec![BlockOutcome::Applied]);
        notes
    }

    fn totals(&self) -> NoteTotals {
        notes::totals(&self.state, &pid(&self.program)).unwrap()
    }

    /// The audit recomputed from the state's entries, as an auditor would.
    fn audit_from_entries(&self) -> Result<(), weft_entitlements::AuditError> {
        let p = pid(&self.program);
        let prefix = keys::note_prefix(&p);
        let unspent: Vec<[u8; 32]> = self
            .state
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| notes::parse_unspent(v).unwrap().0)
            .collect();
        let prefix = keys::kernel_prefix(&p);
        let kernels: Vec<[u8; 32]> = self
            .state
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.as_slice().try_into().unwrap())
            .collect();
        let t = self.totals();
        assert_eq!(unspent.len() as u64, t.unspent);
        weft_entitlements::audit(t.minted, t.redeemed, &unspent, &kernels)
    }
}

fn pid(p: &[u8; 32]) -> ProgramId {
    ProgramId(weft_types::RegistryId(*p))
}

/// Opens the outputs addressed to `keys` (in any order).
fn open(
    program: &[u8; 32],
    outputs: &[weft_types::notes::NoteOutput],
    keys: &[OwnerSecretKey],
) -> Vec<OwnedNote> {
    keys.iter()
        .filter_map(|k| {
            outputs
                .iter()
                .find_map(|o| OwnedNote::decrypt(program, o, k))
        })
        .collect()
}

fn conflict(r: ConflictReason) -> BlockOutcome {
    BlockOutcome::Conflicting(r)
}

fn pay(
    w: &mut World,
    inputs: &[OwnedNote],
    amounts: &[u64],
) -> (weft_types::notes::Transfer, Vec<OwnerSecretKey>) {
    let keys: Vec<_> = amounts
        .iter()
        .map(|_| OwnerSecretKey::random(&mut w.rng))
        .collect();
    let recipients: Vec<_> = keys
        .iter()
        .zip(amounts)
        .map(|(k, a)| Recipient {
            owner: k.public_key(),
            amount: *a,
        })
        .collect();
    (
        transfer(w.program, inputs, &recipients, &mut w.rng).unwrap(),
        keys,
    )
}

#[test]
fn mint_is_the_owners_and_only_for_value_programs() {
    let mut w = World::new();
    let notes = w.mint(&[3_000, 2_000]);
    assert_eq!(notes.len(), 2);
    let t = w.totals();
    assert_eq!((t.minted, t.unspent, t.mints), (5_000, 2, 1));
    t.audit().unwrap();
    w.audit_from_entries().unwrap();
    for n in &notes {
        let id = n.id();
        assert!(matches!(
            notes::note_status(&w.state, &pid(&w.program), &id).unwrap(),
            Some(NoteStatus::Unspent { .. })
        ));
    }

    let r = Recipient {
        owner: OwnerSecretKey::random(&mut w.rng).public_key(),
        amount: 10,
    };
    let by_shop = mint(w.program, &[r], &mut w.rng).unwrap();
    let for_rice = mint(w.in_kind, &[r], &mut w.rng).unwrap();
    let for_nothing = mint([9; 32], &[r], &mut w.rng).unwrap();
    let anonymous = mint(w.program, &[r], &mut w.rng).unwrap();
    let blocks = vec![
        w.signed(SHOP, Payload::Mint(Box::new(by_shop))),
        w.signed(AGENCY, Payload::Mint(Box::new(for_rice))),
        w.signed(AGENCY, Payload::Mint(Box::new(for_nothing))),
        w.anonymous(Payload::Mint(Box::new(anonymous))),
    ];
    assert_eq!(
        w.apply(&blocks),
        vec![
            conflict(ConflictReason::NotProgramOwner),
            conflict(ConflictReason::NotAValueProgram),
            conflict(ConflictReason::UnknownProgram),
            conflict(ConflictReason::NotProgramOwner),
        ]
    );
    assert_eq!(w.totals().minted, 5_000, "nothing changed");
}

#[test]
fn transfer_spends_once_and_every_bad_transfer_is_refused() {
    let mut w = World::new();
    let notes = w.mint(&[3_000, 2_000]);
    let before = (w.totals(), w.commitment);

    // A wrong range proof, a balance that does not add up, an input not signed by its
    // owner, an output key that is not a point: each refused, nothing changes.
    let (good, _) = pay(&mut w, &notes, &[4_000, 1_000]);
    let mut bad_range = good.clone();
    bad_range.range_proof[40] ^= 1;
    let mut bad_balance = good.clone();
    bad_balance.outputs[0].commitment = good.outputs[1].commitment;
    let mut bad_owner = good.clone();
    bad_owner.inputs[0].signature[5] ^= 1;
    let mut bad_point = good.clone();
    bad_point.outputs[0].owner = [0xff; 32];
    let blocks: Vec<Block> = [bad_range, bad_balance, bad_owner, bad_point]
        .into_iter()
        .map(|t| w.anonymous(Payload::Transfer(Box::new(t))))
        .collect();
    let out = w.apply(&blocks);
    assert_eq!(out[0], conflict(ConflictReason::InvalidRangeProof));
    assert_eq!(out[2], conflict(ConflictReason::NotNoteOwner));
    // Changing a commitment breaks the balance before the range proof is looked at;
    // reordered outputs may also break canonical order: either way it is refused.
    assert!(matches!(
        out[1],
        BlockOutcome::Conflicting(ConflictReason::Unbalanced | ConflictReason::MalformedNote)
    ));
    assert_eq!(out[3], conflict(ConflictReason::MalformedNote));
    assert_eq!(w.totals(), before.0);

    // The good one and a second spend of the same note in one milestone: the first in
    // white-flag order wins.
    let (again, _) = pay(&mut w, &notes[..1], &[3_000]);
    let blocks = vec![
        w.anonymous(Payload::Transfer(Box::new(good.clone()))),
        w.anonymous(Payload::Transfer(Box::new(again.clone()))),
    ];
    assert_eq!(
        w.apply(&blocks),
        vec![BlockOutcome::Applied, conflict(ConflictReason::NoteSpent)]
    );
    let t = w.totals();
    assert_eq!(
        (t.minted, t.unspent, t.spent, t.transfers),
        (5_000, 2, 2, 1)
    );
    t.audit().unwrap();
    w.audit_from_entries().unwrap();
    // In a later milestone, the replayed payload and another spend are refused too.
    let b1 = w.anonymous(Payload::Transfer(Box::new(good)));
    let b2 = w.anonymous(Payload::Transfer(Box::new(again)));
    assert_eq!(
        w.apply(&[b1, b2]),
        vec![
            conflict(ConflictReason::NoteSpent),
            conflict(ConflictReason::NoteSpent)
        ]
    );
    let spent = notes::note_status(&w.state, &pid(&w.program), &notes[0].id()).unwrap();
    assert!(matches!(spent, Some(NoteStatus::Spent { .. })));
}

#[test]
fn redeem_needs_an_accredited_point_and_keeps_the_books() {
    let mut w = World::new();
    let notes = w.mint(&[700, 300]);
    let payee = key(SHOP).public_key().0;
    let change = Recipient {
        owner: OwnerSecretKey::random(&mut w.rng).public_key(),
        amount: 250,
    };
    let r = redeem(w.program, &notes, 750, payee, &[change], &mut w.rng).unwrap();
    let anonymous = w.anonymous(Payload::Redeem(Box::new(r.clone())));
    let issuer_only = w.signed(ISSUER_ONLY, Payload::Redeem(Box::new(r.clone())));
    assert_eq!(
        w.apply(&[anonymous, issuer_only]),
        vec![
            conflict(ConflictReason::AnonymousNotAllowed),
            conflict(ConflictReason::NotAccredited)
        ]
    );
    let b = w.signed(SHOP, Payload::Redeem(Box::new(r)));
    assert_eq!(w.apply(&[b]), vec![BlockOutcome::Applied]);
    let t = w.totals();
    assert_eq!(
        (t.minted, t.redeemed, t.unspent, t.redeems),
        (1_000, 750, 1, 1)
    );
    t.audit().unwrap();
    w.audit_from_entries().unwrap();
}

#[test]
fn the_audit_would_catch_value_created_outside_a_mint() {
    let mut w = World::new();
    w.mint(&[100]);
    let mut t = w.totals();
    t.minted += 1;
    assert!(t.audit().is_err(), "one unit more than the notes hold");
    let mut t = w.totals();
    t.unspent_sum = weft_entitlements::commit(5, &Default::default())
        .compress()
        .to_bytes();
    assert!(t.audit().is_err());
}

#[test]
fn conservation_holds_after_a_random_sequence() {
    let mut w = World::new();
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let mut wallet: Vec<OwnedNote> = Vec::new();
    let mut minted = 0u128;
    let mut redeemed = 0u128;
    for step in 0..30 {
        match rng.gen_range(0..3) {
            0 => {
                let amounts: Vec<u64> = (0..rng.gen_range(1..4))
                    .map(|_| rng.gen_range(1..10_000))
                    .collect();
                minted += amounts.iter().sum::<u64>() as u128;
                wallet.extend(w.mint(&amounts));
            }
            1 if !wallet.is_empty() => {
                let n = rng.gen_range(1..=wallet.len().min(3));
                let inputs: Vec<OwnedNote> = wallet.drain(..n).collect();
                let sum: u64 = inputs.iter().map(OwnedNote::amount).sum();
                let first = rng.gen_range(0..=sum);
                let (t, keys) = pay(&mut w, &inputs, &[first, sum - first]);
                let outs = open(&w.program, &t.outputs, &keys);
                let b = w.anonymous(Payload::Transfer(Box::new(t)));
                assert_eq!(w.apply(&[b]), vec![BlockOutcome::Applied], "step {step}");
                wallet.extend(outs);
            }
            _ if !wallet.is_empty() => {
                let inputs: Vec<OwnedNote> = wallet.drain(..1).collect();
                let amount = rng.gen_range(0..=inputs[0].amount());
                let k = OwnerSecretKey::random(&mut w.rng);
                let change = Recipient {
                    owner: k.public_key(),
                    amount: inputs[0].amount() - amount,
                };
                let r = redeem(w.program, &inputs, amount, [1; 32], &[change], &mut w.rng).unwrap();
                let outs = open(&w.program, &r.outputs, &[k]);
                let b = w.signed(SHOP, Payload::Redeem(Box::new(r)));
                assert_eq!(w.apply(&[b]), vec![BlockOutcome::Applied], "step {step}");
                redeemed += amount as u128;
                wallet.extend(outs);
            }
            _ => {}
        }
        let t = w.totals();
        assert_eq!((t.minted, t.redeemed), (minted, redeemed));
        t.audit().unwrap();
        w.audit_from_entries().unwrap();
    }
    let held: u128 = wallet.iter().map(|n| n.amount() as u128).sum();
    assert_eq!(held, minted - redeemed);
}
