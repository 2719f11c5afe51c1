//! Credentials as holders and standard tools see them: schemas and the encoding of
//! attribute values as field elements, W3C Verifiable Credential 2.0 and DID Core
//! documents, and their Data Integrity proofs (`eddsa-jcs-2022`).
//!
//! The ledger only ever sees a credential's leaf (a hiding Poseidon commitment); the
//! attribute values, the salt and the signed document stay with the holder. This crate
//! is the pure layer between the two worlds: it turns JSON values into the circuit's
//! field elements (`attributes`), renders DIDs as DID Core documents and DID
//! Resolution results (`did`), builds and reads the holder's credential document
//! (`vc`), signs and verifies it so that any standard Data Integrity verifier can
//! check it (`integrity`), and checks a document against the ledger's registry
//! (`ledger`). No I/O: the node and the wallets fetch, this crate decides.
//!
//! The formats are specified in `specs/credentials.md` and `specs/did-method.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attributes;
pub mod claim;
pub mod datetime;
pub mod did;
mod error;
pub mod integrity;
pub mod ledger;
pub mod policy;
pub mod presentation;
pub mod vc;

pub use attributes::{
    decode_value, encode_attributes, encode_value, schema_field, schema_field_matches, string_hash,
};
pub use did::{
    did_document, multikey_decode, multikey_encode, parse_version_query, resolution_error,
    resolution_result, DidMetadata, ResolutionError, VersionQuery,
};
pub use error::CredentialError;
pub use integrity::{sign, verify, verify_with_keys, VerifiedProof};
pub use ledger::{verify_against_ledger, LedgerCheckError, RegistryView};
pub use policy::{CompiledPolicy, PolicyError};
pub use vc::{
    credential_document, parse_credential_document, verify_credential, CredentialRecord,
    ParsedCredential,
};
