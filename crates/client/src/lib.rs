//! A client for the Weft node's API, used by the CLIs, the bench and the tests.
//!
//! Thin on purpose: typed requests and responses for the `/api/v1` routes, the node's
//! JSON errors surfaced as [`ClientError::Api`] with their stable code, and the event
//! stream as a `futures` stream of JSON values. The identity and registry routes come
//! back as typed records: registry chunks as `weft_crypto::RegistryChunk`, registry
//! proofs as `weft_ledger::RegistryProof` (the client sits below the node and above the
//! ledger in the dependency order, so it reuses the ledger's own types).

use futures_util::{SinkExt, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use weft_crypto::poseidon::fr_from_bytes_be;
use weft_crypto::{Fr, RegistryChunk};
use weft_ledger::{RecentRoot, RegistryProof};
use weft_types::{
    Block, BlockId, Did, InclusionRoot, Milestone, MilestoneId, MilestoneSignature, PublicKeyBytes,
    RegistryId, Schema, SchemaId, StateRoot,
};

/// A client error.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Transport failure.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The node answered with an error.
    #[error("node answered {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error code (for example `invalidSignature`).
        code: String,
        /// What is wrong.
        message: String,
    },
    /// The answer did not have the expected shape.
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// WebSocket failure.
    #[error("WebSocket: {0}")]
    WebSocket(String),
    /// Writing a download failed.
    #[error("writing the download: {0}")]
    Io(String),
}

/// Result of a submission.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SubmitResponse {
    /// The block id.
    pub block_id: BlockId,
    /// Whether the block is solid (absent for duplicates).
    #[serde(default)]
    pub solid: Option<bool>,
    /// Parents the node lacks.
    #[serde(default)]
    pub missing_parents: Vec<BlockId>,
    /// Whether the node already had it.
    #[serde(default)]
    pub duplicate: bool,
}

/// A conflict as the API reports it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// Stable code.
    pub code: u8,
    /// Reason name.
    pub reason: String,
    /// Sentence.
    pub description: String,
}

/// Block metadata.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMetadata {
    /// The block id.
    pub block_id: BlockId,
    /// Solid.
    pub solid: bool,
    /// Confirming milestone.
    pub referenced_by_milestone: Option<u32>,
    /// Position in the white-flag order.
    pub white_flag_index: Option<u32>,
    /// `pending`, `applied` or `conflicting`.
    pub ledger_outcome: String,
    /// Conflict, if any.
    pub conflict: Option<Conflict>,
    /// Arrival (ms).
    pub arrival_time: u64,
    /// Confirmation (ms).
    pub confirmation_time: Option<u64>,
}

/// A milestone as the API reports it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MilestoneResponse {
    /// Index.
    pub index: u32,
    /// Milestone id.
    pub milestone_id: MilestoneId,
    /// Carrying block.
    pub block_id: BlockId,
    /// Timestamp (ms).
    pub timestamp: u64,
    /// Previous milestone.
    pub previous_milestone_id: MilestoneId,
    /// Parents.
    pub parents: Vec<BlockId>,
    /// Inclusion root.
    pub inclusion_root: InclusionRoot,
    /// State root.
    pub state_root: StateRoot,
    /// The committee that certified it (the genesis committee, or one a committee
    /// change made effective).
    pub committee_id: weft_types::CommitteeId,
    /// Committee signatures.
    pub signatures: Vec<MilestoneSignature>,
    /// Number of confirmed blocks.
    pub confirmed_blocks: Option<usize>,
    /// The confirmed blocks in white-flag order (when asked for).
    #[serde(default)]
    pub blocks: Option<Vec<BlockId>>,
}

/// An API client.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for the node at `base` (for example `http://127.0.0.1:7070`).
    pub fn new(base: impl Into<String>) -> Client {
        let base = base.into().trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap_or_default();
        Client { base, http }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn parse<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(ClientError::Api {
                status: status.as_u16(),
                code: v["error"]["code"].as_str().unwrap_or("unknown").to_string(),
                message: v["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Self::parse(self.http.get(format!("{}{path}", self.base)).send().await?).await
    }

    /// `GET /api/v1/health`: whether the node confirms milestones.
    pub async fn health(&self) -> Result<bool, ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/v1/health", self.base))
            .send()
            .await?;
        let v: Value = resp.json().await?;
        Ok(v["healthy"].as_bool().unwrap_or(false))
    }

    /// `GET /api/v1/info`.
    pub async fn info(&self) -> Result<Value, ClientError> {
        self.get("/api/v1/info").await
    }

    /// `GET /api/v1/tips?count=N`.
    pub async fn tips(&self, count: usize) -> Result<Vec<BlockId>, ClientError> {
        #[derive(Deserialize)]
        struct Tips {
            tips: Vec<BlockId>,
        }
        Ok(self
            .get::<Tips>(&format!("/api/v1/tips?count={count}"))
            .await?
            .tips)
    }

    /// `POST /api/v1/blocks` with the canonical bytes.
    pub async fn submit(&self, block: &Block) -> Result<SubmitResponse, ClientError> {
        self.submit_bytes(block.to_bytes()).await
    }

    /// `POST /api/v1/blocks` with raw bytes (which may be invalid: tests use this).
    pub async fn submit_bytes(&self, bytes: Vec<u8>) -> Result<SubmitResponse, ClientError> {
        let resp = self
            .http
            .post(format!("{}/api/v1/blocks", self.base))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await?;
        Self::parse(resp).await
    }

    /// `POST /api/v1/blocks` with many blocks in one request
    /// (`application/vnd.weft.blocks`: frames of `u32 LE length || canonical bytes`, at
    /// most 1024). One result per block, in order: the submission or the node's error.
    pub async fn submit_many(
        &self,
        blocks: &[Block],
    ) -> Result<Vec<Result<SubmitResponse, ClientError>>, ClientError> {
        let mut body = Vec::with_capacity(blocks.len() * 256);
        for b in blocks {
            let bytes = b.to_bytes();
            body.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            body.extend_from_slice(&bytes);
        }
        let resp = self
            .http
            .post(format!("{}/api/v1/blocks", self.base))
            .header("content-type", "application/vnd.weft.blocks")
            .body(body)
            .send()
            .await?;
        #[derive(Deserialize)]
        struct Batch {
            results: Vec<Value>,
        }
        let batch: Batch = Self::parse(resp).await?;
        Ok(batch
            .results
            .into_iter()
            .map(|v| {
                if v.get("error").is_some() {
                    Err(ClientError::Api {
                        status: 0,
                        code: v["error"]["code"].as_str().unwrap_or("unknown").to_string(),
                        message: v["error"]["message"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    })
                } else {
                    serde_json::from_value(v).map_err(|e| ClientError::Decode(e.to_string()))
                }
            })
            .collect())
    }

    /// `POST /api/v1/blocks` with the JSON form.
    pub async fn submit_json(&self, block: &Block) -> Result<SubmitResponse, ClientError> {
        Self::parse(
            self.http
                .post(format!("{}/api/v1/blocks", self.base))
                .json(block)
                .send()
                .await?,
        )
        .await
    }

    /// `GET /api/v1/blocks/{id}` (JSON form).
    pub async fn block(&self, id: &BlockId) -> Result<Block, ClientError> {
        self.get(&format!("/api/v1/blocks/{id}")).await
    }

    /// `GET /api/v1/blocks/{id}` (canonical bytes).
    pub async fn block_bytes(&self, id: &BlockId) -> Result<Vec<u8>, ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/v1/blocks/{id}", self.base))
            .header("accept", "application/octet-stream")
            .send()
            .await?;
        if !resp.status().is_success() {
            return Self::parse::<Value>(resp).await.map(|_| Vec::new());
        }
        Ok(resp.bytes().await?.to_vec())
    }

    /// `GET /api/v1/blocks/{id}/metadata`.
    pub async fn metadata(&self, id: &BlockId) -> Result<BlockMetadata, ClientError> {
        self.get(&format!("/api/v1/blocks/{id}/metadata")).await
    }

    /// `GET /api/v1/blocks/{id}/children`.
    pub async fn children(&self, id: &BlockId) -> Result<Vec<BlockId>, ClientError> {
        #[derive(Deserialize)]
        struct Children {
            children: Vec<BlockId>,
        }
        Ok(self
            .get::<Children>(&format!("/api/v1/blocks/{id}/children"))
            .await?
            .children)
    }

    /// `GET /api/v1/milestones/latest`.
    pub async fn latest_milestone(&self) -> Result<MilestoneResponse, ClientError> {
        self.get("/api/v1/milestones/latest").await
    }

    /// `GET /api/v1/milestones/{index}` (with the confirmed block list if `with_blocks`).
    pub async fn milestone(
        &self,
        index: u32,
        with_blocks: bool,
    ) -> Result<MilestoneResponse, ClientError> {
        self.get(&format!("/api/v1/milestones/{index}?blocks={with_blocks}"))
            .await
    }

    /// `GET /api/v1/ledger/anchors/{digest}`: the block and milestone of a confirmed anchor.
    pub async fn anchor(&self, digest: &[u8; 32]) -> Result<(BlockId, u32), ClientError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Anchor {
            block_id: BlockId,
            milestone: u32,
        }
        let a: Anchor = self
            .get(&format!("/api/v1/ledger/anchors/{}", to_hex(digest)))
            .await?;
        Ok((a.block_id, a.milestone))
    }

    /// `GET /api/v1/snapshots`: the snapshot files the node holds (`kind`, `name`,
    /// `index` or `base`/`to`, `bytes`), oldest first.
    pub async fn snapshots(&self) -> Result<Vec<Value>, ClientError> {
        let v: Value = self.get("/api/v1/snapshots").await?;
        Ok(v["snapshots"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /api/v1/snapshots/{name}`, streamed into `out`. The file is not checked here:
    /// `weft-node run --snapshot` (or `weft_snapshot::read_full`) checks it against the
    /// committee keys. Returns the bytes written.
    pub async fn download_snapshot(
        &self,
        name: &str,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, ClientError> {
        let mut resp = self
            .http
            .get(format!("{}/api/v1/snapshots/{name}", self.base))
            .send()
            .await?;
        if !resp.status().is_success() {
            return Self::parse::<Value>(resp).await.map(|_| 0);
        }
        let mut written = 0u64;
        while let Some(chunk) = resp.chunk().await? {
            out.write_all(&chunk)
                .map_err(|e| ClientError::Io(e.to_string()))?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// `GET /metrics` (Prometheus text).
    pub async fn metrics(&self) -> Result<String, ClientError> {
        Ok(self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?)
    }

    /// Waits until the block is referenced by a milestone, polling every 100 ms, for at
    /// most `timeout`.
    pub async fn wait_confirmed(
        &self,
        id: &BlockId,
        timeout: std::time::Duration,
    ) -> Result<BlockMetadata, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = self.metadata(id).await?;
            if m.referenced_by_milestone.is_some() {
                return Ok(m);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Decode(format!(
                    "block {id} not confirmed within {timeout:?}"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Subscribes to `/api/v1/events` for the given topics; yields each event as JSON.
    pub async fn events(
        &self,
        topics: &[&str],
    ) -> Result<impl Stream<Item = Result<Value, ClientError>>, ClientError> {
        let ws_base = self.base.replacen("http", "ws", 1);
        let url = format!("{ws_base}/api/v1/events?topics={}", topics.join(","));
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| ClientError::WebSocket(e.to_string()))?;
        let (mut sink, stream) = socket.split();
        // Nothing is sent to the node; keep the sink alive inside the stream's state.
        let _ = sink.flush().await;
        Ok(stream.filter_map(move |msg| {
            let _keep = &sink;
            let out = match msg {
                Ok(tokio_tungstenite::tungstenite::Message::Text(t)) => Some(
                    serde_json::from_str::<Value>(t.as_str())
                        .map_err(|e| ClientError::Decode(e.to_string())),
                ),
                Ok(_) => None,
                Err(e) => Some(Err(ClientError::WebSocket(e.to_string()))),
            };
            futures_util::future::ready(out)
        }))
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------
// Identity and registry routes (issue 4).
// ---------------------------------------------------------------------------------

/// A DID Resolution result (`GET /api/v1/identifiers/{did}`), as the node serves it
/// (`application/did-resolution+json`). A deactivated DID resolves too (HTTP 410).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DidResolution {
    /// The DID document (`null` members only for a failed resolution).
    pub did_document: Value,
    /// `created`, `updated`, `versionId`, `deactivated`, `nextVersionId`, ...
    #[serde(default)]
    pub did_document_metadata: Value,
    /// `contentType` (or `error`).
    #[serde(default)]
    pub did_resolution_metadata: Value,
}

impl DidResolution {
    /// The resolved version (`didDocumentMetadata.versionId`, a decimal string).
    pub fn version_id(&self) -> Option<u32> {
        match &self.did_document_metadata["versionId"] {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        }
    }

    /// Whether the DID is deactivated.
    pub fn deactivated(&self) -> bool {
        self.did_document_metadata["deactivated"]
            .as_bool()
            .unwrap_or(false)
    }
}

/// Which version of a DID to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DidVersion {
    /// The current version.
    #[default]
    Latest,
    /// A version number (`?versionId=N`).
    Id(u32),
    /// The version valid at an RFC 3339 time (`?versionTime=...`).
    Time(String),
}

/// An organisation's accreditation (`GET /api/v1/organisations/{did}`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrganisationInfo {
    /// The DID.
    pub did: Did,
    /// Roles: `issuer`, `distributionPoint`.
    pub roles: Vec<String>,
    /// Whether it is the accreditation authority.
    pub authority: bool,
    /// Whether its DID is deactivated.
    pub deactivated: bool,
}

/// A distribution point's device key (`GET /api/v1/devices/{key}`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// The key.
    pub key: PublicKeyBytes,
    /// The distribution point's DID.
    pub point: Did,
    /// Whether it is active.
    pub active: bool,
    /// The milestone of its last change.
    pub milestone: u32,
}

/// A published schema (`GET /api/v1/schemas/{id}`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SchemaInfo {
    /// The schema id.
    pub id: SchemaId,
    /// The publishing organisation.
    pub publisher: Did,
    /// When it was published (`{milestone, timestamp}`).
    pub published: Value,
    /// The schema.
    pub schema: Schema,
}

/// A registry record (`GET /api/v1/registries[/{id}]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RegistryInfo {
    /// The registry id.
    pub id: RegistryId,
    /// The issuer's DID.
    pub issuer: Did,
    /// The schema of its credentials.
    pub schema: SchemaId,
    /// Tree depth.
    pub depth: u8,
    /// Chunk size exponent.
    pub chunk_bits: u8,
    /// Label.
    pub label: String,
    /// Leaves appended so far (its size; revoked ones included).
    pub issued: u64,
    /// Leaves revoked.
    pub revoked: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// The current root (`0x` + 64 hex digits, a BN254 element big-endian).
    pub root: String,
    /// When it was created (`{milestone, timestamp}`).
    pub created: Value,
    /// Recent roots (single-registry answers only).
    #[serde(default)]
    pub recent_roots: Option<Vec<RecentRoot>>,
}

impl RegistryInfo {
    /// The root as a field element.
    pub fn root_fr(&self) -> Result<Fr, ClientError> {
        parse_fr(&self.root)
    }
}

/// A registry chunk with the registry root and the milestone it was read at
/// (`GET /api/v1/registries/{id}/chunks/{index}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkInfo {
    /// The chunk (all `2^k` leaves and the siblings above it).
    pub chunk: RegistryChunk,
    /// The registry root when read.
    pub root: Fr,
    /// The latest milestone when read.
    pub milestone: u32,
}

/// A registry's recent roots proven against a certified milestone's state root
/// (`GET /api/v1/registries/{id}/proof`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RegistryProofInfo {
    /// The proof.
    pub proof: RegistryProof,
    /// The milestone whose state root it is against.
    pub milestone: Milestone,
    /// The block that carries the milestone.
    pub milestone_block_id: BlockId,
}

/// A confirmed block's ledger outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerOutcome {
    /// Its payload took effect.
    Applied {
        /// The confirming milestone.
        milestone: u32,
    },
    /// Confirmed, but its payload had no effect.
    Conflicting {
        /// The confirming milestone.
        milestone: u32,
        /// The stable reason name (for example `wrongFirstIndex`).
        reason: String,
        /// The reason as a sentence.
        description: String,
    },
}

impl LedgerOutcome {
    /// Whether the payload took effect.
    pub fn is_applied(&self) -> bool {
        matches!(self, LedgerOutcome::Applied { .. })
    }

    /// The outcome of confirmed metadata (`None` while pending).
    pub fn of(meta: &BlockMetadata) -> Option<LedgerOutcome> {
        let milestone = meta.referenced_by_milestone?;
        Some(match &meta.conflict {
            Some(c) if meta.ledger_outcome == "conflicting" => LedgerOutcome::Conflicting {
                milestone,
                reason: c.reason.clone(),
                description: c.description.clone(),
            },
            None if meta.ledger_outcome == "conflicting" => LedgerOutcome::Conflicting {
                milestone,
                reason: "unknown".into(),
                description: String::new(),
            },
            _ => LedgerOutcome::Applied { milestone },
        })
    }
}

/// Parses a `0x`-prefixed 32-byte big-endian field element.
pub fn parse_fr(s: &str) -> Result<Fr, ClientError> {
    let hex = s.strip_prefix("0x").unwrap_or(s);
    let mut bytes = [0u8; 32];
    if hex.len() != 64 {
        return Err(ClientError::Decode(format!(
            "field element {s:?}: 64 hex digits expected"
        )));
    }
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16)
            .map_err(|_| ClientError::Decode(format!("field element {s:?}: not hex")))?;
    }
    fr_from_bytes_be(&bytes).map_err(|e| ClientError::Decode(format!("field element {s:?}: {e}")))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// `GET /api/v1/identifiers/{did}[?versionId=N|versionTime=T]`: DID Resolution.
    /// A deactivated DID answers its (empty) document; a DID not found, an invalid DID
    /// or option is [`ClientError::Api`] with the resolution error as `code`.
    pub async fn resolve_did(
        &self,
        did: &Did,
        version: &DidVersion,
    ) -> Result<DidResolution, ClientError> {
        let query = match version {
            DidVersion::Latest => String::new(),
            DidVersion::Id(n) => format!("?versionId={n}"),
            DidVersion::Time(t) => format!("?versionTime={}", percent_encode(t)),
        };
        let resp = self
            .http
            .get(format!("{}/api/v1/identifiers/{did}{query}", self.base))
            .send()
            .await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        if status == 200 || status == 410 {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()));
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(ClientError::Api {
            status,
            code: v["didResolutionMetadata"]["error"]
                .as_str()
                .or_else(|| v["error"]["code"].as_str())
                .unwrap_or("unknown")
                .to_string(),
            message: v["didResolutionMetadata"]["errorMessage"]
                .as_str()
                .or_else(|| v["error"]["message"].as_str())
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// `GET /api/v1/organisations/{did}`.
    pub async fn organisation(&self, did: &Did) -> Result<OrganisationInfo, ClientError> {
        self.get(&format!("/api/v1/organisations/{did}")).await
    }

    /// `GET /api/v1/devices/{key}`.
    pub async fn device(&self, key: &PublicKeyBytes) -> Result<DeviceInfo, ClientError> {
        self.get(&format!("/api/v1/devices/{}", key.to_hex())).await
    }

    /// `GET /api/v1/schemas/{id}`.
    pub async fn schema(&self, id: &SchemaId) -> Result<SchemaInfo, ClientError> {
        self.get(&format!("/api/v1/schemas/{}", id.to_hex())).await
    }

    /// `GET /api/v1/registries[?issuer=DID]`.
    pub async fn registries(&self, issuer: Option<&Did>) -> Result<Vec<RegistryInfo>, ClientError> {
        #[derive(Deserialize)]
        struct List {
            registries: Vec<RegistryInfo>,
        }
        let path = match issuer {
            Some(d) => format!(
                "/api/v1/registries?issuer={}",
                percent_encode(&d.to_string())
            ),
            None => "/api/v1/registries".to_string(),
        };
        Ok(self.get::<List>(&path).await?.registries)
    }

    /// `GET /api/v1/registries/{id}` (with its recent roots).
    pub async fn registry(&self, id: &RegistryId) -> Result<RegistryInfo, ClientError> {
        self.get(&format!("/api/v1/registries/{}", id.to_hex()))
            .await
    }

    /// `GET /api/v1/registries/{id}/chunks/{index}`: the whole chunk, parsed.
    pub async fn chunk(&self, id: &RegistryId, index: u64) -> Result<ChunkInfo, ClientError> {
        #[derive(Deserialize)]
        struct Raw {
            k: u8,
            index: u64,
            leaves: Vec<String>,
            siblings: Vec<String>,
            root: String,
            milestone: u32,
        }
        let raw: Raw = self
            .get(&format!(
                "/api/v1/registries/{}/chunks/{index}",
                id.to_hex()
            ))
            .await?;
        let leaves = raw
            .leaves
            .iter()
            .map(|s| parse_fr(s))
            .collect::<Result<Vec<_>, _>>()?;
        let siblings = raw
            .siblings
            .iter()
            .map(|s| parse_fr(s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ChunkInfo {
            chunk: RegistryChunk {
                k: raw.k,
                index: raw.index,
                leaves,
                siblings,
            },
            root: parse_fr(&raw.root)?,
            milestone: raw.milestone,
        })
    }

    /// `GET /api/v1/registries/{id}/proof`.
    pub async fn registry_proof(&self, id: &RegistryId) -> Result<RegistryProofInfo, ClientError> {
        self.get(&format!("/api/v1/registries/{}/proof", id.to_hex()))
            .await
    }

    /// `GET /api/v1/blocks/{id}/proof`: the milestone that confirmed the block and the
    /// Merkle path to its inclusion root, decoded (check them with
    /// `weft_crypto::certificate::verify_inclusion` and the committee's keys).
    pub async fn block_proof(&self, id: &BlockId) -> Result<BlockProof, ClientError> {
        let v: Value = self
            .get(&format!("/api/v1/blocks/{}/proof", id.to_hex()))
            .await?;
        let bad = |what: &str| ClientError::Decode(format!("block proof: {what}"));
        let bytes = v["milestone"]["block"]
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| bad("milestone block"))?;
        let block = Block::from_bytes(&bytes).map_err(|e| bad(&e.to_string()))?;
        let weft_types::Payload::Milestone(milestone) = block.payload.clone() else {
            return Err(bad("the milestone block carries no milestone"));
        };
        let siblings = v["proof"]["siblings"]
            .as_array()
            .ok_or_else(|| bad("siblings"))?
            .iter()
            .map(|s| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s.as_str().unwrap_or_default(), &mut out)
                    .map_err(|_| bad("a sibling"))?;
                Ok(out)
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok(BlockProof {
            milestone_block: block.id(),
            milestone: *milestone,
            proof: weft_crypto::InclusionProof {
                index: v["proof"]["index"].as_u64().ok_or_else(|| bad("index"))?,
                size: v["proof"]["size"].as_u64().ok_or_else(|| bad("size"))?,
                siblings,
            },
        })
    }

    /// `GET /api/v1/programs/{id}/rounds/{round}`: the round's counts in total and per
    /// distribution point (claims, entitlement delivered, double claims caught).
    pub async fn round_report(
        &self,
        program: &weft_types::ProgramId,
        round: u32,
    ) -> Result<Value, ClientError> {
        self.get(&format!("/api/v1/programs/{program}/rounds/{round}"))
            .await
    }

    /// `GET /api/v1/milestones/{index}/notes`: the notes a milestone created and spent
    /// (for wallets and shops, which try every created note against their own keys).
    pub async fn milestone_notes(&self, index: u32) -> Result<MilestoneNotes, ClientError> {
        self.get(&format!("/api/v1/milestones/{index}/notes")).await
    }

    /// `GET /api/v1/programs/{id}/notes/{note}`: whether a note is unspent or spent.
    pub async fn note_status(
        &self,
        program: &[u8; 32],
        note: &[u8; 32],
    ) -> Result<NoteStatusInfo, ClientError> {
        self.get(&format!(
            "/api/v1/programs/{}/notes/{}",
            hex::encode(program),
            hex::encode(note)
        ))
        .await
    }

    /// `GET /api/v1/programs/{id}/audit`: a value program's public totals and whether
    /// its unspent notes commit to exactly minted minus redeemed.
    pub async fn program_audit(&self, program: &[u8; 32]) -> Result<Value, ClientError> {
        self.get(&format!("/api/v1/programs/{}/audit", hex::encode(program)))
            .await
    }

    /// `GET /api/v1/audit`: [`Client::program_audit`] for every program with notes.
    pub async fn audit(&self) -> Result<Value, ClientError> {
        self.get("/api/v1/audit").await
    }

    /// Waits until the block is confirmed (polling, at most `timeout`) and returns its
    /// ledger outcome: applied, or conflicting with the reason.
    pub async fn wait_outcome(
        &self,
        id: &BlockId,
        timeout: std::time::Duration,
    ) -> Result<LedgerOutcome, ClientError> {
        let meta = self.wait_confirmed(id, timeout).await?;
        LedgerOutcome::of(&meta)
            .ok_or_else(|| ClientError::Decode(format!("block {id} confirmed without milestone")))
    }
}

/// Serde helper: 32 bytes as `0x` hex.
mod hex32 {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        weft_types::id::parse_hex_array::<32>(&s).map_err(serde::de::Error::custom)
    }

    pub mod opt {
        use serde::{Deserialize, Deserializer};

        pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            d: D,
        ) -> Result<Option<[u8; N]>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|s| weft_types::id::parse_hex_array::<N>(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// The notes one milestone created and spent.
#[derive(Debug, Clone, Deserialize)]
pub struct MilestoneNotes {
    /// The milestone.
    pub milestone: u32,
    /// Notes created (outputs of mints, transfers, redeems; claim notes).
    pub created: Vec<CreatedNote>,
    /// Notes spent.
    pub spent: Vec<SpentNote>,
}

/// A note a milestone created.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedNote {
    /// Its program.
    #[serde(with = "hex32")]
    pub program: [u8; 32],
    /// Its note id.
    #[serde(with = "hex32")]
    pub note: [u8; 32],
    /// `output` (encrypted opening) or `claim` (public amount, zero blinding).
    pub kind: String,
    /// The block that created it.
    pub block_id: BlockId,
    /// The commitment.
    #[serde(with = "hex32")]
    pub commitment: [u8; 32],
    /// The owner's one-time key.
    #[serde(with = "hex32")]
    pub owner: [u8; 32],
    /// The sender's ephemeral key (outputs).
    #[serde(default, with = "hex32::opt")]
    pub ephemeral: Option<[u8; 32]>,
    /// The encrypted opening (outputs).
    #[serde(default, with = "hex32::opt")]
    pub ciphertext: Option<[u8; weft_types::notes::OPENING_CIPHERTEXT_BYTES]>,
    /// The public amount (claim notes), as a decimal string.
    #[serde(default)]
    pub amount: Option<String>,
}

impl CreatedNote {
    /// The wire output, for trial decryption (`None` for a claim note).
    pub fn output(&self) -> Option<weft_types::notes::NoteOutput> {
        Some(weft_types::notes::NoteOutput {
            commitment: self.commitment,
            owner: self.owner,
            ephemeral: self.ephemeral?,
            ciphertext: self.ciphertext?,
        })
    }

    /// The public amount of a claim note.
    pub fn claim_amount(&self) -> Option<u64> {
        self.amount.as_deref()?.parse().ok()
    }
}

/// A note a milestone spent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpentNote {
    /// Its program.
    #[serde(with = "hex32")]
    pub program: [u8; 32],
    /// Its note id.
    #[serde(with = "hex32")]
    pub note: [u8; 32],
    /// The spending block.
    pub block_id: BlockId,
}

/// A note's status on the ledger.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteStatusInfo {
    /// `unspent` or `spent`.
    pub status: String,
    /// The milestone that created it (unspent notes).
    #[serde(default)]
    pub created_at: Option<u32>,
    /// The milestone that spent it (spent notes).
    #[serde(default)]
    pub spent_at: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_elements_parse_strictly() {
        let one = format!("0x{}01", "00".repeat(31));
        assert_eq!(parse_fr(&one).ok(), Some(Fr::from(1u64)));
        assert!(parse_fr("0x01").is_err());
        assert!(parse_fr(&format!("0x{}", "ff".repeat(32))).is_err());
        assert!(parse_fr(&format!("0x{}zz", "00".repeat(31))).is_err());
    }

    #[test]
    fn outcomes_read_metadata() {
        let mut meta: BlockMetadata = serde_json::from_value(serde_json::json!({
            "blockId": format!("0x{}", "11".repeat(32)),
            "solid": true, "referencedByMilestone": 7, "whiteFlagIndex": 0,
            "ledgerOutcome": "conflicting",
            "conflict": {"code": 9, "reason": "wrongFirstIndex", "description": "x"},
            "arrivalTime": 1, "confirmationTime": 2
        }))
        .expect("metadata");
        assert!(matches!(
            LedgerOutcome::of(&meta),
            Some(LedgerOutcome::Conflicting { milestone: 7, ref reason, .. }) if reason == "wrongFirstIndex"
        ));
        meta.ledger_outcome = "applied".into();
        meta.conflict = None;
        assert_eq!(
            LedgerOutcome::of(&meta),
            Some(LedgerOutcome::Applied { milestone: 7 })
        );
        meta.referenced_by_milestone = None;
        assert_eq!(LedgerOutcome::of(&meta), None);
    }

    #[test]
    fn resolution_reads_version() {
        let r: DidResolution = serde_json::from_value(serde_json::json!({
            "didDocument": {"id": "did:weft:x"},
            "didDocumentMetadata": {"versionId": "3", "deactivated": false},
            "didResolutionMetadata": {}
        }))
        .expect("resolution");
        assert_eq!(r.version_id(), Some(3));
        assert!(!r.deactivated());
        assert_eq!(
            percent_encode("2026-11-25T10:00:00Z"),
            "2026-11-25T10%3A00%3A00Z"
        );
    }
}

/// A block's inclusion proof: the confirming milestone and the Merkle path.
#[derive(Debug, Clone)]
pub struct BlockProof {
    /// The milestone (with its committee signatures).
    pub milestone: Milestone,
    /// The id of the block that carries it.
    pub milestone_block: BlockId,
    /// The path from the block id to the milestone's inclusion root.
    pub proof: weft_crypto::InclusionProof,
}
