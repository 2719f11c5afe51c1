//! A client for the Weft node's API, used by the CLIs, the bench and the tests.
//!
//! Thin on purpose: typed requests and responses for the `/api/v1` routes, the node's
//! JSON errors surfaced as [`ClientError::Api`] with their stable code, and the event
//! stream as a `futures` stream of JSON values.

use futures_util::{SinkExt, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use weft_types::{Block, BlockId, InclusionRoot, MilestoneId, MilestoneSignature, StateRoot};

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
