//! The demo runs end to end on its own embedded node and reports what it showed.

use std::process::Command;

#[test]
fn the_demo_anchors_records_catches_the_duplicate_and_checks_proofs_offline() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weft-node"))
        .args(["demo", "--json", "--households", "80", "--out"])
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

    // The aid round: every eligible household served once, every double claim caught,
    // the ledger's count equal to the households served, a donor report of counts.
    let n = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {report}"))
    };
    assert_eq!(n("households"), 80);
    assert!(n("credentials_issued") >= 80);
    let eligible = n("eligible_households");
    assert!(eligible >= 2, "{report}");
    assert_eq!(n("claims_on_ledger"), eligible);
    assert_eq!(
        n("claims_accepted"),
        eligible + n("offline_double_claims_detected"),
        "offline double claims are accepted at the counter, then caught"
    );
    assert!(n("double_claims_attempted") >= 2);
    assert_eq!(n("double_claims_caught"), n("double_claims_attempted"));
    assert!(n("offline_double_claims_detected") >= 1);
    assert!(n("claims_refused_ineligible") >= 1);
    assert!(report["elapsed_s"].as_f64().is_some());
    let donor = read("donor-report.json");
    assert_eq!(donor, report["donorReport"]);
    assert_eq!(donor["claims"], eligible);
    assert_eq!(
        donor["doubleClaimsCaughtByLedger"],
        report["offline_double_claims_detected"]
    );
    let points = donor["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    let per_point: u64 = points.iter().map(|p| p["claims"].as_u64().unwrap()).sum();
    assert_eq!(per_point, eligible);

    // The entitlement reached households as value notes; payments at the shop and its
    // redemption keep the books: the audit holds, a second spend was refused.
    assert_eq!(report["conservation_ok"], true, "{report}");
    assert_eq!(donor["value"]["conservationOk"], true);
    let minted: u128 = report["value_minted"].as_str().unwrap().parse().unwrap();
    assert_eq!(minted, n("entitlement_on_ledger") as u128);
    assert!(n("shop_payments") >= 1);
    assert_eq!(n("double_spends_refused"), 1);
    let redeemed: u128 = report["value_redeemed"].as_str().unwrap().parse().unwrap();
    assert!(redeemed >= 1 && redeemed <= minted);
    assert_eq!(
        donor["value"]["outstanding"].as_str().unwrap(),
        (minted - redeemed).to_string()
    );

    // The sample presentation and its QR code: the image decodes to the same bytes.
    let presentation = read("presentation.json");
    let response =
        weft_credentials::presentation::PresentationResponse::from_json(&presentation["response"])
            .unwrap();
    let png = std::fs::read(out.path().join("presentation.png")).unwrap();
    let decoded = weft_verifier::qr::decode_png(&png).unwrap();
    assert_eq!(decoded, response.to_bytes());
    assert!(decoded.len() <= 400, "QR-sized: {} bytes", decoded.len());
}
