//! Credentials as holders and standard tools see them: schemas and the encoding of
//! attribute values as field elements, W3C Verifiable Credential 2.0 and DID Core
//! documents, and their Data Integrity proofs (`eddsa-jcs-2022`).
