//! Bulk issuance over several pipelined rounds, and the journal as the durability
//! boundary: documents of a journaled round are written again on a restart, whatever a
//! crash left of them, and a journal of the earlier single-round format is resumed.

mod common;
use common::start;

use serde_json::Value;
use weft_agency::issue::{document_path, issue, IssueOptions, JOURNAL};
use weft_agency::keystore::{KdfParams, Keystore};
use weft_agency::{csv, Node, Signer};
use weft_types::{AttributeDef, AttributeKind, DidCreate, RegistryCreate, RegistryId, Schema};

fn schema() -> Schema {
    Schema {
        name: "household-registration".into(),
        version: "1.0".into(),
        attributes: vec![AttributeDef {
            name: "household_size".into(),
            kind: AttributeKind::Integer { bits: 8 },
        }],
    }
}

/// `rows` good rows (lines 2..).
fn csv_rows(rows: u64) -> String {
    let mut s = String::from("holder_commitment,household_commitment,household_size\n");
    for i in 0..rows {
        s.push_str(&format!(
            "0x{:064x},0x{:064x},{}\n",
            2 * i + 7,
            2 * i + 8,
            1 + i % 9
        ));
    }
    s
}

async fn dev_issuer(node: &Node) -> (Signer, RegistryId) {
    let seed = weft_agency::dev_organisation_seed();
    let probe = Keystore::with_seed(&seed, None, KdfParams::TEST);
    let did = DidCreate::with_key(probe.first_key().expect("key").public_key(), 0).did();
    let ks = Keystore::with_seed(&seed, Some(did), KdfParams::TEST);
    let signer = weft_agency::signer(node, &ks).await.expect("dev signer");
    let schema_id = weft_agency::publish_schema(node, &signer, schema())
        .await
        .expect("schema");
    let registry = weft_agency::create_registry(
        node,
        &signer,
        RegistryCreate {
            schema: schema_id,
            depth: 16,
            chunk_bits: 6,
            label: "rounds".into(),
        },
    )
    .await
    .expect("registry");
    (signer, registry)
}

fn options(stop_after_submit: bool) -> IssueOptions {
    let now = (weft_agency::now_ms() / 1000) as u32;
    IssueOptions {
        issued_at: now - 60,
        expiry: now + 86_400,
        blocks_per_round: 1,
        progress: false,
        stop_after_submit,
    }
}

/// One run of `weft_agency::issue` over `rows` into `out`.
async fn run(
    node: &Node,
    signer: &Signer,
    registry: RegistryId,
    rows: &[csv::Row],
    out: &std::path::Path,
    stop_after_submit: bool,
) -> weft_agency::issue::IssueReport {
    issue(
        node,
        signer,
        registry,
        &schema(),
        rows.to_vec(),
        out,
        &options(stop_after_submit),
    )
    .await
    .expect("issuance run")
}

fn index_of(dir: &std::path::Path, line: usize) -> u64 {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(document_path(dir, line)).expect("document"))
            .expect("a whole JSON document");
    doc["credentialStatus"]["index"]
        .as_str()
        .expect("index")
        .parse()
        .expect("number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pipelined_rounds_write_every_document_once() {
    let running = start().await;
    let node = Node::connect(&running.url).await.expect("connect");
    let (signer, registry) = dev_issuer(&node).await;
    let (rows, errors) = csv::read(&csv_rows(2_000), &schema()).expect("csv");
    assert!(errors.is_empty(), "{errors:?}");
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");

    // Rounds of one block (960 rows): 960 + 960 + 80, documents of a round written
    // while the next one is confirmed.
    let report = run(&node, &signer, registry, &rows, &out, false).await;
    assert_eq!(
        (report.written, report.already, report.blocks),
        (2_000, 0, 3)
    );
    let info = node.client.registry(&registry).await.expect("registry");
    assert_eq!(info.issued, 2_000);
    // Every row has one document at a distinct position; no temporary file is left.
    let mut indexes: Vec<u64> = (2..2_002).map(|line| index_of(&out, line)).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..2_000).collect::<Vec<u64>>());
    let leftovers = std::fs::read_dir(&out)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);
    // The journal holds no round once the run is over.
    let journal: Value =
        serde_json::from_slice(&std::fs::read(out.join(JOURNAL)).expect("journal")).expect("json");
    assert_eq!(journal["rounds"], serde_json::json!([]));

    // A rerun issues nothing.
    let again = run(&node, &signer, registry, &rows, &out, false).await;
    assert_eq!((again.written, again.already, again.blocks), (0, 2_000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_of_a_journaled_round_are_written_again_on_restart() {
    let running = start().await;
    let node = Node::connect(&running.url).await.expect("connect");
    let (signer, registry) = dev_issuer(&node).await;
    let (rows, _) = csv::read(&csv_rows(40), &schema()).expect("csv");
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");

    // Interrupted after sending the round; then a crash is simulated that left two of
    // its documents behind as they may be after a power cut (empty, half written).
    let first = run(&node, &signer, registry, &rows, &out, true).await;
    assert_eq!((first.written, first.blocks), (0, 1));
    std::fs::write(document_path(&out, 5), b"").expect("empty document");
    std::fs::write(document_path(&out, 9), b"{\"@context\": [").expect("torn document");

    // The restart treats every row of the journaled round as having no document.
    let second = run(&node, &signer, registry, &rows, &out, false).await;
    assert_eq!((second.written, second.already, second.blocks), (40, 0, 0));
    for line in [5, 9] {
        assert!(index_of(&out, line) < 40);
    }
    let info = node.client.registry(&registry).await.expect("registry");
    assert_eq!(info.issued, 40, "nothing issued twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_of_the_single_round_format_is_resumed() {
    let running = start().await;
    let node = Node::connect(&running.url).await.expect("connect");
    let (signer, registry) = dev_issuer(&node).await;
    let (rows, _) = csv::read(&csv_rows(30), &schema()).expect("csv");
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");
    run(&node, &signer, registry, &rows, &out, true).await;
    // Rewrite the journal as an earlier version wrote it: one `pending` round.
    let path = out.join(JOURNAL);
    let mut journal: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("journal")).expect("json");
    let round = journal["rounds"][0].take();
    assert!(round.is_object(), "{journal}");
    journal.as_object_mut().expect("object").remove("rounds");
    journal["pending"] = round;
    std::fs::write(&path, serde_json::to_vec(&journal).expect("json")).expect("write");

    let resumed = run(&node, &signer, registry, &rows, &out, false).await;
    assert_eq!((resumed.written, resumed.blocks), (30, 0));
    let info = node.client.registry(&registry).await.expect("registry");
    assert_eq!(info.issued, 30);
}
