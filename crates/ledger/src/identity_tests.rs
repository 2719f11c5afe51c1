//! DID lifecycle, accreditation, device keys, schemas and registries, through
//! `apply_milestone`, with every rejection.

use super::*;
use weft_crypto::poseidon::{fr_to_bytes_be, Fr};
use weft_crypto::registry::Registry;
use weft_crypto::OrganisationKey;
use weft_types::identity::purpose;
use weft_types::{
    Accreditation, AttributeDef, AttributeKind, BlockBuilder, DeviceKey, Did, DidCreate,
    DidDeactivate, DidKey, DidOperation, DidUpdate, Issuance, RegistryCreate, RegistryId,
    Revocation, Schema, TaggedData,
};

struct World {
    agency: OrganisationKey,
    genesis: Genesis,
    state: MemoryState,
    commitment: MultisetHash,
    time: u64,
    index: u32,
}

fn key(n: u8) -> OrganisationKey {
    OrganisationKey::from_seed(&[n; 32])
}

fn world(recent_roots: u32) -> World {
    let authority = key(10);
    let agency = key(11);
    let genesis = Genesis {
        network_name: "weft-test".into(),
        committee: Committee::new(1, vec![key(12).public_key()]).unwrap(),
        authority: DidCreate::with_key(authority.public_key(), 0),
        organisations: vec![GenesisOrganisation::with_key(agency.public_key())],
        recent_roots,
        eligibility_key: None,
        committee_epoch: 0,
    };
    let (diff, commitment) = Ledger::genesis_state(&genesis);
    let mut state = MemoryState::default();
    state.apply(&diff);
    World {
        agency,
        genesis,
        state,
        commitment,
        time: 0,
        index: 0,
    }
}

impl World {
    fn block(&mut self, signer: &OrganisationKey, payload: Payload) -> Block {
        self.time += 1;
        let b = BlockBuilder::new(self.genesis.network_id(), vec![BlockId::GENESIS], self.time)
            .payload(payload)
            .organisation(signer.public_key());
        signer.sign_block(b)
    }

    fn apply(&mut self, blocks: &[Block]) -> MilestoneOutcome {
        self.index += 1;
        let list: Vec<(BlockId, &Block)> = blocks.iter().map(|b| (b.id(), b)).collect();
        let out = Ledger::default()
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

    /// Applies one block per milestone and returns each outcome.
    fn each(&mut self, blocks: Vec<Block>) -> Vec<BlockOutcome> {
        blocks
            .into_iter()
            .map(|b| self.apply(&[b]).outcomes[0])
            .collect()
    }

    fn agency_did(&self) -> Did {
        self.genesis.organisations[0].did.did()
    }

    fn authority_did(&self) -> Did {
        self.genesis.authority.did()
    }
}

fn conflict(r: ConflictReason) -> BlockOutcome {
    BlockOutcome::Conflicting(r)
}

const OK: BlockOutcome = BlockOutcome::Applied;

fn two_key_did(controller: &OrganisationKey, signer_only: &OrganisationKey) -> DidCreate {
    DidCreate {
        keys: vec![
            DidKey {
                id: "key-1".into(),
                public_key: controller.public_key(),
                purposes: purpose::ALL,
            },
            DidKey {
                id: "key-2".into(),
                public_key: signer_only.public_key(),
                purposes: purpose::AUTHENTICATION,
            },
        ],
        services: vec![],
        nonce: 0,
    }
}

#[test]
fn did_lifecycle_with_rotation_and_deactivation() {
    let mut w = world(64);
    let (k1, k2, k3, k4) = (key(1), key(2), key(3), key(4));
    let create = two_key_did(&k1, &k2);
    let did = create.did();
    let b = w.block(&k1, Payload::DidCreate(create.clone()));
    // A DidCreate signed by a key it does not list is refused.
    let foreign = w.block(&k3, Payload::DidCreate(create.clone()));
    assert_eq!(
        w.each(vec![foreign, b]),
        vec![conflict(ConflictReason::UnknownIssuer), OK]
    );
    let again = w.block(&k1, Payload::DidCreate(create.clone()));
    // k1 is now a DID key, so the issuer rule passes and the DID rule refuses.
    assert_eq!(
        w.each(vec![again]),
        vec![conflict(ConflictReason::DidExists)]
    );
    let rec = identity::did_record(&w.state, &did).unwrap().unwrap();
    assert_eq!((rec.version, rec.keys.len()), (1, 2));

    // Rotation of key-1 to k3, signed by the controller k1.
    let rotate = DidUpdate {
        did,
        sequence: 1,
        operations: vec![DidOperation::RotateKey {
            id: "key-1".into(),
            public_key: k3.public_key(),
        }],
    };
    let not_controller = w.block(&k2, Payload::DidUpdate(rotate.clone()));
    let outsider = w.block(&k4, Payload::DidUpdate(rotate.clone()));
    let ok = w.block(&k1, Payload::DidUpdate(rotate.clone()));
    let replay = w.block(&k1, Payload::DidUpdate(rotate.clone()));
    assert_eq!(
        w.each(vec![not_controller, outsider, ok]),
        vec![
            conflict(ConflictReason::NotController),
            conflict(ConflictReason::UnknownIssuer),
            OK
        ]
    );
    // From the confirming milestone on, the rotated-out key signs nothing.
    assert_eq!(
        w.each(vec![replay]),
        vec![conflict(ConflictReason::RevokedKey)]
    );
    let stale = w.block(&k3, Payload::DidUpdate(rotate.clone()));
    assert_eq!(
        w.each(vec![stale]),
        vec![conflict(ConflictReason::StaleSequence)]
    );
    assert!(!may_sign_blocks(&w.state, &k1.public_key()).unwrap());
    assert!(may_sign_blocks(&w.state, &k3.public_key()).unwrap());

    // Invalid documents: removing the only controller, removing an unknown key,
    // re-adding a retired key.
    let no_controller = DidUpdate {
        did,
        sequence: 2,
        operations: vec![DidOperation::RemoveKey { id: "key-1".into() }],
    };
    let unknown = DidUpdate {
        did,
        sequence: 2,
        operations: vec![DidOperation::RemoveKey { id: "key-9".into() }],
    };
    let reuse = DidUpdate {
        did,
        sequence: 2,
        operations: vec![DidOperation::AddKey(DidKey {
            id: "key-3".into(),
            public_key: k1.public_key(),
            purposes: purpose::AUTHENTICATION,
        })],
    };
    let blocks = vec![
        w.block(&k3, Payload::DidUpdate(no_controller)),
        w.block(&k3, Payload::DidUpdate(unknown)),
        w.block(&k3, Payload::DidUpdate(reuse)),
    ];
    assert_eq!(
        w.each(blocks),
        vec![
            conflict(ConflictReason::InvalidDidDocument),
            conflict(ConflictReason::InvalidDidDocument),
            conflict(ConflictReason::KeyInUse)
        ]
    );

    // An anonymous update is refused.
    w.time += 1;
    let mut anon = BlockBuilder::new(w.genesis.network_id(), vec![BlockId::GENESIS], w.time)
        .payload(Payload::DidUpdate(rotate))
        .anonymous();
    anon.nonce = 0;
    assert_eq!(
        w.each(vec![anon]),
        vec![conflict(ConflictReason::AnonymousNotAllowed)]
    );

    // Deactivation: every key becomes a tombstone; history stays.
    let deactivate = w.block(
        &k3,
        Payload::DidDeactivate(DidDeactivate { did, sequence: 2 }),
    );
    let after = w.block(
        &k2,
        Payload::TaggedData(TaggedData {
            tag: vec![],
            data: vec![1],
        }),
    );
    assert_eq!(
        w.each(vec![deactivate, after]),
        vec![OK, conflict(ConflictReason::RevokedKey)]
    );
    let rec = identity::did_record(&w.state, &did).unwrap().unwrap();
    assert!(rec.deactivated);
    assert_eq!(rec.version, 3);
    let v1 = identity::did_version(&w.state, &did, 1).unwrap().unwrap();
    assert_eq!(v1.keys[0].public_key, k1.public_key());
    let v2 = identity::did_version(&w.state, &did, 2).unwrap().unwrap();
    assert_eq!(v2.keys[0].public_key, k3.public_key());
    assert!(v2.updated.timestamp > v1.updated.timestamp);
}

#[test]
fn accreditation_and_device_keys() {
    let mut w = world(64);
    let (org, point_key, device, other) = (key(1), key(2), key(3), key(4));
    let org_create = DidCreate::with_key(org.public_key(), 0);
    let org_did = org_create.did();
    let point_create = DidCreate::with_key(point_key.public_key(), 0);
    let point_did = point_create.did();
    let creates = vec![
        w.block(&org, Payload::DidCreate(org_create)),
        w.block(&point_key, Payload::DidCreate(point_create)),
    ];
    assert_eq!(w.each(creates), vec![OK, OK]);

    // Unaccredited organisations cannot anchor data or publish schemas.
    let anchor = w.block(
        &org,
        Payload::TaggedData(TaggedData {
            tag: vec![],
            data: vec![7],
        }),
    );
    let schema = w.block(&org, Payload::Schema(sample_schema()));
    assert_eq!(
        w.each(vec![anchor, schema]),
        vec![
            conflict(ConflictReason::NotAccredited),
            conflict(ConflictReason::NotAccredited)
        ]
    );

    // Only the authority accredits.
    let grant = Accreditation {
        subject: org_did,
        roles: role::ISSUER,
    };
    let by_agency = w.block(&key(11), Payload::Accreditation(grant.clone()));
    let by_authority = w.block(&key(10), Payload::Accreditation(grant));
    let unknown = w.block(
        &key(10),
        Payload::Accreditation(Accreditation {
            subject: Did([9; 32]),
            roles: role::ISSUER,
        }),
    );
    assert_eq!(
        w.each(vec![by_agency, by_authority, unknown]),
        vec![
            conflict(ConflictReason::NotAuthority),
            OK,
            conflict(ConflictReason::UnknownDid)
        ]
    );
    assert_eq!(identity::roles(&w.state, &org_did).unwrap(), role::ISSUER);
    let schema = w.block(&org, Payload::Schema(sample_schema()));
    let dup = w.block(&key(11), Payload::Schema(sample_schema()));
    assert_eq!(
        w.each(vec![schema, dup]),
        vec![OK, conflict(ConflictReason::SchemaExists)]
    );

    // Device keys: only for accredited points, registered by the authority, revoked by
    // the authority or the point, never reused.
    let register = DeviceKey {
        point: point_did,
        key: device.public_key(),
        active: true,
    };
    let too_early = w.block(&key(10), Payload::DeviceKey(register.clone()));
    assert_eq!(
        w.each(vec![too_early]),
        vec![conflict(ConflictReason::NotAccredited)]
    );
    let grant_point = w.block(
        &key(10),
        Payload::Accreditation(Accreditation {
            subject: point_did,
            roles: role::DISTRIBUTION_POINT,
        }),
    );
    let by_point = w.block(&point_key, Payload::DeviceKey(register.clone()));
    let ok = w.block(&key(10), Payload::DeviceKey(register.clone()));
    let twice = w.block(&key(10), Payload::DeviceKey(register.clone()));
    assert_eq!(
        w.each(vec![grant_point, by_point, ok, twice]),
        vec![
            OK,
            conflict(ConflictReason::NotAuthority),
            OK,
            conflict(ConflictReason::KeyInUse)
        ]
    );
    let rec = identity::device_record(&w.state, &device.public_key())
        .unwrap()
        .unwrap();
    assert!(rec.active);
    let revoke = DeviceKey {
        active: false,
        ..register.clone()
    };
    let by_other = w.block(&other, Payload::DeviceKey(revoke.clone()));
    let stolen = w.block(&point_key, Payload::DeviceKey(revoke.clone()));
    let again = w.block(&point_key, Payload::DeviceKey(revoke));
    assert_eq!(
        w.each(vec![by_other, stolen, again]),
        vec![
            conflict(ConflictReason::UnknownIssuer),
            OK,
            conflict(ConflictReason::UnknownDeviceKey)
        ]
    );
    let rec = identity::device_record(&w.state, &device.public_key())
        .unwrap()
        .unwrap();
    assert!(!rec.active);
    assert_eq!(
        rec.milestone,
        w.index - 1,
        "the milestone that confirmed the revocation"
    );
}

fn sample_schema() -> Schema {
    Schema {
        name: "household".into(),
        version: "1".into(),
        attributes: vec![AttributeDef {
            name: "size".into(),
            kind: AttributeKind::Integer { bits: 8 },
        }],
    }
}

fn leaf(i: u64) -> [u8; 32] {
    fr_to_bytes_be(&Fr::from(1_000 + i))
}

struct RegistryWorld {
    w: World,
    id: RegistryId,
}

fn registry_world(depth: u8, chunk_bits: u8, recent_roots: u32) -> RegistryWorld {
    let mut w = world(recent_roots);
    let agency = key(11);
    let create = RegistryCreate {
        schema: sample_schema().id(),
        depth,
        chunk_bits,
        label: "north".into(),
    };
    let id = create.id(&w.agency_did());
    let early = w.block(&agency, Payload::RegistryCreate(create.clone()));
    assert_eq!(
        w.each(vec![early]),
        vec![conflict(ConflictReason::UnknownSchema)]
    );
    let schema = w.block(&agency, Payload::Schema(sample_schema()));
    let reg = w.block(&agency, Payload::RegistryCreate(create.clone()));
    let twice = w.block(&agency, Payload::RegistryCreate(create));
    assert_eq!(
        w.each(vec![schema, reg, twice]),
        vec![OK, OK, conflict(ConflictReason::RegistryExists)]
    );
    RegistryWorld { w, id }
}

fn issue(rw: &mut RegistryWorld, first: u64, n: u64) -> Block {
    let agency = key(11);
    rw.w.block(
        &agency,
        Payload::Issuance(Issuance {
            registry: rw.id,
            first_index: first,
            leaves: (first..first + n).map(leaf).collect(),
        }),
    )
}

#[test]
fn registry_matches_the_reference_tree_through_issuance_and_revocation() {
    let mut rw = registry_world(10, 4, 64);
    let mut reference = Registry::new(10).unwrap();
    // Three batches in one milestone, crossing chunk boundaries (chunks of 16).
    let blocks = vec![
        issue(&mut rw, 0, 7),
        issue(&mut rw, 7, 30),
        issue(&mut rw, 37, 5),
    ];
    let out = rw.w.apply(&blocks);
    assert_eq!(out.outcomes, vec![OK, OK, OK]);
    let leaves: Vec<Fr> = (0..42).map(|i| Fr::from(1_000 + i)).collect();
    reference.extend(&leaves).unwrap();
    let rec = registry::registry_record(&rw.w.state, &rw.id)
        .unwrap()
        .unwrap();
    assert_eq!((rec.size, rec.revoked), (42, 0));
    assert_eq!(rec.root, fr_to_bytes_be(&reference.root()));
    for c in 0..4 {
        let chunk = registry::registry_chunk(&rw.w.state, &rw.id, &rec, c).unwrap();
        assert_eq!(chunk, reference.chunk(4, c).unwrap());
        assert_eq!(chunk.root(), reference.root());
    }

    // Rejections: wrong first index (a replayed batch), zero and non-canonical leaves,
    // another issuer, an unaccredited signer.
    let replay = issue(&mut rw, 0, 7);
    let agency = key(11);
    let zero = rw.w.block(
        &agency,
        Payload::Issuance(Issuance {
            registry: rw.id,
            first_index: 42,
            leaves: vec![[0; 32]],
        }),
    );
    let too_big = rw.w.block(
        &agency,
        Payload::Issuance(Issuance {
            registry: rw.id,
            first_index: 42,
            leaves: vec![[0xff; 32]],
        }),
    );
    let authority = key(10);
    let foreign = rw.w.block(
        &authority,
        Payload::Issuance(Issuance {
            registry: rw.id,
            first_index: 42,
            leaves: vec![leaf(42)],
        }),
    );
    let unknown = rw.w.block(
        &agency,
        Payload::Issuance(Issuance {
            registry: RegistryId([3; 32]),
            first_index: 0,
            leaves: vec![leaf(0)],
        }),
    );
    assert_eq!(
        rw.w.each(vec![replay, zero, too_big, foreign, unknown]),
        vec![
            conflict(ConflictReason::WrongFirstIndex),
            conflict(ConflictReason::InvalidLeaf),
            conflict(ConflictReason::InvalidLeaf),
            conflict(ConflictReason::NotRegistryIssuer),
            conflict(ConflictReason::UnknownRegistry),
        ]
    );

    // Revocation zeroes leaves; the second time, or past the end, is refused.
    let revoke = |rw: &mut RegistryWorld, indices: Vec<u64>| {
        let agency = key(11);
        rw.w.block(
            &agency,
            Payload::Revocation(Revocation {
                registry: rw.id,
                indices,
            }),
        )
    };
    let ok = revoke(&mut rw, vec![3, 20]);
    let again = revoke(&mut rw, vec![20]);
    let past = revoke(&mut rw, vec![42]);
    assert_eq!(
        rw.w.each(vec![ok, again, past]),
        vec![
            OK,
            conflict(ConflictReason::AlreadyRevoked),
            conflict(ConflictReason::LeafOutOfRange)
        ]
    );
    reference.revoke(3).unwrap();
    reference.revoke(20).unwrap();
    let rec = registry::registry_record(&rw.w.state, &rw.id)
        .unwrap()
        .unwrap();
    assert_eq!((rec.size, rec.revoked), (42, 2));
    assert_eq!(rec.root, fr_to_bytes_be(&reference.root()));
    let chunk = registry::registry_chunk(&rw.w.state, &rw.id, &rec, 1).unwrap();
    assert_eq!(chunk.leaves[4], Fr::from(0u64), "leaf 20 is zero");
    assert_eq!(chunk.root(), reference.root());

    // No attribute value is anywhere in the state: only leaves, nodes and counts.
    for k in rw.w.state.entries.keys() {
        assert!(!k.starts_with(b"attr"), "{k:?}");
    }
}

#[test]
fn full_registries_refuse_more_leaves() {
    let mut rw = registry_world(4, 4, 64);
    let fill = issue(&mut rw, 0, 16);
    let over = issue(&mut rw, 16, 1);
    assert_eq!(
        rw.w.each(vec![fill, over]),
        vec![OK, conflict(ConflictReason::RegistryFull)]
    );
}

#[test]
fn recent_roots_are_kept_and_proven_against_the_state_root() {
    let mut rw = registry_world(12, 4, 3);
    let mut roots = Vec::new();
    let mut state_roots = Vec::new();
    for m in 0..5u64 {
        let b = issue(&mut rw, m * 10, 10);
        let out = rw.w.apply(&[b]);
        assert_eq!(out.outcomes, vec![OK]);
        let rec = registry::registry_record(&rw.w.state, &rw.id)
            .unwrap()
            .unwrap();
        roots.push((rw.w.index, rec.root));
        state_roots.push(out.state_root);
    }
    let recent = registry::recent_roots(&rw.w.state, &rw.id).unwrap();
    assert_eq!(recent.len(), 3, "the window keeps the last 3");
    assert_eq!(
        recent
            .iter()
            .map(|r| (r.milestone, r.root))
            .collect::<Vec<_>>(),
        roots[2..].to_vec()
    );

    // A second registry, so the proof has a real path.
    let agency = key(11);
    let other = rw.w.block(
        &agency,
        Payload::RegistryCreate(RegistryCreate {
            schema: sample_schema().id(),
            depth: 12,
            chunk_bits: 4,
            label: "east".into(),
        }),
    );
    let out = rw.w.apply(&[other]);
    assert_eq!(out.outcomes, vec![OK]);
    let state_root = out.state_root;
    let proof = RegistryProof::build(
        &rw.w.state,
        &rw.id,
        rw.w.commitment.sum_bytes(),
        rw.w.commitment.count(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(proof.size, 2);
    proof.verify(&state_root).unwrap();
    // JSON round trip, as the API serves it.
    let json = serde_json::to_string(&proof).unwrap();
    let back: RegistryProof = serde_json::from_str(&json).unwrap();
    assert_eq!(back.verify_root(&state_root, &roots[3].1), Ok(roots[3].0));
    assert_eq!(
        back.verify_root(&state_root, &roots[0].1),
        Err(RegistryProofError::NotRecent),
        "a root older than the window"
    );
    // Wrong state root, tampered roots, tampered path.
    assert_eq!(
        proof.verify(&state_roots[0]),
        Err(RegistryProofError::StateRoot)
    );
    let mut bad = proof.clone();
    bad.recent_roots[0].root[31] ^= 1;
    assert!(bad.verify(&state_root).is_err());
    let mut bad = proof.clone();
    bad.path[0][0] ^= 1;
    assert!(bad.verify(&state_root).is_err());
    let mut bad = proof.clone();
    bad.entry_count += 1;
    assert!(bad.verify(&state_root).is_err());
    let mut bad = proof;
    bad.path.push([0; 32]);
    assert!(bad.verify(&state_root).is_err());
}

#[test]
fn the_authority_and_genesis_organisations_exist_at_genesis() {
    let w = world(64);
    assert_eq!(
        identity::authority(&w.state).unwrap(),
        Some(w.authority_did())
    );
    assert_eq!(
        identity::roles(&w.state, &w.agency_did()).unwrap(),
        role::ALL
    );
    assert_eq!(identity::roles(&w.state, &w.authority_did()).unwrap(), 0);
    assert!(may_sign_blocks(&w.state, &w.agency.public_key()).unwrap());
    assert!(!may_sign_blocks(&w.state, &key(99).public_key()).unwrap());
}
