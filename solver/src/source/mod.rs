//! Remote sources of `ADD`: one file downloaded over HTTP(S) ([`http`])
//! and a git repository checkout ([`git`]), each producing a snapshot that
//! COPY-like file actions read from.
//!
//! Both follow BuildKit's two phases:
//!
//! 1. **resolve** (while the solver computes cache keys): find out what the
//!    source currently is — the content digest of the URL (re-checked with
//!    the ETag each build, downloaded when it changed), or the commit a git
//!    ref points at (`git ls-remote`) — so that every step after the ADD is
//!    keyed by content, not by the URL;
//! 2. **snapshot** (when the vertex runs): the files, in a committed
//!    snapshot of the store.
//!
//! What phase 1 learned is kept in the source itself (a [`OnceLock`]
//! filled once per build), so phase 2 never asks the remote twice.
//! Persistent state lives under `$KILN_ROOT/sources/`: per URL, the last
//! response's ETag and digest; per git remote, a bare repository that
//! later builds fetch into incrementally.
//!
//! [`OnceLock`]: std::sync::OnceLock

pub mod git;
pub mod http;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::store::{SnapshotId, SnapshotState, Store};

pub use git::GitSource;
pub use http::HttpSource;

/// A new snapshot being filled; removed again unless committed.
pub(crate) struct NewSnapshot<'a> {
    store: &'a Store,
    id: SnapshotId,
    /// Its `fs` directory (what file actions see as the root).
    pub fs: PathBuf,
    /// Scratch space beside `fs` on the same filesystem.
    pub dir: PathBuf,
    committed: bool,
}

impl<'a> NewSnapshot<'a> {
    pub fn prepare(store: &'a Store) -> Result<NewSnapshot<'a>, String> {
        let (id, dir) = store
            .snapshots()
            .prepare(None)
            .map_err(|e| format!("preparing a snapshot: {e}"))?;
        let snapshot = NewSnapshot {
            store,
            id,
            fs: crate::solve::snapshot_fs(store, id),
            dir,
            committed: false,
        };
        std::fs::create_dir(&snapshot.fs).map_err(|e| format!("{}: {e}", snapshot.fs.display()))?;
        Ok(snapshot)
    }

    pub fn commit(mut self) -> Result<SnapshotId, String> {
        self.store
            .snapshots()
            .commit(self.id, 0)
            .map_err(|e| format!("committing a snapshot: {e}"))?;
        self.committed = true;
        Ok(self.id)
    }
}

impl Drop for NewSnapshot<'_> {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.store.snapshots().remove(self.id);
        }
    }
}

/// Whether `id` is still a committed snapshot (GC may have removed it).
pub(crate) fn snapshot_exists(store: &Store, id: SnapshotId) -> bool {
    matches!(
        store.snapshots().get(id),
        Ok(Some(record)) if record.state == SnapshotState::Committed
    ) && crate::solve::snapshot_fs(store, id).is_dir()
}

/// `$KILN_ROOT/sources/<kind>/`, created on first use.
pub(crate) fn state_dir(store: &Store, kind: &str) -> Result<PathBuf, String> {
    let dir = store.root().join("sources").join(kind);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// A short stable file name for `parts` (a URL, a remote).
pub(crate) fn name_for(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Writes `data` to `path` atomically (temp file + rename).
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}
