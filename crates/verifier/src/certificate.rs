//! A milestone's committee certificate, checked offline: the one rule of
//! `weft_crypto::certificate`, shared with the node.

pub use weft_crypto::certificate::{verify_certificate, CertificateError};
