//! The examples of specs/credentials.md, pinned: the schema's canonical bytes and id,
//! its circuit element, and the full example credential document.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use weft_circuits::{Credential, HolderSecrets};
use weft_credentials::did::{did_document, method_id, multikey_encode};
use weft_credentials::integrity::sign;
use weft_credentials::vc::{credential_document, verify_credential, CredentialRecord};
use weft_credentials::{encode_attributes, schema_field};
use weft_crypto::poseidon::fr_to_decimal;
use weft_crypto::signing::OrganisationKey;
use weft_types::codec::Writer;
use weft_types::identity::purpose;
use weft_types::{AttributeDef, AttributeKind, DidCreate, DidKey, RegistryCreate, Schema};

const SCHEMA_BYTES: &str = "16686f757365686f6c642d726567697374726174696f6e03312e30050e686f757365686f6c645f73697a65000806726567696f6e0203056e6f727468046561737405736f7574680f646973706c616365645f73696e6365010a6469736162696c697479030463616d7004";
const SCHEMA_JSON: &str = r#"{"name":"household-registration","version":"1.0","attributes":[{"name":"household_size","kind":{"type":"integer","bits":8}},{"name":"region","kind":{"type":"enumeration","values":["north","east","south"]}},{"name":"displaced_since","kind":{"type":"date"}},{"name":"disability","kind":{"type":"boolean"}},{"name":"camp","kind":{"type":"stringHash"}}]}"#;
const SCHEMA_ID: &str = "19f59e1b7ce6b59cc1d12981857e26c2f0f7f287d28eb4901a2855342df1d8f8";
const SCHEMA_FIELD: &str =
    "45866367040809958245859465303959336809383244815648299177304063147418448344";
const DID: &str = "did:weft:G49zRYPktBpDSXpKozZ1QJNQmYnVsDgPECKx6XNQuyB8";
const CREDENTIAL_EXAMPLE: &str = include_str!("vectors/credential_example.json");
const DID_DOCUMENT_EXAMPLE: &str = include_str!("vectors/did_document_example.json");

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

#[test]
fn spec_examples() {
    let s = schema();
    let mut w = Writer::default();
    s.encode_into(&mut w);
    let bytes = w.into_bytes();
    assert_eq!(hex::encode(&bytes), SCHEMA_BYTES);
    assert_eq!(s.id().to_hex(), SCHEMA_ID);
    assert_eq!(fr_to_decimal(&schema_field(&s.id())), SCHEMA_FIELD);
    assert_eq!(serde_json::from_str::<Schema>(SCHEMA_JSON).unwrap(), s);

    let key = OrganisationKey::from_seed(&[11; 32]);
    let create = DidCreate {
        keys: vec![DidKey {
            id: "key-1".into(),
            public_key: key.public_key(),
            purposes: purpose::ALL,
        }],
        services: vec![],
        nonce: 0,
    };
    let did = create.did();
    assert_eq!(did.to_string(), DID);
    assert_eq!(
        multikey_encode(&key.public_key()),
        "z6MkmNL6xksdEJENGk9Z1qqGsY5njKQdjU1UhnUEUvWyQUVX"
    );
    let registry = RegistryCreate {
        schema: s.id(),
        depth: 24,
        chunk_bits: 10,
        label: "2026-north".into(),
    }
    .id(&did);
    let subject = json!({
        "household_size": 4, "region": "south", "displaced_since": "2026-03-01",
        "disability": false, "camp": "Camp Alpha"
    })
    .as_object()
    .unwrap()
    .clone();
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let secrets = HolderSecrets::random(&mut rng);
    let credential = Credential::issue(
        schema_field(&s.id()),
        encode_attributes(&s, &subject).unwrap(),
        1_827_136_800, // 2027-11-25T10:00:00Z
        1_795_600_800, // 2026-11-25T10:00:00Z
        secrets.holder_commitment(),
        secrets.household_commitment(),
        &mut rng,
    );
    let record = CredentialRecord {
        issuer: did,
        registry,
        index: 41,
        attributes: subject,
        credential,
    };
    let doc = credential_document(&s, &record).unwrap();
    let signed = sign(&doc, &key, &method_id(&did, "key-1"), 1_795_600_800_000).unwrap();
    let expected: Value = serde_json::from_str(CREDENTIAL_EXAMPLE).unwrap();
    assert_eq!(signed, expected);
    let did_doc = did_document(&did, &create.keys, &[]);
    let expected_did_doc: Value = serde_json::from_str(DID_DOCUMENT_EXAMPLE).unwrap();
    assert_eq!(did_doc, expected_did_doc);
    let (_, parsed) = verify_credential(&expected, &expected_did_doc, &s).unwrap();
    assert_eq!(parsed.record.index, 41);
}
