//! Snapshot directories: `snapshots/<id>/`, one per layer diff (an
//! unpacked image layer, or the upper dir of a RUN/COPY step).
//!
//! Ids are a counter allocated in the metadata database and written in
//! base 36 (`1`, `a`, `2s`, ...): an overlay mount with 100+ lowerdirs
//! must fit the mount options in one page, so every byte of a path counts.
//!
//! # Life of a snapshot, and why a crash cannot leave a half-written one
//!
//! 1. [`Snapshots::prepare`] commits a record in state `Preparing` (and its
//!    id in the `snapshot_work` table), *then* creates the directory.
//! 2. The caller fills the directory.
//! 3. [`Snapshots::commit`] (or [`MetaTx::snapshot_commit`] inside a larger
//!    transaction) flips the record to `Committed` and drops it from
//!    `snapshot_work`.
//!
//! Removal runs the other way: mark `Removing`, delete the directory,
//! forget the record. So any directory that may be incomplete is listed in
//! `snapshot_work`, and recovery (at startup when a process has the store
//! to itself, or in [`ExclusiveLock::cleanup`](super::ExclusiveLock::cleanup)) deletes
//! exactly those. A committed record always has a complete directory.
//!
//! Contents are not fsync'ed: a process crash loses nothing (the page
//! cache survives it); a power loss may.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use super::error::{IoContext, Result, StoreError};
use super::meta::{Meta, MetaTx};

/// A snapshot id, shown in base 36. Never 0.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct SnapshotId(u64);

impl SnapshotId {
    pub(crate) fn from_u64(n: u64) -> SnapshotId {
        SnapshotId(n)
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut buf = [0u8; 13]; // 36^13 > 2^64
        let mut n = self.0;
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = DIGITS[(n % 36) as usize];
            n /= 36;
            if n == 0 {
                break;
            }
        }
        f.write_str(std::str::from_utf8(&buf[start..]).expect("ascii"))
    }
}

impl fmt::Debug for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotId({self})")
    }
}

impl FromStr for SnapshotId {
    type Err = StoreError;

    /// Parses the canonical form only (lowercase, no leading zeros), so
    /// one id has one directory name.
    fn from_str(text: &str) -> Result<SnapshotId> {
        let invalid = || StoreError::InvalidSnapshotId {
            text: text.to_string(),
        };
        let canonical = !text.is_empty()
            && !text.starts_with('0')
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z'));
        if !canonical {
            return Err(invalid());
        }
        u64::from_str_radix(text, 36)
            .map(SnapshotId)
            .map_err(|_| invalid())
    }
}

/// Where a snapshot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum SnapshotState {
    /// Directory allocated, being filled; deleted by recovery.
    Preparing = 1,
    /// Complete and usable.
    Committed = 2,
    /// Being deleted; deleted by recovery.
    Removing = 3,
}

impl SnapshotState {
    pub fn name(self) -> &'static str {
        match self {
            SnapshotState::Preparing => "preparing",
            SnapshotState::Committed => "committed",
            SnapshotState::Removing => "removing",
        }
    }
}

/// What the database knows about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotRecord {
    pub state: SnapshotState,
    /// The snapshot this one is a diff on top of.
    #[serde(default)]
    pub parent: Option<SnapshotId>,
    /// Bytes on disk, as given to `commit`.
    #[serde(default)]
    pub size: u64,
    pub created: u64,
    pub last_used: u64,
}

/// The snapshot half of the store.
#[derive(Debug, Clone)]
pub struct Snapshots {
    /// `<root>/snapshots`
    dir: PathBuf,
    meta: Arc<Meta>,
}

impl Snapshots {
    pub(crate) fn new(dir: PathBuf, meta: Arc<Meta>) -> Snapshots {
        Snapshots { dir, meta }
    }

    /// The directory of a snapshot (whether or not it exists).
    pub fn path(&self, id: SnapshotId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Allocates a new, empty snapshot directory to fill, recorded as
    /// `Preparing` until [`commit`](Self::commit).
    pub fn prepare(&self, parent: Option<SnapshotId>) -> Result<(SnapshotId, PathBuf)> {
        let id = self.meta.transaction(|tx| tx.snapshot_create(parent))?;
        let path = self.path(id);
        // The id is new, so anything at `path` is debris (e.g. from a
        // database that was deleted by hand).
        remove_dir(&path)?;
        fs::create_dir(&path).at("create", &path)?;
        Ok((id, path))
    }

    /// Marks a prepared snapshot complete. `size` is its disk usage as the
    /// caller measured it (0 if unknown). Use
    /// [`MetaTx::snapshot_commit`] to commit it together with the cache
    /// record that refers to it.
    pub fn commit(&self, id: SnapshotId, size: u64) -> Result<()> {
        self.meta.transaction(|tx| tx.snapshot_commit(id, size))
    }

    /// The snapshot's record, if it exists.
    pub fn get(&self, id: SnapshotId) -> Result<Option<SnapshotRecord>> {
        self.meta.read(|tx| tx.snapshot_get(id))
    }

    /// Every snapshot record, by id.
    pub fn list(&self) -> Result<Vec<(SnapshotId, SnapshotRecord)>> {
        self.meta.read(|tx| tx.snapshots_list())
    }

    /// Deletes a snapshot (any state) and its directory. Reference counts
    /// are the caller's business.
    pub fn remove(&self, id: SnapshotId) -> Result<()> {
        if !self.meta.transaction(|tx| tx.snapshot_mark_removing(id))? {
            return Err(StoreError::SnapshotNotFound { id });
        }
        self.finish_removal(id)
    }

    /// Deletes the directory of a snapshot marked for removal (or left
    /// `Preparing`), then its record.
    fn finish_removal(&self, id: SnapshotId) -> Result<()> {
        remove_dir(&self.path(id))?;
        self.meta
            .transaction(|tx: &mut MetaTx| tx.snapshot_delete(id))
    }

    /// Deletes every snapshot that is not committed. Only safe while no
    /// other handle can be preparing one: under the exclusive store lock.
    pub(crate) fn recover(&self) -> Result<usize> {
        let work = self.meta.read(|tx| tx.snapshot_work())?;
        for &id in &work {
            self.meta
                .transaction(|tx: &mut MetaTx| tx.snapshot_mark_removing(id).map(drop))?;
            self.finish_removal(id)?;
        }
        Ok(work.len())
    }

    /// Deletes directories under `snapshots/` that have no record (debris
    /// of a deleted database). Names that are not snapshot ids are left
    /// alone. Only safe under the exclusive store lock.
    pub(crate) fn remove_orphans(&self) -> Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir).at("list", &self.dir)? {
            let entry = entry.at("list", &self.dir)?;
            let Some(id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if self.get(id)?.is_none() {
                remove_dir(&entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// `rm -rf`, fine if already gone.
fn remove_dir(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_snapshot_ids_are_short_base36() {
        for (n, text) in [
            (1, "1"),
            (35, "z"),
            (36, "10"),
            (1295, "zz"),
            (u64::MAX, "3w5e11264sgsf"),
        ] {
            let id = SnapshotId(n);
            assert_eq!(id.to_string(), text);
            assert_eq!(text.parse::<SnapshotId>().unwrap(), id);
        }
        for bad in ["", "0", "01", "A", "-1", "a/b", "..", "3w5e11264sgsg"] {
            assert!(bad.parse::<SnapshotId>().is_err(), "{bad}");
        }
    }
}
