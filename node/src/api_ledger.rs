//! API routes over the ledger state: registries (records, chunks, state-root proofs),
//! schemas, organisations' accreditation, device keys and DID resolution.
//!
//! Nothing here serves a single leaf or its path: a wallet downloads the whole chunk
//! of `2^k` leaves that holds its credential, so the node learns only which 1-in-2^k
//! set it belongs to. Reads that must agree with each other (a chunk and its siblings,
//! a proof and the milestone it is against) are taken while no milestone is written.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use weft_credentials::did::{
    self as did_document, resolution_error, resolution_result, DidMetadata, ResolutionError,
};
use weft_crypto::poseidon::{fr_to_bytes_be, Fr};
use weft_ledger::claims;
use weft_ledger::identity::{self, DidRecord};
use weft_ledger::registry::{self, RegistryRecord};
use weft_ledger::{RegistryProof, StateRead};
use weft_types::identity::role;
use weft_types::{BlockId, Did, ProgramId, PublicKeyBytes, RegistryId, SchemaId};

use crate::api::{ApiError, ApiResult};
use crate::core::Node;

fn hex0x(b: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(b))
}

fn fr_hex(f: &Fr) -> String {
    hex0x(&fr_to_bytes_be(f))
}

fn parse_registry_id(s: &str) -> ApiResult<RegistryId> {
    s.parse().map_err(|e| {
        ApiError::bad_request(
            "invalidRegistryId",
            format!("registry id {s:?}: {e} (64 hex digits)"),
        )
    })
}

fn parse_did(s: &str) -> ApiResult<Did> {
    s.parse()
        .map_err(|e| ApiError::bad_request("invalidDid", format!("DID {s:?}: {e}")))
}

fn roles_json(roles: u8) -> Value {
    let mut v = Vec::new();
    if roles & role::ISSUER != 0 {
        v.push("issuer");
    }
    if roles & role::DISTRIBUTION_POINT != 0 {
        v.push("distributionPoint");
    }
    json!(v)
}

/// The JSON of a registry record.
fn registry_json(id: &RegistryId, r: &RegistryRecord) -> Value {
    let chunk = 1u64 << r.chunk_bits;
    json!({
        "id": id,
        "issuer": r.issuer,
        "schema": r.schema,
        "depth": r.depth,
        "chunkBits": r.chunk_bits,
        "label": r.label,
        "issued": r.size,
        "revoked": r.revoked,
        "chunks": r.size.div_ceil(chunk),
        "root": hex0x(&r.root),
        "created": r.created,
    })
}

fn storage(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e)
}

#[derive(Deserialize)]
pub(crate) struct RegistriesQuery {
    issuer: Option<String>,
}

/// `GET /api/v1/registries[?issuer=DID]`.
pub(crate) async fn list_registries(
    State(node): State<Node>,
    Query(q): Query<RegistriesQuery>,
) -> ApiResult<Json<Value>> {
    let issuer = q.issuer.as_deref().map(parse_did).transpose()?;
    node.consistent_read(|state, latest, _| {
        let mut out = Vec::new();
        for id in registry::registry_ids(state).map_err(storage)? {
            let Some(rec) = registry::registry_record(state, &id).map_err(storage)? else {
                continue;
            };
            if issuer.is_none_or(|d| d == rec.issuer) {
                out.push(registry_json(&id, &rec));
            }
        }
        Ok(Json(json!({
            "registries": out,
            "milestone": latest.map(|l| l.index).unwrap_or(0),
        })))
    })
}

/// `GET /api/v1/registries/{id}`: the record and its recent roots.
pub(crate) async fn get_registry(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_registry_id(&id)?;
    node.consistent_read(|state, latest, _| {
        let rec = registry::registry_record(state, &id)
            .map_err(storage)?
            .ok_or_else(|| ApiError::not_found("no such registry"))?;
        let mut v = registry_json(&id, &rec);
        v["recentRoots"] = json!(registry::recent_roots(state, &id).map_err(storage)?);
        v["milestone"] = json!(latest.map(|l| l.index).unwrap_or(0));
        Ok(Json(v))
    })
}

/// `GET /api/v1/registries/{id}/chunks/{index}`: the whole chunk and its siblings.
pub(crate) async fn get_chunk(
    State(node): State<Node>,
    Path((id, index)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = parse_registry_id(&id)?;
    let index: u64 = index.parse().map_err(|_| {
        ApiError::bad_request(
            "invalidIndex",
            format!("chunk index {index:?}: a non-negative integer"),
        )
    })?;
    node.consistent_read(|state, latest, _| {
        let rec = registry::registry_record(state, &id)
            .map_err(storage)?
            .ok_or_else(|| ApiError::not_found("no such registry"))?;
        let chunks = rec.size.div_ceil(1u64 << rec.chunk_bits);
        if index >= chunks {
            return Err(ApiError::not_found(format!(
                "chunk {index} does not exist: the registry has {chunks} chunk(s)"
            )));
        }
        let chunk = registry::registry_chunk(state, &id, &rec, index).map_err(storage)?;
        Ok(Json(json!({
            "registry": id,
            "k": chunk.k,
            "index": chunk.index,
            "leaves": chunk.leaves.iter().map(fr_hex).collect::<Vec<_>>(),
            "siblings": chunk.siblings.iter().map(fr_hex).collect::<Vec<_>>(),
            "root": hex0x(&rec.root),
            "milestone": latest.map(|l| l.index).unwrap_or(0),
        })))
    })
}

/// `GET /api/v1/registries/{id}/proof`: the registry's recent roots proven against the
/// state root of the latest certified milestone (which is included).
pub(crate) async fn get_registry_proof(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_registry_id(&id)?;
    let (proof, index) = node.consistent_read(|state, latest, commitment| {
        let index = latest
            .map(|l| l.index)
            .ok_or_else(|| ApiError::not_found("no milestone yet"))?;
        let proof = RegistryProof::build(state, &id, commitment.sum_bytes(), commitment.count())
            .map_err(storage)?
            .ok_or_else(|| ApiError::not_found("no such registry"))?;
        Ok::<_, ApiError>((proof, index))
    })?;
    let (milestone, block_id) = node
        .milestone_by_index(index)
        .map_err(storage)?
        .ok_or_else(|| ApiError::internal(format!("milestone {index} missing")))?;
    // The node checks its own answer: a proof that does not verify is a bug, not data.
    proof
        .verify(&milestone.essence.state_root)
        .map_err(|e| ApiError::internal(format!("registry proof does not verify: {e}")))?;
    Ok(Json(json!({
        "proof": proof,
        "milestone": milestone,
        "milestoneBlockId": block_id,
    })))
}

/// `GET /api/v1/schemas/{id}`.
pub(crate) async fn get_schema(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id: SchemaId = id.parse().map_err(|e| {
        ApiError::bad_request(
            "invalidSchemaId",
            format!("schema id {id:?}: {e} (64 hex digits)"),
        )
    })?;
    let rec = registry::schema_record(&node.state(), &id)
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found("no such schema"))?;
    Ok(Json(json!({
        "id": id,
        "publisher": rec.publisher,
        "published": rec.published,
        "schema": rec.schema,
    })))
}

/// `GET /api/v1/organisations/{did}`: roles granted by the accreditation authority.
pub(crate) async fn get_organisation(
    State(node): State<Node>,
    Path(did): Path<String>,
) -> ApiResult<Json<Value>> {
    let did = parse_did(&did)?;
    let state = node.state();
    let record = identity::did_record(&state, &did)
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found("no such DID"))?;
    let roles = identity::roles(&state, &did).map_err(storage)?;
    let authority = identity::authority(&state).map_err(storage)? == Some(did);
    Ok(Json(json!({
        "did": did,
        "roles": roles_json(roles),
        "authority": authority,
        "deactivated": record.deactivated,
    })))
}

/// `GET /api/v1/devices/{key}`: a distribution point's device key.
pub(crate) async fn get_device(
    State(node): State<Node>,
    Path(key): Path<String>,
) -> ApiResult<Json<Value>> {
    let key: PublicKeyBytes = key.parse().map_err(|e| {
        ApiError::bad_request(
            "invalidKey",
            format!("device key {key:?}: {e} (64 hex digits)"),
        )
    })?;
    let rec = identity::device_record(&node.state(), &key)
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found("no such device key"))?;
    Ok(Json(json!({
        "key": key,
        "point": rec.point,
        "active": rec.active,
        "milestone": rec.milestone,
    })))
}

fn parse_program_id(s: &str) -> ApiResult<ProgramId> {
    s.parse().map_err(|e| {
        ApiError::bad_request(
            "invalidProgramId",
            format!("program id {s:?}: {e} (64 hex digits)"),
        )
    })
}

fn parse_round(s: &str) -> ApiResult<u32> {
    s.parse()
        .map_err(|_| ApiError::bad_request("invalidRound", format!("round {s:?}: a number (u32)")))
}

/// `GET /api/v1/programs/{id}`.
pub(crate) async fn get_program(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_program_id(&id)?;
    let rec = claims::program_record(&node.state(), &id)
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found("no such program"))?;
    Ok(Json(json!({
        "id": id,
        "owner": rec.owner,
        "announced": rec.announced,
        "program": rec.program,
    })))
}

/// `GET /api/v1/programs/{id}/rounds/{round}`: claims and entitlement delivered, in
/// total and per distribution point, and the double claims caught. Counts only: the
/// ledger keeps nothing about who claimed.
pub(crate) async fn get_round(
    State(node): State<Node>,
    Path((id, round)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = parse_program_id(&id)?;
    let round = parse_round(&round)?;
    node.consistent_read(|state, latest, _| {
        let rec = claims::program_record(state, &id)
            .map_err(storage)?
            .ok_or_else(|| ApiError::not_found("no such program"))?;
        let r = rec
            .program
            .round(round)
            .ok_or_else(|| ApiError::not_found("the program has no such round"))?;
        let total = claims::claim_counts(state, &id, round, None).map_err(storage)?;
        let mut points = Vec::new();
        for p in claims::round_points(state, &id, round).map_err(storage)? {
            let c = claims::claim_counts(state, &id, round, Some(&p)).map_err(storage)?;
            points.push(json!({
                "point": p,
                "claims": c.claims,
                "entitlement": c.entitlement,
                "doubleClaims": c.double_claims,
            }));
        }
        Ok(Json(json!({
            "program": id,
            "round": round,
            "opens": r.opens,
            "closes": r.closes,
            "unit": rec.program.entitlement.unit,
            "claims": total.claims,
            "entitlement": total.entitlement,
            "doubleClaims": total.double_claims,
            "points": points,
            "milestone": latest.map(|l| l.index).unwrap_or(0),
        })))
    })
}

/// `GET /api/v1/programs/{id}/rounds/{round}/nullifiers`: the round's used nullifiers
/// (pseudo-random values that only the household's own key reproduces), for points
/// that verify offline.
pub(crate) async fn get_nullifiers(
    State(node): State<Node>,
    Path((id, round)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = parse_program_id(&id)?;
    let round = parse_round(&round)?;
    let prefix = weft_ledger::keys::nullifier_prefix(&id, round);
    let latest = node.latest_milestone().map(|l| l.index).unwrap_or(0);
    let mut out = Vec::new();
    for (k, v) in node.ledger_scan(&prefix).map_err(storage)? {
        let (Some(n), Some(block), Some(m)) = (
            k.get(prefix.len()..prefix.len() + 32),
            v.get(..32),
            v.get(32..36),
        ) else {
            return Err(ApiError::internal("malformed nullifier entry"));
        };
        let mut b = [0u8; 32];
        b.copy_from_slice(block);
        out.push(json!({
            "nullifier": format!("0x{}", hex::encode(n)),
            "blockId": BlockId(b),
            "milestone": u32::from_le_bytes([m[0], m[1], m[2], m[3]]),
        }));
    }
    Ok(Json(json!({
        "program": id,
        "round": round,
        "nullifiers": out,
        "milestone": latest,
    })))
}

/// `GET /api/v1/eligibility/key`: the network's eligibility verifying key (from the
/// genesis) and its BLAKE2b-256 hash, which points pin.
pub(crate) async fn get_eligibility_key(State(node): State<Node>) -> ApiResult<Json<Value>> {
    let key = node
        .config
        .genesis
        .eligibility_key
        .as_ref()
        .ok_or_else(|| ApiError::not_found("this network has no eligibility key"))?;
    Ok(Json(json!({
        "verifyingKey": hex::encode(key),
        "hash": hex::encode(weft_types::hash::blake2b256(&[key])),
    })))
}

#[derive(Deserialize)]
pub(crate) struct ResolveQuery {
    #[serde(rename = "versionId")]
    version_id: Option<String>,
    #[serde(rename = "versionTime")]
    version_time: Option<String>,
}

/// Picks the version a resolution asks for.
fn pick_version(
    state: &dyn StateRead,
    did: &Did,
    current: DidRecord,
    q: &ResolveQuery,
) -> Result<Option<DidRecord>, ApiError> {
    if let Some(v) = &q.version_id {
        let n: u32 = v.parse().map_err(|_| {
            ApiError::bad_request(
                "invalidQuery",
                format!("versionId {v:?}: a version number (1, 2, ...)"),
            )
        })?;
        return identity::did_version(state, did, n).map_err(storage);
    }
    if let Some(t) = &q.version_time {
        let at = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| {
                ApiError::bad_request(
                    "invalidQuery",
                    format!("versionTime {t:?}: an RFC 3339 time ({e})"),
                )
            })?;
        // Metadata times are written to the second, so a time read off `created` or
        // `updated` must find that version: compare whole seconds. The answer is the
        // latest version made at or before the asked second.
        let asked = at.unix_timestamp() as i128;
        let mut found = None;
        for v in 1..=current.version {
            match identity::did_version(state, did, v).map_err(storage)? {
                Some(r) if (r.updated.timestamp / 1000) as i128 <= asked => found = Some(r),
                _ => break,
            }
        }
        return Ok(found);
    }
    Ok(Some(current))
}

/// The DID Resolution result of `did` (as `application/did-resolution+json`), or the
/// resolution error, with the status of the DID Resolution HTTP binding.
fn resolve(node: &Node, did: &str, q: &ResolveQuery) -> (StatusCode, Value) {
    let fail = |e: ResolutionError| {
        (
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            resolution_error(e),
        )
    };
    let Ok(parsed) = did.parse::<Did>() else {
        return fail(ResolutionError::for_unparsable(did));
    };
    let state = node.state();
    let current = match identity::did_record(&state, &parsed) {
        Ok(Some(r)) => r,
        Ok(None) => return fail(ResolutionError::NotFound),
        Err(e) => return internal_resolution(e),
    };
    let latest_version = current.version;
    let record = match pick_version(&state, &parsed, current, q) {
        Ok(Some(r)) => r,
        Ok(None) => return fail(ResolutionError::NotFound),
        Err(e) if e.status() == StatusCode::BAD_REQUEST => {
            return fail(ResolutionError::InvalidOptions)
        }
        Err(e) => return internal_resolution(e),
    };
    let created_ms = match identity::did_version(&state, &parsed, 1) {
        Ok(Some(first)) => first.created.timestamp,
        _ => record.created.timestamp,
    };
    let next = if record.version < latest_version {
        match identity::did_version(&state, &parsed, record.version + 1) {
            Ok(Some(n)) => Some((n.version as u64, n.updated.timestamp)),
            Ok(None) => None,
            Err(e) => return internal_resolution(e),
        }
    } else {
        None
    };
    let document = if record.deactivated {
        did_document::deactivated_document(&parsed)
    } else {
        did_document::did_document(&parsed, &record.keys, &record.services)
    };
    let metadata = DidMetadata {
        created_ms,
        updated_ms: record.updated.timestamp,
        version_id: record.version as u64,
        deactivated: record.deactivated,
        next_version_id: next.map(|n| n.0),
        next_update_ms: next.map(|n| n.1),
    };
    match resolution_result(&document, &metadata) {
        // A deactivated DID answers 410 Gone with its (empty) document and metadata.
        Ok(v) if record.deactivated => (StatusCode::GONE, v),
        Ok(v) => (StatusCode::OK, v),
        Err(e) => internal_resolution(e),
    }
}

fn internal_resolution(e: impl std::fmt::Display) -> (StatusCode, Value) {
    tracing::error!(message = %e, "DID resolution failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({
            "didDocument": null,
            "didDocumentMetadata": {},
            "didResolutionMetadata": {"error": "internalError"},
        }),
    )
}

/// `GET /api/v1/identifiers/{did}` and `GET /1.0/identifiers/{did}`.
pub(crate) async fn resolve_did(
    State(node): State<Node>,
    Path(did): Path<String>,
    Query(q): Query<ResolveQuery>,
) -> Response {
    let (status, body) = resolve(&node, &did, &q);
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/did-resolution+json; charset=utf-8",
        )],
        body.to_string(),
    )
        .into_response()
}
