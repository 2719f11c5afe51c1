//! The point online: downloading a snapshot, submitting queued claims, and learning
//! which of them the ledger confirmed as double claims.
//!
//! Nothing downloaded is trusted until [`Snapshot::check`] passes. Submission follows
//! the queue's rule (a claim's block is stored before it is sent, and only those bytes
//! are ever re-sent), so a crash at any moment neither loses nor duplicates a claim.

use std::time::Duration;

use serde_json::Value;
use weft_client::{Client, ClientError, LedgerOutcome};
use weft_types::{
    Block, BlockBuilder, BlockId, Did, NetworkId, Payload, ProgramId, RegistryCreate,
};

use crate::config::PointConfig;
use crate::queue::{ClaimRecord, ClaimState, Queue, QueueError};
use crate::snapshot::{ProgramEntry, RegistryEntry, RoundNullifiers, Snapshot, SnapshotError};
use crate::verify::Verifier;

/// Why talking to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The node's API.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Transport.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The node answered something unexpected.
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// The downloaded snapshot does not check.
    #[error("the downloaded snapshot is refused: {0}")]
    Snapshot(#[from] SnapshotError),
    /// The node is on another network or committee.
    #[error("the node's committee is not the configured one")]
    OtherCommittee,
    /// The queue.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

async fn get_json(base: &str, path: &str) -> Result<Value, NetError> {
    let r = reqwest::get(format!("{base}{path}")).await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        return Err(NetError::Decode(format!("{path}: {status} {v}")));
    }
    Ok(v)
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, NetError> {
    serde_json::from_value(v.clone()).map_err(|e| NetError::Decode(format!("{what}: {e}")))
}

/// Downloads a snapshot for the configured programs, checks it, and returns it. A
/// verifying key hash not yet pinned is pinned here (trust on first use) and the
/// configuration updated; the caller saves it.
pub async fn sync(
    client: &Client,
    config: &mut PointConfig,
    now: u64,
) -> Result<Snapshot, NetError> {
    let base = client.base().to_string();
    let info = client.info().await?;
    let committee: weft_types::Committee = parse(
        &serde_json::json!({
            "threshold": info["committee"]["threshold"],
            "members": info["committee"]["members"],
        }),
        "committee",
    )?;
    if committee != config.committee {
        return Err(NetError::OtherCommittee);
    }
    let network_id: u64 = info["networkId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| info["networkId"].as_u64())
        .ok_or_else(|| NetError::Decode("networkId".into()))?;
    let mut programs = Vec::new();
    let mut registries: Vec<RegistryEntry> = Vec::new();
    let mut nullifiers = Vec::new();
    for id in &config.programs {
        let v = get_json(&base, &format!("/api/v1/programs/{id}")).await?;
        let owner: Did = parse(&v["owner"], "program owner")?;
        let program: weft_types::Program = parse(&v["program"], "program")?;
        for issuer in &program.issuers {
            for reg in client.registries(Some(issuer)).await? {
                if reg.schema != program.schema
                    || registries.iter().any(|r| r.proof.registry == reg.id)
                {
                    continue;
                }
                let proof = client.registry_proof(&reg.id).await?;
                registries.push(RegistryEntry {
                    issuer: reg.issuer,
                    create: RegistryCreate {
                        schema: reg.schema,
                        depth: reg.depth,
                        chunk_bits: reg.chunk_bits,
                        label: reg.label.clone(),
                    },
                    proof: proof.proof,
                    milestone: proof.milestone,
                    milestone_block_id: proof.milestone_block_id,
                });
            }
        }
        // Rounds whose claims may still be confirmed.
        for round in &program.rounds {
            if round.closes.saturating_add(program.grace_ms) < now {
                continue;
            }
            let v = get_json(
                &base,
                &format!("/api/v1/programs/{id}/rounds/{}/nullifiers", round.number),
            )
            .await?;
            let list = v["nullifiers"]
                .as_array()
                .ok_or_else(|| NetError::Decode("nullifiers".into()))?
                .iter()
                .map(|n| {
                    n["nullifier"]
                        .as_str()
                        .and_then(|s| weft_types::id::parse_hex_array::<32>(s).ok())
                        .ok_or_else(|| NetError::Decode("nullifier".into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            nullifiers.push(RoundNullifiers {
                program: *id,
                round: round.number,
                milestone: v["milestone"].as_u64().unwrap_or(0) as u32,
                nullifiers: list,
            });
        }
        programs.push(ProgramEntry {
            id: *id,
            owner,
            program,
        });
    }
    let key = get_json(&base, "/api/v1/eligibility/key").await?;
    let verifying_key = key["verifyingKey"]
        .as_str()
        .ok_or_else(|| NetError::Decode("verifyingKey".into()))?
        .to_string();
    let device_active = client
        .device(&config.device_public_key())
        .await
        .ok()
        .map(|d| d.active && d.point == config.point);
    let snapshot = Snapshot {
        network_id,
        point: config.point,
        programs,
        registries,
        verifying_key,
        nullifiers,
        device_active,
        synced_at: now,
    };
    if config.verifying_key_hash.is_none() {
        config.verifying_key_hash = Some(snapshot.verifying_key_hash()?);
    }
    snapshot.check(config)?;
    Ok(snapshot)
}

/// A conflict the ledger reported for one of this point's claims.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictReport {
    /// The program.
    pub program: ProgramId,
    /// The round.
    pub round: u32,
    /// The reason (`nullifierUsed`, `unknownDeviceKey`, ...).
    pub reason: String,
    /// This point.
    pub point: Did,
    /// When this point accepted the claim (the claim's time, Unix ms).
    pub time: u64,
    /// For a double claim: the point whose claim the ledger applied first.
    pub other_point: Option<Did>,
    /// And that claim's time.
    pub other_time: Option<u64>,
    /// Our block.
    pub block_id: BlockId,
}

/// What a submission run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitReport {
    /// Blocks sent (or re-sent) in this run.
    pub sent: usize,
    /// Claims the ledger applied (in total).
    pub applied: usize,
    /// Claims still unconfirmed.
    pub pending: usize,
    /// Claims confirmed as conflicting (in total), with details.
    pub conflicts: Vec<ConflictReport>,
}

async fn build_block(
    client: &Client,
    config: &PointConfig,
    network: NetworkId,
    pow: u32,
    record: &ClaimRecord,
) -> Result<Block, NetError> {
    let tips = client.tips(4).await?;
    let builder = BlockBuilder::new(network, tips, crate::now_ms())
        .payload(Payload::Claim(Box::new(record.claim.clone())));
    Ok(match config.block_key() {
        Some(key) => key.sign_block(builder.organisation(key.public_key())),
        None => {
            let mut b = builder.anonymous();
            b.mine(pow);
            b
        }
    })
}

/// Sends every queued claim (building and storing each block before sending it),
/// re-sends stored blocks the node does not know, waits up to `wait` for
/// confirmations, and reports. `pace` pauses between blocks.
pub async fn submit(
    client: &Client,
    config: &PointConfig,
    queue: &Queue,
    wait: Duration,
    pace: Duration,
) -> Result<SubmitReport, NetError> {
    let info = client.info().await?;
    let network = NetworkId(
        info["networkId"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| info["networkId"].as_u64())
            .ok_or_else(|| NetError::Decode("networkId".into()))?,
    );
    let pow = info["powDifficulty"].as_u64().unwrap_or(0) as u32;
    let mut report = SubmitReport::default();
    for rec in queue.records()? {
        let (block_id, bytes) = match &rec.state {
            ClaimState::Confirmed { .. } => continue,
            ClaimState::Queued => {
                let block = build_block(client, config, network, pow, &rec).await?;
                let bytes = block.to_bytes();
                // Stored (flushed) before it is sent: after a crash, these bytes are
                // re-sent, never a new block.
                queue.set_state(
                    &rec.id,
                    ClaimState::Submitted {
                        block_id: block.id(),
                        block: hex::encode(&bytes),
                    },
                )?;
                (block.id(), bytes)
            }
            ClaimState::Submitted { block_id, block } => {
                if client.metadata(block_id).await.is_ok() {
                    continue;
                }
                let bytes = hex::decode(block)
                    .map_err(|e| NetError::Decode(format!("stored block: {e}")))?;
                (*block_id, bytes)
            }
        };
        let r = client.submit_bytes(bytes).await?;
        if r.block_id != block_id {
            return Err(NetError::Decode(
                "the node computed another block id".into(),
            ));
        }
        report.sent += 1;
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
    let deadline = tokio::time::Instant::now() + wait;
    for rec in queue.records()? {
        let block_id = match &rec.state {
            ClaimState::Submitted { block_id, .. } => *block_id,
            ClaimState::Confirmed { .. } | ClaimState::Queued => continue,
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client
            .wait_outcome(&block_id, left.max(Duration::from_millis(1)))
            .await
        {
            Ok(LedgerOutcome::Applied { milestone }) => queue.set_state(
                &rec.id,
                ClaimState::Confirmed {
                    block_id,
                    milestone,
                    outcome: "applied".into(),
                },
            )?,
            Ok(LedgerOutcome::Conflicting {
                milestone, reason, ..
            }) => queue.set_state(
                &rec.id,
                ClaimState::Confirmed {
                    block_id,
                    milestone,
                    outcome: reason,
                },
            )?,
            Err(_) => {}
        }
    }
    for rec in queue.records()? {
        match &rec.state {
            ClaimState::Confirmed {
                outcome, block_id, ..
            } => {
                if outcome == "applied" {
                    report.applied += 1;
                } else {
                    report
                        .conflicts
                        .push(conflict_report(client, &rec, outcome, *block_id).await);
                }
            }
            _ => report.pending += 1,
        }
    }
    Ok(report)
}

/// The details of a conflicting claim: for a double claim, the point and time of the
/// claim the ledger applied (from the round's nullifier list and that claim's block).
/// Nothing about the household: there is nothing about it to report.
async fn conflict_report(
    client: &Client,
    rec: &ClaimRecord,
    reason: &str,
    block_id: BlockId,
) -> ConflictReport {
    let c = &rec.claim;
    let point = c
        .endorsement
        .as_ref()
        .map(|e| e.point)
        .unwrap_or(Did([0; 32]));
    let mut report = ConflictReport {
        program: c.program,
        round: c.round,
        reason: reason.to_string(),
        point,
        time: c.time,
        other_point: None,
        other_time: None,
        block_id,
    };
    if reason == "nullifierUsed" {
        if let Ok(v) = get_json(
            client.base(),
            &format!(
                "/api/v1/programs/{}/rounds/{}/nullifiers",
                c.program, c.round
            ),
        )
        .await
        {
            let ours = format!("0x{}", hex::encode(c.nullifier));
            let first = v["nullifiers"].as_array().and_then(|a| {
                a.iter()
                    .find(|n| n["nullifier"].as_str() == Some(ours.as_str()))
                    .and_then(|n| serde_json::from_value::<BlockId>(n["blockId"].clone()).ok())
            });
            if let Some(first) = first {
                if let Ok(block) = client.block(&first).await {
                    if let Payload::Claim(other) = &block.payload {
                        report.other_point = other.endorsement.as_ref().map(|e| e.point);
                        report.other_time = Some(other.time);
                    }
                }
            }
        }
    }
    report
}

/// A sync file for holders' wallets (`weft-wallet sync --file`, format in
/// `wallet/src/sync.rs`): the newest root and every chunk of each registry the served
/// programs accept, the programs' names and the issuers' registries. The point's tablet
/// carries it to a camp with no connection; each wallet keeps the chunks holding its own
/// leaves, so nobody learns whose leaf is whose. Read from the node at `client`.
pub async fn holder_sync_file(client: &Client, verifier: &Verifier) -> Result<Value, NetError> {
    let base = client.base().to_string();
    let mut roots = Vec::new();
    let mut chunks = Vec::new();
    let mut issuers: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut programs = Vec::new();
    let mut registries = std::collections::BTreeSet::new();
    for p in &verifier.snapshot().programs {
        programs.push(serde_json::json!({
            "id": format!("0x{}", hex::encode(weft_crypto::poseidon::fr_to_bytes_be(
                &weft_credentials::claim::program_field(&p.id)))),
            "name": p.program.name,
        }));
        registries.extend(verifier.accepted_registries(&p.id));
    }
    for id in registries {
        let info = client.registry(&id).await?;
        let mut milestone = 0;
        for index in 0..info.chunks {
            let chunk = get_json(
                &base,
                &format!("/api/v1/registries/{}/chunks/{index}", id.to_hex()),
            )
            .await?;
            if chunk["root"].as_str() != Some(info.root.as_str()) {
                // The registry changed while we read it: the caller syncs again.
                return Err(NetError::Decode(format!(
                    "registry {id} changed during the download; try again"
                )));
            }
            milestone = chunk["milestone"].as_u64().unwrap_or(0);
            chunks.push(chunk);
        }
        // The milestone that made this root current, when the node says.
        if let Some(last) = info.recent_roots.as_ref().and_then(|r| r.last()) {
            milestone = u64::from(last.milestone);
        }
        roots.push(serde_json::json!({
            "registry": id, "root": info.root, "milestone": milestone,
        }));
        issuers
            .entry(info.issuer.to_string())
            .or_default()
            .push(id.to_hex());
    }
    Ok(serde_json::json!({
        "type": "weft-sync",
        "version": 1,
        "roots": roots,
        "chunks": chunks,
        "programs": programs,
        "issuers": issuers
            .into_iter()
            .map(|(did, registries)| serde_json::json!({"did": did, "registries": registries}))
            .collect::<Vec<_>>(),
    }))
}
