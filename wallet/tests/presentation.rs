//! The normative presentation protocol end to end: a registry built here, the agency's
//! signed credential imported into the wallet, a distribution point's request built as
//! `weft-verifier request` builds it, the wallet's response, and the point's check of
//! it (the statement rebuilt from `to_claim` with the program, verified under the dev
//! network's verifying key). Then every refusal, each before any proving.

mod common;

use std::time::Instant;

use common::*;
use rand::rngs::OsRng;
use weft_circuits::groth16::{dev_keys, CompressedProof};
use weft_credentials::claim::{program_field, statement};
use weft_credentials::presentation::to_claim;
use weft_types::{Program, ProgramId, SchemaId};
use weft_wallet::model::ProgramInfo;
use weft_wallet::sync::RootEntry;
use weft_wallet::{
    read_request, FrHex, KdfParams, MemoryStorage, PresentationRequest, PresentationResponse,
    RecoveryPhrase, SyncBundle, Wallet, WalletError,
};

/// Registry depth of the dev keys.
const DEV_DEPTH: u8 = weft_circuits::DEFAULT_DEPTH as u8;

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

/// A wallet holding the agency's credential (imported from its signed document,
/// checked against the agency's DID document), synced at milestone 10.
fn ready(seed: u64) -> (Wallet<MemoryStorage>, Fixture) {
    let mut w = new_wallet();
    let fx = issue_at(&w.enrolment(), seed, DEV_DEPTH);
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    w.import_document(&fx.document, &offline_evidence(&fx), &mut OsRng)
        .unwrap();
    w.sync(&bundle(&fx, 10), &mut OsRng).unwrap();
    (w, fx)
}

/// What the distribution point does with a response (crates/verifier `Verifier::verify`,
/// minus its snapshot's root and nullifier lists): decode it strictly, match the nonce,
/// rebuild the statement from the program and `to_claim(request, response)`, verify the
/// proof under the dev verifying key.
fn point_verifies(
    program_id: &ProgramId,
    program: &Program,
    request: &PresentationRequest,
    answer: &[u8],
) -> Result<PresentationResponse, String> {
    let response = PresentationResponse::from_bytes(answer).map_err(|e| e.to_string())?;
    if response.nonce != request.nonce {
        return Err("the answer echoes another request's nonce".into());
    }
    let claim = to_claim(request, &response);
    claim.check_limits().map_err(|e| e.to_string())?;
    let st = statement(program_id, program, &claim).ok_or("disclosures do not fit the mask")?;
    let proof = CompressedProof(response.proof)
        .to_proof()
        .map_err(|e| e.to_string())?;
    let inputs = st.public_inputs().map_err(|e| e.to_string())?;
    let keys = dev_keys().map_err(|e| e.to_string())?;
    weft_circuits::verify(&keys.pvk, &inputs, &proof).map_err(|e| e.to_string())?;
    Ok(response)
}

#[test]
fn a_response_verifies_as_the_point_checks_it() {
    let keys = dev_keys().unwrap();
    let (w, fx) = ready(21);
    let req = request(&fx);
    // The wallet reads the request as the point shows it: the QR code of its bytes.
    let shown = weft_wallet::qr::png(&req.to_bytes(), 3).unwrap();
    let read = read_request(&shown).unwrap();
    assert_eq!(read, req);

    let consent = w.describe(&read, None).unwrap();
    let started = Instant::now();
    let response = w
        .respond(keys, &read, Some(&consent.credential_id), &mut OsRng)
        .unwrap();
    eprintln!(
        "respond (depth {DEV_DEPTH}, dev keys): {:?}",
        started.elapsed()
    );
    let bytes = response.to_bytes();
    eprintln!("response: {} bytes", bytes.len());
    assert!(bytes.len() < 320, "{} bytes", bytes.len());
    // The response's QR code reads back, and its JSON form is the same response.
    let png = weft_wallet::qr::png(&bytes, 4).unwrap();
    assert_eq!(weft_wallet::qr::read_png(&png).unwrap(), bytes);
    assert_eq!(
        PresentationResponse::from_json(&response.to_json()).unwrap(),
        response
    );

    let checked = point_verifies(&fx.program_id, &fx.program, &req, &bytes).unwrap();
    assert_eq!(checked.nonce, req.nonce);
    assert_eq!(checked.registry, fx.registry_id);
    assert_eq!(
        checked.root,
        weft_crypto::poseidon::fr_to_bytes_be(&fx.registry.root())
    );
    assert_eq!(
        checked.nullifier,
        weft_crypto::poseidon::fr_to_bytes_be(&w.nullifier(program_field(&fx.program_id), 3))
    );
    assert_eq!(checked.disclosed_u64(req.disclose, 1), Some(5));
    assert_eq!(checked.disclosed.len(), 1);

    // The proof is bound to this request: another nonce, time or point fails.
    let mut other = req.clone();
    other.nonce[0] ^= 1;
    let mut echo = checked.clone();
    echo.nonce = other.nonce;
    assert!(point_verifies(&fx.program_id, &fx.program, &other, &echo.to_bytes()).is_err());
    let mut later = req.clone();
    later.time += 1000;
    assert!(point_verifies(&fx.program_id, &fx.program, &later, &bytes).is_err());
    let mut elsewhere = req.clone();
    elsewhere.point = weft_types::Did([7; 32]);
    assert!(point_verifies(&fx.program_id, &fx.program, &elsewhere, &bytes).is_err());
    // ... and to its disclosed value.
    let mut lie = checked.clone();
    lie.disclosed[0] =
        weft_crypto::poseidon::fr_to_bytes_be(&weft_crypto::poseidon::Fr::from(9u64));
    assert!(point_verifies(&fx.program_id, &fx.program, &req, &lie.to_bytes()).is_err());
}

#[test]
fn a_program_or_schema_without_a_credential_is_refused() {
    let keys = dev_keys().unwrap();
    let (mut w, fx) = ready(22);
    // A program the wallet has never heard of.
    let unknown = request_for(&fx, &fx.program, ProgramId(weft_types::RegistryId([9; 32])));
    let e = w.respond(keys, &unknown, None, &mut OsRng).unwrap_err();
    assert!(matches!(e, WalletError::UnknownProgram(_)), "{e}");
    assert!(e.to_string().contains("unknown program"), "{e}");

    // A known program of another schema: no credential fits.
    let mut other_schema = schema();
    other_schema.name = "livelihoods".into();
    let mut program = program(&other_schema, &agency_did());
    program.name = "Seeds 2026".into();
    let program_id = program.id(&agency_did());
    let mut b = SyncBundle::new();
    b.programs.push(program_info(&fx));
    b.programs.push(ProgramInfo {
        id: FrHex(program_field(&program_id)),
        name: program.name.clone(),
    });
    w.sync(&b, &mut OsRng).unwrap();
    let req = request_for(&fx, &program, program_id);
    let e = w.respond(keys, &req, None, &mut OsRng).unwrap_err();
    assert!(matches!(e, WalletError::NoMatchingCredential(_)), "{e}");
    assert!(e.to_string().contains("schema"), "{e}");
    assert!(matches!(
        w.describe(&req, None),
        Err(WalletError::NoMatchingCredential(_))
    ));

    // The right schema, but a registry the program does not accept.
    let mut req = request(&fx);
    req.registries = vec![weft_types::RegistryId([3; 32])];
    let e = w.respond(keys, &req, None, &mut OsRng).unwrap_err();
    assert!(e.to_string().contains("does not accept"), "{e}");
    // No registries named: a hint only, any registry of the schema is tried.
    req.registries.clear();
    w.describe(&req, None).unwrap();
    // A schema id that only looks alike (the same circuit element needs the same id).
    let mut req = request(&fx);
    req.schema = SchemaId([0; 32]);
    assert!(matches!(
        w.describe(&req, None),
        Err(WalletError::NoMatchingCredential(_))
    ));
}

#[test]
fn a_stale_root_is_refused() {
    let keys = dev_keys().unwrap();
    let (mut w, mut fx) = ready(23);
    let req = request(&fx);
    w.describe(&req, None).unwrap();
    // The registry moves on; the wallet learns the new root but not its chunk.
    fx.registry
        .append(weft_crypto::poseidon::Fr::from(424_242u64))
        .unwrap();
    let mut roots = SyncBundle::new();
    roots.roots.push(RootEntry {
        registry: fx.id,
        root: FrHex(fx.registry.root()),
        milestone: 11,
    });
    w.sync(&roots, &mut OsRng).unwrap();
    let e = w.respond(keys, &req, None, &mut OsRng).unwrap_err();
    assert!(matches!(e, WalletError::StaleRegistry(_)), "{e}");
    assert!(e.to_string().contains("sync"), "{e}");
    assert!(matches!(
        w.describe(&req, None),
        Err(WalletError::StaleRegistry(_))
    ));
    // The fresh chunk fixes it.
    w.sync(&bundle(&fx, 11), &mut OsRng).unwrap();
    w.describe(&req, None).unwrap();

    // A credential never synced is stale too.
    let mut w = new_wallet();
    let fx = issue_at(&w.enrolment(), 24, DEV_DEPTH);
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    w.import_document(&fx.document, &offline_evidence(&fx), &mut OsRng)
        .unwrap();
    let mut b = SyncBundle::new();
    b.programs.push(program_info(&fx));
    w.sync(&b, &mut OsRng).unwrap();
    let e = w
        .respond(keys, &request(&fx), None, &mut OsRng)
        .unwrap_err();
    assert!(matches!(e, WalletError::StaleRegistry(_)), "{e}");
}

#[test]
fn a_policy_the_credential_fails_is_refused_before_proving() {
    let keys = dev_keys().unwrap();
    let (mut w, fx) = ready(25);
    // The same program's schema and registry, a condition the holder (34) fails.
    let mut strict = fx.program.clone();
    strict.name = "Elderly support".into();
    strict.policy_source = "age >= 60".into();
    strict.conditions = weft_credentials::policy::compile("age >= 60", &fx.schema)
        .unwrap()
        .conditions;
    let strict_id = strict.id(&agency_did());
    let mut b = SyncBundle::new();
    b.programs.push(ProgramInfo {
        id: FrHex(program_field(&strict_id)),
        name: strict.name.clone(),
    });
    w.sync(&b, &mut OsRng).unwrap();
    let req = request_for(&fx, &strict, strict_id);
    let started = Instant::now();
    let e = w.respond(keys, &req, None, &mut OsRng).unwrap_err();
    // Refused by the wallet's own check, far quicker than a proof.
    assert!(
        started.elapsed().as_millis() < 200,
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(e, WalletError::DoesNotMeet { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("does not meet"), "{text}");
    assert!(text.contains("age is at least 60"), "{text}");
    assert!(matches!(
        w.describe(&req, None),
        Err(WalletError::DoesNotMeet { .. })
    ));
}

#[test]
fn a_value_program_answer_carries_a_kept_key_and_its_claim_note_is_found() {
    use weft_wallet::notes::{KeyPurpose, ScannedContent, ScannedMilestone, ScannedNote};
    let keys = dev_keys().unwrap();
    let (mut w, fx) = ready(23);
    let mut req = request(&fx);
    req.value_notes = true;
    // The plain `respond` cannot keep a key: it refuses before proving.
    assert!(matches!(
        w.respond(keys, &req, None, &mut OsRng),
        Err(WalletError::Request(_))
    ));
    let consent = w.describe(&req, None).unwrap();
    assert!(
        consent.text.contains("arrives as value in this wallet"),
        "{}",
        consent.text
    );
    let response = w.answer(keys, &req, None, 1_000, &mut OsRng).unwrap();
    let key = response
        .entitlement_key
        .expect("a value answer carries a key");
    let held = &w.value().keys;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].public, key);
    assert_eq!(held[0].purpose, KeyPurpose::Entitlement { round: 3 });
    // The point's check holds for the keyed answer, and the key is bound into the
    // proof: without it, or with another one, the same proof fails.
    let bytes = response.to_bytes();
    assert_eq!(bytes[0], 2);
    point_verifies(&fx.program_id, &fx.program, &req, &bytes).unwrap();
    let mut stripped = response.clone();
    stripped.entitlement_key = None;
    assert!(point_verifies(&fx.program_id, &fx.program, &req, &stripped.to_bytes()).is_err());
    let mut other = response.clone();
    other.entitlement_key = Some(
        weft_wallet::notes::NoteKey::generate(fx.program_id, KeyPurpose::Change, 0, &mut OsRng)
            .public,
    );
    assert!(point_verifies(&fx.program_id, &fx.program, &req, &other.to_bytes()).is_err());
    // The key's secret is in the wallet data, never in its Debug.
    assert!(!format!("{w:?} {:?}", w.value()).contains(&hex::encode(held[0].secret.0)));
    // The claim note the ledger mints to the key is found by a scan.
    let note = weft_entitlements::claim_note(fx.program_id.bytes(), &key, 25).unwrap();
    let m = ScannedMilestone {
        index: 12,
        created: vec![ScannedNote {
            program: *fx.program_id.bytes(),
            id: note.id,
            owner: key,
            content: ScannedContent::Claim { amount: 25 },
        }],
        spent: vec![],
    };
    let report = w.scan_notes(&[m], &mut OsRng).unwrap();
    assert_eq!(report.received, vec![(fx.program_id, 25)]);
    let b = &w.balances(2_000)[0];
    assert_eq!((b.available, b.notes, b.awaiting_claims), (25, 1, 0));
    let label = b.label.as_ref().unwrap();
    assert_eq!(
        (label.name.as_str(), label.unit.as_str()),
        ("Winter food 2026", "kg rice")
    );
}
