//! Identity payloads: `did:weft` DIDs, accreditation of organisations, and the device
//! keys of distribution points.
//!
//! A DID is self-certifying: its identifier is the BLAKE2b-256 hash of its creation
//! payload, and the block that creates it must be signed by one of the keys it lists.
//! Every later change names the version it applies to (`sequence`), so an update is
//! applied at most once and two competing updates cannot both win. The DID method is
//! specified in `specs/did-method.md`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{check_range, check_strictly_ascending, DecodeError, Reader, Writer};
use crate::hash::blake2b256;
use crate::id::PublicKeyBytes;

/// The DID method name.
pub const DID_METHOD: &str = "weft";
/// Domain prefix of a DID's derivation.
pub const DID_DOMAIN: &[u8] = b"weft/did/v1";
/// Most verification keys one DID may hold.
pub const MAX_DID_KEYS: usize = 8;
/// Most services one DID may list.
pub const MAX_DID_SERVICES: usize = 8;
/// Most operations in one DID update.
pub const MAX_DID_OPERATIONS: usize = 16;
/// Longest key or service fragment (`#key-1`), in bytes.
pub const MAX_FRAGMENT_BYTES: usize = 32;
/// Longest service type, in bytes.
pub const MAX_SERVICE_TYPE_BYTES: usize = 64;
/// Longest service endpoint, in bytes.
pub const MAX_SERVICE_ENDPOINT_BYTES: usize = 256;

/// Key purposes, as bits of [`DidKey::purposes`].
pub mod purpose {
    /// `authentication`: may sign blocks for the DID.
    pub const AUTHENTICATION: u8 = 1;
    /// `assertionMethod`: may sign credentials the DID issues.
    pub const ASSERTION: u8 = 2;
    /// `capabilityInvocation`: may update or deactivate the DID (a controller key).
    pub const CAPABILITY_INVOCATION: u8 = 4;
    /// All defined bits.
    pub const ALL: u8 = AUTHENTICATION | ASSERTION | CAPABILITY_INVOCATION;
}

/// Organisation roles, as bits of [`Accreditation::roles`].
pub mod role {
    /// May publish schemas, create registries and issue credentials.
    pub const ISSUER: u8 = 1;
    /// May operate distribution points (verifiers that record claims).
    pub const DISTRIBUTION_POINT: u8 = 2;
    /// All defined bits.
    pub const ALL: u8 = ISSUER | DISTRIBUTION_POINT;
}

/// A `did:weft` identifier: 32 bytes, written `did:weft:` + base58btc.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Did(pub [u8; 32]);

impl Did {
    /// The DID a creation payload defines:
    /// BLAKE2b-256(`weft/did/v1` || canonical bytes of the payload body).
    pub fn of_create(create: &DidCreate) -> Did {
        let mut w = Writer::default();
        create.encode_into(&mut w);
        Did(blake2b256(&[DID_DOMAIN, &w.into_bytes()]))
    }

    /// The method-specific id (base58btc of the 32 bytes).
    pub fn method_specific_id(&self) -> String {
        bs58::encode(self.0).into_string()
    }
}

/// Why a string is not a `did:weft` DID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidParseError {
    /// Not `did:weft:...`.
    #[error("not a did:weft identifier (expected did:weft:<base58>)")]
    Method,
    /// The method-specific id is not base58btc of 32 bytes.
    #[error("the method-specific id is not base58btc of 32 bytes")]
    Id,
}

impl FromStr for Did {
    type Err = DidParseError;
    fn from_str(s: &str) -> Result<Did, DidParseError> {
        let id = s.strip_prefix("did:weft:").ok_or(DidParseError::Method)?;
        let mut out = [0u8; 32];
        match bs58::decode(id).onto(&mut out) {
            Ok(32) => {}
            _ => return Err(DidParseError::Id),
        }
        // Only the canonical spelling (no leading-zero variants) is accepted.
        if bs58::encode(out).into_string() != id {
            return Err(DidParseError::Id);
        }
        Ok(Did(out))
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "did:{DID_METHOD}:{}", self.method_specific_id())
    }
}

impl fmt::Debug for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Did({self})")
    }
}

impl Serialize for Did {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Did {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Did, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Writes a string as `u8 length || UTF-8 bytes` (u16 when `wide`).
pub(crate) fn write_str(w: &mut Writer, s: &str, wide: bool) {
    if wide {
        w.u16(s.len() as u16);
    } else {
        w.u8(s.len() as u8);
    }
    w.bytes(s.as_bytes());
}

/// Reads a string written by [`write_str`], checking its length and UTF-8.
pub(crate) fn read_str(
    r: &mut Reader<'_>,
    field: &'static str,
    min: usize,
    max: usize,
    wide: bool,
) -> Result<String, DecodeError> {
    let len = if wide {
        r.u16(field)? as usize
    } else {
        r.u8(field)? as usize
    };
    check_range(field, len as u64, min as u64, max as u64)?;
    let bytes = r.take(len, field)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Inconsistent("string is not UTF-8"))
}

/// Checks a string's length (for values built in code).
pub(crate) fn check_str(
    field: &'static str,
    s: &str,
    min: usize,
    max: usize,
) -> Result<(), DecodeError> {
    check_range(field, s.len() as u64, min as u64, max as u64)
}

/// A fragment (`key-1`): 1 to 32 bytes of `[A-Za-z0-9._-]`.
fn check_fragment(field: &'static str, s: &str) -> Result<(), DecodeError> {
    check_str(field, s, 1, MAX_FRAGMENT_BYTES)?;
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(DecodeError::Inconsistent(
            "a key or service id may only hold A-Z, a-z, 0-9, '.', '-' and '_'",
        ));
    }
    Ok(())
}

/// A verification key of a DID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidKey {
    /// Fragment naming the key within the DID document (`key-1` → `did:weft:…#key-1`).
    pub id: String,
    /// The Ed25519 public key.
    pub public_key: PublicKeyBytes,
    /// [`purpose`] bits, at least one.
    pub purposes: u8,
}

impl DidKey {
    /// Canonical encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        write_str(w, &self.id, false);
        w.bytes(&self.public_key.0);
        w.u8(self.purposes);
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<DidKey, DecodeError> {
        let key = DidKey {
            id: read_str(r, "DID key id", 1, MAX_FRAGMENT_BYTES, false)?,
            public_key: PublicKeyBytes(r.array("DID public key")?),
            purposes: r.u8("DID key purposes")?,
        };
        key.check()?;
        Ok(key)
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_fragment("DID key id", &self.id)?;
        check_range(
            "DID key purposes",
            self.purposes as u64,
            1,
            purpose::ALL as u64,
        )
    }

    /// Whether the key has all of the `bits`.
    pub fn has(&self, bits: u8) -> bool {
        self.purposes & bits == bits
    }
}

/// A service endpoint of a DID (for example an agency's public contact or its node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidService {
    /// Fragment naming the service.
    pub id: String,
    /// The service type (for example `LinkedDomains`).
    pub service_type: String,
    /// The endpoint URL.
    pub endpoint: String,
}

impl DidService {
    /// Canonical encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        write_str(w, &self.id, false);
        write_str(w, &self.service_type, false);
        write_str(w, &self.endpoint, true);
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<DidService, DecodeError> {
        let s = DidService {
            id: read_str(r, "DID service id", 1, MAX_FRAGMENT_BYTES, false)?,
            service_type: read_str(r, "DID service type", 1, MAX_SERVICE_TYPE_BYTES, false)?,
            endpoint: read_str(
                r,
                "DID service endpoint",
                1,
                MAX_SERVICE_ENDPOINT_BYTES,
                true,
            )?,
        };
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_fragment("DID service id", &self.id)?;
        check_str(
            "DID service type",
            &self.service_type,
            1,
            MAX_SERVICE_TYPE_BYTES,
        )?;
        check_str(
            "DID service endpoint",
            &self.endpoint,
            1,
            MAX_SERVICE_ENDPOINT_BYTES,
        )
    }
}

/// Checks a DID's key list: 1 to 8 keys, ids ascending, public keys distinct, at least
/// one controller.
pub fn check_keys(keys: &[DidKey]) -> Result<(), DecodeError> {
    check_range("DID key count", keys.len() as u64, 1, MAX_DID_KEYS as u64)?;
    for k in keys {
        k.check()?;
    }
    let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    check_strictly_ascending("DID key ids", &ids)?;
    let mut pks: Vec<&PublicKeyBytes> = keys.iter().map(|k| &k.public_key).collect();
    pks.sort();
    if pks.windows(2).any(|p| p[0] == p[1]) {
        return Err(DecodeError::Inconsistent("a DID lists the same key twice"));
    }
    if !keys.iter().any(|k| k.has(purpose::CAPABILITY_INVOCATION)) {
        return Err(DecodeError::Inconsistent(
            "a DID needs at least one capabilityInvocation (controller) key",
        ));
    }
    Ok(())
}

/// Checks a DID's service list: at most 8, ids ascending.
pub fn check_services(services: &[DidService]) -> Result<(), DecodeError> {
    check_range(
        "DID service count",
        services.len() as u64,
        0,
        MAX_DID_SERVICES as u64,
    )?;
    for s in services {
        s.check()?;
    }
    let ids: Vec<&str> = services.iter().map(|s| s.id.as_str()).collect();
    check_strictly_ascending("DID service ids", &ids)
}

/// Creates a DID. The block must be signed by one of `keys` with `authentication`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidCreate {
    /// Verification keys, sorted by id; at least one controller key.
    pub keys: Vec<DidKey>,
    /// Services, sorted by id.
    pub services: Vec<DidService>,
    /// Any number: lets the same keys create a new DID after a deactivation.
    #[serde(with = "crate::payload::u64_string")]
    pub nonce: u64,
}

impl DidCreate {
    /// A DID with one key (`key-1`) for every purpose: the simplest organisation.
    pub fn with_key(public_key: PublicKeyBytes, nonce: u64) -> DidCreate {
        DidCreate {
            keys: vec![DidKey {
                id: "key-1".into(),
                public_key,
                purposes: purpose::ALL,
            }],
            services: Vec::new(),
            nonce,
        }
    }

    /// The DID this payload creates.
    pub fn did(&self) -> Did {
        Did::of_create(self)
    }

    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        w.u8(self.keys.len() as u8);
        for k in &self.keys {
            k.encode_into(w);
        }
        w.u8(self.services.len() as u8);
        for s in &self.services {
            s.encode_into(w);
        }
        w.u64(self.nonce);
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<DidCreate, DecodeError> {
        let n = r.u8("DID key count")? as usize;
        check_range("DID key count", n as u64, 1, MAX_DID_KEYS as u64)?;
        let keys = (0..n)
            .map(|_| DidKey::decode_from(r))
            .collect::<Result<Vec<_>, _>>()?;
        let n = r.u8("DID service count")? as usize;
        check_range("DID service count", n as u64, 0, MAX_DID_SERVICES as u64)?;
        let services = (0..n)
            .map(|_| DidService::decode_from(r))
            .collect::<Result<Vec<_>, _>>()?;
        let create = DidCreate {
            keys,
            services,
            nonce: r.u64("DID nonce")?,
        };
        create.check_limits()?;
        Ok(create)
    }

    /// Checks limits and order (for values built in code).
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_keys(&self.keys)?;
        check_services(&self.services)
    }
}

/// One change to a DID document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum DidOperation {
    /// Adds a key (its id and public key must be new).
    AddKey(DidKey),
    /// Removes a key; blocks it signs are refused from this update on.
    RemoveKey {
        /// The key's fragment.
        id: String,
    },
    /// Replaces a key's public key, keeping its id and purposes; the old key is refused
    /// from this update on.
    RotateKey {
        /// The key's fragment.
        id: String,
        /// The new public key.
        public_key: PublicKeyBytes,
    },
    /// Adds a service.
    AddService(DidService),
    /// Removes a service.
    RemoveService {
        /// The service's fragment.
        id: String,
    },
}

impl DidOperation {
    fn encode_into(&self, w: &mut Writer) {
        match self {
            DidOperation::AddKey(k) => {
                w.u8(0);
                k.encode_into(w);
            }
            DidOperation::RemoveKey { id } => {
                w.u8(1);
                write_str(w, id, false);
            }
            DidOperation::RotateKey { id, public_key } => {
                w.u8(2);
                write_str(w, id, false);
                w.bytes(&public_key.0);
            }
            DidOperation::AddService(s) => {
                w.u8(3);
                s.encode_into(w);
            }
            DidOperation::RemoveService { id } => {
                w.u8(4);
                write_str(w, id, false);
            }
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<DidOperation, DecodeError> {
        let tag = r.u8("DID operation")?;
        let op = match tag {
            0 => DidOperation::AddKey(DidKey::decode_from(r)?),
            1 => DidOperation::RemoveKey {
                id: read_str(r, "DID key id", 1, MAX_FRAGMENT_BYTES, false)?,
            },
            2 => DidOperation::RotateKey {
                id: read_str(r, "DID key id", 1, MAX_FRAGMENT_BYTES, false)?,
                public_key: PublicKeyBytes(r.array("DID public key")?),
            },
            3 => DidOperation::AddService(DidService::decode_from(r)?),
            4 => DidOperation::RemoveService {
                id: read_str(r, "DID service id", 1, MAX_FRAGMENT_BYTES, false)?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "DID operation",
                    tag: tag as u64,
                })
            }
        };
        op.check()?;
        Ok(op)
    }

    fn check(&self) -> Result<(), DecodeError> {
        match self {
            DidOperation::AddKey(k) => k.check(),
            DidOperation::AddService(s) => s.check(),
            DidOperation::RemoveKey { id } | DidOperation::RotateKey { id, .. } => {
                check_fragment("DID key id", id)
            }
            DidOperation::RemoveService { id } => check_fragment("DID service id", id),
        }
    }
}

/// Changes a DID. The block must be signed by a current controller
/// (`capabilityInvocation`) key of the DID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidUpdate {
    /// The DID.
    pub did: Did,
    /// The version this update applies to (the DID's current version; 1 after creation).
    pub sequence: u32,
    /// The changes, applied in order; the result must be a valid DID document.
    pub operations: Vec<DidOperation>,
}

impl DidUpdate {
    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        w.bytes(&self.did.0);
        w.u32(self.sequence);
        w.u8(self.operations.len() as u8);
        for op in &self.operations {
            op.encode_into(w);
        }
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<DidUpdate, DecodeError> {
        let did = Did(r.array("DID")?);
        let sequence = r.u32("DID sequence")?;
        let n = r.u8("DID operation count")? as usize;
        check_range(
            "DID operation count",
            n as u64,
            1,
            MAX_DID_OPERATIONS as u64,
        )?;
        let operations = (0..n)
            .map(|_| DidOperation::decode_from(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DidUpdate {
            did,
            sequence,
            operations,
        })
    }

    /// Checks limits (for values built in code).
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_range(
            "DID operation count",
            self.operations.len() as u64,
            1,
            MAX_DID_OPERATIONS as u64,
        )?;
        self.operations.iter().try_for_each(DidOperation::check)
    }
}

/// Deactivates a DID for good: none of its keys signs anything afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidDeactivate {
    /// The DID.
    pub did: Did,
    /// The version this applies to.
    pub sequence: u32,
}

impl DidDeactivate {
    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        w.bytes(&self.did.0);
        w.u32(self.sequence);
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<DidDeactivate, DecodeError> {
        Ok(DidDeactivate {
            did: Did(r.array("DID")?),
            sequence: r.u32("DID sequence")?,
        })
    }
}

/// The accreditation authority grants (or, with `roles = 0`, withdraws) an
/// organisation's roles. Signed by a controller key of the authority's DID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accreditation {
    /// The organisation.
    pub subject: Did,
    /// [`role`] bits; 0 withdraws every role.
    pub roles: u8,
}

impl Accreditation {
    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        w.bytes(&self.subject.0);
        w.u8(self.roles);
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Accreditation, DecodeError> {
        let a = Accreditation {
            subject: Did(r.array("accredited DID")?),
            roles: r.u8("roles")?,
        };
        a.check_limits()?;
        Ok(a)
    }

    /// Checks the role bits.
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_range("roles", self.roles as u64, 0, role::ALL as u64)
    }
}

/// Registers or revokes a distribution point's device key (the tablet that signs
/// claims). Registration is the authority's; revocation the authority's or the
/// point's own (a stolen tablet is reported by whoever notices first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceKey {
    /// The distribution point's DID.
    pub point: Did,
    /// The device's Ed25519 key.
    pub key: PublicKeyBytes,
    /// `true` registers, `false` revokes (for good).
    pub active: bool,
}

impl DeviceKey {
    /// Canonical body encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        w.bytes(&self.point.0);
        w.bytes(&self.key.0);
        w.u8(self.active as u8);
    }

    /// Strict decoding.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<DeviceKey, DecodeError> {
        let point = Did(r.array("distribution point DID")?);
        let key = PublicKeyBytes(r.array("device key")?);
        let active = match r.u8("device key active")? {
            0 => false,
            1 => true,
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "device key active",
                    tag: tag as u64,
                })
            }
        };
        Ok(DeviceKey { point, key, active })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_create() -> DidCreate {
        DidCreate {
            keys: vec![
                DidKey {
                    id: "key-1".into(),
                    public_key: PublicKeyBytes([1; 32]),
                    purposes: purpose::ALL,
                },
                DidKey {
                    id: "key-2".into(),
                    public_key: PublicKeyBytes([2; 32]),
                    purposes: purpose::ASSERTION,
                },
            ],
            services: vec![DidService {
                id: "web".into(),
                service_type: "LinkedDomains".into(),
                endpoint: "https://agency.example".into(),
            }],
            nonce: 7,
        }
    }

    fn round_trip<T, E, D>(value: &T, enc: E, dec: D)
    where
        T: PartialEq + fmt::Debug,
        E: Fn(&T, &mut Writer),
        D: Fn(&mut Reader<'_>) -> Result<T, DecodeError>,
    {
        let mut w = Writer::default();
        enc(value, &mut w);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let back = dec(&mut r).unwrap();
        r.finish("value").unwrap();
        assert_eq!(&back, value);
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]);
            assert!(dec(&mut r).and_then(|_| r.finish("value")).is_err());
        }
    }

    #[test]
    fn did_text_round_trip_and_rejections() {
        let did = sample_create().did();
        let text = did.to_string();
        assert!(text.starts_with("did:weft:"));
        assert_eq!(text.parse::<Did>(), Ok(did));
        assert_eq!("did:web:x".parse::<Did>(), Err(DidParseError::Method));
        assert_eq!("did:weft:0OIl".parse::<Did>(), Err(DidParseError::Id));
        assert_eq!("did:weft:abc".parse::<Did>(), Err(DidParseError::Id));
        // A leading '1' encodes a leading zero byte: a 33-byte value is refused.
        assert_eq!(
            format!("did:weft:1{}", did.method_specific_id()).parse::<Did>(),
            Err(DidParseError::Id)
        );
        let json = serde_json::to_string(&did).unwrap();
        assert_eq!(serde_json::from_str::<Did>(&json).unwrap(), did);
    }

    #[test]
    fn payloads_round_trip_and_reject_truncation() {
        let create = sample_create();
        round_trip(&create, DidCreate::encode_into, DidCreate::decode_from);
        let update = DidUpdate {
            did: create.did(),
            sequence: 1,
            operations: vec![
                DidOperation::RotateKey {
                    id: "key-2".into(),
                    public_key: PublicKeyBytes([3; 32]),
                },
                DidOperation::AddKey(DidKey {
                    id: "key-3".into(),
                    public_key: PublicKeyBytes([4; 32]),
                    purposes: purpose::AUTHENTICATION,
                }),
                DidOperation::RemoveKey { id: "key-1".into() },
                DidOperation::AddService(DidService {
                    id: "node".into(),
                    service_type: "WeftNode".into(),
                    endpoint: "https://node.example".into(),
                }),
                DidOperation::RemoveService { id: "web".into() },
            ],
        };
        round_trip(&update, DidUpdate::encode_into, DidUpdate::decode_from);
        let deact = DidDeactivate {
            did: create.did(),
            sequence: 2,
        };
        round_trip(
            &deact,
            DidDeactivate::encode_into,
            DidDeactivate::decode_from,
        );
        let acc = Accreditation {
            subject: create.did(),
            roles: role::ALL,
        };
        round_trip(&acc, Accreditation::encode_into, Accreditation::decode_from);
        let dev = DeviceKey {
            point: create.did(),
            key: PublicKeyBytes([9; 32]),
            active: true,
        };
        round_trip(&dev, DeviceKey::encode_into, DeviceKey::decode_from);
    }

    #[test]
    fn invalid_documents_are_refused() {
        let mut c = sample_create();
        c.keys.swap(0, 1);
        assert!(matches!(
            c.check_limits(),
            Err(DecodeError::NotStrictlyAscending { .. })
        ));
        let mut c = sample_create();
        c.keys[1].public_key = c.keys[0].public_key;
        assert!(c.check_limits().is_err());
        let mut c = sample_create();
        c.keys[0].purposes = purpose::AUTHENTICATION;
        assert!(c.check_limits().is_err(), "no controller key");
        let mut c = sample_create();
        c.keys[0].id = "key 1".into();
        assert!(c.check_limits().is_err());
        let mut c = sample_create();
        c.keys[0].purposes = 8;
        assert!(c.check_limits().is_err());
        let mut c = sample_create();
        c.keys.clear();
        assert!(c.check_limits().is_err());
        assert!(Accreditation {
            subject: Did([0; 32]),
            roles: 4
        }
        .check_limits()
        .is_err());
        // Non-UTF-8 strings and unknown tags are refused by the decoder.
        let mut w = Writer::default();
        sample_create().encode_into(&mut w);
        let mut bytes = w.into_bytes();
        bytes[2] = 0xff; // first byte of "key-1"
        assert!(DidCreate::decode_from(&mut Reader::new(&bytes)).is_err());
        let mut w = Writer::default();
        DeviceKey {
            point: Did([0; 32]),
            key: PublicKeyBytes([0; 32]),
            active: true,
        }
        .encode_into(&mut w);
        let mut bytes = w.into_bytes();
        *bytes.last_mut().unwrap() = 2;
        assert!(DeviceKey::decode_from(&mut Reader::new(&bytes)).is_err());
    }
}
