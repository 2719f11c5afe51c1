//! The REST and WebSocket API (axum), under `/api/v1`, and `/metrics`.
//!
//! Every error is a JSON object `{"error": {"code": ..., "message": ...}}` with a 4xx
//! status for the client's mistakes and 5xx only for the node's own failures. Path and
//! body extraction is done by hand so that malformed input gets the same JSON errors
//! as every other mistake. `specs/openapi.json` describes every route.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use weft_ledger::ConflictReason;
use weft_tangle::AttachOutcome;
use weft_types::{Block, BlockId, Milestone};

use crate::api_ledger;
use crate::api_notes;
use crate::api_snapshots;
use crate::core::{Node, SubmitError, Submitted};

/// The OpenAPI document (kept in `specs/`).
pub const OPENAPI: &str = include_str!("../../specs/openapi.json");

/// An API error: status, stable code, message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: std::borrow::Cow<'static, str>,
    message: String,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "notFound", message)
    }
    /// 410: the thing existed and was confirmed, but this node pruned its body.
    pub(crate) fn pruned(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::GONE, "pruned", message)
    }
    pub(crate) fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!(%message, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the node's log",
        )
    }
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> ApiError {
        let code = match &e {
            SubmitError::Decode(_) => "invalidBlock",
            SubmitError::Json(_) => "invalidJson",
            SubmitError::WrongNetwork { .. } => "wrongNetwork",
            SubmitError::FromTheFuture { .. } => "issuingTimeInFuture",
            SubmitError::UnknownIssuer { .. } => "unknownIssuer",
            SubmitError::InsufficientWork { .. } => "insufficientWork",
            SubmitError::AnonymousPayload(_) => "anonymousPayloadNotAllowed",
            SubmitError::MilestoneNotAccepted => "milestoneNotAccepted",
            SubmitError::InvalidSignature(_) => "invalidSignature",
            SubmitError::Overloaded(_) => {
                return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "overloaded", e.to_string())
            }
            SubmitError::SolidifierFull(_) => {
                return ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "solidifierFull",
                    e.to_string(),
                )
            }
            SubmitError::ShuttingDown => {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shuttingDown",
                    e.to_string(),
                )
            }
            SubmitError::Storage(m) => return ApiError::internal(m),
            SubmitError::Notes { reason, .. } => {
                let code = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "invalidNotes".into());
                return ApiError {
                    status: StatusCode::BAD_REQUEST,
                    code: code.into(),
                    message: e.to_string(),
                };
            }
        };
        ApiError::bad_request(code, e.to_string())
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

fn parse_block_id(s: &str) -> ApiResult<BlockId> {
    s.parse().map_err(|e| {
        ApiError::bad_request(
            "invalidBlockId",
            format!("block id {s:?}: {e} (64 hex digits)"),
        )
    })
}

/// A query parameter that must be an integer in `1..=max` (`default` when absent).
fn query_number(
    value: Option<&str>,
    name: &str,
    code: &'static str,
    default: usize,
    max: usize,
) -> ApiResult<usize> {
    match value {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(code, format!("{name} {s:?}: an integer in 1..={max}"))
            }),
    }
}

/// Builds the router.
pub fn router(node: Node) -> Router {
    let limit = node.config.max_body_bytes;
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/info", get(info))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/blocks", post(submit_block))
        .route("/api/v1/blocks/{id}", get(get_block))
        .route("/api/v1/blocks/{id}/metadata", get(get_metadata))
        .route("/api/v1/blocks/{id}/children", get(get_children))
        .route("/api/v1/blocks/{id}/proof", get(get_block_proof))
        .route("/api/v1/tips", get(get_tips))
        .route("/api/v1/milestones/latest", get(latest_milestone))
        .route("/api/v1/milestones/{index}", get(milestone_by_index))
        .route("/api/v1/ledger/anchors/{digest}", get(get_anchor))
        .route("/api/v1/identifiers/{did}", get(api_ledger::resolve_did))
        .route("/1.0/identifiers/{did}", get(api_ledger::resolve_did))
        .route(
            "/api/v1/organisations/{did}",
            get(api_ledger::get_organisation),
        )
        .route("/api/v1/devices/{key}", get(api_ledger::get_device))
        .route("/api/v1/schemas/{id}", get(api_ledger::get_schema))
        .route("/api/v1/registries", get(api_ledger::list_registries))
        .route("/api/v1/registries/{id}", get(api_ledger::get_registry))
        .route(
            "/api/v1/registries/{id}/chunks/{index}",
            get(api_ledger::get_chunk),
        )
        .route(
            "/api/v1/registries/{id}/proof",
            get(api_ledger::get_registry_proof),
        )
        .route("/api/v1/programs/{id}", get(api_ledger::get_program))
        .route(
            "/api/v1/programs/{id}/rounds/{round}",
            get(api_ledger::get_round),
        )
        .route(
            "/api/v1/programs/{id}/rounds/{round}/nullifiers",
            get(api_ledger::get_nullifiers),
        )
        .route("/api/v1/snapshots", get(api_snapshots::list_snapshots))
        .route("/api/v1/snapshots/{name}", get(api_snapshots::get_snapshot))
        .route("/api/v1/audit", get(api_notes::get_audits))
        .route("/api/v1/programs/{id}/audit", get(api_notes::get_audit))
        .route(
            "/api/v1/programs/{id}/notes/{note}",
            get(api_notes::get_note),
        )
        .route(
            "/api/v1/milestones/{index}/notes",
            get(api_notes::get_milestone_notes),
        )
        .route(
            "/api/v1/eligibility/key",
            get(api_ledger::get_eligibility_key),
        )
        .route("/api/v1/events", get(events))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("no such route; see /api/v1/openapi.json") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(node)
}

/// Gives the errors produced by layers and extractors (body limit, wrong method, failed
/// WebSocket handshake) the same JSON shape as the handlers' own.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json") || c.contains("+json"));
    if is_json || !status.is_client_error() {
        return resp;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payloadTooLarge",
            "request body is over the node's size limit",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "methodNotAllowed",
            "method not allowed on this route; see /api/v1/openapi.json",
        ),
        StatusCode::UPGRADE_REQUIRED => (
            "upgradeRequired",
            "WebSocket handshake on a connection that cannot be upgraded",
        ),
        _ => (
            "badRequest",
            "malformed request (query string, headers or WebSocket handshake)",
        ),
    };
    ApiError::new(status, code, message).into_response()
}

async fn health(State(node): State<Node>) -> Response {
    let latest = node.latest_milestone();
    let now = crate::core::now_ms();
    let interval = node.config.milestone_interval_ms;
    // Healthy when a milestone was confirmed within five intervals (or the node just
    // started and is within its first five).
    let healthy = match latest {
        Some(l) => now.saturating_sub(l.timestamp) <= 5 * interval.max(1000),
        None => node.started.elapsed().as_millis() as u64 <= 5 * interval.max(1000),
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"healthy": healthy, "latestMilestone": latest.map(|l| l.index)})),
    )
        .into_response()
}

async fn info(State(node): State<Node>) -> ApiResult<Json<Value>> {
    let latest = node.latest_milestone();
    let (tips, unsolid, pending) = node.tangle_counts();
    let state_root = match latest {
        Some(l) => node
            .milestone_by_index(l.index)
            .map_err(ApiError::internal)?
            .map(|(m, _)| m.essence.state_root),
        None => None,
    };
    let counter = |key: &[u8]| -> ApiResult<u64> {
        Ok(node
            .ledger_value(key)
            .map_err(ApiError::internal)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0))
    };
    let ledger = json!({
        "appliedBlocks": counter(weft_ledger::keys::APPLIED)?,
        "conflictingBlocks": counter(weft_ledger::keys::CONFLICTING)?,
        "anchors": counter(weft_ledger::keys::ANCHORS)?,
    });
    let latest_json = latest.map(|l| json!({"index": l.index, "milestoneId": l.id, "blockId": l.block_id, "timestamp": l.timestamp}));
    // The committee that certifies the next milestone, and a change already confirmed
    // that takes effect later (at most one is pending at a time).
    let next_index = latest.map(|l| l.index).unwrap_or(0) + 1;
    let current = node.committee_for(next_index).map_err(ApiError::internal)?;
    let next = weft_ledger::pending_committee_change(&node.state(), next_index)
        .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "name": "weft-node",
        "version": env!("CARGO_PKG_VERSION"),
        "networkName": node.config.genesis.network_name,
        "networkId": node.network_id.0.to_string(),
        "protocolVersion": weft_types::PROTOCOL_VERSION,
        "dev": node.config.dev,
        "latestMilestone": latest_json,
        "confirmedMilestone": latest_json,
        "stateRoot": state_root,
        "ledger": ledger,
        "milestoneIntervalMs": node.config.milestone_interval_ms,
        "powDifficulty": node.config.pow_difficulty,
        "committee": committee_json(&current),
        "committeeEpoch": node.config.genesis.committee_epoch,
        "nextCommittee": next.filter(|(_, c)| c.id() != current.id()).map(|(at, c)| {
            let mut j = committee_json(&c);
            j["effectiveIndex"] = json!(at);
            j
        }),
        "tips": tips,
        "solidifierQueue": unsolid,
        "missingParents": node.missing_parents(64),
        "pendingBlocks": pending,
        "prunedBelow": node.pruned_below().map_err(ApiError::internal)?,
        "peers": [],
        "uptimeSeconds": node.started.elapsed().as_secs(),
    })))
}

fn committee_json(c: &weft_types::Committee) -> Value {
    json!({ "id": c.id(), "threshold": c.threshold(), "members": c.members() })
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn submit_block(
    State(node): State<Node>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with(BLOCK_BATCH_MEDIA_TYPE) {
        return submit_batch(&node, &body).await;
    }
    let result = if content_type.starts_with("application/json") {
        node.submit_json(&body).await
    } else if content_type.starts_with("application/octet-stream") || content_type.is_empty() {
        node.submit_bytes(body.to_vec()).await
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupportedMediaType",
            format!("content type {content_type:?}: send application/octet-stream (canonical bytes), application/json, or {BLOCK_BATCH_MEDIA_TYPE} (length-prefixed canonical blocks)"),
        ));
    };
    let (status, body) = submission_answer(result);
    Ok((status, Json(body)).into_response())
}

/// The status and JSON answer for one submission: 201 solid, 202 waiting for parents,
/// 200 already stored, or the error object with its status.
fn submission_answer(result: Result<Submitted, SubmitError>) -> (StatusCode, Value) {
    let submitted = match result {
        Ok(Submitted {
            outcome: AttachOutcome::QueueFull { waiting },
            ..
        }) => Err(SubmitError::SolidifierFull(waiting)),
        other => other,
    };
    match submitted {
        Ok(Submitted {
            block_id,
            outcome: AttachOutcome::Waiting { missing },
        }) => (
            StatusCode::ACCEPTED,
            json!({"blockId": block_id, "solid": false, "missingParents": missing}),
        ),
        Ok(Submitted {
            block_id,
            outcome: AttachOutcome::Duplicate,
        }) => (
            StatusCode::OK,
            json!({"blockId": block_id, "duplicate": true}),
        ),
        Ok(Submitted { block_id, .. }) => (
            StatusCode::CREATED,
            json!({"blockId": block_id, "solid": true}),
        ),
        Err(e) => {
            let e = ApiError::from(e);
            (
                e.status,
                json!({"error": {"code": e.code, "message": e.message}}),
            )
        }
    }
}

/// Media type of a batch submission: frames of `u32 LE length || canonical block bytes`.
pub const BLOCK_BATCH_MEDIA_TYPE: &str = "application/vnd.weft.blocks";
/// Most blocks in one batch submission.
pub const MAX_BATCH_BLOCKS: usize = 1024;

/// Splits a batch body into its frames, naming the first malformed one.
fn batch_frames(body: &[u8]) -> ApiResult<Vec<Vec<u8>>> {
    let mut frames = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let position = frames.len();
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(ApiError::bad_request(
                "invalidBatch",
                format!("frame {position}: truncated length prefix"),
            ));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > weft_types::MAX_BLOCK_BYTES || len > tail.len() {
            return Err(ApiError::bad_request(
                "invalidBatch",
                format!("frame {position}: length {len} exceeds the block limit or the body"),
            ));
        }
        frames.push(tail[..len].to_vec());
        rest = &tail[len..];
        if frames.len() > MAX_BATCH_BLOCKS {
            return Err(ApiError::bad_request(
                "invalidBatch",
                format!("more than {MAX_BATCH_BLOCKS} blocks"),
            ));
        }
    }
    if frames.is_empty() {
        return Err(ApiError::bad_request("invalidBatch", "empty batch"));
    }
    Ok(frames)
}

/// Submits the blocks of a batch in order (a block may name an earlier one of the same
/// batch as parent) and answers one result per block; one bad block does not affect the
/// others. Agencies issue in bulk, and one request for many blocks saves most of the
/// per-request cost.
async fn submit_batch(node: &Node, body: &[u8]) -> ApiResult<Response> {
    let frames = batch_frames(body)?;
    let results =
        futures_util::future::join_all(frames.into_iter().map(|f| node.submit_bytes(f))).await;
    let results: Vec<Value> = results
        .into_iter()
        .map(|r| submission_answer(r).1)
        .collect();
    Ok((StatusCode::OK, Json(json!({"results": results}))).into_response())
}

fn wants_bytes(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/octet-stream"))
}

async fn get_block(
    State(node): State<Node>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_block_id(&id)?;
    let Some(bytes) = node.block_bytes(&id).map_err(ApiError::internal)? else {
        // Confirmed (metadata kept) but without a body: pruned, for good. The genesis id
        // is virtual and never stored.
        let meta = if id == BlockId::GENESIS {
            None
        } else {
            node.block_metadata(&id).map_err(ApiError::internal)?
        };
        return Err(match meta.and_then(|m| m.referenced_by) {
            Some(index) => ApiError::pruned(format!(
                "block {id} (confirmed by milestone {index}) was pruned from this node; its \
                 metadata and inclusion proof are still served"
            )),
            None => ApiError::not_found(format!("block {id} is not stored")),
        });
    };
    if wants_bytes(&headers) {
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response());
    }
    let block = Block::from_bytes(&bytes).map_err(ApiError::internal)?;
    Ok(Json(block).into_response())
}

async fn get_metadata(State(node): State<Node>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_block_id(&id)?;
    let meta = node
        .block_metadata(&id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("block {id} is not stored")))?;
    let ledger_outcome = match (meta.referenced_by, meta.conflict) {
        (None, _) => "pending",
        (Some(_), 0) => "applied",
        (Some(_), _) => "conflicting",
    };
    let conflict = ConflictReason::from_code(meta.conflict)
        .map(|r| json!({"code": meta.conflict, "reason": r, "description": r.describe()}));
    Ok(Json(json!({
        "blockId": id,
        "solid": meta.solid,
        "referencedByMilestone": meta.referenced_by,
        "whiteFlagIndex": meta.white_flag_index,
        "ledgerOutcome": ledger_outcome,
        "conflict": conflict,
        "arrivalTime": meta.arrival_time,
        "confirmationTime": meta.confirmation_time,
    })))
}

/// `GET /api/v1/blocks/{id}/proof`: the certified milestone that confirmed the block
/// (its block, hex) and the Merkle path from the block id to that milestone's inclusion
/// root; `weft_crypto::certificate::verify_inclusion` checks it offline with only the
/// committee's keys.
async fn get_block_proof(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_block_id(&id)?;
    let meta = node
        .block_metadata(&id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("block {id} is not stored")))?;
    let (Some(index), Some(position)) = (meta.referenced_by, meta.white_flag_index) else {
        return Err(ApiError::not_found(format!(
            "block {id} is not confirmed by a milestone yet"
        )));
    };
    let (_, milestone_block) = node
        .milestone_by_index(index)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("milestone {index} is not stored")))?;
    let list = weft_tangle::read::white_flag_list(node.store.as_ref(), index)
        .map_err(ApiError::internal)?
        .unwrap_or_default();
    let proof =
        weft_crypto::InclusionProof::build(&list, position as usize).map_err(ApiError::internal)?;
    let bytes = node
        .block_bytes(&milestone_block)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("milestone {index}'s block is not stored")))?;
    Ok(Json(json!({
        "blockId": id,
        "milestone": {"index": index, "blockId": milestone_block, "block": hex::encode(bytes)},
        "proof": {
            "index": proof.index,
            "size": proof.size,
            "siblings": proof.siblings.iter().map(hex::encode).collect::<Vec<_>>(),
        },
    })))
}

#[derive(Deserialize)]
struct ChildrenQuery {
    limit: Option<String>,
}

async fn get_children(
    State(node): State<Node>,
    Path(id): Path<String>,
    Query(q): Query<ChildrenQuery>,
) -> ApiResult<Json<Value>> {
    let id = parse_block_id(&id)?;
    let limit = query_number(q.limit.as_deref(), "limit", "invalidLimit", 1000, 10_000)?;
    if node
        .block_metadata(&id)
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::not_found(format!("block {id} is not stored")));
    }
    let children =
        weft_tangle::read::children(node.store.as_ref(), &id, limit).map_err(ApiError::internal)?;
    Ok(Json(
        json!({"blockId": id, "limit": limit, "count": children.len(), "children": children}),
    ))
}

#[derive(Deserialize)]
struct TipsQuery {
    count: Option<String>,
}

async fn get_tips(State(node): State<Node>, Query(q): Query<TipsQuery>) -> ApiResult<Json<Value>> {
    let count = query_number(
        q.count.as_deref(),
        "count",
        "invalidCount",
        4,
        weft_types::MAX_PARENTS,
    )?;
    Ok(Json(json!({"tips": node.select_tips(count)})))
}

fn milestone_json(m: &Milestone, block_id: BlockId, confirmed: Option<usize>) -> Value {
    json!({
        "index": m.essence.index,
        "milestoneId": m.id(),
        "blockId": block_id,
        "timestamp": m.essence.timestamp,
        "previousMilestoneId": m.essence.previous_milestone_id,
        "parents": m.essence.parents,
        "inclusionRoot": m.essence.inclusion_root,
        "stateRoot": m.essence.state_root,
        "committeeId": m.essence.committee_id,
        "signatures": m.signatures,
        "confirmedBlocks": confirmed,
    })
}

async fn latest_milestone(State(node): State<Node>) -> ApiResult<Json<Value>> {
    let latest = node
        .latest_milestone()
        .ok_or_else(|| ApiError::not_found("no milestone yet"))?;
    milestone_response(&node, latest.index, false)
}

#[derive(Deserialize)]
struct MilestoneQuery {
    blocks: Option<String>,
}

async fn milestone_by_index(
    State(node): State<Node>,
    Path(index): Path<String>,
    Query(q): Query<MilestoneQuery>,
) -> ApiResult<Json<Value>> {
    let index: u32 = index.parse().ok().filter(|i| *i >= 1).ok_or_else(|| {
        ApiError::bad_request(
            "invalidIndex",
            format!("milestone index {index:?}: an integer >= 1"),
        )
    })?;
    let with_blocks = match q.blocks.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalidQuery",
                format!("blocks={other:?}: true or false"),
            ))
        }
    };
    milestone_response(&node, index, with_blocks)
}

fn milestone_response(node: &Node, index: u32, with_blocks: bool) -> ApiResult<Json<Value>> {
    // Serve only milestones whose batch is flushed (the in-memory latest follows the flush).
    let latest = node.latest_milestone().map(|l| l.index).unwrap_or(0);
    if index > latest {
        return Err(ApiError::not_found(format!(
            "milestone {index} does not exist yet"
        )));
    }
    let (m, block_id) = node
        .milestone_by_index(index)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("milestone {index} does not exist yet")))?;
    let list = weft_tangle::read::white_flag_list(node.store.as_ref(), index)
        .map_err(ApiError::internal)?
        .unwrap_or_default();
    let mut v = milestone_json(&m, block_id, Some(list.len()));
    if with_blocks {
        v["blocks"] = json!(list);
    }
    Ok(Json(v))
}

async fn get_anchor(
    State(node): State<Node>,
    Path(digest): Path<String>,
) -> ApiResult<Json<Value>> {
    let d: [u8; 32] = weft_types::id::parse_hex_array(&digest).map_err(|e| {
        ApiError::bad_request("invalidDigest", format!("anchor digest {digest:?}: {e}"))
    })?;
    let v = node
        .ledger_value(&weft_ledger::keys::anchor(&d))
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("no confirmed anchor with that digest"))?;
    if v.len() != 36 {
        return Err(ApiError::internal("anchor entry has the wrong length"));
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(&v[..32]);
    let milestone = u32::from_le_bytes([v[32], v[33], v[34], v[35]]);
    if milestone > node.latest_milestone().map(|l| l.index).unwrap_or(0) {
        return Err(ApiError::not_found("no confirmed anchor with that digest"));
    }
    Ok(Json(
        json!({"digest": hex::encode(d), "blockId": BlockId(id), "milestone": milestone}),
    ))
}

#[derive(Deserialize)]
struct EventsQuery {
    topics: Option<String>,
}

async fn events(
    State(node): State<Node>,
    Query(q): Query<EventsQuery>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let topics: Vec<String> = match q.topics {
        None => vec!["blocks".into(), "milestones".into(), "confirmations".into()],
        Some(t) => t.split(',').map(|s| s.trim().to_string()).collect(),
    };
    if let Some(bad) = topics
        .iter()
        .find(|t| !["blocks", "milestones", "confirmations"].contains(&t.as_str()))
    {
        return Err(ApiError::bad_request(
            "invalidTopic",
            format!("topic {bad:?}: blocks, milestones or confirmations"),
        ));
    }
    let rx = node.events.subscribe();
    let wants_blocks = topics.iter().any(|t| t == "blocks");
    Ok(ws.on_upgrade(move |socket| async move {
        if wants_blocks {
            node.block_subscribers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        stream_events(socket, rx, topics).await;
        if wants_blocks {
            node.block_subscribers
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }))
}

async fn stream_events(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<Arc<crate::events::Event>>,
    topics: Vec<String>,
) {
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Ok(e) => {
                    if !topics.iter().any(|t| t == e.topic()) {
                        continue;
                    }
                    let Ok(text) = serde_json::to_string(e.as_ref()) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let note = json!({"type": "lagged", "missed": n}).to_string();
                    if socket.send(Message::Text(note.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
        }
    }
}

async fn metrics(State(node): State<Node>) -> Response {
    node.refresh_gauges();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        node.metrics.render(),
    )
        .into_response()
}
