//! Attribute values as field elements of the eligibility circuit.
//!
//! A schema (`weft_types::Schema`) says, attribute by attribute, how a JSON value in a
//! credential becomes the BN254 field element in circuit slot `i`. The mapping must be
//! the same in the agency's tool, the holder's wallet and the verifier's request, and
//! it must be injective on the values a schema allows, so it is strict: every value
//! has exactly one accepted JSON spelling.
//!
//! | kind | JSON | field element |
//! |---|---|---|
//! | `Integer { bits }` | a non-negative integer number `< 2^bits` | the integer |
//! | `Date` | `"YYYY-MM-DD"`, 1970-01-01 or later | days since 1970-01-01 |
//! | `Enumeration { values }` | one of `values` (a string) | its position in `values` |
//! | `Boolean` | `true` / `false` | 1 / 0 |
//! | `StringHash` | any string | [`string_hash`] of its UTF-8 bytes |
//!
//! Integers, dates, enumerations and booleans are below `2^32`, so they are *ordered*
//! attributes of the circuit (`<`, `between`, ...); hashed strings are *opaque* (only
//! `=`, `!=`, `in`, `not in`). Slots after the schema's last attribute are zero.

use ark_ff::{BigInteger, PrimeField};
use serde_json::{Map, Value};
use time::{Date, Month};
use weft_circuits::groth16::fr_from_hash;
use weft_circuits::NUM_ATTRIBUTES;
use weft_crypto::poseidon::Fr;
use weft_types::{AttributeKind, Schema, SchemaId};

use crate::CredentialError;

/// Domain prefix of [`string_hash`].
pub const STRING_HASH_DOMAIN: &[u8] = b"weft/attribute/string/v1";

/// The field element of a `StringHash` attribute:
/// `fr_from_hash("weft/attribute/string/v1" || UTF-8 bytes)`, that is the first 31
/// bytes of BLAKE2b-256 of the domain-prefixed text read as a little-endian integer
/// (248 bits, always below the BN254 scalar modulus, so no reduction). The text is
/// hashed as given: no Unicode normalisation, no trimming, case-sensitive; issuers
/// normalise before issuing, verifiers hash the same text to ask for equality.
pub fn string_hash(text: &str) -> Fr {
    let mut data = Vec::with_capacity(STRING_HASH_DOMAIN.len() + text.len());
    data.extend_from_slice(STRING_HASH_DOMAIN);
    data.extend_from_slice(text.as_bytes());
    fr_from_hash(&data)
}

/// The schema as the circuit's `schema` field element: the first 31 bytes of the
/// schema id read as a big-endian integer (248 bits, below the modulus, so no
/// reduction). The id is already a BLAKE2b-256 hash, so truncation keeps 124-bit
/// collision resistance, and the element displays as the id's first 62 hex digits.
pub fn schema_field(schema_id: &SchemaId) -> Fr {
    Fr::from_be_bytes_mod_order(&schema_id.0[..31])
}

/// Whether a circuit `schema` element is the one of `schema_id` (the reverse of
/// [`schema_field`], which cannot be inverted from the element alone: it drops a byte).
pub fn schema_field_matches(field: &Fr, schema_id: &SchemaId) -> bool {
    schema_field(schema_id) == *field
}

/// The date 1970-01-01, day 0.
fn epoch() -> Date {
    time::macros::date!(1970 - 01 - 01)
}

/// Parses `YYYY-MM-DD` (exactly that shape) into days since 1970-01-01.
fn date_days(name: &str, s: &str) -> Result<u64, CredentialError> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(CredentialError::attribute(
            name,
            format!("`{}` is not a date YYYY-MM-DD", truncate(s)),
        ));
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(|| CredentialError::attribute(name, format!("`{s}` has no month {m}")))?;
    let date = i32::try_from(y)
        .ok()
        .zip(u8::try_from(d).ok())
        .and_then(|(y, d)| Date::from_calendar_date(y, month, d).ok())
        .ok_or_else(|| CredentialError::attribute(name, format!("`{s}` is not a calendar date")))?;
    let days = (date - epoch()).whole_days();
    u64::try_from(days)
        .map_err(|_| CredentialError::attribute(name, format!("`{s}` is before 1970-01-01")))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Encodes one attribute value (`name` is only used in errors).
pub fn encode_value(
    name: &str,
    kind: &AttributeKind,
    value: &Value,
) -> Result<Fr, CredentialError> {
    match kind {
        AttributeKind::Integer { bits } => {
            let n = match value {
                Value::Number(n) => n,
                v => {
                    return Err(CredentialError::attribute(
                        name,
                        format!("expected an integer, found {}", kind_name(v)),
                    ))
                }
            };
            let x = match n.as_u64() {
                Some(x) => x,
                None if n.as_i64().is_some() => {
                    return Err(CredentialError::attribute(name, format!("{n} is negative")))
                }
                None => {
                    return Err(CredentialError::attribute(
                        name,
                        format!("{n} is not an integer"),
                    ))
                }
            };
            let bits = u32::from(*bits);
            if bits == 0 || bits > 32 {
                return Err(CredentialError::InvalidSchema(format!(
                    "attribute `{name}` has an integer width of {bits} bits"
                )));
            }
            if x >> bits != 0 {
                return Err(CredentialError::attribute(
                    name,
                    format!("{x} does not fit in {bits} bits"),
                ));
            }
            Ok(Fr::from(x))
        }
        AttributeKind::Date => match value {
            Value::String(s) => date_days(name, s).map(Fr::from),
            v => Err(CredentialError::attribute(
                name,
                format!("expected a date string, found {}", kind_name(v)),
            )),
        },
        AttributeKind::Enumeration { values } => match value {
            Value::String(s) => values
                .iter()
                .position(|v| v == s)
                .map(|i| Fr::from(i as u64))
                .ok_or_else(|| {
                    CredentialError::attribute(
                        name,
                        format!("`{}` is not one of the schema's values", truncate(s)),
                    )
                }),
            v => Err(CredentialError::attribute(
                name,
                format!(
                    "expected one of the schema's values, found {}",
                    kind_name(v)
                ),
            )),
        },
        AttributeKind::Boolean => match value {
            Value::Bool(b) => Ok(Fr::from(u64::from(*b))),
            v => Err(CredentialError::attribute(
                name,
                format!("expected true or false, found {}", kind_name(v)),
            )),
        },
        AttributeKind::StringHash => match value {
            Value::String(s) => Ok(string_hash(s)),
            v => Err(CredentialError::attribute(
                name,
                format!("expected a string, found {}", kind_name(v)),
            )),
        },
    }
}

/// Encodes a credential's attributes (`credentialSubject`) into the circuit's 16
/// slots: slot `i` is the schema's attribute `i`, later slots are zero. Every schema
/// attribute must be given and nothing else.
pub fn encode_attributes(
    schema: &Schema,
    values: &Map<String, Value>,
) -> Result<[Fr; NUM_ATTRIBUTES], CredentialError> {
    if schema.attributes.len() > NUM_ATTRIBUTES {
        return Err(CredentialError::InvalidSchema(format!(
            "{} attributes (at most {NUM_ATTRIBUTES})",
            schema.attributes.len()
        )));
    }
    if let Some(extra) = values.keys().find(|k| schema.position(k).is_none()) {
        return Err(CredentialError::UnknownAttribute(truncate(extra)));
    }
    let mut out = [Fr::from(0u64); NUM_ATTRIBUTES];
    for (slot, def) in out.iter_mut().zip(&schema.attributes) {
        let value = values
            .get(&def.name)
            .ok_or_else(|| CredentialError::MissingAttribute(def.name.clone()))?;
        *slot = encode_value(&def.name, &def.kind, value)?;
    }
    Ok(out)
}

/// The JSON value a field element stands for, for display: `None` for hashed strings
/// (a hash cannot be reversed) and for elements no value of the kind encodes to.
pub fn decode_value(kind: &AttributeKind, x: &Fr) -> Option<Value> {
    let small = || -> Option<u64> {
        let bytes = x.into_bigint().to_bytes_be();
        let (high, low) = bytes.split_at(bytes.len().checked_sub(8)?);
        if high.iter().any(|b| *b != 0) {
            return None;
        }
        Some(u64::from_be_bytes(low.try_into().ok()?))
    };
    match kind {
        AttributeKind::Integer { bits } => {
            let v = small()?;
            (u32::from(*bits) <= 32 && v >> bits == 0).then(|| Value::from(v))
        }
        AttributeKind::Date => {
            let days = i64::try_from(small()?).ok()?;
            let date = epoch().checked_add(time::Duration::days(days))?;
            (date.year() <= 9999).then(|| {
                Value::from(format!(
                    "{:04}-{:02}-{:02}",
                    date.year(),
                    u8::from(date.month()),
                    date.day()
                ))
            })
        }
        AttributeKind::Enumeration { values } => {
            let i = usize::try_from(small()?).ok()?;
            values.get(i).map(|v| Value::from(v.clone()))
        }
        AttributeKind::Boolean => match small()? {
            0 => Some(Value::Bool(false)),
            1 => Some(Value::Bool(true)),
            _ => None,
        },
        AttributeKind::StringHash => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weft_crypto::poseidon::fr_to_decimal;
    use weft_types::AttributeDef;

    pub(crate) fn schema() -> Schema {
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

    fn enc(kind: AttributeKind, v: Value) -> Result<String, CredentialError> {
        encode_value("a", &kind, &v).map(|x| fr_to_decimal(&x))
    }

    /// The vectors of specs/credentials.md §3.
    #[test]
    fn spec_vectors() {
        let int8 = AttributeKind::Integer { bits: 8 };
        let int32 = AttributeKind::Integer { bits: 32 };
        let region = AttributeKind::Enumeration {
            values: vec!["north".into(), "east".into(), "south".into()],
        };
        let cases: Vec<(AttributeKind, Value, &str)> = vec![
            (int8.clone(), json!(0), "0"),
            (int8.clone(), json!(4), "4"),
            (int8, json!(255), "255"),
            (int32, json!(4294967295u64), "4294967295"),
            (AttributeKind::Date, json!("1970-01-01"), "0"),
            (AttributeKind::Date, json!("2024-02-29"), "19782"),
            (AttributeKind::Date, json!("2026-11-25"), "20782"),
            (region.clone(), json!("north"), "0"),
            (region, json!("south"), "2"),
            (AttributeKind::Boolean, json!(false), "0"),
            (AttributeKind::Boolean, json!(true), "1"),
            (
                AttributeKind::StringHash,
                json!("Camp Alpha"),
                SPEC_CAMP_ALPHA,
            ),
            (AttributeKind::StringHash, json!(""), SPEC_EMPTY),
        ];
        for (kind, value, expected) in cases {
            assert_eq!(
                enc(kind.clone(), value.clone()).unwrap(),
                expected,
                "{value}"
            );
            if !matches!(kind, AttributeKind::StringHash) {
                let x = encode_value("a", &kind, &value).unwrap();
                assert_eq!(decode_value(&kind, &x), Some(value));
            }
        }
    }

    const SPEC_CAMP_ALPHA: &str =
        "420108964600483511460149214501879466642493536035424020161469837884808274262";
    const SPEC_EMPTY: &str =
        "172394837142920445168035444184842564021460160252360233352786033289422414841";

    #[test]
    fn rejections() {
        let int8 = AttributeKind::Integer { bits: 8 };
        for bad in [
            json!(256),
            json!(-1),
            json!(1.5),
            json!(1.0),
            json!("4"),
            json!(null),
        ] {
            assert!(enc(int8.clone(), bad.clone()).is_err(), "{bad}");
        }
        assert!(enc(AttributeKind::Integer { bits: 32 }, json!(4294967296u64)).is_err());
        for bad in [
            "1969-12-31",
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "26-11-25",
            "2026-11-25T00:00:00Z",
            "+2026-11-2",
            "２０２６-11-25",
        ] {
            let e = enc(AttributeKind::Date, json!(bad)).unwrap_err();
            assert!(e.to_string().contains("`a`"), "{e}");
        }
        assert!(enc(AttributeKind::Date, json!(20000)).is_err());
        let region = AttributeKind::Enumeration {
            values: vec!["north".into()],
        };
        assert!(enc(region.clone(), json!("North")).is_err());
        assert!(enc(region, json!(0)).is_err());
        assert!(enc(AttributeKind::Boolean, json!(1)).is_err());
        assert!(enc(AttributeKind::Boolean, json!("true")).is_err());
        assert!(enc(AttributeKind::StringHash, json!(5)).is_err());
    }

    #[test]
    fn whole_credential_subject() {
        let s = schema();
        let subject = json!({
            "household_size": 4, "region": "south", "displaced_since": "2026-11-25",
            "disability": true, "camp": "Camp Alpha"
        });
        let map = subject.as_object().unwrap();
        let a = encode_attributes(&s, map).unwrap();
        assert_eq!(a[0], Fr::from(4u64));
        assert_eq!(a[1], Fr::from(2u64));
        assert_eq!(a[2], Fr::from(20782u64));
        assert_eq!(a[3], Fr::from(1u64));
        assert_eq!(a[4], string_hash("Camp Alpha"));
        assert!(a[5..].iter().all(|x| *x == Fr::from(0u64)));

        let mut missing = map.clone();
        missing.remove("region");
        assert_eq!(
            encode_attributes(&s, &missing),
            Err(CredentialError::MissingAttribute("region".into()))
        );
        let mut extra = map.clone();
        extra.insert("name".into(), json!("Jane"));
        assert_eq!(
            encode_attributes(&s, &extra),
            Err(CredentialError::UnknownAttribute("name".into()))
        );
    }

    #[test]
    fn schema_field_is_the_id_prefix() {
        let id = schema().id();
        let f = schema_field(&id);
        let be = weft_crypto::poseidon::fr_to_bytes_be(&f);
        assert_eq!(be[0], 0);
        assert_eq!(&be[1..], &id.0[..31]);
        assert!(schema_field_matches(&f, &id));
        assert!(!schema_field_matches(&f, &SchemaId([0; 32])));
    }
}
