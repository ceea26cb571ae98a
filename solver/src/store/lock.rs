//! `flock(2)` locks on files.
//!
//! flock locks belong to an *open file description*: two `File`s opened
//! separately exclude each other even inside one process, the kernel drops
//! the lock when the last descriptor closes (also on `kill -9`), and
//! re-locking the same descriptor converts shared <-> exclusive.
//!
//! Two uses in the store:
//! - `$KILN_ROOT/lock`, the store lock: every open [`Store`](super::Store)
//!   holds it shared; GC and crash recovery take it exclusive.
//! - each `ingest/` temp file is locked exclusive by its writer, so the
//!   cleanup of stale temp files can tell a live writer from a dead one.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

use super::error::{IoContext, Result};

/// An open file used as a lock. Dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct LockFile {
    file: File,
    path: PathBuf,
}

impl LockFile {
    /// Opens (creating if needed) the lock file at `path`, unlocked.
    pub(crate) fn open(path: &Path) -> Result<LockFile> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at("open lock file", path)?;
        Ok(LockFile {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Blocks until the shared lock is held (converting an exclusive one).
    pub(crate) fn lock_shared(&self) -> Result<()> {
        self.apply(FlockOperation::LockShared)
    }

    /// Blocks until the exclusive lock is held (converting a shared one).
    pub(crate) fn lock_exclusive(&self) -> Result<()> {
        self.apply(FlockOperation::LockExclusive)
    }

    /// Takes the exclusive lock if nobody else holds the file locked.
    pub(crate) fn try_lock_exclusive(&self) -> Result<bool> {
        try_exclusive(&self.file).at("lock", &self.path)
    }

    fn apply(&self, op: FlockOperation) -> Result<()> {
        loop {
            match flock(&self.file, op) {
                Ok(()) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io::Error::from(e)).at("lock", &self.path),
            }
        }
    }
}

/// Blocking exclusive flock on an open file.
pub(crate) fn exclusive(file: &File) -> io::Result<()> {
    loop {
        match flock(file, FlockOperation::LockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Non-blocking exclusive flock on an open file: `Ok(false)` if another
/// open file description holds a lock on it.
pub(crate) fn try_exclusive(file: &File) -> io::Result<bool> {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_lock_excludes_other_descriptors_in_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let a = LockFile::open(&path).unwrap();
        let b = LockFile::open(&path).unwrap();
        a.lock_shared().unwrap();
        b.lock_shared().unwrap();
        assert!(!a.try_lock_exclusive().unwrap(), "b holds it shared");
        drop(b);
        assert!(
            a.try_lock_exclusive().unwrap(),
            "converts shared -> exclusive"
        );
        let c = LockFile::open(&path).unwrap();
        assert!(!c.try_lock_exclusive().unwrap());
        a.lock_shared().unwrap();
        assert!(!c.try_lock_exclusive().unwrap());
        drop(a);
        assert!(c.try_lock_exclusive().unwrap());
    }
}
