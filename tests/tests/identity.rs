//! Identities and registries through a real node: a DID created, accredited, rotated
//! and resolved at past versions; a rotated-out key refused; a schema, a registry,
//! issuance, a chunk and a registry proof checked offline against the certified
//! milestone with only the committee keys.

use std::time::Duration;

use serde_json::Value;
use weft_crypto::poseidon::{fr_from_bytes_be, fr_to_bytes_be, Fr};
use weft_crypto::registry::Registry;
use weft_crypto::OrganisationKey;
use weft_ledger::RegistryProof;
use weft_node::config::dev_key;
use weft_tests::TestNode;
use weft_types::identity::role;
use weft_types::{
    Accreditation, AttributeDef, AttributeKind, Block, BlockBuilder, DidCreate, DidOperation,
    DidUpdate, Issuance, Milestone, Payload, RegistryCreate, Schema,
};

async fn get(base: &str, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}{path}"))
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

async fn signed(t: &TestNode, key: &OrganisationKey, payload: Payload) -> Block {
    let tips = t.client.tips(4).await.expect("tips");
    key.sign_block(
        BlockBuilder::new(t.network, tips, weft_node::core::now_ms())
            .payload(payload)
            .organisation(key.public_key()),
    )
}

/// Submits and waits for confirmation; returns the ledger outcome.
async fn confirm(t: &TestNode, block: &Block) -> String {
    t.client.submit(block).await.expect("accepted");
    let meta = t
        .client
        .wait_confirmed(&block.id(), Duration::from_secs(20))
        .await
        .expect("confirmed");
    match meta.conflict {
        Some(c) => c.reason,
        None => meta.ledger_outcome,
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_did_is_created_accredited_rotated_and_resolved() {
    let t = TestNode::start(100, 0).await;
    let base = format!("http://{}", t.node.config.api);
    let k1 = OrganisationKey::from_seed(&[71; 32]);
    let k2 = OrganisationKey::from_seed(&[72; 32]);
    let create = DidCreate::with_key(k1.public_key(), 0);
    let did = create.did();
    let b = signed(&t, &k1, Payload::DidCreate(create)).await;
    assert_eq!(confirm(&t, &b).await, "applied");

    for prefix in ["/api/v1/identifiers/", "/1.0/identifiers/"] {
        let (status, v) = get(&base, &format!("{prefix}{did}")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["didDocument"]["id"], did.to_string());
        assert_eq!(v["didDocumentMetadata"]["versionId"], "1");
        assert_eq!(v["didDocumentMetadata"]["deactivated"], false);
        let vm = &v["didDocument"]["verificationMethod"][0];
        assert_eq!(vm["type"], "Multikey");
        assert!(vm["publicKeyMultibase"]
            .as_str()
            .unwrap()
            .starts_with("z6Mk"));
    }

    // Unaccredited until the authority says so.
    let (_, org) = get(&base, &format!("/api/v1/organisations/{did}")).await;
    assert_eq!(org["roles"], serde_json::json!([]));
    let authority = dev_key("authority");
    let grant = signed(
        &t,
        &authority,
        Payload::Accreditation(Accreditation {
            subject: did,
            roles: role::ISSUER,
        }),
    )
    .await;
    assert_eq!(confirm(&t, &grant).await, "applied");
    let (_, org) = get(&base, &format!("/api/v1/organisations/{did}")).await;
    assert_eq!(org["roles"], serde_json::json!(["issuer"]));

    // Rotation: k1 → k2, signed by k1, in a later second than the creation (resolution
    // by time is to the second).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let rotate = signed(
        &t,
        &k1,
        Payload::DidUpdate(DidUpdate {
            did,
            sequence: 1,
            operations: vec![DidOperation::RotateKey {
                id: "key-1".into(),
                public_key: k2.public_key(),
            }],
        }),
    )
    .await;
    assert_eq!(confirm(&t, &rotate).await, "applied");
    let (_, now) = get(&base, &format!("/api/v1/identifiers/{did}")).await;
    assert_eq!(now["didDocumentMetadata"]["versionId"], "2");
    let (_, then) = get(&base, &format!("/api/v1/identifiers/{did}?versionId=1")).await;
    assert_eq!(then["didDocumentMetadata"]["nextVersionId"], "2");
    assert_ne!(
        now["didDocument"]["verificationMethod"][0]["publicKeyMultibase"],
        then["didDocument"]["verificationMethod"][0]["publicKeyMultibase"]
    );
    let created = then["didDocumentMetadata"]["created"].as_str().unwrap();
    let (_, at_creation) = get(
        &base,
        &format!("/api/v1/identifiers/{did}?versionTime={created}"),
    )
    .await;
    assert_eq!(at_creation["didDocumentMetadata"]["versionId"], "1");

    // The rotated-out key is refused at the door.
    let stale = signed(&t, &k1, Payload::Schema(schema())).await;
    match t.client.submit(&stale).await {
        Err(weft_client::ClientError::Api {
            status,
            code,
            message,
        }) => {
            assert_eq!((status, code.as_str()), (400, "unknownIssuer"));
            assert!(message.contains("rotated out"), "{message}");
        }
        other => panic!("stale key accepted: {other:?}"),
    }

    // Resolution errors in the DID Resolution shape.
    let (status, v) = get(&base, "/api/v1/identifiers/did:weft:nope").await;
    assert_eq!(
        (status, v["didResolutionMetadata"]["error"].as_str()),
        (400, Some("invalidDid"))
    );
    let other = DidCreate::with_key(OrganisationKey::from_seed(&[73; 32]).public_key(), 0).did();
    let (status, v) = get(&base, &format!("/api/v1/identifiers/{other}")).await;
    assert_eq!(
        (status, v["didResolutionMetadata"]["error"].as_str()),
        (404, Some("notFound"))
    );
    let (status, v) = get(&base, "/api/v1/identifiers/did:example:123").await;
    assert_eq!(
        (status, v["didResolutionMetadata"]["error"].as_str()),
        (501, Some("methodNotSupported"))
    );
    let (status, v) = get(&base, &format!("/api/v1/identifiers/{did}?versionId=x")).await;
    assert_eq!(
        (status, v["didResolutionMetadata"]["error"].as_str()),
        (400, Some("invalidOptions"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registries_serve_chunks_and_proofs_checkable_offline() {
    let t = TestNode::start(100, 0).await;
    let base = format!("http://{}", t.node.config.api);
    let agency = t.agency();
    let agency_did = DidCreate::with_key(agency.public_key(), 0).did();
    let s = signed(&t, &agency, Payload::Schema(schema())).await;
    assert_eq!(confirm(&t, &s).await, "applied");
    let (status, v) = get(&base, &format!("/api/v1/schemas/{}", schema().id())).await;
    assert_eq!(status, 200);
    assert_eq!(v["publisher"], agency_did.to_string());

    let create = RegistryCreate {
        schema: schema().id(),
        depth: 12,
        chunk_bits: 4,
        label: "north".into(),
    };
    let id = create.id(&agency_did);
    let r = signed(&t, &agency, Payload::RegistryCreate(create)).await;
    assert_eq!(confirm(&t, &r).await, "applied");
    let leaves: Vec<[u8; 32]> = (1..=20u64)
        .map(|i| fr_to_bytes_be(&Fr::from(i * 7)))
        .collect();
    let iss = signed(
        &t,
        &agency,
        Payload::Issuance(Issuance {
            registry: id,
            first_index: 0,
            leaves: leaves.clone(),
        }),
    )
    .await;
    assert_eq!(confirm(&t, &iss).await, "applied");
    // Resubmitting the same batch (a restarted tool) issues nothing twice.
    let again = signed(
        &t,
        &agency,
        Payload::Issuance(Issuance {
            registry: id,
            first_index: 0,
            leaves,
        }),
    )
    .await;
    assert_eq!(confirm(&t, &again).await, "wrongFirstIndex");

    let (status, reg) = get(&base, &format!("/api/v1/registries/{id}")).await;
    assert_eq!(status, 200, "{reg}");
    assert_eq!(
        (reg["issued"].as_u64(), reg["chunks"].as_u64()),
        (Some(20), Some(2))
    );
    let (_, list) = get(&base, &format!("/api/v1/registries?issuer={agency_did}")).await;
    assert_eq!(list["registries"].as_array().unwrap().len(), 1);

    let mut reference = Registry::new(12).unwrap();
    reference
        .extend(&(1..=20u64).map(|i| Fr::from(i * 7)).collect::<Vec<_>>())
        .unwrap();
    let (status, chunk) = get(&base, &format!("/api/v1/registries/{id}/chunks/1")).await;
    assert_eq!(status, 200);
    let parse = |v: &Value| {
        let s = v.as_str().unwrap();
        fr_from_bytes_be(&weft_types::id::parse_hex_array::<32>(s).unwrap()).unwrap()
    };
    let leaves: Vec<Fr> = chunk["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(parse)
        .collect();
    assert_eq!(leaves.len(), 16, "always the whole chunk");
    let siblings: Vec<Fr> = chunk["siblings"]
        .as_array()
        .unwrap()
        .iter()
        .map(parse)
        .collect();
    let served = weft_crypto::registry::RegistryChunk {
        k: 4,
        index: 1,
        leaves,
        siblings,
    };
    assert_eq!(served, reference.chunk(4, 1).unwrap());
    assert_eq!(parse(&chunk["root"]), reference.root());
    // The holder's path comes out of the chunk, checked against the root.
    let path = served.path(3, reference.root()).unwrap();
    assert_eq!(path.index, 19);
    let (status, _) = get(&base, &format!("/api/v1/registries/{id}/chunks/2")).await;
    assert_eq!(status, 404, "past the registry's size");
    let (status, e) = get(&base, "/api/v1/registries/xyz/chunks/0").await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("invalidRegistryId"))
    );

    // The proof, checked with the committee keys only.
    let (status, p) = get(&base, &format!("/api/v1/registries/{id}/proof")).await;
    assert_eq!(status, 200, "{p}");
    let proof: RegistryProof = serde_json::from_value(p["proof"].clone()).unwrap();
    let milestone: Milestone = serde_json::from_value(p["milestone"].clone()).unwrap();
    let committee = weft_node::NodeConfig::dev("unused".into(), "127.0.0.1:0".parse().unwrap())
        .genesis
        .committee;
    weft_node::milestone::verify_certificate(&milestone, &committee).unwrap();
    let root = fr_to_bytes_be(&reference.root());
    assert!(proof
        .verify_root(&milestone.essence.state_root, &root)
        .is_ok());
    let mut forged = proof.clone();
    forged.recent_roots.last_mut().unwrap().root[31] ^= 1;
    assert!(forged.verify(&milestone.essence.state_root).is_err());
}
