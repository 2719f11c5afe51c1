//! `did:weft` DIDs as DID Core documents and DID Resolution results.
//!
//! The ledger keeps a DID as a list of keys with purpose bits and a list of services
//! (`weft_types::DidKey`, `DidService`); standard tools expect a DID Core document.
//! This module is the one place that renders one as the other, so the node's
//! `GET /api/v1/identifiers/{did}`, the agency CLI and credential verification agree
//! on method ids (`did:weft:…#key-1`), on key encoding (Multikey) and on which key may
//! do what. It also reads a document back to find an assertion key, so that a
//! credential can be verified from a document fetched anywhere.

use serde_json::{json, Map, Value};
use weft_types::identity::purpose;
use weft_types::{Did, DidKey, DidService, PublicKeyBytes};

use crate::datetime::rfc3339_from_unix_millis;
use crate::CredentialError;

/// The DID Core v1 JSON-LD context.
pub const DID_CONTEXT: &str = "https://www.w3.org/ns/did/v1";
/// The Multikey JSON-LD context.
pub const MULTIKEY_CONTEXT: &str = "https://w3id.org/security/multikey/v1";
/// The DID Resolution context of resolution results.
pub const RESOLUTION_CONTEXT: &str = "https://w3id.org/did-resolution/v1";
/// The media type of a DID document in a resolution result.
pub const DID_CONTENT_TYPE: &str = "application/did+ld+json";
/// The multicodec prefix of an Ed25519 public key (`ed25519-pub`, 0xed as a varint).
pub const ED25519_PUB_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// A Multikey `publicKeyMultibase` value: `z` + base58btc(0xed 0x01 || key).
pub fn multikey_encode(key: &PublicKeyBytes) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_PUB_MULTICODEC);
    bytes.extend_from_slice(&key.0);
    format!("z{}", bs58::encode(bytes).into_string())
}

/// Parses a Multikey Ed25519 public key (see [`multikey_encode`]). The point itself is
/// checked only when a signature is verified.
pub fn multikey_decode(s: &str) -> Result<PublicKeyBytes, CredentialError> {
    let bad = |why: &str| CredentialError::InvalidMultikey(why.to_string());
    let b58 = s
        .strip_prefix('z')
        .ok_or_else(|| bad("not multibase base58btc (no `z` prefix)"))?;
    let bytes = bs58::decode(b58)
        .into_vec()
        .map_err(|_| bad("not base58btc"))?;
    let key = bytes
        .strip_prefix(&ED25519_PUB_MULTICODEC[..])
        .ok_or_else(|| bad("not an ed25519-pub multicodec value"))?;
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| bad("an Ed25519 public key is 32 bytes"))?;
    Ok(PublicKeyBytes(key))
}

/// The DID URL of a key or service fragment: `did:weft:…#key-1`.
pub fn method_id(did: &Did, fragment: &str) -> String {
    format!("{did}#{fragment}")
}

/// The DID Core document of a DID with these keys and services:
///
/// ```json
/// {
///   "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
///   "id": "did:weft:…",
///   "controller": "did:weft:…",
///   "verificationMethod": [{"id": "did:weft:…#key-1", "type": "Multikey",
///                           "controller": "did:weft:…", "publicKeyMultibase": "z6Mk…"}],
///   "authentication": ["did:weft:…#key-1"],
///   "assertionMethod": ["did:weft:…#key-1"],
///   "capabilityInvocation": ["did:weft:…#key-1"],
///   "service": [{"id": "did:weft:…#site", "type": "LinkedDomains",
///                "serviceEndpoint": "https://agency.example"}]
/// }
/// ```
///
/// Keys and services keep the ledger's order (sorted by fragment); the three
/// relationship lists and `service` are always present, possibly empty.
pub fn did_document(did: &Did, keys: &[DidKey], services: &[DidService]) -> Value {
    let id = did.to_string();
    let methods: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "id": method_id(did, &k.id),
                "type": "Multikey",
                "controller": id,
                "publicKeyMultibase": multikey_encode(&k.public_key),
            })
        })
        .collect();
    let with = |bit: u8| -> Vec<Value> {
        keys.iter()
            .filter(|k| k.has(bit))
            .map(|k| Value::from(method_id(did, &k.id)))
            .collect()
    };
    let services: Vec<Value> = services
        .iter()
        .map(|s| {
            json!({
                "id": method_id(did, &s.id),
                "type": s.service_type,
                "serviceEndpoint": s.endpoint,
            })
        })
        .collect();
    json!({
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": id,
        "controller": id,
        "verificationMethod": methods,
        "authentication": with(purpose::AUTHENTICATION),
        "assertionMethod": with(purpose::ASSERTION),
        "capabilityInvocation": with(purpose::CAPABILITY_INVOCATION),
        "service": services,
    })
}

/// The document of a deactivated DID: only `@context` and `id`, no keys and no
/// services (DID Resolution: `didDocumentMetadata.deactivated` is then `true`).
pub fn deactivated_document(did: &Did) -> Value {
    json!({
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did.to_string(),
    })
}

/// The DID document metadata of one version of a DID. Times are the Unix
/// milliseconds of the confirming milestones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidMetadata {
    /// When the DID was created.
    pub created_ms: u64,
    /// When this version was made (equal to `created_ms` for version 1).
    pub updated_ms: u64,
    /// The version (1 after creation, one more per applied update or deactivation).
    pub version_id: u64,
    /// Whether the DID is deactivated (in this version).
    pub deactivated: bool,
    /// For a historical version: the next version.
    pub next_version_id: Option<u64>,
    /// For a historical version: when the next version was made.
    pub next_update_ms: Option<u64>,
}

/// A DID Resolution result:
///
/// ```json
/// {
///   "@context": "https://w3id.org/did-resolution/v1",
///   "didDocument": { … },
///   "didDocumentMetadata": {"created": "2026-11-25T10:00:00Z",
///                           "updated": "2026-11-25T10:00:00Z",
///                           "versionId": "1", "deactivated": false},
///   "didResolutionMetadata": {"contentType": "application/did+ld+json"}
/// }
/// ```
///
/// `nextVersionId` and `nextUpdate` are present only for a historical version. Serve
/// it with HTTP 200, or 410 when `deactivated` is true (the DID Resolution HTTP
/// binding).
pub fn resolution_result(
    document: &Value,
    metadata: &DidMetadata,
) -> Result<Value, CredentialError> {
    let mut meta = Map::new();
    meta.insert(
        "created".into(),
        rfc3339_from_unix_millis(metadata.created_ms)?.into(),
    );
    meta.insert(
        "updated".into(),
        rfc3339_from_unix_millis(metadata.updated_ms)?.into(),
    );
    meta.insert("versionId".into(), metadata.version_id.to_string().into());
    meta.insert("deactivated".into(), metadata.deactivated.into());
    if let Some(v) = metadata.next_version_id {
        meta.insert("nextVersionId".into(), v.to_string().into());
    }
    if let Some(t) = metadata.next_update_ms {
        meta.insert("nextUpdate".into(), rfc3339_from_unix_millis(t)?.into());
    }
    Ok(json!({
        "@context": RESOLUTION_CONTEXT,
        "didDocument": document,
        "didDocumentMetadata": meta,
        "didResolutionMetadata": {"contentType": DID_CONTENT_TYPE},
    }))
}

/// Why a DID could not be resolved (the DID Resolution error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolutionError {
    /// `invalidDid`: not a syntactically valid `did:weft` DID (HTTP 400).
    InvalidDid,
    /// `notFound`: no such DID, or none at the requested version or time (HTTP 404).
    NotFound,
    /// `methodNotSupported`: a DID of another method (HTTP 501).
    MethodNotSupported,
    /// `invalidOptions`: a malformed `versionId` or `versionTime` (HTTP 400).
    InvalidOptions,
    /// `representationNotSupported`: an `Accept` the node cannot produce (HTTP 406).
    RepresentationNotSupported,
}

impl ResolutionError {
    /// The error code of `didResolutionMetadata.error`.
    pub fn code(self) -> &'static str {
        match self {
            ResolutionError::InvalidDid => "invalidDid",
            ResolutionError::NotFound => "notFound",
            ResolutionError::MethodNotSupported => "methodNotSupported",
            ResolutionError::InvalidOptions => "invalidOptions",
            ResolutionError::RepresentationNotSupported => "representationNotSupported",
        }
    }

    /// The HTTP status of the DID Resolution HTTP binding.
    pub fn http_status(self) -> u16 {
        match self {
            ResolutionError::InvalidDid | ResolutionError::InvalidOptions => 400,
            ResolutionError::NotFound => 404,
            ResolutionError::RepresentationNotSupported => 406,
            ResolutionError::MethodNotSupported => 501,
        }
    }

    /// Classifies a DID string that failed to parse: another method, or an invalid one.
    pub fn for_unparsable(did: &str) -> ResolutionError {
        match did.strip_prefix("did:") {
            Some(rest) if !rest.starts_with("weft:") && rest.contains(':') => {
                ResolutionError::MethodNotSupported
            }
            _ => ResolutionError::InvalidDid,
        }
    }
}

/// A failed DID Resolution result:
/// `{"@context": …, "didDocument": null, "didDocumentMetadata": {},
///   "didResolutionMetadata": {"error": "notFound"}}`.
pub fn resolution_error(error: ResolutionError) -> Value {
    json!({
        "@context": RESOLUTION_CONTEXT,
        "didDocument": null,
        "didDocumentMetadata": {},
        "didResolutionMetadata": {"error": error.code()},
    })
}

/// Which version of a DID a resolution asks for (`?versionId=` / `?versionTime=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionQuery {
    /// No parameter: the current version.
    Latest,
    /// `versionId`: a version number, 1 = as created.
    Id(u64),
    /// `versionTime`: the version in effect at this Unix time (milliseconds).
    TimeMillis(u64),
}

/// Parses the resolution query parameters: at most one of them; `versionId` a
/// canonical decimal number from 1, `versionTime` any RFC 3339 time from 1970.
/// Anything else is `invalidOptions`.
pub fn parse_version_query(
    version_id: Option<&str>,
    version_time: Option<&str>,
) -> Result<VersionQuery, ResolutionError> {
    match (version_id, version_time) {
        (None, None) => Ok(VersionQuery::Latest),
        (Some(v), None) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1 && n.to_string() == v)
            .map(VersionQuery::Id)
            .ok_or(ResolutionError::InvalidOptions),
        (None, Some(t)) => crate::datetime::unix_millis_from_rfc3339_lenient(t)
            .map(VersionQuery::TimeMillis)
            .map_err(|_| ResolutionError::InvalidOptions),
        (Some(_), Some(_)) => Err(ResolutionError::InvalidOptions),
    }
}

/// The public key of `method` (a full DID URL) in a DID document, if the document
/// lists it under `assertionMethod` (by reference, relative `#fragment` reference, or
/// embedded). The method must have type `Multikey`.
pub fn assertion_key(document: &Value, method: &str) -> Result<PublicKeyBytes, CredentialError> {
    let doc_id = document
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| CredentialError::malformed("id", "the DID document has no id"))?;
    let absolute = |id: &str| -> String {
        if id.starts_with('#') {
            format!("{doc_id}{id}")
        } else {
            id.to_string()
        }
    };
    let list = |field: &str| -> Vec<Value> {
        document
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let find = |entries: &[Value]| -> Option<Value> {
        entries
            .iter()
            .find(|m| m.get("id").and_then(Value::as_str).map(absolute).as_deref() == Some(method))
            .cloned()
    };
    let methods = list("verificationMethod");
    let assertion = list("assertionMethod");
    let listed = assertion.iter().find_map(|entry| match entry {
        Value::String(r) if absolute(r) == method => find(&methods),
        Value::Object(_) => find(std::slice::from_ref(entry)),
        _ => None,
    });
    let entry = match listed {
        Some(e) => e,
        None if find(&methods).is_some() => {
            return Err(CredentialError::NotAssertionMethod(method.to_string()))
        }
        None => {
            return Err(CredentialError::UnknownVerificationMethod(
                method.to_string(),
            ))
        }
    };
    if entry.get("type").and_then(Value::as_str) != Some("Multikey") {
        return Err(CredentialError::malformed(
            "verificationMethod.type",
            format!("`{method}` is not a Multikey method"),
        ));
    }
    if let Some(controller) = entry.get("controller").and_then(Value::as_str) {
        if controller != doc_id {
            return Err(CredentialError::malformed(
                "verificationMethod.controller",
                format!("`{method}` is controlled by another DID"),
            ));
        }
    }
    let mb = entry
        .get("publicKeyMultibase")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            CredentialError::malformed("verificationMethod.publicKeyMultibase", "missing")
        })?;
    multikey_decode(mb)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn keys() -> Vec<DidKey> {
        vec![
            DidKey {
                id: "key-1".into(),
                public_key: PublicKeyBytes([1; 32]),
                purposes: purpose::ALL,
            },
            DidKey {
                id: "key-2".into(),
                public_key: PublicKeyBytes([2; 32]),
                purposes: purpose::AUTHENTICATION,
            },
        ]
    }

    #[test]
    fn multikey_round_trip_and_known_value() {
        // The key of the W3C vc-di-eddsa test vectors.
        let known = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";
        let pk = multikey_decode(known).unwrap();
        assert_eq!(multikey_encode(&pk), known);
        let pk = PublicKeyBytes([7; 32]);
        let s = multikey_encode(&pk);
        assert!(s.starts_with("z6Mk"), "{s}");
        assert_eq!(multikey_decode(&s).unwrap(), pk);
        assert!(multikey_decode(&s[1..]).is_err());
        assert!(multikey_decode("z1111").is_err());
        assert!(multikey_decode("zabc0").is_err(), "0 is not base58");
        // An X25519 (0xec) key is refused.
        let mut other = vec![0xec, 0x01];
        other.extend_from_slice(&[7; 32]);
        let other = format!("z{}", bs58::encode(other).into_string());
        assert!(multikey_decode(&other).is_err());
    }

    #[test]
    fn document_shape() {
        let did = Did([9; 32]);
        let services = vec![DidService {
            id: "site".into(),
            service_type: "LinkedDomains".into(),
            endpoint: "https://agency.example".into(),
        }];
        let doc = did_document(&did, &keys(), &services);
        let id = did.to_string();
        assert_eq!(doc["@context"], json!([DID_CONTEXT, MULTIKEY_CONTEXT]));
        assert_eq!(doc["id"], json!(id));
        assert_eq!(doc["controller"], json!(id));
        assert_eq!(
            doc["verificationMethod"][0]["id"],
            json!(format!("{id}#key-1"))
        );
        assert_eq!(doc["verificationMethod"][0]["type"], json!("Multikey"));
        assert_eq!(doc["verificationMethod"][0]["controller"], json!(id));
        assert_eq!(
            doc["verificationMethod"][1]["publicKeyMultibase"],
            json!(multikey_encode(&PublicKeyBytes([2; 32])))
        );
        assert_eq!(
            doc["authentication"],
            json!([format!("{id}#key-1"), format!("{id}#key-2")])
        );
        assert_eq!(doc["assertionMethod"], json!([format!("{id}#key-1")]));
        assert_eq!(doc["capabilityInvocation"], json!([format!("{id}#key-1")]));
        assert_eq!(
            doc["service"],
            json!([{"id": format!("{id}#site"), "type": "LinkedDomains",
                    "serviceEndpoint": "https://agency.example"}])
        );
        assert_eq!(
            assertion_key(&doc, &format!("{id}#key-1")).unwrap(),
            PublicKeyBytes([1; 32])
        );
        assert_eq!(
            assertion_key(&doc, &format!("{id}#key-2")),
            Err(CredentialError::NotAssertionMethod(format!("{id}#key-2")))
        );
        assert!(matches!(
            assertion_key(&doc, &format!("{id}#key-3")),
            Err(CredentialError::UnknownVerificationMethod(_))
        ));
        let dead = deactivated_document(&did);
        assert!(dead.get("verificationMethod").is_none());
        assert!(assertion_key(&dead, &format!("{id}#key-1")).is_err());
    }

    #[test]
    fn resolution_shapes() {
        let did = Did([9; 32]);
        let doc = did_document(&did, &keys(), &[]);
        let r = resolution_result(
            &doc,
            &DidMetadata {
                created_ms: 1_795_600_800_000,
                updated_ms: 1_795_604_400_500,
                version_id: 2,
                deactivated: false,
                next_version_id: Some(3),
                next_update_ms: Some(1_795_608_000_000),
            },
        )
        .unwrap();
        assert_eq!(
            r["didDocumentMetadata"],
            json!({"created": "2026-11-25T10:00:00Z", "updated": "2026-11-25T11:00:00Z",
                   "versionId": "2", "deactivated": false, "nextVersionId": "3",
                   "nextUpdate": "2026-11-25T12:00:00Z"})
        );
        assert_eq!(
            r["didResolutionMetadata"],
            json!({"contentType": "application/did+ld+json"})
        );
        assert_eq!(r["didDocument"], doc);
        let e = resolution_error(ResolutionError::NotFound);
        assert_eq!(e["didDocument"], Value::Null);
        assert_eq!(e["didResolutionMetadata"]["error"], json!("notFound"));
        assert_eq!(ResolutionError::NotFound.http_status(), 404);
        assert_eq!(
            ResolutionError::for_unparsable("did:key:z6Mk"),
            ResolutionError::MethodNotSupported
        );
        assert_eq!(
            ResolutionError::for_unparsable("did:weft:0OIl"),
            ResolutionError::InvalidDid
        );
        assert_eq!(parse_version_query(None, None), Ok(VersionQuery::Latest));
        assert_eq!(
            parse_version_query(Some("3"), None),
            Ok(VersionQuery::Id(3))
        );
        assert_eq!(
            parse_version_query(None, Some("2026-11-25T10:00:00Z")),
            Ok(VersionQuery::TimeMillis(1_795_600_800_000))
        );
        for (id, time) in [
            (Some("0"), None),
            (Some("03"), None),
            (Some("x"), None),
            (None, Some("yesterday")),
            (Some("1"), Some("2026-11-25T10:00:00Z")),
        ] {
            assert_eq!(
                parse_version_query(id, time),
                Err(ResolutionError::InvalidOptions)
            );
        }
    }
}
