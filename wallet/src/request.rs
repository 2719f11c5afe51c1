//! A verifier's presentation request as the wallet reads it.
//!
//! The request carries what the circuit's [`weft_circuits::presentation::Request`] needs
//! (schema, program, round, challenge, today, issuance bound, policy), which attributes
//! the verifier asks to see, and optionally the registry roots it accepts.
//!
//! # Notes on the interim JSON form
//!
//! The identity layer (`weft-credentials`) defines the normative request JSON. Until it
//! lands, the wallet reads this form (a QR code's content or a file), and
//! [`PresentationRequest`] is the seam: a parser of the normative form only has to build
//! one.
//!
//! ```json
//! {"type": "weft-presentation-request", "version": 1,
//!  "schema": "0x..", "program": "0x..", "round": 1, "challenge": "0x..",
//!  "today": 1764000000, "issuedBefore": 1763913600,
//!  "policy": [{"attribute": 0, "op": "ge", "value": 18},
//!             {"attribute": 1, "op": "between", "lo": 3, "hi": 12},
//!             {"attribute": 2, "op": "in", "values": ["0x..", "0x.."]}],
//!  "disclose": [1, 3],
//!  "acceptedRoots": ["0x.."]}
//! ```
//!
//! `op` is one of `eq, ne, lt, le, gt, ge, between, in, notIn`; `eq` and `ne` take a
//! `value` that is a number or a `0x` field element, the ordered operators a number below
//! 2^32. `acceptedRoots` is optional.

use serde::Deserialize;
use weft_circuits::presentation::Request;
use weft_circuits::{Condition, Policy, Predicate, NUM_ATTRIBUTES};
use weft_crypto::poseidon::Fr;

use crate::model::{fr_hex, parse_fr_hex};
use crate::{Result, WalletError};

/// The `type` of a request.
pub const REQUEST_TYPE: &str = "weft-presentation-request";

/// What a verifier asks of the holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationRequest {
    /// The circuit's request (every public input the verifier supplies).
    pub request: Request,
    /// Attributes the verifier asks the holder to reveal (indices, ascending, unique).
    pub disclose: Vec<u8>,
    /// Registry roots the verifier accepts, when it says.
    pub accepted_roots: Option<Vec<Fr>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Json {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    schema: String,
    program: String,
    round: u64,
    challenge: String,
    today: u32,
    issued_before: u32,
    #[serde(default)]
    policy: Vec<CondJson>,
    #[serde(default)]
    disclose: Vec<u8>,
    #[serde(default)]
    accepted_roots: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CondJson {
    attribute: u8,
    op: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(default)]
    lo: Option<u32>,
    #[serde(default)]
    hi: Option<u32>,
    #[serde(default)]
    values: Option<Vec<serde_json::Value>>,
}

fn bad(s: impl Into<String>) -> WalletError {
    WalletError::Request(s.into())
}

/// A field element from a JSON number or a `0x` string.
fn field(v: &serde_json::Value) -> Result<Fr> {
    match v {
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(Fr::from)
            .ok_or_else(|| bad("a value is not an unsigned integer")),
        serde_json::Value::String(s) => parse_fr_hex(s).map_err(bad),
        _ => Err(bad("a value is neither a number nor a 0x field element")),
    }
}

fn small(v: &Option<serde_json::Value>) -> Result<u32> {
    v.as_ref()
        .and_then(|v| v.as_u64())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| bad("an ordered comparison needs a number below 2^32 as value"))
}

impl PresentationRequest {
    /// Parses the interim JSON form (module notes), checking everything the circuit
    /// will need (at most 8 conditions, indices below 16, sets of 1 to 8 values).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let j: Json = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if j.kind != REQUEST_TYPE || j.version != 1 {
            return Err(bad("not a version-1 Weft presentation request"));
        }
        let mut conditions = Vec::with_capacity(j.policy.len());
        for c in &j.policy {
            let predicate = match c.op.as_str() {
                "eq" => Predicate::Eq(field(
                    c.value.as_ref().ok_or_else(|| bad("eq needs value"))?,
                )?),
                "ne" => Predicate::Ne(field(
                    c.value.as_ref().ok_or_else(|| bad("ne needs value"))?,
                )?),
                "lt" => Predicate::Lt(small(&c.value)?),
                "le" => Predicate::Le(small(&c.value)?),
                "gt" => Predicate::Gt(small(&c.value)?),
                "ge" => Predicate::Ge(small(&c.value)?),
                "between" => Predicate::Between(
                    c.lo.ok_or_else(|| bad("between needs lo"))?,
                    c.hi.ok_or_else(|| bad("between needs hi"))?,
                ),
                "in" | "notIn" => {
                    let vs = c
                        .values
                        .as_ref()
                        .ok_or_else(|| bad("a set condition needs values"))?
                        .iter()
                        .map(field)
                        .collect::<Result<Vec<_>>>()?;
                    if c.op == "in" {
                        Predicate::In(vs)
                    } else {
                        Predicate::NotIn(vs)
                    }
                }
                other => return Err(bad(format!("unknown operator {other:?}"))),
            };
            conditions.push(Condition {
                attribute: c.attribute,
                predicate,
            });
        }
        let policy = Policy { conditions };
        policy
            .slot_inputs()
            .map_err(|e| bad(format!("policy: {e}")))?;
        let mut disclose = j.disclose.clone();
        disclose.sort_unstable();
        disclose.dedup();
        if disclose.iter().any(|&d| d as usize >= NUM_ATTRIBUTES) {
            return Err(bad("a disclosed attribute index is above 15"));
        }
        let accepted_roots = match &j.accepted_roots {
            Some(rs) => Some(
                rs.iter()
                    .map(|r| parse_fr_hex(r).map_err(bad))
                    .collect::<Result<Vec<_>>>()?,
            ),
            None => None,
        };
        Ok(PresentationRequest {
            request: Request {
                schema: parse_fr_hex(&j.schema).map_err(bad)?,
                program: parse_fr_hex(&j.program).map_err(bad)?,
                round: j.round,
                challenge: parse_fr_hex(&j.challenge).map_err(bad)?,
                today: j.today,
                issued_before: j.issued_before,
                policy,
            },
            disclose,
            accepted_roots,
        })
    }

    /// The interim JSON form of this request (for verifiers' tests and sync tools).
    pub fn to_json(&self) -> String {
        let r = &self.request;
        let conds: Vec<serde_json::Value> = r
            .policy
            .conditions
            .iter()
            .map(|c| {
                let a = c.attribute;
                let hexes = |v: &[Fr]| v.iter().map(fr_hex).collect::<Vec<_>>();
                match &c.predicate {
                    Predicate::Eq(v) => {
                        serde_json::json!({"attribute": a, "op": "eq", "value": fr_hex(v)})
                    }
                    Predicate::Ne(v) => {
                        serde_json::json!({"attribute": a, "op": "ne", "value": fr_hex(v)})
                    }
                    Predicate::Lt(v) => serde_json::json!({"attribute": a, "op": "lt", "value": v}),
                    Predicate::Le(v) => serde_json::json!({"attribute": a, "op": "le", "value": v}),
                    Predicate::Gt(v) => serde_json::json!({"attribute": a, "op": "gt", "value": v}),
                    Predicate::Ge(v) => serde_json::json!({"attribute": a, "op": "ge", "value": v}),
                    Predicate::Between(lo, hi) => {
                        serde_json::json!({"attribute": a, "op": "between", "lo": lo, "hi": hi})
                    }
                    Predicate::In(vs) => {
                        serde_json::json!({"attribute": a, "op": "in", "values": hexes(vs)})
                    }
                    Predicate::NotIn(vs) => {
                        serde_json::json!({"attribute": a, "op": "notIn", "values": hexes(vs)})
                    }
                }
            })
            .collect();
        let mut v = serde_json::json!({
            "type": REQUEST_TYPE,
            "version": 1,
            "schema": fr_hex(&r.schema),
            "program": fr_hex(&r.program),
            "round": r.round,
            "challenge": fr_hex(&r.challenge),
            "today": r.today,
            "issuedBefore": r.issued_before,
            "policy": conds,
            "disclose": self.disclose,
        });
        if let Some(roots) = &self.accepted_roots {
            v["acceptedRoots"] = roots.iter().map(fr_hex).collect();
        }
        v.to_string()
    }
}
