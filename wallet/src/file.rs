//! The CLI's storage: one file, replaced atomically, so a crash never corrupts it.
//!
//! `store` writes the new blob to a temporary file in the same directory
//! (`.<name>.tmp-<random>`), flushes it to disk (`fsync`), renames it over the wallet
//! file (atomic on POSIX file systems), and flushes the directory so that the rename
//! itself survives a power cut. A crash before the rename leaves the old file whole and
//! at most a stray temporary file, which `load` ignores and the next `store` removes; a
//! crash after it leaves the new file whole. Not compiled for wasm: apps bring their own
//! [`WalletStorage`].

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::store::{StorageError, WalletStorage};

/// A wallet file.
#[derive(Debug, Clone)]
pub struct FileStorage {
    path: PathBuf,
}

fn err(what: &str, path: &Path, e: std::io::Error) -> StorageError {
    StorageError(format!("{what} {}: {e}", path.display()))
}

impl FileStorage {
    /// The wallet file at `path` (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStorage { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn tmp_prefix(&self) -> String {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "wallet".into());
        format!(".{name}.tmp-")
    }

    /// Removes temporary files a crashed `store` left behind.
    pub fn remove_stale_temporaries(&self) {
        let prefix = self.tmp_prefix();
        if let Ok(entries) = fs::read_dir(self.dir()) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }

    /// Writes `blob` to a new temporary file next to the wallet and flushes it; returns
    /// its path. (The first half of `store`, public so tests can simulate a crash.)
    pub fn write_temporary(&self, blob: &[u8]) -> Result<PathBuf, StorageError> {
        let mut suffix = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut suffix);
        let tmp = self
            .dir()
            .join(format!("{}{}", self.tmp_prefix(), hex::encode(suffix)));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| err("cannot create", &tmp, e))?;
        let written = f.write_all(blob).and_then(|_| f.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(err("cannot write", &tmp, e));
        }
        Ok(tmp)
    }
}

impl WalletStorage for FileStorage {
    fn load(&self) -> Result<Option<Vec<u8>>, StorageError> {
        match fs::read(&self.path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err("cannot read", &self.path, e)),
        }
    }

    fn store(&mut self, blob: &[u8]) -> Result<(), StorageError> {
        self.remove_stale_temporaries();
        let tmp = self.write_temporary(blob)?;
        if let Err(e) = fs::rename(&tmp, &self.path) {
            let _ = fs::remove_file(&tmp);
            return Err(err("cannot replace", &self.path, e));
        }
        // Make the rename durable. Opening a directory fails on some platforms; the
        // rename is still atomic there.
        if let Ok(d) = File::open(self.dir()) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}
