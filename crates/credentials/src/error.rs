//! One error type for the whole crate, so that callers (the node's routes, the agency
//! CLI, wallets) can report exactly what is wrong with a value or a document.

/// What is wrong with an attribute, a document or a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The schema lists an attribute the JSON does not give.
    #[error("attribute `{0}` is missing")]
    MissingAttribute(String),
    /// The JSON gives an attribute the schema does not list.
    #[error("attribute `{0}` is not in the schema")]
    UnknownAttribute(String),
    /// An attribute's value does not fit its kind.
    #[error("attribute `{name}`: {reason}")]
    InvalidAttribute {
        /// The attribute's name.
        name: String,
        /// Why the value is refused.
        reason: String,
    },
    /// The schema itself is not valid (limits of `weft-types`).
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// A document member is missing or has the wrong shape.
    #[error("document member `{field}`: {reason}")]
    Malformed {
        /// The member (a JSON path such as `credentialStatus.index`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A string is not a `did:weft` DID.
    #[error("invalid DID `{0}`")]
    InvalidDid(String),
    /// A `publicKeyMultibase` value is not a Multikey Ed25519 public key.
    #[error("invalid Multikey value: {0}")]
    InvalidMultikey(String),
    /// A time is not a valid RFC 3339 UTC time, or out of range.
    #[error("invalid time `{0}`")]
    InvalidTime(String),
    /// RFC 8785 canonicalisation failed (for example a non-finite number).
    #[error("JSON canonicalisation failed: {0}")]
    Canonicalisation(String),
    /// The proof is not a single `DataIntegrityProof` with cryptosuite `eddsa-jcs-2022`
    /// and purpose `assertionMethod`.
    #[error("unsupported proof: {0}")]
    UnsupportedProof(String),
    /// The document is already signed (it has a `proof`).
    #[error("the document already has a proof")]
    AlreadySigned,
    /// The proof's verification method is not a method of the issuer's DID document.
    #[error("verification method `{0}` is not in the issuer's DID document")]
    UnknownVerificationMethod(String),
    /// The verification method exists but is not listed under `assertionMethod`.
    #[error("verification method `{0}` may not assert credentials (not in assertionMethod)")]
    NotAssertionMethod(String),
    /// The verification method belongs to another DID than the document's issuer.
    #[error("verification method `{method}` does not belong to the issuer `{issuer}`")]
    IssuerMismatch {
        /// The document's `issuer`.
        issuer: String,
        /// The proof's `verificationMethod`.
        method: String,
    },
    /// The signature does not verify (the document or the proof was changed, or the key
    /// is not the signer's).
    #[error("the proof's signature does not verify")]
    BadSignature,
    /// The document's schema is not the schema given.
    #[error("the document's schema `{document}` is not the schema given (`{given}`)")]
    SchemaMismatch {
        /// The schema id the document names.
        document: String,
        /// The id of the schema passed in.
        given: String,
    },
    /// The stated leaf is not the commitment of the document's contents.
    #[error("the stated leaf is not the commitment of the document's contents")]
    LeafMismatch,
    /// The credential values disagree with the attributes or the schema given.
    #[error("the credential does not match: {0}")]
    CredentialMismatch(String),
}

impl CredentialError {
    pub(crate) fn malformed(field: &str, reason: impl Into<String>) -> CredentialError {
        CredentialError::Malformed {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn attribute(name: &str, reason: impl Into<String>) -> CredentialError {
        CredentialError::InvalidAttribute {
            name: name.to_string(),
            reason: reason.into(),
        }
    }
}
