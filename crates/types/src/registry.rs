//! Credential payloads: schemas, issuers' registries, issuance and revocation.
//!
//! A schema says which attributes a credential has and how each becomes a field
//! element of the eligibility circuit. A registry is an issuer's append-only Poseidon
//! Merkle tree of credential commitments: issuance appends a batch of leaves (opaque
//! 32-byte commitments: nothing personal), revocation sets leaves to zero. The mapping
//! of attribute values is specified in `specs/credentials.md`.

use serde::{Deserialize, Serialize};

use crate::codec::{check_range, check_strictly_ascending, DecodeError, Reader, Writer};
use crate::hash::blake2b256;
use crate::identity::{check_str, read_str, write_str, Did};

/// Most attributes of a schema (the circuit's attribute slots).
pub const MAX_SCHEMA_ATTRIBUTES: usize = 16;
/// Longest schema or attribute name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest schema version, in bytes.
pub const MAX_VERSION_BYTES: usize = 32;
/// Most values of an enumeration attribute.
pub const MAX_ENUM_VALUES: usize = 64;
/// Widest integer attribute: ordered comparisons in the circuit are sound up to 32 bits.
pub const MAX_INTEGER_BITS: u8 = 32;
/// Most leaves one issuance block appends (keeps the block well under 32 KiB).
pub const MAX_ISSUANCE_LEAVES: usize = 960;
/// Most leaves one revocation block zeroes.
pub const MAX_REVOCATIONS: usize = 1024;
/// Smallest and largest chunk size exponent a registry may choose.
pub const MIN_CHUNK_BITS: u8 = 4;
/// See [`MIN_CHUNK_BITS`].
pub const MAX_CHUNK_BITS: u8 = 14;
/// Default registry depth.
pub const DEFAULT_REGISTRY_DEPTH: u8 = 24;
/// Default chunk size exponent (1,024 leaves per chunk).
pub const DEFAULT_CHUNK_BITS: u8 = 10;
/// Largest registry depth.
pub const MAX_REGISTRY_DEPTH: u8 = 32;

pub use crate::id::{RegistryId, SchemaId};

/// How an attribute is written and turned into a field element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AttributeKind {
    /// An unsigned integer below `2^bits`; the element is the integer.
    Integer {
        /// Width, 1..=32.
        bits: u8,
    },
    /// A calendar date (`YYYY-MM-DD`); the element is days since 1970-01-01.
    Date,
    /// One of a fixed list; the element is the value's position in the list.
    Enumeration {
        /// The values, unique, at most 64.
        values: Vec<String>,
    },
    /// `true` or `false`; the element is 1 or 0.
    Boolean,
    /// Free text, only ever compared for equality; the element is a hash of the text.
    StringHash,
}

/// One attribute of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    /// Name (`household_size`): 1-64 bytes of `[a-z0-9_]`, starting with a letter.
    pub name: String,
    /// Its kind.
    pub kind: AttributeKind,
}

/// A credential schema. The attribute at position `i` is circuit slot `i`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// Name (for example `household-registration`).
    pub name: String,
    /// Version (for example `1.0`).
    pub version: String,
    /// The attributes, 1 to 16, names unique.
    pub attributes: Vec<AttributeDef>,
}

fn check_attribute_name(name: &str) -> Result<(), DecodeError> {
    check_str("attribute name", name, 1, MAX_NAME_BYTES)?;
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    if !first_ok
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(DecodeError::Inconsistent(
            "an attribute name is [a-z][a-z0-9_]*",
        ));
    }
    Ok(())
}

impl AttributeKind {
    fn encode_into(&self, w: &mut Writer) {
        match self {
            AttributeKind::Integer { bits } => {
                w.u8(0);
                w.u8(*bits);
            }
            AttributeKind::Date => w.u8(1),
            AttributeKind::Enumeration { values } => {
                w.u8(2);
                w.u8(values.len() as u8);
                for v in values {
                    write_str(w, v, false);
                }
            }
            AttributeKind::Boolean => w.u8(3),
            AttributeKind::StringHash => w.u8(4),
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<AttributeKind, DecodeError> {
        let kind = match r.u8("attribute kind")? {
            0 => AttributeKind::Integer {
                bits: r.u8("integer bits")?,
            },
            1 => AttributeKind::Date,
            2 => {
                let n = r.u8("enumeration size")? as usize;
                check_range("enumeration size", n as u64, 1, MAX_ENUM_VALUES as u64)?;
                let values = (0..n)
                    .map(|_| read_str(r, "enumeration value", 1, MAX_NAME_BYTES, false))
                    .collect::<Result<Vec<_>, _>>()?;
                AttributeKind::Enumeration { values }
            }
            3 => AttributeKind::Boolean,
            4 => AttributeKind::StringHash,
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "attribute kind",
                    tag: tag as u64,
                })
            }
        };
        kind.check()?;
        Ok(kind)
    }

    fn check(&self) -> Result<(), DecodeError> {
        match self {
            AttributeKind::Integer { bits } => {
                check_range("integer bits", *bits as u64, 1, MAX_INTEGER_BITS as u64)
            }
            AttributeKind::Enumeration { values } => {
                check_range(
                    "enumeration size",
                    values.len() as u64,
                    1,
                    MAX_ENUM_VALUES as u64,
                )?;
                for v in values {
                    check_str("enumeration value", v, 1, MAX_NAME_BYTES)?;
                }
                let mut sorted: Vec<&String> = values.iter().collect();
                sorted.sort();
                if sorted.windows(2).any(|p| p[0] == p[1]) {
                    return Err(DecodeError::Inconsistent(
                        "an enumeration lists a value twice",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Schema {
    /// The schema's id.
    pub fn id(&self) -> SchemaId {
        let mut w = Writer::default();
        self.encode_into(&mut w);
        SchemaId(blake2b256(&[b"weft/schema/v1", &w.into_bytes()]))
    }

    /// The position of an attribute by name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.attributes.iter().position(|a| a.name == name)
    }

    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        write_str(w, &self.name, false);
        write_str(w, &self.version, false);
        w.u8(self.attributes.len() as u8);
        for a in &self.attributes {
            write_str(w, &a.name, false);
            a.kind.encode_into(w);
        }
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Schema, DecodeError> {
        let name = read_str(r, "schema name", 1, MAX_NAME_BYTES, false)?;
        let version = read_str(r, "schema version", 1, MAX_VERSION_BYTES, false)?;
        let n = r.u8("attribute count")? as usize;
        check_range("attribute count", n as u64, 1, MAX_SCHEMA_ATTRIBUTES as u64)?;
        let attributes = (0..n)
            .map(|_| {
                Ok(AttributeDef {
                    name: read_str(r, "attribute name", 1, MAX_NAME_BYTES, false)?,
                    kind: AttributeKind::decode_from(r)?,
                })
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        let schema = Schema {
            name,
            version,
            attributes,
        };
        schema.check_limits()?;
        Ok(schema)
    }

    /// Checks limits (for values built in code).
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_str("schema name", &self.name, 1, MAX_NAME_BYTES)?;
        check_str("schema version", &self.version, 1, MAX_VERSION_BYTES)?;
        check_range(
            "attribute count",
            self.attributes.len() as u64,
            1,
            MAX_SCHEMA_ATTRIBUTES as u64,
        )?;
        for a in &self.attributes {
            check_attribute_name(&a.name)?;
            a.kind.check()?;
        }
        let mut names: Vec<&str> = self.attributes.iter().map(|a| a.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|p| p[0] == p[1]) {
            return Err(DecodeError::Inconsistent(
                "a schema names an attribute twice",
            ));
        }
        Ok(())
    }
}

/// An issuer creates a registry for credentials of one schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCreate {
    /// The schema of the credentials it holds.
    pub schema: SchemaId,
    /// Tree depth (1..=32; 24 by default: 16.7 million credentials).
    pub depth: u8,
    /// Chunk size exponent `k` (4..=14, at most the depth; 10 by default): wallets
    /// download whole chunks of `2^k` leaves.
    pub chunk_bits: u8,
    /// A label that tells the issuer's registries apart (for example `2026-north`).
    pub label: String,
}

impl RegistryCreate {
    /// The registry's id when created by `issuer`.
    pub fn id(&self, issuer: &Did) -> RegistryId {
        let mut w = Writer::default();
        self.encode_into(&mut w);
        RegistryId(blake2b256(&[
            b"weft/registry/v1",
            &issuer.0,
            &w.into_bytes(),
        ]))
    }

    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        w.bytes(&self.schema.0);
        w.u8(self.depth);
        w.u8(self.chunk_bits);
        write_str(w, &self.label, false);
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<RegistryCreate, DecodeError> {
        let c = RegistryCreate {
            schema: SchemaId(r.array("schema id")?),
            depth: r.u8("registry depth")?,
            chunk_bits: r.u8("chunk bits")?,
            label: read_str(r, "registry label", 0, MAX_NAME_BYTES, false)?,
        };
        c.check_limits()?;
        Ok(c)
    }

    /// Checks limits.
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_range(
            "registry depth",
            self.depth as u64,
            1,
            MAX_REGISTRY_DEPTH as u64,
        )?;
        check_range(
            "chunk bits",
            self.chunk_bits as u64,
            MIN_CHUNK_BITS as u64,
            MAX_CHUNK_BITS.min(self.depth) as u64,
        )?;
        check_str("registry label", &self.label, 0, MAX_NAME_BYTES)
    }
}

/// Appends credential commitments to a registry, from position `first_index`.
///
/// Naming the first position makes issuance idempotent: a batch that is submitted
/// twice (an agency's tool restarted) conflicts the second time instead of issuing
/// twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issuance {
    /// The registry.
    pub registry: RegistryId,
    /// The registry's size before this batch.
    #[serde(with = "crate::payload::u64_string")]
    pub first_index: u64,
    /// The commitments (BN254 field elements, 32 bytes big-endian), 1 to 960.
    #[serde(with = "leaves_hex")]
    pub leaves: Vec<[u8; 32]>,
}

impl Issuance {
    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        w.bytes(&self.registry.0);
        w.u64(self.first_index);
        w.u16(self.leaves.len() as u16);
        for leaf in &self.leaves {
            w.bytes(leaf);
        }
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Issuance, DecodeError> {
        let registry = RegistryId(r.array("registry id")?);
        let first_index = r.u64("first index")?;
        let n = r.u16("leaf count")? as usize;
        check_range("leaf count", n as u64, 1, MAX_ISSUANCE_LEAVES as u64)?;
        let leaves = (0..n)
            .map(|_| r.array::<32>("leaf"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Issuance {
            registry,
            first_index,
            leaves,
        })
    }

    /// Checks limits.
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_range(
            "leaf count",
            self.leaves.len() as u64,
            1,
            MAX_ISSUANCE_LEAVES as u64,
        )
    }
}

/// Sets leaves of a registry to zero: those credentials no longer prove anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    /// The registry.
    pub registry: RegistryId,
    /// Leaf positions, strictly ascending, 1 to 1,024.
    pub indices: Vec<u64>,
}

impl Revocation {
    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        w.bytes(&self.registry.0);
        w.u16(self.indices.len() as u16);
        for i in &self.indices {
            w.u64(*i);
        }
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Revocation, DecodeError> {
        let registry = RegistryId(r.array("registry id")?);
        let n = r.u16("revocation count")? as usize;
        check_range("revocation count", n as u64, 1, MAX_REVOCATIONS as u64)?;
        let indices = (0..n)
            .map(|_| r.u64("revoked index"))
            .collect::<Result<Vec<_>, _>>()?;
        let rev = Revocation { registry, indices };
        rev.check_limits()?;
        Ok(rev)
    }

    /// Checks limits and order.
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_range(
            "revocation count",
            self.indices.len() as u64,
            1,
            MAX_REVOCATIONS as u64,
        )?;
        check_strictly_ascending("revoked indices", &self.indices)
    }
}

/// Serde helpers: one 32-byte value as a `0x`-prefixed hex string.
pub mod leaf_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as `0x…`.
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(v)))
    }

    /// Accepts hex with or without `0x`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        crate::id::parse_hex_array::<32>(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde helpers: a list of 32-byte values as `0x`-prefixed hex strings.
pub mod leaves_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as a list of `0x…` strings.
    pub fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|l| format!("0x{}", hex::encode(l))))
    }

    /// Accepts hex strings with or without `0x`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.iter()
            .map(|s| crate::id::parse_hex_array::<32>(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_schema() -> Schema {
        Schema {
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
                AttributeDef {
                    name: "disability".into(),
                    kind: AttributeKind::Boolean,
                },
                AttributeDef {
                    name: "camp".into(),
                    kind: AttributeKind::StringHash,
                },
            ],
        }
    }

    fn enc<T>(v: &T, f: impl Fn(&T, &mut Writer)) -> Vec<u8> {
        let mut w = Writer::default();
        f(v, &mut w);
        w.into_bytes()
    }

    #[test]
    fn round_trips_and_truncations() {
        let s = sample_schema();
        let b = enc(&s, Schema::encode_into);
        assert_eq!(Schema::decode_from(&mut Reader::new(&b)).unwrap(), s);
        for cut in 0..b.len() {
            assert!(Schema::decode_from(&mut Reader::new(&b[..cut])).is_err());
        }
        let c = RegistryCreate {
            schema: s.id(),
            depth: 24,
            chunk_bits: 10,
            label: "north".into(),
        };
        let b = enc(&c, RegistryCreate::encode_into);
        assert_eq!(
            RegistryCreate::decode_from(&mut Reader::new(&b)).unwrap(),
            c
        );
        let i = Issuance {
            registry: c.id(&Did([5; 32])),
            first_index: 3,
            leaves: vec![[1; 32], [2; 32]],
        };
        let b = enc(&i, Issuance::encode_into);
        assert_eq!(Issuance::decode_from(&mut Reader::new(&b)).unwrap(), i);
        let json = serde_json::to_string(&i).unwrap();
        assert_eq!(serde_json::from_str::<Issuance>(&json).unwrap(), i);
        let r = Revocation {
            registry: i.registry,
            indices: vec![1, 5, 9],
        };
        let b = enc(&r, Revocation::encode_into);
        assert_eq!(Revocation::decode_from(&mut Reader::new(&b)).unwrap(), r);
    }

    #[test]
    fn ids_depend_on_content_and_issuer() {
        let s = sample_schema();
        let mut s2 = s.clone();
        s2.version = "1.1".into();
        assert_ne!(s.id(), s2.id());
        let c = RegistryCreate {
            schema: s.id(),
            depth: 24,
            chunk_bits: 10,
            label: String::new(),
        };
        assert_ne!(c.id(&Did([1; 32])), c.id(&Did([2; 32])));
    }

    #[test]
    fn limits_are_enforced() {
        let mut s = sample_schema();
        s.attributes[0].name = "Household".into();
        assert!(s.check_limits().is_err());
        let mut s = sample_schema();
        s.attributes[1].name = "household_size".into();
        assert!(s.check_limits().is_err());
        let mut s = sample_schema();
        s.attributes[0].kind = AttributeKind::Integer { bits: 33 };
        assert!(s.check_limits().is_err());
        let mut s = sample_schema();
        s.attributes[1].kind = AttributeKind::Enumeration {
            values: vec!["a".into(), "a".into()],
        };
        assert!(s.check_limits().is_err());
        let mut s = sample_schema();
        while s.attributes.len() <= MAX_SCHEMA_ATTRIBUTES {
            let n = s.attributes.len();
            s.attributes.push(AttributeDef {
                name: format!("a{n}"),
                kind: AttributeKind::Boolean,
            });
        }
        assert!(s.check_limits().is_err());
        let c = RegistryCreate {
            schema: SchemaId([0; 32]),
            depth: 8,
            chunk_bits: 10,
            label: String::new(),
        };
        assert!(c.check_limits().is_err(), "chunk larger than the tree");
        let r = Revocation {
            registry: RegistryId([0; 32]),
            indices: vec![2, 2],
        };
        assert!(r.check_limits().is_err());
        let i = Issuance {
            registry: RegistryId([0; 32]),
            first_index: 0,
            leaves: vec![[0; 32]; MAX_ISSUANCE_LEAVES + 1],
        };
        assert!(i.check_limits().is_err());
    }
}
