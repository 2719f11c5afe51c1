//! Shared fixtures: an issuer's registry holding a wallet's credential, its sync bundle
//! and a verifier's request (small depth so that keys and proofs are fast).
#![allow(dead_code)]

use rand::SeedableRng;
use weft_circuits::groth16::fr_from_hash;
use weft_circuits::presentation::Request;
use weft_circuits::{Condition, Credential, Policy, Predicate, NUM_ATTRIBUTES};
use weft_crypto::poseidon::Fr;
use weft_crypto::registry::Registry;
use weft_wallet::model::{IssuerInfo, ProgramInfo, RegistryId};
use weft_wallet::sync::RootEntry;
use weft_wallet::{
    ChunkResponse, Enrolment, FrHex, PresentationRequest, StoredCredential, SyncBundle,
};

/// Registry depth in the tests.
pub const DEPTH: u8 = 10;
/// Chunk size (2^K leaves).
pub const K: u8 = 4;
/// "Now".
pub const TODAY: u32 = 1_764_000_000;
/// The issuer's DID.
pub const ISSUER: &str = "did:weft:agency-north";

pub struct Fixture {
    pub registry: Registry,
    pub id: RegistryId,
    pub cred: StoredCredential,
    pub index: u64,
    pub schema: Fr,
    pub program: Fr,
}

/// A registry of 40 leaves with a credential for `enrol` at position 21.
pub fn issue(enrol: &Enrolment, seed: u64) -> Fixture {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let schema = fr_from_hash(b"weft:schema:household-v1");
    let mut attributes = [Fr::from(0u64); NUM_ATTRIBUTES];
    attributes[0] = Fr::from(34u64);
    attributes[1] = Fr::from(5u64);
    attributes[2] = fr_from_hash(b"north");
    let c = Credential::issue(
        schema,
        attributes,
        TODAY + 31_536_000,
        TODAY - 2_592_000,
        enrol.holder(),
        enrol.household(),
        &mut rng,
    );
    let mut leaves: Vec<Fr> = (0..40u64).map(|i| fr_from_hash(&i.to_le_bytes())).collect();
    let index = 21u64;
    leaves[index as usize] = c.commitment();
    let registry = Registry::from_leaves(DEPTH, leaves).unwrap();
    let id = RegistryId([7u8; 32]);
    let mut attrs = [FrHex::default(); NUM_ATTRIBUTES];
    for (a, b) in attrs.iter_mut().zip(c.attributes.iter()) {
        *a = FrHex(*b);
    }
    let cred = StoredCredential {
        schema: FrHex(schema),
        attributes: attrs,
        expiry: c.expiry,
        issued_at: c.issued_at,
        holder_commitment: FrHex(c.holder_commitment),
        household_commitment: FrHex(c.household_commitment),
        salt: FrHex(c.salt),
        registry: id,
        leaf_index: index,
        issuer: ISSUER.into(),
        attribute_names: vec!["age".into(), "household size".into(), "region".into()],
        document: serde_json::json!({"type": ["VerifiableCredential"]}),
        path: None,
        revoked: false,
    };
    Fixture {
        registry,
        id,
        cred,
        index,
        schema,
        program: fr_from_hash(b"weft:program:winter-food-2026"),
    }
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
    b.programs.push(ProgramInfo {
        id: FrHex(fx.program),
        name: "Winter food 2026".into(),
    });
    b.issuers.push(IssuerInfo {
        did: ISSUER.into(),
        registries: vec![fx.id],
    });
    b
}

/// The issuer list alone (what the wallet must know before importing).
pub fn issuers_only(fx: &Fixture) -> SyncBundle {
    let mut b = SyncBundle::new();
    b.issuers.push(IssuerInfo {
        did: ISSUER.into(),
        registries: vec![fx.id],
    });
    b
}

/// A verifier's request: adults in households of 3 to 12 in the north; household size
/// disclosed.
pub fn request(fx: &Fixture) -> PresentationRequest {
    let c = |attribute, predicate| Condition {
        attribute,
        predicate,
    };
    PresentationRequest {
        request: Request {
            schema: fx.schema,
            program: fx.program,
            round: 3,
            challenge: fr_from_hash(b"point-17:nonce-1"),
            today: TODAY,
            issued_before: TODAY - 86_400,
            policy: Policy {
                conditions: vec![
                    c(0, Predicate::Ge(18)),
                    c(1, Predicate::Between(3, 12)),
                    c(2, Predicate::In(vec![fr_from_hash(b"north")])),
                ],
            },
        },
        disclose: vec![1],
        accepted_roots: None,
    }
}
