//! GC and store check on a store laid out by hand: a tagged image, a
//! dangling one, cache records of every kind, a pinned blob.

use std::fs;

use super::check::{self, Subject};
use super::gc::{self, PruneOptions};
use super::inventory::image_refs;
use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    tagged: Vec<Digest>,
    dangling: Vec<Digest>,
    shared: SnapshotId,
    old: SnapshotId,
    new: SnapshotId,
    orphan: SnapshotId,
    cache_blob: Digest,
    pinned: Digest,
}

fn blob(store: &Store, bytes: &[u8]) -> Digest {
    store.content().write_blob(bytes, None).unwrap()
}

/// Layer, config and manifest blobs of a one-layer image.
fn image(store: &Store, layer: &[u8]) -> Vec<Digest> {
    let layer = blob(store, layer);
    let config = blob(
        store,
        format!(r#"{{"rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#).as_bytes(),
    );
    let manifest = blob(
        store,
        format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{config}","size":1}},"layers":[{{"mediaType":"l","digest":"{layer}","size":1}}]}}"#
        )
        .as_bytes(),
    );
    vec![manifest, config, layer]
}

fn snapshot(store: &Store, parent: Option<SnapshotId>, bytes: usize) -> SnapshotId {
    let (id, dir) = store.snapshots().prepare(parent).unwrap();
    fs::create_dir(dir.join("fs")).unwrap();
    fs::write(dir.join("fs/data"), vec![7u8; bytes]).unwrap();
    store.snapshots().commit(id, 0).unwrap();
    id
}

fn put(store: &Store, key: &str, record: &str, age: u64) {
    store
        .transaction(|tx| {
            tx.set_now(meta::now() - age);
            tx.cache_put(key, record.as_bytes())
        })
        .unwrap();
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let tagged = image(&store, b"tagged layer");
    store.meta().tag_set("app:1", &tagged[0]).unwrap();
    let dangling = image(&store, b"dangling layer");
    let shared = snapshot(&store, None, 10_000);
    let old = snapshot(&store, Some(shared), 20_000);
    let new = snapshot(&store, None, 30_000);
    let orphan = snapshot(&store, None, 1000);
    let cache_blob = blob(&store, b"compressed layer of old");
    let pinned = blob(&store, b"pinned");
    store.meta().ref_inc(Ref::Blob(&pinned)).unwrap();
    put(
        &store,
        &format!("diff:{}", tagged[2]),
        &shared.to_string(),
        100,
    );
    put(&store, "sha256:old", &format!("[{shared},{old}]"), 5000);
    put(
        &store,
        &format!("layer:{old}:Gzip:None"),
        &format!(r#"{{"layer":{{"diff_id":"sha256:x","digest":"{cache_blob}"}}}}"#),
        5000,
    );
    put(&store, "sha256:new", &format!("[{new}]"), 10);
    Fixture {
        _dir: dir,
        store,
        tagged,
        dangling,
        shared,
        old,
        new,
        orphan,
        cache_blob,
        pinned,
    }
}

fn snapshot_ids(store: &Store) -> Vec<SnapshotId> {
    store
        .snapshots()
        .list()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

fn keys(store: &Store) -> Vec<String> {
    let mut keys: Vec<String> = store
        .meta()
        .cache_list()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    keys
}

/// The tagged image is complete and the store checks clean.
fn assert_sound(f: &Fixture) {
    let usable = |d: &Digest| f.store.content().contains(d).unwrap();
    let refs = image_refs(f.store.content(), &f.tagged[0], &usable);
    assert!(refs.broken.is_empty(), "{:?}", refs.broken);
    assert_eq!(refs.blobs.len(), 3);
    assert!(f.store.content().contains(&f.pinned).unwrap());
    let lock = f.store.lock_exclusive().unwrap();
    let report = check::check(&lock, true).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn store_gc_prune_keeps_what_tags_need_and_shared_cache() {
    let f = fixture();
    let lock = f.store.lock_exclusive().unwrap();
    let plan = gc::prune(&lock, PruneOptions::default()).unwrap();
    drop(lock);
    assert_eq!(snapshot_ids(&f.store), [f.shared], "{plan:?}");
    assert_eq!(keys(&f.store), [format!("diff:{}", f.tagged[2])]);
    for d in &f.dangling {
        assert!(!f.store.content().contains(d).unwrap());
    }
    assert!(!f.store.content().contains(&f.cache_blob).unwrap());
    assert_eq!(
        plan.images,
        [f.dangling[1].clone()],
        "the dangling image id"
    );
    for id in [f.old, f.new, f.orphan] {
        assert!(!f.store.snapshots().path(id).exists());
    }
    assert!(plan.reclaimed() >= 61_000, "{}", plan.reclaimed());
    assert_sound(&f);

    let lock = f.store.lock_exclusive().unwrap();
    let all = PruneOptions {
        all: true,
        keep_bytes: None,
    };
    let plan = gc::prune(&lock, all).unwrap();
    drop(lock);
    assert_eq!(plan.snapshots.len(), 1);
    assert!(snapshot_ids(&f.store).is_empty());
    assert!(keys(&f.store).is_empty());
    assert_sound(&f);
    // Nothing left to do.
    let lock = f.store.lock_exclusive().unwrap();
    assert_eq!(gc::prune(&lock, all).unwrap().reclaimed(), 0);
}

#[test]
fn store_gc_keep_storage_drops_least_recently_used_first() {
    let f = fixture();
    let size = |id| gc::disk_usage(&f.store.snapshots().path(id));
    let keep = size(f.shared) + size(f.new) + 100;
    let lock = f.store.lock_exclusive().unwrap();
    let plan = gc::prune(
        &lock,
        PruneOptions {
            all: true,
            keep_bytes: Some(keep),
        },
    )
    .unwrap();
    drop(lock);
    // The orphan and the old chain went; the recent record stays.
    let mut gone: Vec<SnapshotId> = plan.snapshots.iter().map(|s| s.0).collect();
    gone.sort();
    assert_eq!(gone, [f.old, f.orphan]);
    assert!(keys(&f.store).contains(&"sha256:new".to_string()));
    assert!(!keys(&f.store).contains(&"sha256:old".to_string()));
    assert!(!f.store.content().contains(&f.cache_blob).unwrap());
    assert_sound(&f);
}

#[test]
fn store_gc_waits_for_other_processes() {
    let f = fixture();
    let other = Store::open(f.store.root()).unwrap();
    assert!(f.store.try_lock_exclusive().unwrap().is_none());
    drop(other);
    assert!(f.store.try_lock_exclusive().unwrap().is_some());
}

#[test]
fn store_usage_reports_reclaimable_cache() {
    let f = fixture();
    let usage = gc::usage(&f.store).unwrap();
    assert_eq!(usage.snapshots.len(), 4);
    assert_eq!(usage.records, 4);
    let shared = usage.snapshots.iter().find(|s| s.id == f.shared).unwrap();
    assert!(shared.shared && !shared.reclaimable);
    assert!(shared.size >= 10_000);
    assert!(usage.reclaimable > 0 && usage.reclaimable_all > usage.reclaimable);
    assert_eq!(usage.image_blobs, 3);
    // Sizes were measured once and recorded.
    let record = f.store.snapshots().get(f.new).unwrap().unwrap();
    assert!(record.size >= 30_000);
}

#[test]
fn store_check_finds_and_repairs_damage() {
    let f = fixture();
    assert_sound(&f);
    // A damaged layer blob of the tagged image.
    let path = f.store.content().path(&f.tagged[2]);
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"bit rot").unwrap();
    // A chain whose snapshot directory vanished.
    fs::remove_dir_all(f.store.snapshots().path(f.new)).unwrap();
    // An unreadable record of a known kind.
    put(&f.store, "sha256:garbage", "not json", 0);

    let lock = f.store.lock_exclusive().unwrap();
    let report = check::check(&lock, true).unwrap();
    let subjects: Vec<&Subject> = report.problems.iter().map(|p| &p.subject).collect();
    for expected in [
        Subject::Blob(f.tagged[2].clone()),
        Subject::Tag("app:1".into()),
        Subject::Snapshot(f.new),
        Subject::Record("sha256:new".into()),
        Subject::Record("sha256:garbage".into()),
    ] {
        assert!(subjects.contains(&&expected), "{expected}: {subjects:?}");
    }
    assert_eq!(report.problems.len(), 5, "{:?}", report.problems);
    check::repair(&lock, &report.problems).unwrap();
    let again = check::check(&lock, true).unwrap();
    assert!(again.problems.is_empty(), "{:?}", again.problems);
    drop(lock);
    assert_eq!(f.store.meta().tag_get("app:1").unwrap(), None);
    assert!(f.store.snapshots().get(f.new).unwrap().is_none());
}

#[test]
fn store_check_without_verify_trusts_contents() {
    let f = fixture();
    let path = f.store.content().path(&f.dangling[2]);
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"rot").unwrap();
    let lock = f.store.lock_exclusive().unwrap();
    assert!(check::check(&lock, false).unwrap().problems.is_empty());
    assert_eq!(check::check(&lock, true).unwrap().problems.len(), 1);
}
