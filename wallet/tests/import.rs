//! Importing the agency's signed credential document (W3C VC 2.0, eddsa-jcs-2022):
//! offline against a DID document the holder was given, and with a node's registry
//! evidence (the chunk holding the leaf); every refusal leaves the wallet unchanged.

mod common;

use common::*;
use rand::rngs::OsRng;
use serde_json::{json, Value};
use weft_credentials::did::{did_document, method_id};
use weft_crypto::signing::OrganisationKey;
use weft_types::{Did, DidCreate};
use weft_wallet::{
    IssuerEvidence, KdfParams, MemoryStorage, RecoveryPhrase, RegistryEvidence, SyncBundle, Wallet,
    WalletError,
};

fn new_wallet() -> Wallet<MemoryStorage> {
    let phrase = RecoveryPhrase::generate(&mut OsRng).unwrap();
    Wallet::create(
        MemoryStorage::default(),
        phrase,
        "2468",
        None,
        KdfParams::INSECURE_TEST,
        &mut OsRng,
    )
    .unwrap()
}

/// What a node would show for the fixture's registry: owner, schema, accreditation,
/// the chunk holding the credential, root, size and milestone.
fn node_evidence(fx: &Fixture) -> IssuerEvidence {
    let mut e = offline_evidence(fx);
    e.registry = Some(RegistryEvidence {
        issuer: agency_did(),
        schema: fx.schema.id(),
        accredited: true,
        chunk: fx.registry.chunk(K, fx.index >> K).unwrap(),
        root: fx.registry.root(),
        size: fx.registry.len(),
        milestone: 7,
    });
    e
}

/// Runs `f` and checks it fails without changing the wallet.
fn refused(
    w: &mut Wallet<MemoryStorage>,
    f: impl FnOnce(&mut Wallet<MemoryStorage>) -> Result<String, WalletError>,
) -> WalletError {
    let before = w.data().to_json();
    let e = f(w).expect_err("the import should be refused");
    assert_eq!(
        before.as_slice(),
        w.data().to_json().as_slice(),
        "a refused import changed the wallet ({e})"
    );
    e
}

#[test]
fn a_signed_document_is_imported_offline() {
    let mut w = new_wallet();
    let fx = issue(&w.enrolment(), 31);
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    let id = w
        .import_document(&fx.document, &offline_evidence(&fx), &mut OsRng)
        .unwrap();
    let c = w.credential(&id).unwrap();
    assert_eq!(c.issuer, issuer_text());
    assert_eq!(c.registry, fx.id);
    assert_eq!(c.leaf_index, INDEX);
    assert_eq!(c.commitment(), fx.cred.commitment());
    assert_eq!(c.document, fx.document);
    assert!(c.path.is_none(), "offline: not synced yet");
    assert_eq!(c.attribute_text(2), "north");
    assert_eq!(c.attribute_text(3), "\"Camp Alpha\"");
    // A DID Resolution result (as the node serves it, the demo's issuer-did.json) works
    // as the DID file too; importing twice is refused.
    let resolution = json!({
        "didDocument": agency_document(),
        "didDocumentMetadata": {"versionId": "1", "deactivated": false},
        "didResolutionMetadata": {"contentType": "application/did+ld+json"},
    });
    let e = refused(&mut w, |w| {
        w.import_document(
            &fx.document,
            &IssuerEvidence::offline(resolution, fx.schema.clone()),
            &mut OsRng,
        )
    });
    assert!(e.to_string().contains("already stored"), "{e}");
    // The sync then gives it a path, and it answers requests.
    w.sync(&bundle(&fx, 3), &mut OsRng).unwrap();
    w.describe(&request(&fx), Some(&id)).unwrap();
}

#[test]
fn with_the_registry_chunk_the_credential_is_imported_and_synced() {
    let mut w = new_wallet();
    let fx = issue(&w.enrolment(), 32);
    // No sync needed: the node's registry record names the issuer.
    let id = w
        .import_document(&fx.document, &node_evidence(&fx), &mut OsRng)
        .unwrap();
    let c = w.credential(&id).unwrap();
    let path = c.path.as_ref().expect("the chunk synced the credential");
    assert_eq!(path.root.0, fx.registry.root());
    assert_eq!(path.milestone, 7);
    assert_eq!(w.data().roots[&fx.id].milestone, 7);
    assert_eq!(w.data().issuers[0].did, issuer_text());
    let mut b = SyncBundle::new();
    b.programs.push(program_info(&fx));
    w.sync(&b, &mut OsRng).unwrap();
    w.describe(&request(&fx), None).unwrap();
}

#[test]
fn another_holders_credential_is_refused() {
    let mut w = new_wallet();
    let other = new_wallet();
    let fx = issue(&other.enrolment(), 33);
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    let e = refused(&mut w, |w| {
        w.import_document(&fx.document, &offline_evidence(&fx), &mut OsRng)
    });
    assert!(matches!(e, WalletError::Credential(_)), "{e}");
    assert!(e.to_string().contains("another holder"), "{e}");
    let e = refused(&mut w, |w| {
        w.import_document(&fx.document, &node_evidence(&fx), &mut OsRng)
    });
    assert!(e.to_string().contains("another holder"), "{e}");
}

#[test]
fn an_unknown_or_deactivated_issuer_is_refused() {
    let mut w = new_wallet();
    let fx = issue(&w.enrolment(), 34);
    // Offline, nothing synced: the wallet does not know the issuer.
    let e = refused(&mut w, |w| {
        w.import_document(&fx.document, &offline_evidence(&fx), &mut OsRng)
    });
    assert!(matches!(e, WalletError::UnknownIssuer(_)), "{e}");
    assert!(e.to_string().contains("unknown issuer"), "{e}");
    // From a node: the registry belongs to someone else, or the issuer is not accredited.
    let mut ev = node_evidence(&fx);
    let stranger = DidCreate::with_key(OrganisationKey::from_seed(&[99; 32]).public_key(), 0);
    if let Some(r) = ev.registry.as_mut() {
        r.issuer = stranger.did();
    }
    let e = refused(&mut w, |w| w.import_document(&fx.document, &ev, &mut OsRng));
    assert!(matches!(e, WalletError::UnknownIssuer(_)), "{e}");
    assert!(e.to_string().contains("does not own"), "{e}");
    let mut ev = node_evidence(&fx);
    if let Some(r) = ev.registry.as_mut() {
        r.accredited = false;
    }
    let e = refused(&mut w, |w| w.import_document(&fx.document, &ev, &mut OsRng));
    assert!(e.to_string().contains("not an accredited issuer"), "{e}");
    // Deactivated: from the resolution's metadata, with or without a node.
    let resolution = json!({
        "didDocument": agency_document(),
        "didDocumentMetadata": {"versionId": "2", "deactivated": true},
    });
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    let ev = IssuerEvidence::offline(resolution, fx.schema.clone());
    let e = refused(&mut w, |w| w.import_document(&fx.document, &ev, &mut OsRng));
    assert!(matches!(e, WalletError::IssuerDeactivated(_)), "{e}");
    assert!(e.to_string().contains("deactivated"), "{e}");
    let mut ev = node_evidence(&fx);
    ev.deactivated = true;
    let e = refused(&mut w, |w| w.import_document(&fx.document, &ev, &mut OsRng));
    assert!(matches!(e, WalletError::IssuerDeactivated(_)), "{e}");
}

#[test]
fn a_bad_signature_is_refused() {
    let mut w = new_wallet();
    let fx = issue(&w.enrolment(), 35);
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    let check = |w: &mut Wallet<MemoryStorage>, doc: &Value, ev: &IssuerEvidence| {
        let e = refused(w, |w| w.import_document(doc, ev, &mut OsRng));
        assert!(matches!(e, WalletError::Signature(_)), "{e}");
        assert!(e.to_string().contains("signature"), "{e}");
    };
    // A changed attribute (the holder claiming a bigger household).
    let mut doc = fx.document.clone();
    doc["credentialSubject"]["household_size"] = json!(9);
    check(&mut w, &doc, &offline_evidence(&fx));
    check(&mut w, &doc, &node_evidence(&fx));
    // A changed signature.
    let mut doc = fx.document.clone();
    let value = doc["proof"]["proofValue"].as_str().unwrap().to_string();
    let flipped = if value.ends_with('a') { "b" } else { "a" };
    doc["proof"]["proofValue"] = json!(format!("{}{flipped}", &value[..value.len() - 1]));
    check(&mut w, &doc, &offline_evidence(&fx));
    // Signed by a key the issuer's DID document does not hold.
    let forger = OrganisationKey::from_seed(&[66; 32]);
    let mut unsigned = fx.document.clone();
    unsigned.as_object_mut().unwrap().remove("proof");
    let forged = weft_credentials::sign(
        &unsigned,
        &forger,
        &method_id(&agency_did(), "key-1"),
        1_760_000_000_000,
    )
    .unwrap();
    check(&mut w, &forged, &offline_evidence(&fx));
    // The DID document of another DID.
    let stranger = DidCreate::with_key(forger.public_key(), 0);
    let doc_of: Did = stranger.did();
    let ev = IssuerEvidence::offline(
        did_document(&doc_of, &stranger.keys, &[]),
        fx.schema.clone(),
    );
    check(&mut w, &fx.document, &ev);
    assert!(w.credentials().is_empty());
}

#[test]
fn the_registry_must_hold_the_leaf() {
    let mut w = new_wallet();
    let mut fx = issue(&w.enrolment(), 36);
    // A chunk that does not hash to the root given.
    let mut ev = node_evidence(&fx);
    if let Some(r) = ev.registry.as_mut() {
        r.chunk.leaves[0] = weft_crypto::poseidon::Fr::from(1u64);
    }
    let e = refused(&mut w, |w| w.import_document(&fx.document, &ev, &mut OsRng));
    assert!(matches!(e, WalletError::Sync(_)), "{e}");
    // Another chunk than the one holding the index.
    let mut ev = node_evidence(&fx);
    if let Some(r) = ev.registry.as_mut() {
        r.chunk = fx.registry.chunk(K, 0).unwrap();
    }
    let e = refused(&mut w, |w| w.import_document(&fx.document, &ev, &mut OsRng));
    assert!(matches!(e, WalletError::Sync(_)), "{e}");
    // Revoked.
    fx.registry.revoke(fx.index).unwrap();
    let e = refused(&mut w, |w| {
        w.import_document(&fx.document, &node_evidence(&fx), &mut OsRng)
    });
    assert!(e.to_string().contains("revoked"), "{e}");
    // Another leaf at its position.
    fx.registry
        .update(fx.index, weft_crypto::poseidon::Fr::from(5u64))
        .unwrap();
    let e = refused(&mut w, |w| {
        w.import_document(&fx.document, &node_evidence(&fx), &mut OsRng)
    });
    assert!(e.to_string().contains("does not hold"), "{e}");
    // A schema other than the one the document names.
    let mut other = schema();
    other.version = "2.0".into();
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    let e = refused(&mut w, |w| {
        w.import_document(
            &fx.document,
            &IssuerEvidence::offline(agency_document(), other),
            &mut OsRng,
        )
    });
    assert!(matches!(e, WalletError::Credential(_)), "{e}");
}
