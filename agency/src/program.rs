//! Aid programs: an agency writes a program definition (TOML or JSON), the tool checks
//! it against the credential schema, compiles its policy, shows it in plain words with
//! the id it will have, and announces it on the ledger as a `Program` payload signed by
//! the agency.
//!
//! # The definition file
//!
//! TOML (or the same fields in JSON). Required: `name`, `schema`, `policy`,
//! `issued_before`, `rounds`, `entitlement.quantity`, `entitlement.unit`; the rest is
//! optional. Unknown fields are refused, so a misspelt field is not silently ignored.
//!
//! ```toml
//! name = "winter food, camp 7"           # 1 to 64 bytes
//! # A schema id (64 hex digits), or the path of a schema JSON file (relative to this
//! # file) whose id the tool computes; an id is read from the node.
//! schema = "schema.json"
//! # Accepted issuers (DIDs; default: this agency's own DID).
//! # issuers = ["did:weft:…"]
//! # The eligibility rule in the policy language (specs/credentials.md, "Program
//! # policies"): conditions joined by `and`, at most 8.
//! policy = "household_size >= 3 and region in [north, east] and not displaced_since after 2026-01-01"
//! disclose = ["ration"]                  # attributes a claim shows the point
//! issued_before = 2026-12-01             # a date (midnight UTC) or an RFC 3339 time
//! grace_hours = 24                       # claims accepted offline may reach the ledger this late
//! anonymous = false                      # holders may not submit claims themselves
//! value_notes = false                    # true: pay the entitlement as confidential value notes
//! # points = ["did:weft:…"]              # accredited distribution points (default: any)
//!
//! [[rounds]]                             # ascending numbers, in time order, no overlap
//! number = 1
//! opens = 2026-12-01T08:00:00Z           # RFC 3339 (quoted or not), or a date
//! closes = 2026-12-07T18:00:00Z
//!
//! [[rounds]]
//! number = 2
//! opens = "2027-01-01T08:00:00Z"
//! closes = "2027-01-07T18:00:00Z"
//!
//! [entitlement]
//! quantity = 25                          # per claim when no tier applies
//! unit = "kg wheat flour"                # 1 to 32 bytes
//!
//! [[entitlement.tiers]]                  # the first tier whose value matches applies
//! attribute = "ration"                   # must be in `disclose`
//! value = "large"                        # as credentials write it: enum value, number, date, …
//! quantity = 50
//! ```
//!
//! `examples/program.toml` and `examples/schema.json` in this crate are a complete pair.
//!
//! # What the tool builds
//!
//! The `weft_types::Program` payload: `conditions` from
//! [`weft_credentials::policy::compile`] (the source is kept as `policy_source`),
//! `disclose` as a bit mask of the schema positions, tier values as the 32-byte
//! big-endian field element of the encoded attribute
//! ([`weft_credentials::attributes::encode_value`]), times in Unix milliseconds
//! (`issued_before` in seconds), `grace_hours` in milliseconds, `issuers` and `points`
//! sorted (the payload requires ascending order; a DID listed twice is refused). Every
//! error names its field (`rounds[1].closes: …`); a policy error gives the line and
//! column within the policy, the reason, and the line with a caret under the spot.
//!
//! Announcing checks, before anything is sent, that the schema is published, every
//! accepted issuer is an accredited issuer and every point an accredited distribution
//! point, and whether the program is already on the ledger (same owner and contents:
//! same id); then it submits one block and waits for its milestone. One block is all
//! or nothing: on any error before it is sent, nothing was sent.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use weft_client::{Client, ClientError, LedgerOutcome};
use weft_credentials::attributes::{decode_value, encode_value};
use weft_credentials::datetime::{rfc3339_from_unix_millis, unix_millis_from_rfc3339_lenient};
use weft_credentials::policy::{self, CompiledPolicy, PolicyError};
use weft_crypto::poseidon::{fr_from_bytes_be, fr_to_bytes_be};
use weft_types::program::{
    ATTRIBUTE_SLOTS, MAX_PROGRAM_ISSUERS, MAX_PROGRAM_POINTS, MAX_ROUNDS, MAX_TIERS,
};
use weft_types::{
    BlockId, Did, Entitlement, Payload, Program, ProgramId, Round, Schema, SchemaId, Tier,
};

use crate::{AgencyError, Node, Signer, CONFIRM_TIMEOUT};

/// Why a program definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    /// The file cannot be read or is not TOML / JSON.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong (with the line and column the parser reports).
        message: String,
    },
    /// The policy does not compile against the schema.
    #[error("policy {error}\n{excerpt}")]
    Policy {
        /// Where and why (line and column within the policy text).
        error: PolicyError,
        /// The policy's offending line with a caret under the column, indented.
        excerpt: String,
    },
    /// A field of the definition is missing or wrong.
    #[error("{field}: {reason}")]
    Field {
        /// The field (`rounds[1].closes`, `entitlement.tiers[0].attribute`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl ProgramError {
    fn field(field: impl Into<String>, reason: impl Into<String>) -> ProgramError {
        ProgramError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn policy(error: PolicyError, source: &str) -> ProgramError {
        let excerpt = error
            .excerpt(source)
            .lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n");
        ProgramError::Policy { error, excerpt }
    }
}

/// One round as written: times are RFC 3339 or dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundDefinition {
    /// The round's number.
    pub number: u32,
    /// When it opens.
    pub opens: String,
    /// When it closes.
    pub closes: String,
}

/// One entitlement tier as written.
#[derive(Debug, Clone, PartialEq)]
pub struct TierDefinition {
    /// The attribute's name (must be disclosed).
    pub attribute: String,
    /// Its value as credentials write it (enumeration value, number, date, boolean,
    /// text).
    pub value: Value,
    /// The quantity for households with that value.
    pub quantity: u64,
}

/// The entitlement as written.
#[derive(Debug, Clone, PartialEq)]
pub struct EntitlementDefinition {
    /// Per claim when no tier applies.
    pub quantity: u64,
    /// The unit, 1 to 32 bytes.
    pub unit: String,
    /// Tiers by a disclosed attribute, first match applies.
    pub tiers: Vec<TierDefinition>,
}

/// A program definition as the agency writes it (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramDefinition {
    /// The program's name.
    pub name: String,
    /// A schema id (hex) or the path of a schema JSON file.
    pub schema: String,
    /// Accepted issuers' DIDs (empty: the announcing agency).
    pub issuers: Vec<String>,
    /// The policy source.
    pub policy: String,
    /// Names of the attributes a claim discloses.
    pub disclose: Vec<String>,
    /// Credentials issued after this date or time cannot claim.
    pub issued_before: String,
    /// The rounds.
    pub rounds: Vec<RoundDefinition>,
    /// Hours after a round closes during which its claims may still be confirmed.
    pub grace_hours: u64,
    /// What a claim is worth.
    pub entitlement: EntitlementDefinition,
    /// Accredited distribution points' DIDs (empty: every accredited point).
    pub points: Vec<String>,
    /// Whether holders may submit claims themselves (with proof of work).
    pub anonymous: bool,
    /// Whether the entitlement is paid as confidential value notes (cash, vouchers).
    pub value_notes: bool,
    /// Distinguishes two otherwise equal programs of one agency (default 0).
    pub nonce: u64,
}

/// The fields of one JSON object, taken one by one so that errors name them.
struct Fields {
    map: Map<String, Value>,
    prefix: String,
}

impl Fields {
    fn new(value: Value, prefix: &str) -> Result<Fields, ProgramError> {
        match value {
            Value::Object(map) => Ok(Fields {
                map,
                prefix: prefix.to_string(),
            }),
            other => Err(ProgramError::field(
                if prefix.is_empty() {
                    "definition"
                } else {
                    prefix
                },
                format!("expected a table, found {}", kind_name(&other)),
            )),
        }
    }

    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn optional<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, ProgramError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(v) => {
                let found = kind_name(&v);
                T::deserialize(v).map(Some).map_err(|e| {
                    ProgramError::field(self.path(key), format!("{e} (found {found})"))
                })
            }
        }
    }

    fn required<T: DeserializeOwned>(&mut self, key: &str) -> Result<T, ProgramError> {
        self.optional(key)?
            .ok_or_else(|| ProgramError::field(self.path(key), "missing"))
    }

    fn raw(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    fn finish(self) -> Result<(), ProgramError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(ProgramError::field(self.path(k), "unknown field")),
        }
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

fn list(value: Option<Value>, field: &str) -> Result<Vec<Value>, ProgramError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(ProgramError::field(
            field,
            format!("expected a list, found {}", kind_name(&other)),
        )),
    }
}

fn string_list(value: Option<Value>, field: &str) -> Result<Vec<String>, ProgramError> {
    list(value, field)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s),
            other => Err(ProgramError::field(
                format!("{field}[{i}]"),
                format!("expected a string, found {}", kind_name(&other)),
            )),
        })
        .collect()
}

/// TOML as JSON: date-times become their RFC 3339 text (as if quoted).
fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

impl ProgramDefinition {
    /// Reads a definition file: JSON when it ends in `.json` or starts with `{`, TOML
    /// otherwise.
    pub fn read(path: &Path) -> Result<ProgramDefinition, ProgramError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProgramError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let json =
            path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
        ProgramDefinition::parse(&text, json).map_err(|e| match e {
            ProgramError::File { message, .. } => ProgramError::File {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses a definition from TOML (`json` false) or JSON text.
    pub fn parse(text: &str, json: bool) -> Result<ProgramDefinition, ProgramError> {
        let value = if json {
            serde_json::from_str::<Value>(text).map_err(|e| ProgramError::File {
                path: "definition".into(),
                message: format!("not JSON: {e}"),
            })?
        } else {
            toml_to_json(
                toml::from_str::<toml::Value>(text).map_err(|e| ProgramError::File {
                    path: "definition".into(),
                    message: format!("not TOML: {}", e.to_string().trim_end()),
                })?,
            )
        };
        ProgramDefinition::from_value(value)
    }

    /// Reads a definition from its JSON form (TOML converted to JSON).
    pub fn from_value(value: Value) -> Result<ProgramDefinition, ProgramError> {
        let mut f = Fields::new(value, "")?;
        let name = f.required("name")?;
        let schema = f.required("schema")?;
        let issuers = string_list(f.raw("issuers"), "issuers")?;
        let policy = f.required("policy")?;
        let disclose = string_list(f.raw("disclose"), "disclose")?;
        let issued_before = time_text(f.raw("issued_before"), "issued_before")?;
        let rounds = list(f.raw("rounds"), "rounds")?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let prefix = format!("rounds[{i}]");
                let mut r = Fields::new(v, &prefix)?;
                let round = RoundDefinition {
                    number: r.required("number")?,
                    opens: time_text(r.raw("opens"), &r.path("opens"))?,
                    closes: time_text(r.raw("closes"), &r.path("closes"))?,
                };
                r.finish()?;
                Ok(round)
            })
            .collect::<Result<Vec<_>, ProgramError>>()?;
        let grace_hours = f.optional("grace_hours")?.unwrap_or(0);
        let entitlement = {
            let v = f
                .raw("entitlement")
                .ok_or_else(|| ProgramError::field("entitlement", "missing"))?;
            let mut e = Fields::new(v, "entitlement")?;
            let quantity = e.required("quantity")?;
            let unit = e.required("unit")?;
            let tiers = list(e.raw("tiers"), "entitlement.tiers")?
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let prefix = format!("entitlement.tiers[{i}]");
                    let mut t = Fields::new(v, &prefix)?;
                    let tier = TierDefinition {
                        attribute: t.required("attribute")?,
                        value: t
                            .raw("value")
                            .ok_or_else(|| ProgramError::field(t.path("value"), "missing"))?,
                        quantity: t.required("quantity")?,
                    };
                    t.finish()?;
                    Ok(tier)
                })
                .collect::<Result<Vec<_>, ProgramError>>()?;
            e.finish()?;
            EntitlementDefinition {
                quantity,
                unit,
                tiers,
            }
        };
        let points = string_list(f.raw("points"), "points")?;
        let anonymous = f.optional("anonymous")?.unwrap_or(false);
        let value_notes = f.optional("value_notes")?.unwrap_or(false);
        let nonce = f.optional("nonce")?.unwrap_or(0);
        f.finish()?;
        if rounds.is_empty() {
            return Err(ProgramError::field("rounds", "at least one round"));
        }
        Ok(ProgramDefinition {
            name,
            schema,
            issuers,
            policy,
            disclose,
            issued_before,
            rounds,
            grace_hours,
            entitlement,
            points,
            anonymous,
            value_notes,
            nonce,
        })
    }

    /// Where the schema comes from: an id, or a file (relative paths are taken from
    /// `base`, the definition file's directory).
    pub fn schema_source(&self, base: &Path) -> SchemaSource {
        let s = self.schema.trim();
        let hex = s.strip_prefix("0x").unwrap_or(s);
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(id) = s.parse::<SchemaId>() {
                return SchemaSource::Id(id);
            }
        }
        SchemaSource::File(base.join(s))
    }
}

/// A time field's text: a string, or a TOML date-time (already text here).
fn time_text(value: Option<Value>, field: &str) -> Result<String, ProgramError> {
    match value {
        Some(Value::String(s)) => Ok(s),
        None => Err(ProgramError::field(field, "missing")),
        Some(other) => Err(ProgramError::field(
            field,
            format!(
                "expected a date or an RFC 3339 time, found {}",
                kind_name(&other)
            ),
        )),
    }
}

/// Unix milliseconds of a date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 time.
fn time_ms(field: &str, s: &str) -> Result<u64, ProgramError> {
    let bad = || {
        ProgramError::field(
            field,
            format!(
                "`{}` is neither a date YYYY-MM-DD nor an RFC 3339 time with a zone \
                 (2026-12-01T08:00:00Z)",
                s.chars().take(64).collect::<String>()
            ),
        )
    };
    let b = s.as_bytes();
    let is_date = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if is_date {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(s, &format).map_err(|_| bad())?;
        let secs = date.midnight().assume_utc().unix_timestamp();
        return u64::try_from(secs)
            .map(|s| s * 1000)
            .map_err(|_| ProgramError::field(field, "before 1970"));
    }
    unix_millis_from_rfc3339_lenient(s).map_err(|_| bad())
}

/// Where a definition's schema comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaSource {
    /// A published schema's id.
    Id(SchemaId),
    /// A schema JSON file.
    File(PathBuf),
}

/// Reads a schema JSON file (as `weft-agency schema publish` takes).
pub fn read_schema_file(path: &Path) -> Result<Schema, ProgramError> {
    let bad = |m: String| ProgramError::field("schema", format!("{}: {m}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let schema: Schema =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a schema: {e}")))?;
    schema
        .check_limits()
        .map_err(|e| bad(format!("invalid schema: {e}")))?;
    Ok(schema)
}

/// The schema a definition names: read from its file, or (for an id) from the node
/// through `client`.
pub async fn load_schema(
    source: &SchemaSource,
    client: Option<&Client>,
) -> Result<Schema, AgencyError> {
    match source {
        SchemaSource::File(path) => Ok(read_schema_file(path)?),
        SchemaSource::Id(id) => {
            let Some(client) = client else {
                return Err(ProgramError::field(
                    "schema",
                    format!("{id} is an id: reading it needs a node (or give the schema file)"),
                )
                .into());
            };
            let info = client.schema(id).await.map_err(|e| {
                ProgramError::field(
                    "schema",
                    format!("{id} could not be read from {}: {e}", client.base()),
                )
            })?;
            if info.schema.id() != *id {
                return Err(AgencyError::Invalid(format!(
                    "the node served a schema whose id is not {id}"
                )));
            }
            Ok(info.schema)
        }
    }
}

fn attribute_names(schema: &Schema) -> String {
    schema
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The slot of attribute `name`, or an error naming `field`.
fn slot(schema: &Schema, field: &str, name: &str) -> Result<u8, ProgramError> {
    let position = schema.position(name).ok_or_else(|| {
        ProgramError::field(
            field,
            format!(
                "unknown attribute `{}` (the schema has: {})",
                name.chars().take(64).collect::<String>(),
                attribute_names(schema)
            ),
        )
    })?;
    u8::try_from(position)
        .ok()
        .filter(|p| *p < ATTRIBUTE_SLOTS)
        .ok_or_else(|| {
            ProgramError::field(
                field,
                format!("`{name}` has no circuit slot (position {position})"),
            )
        })
}

/// DIDs parsed, sorted, without duplicates; `default` when none are given.
fn dids(field: &str, given: &[String], max: usize) -> Result<Vec<Did>, ProgramError> {
    let mut out = Vec::with_capacity(given.len());
    for (i, s) in given.iter().enumerate() {
        let did: Did = s.trim().parse().map_err(|e| {
            ProgramError::field(
                format!("{field}[{i}]"),
                format!(
                    "`{}` is not a did:weft DID: {e}",
                    s.chars().take(80).collect::<String>()
                ),
            )
        })?;
        if out.contains(&did) {
            return Err(ProgramError::field(
                format!("{field}[{i}]"),
                format!("{did} is listed twice"),
            ));
        }
        out.push(did);
    }
    if out.len() > max {
        return Err(ProgramError::field(
            field,
            format!("{} DIDs (at most {max})", out.len()),
        ));
    }
    out.sort();
    Ok(out)
}

fn check_len(field: &str, s: &str, max: usize) -> Result<(), ProgramError> {
    if s.is_empty() || s.len() > max {
        return Err(ProgramError::field(
            field,
            format!("1 to {max} bytes (found {})", s.len()),
        ));
    }
    Ok(())
}

/// A checked program with what it was built from.
#[derive(Debug, Clone)]
pub struct BuiltProgram {
    /// The payload.
    pub program: Program,
    /// The compiled policy (its source is `program.policy_source`).
    pub policy: CompiledPolicy,
}

/// Builds and checks the `Program` payload of `def` against `schema`, for `owner` (the
/// announcing agency: the default accepted issuer). Every error names its field.
pub fn build(
    def: &ProgramDefinition,
    schema: &Schema,
    owner: &Did,
) -> Result<BuiltProgram, ProgramError> {
    check_len("name", &def.name, 64)?;
    let issuers = if def.issuers.is_empty() {
        vec![*owner]
    } else {
        dids("issuers", &def.issuers, MAX_PROGRAM_ISSUERS)?
    };
    let compiled =
        policy::compile(&def.policy, schema).map_err(|e| ProgramError::policy(e, &def.policy))?;

    let mut disclose = 0u16;
    for (i, name) in def.disclose.iter().enumerate() {
        let field = format!("disclose[{i}]");
        let s = slot(schema, &field, name)?;
        if disclose & (1 << s) != 0 {
            return Err(ProgramError::field(
                field,
                format!("`{name}` is listed twice"),
            ));
        }
        disclose |= 1 << s;
    }

    let issued_before_ms = time_ms("issued_before", &def.issued_before)?;
    let issued_before = u32::try_from(issued_before_ms / 1000)
        .map_err(|_| ProgramError::field("issued_before", "after 2106"))?;

    if def.rounds.len() > MAX_ROUNDS {
        return Err(ProgramError::field(
            "rounds",
            format!("{} rounds (at most {MAX_ROUNDS})", def.rounds.len()),
        ));
    }
    let mut rounds: Vec<Round> = Vec::with_capacity(def.rounds.len());
    for (i, r) in def.rounds.iter().enumerate() {
        let opens = time_ms(&format!("rounds[{i}].opens"), &r.opens)?;
        let closes = time_ms(&format!("rounds[{i}].closes"), &r.closes)?;
        if closes <= opens {
            return Err(ProgramError::field(
                format!("rounds[{i}].closes"),
                format!("{} is not after the round opens ({})", r.closes, r.opens),
            ));
        }
        if let Some(prev) = rounds.last() {
            if r.number <= prev.number {
                return Err(ProgramError::field(
                    format!("rounds[{i}].number"),
                    format!(
                        "{} does not follow round {} (list rounds by ascending number)",
                        r.number, prev.number
                    ),
                ));
            }
            if opens < prev.closes {
                return Err(ProgramError::field(
                    format!("rounds[{i}].opens"),
                    format!(
                        "{} is before round {} closes (rounds must not overlap: a household \
                         could claim both at once)",
                        r.opens, prev.number
                    ),
                ));
            }
        }
        rounds.push(Round {
            number: r.number,
            opens,
            closes,
        });
    }
    let grace_ms = def
        .grace_hours
        .checked_mul(3_600_000)
        .ok_or_else(|| ProgramError::field("grace_hours", "too large"))?;

    check_len("entitlement.unit", &def.entitlement.unit, 32)?;
    if def.entitlement.tiers.len() > MAX_TIERS {
        return Err(ProgramError::field(
            "entitlement.tiers",
            format!(
                "{} tiers (at most {MAX_TIERS})",
                def.entitlement.tiers.len()
            ),
        ));
    }
    let mut tiers = Vec::with_capacity(def.entitlement.tiers.len());
    for (i, t) in def.entitlement.tiers.iter().enumerate() {
        let field = format!("entitlement.tiers[{i}].attribute");
        let s = slot(schema, &field, &t.attribute)?;
        if disclose & (1 << s) == 0 {
            return Err(ProgramError::field(
                field,
                format!(
                    "`{}` must also be listed in `disclose` (the point reads it to choose the \
                     tier)",
                    t.attribute
                ),
            ));
        }
        let def_attr = schema
            .attributes
            .get(usize::from(s))
            .ok_or_else(|| ProgramError::field(&field, "no such attribute"))?;
        let value = encode_value(&def_attr.name, &def_attr.kind, &t.value).map_err(|e| {
            ProgramError::field(format!("entitlement.tiers[{i}].value"), e.to_string())
        })?;
        tiers.push(Tier {
            attribute: s,
            value: fr_to_bytes_be(&value),
            quantity: t.quantity,
        });
    }
    let points = dids("points", &def.points, MAX_PROGRAM_POINTS)?;

    let program = Program {
        name: def.name.clone(),
        schema: schema.id(),
        issuers,
        policy_source: def.policy.clone(),
        conditions: compiled.conditions.clone(),
        disclose,
        issued_before,
        rounds,
        grace_ms,
        entitlement: Entitlement {
            quantity: def.entitlement.quantity,
            unit: def.entitlement.unit.clone(),
            tiers,
        },
        points,
        anonymous: def.anonymous,
        value_notes: def.value_notes,
        nonce: def.nonce,
    };
    program
        .check_limits()
        .map_err(|e| ProgramError::field("program", e.to_string()))?;
    Ok(BuiltProgram {
        program,
        policy: compiled,
    })
}

fn time(ms: u64) -> String {
    rfc3339_from_unix_millis(ms).unwrap_or_else(|_| format!("{ms} ms"))
}

fn hours(ms: u64) -> String {
    if ms.is_multiple_of(3_600_000) {
        format!("{} h", ms / 3_600_000)
    } else {
        format!("{ms} ms")
    }
}

/// The program in plain words: its id, schema, issuers, the policy as written and as
/// compiled (read back in words), the disclosed attributes, rounds, entitlement and
/// points. The policy words come from the conditions; if the source does not compile
/// to them (a program announced by another tool), that is said.
pub fn describe(program: &Program, schema: &Schema, owner: &Did) -> String {
    let mut s = String::new();
    let id = program.id(owner);
    let _ = writeln!(s, "program   {}", program.name);
    let _ = writeln!(s, "id        {id}");
    let _ = writeln!(s, "owner     {owner}");
    let _ = writeln!(
        s,
        "schema    {} ({} {})",
        program.schema, schema.name, schema.version
    );
    for (i, d) in program.issuers.iter().enumerate() {
        let label = if i == 0 { "issuers" } else { "" };
        let _ = writeln!(s, "{label:<10}{d}");
    }
    let source: Vec<&str> = program
        .policy_source
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let _ = writeln!(
        s,
        "policy    {}",
        if source.is_empty() {
            "(none: every holder of a valid credential)".to_string()
        } else {
            source.join("\n          ")
        }
    );
    let words = match policy::compile(&program.policy_source, schema) {
        Ok(c) if c.conditions == program.conditions => c.describe(schema),
        _ => format!(
            "{} (the policy text does not compile to these conditions)",
            policy::describe(&program.conditions, schema)
        ),
    };
    let _ = writeln!(s, "  meaning {words}");
    let disclosed: Vec<&str> = schema
        .attributes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < 16 && program.disclose & (1 << i) != 0)
        .map(|(_, a)| a.name.as_str())
        .collect();
    let _ = writeln!(
        s,
        "disclose  {}",
        if disclosed.is_empty() {
            "nothing (claims show no attribute)".to_string()
        } else {
            disclosed.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "issued before {}",
        time(u64::from(program.issued_before) * 1000)
    );
    for r in &program.rounds {
        let _ = writeln!(
            s,
            "round {:<4}{} to {}",
            r.number,
            time(r.opens),
            time(r.closes)
        );
    }
    let _ = writeln!(
        s,
        "grace     {} after a round closes",
        hours(program.grace_ms)
    );
    let e = &program.entitlement;
    let _ = writeln!(s, "entitlement {} {} per claim", e.quantity, e.unit);
    for t in &e.tiers {
        let (name, value) = match schema.attributes.get(usize::from(t.attribute)) {
            Some(a) => {
                let v = fr_from_bytes_be(&t.value)
                    .ok()
                    .and_then(|x| decode_value(&a.kind, &x))
                    .map(|v| match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .unwrap_or_else(|| format!("0x{}", hex::encode(t.value)));
                (a.name.clone(), v)
            }
            None => (format!("slot {}", t.attribute), hex::encode(t.value)),
        };
        let _ = writeln!(
            s,
            "  tier    {} {} when {name} is {value}",
            t.quantity, e.unit
        );
    }
    if program.points.is_empty() {
        let _ = writeln!(s, "points    any accredited distribution point");
    }
    for (i, d) in program.points.iter().enumerate() {
        let label = if i == 0 { "points" } else { "" };
        let _ = writeln!(s, "{label:<10}{d}");
    }
    let _ = writeln!(
        s,
        "anonymous {}",
        if program.anonymous {
            "holders may submit their own claims (with proof of work)"
        } else {
            "no: claims come through distribution points"
        }
    );
    if program.value_notes {
        let _ = writeln!(
            s,
            "payment   as confidential value notes to each household's one-time key"
        );
    }
    s
}

/// A program as the node serves it (`GET /api/v1/programs/{id}`).
#[derive(Debug, Clone)]
pub struct ProgramRecord {
    /// Its id.
    pub id: ProgramId,
    /// The announcing agency.
    pub owner: Did,
    /// The payload.
    pub program: Program,
    /// The node's answer as it came.
    pub json: Value,
}

/// `GET /api/v1/programs/{id}`; `None` when the node has no such program.
pub async fn fetch_program(
    client: &Client,
    id: &ProgramId,
) -> Result<Option<ProgramRecord>, AgencyError> {
    let url = format!("{}/api/v1/programs/{id}", client.base());
    let resp = reqwest::get(&url).await.map_err(ClientError::from)?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(ClientError::from)?;
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let json: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Decode(format!("GET {url}: {e}")))?;
    if !status.is_success() {
        return Err(ClientError::Api {
            status: status.as_u16(),
            code: json["error"]["code"].as_str().unwrap_or("unknown").into(),
            message: json["error"]["message"].as_str().unwrap_or("").into(),
        }
        .into());
    }
    #[derive(Deserialize)]
    struct Raw {
        id: ProgramId,
        owner: Did,
        program: Program,
    }
    let raw = Raw::deserialize(&json).map_err(|e| ClientError::Decode(format!("program: {e}")))?;
    if raw.id != *id || raw.program.id(&raw.owner) != *id {
        return Err(AgencyError::Invalid(format!(
            "the node served a program whose id is not {id}"
        )));
    }
    Ok(Some(ProgramRecord {
        id: raw.id,
        owner: raw.owner,
        program: raw.program,
        json,
    }))
}

/// What happened to an announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnounceOutcome {
    /// A milestone applied the block: the program is on the ledger.
    Applied {
        /// The block.
        block: BlockId,
        /// The milestone.
        milestone: u32,
    },
    /// The ledger already had this program (same owner and contents); nothing was sent.
    AlreadyAnnounced,
    /// The block was confirmed as conflicting: the program was not created.
    Conflicting {
        /// The block.
        block: BlockId,
        /// The milestone.
        milestone: u32,
        /// The ledger's stable reason (`notAccredited`, `unknownSchema`, …).
        reason: String,
        /// The reason as a sentence.
        description: String,
    },
}

/// An announcement's program id and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The program's id.
    pub id: ProgramId,
    /// What happened.
    pub outcome: AnnounceOutcome,
}

async fn organisation_roles(
    client: &Client,
    did: &Did,
    field: &str,
) -> Result<Vec<String>, AgencyError> {
    match client.organisation(did).await {
        Ok(o) if o.deactivated => {
            Err(ProgramError::field(field, format!("{did} is deactivated")).into())
        }
        Ok(o) => Ok(o.roles),
        Err(ClientError::Api { status: 404, .. }) => Err(ProgramError::field(
            field,
            format!("{did} is not an accredited organisation"),
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// The checks that need the ledger, made before anything is sent: the schema is
/// published, the accepted issuers are accredited issuers and the points accredited
/// distribution points. Returns the program's record if it is already on the ledger.
pub async fn preflight(
    node: &Node,
    program: &Program,
    owner: &Did,
) -> Result<Option<ProgramRecord>, AgencyError> {
    match node.client.schema(&program.schema).await {
        Ok(_) => {}
        Err(ClientError::Api { status: 404, .. }) => {
            return Err(ProgramError::field(
                "schema",
                format!(
                    "{} is not published: run `weft-agency schema publish FILE` first",
                    program.schema
                ),
            )
            .into())
        }
        Err(e) => return Err(e.into()),
    }
    for (i, d) in program.issuers.iter().enumerate() {
        let field = format!("issuers[{i}]");
        if !organisation_roles(&node.client, d, &field)
            .await?
            .iter()
            .any(|r| r == "issuer")
        {
            return Err(
                ProgramError::field(field, format!("{d} is not an accredited issuer")).into(),
            );
        }
    }
    for (i, d) in program.points.iter().enumerate() {
        let field = format!("points[{i}]");
        if !organisation_roles(&node.client, d, &field)
            .await?
            .iter()
            .any(|r| r == "distributionPoint")
        {
            return Err(ProgramError::field(
                field,
                format!("{d} is not an accredited distribution point"),
            )
            .into());
        }
    }
    fetch_program(&node.client, &program.id(owner)).await
}

/// Announces `program` signed by the agency: the [`preflight`] checks, then one block,
/// awaited until a milestone confirms it. A program already on the ledger is not sent
/// again.
pub async fn announce(
    node: &Node,
    signer: &Signer,
    program: Program,
) -> Result<Announcement, AgencyError> {
    program
        .check_limits()
        .map_err(|e| ProgramError::field("program", e.to_string()))?;
    let id = program.id(&signer.did);
    if preflight(node, &program, &signer.did).await?.is_some() {
        return Ok(Announcement {
            id,
            outcome: AnnounceOutcome::AlreadyAnnounced,
        });
    }
    let block = node
        .block(&signer.key, Payload::Program(Box::new(program)), None)
        .await?;
    let block_id = node.client.submit(&block).await?.block_id;
    let outcome = node
        .client
        .wait_outcome(&block_id, CONFIRM_TIMEOUT)
        .await
        .map_err(|e| {
            AgencyError::Invalid(format!(
                "block {block_id} (program {id}) was sent but its confirmation could not be \
                 read: {e}; `weft-agency program show {id}` tells whether it is on the ledger"
            ))
        })?;
    Ok(Announcement {
        id,
        outcome: match outcome {
            LedgerOutcome::Applied { milestone } => AnnounceOutcome::Applied {
                block: block_id,
                milestone,
            },
            LedgerOutcome::Conflicting {
                milestone,
                reason,
                description,
            } => AnnounceOutcome::Conflicting {
                block: block_id,
                milestone,
                reason,
                description,
            },
        },
    })
}

/// A program's round reports (`GET /api/v1/programs/{id}/rounds/{n}`, counts only), in
/// round order.
pub async fn round_reports(
    client: &Client,
    record: &ProgramRecord,
) -> Result<Vec<Value>, AgencyError> {
    let mut out = Vec::with_capacity(record.program.rounds.len());
    for r in &record.program.rounds {
        out.push(client.round_report(&record.id, r.number).await?);
    }
    Ok(out)
}

/// A round report in words: claims, entitlement delivered and double claims caught, in
/// total and per point.
pub fn describe_round(report: &Value, unit: &str) -> String {
    let n = |v: &Value| v.as_u64().map_or_else(|| v.to_string(), |x| x.to_string());
    let mut s = format!(
        "round {}: {} claims, {} {unit}, {} double claims caught",
        n(&report["round"]),
        n(&report["claims"]),
        n(&report["entitlement"]),
        n(&report["doubleClaims"])
    );
    if let Some(points) = report["points"].as_array() {
        for p in points {
            let _ = write!(
                s,
                "\n  {}: {} claims, {} {unit}, {} double claims",
                p["point"].as_str().unwrap_or("(anonymous)"),
                n(&p["claims"]),
                n(&p["entitlement"]),
                n(&p["doubleClaims"])
            );
        }
    }
    s
}
