//! Value notes end to end with the command-line tools as separate processes against a
//! dev node: a value program; a household claims at a point with a one-time key, syncs
//! its notes and sees its entitlement; it pays a shop by the shop's payment request;
//! the shop receives, holds and redeems; the program's audit holds. A payment with a
//! note already spent (a wallet restored from an old copy) is refused with `noteSpent`,
//! by the node when the wallet submits it and by the shop when it delivers it, and
//! changes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
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

/// Runs `name` with `args` in `dir`; returns whether it succeeded and its stdout,
/// failing the test on a non-zero exit unless `may_fail`.
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

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn last_word(s: &str) -> String {
    s.split_whitespace().last().unwrap_or_default().to_string()
}

fn rfc3339(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The wallet's spendable balance in the (only) program, and its spent notes.
fn balance(d: &Path, wallet: &str) -> (String, u64) {
    let (_, b) = run(
        d,
        "weft-wallet",
        &["--wallet", wallet, "balance", "--json"],
        false,
    );
    let v = json(&b);
    let p = &v["programs"][0];
    (
        p["available"].as_str().unwrap_or("none").to_string(),
        p["spentNotes"].as_u64().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_to_a_key_sync_pay_a_shop_receive_redeem_and_refuse_a_spent_note() {
    let t = TestNode::start(100, 0).await;
    let url = format!("http://{}", t.node.config.api);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let node = ["--node", url.as_str()];
    let (agency, wallet, point) = ("weft-agency", "weft-wallet", "weft-verifier");
    let started = std::time::Instant::now();

    // The wallet, the agency (dev organisation) with a schema, a registry and one
    // credential, and the point (the dev organisation's tablet, which is also the shop).
    let (_, enrol) = run(d, wallet, &["init", "--insecure-test-kdf"], false);
    let csv_row = enrol
        .lines()
        .skip_while(|l| !l.starts_with("holder_commitment,household_commitment"))
        .nth(1)
        .expect("the enrolment's CSV row")
        .trim()
        .to_string();
    run(
        d,
        agency,
        &["keystore", "init", "--dev", node[0], node[1]],
        false,
    );
    std::fs::write(
        d.join("schema.json"),
        r#"{"name": "cash-registration", "version": "1.0", "attributes": [
            {"name": "household_size", "kind": {"type": "integer", "bits": 8}},
            {"name": "region", "kind": {"type": "enumeration", "values": ["north", "east", "south", "west"]}}]}"#,
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
            "registry", "create", "--schema", &schema, "--label", "cash", node[0], node[1],
        ],
        false,
    );
    let registry = last_word(&registry);
    std::fs::write(
        d.join("enrolment.csv"),
        format!(
            "holder_commitment,household_commitment,household_size,region\n{csv_row},5,north\n"
        ),
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

    // A value program: 50 USD per household, paid as value notes.
    let now = now_ms();
    std::fs::write(
        d.join("program.toml"),
        format!(
            r#"name = "cash for food"
schema = "{schema}"
policy = "household_size >= 3 and region in [north, east]"
issued_before = "{}"
grace_hours = 24
value_notes = true
points = ["{point_did}"]
[[rounds]]
number = 1
opens = "{}"
closes = "{}"
[entitlement]
quantity = 50
unit = "USD"
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
    let program = announced
        .lines()
        .find(|l| l.contains(": applied"))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("{announced}"))
        .trim()
        .to_string();
    let program_id: weft_types::ProgramId = program.parse().unwrap();
    let pdir = ["--dir", "point"];
    run(
        d,
        point,
        &[
            pdir[0],
            pdir[1],
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
            pdir[0],
            pdir[1],
            "sync-file",
            "--out",
            "sync.json",
            node[0],
            node[1],
        ],
        false,
    );
    run(d, wallet, &["sync", "--file", "sync.json"], false);
    run(
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
    run(d, "weft-zk", &["setup", "--out", "zk"], false);

    // At the counter: the request says value notes; the answer carries a key.
    let (_, request) = run(
        d,
        point,
        &[
            pdir[0],
            pdir[1],
            "request",
            "--program",
            &program,
            "--round",
            "1",
            "--json",
        ],
        false,
    );
    assert_eq!(
        json(&request)["version"],
        2,
        "a value program's request: {request}"
    );
    std::fs::write(d.join("request.json"), &request).unwrap();
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
    let keyed = json(&answer);
    assert!(keyed["entitlementKey"].is_string(), "{answer}");
    // The same answer without its key is refused (and recorded nothing).
    let mut stripped = keyed.clone();
    stripped["version"] = 1.into();
    stripped.as_object_mut().unwrap().remove("entitlementKey");
    std::fs::write(d.join("stripped.json"), stripped.to_string()).unwrap();
    let (ok, decision) = run(
        d,
        point,
        &[pdir[0], pdir[1], "verify", "stripped.json", "--json"],
        true,
    );
    assert!(!ok);
    assert_eq!(json(&decision)["reason"], "requestMismatch", "{decision}");
    std::fs::write(d.join("answer.json"), keyed.to_string()).unwrap();
    let (ok, decision) = run(
        d,
        point,
        &[pdir[0], pdir[1], "verify", "answer.json", "--json"],
        true,
    );
    assert!(ok, "{decision}");
    let v = json(&decision);
    assert_eq!(
        (v["decision"].as_str(), v["paidAsValue"].as_bool()),
        (Some("accept"), Some(true))
    );
    let (_, submitted) = run(
        d,
        point,
        &[pdir[0], pdir[1], "submit", "--wait", "30", node[0], node[1]],
        false,
    );
    assert!(
        submitted.contains("applied 1, pending 0, conflicting 0"),
        "{submitted}"
    );

    // The household finds its entitlement.
    run(d, wallet, &["notes", "sync", node[0], node[1]], false);
    assert_eq!(balance(d, "weft-wallet.bin"), ("50".to_string(), 0));
    // A copy of the wallet as it is now (a backup restored later).
    std::fs::copy(d.join("weft-wallet.bin"), d.join("stale.bin")).unwrap();

    // The shop asks for 30; the household pays; the shop receives.
    let shop = |args: &[&str], may_fail: bool| {
        let mut a = vec![pdir[0], pdir[1], "shop"];
        a.extend_from_slice(args);
        run(d, point, &a, may_fail)
    };
    let (_, pay_request) = shop(
        &["request", "--program", &program, "--amount", "30", "--json"],
        false,
    );
    std::fs::write(d.join("pay-request.json"), &pay_request).unwrap();
    let (_, payment) = run(
        d,
        wallet,
        &["pay", "pay-request.json", "--json", "--yes"],
        false,
    );
    std::fs::write(d.join("payment.json"), &payment).unwrap();
    let (_, pending) = run(d, wallet, &["balance", "--json"], false);
    assert_eq!(
        json(&pending)["programs"][0]["pendingOut"],
        "50",
        "{pending}"
    );
    let (ok, received) = shop(
        &["receive", "payment.json", "--json", node[0], node[1]],
        true,
    );
    assert!(ok, "{received}");
    assert_eq!(json(&received)["outcome"], "paid", "{received}");
    // The same payment again: the request is used.
    let (ok, again) = shop(
        &["receive", "payment.json", "--json", node[0], node[1]],
        true,
    );
    assert!(!ok);
    assert_eq!(json(&again)["reason"], "requestUsed", "{again}");
    let (_, held) = shop(&["balance", "--json"], false);
    assert_eq!(json(&held)[0]["total"], 30, "{held}");

    // The shop redeems with the agency.
    let (ok, redeemed) = shop(
        &[
            "redeem",
            "--program",
            &program,
            "--amount",
            "30",
            "--json",
            node[0],
            node[1],
        ],
        true,
    );
    assert!(ok, "{redeemed}");
    assert_eq!(json(&redeemed)["outcome"], "redeemed", "{redeemed}");
    let audit = t.client.program_audit(program_id.bytes()).await.unwrap();
    assert_eq!(audit["conservationOk"], true, "{audit}");
    assert_eq!(
        (audit["minted"].as_str(), audit["redeemed"].as_str()),
        (Some("50"), Some("30")),
        "{audit}"
    );

    // The household sees the spend and its change.
    run(d, wallet, &["notes", "sync", node[0], node[1]], false);
    assert_eq!(balance(d, "weft-wallet.bin"), ("20".to_string(), 1));

    // The restored copy still believes in its 50: paying with it is refused by the
    // node (the wallet submits) and by the shop (it delivers), and changes nothing.
    let before = t.client.program_audit(program_id.bytes()).await.unwrap();
    let (_, again_request) = shop(
        &["request", "--program", &program, "--amount", "10", "--json"],
        false,
    );
    std::fs::write(d.join("pay-request-2.json"), &again_request).unwrap();
    let (ok, refused) = run(
        d,
        wallet,
        &[
            "--wallet",
            "stale.bin",
            "pay",
            "pay-request-2.json",
            "--json",
            "--yes",
            node[0],
            node[1],
        ],
        true,
    );
    assert!(!ok);
    assert_eq!(json(&refused)["reason"], "noteSpent", "{refused}");
    let (_, stale_payment) = run(
        d,
        wallet,
        &[
            "--wallet",
            "stale.bin",
            "pay",
            "pay-request-2.json",
            "--json",
            "--yes",
        ],
        false,
    );
    std::fs::write(d.join("payment-2.json"), &stale_payment).unwrap();
    let (ok, refused) = shop(
        &["receive", "payment-2.json", "--json", node[0], node[1]],
        true,
    );
    assert!(!ok);
    assert_eq!(json(&refused)["reason"], "noteSpent", "{refused}");
    let after = t.client.program_audit(program_id.bytes()).await.unwrap();
    for field in [
        "minted",
        "redeemed",
        "unspentNotes",
        "spentNotes",
        "transfers",
        "unspentCommitmentSum",
    ] {
        assert_eq!(before[field], after[field], "{field}: {before} / {after}");
    }
    assert_eq!(after["conservationOk"], true);
    let (_, held) = shop(&["balance", "--json"], false);
    assert_eq!(json(&held)[0]["total"], 0, "{held}");
    eprintln!(
        "payments end to end: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
