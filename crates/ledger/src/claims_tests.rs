//! Programs and claims through `apply_milestone`, with real proofs (the dev keys), and
//! every rejection.

use super::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use weft_circuits::{Credential, EligibilityCircuit, HolderSecrets, Witness};
use weft_credentials::claim::{program_field, schema_field, statement};
use weft_crypto::poseidon::{fr_to_bytes_be, Fr};
use weft_crypto::registry::Registry;
use weft_crypto::OrganisationKey;
use weft_types::{
    AttributeDef, AttributeKind, BlockBuilder, Claim, DeviceKey, Did, DidCreate, Entitlement,
    Issuance, PointEndorsement, PolicyCondition, PredicateOp, Program, ProgramId, RegistryCreate,
    RegistryId, Round, Schema, Tier,
};

const T0: u64 = 1_764_000_000_000;
const HOUR: u64 = 3_600_000;

fn key(n: u8) -> OrganisationKey {
    OrganisationKey::from_seed(&[n; 32])
}

struct World {
    genesis: Genesis,
    ledger: Ledger,
    state: MemoryState,
    commitment: MultisetHash,
    index: u32,
    time: u64,
    rng: ChaCha20Rng,
    registry: Registry,
    registry_id: RegistryId,
    program_id: ProgramId,
    program: Program,
    /// The one-time key the next claims carry (value programs).
    entitlement_key: Option<[u8; 32]>,
}

fn schema() -> Schema {
    Schema {
        name: "household".into(),
        version: "1".into(),
        attributes: vec![
            AttributeDef {
                name: "household_size".into(),
                kind: AttributeKind::Integer { bits: 8 },
            },
            AttributeDef {
                name: "region".into(),
                kind: AttributeKind::Enumeration {
                    values: vec!["north".into(), "east".into()],
                },
            },
        ],
    }
}

fn agency_did() -> Did {
    DidCreate::with_key(key(11).public_key(), 0).did()
}

impl World {
    fn block(&mut self, signer: &OrganisationKey, payload: Payload) -> Block {
        self.time += 1;
        signer.sign_block(
            BlockBuilder::new(self.genesis.network_id(), vec![BlockId::GENESIS], self.time)
                .payload(payload)
                .organisation(signer.public_key()),
        )
    }

    fn apply_at(&mut self, timestamp: u64, blocks: &[Block]) -> MilestoneOutcome {
        self.index += 1;
        let list: Vec<(BlockId, &Block)> = blocks.iter().map(|b| (b.id(), b)).collect();
        let out = self
            .ledger
            .apply_milestone(
                &self.state,
                self.commitment,
                MilestoneContext {
                    index: self.index,
                    timestamp,
                },
                &list,
            )
            .unwrap();
        self.state.apply(&out.diff);
        self.commitment = out.commitment;
        out
    }

    fn apply(&mut self, blocks: &[Block]) -> Vec<BlockOutcome> {
        self.apply_at(T0 + 60_000, blocks).outcomes
    }

    /// A household credential (size, region index) issued into the registry.
    fn household(&mut self, secrets: &HolderSecrets, size: u64, region: u64) -> (Credential, u64) {
        let mut attributes = [Fr::from(0u64); 16];
        attributes[0] = Fr::from(size);
        attributes[1] = Fr::from(region);
        let credential = Credential::issue(
            schema_field(&schema().id()),
            attributes,
            ((T0 / 1000) + 365 * 86_400) as u32,
            ((T0 / 1000) - 86_400) as u32,
            secrets.holder_commitment(),
            secrets.household_commitment(),
            &mut self.rng,
        );
        let index = self.registry.len();
        let leaf = credential.commitment();
        self.registry.append(leaf).unwrap();
        let b = self.block(
            &key(11),
            Payload::Issuance(Issuance {
                registry: self.registry_id,
                first_index: index,
                leaves: vec![fr_to_bytes_be(&leaf)],
            }),
        );
        assert_eq!(self.apply(&[b]), vec![BlockOutcome::Applied]);
        (credential, index)
    }

    /// A claim block proven for `secrets`' credential at `index`, endorsed by `device`.
    #[allow(clippy::too_many_arguments)]
    fn claim(
        &mut self,
        secrets: &HolderSecrets,
        credential: &Credential,
        index: u64,
        round: u32,
        time: u64,
        device: Option<&OrganisationKey>,
    ) -> Claim {
        let program_fr = program_field(&self.program_id);
        let mut claim = Claim {
            program: self.program_id,
            round,
            registry: self.registry_id,
            root: fr_to_bytes_be(&self.registry.root()),
            nullifier: fr_to_bytes_be(&secrets.nullifier(program_fr, round as u64)),
            disclosed: vec![fr_to_bytes_be(&credential.attributes[1])],
            nonce: vec![7; 16],
            time,
            proof: vec![0; 128],
            entitlement_key: self.entitlement_key,
            endorsement: device.map(|d| PointEndorsement {
                point: agency_did(),
                device_key: d.public_key(),
                signature: weft_types::SignatureBytes([0; 64]),
            }),
        };
        let st = statement(&self.program_id, &self.program, &claim).unwrap();
        let circuit = EligibilityCircuit {
            depth: 24,
            statement: st,
            witness: Witness {
                credential: credential.clone(),
                secrets: secrets.clone(),
                path: self.registry.path(index).unwrap(),
            },
        };
        let keys = weft_circuits::groth16::dev_keys().unwrap();
        let proof = weft_circuits::prove(keys, circuit, &mut self.rng).unwrap();
        claim.proof = weft_circuits::CompressedProof::from_proof(&proof)
            .0
            .to_vec();
        if let Some(d) = device {
            sign(&mut claim, d);
        }
        claim
    }

    fn claim_block(&mut self, claim: Claim) -> Block {
        self.time += 1;
        BlockBuilder::new(self.genesis.network_id(), vec![BlockId::GENESIS], self.time)
            .payload(Payload::Claim(Box::new(claim)))
            .anonymous()
    }

    fn counts(&self, point: Option<&Did>) -> ClaimCounts {
        claims::claim_counts(&self.state, &self.program_id, 1, point).unwrap()
    }
}

fn sign(claim: &mut Claim, device: &OrganisationKey) {
    let msg = claim_message(claim, device);
    claim.endorsement.as_mut().unwrap().signature = device.sign(&msg);
}

fn claim_message(claim: &Claim, device: &OrganisationKey) -> [u8; 32] {
    claim.signing_message(&agency_did(), &device.public_key())
}

fn program() -> Program {
    Program {
        name: "winter food".into(),
        schema: schema().id(),
        issuers: vec![agency_did()],
        policy_source: "household_size >= 3".into(),
        conditions: vec![PolicyCondition {
            attribute: 0,
            predicate: PredicateOp::Ge { value: 3 },
        }],
        disclose: 0b10,
        issued_before: (T0 / 1000) as u32,
        rounds: vec![Round {
            number: 1,
            opens: T0,
            closes: T0 + HOUR,
        }],
        grace_ms: 24 * HOUR,
        entitlement: Entitlement {
            quantity: 25,
            unit: "kg rice".into(),
            tiers: vec![Tier {
                attribute: 1,
                value: fr_to_bytes_be(&Fr::from(1u64)),
                quantity: 40,
            }],
        },
        points: vec![],
        anonymous: false,
        value_notes: false,
        nonce: 0,
    }
}

fn world() -> World {
    let keys = weft_circuits::groth16::dev_keys().unwrap();
    let genesis = Genesis {
        network_name: "weft-test".into(),
        committee: Committee::new(1, vec![key(12).public_key()]).unwrap(),
        authority: DidCreate::with_key(key(10).public_key(), 0),
        organisations: vec![GenesisOrganisation::with_key(key(11).public_key())],
        recent_roots: 64,
        eligibility_key: Some(keys.verifying_key_bytes()),
        committee_epoch: 0,
    };
    let (diff, commitment) = Ledger::genesis_state(&genesis);
    let mut state = MemoryState::default();
    state.apply(&diff);
    let create = RegistryCreate {
        schema: schema().id(),
        depth: 24,
        chunk_bits: 10,
        label: String::new(),
    };
    let program = program();
    let mut w = World {
        ledger: Ledger::new(&genesis).unwrap(),
        genesis,
        state,
        commitment,
        index: 0,
        time: 0,
        rng: ChaCha20Rng::seed_from_u64(5),
        registry: Registry::new(24).unwrap(),
        registry_id: create.id(&agency_did()),
        program_id: program.id(&agency_did()),
        program: program.clone(),
        entitlement_key: None,
    };
    let blocks = vec![
        w.block(&key(11), Payload::Schema(schema())),
        w.block(&key(11), Payload::RegistryCreate(create)),
        w.block(&key(11), Payload::Program(Box::new(program))),
        w.block(
            &key(10),
            Payload::DeviceKey(DeviceKey {
                point: agency_did(),
                key: key(20).public_key(),
                active: true,
            }),
        ),
    ];
    assert!(w.apply(&blocks).iter().all(|o| *o == BlockOutcome::Applied));
    w
}

fn conflict(r: ConflictReason) -> BlockOutcome {
    BlockOutcome::Conflicting(r)
}

#[test]
fn one_claim_per_household_per_round_with_every_rejection() {
    let mut w = world();
    let device = key(20);
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let a = HolderSecrets::random(&mut rng);
    let b = HolderSecrets::random(&mut rng);
    // A second member of household A: own holder secret, same household key.
    let a2 = HolderSecrets {
        holder_secret: Fr::from(777u64),
        household_key: a.household_key,
    };
    let (ca, ia) = w.household(&a, 5, 0);
    let (cb, ib) = w.household(&b, 3, 1);
    let (ca2, ia2) = w.household(&a2, 5, 0);
    let t = T0 + 10 * 60_000;

    // Two households and the second member of the first, in one milestone: the batch
    // holds three valid proofs; the household's second claim loses to its first.
    let claim_a = w.claim(&a, &ca, ia, 1, t, Some(&device));
    let claim_b = w.claim(&b, &cb, ib, 1, t, Some(&device));
    let claim_a2 = w.claim(&a2, &ca2, ia2, 1, t, Some(&device));
    let blocks = vec![
        w.claim_block(claim_a.clone()),
        w.claim_block(claim_b),
        w.claim_block(claim_a2),
    ];
    assert_eq!(
        w.apply(&blocks),
        vec![
            BlockOutcome::Applied,
            BlockOutcome::Applied,
            conflict(ConflictReason::NullifierUsed)
        ]
    );
    let total = w.counts(None);
    assert_eq!(
        (total.claims, total.entitlement, total.double_claims),
        (2, 25 + 40, 1),
        "region east gets the 40 kg tier"
    );
    assert_eq!(w.counts(Some(&agency_did())), total);
    assert_eq!(
        claims::round_points(&w.state, &w.program_id, 1).unwrap(),
        vec![agency_did()]
    );
    // In a later milestone too.
    let again = w.claim_block(claim_a.clone());
    let again_id = again.id();
    assert_eq!(
        w.apply(&[again]),
        vec![conflict(ConflictReason::NullifierUsed)]
    );
    assert_ne!(
        claims::nullifier_use(&w.state, &w.program_id, 1, &claim_a.nullifier).unwrap(),
        Some(again_id)
    );

    // Each rejection, one at a time, from a fresh household so the nullifier is unused.
    let c = HolderSecrets::random(&mut rng);
    let (cc, ic) = w.household(&c, 4, 0);
    let good = w.claim(&c, &cc, ic, 1, t, Some(&device));

    let mut tampered = good.clone();
    tampered.proof[5] ^= 1;
    sign(&mut tampered, &device);
    let mut bad_signature = good.clone();
    bad_signature.endorsement.as_mut().unwrap().signature.0[0] ^= 1;
    let mut other_nonce = good.clone();
    other_nonce.nonce = vec![8; 16];
    sign(&mut other_nonce, &device);
    let mut stale = good.clone();
    stale.root = fr_to_bytes_be(&Fr::from(12345u64));
    sign(&mut stale, &device);
    let mut unknown_round = good.clone();
    unknown_round.round = 2;
    sign(&mut unknown_round, &device);
    let mut late = good.clone();
    late.time = T0 + 2 * HOUR;
    sign(&mut late, &device);
    let mut other_program = good.clone();
    other_program.program = ProgramId(RegistryId([1; 32]));
    sign(&mut other_program, &device);
    let mut wrong_disclosure = good.clone();
    wrong_disclosure.disclosed.clear();
    sign(&mut wrong_disclosure, &device);
    let mut anonymous = good.clone();
    anonymous.endorsement = None;
    let cases = vec![
        (tampered, ConflictReason::InvalidProof),
        (bad_signature, ConflictReason::InvalidDeviceSignature),
        (other_nonce, ConflictReason::InvalidProof),
        (stale, ConflictReason::StaleRoot),
        (unknown_round, ConflictReason::UnknownRound),
        (late, ConflictReason::RoundClosed),
        (other_program, ConflictReason::UnknownProgram),
        (wrong_disclosure, ConflictReason::InvalidProof),
        (anonymous, ConflictReason::AnonymousNotAllowed),
    ];
    for (claim, reason) in cases {
        let blk = w.claim_block(claim);
        assert_eq!(w.apply(&[blk]), vec![conflict(reason)], "{reason:?}");
    }
    // A claim that reaches the ledger after the round's grace period.
    let blk = w.claim_block(good.clone());
    let out = w.apply_at(T0 + HOUR + 25 * HOUR, &[blk]);
    assert_eq!(out.outcomes, vec![conflict(ConflictReason::RoundClosed)]);
    // A stolen tablet: once its key is revoked, its claims are refused.
    let revoke = w.block(
        &key(11),
        Payload::DeviceKey(DeviceKey {
            point: agency_did(),
            key: device.public_key(),
            active: false,
        }),
    );
    let blk = w.claim_block(good.clone());
    assert_eq!(
        w.apply(&[revoke, blk]),
        vec![
            BlockOutcome::Applied,
            conflict(ConflictReason::UnknownDeviceKey)
        ]
    );
    // Nothing of the refused claims counted.
    assert_eq!(w.counts(None).claims, 2);
}

#[test]
fn programs_need_an_accredited_issuer_and_a_compilable_policy() {
    let mut w = world();
    let mut p = program();
    p.nonce = 1;
    let stranger = key(30);
    let create = w.block(
        &stranger,
        Payload::DidCreate(DidCreate::with_key(stranger.public_key(), 0)),
    );
    let by_stranger = w.block(&stranger, Payload::Program(Box::new(p.clone())));
    let mut bad = p.clone();
    bad.conditions[0].predicate = PredicateOp::Eq { value: [0xff; 32] };
    let bad = w.block(&key(11), Payload::Program(Box::new(bad)));
    let twice = w.block(&key(11), Payload::Program(Box::new(program())));
    let mut unknown_schema = p.clone();
    unknown_schema.schema = weft_types::SchemaId([3; 32]);
    let unknown_schema = w.block(&key(11), Payload::Program(Box::new(unknown_schema)));
    assert_eq!(
        w.apply(&[create, by_stranger, bad, twice, unknown_schema]),
        vec![
            BlockOutcome::Applied,
            conflict(ConflictReason::NotAccredited),
            conflict(ConflictReason::InvalidProgram),
            conflict(ConflictReason::ProgramExists),
            conflict(ConflictReason::UnknownSchema),
        ]
    );
    // A point that is not the program's.
    let mut p2 = program();
    p2.nonce = 2;
    p2.points = vec![Did([1; 32])];
    let id2 = p2.id(&agency_did());
    let blk = w.block(&key(11), Payload::Program(Box::new(p2.clone())));
    assert_eq!(w.apply(&[blk]), vec![BlockOutcome::Applied]);
    let rec = claims::program_record(&w.state, &id2).unwrap().unwrap();
    assert_eq!(rec.owner, agency_did());
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let h = HolderSecrets::random(&mut rng);
    let (c, i) = w.household(&h, 6, 0);
    w.program_id = id2;
    w.program = p2;
    let claim = w.claim(&h, &c, i, 1, T0 + 60_000, Some(&key(20)));
    let blk = w.claim_block(claim);
    assert_eq!(
        w.apply(&[blk]),
        vec![conflict(ConflictReason::PointNotAllowed)]
    );
    // The authority is not an issuer: it cannot announce programs either.
    let by_authority = w.block(&key(10), Payload::Program(Box::new(program())));
    assert_eq!(
        w.apply(&[by_authority]),
        vec![conflict(ConflictReason::NotAccredited)]
    );
}

#[test]
fn a_value_programs_claim_mints_its_entitlement_to_the_bound_key() {
    use weft_entitlements::{OwnedNote, OwnerSecretKey};
    let mut w = world();
    let device = key(20);
    let mut rng = ChaCha20Rng::seed_from_u64(31);
    let a = HolderSecrets::random(&mut rng);
    let b = HolderSecrets::random(&mut rng);
    let c = HolderSecrets::random(&mut rng);
    let (ca, ia) = w.household(&a, 5, 1);
    let (cb, ib) = w.household(&b, 5, 0);
    let (cc, ic) = w.household(&c, 4, 0);
    let t = T0 + 10 * 60_000;
    let household_key = OwnerSecretKey::random(&mut rng);
    let owner = household_key.public_key().to_bytes();

    // A key on an in-kind program's claim is refused.
    w.entitlement_key = Some(owner);
    let on_rice = w.claim(&a, &ca, ia, 1, t, Some(&device));
    let block = w.claim_block(on_rice);
    assert_eq!(
        w.apply(&[block]),
        vec![conflict(ConflictReason::NotAValueProgram)]
    );

    // The same rules as a cash program.
    let mut cash = program();
    cash.name = "winter cash".into();
    cash.value_notes = true;
    let announce = w.block(&key(11), Payload::Program(Box::new(cash.clone())));
    assert_eq!(w.apply(&[announce]), vec![BlockOutcome::Applied]);
    w.program_id = cash.id(&agency_did());
    w.program = cash;
    let pid = *w.program_id.bytes();

    // A (region east, tier 40) claims with its key: the note 40·B is minted to it.
    let claim_a = w.claim(&a, &ca, ia, 1, t, Some(&device));
    // B's claim proven for one key but carrying another (a thief's) fails the proof.
    let mut claim_b = w.claim(&b, &cb, ib, 1, t, Some(&device));
    claim_b.entitlement_key = Some(OwnerSecretKey::random(&mut rng).public_key().to_bytes());
    sign(&mut claim_b, &device);
    // C's key is not a point: refused before anything is recorded.
    w.entitlement_key = Some([0xff; 32]);
    let claim_c = w.claim(&c, &cc, ic, 1, t, Some(&device));
    let blocks = vec![
        w.claim_block(claim_a),
        w.claim_block(claim_b),
        w.claim_block(claim_c),
    ];
    assert_eq!(
        w.apply(&blocks),
        vec![
            BlockOutcome::Applied,
            conflict(ConflictReason::InvalidProof),
            conflict(ConflictReason::MalformedNote),
        ]
    );
    let note = OwnedNote::from_claim(&pid, household_key, 40);
    let status = notes::note_status(&w.state, &w.program_id, &note.id()).unwrap();
    assert!(matches!(status, Some(NoteStatus::Unspent { .. })));
    let totals = notes::totals(&w.state, &w.program_id).unwrap();
    assert_eq!(
        (totals.minted, totals.claim_notes, totals.unspent),
        (40, 1, 1)
    );
    totals.audit().unwrap();
    // C's nullifier was not used up by the refused claim.
    w.entitlement_key = None;
    let claim_c = w.claim(&c, &cc, ic, 1, t, Some(&device));
    let block = w.claim_block(claim_c);
    assert_eq!(w.apply(&[block]), vec![BlockOutcome::Applied]);
}
