//! Full snapshots: write the state at the latest milestone, read and verify one, restore
//! one into an empty store.
//!
//! Layout after the header (`specs/snapshots.md` §2): the certified milestone's block,
//! the entry-point window, the solid entry points, the ledger entries in strictly
//! ascending key order up to an end marker, the entry count, the checksum.
//!
//! Why the state root can be checked while streaming: the state commitment is a multiset
//! hash, `Σ H(element)` in the Ristretto group with the entry count, so it is a sum that
//! grows entry by entry in any order; the registries' Merkle commitment is itself a state
//! entry (`registries/root`), so once the last entry is read,
//! `BLAKE2b(domain || sum || count || registries)` is the state root of exactly these
//! entries. Finding another set of entries with the same sum is a discrete-logarithm
//! problem, so a matching root means the node holds the state the committee signed.

use std::io::{Read, Write};

use weft_crypto::MultisetHash;
use weft_ledger::{state_element, state_root_from_parts, Genesis};
use weft_tangle::{
    key, prefix, system, BlockMetadata, LatestMilestone, Store, StoreError, WriteBatch,
};
use weft_types::{Block, BlockId, Committee, Issuer, Milestone, Payload, StateRoot};

use crate::codec::{HashingReader, HashingWriter, END_OF_ENTRIES, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use crate::{SnapshotError, SnapshotKind};

/// Entries hashed and written per step while streaming.
const CHUNK: usize = 4096;
/// Most solid entry points a snapshot may list.
const MAX_ENTRY_POINTS: u32 = 16 * 1024 * 1024;
/// Largest entry-point window accepted.
const MAX_WINDOW: u32 = 1024;

/// What [`read_full`] hands each chunk of ledger entries to as they are read (key without
/// the store's namespace byte, value). They are not verified yet: the state root is
/// checked after the last one, so a sink that stores them must undo that on an error
/// ([`restore_full`] does). An error from the sink stops the read.
pub type EntrySink<'a> = dyn FnMut(&[(Vec<u8>, Vec<u8>)]) -> Result<(), SnapshotError> + 'a;

/// A block confirmed at or shortly before the snapshot's milestone: the restored node
/// knows it as confirmed (its metadata) without holding its body, so blocks that approve
/// it are solid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryPoint {
    /// The block.
    pub id: BlockId,
    /// The milestone that confirmed it.
    pub milestone: u32,
    /// Its position in that milestone's white-flag order (`None`: the milestone's own
    /// block).
    pub position: Option<u32>,
    /// Its ledger conflict code (0: applied).
    pub conflict: u8,
}

/// What [`write_full`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullSummary {
    /// The milestone the state belongs to.
    pub index: u32,
    /// Its certified state root.
    pub state_root: StateRoot,
    /// Ledger entries written.
    pub entries: u64,
    /// Solid entry points written.
    pub entry_points: u64,
    /// Bytes written (checksum included).
    pub bytes: u64,
}

/// A full snapshot whose certificate, entries and state root were checked.
#[derive(Debug, Clone)]
pub struct VerifiedFull {
    /// The genesis document (JSON, as in the file).
    pub genesis_json: Vec<u8>,
    /// The certified milestone.
    pub latest: LatestMilestone,
    /// Its block's canonical bytes.
    pub milestone_bytes: Vec<u8>,
    /// The certified state root the entries hash to.
    pub state_root: StateRoot,
    /// The state commitment of the entries.
    pub commitment: MultisetHash,
    /// The solid entry points.
    pub entry_points: Vec<EntryPoint>,
    /// The entry-point window the writer used.
    pub window: u32,
}

/// Checks a milestone block with only the committee's keys: a milestone payload, issued
/// and signed (ZIP-215) by a committee member, with a certificate of the committee.
/// Returns the milestone.
pub fn verify_milestone_block<'a>(
    block: &'a Block,
    committee: &Committee,
) -> Result<&'a Milestone, SnapshotError> {
    let not_certified = |index: u32, reason: String| SnapshotError::NotCertified { index, reason };
    let Payload::Milestone(milestone) = &block.payload else {
        return Err(not_certified(0, "the block carries no milestone".into()));
    };
    let index = milestone.essence.index;
    match &block.issuer {
        Issuer::Organisation { public_key } if committee.contains(public_key) => {}
        _ => {
            return Err(not_certified(
                index,
                "its block is not issued by a committee member".into(),
            ))
        }
    }
    weft_crypto::verify_block(block)
        .map_err(|e| not_certified(index, format!("block signature: {e}")))?;
    weft_crypto::certificate::verify_certificate(milestone, committee)
        .map_err(|e| not_certified(index, e.to_string()))?;
    Ok(milestone)
}

/// Writes a full snapshot of the store's latest milestone to `out`, listing the blocks of
/// the last `window` milestones as solid entry points. The caller keeps milestones from
/// being applied while this runs (the ledger entries are read as they stream).
pub fn write_full(
    store: &dyn Store,
    window: u32,
    out: impl Write,
) -> Result<FullSummary, SnapshotError> {
    let latest = store
        .get(&key(prefix::SYSTEM, &[system::LATEST_MILESTONE]))?
        .map(|b| LatestMilestone::from_bytes(&b))
        .transpose()?
        .ok_or(SnapshotError::NoMilestone)?;
    let genesis_json = store
        .get(&key(prefix::SYSTEM, &[system::GENESIS]))?
        .ok_or_else(|| StoreError::Corrupt("no genesis entry".into()))?;
    let milestone_bytes = weft_tangle::read::block_bytes(store, &latest.block_id)?
        .ok_or(SnapshotError::MissingMilestone(latest.index))?;
    let state_root = match Block::from_bytes(&milestone_bytes) {
        Ok(Block {
            payload: Payload::Milestone(m),
            ..
        }) => m.essence.state_root,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "milestone {} block is not a milestone",
                latest.index
            ))
            .into())
        }
    };
    let window = window.clamp(1, MAX_WINDOW);
    let entry_points = entry_points(store, latest.index, window)?;

    let mut w = HashingWriter::new(out);
    w.header(SnapshotKind::Full, &genesis_json)?;
    w.field(&milestone_bytes)?;
    w.u32(window)?;
    w.u32(entry_points.len() as u32)?;
    for p in &entry_points {
        w.write_all(&p.id.0)?;
        w.u32(p.milestone)?;
        w.u32(p.position.unwrap_or(u32::MAX))?;
        w.write_all(&[p.conflict])?;
    }
    let mut entries = 0u64;
    let mut io_error = None;
    store
        .for_each_entry(&[prefix::LEDGER], &mut |k, v| {
            let written = w.field(&k[1..]).and_then(|()| w.field(v));
            match written {
                Ok(()) => {
                    entries += 1;
                    Ok(())
                }
                Err(e) => {
                    io_error = Some(e);
                    Err(StoreError::Corrupt("snapshot write stopped".into()))
                }
            }
        })
        .map_err(|e| io_error.take().unwrap_or(SnapshotError::Store(e)))?;
    w.u32(END_OF_ENTRIES)?;
    w.u64(entries)?;
    let bytes = w.finish()?;
    Ok(FullSummary {
        index: latest.index,
        state_root,
        entries,
        entry_points: entry_points.len() as u64,
        bytes,
    })
}

/// The blocks of milestones `index − window + 1 ..= index` (the milestone blocks
/// included), from the white-flag lists and metadata.
fn entry_points(
    store: &dyn Store,
    index: u32,
    window: u32,
) -> Result<Vec<EntryPoint>, SnapshotError> {
    let first = index.saturating_sub(window - 1).max(1);
    let mut points = Vec::new();
    for m in first..=index {
        let ms_block = weft_tangle::read::milestone_block_id(store, m)?
            .ok_or(SnapshotError::MissingMilestone(m))?;
        points.push(EntryPoint {
            id: ms_block,
            milestone: m,
            position: None,
            conflict: 0,
        });
        let list = weft_tangle::read::white_flag_list(store, m)?
            .ok_or(SnapshotError::MissingMilestone(m))?;
        for (pos, id) in list.iter().enumerate() {
            let conflict = match store.get(&key(prefix::METADATA, &[&id.0]))? {
                Some(b) => BlockMetadata::from_bytes(&b)?.conflict,
                None => 0,
            };
            points.push(EntryPoint {
                id: *id,
                milestone: m,
                position: Some(pos as u32),
                conflict,
            });
        }
    }
    // Other validators' blocks of the same milestones (each validator of a committee
    // wraps the certified milestone in a block of its own; blocks approve whichever
    // they saw): the ones this store holds that window blocks approve.
    let listed: std::collections::HashSet<BlockId> = points.iter().map(|p| p.id).collect();
    let mut aliases = Vec::new();
    for p in points.iter().filter(|p| p.position.is_some()) {
        for parent in milestone_aliases(store, &p.id, first)? {
            if !listed.contains(&parent.id) && !aliases.contains(&parent) {
                aliases.push(parent);
            }
        }
    }
    points.extend(aliases);
    Ok(points)
}

/// The parents of `block` that are milestone blocks confirmed at `first` or later but
/// not on any white-flag list (another validator's block of a milestone).
pub(crate) fn milestone_aliases(
    store: &dyn Store,
    block: &BlockId,
    first: u32,
) -> Result<Vec<EntryPoint>, SnapshotError> {
    let Some(bytes) = weft_tangle::read::block_bytes(store, block)? else {
        return Ok(Vec::new());
    };
    let parents = Block::from_bytes(&bytes)
        .map_err(|e| StoreError::Corrupt(format!("block {block}: {e}")))?
        .parents;
    let mut out = Vec::new();
    for parent in parents {
        let Some(meta) = store.get(&key(prefix::METADATA, &[&parent.0]))? else {
            continue;
        };
        let meta = BlockMetadata::from_bytes(&meta)?;
        match (meta.referenced_by, meta.white_flag_index) {
            (Some(m), None) if m >= first => out.push(EntryPoint {
                id: parent,
                milestone: m,
                position: None,
                conflict: 0,
            }),
            _ => {}
        }
    }
    Ok(out)
}

/// Reads a full snapshot, checking it against `trusted` (this node's genesis: the same
/// document, and its committee certifies the milestone), and hands the ledger entries to
/// `sink` in chunks as they are read. Returns only if every check passed: the
/// certificate, strictly ascending keys within limits, the entry count, the checksum,
/// and the state root of the entries equal to the certified one.
pub fn read_full(
    input: impl Read,
    trusted: &Genesis,
    sink: &mut EntrySink<'_>,
) -> Result<VerifiedFull, SnapshotError> {
    let mut r = HashingReader::new(input);
    let genesis_json = r.header(SnapshotKind::Full, trusted)?;
    let milestone_bytes = r.field(weft_types::block::MAX_BLOCK_BYTES as u32, "milestone block")?;
    let block = Block::from_bytes(&milestone_bytes).map_err(|e| SnapshotError::NotCertified {
        index: 0,
        reason: format!("milestone block: {e}"),
    })?;
    if block.network_id != trusted.network_id() {
        return Err(SnapshotError::GenesisMismatch {
            snapshot: block.network_id,
            configured: trusted.network_id(),
        });
    }
    // The certificate is checked once the entries are read: the committee that signs
    // milestone S follows from the genesis committee and the committee changes in the
    // state, each signed by the committee before it.
    let Payload::Milestone(milestone) = &block.payload else {
        return Err(SnapshotError::NotCertified {
            index: 0,
            reason: "the block carries no milestone".into(),
        });
    };
    let essence = &milestone.essence;
    let latest = LatestMilestone {
        index: essence.index,
        id: essence.id(),
        block_id: BlockId::of_bytes(&milestone_bytes),
        timestamp: essence.timestamp,
    };
    let window = r.u32()?;
    if window == 0 || window > MAX_WINDOW {
        return Err(SnapshotError::Malformed(format!(
            "entry-point window {window} (1 to {MAX_WINDOW})"
        )));
    }
    let count = r.u32()?;
    if count > MAX_ENTRY_POINTS {
        return Err(SnapshotError::Malformed(format!(
            "{count} solid entry points (at most {MAX_ENTRY_POINTS})"
        )));
    }
    let oldest = latest.index.saturating_sub(window - 1);
    let mut entry_points = Vec::with_capacity(count.min(65_536) as usize);
    for _ in 0..count {
        let id = BlockId(r.id()?);
        let milestone = r.u32()?;
        let position = r.u32()?;
        let mut conflict = [0u8; 1];
        r.read_exact(&mut conflict)?;
        if milestone > latest.index || milestone < oldest {
            return Err(SnapshotError::Malformed(format!(
                "entry point {id} confirmed by milestone {milestone}, outside the window {oldest}..={}",
                latest.index
            )));
        }
        entry_points.push(EntryPoint {
            id,
            milestone,
            position: (position != u32::MAX).then_some(position),
            conflict: conflict[0],
        });
    }

    let mut commitment = MultisetHash::new();
    let mut registries = None;
    let mut changes: Vec<Vec<u8>> = Vec::new();
    let mut entries = 0u64;
    let mut previous: Option<Vec<u8>> = None;
    let mut chunk: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(CHUNK);
    let mut flush = |chunk: &mut Vec<(Vec<u8>, Vec<u8>)>,
                     commitment: &mut MultisetHash|
     -> Result<(), SnapshotError> {
        let elements: Vec<Vec<u8>> = chunk.iter().map(|(k, v)| state_element(k, v)).collect();
        commitment.update_many(&elements, &[]);
        sink(chunk)?;
        chunk.clear();
        Ok(())
    };
    loop {
        let klen = r.u32()?;
        if klen == END_OF_ENTRIES {
            break;
        }
        if klen == 0 {
            return Err(SnapshotError::Malformed("an empty ledger key".into()));
        }
        let k = r.sized(klen, MAX_KEY_BYTES, "ledger key")?;
        let v = r.field(MAX_VALUE_BYTES, "ledger value")?;
        if previous.as_ref().is_some_and(|p| *p >= k) {
            return Err(SnapshotError::Malformed(
                "ledger keys are not strictly ascending (a key repeated or out of order)".into(),
            ));
        }
        if k == weft_ledger::keys::REGISTRIES_ROOT {
            registries = Some(v.clone());
        }
        // Change keys are exactly prefix || u32; a longer key under the prefix is a
        // member entry whose key bytes happen to spell it.
        if k.starts_with(weft_ledger::COMMITTEE_CHANGE_PREFIX)
            && k.len() == weft_ledger::COMMITTEE_CHANGE_PREFIX.len() + 4
        {
            changes.push(v.clone());
        }
        previous = Some(k.clone());
        entries += 1;
        chunk.push((k, v));
        if chunk.len() == CHUNK {
            flush(&mut chunk, &mut commitment)?;
        }
    }
    if !chunk.is_empty() {
        flush(&mut chunk, &mut commitment)?;
    }
    let stated = r.u64()?;
    if stated != entries {
        return Err(SnapshotError::Malformed(format!(
            "the file says {stated} entries, it holds {entries}"
        )));
    }
    r.finish()?;

    let mut registry_state = weft_ledger::MemoryState::default();
    if let Some(v) = registries {
        registry_state
            .entries
            .insert(weft_ledger::keys::REGISTRIES_ROOT.to_vec(), v);
    }
    let registries = weft_ledger::registry::registries_root_stored(&registry_state)
        .map_err(|e| SnapshotError::Malformed(e.to_string()))?;
    let committee = committee_of(trusted, latest.index, &changes)?;
    verify_milestone_block(&block, &committee)?;
    let computed = state_root_from_parts(&commitment.sum_bytes(), commitment.count(), &registries);
    if computed != essence.state_root {
        return Err(SnapshotError::StateRootMismatch {
            index: latest.index,
            computed,
            certified: essence.state_root,
        });
    }
    Ok(VerifiedFull {
        genesis_json,
        latest,
        milestone_bytes,
        state_root: computed,
        commitment,
        entry_points,
        window,
    })
}

/// The committee that certifies milestone `index`, derived from the genesis committee
/// through the committee changes of the state (in effective-index order, as their keys
/// sort): each must be signed by a quorum of the committee before it, which is what the
/// ledger checked when it applied them. A change effective after `index` is checked too.
fn committee_of(
    trusted: &Genesis,
    index: u32,
    changes: &[Vec<u8>],
) -> Result<Committee, SnapshotError> {
    let mut current = trusted.committee.clone();
    let mut previous_effective = 0u32;
    for value in changes {
        let (_, change) = weft_ledger::decode_committee_change_entry(value)
            .map_err(|e| SnapshotError::Malformed(format!("committee change: {e}")))?;
        if change.effective_index <= previous_effective {
            return Err(SnapshotError::Malformed(
                "committee changes out of order".into(),
            ));
        }
        weft_crypto::certificate::verify_committee_change(&change, &current).map_err(|e| {
            SnapshotError::NotCertified {
                index,
                reason: format!(
                    "the committee change effective at {} is not signed by the committee before it: {e}",
                    change.effective_index
                ),
            }
        })?;
        previous_effective = change.effective_index;
        if change.effective_index > index {
            break;
        }
        current = change.committee;
    }
    Ok(current)
}

/// Restores a full snapshot into an empty store: the ledger entries, the certified
/// milestone (its block, index entry and metadata), the solid entry points' metadata,
/// the genesis, the state commitment and the latest-milestone pointer. A marker
/// ([`system::RESTORING`]) is written first and removed in the last batch, so a node
/// never opens a half-restored store; if any check fails the entries written so far are
/// deleted and the store is empty again.
pub fn restore_full(
    store: &dyn Store,
    input: impl Read,
    trusted: &Genesis,
) -> Result<VerifiedFull, SnapshotError> {
    let marker = key(prefix::SYSTEM, &[system::RESTORING]);
    let interrupted = store.get(&marker)?.is_some();
    if !interrupted {
        let holds_ledger = store
            .get(&key(prefix::SYSTEM, &[system::GENESIS]))?
            .is_some()
            || store
                .get(&key(prefix::SYSTEM, &[system::LATEST_MILESTONE]))?
                .is_some();
        let mut any = false;
        store.for_each_key(&[prefix::LEDGER], &mut |_| any = true)?;
        if holds_ledger || any {
            return Err(SnapshotError::NotEmpty);
        }
    }
    // An interrupted restore left some entries: start over.
    clear_ledger(store)?;
    let mut batch = WriteBatch::default();
    batch.put(marker.clone(), Vec::new());
    store.apply(batch)?;

    let result = read_full(input, trusted, &mut |chunk| {
        let mut batch = WriteBatch::default();
        for (k, v) in chunk {
            batch.put(key(prefix::LEDGER, &[k]), v.clone());
        }
        store.apply(batch)?;
        Ok(())
    });
    let verified = match result {
        Ok(v) => v,
        Err(e) => {
            clear_ledger(store)?;
            let mut batch = WriteBatch::default();
            batch.delete(marker);
            store.apply(batch)?;
            store.flush()?;
            return Err(e);
        }
    };

    let mut batch = WriteBatch::default();
    let latest = verified.latest;
    let confirmed_meta = |milestone: u32, position: Option<u32>, conflict: u8| BlockMetadata {
        solid: true,
        arrival_time: latest.timestamp,
        referenced_by: Some(milestone),
        white_flag_index: position,
        conflict,
        confirmation_time: Some(latest.timestamp),
    };
    for p in &verified.entry_points {
        batch.put(
            key(prefix::METADATA, &[&p.id.0]),
            confirmed_meta(p.milestone, p.position, p.conflict).to_bytes(),
        );
    }
    batch.put(
        weft_tangle::block_key(latest.timestamp, &latest.block_id),
        verified.milestone_bytes.clone(),
    );
    batch.put(
        key(prefix::METADATA, &[&latest.block_id.0]),
        confirmed_meta(latest.index, None, 0).to_bytes(),
    );
    batch.put(
        key(prefix::MILESTONE, &[&latest.index.to_be_bytes()]),
        latest.block_id.0.to_vec(),
    );
    batch.put(
        key(prefix::SYSTEM, &[system::GENESIS]),
        verified.genesis_json.clone(),
    );
    batch.put(
        key(prefix::SYSTEM, &[system::STATE_COMMITMENT]),
        [
            &verified.commitment.sum_bytes()[..],
            &verified.commitment.count().to_le_bytes(),
        ]
        .concat(),
    );
    batch.put(
        key(prefix::SYSTEM, &[system::LATEST_MILESTONE]),
        latest.to_bytes(),
    );
    batch.put(
        key(prefix::SYSTEM, &[system::SNAPSHOT_BASE]),
        latest.index.to_le_bytes().to_vec(),
    );
    // The blocks of milestone S and earlier have no bodies here: to peers and to the
    // pruner this store starts at S + 1.
    batch.put(
        key(prefix::SYSTEM, &[system::PRUNED_BELOW]),
        latest.index.saturating_add(1).to_le_bytes().to_vec(),
    );
    batch.delete(marker);
    store.apply(batch)?;
    store.flush()?;
    Ok(verified)
}

/// Deletes every ledger entry (in bounded batches).
fn clear_ledger(store: &dyn Store) -> Result<(), SnapshotError> {
    loop {
        // The walk stops after CHUNK keys (the error is only that signal), so each
        // round reads only what it deletes.
        let mut keys = Vec::with_capacity(CHUNK);
        let walked = store.for_each_entry(&[prefix::LEDGER], &mut |k, _| {
            keys.push(k.to_vec());
            if keys.len() == CHUNK {
                return Err(StoreError::Corrupt("chunk full".into()));
            }
            Ok(())
        });
        if walked.is_err() && keys.len() < CHUNK {
            walked?;
        }
        if keys.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for k in keys {
            batch.delete(k);
        }
        store.apply(batch)?;
    }
}
