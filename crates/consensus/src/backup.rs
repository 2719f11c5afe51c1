//! The unit backup: what a validator needs to rejoin its session after a crash.
//!
//! AlephBFT writes every unit it adds to its DAG to a backup before using it, and reads
//! the backup back when a session starts, so a restarted member never signs a second,
//! different unit for a round it already had (which would be equivocation). The engine
//! only sees a byte writer and a byte reader; this module supplies them, either in
//! memory (tests, or a member that accepts losing its session on restart) or in a file.
//!
//! The file is a sequence of records, each `u32` length || BLAKE2b-256 of the payload ||
//! payload, written and `fsync`ed once per unit (the engine flushes after each). The
//! first record is a header naming the session, so a backup is never loaded into another
//! session. A torn or corrupt tail (a crash during a write) is cut off on opening: the
//! unit it held was never acknowledged to the engine, so it was never sent.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;

/// Domain of the header record of a backup file.
pub const BACKUP_HEADER_DOMAIN: &[u8] = b"weft/consensus-backup/v1";

const RECORD_HEADER: usize = 4 + 32;

/// Largest record accepted when reading a backup file.
const MAX_RECORD: usize = 1 << 24;

/// Why a backup cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing the file failed.
    #[error("backup file: {0}")]
    Io(#[from] std::io::Error),
    /// The file belongs to another session, committee or member.
    #[error("the backup file belongs to another session")]
    OtherSession,
}

/// A member's unit backup for one session.
#[derive(Debug, Clone)]
pub enum UnitBackup {
    /// Kept in memory only: a restart within the process can reuse it, a crash loses it.
    Memory(MemoryBackup),
    /// A file opened with [`UnitBackup::open_file`].
    File(Arc<Mutex<FileBackup>>),
}

/// Backup bytes shared in memory (clone it to keep a handle across a session restart).
#[derive(Debug, Clone, Default)]
pub struct MemoryBackup(Arc<Mutex<Vec<u8>>>);

impl MemoryBackup {
    /// An empty backup.
    pub fn new() -> MemoryBackup {
        MemoryBackup::default()
    }

    /// How many bytes the engine saved.
    pub fn len(&self) -> usize {
        self.0.lock().len()
    }

    /// Whether nothing was saved.
    pub fn is_empty(&self) -> bool {
        self.0.lock().is_empty()
    }
}

/// An open backup file and the units it held when opened.
#[derive(Debug)]
pub struct FileBackup {
    file: File,
    loaded: Vec<u8>,
}

impl UnitBackup {
    /// A backup in memory.
    pub fn memory(backup: MemoryBackup) -> UnitBackup {
        UnitBackup::Memory(backup)
    }

    /// Opens (or creates) the backup file at `path` for the session described by
    /// `header` (the caller's canonical description of session id, committee, start and
    /// member). An existing file must carry the same header; a torn tail is truncated.
    pub fn open_file(path: &Path, header: &[u8]) -> Result<UnitBackup, BackupError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut expected_header = BACKUP_HEADER_DOMAIN.to_vec();
        expected_header.extend_from_slice(header);
        let (records, good_len) = read_records(&bytes);
        let mut loaded = Vec::new();
        match records.split_first() {
            None => {
                file.set_len(0)?;
                file.seek(SeekFrom::End(0))?;
                file.write_all(&record(&expected_header))?;
                file.sync_data()?;
            }
            Some((first, units)) => {
                if *first != expected_header.as_slice() {
                    return Err(BackupError::OtherSession);
                }
                if good_len < bytes.len() {
                    tracing::warn!(
                        cut = bytes.len() - good_len,
                        "consensus backup had a torn tail; cut it off"
                    );
                    file.set_len(good_len as u64)?;
                    file.sync_data()?;
                }
                for u in units {
                    loaded.extend_from_slice(u);
                }
            }
        }
        Ok(UnitBackup::File(Arc::new(Mutex::new(FileBackup {
            file,
            loaded,
        }))))
    }

    /// The writer the engine saves units to and the reader it loads them from.
    pub(crate) fn into_parts(self) -> (BackupWriter, futures::io::Cursor<Vec<u8>>) {
        match self {
            UnitBackup::Memory(m) => {
                let loaded = m.0.lock().clone();
                (
                    BackupWriter {
                        target: self::Target::Memory(m),
                        pending: Vec::new(),
                    },
                    futures::io::Cursor::new(loaded),
                )
            }
            UnitBackup::File(f) => {
                let loaded = f.lock().loaded.clone();
                (
                    BackupWriter {
                        target: Target::File(f),
                        pending: Vec::new(),
                    },
                    futures::io::Cursor::new(loaded),
                )
            }
        }
    }
}

fn record(payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(RECORD_HEADER + payload.len());
    r.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    r.extend_from_slice(&weft_types::hash::blake2b256(&[payload]));
    r.extend_from_slice(payload);
    r
}

/// The intact records at the start of `bytes`, and how many bytes they take.
fn read_records(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= RECORD_HEADER {
        let mut len = [0u8; 4];
        len.copy_from_slice(&bytes[at..at + 4]);
        let len = u32::from_le_bytes(len) as usize;
        let start = at + RECORD_HEADER;
        if len > MAX_RECORD || bytes.len() - start < len {
            break;
        }
        let payload = &bytes[start..start + len];
        if weft_types::hash::blake2b256(&[payload]) != bytes[at + 4..start] {
            break;
        }
        records.push(payload);
        at = start + len;
    }
    (records, at)
}

enum Target {
    Memory(MemoryBackup),
    File(Arc<Mutex<FileBackup>>),
}

/// The engine's unit saver: buffers one unit's bytes and makes them durable on flush.
/// File writes are small and synchronous (one `fsync` per unit, a unit every few hundred
/// milliseconds).
pub(crate) struct BackupWriter {
    target: Target,
    pending: Vec<u8>,
}

impl futures::AsyncWrite for BackupWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.pending.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let pending = std::mem::take(&mut self.pending);
        let result = match &self.target {
            Target::Memory(m) => {
                m.0.lock().extend_from_slice(&pending);
                Ok(())
            }
            Target::File(f) => {
                let mut f = f.lock();
                f.file
                    .write_all(&record(&pending))
                    .and_then(|_| f.file.sync_data())
            }
        };
        Poll::Ready(result)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt};

    async fn save(backup: UnitBackup, units: &[&[u8]]) {
        let (mut w, _) = backup.into_parts();
        for u in units {
            w.write_all(u).await.unwrap();
            w.flush().await.unwrap();
        }
    }

    async fn load(backup: UnitBackup) -> Vec<u8> {
        let (_, mut r) = backup.into_parts();
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn file_backup_survives_reopening_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session-7.backup");
        let b = UnitBackup::open_file(&path, b"session 7").unwrap();
        assert!(load(b.clone()).await.is_empty());
        save(b, &[b"unit one", b"unit two"]).await;
        let b = UnitBackup::open_file(&path, b"session 7").unwrap();
        assert_eq!(load(b).await, b"unit oneunit two");
        // A crash in the middle of a write leaves half a record.
        let full = std::fs::read(&path).unwrap();
        let mut torn = full.clone();
        torn.extend_from_slice(&record(b"unit three")[..20]);
        std::fs::write(&path, &torn).unwrap();
        let b = UnitBackup::open_file(&path, b"session 7").unwrap();
        assert_eq!(load(b.clone()).await, b"unit oneunit two");
        assert_eq!(std::fs::read(&path).unwrap(), full);
        save(b, &[b"unit three"]).await;
        let b = UnitBackup::open_file(&path, b"session 7").unwrap();
        assert_eq!(load(b).await, b"unit oneunit twounit three");
        // A corrupt record ends what is trusted.
        let mut corrupt = std::fs::read(&path).unwrap();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        std::fs::write(&path, &corrupt).unwrap();
        let b = UnitBackup::open_file(&path, b"session 7").unwrap();
        assert_eq!(load(b).await, b"unit oneunit two");
    }

    #[tokio::test]
    async fn file_backup_of_another_session_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        UnitBackup::open_file(&path, b"session 1").unwrap();
        assert!(matches!(
            UnitBackup::open_file(&path, b"session 2"),
            Err(BackupError::OtherSession)
        ));
    }

    #[tokio::test]
    async fn memory_backup_is_shared() {
        let m = MemoryBackup::new();
        save(UnitBackup::memory(m.clone()), &[b"abc"]).await;
        assert_eq!(m.len(), 3);
        assert_eq!(load(UnitBackup::memory(m)).await, b"abc");
    }
}
