//! The whole round trip with the three command-line tools as separate processes against
//! a dev node: the wallet enrols, the agency issues and announces a program, the wallet
//! imports its credential and syncs from the point's file, the point requests, the
//! wallet proves, the point accepts; the same household tries again and is refused; the
//! point submits and the ledger counts one claim.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use weft_node::config::dev_key;
use weft_node::core::now_ms;
use weft_node::scenario::Network;
use weft_tests::TestNode;

/// A workspace binary next to this test's executable (`cargo test --workspace` builds
/// the binaries of every package that has tests).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release --workspace`",
        bin.display()
    );
    bin
}

/// Runs `name` with `args` in `dir`; returns stdout, failing the test on a non-zero exit
/// unless `may_fail`.
fn run(dir: &Path, name: &str, args: &[&str], may_fail: bool) -> (bool, String) {
    let out: Output = Command::new(binary(name))
        .current_dir(dir)
        .args(args)
        .env("WEFT_AGENCY_PASSPHRASE", "agency passphrase")
        .env("WEFT_AGENCY_KDF", "test")
        .env("WEFT_WALLET_PIN", "2468")
        .env("WEFT_DEVICE_SEED", "42".repeat(32))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !may_fail {
        assert!(
            out.status.success(),
            "{name} {args:?}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (out.status.success(), stdout)
}

fn last_word(s: &str) -> String {
    s.split_whitespace().last().unwrap_or_default().to_string()
}

fn rfc3339(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_issue_import_sync_request_prove_accept_and_refuse_the_second_claim() {
    let t = TestNode::start(100, 0).await;
    let url = format!("http://{}", t.node.config.api);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let node = ["--node", url.as_str()];
    let (agency, wallet, point) = ("weft-agency", "weft-wallet", "weft-verifier");

    // The wallet: a new phrase, and the two commitments for the registration station.
    let (_, enrol) = run(d, wallet, &["init", "--insecure-test-kdf"], false);
    let csv_row = enrol
        .lines()
        .skip_while(|l| !l.starts_with("holder_commitment,household_commitment"))
        .nth(1)
        .expect("the enrolment's CSV row")
        .trim()
        .to_string();

    // The agency (the dev organisation): schema, registry, one credential.
    run(
        d,
        agency,
        &["keystore", "init", "--dev", node[0], node[1]],
        false,
    );
    std::fs::write(
        d.join("schema.json"),
        r#"{"name": "camp-registration", "version": "1.0", "attributes": [
            {"name": "household_size", "kind": {"type": "integer", "bits": 8}},
            {"name": "region", "kind": {"type": "enumeration", "values": ["north", "east", "south", "west"]}},
            {"name": "ration", "kind": {"type": "enumeration", "values": ["standard", "large"]}}]}"#,
    )
    .unwrap();
    let (_, schema) = run(
        d,
        agency,
        &["schema", "publish", "schema.json", node[0], node[1]],
        false,
    );
    let schema = last_word(&schema);
    let (_, registry) = run(
        d,
        agency,
        &[
            "registry", "create", "--schema", &schema, "--label", "camp", node[0], node[1],
        ],
        false,
    );
    let registry = last_word(&registry);
    std::fs::write(
        d.join("enrolment.csv"),
        format!("holder_commitment,household_commitment,household_size,region,ration\n{csv_row},5,north,large\n"),
    )
    .unwrap();
    run(
        d,
        agency,
        &[
            "issue",
            "--registry",
            &registry,
            "--csv",
            "enrolment.csv",
            "--out",
            "issued",
            "--quiet",
            node[0],
            node[1],
        ],
        false,
    );
    let document = std::fs::read_dir(d.join("issued"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("journal.json"))
        .expect("a credential document");

    // The point (the dev organisation's tablet): its device key registered by the
    // accreditation authority, whose key the test holds.
    let (_, init) = run(d, point, &["--dir", "point", "init", "--dev"], false);
    let device = init
        .lines()
        .find(|l| l.starts_with("device key"))
        .map(last_word)
        .unwrap();
    let net = Network::connect(t.client.clone(), dev_key("authority"))
        .await
        .unwrap();
    let point_did = weft_types::DidCreate::with_key(dev_key("organisation").public_key(), 0).did();
    net.device_key(point_did, device.parse().unwrap(), true)
        .await
        .unwrap();

    // The program, announced by the agency from a definition file.
    let now = now_ms();
    std::fs::write(
        d.join("program.toml"),
        format!(
            r#"name = "winter food, camp 7"
schema = "{schema}"
policy = "household_size >= 3 and region in [north, east]"
disclose = ["ration"]
issued_before = "{}"
grace_hours = 24
points = ["{point_did}"]
[[rounds]]
number = 1
opens = "{}"
closes = "{}"
[entitlement]
quantity = 25
unit = "kg wheat flour"
[[entitlement.tiers]]
attribute = "ration"
value = "large"
quantity = 50
"#,
            rfc3339(now + 86_400_000),
            rfc3339(now - 3_600_000),
            rfc3339(now + 7_200_000),
        ),
    )
    .unwrap();
    let (_, announced) = run(
        d,
        agency,
        &["program", "announce", "program.toml", node[0], node[1]],
        false,
    );
    assert!(announced.contains("applied"), "{announced}");
    let program = announced
        .lines()
        .find(|l| l.contains(": applied"))
        .and_then(|l| l.split(':').next())
        .unwrap()
        .trim()
        .to_string();

    // The point syncs (a snapshot checked against the committee) and writes the sync
    // file it carries to the camp; the wallet syncs from it and imports its credential.
    run(
        d,
        point,
        &[
            "--dir",
            "point",
            "sync",
            "--program",
            &program,
            node[0],
            node[1],
        ],
        false,
    );
    run(
        d,
        point,
        &[
            "--dir",
            "point",
            "sync-file",
            "--out",
            "sync.json",
            node[0],
            node[1],
        ],
        false,
    );
    run(d, wallet, &["sync", "--file", "sync.json"], false);
    let (_, imported) = run(
        d,
        wallet,
        &[
            "credentials",
            "import",
            document.to_str().unwrap(),
            node[0],
            node[1],
        ],
        false,
    );
    assert!(imported.contains("stored"), "{imported}");

    // The proving key of the dev network (its public, well-known seed).
    run(d, "weft-zk", &["setup", "--out", "zk"], false);

    // At the counter: request, proof, decision.
    let claim = |round: u32| -> (bool, String) {
        let (_, request) = run(
            d,
            point,
            &[
                "--dir",
                "point",
                "request",
                "--program",
                &program,
                "--round",
                &round.to_string(),
                "--json",
            ],
            false,
        );
        std::fs::write(d.join("request.json"), request).unwrap();
        let (_, answer) = run(
            d,
            wallet,
            &[
                "prove",
                "--request",
                "request.json",
                "--proving-key",
                "zk/proving_key.bin",
                "--json",
                "--yes",
            ],
            false,
        );
        std::fs::write(d.join("answer.json"), answer).unwrap();
        run(
            d,
            point,
            &["--dir", "point", "verify", "answer.json", "--json"],
            true,
        )
    };
    let (ok, decision) = claim(1);
    assert!(ok, "{decision}");
    let v: serde_json::Value = serde_json::from_str(decision.trim()).unwrap();
    assert_eq!(v["decision"], "accept");
    assert_eq!(v["quantity"], 50, "the large ration's tier");
    // The same household again: refused, with the reason.
    let (ok, decision) = claim(1);
    assert!(!ok);
    let v: serde_json::Value = serde_json::from_str(decision.trim()).unwrap();
    assert_eq!(v["reason"], "alreadyClaimed", "{v}");

    // Reconciliation: one claim on the ledger.
    let (_, submitted) = run(
        d,
        point,
        &["--dir", "point", "submit", "--wait", "30", node[0], node[1]],
        false,
    );
    assert!(
        submitted.contains("applied 1, pending 0, conflicting 0"),
        "{submitted}"
    );
    let program_id: weft_types::ProgramId = program.parse().unwrap();
    let round = t.client.round_report(&program_id, 1).await.unwrap();
    assert_eq!(round["claims"], 1, "{round}");
    assert_eq!(round["entitlement"], 50);
}
