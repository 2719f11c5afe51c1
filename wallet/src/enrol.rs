//! What a registration station needs from a holder: the two commitments, never the
//! secrets.
//!
//! An agency enrols a household by recording `holder_cm = Poseidon(holder_secret)` and
//! `household_cm = Poseidon(household_key)`; its bulk issuance reads them from a CSV with
//! the columns `holder_commitment,household_commitment` (plus attribute columns) or from
//! the JSON `{"holderCommitment": "0x..", "householdCommitment": "0x.."}` (a QR code's
//! content at the station). Values are `0x` + 64 hex digits, big-endian.

use serde::{Deserialize, Serialize};
use weft_circuits::HolderSecrets;
use weft_crypto::poseidon::Fr;

use crate::model::{fr_hex, FrHex};

/// The CSV header of the two enrolment columns.
pub const CSV_HEADER: &str = "holder_commitment,household_commitment";

/// A holder's enrolment record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrolment {
    /// `Poseidon(holder_secret)`.
    pub holder_commitment: FrHex,
    /// `Poseidon(household_key)`.
    pub household_commitment: FrHex,
}

impl Enrolment {
    /// The commitments of `secrets`.
    pub fn of(secrets: &HolderSecrets) -> Self {
        Enrolment {
            holder_commitment: FrHex(secrets.holder_commitment()),
            household_commitment: FrHex(secrets.household_commitment()),
        }
    }

    /// The JSON form (one line).
    pub fn to_json(&self) -> String {
        format!(
            "{{\"holderCommitment\":\"{}\",\"householdCommitment\":\"{}\"}}",
            fr_hex(&self.holder_commitment.0),
            fr_hex(&self.household_commitment.0)
        )
    }

    /// The CSV fragment: [`CSV_HEADER`], a newline, and the values' row.
    pub fn to_csv(&self) -> String {
        format!("{CSV_HEADER}\n{}", self.csv_row())
    }

    /// The values' row of the CSV (no header, no newline).
    pub fn csv_row(&self) -> String {
        format!(
            "{},{}",
            fr_hex(&self.holder_commitment.0),
            fr_hex(&self.household_commitment.0)
        )
    }

    /// The holder commitment as a field element.
    pub fn holder(&self) -> Fr {
        self.holder_commitment.0
    }

    /// The household commitment as a field element.
    pub fn household(&self) -> Fr {
        self.household_commitment.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_csv_forms() {
        let s = HolderSecrets {
            holder_secret: Fr::from(1u64),
            household_key: Fr::from(2u64),
        };
        let e = Enrolment::of(&s);
        let json = e.to_json();
        let back: Enrolment = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let h = v["holderCommitment"].as_str().unwrap();
        assert!(h.starts_with("0x") && h.len() == 66);
        let csv = e.to_csv();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER));
        assert_eq!(lines.next().unwrap().split(',').next(), Some(h));
        assert!(
            !json.contains(&fr_hex(&Fr::from(1u64))),
            "no secret in the output"
        );
    }
}
