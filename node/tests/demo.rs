//! The demo runs end to end on its own embedded node and reports what it showed.

use std::process::Command;

#[test]
fn the_demo_anchors_records_catches_the_duplicate_and_checks_proofs_offline() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weft-node"))
        .args(["demo", "--json", "--out"])
        .arg(out.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("demo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON report on stdout");
    let anchors = report["anchors"].as_array().unwrap();
    assert_eq!(anchors.len(), 8);
    assert!(anchors.iter().all(|a| a["outcome"] == "applied"));
    assert_eq!(report["duplicate"]["outcome"], "conflicting");
    assert_eq!(report["duplicate"]["reason"], "duplicateAnchor");
    assert_eq!(report["inclusionProofsVerified"], 8);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(written, report);

    // The agency's DID resolution and one credential document: the credential verifies
    // against the DID document, and a changed attribute does not.
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.path().join(name)).unwrap()).unwrap()
    };
    let did = read("issuer-did.json");
    let credential = read("credential.json");
    assert_eq!(report["credentials"]["issued"], 3);
    assert_eq!(did["didDocument"]["id"], report["credentials"]["issuer"]);
    assert_eq!(did["didDocumentMetadata"]["deactivated"], false);
    assert_eq!(credential["issuer"], report["credentials"]["issuer"]);
    assert_eq!(
        credential["@context"][0],
        "https://www.w3.org/ns/credentials/v2"
    );
    weft_credentials::verify(&credential, &did["didDocument"]).expect("the credential verifies");
    let mut changed = credential.clone();
    changed["credentialSubject"]["household_size"] = serde_json::json!(9);
    assert!(weft_credentials::verify(&changed, &did["didDocument"]).is_err());
}
