//! Paying a shop: the shop's payment request and the household's payment, in the forms
//! they travel in (JSON files, QR codes).
//!
//! Why a module of its own: the household's wallet writes a [`Payment`] that the shop
//! (`weft-verifier shop`) reads, and the shop writes a [`PaymentRequest`] that the
//! wallet reads, so both sides must agree on the bytes. This module is that agreement
//! (normative in `specs/entitlements.md` §11); `weft-verifier` uses it as it is.
//!
//! # The payment request (shop → household)
//!
//! The shop asks for `amount` of `program`'s value, to be paid to a fresh one-time key
//! of its own (`payTo`, a Ristretto point whose secret only the shop holds), names
//! itself (`shop`, its DID, shown to the household), and adds a random `nonce` (which
//! the payment echoes, so the shop finds the request again) and an `expires` time.
//!
//! ```text
//! JSON:   {"type": "weft-payment-request", "version": 1, "program": <64 hex>,
//!          "amount": "<decimal u64>", "payTo": <64 hex>, "shop": "did:weft:…",
//!          "nonce": <32 hex>, "expires": <Unix ms>}
//! binary: "WPR" || version (1) || program (32) || amount (u64 BE) || payTo (32)
//!         || shop (32, the DID's bytes) || nonce (16) || expires (u64 BE)   = 132 bytes
//! ```
//!
//! # The payment (household → shop)
//!
//! The request's nonce and the transfer (`weft_types::notes::Transfer`) that pays it:
//! one output to `payTo` for exactly `amount`, the change (if any) to a new key of the
//! household's own.
//!
//! ```text
//! JSON:   {"type": "weft-payment", "version": 1, "nonce": <32 hex>, "transfer": {…}}
//! binary: "WPT" || version (1) || nonce (16) || the transfer's canonical bytes
//! ```
//!
//! A QR code holds the binary forms (a payment with two inputs and two outputs is about
//! 1.4 KB, within one QR code at level M). Readers accept a PNG of the QR code, the JSON
//! form, the binary form, and the binary form as hex text.

use serde::{Deserialize, Serialize};
use weft_types::codec::{Reader, Writer};
use weft_types::notes::Transfer;
use weft_types::{Did, ProgramId, RegistryId};

use crate::{Result, WalletError};

/// Magic bytes of a payment request's binary form.
pub const REQUEST_MAGIC: &[u8; 3] = b"WPR";
/// Magic bytes of a payment's binary form.
pub const PAYMENT_MAGIC: &[u8; 3] = b"WPT";
/// The version of both forms.
pub const PAYMENT_VERSION: u8 = 1;
/// The `type` of a payment request's JSON form.
pub const REQUEST_TYPE: &str = "weft-payment-request";
/// The `type` of a payment's JSON form.
pub const PAYMENT_TYPE: &str = "weft-payment";

fn bad(e: impl std::fmt::Display) -> WalletError {
    WalletError::Payment(e.to_string())
}

/// A shop's request to be paid (module notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// The value program whose notes pay.
    pub program: ProgramId,
    /// The amount, in the program's unit (1 ..= 2^64 − 1).
    pub amount: u64,
    /// The shop's fresh one-time public key (compressed Ristretto).
    pub pay_to: [u8; 32],
    /// The shop's DID.
    pub shop: Did,
    /// A random nonce the payment echoes.
    pub nonce: [u8; 16],
    /// After this (Unix ms) the shop no longer accepts a payment for it.
    pub expires: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RequestJson {
    #[serde(rename = "type")]
    kind: String,
    version: u8,
    program: ProgramId,
    amount: String,
    pay_to: String,
    shop: Did,
    nonce: String,
    expires: u64,
}

fn hex_array<const N: usize>(s: &str, field: &str) -> Result<[u8; N]> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    let mut out = [0u8; N];
    if h.len() != 2 * N {
        return Err(bad(format!("{field}: {} hex digits expected", 2 * N)));
    }
    hex::decode_to_slice(h, &mut out).map_err(|_| bad(format!("{field}: not hex")))?;
    Ok(out)
}

/// Parses an amount: a whole number in `1 ..= 2^64 − 1`.
pub fn parse_amount(s: &str) -> Result<u64> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!("amount {t:?}: a whole number expected")));
    }
    let v: u64 = t
        .parse()
        .map_err(|_| bad(format!("amount {t}: must be below 2^64")))?;
    if v == 0 {
        return Err(bad("amount 0: a payment must be for more than nothing"));
    }
    Ok(v)
}

/// The content of a PNG's QR code, or the bytes themselves.
fn unwrap_png(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>> {
    if bytes.starts_with(b"\x89PNG") {
        let content = crate::qr::read_png(bytes)?;
        if content.starts_with(b"\x89PNG") {
            return Err(bad("the QR code holds an image"));
        }
        return Ok(std::borrow::Cow::Owned(content));
    }
    Ok(std::borrow::Cow::Borrowed(bytes))
}

/// The bytes of a hex text (optionally `0x`-prefixed), if it is one.
fn from_hex_text(bytes: &[u8]) -> Option<Vec<u8>> {
    let t = std::str::from_utf8(bytes).ok()?.trim();
    let h = t.strip_prefix("0x").unwrap_or(t);
    if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    hex::decode(h).ok()
}

fn json_text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes)
        .ok()
        .map(str::trim)
        .filter(|t| t.starts_with('{'))
}

impl PaymentRequest {
    /// The JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": REQUEST_TYPE,
            "version": PAYMENT_VERSION,
            "program": self.program,
            "amount": self.amount.to_string(),
            "payTo": hex::encode(self.pay_to),
            "shop": self.shop,
            "nonce": hex::encode(self.nonce),
            "expires": self.expires,
        })
    }

    /// Strict reading of the JSON form (then the same checks as the binary form).
    pub fn from_json(v: &serde_json::Value) -> Result<PaymentRequest> {
        let j: RequestJson = serde_json::from_value(v.clone()).map_err(bad)?;
        if j.kind != REQUEST_TYPE {
            return Err(bad(format!("type {:?}: not a payment request", j.kind)));
        }
        if j.version != PAYMENT_VERSION {
            return Err(bad(format!(
                "unsupported payment request version {}",
                j.version
            )));
        }
        let r = PaymentRequest {
            program: j.program,
            amount: parse_amount(&j.amount)?,
            pay_to: hex_array(&j.pay_to, "payTo")?,
            shop: j.shop,
            nonce: hex_array(&j.nonce, "nonce")?,
            expires: j.expires,
        };
        r.check_key()?;
        Ok(r)
    }

    /// The binary form (module notes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(REQUEST_MAGIC);
        w.u8(PAYMENT_VERSION);
        w.bytes(self.program.bytes());
        w.u64(self.amount);
        w.bytes(&self.pay_to);
        w.bytes(&self.shop.0);
        w.bytes(&self.nonce);
        w.u64(self.expires);
        w.into_bytes()
    }

    /// Strict reading of the binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<PaymentRequest> {
        let mut r = Reader::new(bytes);
        let magic: [u8; 3] = r.array("magic").map_err(bad)?;
        if &magic != REQUEST_MAGIC {
            return Err(bad("not a payment request"));
        }
        let version = r.u8("version").map_err(bad)?;
        if version != PAYMENT_VERSION {
            return Err(bad(format!(
                "unsupported payment request version {version}"
            )));
        }
        let program = ProgramId(RegistryId(r.array("program").map_err(bad)?));
        let amount = r.u64("amount").map_err(bad)?;
        let pay_to = r.array("payTo").map_err(bad)?;
        let shop = Did(r.array("shop").map_err(bad)?);
        let nonce = r.array("nonce").map_err(bad)?;
        let expires = r.u64("expires").map_err(bad)?;
        r.finish("payment request").map_err(bad)?;
        if amount == 0 {
            return Err(bad("amount 0: a payment must be for more than nothing"));
        }
        let req = PaymentRequest {
            program,
            amount,
            pay_to,
            shop,
            nonce,
            expires,
        };
        req.check_key()?;
        Ok(req)
    }

    fn check_key(&self) -> Result<()> {
        weft_entitlements::OwnerPublicKey::from_bytes(&self.pay_to)
            .map(|_| ())
            .map_err(|e| bad(format!("payTo: {e}")))
    }

    /// Reads a request from a file's or a scanned QR code's bytes: a PNG of the QR
    /// code, the JSON form, the binary form or the binary form as hex text.
    pub fn read(bytes: &[u8]) -> Result<PaymentRequest> {
        let bytes = unwrap_png(bytes)?;
        if let Some(t) = json_text(&bytes) {
            let v: serde_json::Value = serde_json::from_str(t).map_err(bad)?;
            return PaymentRequest::from_json(&v);
        }
        if bytes.starts_with(REQUEST_MAGIC) {
            return PaymentRequest::from_bytes(&bytes);
        }
        match from_hex_text(&bytes) {
            Some(b) => PaymentRequest::from_bytes(&b),
            None => Err(bad("neither JSON, nor a payment request's binary form")),
        }
    }

    /// Whether the request has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        now_ms > self.expires
    }
}

/// The household's payment: the request's nonce and the transfer (module notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The nonce of the request it pays.
    pub nonce: [u8; 16],
    /// The transfer.
    pub transfer: Transfer,
}

impl Payment {
    /// The JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": PAYMENT_TYPE,
            "version": PAYMENT_VERSION,
            "nonce": hex::encode(self.nonce),
            "transfer": self.transfer,
        })
    }

    /// Strict reading of the JSON form.
    pub fn from_json(v: &serde_json::Value) -> Result<Payment> {
        let o = v.as_object().ok_or_else(|| bad("a JSON object expected"))?;
        if let Some(k) = o
            .keys()
            .find(|k| !["type", "version", "nonce", "transfer"].contains(&k.as_str()))
        {
            return Err(bad(format!("unknown field {k}")));
        }
        if o.get("type").and_then(|t| t.as_str()) != Some(PAYMENT_TYPE) {
            return Err(bad("not a payment (type must be weft-payment)"));
        }
        if o.get("version").and_then(|t| t.as_u64()) != Some(PAYMENT_VERSION as u64) {
            return Err(bad("unsupported payment version"));
        }
        let nonce = hex_array(
            o.get("nonce").and_then(|n| n.as_str()).unwrap_or_default(),
            "nonce",
        )?;
        let transfer: Transfer =
            serde_json::from_value(o.get("transfer").cloned().unwrap_or_default())
                .map_err(|e| bad(format!("transfer: {e}")))?;
        // The binary form's structural checks (counts, proof length, order) hold too.
        Payment::from_bytes(&Payment { nonce, transfer }.to_bytes())
    }

    /// The binary form (module notes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(PAYMENT_MAGIC);
        w.u8(PAYMENT_VERSION);
        w.bytes(&self.nonce);
        w.bytes(&self.transfer.to_bytes());
        w.into_bytes()
    }

    /// Strict reading of the binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Payment> {
        let mut r = Reader::new(bytes);
        let magic: [u8; 3] = r.array("magic").map_err(bad)?;
        if &magic != PAYMENT_MAGIC {
            return Err(bad("not a payment"));
        }
        let version = r.u8("version").map_err(bad)?;
        if version != PAYMENT_VERSION {
            return Err(bad(format!("unsupported payment version {version}")));
        }
        let nonce = r.array("nonce").map_err(bad)?;
        let rest = r.take(r.remaining(), "transfer").map_err(bad)?;
        let transfer = Transfer::from_bytes(rest).map_err(|e| bad(format!("transfer: {e}")))?;
        Ok(Payment { nonce, transfer })
    }

    /// Reads a payment from a file's or a scanned QR code's bytes (the same forms as
    /// [`PaymentRequest::read`]).
    pub fn read(bytes: &[u8]) -> Result<Payment> {
        let bytes = unwrap_png(bytes)?;
        if let Some(t) = json_text(&bytes) {
            let v: serde_json::Value = serde_json::from_str(t).map_err(bad)?;
            return Payment::from_json(&v);
        }
        if bytes.starts_with(PAYMENT_MAGIC) {
            return Payment::from_bytes(&bytes);
        }
        match from_hex_text(&bytes) {
            Some(b) => Payment::from_bytes(&b),
            None => Err(bad("neither JSON, nor a payment's binary form")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use weft_entitlements::{mint, transfer, OwnedNote, OwnerSecretKey, Recipient};

    fn request() -> PaymentRequest {
        let mut rng = seeded(1);
        PaymentRequest {
            program: ProgramId(RegistryId([7; 32])),
            amount: 30,
            pay_to: OwnerSecretKey::random(&mut rng).public_key().to_bytes(),
            shop: Did([3; 32]),
            nonce: [9; 16],
            expires: 1_764_000_000_000,
        }
    }

    fn seeded(seed: u64) -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(seed)
    }

    #[test]
    fn request_forms_round_trip() {
        let r = request();
        let bin = r.to_bytes();
        assert_eq!(bin.len(), 132);
        assert_eq!(PaymentRequest::read(&bin).unwrap(), r);
        let json = serde_json::to_vec(&r.to_json()).unwrap();
        assert_eq!(PaymentRequest::read(&json).unwrap(), r);
        assert_eq!(
            PaymentRequest::read(hex::encode(&bin).as_bytes()).unwrap(),
            r
        );
        let png = crate::qr::png(&bin, 4).unwrap();
        assert_eq!(PaymentRequest::read(&png).unwrap(), r);
        assert!(!r.expired(r.expires));
        assert!(r.expired(r.expires + 1));
    }

    #[test]
    fn bad_requests_are_refused() {
        let r = request();
        let bin = r.to_bytes();
        assert!(PaymentRequest::read(&bin[..bin.len() - 1]).is_err());
        let mut long = bin.clone();
        long.push(0);
        assert!(PaymentRequest::read(&long).is_err());
        let mut v2 = bin.clone();
        v2[3] = 2;
        assert!(PaymentRequest::read(&v2).is_err());
        // Amount 0, an amount of 2^64 or more, a key that is not a point.
        let zero = PaymentRequest {
            amount: 0,
            ..r.clone()
        };
        assert!(PaymentRequest::from_bytes(&zero.to_bytes()).is_err());
        let mut j = r.to_json();
        j["amount"] = "18446744073709551616".into();
        let e = PaymentRequest::from_json(&j).unwrap_err().to_string();
        assert!(e.contains("below 2^64"), "{e}");
        j["amount"] = "0".into();
        assert!(PaymentRequest::from_json(&j).is_err());
        j["amount"] = "-5".into();
        assert!(PaymentRequest::from_json(&j).is_err());
        let mut j = r.to_json();
        j["payTo"] = hex::encode([0xff; 32]).into();
        assert!(PaymentRequest::from_json(&j).is_err());
        let mut j = r.to_json();
        j["extra"] = 1.into();
        assert!(PaymentRequest::from_json(&j).is_err());
        let mut j = r.to_json();
        j["type"] = "weft-payment".into();
        assert!(PaymentRequest::from_json(&j).is_err());
        assert!(PaymentRequest::read(b"hello").is_err());
    }

    #[test]
    fn payment_forms_round_trip_and_fit_a_qr_code() {
        let mut rng = seeded(2);
        let program = [7u8; 32];
        let (a, b) = (
            OwnerSecretKey::random(&mut rng),
            OwnerSecretKey::random(&mut rng),
        );
        let m = mint(
            program,
            &[
                Recipient {
                    owner: a.public_key(),
                    amount: 20,
                },
                Recipient {
                    owner: b.public_key(),
                    amount: 30,
                },
            ],
            &mut rng,
        )
        .unwrap();
        let notes: Vec<OwnedNote> = m
            .outputs
            .iter()
            .filter_map(|o| {
                OwnedNote::decrypt(&program, o, &a).or_else(|| OwnedNote::decrypt(&program, o, &b))
            })
            .collect();
        let shop = OwnerSecretKey::random(&mut rng);
        let change = OwnerSecretKey::random(&mut rng);
        let t = transfer(
            program,
            &notes,
            &[
                Recipient {
                    owner: shop.public_key(),
                    amount: 45,
                },
                Recipient {
                    owner: change.public_key(),
                    amount: 5,
                },
            ],
            &mut rng,
        )
        .unwrap();
        let p = Payment {
            nonce: [4; 16],
            transfer: t,
        };
        let bin = p.to_bytes();
        assert_eq!(Payment::read(&bin).unwrap(), p);
        assert_eq!(Payment::read(hex::encode(&bin).as_bytes()).unwrap(), p);
        let json = serde_json::to_vec_pretty(&p.to_json()).unwrap();
        assert_eq!(Payment::read(&json).unwrap(), p);
        let png = crate::qr::png(&bin, 2).unwrap();
        assert_eq!(Payment::read(&png).unwrap(), p);
        assert!(Payment::read(&bin[..bin.len() - 3]).is_err());
        assert!(Payment::read(&request().to_bytes()).is_err());
        assert!(PaymentRequest::read(&bin).is_err());
    }
}
