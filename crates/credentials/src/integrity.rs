//! Data Integrity proofs with the `eddsa-jcs-2022` cryptosuite (W3C "Data Integrity
//! EdDSA Cryptosuites v1.0", §3.3).
//!
//! The credential document a holder keeps is signed by its issuer so that anyone,
//! with any standard Data Integrity verifier, can check it from the issuer's DID
//! document alone. JCS (RFC 8785) rather than RDF canonicalisation keeps verification
//! free of JSON-LD context loading: a verifier needs the document, the DID document
//! and nothing from the network.
//!
//! The procedure (what [`create_proof`] and [`verify_proof`] do):
//!
//! 1. the proof configuration is the proof without `proofValue`; when the document
//!    has an `@context`, the proof carries the same `@context`;
//! 2. `hashData = SHA-256(JCS(proof configuration)) || SHA-256(JCS(document without
//!    proof))` (64 bytes);
//! 3. `proofValue = "z" + base58btc(Ed25519-sign(hashData))`.
//!
//! Verification removes `proof`, removes `proofValue` from it, checks that the
//! document's `@context` starts with the proof's `@context`, recomputes `hashData` and
//! verifies the signature under ZIP-215 rules (`weft_crypto::signing::verify`, the
//! rule every Weft node uses). Changing any member of the document or of the proof
//! changes `hashData`.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use weft_crypto::signing::{verify as verify_signature, OrganisationKey};
use weft_types::{Did, DidKey, PublicKeyBytes, SignatureBytes};

use crate::datetime::{rfc3339_from_unix_millis, unix_millis_from_rfc3339_lenient};
use crate::did::{assertion_key, did_document};
use crate::CredentialError;

/// The proof type.
pub const PROOF_TYPE: &str = "DataIntegrityProof";
/// The cryptosuite.
pub const CRYPTOSUITE: &str = "eddsa-jcs-2022";
/// The only proof purpose credentials use.
pub const PROOF_PURPOSE: &str = "assertionMethod";

/// What a verified proof says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The document's `issuer` (a DID for Weft credentials).
    pub issuer: String,
    /// The proof's `verificationMethod` (`did:weft:…#key-1`).
    pub verification_method: String,
    /// The key that verified the signature.
    pub public_key: PublicKeyBytes,
    /// The proof's `created` time as written.
    pub created: String,
}

/// RFC 8785 canonical bytes.
pub fn jcs(value: &Value) -> Result<Vec<u8>, CredentialError> {
    serde_json_canonicalizer::to_vec(value)
        .map_err(|e| CredentialError::Canonicalisation(e.to_string()))
}

fn jcs_object(value: &Map<String, Value>) -> Result<Vec<u8>, CredentialError> {
    serde_json_canonicalizer::to_vec(value)
        .map_err(|e| CredentialError::Canonicalisation(e.to_string()))
}

/// `SHA-256(JCS(proof configuration)) || SHA-256(JCS(unsecured document))`.
pub fn hash_data(
    unsecured: &Map<String, Value>,
    proof_config: &Map<String, Value>,
) -> Result<[u8; 64], CredentialError> {
    // A map canonicalises exactly as the object holding it (no copy of the document).
    let config_hash = Sha256::digest(jcs_object(proof_config)?);
    let doc_hash = Sha256::digest(jcs_object(unsecured)?);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&config_hash);
    out[32..].copy_from_slice(&doc_hash);
    Ok(out)
}

fn as_object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, CredentialError> {
    v.as_object()
        .ok_or_else(|| CredentialError::malformed(field, "expected a JSON object"))
}

/// Adds a proof made from `options` (the proof's members without `proofValue`: at
/// least `type`, `cryptosuite`, `verificationMethod`, `proofPurpose`) to an unsigned
/// document. This is the general procedure; [`sign`] fills the options in.
pub fn create_proof(
    document: &Value,
    key: &OrganisationKey,
    options: Map<String, Value>,
) -> Result<Value, CredentialError> {
    let doc = as_object(document, "document")?;
    if doc.contains_key("proof") {
        return Err(CredentialError::AlreadySigned);
    }
    if options.get("type").and_then(Value::as_str) != Some(PROOF_TYPE)
        || options.get("cryptosuite").and_then(Value::as_str) != Some(CRYPTOSUITE)
    {
        return Err(CredentialError::UnsupportedProof(format!(
            "only {PROOF_TYPE} with {CRYPTOSUITE} can be created"
        )));
    }
    if options.contains_key("proofValue") {
        return Err(CredentialError::malformed(
            "proof.proofValue",
            "the options already hold a proof value",
        ));
    }
    let mut proof = options;
    if let Some(ctx) = doc.get("@context") {
        proof.insert("@context".into(), ctx.clone());
    }
    let data = hash_data(doc, &proof)?;
    let sig = key.sign(&data);
    proof.insert(
        "proofValue".into(),
        format!("z{}", bs58::encode(sig.0).into_string()).into(),
    );
    let mut out = doc.clone();
    out.insert("proof".into(), Value::Object(proof));
    Ok(Value::Object(out))
}

/// Signs a credential document for `assertionMethod` with `key`, named in the proof
/// by `verification_method` (`did:weft:…#key-1`), at `created_ms` (Unix
/// milliseconds; written to the second). Returns the document with its `proof`:
///
/// ```json
/// "proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022",
///           "created": "2026-11-25T10:00:00Z",
///           "verificationMethod": "did:weft:…#key-1",
///           "proofPurpose": "assertionMethod",
///           "@context": [ …the document's @context… ],
///           "proofValue": "z…"}
/// ```
pub fn sign(
    document: &Value,
    key: &OrganisationKey,
    verification_method: &str,
    created_ms: u64,
) -> Result<Value, CredentialError> {
    let mut options = Map::new();
    options.insert("type".into(), PROOF_TYPE.into());
    options.insert("cryptosuite".into(), CRYPTOSUITE.into());
    options.insert(
        "created".into(),
        rfc3339_from_unix_millis(created_ms)?.into(),
    );
    options.insert("verificationMethod".into(), verification_method.into());
    options.insert("proofPurpose".into(), PROOF_PURPOSE.into());
    create_proof(document, key, options)
}

/// The parts of a proof before its signature is checked.
struct ProofParts {
    unsecured: Map<String, Value>,
    config: Map<String, Value>,
    signature: SignatureBytes,
    method: String,
    created: String,
}

fn proof_parts(document: &Value) -> Result<ProofParts, CredentialError> {
    let doc = as_object(document, "document")?;
    let proof = match doc.get("proof") {
        Some(Value::Object(p)) => p,
        Some(Value::Array(_)) => {
            return Err(CredentialError::UnsupportedProof(
                "proof sets and chains are not supported (one proof only)".into(),
            ))
        }
        Some(_) => return Err(CredentialError::malformed("proof", "expected an object")),
        None => return Err(CredentialError::malformed("proof", "missing")),
    };
    let text = |field: &str| -> Result<String, CredentialError> {
        proof
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                CredentialError::malformed(&format!("proof.{field}"), "missing or not a string")
            })
    };
    if text("type")? != PROOF_TYPE {
        return Err(CredentialError::UnsupportedProof(format!(
            "proof type `{}`",
            text("type")?
        )));
    }
    if text("cryptosuite")? != CRYPTOSUITE {
        return Err(CredentialError::UnsupportedProof(format!(
            "cryptosuite `{}`",
            text("cryptosuite")?
        )));
    }
    if text("proofPurpose")? != PROOF_PURPOSE {
        return Err(CredentialError::UnsupportedProof(format!(
            "proof purpose `{}` (credentials need assertionMethod)",
            text("proofPurpose")?
        )));
    }
    let method = text("verificationMethod")?;
    let created = match proof.get("created") {
        None => String::new(),
        Some(Value::String(c)) => {
            unix_millis_from_rfc3339_lenient(c)?;
            c.clone()
        }
        Some(_) => return Err(CredentialError::malformed("proof.created", "not a string")),
    };
    let value = text("proofValue")?;
    let bytes = value
        .strip_prefix('z')
        .and_then(|b| bs58::decode(b).into_vec().ok())
        .ok_or_else(|| CredentialError::malformed("proof.proofValue", "not multibase base58btc"))?;
    let signature: [u8; 64] = bytes
        .try_into()
        .map_err(|_| CredentialError::malformed("proof.proofValue", "not 64 bytes"))?;

    let mut config = proof.clone();
    config.remove("proofValue");
    let mut unsecured = doc.clone();
    unsecured.remove("proof");
    if let Some(ctx) = config.get("@context") {
        let as_list = |v: &Value| -> Vec<Value> {
            match v {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            }
        };
        let doc_ctx = unsecured.get("@context").map(as_list).unwrap_or_default();
        let proof_ctx = as_list(ctx);
        if !doc_ctx.starts_with(&proof_ctx) {
            return Err(CredentialError::malformed(
                "proof.@context",
                "the document's @context does not start with the proof's",
            ));
        }
        unsecured.insert("@context".into(), ctx.clone());
    }
    Ok(ProofParts {
        unsecured,
        config,
        signature: SignatureBytes(signature),
        method,
        created,
    })
}

/// Checks the proof's signature under `public_key` only: the cryptosuite's
/// verification, without resolving the verification method. Returns the method and
/// `created` as written.
pub fn verify_proof(
    document: &Value,
    public_key: &PublicKeyBytes,
) -> Result<(String, String), CredentialError> {
    let parts = proof_parts(document)?;
    let data = hash_data(&parts.unsecured, &parts.config)?;
    verify_signature(public_key, &data, &parts.signature)
        .map_err(|_| CredentialError::BadSignature)?;
    Ok((parts.method, parts.created))
}

/// The document's issuer: `issuer` as a string or as an object's `id`.
pub fn issuer_of(document: &Value) -> Result<String, CredentialError> {
    match document.get("issuer") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Object(o)) => o
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| CredentialError::malformed("issuer.id", "missing")),
        _ => Err(CredentialError::malformed(
            "issuer",
            "missing or not a string",
        )),
    }
}

/// Verifies a signed credential document against its issuer's DID document (as
/// served by `GET /api/v1/identifiers/{did}`: pass `didDocument`, taken at the version
/// valid at issuance). Checks that the proof's method belongs to the document's
/// `issuer`, that the DID document is that issuer's, that the method is listed under
/// `assertionMethod`, and the signature.
pub fn verify(document: &Value, issuer_document: &Value) -> Result<VerifiedProof, CredentialError> {
    let issuer = issuer_of(document)?;
    let parts = proof_parts(document)?;
    let method = parts.method;
    if method.split_once('#').map(|(d, _)| d) != Some(issuer.as_str()) {
        return Err(CredentialError::IssuerMismatch { issuer, method });
    }
    if issuer_document.get("id").and_then(Value::as_str) != Some(issuer.as_str()) {
        return Err(CredentialError::malformed(
            "didDocument.id",
            format!("the DID document given is not the one of `{issuer}`"),
        ));
    }
    let public_key = assertion_key(issuer_document, &method)?;
    let (_, created) = verify_proof(document, &public_key)?;
    Ok(VerifiedProof {
        issuer,
        verification_method: method,
        public_key,
        created,
    })
}

/// [`verify`] with the issuer's keys as the ledger holds them.
pub fn verify_with_keys(
    document: &Value,
    issuer: &Did,
    keys: &[DidKey],
) -> Result<VerifiedProof, CredentialError> {
    verify(document, &did_document(issuer, keys, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::did::multikey_decode;

    /// The eddsa-jcs-2022 test vector of the W3C vc-di-eddsa specification
    /// (`TestVectors/keyPair.json` and `TestVectors/eddsa-jcs-2022/`).
    const W3C_SIGNED: &str = r#"{
      "@context": ["https://www.w3.org/ns/credentials/v2",
                   "https://www.w3.org/ns/credentials/examples/v2"],
      "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
      "type": ["VerifiableCredential", "AlumniCredential"],
      "name": "Alumni Credential",
      "description": "A minimum viable example of an Alumni Credential.",
      "issuer": "https://vc.example/issuers/5678",
      "validFrom": "2023-01-01T00:00:00Z",
      "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
      "proof": {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": "2023-02-24T23:36:38Z",
        "verificationMethod": "https://vc.example/issuers/5678#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
        "proofPurpose": "assertionMethod",
        "@context": ["https://www.w3.org/ns/credentials/v2",
                     "https://www.w3.org/ns/credentials/examples/v2"],
        "proofValue": "z63t83Y53KfzJ5ZosfKTnqfMcKB2dmTrfjSaQjeNNjAD5srBowQfmWqeRb8rRjmeEuCBEsddF9LsVogtuTsijJKh4"
      }
    }"#;
    const W3C_PUBLIC: &str = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";
    const W3C_PRIVATE: &str = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq";
    /// `docHashJCS.txt`: SHA-256 of the JCS-canonical unsigned document.
    const W3C_DOC_HASH: &str = "59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19";

    fn w3c_key() -> OrganisationKey {
        let bytes = bs58::decode(&W3C_PRIVATE[1..]).into_vec().unwrap();
        // multicodec ed25519-priv (0x1300 as a varint: 0x80 0x26) || 32-byte seed
        assert_eq!(&bytes[..2], &[0x80, 0x26]);
        OrganisationKey::from_seed(&bytes[2..].try_into().unwrap())
    }

    #[test]
    fn w3c_vector_verifies_and_signs_identically() {
        let signed: Value = serde_json::from_str(W3C_SIGNED).unwrap();
        let pk = multikey_decode(W3C_PUBLIC).unwrap();
        let key = w3c_key();
        assert_eq!(key.public_key(), pk);
        verify_proof(&signed, &pk).unwrap();

        let parts = proof_parts(&signed).unwrap();
        let data = hash_data(&parts.unsecured, &parts.config).unwrap();
        assert_eq!(hex::encode(&data[32..]), W3C_DOC_HASH);

        // Signing the unsigned document with the same options gives the same proof
        // (Ed25519 is deterministic).
        let mut unsigned = signed.as_object().unwrap().clone();
        let mut options = unsigned
            .remove("proof")
            .unwrap()
            .as_object()
            .unwrap()
            .clone();
        options.remove("proofValue");
        options.remove("@context");
        let again = create_proof(&Value::Object(unsigned), &key, options).unwrap();
        assert_eq!(again, signed);

        let mut tampered = signed.clone();
        tampered["credentialSubject"]["alumniOf"] = "The School of Counterexamples".into();
        assert_eq!(
            verify_proof(&tampered, &pk),
            Err(CredentialError::BadSignature)
        );
    }
}
