//! The real disk: `std::fs` under a data directory, and the lock that keeps a second process
//! out of it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use crate::{Disk, DiskError};

/// Open append handles kept at most: a bound, and more than the WAL needs (one segment).
const OPEN_FILES_MAX: usize = 16;

/// The file system, rooted at a data directory. Appends reuse cached handles so a flush costs
/// one `write` and one `fdatasync`, not an `open` too.
#[derive(Debug)]
pub struct FsDisk {
    root: PathBuf,
    open: BTreeMap<String, File>,
}

fn io_error(path: &str, error: std::io::Error) -> DiskError {
    match error.kind() {
        ErrorKind::NotFound => DiskError::NotFound(path.to_string()),
        ErrorKind::StorageFull => DiskError::Full {
            needed: 0,
            available: 0,
        },
        _ => DiskError::Io(format!("{path}: {error}")),
    }
}

impl FsDisk {
    /// Opens (creating it if needed) the data directory `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<FsDisk, DiskError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| io_error(&root.display().to_string(), e))?;
        Ok(FsDisk {
            root,
            open: BTreeMap::new(),
        })
    }

    /// Creates the directory of `path` if missing, durably (the root is synced after).
    fn ensure_dir(&self, path: &str) -> Result<(), DiskError> {
        let Some((dir, _)) = path.split_once('/') else {
            return Ok(());
        };
        let full = self.root.join(dir);
        if full.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&full).map_err(|e| io_error(dir, e))?;
        File::open(&self.root)
            .and_then(|root| root.sync_all())
            .map_err(|e| io_error(dir, e))
    }

    fn handle(&mut self, path: &str) -> Result<&mut File, DiskError> {
        if !self.open.contains_key(path) {
            self.ensure_dir(path)?;
            if self.open.len() >= OPEN_FILES_MAX {
                self.open.pop_first();
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.root.join(path))
                .map_err(|e| io_error(path, e))?;
            self.open.insert(path.to_string(), file);
        }
        self.open
            .get_mut(path)
            .ok_or_else(|| DiskError::Io(format!("{path}: handle vanished")))
    }
}

impl Disk for FsDisk {
    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError> {
        let entries = match std::fs::read_dir(self.root.join(dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(dir, e))?;
            if entry.file_type().map_err(|e| io_error(dir, e))?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, DiskError> {
        std::fs::read(self.root.join(path)).map_err(|e| io_error(path, e))
    }

    fn append(&mut self, path: &str, data: &[u8]) -> Result<(), DiskError> {
        let file = self.handle(path)?;
        let before = file.metadata().map_err(|e| io_error(path, e))?.len();
        if let Err(error) = file.write_all(data) {
            // The contract is "nothing written" on failure: undo a partial write (ENOSPC).
            let _ = file.set_len(before);
            return Err(match io_error(path, error) {
                DiskError::Full { .. } => DiskError::Full {
                    needed: data.len() as u64,
                    available: 0,
                },
                other => other,
            });
        }
        Ok(())
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), DiskError> {
        self.open.remove(path);
        self.ensure_dir(path)?;
        std::fs::write(self.root.join(path), data).map_err(|e| io_error(path, e))
    }

    fn truncate(&mut self, path: &str, len: u64) -> Result<(), DiskError> {
        let file = OpenOptions::new()
            .write(true)
            .open(self.root.join(path))
            .map_err(|e| io_error(path, e))?;
        file.set_len(len).map_err(|e| io_error(path, e))
    }

    fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        if let Some(file) = self.open.get(path) {
            return file.sync_data().map_err(|e| io_error(path, e));
        }
        let file = File::open(self.root.join(path)).map_err(|e| io_error(path, e))?;
        file.sync_data().map_err(|e| io_error(path, e))
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        self.open.remove(from);
        self.open.remove(to);
        self.ensure_dir(to)?;
        std::fs::rename(self.root.join(from), self.root.join(to)).map_err(|e| io_error(from, e))
    }

    fn remove(&mut self, path: &str) -> Result<(), DiskError> {
        self.open.remove(path);
        std::fs::remove_file(self.root.join(path)).map_err(|e| io_error(path, e))
    }

    fn sync_dir(&mut self, dir: &str) -> Result<(), DiskError> {
        let full = self.root.join(dir);
        if !full.is_dir() {
            return Ok(());
        }
        File::open(&full)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, e))
    }
}

/// The lock file's name in a data directory; it holds the holder's PID, for the message.
pub const LOCK_FILE: &str = "LOCK";

/// Bytes of the lock file read for the holder's PID: a PID is at most 20 digits.
const LOCK_PID_BYTES_MAX: u64 = 32;

/// An exclusive lock on a data directory, held until dropped. Two processes on one directory
/// would interleave appends to one segment, and each would truncate as a torn tail what the
/// other had made durable. It is an `flock`: the kernel releases it when the process dies,
/// however it dies, so a crash never leaves a stale lock behind.
#[derive(Debug)]
pub struct DirLock {
    /// Open for the lock's life: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Locks `dir` (created if missing) or says who holds it: the error names the directory
    /// and, when the lock file has it, the holder's PID.
    pub fn acquire(dir: impl AsRef<Path>) -> Result<DirLock, String> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        // Not truncated on open: until the lock is ours, the PID in the file is the holder's.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("cannot open lock file {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                // Best effort: the holder may not have written its PID yet.
                let _ = (&file).take(LOCK_PID_BYTES_MAX).read_to_string(&mut text);
                let pid = text.trim();
                let holder = if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                    format!("process {pid}")
                } else {
                    "another process".to_string()
                };
                return Err(format!("data dir {} is in use by {holder} (it holds {}): stop it or use another data dir", dir.display(), path.display()));
            }
            Err(TryLockError::Error(e)) => {
                return Err(format!(
                    "cannot lock data dir {} ({}): {e}",
                    dir.display(),
                    path.display()
                ))
            }
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.write_all(pid.as_bytes()))
            .map_err(|e| format!("cannot write lock file {}: {e}", path.display()))?;
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
