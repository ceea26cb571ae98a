//! Garbage collection: what `kiln prune` deletes, and what `kiln du`
//! reports as reclaimable.
//!
//! GC never deletes what a tag needs: the manifests, configs and layer
//! blobs reachable from tags (see [`inventory`](super::inventory)) and
//! anything with a non-zero reference count are kept whatever the options.
//! Everything else is cache, deleted least recently used first:
//!
//! - the *units* of cache are records (a solved step's chain, a `diff:`
//!   record of an extracted layer); a snapshot lives while a kept record
//!   names it, and a blob while a kept record or a tag needs it;
//! - without `all`, snapshots holding a tagged image's layers (by diff id)
//!   and the records made only of them are kept, as BuildKit keeps cache
//!   shared with images unless `--all`;
//! - `keep_bytes` stops deleting once the cache (snapshots plus blobs no
//!   tag needs) fits; unreferenced snapshots and blobs (dangling images
//!   among them) and unreadable records always go.
//!
//! [`prune`] runs under [`ExclusiveLock`]: no other kiln process has the
//! store open, so nothing it deletes can be in use, and a build started
//! meanwhile waits in [`Store::open`]. Deletion order keeps the store
//! consistent at every instant: records first, then snapshots, then blobs
//! (a crash leaves garbage, never a record naming something gone).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::digest::Digest;
use super::error::{Result, StoreError};
use super::inventory::{image_refs, Inventory, Refers};
use super::snapshots::{SnapshotId, SnapshotState};
use super::{ExclusiveLock, Store};

/// What to prune.
#[derive(Debug, Clone, Copy, Default)]
pub struct PruneOptions {
    /// Also the cache shared with tagged images.
    pub all: bool,
    /// Keep up to this many bytes of cache (least recently used go first).
    pub keep_bytes: Option<u64>,
}

/// What a prune deletes (or deleted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Cache record keys.
    pub records: Vec<String>,
    /// Snapshots and their sizes.
    pub snapshots: Vec<(SnapshotId, u64)>,
    /// Blobs and their sizes.
    pub blobs: Vec<(Digest, u64)>,
    /// Image ids (config digests) of the untagged images whose manifests
    /// are among `blobs`.
    pub images: Vec<Digest>,
}

impl Plan {
    /// Bytes freed.
    pub fn reclaimed(&self) -> u64 {
        self.snapshots.iter().map(|s| s.1).sum::<u64>()
            + self.blobs.iter().map(|b| b.1).sum::<u64>()
    }
}

/// Deletes what [`plan`] selects; returns it.
pub fn prune(lock: &ExclusiveLock<'_>, opts: PruneOptions) -> Result<Plan> {
    let store = lock.store;
    lock.cleanup()?;
    let inv = Inventory::load(store)?;
    let sizes = snapshot_sizes(store, &inv)?;
    let plan = plan(store, &inv, &sizes, opts);
    execute(store, &plan)?;
    Ok(plan)
}

/// Deletes records, then snapshots, then blobs (see the module docs).
fn execute(store: &Store, plan: &Plan) -> Result<()> {
    store.transaction(|tx| {
        plan.records
            .iter()
            .try_for_each(|key| tx.cache_remove(key).map(drop))
    })?;
    for (id, _) in &plan.snapshots {
        match store.snapshots().remove(*id) {
            Ok(()) | Err(StoreError::SnapshotNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    for (digest, _) in &plan.blobs {
        store.content().delete(digest)?;
    }
    Ok(())
}

/// Every committed snapshot's size, measuring (and recording) the ones
/// committed without one.
pub fn snapshot_sizes(store: &Store, inv: &Inventory) -> Result<BTreeMap<SnapshotId, u64>> {
    let mut sizes = BTreeMap::new();
    let mut measured = Vec::new();
    for (&id, record) in &inv.snapshots {
        if record.state != SnapshotState::Committed {
            continue;
        }
        let size = if record.size > 0 {
            record.size
        } else {
            let size = disk_usage(&store.snapshots().path(id));
            measured.push((id, size));
            size
        };
        sizes.insert(id, size);
    }
    if !measured.is_empty() {
        // Best effort: a size is only a cache of a measurement.
        let _ = store.transaction(|tx| {
            measured
                .iter()
                .try_for_each(|&(id, size)| tx.snapshot_set_size(id, size).map(drop))
        });
    }
    Ok(sizes)
}

/// Bytes a directory tree occupies on disk (hard links counted once).
pub fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut seen = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        total += meta.blocks() * 512;
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    total
}

/// Chooses what to delete; see the module docs.
pub fn plan(
    store: &Store,
    inv: &Inventory,
    sizes: &BTreeMap<SnapshotId, u64>,
    opts: PruneOptions,
) -> Plan {
    let roots = Roots::of(store, inv, opts.all);
    let mut gc = Collector::new(inv, sizes, &roots);
    gc.sweep_unreferenced();
    let mut units = gc.removable_units();
    units.sort_by_key(|&i| inv.records[i].last_used);
    for i in units {
        if opts.keep_bytes.is_some_and(|keep| gc.cache_bytes <= keep) {
            break;
        }
        gc.remove_unit(i);
    }
    let mut plan = gc.plan;
    plan.images = untagged_images(store, &plan.blobs);
    plan
}

/// What is kept whatever the options, and what `all` decides.
struct Roots {
    /// Blobs tags need, and pinned blobs.
    blobs: BTreeSet<Digest>,
    /// Blobs tags need.
    tagged: BTreeSet<Digest>,
    /// Pinned snapshots, and (without `all`) those holding tagged layers.
    snapshots: BTreeSet<SnapshotId>,
}

impl Roots {
    fn of(store: &Store, inv: &Inventory, all: bool) -> Roots {
        let usable = |d: &Digest| inv.blobs.contains_key(d);
        let mut tagged = BTreeSet::new();
        let mut diff_ids = BTreeSet::new();
        for (_, manifest) in inv.good_tags() {
            let refs = image_refs(store.content(), manifest, &usable);
            tagged.extend(refs.blobs);
            diff_ids.extend(refs.diff_ids);
        }
        let blobs = tagged.union(&inv.pinned_blobs).cloned().collect();
        let mut snapshots = inv.pinned_snapshots.clone();
        if !all {
            for record in &inv.records {
                let Ok(refers) = &record.refers else { continue };
                if refers
                    .diff_id
                    .as_ref()
                    .is_some_and(|d| diff_ids.contains(d))
                {
                    snapshots.extend(refers.owner.iter().chain(&refers.snapshots));
                }
            }
        }
        Roots {
            blobs,
            tagged,
            snapshots,
        }
    }
}

/// Reference counting over the inventory, as records are removed.
struct Collector<'a> {
    inv: &'a Inventory,
    sizes: &'a BTreeMap<SnapshotId, u64>,
    roots: &'a Roots,
    /// Kept records naming each snapshot.
    snapshot_refs: HashMap<SnapshotId, usize>,
    /// Kept records naming each blob.
    blob_refs: HashMap<Digest, usize>,
    /// `layer:` records by the snapshot they belong to.
    attached: HashMap<SnapshotId, Vec<usize>>,
    /// Records still kept.
    kept: Vec<bool>,
    freed_snapshots: BTreeSet<SnapshotId>,
    freed_blobs: BTreeSet<Digest>,
    /// Snapshots plus blobs no root needs, still kept.
    cache_bytes: u64,
    plan: Plan,
}

impl<'a> Collector<'a> {
    fn new(inv: &'a Inventory, sizes: &'a BTreeMap<SnapshotId, u64>, roots: &'a Roots) -> Self {
        let mut gc = Collector {
            inv,
            sizes,
            roots,
            snapshot_refs: HashMap::new(),
            blob_refs: HashMap::new(),
            attached: HashMap::new(),
            kept: vec![true; inv.records.len()],
            freed_snapshots: BTreeSet::new(),
            freed_blobs: BTreeSet::new(),
            cache_bytes: 0,
            plan: Plan::default(),
        };
        gc.cache_bytes = sizes.values().sum::<u64>()
            + inv
                .blobs
                .iter()
                .filter(|(d, _)| !roots.blobs.contains(*d))
                .map(|(_, s)| s)
                .sum::<u64>();
        for (i, record) in inv.records.iter().enumerate() {
            match &record.refers {
                Ok(refers) if gc.resolves(refers) => gc.count(i, refers),
                // Unreadable, or naming a snapshot that is gone: useless.
                _ => gc.drop_record(i),
            }
        }
        gc
    }

    /// A strict record's snapshots all exist.
    fn resolves(&self, refers: &Refers) -> bool {
        let exists = |id: &SnapshotId| self.sizes.contains_key(id);
        match refers.owner {
            Some(owner) => exists(&owner),
            None => !refers.strict || refers.snapshots.iter().all(exists),
        }
    }

    fn count(&mut self, i: usize, refers: &Refers) {
        match refers.owner {
            Some(owner) => self.attached.entry(owner).or_default().push(i),
            None => {
                for id in &refers.snapshots {
                    *self.snapshot_refs.entry(*id).or_default() += 1;
                }
            }
        }
        for blob in &refers.blobs {
            *self.blob_refs.entry(blob.clone()).or_default() += 1;
        }
    }

    fn drop_record(&mut self, i: usize) {
        if std::mem::replace(&mut self.kept[i], false) {
            self.plan.records.push(self.inv.records[i].key.clone());
        }
    }

    /// Frees snapshots and blobs that no kept record or root names.
    fn sweep_unreferenced(&mut self) {
        let ids: Vec<SnapshotId> = self.sizes.keys().copied().collect();
        for id in ids {
            self.release_snapshot(id);
        }
        let blobs: Vec<Digest> = self.inv.blobs.keys().cloned().collect();
        for digest in blobs {
            self.release_blob(&digest);
        }
    }

    /// Kept records that may go, by index: not `layer:` attachments, and
    /// not made only of roots.
    fn removable_units(&self) -> Vec<usize> {
        (0..self.inv.records.len())
            .filter(|&i| self.kept[i])
            .filter(|&i| {
                let Ok(refers) = &self.inv.records[i].refers else {
                    return false;
                };
                let rooted = (!refers.snapshots.is_empty() || !refers.blobs.is_empty())
                    && refers
                        .snapshots
                        .iter()
                        .all(|s| self.roots.snapshots.contains(s))
                    && refers.blobs.iter().all(|b| self.roots.blobs.contains(b));
                refers.owner.is_none() && !rooted
            })
            .collect()
    }

    fn remove_unit(&mut self, i: usize) {
        self.drop_record(i);
        let Ok(refers) = &self.inv.records[i].refers else {
            return;
        };
        for id in &refers.snapshots {
            if let Some(n) = self.snapshot_refs.get_mut(id) {
                *n -= 1;
            }
            self.release_snapshot(*id);
        }
        for blob in &refers.blobs {
            self.unref_blob(blob);
        }
    }

    fn release_snapshot(&mut self, id: SnapshotId) {
        let referenced = self.snapshot_refs.get(&id).is_some_and(|&n| n > 0);
        let Some(&size) = self.sizes.get(&id) else {
            return;
        };
        if referenced || self.roots.snapshots.contains(&id) || !self.freed_snapshots.insert(id) {
            return;
        }
        self.plan.snapshots.push((id, size));
        self.cache_bytes -= size;
        for i in self.attached.remove(&id).unwrap_or_default() {
            self.drop_record(i);
            if let Ok(refers) = &self.inv.records[i].refers {
                for blob in &refers.blobs {
                    self.unref_blob(blob);
                }
            }
        }
    }

    fn unref_blob(&mut self, digest: &Digest) {
        if let Some(n) = self.blob_refs.get_mut(digest) {
            *n = n.saturating_sub(1);
        }
        self.release_blob(digest);
    }

    fn release_blob(&mut self, digest: &Digest) {
        let referenced = self.blob_refs.get(digest).is_some_and(|&n| n > 0);
        let Some(&size) = self.inv.blobs.get(digest) else {
            return;
        };
        if referenced
            || self.roots.blobs.contains(digest)
            || !self.freed_blobs.insert(digest.clone())
        {
            return;
        }
        self.plan.blobs.push((digest.clone(), size));
        self.cache_bytes -= size;
    }
}

/// Config digests of the image manifests among `blobs`.
fn untagged_images(store: &Store, blobs: &[(Digest, u64)]) -> Vec<Digest> {
    #[derive(serde::Deserialize)]
    struct ManifestDoc {
        config: ConfigRef,
        layers: Vec<serde_json::Value>,
    }
    #[derive(serde::Deserialize)]
    struct ConfigRef {
        digest: Digest,
    }
    let mut out = Vec::new();
    for (digest, size) in blobs {
        if *size > 1 << 20 {
            continue;
        }
        let Ok(file) = store.content().open(digest) else {
            continue;
        };
        let mut bytes = Vec::new();
        if file.take(1 << 20).read_to_end(&mut bytes).is_err() || bytes.first() != Some(&b'{') {
            continue;
        }
        if let Ok(m) = serde_json::from_slice::<ManifestDoc>(&bytes) {
            let _ = m.layers;
            out.push(m.config.digest);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Cache usage, for `kiln du`.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub snapshots: Vec<SnapshotUsage>,
    pub records: usize,
    pub blobs: usize,
    pub blob_bytes: u64,
    /// Blobs tags need (images).
    pub image_blobs: usize,
    pub image_bytes: u64,
    /// What `prune` would free.
    pub reclaimable: u64,
    /// What `prune --all` would free.
    pub reclaimable_all: u64,
}

/// One snapshot in [`Usage`].
#[derive(Debug, Clone)]
pub struct SnapshotUsage {
    pub id: SnapshotId,
    pub size: u64,
    pub created: u64,
    pub last_used: u64,
    pub parent: Option<SnapshotId>,
    /// Holds a tagged image's layer (kept by `prune` without `--all`).
    pub shared: bool,
    /// `prune` would delete it.
    pub reclaimable: bool,
    /// Cache records naming it.
    pub records: Vec<String>,
}

/// Measures the store's cache (without the exclusive lock: a concurrent
/// build may make the numbers slightly stale).
pub fn usage(store: &Store) -> Result<Usage> {
    let inv = Inventory::load(store)?;
    let sizes = snapshot_sizes(store, &inv)?;
    let default = plan(store, &inv, &sizes, PruneOptions::default());
    let all = plan(
        store,
        &inv,
        &sizes,
        PruneOptions {
            all: true,
            keep_bytes: None,
        },
    );
    let roots = Roots::of(store, &inv, false);
    let tagged = &roots.tagged;
    let freed: BTreeSet<SnapshotId> = default.snapshots.iter().map(|s| s.0).collect();
    let mut names: HashMap<SnapshotId, Vec<String>> = HashMap::new();
    for record in &inv.records {
        if let Ok(refers) = &record.refers {
            for id in refers.owner.iter().chain(&refers.snapshots) {
                names.entry(*id).or_default().push(record.key.clone());
            }
        }
    }
    let snapshots = sizes
        .iter()
        .map(|(&id, &size)| {
            let record = &inv.snapshots[&id];
            SnapshotUsage {
                id,
                size,
                created: record.created,
                last_used: record.last_used,
                parent: record.parent,
                shared: roots.snapshots.contains(&id),
                reclaimable: freed.contains(&id),
                records: names.remove(&id).unwrap_or_default(),
            }
        })
        .collect();
    Ok(Usage {
        snapshots,
        records: inv.records.len(),
        blobs: inv.blobs.len(),
        blob_bytes: inv.blobs.values().sum(),
        image_blobs: inv.blobs.keys().filter(|d| tagged.contains(*d)).count(),
        image_bytes: inv
            .blobs
            .iter()
            .filter(|(d, _)| tagged.contains(*d))
            .map(|(_, s)| s)
            .sum(),
        reclaimable: default.reclaimed(),
        reclaimable_all: all.reclaimed(),
    })
}

/// Deletes those of `candidates` (say, an untagged image's manifest,
/// config and layers) that nothing needs any more: no tag, record or
/// reference count. Returns what was deleted. For `kiln rmi`.
pub fn remove_unreferenced(
    lock: &ExclusiveLock<'_>,
    candidates: &[Digest],
) -> Result<Vec<(Digest, u64)>> {
    let store = lock.store;
    let inv = Inventory::load(store)?;
    let roots = Roots::of(store, &inv, true);
    let named: BTreeSet<&Digest> = inv
        .records
        .iter()
        .filter_map(|r| r.refers.as_ref().ok())
        .flat_map(|r| &r.blobs)
        .collect();
    let mut deleted = Vec::new();
    for digest in candidates {
        if roots.blobs.contains(digest) || named.contains(digest) {
            continue;
        }
        if let Some(&size) = inv.blobs.get(digest) {
            if store.content().delete(digest)? {
                deleted.push((digest.clone(), size));
            }
        }
    }
    Ok(deleted)
}
