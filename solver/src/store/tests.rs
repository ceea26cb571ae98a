//! Store tests: the API, damaged files, and — with helper processes that
//! re-run this test binary — `kill -9` at random instants and concurrent
//! writers.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use super::*;

fn open_temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn read_blob(store: &Store, digest: &Digest) -> Vec<u8> {
    let mut bytes = Vec::new();
    store
        .content()
        .open(digest)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

/// A deterministic byte stream (splitmix64), so blobs can be regenerated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    nanos ^ (u64::from(std::process::id()) << 32)
}

// ----- layout and root ---------------------------------------------------

#[test]
fn store_open_creates_layout() {
    let (dir, store) = open_temp();
    for path in ["blobs/sha256", "ingest", "snapshots"] {
        assert!(dir.path().join(path).is_dir(), "{path}");
    }
    assert!(dir.path().join("meta.redb").is_file());
    assert!(dir.path().join("lock").is_file());
    assert_eq!(store.root(), dir.path());
    drop(store);
    // Reopening an existing store works and keeps data.
    let store = Store::open(dir.path()).unwrap();
    store.meta().cache_put("k", b"v").unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.meta().cache_get("k").unwrap().unwrap().record, b"v");
}

#[test]
fn store_default_root_resolution() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| std::ffi::OsString::from(v))
        }
    };
    let all = env(&[("KILN_ROOT", "/k"), ("XDG_DATA_HOME", "/x"), ("HOME", "/h")]);
    assert_eq!(root_from(all, false).unwrap(), Path::new("/k"));
    assert_eq!(root_from(all, true).unwrap(), Path::new("/k"));
    let no_kiln = env(&[("KILN_ROOT", ""), ("XDG_DATA_HOME", "/x"), ("HOME", "/h")]);
    assert_eq!(
        root_from(no_kiln, true).unwrap(),
        Path::new("/var/lib/kiln")
    );
    assert_eq!(root_from(no_kiln, false).unwrap(), Path::new("/x/kiln"));
    let relative_xdg = env(&[("XDG_DATA_HOME", "rel"), ("HOME", "/h")]);
    assert_eq!(
        root_from(relative_xdg, false).unwrap(),
        Path::new("/h/.local/share/kiln")
    );
    assert!(matches!(
        root_from(env(&[]), false),
        Err(StoreError::NoDefaultRoot)
    ));
}

// ----- content store -----------------------------------------------------

#[test]
fn store_blob_streams_and_reads_back() {
    let (dir, store) = open_temp();
    let mut data = vec![0u8; 3 * 1024 * 1024 + 17];
    Rng(7).fill(&mut data);
    let mut writer = store.content().writer().unwrap();
    for chunk in data.chunks(10_000) {
        writer.write_all(chunk).unwrap();
    }
    assert_eq!(writer.size(), data.len() as u64);
    let digest = writer.commit(Some(&Digest::of(&data))).unwrap();
    assert_eq!(digest, Digest::of(&data));

    assert_eq!(read_blob(&store, &digest), data);
    assert_eq!(
        store.content().info(&digest).unwrap(),
        Some(data.len() as u64)
    );
    assert!(store.content().contains(&digest).unwrap());
    store.content().verify(&digest).unwrap();
    let walked: Vec<BlobInfo> = store
        .content()
        .walk()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        walked,
        [BlobInfo {
            digest: digest.clone(),
            size: data.len() as u64
        }]
    );
    assert!(files_in(&dir.path().join("ingest")).is_empty());

    assert!(store.content().delete(&digest).unwrap());
    assert!(!store.content().delete(&digest).unwrap());
    assert_eq!(store.content().info(&digest).unwrap(), None);
    assert!(matches!(
        store.content().open(&digest),
        Err(StoreError::BlobNotFound { .. })
    ));
}

#[test]
fn store_blob_wrong_digest_leaves_nothing() {
    let (dir, store) = open_temp();
    let wrong = Digest::of(b"something else");
    let err = store
        .content()
        .write_blob(b"hello", Some(&wrong))
        .unwrap_err();
    match err {
        StoreError::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, Digest::of(b"hello"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(files_in(&dir.path().join("ingest")).is_empty());
    assert!(files_in(&dir.path().join("blobs/sha256")).is_empty());
}

#[test]
fn store_blob_written_twice_is_stored_once() {
    let (dir, store) = open_temp();
    let a = store.content().write_blob(b"same", None).unwrap();
    let b = store.content().write_blob(b"same", None).unwrap();
    assert_eq!(a, b);
    assert_eq!(files_in(&dir.path().join("blobs/sha256")), [a.hex()]);
    assert!(files_in(&dir.path().join("ingest")).is_empty());
    // Committed blobs are read-only on disk.
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(store.content().path(&a))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o444);
}

#[test]
fn store_blob_writer_dropped_uncommitted_removes_temp() {
    let (dir, store) = open_temp();
    let mut writer = store.content().writer().unwrap();
    writer.write_all(b"partial").unwrap();
    assert_eq!(files_in(&dir.path().join("ingest")).len(), 1);
    drop(writer);
    assert!(files_in(&dir.path().join("ingest")).is_empty());
}

#[test]
fn store_foreign_files_in_blobs_do_not_break_anything() {
    let (dir, store) = open_temp();
    let blobs = dir.path().join("blobs/sha256");
    fs::write(blobs.join("garbage"), b"x").unwrap();
    fs::create_dir(blobs.join("a-directory")).unwrap();
    // A file under a valid digest name whose content does not match.
    let good = Digest::of(b"good content");
    fs::write(blobs.join(good.hex()), b"tampered").unwrap();

    let walked: Vec<Digest> = store
        .content()
        .walk()
        .unwrap()
        .map(|b| b.unwrap().digest)
        .collect();
    assert_eq!(walked, std::slice::from_ref(&good));
    assert!(matches!(
        store.content().verify(&good),
        Err(StoreError::DigestMismatch { .. })
    ));
    // Writing the real content repairs it (the sizes differ).
    store
        .content()
        .write_blob(b"good content", Some(&good))
        .unwrap();
    store.content().verify(&good).unwrap();
}

#[test]
fn store_stale_ingest_cleanup_spares_live_writers() {
    let dir = tempfile::tempdir().unwrap();
    let ingest = dir.path().join("ingest");
    let first = Store::open(dir.path()).unwrap();
    let old = SystemTime::now() - Duration::from_secs(3600);

    // A live writer whose file is old: must survive.
    let mut live = first.content().writer().unwrap();
    live.write_all(b"live").unwrap();
    live.flush().unwrap();
    fs::File::options()
        .write(true)
        .open(live.temp_path())
        .unwrap()
        .set_modified(old)
        .unwrap();
    // A dead writer's file, old; and a fresh unlocked one.
    let dead = ingest.join("dead");
    fs::write(&dead, b"x").unwrap();
    fs::File::options()
        .write(true)
        .open(&dead)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let fresh = ingest.join("fresh");
    fs::write(&fresh, b"x").unwrap();

    // Not alone: only old, unlocked files go.
    let second = Store::open(dir.path()).unwrap();
    assert!(!dead.exists());
    assert!(fresh.exists());
    assert!(live.temp_path().exists());
    drop(second);

    // The live writer still commits.
    let digest = live.commit(None).unwrap();
    assert_eq!(read_blob(&first, &digest), b"live");
    drop(first);

    // Alone: every unlocked temp file goes, whatever its age.
    let _third = Store::open(dir.path()).unwrap();
    assert!(!fresh.exists());
    assert!(files_in(&ingest).is_empty());
}

// ----- metadata ------------------------------------------------------------

#[test]
fn store_cache_records() {
    let (_dir, store) = open_temp();
    let meta = store.meta();
    assert_eq!(meta.cache_get("missing").unwrap(), None);
    meta.cache_put("key-1", b"record one").unwrap();
    meta.cache_put("key-2", b"").unwrap();
    let entry = meta.cache_get("key-1").unwrap().unwrap();
    assert_eq!(entry.record, b"record one");
    assert!(entry.last_used.abs_diff(meta::now()) < 5);
    assert_eq!(meta.cache_get("key-2").unwrap().unwrap().record, b"");
    let keys: Vec<String> = meta
        .cache_list()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["key-1", "key-2"]);
    assert!(meta.cache_remove("key-1").unwrap());
    assert!(!meta.cache_remove("key-1").unwrap());
    assert_eq!(meta.cache_get("key-1").unwrap(), None);
}

#[test]
fn store_handles_see_each_others_commits() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    let reader = Store::open(dir.path()).unwrap(); // read-only handle so far
    let writer = Store::open(dir.path()).unwrap();
    assert_eq!(reader.meta().cache_get("k").unwrap(), None);
    writer.meta().cache_put("k", b"1").unwrap();
    assert_eq!(reader.meta().cache_get("k").unwrap().unwrap().record, b"1");
    reader.meta().cache_put("k", b"2").unwrap();
    assert_eq!(writer.meta().cache_get("k").unwrap().unwrap().record, b"2");
    let (id, _) = writer.snapshots().prepare(None).unwrap();
    let (next, _) = reader.snapshots().prepare(None).unwrap();
    assert_eq!(next.as_u64(), id.as_u64() + 1);
}

#[test]
fn store_tags() {
    let (_dir, store) = open_temp();
    let meta = store.meta();
    let a = Digest::of(b"a");
    let b = Digest::of(b"b");
    assert_eq!(meta.tag_set("app:latest", &a).unwrap(), None);
    assert_eq!(meta.tag_set("app:latest", &b).unwrap().unwrap().digest, a);
    meta.tag_set("base:1", &a).unwrap();
    assert_eq!(meta.tag_get("app:latest").unwrap().unwrap().digest, b);
    let names: Vec<String> = meta
        .tags_list()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["app:latest", "base:1"]);
    assert_eq!(meta.tag_remove("base:1").unwrap().unwrap().digest, a);
    assert_eq!(meta.tag_remove("base:1").unwrap(), None);
    assert_eq!(meta.tag_get("base:1").unwrap(), None);
}

#[test]
fn store_refcounts() {
    let (_dir, store) = open_temp();
    let meta = store.meta();
    let d = Digest::of(b"layer");
    let s = SnapshotId::from_u64(40);
    assert_eq!(meta.ref_inc(Ref::Blob(&d)).unwrap(), 1);
    assert_eq!(meta.ref_inc(Ref::Blob(&d)).unwrap(), 2);
    assert_eq!(meta.ref_inc(Ref::Snapshot(s)).unwrap(), 1);
    assert_eq!(meta.ref_get(Ref::Blob(&d)).unwrap(), 2);
    assert_eq!(
        meta.refs_list().unwrap(),
        [(d.to_string(), 2), ("snapshot:14".to_string(), 1)]
    );
    assert_eq!(meta.ref_dec(Ref::Blob(&d)).unwrap(), 1);
    assert_eq!(meta.ref_dec(Ref::Blob(&d)).unwrap(), 0);
    assert!(matches!(
        meta.ref_dec(Ref::Blob(&d)),
        Err(StoreError::RefcountUnderflow { .. })
    ));
    assert_eq!(
        meta.refs_list().unwrap().len(),
        1,
        "zero counts are removed"
    );
}

#[test]
fn store_transaction_is_all_or_nothing() {
    let (_dir, store) = open_temp();
    let d = Digest::of(b"x");
    let result: Result<()> = store.transaction(|tx| {
        tx.cache_put("k", b"v")?;
        tx.ref_inc(Ref::Blob(&d))?;
        tx.ref_dec(Ref::Blob(&d))?;
        tx.ref_dec(Ref::Blob(&d))?; // underflow: the whole transaction is dropped
        Ok(())
    });
    assert!(matches!(result, Err(StoreError::RefcountUnderflow { .. })));
    assert_eq!(store.meta().cache_get("k").unwrap(), None);

    // The caller's own error type works too.
    #[derive(Debug)]
    enum SolverError {
        Store(#[allow(dead_code)] StoreError),
        Cancelled,
    }
    impl From<StoreError> for SolverError {
        fn from(e: StoreError) -> Self {
            SolverError::Store(e)
        }
    }
    let result = store.transaction(|tx| {
        tx.cache_put("k", b"v")?;
        Err::<(), _>(SolverError::Cancelled)
    });
    assert!(matches!(result, Err(SolverError::Cancelled)));
    assert_eq!(store.meta().cache_get("k").unwrap(), None);

    store
        .transaction(|tx| {
            tx.cache_put("k", b"v")?;
            tx.ref_inc(Ref::Blob(&d))?;
            assert_eq!(
                tx.cache_get("k")?.unwrap().record,
                b"v",
                "reads see own writes"
            );
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert_eq!(store.meta().ref_get(Ref::Blob(&d)).unwrap(), 1);
}

// ----- snapshots -----------------------------------------------------------

#[test]
fn store_snapshot_lifecycle() {
    let (dir, store) = open_temp();
    let snaps = store.snapshots();
    let (base, base_path) = snaps.prepare(None).unwrap();
    assert_eq!(base.to_string(), "1");
    assert_eq!(base_path, dir.path().join("snapshots/1"));
    assert!(base_path.is_dir());
    assert_eq!(
        snaps.get(base).unwrap().unwrap().state,
        SnapshotState::Preparing
    );
    fs::write(base_path.join("file"), b"content").unwrap();
    snaps.commit(base, 7).unwrap();
    let record = snaps.get(base).unwrap().unwrap();
    assert_eq!(record.state, SnapshotState::Committed);
    assert_eq!(record.size, 7);
    assert!(matches!(
        snaps.commit(base, 7),
        Err(StoreError::SnapshotState { .. })
    ));

    // Commit inside a larger transaction, with the cache record naming it.
    let (child, _) = snaps.prepare(Some(base)).unwrap();
    store
        .transaction(|tx| {
            tx.snapshot_commit(child, 0)?;
            tx.cache_put("run-step", child.to_string().as_bytes())?;
            tx.ref_inc(Ref::Snapshot(child))
        })
        .unwrap();
    assert_eq!(snaps.get(child).unwrap().unwrap().parent, Some(base));
    assert_eq!(snaps.list().unwrap().len(), 2);

    snaps.remove(base).unwrap();
    assert!(!base_path.exists());
    assert_eq!(snaps.get(base).unwrap(), None);
    assert!(matches!(
        snaps.remove(base),
        Err(StoreError::SnapshotNotFound { .. })
    ));
    // Ids are never reused.
    assert_eq!(snaps.prepare(None).unwrap().0.to_string(), "3");
}

#[test]
fn store_incomplete_snapshots_are_recovered_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (done, done_path) = store.snapshots().prepare(None).unwrap();
    store.snapshots().commit(done, 0).unwrap();
    let (left, left_path) = store.snapshots().prepare(None).unwrap();
    fs::write(left_path.join("half"), b"written").unwrap();

    // A second handle opening while the first is alive must not touch it.
    let other = Store::open(dir.path()).unwrap();
    assert!(left_path.exists());
    drop(other);
    // "Crash": the handle goes away without committing.
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    assert!(!left_path.exists());
    assert_eq!(store.snapshots().get(left).unwrap(), None);
    assert!(done_path.exists());
    assert_eq!(
        store.snapshots().get(done).unwrap().unwrap().state,
        SnapshotState::Committed
    );
}

#[test]
fn store_exclusive_lock_and_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path()).unwrap();
    let b = Store::open(dir.path()).unwrap();
    assert!(a.try_lock_exclusive().unwrap().is_none(), "b is open");
    drop(b);
    let orphan = dir.path().join("snapshots/zz");
    fs::create_dir(&orphan).unwrap();
    fs::write(dir.path().join("snapshots/not-an-id.txt"), b"x").unwrap();
    {
        let guard = a.try_lock_exclusive().unwrap().expect("alone now");
        let report = guard.cleanup().unwrap();
        assert_eq!(report.orphan_snapshot_dirs, 1);
        assert!(!orphan.exists());
        assert!(dir.path().join("snapshots/not-an-id.txt").exists());
    }
    // Back to shared: another handle opens without waiting.
    let c = Store::open(dir.path()).unwrap();
    assert!(a.try_lock_exclusive().unwrap().is_none());
    drop(c);
    drop(a.lock_exclusive().unwrap());
}

// ----- damaged database ------------------------------------------------------

#[test]
fn store_garbage_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut garbage = vec![0u8; 64 * 1024];
    Rng(3).fill(&mut garbage);
    fs::write(dir.path().join("meta.redb"), &garbage).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Database { .. } | StoreError::CorruptDatabase { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("meta.redb"), "{err}");
    // The foreign file is not overwritten.
    assert_eq!(fs::read(dir.path().join("meta.redb")).unwrap(), garbage);
}

#[test]
fn store_truncated_database_is_a_clear_error_or_recovers() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .transaction(|tx| {
                for i in 0..2000 {
                    tx.cache_put(&format!("key-{i}"), &[7u8; 200])?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
    let path = dir.path().join("meta.redb");
    let len = fs::metadata(&path).unwrap().len();
    for keep in [len / 2, 4096, 100] {
        let file = fs::File::options().write(true).open(&path).unwrap();
        file.set_len(keep).unwrap();
        drop(file);
        // Never a panic; either an error naming the file, or a usable store.
        match Store::open(dir.path()) {
            Err(err) => {
                assert!(err.to_string().contains("meta.redb"), "{err}");
                assert!(matches!(err, StoreError::CorruptDatabase { .. }), "{err:?}");
            }
            Ok(store) => {
                let _ = store.meta().cache_get("key-1");
                let _ = store.meta().cache_list();
            }
        }
    }
}

#[test]
fn store_damaged_database_pages_give_errors_not_panics() {
    // redb panics on some damaged pages; the store turns those into
    // errors. (The panic messages still reach stderr via the panic hook.)
    for trial in 0..4u64 {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .transaction(|tx| {
                    for i in 0..3000 {
                        tx.cache_put(&format!("key-{i}"), &[7u8; 200])?;
                    }
                    Ok::<_, StoreError>(())
                })
                .unwrap();
        }
        let path = dir.path().join("meta.redb");
        let mut bytes = fs::read(&path).unwrap();
        let mut rng = Rng(trial);
        let start = 4096 + rng.below(bytes.len() as u64 - 8192) as usize;
        rng.fill(&mut bytes[start..start + 4096]);
        fs::write(&path, &bytes).unwrap();

        let damaged = |result: Result<()>| match result {
            Ok(()) => {}
            Err(StoreError::CorruptDatabase { path, .. }) => assert!(path.ends_with("meta.redb")),
            Err(other) => panic!("unexpected error {other:?}"),
        };
        match Store::open(dir.path()) {
            Err(err) => damaged(Err(err)),
            Ok(store) => {
                damaged(store.meta().cache_list().map(drop));
                damaged(store.meta().cache_get("key-1500").map(drop));
                damaged(store.meta().cache_put("new", b"x"));
                damaged(store.meta().cache_list().map(drop));
            }
        }
    }
}

// ----- helper processes ------------------------------------------------------

const ROLE: &str = "KILN_STORE_TEST_ROLE";
const ROOT: &str = "KILN_STORE_TEST_ROOT";

/// Runs a helper role in a child process: this test binary, running only
/// [`helper_process`].
fn spawn_helper(role: &str, root: &Path) -> Child {
    // /proc/self/exe, not current_exe(): it still executes this binary if
    // a concurrent `cargo build` has replaced the file meanwhile.
    Command::new("/proc/self/exe")
        .args(["--ignored", "--exact", "store::tests::helper_process"])
        .args(["--test-threads=1", "--nocapture", "-q"])
        .env(ROLE, role)
        .env(ROOT, root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

/// Not a test: the body of the helper processes.
#[test]
#[ignore = "helper process for the crash and concurrency tests"]
fn helper_process() {
    let (Ok(role), Some(root)) = (std::env::var(ROLE), std::env::var_os(ROOT)) else {
        return;
    };
    let root = PathBuf::from(root);
    match role.split_once(':') {
        Some(("crash", _)) => crash_writer(&root),
        Some(("concurrent", name)) => concurrent_writer(&root, name),
        _ => panic!("unknown role {role}"),
    }
}

/// Writes blobs, records and snapshots forever (until killed), keeping
/// invariants that [`check_consistent`] verifies:
/// - `blob/<n>` records name a blob; each blob's refcount equals the
///   number of records naming it;
/// - `snap/<n>` records name a committed snapshot holding `data` = the
///   record key, with refcount 1.
fn crash_writer(root: &Path) {
    let store = Store::open(root).unwrap();
    let mut rng = Rng(seed());
    let mut live_snaps: Vec<(String, SnapshotId)> = Vec::new();
    let prefix = format!("{}-{}", std::process::id(), rng.next() % 1000);
    for n in 0u64.. {
        // A blob of up to 64 KiB, sometimes one that already exists.
        let size = if n % 7 == 0 {
            5
        } else {
            rng.below(64 << 10) as usize
        };
        let mut data = vec![0u8; size];
        if n % 7 != 0 {
            rng.fill(&mut data);
        }
        let mut writer = store.content().writer().unwrap();
        for chunk in data.chunks(64 * 1024) {
            writer.write_all(chunk).unwrap();
        }
        let digest = writer.commit(Some(&Digest::of(&data))).unwrap();
        store
            .transaction(|tx| {
                tx.cache_put(&format!("blob/{prefix}/{n}"), digest.as_str().as_bytes())?;
                tx.ref_inc(Ref::Blob(&digest))?;
                tx.tag_set(&format!("img{}", n % 5), &digest).map(drop)
            })
            .unwrap();

        // A snapshot with a few files, committed with its record.
        let key = format!("snap/{prefix}/{n}");
        let (id, path) = store.snapshots().prepare(None).unwrap();
        for i in 0..rng.below(20) {
            fs::write(path.join(format!("f{i}")), vec![1u8; 4096]).unwrap();
        }
        fs::write(path.join("data"), key.as_bytes()).unwrap();
        store
            .transaction(|tx| {
                tx.snapshot_commit(id, 0)?;
                tx.cache_put(&key, id.to_string().as_bytes())?;
                tx.ref_inc(Ref::Snapshot(id)).map(drop)
            })
            .unwrap();
        live_snaps.push((key, id));

        // Now and then, drop a snapshot the way GC would.
        if n % 3 == 2 {
            let (key, id) = live_snaps.remove(rng.below(live_snaps.len() as u64) as usize);
            store
                .transaction(|tx| {
                    tx.cache_remove(&key)?;
                    tx.ref_dec(Ref::Snapshot(id)).map(drop)
                })
                .unwrap();
            store.snapshots().remove(id).unwrap();
        }
        if n % 4 == 0 {
            let _ = store.meta().cache_get(&format!("blob/{prefix}/{n}"));
            store.flush().unwrap();
        }
    }
}

/// Checks every invariant [`crash_writer`] keeps, on a store opened alone
/// (so recovery has run).
fn check_consistent(root: &Path) {
    let store = Store::open(root).unwrap();
    assert!(
        files_in(&root.join("ingest")).is_empty(),
        "recovery removes dead temp files"
    );

    let blobs: BTreeSet<Digest> = store
        .content()
        .walk()
        .unwrap()
        .map(|b| b.unwrap().digest)
        .collect();
    assert_eq!(
        blobs.len(),
        files_in(&root.join("blobs/sha256")).len(),
        "only complete blobs under blobs/"
    );
    for digest in &blobs {
        store.content().verify(digest).unwrap();
    }

    let meta = store.meta();
    let mut expected_refs: HashMap<String, u64> = HashMap::new();
    for (key, _) in meta.cache_list().unwrap() {
        let record = meta.cache_get(&key).unwrap().unwrap().record;
        let record = String::from_utf8(record).unwrap();
        if key.starts_with("blob/") {
            let digest: Digest = record.parse().unwrap();
            assert!(blobs.contains(&digest), "{key} names a missing blob");
            *expected_refs.entry(digest.to_string()).or_default() += 1;
        } else if key.starts_with("snap/") {
            let id: SnapshotId = record.parse().unwrap();
            let snap = store.snapshots().get(id).unwrap().expect("record exists");
            assert_eq!(snap.state, SnapshotState::Committed);
            let data = fs::read(store.snapshots().path(id).join("data")).unwrap();
            assert_eq!(data, key.as_bytes());
            *expected_refs.entry(Ref::Snapshot(id).key()).or_default() += 1;
        }
    }
    let refs: HashMap<String, u64> = meta.refs_list().unwrap().into_iter().collect();
    assert_eq!(refs, expected_refs, "refcounts match the records");
    for (_, tag) in meta.tags_list().unwrap() {
        assert!(blobs.contains(&tag.digest));
    }

    // Every snapshot is committed (recovered) and has its directory; no
    // directory lacks a record.
    let snaps = store.snapshots().list().unwrap();
    let recorded: BTreeSet<String> = snaps
        .iter()
        .map(|(id, record)| {
            assert_eq!(record.state, SnapshotState::Committed, "snapshot {id}");
            id.to_string()
        })
        .collect();
    let dirs: BTreeSet<String> = files_in(&root.join("snapshots")).into_iter().collect();
    assert_eq!(recorded, dirs);

    // New writes work.
    let d = store
        .content()
        .write_blob(b"after the crash", None)
        .unwrap();
    store
        .transaction(|tx| {
            tx.cache_put("after", d.as_str().as_bytes())?;
            tx.ref_inc(Ref::Blob(&d)).map(drop)
        })
        .unwrap();
    let (id, _) = store.snapshots().prepare(None).unwrap();
    store.snapshots().remove(id).unwrap();
    store
        .transaction(|tx| {
            tx.cache_remove("after")?;
            tx.ref_dec(Ref::Blob(&d)).map(drop)
        })
        .unwrap();
}

#[test]
fn store_survives_kill_9_at_random_instants() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = Rng(seed());
    for round in 0..20 {
        // On odd rounds a live handle shares the store with the victim and
        // must keep working after the kill.
        let survivor = (round % 2 == 1).then(|| Store::open(root).unwrap());
        let mut child = spawn_helper("crash:", root);
        std::thread::sleep(Duration::from_millis(30 + rng.below(400)));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("helper exited early ({status}): {}", stderr_of(&mut child));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if let Some(store) = survivor {
            store.meta().cache_put("survivor", b"ok").unwrap();
            store.content().write_blob(b"survivor", None).unwrap();
            assert_eq!(
                store.meta().cache_get("survivor").unwrap().unwrap().record,
                b"ok"
            );
            store.meta().cache_remove("survivor").unwrap();
        }
        check_consistent(root);
    }
}

/// Writes the same and different blobs and records as its sibling.
fn concurrent_writer(root: &Path, name: &str) {
    let store = Store::open(root).unwrap();
    for i in 0..CONCURRENT_ROUNDS {
        let shared = store
            .content()
            .write_blob(format!("shared {i}").repeat(1000).as_bytes(), None)
            .unwrap();
        let own = store
            .content()
            .write_blob(format!("{name} {i}").as_bytes(), None)
            .unwrap();
        store
            .transaction(|tx| {
                tx.cache_put(&format!("shared/{i}"), shared.as_str().as_bytes())?;
                tx.ref_inc(Ref::Blob(&shared))?;
                tx.cache_put(&format!("{name}/{i}"), own.as_str().as_bytes())?;
                tx.ref_inc(Ref::Blob(&own))?;
                tx.next_counter("concurrency").map(drop)
            })
            .unwrap();
        let (id, path) = store.snapshots().prepare(None).unwrap();
        fs::write(path.join("who"), name).unwrap();
        store.snapshots().commit(id, 0).unwrap();
        assert!(store
            .meta()
            .cache_get(&format!("shared/{i}"))
            .unwrap()
            .is_some());
    }
}

const CONCURRENT_ROUNDS: usize = 25;

fn check_concurrent_result(root: &Path, names: &[&str]) {
    let store = Store::open(root).unwrap();
    let meta = store.meta();
    for i in 0..CONCURRENT_ROUNDS {
        let shared = Digest::of(format!("shared {i}").repeat(1000).as_bytes());
        store.content().verify(&shared).unwrap();
        assert_eq!(
            meta.ref_get(Ref::Blob(&shared)).unwrap(),
            names.len() as u64
        );
        for name in names {
            let own = Digest::of(format!("{name} {i}").as_bytes());
            store.content().verify(&own).unwrap();
            let record = meta.cache_get(&format!("{name}/{i}")).unwrap().unwrap();
            assert_eq!(record.record, own.as_str().as_bytes());
        }
    }
    let total = (CONCURRENT_ROUNDS * names.len()) as u64;
    assert_eq!(meta.read(|tx| tx.counter("concurrency")).unwrap(), total);
    let snaps = store.snapshots().list().unwrap();
    assert_eq!(snaps.len() as u64, total);
    let ids: BTreeSet<SnapshotId> = snaps.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len() as u64, total, "ids are unique");
    assert!(files_in(&root.join("ingest")).is_empty());
}

#[test]
fn store_concurrent_processes() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["a", "b", "c"];
    let mut children: Vec<Child> = names
        .iter()
        .map(|name| spawn_helper(&format!("concurrent:{name}"), dir.path()))
        .collect();
    for child in &mut children {
        let status = child.wait().unwrap();
        assert!(status.success(), "helper failed: {}", stderr_of(child));
    }
    check_concurrent_result(dir.path(), &names);
}

#[test]
fn store_concurrent_handles_in_threads() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["x", "y"];
    std::thread::scope(|scope| {
        for name in names {
            let root = dir.path();
            scope.spawn(move || concurrent_writer(root, name));
        }
    });
    check_concurrent_result(dir.path(), &names);
}

/// Not a test: prints what opening the store and a few cache lookups
/// cost (a no-op rebuild's whole use of the store). Run with
/// `cargo test -p kiln-solver --release store_measure -- --ignored --nocapture`.
#[test]
#[ignore = "measurement, run by hand in release mode"]
fn store_measure_open_and_lookups() {
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let store = Store::open(dir.path()).unwrap();
    let create = t.elapsed();
    let keys: Vec<String> = (0..10_000).map(|i| format!("sha256:{:064x}", i)).collect();
    let t = Instant::now();
    store
        .transaction(|tx| {
            for key in &keys {
                tx.cache_put(key, &[1u8; 120])?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let batch = t.elapsed();
    let t = Instant::now();
    for key in &keys[..50] {
        store.meta().cache_put(key, &[2u8; 120]).unwrap();
    }
    let single = t.elapsed() / 50;
    drop(store);

    let rounds = 200u32;
    let (mut open, mut lookups, mut close) = Default::default();
    for round in 0..rounds as usize {
        let t0 = Instant::now();
        let store = Store::open(dir.path()).unwrap();
        let t1 = Instant::now();
        for i in 0..5 {
            let key = &keys[(round * 37 + i * 1999) % keys.len()];
            assert!(store.meta().cache_get(key).unwrap().is_some());
        }
        store.flush().unwrap();
        let t2 = Instant::now();
        drop(store);
        let t3 = Instant::now();
        open += t1 - t0;
        lookups += t2 - t1;
        close += t3 - t2;
    }
    let per = |d: Duration| d / rounds;
    eprintln!("create store: {create:?}");
    eprintln!(
        "10k cache_put in one transaction: {batch:?}; one cache_put per transaction: {single:?}"
    );
    eprintln!(
        "open {:?} + 5 cache_get + flush {:?} + drop {:?} = {:?} (10k records, mean of {rounds})",
        per(open),
        per(lookups),
        per(close),
        per(open + lookups + close)
    );
    // Entries last used long ago: the flush writes their new times.
    let old = meta::now() - 2 * meta::TOUCH_GRANULARITY.as_secs();
    let store = Store::open(dir.path()).unwrap();
    store
        .transaction(|tx| {
            tx.set_now(old);
            keys[..5]
                .iter()
                .try_for_each(|key| tx.cache_put(key, &[3u8; 120]))
        })
        .unwrap();
    drop(store);
    let t0 = Instant::now();
    let store = Store::open(dir.path()).unwrap();
    for key in &keys[..5] {
        assert!(store.meta().cache_get(key).unwrap().is_some());
    }
    store.flush().unwrap();
    drop(store);
    eprintln!(
        "open + 5 stale cache_get + flush (writes) + drop: {:?}",
        t0.elapsed()
    );
    // The same while another process holds the store open.
    let other = Store::open(dir.path()).unwrap();
    let t = Instant::now();
    for _ in 0..rounds {
        let store = Store::open(dir.path()).unwrap();
        assert!(store.meta().cache_get(&keys[7]).unwrap().is_some());
    }
    eprintln!(
        "open + 1 cache_get + drop, store shared: {:?}",
        per(t.elapsed())
    );
    drop(other);
}

#[test]
fn resume_writer_keeps_partial_files_until_commit() {
    let (dir, store) = open_temp();
    let partial = dir.path().join("partial");
    let content = b"the whole blob, written in two sessions";
    let digest = Digest::of(content);
    let mut w = store.content().resume_writer(&partial).unwrap();
    w.write_all(&content[..10]).unwrap();
    drop(w);
    assert_eq!(fs::read(&partial).unwrap(), &content[..10], "kept on drop");
    let mut w = store.content().resume_writer(&partial).unwrap();
    assert_eq!(w.size(), 10);
    w.write_all(&content[10..]).unwrap();
    assert_eq!(w.commit(Some(&digest)).unwrap(), digest);
    assert!(!partial.exists());
    assert_eq!(read_blob(&store, &digest), content);

    // Wrong bytes are not kept for another attempt.
    let mut w = store.content().resume_writer(&partial).unwrap();
    w.write_all(b"garbage").unwrap();
    assert!(w.commit(Some(&digest)).is_err());
    assert!(!partial.exists());
    let w = store.content().resume_writer(&partial).unwrap();
    w.discard();
    assert!(!partial.exists());
}
