//! Block payloads: what a block carries for the ledger.
//!
//! The payload kind is a `u16` on the wire. A kind number names one exact layout
//! forever: a later change of layout takes a new number, so old blocks keep decoding
//! and an old node rejects a new kind cleanly (`UnknownTag`) instead of misreading it.
//! Kinds 3 to 11 are the identity and credential payloads (`identity`, `registry`),
//! 12 and 13 programs and claims (`program`), 14 to 16 the confidential-entitlement
//! notes (`notes`: mint, transfer, redeem; `specs/entitlements.md`), 17 a change of the
//! milestone committee (`milestone`).

use serde::{Deserialize, Serialize};

use crate::codec::{check_range, DecodeError, Reader, Writer};
use crate::identity::{Accreditation, DeviceKey, DidCreate, DidDeactivate, DidUpdate};
use crate::milestone::{CommitteeChange, Milestone};
use crate::notes::{Mint, Redeem, Transfer};
use crate::program::{Claim, Program};
use crate::registry::{Issuance, RegistryCreate, Revocation, Schema};

/// Longest tag of a tagged-data payload, in bytes.
pub const MAX_TAG_BYTES: usize = 64;
/// Longest data of a tagged-data payload, in bytes.
pub const MAX_TAGGED_DATA_BYTES: usize = 8192;

/// The payload kinds this protocol version defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[repr(u16)]
pub enum PayloadKind {
    /// No payload: a block that only approves tips.
    None = 0,
    /// An anchor of an agency's own record or document hash.
    TaggedData = 1,
    /// A milestone certified by the committee.
    Milestone = 2,
    /// Creates a DID.
    DidCreate = 3,
    /// Updates a DID.
    DidUpdate = 4,
    /// Deactivates a DID.
    DidDeactivate = 5,
    /// Grants or withdraws an organisation's roles.
    Accreditation = 6,
    /// Registers or revokes a distribution point's device key.
    DeviceKey = 7,
    /// Publishes a credential schema.
    Schema = 8,
    /// Creates a credential registry.
    RegistryCreate = 9,
    /// Appends credential commitments to a registry.
    Issuance = 10,
    /// Zeroes registry leaves.
    Revocation = 11,
    /// Announces an aid program.
    Program = 12,
    /// A household's claim in a round of a program.
    Claim = 13,
    /// Mints value notes for a program against a public total.
    Mint = 14,
    /// Moves value notes (household to shop) with hidden amounts.
    Transfer = 15,
    /// Burns value notes for a public amount the program's agency pays out.
    Redeem = 16,
    /// Changes the milestone committee from a later milestone index on, signed by the
    /// committee in force.
    CommitteeChange = 17,
}

impl PayloadKind {
    /// The kind for a wire tag, if defined.
    pub fn from_u16(tag: u16) -> Option<PayloadKind> {
        match tag {
            0 => Some(PayloadKind::None),
            1 => Some(PayloadKind::TaggedData),
            2 => Some(PayloadKind::Milestone),
            3 => Some(PayloadKind::DidCreate),
            4 => Some(PayloadKind::DidUpdate),
            5 => Some(PayloadKind::DidDeactivate),
            6 => Some(PayloadKind::Accreditation),
            7 => Some(PayloadKind::DeviceKey),
            8 => Some(PayloadKind::Schema),
            9 => Some(PayloadKind::RegistryCreate),
            10 => Some(PayloadKind::Issuance),
            11 => Some(PayloadKind::Revocation),
            12 => Some(PayloadKind::Program),
            13 => Some(PayloadKind::Claim),
            14 => Some(PayloadKind::Mint),
            15 => Some(PayloadKind::Transfer),
            16 => Some(PayloadKind::Redeem),
            17 => Some(PayloadKind::CommitteeChange),
            _ => None,
        }
    }
}

/// An anchor: a short tag and up to 8 KiB of data, typically the hash of a procurement,
/// asset or sensor record kept in an agency's own system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaggedData {
    /// What the data is (for example `procurement/v1`), at most 64 bytes.
    #[serde(with = "crate::payload::hex_vec")]
    pub tag: Vec<u8>,
    /// The data, at most 8 KiB.
    #[serde(with = "crate::payload::hex_vec")]
    pub data: Vec<u8>,
}

impl TaggedData {
    fn encode_into(&self, w: &mut Writer) {
        w.u8(self.tag.len() as u8);
        w.bytes(&self.tag);
        w.u16(self.data.len() as u16);
        w.bytes(&self.data);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<TaggedData, DecodeError> {
        let tag_len = r.u8("tagged data tag length")? as usize;
        check_range(
            "tagged data tag length",
            tag_len as u64,
            0,
            MAX_TAG_BYTES as u64,
        )?;
        let tag = r.take(tag_len, "tagged data tag")?.to_vec();
        let data_len = r.u16("tagged data length")? as usize;
        check_range(
            "tagged data length",
            data_len as u64,
            0,
            MAX_TAGGED_DATA_BYTES as u64,
        )?;
        let data = r.take(data_len, "tagged data")?.to_vec();
        Ok(TaggedData { tag, data })
    }

    /// Checks the limits (for values built in code rather than decoded).
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_range(
            "tagged data tag length",
            self.tag.len() as u64,
            0,
            MAX_TAG_BYTES as u64,
        )?;
        check_range(
            "tagged data length",
            self.data.len() as u64,
            0,
            MAX_TAGGED_DATA_BYTES as u64,
        )
    }
}

/// What a block carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Payload {
    /// Nothing.
    None,
    /// An anchor.
    TaggedData(TaggedData),
    /// A milestone.
    Milestone(Box<Milestone>),
    /// Creates a DID.
    DidCreate(DidCreate),
    /// Updates a DID.
    DidUpdate(DidUpdate),
    /// Deactivates a DID.
    DidDeactivate(DidDeactivate),
    /// Grants or withdraws roles.
    Accreditation(Accreditation),
    /// Registers or revokes a device key.
    DeviceKey(DeviceKey),
    /// Publishes a schema.
    Schema(Schema),
    /// Creates a registry.
    RegistryCreate(RegistryCreate),
    /// Issues credentials (appends leaves).
    Issuance(Issuance),
    /// Revokes credentials (zeroes leaves).
    Revocation(Revocation),
    /// Announces a program.
    Program(Box<Program>),
    /// Claims a round's entitlement.
    Claim(Box<Claim>),
    /// Mints value notes.
    Mint(Box<Mint>),
    /// Transfers value notes.
    Transfer(Box<Transfer>),
    /// Redeems value notes.
    Redeem(Box<Redeem>),
    /// Changes the milestone committee.
    CommitteeChange(Box<CommitteeChange>),
}

impl Payload {
    /// Checks the limits of a payload built in code (decoding checks them already).
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        match self {
            Payload::None | Payload::Milestone(_) => Ok(()),
            Payload::TaggedData(t) => t.check_limits(),
            Payload::DidCreate(p) => p.check_limits(),
            Payload::DidUpdate(p) => p.check_limits(),
            Payload::DidDeactivate(_) | Payload::DeviceKey(_) => Ok(()),
            Payload::Accreditation(p) => p.check_limits(),
            Payload::Schema(p) => p.check_limits(),
            Payload::RegistryCreate(p) => p.check_limits(),
            Payload::Issuance(p) => p.check_limits(),
            Payload::Revocation(p) => p.check_limits(),
            Payload::Program(p) => p.check_limits(),
            Payload::Claim(p) => p.check_limits(),
            Payload::Mint(p) => p.check_limits(),
            Payload::Transfer(p) => p.check_limits(),
            Payload::Redeem(p) => p.check_limits(),
            Payload::CommitteeChange(p) => p.check_limits(),
        }
    }

    /// The payload's kind.
    pub fn kind(&self) -> PayloadKind {
        match self {
            Payload::None => PayloadKind::None,
            Payload::TaggedData(_) => PayloadKind::TaggedData,
            Payload::Milestone(_) => PayloadKind::Milestone,
            Payload::DidCreate(_) => PayloadKind::DidCreate,
            Payload::DidUpdate(_) => PayloadKind::DidUpdate,
            Payload::DidDeactivate(_) => PayloadKind::DidDeactivate,
            Payload::Accreditation(_) => PayloadKind::Accreditation,
            Payload::DeviceKey(_) => PayloadKind::DeviceKey,
            Payload::Schema(_) => PayloadKind::Schema,
            Payload::RegistryCreate(_) => PayloadKind::RegistryCreate,
            Payload::Issuance(_) => PayloadKind::Issuance,
            Payload::Revocation(_) => PayloadKind::Revocation,
            Payload::Program(_) => PayloadKind::Program,
            Payload::Claim(_) => PayloadKind::Claim,
            Payload::Mint(_) => PayloadKind::Mint,
            Payload::Transfer(_) => PayloadKind::Transfer,
            Payload::Redeem(_) => PayloadKind::Redeem,
            Payload::CommitteeChange(_) => PayloadKind::CommitteeChange,
        }
    }

    /// Writes `kind (u16) || length (u32) || body`.
    pub fn encode_into(&self, w: &mut Writer) {
        w.u16(self.kind() as u16);
        let len_at = w.len();
        w.u32(0);
        let start = w.len();
        match self {
            Payload::None => {}
            Payload::TaggedData(t) => t.encode_into(w),
            Payload::Milestone(m) => m.encode_into(w),
            Payload::DidCreate(p) => p.encode_into(w),
            Payload::DidUpdate(p) => p.encode_into(w),
            Payload::DidDeactivate(p) => p.encode_into(w),
            Payload::Accreditation(p) => p.encode_into(w),
            Payload::DeviceKey(p) => p.encode_into(w),
            Payload::Schema(p) => p.encode_into(w),
            Payload::RegistryCreate(p) => p.encode_into(w),
            Payload::Issuance(p) => p.encode_into(w),
            Payload::Revocation(p) => p.encode_into(w),
            Payload::Program(p) => p.encode_into(w),
            Payload::Claim(p) => p.encode_into(w),
            Payload::Mint(p) => p.encode_into(w),
            Payload::Transfer(p) => p.encode_into(w),
            Payload::Redeem(p) => p.encode_into(w),
            Payload::CommitteeChange(p) => p.encode_into(w),
        }
        let body_len = (w.len() - start) as u32;
        w.patch_u32(len_at, body_len);
    }

    /// Reads `kind || length || body`; the body must be exactly `length` bytes.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Payload, DecodeError> {
        let tag = r.u16("payload kind")?;
        let kind = PayloadKind::from_u16(tag).ok_or(DecodeError::UnknownTag {
            field: "payload kind",
            tag: tag as u64,
        })?;
        let len = r.u32("payload length")? as usize;
        if len > r.remaining() {
            return Err(DecodeError::Truncated {
                field: "payload body",
                offset: r.position(),
                needed: len,
                available: r.remaining(),
            });
        }
        let body = r.take(len, "payload body")?;
        let mut br = Reader::new(body);
        let payload = match kind {
            PayloadKind::None => Payload::None,
            PayloadKind::TaggedData => Payload::TaggedData(TaggedData::decode_from(&mut br)?),
            PayloadKind::Milestone => {
                Payload::Milestone(Box::new(Milestone::decode_from(&mut br)?))
            }
            PayloadKind::DidCreate => Payload::DidCreate(DidCreate::decode_from(&mut br)?),
            PayloadKind::DidUpdate => Payload::DidUpdate(DidUpdate::decode_from(&mut br)?),
            PayloadKind::DidDeactivate => {
                Payload::DidDeactivate(DidDeactivate::decode_from(&mut br)?)
            }
            PayloadKind::Accreditation => {
                Payload::Accreditation(Accreditation::decode_from(&mut br)?)
            }
            PayloadKind::DeviceKey => Payload::DeviceKey(DeviceKey::decode_from(&mut br)?),
            PayloadKind::Schema => Payload::Schema(Schema::decode_from(&mut br)?),
            PayloadKind::RegistryCreate => {
                Payload::RegistryCreate(RegistryCreate::decode_from(&mut br)?)
            }
            PayloadKind::Issuance => Payload::Issuance(Issuance::decode_from(&mut br)?),
            PayloadKind::Revocation => Payload::Revocation(Revocation::decode_from(&mut br)?),
            PayloadKind::Program => Payload::Program(Box::new(Program::decode_from(&mut br)?)),
            PayloadKind::Claim => Payload::Claim(Box::new(Claim::decode_from(&mut br)?)),
            PayloadKind::Mint => Payload::Mint(Box::new(Mint::decode_from(&mut br)?)),
            PayloadKind::Transfer => Payload::Transfer(Box::new(Transfer::decode_from(&mut br)?)),
            PayloadKind::Redeem => Payload::Redeem(Box::new(Redeem::decode_from(&mut br)?)),
            PayloadKind::CommitteeChange => {
                Payload::CommitteeChange(Box::new(CommitteeChange::decode_from(&mut br)?))
            }
        };
        br.finish("payload body")?;
        Ok(payload)
    }
}

/// Serde helpers: `Vec<u8>` as lower-case hex.
pub mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises bytes as hex.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    /// Deserialises hex (optionally `0x`-prefixed) into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s.strip_prefix("0x").unwrap_or(&s)).map_err(serde::de::Error::custom)
    }
}

/// Serde helpers: `u64` as a decimal string, since JSON numbers lose precision above 2^53.
pub mod u64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as a decimal string.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Accepts a decimal string or a JSON number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(u64),
        }
        match Either::deserialize(d)? {
            Either::Text(s) => s.parse().map_err(serde::de::Error::custom),
            Either::Number(n) => Ok(n),
        }
    }
}
