//! Bulk issuance with a journal, so that a run interrupted at any moment can be run
//! again and issues nothing twice.
//!
//! A round takes up to `blocks_per_round × 960` rows that have no document yet, draws
//! their salts, computes their leaves, and assigns them the positions from the
//! registry's current size on. Before anything is submitted, the round (rows, salts,
//! positions, issuance times and the ids of the blocks about to be sent) is appended
//! atomically to `DIR/journal.json`. The blocks form a chain (each one's parent is the
//! previous one), each an `Issuance` of at most 960 leaves at `first_index` = its
//! position, so the ledger applies them in order and each is self-contained. Once the
//! round is confirmed the ledger's chunks are the truth: a row whose leaf is at its
//! position is anchored and gets its signed document (`DIR/<line>.json`); any other row
//! goes back to the queue with the same salt.
//!
//! **The journal is the durability boundary.** A round leaves the journal only once its
//! documents are on disk (written, renamed into place, then the file system synced once
//! for the whole round, instead of one `fsync` per document). Until then every row of a
//! journaled round counts as having no document: a restart settles the journaled rounds
//! (every block they name is waited for, or found never to have reached the node, so
//! nothing sent earlier can still apply later), compares their rows with the ledger as
//! above and writes their documents again, whatever a crash left of them. Rows of
//! rounds that left the journal are never issued again. A leaf issued and revoked
//! before its document was written would be issued again (the journal cannot tell it
//! from one never anchored).
//!
//! **Pipelining.** The documents of a confirmed round are signed and written on a
//! blocking thread while the next round is submitted and confirmed, and the next
//! round's salts and leaves are computed meanwhile; so the journal holds at most two
//! rounds. The node's work (admission, the milestone's Poseidon rehashing) and the
//! agency's (Poseidon commitments, signatures, files) overlap instead of alternating.

use std::collections::HashMap;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use weft_circuits::Credential;
use weft_client::ClientError;
use weft_credentials::attributes::{encode_attributes, schema_field};
use weft_credentials::vc::{credential_document_with_leaf, CredentialRecord};
use weft_crypto::poseidon::{fr_from_decimal, fr_to_bytes_be, fr_to_decimal};
use weft_crypto::Fr;
use weft_types::registry::MAX_ISSUANCE_LEAVES;
use weft_types::{Block, BlockBuilder, BlockId, Issuance, Payload, RegistryId, Schema};

use crate::csv::Row;
use crate::keystore::write_atomic;
use crate::{now_ms, AgencyError, Node, Signer, CONFIRM_TIMEOUT};

/// The journal's file name inside the output directory.
pub const JOURNAL: &str = "journal.json";

/// Options of a run.
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// Issuance time (Unix seconds): the credentials' `validFrom`.
    pub issued_at: u32,
    /// Expiry (Unix seconds): the credentials' `validUntil`.
    pub expiry: u32,
    /// Blocks (of up to 960 leaves) per round and journal entry.
    pub blocks_per_round: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Stop after submitting the first round, before waiting for it (tests use this
    /// to simulate an interruption).
    pub stop_after_submit: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueReport {
    /// Documents written by this run (rows anchored by it or by an interrupted one).
    pub written: usize,
    /// Rows skipped because their document already existed.
    pub already: usize,
    /// Blocks submitted by this run.
    pub blocks: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JournalRow {
    line: usize,
    salt: String,
    leaf: String,
    index: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Round {
    issued_at: u32,
    expiry: u32,
    rows: Vec<JournalRow>,
    blocks: Vec<BlockId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Journal {
    registry: RegistryId,
    /// Rounds sent whose documents are not yet durable, oldest first (at most two: one
    /// whose documents are being written, one being confirmed).
    #[serde(default)]
    rounds: Vec<Round>,
    /// The single pending round of journals written before rounds were pipelined:
    /// read (and moved into `rounds`), never written.
    #[serde(default, skip_serializing)]
    pending: Option<Round>,
}

/// A row with its drawn salt and leaf.
struct Prepared {
    row: Row,
    credential: Credential,
    leaf: Fr,
}

/// The document path of a CSV line.
pub fn document_path(dir: &Path, line: usize) -> PathBuf {
    dir.join(format!("{line}.json"))
}

fn load_journal(dir: &Path, registry: &RegistryId) -> Result<Journal, AgencyError> {
    let path = dir.join(JOURNAL);
    if !path.exists() {
        return Ok(Journal {
            registry: *registry,
            rounds: Vec::new(),
            pending: None,
        });
    }
    let mut j: Journal = serde_json::from_slice(&std::fs::read(&path)?)?;
    if let Some(round) = j.pending.take() {
        j.rounds.insert(0, round);
    }
    if &j.registry != registry {
        return Err(AgencyError::Invalid(format!(
            "{} belongs to registry {}, not {registry}",
            path.display(),
            j.registry
        )));
    }
    Ok(j)
}

fn save_journal(dir: &Path, j: &Journal) -> Result<(), AgencyError> {
    write_atomic(&dir.join(JOURNAL), &serde_json::to_vec_pretty(j)?)
}

fn credential(
    schema: &Schema,
    row: &Row,
    issued_at: u32,
    expiry: u32,
    salt: Fr,
) -> Result<Credential, AgencyError> {
    Ok(Credential {
        schema: schema_field(&schema.id()),
        attributes: encode_attributes(schema, &row.attributes)?,
        expiry,
        issued_at,
        holder_commitment: row.holder,
        household_commitment: row.household,
        salt,
    })
}

/// Documents signed and written per batch, whose files are then made durable together.
/// The signed document of an anchored row, as written to its file.
fn signed_document(
    schema: &Schema,
    signer: &Signer,
    method: &str,
    created: u64,
    registry: &RegistryId,
    p: Prepared,
    index: u64,
) -> Result<Vec<u8>, AgencyError> {
    let record = CredentialRecord {
        issuer: signer.did,
        registry: *registry,
        index,
        attributes: p.row.attributes,
        credential: p.credential,
    };
    // The leaf was computed when the row was prepared (and checked in the ledger).
    let doc = credential_document_with_leaf(schema, &record, &p.leaf)?;
    let signed = weft_credentials::sign(&doc, &signer.key, method, created)?;
    Ok(serde_json::to_vec_pretty(&signed)?)
}

/// Makes everything written under `dir` durable: one `syncfs` of its file system (the
/// documents' data, their new names and the directory), where the platform has it.
#[cfg(target_os = "linux")]
fn make_durable(dir: &Path, _written: &[PathBuf]) -> Result<(), AgencyError> {
    let d = std::fs::File::open(dir)?;
    rustix::fs::syncfs(&d).map_err(std::io::Error::from)?;
    Ok(())
}

/// Makes everything written under `dir` durable: each document, then the directory.
#[cfg(not(target_os = "linux"))]
fn make_durable(dir: &Path, written: &[PathBuf]) -> Result<(), AgencyError> {
    for path in written {
        std::fs::File::open(path)?.sync_all()?;
    }
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Signs and writes the documents of anchored rows (in parallel on rayon), each to a
/// temporary file renamed to `DIR/<line>.json` (so a reader never sees half a
/// document), then makes the round durable at once ([`make_durable`]). The caller
/// keeps the round in the journal until this returns, so a crash before that point
/// has the documents written again on the next run.
fn write_documents(
    dir: &Path,
    schema: &Schema,
    signer: &Signer,
    registry: &RegistryId,
    anchored: Vec<(Prepared, u64)>,
) -> Result<usize, AgencyError> {
    if anchored.is_empty() {
        return Ok(0);
    }
    let method = signer.verification_method();
    let created = now_ms();
    let written = anchored
        .into_par_iter()
        .map(|(p, index)| {
            let line = p.row.line;
            let bytes = signed_document(schema, signer, &method, created, registry, p, index)?;
            let tmp = dir.join(format!(".{line}.json.tmp"));
            let path = document_path(dir, line);
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            drop(f);
            std::fs::rename(&tmp, &path)?;
            Ok(path)
        })
        .collect::<Result<Vec<PathBuf>, AgencyError>>()?;
    make_durable(dir, &written)?;
    Ok(written.len())
}

/// The documents of one round, being written on a blocking thread.
type DocumentWriting = tokio::task::JoinHandle<Result<usize, AgencyError>>;

/// Waits for a round's documents; the round then leaves the journal.
async fn finish_documents(
    writing: DocumentWriting,
    dir: &Path,
    journal: &mut Journal,
) -> Result<usize, AgencyError> {
    let n = writing
        .await
        .map_err(|e| AgencyError::Invalid(format!("writing documents: {e}")))??;
    if !journal.rounds.is_empty() {
        journal.rounds.remove(0);
    }
    save_journal(dir, journal)?;
    Ok(n)
}

/// Waits until every block is confirmed or known never to have arrived.
async fn settle_blocks(node: &Node, blocks: &[BlockId]) -> Result<(), AgencyError> {
    for id in blocks.iter().rev() {
        match node.client.wait_confirmed(id, CONFIRM_TIMEOUT).await {
            Ok(_) => {}
            Err(ClientError::Api { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Splits a journaled round into the rows anchored at their position and the others.
async fn compare_with_ledger(
    node: &Node,
    registry: &RegistryId,
    prepared: Vec<(Prepared, u64)>,
) -> Result<(Vec<(Prepared, u64)>, Vec<Prepared>), AgencyError> {
    let info = node.client.registry(registry).await?;
    let k = info.chunk_bits;
    let mut chunks: HashMap<u64, Vec<Fr>> = HashMap::new();
    let mut anchored = Vec::new();
    let mut retry = Vec::new();
    for (p, index) in prepared {
        if index >= info.issued {
            retry.push(p);
            continue;
        }
        let c = index >> k;
        if let std::collections::hash_map::Entry::Vacant(e) = chunks.entry(c) {
            e.insert(node.client.chunk(registry, c).await?.chunk.leaves);
        }
        let leaf = chunks
            .get(&c)
            .and_then(|l| l.get((index - (c << k)) as usize))
            .copied();
        if leaf == Some(p.leaf) {
            anchored.push((p, index));
        } else {
            retry.push(p);
        }
    }
    Ok((anchored, retry))
}

/// Draws the salts of fresh rows and computes their leaves (in parallel).
fn prepare(
    schema: &Schema,
    rows: Vec<Row>,
    issued_at: u32,
    expiry: u32,
) -> Result<Vec<Prepared>, AgencyError> {
    let schema_elem = schema_field(&schema.id());
    rows.into_par_iter()
        .map_init(rand::thread_rng, |rng, row| {
            let attributes = encode_attributes(schema, &row.attributes)?;
            let c = Credential::issue(
                schema_elem,
                attributes,
                expiry,
                issued_at,
                row.holder,
                row.household,
                rng,
            );
            let leaf = c.commitment();
            Ok(Prepared {
                row,
                credential: c,
                leaf,
            })
        })
        .collect()
}

/// Issues one credential per row into `registry` and writes the signed documents into
/// `dir`. Resumes an interrupted run from `dir`'s journal. Rows are the good rows of
/// the CSV ([`crate::csv::read`]); rows whose document exists are skipped.
pub async fn issue(
    node: &Node,
    signer: &Signer,
    registry: RegistryId,
    schema: &Schema,
    rows: Vec<Row>,
    dir: &Path,
    opts: &IssueOptions,
) -> Result<IssueReport, AgencyError> {
    std::fs::create_dir_all(dir)?;
    let mut report = IssueReport::default();
    let mut journal = load_journal(dir, &registry)?;
    // Rows of journaled rounds have no durable document yet, whatever exists of it.
    let journaled: HashSet<usize> = journal
        .rounds
        .iter()
        .flat_map(|r| r.rows.iter().map(|jr| jr.line))
        .collect();
    let mut by_line: HashMap<usize, Row> = HashMap::new();
    for row in rows {
        if !journaled.contains(&row.line) && document_path(dir, row.line).exists() {
            report.already += 1;
        } else {
            by_line.insert(row.line, row);
        }
    }
    let bar = if opts.progress {
        indicatif::ProgressBar::new(by_line.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} credentials ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // Rows to submit again, with their salts and issuance times.
    let mut requeued: Vec<Prepared> = Vec::new();
    // Settle every journaled round before looking at any: a later round's blocks
    // could otherwise still apply after an earlier one is compared.
    for round in &journal.rounds {
        settle_blocks(node, &round.blocks).await?;
    }
    for round in std::mem::take(&mut journal.rounds) {
        let mut prepared = Vec::new();
        for jr in &round.rows {
            let Some(row) = by_line.remove(&jr.line) else {
                continue; // no longer in the CSV
            };
            let salt = fr_from_decimal(&jr.salt).map_err(|_| {
                AgencyError::Invalid(format!("journal: bad salt of line {}", jr.line))
            })?;
            let c = credential(schema, &row, round.issued_at, round.expiry, salt)?;
            let leaf = c.commitment();
            if format!("0x{}", hex::encode(fr_to_bytes_be(&leaf))) != jr.leaf {
                return Err(AgencyError::Invalid(format!(
                    "line {}: the CSV changed since the interrupted run (its leaf differs from the journal's)",
                    jr.line
                )));
            }
            prepared.push((
                Prepared {
                    row,
                    credential: c,
                    leaf,
                },
                jr.index,
            ));
        }
        let (anchored, retry) = compare_with_ledger(node, &registry, prepared).await?;
        let n = write_documents(dir, schema, signer, &registry, anchored)?;
        report.written += n;
        bar.inc(n as u64);
        requeued.extend(retry);
    }
    save_journal(dir, &journal)?;
    // The documents of the previous round, written while this one is confirmed, with
    // a copy of what they need (the key's copy is zeroized on drop like the original).
    let shared = Arc::new((
        Signer {
            did: signer.did,
            key: weft_crypto::OrganisationKey::from_seed(&signer.key.seed()),
            fragment: signer.fragment.clone(),
        },
        schema.clone(),
        dir.to_path_buf(),
    ));
    let mut writing: Option<DocumentWriting> = None;
    let mut fresh: Vec<Row> = by_line.into_values().collect();
    fresh.sort_by_key(|r| std::cmp::Reverse(r.line));
    let per_round = opts.blocks_per_round.max(1) * MAX_ISSUANCE_LEAVES;
    let mut stalled = 0;
    // The fresh rows of the next round, prepared while this one is confirmed.
    let mut prefetched: Option<tokio::task::JoinHandle<Result<Vec<Prepared>, AgencyError>>> = None;
    loop {
        // The next round: requeued rows first (same salts), then fresh ones.
        let mut round: Vec<Prepared> = Vec::new();
        let take = requeued.len().min(per_round);
        round.extend(requeued.drain(..take));
        let room = per_round - round.len();
        let mut made = match prefetched.take() {
            Some(h) => h
                .await
                .map_err(|e| AgencyError::Invalid(format!("preparing rows: {e}")))??,
            None => {
                let new_rows: Vec<Row> = (0..room.min(fresh.len()))
                    .filter_map(|_| fresh.pop())
                    .collect();
                prepare(schema, new_rows, opts.issued_at, opts.expiry)?
            }
        };
        if round.is_empty() && made.is_empty() {
            break;
        }
        // Rows prepared ahead may not all fit next to requeued ones: the rest wait.
        let extra = made.split_off(room.min(made.len()));
        // Requeued rows keep their issuance times; a round mixes only equal ones.
        if made.first().is_some_and(|p| {
            round.first().is_some_and(|q| {
                q.credential.issued_at != p.credential.issued_at
                    || q.credential.expiry != p.credential.expiry
            })
        }) {
            requeued.extend(made);
        } else {
            round.extend(made);
        }
        requeued.extend(extra);
        let info = node.client.registry(&registry).await?;
        let first = info.issued;
        // The chain of blocks.
        let tips = node.client.tips(4).await?;
        let mut blocks: Vec<Block> = Vec::new();
        let mut prev: Option<BlockId> = None;
        let mut positioned = Vec::with_capacity(round.len());
        let mut index = first;
        for group in round.chunks(MAX_ISSUANCE_LEAVES) {
            let payload = Payload::Issuance(Issuance {
                registry,
                first_index: index,
                leaves: group.iter().map(|p| fr_to_bytes_be(&p.leaf)).collect(),
            });
            let parents = match prev {
                Some(p) => vec![p],
                None => tips.clone(),
            };
            let block = signer.key.sign_block(
                BlockBuilder::new(node.network, parents, now_ms())
                    .payload(payload)
                    .organisation(signer.key.public_key()),
            );
            prev = Some(block.id());
            blocks.push(block);
            index += group.len() as u64;
        }
        for p in round {
            let i = first + positioned.len() as u64;
            positioned.push((p, i));
        }
        journal.rounds.push(Round {
            issued_at: positioned
                .first()
                .map(|(p, _)| p.credential.issued_at)
                .unwrap_or(opts.issued_at),
            expiry: positioned
                .first()
                .map(|(p, _)| p.credential.expiry)
                .unwrap_or(opts.expiry),
            rows: positioned
                .iter()
                .map(|(p, i)| JournalRow {
                    line: p.row.line,
                    salt: fr_to_decimal(&p.credential.salt),
                    leaf: format!("0x{}", hex::encode(fr_to_bytes_be(&p.leaf))),
                    index: *i,
                })
                .collect(),
            blocks: blocks.iter().map(Block::id).collect(),
        });
        save_journal(dir, &journal)?;
        for batch in request_groups(&blocks) {
            for r in node.client.submit_many(batch).await? {
                match r {
                    Ok(_) => {}
                    Err(ClientError::Api { code, message, .. }) => {
                        return Err(AgencyError::Invalid(format!(
                            "the node refused an issuance block: {code}: {message}"
                        )))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        report.blocks += blocks.len();
        if opts.stop_after_submit {
            if let Some(h) = writing.take() {
                let n = finish_documents(h, dir, &mut journal).await?;
                report.written += n;
            }
            return Ok(report);
        }
        // Salts and leaves of the next round are CPU work: draw and hash them while
        // the node confirms this one and its documents are signed (never journaled or
        // sent before this round is settled).
        if !fresh.is_empty() {
            let rows: Vec<Row> = (0..per_round.min(fresh.len()))
                .filter_map(|_| fresh.pop())
                .collect();
            let schema = schema.clone();
            let (issued_at, expiry) = (opts.issued_at, opts.expiry);
            prefetched = Some(tokio::task::spawn_blocking(move || {
                prepare(&schema, rows, issued_at, expiry)
            }));
        }
        let ids: Vec<BlockId> = blocks.iter().map(Block::id).collect();
        settle_blocks(node, &ids).await?;
        if let Some(id) = ids.first() {
            if let Ok(weft_client::LedgerOutcome::Conflicting {
                reason,
                description,
                ..
            }) = node.client.wait_outcome(id, Duration::from_secs(1)).await
            {
                if reason != "wrongFirstIndex" {
                    return Err(AgencyError::Conflicting {
                        reason,
                        description,
                    });
                }
            }
        }
        let (anchored, retry) = compare_with_ledger(node, &registry, positioned).await?;
        if anchored.is_empty() {
            stalled += 1;
            if stalled >= 5 {
                return Err(AgencyError::Invalid(
                    "five rounds in a row anchored nothing (another writer on the registry?)"
                        .into(),
                ));
            }
        } else {
            stalled = 0;
        }
        // The previous round's documents are done before this round's start (one
        // round of documents in flight keeps memory and the journal bounded).
        if let Some(h) = writing.take() {
            let n = finish_documents(h, dir, &mut journal).await?;
            report.written += n;
            bar.inc(n as u64);
        }
        let shared = Arc::clone(&shared);
        writing = Some(tokio::task::spawn_blocking(move || {
            let (signer, schema, dir) = &*shared;
            write_documents(dir, schema, signer, &registry, anchored)
        }));
        requeued.splice(0..0, retry);
    }
    if let Some(h) = writing.take() {
        let n = finish_documents(h, dir, &mut journal).await?;
        report.written += n;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(report)
}

/// Bytes of blocks sent in one batch request: under the node's default body limit
/// (64 KiB), since an issuance block of 960 leaves is about 31 KB.
const MAX_REQUEST_BYTES: usize = 60_000;

/// Consecutive groups of `blocks` whose batch request stays under
/// [`MAX_REQUEST_BYTES`] (a block alone always forms a group).
fn request_groups(blocks: &[Block]) -> Vec<&[Block]> {
    let mut groups = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, b) in blocks.iter().enumerate() {
        let len = b.to_bytes().len() + 4;
        if i > start && (size + len > MAX_REQUEST_BYTES || i - start == 1024) {
            groups.push(&blocks[start..i]);
            start = i;
            size = 0;
        }
        size += len;
    }
    if start < blocks.len() {
        groups.push(&blocks[start..]);
    }
    groups
}
