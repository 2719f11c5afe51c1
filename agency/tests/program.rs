//! Program definitions: a good one compiles and is described in plain words with its
//! id (library and `weft-agency program check`), a policy typo gives line:column and a
//! caret, wrong fields are named, rounds out of order or closing before they open are
//! refused, and a program is announced to an embedded dev node (library and CLI), then
//! served at `/api/v1/programs/{id}`; a second announcement sends nothing, an
//! unaccredited point is refused before anything is sent, and an unaccredited owner's
//! block is confirmed as conflicting.

mod common;
use common::start;
use std::path::{Path, PathBuf};
use std::process::Output;

use weft_agency::keystore::{KdfParams, Keystore};
use weft_agency::program::{self, AnnounceOutcome, ProgramDefinition, ProgramError, SchemaSource};
use weft_agency::{AgencyError, Node};
use weft_credentials::policy;
use weft_types::{DidCreate, Schema};

const EXAMPLE: &str = include_str!("../examples/program.toml");
const EXAMPLE_SCHEMA: &str = include_str!("../examples/schema.json");

fn schema() -> Schema {
    serde_json::from_str(EXAMPLE_SCHEMA).expect("example schema")
}

fn dev_did() -> weft_types::Did {
    let probe = Keystore::with_seed(&weft_agency::dev_organisation_seed(), None, KdfParams::TEST);
    DidCreate::with_key(probe.first_key().expect("key").public_key(), 0).did()
}

fn other_did(n: u8) -> weft_types::Did {
    DidCreate::with_key(weft_types::PublicKeyBytes([n; 32]), 0).did()
}

/// The example with `from` replaced by `to` (which must occur).
fn edited(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "{from:?} not in the example");
    EXAMPLE.replacen(from, to, 1)
}

fn build(toml: &str) -> Result<program::BuiltProgram, ProgramError> {
    let def = ProgramDefinition::parse(toml, false)?;
    program::build(&def, &schema(), &dev_did())
}

fn field_error(toml: &str) -> (String, String) {
    match build(toml) {
        Err(ProgramError::Field { field, reason }) => (field, reason),
        other => panic!("expected a field error, got {other:?}"),
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_weft-agency")
}

/// Runs the CLI off the runtime's worker threads (the test's node serves on them).
async fn run(args: Vec<String>, keystore: Option<&Path>) -> Output {
    let ks = keystore.map(Path::to_path_buf);
    tokio::task::spawn_blocking(move || {
        let mut c = std::process::Command::new(bin());
        c.args(&args)
            .env("WEFT_AGENCY_PASSPHRASE", "test passphrase")
            .env("WEFT_AGENCY_KDF", "test");
        if let Some(ks) = ks {
            c.arg("--keystore").arg(ks);
        }
        c.output().expect("run weft-agency")
    })
    .await
    .expect("join")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The example and its schema in a fresh directory; returns the definition's path.
fn write_example(dir: &Path, toml: &str) -> PathBuf {
    std::fs::write(dir.join("schema.json"), EXAMPLE_SCHEMA).expect("schema");
    let path = dir.join("program.toml");
    std::fs::write(&path, toml).expect("definition");
    path
}

#[test]
fn the_example_compiles_to_the_expected_payload() {
    let built = build(EXAMPLE).expect("the example is valid");
    let p = &built.program;
    let schema = schema();
    assert_eq!(p.schema, schema.id());
    assert_eq!(p.issuers, vec![dev_did()], "default issuer: the owner");
    assert_eq!(
        p.conditions,
        policy::compile(&p.policy_source, &schema)
            .expect("policy")
            .conditions
    );
    assert_eq!(p.conditions.len(), 3);
    assert_eq!(p.disclose, 1 << 3, "ration is position 3");
    assert_eq!(p.issued_before, 1_796_083_200, "2026-12-01T00:00:00Z");
    assert_eq!(p.rounds.len(), 2);
    assert_eq!(p.rounds[0].opens, 1_796_112_000_000, "2026-12-01T08:00:00Z");
    assert_eq!(p.grace_ms, 48 * 3_600_000);
    assert_eq!(p.entitlement.tiers.len(), 1);
    let mut large = [0u8; 32];
    large[31] = 1; // "large" is the enumeration's value 1
    assert_eq!(p.entitlement.tiers[0].value, large);
    assert_eq!(p.entitlement.tiers[0].attribute, 3);
    p.check_limits().expect("limits");

    // JSON with the same fields (quoted times) gives the same program.
    let json = serde_json::json!({
        "name": "winter food, camp 7",
        "schema": schema.id().to_string(),
        "policy": p.policy_source,
        "disclose": ["ration"],
        "issued_before": "2026-12-01",
        "grace_hours": 48,
        "anonymous": false,
        "rounds": [
            {"number": 1, "opens": "2026-12-01T08:00:00Z", "closes": "2026-12-07T18:00:00Z"},
            {"number": 2, "opens": "2027-01-04T09:00:00+01:00", "closes": "2027-01-10T18:00:00Z"}
        ],
        "entitlement": {"quantity": 25, "unit": "kg wheat flour",
            "tiers": [{"attribute": "ration", "value": "large", "quantity": 50}]}
    });
    let def = ProgramDefinition::parse(&json.to_string(), true).expect("JSON");
    assert_eq!(
        def.schema_source(Path::new(".")),
        SchemaSource::Id(schema.id())
    );
    let from_json = program::build(&def, &schema, &dev_did()).expect("JSON builds");
    assert_eq!(from_json.program, built.program);

    // Issuers and points are sorted in the payload.
    let (a, b) = (other_did(1), other_did(2));
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let toml = edited(
        "# points = [",
        &format!("points = [\"{hi}\", \"{lo}\"]\nissuers = [\"{hi}\", \"{lo}\"]\n# ["),
    );
    let p = build(&toml).expect("points").program;
    assert_eq!(p.points, vec![lo, hi]);
    assert_eq!(p.issuers, vec![lo, hi]);

    // The description reads the policy back in words and names the id.
    let words = program::describe(&built.program, &schema, &dev_did());
    assert!(words.contains(&built.policy.describe(&schema)), "{words}");
    assert!(words.contains("household size is at least 3"), "{words}");
    assert!(
        words.contains(&built.program.id(&dev_did()).to_string()),
        "{words}"
    );
    assert!(
        words.contains("50 kg wheat flour when ration is large"),
        "{words}"
    );
}

#[test]
fn policy_errors_give_line_column_and_a_caret() {
    let toml = edited(
        "household_size >= 3\nand region in [north, east]",
        "household_size >= 3 and regoin in [north, east]",
    );
    let err = build(&toml).expect_err("typo");
    let ProgramError::Policy { error, excerpt } = &err else {
        panic!("expected a policy error, got {err:?}");
    };
    // The policy's first line is empty (a TOML multi-line string starts after the
    // newline), so the typo is on line 1 at column 25.
    assert_eq!((error.line, error.column), (1, 25), "{err}");
    assert!(error.reason.contains("regoin"), "{err}");
    let shown = err.to_string();
    assert!(shown.starts_with("policy 1:25: "), "{shown}");
    let lines: Vec<&str> = excerpt.lines().collect();
    assert_eq!(lines.len(), 2, "{excerpt}");
    assert_eq!(lines[0].find("regoin"), lines[1].find('^'), "{excerpt}");

    // On a later line.
    let toml = edited("and region in [north, east]", "and region in [north, eats]");
    match build(&toml) {
        Err(ProgramError::Policy { error, excerpt }) => {
            assert_eq!((error.line, error.column), (2, 23));
            assert!(
                excerpt.ends_with(&format!("{}^", " ".repeat(2 + 22))),
                "{excerpt}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_fields_are_named() {
    let (field, reason) = field_error(&edited(
        "disclose = [\"ration\"]",
        "disclose = [\"ration\", \"regoin\"]",
    ));
    assert_eq!(field, "disclose[1]");
    assert!(reason.contains("unknown attribute `regoin`"), "{reason}");

    let (field, reason) = field_error(&edited("attribute = \"ration\"", "attribute = \"rations\""));
    assert_eq!(field, "entitlement.tiers[0].attribute");
    assert!(reason.contains("unknown attribute `rations`"), "{reason}");

    let (field, reason) = field_error(&edited("attribute = \"ration\"", "attribute = \"role\""));
    assert_eq!(field, "entitlement.tiers[0].attribute");
    assert!(reason.contains("disclose"), "{reason}");

    let (field, _) = field_error(&edited("value = \"large\"", "value = \"huge\""));
    assert_eq!(field, "entitlement.tiers[0].value");

    let (field, reason) = field_error(&edited("\npolicy = ", "\npolcy = "));
    assert_eq!(field, "policy", "{reason}");
    let toml = edited("\npolicy = ", "\npolcy = 1\npolicy = ");
    let (field, reason) = field_error(&toml);
    assert_eq!(
        (field.as_str(), reason.as_str()),
        ("polcy", "unknown field")
    );

    let (field, _) = field_error(&edited("grace_hours = 48", "grace_hours = \"two days\""));
    assert_eq!(field, "grace_hours");
    let (field, _) = field_error(&edited(
        "issued_before = 2026-12-01",
        "issued_before = \"soon\"",
    ));
    assert_eq!(field, "issued_before");
    let (field, _) = field_error(&edited(
        "# points = [\"did:weft:…\", \"did:weft:…\"]",
        "points = [\"did:web:x\"]",
    ));
    assert_eq!(field, "points[0]");
    let d = other_did(7);
    let (field, reason) = field_error(&edited(
        "# issuers = [\"did:weft:…\"]",
        &format!("issuers = [\"{d}\", \"{d}\"]"),
    ));
    assert_eq!(field, "issuers[1]");
    assert!(reason.contains("twice"), "{reason}");
    let (field, _) = field_error(&edited("unit = \"kg wheat flour\"", "unit = \"\""));
    assert_eq!(field, "entitlement.unit");

    // A file that is not TOML names the file and the position.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "name = \n").expect("write");
    match ProgramDefinition::read(&path) {
        Err(ProgramError::File { path: p, message }) => {
            assert!(p.ends_with("p.toml"));
            assert!(message.contains("line 1"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rounds_out_of_order_or_closing_before_opening_are_refused() {
    // Closing before opening.
    let (field, reason) = field_error(&edited(
        "closes = 2026-12-07T18:00:00Z",
        "closes = 2026-11-30T18:00:00Z",
    ));
    assert_eq!(field, "rounds[0].closes");
    assert!(reason.contains("not after"), "{reason}");
    // Closing when it opens.
    let (field, _) = field_error(&edited(
        "closes = 2026-12-07T18:00:00Z",
        "closes = 2026-12-01T08:00:00Z",
    ));
    assert_eq!(field, "rounds[0].closes");
    // Numbers out of order.
    let (field, reason) = field_error(&edited("number = 2", "number = 1"));
    assert_eq!(field, "rounds[1].number");
    assert!(reason.contains("ascending"), "{reason}");
    // Round 2 before round 1 in time.
    let (field, _) = field_error(&edited(
        "opens = 2027-01-04T08:00:00Z",
        "opens = 2026-12-05T08:00:00Z",
    ));
    assert_eq!(field, "rounds[1].opens");
    // A time without a zone.
    let (field, reason) = field_error(&edited(
        "opens = 2027-01-04T08:00:00Z",
        "opens = 2027-01-04T08:00:00",
    ));
    assert_eq!(field, "rounds[1].opens");
    assert!(reason.contains("RFC 3339"), "{reason}");
    // No rounds.
    let toml = EXAMPLE
        .split("[[rounds]]")
        .next()
        .expect("head")
        .to_string()
        + "[entitlement]\nquantity = 1\nunit = \"kit\"\n";
    let (field, _) = field_error(&toml);
    assert_eq!(field, "rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_words_and_id_and_fails_on_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_example(dir.path(), EXAMPLE);
    let owner = dev_did();
    let out = run(
        vec![
            "program".into(),
            "check".into(),
            path.display().to_string(),
            "--owner".into(),
            owner.to_string(),
        ],
        None,
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let built = build(EXAMPLE).expect("valid");
    assert!(
        stdout.contains(&built.policy.describe(&schema())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&built.program.id(&owner).to_string()),
        "{stdout}"
    );

    let path = write_example(
        dir.path(),
        &edited(
            "and region in [north, east]",
            "and region inn [north, east]",
        ),
    );
    let out = run(
        vec![
            "program".into(),
            "check".into(),
            path.display().to_string(),
            "--owner".into(),
            owner.to_string(),
        ],
        None,
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("policy 2:12: "), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("region inn"))
        .expect("excerpt");
    assert_eq!(
        lines[at].find("inn"),
        lines.get(at + 1).and_then(|l| l.find('^')),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announce_end_to_end() {
    let running = start().await;
    let node = Node::connect(&running.url).await.expect("connect");
    let dir = tempfile::tempdir().expect("dir");
    let dev = Keystore::with_seed(
        &weft_agency::dev_organisation_seed(),
        Some(dev_did()),
        KdfParams::TEST,
    );
    let signer = weft_agency::signer(&node, &dev).await.expect("dev signer");
    let schema = schema();
    // The dev organisation holds every role: it is also an accredited point.
    let toml = edited(
        "# points = [\"did:weft:…\", \"did:weft:…\"]",
        &format!("points = [\"{}\"]", signer.did),
    );
    let built = build(&toml).expect("valid");

    // The schema is not published yet: refused before anything is sent.
    let err = program::announce(&node, &signer, built.program.clone())
        .await
        .expect_err("unpublished schema");
    assert!(
        matches!(&err, AgencyError::Program(ProgramError::Field { field, .. }) if field == "schema"),
        "{err}"
    );
    weft_agency::publish_schema(&node, &signer, schema.clone())
        .await
        .expect("schema");

    // A point that is not accredited: refused before anything is sent.
    let stranger = other_did(9);
    let mut bad = built.program.clone();
    bad.points = vec![stranger];
    let err = program::announce(&node, &signer, bad.clone())
        .await
        .expect_err("unaccredited point");
    assert!(
        matches!(&err, AgencyError::Program(ProgramError::Field { field, .. }) if field == "points[0]"),
        "{err}"
    );
    assert!(program::fetch_program(&node.client, &bad.id(&signer.did))
        .await
        .expect("fetch")
        .is_none());

    // Announced and applied; served at /api/v1/programs/{id}.
    let a = program::announce(&node, &signer, built.program.clone())
        .await
        .expect("announced");
    let id = built.program.id(&signer.did);
    assert_eq!(a.id, id);
    assert!(
        matches!(a.outcome, AnnounceOutcome::Applied { milestone, .. } if milestone > 0),
        "{a:?}"
    );
    let resp = reqwest::get(format!("{}/api/v1/programs/{id}", running.url))
        .await
        .expect("GET");
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(json["id"], serde_json::json!(id));
    assert_eq!(json["owner"], serde_json::json!(signer.did));
    let served: weft_types::Program =
        serde_json::from_value(json["program"].clone()).expect("program");
    assert_eq!(served, built.program);
    let record = program::fetch_program(&node.client, &id)
        .await
        .expect("fetch")
        .expect("present");
    let reports = program::round_reports(&node.client, &record)
        .await
        .expect("rounds");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[1]["round"], 2);
    assert_eq!(reports[0]["claims"], 0);
    assert!(program::describe_round(&reports[0], "kg wheat flour").starts_with("round 1: 0 claims"));

    // Again: already there, nothing sent.
    let again = program::announce(&node, &signer, built.program.clone())
        .await
        .expect("again");
    assert_eq!(again.outcome, AnnounceOutcome::AlreadyAnnounced);

    // An organisation that is not an accredited issuer: its block is confirmed as
    // conflicting, and the program does not exist.
    let mut ks = Keystore::generate(KdfParams::TEST).expect("keystore");
    let (did, _) = weft_agency::create_did(&node, &ks, 0).await.expect("DID");
    ks.did = Some(did);
    let newcomer = weft_agency::signer(&node, &ks).await.expect("signer");
    let mut theirs = built.program.clone();
    theirs.points.clear();
    let a = program::announce(&node, &newcomer, theirs.clone())
        .await
        .expect("sent and confirmed");
    assert_eq!(a.id, theirs.id(&did));
    match a.outcome {
        AnnounceOutcome::Conflicting { reason, .. } => assert_eq!(reason, "notAccredited"),
        other => panic!("{other:?}"),
    }
    assert!(program::fetch_program(&node.client, &theirs.id(&did))
        .await
        .expect("fetch")
        .is_none());

    // The CLI: keystore with the dev key, announce (another nonce), show.
    let ks_path = dir.path().join("ks.json");
    let out = run(
        vec!["keystore".into(), "init".into(), "--dev".into()],
        Some(&ks_path),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = edited("anonymous = false", "anonymous = false\nnonce = 1");
    let path = write_example(dir.path(), &toml);
    let cli_id = build(&toml).expect("valid").program.id(&signer.did);
    let out = run(
        vec![
            "program".into(),
            "announce".into(),
            path.display().to_string(),
            "--node".into(),
            running.url.clone(),
        ],
        Some(&ks_path),
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains(&format!("{cli_id}: applied")), "{stdout}");
    assert!(stdout.contains("household size is at least 3"), "{stdout}");
    let out = run(
        vec![
            "program".into(),
            "show".into(),
            cli_id.to_string(),
            "--node".into(),
            running.url.clone(),
        ],
        None,
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("round 1: 0 claims"), "{stdout}");
    assert!(stdout.contains(&cli_id.to_string()), "{stdout}");
}
