//! A distribution point's presentation request as the wallet meets it.
//!
//! The protocol is `weft_credentials::presentation` (specs/distribution-point.md §1): the
//! point shows a [`PresentationRequest`] (`weft-verifier request` prints it as JSON and as
//! a QR code of its binary form), the wallet answers with a [`PresentationResponse`].
//! This module only reads the request in every form a holder can be handed it:
//!
//! - a PNG image of the point's QR code (whose content is the binary form, or any of the
//!   text forms below);
//! - the JSON form (`{"version": 1, "program": …}`);
//! - the binary form as hex text (optionally `0x`-prefixed);
//! - the binary form itself (first byte: the version, `1`, or `2` for a value
//!   program's request, whose answer carries a one-time entitlement key).
//!
//! The forms cannot be confused: a PNG starts with `\x89PNG`, JSON with `{`, hex text
//! with a hex digit, and the binary form with the byte `1` or `2`.

pub use weft_credentials::presentation::{PresentationRequest, PresentationResponse};

use crate::{Result, WalletError};

fn bad(e: impl std::fmt::Display) -> WalletError {
    WalletError::Request(e.to_string())
}

/// Reads a request from a file's or a scanned QR code's bytes (module notes).
pub fn read_request(bytes: &[u8]) -> Result<PresentationRequest> {
    if bytes.starts_with(b"\x89PNG") {
        let content = crate::qr::read_png(bytes)?;
        if content.starts_with(b"\x89PNG") {
            return Err(bad("the QR code holds an image, not a request"));
        }
        return read_request(&content);
    }
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    match text {
        Some(t) if t.starts_with('{') => {
            let v: serde_json::Value = serde_json::from_str(t).map_err(bad)?;
            PresentationRequest::from_json(&v).map_err(bad)
        }
        Some(t) if is_hex(t) => {
            let h = t.strip_prefix("0x").unwrap_or(t);
            let b = hex::decode(h).map_err(bad)?;
            PresentationRequest::from_bytes(&b).map_err(bad)
        }
        _ => PresentationRequest::from_bytes(bytes).map_err(bad),
    }
}

fn is_hex(t: &str) -> bool {
    let h = t.strip_prefix("0x").unwrap_or(t);
    !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The slots a disclosure mask names, ascending (bit `j`: slot `j`).
pub fn disclosed_slots(mask: u16) -> Vec<usize> {
    (0..16).filter(|j| mask & (1 << j) != 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::{
        Did, PolicyCondition, PredicateOp, ProgramId, PublicKeyBytes, RegistryId, SchemaId,
    };

    fn request() -> PresentationRequest {
        PresentationRequest {
            program: ProgramId(RegistryId([1; 32])),
            round: 2,
            nonce: [9; 16],
            point: Did([3; 32]),
            device_key: PublicKeyBytes([4; 32]),
            time: 1_764_000_000_000,
            registries: vec![RegistryId([5; 32])],
            schema: SchemaId([6; 32]),
            conditions: vec![PolicyCondition {
                attribute: 0,
                predicate: PredicateOp::Ge { value: 3 },
            }],
            disclose: 0b10,
            issued_before: 1_763_000_000,
            summary: "25 kg rice".into(),
            value_notes: false,
        }
    }

    #[test]
    fn every_form_reads_back() {
        let r = request();
        let bin = r.to_bytes();
        assert_eq!(read_request(&bin).unwrap(), r);
        let json = serde_json::to_vec_pretty(&r.to_json()).unwrap();
        assert_eq!(read_request(&json).unwrap(), r);
        let hex_text = format!("{}\n", hex::encode(&bin));
        assert_eq!(read_request(hex_text.as_bytes()).unwrap(), r);
        assert_eq!(
            read_request(format!("0x{}", hex::encode(&bin)).as_bytes()).unwrap(),
            r
        );
        let png = crate::qr::png(&bin, 3).unwrap();
        assert_eq!(read_request(&png).unwrap(), r);
        assert_eq!(disclosed_slots(r.disclose), vec![1]);
    }

    #[test]
    fn malformed_requests_are_refused() {
        let r = request();
        let bin = r.to_bytes();
        for bytes in [
            &bin[..bin.len() - 1],
            b"{\"version\": 1}".as_slice(),
            b"abc".as_slice(),
            b"".as_slice(),
            b"{not json".as_slice(),
        ] {
            assert!(
                matches!(read_request(bytes), Err(WalletError::Request(_))),
                "{bytes:?}"
            );
        }
        let mut v3 = bin.clone();
        v3[0] = 3;
        assert!(matches!(read_request(&v3), Err(WalletError::Request(_))));
        // Version 2 is a value program's request, read in every form alike.
        let value = PresentationRequest {
            value_notes: true,
            ..r.clone()
        };
        let vb = value.to_bytes();
        assert_eq!(vb[0], 2);
        assert_eq!(read_request(&vb).unwrap(), value);
        let json = serde_json::to_vec(&value.to_json()).unwrap();
        assert_eq!(read_request(&json).unwrap(), value);
        let png = crate::qr::png(&bin, 3).unwrap();
        assert!(matches!(
            read_request(&png[..png.len() / 2]),
            Err(WalletError::Qr(_))
        ));
    }
}
