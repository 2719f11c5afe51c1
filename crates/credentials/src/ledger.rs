//! Checking a credential document against the ledger, as any holder (or anyone the
//! holder shows the document to) can: the issuer's signature under the DID document
//! valid at issuance, and the leaf present and not revoked in the issuer's registry.
//!
//! Pure: the caller fetches the issuer's DID document at `validFrom`
//! (`GET /api/v1/identifiers/{did}?versionTime=<validFrom>`), the schema, the registry
//! chunk holding the leaf and the registry's current root and size; this function says
//! which check failed. Downloading the whole chunk rather than one path keeps the
//! holder's position private from the node.

use serde_json::Value;
use weft_crypto::poseidon::Fr;
use weft_crypto::registry::RegistryChunk;
use weft_types::Schema;

use crate::integrity::verify;
use crate::vc::{parse_credential_document, ParsedCredential};
use crate::CredentialError;

/// The registry as the ledger shows it now.
#[derive(Debug, Clone, Copy)]
pub struct RegistryView<'a> {
    /// The chunk that holds the credential's leaf.
    pub chunk: &'a RegistryChunk,
    /// The registry's current root (from the node, checked against a milestone).
    pub root: Fr,
    /// The registry's size (leaves appended so far, revoked ones included).
    pub size: u64,
}

/// Which ledger check a credential document failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerCheckError {
    /// The document is malformed or its contents do not open its stated leaf.
    #[error("invalid credential document: {0}")]
    Document(CredentialError),
    /// The proof does not verify (bad signature, wrong issuer, unsupported proof).
    #[error("the issuer's signature does not verify: {0}")]
    Signature(CredentialError),
    /// The signing key was not an assertion key of the issuer's DID document at
    /// issuance (unknown, removed, rotated out, or without `assertionMethod`).
    #[error("the signing key was not an assertion key of the issuer at issuance: {0}")]
    KeyNotValidAtIssuance(CredentialError),
    /// The chunk's leaves and siblings do not hash to the registry root given.
    #[error("the registry chunk does not hash to the registry root")]
    RootMismatch,
    /// The chunk is not the one that holds the credential's index.
    #[error("chunk {chunk} (2^{k} leaves) does not hold index {index}")]
    WrongChunk {
        /// The credential's index.
        index: u64,
        /// The chunk's number.
        chunk: u64,
        /// The chunk's size exponent.
        k: u8,
    },
    /// The registry holds no such leaf: the index is not issued yet, or holds another
    /// credential's leaf.
    #[error("the registry does not hold this credential's leaf")]
    LeafAbsent,
    /// The leaf's position is zero: the credential was revoked.
    #[error("the credential was revoked")]
    LeafRevoked,
}

/// Verifies a credential document against the ledger: the Data Integrity proof under
/// the issuer's DID document valid at issuance (`issuer_document_at_issuance`, the
/// `didDocument` of the resolution at `versionTime = validFrom`), the contents against
/// `schema` and the stated leaf, then the chunk against the root, and the leaf present
/// at the credential's index and not revoked (non-zero). Expiry is not checked here:
/// compare `validUntil` with the verifier's clock.
pub fn verify_against_ledger(
    document: &Value,
    issuer_document_at_issuance: &Value,
    schema: &Schema,
    registry: RegistryView<'_>,
) -> Result<ParsedCredential, LedgerCheckError> {
    verify(document, issuer_document_at_issuance).map_err(|e| match e {
        CredentialError::UnknownVerificationMethod(_) | CredentialError::NotAssertionMethod(_) => {
            LedgerCheckError::KeyNotValidAtIssuance(e)
        }
        e => LedgerCheckError::Signature(e),
    })?;
    let parsed = parse_credential_document(document, schema).map_err(LedgerCheckError::Document)?;
    let chunk = registry.chunk;
    if chunk.root() != registry.root {
        return Err(LedgerCheckError::RootMismatch);
    }
    let index = parsed.record.index;
    let k = chunk.k;
    let wrong = LedgerCheckError::WrongChunk {
        index,
        chunk: chunk.index,
        k,
    };
    if k >= 64 || index >> k != chunk.index || chunk.leaves.len() as u64 != 1u64 << k {
        return Err(wrong);
    }
    let offset = usize::try_from(index & ((1u64 << k) - 1)).map_err(|_| wrong.clone())?;
    let leaf = chunk.leaves.get(offset).copied().ok_or(wrong)?;
    if leaf == parsed.leaf {
        Ok(parsed)
    } else if leaf == Fr::from(0u64) && index < registry.size {
        Err(LedgerCheckError::LeafRevoked)
    } else {
        Err(LedgerCheckError::LeafAbsent)
    }
}
