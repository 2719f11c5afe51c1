//! API routes over confidential entitlements: a program's public totals and audit, a
//! note's status, and the notes each milestone created (for wallets to scan).
//!
//! Nothing here can tell whose a note is or how much it holds: the ledger has
//! commitments, one-time keys and ciphertexts only. Wallets and shops download every
//! note a milestone created and try to decrypt each one locally, so the node never
//! learns which notes they look for.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use weft_ledger::notes::{self, parse_unspent, NoteTotals};
use weft_ledger::{keys, NoteStatus};
use weft_types::{Payload, ProgramId};

use crate::api::{ApiError, ApiResult};
use crate::core::Node;

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn storage(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e)
}

fn parse_program_id(s: &str) -> ApiResult<ProgramId> {
    s.parse().map_err(|e| {
        ApiError::bad_request(
            "invalidProgramId",
            format!("program id {s:?}: {e} (64 hex digits)"),
        )
    })
}

fn parse_note_id(s: &str) -> ApiResult<[u8; 32]> {
    weft_types::id::parse_hex_array::<32>(s).map_err(|e| {
        ApiError::bad_request(
            "invalidNoteId",
            format!("note id {s:?}: {e} (64 hex digits)"),
        )
    })
}

/// The totals as JSON (amounts as decimal strings: they may exceed 2^53).
pub(crate) fn totals_json(t: &NoteTotals) -> Value {
    json!({
        "minted": t.minted.to_string(),
        "redeemed": t.redeemed.to_string(),
        "outstanding": t.minted.saturating_sub(t.redeemed).to_string(),
        "unspentNotes": t.unspent,
        "spentNotes": t.spent,
        "mints": t.mints,
        "claimNotes": t.claim_notes,
        "transfers": t.transfers,
        "redeems": t.redeems,
        "unspentCommitmentSum": hex0x(&t.unspent_sum),
        "kernelSum": hex0x(&t.kernel_sum),
    })
}

/// A program's audit, recomputed from its unspent-note and kernel entries (not from
/// the running sums), with the running sums' verdict beside it.
pub fn audit_program(node: &Node, id: &ProgramId) -> ApiResult<Value> {
    let note_prefix = keys::note_prefix(id);
    let kernel_prefix = keys::kernel_prefix(id);
    let totals_key = keys::note_totals(id);
    let (latest, scans) = node
        .ledger_scan_at(&[&note_prefix, &kernel_prefix, &totals_key])
        .map_err(storage)?;
    let [unspent, kernels, totals] = <[_; 3]>::try_from(scans)
        .map_err(|_| ApiError::internal("ledger scan returned the wrong number of lists"))?;
    let totals = match totals.into_iter().find(|(k, _)| *k == totals_key) {
        Some((_, v)) => NoteTotals::from_bytes(&v).map_err(storage)?,
        None => NoteTotals::default(),
    };
    let commitments = unspent
        .iter()
        .map(|(_, v)| parse_unspent(v).map(|(c, _)| c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(storage)?;
    let excesses = kernels
        .iter()
        .map(|(_, v)| <[u8; 32]>::try_from(v.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::internal("malformed kernel entry"))?;
    let recomputed =
        weft_entitlements::audit(totals.minted, totals.redeemed, &commitments, &excesses);
    let running = totals.audit();
    let counts_agree = commitments.len() as u64 == totals.unspent;
    let ok = recomputed.is_ok() && running.is_ok() && counts_agree;
    let mut v = totals_json(&totals);
    v["program"] = json!(id);
    v["conservationOk"] = json!(ok);
    v["checkedUnspentNotes"] = json!(commitments.len());
    v["checkedKernels"] = json!(excesses.len());
    if let Err(e) = recomputed {
        v["problem"] = json!(e.to_string());
    } else if let Err(e) = running {
        v["problem"] = json!(format!("running sums: {e}"));
    } else if !counts_agree {
        v["problem"] = json!("the unspent count differs from the unspent entries");
    }
    v["milestone"] = json!(latest.map(|l| l.index).unwrap_or(0));
    Ok(v)
}

/// `GET /api/v1/programs/{id}/audit`: the program's public totals and whether the
/// unspent notes commit to exactly minted minus redeemed (`specs/entitlements.md` §8),
/// checked over every unspent note and kernel; no amount of any note is used.
pub(crate) async fn get_audit(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_program_id(&id)?;
    if weft_ledger::claims::program_record(&node.state(), &id)
        .map_err(storage)?
        .is_none()
    {
        return Err(ApiError::not_found("no such program"));
    }
    audit_program(&node, &id).map(Json)
}

/// `GET /api/v1/audit`: [`get_audit`] for every program that has notes.
pub(crate) async fn get_audits(State(node): State<Node>) -> ApiResult<Json<Value>> {
    let prefix = b"notetotals/";
    let mut programs = Vec::new();
    for (k, _) in node.ledger_scan(prefix).map_err(storage)? {
        let Some(raw) = k
            .get(prefix.len()..)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        else {
            return Err(ApiError::internal("malformed note totals key"));
        };
        let id = ProgramId(weft_types::RegistryId(raw));
        programs.push(audit_program(&node, &id)?);
    }
    let ok = programs.iter().all(|p| p["conservationOk"] == json!(true));
    Ok(Json(json!({ "conservationOk": ok, "programs": programs })))
}

/// `GET /api/v1/programs/{id}/notes/{note}`: unspent (with its commitment and the
/// milestone that created it) or spent (with the milestone that spent it).
pub(crate) async fn get_note(
    State(node): State<Node>,
    Path((id, note)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = parse_program_id(&id)?;
    let note = parse_note_id(&note)?;
    match notes::note_status(&node.state(), &id, &note).map_err(storage)? {
        Some(NoteStatus::Unspent {
            commitment,
            created,
        }) => Ok(Json(json!({
            "program": id,
            "note": hex0x(&note),
            "status": "unspent",
            "commitment": hex0x(&commitment),
            "createdAt": created,
        }))),
        Some(NoteStatus::Spent { spent }) => Ok(Json(json!({
            "program": id,
            "note": hex0x(&note),
            "status": "spent",
            "spentAt": spent,
        }))),
        None => Err(ApiError::not_found("no such note in this program")),
    }
}

/// `GET /api/v1/milestones/{index}/notes`: every note the milestone created (outputs
/// with their encrypted openings, and claim notes with their public amount) and every
/// note it spent, from the blocks it applied.
pub(crate) async fn get_milestone_notes(
    State(node): State<Node>,
    Path(index): Path<String>,
) -> ApiResult<Json<Value>> {
    let index: u32 = index.parse().ok().filter(|i| *i >= 1).ok_or_else(|| {
        ApiError::bad_request(
            "invalidIndex",
            format!("milestone index {index:?}: an integer >= 1"),
        )
    })?;
    let latest = node.latest_milestone().map(|l| l.index).unwrap_or(0);
    if index > latest {
        return Err(ApiError::not_found(format!(
            "milestone {index} does not exist yet"
        )));
    }
    // The notes are read from the blocks' bodies: without them the answer would be
    // silently incomplete, which a wallet scanning for its notes must not get.
    if index < node.pruned_below().map_err(storage)? {
        return Err(ApiError::pruned(format!(
            "the blocks of milestone {index} were pruned from this node; ask a node that \
             keeps them"
        )));
    }
    let list = weft_tangle::read::white_flag_list(node.store.as_ref(), index)
        .map_err(storage)?
        .unwrap_or_default();
    let mut created = Vec::new();
    let mut spent = Vec::new();
    for id in list {
        let Some(meta) = node.block_metadata(&id).map_err(storage)? else {
            continue;
        };
        if meta.conflict != 0 {
            continue;
        }
        let Some(bytes) = node.block_bytes(&id).map_err(storage)? else {
            // Pruned while this was read (or out of order): never answer a part.
            return Err(ApiError::pruned(format!(
                "block {id} of milestone {index} was pruned from this node"
            )));
        };
        let block = weft_types::Block::from_bytes(&bytes).map_err(storage)?;
        let (program, inputs, outputs) = match &block.payload {
            Payload::Mint(m) => (m.program, &[][..], m.outputs.as_slice()),
            Payload::Transfer(t) => (t.program, t.inputs.as_slice(), t.outputs.as_slice()),
            Payload::Redeem(r) => (r.program, r.inputs.as_slice(), r.outputs.as_slice()),
            Payload::Claim(c) => {
                let Some(owner) = c.entitlement_key else {
                    continue;
                };
                // The amount is the program's entitlement for this claim, which the
                // ledger counted; recompute it the same way the wallet does.
                let note_amount = claim_amount(&node, &c.program, c)?;
                let note = weft_entitlements::claim_note(c.program.bytes(), &owner, note_amount)
                    .map_err(storage)?;
                created.push(json!({
                    "program": hex0x(c.program.bytes()),
                    "note": hex0x(&note.id),
                    "kind": "claim",
                    "blockId": id,
                    "commitment": hex0x(&note.commitment),
                    "owner": hex0x(&owner),
                    "amount": note_amount.to_string(),
                }));
                continue;
            }
            _ => continue,
        };
        for i in inputs {
            spent.push(json!({
                "program": hex0x(&program),
                "note": hex0x(&i.id(&program)),
                "blockId": id,
            }));
        }
        for o in outputs {
            created.push(json!({
                "program": hex0x(&program),
                "note": hex0x(&o.id(&program)),
                "kind": "output",
                "blockId": id,
                "commitment": hex0x(&o.commitment),
                "owner": hex0x(&o.owner),
                "ephemeral": hex0x(&o.ephemeral),
                "ciphertext": hex0x(&o.ciphertext),
            }));
        }
    }
    Ok(Json(json!({
        "milestone": index,
        "created": created,
        "spent": spent,
    })))
}

/// The entitlement a confirmed claim was worth (the program's tier rule).
fn claim_amount(node: &Node, program: &ProgramId, claim: &weft_types::Claim) -> ApiResult<u64> {
    let rec = weft_ledger::claims::program_record(&node.state(), program)
        .map_err(storage)?
        .ok_or_else(|| ApiError::internal("a confirmed claim's program is missing"))?;
    weft_ledger::claims::entitlement_of(&rec.program, claim)
        .ok_or_else(|| ApiError::internal("a confirmed claim's disclosures do not decode"))
}
