//! The store check behind `kiln doctor`: every blob's digest verified,
//! every reference resolvable —
//!
//! - tag -> manifest (or index -> manifests) -> config and layer blobs;
//! - cache record -> snapshots (committed, directory present) and blobs;
//! - reference counts -> the blob or snapshot they pin;
//!
//! and, with [`repair`], what is broken dropped so the next build works:
//! a damaged blob is deleted, then every tag, record and count naming
//! something unusable is removed, and a snapshot whose directory is gone
//! is forgotten. A tag whose image is broken is lost (rebuild or reload
//! it); cache records are only cache.
//!
//! Runs under [`ExclusiveLock`], after the crash recovery every store open
//! does ([`ExclusiveLock::cleanup`]): temp files and incomplete snapshots
//! are normal after a crash, not problems.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::digest::Digest;
use super::error::{IoContext, Result, StoreError};
use super::inventory::{image_refs, Inventory};
use super::lock::LockFile;
use super::snapshots::{SnapshotId, SnapshotState};
use super::{Cleanup, ExclusiveLock, Store};

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub subject: Subject,
    /// What is wrong, as a sentence fragment.
    pub detail: String,
}

/// What a problem is about; repairing removes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    Blob(Digest),
    Tag(String),
    Record(String),
    Snapshot(SnapshotId),
    Ref(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Blob(d) => write!(f, "blob {d}"),
            Subject::Tag(name) => write!(f, "tag {name}"),
            Subject::Record(key) => write!(f, "cache record {key}"),
            Subject::Snapshot(id) => write!(f, "snapshot {id}"),
            Subject::Ref(key) => write!(f, "reference count {key}"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.detail)
    }
}

/// What [`check`] looked at and found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub problems: Vec<Problem>,
    /// Crash leftovers deleted before checking.
    pub cleanup: Cleanup,
    pub blobs: usize,
    pub tags: usize,
    pub records: usize,
    pub snapshots: usize,
}

/// Checks the whole store; `verify_blobs` re-hashes every blob (reads
/// everything), else only their presence is checked.
pub fn check(lock: &ExclusiveLock<'_>, verify_blobs: bool) -> Result<Report> {
    let store = lock.store;
    let cleanup = lock.cleanup()?;
    let inv = Inventory::load(store)?;
    let mut problems = Vec::new();
    let bad = if verify_blobs {
        damaged_blobs(store, &inv, &mut problems)?
    } else {
        BTreeSet::new()
    };
    let usable = |d: &Digest| inv.blobs.contains_key(d) && !bad.contains(d);
    check_tags(store, &inv, &usable, &mut problems);
    let broken = check_snapshots(store, &inv, &mut problems);
    let live = |id: &SnapshotId| {
        inv.snapshots
            .get(id)
            .is_some_and(|r| r.state == SnapshotState::Committed)
            && !broken.contains(id)
    };
    check_records(&inv, &usable, &live, &mut problems);
    check_refs(&inv, &usable, &live, &mut problems);
    Ok(Report {
        problems,
        cleanup,
        blobs: inv.blobs.len(),
        tags: inv.tags.len(),
        records: inv.records.len(),
        snapshots: inv.snapshots.len(),
    })
}

fn damaged_blobs(
    store: &Store,
    inv: &Inventory,
    problems: &mut Vec<Problem>,
) -> Result<BTreeSet<Digest>> {
    let mut bad = BTreeSet::new();
    for digest in inv.blobs.keys() {
        let detail = match store.content().verify(digest) {
            Ok(()) => continue,
            // Deleted meanwhile: not damage (and not possible under the lock).
            Err(StoreError::BlobNotFound { .. }) => continue,
            Err(StoreError::DigestMismatch { actual, .. }) => {
                format!("content does not match its name (it hashes to {actual})")
            }
            Err(e) => format!("cannot be read: {e}"),
        };
        bad.insert(digest.clone());
        problems.push(Problem {
            subject: Subject::Blob(digest.clone()),
            detail,
        });
    }
    Ok(bad)
}

fn check_tags(
    store: &Store,
    inv: &Inventory,
    usable: &dyn Fn(&Digest) -> bool,
    problems: &mut Vec<Problem>,
) {
    for (name, tag) in &inv.tags {
        let detail = match tag {
            Err(e) => format!("unreadable: {e}"),
            Ok(tag) => {
                let refs = image_refs(store.content(), &tag.digest, usable);
                if refs.broken.is_empty() {
                    continue;
                }
                refs.broken.join("; ")
            }
        };
        problems.push(Problem {
            subject: Subject::Tag(name.clone()),
            detail,
        });
    }
}

/// Committed snapshots whose directory is gone.
fn check_snapshots(
    store: &Store,
    inv: &Inventory,
    problems: &mut Vec<Problem>,
) -> BTreeSet<SnapshotId> {
    let mut broken = BTreeSet::new();
    for (&id, record) in &inv.snapshots {
        let detail = if record.state != SnapshotState::Committed {
            format!(
                "left {} (crash recovery did not finish)",
                record.state.name()
            )
        } else if !store
            .snapshots()
            .path(id)
            .join(crate::solve::SNAPSHOT_FS)
            .is_dir()
        {
            "its directory is missing".to_string()
        } else {
            continue;
        };
        broken.insert(id);
        problems.push(Problem {
            subject: Subject::Snapshot(id),
            detail,
        });
    }
    broken
}

fn check_records(
    inv: &Inventory,
    usable: &dyn Fn(&Digest) -> bool,
    live: &dyn Fn(&SnapshotId) -> bool,
    problems: &mut Vec<Problem>,
) {
    for record in &inv.records {
        let detail = match &record.refers {
            Err(e) => format!("unreadable: {e}"),
            Ok(refers) if refers.strict => {
                let mut missing: Vec<String> = refers
                    .snapshots
                    .iter()
                    .chain(&refers.owner)
                    .filter(|id| !live(id))
                    .map(|id| format!("snapshot {id}"))
                    .collect();
                missing.extend(
                    refers
                        .blobs
                        .iter()
                        .filter(|d| !usable(d))
                        .map(|d| format!("blob {d}")),
                );
                if missing.is_empty() {
                    continue;
                }
                format!("names what is missing or broken: {}", missing.join(", "))
            }
            Ok(_) => continue,
        };
        problems.push(Problem {
            subject: Subject::Record(record.key.clone()),
            detail,
        });
    }
}

fn check_refs(
    inv: &Inventory,
    usable: &dyn Fn(&Digest) -> bool,
    live: &dyn Fn(&SnapshotId) -> bool,
    problems: &mut Vec<Problem>,
) {
    let mut add = |key: String, detail: &str| {
        problems.push(Problem {
            subject: Subject::Ref(key),
            detail: detail.to_string(),
        })
    };
    for d in inv.pinned_blobs.iter().filter(|d| !usable(d)) {
        add(d.to_string(), "pins a blob that is missing or damaged");
    }
    for id in inv.pinned_snapshots.iter().filter(|id| !live(id)) {
        add(format!("snapshot:{id}"), "pins a snapshot that is missing");
    }
    for key in &inv.odd_refs {
        add(key.clone(), "names neither a blob nor a snapshot");
    }
}

/// Removes what the problems are about: metadata first (one
/// transaction), then snapshots, then blobs, so no reference ever names
/// something already deleted.
pub fn repair(lock: &ExclusiveLock<'_>, problems: &[Problem]) -> Result<()> {
    let store = lock.store;
    store.transaction(|tx| {
        for p in problems {
            match &p.subject {
                Subject::Tag(name) => tx.tag_delete(name)?,
                Subject::Record(key) => drop(tx.cache_remove(key)?),
                Subject::Ref(key) => tx.ref_clear(key)?,
                Subject::Blob(_) | Subject::Snapshot(_) => {}
            }
        }
        Ok::<_, StoreError>(())
    })?;
    for p in problems {
        match &p.subject {
            Subject::Snapshot(id) => match store.snapshots().remove(*id) {
                Ok(()) | Err(StoreError::SnapshotNotFound { .. }) => {}
                Err(e) => return Err(e),
            },
            Subject::Blob(d) => drop(store.content().delete(d)?),
            _ => {}
        }
    }
    Ok(())
}

/// Moves a metadata database that cannot be opened out of the way (to
/// `meta.redb.broken-<time>`), so the store starts over with no tags and
/// no cache; blobs stay (garbage for `prune` until something uses them
/// again). Waits until no other kiln process has the store open.
pub fn set_aside_database(root: &Path) -> Result<PathBuf> {
    let lock = LockFile::open(&root.join("lock"))?;
    lock.lock_exclusive()?;
    let meta = root.join("meta.redb");
    let aside = root.join(format!("meta.redb.broken-{}", super::meta::now()));
    std::fs::rename(&meta, &aside).at("rename", &meta)?;
    Ok(aside)
}
