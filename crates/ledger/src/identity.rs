//! The identity rules: DIDs and their keys, accreditation, device keys.
//!
//! Who may sign what is decided here, from the confirmed state alone:
//!
//! - a block is signed by an *active* DID key with the `authentication` purpose, by a
//!   committee member (tip-merging blocks and committee changes only), or — for a
//!   `DidCreate` — by one of the keys the new DID lists; a committee change is signed by
//!   a committee member and nobody else;
//! - a DID changes only through a `capabilityInvocation` key of its own, and only from
//!   the version the change names (`sequence`), so an update applies once and of two
//!   competing updates the first in white-flag order wins;
//! - a key removed or rotated out, or every key of a deactivated DID, is a tombstone
//!   from the moment the confirming milestone applies it: later blocks it signs are
//!   confirmed as conflicting (`RevokedKey`), and the key can never be registered again;
//! - the accreditation authority named by the genesis grants roles and registers device
//!   keys; a device key can be revoked by the authority or by its own point.

use serde::{Deserialize, Serialize};
use weft_types::codec::{DecodeError, Reader, Writer};
use weft_types::identity::{check_keys, check_services, purpose, role};
use weft_types::{
    Accreditation, Block, DeviceKey, Did, DidCreate, DidDeactivate, DidKey, DidOperation,
    DidService, DidUpdate, Issuer, Payload, PublicKeyBytes,
};

use crate::state::{Overlay, StateError};
use crate::{keys, ConflictReason, LedgerError, MilestoneContext, StateRead};

/// When something happened: the confirming milestone and its timestamp (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    /// Milestone index (0 for the genesis).
    pub milestone: u32,
    /// Milestone timestamp, Unix milliseconds.
    pub timestamp: u64,
}

/// A DID's state at one version, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidRecord {
    /// Version number: 1 after creation, +1 per update or deactivation.
    pub version: u32,
    /// When it was created.
    pub created: Stamp,
    /// When this version took effect.
    pub updated: Stamp,
    /// Whether it is deactivated (for good).
    pub deactivated: bool,
    /// Its keys (sorted by id).
    pub keys: Vec<DidKey>,
    /// Its services (sorted by id).
    pub services: Vec<DidService>,
}

impl DidRecord {
    /// Canonical encoding (the stored value).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.version);
        w.u32(self.created.milestone);
        w.u64(self.created.timestamp);
        w.u32(self.updated.milestone);
        w.u64(self.updated.timestamp);
        w.u8(self.deactivated as u8);
        w.u8(self.keys.len() as u8);
        for k in &self.keys {
            k.encode_into(&mut w);
        }
        w.u8(self.services.len() as u8);
        for s in &self.services {
            s.encode_into(&mut w);
        }
        w.into_bytes()
    }

    /// Strict decoding of [`DidRecord::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<DidRecord, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u32("DID version")?;
        let created = Stamp {
            milestone: r.u32("created milestone")?,
            timestamp: r.u64("created time")?,
        };
        let updated = Stamp {
            milestone: r.u32("updated milestone")?,
            timestamp: r.u64("updated time")?,
        };
        let deactivated = r.u8("deactivated")? != 0;
        let n = r.u8("DID key count")? as usize;
        let keys = (0..n)
            .map(|_| DidKey::decode_from(&mut r))
            .collect::<Result<Vec<_>, _>>()?;
        let n = r.u8("DID service count")? as usize;
        let services = (0..n)
            .map(|_| DidService::decode_from(&mut r))
            .collect::<Result<Vec<_>, _>>()?;
        r.finish("DID record")?;
        Ok(DidRecord {
            version,
            created,
            updated,
            deactivated,
            keys,
            services,
        })
    }
}

/// What the ledger knows of one public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    /// The DID the key belongs (or belonged) to.
    pub did: Did,
    /// Its purposes.
    pub purposes: u8,
    /// Whether it may still sign.
    pub active: bool,
    /// The milestone of its last change.
    pub milestone: u32,
}

impl KeyRecord {
    fn to_bytes(self) -> Vec<u8> {
        let mut v = self.did.0.to_vec();
        v.push(self.purposes);
        v.push(self.active as u8);
        v.extend_from_slice(&self.milestone.to_le_bytes());
        v
    }

    /// Decodes the stored value.
    pub fn from_bytes(b: &[u8]) -> Result<KeyRecord, StateError> {
        if b.len() != 38 {
            return Err(StateError("key record is not 38 bytes".into()));
        }
        let mut did = [0u8; 32];
        did.copy_from_slice(&b[..32]);
        Ok(KeyRecord {
            did: Did(did),
            purposes: b[32],
            active: b[33] == 1,
            milestone: u32::from_le_bytes([b[34], b[35], b[36], b[37]]),
        })
    }
}

/// A distribution point's device key as the ledger keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRecord {
    /// The point it belongs to.
    pub point: Did,
    /// Whether it is accepted.
    pub active: bool,
    /// The milestone of its last change.
    pub milestone: u32,
}

impl DeviceRecord {
    fn to_bytes(self) -> Vec<u8> {
        let mut v = self.point.0.to_vec();
        v.push(self.active as u8);
        v.extend_from_slice(&self.milestone.to_le_bytes());
        v
    }

    /// Decodes the stored value.
    pub fn from_bytes(b: &[u8]) -> Result<DeviceRecord, StateError> {
        if b.len() != 37 {
            return Err(StateError("device record is not 37 bytes".into()));
        }
        let mut did = [0u8; 32];
        did.copy_from_slice(&b[..32]);
        Ok(DeviceRecord {
            point: Did(did),
            active: b[32] == 1,
            milestone: u32::from_le_bytes([b[33], b[34], b[35], b[36]]),
        })
    }
}

fn corrupt(what: &str, e: DecodeError) -> LedgerError {
    LedgerError::State(StateError(format!("stored {what} is corrupt: {e}")))
}

/// The current record of a DID.
pub fn did_record(state: &dyn StateRead, did: &Did) -> Result<Option<DidRecord>, LedgerError> {
    match state.get(&keys::did(did))? {
        None => Ok(None),
        Some(b) => DidRecord::from_bytes(&b)
            .map(Some)
            .map_err(|e| corrupt("DID record", e)),
    }
}

/// A DID's record at `version`.
pub fn did_version(
    state: &dyn StateRead,
    did: &Did,
    version: u32,
) -> Result<Option<DidRecord>, LedgerError> {
    match state.get(&keys::did_version(did, version))? {
        None => Ok(None),
        Some(b) => DidRecord::from_bytes(&b)
            .map(Some)
            .map_err(|e| corrupt("DID version", e)),
    }
}

/// What the ledger knows of a public key.
pub fn key_record(
    state: &dyn StateRead,
    key: &PublicKeyBytes,
) -> Result<Option<KeyRecord>, StateError> {
    state
        .get(&keys::did_key(key))?
        .map(|b| KeyRecord::from_bytes(&b))
        .transpose()
}

/// A device key's record.
pub fn device_record(
    state: &dyn StateRead,
    key: &PublicKeyBytes,
) -> Result<Option<DeviceRecord>, StateError> {
    state
        .get(&keys::device(key))?
        .map(|b| DeviceRecord::from_bytes(&b))
        .transpose()
}

/// The roles granted to a DID (0 when none).
pub fn roles(state: &dyn StateRead, did: &Did) -> Result<u8, StateError> {
    Ok(state
        .get(&keys::accreditation(did))?
        .and_then(|v| v.first().copied())
        .unwrap_or(0))
}

/// The accreditation authority's DID.
pub fn authority(state: &dyn StateRead) -> Result<Option<Did>, StateError> {
    Ok(state.get(keys::AUTHORITY)?.and_then(|v| {
        let b: [u8; 32] = v.try_into().ok()?;
        Some(Did(b))
    }))
}

/// Whether `key` may sign blocks in `state`: an active DID key with `authentication`,
/// or a committee member. (A `DidCreate` may also be signed by one of its own new keys:
/// see [`check_issuer`].)
pub fn may_sign_blocks(state: &dyn StateRead, key: &PublicKeyBytes) -> Result<bool, StateError> {
    if state.get(&keys::committee_member(key))?.is_some() {
        return Ok(true);
    }
    Ok(key_record(state, key)?
        .is_some_and(|k| k.active && k.purposes & purpose::AUTHENTICATION != 0))
}

/// The issuer rule for one block, shared by the ledger and the node's admission check:
/// `Ok(Ok(Some(did)))` for a DID key, `Ok(Ok(None))` for a committee member or an
/// anonymous block, `Ok(Err(reason))` if the signer may not sign it.
///
/// Committee members (a `committee/` entry: the committee in force) may sign empty
/// payloads (tip merging) and committee changes; a committee change signed by anyone
/// else is `NotACommitteeMember`. (An anonymous one passes here and is refused as
/// `AnonymousNotAllowed` by the ledger.)
pub fn check_issuer(
    state: &dyn StateRead,
    block: &Block,
) -> Result<Result<Option<Did>, ConflictReason>, StateError> {
    let Issuer::Organisation { public_key } = &block.issuer else {
        return Ok(Ok(None));
    };
    if matches!(block.payload, Payload::CommitteeChange(_)) {
        return Ok(
            if state.get(&keys::committee_member(public_key))?.is_some() {
                Ok(None)
            } else {
                Err(ConflictReason::NotACommitteeMember)
            },
        );
    }
    match key_record(state, public_key)? {
        Some(k) if k.active && k.purposes & purpose::AUTHENTICATION != 0 => Ok(Ok(Some(k.did))),
        Some(k) if !k.active => Ok(Err(ConflictReason::RevokedKey)),
        Some(_) => Ok(Err(ConflictReason::UnknownIssuer)),
        None => {
            if state.get(&keys::committee_member(public_key))?.is_some() {
                // Committee members sign milestones, tip-merging blocks and committee
                // changes (checked above), nothing else.
                return Ok(if matches!(block.payload, Payload::None) {
                    Ok(None)
                } else {
                    Err(ConflictReason::UnknownIssuer)
                });
            }
            if let Payload::DidCreate(c) = &block.payload {
                if c.keys
                    .iter()
                    .any(|k| &k.public_key == public_key && k.has(purpose::AUTHENTICATION))
                {
                    return Ok(Ok(Some(c.did())));
                }
            }
            Ok(Err(ConflictReason::UnknownIssuer))
        }
    }
}

/// The signing key of a block (organisation blocks only).
fn signer(block: &Block) -> Option<&PublicKeyBytes> {
    match &block.issuer {
        Issuer::Organisation { public_key } => Some(public_key),
        Issuer::Anonymous => None,
    }
}

/// Whether the block's signer is an active controller key of `did`.
fn is_controller(diff: &Overlay<'_>, block: &Block, did: &Did) -> Result<bool, StateError> {
    let Some(pk) = signer(block) else {
        return Ok(false);
    };
    Ok(key_record(diff, pk)?.is_some_and(|k| {
        k.active && &k.did == did && k.purposes & purpose::CAPABILITY_INVOCATION != 0
    }))
}

/// Writes a new DID (creation or genesis): record, version 1, key entries.
pub(crate) fn create_did(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    create: &DidCreate,
) -> Result<Result<Did, ConflictReason>, LedgerError> {
    let did = create.did();
    if diff.get(&keys::did(&did))?.is_some() {
        return Ok(Err(ConflictReason::DidExists));
    }
    for k in &create.keys {
        if diff.get(&keys::did_key(&k.public_key))?.is_some() {
            return Ok(Err(ConflictReason::KeyInUse));
        }
    }
    let stamp = Stamp {
        milestone: ctx.index,
        timestamp: ctx.timestamp,
    };
    let record = DidRecord {
        version: 1,
        created: stamp,
        updated: stamp,
        deactivated: false,
        keys: create.keys.clone(),
        services: create.services.clone(),
    };
    for k in &create.keys {
        put_key(diff, &k.public_key, did, k.purposes, true, ctx.index)?;
    }
    put_record(diff, &did, &record)?;
    Ok(Ok(did))
}

fn put_key(
    diff: &mut Overlay<'_>,
    key: &PublicKeyBytes,
    did: Did,
    purposes: u8,
    active: bool,
    milestone: u32,
) -> Result<(), StateError> {
    let rec = KeyRecord {
        did,
        purposes,
        active,
        milestone,
    };
    diff.put(&keys::did_key(key), rec.to_bytes())
}

fn put_record(diff: &mut Overlay<'_>, did: &Did, record: &DidRecord) -> Result<(), StateError> {
    let bytes = record.to_bytes();
    diff.put(&keys::did_version(did, record.version), bytes.clone())?;
    diff.put(&keys::did(did), bytes)
}

/// `DidCreate` (the issuer rule already checked the signer is one of its keys).
pub(crate) fn apply_create(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    create: &DidCreate,
) -> Result<Result<(), ConflictReason>, LedgerError> {
    Ok(create_did(diff, ctx, create)?.map(|_| ()))
}

/// `DidUpdate`.
pub(crate) fn apply_update(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    block: &Block,
    update: &DidUpdate,
) -> Result<Result<(), ConflictReason>, LedgerError> {
    let Some(mut record) = did_record(diff, &update.did)? else {
        return Ok(Err(ConflictReason::UnknownDid));
    };
    if record.deactivated {
        return Ok(Err(ConflictReason::DidDeactivated));
    }
    if !is_controller(diff, block, &update.did)? {
        return Ok(Err(ConflictReason::NotController));
    }
    if update.sequence != record.version {
        return Ok(Err(ConflictReason::StaleSequence));
    }
    let mut retired: Vec<(PublicKeyBytes, u8)> = Vec::new();
    let mut added: Vec<(PublicKeyBytes, u8)> = Vec::new();
    for op in &update.operations {
        match op {
            DidOperation::AddKey(k) => {
                if record
                    .keys
                    .iter()
                    .any(|x| x.id == k.id || x.public_key == k.public_key)
                    || added.iter().any(|(pk, _)| pk == &k.public_key)
                    || diff.get(&keys::did_key(&k.public_key))?.is_some()
                {
                    return Ok(Err(ConflictReason::KeyInUse));
                }
                added.push((k.public_key, k.purposes));
                record.keys.push(k.clone());
            }
            DidOperation::RemoveKey { id } => {
                let Some(pos) = record.keys.iter().position(|x| &x.id == id) else {
                    return Ok(Err(ConflictReason::InvalidDidDocument));
                };
                let k = record.keys.remove(pos);
                retired.push((k.public_key, k.purposes));
            }
            DidOperation::RotateKey { id, public_key } => {
                if record.keys.iter().any(|x| &x.public_key == public_key)
                    || added.iter().any(|(pk, _)| pk == public_key)
                    || diff.get(&keys::did_key(public_key))?.is_some()
                {
                    return Ok(Err(ConflictReason::KeyInUse));
                }
                let Some(k) = record.keys.iter_mut().find(|x| &x.id == id) else {
                    return Ok(Err(ConflictReason::InvalidDidDocument));
                };
                retired.push((k.public_key, k.purposes));
                k.public_key = *public_key;
                added.push((*public_key, k.purposes));
            }
            DidOperation::AddService(s) => {
                if record.services.iter().any(|x| x.id == s.id) {
                    return Ok(Err(ConflictReason::InvalidDidDocument));
                }
                record.services.push(s.clone());
            }
            DidOperation::RemoveService { id } => {
                let Some(pos) = record.services.iter().position(|x| &x.id == id) else {
                    return Ok(Err(ConflictReason::InvalidDidDocument));
                };
                record.services.remove(pos);
            }
        }
    }
    record.keys.sort_by(|a, b| a.id.cmp(&b.id));
    record.services.sort_by(|a, b| a.id.cmp(&b.id));
    if check_keys(&record.keys).is_err() || check_services(&record.services).is_err() {
        return Ok(Err(ConflictReason::InvalidDidDocument));
    }
    // A key added and removed again in the same update is retired.
    for (pk, purposes) in &added {
        let active = record.keys.iter().any(|k| &k.public_key == pk);
        put_key(diff, pk, update.did, *purposes, active, ctx.index)?;
    }
    for (pk, purposes) in &retired {
        if !record.keys.iter().any(|k| &k.public_key == pk) {
            put_key(diff, pk, update.did, *purposes, false, ctx.index)?;
        }
    }
    record.version += 1;
    record.updated = Stamp {
        milestone: ctx.index,
        timestamp: ctx.timestamp,
    };
    put_record(diff, &update.did, &record)?;
    Ok(Ok(()))
}

/// `DidDeactivate`: every key becomes a tombstone.
pub(crate) fn apply_deactivate(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    block: &Block,
    d: &DidDeactivate,
) -> Result<Result<(), ConflictReason>, LedgerError> {
    let Some(mut record) = did_record(diff, &d.did)? else {
        return Ok(Err(ConflictReason::UnknownDid));
    };
    if record.deactivated {
        return Ok(Err(ConflictReason::DidDeactivated));
    }
    if !is_controller(diff, block, &d.did)? {
        return Ok(Err(ConflictReason::NotController));
    }
    if d.sequence != record.version {
        return Ok(Err(ConflictReason::StaleSequence));
    }
    for k in &record.keys {
        put_key(diff, &k.public_key, d.did, k.purposes, false, ctx.index)?;
    }
    record.deactivated = true;
    record.version += 1;
    record.updated = Stamp {
        milestone: ctx.index,
        timestamp: ctx.timestamp,
    };
    put_record(diff, &d.did, &record)?;
    Ok(Ok(()))
}

/// Whether the block is signed by a controller key of the accreditation authority.
fn signed_by_authority(diff: &Overlay<'_>, block: &Block) -> Result<bool, StateError> {
    match authority(diff)? {
        Some(a) => is_controller(diff, block, &a),
        None => Ok(false),
    }
}

/// `Accreditation`.
pub(crate) fn apply_accreditation(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    block: &Block,
    a: &Accreditation,
) -> Result<Result<(), ConflictReason>, LedgerError> {
    if !signed_by_authority(diff, block)? {
        return Ok(Err(ConflictReason::NotAuthority));
    }
    match did_record(diff, &a.subject)? {
        None => return Ok(Err(ConflictReason::UnknownDid)),
        Some(r) if r.deactivated => return Ok(Err(ConflictReason::DidDeactivated)),
        Some(_) => {}
    }
    put_roles(diff, &a.subject, a.roles, ctx.index)?;
    Ok(Ok(()))
}

pub(crate) fn put_roles(
    diff: &mut Overlay<'_>,
    did: &Did,
    roles: u8,
    milestone: u32,
) -> Result<(), StateError> {
    let mut v = vec![roles];
    v.extend_from_slice(&milestone.to_le_bytes());
    diff.put(&keys::accreditation(did), v)
}

/// `DeviceKey`.
pub(crate) fn apply_device_key(
    diff: &mut Overlay<'_>,
    ctx: MilestoneContext,
    block: &Block,
    d: &DeviceKey,
) -> Result<Result<(), ConflictReason>, LedgerError> {
    let by_authority = signed_by_authority(diff, block)?;
    let existing = device_record(diff, &d.key)?;
    if d.active {
        if !by_authority {
            return Ok(Err(ConflictReason::NotAuthority));
        }
        if roles(diff, &d.point)? & role::DISTRIBUTION_POINT == 0 {
            return Ok(Err(ConflictReason::NotAccredited));
        }
        if existing.is_some() || diff.get(&keys::did_key(&d.key))?.is_some() {
            return Ok(Err(ConflictReason::KeyInUse));
        }
    } else {
        let by_point = match signer(block) {
            Some(pk) => key_record(diff, pk)?.is_some_and(|k| k.active && k.did == d.point),
            None => false,
        };
        if !by_authority && !by_point {
            return Ok(Err(ConflictReason::NotAuthority));
        }
        match existing {
            Some(rec) if rec.point == d.point && rec.active => {}
            _ => return Ok(Err(ConflictReason::UnknownDeviceKey)),
        }
    }
    let rec = DeviceRecord {
        point: d.point,
        active: d.active,
        milestone: ctx.index,
    };
    diff.put(&keys::device(&d.key), rec.to_bytes())?;
    Ok(Ok(()))
}

/// Whether the signer's DID holds every role in `needed` (the authority holds none
/// unless granted).
pub(crate) fn has_roles(
    diff: &Overlay<'_>,
    did: Option<Did>,
    needed: u8,
) -> Result<bool, StateError> {
    match did {
        Some(d) => Ok(roles(diff, &d)? & needed == needed),
        None => Ok(false),
    }
}
