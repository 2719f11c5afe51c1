//! Shared fixtures: an agency (a did:weft DID with its key), its schema and registry
//! holding a wallet's credential and its signed W3C document, the sync bundle, a
//! program, and a distribution point's request for it built as `weft-verifier request`
//! builds it.
#![allow(dead_code)]

use rand::SeedableRng;
use serde_json::{json, Value};
use weft_circuits::groth16::fr_from_hash;
use weft_circuits::NUM_ATTRIBUTES;
use weft_credentials::claim::program_field;
use weft_credentials::did::{did_document, method_id};
use weft_credentials::vc::{credential_document, CredentialRecord};
use weft_crypto::poseidon::Fr;
use weft_crypto::registry::Registry;
use weft_crypto::signing::OrganisationKey;
use weft_types::{
    AttributeDef, AttributeKind, Did, DidCreate, Entitlement, Program, ProgramId, PublicKeyBytes,
    RegistryCreate, Round, Schema,
};
use weft_wallet::model::{IssuerInfo, ProgramInfo, RegistryId};
use weft_wallet::sync::RootEntry;
use weft_wallet::{
    ChunkResponse, Enrolment, FrHex, IssuerEvidence, PresentationRequest, StoredCredential,
    SyncBundle,
};

/// Registry depth in the fast tests (their own keys).
pub const DEPTH: u8 = 10;
/// Chunk size (2^K leaves).
pub const K: u8 = 4;
/// "Now" (Unix seconds).
pub const TODAY: u32 = 1_764_000_000;
/// The credential's position.
pub const INDEX: u64 = 21;

/// The agency's signing key.
pub fn agency_key() -> OrganisationKey {
    OrganisationKey::from_seed(&[11; 32])
}

/// The agency's DID creation (one key `key-1` with every purpose).
pub fn agency_create() -> DidCreate {
    DidCreate::with_key(agency_key().public_key(), 0)
}

/// The agency's DID.
pub fn agency_did() -> Did {
    agency_create().did()
}

/// The agency's DID document.
pub fn agency_document() -> Value {
    did_document(&agency_did(), &agency_create().keys, &[])
}

/// The agency's DID as text.
pub fn issuer_text() -> String {
    agency_did().to_string()
}

/// The household schema: age, household size, region, camp.
pub fn schema() -> Schema {
    Schema {
        name: "household-registration".into(),
        version: "1.0".into(),
        attributes: vec![
            AttributeDef {
                name: "age".into(),
                kind: AttributeKind::Integer { bits: 8 },
            },
            AttributeDef {
                name: "household_size".into(),
                kind: AttributeKind::Integer { bits: 8 },
            },
            AttributeDef {
                name: "region".into(),
                kind: AttributeKind::Enumeration {
                    values: vec!["north".into(), "east".into(), "south".into()],
                },
            },
            AttributeDef {
                name: "camp".into(),
                kind: AttributeKind::StringHash,
            },
        ],
    }
}

/// The registry's creation (chunks of 2^K leaves).
pub fn registry_create(depth: u8) -> RegistryCreate {
    RegistryCreate {
        schema: schema().id(),
        depth,
        chunk_bits: K,
        label: "2026-north".into(),
    }
}

pub struct Fixture {
    pub registry: Registry,
    pub registry_id: weft_types::RegistryId,
    pub id: RegistryId,
    /// The credential as the wallet stores it (for `add_credential`).
    pub cred: StoredCredential,
    /// The agency's signed credential document.
    pub document: Value,
    pub index: u64,
    pub schema: Schema,
    pub program: Program,
    pub program_id: ProgramId,
}

/// The agency's credential for `enrol` at position [`INDEX`] of a registry of 40 leaves
/// of depth [`DEPTH`], and its signed document.
pub fn issue(enrol: &Enrolment, seed: u64) -> Fixture {
    issue_at(enrol, seed, DEPTH)
}

/// [`issue`] in a registry of `depth`.
pub fn issue_at(enrol: &Enrolment, seed: u64, depth: u8) -> Fixture {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let schema = schema();
    let did = agency_did();
    let registry_id = registry_create(depth).id(&did);
    let subject = json!({"age": 34, "household_size": 5, "region": "north", "camp": "Camp Alpha"});
    let record = CredentialRecord::issue(
        &schema,
        did,
        registry_id,
        INDEX,
        subject.as_object().unwrap().clone(),
        enrol.holder(),
        enrol.household(),
        TODAY - 2_592_000,
        TODAY + 31_536_000,
        &mut rng,
    )
    .unwrap();
    let unsigned = credential_document(&schema, &record).unwrap();
    let document = weft_credentials::sign(
        &unsigned,
        &agency_key(),
        &method_id(&did, "key-1"),
        u64::from(TODAY - 2_592_000) * 1000,
    )
    .unwrap();
    let c = &record.credential;
    let mut leaves: Vec<Fr> = (0..40u64).map(|i| fr_from_hash(&i.to_le_bytes())).collect();
    leaves[INDEX as usize] = c.commitment();
    let registry = Registry::from_leaves(depth, leaves).unwrap();
    let id = RegistryId(registry_id.0);
    let mut attrs = [FrHex::default(); NUM_ATTRIBUTES];
    for (a, b) in attrs.iter_mut().zip(c.attributes.iter()) {
        *a = FrHex(*b);
    }
    let cred = StoredCredential {
        schema: FrHex(c.schema),
        attributes: attrs,
        expiry: c.expiry,
        issued_at: c.issued_at,
        holder_commitment: FrHex(c.holder_commitment),
        household_commitment: FrHex(c.household_commitment),
        salt: FrHex(c.salt),
        registry: id,
        leaf_index: INDEX,
        issuer: did.to_string(),
        attribute_names: schema.attributes.iter().map(|a| a.name.clone()).collect(),
        schema_definition: Some(schema.clone()),
        document: document.clone(),
        path: None,
        revoked: false,
    };
    let program = program(&schema, &did);
    let program_id = program.id(&did);
    Fixture {
        registry,
        registry_id,
        id,
        cred,
        document,
        index: INDEX,
        schema,
        program,
        program_id,
    }
}

/// The program: adults in households of 3 to 12 in the north; household size disclosed.
pub fn program(schema: &Schema, owner: &Did) -> Program {
    let source = "age >= 18 and household_size between 3 and 12 and region in [north]";
    let policy = weft_credentials::policy::compile(source, schema).unwrap();
    Program {
        name: "Winter food 2026".into(),
        schema: schema.id(),
        issuers: vec![*owner],
        policy_source: source.into(),
        conditions: policy.conditions,
        disclose: 0b10,
        issued_before: TODAY - 86_400,
        rounds: vec![Round {
            number: 3,
            opens: u64::from(TODAY - 3_600) * 1000,
            closes: u64::from(TODAY + 86_400) * 1000,
        }],
        grace_ms: 86_400_000,
        entitlement: Entitlement {
            quantity: 25,
            unit: "kg rice".into(),
            tiers: vec![],
        },
        points: vec![],
        anonymous: false,
        value_notes: false,
        nonce: 0,
    }
}

/// The distribution point's DID and device key.
pub fn point() -> (Did, PublicKeyBytes) {
    (
        Did([0x42; 32]),
        OrganisationKey::from_seed(&[12; 32]).public_key(),
    )
}

/// A distribution point's request for `program` as `weft-verifier request` builds it:
/// the program's schema, conditions, disclosure and issuance bound, its accepted
/// registries, a fresh nonce, the point's DID, device key and clock.
pub fn request_for(fx: &Fixture, program: &Program, program_id: ProgramId) -> PresentationRequest {
    let (point, device_key) = point();
    PresentationRequest {
        program: program_id,
        round: 3,
        nonce: *b"nonce-0123456789",
        point,
        device_key,
        time: u64::from(TODAY) * 1000 + 123,
        registries: vec![fx.registry_id],
        schema: program.schema,
        conditions: program.conditions.clone(),
        disclose: program.disclose,
        issued_before: program.issued_before,
        summary: format!(
            "{} {}",
            program.entitlement.quantity, program.entitlement.unit
        ),
        value_notes: program.value_notes,
    }
}

/// The request for the fixture's program.
pub fn request(fx: &Fixture) -> PresentationRequest {
    request_for(fx, &fx.program, fx.program_id)
}

/// The chunk holding `leaf` as the node would serve it.
pub fn chunk(fx: &Fixture, leaf: u64, milestone: u32) -> ChunkResponse {
    let c = fx.registry.chunk(K, leaf >> K).unwrap();
    ChunkResponse {
        registry: fx.id,
        k: K,
        index: c.index,
        leaves: c.leaves.iter().map(|l| FrHex(*l)).collect(),
        siblings: c.siblings.iter().map(|s| FrHex(*s)).collect(),
        root: FrHex(fx.registry.root()),
        milestone,
    }
}

/// The wallet's entry for the fixture's program.
pub fn program_info(fx: &Fixture) -> ProgramInfo {
    ProgramInfo {
        id: FrHex(program_field(&fx.program_id)),
        name: fx.program.name.clone(),
    }
}

/// A sync bundle: the root, our chunk and one other chunk, the program and the issuer.
pub fn bundle(fx: &Fixture, milestone: u32) -> SyncBundle {
    let mut b = SyncBundle::new();
    b.roots.push(RootEntry {
        registry: fx.id,
        root: FrHex(fx.registry.root()),
        milestone,
    });
    b.chunks.push(chunk(fx, 2, milestone));
    b.chunks.push(chunk(fx, fx.index, milestone));
    b.programs.push(program_info(fx));
    b.issuers.push(IssuerInfo {
        did: issuer_text(),
        registries: vec![fx.id],
    });
    b
}

/// The issuer list alone (what the wallet must know before importing offline).
pub fn issuers_only(fx: &Fixture) -> SyncBundle {
    let mut b = SyncBundle::new();
    b.issuers.push(IssuerInfo {
        did: issuer_text(),
        registries: vec![fx.id],
    });
    b
}

/// Offline import evidence: the agency's DID document and the schema.
pub fn offline_evidence(fx: &Fixture) -> IssuerEvidence {
    IssuerEvidence::offline(agency_document(), fx.schema.clone())
}
