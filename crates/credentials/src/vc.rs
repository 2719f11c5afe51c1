//! The holder's credential document: a W3C Verifiable Credential 2.0 that carries,
//! besides the attributes, everything the holder needs to prove (the salt and the two
//! commitments), so that the signed document alone is the holder's backup.
//!
//! The document is private to the holder: it holds the attribute values and the salt
//! that opens the leaf. Only the leaf goes to the ledger. Reading a document back
//! ([`parse_credential_document`]) re-encodes the attributes with the schema and
//! recomputes the leaf, so a document whose contents do not open its leaf is refused
//! even before its signature is checked.
//!
//! Field elements are written as canonical decimal strings (the circom/snarkjs
//! convention, `weft_crypto::poseidon::fr_to_decimal`); integers that may exceed 2^53
//! (the registry index) are decimal strings too.

use std::fmt;

use serde_json::{json, Map, Value};
use weft_circuits::Credential;
use weft_crypto::poseidon::{fr_from_decimal, fr_to_decimal, Fr};
use weft_types::{Did, RegistryId, Schema, SchemaId};

use crate::attributes::{encode_attributes, schema_field};
use crate::datetime::{rfc3339_from_unix_seconds, unix_seconds_from_rfc3339};
use crate::integrity::{verify, VerifiedProof};
use crate::CredentialError;

/// The VC 2.0 base context (always first).
pub const VC_V2_CONTEXT: &str = "https://www.w3.org/ns/credentials/v2";
/// Weft's context: the terms `WeftHouseholdCredential`, `WeftSchema2026`,
/// `WeftRegistryStatus2026`, `weftCommitment` and the attribute names.
pub const WEFT_CONTEXT: &str = "https://weft.example/credentials/v1";
/// The credential type.
pub const CREDENTIAL_TYPE: &str = "WeftHouseholdCredential";
/// The `credentialSchema.type`.
pub const SCHEMA_TYPE: &str = "WeftSchema2026";
/// The `credentialStatus.type`.
pub const STATUS_TYPE: &str = "WeftRegistryStatus2026";

/// The document's `id`: `urn:weft:credential:<registry hex>:<index>`.
pub fn credential_urn(registry: &RegistryId, index: u64) -> String {
    format!("urn:weft:credential:{}:{index}", registry.to_hex())
}

/// The `credentialSchema.id`: `urn:weft:schema:<schema id hex>`.
pub fn schema_urn(schema: &SchemaId) -> String {
    format!("urn:weft:schema:{}", schema.to_hex())
}

/// The `credentialStatus.id`: `urn:weft:registry:<registry hex>#<index>`.
pub fn status_urn(registry: &RegistryId, index: u64) -> String {
    format!("urn:weft:registry:{}#{index}", registry.to_hex())
}

/// A credential as the issuer's tool knows it when writing the holder's document.
/// `Debug` hides the attributes and the credential's secrets.
#[derive(Clone)]
pub struct CredentialRecord {
    /// The issuing organisation.
    pub issuer: Did,
    /// The registry holding the leaf.
    pub registry: RegistryId,
    /// The leaf's position in the registry.
    pub index: u64,
    /// The attribute values by name (the `credentialSubject`).
    pub attributes: Map<String, Value>,
    /// The committed credential (its attributes must be the encoding of `attributes`).
    pub credential: Credential,
}

impl CredentialRecord {
    /// Issues a credential: encodes `attributes` with `schema` (§3 of
    /// specs/credentials.md), takes the schema's circuit element, draws a fresh salt,
    /// and binds the holder's two commitments (made by the holder's wallet: the issuer
    /// never sees the secrets). The leaf to append is `record.credential.commitment()`.
    #[allow(clippy::too_many_arguments)]
    pub fn issue<R: rand::RngCore + rand::CryptoRng>(
        schema: &Schema,
        issuer: Did,
        registry: RegistryId,
        index: u64,
        attributes: Map<String, Value>,
        holder_commitment: Fr,
        household_commitment: Fr,
        issued_at: u32,
        expiry: u32,
        rng: &mut R,
    ) -> Result<CredentialRecord, CredentialError> {
        schema
            .check_limits()
            .map_err(|e| CredentialError::InvalidSchema(e.to_string()))?;
        if expiry <= issued_at {
            return Err(CredentialError::CredentialMismatch(
                "the credential expires before it is issued".into(),
            ));
        }
        let encoded = encode_attributes(schema, &attributes)?;
        let credential = Credential::issue(
            schema_field(&schema.id()),
            encoded,
            expiry,
            issued_at,
            holder_commitment,
            household_commitment,
            rng,
        );
        Ok(CredentialRecord {
            issuer,
            registry,
            index,
            attributes,
            credential,
        })
    }
}

impl fmt::Debug for CredentialRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialRecord")
            .field("issuer", &self.issuer)
            .field("registry", &self.registry)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// A credential document read back: the record, its schema and its leaf.
#[derive(Clone)]
pub struct ParsedCredential {
    /// The record (issuer, registry, index, attributes, credential).
    pub record: CredentialRecord,
    /// The schema the document names.
    pub schema: SchemaId,
    /// The registry leaf, recomputed from the contents and equal to the stated one.
    pub leaf: Fr,
}

impl ParsedCredential {
    /// Whether the credential is valid at `unix_seconds`:
    /// `validFrom <= t < validUntil`.
    pub fn is_valid_at(&self, unix_seconds: u64) -> bool {
        let c = &self.record.credential;
        u64::from(c.issued_at) <= unix_seconds && unix_seconds < u64::from(c.expiry)
    }
}

impl fmt::Debug for ParsedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedCredential")
            .field("record", &self.record)
            .field("schema", &self.schema)
            .field("leaf", &fr_to_decimal(&self.leaf))
            .finish()
    }
}

/// Builds the unsigned credential document (sign it with [`crate::integrity::sign`]):
///
/// ```json
/// {
///   "@context": ["https://www.w3.org/ns/credentials/v2", "https://weft.example/credentials/v1"],
///   "id": "urn:weft:credential:<registry hex>:<index>",
///   "type": ["VerifiableCredential", "WeftHouseholdCredential"],
///   "issuer": "did:weft:…",
///   "validFrom": "<issued_at, RFC 3339>",
///   "validUntil": "<expiry, RFC 3339>",
///   "credentialSchema": {"id": "urn:weft:schema:<hex>", "type": "WeftSchema2026"},
///   "credentialSubject": {"<attribute>": <JSON value>, …},
///   "credentialStatus": {"id": "urn:weft:registry:<hex>#<index>",
///                        "type": "WeftRegistryStatus2026",
///                        "registry": "<hex>", "index": "<decimal>"},
///   "weftCommitment": {"schema": "<decimal>", "holderCommitment": "<decimal>",
///                      "householdCommitment": "<decimal>", "salt": "<decimal>",
///                      "leaf": "<decimal>"}
/// }
/// ```
///
/// Checks that the credential's attributes and schema element are the encoding of the
/// record's attributes under `schema`, and that it expires after it was issued.
pub fn credential_document(
    schema: &Schema,
    record: &CredentialRecord,
) -> Result<Value, CredentialError> {
    credential_document_with_leaf(schema, record, &record.credential.commitment())
}

/// [`credential_document`] for an issuer that has already computed the registry leaf
/// (`record.credential.commitment()`, two Poseidon hashes): bulk issuance computes it
/// once to anchor it and reuses it here. The document is the same, byte for byte. The
/// leaf is checked against the credential in debug builds only; a wrong one makes a
/// document that [`parse_credential_document`] refuses.
pub fn credential_document_with_leaf(
    schema: &Schema,
    record: &CredentialRecord,
    leaf: &Fr,
) -> Result<Value, CredentialError> {
    debug_assert!(
        *leaf == record.credential.commitment(),
        "the leaf is not the credential's commitment"
    );
    schema
        .check_limits()
        .map_err(|e| CredentialError::InvalidSchema(e.to_string()))?;
    let c = &record.credential;
    let encoded = encode_attributes(schema, &record.attributes)?;
    if encoded != c.attributes {
        return Err(CredentialError::CredentialMismatch(
            "the credential's attribute elements are not the encoding of the attributes".into(),
        ));
    }
    let schema_id = schema.id();
    if c.schema != schema_field(&schema_id) {
        return Err(CredentialError::CredentialMismatch(
            "the credential's schema element is not the schema's".into(),
        ));
    }
    if c.expiry <= c.issued_at {
        return Err(CredentialError::CredentialMismatch(
            "the credential expires before it is issued".into(),
        ));
    }
    Ok(json!({
        "@context": [VC_V2_CONTEXT, WEFT_CONTEXT],
        "id": credential_urn(&record.registry, record.index),
        "type": ["VerifiableCredential", CREDENTIAL_TYPE],
        "issuer": record.issuer.to_string(),
        "validFrom": rfc3339_from_unix_seconds(u64::from(c.issued_at))?,
        "validUntil": rfc3339_from_unix_seconds(u64::from(c.expiry))?,
        "credentialSchema": {"id": schema_urn(&schema_id), "type": SCHEMA_TYPE},
        "credentialSubject": record.attributes,
        "credentialStatus": {
            "id": status_urn(&record.registry, record.index),
            "type": STATUS_TYPE,
            "registry": record.registry.to_hex(),
            "index": record.index.to_string(),
        },
        "weftCommitment": {
            "schema": fr_to_decimal(&c.schema),
            "holderCommitment": fr_to_decimal(&c.holder_commitment),
            "householdCommitment": fr_to_decimal(&c.household_commitment),
            "salt": fr_to_decimal(&c.salt),
            "leaf": fr_to_decimal(leaf),
        },
    }))
}

fn get<'a>(v: &'a Value, path: &str) -> Result<&'a Value, CredentialError> {
    path.split('.')
        .try_fold(v, |v, key| v.get(key))
        .ok_or_else(|| CredentialError::malformed(path, "missing"))
}

fn get_str<'a>(v: &'a Value, path: &str) -> Result<&'a str, CredentialError> {
    get(v, path)?
        .as_str()
        .ok_or_else(|| CredentialError::malformed(path, "not a string"))
}

fn get_fr(v: &Value, path: &str) -> Result<Fr, CredentialError> {
    fr_from_decimal(get_str(v, path)?)
        .map_err(|_| CredentialError::malformed(path, "not a canonical decimal field element"))
}

fn get_time(v: &Value, path: &str) -> Result<u32, CredentialError> {
    let s = get_str(v, path)?;
    let secs = unix_seconds_from_rfc3339(s)?;
    u32::try_from(secs).map_err(|_| CredentialError::malformed(path, "after 2106-02-07"))
}

/// Reads a credential document back (the proof, if any, is not checked here: see
/// [`verify_credential`]). `schema` is the schema the document names (fetched from the
/// ledger by the id in `credentialSchema`). Re-encodes the attributes, recomputes the
/// leaf and refuses the document if anything disagrees.
pub fn parse_credential_document(
    document: &Value,
    schema: &Schema,
) -> Result<ParsedCredential, CredentialError> {
    let contexts = get(document, "@context")?
        .as_array()
        .ok_or_else(|| CredentialError::malformed("@context", "not a list"))?;
    if contexts.first().and_then(Value::as_str) != Some(VC_V2_CONTEXT) {
        return Err(CredentialError::malformed(
            "@context",
            format!("does not start with {VC_V2_CONTEXT}"),
        ));
    }
    if !contexts.iter().any(|c| c.as_str() == Some(WEFT_CONTEXT)) {
        return Err(CredentialError::malformed(
            "@context",
            format!("lacks {WEFT_CONTEXT}"),
        ));
    }
    let types = get(document, "type")?
        .as_array()
        .ok_or_else(|| CredentialError::malformed("type", "not a list"))?;
    for t in ["VerifiableCredential", CREDENTIAL_TYPE] {
        if !types.iter().any(|x| x.as_str() == Some(t)) {
            return Err(CredentialError::malformed("type", format!("lacks {t}")));
        }
    }
    let issuer_s = get_str(document, "issuer")?;
    let issuer: Did = issuer_s
        .parse()
        .map_err(|_| CredentialError::InvalidDid(issuer_s.chars().take(80).collect()))?;

    let schema_id = schema.id();
    let named = get_str(document, "credentialSchema.id")?;
    if named != schema_urn(&schema_id) {
        return Err(CredentialError::SchemaMismatch {
            document: named.chars().take(100).collect(),
            given: schema_urn(&schema_id),
        });
    }
    if get_str(document, "credentialSchema.type")? != SCHEMA_TYPE {
        return Err(CredentialError::malformed(
            "credentialSchema.type",
            format!("not {SCHEMA_TYPE}"),
        ));
    }

    if get_str(document, "credentialStatus.type")? != STATUS_TYPE {
        return Err(CredentialError::malformed(
            "credentialStatus.type",
            format!("not {STATUS_TYPE}"),
        ));
    }
    let registry: RegistryId = get_str(document, "credentialStatus.registry")?
        .parse()
        .map_err(|_| {
            CredentialError::malformed("credentialStatus.registry", "not 32 bytes of hex")
        })?;
    let index_s = get_str(document, "credentialStatus.index")?;
    let index: u64 = index_s
        .parse()
        .ok()
        .filter(|i: &u64| i.to_string() == index_s)
        .ok_or_else(|| {
            CredentialError::malformed("credentialStatus.index", "not a canonical decimal u64")
        })?;
    if get_str(document, "credentialStatus.id")? != status_urn(&registry, index) {
        return Err(CredentialError::malformed(
            "credentialStatus.id",
            "does not name the registry and index",
        ));
    }
    if get_str(document, "id")? != credential_urn(&registry, index) {
        return Err(CredentialError::malformed(
            "id",
            "does not name the registry and index",
        ));
    }

    let issued_at = get_time(document, "validFrom")?;
    let expiry = get_time(document, "validUntil")?;
    if expiry <= issued_at {
        return Err(CredentialError::malformed(
            "validUntil",
            "not after validFrom",
        ));
    }
    let attributes = get(document, "credentialSubject")?
        .as_object()
        .ok_or_else(|| CredentialError::malformed("credentialSubject", "not an object"))?
        .clone();
    let encoded = encode_attributes(schema, &attributes)?;

    let schema_element = get_fr(document, "weftCommitment.schema")?;
    if schema_element != schema_field(&schema_id) {
        return Err(CredentialError::CredentialMismatch(
            "weftCommitment.schema is not the schema's element".into(),
        ));
    }
    let credential = Credential {
        schema: schema_element,
        attributes: encoded,
        expiry,
        issued_at,
        holder_commitment: get_fr(document, "weftCommitment.holderCommitment")?,
        household_commitment: get_fr(document, "weftCommitment.householdCommitment")?,
        salt: get_fr(document, "weftCommitment.salt")?,
    };
    let leaf = credential.commitment();
    if leaf != get_fr(document, "weftCommitment.leaf")? {
        return Err(CredentialError::LeafMismatch);
    }
    Ok(ParsedCredential {
        record: CredentialRecord {
            issuer,
            registry,
            index,
            attributes,
            credential,
        },
        schema: schema_id,
        leaf,
    })
}

/// Verifies a signed credential document: the Data Integrity proof against the
/// issuer's DID document (the version valid at `validFrom`), then the contents against
/// the schema and the stated leaf. The ledger checks (leaf present, not revoked) are
/// [`crate::ledger::verify_against_ledger`].
pub fn verify_credential(
    document: &Value,
    issuer_document: &Value,
    schema: &Schema,
) -> Result<(VerifiedProof, ParsedCredential), CredentialError> {
    let proof = verify(document, issuer_document)?;
    let parsed = parse_credential_document(document, schema)?;
    Ok((proof, parsed))
}
