//! The presentation protocol between a distribution point and a holder's wallet.
//!
//! The point shows a [`PresentationRequest`] (program, round, a fresh nonce, its DID
//! and device key, its clock, and what an offline wallet needs to prove: the schema,
//! the policy's conditions, the disclosure mask, the issuance bound). The wallet
//! answers with a [`PresentationResponse`] (registry, root, nullifier, disclosed
//! values and the 128-byte proof). Together they are exactly one ledger [`Claim`]
//! ([`to_claim`]), so the wallet, the point and the ledger derive the circuit's
//! challenge from the same bytes (`weft_credentials::claim::challenge` of that claim)
//! and can never disagree on it.
//!
//! Both messages have a JSON form (camelCase, `0x` hex bytes) and a compact binary
//! form (a version byte, then fixed fields; strict: every byte string the decoder
//! accepts re-encodes to itself). The response's binary form is about 300 bytes and
//! fits one QR code (rendered and read back in `crates/verifier/tests/qr.rs`).

use ark_ff::PrimeField;
use serde_json::{json, Value};
use weft_circuits::presentation::{Presentation, Request};
use weft_circuits::NUM_ATTRIBUTES;
use weft_crypto::poseidon::{fr_from_bytes_be, fr_to_bytes_be, Fr};
use weft_types::codec::{check_range, DecodeError, Reader, Writer};
use weft_types::program::{MAX_CONDITIONS, MAX_SET_VALUES};
use weft_types::{
    Claim, Did, PointEndorsement, PolicyCondition, PredicateOp, ProgramId, PublicKeyBytes,
    RegistryId, SchemaId, SignatureBytes,
};

/// Version byte of the binary forms.
pub const PRESENTATION_VERSION: u8 = 1;
/// Version byte of a response that carries a one-time entitlement key (a value
/// program's claim: `specs/entitlements.md` §2); otherwise the same layout as
/// [`PRESENTATION_VERSION`], with the key appended.
pub const RESPONSE_WITH_KEY_VERSION: u8 = 2;
/// Most registries a request names.
pub const MAX_REQUEST_REGISTRIES: usize = 16;
/// Longest entitlement summary text, in bytes.
pub const MAX_SUMMARY_BYTES: usize = 128;
/// Most disclosed values of a response (the circuit's attribute slots).
pub const MAX_DISCLOSED: usize = NUM_ATTRIBUTES;
/// Length of a compressed proof.
pub const PROOF_LEN: usize = 128;

/// Why a request or a response cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PresentationError {
    /// Malformed binary form.
    #[error("malformed presentation bytes: {0}")]
    Decode(#[from] DecodeError),
    /// A binary form of another version.
    #[error("unsupported presentation version {0} (expected {PRESENTATION_VERSION})")]
    Version(u8),
    /// Malformed JSON form.
    #[error("malformed presentation JSON: {0}")]
    Json(String),
    /// A value that is not a canonical field element, or not minimally encoded.
    #[error("{0} is not a canonical field element")]
    NotCanonical(&'static str),
    /// The request's policy cannot be compiled for the circuit.
    #[error("the request's policy does not compile for the circuit")]
    Policy,
}

/// What a distribution point asks a holder to prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationRequest {
    /// The program.
    pub program: ProgramId,
    /// The round.
    pub round: u32,
    /// A fresh random nonce (one per request).
    pub nonce: [u8; 16],
    /// The point's DID.
    pub point: Did,
    /// The point's device key (it endorses the claim).
    pub device_key: PublicKeyBytes,
    /// The point's clock when asking (Unix ms): the claim's time.
    pub time: u64,
    /// Registries the program accepts (a hint for the wallet; may be empty).
    pub registries: Vec<RegistryId>,
    /// The program's credential schema.
    pub schema: SchemaId,
    /// The program's predicate table.
    pub conditions: Vec<PolicyCondition>,
    /// Attributes the claim discloses (bit `j`: slot `j`).
    pub disclose: u16,
    /// Credentials issued after this Unix time (s) cannot claim.
    pub issued_before: u32,
    /// What the household receives, for people (`25 kg rice`).
    pub summary: String,
    /// The program pays in value notes: the answer must carry a one-time entitlement
    /// key (written as version [`RESPONSE_WITH_KEY_VERSION`] of the request).
    pub value_notes: bool,
}

/// The holder's answer: a proof and the claim's public values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationResponse {
    /// The request's nonce, echoed so that the point matches an answer to the request
    /// it showed (an answer to another request is a mismatch, not a failed proof).
    pub nonce: [u8; 16],
    /// The registry the credential is in.
    pub registry: RegistryId,
    /// The registry root proven against (a canonical field element, big-endian).
    pub root: [u8; 32],
    /// The household's nullifier for the program round.
    pub nullifier: [u8; 32],
    /// Disclosed values, by ascending slot of the disclosure mask.
    pub disclosed: Vec<[u8; 32]>,
    /// The compressed Groth16 proof.
    pub proof: [u8; PROOF_LEN],
    /// The household's one-time key for a value program's entitlement (compressed
    /// Ristretto), bound into the proof's challenge; its secret stays in the wallet.
    pub entitlement_key: Option<[u8; 32]>,
}

/// The claim a request and its response make. Its endorsement names the request's
/// point and device key with an all-zero signature: the point's device signs
/// [`Claim::signing_message`] and sets it (the signature is neither part of the
/// signed message nor of the challenge).
pub fn to_claim(request: &PresentationRequest, response: &PresentationResponse) -> Claim {
    Claim {
        program: request.program,
        round: request.round,
        registry: response.registry,
        root: response.root,
        nullifier: response.nullifier,
        disclosed: response.disclosed.clone(),
        nonce: request.nonce.to_vec(),
        time: request.time,
        proof: response.proof.to_vec(),
        entitlement_key: response.entitlement_key,
        endorsement: Some(PointEndorsement {
            point: request.point,
            device_key: request.device_key,
            signature: SignatureBytes([0; 64]),
        }),
    }
}

fn hex32(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn parse_hex<const N: usize>(v: &Value, field: &'static str) -> Result<[u8; N], PresentationError> {
    let s = v
        .as_str()
        .ok_or_else(|| PresentationError::Json(format!("{field}: a hex string expected")))?;
    let s = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(s).map_err(|e| PresentationError::Json(format!("{field}: {e}")))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| PresentationError::Json(format!("{field}: {N} bytes expected")))
}

/// Reads a typed JSON value (the types' own serde forms).
macro_rules! typed {
    ($v:expr, $t:ty, $field:expr) => {
        serde_json::from_value::<$t>($v.clone())
            .map_err(|e| PresentationError::Json(format!("{}: {e}", $field)))
    };
}

fn json_u64(v: &Value, field: &'static str) -> Result<u64, PresentationError> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| PresentationError::Json(format!("{field}: an unsigned integer expected")))
}

fn json_obj<'a>(
    v: &'a Value,
    allowed: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, PresentationError> {
    let o = v
        .as_object()
        .ok_or_else(|| PresentationError::Json("an object expected".into()))?;
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(PresentationError::Json(format!("unknown field {k:?}")));
    }
    Ok(o)
}

fn field<'a>(
    o: &'a serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<&'a Value, PresentationError> {
    o.get(name)
        .ok_or_else(|| PresentationError::Json(format!("missing field {name:?}")))
}

fn canonical(b: &[u8; 32], what: &'static str) -> Result<Fr, PresentationError> {
    fr_from_bytes_be(b).map_err(|_| PresentationError::NotCanonical(what))
}

fn write_condition(w: &mut Writer, c: &PolicyCondition) {
    w.u8(c.attribute);
    match &c.predicate {
        PredicateOp::Eq { value } => {
            w.u8(0);
            w.bytes(value);
        }
        PredicateOp::Ne { value } => {
            w.u8(1);
            w.bytes(value);
        }
        PredicateOp::Lt { value } => {
            w.u8(2);
            w.u32(*value);
        }
        PredicateOp::Le { value } => {
            w.u8(3);
            w.u32(*value);
        }
        PredicateOp::Gt { value } => {
            w.u8(4);
            w.u32(*value);
        }
        PredicateOp::Ge { value } => {
            w.u8(5);
            w.u32(*value);
        }
        PredicateOp::Between { lo, hi } => {
            w.u8(6);
            w.u32(*lo);
            w.u32(*hi);
        }
        PredicateOp::In { values } | PredicateOp::NotIn { values } => {
            w.u8(if matches!(c.predicate, PredicateOp::In { .. }) {
                7
            } else {
                8
            });
            w.u8(values.len() as u8);
            for v in values {
                w.bytes(v);
            }
        }
    }
}

fn read_condition(r: &mut Reader<'_>) -> Result<PolicyCondition, DecodeError> {
    let attribute = r.u8("condition attribute")?;
    check_range(
        "condition attribute",
        attribute as u64,
        0,
        NUM_ATTRIBUTES as u64 - 1,
    )?;
    let predicate = match r.u8("predicate")? {
        0 => PredicateOp::Eq {
            value: r.array("predicate value")?,
        },
        1 => PredicateOp::Ne {
            value: r.array("predicate value")?,
        },
        2 => PredicateOp::Lt {
            value: r.u32("predicate bound")?,
        },
        3 => PredicateOp::Le {
            value: r.u32("predicate bound")?,
        },
        4 => PredicateOp::Gt {
            value: r.u32("predicate bound")?,
        },
        5 => PredicateOp::Ge {
            value: r.u32("predicate bound")?,
        },
        6 => PredicateOp::Between {
            lo: r.u32("predicate bound")?,
            hi: r.u32("predicate bound")?,
        },
        tag @ (7 | 8) => {
            let n = r.u8("set size")? as usize;
            check_range("set size", n as u64, 1, MAX_SET_VALUES as u64)?;
            let values = (0..n)
                .map(|_| r.array::<32>("set value"))
                .collect::<Result<Vec<_>, _>>()?;
            if tag == 7 {
                PredicateOp::In { values }
            } else {
                PredicateOp::NotIn { values }
            }
        }
        tag => {
            return Err(DecodeError::UnknownTag {
                field: "predicate",
                tag: tag as u64,
            })
        }
    };
    Ok(PolicyCondition {
        attribute,
        predicate,
    })
}

impl PresentationRequest {
    /// The circuit's challenge for this request: `claim::challenge` of the claim any
    /// response to it without an entitlement key makes (it depends only on the nonce,
    /// point, device key, time).
    pub fn challenge(&self) -> Fr {
        self.challenge_for(None)
    }

    /// The challenge of a response carrying `entitlement_key` (the key is bound into
    /// it, so a proof made for one key is worthless with another).
    pub fn challenge_for(&self, entitlement_key: Option<[u8; 32]>) -> Fr {
        let placeholder = PresentationResponse {
            nonce: self.nonce,
            registry: RegistryId([0; 32]),
            root: [0; 32],
            nullifier: [0; 32],
            disclosed: Vec::new(),
            proof: [0; PROOF_LEN],
            entitlement_key,
        };
        crate::claim::challenge(&to_claim(self, &placeholder))
    }

    /// What the wallet proves against (the circuit's view of the request): the same
    /// public inputs `claim::statement` rebuilds from the program and the claim.
    pub fn circuit_request(&self) -> Result<Request, PresentationError> {
        self.circuit_request_for(None)
    }

    /// [`PresentationRequest::circuit_request`] for a response carrying
    /// `entitlement_key`.
    pub fn circuit_request_for(
        &self,
        entitlement_key: Option<[u8; 32]>,
    ) -> Result<Request, PresentationError> {
        Ok(Request {
            schema: crate::claim::schema_field(&self.schema),
            program: crate::claim::program_field(&self.program),
            round: self.round as u64,
            challenge: self.challenge_for(entitlement_key),
            today: u32::try_from(self.time / 1000)
                .map_err(|_| PresentationError::Json("time is past the circuit's range".into()))?,
            issued_before: self.issued_before,
            policy: crate::claim::policy(&self.conditions).ok_or(PresentationError::Policy)?,
        })
    }

    /// The compact binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(self.version());
        w.bytes(self.program.bytes());
        w.u32(self.round);
        w.bytes(&self.nonce);
        w.bytes(&self.point.0);
        w.bytes(&self.device_key.0);
        w.u64(self.time);
        w.u8(self.registries.len() as u8);
        for r in &self.registries {
            w.bytes(&r.0);
        }
        w.bytes(&self.schema.0);
        w.u8(self.conditions.len() as u8);
        for c in &self.conditions {
            write_condition(&mut w, c);
        }
        w.u16(self.disclose);
        w.u32(self.issued_before);
        w.u8(self.summary.len() as u8);
        w.bytes(self.summary.as_bytes());
        w.into_bytes()
    }

    /// Strict decoding of the binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<PresentationRequest, PresentationError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("version")?;
        if version != PRESENTATION_VERSION && version != RESPONSE_WITH_KEY_VERSION {
            return Err(PresentationError::Version(version));
        }
        let program = ProgramId(RegistryId(r.array("program id")?));
        let round = r.u32("round")?;
        let nonce = r.array("nonce")?;
        let point = Did(r.array("point DID")?);
        let device_key = PublicKeyBytes(r.array("device key")?);
        let time = r.u64("time")?;
        let n = r.u8("registry count")? as usize;
        check_range("registry count", n as u64, 0, MAX_REQUEST_REGISTRIES as u64)?;
        let registries = (0..n)
            .map(|_| Ok(RegistryId(r.array("registry id")?)))
            .collect::<Result<Vec<_>, DecodeError>>()?;
        let schema = SchemaId(r.array("schema id")?);
        let n = r.u8("condition count")? as usize;
        check_range("condition count", n as u64, 0, MAX_CONDITIONS as u64)?;
        let conditions = (0..n)
            .map(|_| read_condition(&mut r))
            .collect::<Result<Vec<_>, _>>()?;
        let disclose = r.u16("disclosure mask")?;
        let issued_before = r.u32("issued before")?;
        let n = r.u8("summary length")? as usize;
        check_range("summary length", n as u64, 0, MAX_SUMMARY_BYTES as u64)?;
        let summary = std::str::from_utf8(r.take(n, "summary")?)
            .map_err(|_| DecodeError::Inconsistent("the summary is not UTF-8"))?
            .to_string();
        r.finish("presentation request")?;
        Ok(PresentationRequest {
            program,
            round,
            nonce,
            point,
            device_key,
            time,
            registries,
            schema,
            conditions,
            disclose,
            issued_before,
            summary,
            value_notes: version == RESPONSE_WITH_KEY_VERSION,
        })
    }

    /// The version byte: 2 for a value program (the answer carries a key), else 1.
    fn version(&self) -> u8 {
        if self.value_notes {
            RESPONSE_WITH_KEY_VERSION
        } else {
            PRESENTATION_VERSION
        }
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "version": self.version(),
            "program": self.program,
            "round": self.round,
            "nonce": hex32(&self.nonce),
            "point": self.point,
            "deviceKey": self.device_key,
            "time": self.time.to_string(),
            "registries": self.registries,
            "schema": self.schema,
            "conditions": self.conditions,
            "disclose": self.disclose,
            "issuedBefore": self.issued_before,
            "summary": self.summary,
        })
    }

    /// Strict reading of the JSON form (unknown fields refused; the result must also
    /// fit the binary form's limits).
    pub fn from_json(v: &Value) -> Result<PresentationRequest, PresentationError> {
        let o = json_obj(
            v,
            &[
                "version",
                "program",
                "round",
                "nonce",
                "point",
                "deviceKey",
                "time",
                "registries",
                "schema",
                "conditions",
                "disclose",
                "issuedBefore",
                "summary",
            ],
        )?;
        let version = json_u64(field(o, "version")?, "version")?;
        if version != PRESENTATION_VERSION as u64 && version != RESPONSE_WITH_KEY_VERSION as u64 {
            return Err(PresentationError::Version(version.min(255) as u8));
        }
        let small = |name: &'static str, max: u64| -> Result<u64, PresentationError> {
            let n = json_u64(field(o, name)?, name)?;
            if n > max {
                return Err(PresentationError::Json(format!("{name}: out of range")));
            }
            Ok(n)
        };
        let req = PresentationRequest {
            program: typed!(field(o, "program")?, ProgramId, "program")?,
            round: small("round", u32::MAX as u64)? as u32,
            nonce: parse_hex(field(o, "nonce")?, "nonce")?,
            point: typed!(field(o, "point")?, Did, "point")?,
            device_key: typed!(field(o, "deviceKey")?, PublicKeyBytes, "deviceKey")?,
            time: json_u64(field(o, "time")?, "time")?,
            registries: typed!(field(o, "registries")?, Vec<RegistryId>, "registries")?,
            schema: typed!(field(o, "schema")?, SchemaId, "schema")?,
            conditions: typed!(field(o, "conditions")?, Vec<PolicyCondition>, "conditions")?,
            disclose: small("disclose", u16::MAX as u64)? as u16,
            issued_before: small("issuedBefore", u32::MAX as u64)? as u32,
            summary: typed!(field(o, "summary")?, String, "summary")?,
            value_notes: version == RESPONSE_WITH_KEY_VERSION as u64,
        };
        // The binary form's limits hold for the JSON form too.
        PresentationRequest::from_bytes(&req.to_bytes())
    }
}

impl PresentationResponse {
    /// The response to `request` carrying a circuit-level presentation (disclosed
    /// values in ascending slot order).
    pub fn from_presentation(
        request: &PresentationRequest,
        registry: RegistryId,
        p: &Presentation,
    ) -> PresentationResponse {
        PresentationResponse {
            nonce: request.nonce,
            registry,
            root: fr_to_bytes_be(&p.root),
            nullifier: fr_to_bytes_be(&p.nullifier),
            disclosed: p.disclosed.iter().flatten().map(fr_to_bytes_be).collect(),
            proof: p.proof.0,
            entitlement_key: None,
        }
    }

    /// The compact binary form: version, the request's nonce, registry, root, nullifier, the disclosed
    /// values minimally encoded (a length byte, then big-endian bytes without leading
    /// zeros), the proof; under version [`RESPONSE_WITH_KEY_VERSION`] then the
    /// entitlement key.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(match self.entitlement_key {
            None => PRESENTATION_VERSION,
            Some(_) => RESPONSE_WITH_KEY_VERSION,
        });
        w.bytes(&self.nonce);
        w.bytes(&self.registry.0);
        w.bytes(&self.root);
        w.bytes(&self.nullifier);
        w.u8(self.disclosed.len() as u8);
        for d in &self.disclosed {
            let skip = d.iter().take_while(|b| **b == 0).count();
            w.u8((32 - skip) as u8);
            w.bytes(&d[skip..]);
        }
        w.bytes(&self.proof);
        if let Some(k) = &self.entitlement_key {
            w.bytes(k);
        }
        w.into_bytes()
    }

    /// Strict decoding: the version, canonical field elements, minimal encodings, no
    /// trailing bytes. (Whether the proof's points are on the curve is the verifier's
    /// check.)
    pub fn from_bytes(bytes: &[u8]) -> Result<PresentationResponse, PresentationError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("version")?;
        if version != PRESENTATION_VERSION && version != RESPONSE_WITH_KEY_VERSION {
            return Err(PresentationError::Version(version));
        }
        let nonce = r.array("nonce")?;
        let registry = RegistryId(r.array("registry id")?);
        let root = r.array("root")?;
        canonical(&root, "root")?;
        let nullifier = r.array("nullifier")?;
        canonical(&nullifier, "nullifier")?;
        let n = r.u8("disclosed count")? as usize;
        check_range("disclosed count", n as u64, 0, MAX_DISCLOSED as u64)?;
        let mut disclosed = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.u8("disclosed length")? as usize;
            check_range("disclosed length", len as u64, 0, 32)?;
            let b = r.take(len, "disclosed value")?;
            if b.first() == Some(&0) {
                return Err(PresentationError::NotCanonical("a disclosed value"));
            }
            let mut v = [0u8; 32];
            v[32 - len..].copy_from_slice(b);
            canonical(&v, "a disclosed value")?;
            disclosed.push(v);
        }
        let proof = r.array("proof")?;
        let entitlement_key = if version == RESPONSE_WITH_KEY_VERSION {
            Some(r.array("entitlement key")?)
        } else {
            None
        };
        r.finish("presentation response")?;
        Ok(PresentationResponse {
            nonce,
            registry,
            root,
            nullifier,
            disclosed,
            proof,
            entitlement_key,
        })
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "version": PRESENTATION_VERSION,
            "nonce": hex32(&self.nonce),
            "registry": self.registry,
            "root": hex32(&self.root),
            "nullifier": hex32(&self.nullifier),
            "disclosed": self.disclosed.iter().map(|d| hex32(d)).collect::<Vec<_>>(),
            "proof": hex32(&self.proof),
        });
        if let Some(k) = &self.entitlement_key {
            v["version"] = json!(RESPONSE_WITH_KEY_VERSION);
            v["entitlementKey"] = json!(hex32(k));
        }
        v
    }

    /// Strict reading of the JSON form (the same checks as the binary form).
    pub fn from_json(v: &Value) -> Result<PresentationResponse, PresentationError> {
        let o = json_obj(
            v,
            &[
                "version",
                "nonce",
                "registry",
                "root",
                "nullifier",
                "disclosed",
                "proof",
                "entitlementKey",
            ],
        )?;
        let version = json_u64(field(o, "version")?, "version")?;
        let entitlement_key = match (version, o.get("entitlementKey")) {
            (1, None) => None,
            (2, Some(k)) => Some(parse_hex(k, "entitlementKey")?),
            (1 | 2, _) => {
                return Err(PresentationError::Json(
                    "entitlementKey: present exactly under version 2".into(),
                ))
            }
            (v, _) => return Err(PresentationError::Version(v.min(255) as u8)),
        };
        let disclosed = field(o, "disclosed")?
            .as_array()
            .ok_or_else(|| PresentationError::Json("disclosed: an array expected".into()))?
            .iter()
            .map(|d| parse_hex::<32>(d, "disclosed"))
            .collect::<Result<Vec<_>, _>>()?;
        if disclosed.len() > MAX_DISCLOSED {
            return Err(PresentationError::Json("disclosed: too many values".into()));
        }
        let resp = PresentationResponse {
            nonce: parse_hex(field(o, "nonce")?, "nonce")?,
            registry: typed!(field(o, "registry")?, RegistryId, "registry")?,
            root: parse_hex(field(o, "root")?, "root")?,
            nullifier: parse_hex(field(o, "nullifier")?, "nullifier")?,
            disclosed,
            proof: parse_hex(field(o, "proof")?, "proof")?,
            entitlement_key,
        };
        PresentationResponse::from_bytes(&resp.to_bytes())
    }

    /// The disclosed values as field elements (`None` if one is not canonical).
    pub fn disclosed_fr(&self) -> Option<Vec<Fr>> {
        self.disclosed
            .iter()
            .map(|d| fr_from_bytes_be(d).ok())
            .collect()
    }

    /// The disclosed value of slot `slot` under the mask `disclose`, as a `u64` if it
    /// is a small integer (for tiers and display).
    pub fn disclosed_u64(&self, disclose: u16, slot: u8) -> Option<u64> {
        if disclose & (1 << slot) == 0 {
            return None;
        }
        let pos = (0..slot).filter(|j| disclose & (1 << j) != 0).count();
        let v = self.disclosed.get(pos)?;
        let fr = fr_from_bytes_be(v).ok()?;
        let limbs = fr.into_bigint().0;
        if limbs[1..].iter().any(|l| *l != 0) {
            return None;
        }
        Some(limbs[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PresentationRequest {
        PresentationRequest {
            program: ProgramId(RegistryId([1; 32])),
            round: 3,
            nonce: [7; 16],
            point: Did([2; 32]),
            device_key: PublicKeyBytes([3; 32]),
            time: 1_764_000_000_123,
            registries: vec![RegistryId([4; 32])],
            schema: SchemaId([5; 32]),
            conditions: vec![
                PolicyCondition {
                    attribute: 1,
                    predicate: PredicateOp::Ge { value: 3 },
                },
                PolicyCondition {
                    attribute: 2,
                    predicate: PredicateOp::In {
                        values: vec![[0; 32], fr_to_bytes_be(&Fr::from(9u64))],
                    },
                },
            ],
            disclose: 0b110,
            issued_before: 1_800_000_000,
            summary: "25 kg rice".into(),
            value_notes: false,
        }
    }

    fn response() -> PresentationResponse {
        let mut proof = [0u8; PROOF_LEN];
        for (i, b) in proof.iter_mut().enumerate() {
            *b = i as u8;
        }
        PresentationResponse {
            nonce: [7; 16],
            registry: RegistryId([4; 32]),
            root: fr_to_bytes_be(&Fr::from(123_456u64)),
            nullifier: fr_to_bytes_be(&-Fr::from(1u64)),
            disclosed: vec![fr_to_bytes_be(&Fr::from(5u64)), [0; 32]],
            proof,
            entitlement_key: None,
        }
    }

    #[test]
    fn presentation_forms_round_trip() {
        let req = request();
        let b = req.to_bytes();
        assert_eq!(PresentationRequest::from_bytes(&b).unwrap(), req);
        for cut in 0..b.len() {
            assert!(PresentationRequest::from_bytes(&b[..cut]).is_err());
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(PresentationRequest::from_bytes(&longer).is_err());
        let j = req.to_json();
        assert_eq!(PresentationRequest::from_json(&j).unwrap(), req);
        let text = serde_json::to_string(&j).unwrap();
        assert!(text.contains("\"deviceKey\"") && text.contains("\"issuedBefore\""));
        let mut extra = j.clone();
        extra["surprise"] = json!(1);
        assert!(PresentationRequest::from_json(&extra).is_err());

        let resp = response();
        let b = resp.to_bytes();
        assert_eq!(PresentationResponse::from_bytes(&b).unwrap(), resp);
        for cut in 0..b.len() {
            assert!(PresentationResponse::from_bytes(&b[..cut]).is_err());
        }
        let mut version = b.clone();
        version[0] = 3;
        assert!(matches!(
            PresentationResponse::from_bytes(&version),
            Err(PresentationError::Version(3))
        ));
        // Version 2 needs the key after the proof; with it, both forms round-trip.
        version[0] = 2;
        assert!(PresentationResponse::from_bytes(&version).is_err());
        let keyed = PresentationResponse {
            entitlement_key: Some([7; 32]),
            ..resp.clone()
        };
        let kb = keyed.to_bytes();
        assert_eq!((kb[0], kb.len()), (2, b.len() + 32));
        assert_eq!(PresentationResponse::from_bytes(&kb).unwrap(), keyed);
        assert_eq!(
            PresentationResponse::from_json(&keyed.to_json()).unwrap(),
            keyed
        );
        let mut root = b.clone();
        root[49..81].copy_from_slice(&[0xff; 32]);
        assert!(PresentationResponse::from_bytes(&root).is_err());
        assert_eq!(
            PresentationResponse::from_json(&resp.to_json()).unwrap(),
            resp
        );
    }

    #[test]
    fn presentation_the_claim_binds_the_request() {
        let (req, resp) = (request(), response());
        let claim = to_claim(&req, &resp);
        assert_eq!(crate::claim::challenge(&claim), req.challenge());
        let e = claim.endorsement.clone().unwrap();
        assert_eq!((e.point, e.device_key), (req.point, req.device_key));
        claim.check_limits().unwrap();
        let mut other = req.clone();
        other.nonce[0] ^= 1;
        assert_ne!(other.challenge(), req.challenge());
        let mut other = req.clone();
        other.point = Did([9; 32]);
        assert_ne!(other.challenge(), req.challenge());
        let mut other = req.clone();
        other.time += 1;
        assert_ne!(other.challenge(), req.challenge());
        // An entitlement key changes the challenge, and each key its own.
        let keyed = PresentationResponse {
            entitlement_key: Some([7; 32]),
            ..resp.clone()
        };
        let c7 = crate::claim::challenge(&to_claim(&req, &keyed));
        assert_eq!(c7, req.challenge_for(Some([7; 32])));
        assert_ne!(c7, req.challenge());
        assert_ne!(c7, req.challenge_for(Some([8; 32])));
        let cr = req.circuit_request().unwrap();
        assert_eq!(cr.today, 1_764_000_000);
        assert_eq!(cr.round, 3);
        assert_eq!(resp.disclosed_u64(req.disclose, 1), Some(5));
        assert_eq!(resp.disclosed_u64(req.disclose, 2), Some(0));
        assert_eq!(resp.disclosed_u64(req.disclose, 3), None);
    }
}
