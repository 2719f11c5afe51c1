//! Snapshots at the node's edge: the `[snapshots]` schedule that writes full and delta
//! snapshot files into the data directory, the files the API serves, and starting a node
//! from them. The format and every check live in `weft-snapshot`; this module only
//! names files, schedules work and feeds delta milestones to the follower path.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use weft_snapshot::{
    write_delta, write_full, DeltaReader, DeltaSummary, FullSummary, SnapshotError,
    DEFAULT_ENTRY_POINT_WINDOW,
};
use weft_types::BlockId;

use crate::core::{Node, NodeError, NodeInner};

/// The `[snapshots]` section: how often the node writes snapshots of its own ledger.
/// Off unless `full_every_milestones` is set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSettings {
    /// Write a full snapshot every this many milestones (0: never).
    #[serde(default)]
    pub full_every_milestones: u32,
    /// Between two full snapshots, write a delta from the last full one every this many
    /// milestones (0: never). A delta replaces the previous delta of the same base.
    #[serde(default)]
    pub delta_every_milestones: u32,
    /// Full snapshots kept (older ones and their deltas are deleted).
    #[serde(default = "default_keep")]
    pub keep_full: usize,
    /// Where the files go (default: `DATA_DIR/snapshots`).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Milestones whose blocks a full snapshot lists as solid entry points.
    #[serde(default = "default_window")]
    pub entry_point_window: u32,
}

fn default_keep() -> usize {
    2
}

fn default_window() -> u32 {
    DEFAULT_ENTRY_POINT_WINDOW
}

impl Default for SnapshotSettings {
    fn default() -> Self {
        SnapshotSettings {
            full_every_milestones: 0,
            delta_every_milestones: 0,
            keep_full: default_keep(),
            dir: None,
            entry_point_window: default_window(),
        }
    }
}

impl SnapshotSettings {
    /// Whether the node writes snapshots at all.
    pub fn enabled(&self) -> bool {
        self.full_every_milestones > 0
    }

    /// The snapshot directory for a node whose data directory is `data_dir`.
    pub fn dir_in(&self, data_dir: &Path) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| data_dir.join("snapshots"))
    }
}

/// A snapshot file, by its name: `full-<index>.weftsnap` or
/// `delta-<base>-<to>.weftsnap` (indexes zero-padded to ten digits so names sort).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SnapshotFile {
    /// The state at milestone `index`.
    Full {
        /// Milestone index.
        index: u32,
    },
    /// The milestones `base + 1 ..= to`.
    Delta {
        /// The full snapshot it continues.
        base: u32,
        /// Its last milestone.
        to: u32,
    },
}

impl SnapshotFile {
    /// The file name.
    pub fn name(&self) -> String {
        match self {
            SnapshotFile::Full { index } => format!("full-{index:010}.weftsnap"),
            SnapshotFile::Delta { base, to } => format!("delta-{base:010}-{to:010}.weftsnap"),
        }
    }

    /// Reads a file name written by [`SnapshotFile::name`] (anything else: `None`, so
    /// the API never serves another file).
    pub fn parse(name: &str) -> Option<SnapshotFile> {
        let stem = name.strip_suffix(".weftsnap")?;
        let number = |s: &str| -> Option<u32> {
            (s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        if let Some(i) = stem.strip_prefix("full-") {
            return Some(SnapshotFile::Full { index: number(i)? });
        }
        let (base, to) = stem.strip_prefix("delta-")?.split_once('-')?;
        Some(SnapshotFile::Delta {
            base: number(base)?,
            to: number(to)?,
        })
    }
}

/// The snapshot files in `dir` with their sizes, in name order (oldest first).
pub fn list(dir: &Path) -> Vec<(SnapshotFile, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(SnapshotFile, u64)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = SnapshotFile::parse(e.file_name().to_str()?)?;
            Some((file, e.metadata().ok()?.len()))
        })
        .collect();
    files.sort();
    files
}

/// Writes `file` through a temporary name and renames it, so a reader never sees half a
/// snapshot.
fn write_atomically<T>(
    dir: &Path,
    file: SnapshotFile,
    write: impl FnOnce(BufWriter<std::fs::File>) -> Result<T, SnapshotError>,
) -> Result<T, SnapshotError> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file.name());
    let tmp = dir.join(format!(".{}.tmp", file.name()));
    let out = BufWriter::new(std::fs::File::create(&tmp)?);
    match write(out) {
        Ok(v) => {
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            Ok(v)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

impl NodeInner {
    /// Writes a full snapshot of the latest milestone into `dir`. Milestones wait while
    /// the ledger entries stream out (the state must be that of one milestone).
    pub fn write_full_snapshot(&self, dir: &Path, window: u32) -> Result<FullSummary, NodeError> {
        let latest = self.latest_milestone().ok_or(SnapshotError::NoMilestone)?;
        // The latest index can only grow; the file is named after the milestone the
        // state belongs to, read under the same lock as the entries.
        let summary = self.consistent_read(|_, at, _| {
            let index = at.map(|l| l.index).unwrap_or(latest.index);
            write_atomically(dir, SnapshotFile::Full { index }, |out| {
                write_full(self.store.as_ref(), window, out)
            })
        })?;
        Ok(summary)
    }

    /// Writes a delta of the milestones after `base` up to the latest into `dir`
    /// (confirmed data only: no lock).
    pub fn write_delta_snapshot(&self, dir: &Path, base: u32) -> Result<DeltaSummary, NodeError> {
        let to = self
            .latest_milestone()
            .ok_or(SnapshotError::NoMilestone)?
            .index;
        let summary = write_atomically(dir, SnapshotFile::Delta { base, to }, |out| {
            let s = write_delta(self.store.as_ref(), base, out)?;
            if s.to != to {
                // A milestone arrived between reading `to` and writing: the file
                // holds more than its name says, which is harmless but confusing.
                tracing::debug!(named = to, written = s.to, "delta grew while written");
            }
            Ok(s)
        })?;
        Ok(summary)
    }

    /// The snapshot thread (`weft-snapshots`, only when `[snapshots]` is on): after every
    /// `full_every_milestones` milestones a full snapshot, in between a delta from the
    /// last full one every `delta_every_milestones`; older files are deleted beyond
    /// `keep_full`.
    pub(crate) fn snapshot_loop(&self) {
        let settings = self.config.snapshots.clone();
        let dir = settings.dir_in(&self.config.data_dir);
        tracing::info!(
            dir = %dir.display(),
            full_every = settings.full_every_milestones,
            delta_every = settings.delta_every_milestones,
            "writing snapshots"
        );
        let files = list(&dir);
        let mut last_full = files
            .iter()
            .filter_map(|(f, _)| match f {
                SnapshotFile::Full { index } => Some(*index),
                _ => None,
            })
            .max();
        let mut last_delta = files
            .iter()
            .filter_map(|(f, _)| match f {
                SnapshotFile::Delta { base, to } if Some(*base) == last_full => Some(*to),
                _ => None,
            })
            .max();
        while !self.is_stopping() {
            std::thread::sleep(Duration::from_millis(200));
            let Some(latest) = self.latest_milestone().map(|l| l.index) else {
                continue;
            };
            let full_due = match last_full {
                None => latest >= settings.full_every_milestones,
                Some(f) => latest >= f.saturating_add(settings.full_every_milestones),
            };
            if full_due {
                let started = std::time::Instant::now();
                match self.write_full_snapshot(&dir, settings.entry_point_window) {
                    Ok(s) => {
                        self.metrics.snapshot_index.set(s.index as i64);
                        tracing::info!(
                            index = s.index,
                            entries = s.entries,
                            bytes = s.bytes,
                            ms = started.elapsed().as_millis() as u64,
                            "full snapshot written"
                        );
                        last_full = Some(s.index);
                        last_delta = None;
                        remove_old(&dir, settings.keep_full);
                    }
                    Err(e) => tracing::error!(error = %e, "writing a full snapshot failed"),
                }
                continue;
            }
            let (Some(base), true) = (last_full, settings.delta_every_milestones > 0) else {
                continue;
            };
            let since = last_delta.unwrap_or(base);
            if latest < since.saturating_add(settings.delta_every_milestones) {
                continue;
            }
            match self.write_delta_snapshot(&dir, base) {
                Ok(s) => {
                    tracing::info!(
                        base,
                        to = s.to,
                        blocks = s.blocks,
                        bytes = s.bytes,
                        "delta snapshot written"
                    );
                    if let Some(old) = last_delta {
                        let _ = std::fs::remove_file(
                            dir.join(SnapshotFile::Delta { base, to: old }.name()),
                        );
                    }
                    last_delta = Some(s.to);
                }
                Err(e) => {
                    tracing::error!(error = %e, "writing a delta snapshot failed");
                    // Do not retry every 200 ms: wait for the next interval.
                    last_delta = Some(latest);
                }
            }
        }
    }
}

/// Deletes full snapshots beyond the newest `keep` and deltas whose base is gone.
fn remove_old(dir: &Path, keep: usize) {
    let files = list(dir);
    let fulls: Vec<u32> = files
        .iter()
        .filter_map(|(f, _)| match f {
            SnapshotFile::Full { index } => Some(*index),
            _ => None,
        })
        .collect();
    let kept = &fulls[fulls.len().saturating_sub(keep.max(1))..];
    for (f, _) in files {
        let stale = match f {
            SnapshotFile::Full { index } => !kept.contains(&index),
            SnapshotFile::Delta { base, .. } => !kept.contains(&base),
        };
        if stale {
            let _ = std::fs::remove_file(dir.join(f.name()));
        }
    }
}

impl Node {
    /// Applies a delta snapshot to this node, whose latest milestone must be the delta's
    /// base: each milestone's blocks are stored and the milestone is applied through the
    /// follower path ([`NodeInner::follow_milestone`]), which checks its certificate,
    /// chain, inclusion root and state root. Returns the new latest index.
    pub async fn apply_delta(&self, path: &Path) -> Result<u32, NodeError> {
        let genesis = self.config.genesis.clone();
        let file = std::fs::File::open(path).map_err(SnapshotError::from)?;
        let mut reader = DeltaReader::open(BufReader::new(file), &genesis)?;
        let latest = self.latest_milestone();
        let (at, at_id) = latest
            .map(|l| (l.index, l.id))
            .unwrap_or((0, weft_types::MilestoneId::NONE));
        if reader.base != at || reader.base_id != at_id {
            return Err(NodeError::Setup(format!(
                "the delta continues milestone {} ({}), this node is at milestone {at} ({at_id})",
                reader.base, reader.base_id
            )));
        }
        let mut index = at;
        while let Some(m) = reader.next_milestone(|e| self.committee_for(e.index).ok())? {
            for bytes in &m.aliases {
                let block = weft_types::Block::from_bytes(bytes).map_err(|e| {
                    NodeError::Setup(format!(
                        "delta milestone {}: a milestone block: {e}",
                        m.index
                    ))
                })?;
                self.store_milestone_alias(&block, bytes).map_err(|e| {
                    NodeError::Setup(format!(
                        "delta milestone {}: a milestone block: {e}",
                        m.index
                    ))
                })?;
            }
            let ids: Vec<BlockId> = m.blocks.iter().map(|(id, _)| *id).collect();
            for (result, id) in self.attach_certified(m.blocks).await.into_iter().zip(&ids) {
                if let Err(e) = result {
                    return Err(NodeError::Setup(format!(
                        "delta milestone {}: block {id}: {e}",
                        m.index
                    )));
                }
            }
            let node = self.clone();
            let latest = tokio::task::spawn_blocking(move || {
                node.follow_milestone(&m.block, m.bytes, Some(&ids))
            })
            .await
            .map_err(|e| NodeError::Setup(e.to_string()))?
            .map_err(|e| NodeError::Setup(format!("delta milestone: {e}")))?;
            index = latest.index;
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_nothing_else_parses() {
        for f in [
            SnapshotFile::Full { index: 7 },
            SnapshotFile::Delta { base: 7, to: 19 },
        ] {
            assert_eq!(SnapshotFile::parse(&f.name()), Some(f));
        }
        for bad in [
            "full-7.weftsnap",
            "../full-0000000007.weftsnap",
            "full-0000000007.weftsnap.tmp",
            ".full-0000000007.weftsnap.tmp",
            "delta-0000000007.weftsnap",
            "full-00000000x7.weftsnap",
            "db",
        ] {
            assert_eq!(SnapshotFile::parse(bad), None, "{bad}");
        }
        assert!(SnapshotFile::Full { index: 9 } < SnapshotFile::Full { index: 10 });
    }
}
