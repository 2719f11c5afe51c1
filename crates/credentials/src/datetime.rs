//! Times as DID documents and credentials write them: RFC 3339 in UTC with whole
//! seconds (`2026-11-25T10:00:00Z`).
//!
//! One spelling only, so that a time signed into a credential reads back to exactly the
//! Unix second the credential's commitment holds, and two implementations never
//! disagree on the canonical bytes (fractions and offsets are valid RFC 3339 but would
//! give the same instant two spellings).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::CredentialError;

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339_from_unix_seconds(seconds: u64) -> Result<String, CredentialError> {
    let bad = || CredentialError::InvalidTime(format!("{seconds} s"));
    let secs = i64::try_from(seconds).map_err(|_| bad())?;
    let t = OffsetDateTime::from_unix_timestamp(secs).map_err(|_| bad())?;
    if t.year() > 9999 {
        return Err(bad());
    }
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// Formats Unix milliseconds (the ledger's clock) as `YYYY-MM-DDTHH:MM:SSZ`, dropping
/// the milliseconds.
pub fn rfc3339_from_unix_millis(millis: u64) -> Result<String, CredentialError> {
    rfc3339_from_unix_seconds(millis / 1000)
}

/// Parses the canonical spelling (`YYYY-MM-DDTHH:MM:SSZ`) into Unix seconds. Other
/// RFC 3339 spellings (fractions, offsets, lower-case letters) are refused.
pub fn unix_seconds_from_rfc3339(s: &str) -> Result<u64, CredentialError> {
    let bad = || CredentialError::InvalidTime(s.chars().take(64).collect());
    let b = s.as_bytes();
    let shape_ok = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(bad());
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| bad())?;
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| bad())?;
    // Leap seconds (`:60`) parse but would not format back the same.
    if rfc3339_from_unix_seconds(secs)? != s {
        return Err(bad());
    }
    Ok(secs)
}

/// Parses any RFC 3339 time (with an offset or fractions, as a `versionTime` query may
/// carry) into Unix milliseconds, for looking up history. Times before 1970 are
/// refused.
pub fn unix_millis_from_rfc3339_lenient(s: &str) -> Result<u64, CredentialError> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| CredentialError::InvalidTime(s.chars().take(64).collect()))?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| CredentialError::InvalidTime(s.chars().take(64).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(
            rfc3339_from_unix_seconds(1_795_600_800).unwrap(),
            "2026-11-25T10:00:00Z"
        );
        assert_eq!(
            rfc3339_from_unix_millis(1_795_600_800_999).unwrap(),
            "2026-11-25T10:00:00Z"
        );
        assert_eq!(
            rfc3339_from_unix_seconds(0).unwrap(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            unix_seconds_from_rfc3339("2026-11-25T10:00:00Z").unwrap(),
            1_795_600_800
        );
        for bad in [
            "2026-11-25T10:00:00.5Z",
            "2026-11-25T10:00:00+00:00",
            "2026-11-25t10:00:00Z",
            "2026-02-30T10:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-11-25T10:00:60Z",
            "",
        ] {
            assert!(unix_seconds_from_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(
            unix_millis_from_rfc3339_lenient("2026-11-25T11:00:00.250+01:00").unwrap(),
            1_795_600_800_250
        );
        assert!(rfc3339_from_unix_seconds(u64::MAX).is_err());
    }
}
