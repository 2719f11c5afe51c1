//! End to end: an issuer signs a holder's credential document; the document is
//! verified after a round trip through JSON text, and refused after any change.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use weft_circuits::HolderSecrets;
use weft_credentials::did::{did_document, method_id};
use weft_credentials::integrity::{sign, verify, verify_with_keys};
use weft_credentials::vc::{credential_document, verify_credential, CredentialRecord};
use weft_credentials::{verify_against_ledger, CredentialError, LedgerCheckError, RegistryView};
use weft_crypto::poseidon::Fr;
use weft_crypto::registry::Registry;
use weft_crypto::signing::OrganisationKey;
use weft_types::identity::purpose;
use weft_types::{
    AttributeDef, AttributeKind, Did, DidCreate, DidKey, RegistryCreate, RegistryId, Schema,
};

const ISSUED_MS: u64 = 1_795_600_800_000; // 2026-11-25T10:00:00Z

fn schema() -> Schema {
    Schema {
        name: "household-registration".into(),
        version: "1.0".into(),
        attributes: vec![
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
                name: "displaced_since".into(),
                kind: AttributeKind::Date,
            },
            AttributeDef {
                name: "disability".into(),
                kind: AttributeKind::Boolean,
            },
            AttributeDef {
                name: "camp".into(),
                kind: AttributeKind::StringHash,
            },
        ],
    }
}

struct Issuer {
    key: OrganisationKey,
    auth_only: OrganisationKey,
    did: Did,
    keys: Vec<DidKey>,
}

fn issuer() -> Issuer {
    let key = OrganisationKey::from_seed(&[11; 32]);
    let auth_only = OrganisationKey::from_seed(&[12; 32]);
    let keys = vec![
        DidKey {
            id: "key-1".into(),
            public_key: key.public_key(),
            purposes: purpose::ALL,
        },
        DidKey {
            id: "key-2".into(),
            public_key: auth_only.public_key(),
            purposes: purpose::AUTHENTICATION,
        },
    ];
    let create = DidCreate {
        keys: keys.clone(),
        services: vec![],
        nonce: 0,
    };
    create.check_limits().unwrap();
    Issuer {
        key,
        auth_only,
        did: create.did(),
        keys,
    }
}

fn subject() -> serde_json::Map<String, Value> {
    json!({
        "household_size": 4, "region": "south", "displaced_since": "2026-03-01",
        "disability": false, "camp": "Camp Alpha"
    })
    .as_object()
    .unwrap()
    .clone()
}

fn record(issuer: &Issuer, index: u64) -> CredentialRecord {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    // The holder's wallet makes the secrets and hands over only the commitments.
    let secrets = HolderSecrets::random(&mut rng);
    let schema = schema();
    let registry = RegistryCreate {
        schema: schema.id(),
        depth: 8,
        chunk_bits: 4,
        label: "north".into(),
    }
    .id(&issuer.did);
    CredentialRecord::issue(
        &schema,
        issuer.did,
        registry,
        index,
        subject(),
        secrets.holder_commitment(),
        secrets.household_commitment(),
        (ISSUED_MS / 1000) as u32,
        (ISSUED_MS / 1000 + 365 * 86_400) as u32,
        &mut rng,
    )
    .unwrap()
}

fn signed(issuer: &Issuer, index: u64) -> Value {
    let doc = credential_document(&schema(), &record(issuer, index)).unwrap();
    sign(
        &doc,
        &issuer.key,
        &method_id(&issuer.did, "key-1"),
        ISSUED_MS,
    )
    .unwrap()
}

#[test]
fn document_shape() {
    let i = issuer();
    let doc = signed(&i, 3);
    let reg: RegistryId = record(&i, 3).registry;
    assert_eq!(
        doc["@context"],
        json!([
            "https://www.w3.org/ns/credentials/v2",
            "https://weft.example/credentials/v1"
        ])
    );
    assert_eq!(
        doc["id"],
        json!(format!("urn:weft:credential:{}:3", reg.to_hex()))
    );
    assert_eq!(
        doc["type"],
        json!(["VerifiableCredential", "WeftHouseholdCredential"])
    );
    assert_eq!(doc["issuer"], json!(i.did.to_string()));
    assert_eq!(doc["validFrom"], json!("2026-11-25T10:00:00Z"));
    assert_eq!(doc["validUntil"], json!("2027-11-25T10:00:00Z"));
    assert_eq!(
        doc["credentialSchema"],
        json!({"id": format!("urn:weft:schema:{}", schema().id().to_hex()), "type": "WeftSchema2026"})
    );
    assert_eq!(doc["credentialSubject"], Value::Object(subject()));
    assert_eq!(doc["credentialStatus"]["index"], json!("3"));
    assert_eq!(doc["credentialStatus"]["registry"], json!(reg.to_hex()));
    assert_eq!(doc["proof"]["type"], json!("DataIntegrityProof"));
    assert_eq!(doc["proof"]["cryptosuite"], json!("eddsa-jcs-2022"));
    assert_eq!(doc["proof"]["proofPurpose"], json!("assertionMethod"));
    assert_eq!(doc["proof"]["created"], json!("2026-11-25T10:00:00Z"));
    assert_eq!(
        doc["proof"]["verificationMethod"],
        json!(format!("{}#key-1", i.did))
    );
    assert!(doc["proof"]["proofValue"]
        .as_str()
        .unwrap()
        .starts_with('z'));
    for member in [
        "schema",
        "holderCommitment",
        "householdCommitment",
        "salt",
        "leaf",
    ] {
        assert!(doc["weftCommitment"][member].is_string(), "{member}");
    }
}

#[test]
fn round_trip_through_json_text_verifies() {
    let i = issuer();
    let doc = signed(&i, 3);
    let did_doc = did_document(&i.did, &i.keys, &[]);
    for text in [
        serde_json::to_string(&doc).unwrap(),
        serde_json::to_string_pretty(&doc).unwrap(),
    ] {
        let back: Value = serde_json::from_str(&text).unwrap();
        let (proof, parsed) = verify_credential(&back, &did_doc, &schema()).unwrap();
        assert_eq!(proof.issuer, i.did.to_string());
        assert_eq!(proof.public_key, i.key.public_key());
        assert_eq!(parsed.record.index, 3);
        assert_eq!(parsed.leaf, record(&i, 3).credential.commitment());
        assert_eq!(parsed.record.attributes, subject());
        assert!(parsed.is_valid_at(ISSUED_MS / 1000));
        assert!(!parsed.is_valid_at(ISSUED_MS / 1000 - 1));
        assert!(!parsed.is_valid_at(ISSUED_MS / 1000 + 365 * 86_400));
    }
    verify_with_keys(&doc, &i.did, &i.keys).unwrap();
    // Debug never shows attributes or secrets.
    let (_, parsed) = verify_credential(&doc, &did_doc, &schema()).unwrap();
    let dbg = format!("{parsed:?}");
    assert!(
        !dbg.contains("Camp Alpha") && !dbg.contains("south"),
        "{dbg}"
    );
}

fn assert_refused(doc: &Value, i: &Issuer, expect: CredentialError) {
    let did_doc = did_document(&i.did, &i.keys, &[]);
    assert_eq!(verify(doc, &did_doc).map(|_| ()), Err(expect));
}

#[test]
fn any_change_is_refused() {
    let i = issuer();
    let doc = signed(&i, 3);
    let changes: Vec<(&str, Value)> = vec![
        ("/credentialSubject/household_size", json!(5)),
        ("/credentialSubject/camp", json!("Camp Beta")),
        ("/validUntil", json!("2028-11-25T10:00:00Z")),
        ("/validFrom", json!("2026-11-24T10:00:00Z")),
        ("/credentialStatus/index", json!("4")),
        ("/weftCommitment/salt", json!("1")),
        ("/proof/created", json!("2026-11-25T10:00:01Z")),
    ];
    for (path, value) in changes {
        let mut d = doc.clone();
        *d.pointer_mut(path).unwrap() = value;
        assert_refused(&d, &i, CredentialError::BadSignature);
    }
    let mut d = doc.clone();
    d["credentialSubject"]
        .as_object_mut()
        .unwrap()
        .insert("extra".into(), json!(1));
    assert_refused(&d, &i, CredentialError::BadSignature);

    // The proof value itself: one character changed.
    let pv = doc["proof"]["proofValue"].as_str().unwrap();
    let mut chars: Vec<char> = pv.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    let mut d = doc.clone();
    d["proof"]["proofValue"] = Value::from(chars.into_iter().collect::<String>());
    let did_doc = did_document(&i.did, &i.keys, &[]);
    assert!(verify(&d, &did_doc).is_err());
    let mut d = doc.clone();
    d["proof"]["cryptosuite"] = json!("eddsa-rdfc-2022");
    assert!(matches!(
        verify(&d, &did_doc),
        Err(CredentialError::UnsupportedProof(_))
    ));
    let mut d = doc.clone();
    d["proof"]["proofPurpose"] = json!("authentication");
    assert!(matches!(
        verify(&d, &did_doc),
        Err(CredentialError::UnsupportedProof(_))
    ));
}

#[test]
fn wrong_keys_are_refused() {
    let i = issuer();
    let doc = credential_document(&schema(), &record(&i, 3)).unwrap();
    // Signed by another key under key-1's name.
    let stranger = OrganisationKey::from_seed(&[99; 32]);
    let d = sign(&doc, &stranger, &method_id(&i.did, "key-1"), ISSUED_MS).unwrap();
    assert_refused(&d, &i, CredentialError::BadSignature);
    // Signed by key-2, which may authenticate but not assert.
    let d = sign(&doc, &i.auth_only, &method_id(&i.did, "key-2"), ISSUED_MS).unwrap();
    assert_refused(
        &d,
        &i,
        CredentialError::NotAssertionMethod(method_id(&i.did, "key-2")),
    );
    // A key the DID does not list.
    let d = sign(&doc, &stranger, &method_id(&i.did, "key-9"), ISSUED_MS).unwrap();
    assert_refused(
        &d,
        &i,
        CredentialError::UnknownVerificationMethod(method_id(&i.did, "key-9")),
    );
    // Another DID's key.
    let other = Did([3; 32]);
    let d = sign(&doc, &i.key, &method_id(&other, "key-1"), ISSUED_MS).unwrap();
    assert!(matches!(
        verify(&d, &did_document(&i.did, &i.keys, &[])),
        Err(CredentialError::IssuerMismatch { .. })
    ));
    // The right document, but checked against another DID's document.
    let d = sign(&doc, &i.key, &method_id(&i.did, "key-1"), ISSUED_MS).unwrap();
    assert!(matches!(
        verify(&d, &did_document(&other, &i.keys, &[])),
        Err(CredentialError::Malformed { .. })
    ));
    // Signing twice is refused.
    assert_eq!(
        sign(&d, &i.key, &method_id(&i.did, "key-1"), ISSUED_MS),
        Err(CredentialError::AlreadySigned)
    );
}

#[test]
fn contents_must_open_the_leaf() {
    let i = issuer();
    let mut r = record(&i, 3);
    r.attributes.insert("household_size".into(), json!(5));
    assert!(matches!(
        credential_document(&schema(), &r),
        Err(CredentialError::CredentialMismatch(_))
    ));
    // A document re-signed by the issuer with a wrong leaf is still refused.
    let mut doc = credential_document(&schema(), &record(&i, 3)).unwrap();
    doc["weftCommitment"]["leaf"] = json!("12345");
    let d = sign(&doc, &i.key, &method_id(&i.did, "key-1"), ISSUED_MS).unwrap();
    let did_doc = did_document(&i.did, &i.keys, &[]);
    assert!(matches!(
        verify_credential(&d, &did_doc, &schema()),
        Err(CredentialError::LeafMismatch)
    ));
    // ... and so is one that expires before it starts.
    let mut doc = credential_document(&schema(), &record(&i, 3)).unwrap();
    doc["validUntil"] = doc["validFrom"].clone();
    let d = sign(&doc, &i.key, &method_id(&i.did, "key-1"), ISSUED_MS).unwrap();
    assert!(matches!(
        verify_credential(&d, &did_doc, &schema()),
        Err(CredentialError::Malformed { .. })
    ));
    // ... and so is one with another schema.
    let mut other = schema();
    other.version = "2.0".into();
    let d = signed(&i, 3);
    assert!(matches!(
        verify_credential(&d, &did_doc, &other),
        Err(CredentialError::SchemaMismatch { .. })
    ));
}

#[test]
fn against_the_ledger() {
    let i = issuer();
    let doc = signed(&i, 3);
    let leaf = record(&i, 3).credential.commitment();
    let mut reg = Registry::new(8).unwrap();
    for n in 0..5u64 {
        reg.append(if n == 3 { leaf } else { Fr::from(1000 + n) })
            .unwrap();
    }
    let did_doc = did_document(&i.did, &i.keys, &[]);
    let chunk = reg.chunk(4, 0).unwrap();
    let view = |chunk, root, size| RegistryView { chunk, root, size };
    let ok = verify_against_ledger(&doc, &did_doc, &schema(), view(&chunk, reg.root(), 5));
    assert_eq!(ok.unwrap().leaf, leaf);

    // Another root.
    assert_eq!(
        verify_against_ledger(&doc, &did_doc, &schema(), view(&chunk, Fr::from(1u64), 5))
            .unwrap_err(),
        LedgerCheckError::RootMismatch
    );
    // Another chunk.
    let far = reg.chunk(4, 1).unwrap();
    assert!(matches!(
        verify_against_ledger(&doc, &did_doc, &schema(), view(&far, reg.root(), 5)),
        Err(LedgerCheckError::WrongChunk { .. })
    ));
    // Index 3 holds another leaf.
    let mut other = Registry::new(8).unwrap();
    other.extend(&[Fr::from(1u64); 5]).unwrap();
    let oc = other.chunk(4, 0).unwrap();
    assert_eq!(
        verify_against_ledger(&doc, &did_doc, &schema(), view(&oc, other.root(), 5)).unwrap_err(),
        LedgerCheckError::LeafAbsent
    );
    // Revoked.
    reg.revoke(3).unwrap();
    let chunk = reg.chunk(4, 0).unwrap();
    assert_eq!(
        verify_against_ledger(&doc, &did_doc, &schema(), view(&chunk, reg.root(), 5)).unwrap_err(),
        LedgerCheckError::LeafRevoked
    );
    // The signing key was not an assertion key at issuance.
    let mut keys = i.keys.clone();
    keys[0].purposes = purpose::AUTHENTICATION | purpose::CAPABILITY_INVOCATION;
    let then = did_document(&i.did, &keys, &[]);
    assert!(matches!(
        verify_against_ledger(&doc, &then, &schema(), view(&chunk, reg.root(), 5)),
        Err(LedgerCheckError::KeyNotValidAtIssuance(_))
    ));
    // A bad signature.
    let mut d = doc.clone();
    d["validUntil"] = json!("2030-01-01T00:00:00Z");
    assert!(matches!(
        verify_against_ledger(&d, &did_doc, &schema(), view(&chunk, reg.root(), 5)),
        Err(LedgerCheckError::Signature(CredentialError::BadSignature))
    ));
}
