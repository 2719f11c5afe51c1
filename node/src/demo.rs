//! `weft-node demo`: the end-to-end scenario on an embedded dev node.
//!
//! An agency anchors a batch of procurement and sensor records (their hashes, never the
//! records), the committee confirms them, a duplicate anchor is confirmed as conflicting,
//! and the demo checks each anchor through the API, the milestone certificate with only
//! the committee keys, and each block's inclusion proof against the milestone's root.
//! Then the agency (a DID accredited as an issuer) publishes a schema, creates a
//! registry, issues credentials to three households (only their commitments reach the
//! ledger), and the demo verifies one W3C credential document against the agency's DID
//! document resolved from the node. Then an aid round ([`crate::demo_round`]): a
//! thousand households registered, a program announced, two distribution points (one
//! offline), claims, refusals, double claims caught, and a donor report with counts only.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use weft_client::Client;
use weft_crypto::{InclusionProof, OrganisationKey};
use weft_types::hash::blake2b256;
use weft_types::{Block, BlockBuilder, BlockId, NetworkId, Payload, TaggedData};

use crate::config::{dev_key, NodeConfig};
use crate::core::{now_ms, Node};

fn records() -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for (i, (item, qty, supplier)) in [
        (
            "wheat flour, 50 kg sacks",
            400,
            "Supplier 0031 (registered vendor)",
        ),
        (
            "lentils, 25 kg sacks",
            250,
            "Supplier 0007 (registered vendor)",
        ),
        (
            "vegetable oil, 5 l cans",
            900,
            "Supplier 0031 (registered vendor)",
        ),
        (
            "water purification tablets, box of 100",
            120,
            "Supplier 0112 (registered vendor)",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        out.push((
            "procurement/v1",
            json!({"purchaseOrder": format!("PO-2026-{:04}", 311 + i), "item": item, "quantity": qty,
                   "supplier": supplier, "warehouse": "WH-North-2"}),
        ));
    }
    for (i, celsius) in [21.5, 22.0, 29.5, 23.0].into_iter().enumerate() {
        out.push((
            "sensor/v1",
            json!({"sensor": "WH-North-2/cold-room-1", "reading": i, "temperatureC": celsius,
                   "time": format!("2026-11-25T0{i}:00:00Z")}),
        ));
    }
    out
}

fn anchor_block(
    key: &OrganisationKey,
    network: NetworkId,
    tips: Vec<BlockId>,
    tag: &str,
    digest: [u8; 32],
) -> Block {
    key.sign_block(
        BlockBuilder::new(network, tips, now_ms())
            .payload(Payload::TaggedData(TaggedData {
                tag: tag.as_bytes().to_vec(),
                data: digest.to_vec(),
            }))
            .organisation(key.public_key()),
    )
}

/// Runs the demo; prints a report (JSON with `json`) and writes artefacts into `out`.
pub async fn run(json_only: bool, out: Option<PathBuf>, households: usize) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let data_dir = match &out {
        Some(dir) => dir.join("node-data"),
        None => std::env::temp_dir().join(format!("weft-demo-{}-{}", std::process::id(), now_ms())),
    };
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("clearing {}", data_dir.display()))?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut cfg = NodeConfig::dev(data_dir.clone(), addr);
    cfg.milestone_interval_ms = 500;
    let network = cfg.genesis.network_id();
    let committee = cfg.genesis.committee.clone();
    let node = Node::start(cfg)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(node.clone(), listener, async {
        let _ = stop_rx.await;
    }));
    let client = Client::new(format!("http://{addr}"));
    let say = |s: String| {
        if !json_only {
            println!("{s}");
        }
    };
    say(format!(
        "Weft demo: dev node on http://{addr} (network weft-dev, one-member committee)"
    ));

    let agency = dev_key("organisation");
    let mut anchored = Vec::new();
    say(format!(
        "Agency {} anchors {} records (hashes only):",
        &agency.public_key().to_hex()[..16],
        records().len()
    ));
    for (tag, record) in records() {
        let canonical = serde_json::to_vec(&record)?;
        let digest = blake2b256(&[&canonical]);
        let tips = client.tips(4).await?;
        let block = anchor_block(&agency, network, tips, tag, digest);
        let r = client.submit(&block).await?;
        anchored.push((tag, record, digest, r.block_id));
    }
    // The same purchase order anchored a second time: confirmed, but conflicting.
    let (dup_tag, _, dup_digest, _) = anchored[0].clone();
    let tips = client.tips(4).await?;
    let duplicate = anchor_block(&agency, network, tips, dup_tag, dup_digest);
    let duplicate_id = client.submit(&duplicate).await?.block_id;

    let mut rows = Vec::new();
    for (tag, record, digest, id) in &anchored {
        let meta = client.wait_confirmed(id, Duration::from_secs(20)).await?;
        let (anchor_block_id, milestone) = client
            .anchor(&weft_ledger::anchor_digest(tag.as_bytes(), digest))
            .await?;
        ensure!(
            anchor_block_id == *id,
            "anchor lookup returned another block"
        );
        say(format!(
            "  {tag:<15} {}  block {}…  milestone {milestone:>3}  {}",
            &hex::encode(digest)[..16],
            &id.to_hex()[..16],
            meta.ledger_outcome
        ));
        rows.push(
            json!({"tag": tag, "record": record, "digest": hex::encode(digest), "blockId": id,
                         "milestone": milestone, "outcome": meta.ledger_outcome}),
        );
    }
    let dup_meta = client
        .wait_confirmed(&duplicate_id, Duration::from_secs(20))
        .await?;
    ensure!(
        dup_meta.ledger_outcome == "conflicting",
        "the duplicate anchor was not marked conflicting"
    );
    let reason = dup_meta
        .conflict
        .as_ref()
        .map(|c| c.reason.clone())
        .unwrap_or_default();
    say(format!(
        "Duplicate anchor of {}: confirmed by milestone {} as conflicting ({reason}); the first one stands.",
        dup_tag,
        dup_meta.referenced_by_milestone.unwrap_or(0)
    ));

    // Check every anchor offline: certificate with the committee keys, inclusion proof
    // against the milestone's inclusion root.
    let mut proofs_ok = 0;
    for row in &rows {
        let id: BlockId = serde_json::from_value(row["blockId"].clone())?;
        let index = row["milestone"].as_u64().unwrap_or(0) as u32;
        let m = client.milestone(index, true).await?;
        let bytes = client.block_bytes(&m.block_id).await?;
        let ms_block = Block::from_bytes(&bytes)?;
        let Payload::Milestone(milestone) = ms_block.payload else {
            anyhow::bail!("milestone block without payload")
        };
        crate::milestone::verify_certificate(&milestone, &committee)?;
        let list = m.blocks.unwrap_or_default();
        let pos = list
            .iter()
            .position(|b| *b == id)
            .context("block missing from its milestone's list")?;
        InclusionProof::build(&list, pos)?.verify(&id, &milestone.essence.inclusion_root)?;
        proofs_ok += 1;
    }
    say(format!(
        "Checked offline: {proofs_ok} inclusion proofs against certified milestones (committee signature and Merkle path)."
    ));
    let credentials = issue_credentials(&client, network, &agency, &say).await?;
    let net = crate::scenario::Network::connect(client.clone(), dev_key("authority")).await?;
    let (round, donor_report) =
        crate::demo_round::run(&net, &data_dir, households, out.as_deref(), &say).await?;
    let latest = client.latest_milestone().await?;
    let elapsed_s = started.elapsed().as_secs_f64();
    let report = json!({
        "households": round.households,
        "credentials_issued": round.credentials_issued,
        "eligible_households": round.eligible_households,
        "claims_accepted": round.claims_accepted,
        "claims_refused_ineligible": round.claims_refused_ineligible,
        "ineligible_told_by_wallet": round.ineligible_told_by_wallet,
        "double_claims_attempted": round.double_claims_attempted,
        "double_claims_caught": round.double_claims_caught,
        "offline_double_claims_detected": round.offline_double_claims_detected,
        "claims_on_ledger": round.claims_on_ledger,
        "entitlement_on_ledger": round.entitlement_on_ledger,
        "value_minted": round.value_minted.to_string(),
        "shop_payments": round.shop_payments,
        "double_spends_refused": round.double_spends_refused,
        "value_redeemed": round.value_redeemed.to_string(),
        "conservation_ok": round.conservation_ok,
        "proving_s": (round.proving_s * 10.0).round() / 10.0,
        "elapsed_s": (elapsed_s * 10.0).round() / 10.0,
        "donorReport": donor_report,
        "network": "weft-dev",
        "api": format!("http://{addr}"),
        "latestMilestone": latest.index,
        "stateRoot": latest.state_root,
        "anchors": rows,
        "duplicate": {"blockId": duplicate_id, "outcome": dup_meta.ledger_outcome, "reason": reason,
                      "milestone": dup_meta.referenced_by_milestone},
        "inclusionProofsVerified": proofs_ok,
        "credentials": credentials.summary,
        "personalDataOnLedger": false,
    });
    if json_only {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        say(format!(
            "Latest milestone {} with state root {}. Demo finished in {elapsed_s:.1} s.",
            latest.index, latest.state_root
        ));
    }
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
        std::fs::write(
            dir.join("issuer-did.json"),
            serde_json::to_vec_pretty(&credentials.resolution)?,
        )?;
        std::fs::write(
            dir.join("credential.json"),
            serde_json::to_vec_pretty(&credentials.document)?,
        )?;
        say(format!(
            "Report written to {}",
            dir.join("report.json").display()
        ));
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    tokio::task::spawn_blocking(move || node.shutdown()).await?;
    if out.is_none() {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    Ok(())
}

/// What the credential part of the demo produced.
struct Issued {
    summary: Value,
    resolution: Value,
    document: Value,
}

/// The demo's schema: what a registration station records about a household.
fn household_schema() -> weft_types::Schema {
    use weft_types::{AttributeDef, AttributeKind};
    weft_types::Schema {
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
                    values: vec!["north".into(), "east".into(), "south".into()],
                },
            },
            AttributeDef {
                name: "displaced_since".into(),
                kind: AttributeKind::Date,
            },
        ],
    }
}

async fn confirm(client: &Client, block: &Block) -> anyhow::Result<()> {
    client.submit(block).await?;
    let meta = client
        .wait_confirmed(&block.id(), Duration::from_secs(20))
        .await?;
    ensure!(
        meta.ledger_outcome == "applied",
        "block {} was not applied: {:?}",
        block.id(),
        meta.conflict.map(|c| c.description)
    );
    Ok(())
}

async fn signed(
    client: &Client,
    key: &OrganisationKey,
    network: NetworkId,
    payload: Payload,
) -> anyhow::Result<Block> {
    let tips = client.tips(4).await?;
    Ok(key.sign_block(
        BlockBuilder::new(network, tips, now_ms())
            .payload(payload)
            .organisation(key.public_key()),
    ))
}

/// Schema, registry, three credentials; one document verified against the resolved DID.
async fn issue_credentials(
    client: &Client,
    network: NetworkId,
    agency: &OrganisationKey,
    say: &dyn Fn(String),
) -> anyhow::Result<Issued> {
    use weft_circuits::HolderSecrets;
    use weft_credentials::vc::{credential_document, verify_credential, CredentialRecord};
    use weft_crypto::poseidon::fr_to_bytes_be;
    use weft_types::{DidCreate, Issuance, RegistryCreate};

    let did = DidCreate::with_key(agency.public_key(), 0).did();
    let schema = household_schema();
    let b = signed(client, agency, network, Payload::Schema(schema.clone())).await?;
    confirm(client, &b).await?;
    let create = RegistryCreate {
        schema: schema.id(),
        depth: weft_types::registry::DEFAULT_REGISTRY_DEPTH,
        chunk_bits: weft_types::registry::DEFAULT_CHUNK_BITS,
        label: "demo-north".into(),
    };
    let registry = create.id(&did);
    let b = signed(client, agency, network, Payload::RegistryCreate(create)).await?;
    confirm(client, &b).await?;
    say(format!(
        "Agency {did} published schema {} and created registry {}…",
        &schema.id().to_hex()[..16],
        &registry.to_hex()[..16]
    ));

    // Three households: their wallets hand over only the two commitments.
    let mut rng = rand::rngs::OsRng;
    let households = [
        (5u64, "north", "2025-03-14"),
        (2, "east", "2026-02-01"),
        (7, "south", "2024-11-30"),
    ];
    let now_s = (now_ms() / 1000) as u32;
    let mut records = Vec::new();
    for (i, (size, region, since)) in households.iter().enumerate() {
        let secrets = HolderSecrets::random(&mut rng);
        let mut attributes = serde_json::Map::new();
        attributes.insert("household_size".into(), json!(size));
        attributes.insert("region".into(), json!(region));
        attributes.insert("displaced_since".into(), json!(since));
        records.push(CredentialRecord::issue(
            &schema,
            did,
            registry,
            i as u64,
            attributes,
            secrets.holder_commitment(),
            secrets.household_commitment(),
            now_s.saturating_sub(60),
            now_s.saturating_add(365 * 86_400),
            &mut rng,
        )?);
    }
    let leaves = records
        .iter()
        .map(|r| fr_to_bytes_be(&r.credential.commitment()))
        .collect();
    let b = signed(
        client,
        agency,
        network,
        Payload::Issuance(Issuance {
            registry,
            first_index: 0,
            leaves,
        }),
    )
    .await?;
    confirm(client, &b).await?;
    let info = client.registry(&registry).await?;

    // The first household's credential document, signed with the agency's DID key and
    // checked as any holder would: against the DID document resolved from the ledger.
    let unsigned = credential_document(&schema, &records[0])?;
    let document = weft_credentials::sign(
        &unsigned,
        agency,
        &weft_credentials::did::method_id(&did, "key-1"),
        now_ms(),
    )?;
    let resolution = client
        .resolve_did(&did, &weft_client::DidVersion::Latest)
        .await?;
    verify_credential(&document, &resolution.did_document, &schema)?;
    say(format!(
        "Issued {} credentials (the ledger holds their commitments only); credential 0 verifies against {did}'s DID document.",
        records.len()
    ));
    let resolution = json!({
        "didDocument": resolution.did_document,
        "didDocumentMetadata": resolution.did_document_metadata,
        "didResolutionMetadata": resolution.did_resolution_metadata,
    });
    Ok(Issued {
        summary: json!({
            "issuer": did,
            "schema": schema.id(),
            "registry": registry,
            "issued": records.len(),
            "registryRoot": info.root,
            "documentVerified": true,
        }),
        resolution,
        document,
    })
}
