//! Aid programs and claims.
//!
//! A program says who may claim (accepted issuers, a schema, a policy compiled to the
//! eligibility circuit's predicate table), when (rounds), what (an entitlement per
//! claim) and where (distribution points). A claim is one household's eligibility
//! proof for one round: its nullifier is the only thing that links two claims, and
//! only when they are the same household in the same round of the same program.
//! Wire layouts are in `specs/protocol.md` §3.7.

use serde::{Deserialize, Serialize};

use crate::codec::{check_range, check_strictly_ascending, DecodeError, Reader, Writer};
use crate::hash::blake2b256;
use crate::id::{PublicKeyBytes, RegistryId, SchemaId, SignatureBytes};
use crate::identity::{check_str, read_str, write_str, Did};

/// Most predicate slots (the circuit's).
pub const MAX_CONDITIONS: usize = 8;
/// Most values of a set predicate (the circuit's).
pub const MAX_SET_VALUES: usize = 8;
/// Most accepted issuers of a program.
pub const MAX_PROGRAM_ISSUERS: usize = 16;
/// Most rounds of a program.
pub const MAX_ROUNDS: usize = 64;
/// Most distribution points a program names (none: every accredited point).
pub const MAX_PROGRAM_POINTS: usize = 64;
/// Most entitlement tiers.
pub const MAX_TIERS: usize = 16;
/// Longest policy source text, in bytes.
pub const MAX_POLICY_SOURCE_BYTES: usize = 1024;
/// Attribute slots of a credential.
pub const ATTRIBUTE_SLOTS: u8 = 16;

/// A program's id: BLAKE2b-256(`weft/program/v1` || owner DID || program body).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProgramId(pub RegistryId);

impl ProgramId {
    /// The raw bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0 .0
    }
}

impl std::fmt::Display for ProgramId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for ProgramId {
    type Err = crate::id::HexError;
    fn from_str(s: &str) -> Result<ProgramId, Self::Err> {
        s.parse().map(ProgramId)
    }
}

/// What a condition asks of an attribute value `v`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum PredicateOp {
    /// `v == c` (a field element, 32 bytes big-endian).
    Eq {
        /// The constant.
        #[serde(with = "crate::registry::leaf_hex")]
        value: [u8; 32],
    },
    /// `v != c`.
    Ne {
        /// The constant.
        #[serde(with = "crate::registry::leaf_hex")]
        value: [u8; 32],
    },
    /// `v < c` (32-bit values).
    Lt {
        /// The bound.
        value: u32,
    },
    /// `v <= c`.
    Le {
        /// The bound.
        value: u32,
    },
    /// `v > c`.
    Gt {
        /// The bound.
        value: u32,
    },
    /// `v >= c`.
    Ge {
        /// The bound.
        value: u32,
    },
    /// `lo <= v <= hi`.
    Between {
        /// Lower bound (inclusive).
        lo: u32,
        /// Upper bound (inclusive).
        hi: u32,
    },
    /// `v` is one of 1 to 8 values.
    In {
        /// The set.
        #[serde(with = "crate::registry::leaves_hex")]
        values: Vec<[u8; 32]>,
    },
    /// `v` is none of 1 to 8 values.
    NotIn {
        /// The set.
        #[serde(with = "crate::registry::leaves_hex")]
        values: Vec<[u8; 32]>,
    },
}

/// A condition on one attribute slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCondition {
    /// The attribute's slot (0..16), its position in the schema.
    pub attribute: u8,
    /// What must hold.
    pub predicate: PredicateOp,
}

impl PolicyCondition {
    fn encode_into(&self, w: &mut Writer) {
        w.u8(self.attribute);
        match &self.predicate {
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
                w.u8(if matches!(self.predicate, PredicateOp::In { .. }) {
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

    fn decode_from(r: &mut Reader<'_>) -> Result<PolicyCondition, DecodeError> {
        let attribute = r.u8("condition attribute")?;
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
        let c = PolicyCondition {
            attribute,
            predicate,
        };
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_range(
            "condition attribute",
            self.attribute as u64,
            0,
            ATTRIBUTE_SLOTS as u64 - 1,
        )?;
        match &self.predicate {
            PredicateOp::In { values } | PredicateOp::NotIn { values } => {
                check_range("set size", values.len() as u64, 1, MAX_SET_VALUES as u64)
            }
            _ => Ok(()),
        }
    }
}

/// One round of a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Round {
    /// The round's number (what nullifiers are per).
    pub number: u32,
    /// Opening time, Unix ms (claims made at or after it).
    #[serde(with = "crate::payload::u64_string")]
    pub opens: u64,
    /// Closing time, Unix ms (claims made before it).
    #[serde(with = "crate::payload::u64_string")]
    pub closes: u64,
}

/// An entitlement tier: households whose disclosed attribute has this value get this
/// quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    /// The attribute's slot (must be disclosed).
    pub attribute: u8,
    /// Its value (a field element).
    #[serde(with = "crate::registry::leaf_hex")]
    pub value: [u8; 32],
    /// The quantity.
    #[serde(with = "crate::payload::u64_string")]
    pub quantity: u64,
}

/// What one claim is worth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entitlement {
    /// The quantity when no tier matches.
    #[serde(with = "crate::payload::u64_string")]
    pub quantity: u64,
    /// Its unit (`kg rice`, `USD`, `kit`), 1-32 bytes.
    pub unit: String,
    /// Tiers by a disclosed attribute; the first that matches applies.
    pub tiers: Vec<Tier>,
}

/// An aid program, announced by an accredited issuer (its owner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Program {
    /// A name for people, 1-64 bytes.
    pub name: String,
    /// The credential schema the policy is written against.
    pub schema: SchemaId,
    /// Issuers whose registries are accepted (ascending, 1 to 16).
    pub issuers: Vec<Did>,
    /// The policy as written (for people; the conditions are what count).
    pub policy_source: String,
    /// The policy compiled to the circuit's predicate table (at most 8 conditions).
    pub conditions: Vec<PolicyCondition>,
    /// Attributes a claim must disclose (bit `j`: slot `j`).
    pub disclose: u16,
    /// Credentials issued after this Unix time (s) cannot claim.
    pub issued_before: u32,
    /// The rounds, by ascending number; each opens before it closes.
    pub rounds: Vec<Round>,
    /// How long after a round closes its claims may still be confirmed (ms): claims
    /// accepted offline reach the ledger later.
    #[serde(with = "crate::payload::u64_string")]
    pub grace_ms: u64,
    /// What a claim is worth.
    pub entitlement: Entitlement,
    /// Distribution points allowed (ascending; none: every accredited point).
    pub points: Vec<Did>,
    /// Whether holders may submit claims themselves (anonymous, with proof of work).
    pub anonymous: bool,
    /// Whether the entitlement is paid as confidential value notes in the program's
    /// unit (cash, vouchers): a claim carrying a one-time key has the round's amount
    /// minted to it, and the owner may mint notes (`specs/entitlements.md`).
    #[serde(default)]
    pub value_notes: bool,
    /// Any number (two otherwise equal programs of one owner differ by it).
    #[serde(with = "crate::payload::u64_string")]
    pub nonce: u64,
}

fn write_dids(w: &mut Writer, dids: &[Did]) {
    w.u8(dids.len() as u8);
    for d in dids {
        w.bytes(&d.0);
    }
}

fn read_dids(
    r: &mut Reader<'_>,
    field: &'static str,
    min: usize,
    max: usize,
) -> Result<Vec<Did>, DecodeError> {
    let n = r.u8(field)? as usize;
    check_range(field, n as u64, min as u64, max as u64)?;
    (0..n).map(|_| Ok(Did(r.array(field)?))).collect()
}

impl Program {
    /// The program's id when announced by `owner`.
    pub fn id(&self, owner: &Did) -> ProgramId {
        let mut w = Writer::default();
        self.encode_into(&mut w);
        ProgramId(RegistryId(blake2b256(&[
            b"weft/program/v1",
            &owner.0,
            &w.into_bytes(),
        ])))
    }

    /// The round with this number.
    pub fn round(&self, number: u32) -> Option<&Round> {
        self.rounds.iter().find(|r| r.number == number)
    }

    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        write_str(w, &self.name, false);
        w.bytes(&self.schema.0);
        write_dids(w, &self.issuers);
        write_str(w, &self.policy_source, true);
        w.u8(self.conditions.len() as u8);
        for c in &self.conditions {
            c.encode_into(w);
        }
        w.u16(self.disclose);
        w.u32(self.issued_before);
        w.u8(self.rounds.len() as u8);
        for r in &self.rounds {
            w.u32(r.number);
            w.u64(r.opens);
            w.u64(r.closes);
        }
        w.u64(self.grace_ms);
        w.u64(self.entitlement.quantity);
        write_str(w, &self.entitlement.unit, false);
        w.u8(self.entitlement.tiers.len() as u8);
        for t in &self.entitlement.tiers {
            w.u8(t.attribute);
            w.bytes(&t.value);
            w.u64(t.quantity);
        }
        write_dids(w, &self.points);
        // Flags: bit 0 anonymous claims, bit 1 value notes (a program of neither
        // encodes as before the flag existed, so its id is unchanged).
        w.u8(self.anonymous as u8 | (self.value_notes as u8) << 1);
        w.u64(self.nonce);
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Program, DecodeError> {
        let name = read_str(r, "program name", 1, 64, false)?;
        let schema = SchemaId(r.array("schema id")?);
        let issuers = read_dids(r, "accepted issuers", 1, MAX_PROGRAM_ISSUERS)?;
        let policy_source = read_str(r, "policy source", 0, MAX_POLICY_SOURCE_BYTES, true)?;
        let n = r.u8("condition count")? as usize;
        check_range("condition count", n as u64, 0, MAX_CONDITIONS as u64)?;
        let conditions = (0..n)
            .map(|_| PolicyCondition::decode_from(r))
            .collect::<Result<Vec<_>, _>>()?;
        let disclose = r.u16("disclosure mask")?;
        let issued_before = r.u32("issued before")?;
        let n = r.u8("round count")? as usize;
        check_range("round count", n as u64, 1, MAX_ROUNDS as u64)?;
        let rounds = (0..n)
            .map(|_| {
                Ok(Round {
                    number: r.u32("round number")?,
                    opens: r.u64("round opens")?,
                    closes: r.u64("round closes")?,
                })
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        let grace_ms = r.u64("grace")?;
        let quantity = r.u64("entitlement quantity")?;
        let unit = read_str(r, "entitlement unit", 1, 32, false)?;
        let n = r.u8("tier count")? as usize;
        check_range("tier count", n as u64, 0, MAX_TIERS as u64)?;
        let tiers = (0..n)
            .map(|_| {
                Ok(Tier {
                    attribute: r.u8("tier attribute")?,
                    value: r.array("tier value")?,
                    quantity: r.u64("tier quantity")?,
                })
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        let points = read_dids(r, "distribution points", 0, MAX_PROGRAM_POINTS)?;
        let flags = r.u8("program flags")?;
        if flags > 3 {
            return Err(DecodeError::UnknownTag {
                field: "program flags",
                tag: flags as u64,
            });
        }
        let (anonymous, value_notes) = (flags & 1 != 0, flags & 2 != 0);
        let p = Program {
            name,
            schema,
            issuers,
            policy_source,
            conditions,
            disclose,
            issued_before,
            rounds,
            grace_ms,
            entitlement: Entitlement {
                quantity,
                unit,
                tiers,
            },
            points,
            anonymous,
            value_notes,
            nonce: r.u64("program nonce")?,
        };
        p.check_limits()?;
        Ok(p)
    }

    /// Checks limits and order.
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_str("program name", &self.name, 1, 64)?;
        check_range(
            "accepted issuers",
            self.issuers.len() as u64,
            1,
            MAX_PROGRAM_ISSUERS as u64,
        )?;
        check_strictly_ascending("accepted issuers", &self.issuers)?;
        check_str(
            "policy source",
            &self.policy_source,
            0,
            MAX_POLICY_SOURCE_BYTES,
        )?;
        check_range(
            "condition count",
            self.conditions.len() as u64,
            0,
            MAX_CONDITIONS as u64,
        )?;
        for c in &self.conditions {
            c.check()?;
        }
        check_range(
            "round count",
            self.rounds.len() as u64,
            1,
            MAX_ROUNDS as u64,
        )?;
        let numbers: Vec<u32> = self.rounds.iter().map(|r| r.number).collect();
        check_strictly_ascending("round numbers", &numbers)?;
        if self.rounds.iter().any(|r| r.opens >= r.closes) {
            return Err(DecodeError::Inconsistent("a round closes before it opens"));
        }
        check_str("entitlement unit", &self.entitlement.unit, 1, 32)?;
        check_range(
            "tier count",
            self.entitlement.tiers.len() as u64,
            0,
            MAX_TIERS as u64,
        )?;
        for t in &self.entitlement.tiers {
            check_range(
                "tier attribute",
                t.attribute as u64,
                0,
                ATTRIBUTE_SLOTS as u64 - 1,
            )?;
            if self.disclose & (1 << t.attribute) == 0 {
                return Err(DecodeError::Inconsistent(
                    "a tier's attribute must be disclosed",
                ));
            }
        }
        check_range(
            "distribution points",
            self.points.len() as u64,
            0,
            MAX_PROGRAM_POINTS as u64,
        )?;
        check_strictly_ascending("distribution points", &self.points)
    }
}

/// The distribution point that accepted a claim, and its device's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PointEndorsement {
    /// The point's DID.
    pub point: Did,
    /// The device (tablet) key that signed.
    pub device_key: PublicKeyBytes,
    /// Ed25519 over [`Claim::signing_message`].
    pub signature: SignatureBytes,
}

/// One household's claim for one round of a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    /// The program.
    pub program: ProgramId,
    /// The round's number.
    pub round: u32,
    /// The registry the credential is in.
    pub registry: RegistryId,
    /// The registry root the proof is against (one of its recent roots).
    #[serde(with = "crate::registry::leaf_hex")]
    pub root: [u8; 32],
    /// The household's nullifier for (program, round).
    #[serde(with = "crate::registry::leaf_hex")]
    pub nullifier: [u8; 32],
    /// Disclosed attribute values, by ascending slot (the program's disclosure mask).
    #[serde(with = "crate::registry::leaves_hex")]
    pub disclosed: Vec<[u8; 32]>,
    /// The verifier's fresh nonce.
    #[serde(with = "crate::payload::hex_vec")]
    pub nonce: Vec<u8>,
    /// When the verifier asked (Unix ms).
    #[serde(with = "crate::payload::u64_string")]
    pub time: u64,
    /// The Groth16 proof, compressed (128 bytes).
    #[serde(with = "crate::payload::hex_vec")]
    pub proof: Vec<u8>,
    /// The household's one-time key (compressed Ristretto) to which the ledger mints
    /// the round's entitlement as a value note when the claim is applied
    /// (`specs/entitlements.md` §2). Bound into the circuit's challenge, so nobody can
    /// swap it for their own. Absent: the entitlement is handed over in kind.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_key_hex")]
    pub entitlement_key: Option<[u8; 32]>,
    /// The accepting point (absent for a holder's own anonymous submission).
    pub endorsement: Option<PointEndorsement>,
}

mod opt_key_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(k) => s.serialize_str(&hex::encode(k)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| crate::id::parse_hex_array::<32>(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Length of a claim's nonce.
pub const CLAIM_NONCE_BYTES: usize = 16;
/// Length of a compressed proof.
pub const CLAIM_PROOF_BYTES: usize = 128;

impl Claim {
    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        self.encode_unsigned(w);
        match &self.endorsement {
            None => w.u8(0),
            Some(e) => {
                w.u8(1);
                w.bytes(&e.point.0);
                w.bytes(&e.device_key.0);
                w.bytes(&e.signature.0);
            }
        }
    }

    fn encode_unsigned(&self, w: &mut Writer) {
        w.bytes(self.program.bytes());
        w.u32(self.round);
        w.bytes(&self.registry.0);
        w.bytes(&self.root);
        w.bytes(&self.nullifier);
        w.u8(self.disclosed.len() as u8);
        for d in &self.disclosed {
            w.bytes(d);
        }
        w.bytes(&self.nonce);
        w.u64(self.time);
        w.bytes(&self.proof);
        match &self.entitlement_key {
            None => w.u8(0),
            Some(k) => {
                w.u8(1);
                w.bytes(k);
            }
        }
    }

    /// What the point's device signs: BLAKE2b-256(`weft/claim/v1` || the claim without
    /// its endorsement || point DID || device key).
    pub fn signing_message(&self, point: &Did, device_key: &PublicKeyBytes) -> [u8; 32] {
        let mut w = Writer::default();
        self.encode_unsigned(&mut w);
        blake2b256(&[b"weft/claim/v1", &w.into_bytes(), &point.0, &device_key.0])
    }

    /// The bytes the circuit's challenge is derived from: the nonce, the point (zeros
    /// when absent), the device key (zeros when absent) and the time, so a proof made
    /// for one counter at one moment is worthless anywhere else; with an entitlement
    /// key, under its own domain (`weft/challenge/v2`), also that key, so the value
    /// the claim mints can only reach the key the household chose.
    pub fn challenge_preimage(&self) -> Vec<u8> {
        let (point, key) = match &self.endorsement {
            Some(e) => (e.point.0, e.device_key.0),
            None => ([0; 32], [0; 32]),
        };
        let domain: &[u8] = match self.entitlement_key {
            None => b"weft/challenge/v1",
            Some(_) => b"weft/challenge/v2",
        };
        let mut preimage = [domain, &self.nonce, &point, &key, &self.time.to_le_bytes()].concat();
        if let Some(k) = &self.entitlement_key {
            preimage.extend_from_slice(k);
        }
        preimage
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Claim, DecodeError> {
        let program = ProgramId(RegistryId(r.array("program id")?));
        let round = r.u32("round")?;
        let registry = RegistryId(r.array("registry id")?);
        let root = r.array("root")?;
        let nullifier = r.array("nullifier")?;
        let n = r.u8("disclosed count")? as usize;
        check_range("disclosed count", n as u64, 0, ATTRIBUTE_SLOTS as u64)?;
        let disclosed = (0..n)
            .map(|_| r.array::<32>("disclosed value"))
            .collect::<Result<Vec<_>, _>>()?;
        let nonce = r.take(CLAIM_NONCE_BYTES, "claim nonce")?.to_vec();
        let time = r.u64("claim time")?;
        let proof = r.take(CLAIM_PROOF_BYTES, "proof")?.to_vec();
        let entitlement_key = match r.u8("entitlement key")? {
            0 => None,
            1 => Some(r.array("entitlement key")?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "entitlement key",
                    tag: tag as u64,
                })
            }
        };
        let endorsement = match r.u8("endorsement")? {
            0 => None,
            1 => Some(PointEndorsement {
                point: Did(r.array("point DID")?),
                device_key: PublicKeyBytes(r.array("device key")?),
                signature: SignatureBytes(r.array("device signature")?),
            }),
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "endorsement",
                    tag: tag as u64,
                })
            }
        };
        Ok(Claim {
            program,
            round,
            registry,
            root,
            nullifier,
            disclosed,
            nonce,
            time,
            proof,
            entitlement_key,
            endorsement,
        })
    }

    /// Checks lengths (for values built in code).
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_range(
            "disclosed count",
            self.disclosed.len() as u64,
            0,
            ATTRIBUTE_SLOTS as u64,
        )?;
        check_range(
            "claim nonce",
            self.nonce.len() as u64,
            CLAIM_NONCE_BYTES as u64,
            CLAIM_NONCE_BYTES as u64,
        )?;
        check_range(
            "proof",
            self.proof.len() as u64,
            CLAIM_PROOF_BYTES as u64,
            CLAIM_PROOF_BYTES as u64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_program() -> Program {
        Program {
            name: "winter food".into(),
            schema: SchemaId([1; 32]),
            issuers: vec![Did([2; 32]), Did([3; 32])],
            policy_source: "household_size >= 3".into(),
            conditions: vec![
                PolicyCondition {
                    attribute: 0,
                    predicate: PredicateOp::Ge { value: 3 },
                },
                PolicyCondition {
                    attribute: 1,
                    predicate: PredicateOp::In {
                        values: vec![[0; 32], [1; 32]],
                    },
                },
            ],
            disclose: 0b10,
            issued_before: 2_000_000_000,
            rounds: vec![
                Round {
                    number: 1,
                    opens: 10,
                    closes: 20,
                },
                Round {
                    number: 2,
                    opens: 20,
                    closes: 30,
                },
            ],
            grace_ms: 86_400_000,
            entitlement: Entitlement {
                quantity: 25,
                unit: "kg rice".into(),
                tiers: vec![Tier {
                    attribute: 1,
                    value: [1; 32],
                    quantity: 40,
                }],
            },
            points: vec![Did([9; 32])],
            anonymous: false,
            value_notes: false,
            nonce: 0,
        }
    }

    fn sample_claim(endorsed: bool) -> Claim {
        Claim {
            program: sample_program().id(&Did([2; 32])),
            round: 1,
            registry: RegistryId([4; 32]),
            root: [5; 32],
            nullifier: [6; 32],
            disclosed: vec![[7; 32]],
            nonce: vec![8; 16],
            time: 15,
            proof: vec![9; 128],
            entitlement_key: None,
            endorsement: endorsed.then_some(PointEndorsement {
                point: Did([9; 32]),
                device_key: PublicKeyBytes([10; 32]),
                signature: SignatureBytes([11; 64]),
            }),
        }
    }

    fn bytes(f: impl Fn(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::default();
        f(&mut w);
        w.into_bytes()
    }

    #[test]
    fn round_trips_and_truncations() {
        let p = sample_program();
        let b = bytes(|w| p.encode_into(w));
        assert_eq!(Program::decode_from(&mut Reader::new(&b)).unwrap(), p);
        for cut in 0..b.len() {
            assert!(Program::decode_from(&mut Reader::new(&b[..cut])).is_err());
        }
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Program>(&json).unwrap(), p);
        for endorsed in [false, true] {
            let c = sample_claim(endorsed);
            let b = bytes(|w| c.encode_into(w));
            let mut r = Reader::new(&b);
            assert_eq!(Claim::decode_from(&mut r).unwrap(), c);
            r.finish("claim").unwrap();
            for cut in 0..b.len() {
                let mut r = Reader::new(&b[..cut]);
                assert!(Claim::decode_from(&mut r)
                    .and_then(|_| r.finish("claim"))
                    .is_err());
            }
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Claim>(&json).unwrap(), c);
        }
    }

    #[test]
    fn invalid_programs_are_refused() {
        let mut p = sample_program();
        p.issuers.reverse();
        assert!(p.check_limits().is_err());
        let mut p = sample_program();
        p.rounds[0].closes = p.rounds[0].opens;
        assert!(p.check_limits().is_err());
        let mut p = sample_program();
        p.rounds.swap(0, 1);
        assert!(p.check_limits().is_err());
        let mut p = sample_program();
        p.disclose = 0;
        assert!(
            p.check_limits().is_err(),
            "a tier on an undisclosed attribute"
        );
        let mut p = sample_program();
        p.conditions[0].attribute = 16;
        assert!(p.check_limits().is_err());
        let mut p = sample_program();
        p.conditions[1].predicate = PredicateOp::In { values: vec![] };
        assert!(p.check_limits().is_err());
        let mut p = sample_program();
        p.rounds.clear();
        assert!(p.check_limits().is_err());
    }

    #[test]
    fn the_device_signs_everything_but_its_signature() {
        let c = sample_claim(true);
        let e = c.endorsement.clone().unwrap();
        let m = c.signing_message(&e.point, &e.device_key);
        let mut other = c.clone();
        other.nullifier[0] ^= 1;
        assert_ne!(other.signing_message(&e.point, &e.device_key), m);
        let mut other = c.clone();
        other.endorsement.as_mut().unwrap().signature = SignatureBytes([0; 64]);
        assert_eq!(other.signing_message(&e.point, &e.device_key), m);
        assert_ne!(
            c.challenge_preimage(),
            sample_claim(false).challenge_preimage()
        );
    }
}
