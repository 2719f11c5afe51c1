//! Credentials from the document the agency issues: a W3C Verifiable Credential 2.0
//! secured with an `eddsa-jcs-2022` Data Integrity proof (specs/credentials.md §4-§6,
//! `weft_credentials::vc`). `weft-agency issue` writes one per household; the dev demo
//! writes one as `credential.json`.
//!
//! The library does no I/O: the caller gathers the [`IssuerEvidence`] (from a node, or
//! files the holder was given) and [`check`] decides. A document is accepted only when
//!
//! 1. the issuer's DID is not deactivated;
//! 2. its proof verifies under an `assertionMethod` key of the issuer's DID document
//!    valid at issuance (`weft_credentials::integrity::verify`);
//! 3. its contents open its stated leaf under the schema it names
//!    (`weft_credentials::vc::parse_credential_document`);
//! 4. it was issued to this wallet: its holder and household commitments are this
//!    wallet's;
//! 5. its issuer is known: from a node, the registry's owner on the ledger is the
//!    document's issuer, of the document's schema, and an accredited issuer; without a
//!    node, a sync told the wallet that the issuer owns the registry;
//! 6. from a node: the whole registry chunk holding the leaf (never a single-leaf path)
//!    hashes to the registry root and holds the leaf at the credential's index, not
//!    zeroed (`weft_credentials::ledger::verify_against_ledger`). The chunk then also
//!    gives the credential its first path, as a sync would.
//!
//! Each refusal is its own [`WalletError`] and leaves the wallet unchanged.

use serde_json::Value;
use weft_circuits::HolderSecrets;
use weft_credentials::ledger::{verify_against_ledger, LedgerCheckError, RegistryView};
use weft_credentials::vc::{parse_credential_document, ParsedCredential};
use weft_credentials::CredentialError;
use weft_crypto::poseidon::Fr;
use weft_crypto::registry::RegistryChunk;
use weft_types::{Did, Schema, SchemaId};

use crate::model::{FrHex, IssuerInfo, RegistryId, StoredCredential, WalletData};
use crate::sync::{ChunkResponse, SyncBundle};
use crate::{Result, WalletError};

/// What a credential document is checked against, gathered by the caller.
#[derive(Debug, Clone)]
pub struct IssuerEvidence {
    /// The issuer's DID document valid at issuance: the `didDocument` of a DID
    /// resolution at `versionTime = validFrom` (or the document the holder was given).
    pub did_document: Value,
    /// Whether the issuer's DID is deactivated now.
    pub deactivated: bool,
    /// The schema the document names (`credentialSchema.id`).
    pub schema: Schema,
    /// The ledger's registry, from a node; `None` offline (the issuer must then be
    /// known from a sync).
    pub registry: Option<RegistryEvidence>,
}

/// The registry holding a credential's leaf, as a node shows it.
#[derive(Debug, Clone)]
pub struct RegistryEvidence {
    /// The registry's owner.
    pub issuer: Did,
    /// The schema of the registry's credentials.
    pub schema: SchemaId,
    /// Whether the owner is accredited as an issuer (and not deactivated).
    pub accredited: bool,
    /// The whole chunk that holds the credential's index.
    pub chunk: RegistryChunk,
    /// The registry root the chunk was read at.
    pub root: Fr,
    /// The registry's size (leaves appended, revoked ones included).
    pub size: u64,
    /// The milestone the root was read at.
    pub milestone: u32,
}

impl IssuerEvidence {
    /// Offline evidence from a file the holder was given: a DID Resolution result
    /// (`{"didDocument": …, "didDocumentMetadata": {"deactivated": …}}`, as
    /// `GET /api/v1/identifiers/{did}` serves and the demo writes as `issuer-did.json`)
    /// or a bare DID document, and the schema.
    pub fn offline(did: Value, schema: Schema) -> Self {
        let (did_document, deactivated) = match did.get("didDocument") {
            Some(doc) => (
                doc.clone(),
                did["didDocumentMetadata"]["deactivated"]
                    .as_bool()
                    .unwrap_or(false),
            ),
            None => (did, false),
        };
        IssuerEvidence {
            did_document,
            deactivated,
            schema,
            registry: None,
        }
    }
}

fn malformed(e: CredentialError) -> WalletError {
    WalletError::Credential(format!("not a valid credential document: {e}"))
}

fn string_at<'a>(document: &'a Value, path: &str) -> Result<&'a str> {
    path.split('.')
        .try_fold(document, |v, k| v.get(k))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            WalletError::Credential(format!(
                "not a credential document: `{path}` is missing or not a string"
            ))
        })
}

/// The issuer's DID a document names (`issuer`).
pub fn issuer(document: &Value) -> Result<Did> {
    let s = weft_credentials::integrity::issuer_of(document).map_err(malformed)?;
    s.parse().map_err(|_| {
        WalletError::Credential(format!(
            "the issuer {:?} is not a did:weft DID",
            s.chars().take(80).collect::<String>()
        ))
    })
}

/// The schema id a document names (`credentialSchema.id` = `urn:weft:schema:<hex>`).
pub fn schema_id(document: &Value) -> Result<SchemaId> {
    let urn = string_at(document, "credentialSchema.id")?;
    urn.strip_prefix("urn:weft:schema:")
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| {
            WalletError::Credential(format!(
                "`credentialSchema.id` {urn:?} is not a Weft schema"
            ))
        })
}

/// The registry and index a document names (`credentialStatus`): which chunk to fetch.
pub fn status(document: &Value) -> Result<(weft_types::RegistryId, u64)> {
    let registry = string_at(document, "credentialStatus.registry")?
        .parse()
        .map_err(|_| {
            WalletError::Credential("`credentialStatus.registry` is not a registry id".into())
        })?;
    let index = string_at(document, "credentialStatus.index")?
        .parse()
        .map_err(|_| WalletError::Credential("`credentialStatus.index` is not an index".into()))?;
    Ok((registry, index))
}

/// The document's `validFrom` (RFC 3339): the time to resolve the issuer's DID at.
pub fn valid_from(document: &Value) -> Result<String> {
    Ok(string_at(document, "validFrom")?.to_string())
}

fn ledger_error(e: LedgerCheckError) -> WalletError {
    match e {
        LedgerCheckError::Document(e) => malformed(e),
        LedgerCheckError::Signature(e) => WalletError::Signature(e.to_string()),
        LedgerCheckError::KeyNotValidAtIssuance(e) => WalletError::Signature(format!(
            "the signing key was not an assertion key of the issuer at issuance ({e})"
        )),
        LedgerCheckError::RootMismatch | LedgerCheckError::WrongChunk { .. } => {
            WalletError::Sync(e.to_string())
        }
        LedgerCheckError::LeafAbsent => WalletError::Credential(
            "the issuer's registry does not hold this credential's leaf".into(),
        ),
        LedgerCheckError::LeafRevoked => {
            WalletError::Credential("the issuer has revoked this credential".into())
        }
    }
}

/// Checks `document` against `evidence` for the wallet `data` with `secrets` (module
/// notes) and returns the wallet's next contents with the credential stored, and the
/// credential's id. `data` itself is not changed.
pub fn check(
    data: &WalletData,
    secrets: &HolderSecrets,
    document: &Value,
    evidence: &IssuerEvidence,
) -> Result<(WalletData, String)> {
    let did = issuer(document)?;
    if evidence.deactivated {
        return Err(WalletError::IssuerDeactivated(did.to_string()));
    }
    let parsed: ParsedCredential = match &evidence.registry {
        Some(r) => verify_against_ledger(
            document,
            &evidence.did_document,
            &evidence.schema,
            RegistryView {
                chunk: &r.chunk,
                root: r.root,
                size: r.size,
            },
        )
        .map_err(ledger_error)?,
        None => {
            weft_credentials::integrity::verify(document, &evidence.did_document)
                .map_err(|e| WalletError::Signature(e.to_string()))?;
            parse_credential_document(document, &evidence.schema).map_err(malformed)?
        }
    };
    let record = &parsed.record;
    let c = &record.credential;
    if c.holder_commitment != secrets.holder_commitment() {
        return Err(WalletError::Credential(
            "it was issued to another holder (its holder commitment is not this wallet's)".into(),
        ));
    }
    if c.household_commitment != secrets.household_commitment() {
        return Err(WalletError::Credential(
            "it was issued to another household (its household commitment is not this wallet's)"
                .into(),
        ));
    }
    let registry = RegistryId(record.registry.0);
    let did_text = record.issuer.to_string();
    let mut next = data.clone();
    match &evidence.registry {
        Some(r) => {
            if r.issuer != record.issuer {
                return Err(WalletError::UnknownIssuer(format!(
                    "{did_text} does not own registry {registry} on the ledger ({} does)",
                    r.issuer
                )));
            }
            if !r.accredited {
                return Err(WalletError::UnknownIssuer(format!(
                    "{did_text} is not an accredited issuer on the ledger"
                )));
            }
            if r.schema != parsed.schema {
                return Err(WalletError::Credential(format!(
                    "registry {registry} holds credentials of another schema"
                )));
            }
            match next.issuers.iter_mut().find(|i| i.did == did_text) {
                Some(i) if !i.registries.contains(&registry) => i.registries.push(registry),
                Some(_) => {}
                None => next.issuers.push(IssuerInfo {
                    did: did_text.clone(),
                    registries: vec![registry],
                }),
            }
        }
        None => known_issuer(data, &did_text, &registry)?,
    }
    let credential = StoredCredential {
        schema: FrHex(c.schema),
        attributes: c.attributes.map(FrHex),
        expiry: c.expiry,
        issued_at: c.issued_at,
        holder_commitment: FrHex(c.holder_commitment),
        household_commitment: FrHex(c.household_commitment),
        salt: FrHex(c.salt),
        registry,
        leaf_index: record.index,
        issuer: did_text,
        attribute_names: evidence
            .schema
            .attributes
            .iter()
            .map(|a| a.name.clone())
            .collect(),
        schema_definition: Some(evidence.schema.clone()),
        document: document.clone(),
        path: None,
        revoked: false,
    };
    let id = credential.id();
    if data.credentials.iter().any(|c| c.id() == id) {
        return Err(WalletError::Credential(format!(
            "credential {id} is already stored"
        )));
    }
    next.credentials.push(credential);
    if let Some(r) = &evidence.registry {
        // The chunk that proved the leaf is a sync of its registry too.
        let mut bundle = SyncBundle::new();
        bundle.chunks.push(ChunkResponse {
            registry,
            k: r.chunk.k,
            index: r.chunk.index,
            leaves: r.chunk.leaves.iter().map(|l| FrHex(*l)).collect(),
            siblings: r.chunk.siblings.iter().map(|s| FrHex(*s)).collect(),
            root: FrHex(r.root),
            milestone: r.milestone,
        });
        next = crate::sync::apply(&next, &bundle)?.0;
    }
    Ok((next, id))
}

/// Without a node: the issuer must be known from a sync to own the registry.
pub fn known_issuer(data: &WalletData, did: &str, registry: &RegistryId) -> Result<()> {
    let issuer = data.issuers.iter().find(|i| i.did == did).ok_or_else(|| {
        WalletError::UnknownIssuer(format!(
            "{did} is not among the issuers the wallet knows from the ledger (sync first, or import with --node)"
        ))
    })?;
    if !issuer.registries.contains(registry) {
        return Err(WalletError::Credential(format!(
            "registry {registry} does not belong to issuer {did}"
        )));
    }
    Ok(())
}
