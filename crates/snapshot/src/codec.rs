//! Framing shared by both kinds: the header, length-prefixed fields with limits checked
//! before anything is allocated, and the trailing BLAKE2b-256 checksum over every byte
//! before it (it catches a damaged or truncated transfer; authenticity comes from the
//! certificate and the state root, never from the checksum).

use std::io::{Read, Write};

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use weft_ledger::Genesis;

use crate::{SnapshotError, SnapshotKind, FORMAT_VERSION, MAGIC};

/// Largest genesis document accepted (JSON).
pub(crate) const MAX_GENESIS_BYTES: u32 = 16 * 1024 * 1024;
/// Largest ledger key accepted.
pub(crate) const MAX_KEY_BYTES: u32 = 4096;
/// Largest ledger value accepted.
pub(crate) const MAX_VALUE_BYTES: u32 = 16 * 1024 * 1024;
/// Marks the end of the entries in a full snapshot (no key is this long).
pub(crate) const END_OF_ENTRIES: u32 = u32::MAX;

type Hasher = Blake2b<U32>;

/// A writer that hashes what passes through it.
pub(crate) struct HashingWriter<W: Write> {
    inner: W,
    hasher: Hasher,
    pub(crate) bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Hasher::new(),
            bytes: 0,
        }
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), SnapshotError> {
        self.write_all(&v.to_le_bytes())?;
        Ok(())
    }

    pub(crate) fn u64(&mut self, v: u64) -> Result<(), SnapshotError> {
        self.write_all(&v.to_le_bytes())?;
        Ok(())
    }

    /// A u32 length, then the bytes.
    pub(crate) fn field(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| SnapshotError::Malformed("a field longer than 4 GiB".into()))?;
        self.u32(len)?;
        self.write_all(bytes)?;
        Ok(())
    }

    pub(crate) fn header(
        &mut self,
        kind: SnapshotKind,
        genesis_json: &[u8],
    ) -> Result<(), SnapshotError> {
        self.write_all(MAGIC)?;
        self.write_all(&[FORMAT_VERSION, kind.code()])?;
        self.field(genesis_json)
    }

    /// Writes the checksum of everything so far (not itself hashed) and flushes.
    pub(crate) fn finish(mut self) -> Result<u64, SnapshotError> {
        let digest = self.hasher.finalize_reset();
        self.inner.write_all(&digest)?;
        self.inner.flush()?;
        Ok(self.bytes + 32)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what passes through it.
pub(crate) struct HashingReader<R: Read> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Hasher::new(),
        }
    }

    fn exact<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut b = [0u8; N];
        self.read_exact(&mut b).map_err(truncated)?;
        Ok(b)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.exact()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.exact()?))
    }

    pub(crate) fn id(&mut self) -> Result<[u8; 32], SnapshotError> {
        self.exact()
    }

    /// `len` bytes, refused before allocation when `len > max`.
    pub(crate) fn sized(
        &mut self,
        len: u32,
        max: u32,
        what: &str,
    ) -> Result<Vec<u8>, SnapshotError> {
        if len > max {
            return Err(SnapshotError::Malformed(format!(
                "{what} of {len} bytes (at most {max})"
            )));
        }
        let mut v = vec![0u8; len as usize];
        self.read_exact(&mut v).map_err(truncated)?;
        Ok(v)
    }

    /// A u32 length, then that many bytes (at most `max`).
    pub(crate) fn field(&mut self, max: u32, what: &str) -> Result<Vec<u8>, SnapshotError> {
        let len = self.u32()?;
        self.sized(len, max, what)
    }

    /// Reads the header, checks the kind, and checks that the genesis is `trusted`
    /// (returned as the bytes read).
    pub(crate) fn header(
        &mut self,
        kind: SnapshotKind,
        trusted: &Genesis,
    ) -> Result<Vec<u8>, SnapshotError> {
        let magic: [u8; 8] = self.exact().map_err(|_| SnapshotError::NotASnapshot)?;
        if &magic != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let [version, code] = self.exact()?;
        if version != FORMAT_VERSION {
            return Err(SnapshotError::Version(version));
        }
        let found = match code {
            0 => SnapshotKind::Full,
            1 => SnapshotKind::Delta,
            other => return Err(SnapshotError::Malformed(format!("unknown kind {other}"))),
        };
        if found != kind {
            return Err(SnapshotError::Kind {
                expected: kind.name(),
                found: found.name(),
            });
        }
        let json = self.field(MAX_GENESIS_BYTES, "genesis")?;
        let genesis: Genesis = serde_json::from_slice(&json)
            .map_err(|e| SnapshotError::Malformed(format!("genesis: {e}")))?;
        if &genesis != trusted {
            return Err(SnapshotError::GenesisMismatch {
                snapshot: genesis.network_id(),
                configured: trusted.network_id(),
            });
        }
        Ok(json)
    }

    /// Reads the trailing checksum and compares it with the bytes read so far; then
    /// insists on the end of the stream.
    pub(crate) fn finish(mut self) -> Result<(), SnapshotError> {
        let digest = self.hasher.finalize_reset();
        let mut stored = [0u8; 32];
        self.inner
            .read_exact(&mut stored)
            .map_err(|_| SnapshotError::Checksum)?;
        if digest.as_slice() != stored {
            return Err(SnapshotError::Checksum);
        }
        let mut extra = [0u8; 1];
        match self.inner.read(&mut extra)? {
            0 => Ok(()),
            _ => Err(SnapshotError::Malformed("bytes after the checksum".into())),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn truncated(e: std::io::Error) -> SnapshotError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        SnapshotError::Malformed("the file ends early (truncated)".into())
    } else {
        SnapshotError::Io(e)
    }
}
