//! The on-disk stores under `$KILN_ROOT`.
//!
//! ```text
//! $KILN_ROOT/
//!   lock                  store lock (flock): shared by every open Store,
//!                         exclusive for GC and crash recovery
//!   blobs/sha256/<hex>    content store: immutable, verified blobs
//!   ingest/<random>       blobs being written (temp files)
//!   snapshots/<id>/       layer diffs; <id> is a short base-36 counter
//!   meta.redb             metadata database: cache records, tags,
//!                         refcounts, snapshot records, last-used times
//! ```
//!
//! The root is [`default_root`]: `$KILN_ROOT`, else `/var/lib/kiln` for
//! root, else `$XDG_DATA_HOME/kiln` or `~/.local/share/kiln`.
//!
//! # Crash safety
//!
//! A `kill -9` at any instant leaves a store the next build can use:
//!
//! - **Blobs** are written to `ingest/`, hashed, verified, fsync'ed and
//!   renamed into `blobs/` ([`content`]): a blob is visible complete or not
//!   at all. A dead writer leaves a temp file, removed later (its flock is
//!   free).
//! - **Metadata** changes are redb transactions: atomic and durable, one
//!   transaction at a time across all processes ([`meta`]).
//! - **Snapshots** are recorded as `Preparing` before their directory
//!   exists and as `Committed` only once complete ([`snapshots`]); the
//!   leftovers of a crash are deleted by recovery.
//! - Cross-references are ordered so that a crash leaves garbage, never a
//!   dangling reference: store the blob or commit the snapshot *before*
//!   the cache record or tag naming it. Garbage is found by GC.
//!
//! # Several processes
//!
//! Any number of kiln processes may open one store. Each open [`Store`]
//! holds `lock` shared for its whole life. When [`Store::open`] finds
//! nobody else holding it, it takes it exclusively for a moment and
//! recovers: deletes incomplete snapshots and every orphaned temp file.
//! Otherwise it only deletes temp files older than [`STALE_INGEST`]. GC
//! calls [`Store::lock_exclusive`], which waits until it is the only
//! `Store` open, so nothing it deletes can be in use ([`gc`], and the
//! store check in [`check`]).
//!
//! Open **one `Store` per process** and share it (`Arc<Store>`; it is
//! `Sync`): a second handle in the same process would make
//! `lock_exclusive` wait for itself.

pub mod check;
pub mod content;
pub mod digest;
pub mod error;
pub mod gc;
pub mod inventory;
mod lock;
pub mod meta;
pub mod snapshots;

#[cfg(test)]
mod gc_tests;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use content::{BlobInfo, BlobWriter, ContentStore};
pub use digest::{Digest, ParseDigestError};
pub use error::{Result, StoreError};
pub use meta::{CacheEntry, Meta, MetaRead, MetaTx, Ref, Tag, Touch};
pub use snapshots::{SnapshotId, SnapshotRecord, SnapshotState, Snapshots};

use error::IoContext;
use lock::LockFile;

/// Temp files in `ingest/` untouched for this long, and not locked by a
/// writer, are deleted by any process opening the store.
pub const STALE_INGEST: Duration = Duration::from_secs(15 * 60);

/// An open store. See the [module docs](self).
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    content: ContentStore,
    snapshots: Snapshots,
    meta: Arc<Meta>,
    lock: LockFile,
}

/// What [`ExclusiveLock::cleanup`] (or startup recovery) deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleanup {
    /// Temp files of dead writers.
    pub ingest_files: usize,
    /// Snapshots left `Preparing` or `Removing` by a crash.
    pub incomplete_snapshots: usize,
    /// Snapshot directories without a record.
    pub orphan_snapshot_dirs: usize,
}

impl Store {
    /// Opens the store at `root`, creating the layout and the database as
    /// needed, and recovers from crashes when no other process has it
    /// open. Blocks while another process holds
    /// [`lock_exclusive`](Self::lock_exclusive).
    pub fn open(root: &Path) -> Result<Store> {
        let layout = Layout::new(root);
        layout.create()?;
        let lock = LockFile::open(&layout.lock)?;
        let alone = lock.try_lock_exclusive()?;
        if !alone {
            lock.lock_shared()?;
        }
        let meta = Arc::new(Meta::open(&layout.meta)?);
        let store = Store {
            root: root.to_path_buf(),
            content: ContentStore::new(layout.blobs, layout.ingest),
            snapshots: Snapshots::new(layout.snapshots, meta.clone()),
            meta,
            lock,
        };
        if alone {
            // Best effort: a failure here must not make the store
            // unusable; whatever is left is retried next time.
            let _ = store.recover(Duration::ZERO);
            store.lock.lock_shared()?;
        } else {
            let _ = store.content.clean_ingest(STALE_INGEST);
        }
        Ok(store)
    }

    /// Opens the store at [`default_root`].
    pub fn open_default() -> Result<Store> {
        Store::open(&default_root()?)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Blobs: write, read, stat, walk, delete.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// Snapshot directories.
    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    /// The metadata database: cache records, tags, refcounts.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Groups metadata writes in one atomic transaction; see
    /// [`Meta::transaction`].
    pub fn transaction<T, E>(&self, f: impl FnOnce(&mut MetaTx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.meta.transaction(f)
    }

    /// Writes pending last-used times (call at the end of a build; also
    /// done on drop).
    pub fn flush(&self) -> Result<()> {
        self.meta.flush()
    }

    /// Waits until this is the only open `Store` (in any process), and
    /// keeps others from opening until the guard is dropped. For GC.
    /// Call it with no snapshot of this handle in `Preparing`.
    pub fn lock_exclusive(&self) -> Result<ExclusiveLock<'_>> {
        self.lock.lock_exclusive()?;
        Ok(ExclusiveLock { store: self })
    }

    /// [`lock_exclusive`](Self::lock_exclusive) without waiting: `None`
    /// if another `Store` is open.
    pub fn try_lock_exclusive(&self) -> Result<Option<ExclusiveLock<'_>>> {
        if self.lock.try_lock_exclusive()? {
            Ok(Some(ExclusiveLock { store: self }))
        } else {
            Ok(None)
        }
    }

    fn recover(&self, ingest_age: Duration) -> Result<Cleanup> {
        Ok(Cleanup {
            ingest_files: self.content.clean_ingest(ingest_age)?,
            incomplete_snapshots: self.snapshots.recover()?,
            orphan_snapshot_dirs: 0,
        })
    }
}

/// Proof that the holder is the only open [`Store`]. Dropping it returns
/// to the shared lock.
#[derive(Debug)]
pub struct ExclusiveLock<'a> {
    store: &'a Store,
}

impl ExclusiveLock<'_> {
    /// Deletes everything a crash can leave: temp files, incomplete
    /// snapshots, and snapshot directories that have no record. Blobs and
    /// committed snapshots are GC's business (refcounts, last-used).
    pub fn cleanup(&self) -> Result<Cleanup> {
        let mut report = self.store.recover(Duration::ZERO)?;
        report.orphan_snapshot_dirs = self.store.snapshots.remove_orphans()?;
        Ok(report)
    }
}

impl Drop for ExclusiveLock<'_> {
    fn drop(&mut self) {
        // If this fails the lock stays exclusive until the Store is
        // dropped: others wait, nothing breaks.
        let _ = self.store.lock.lock_shared();
    }
}

/// The paths under a root.
struct Layout {
    lock: PathBuf,
    blobs: PathBuf,
    ingest: PathBuf,
    snapshots: PathBuf,
    meta: PathBuf,
}

impl Layout {
    fn new(root: &Path) -> Layout {
        Layout {
            lock: root.join("lock"),
            blobs: root.join("blobs").join("sha256"),
            ingest: root.join("ingest"),
            snapshots: root.join("snapshots"),
            meta: root.join("meta.redb"),
        }
    }

    fn create(&self) -> Result<()> {
        for dir in [&self.blobs, &self.ingest, &self.snapshots] {
            fs::create_dir_all(dir).at("create directory", dir)?;
        }
        Ok(())
    }
}

/// The store root: `$KILN_ROOT`, else `/var/lib/kiln` when running as
/// root, else `$XDG_DATA_HOME/kiln`, else `$HOME/.local/share/kiln`.
pub fn default_root() -> Result<PathBuf> {
    let euid_is_root = rustix::process::geteuid().is_root();
    root_from(|name| std::env::var_os(name), euid_is_root)
}

fn root_from(var: impl Fn(&str) -> Option<OsString>, euid_is_root: bool) -> Result<PathBuf> {
    let set = |name| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(root) = set("KILN_ROOT") {
        return Ok(root);
    }
    if euid_is_root {
        return Ok(PathBuf::from("/var/lib/kiln"));
    }
    // The XDG spec says to ignore relative paths.
    if let Some(data) = set("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Ok(data.join("kiln"));
    }
    match set("HOME") {
        Some(home) => Ok(home.join(".local/share/kiln")),
        None => Err(StoreError::NoDefaultRoot),
    }
}
