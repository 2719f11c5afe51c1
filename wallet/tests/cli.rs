//! The `weft-wallet` binary as separate processes: init, enrol, phrase, restore, wrong
//! and duress PINs, a damaged file, and import → sync → prove with a PNG read back.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_weft-wallet");

/// Runs the wallet with `args`, `stdin` as standard input and `envs`.
fn run(dir: &Path, args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(args)
        .env_remove("WEFT_WALLET_PIN")
        .env_remove("WEFT_WALLET_DURESS_PIN")
        .env_remove("WEFT_WALLET_PHRASE")
        .env_remove("WEFT_PROVING_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // A command that refuses early exits without reading all of its input: a broken
    // pipe here is that, not a failure (the exit status and output say what happened).
    let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn err(o: &Output) -> String {
    assert!(!o.status.success(), "unexpected success");
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The enrolment JSON line of an output.
fn enrolment(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("{\"holderCommitment\""))
        .unwrap()
        .to_string()
}

#[test]
fn init_enrol_phrase_restore() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = ok(&run(
        d,
        &["init", "--insecure-test-kdf", "--png", "enrol.png"],
        "1234\n1234\n",
        &[],
    ));
    let e = enrolment(&out);
    assert!(out.contains("holder_commitment,household_commitment"));
    assert!(out.contains('█'), "a QR code is drawn");
    // The PNG holds the same JSON.
    let png = std::fs::read(d.join("enrol.png")).unwrap();
    assert_eq!(weft_wallet::qr::read_png(&png).unwrap(), e.as_bytes());
    // Enrol again: same commitments.
    let again = ok(&run(d, &["enrol"], "", &[("WEFT_WALLET_PIN", "1234")]));
    assert_eq!(enrolment(&again), e);
    // The phrase only on request.
    assert!(err(&run(d, &["phrase"], "1234\n", &[])).contains("--show"));
    let phrase = ok(&run(d, &["phrase", "--show"], "1234\n", &[]));
    let phrase = phrase.trim();
    assert_eq!(phrase.split(' ').count(), 24);
    assert!(!out.contains(phrase), "init never prints the phrase");
    // Restore into another file: same commitments.
    let restored = ok(&run(
        d,
        &["--wallet", "restored.bin", "restore", "--insecure-test-kdf"],
        &format!("{phrase}\n9876\n9876\n"),
        &[],
    ));
    assert_eq!(enrolment(&restored), e);
    // A wallet is never overwritten; mismatched PINs create nothing.
    assert!(err(&run(
        d,
        &["init", "--insecure-test-kdf"],
        "1234\n1234\n",
        &[]
    ))
    .contains("never overwritten"));
    assert!(err(&run(
        d,
        &["--wallet", "x.bin", "init", "--insecure-test-kdf"],
        "1234\n4321\n",
        &[]
    ))
    .contains("differ"));
    assert!(!d.join("x.bin").exists());
    // A bad phrase is refused.
    let bad = err(&run(
        d,
        &["--wallet", "y.bin", "restore", "--insecure-test-kdf"],
        "abandon abandon\n1234\n1234\n",
        &[],
    ));
    assert!(bad.contains("recovery phrase"), "{bad}");
}

#[test]
fn wrong_pin_duress_pin_and_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = ok(&run(
        d,
        &["init", "--insecure-test-kdf", "--duress"],
        "",
        &[
            ("WEFT_WALLET_PIN", "1234"),
            ("WEFT_WALLET_DURESS_PIN", "5555"),
        ],
    ));
    let real = enrolment(&out);
    let before = std::fs::read(d.join("weft-wallet.bin")).unwrap();
    let e = err(&run(d, &["enrol"], "0000\n", &[]));
    assert!(e.contains("wrong PIN (1 failed in a row)"), "{e}");
    let after = std::fs::read(d.join("weft-wallet.bin")).unwrap();
    assert_eq!(before.len(), after.len());
    // Duress: a valid wallet with other commitments and no credentials.
    let decoy = ok(&run(d, &["enrol"], "5555\n", &[]));
    assert_ne!(enrolment(&decoy), real);
    let list = ok(&run(d, &["credentials", "list"], "5555\n", &[]));
    assert!(list.contains("No credentials."));
    assert_eq!(enrolment(&ok(&run(d, &["enrol"], "1234\n", &[]))), real);
    // A flipped byte: a clear error, the file left as it was.
    let mut bad = std::fs::read(d.join("weft-wallet.bin")).unwrap();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(d.join("weft-wallet.bin"), &bad).unwrap();
    let e = err(&run(d, &["enrol"], "1234\n", &[]));
    assert!(e.contains("damaged"), "{e}");
    assert_eq!(std::fs::read(d.join("weft-wallet.bin")).unwrap(), bad);
    // No wallet at all.
    let e = err(&run(d, &["--wallet", "none.bin", "enrol"], "1234\n", &[]));
    assert!(e.contains("no wallet"), "{e}");
}

#[test]
fn import_sync_prove_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pin = [("WEFT_WALLET_PIN", "1234")];
    let out = ok(&run(d, &["init", "--insecure-test-kdf"], "", &pin));
    let e: weft_wallet::Enrolment = serde_json::from_str(&enrolment(&out)).unwrap();
    let fx = issue(&e, 11);
    let write_json = |name: &str, v: &serde_json::Value| {
        std::fs::write(d.join(name), serde_json::to_vec_pretty(v).unwrap()).unwrap()
    };
    write_json("credential.json", &fx.document);
    // The DID file as the demo writes it (a resolution result), the schema as the
    // node's schema route answers it.
    write_json(
        "issuer-did.json",
        &serde_json::json!({"didDocument": agency_document(),
                            "didDocumentMetadata": {"versionId": "1", "deactivated": false}}),
    );
    write_json(
        "schema.json",
        &serde_json::json!({"id": fx.schema.id(), "schema": fx.schema}),
    );
    std::fs::write(d.join("issuers.json"), issuers_only(&fx).to_json()).unwrap();
    std::fs::write(d.join("sync.json"), bundle(&fx, 5).to_json()).unwrap();
    let req = request(&fx);
    write_json("request.json", &req.to_json());
    let keys = weft_circuits::groth16::setup(b"cli test", DEPTH as usize).unwrap();
    std::fs::write(d.join("pk.bin"), keys.proving_key_bytes()).unwrap();

    let import = [
        "credentials",
        "import",
        "credential.json",
        "--did-document",
        "issuer-did.json",
        "--schema",
        "schema.json",
    ];
    // Without a way to check the signature: a clear error.
    let e = err(&run(
        d,
        &["credentials", "import", "credential.json"],
        "",
        &pin,
    ));
    assert!(e.contains("--did-document"), "{e}");
    // Unknown issuer until the issuers are synced.
    let e = err(&run(d, &import, "", &pin));
    assert!(e.contains("unknown issuer"), "{e}");
    ok(&run(d, &["sync", "--file", "issuers.json"], "", &pin));
    // A tampered document: the signature fails, nothing is stored.
    let mut forged = fx.document.clone();
    forged["credentialSubject"]["household_size"] = serde_json::json!(9);
    write_json("forged.json", &forged);
    let mut forged_import = import;
    forged_import[2] = "forged.json";
    let e = err(&run(d, &forged_import, "", &pin));
    assert!(e.contains("signature does not verify"), "{e}");
    // The document as a QR code image.
    let compact = serde_json::to_vec(&fx.document).unwrap();
    std::fs::write(
        d.join("credential.png"),
        weft_wallet::qr::png(&compact, 3).unwrap(),
    )
    .unwrap();
    let out = ok(&run(
        d,
        &[
            "credentials",
            "import",
            "--qr-image",
            "credential.png",
            "--did-document",
            "issuer-did.json",
            "--schema",
            "schema.json",
        ],
        "",
        &pin,
    ));
    assert!(out.contains("stored"), "{out}");
    let e = err(&run(d, &import, "", &pin));
    assert!(e.contains("already stored"), "{e}");
    let list = ok(&run(d, &["credentials", "list"], "", &pin));
    assert!(list.contains("not synced"), "{list}");
    let id = list.split_whitespace().next().unwrap().to_string();
    let show = ok(&run(d, &["credentials", "show", &id], "", &pin));
    assert!(show.contains("household size: 5"), "{show}");
    assert!(show.contains("region: north"), "{show}");
    // Not synced yet: a clear error.
    let args = [
        "prove",
        "--request",
        "request.json",
        "--proving-key",
        "pk.bin",
        "--yes",
    ];
    let e = err(&run(d, &args, "", &pin));
    assert!(e.contains("unknown program") || e.contains("stale"), "{e}");
    let out = ok(&run(d, &["sync", "--file", "sync.json"], "", &pin));
    assert!(out.contains("1 credential path(s) refreshed"), "{out}");
    // Declining consent proves nothing.
    let no = run(
        d,
        &[
            "prove",
            "--request",
            "request.json",
            "--proving-key",
            "pk.bin",
        ],
        "no\n",
        &pin,
    );
    let e = err(&no);
    assert!(e.contains("one claim for round 3"), "{e}");
    assert!(e.contains("25 kg rice"), "{e}");
    assert!(e.contains("not consented"), "{e}");
    // Consent: the response as JSON, terminal QR and PNG.
    let args = [
        "prove",
        "--request",
        "request.json",
        "--proving-key",
        "pk.bin",
        "--png",
        "p.png",
    ];
    let out = ok(&run(d, &args, "yes\n", &pin));
    assert!(out.contains('█'), "a QR code is drawn");
    let json_end = out.find("\n}").unwrap() + 2;
    let json: serde_json::Value = serde_json::from_str(&out[..json_end]).unwrap();
    let response = weft_wallet::PresentationResponse::from_json(&json).unwrap();
    let bytes = response.to_bytes();
    let from_png = weft_wallet::qr::read_png(&std::fs::read(d.join("p.png")).unwrap()).unwrap();
    assert_eq!(from_png, bytes);
    assert_eq!(response.nonce, req.nonce);
    // The point's check: the statement rebuilt from the program and the claim.
    let claim = weft_credentials::presentation::to_claim(&req, &response);
    let st = weft_credentials::claim::statement(&fx.program_id, &fx.program, &claim).unwrap();
    let proof = weft_circuits::CompressedProof(response.proof)
        .to_proof()
        .unwrap();
    weft_circuits::verify(&keys.pvk, &st.public_inputs().unwrap(), &proof).unwrap();
    // The request as a QR image of its bytes, and as hex; --json prints the JSON alone.
    std::fs::write(
        d.join("req.png"),
        weft_wallet::qr::png(&req.to_bytes(), 3).unwrap(),
    )
    .unwrap();
    std::fs::write(d.join("req.hex"), hex::encode(req.to_bytes())).unwrap();
    for file in ["req.png", "req.hex"] {
        let out = ok(&run(
            d,
            &[
                "prove",
                "--request",
                file,
                "--proving-key",
                "pk.bin",
                "--yes",
                "--json",
            ],
            "",
            &pin,
        ));
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        weft_wallet::PresentationResponse::from_json(&json).unwrap();
    }
    // A malformed image or request is a clear error.
    let mut broken = std::fs::read(d.join("req.png")).unwrap();
    broken.truncate(broken.len() / 2);
    std::fs::write(d.join("broken.png"), broken).unwrap();
    std::fs::write(d.join("broken.json"), b"{\"version\": 1}").unwrap();
    for (file, says) in [
        ("broken.png", "PNG"),
        ("broken.json", "presentation request"),
    ] {
        let e = err(&run(
            d,
            &[
                "prove",
                "--request",
                file,
                "--proving-key",
                "pk.bin",
                "--yes",
            ],
            "",
            &pin,
        ));
        assert!(e.contains(says), "{e}");
    }
}

/// A one-shot HTTP server on loopback answering every GET with `body`; returns its URL
/// and the paths asked for.
fn serve(body: Vec<u8>, requests: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let mut paths = Vec::new();
        for _ in 0..requests {
            let (mut s, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(&s);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            paths.push(line.split_whitespace().nth(1).unwrap_or("").to_string());
            // Read the rest of the request head before answering.
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
        }
        paths
    });
    (url, h)
}

#[test]
fn sync_from_a_node_fetches_whole_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pin = [("WEFT_WALLET_PIN", "1234")];
    let out = ok(&run(d, &["init", "--insecure-test-kdf"], "", &pin));
    let e: weft_wallet::Enrolment = serde_json::from_str(&enrolment(&out)).unwrap();
    let fx = issue(&e, 12);
    std::fs::write(
        d.join("cred.json"),
        serde_json::to_vec(&fx.document).unwrap(),
    )
    .unwrap();
    std::fs::write(
        d.join("did.json"),
        serde_json::to_vec(&agency_document()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        d.join("schema.json"),
        serde_json::to_vec(&fx.schema).unwrap(),
    )
    .unwrap();
    std::fs::write(d.join("issuers.json"), issuers_only(&fx).to_json()).unwrap();
    ok(&run(d, &["sync", "--file", "issuers.json"], "", &pin));
    ok(&run(
        d,
        &[
            "credentials",
            "import",
            "cred.json",
            "--did-document",
            "did.json",
            "--schema",
            "schema.json",
        ],
        "",
        &pin,
    ));
    let answer = serde_json::to_vec(&chunk(&fx, fx.index, 9)).unwrap();
    let (url, server) = serve(answer, 1);
    let k = K.to_string();
    let out = ok(&run(
        d,
        &["sync", "--node", &url, "--chunk-bits", &k],
        "",
        &pin,
    ));
    assert!(out.contains("1 credential path(s) refreshed"), "{out}");
    let paths = server.join().unwrap();
    assert_eq!(
        paths,
        vec![format!(
            "/api/v1/registries/{}/chunks/{}",
            fx.id,
            fx.index >> K
        )]
    );
    // A node with another chunk size: a clear error, nothing changed.
    let answer = serde_json::to_vec(&chunk(&fx, fx.index, 10)).unwrap();
    let (url, server) = serve(answer, 1);
    let e = err(&run(
        d,
        &["sync", "--node", &url, "--chunk-bits", "3"],
        "",
        &pin,
    ));
    assert!(e.contains("--chunk-bits 4"), "{e}");
    server.join().unwrap();
    let list = ok(&run(d, &["credentials", "list"], "", &pin));
    assert!(list.contains("milestone 9"), "{list}");
}

/// A fake node on loopback answering the routes `credentials import --node` reads
/// (`answer(path)` gives status and body); returns its URL and the paths asked for.
fn fake_node(
    answer: impl Fn(&str) -> (u16, Vec<u8>) + Send + 'static,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    // Detached: it serves until the test process ends.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(&s);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            log.lock().unwrap().push(path.clone());
            let (status, body) = answer(&path);
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (url, seen)
}

/// The node's answers for the fixture: the agency's DID (deactivated or not), its
/// accreditation, the schema, the registry record and its chunks.
fn node_answers(fx: &Fixture, deactivated: bool) -> impl Fn(&str) -> (u16, Vec<u8>) {
    let did = agency_did();
    let resolution = serde_json::json!({
        "didDocument": agency_document(),
        "didDocumentMetadata": {"versionId": "1", "deactivated": deactivated},
        "didResolutionMetadata": {"contentType": "application/did+ld+json"},
    });
    let organisation = serde_json::json!({
        "did": did, "roles": ["issuer"], "authority": false, "deactivated": deactivated,
    });
    let schema = serde_json::json!({
        "id": fx.schema.id(), "publisher": did, "published": {"milestone": 1}, "schema": fx.schema,
    });
    let registry = serde_json::json!({
        "id": fx.registry_id, "issuer": did, "schema": fx.schema.id(), "depth": DEPTH,
        "chunkBits": K, "label": "2026-north", "issued": fx.registry.len(), "revoked": 0,
        "chunks": 3, "root": weft_wallet::model::fr_hex(&fx.registry.root()),
        "created": {"milestone": 1},
    });
    let chunk = serde_json::to_vec(&chunk(fx, fx.index, 8)).unwrap();
    let registry_path = format!("/api/v1/registries/{}", fx.registry_id.to_hex());
    let chunk_path = format!("{registry_path}/chunks/{}", fx.index >> K);
    let did_path = format!("/api/v1/identifiers/{did}");
    move |path: &str| {
        let json = |v: &serde_json::Value| serde_json::to_vec(v).unwrap();
        let status = if deactivated { 410 } else { 200 };
        if path.starts_with(&did_path) {
            (status, json(&resolution))
        } else if path.starts_with("/api/v1/organisations/") {
            (200, json(&organisation))
        } else if path.starts_with("/api/v1/schemas/") {
            (200, json(&schema))
        } else if path == chunk_path {
            (200, chunk.clone())
        } else if path == registry_path {
            (200, json(&registry))
        } else {
            (
                404,
                br#"{"error":{"code":"notFound","message":"no such route"}}"#.to_vec(),
            )
        }
    }
}

#[test]
fn import_from_a_node_checks_the_issuer_and_the_whole_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pin = [("WEFT_WALLET_PIN", "1234")];
    let out = ok(&run(d, &["init", "--insecure-test-kdf"], "", &pin));
    let e: weft_wallet::Enrolment = serde_json::from_str(&enrolment(&out)).unwrap();
    let fx = issue(&e, 13);
    std::fs::write(
        d.join("credential.json"),
        serde_json::to_vec_pretty(&fx.document).unwrap(),
    )
    .unwrap();
    // A deactivated issuer: refused, nothing stored.
    let (url, _) = fake_node(node_answers(&fx, true));
    let args = ["credentials", "import", "credential.json", "--node", &url];
    let e = err(&run(d, &args, "", &pin));
    assert!(e.contains("deactivated"), "{e}");
    assert!(ok(&run(d, &["credentials", "list"], "", &pin)).contains("No credentials."));
    // Another holder's document: refused.
    let other = weft_wallet::Enrolment {
        holder_commitment: weft_wallet::FrHex(weft_crypto::poseidon::Fr::from(1u64)),
        household_commitment: weft_wallet::FrHex(weft_crypto::poseidon::Fr::from(2u64)),
    };
    let theirs = issue(&other, 14);
    std::fs::write(
        d.join("theirs.json"),
        serde_json::to_vec(&theirs.document).unwrap(),
    )
    .unwrap();
    let (url, _) = fake_node(node_answers(&theirs, false));
    let e = err(&run(
        d,
        &["credentials", "import", "theirs.json", "--node", &url],
        "",
        &pin,
    ));
    assert!(e.contains("another holder"), "{e}");
    // The real thing: stored and synced from the chunk; only whole chunks were asked for.
    let (url, seen) = fake_node(node_answers(&fx, false));
    let args = ["credentials", "import", "credential.json", "--node", &url];
    let out = ok(&run(d, &args, "", &pin));
    assert!(out.contains("stored and synced"), "{out}");
    let list = ok(&run(d, &["credentials", "list"], "", &pin));
    assert!(list.contains("synced at milestone 8"), "{list}");
    let paths = seen.lock().unwrap().clone();
    assert!(
        paths.iter().any(|p| p.contains("versionTime=")),
        "the DID is resolved at issuance: {paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with(&format!("/chunks/{}", fx.index >> K))),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .all(|p| !p.contains("/path") && !p.contains("/leaves/")),
        "never a single-leaf path: {paths:?}"
    );
}
