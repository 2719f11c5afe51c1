//! The agency's flows against an embedded dev node: DID creation and rotation, schema,
//! registry, CSV issuance with bad rows, an interrupted run resumed without issuing
//! twice, document verification against the ledger, and revocation.

mod common;
use common::start;
use std::time::Duration;

use serde_json::Value;
use weft_agency::issue::{issue, IssueOptions};
use weft_agency::keystore::{KdfParams, Keystore};
use weft_agency::{csv, Node};
use weft_client::DidVersion;
use weft_credentials::{verify_against_ledger, LedgerCheckError, RegistryView};
use weft_types::{
    AttributeDef, AttributeKind, DidCreate, DidOperation, DidService, DidUpdate, Payload,
    RegistryCreate, Schema,
};

fn hex_fr(i: u64) -> String {
    format!("0x{:064x}", i + 1000)
}

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
                    values: vec!["north".into(), "south".into()],
                },
            },
            AttributeDef {
                name: "enrolled".into(),
                kind: AttributeKind::Date,
            },
        ],
    }
}

/// 52 data rows; line 7 has a household size too large, line 20 an unknown region.
fn enrolment_csv() -> String {
    let mut s =
        String::from("holder_commitment,household_commitment,household_size,region,enrolled\n");
    for i in 0..52u64 {
        let line = i + 2;
        let size = if line == 7 { 300 } else { 1 + i % 9 };
        let region = if line == 20 {
            "east"
        } else if i % 2 == 0 {
            "north"
        } else {
            "south"
        };
        s.push_str(&format!(
            "{},{},{size},{region},2026-0{}-1{}\n",
            hex_fr(2 * i),
            hex_fr(2 * i + 1),
            1 + i % 9,
            i % 10
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agency_end_to_end() {
    let running = start().await;
    let node = Node::connect(&running.url).await.expect("connect");
    let dir = tempfile::tempdir().expect("dir");

    // Keystore round trip and a new DID.
    let ks_path = dir.path().join("ks.json");
    let mut ks = Keystore::generate(KdfParams::TEST).expect("keystore");
    ks.save(&ks_path, b"pass").expect("save");
    let (did, _) = weft_agency::create_did(&node, &ks, 0)
        .await
        .expect("DID created");
    ks.did = Some(did);
    let old = weft_agency::signer(&node, &ks).await.expect("signer");
    assert_eq!(old.fragment, "key-1");

    // Rotation: key-1 to a fresh key; the old key is refused afterwards.
    let new_pk = ks.add_generated("key-1").expect("new key");
    weft_agency::update_did(
        &node,
        &old,
        vec![DidOperation::RotateKey {
            id: "key-1".into(),
            public_key: new_pk,
        }],
    )
    .await
    .expect("rotated");
    let now = weft_agency::signer(&node, &ks).await.expect("signer");
    assert_eq!(now.key.public_key(), new_pk);
    let v1 = node
        .client
        .resolve_did(&did, &DidVersion::Id(1))
        .await
        .expect("version 1");
    assert_eq!(weft_agency::document_keys(&v1)[0].1, old.key.public_key());
    let late = Payload::DidUpdate(DidUpdate {
        did,
        sequence: 2,
        operations: vec![DidOperation::AddService(DidService {
            id: "web".into(),
            service_type: "LinkedDomains".into(),
            endpoint: "https://agency.example".into(),
        })],
    });
    match node.block(&old.key, late.clone(), None).await {
        Ok(block) => match node.client.submit(&block).await {
            Err(_) => {}
            Ok(r) => {
                let outcome = node
                    .client
                    .wait_outcome(&r.block_id, Duration::from_secs(20))
                    .await
                    .expect("confirmed");
                assert!(!outcome.is_applied(), "old key accepted: {outcome:?}");
            }
        },
        Err(e) => panic!("block: {e}"),
    }
    // The new key can update it.
    weft_agency::update_did(
        &node,
        &now,
        match late {
            Payload::DidUpdate(u) => u.operations,
            _ => unreachable!(),
        },
    )
    .await
    .expect("service added by the new key");
    let r = node.resolve(&did).await.expect("resolve");
    assert_eq!(r.version_id(), Some(3));

    // The dev organisation (accredited issuer) publishes a schema and a registry.
    let seed = weft_agency::dev_organisation_seed();
    let probe = Keystore::with_seed(&seed, None, KdfParams::TEST);
    let dev_did = DidCreate::with_key(probe.first_key().expect("key").public_key(), 0).did();
    let dev = Keystore::with_seed(&seed, Some(dev_did), KdfParams::TEST);
    let signer = weft_agency::signer(&node, &dev).await.expect("dev signer");
    let schema = schema();
    let schema_id = weft_agency::publish_schema(&node, &signer, schema.clone())
        .await
        .expect("schema");
    assert_eq!(
        node.client.schema(&schema_id).await.expect("schema").schema,
        schema
    );
    let registry = weft_agency::create_registry(
        &node,
        &signer,
        RegistryCreate {
            schema: schema_id,
            depth: 16,
            chunk_bits: 4,
            label: "test".into(),
        },
    )
    .await
    .expect("registry");

    // CSV: 50 good rows, 2 refused with their line numbers.
    let (rows, errors) = csv::read(&enrolment_csv(), &schema).expect("csv");
    assert_eq!(rows.len(), 50);
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("line 7: household_size:"), "{lines:?}");
    assert!(lines[1].starts_with("line 20: region:"), "{lines:?}");

    // An interrupted run: the journal is written and the blocks are sent, then the
    // tool stops before any document. Small rounds: 2 blocks of 960 is more than 50,
    // so use the whole set in one round.
    let out = dir.path().join("out");
    let opts = IssueOptions {
        issued_at: (weft_agency::now_ms() / 1000) as u32 - 60,
        expiry: (weft_agency::now_ms() / 1000) as u32 + 86_400,
        blocks_per_round: 1,
        progress: false,
        stop_after_submit: true,
    };
    let first = issue(&node, &signer, registry, &schema, rows.clone(), &out, &opts)
        .await
        .expect("interrupted run");
    assert_eq!(first.written, 0);
    assert!(out.join("journal.json").exists());
    // The rerun settles the journal and writes every document, issuing nothing twice.
    let opts = IssueOptions {
        stop_after_submit: false,
        ..opts
    };
    let second = issue(&node, &signer, registry, &schema, rows.clone(), &out, &opts)
        .await
        .expect("resumed run");
    assert_eq!(second.written, 50);
    assert_eq!(second.blocks, 0, "the journaled batch was anchored");
    let third = issue(&node, &signer, registry, &schema, rows, &out, &opts)
        .await
        .expect("third run");
    assert_eq!((third.written, third.already, third.blocks), (0, 50, 0));
    let info = node.client.registry(&registry).await.expect("registry");
    assert_eq!(info.issued, 50);

    // A document verifies against the DID document and the registry chunk.
    let doc: Value =
        serde_json::from_slice(&std::fs::read(out.join("30.json")).expect("doc")).expect("json");
    let index: u64 = doc["credentialStatus"]["index"]
        .as_str()
        .expect("index")
        .parse()
        .expect("number");
    let issuer_doc = node.resolve(&dev_did).await.expect("issuer").did_document;
    let check = |chunk: &weft_client::ChunkInfo, size| {
        verify_against_ledger(
            &doc,
            &issuer_doc,
            &schema,
            RegistryView {
                chunk: &chunk.chunk,
                root: chunk.root,
                size,
            },
        )
    };
    let chunk = node
        .client
        .chunk(&registry, index >> 4)
        .await
        .expect("chunk");
    check(&chunk, info.issued).expect("credential verifies");

    // Revocation zeroes the leaf.
    let m = weft_agency::revoke(&node, &signer, registry, vec![index])
        .await
        .expect("revoked");
    assert!(m > 0);
    let chunk = node
        .client
        .chunk(&registry, index >> 4)
        .await
        .expect("chunk");
    assert_eq!(
        chunk.chunk.leaves[(index & 15) as usize],
        weft_crypto::Fr::from(0u64)
    );
    assert!(matches!(
        check(&chunk, info.issued),
        Err(LedgerCheckError::LeafRevoked)
    ));
    assert_eq!(
        weft_agency::revoked(&node, &registry).await.expect("list"),
        vec![index]
    );
}
