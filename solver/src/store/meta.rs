//! The metadata database, `meta.redb`: cache records, tags, reference
//! counts, snapshot records and counters, in one embedded transactional
//! [redb](https://docs.rs/redb) file.
//!
//! # Tables
//!
//! | table           | key                          | value                                   |
//! |-----------------|------------------------------|-----------------------------------------|
//! | `cache`         | cache key (solver's string)  | last-used (u64 LE) ++ record bytes      |
//! | `tags`          | image name                   | JSON [`Tag`] (manifest digest, created) |
//! | `refs`          | [`Ref`] key                  | reference count (never 0: removed)      |
//! | `snapshots`     | snapshot id                  | JSON [`SnapshotRecord`]                 |
//! | `snapshot_work` | snapshot id                  | state, for ids not `Committed` yet      |
//! | `counters`      | name (`format`, `snapshot`)  | u64                                     |
//!
//! Times are seconds since the Unix epoch.
//!
//! # Several processes, one file
//!
//! redb's default mode locks the whole file for one process. kiln opens it
//! in redb's [`MultiWriter`](redb::ConcurrencyMode::MultiWriter) mode
//! instead: every process keeps its own handle open for as long as it
//! likes, readers never block, and write transactions are serialized by
//! redb with byte-range (OFD) locks on the file — across processes and
//! across handles of one process alike. In this mode every commit is
//! two-phase and records the allocator state, so the file is consistent
//! after a `kill -9` at any instant (the OS drops the dead process's locks)
//! and the next open repairs it quickly.
//!
//! A handle starts read-only, which costs tens of microseconds to open and
//! nothing to close, and is upgraded to a writer (≈0.3 ms to open, ≈1 ms
//! to close) on the first write. A no-op rebuild therefore never pays for
//! a writer: its cache hits only queue last-used updates ([`Meta::touch`]),
//! and [`Meta::flush`] writes those that are older than
//! [`TOUCH_GRANULARITY`] — usually none.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use redb::{
    Builder, ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadTransaction,
    ReadableDatabase, ReadableTable, TableDefinition, TableError, WriteTransaction,
};

use super::digest::Digest;
use super::error::{Result, StoreError};
use super::snapshots::{SnapshotId, SnapshotRecord, SnapshotState};

/// The layout version this code writes. Opening a store with a higher one
/// fails with [`StoreError::UnsupportedFormat`].
pub const FORMAT: u64 = 1;

/// A last-used time is rewritten only when it is older than this: reads
/// of hot entries cost no writes.
pub const TOUCH_GRANULARITY: Duration = Duration::from_secs(10 * 60);

/// Queued touches are flushed when this many are pending.
const TOUCH_BATCH: usize = 4096;

/// How long opening waits for a process holding the file in an
/// incompatible mode (another redb version, a compaction) to let go.
const OPEN_PATIENCE: Duration = Duration::from_secs(10);

/// redb's page cache, per process.
const CACHE_BYTES: usize = 64 << 20;

const CACHE: TableDefinition<&str, &[u8]> = TableDefinition::new("cache");
const TAGS: TableDefinition<&str, &[u8]> = TableDefinition::new("tags");
const REFS: TableDefinition<&str, u64> = TableDefinition::new("refs");
const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("snapshots");
const SNAPSHOT_WORK: TableDefinition<u64, u8> = TableDefinition::new("snapshot_work");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

const FORMAT_COUNTER: &str = "format";
const SNAPSHOT_COUNTER: &str = "snapshot";

/// A cache record and when it was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub record: Vec<u8>,
    pub last_used: u64,
}

/// What an image name points at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tag {
    /// The manifest (or index) digest.
    pub digest: Digest,
    /// When the tag was set.
    pub created: u64,
}

/// Something with a reference count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref<'a> {
    Blob(&'a Digest),
    Snapshot(SnapshotId),
}

impl Ref<'_> {
    /// The key in the `refs` table: the digest, or `snapshot:<id>`.
    pub fn key(&self) -> String {
        match self {
            Ref::Blob(digest) => digest.to_string(),
            Ref::Snapshot(id) => format!("snapshot:{id}"),
        }
    }
}

/// Something whose last-used time [`Meta::touch`] updates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Touch {
    Cache(String),
    Snapshot(SnapshotId),
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// This process's handle on `meta.redb`.
#[derive(Clone)]
enum Handle {
    ReadOnly(Arc<ReadOnlyDatabase>),
    Writer(Arc<Database>),
}

/// The metadata database. Thread-safe; one per [`Store`](super::Store).
pub struct Meta {
    path: PathBuf,
    handle: Mutex<Handle>,
    /// Pending last-used updates: what, and when.
    touches: Mutex<HashMap<Touch, u64>>,
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meta").field("path", &self.path).finish()
    }
}

impl Meta {
    /// Opens `path`, creating and initializing it if needed.
    pub(crate) fn open(path: &Path) -> Result<Meta> {
        let handle = match open_read_only(path)? {
            Some(db) => Handle::ReadOnly(Arc::new(db)),
            None => Handle::Writer(Arc::new(open_writer(path)?)),
        };
        let meta = Meta {
            path: path.to_path_buf(),
            handle: Mutex::new(handle),
            touches: Mutex::new(HashMap::new()),
        };
        meta.check_format()?;
        Ok(meta)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the format counter, initializing a fresh database.
    fn check_format(&self) -> Result<()> {
        let found = self.read(|tx| tx.counter(FORMAT_COUNTER))?;
        match found {
            0 => self.transaction(|tx| tx.init()),
            FORMAT => Ok(()),
            found => Err(StoreError::UnsupportedFormat {
                path: self.path.clone(),
                found,
                supported: FORMAT,
            }),
        }
    }

    // ----- transactions --------------------------------------------------

    /// Runs `f` in a read transaction: a consistent snapshot of the
    /// database, concurrent with writers in this and other processes.
    pub fn read<T, E>(&self, f: impl FnOnce(&MetaRead) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = guard(&self.path, || match self.handle() {
            Handle::ReadOnly(db) => db.begin_read(),
            Handle::Writer(db) => db.begin_read(),
        })?;
        f(&MetaRead {
            tx,
            path: &self.path,
        })
    }

    /// Runs `f` in a write transaction and commits it if `f` returns `Ok`
    /// (atomic and durable: fsync'ed before this returns). On `Err` nothing
    /// is written. Write transactions of all processes run one at a time:
    /// keep `f` short and free of slow I/O.
    pub fn transaction<T, E>(&self, f: impl FnOnce(&mut MetaTx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let db = self.writer()?;
        let tx = guard(&self.path, || db.begin_write())?;
        let mut mtx = MetaTx {
            tx,
            path: &self.path,
            now: now(),
        };
        match f(&mut mtx) {
            Ok(value) => {
                guard(&self.path, || mtx.tx.commit())?;
                Ok(value)
            }
            Err(err) => {
                let _ = guard(&self.path, || mtx.tx.abort());
                Err(err)
            }
        }
    }

    fn handle(&self) -> Handle {
        lock(&self.handle).clone()
    }

    /// The writer handle, upgrading from read-only on first use.
    fn writer(&self) -> Result<Arc<Database>> {
        let mut handle = lock(&self.handle);
        if let Handle::Writer(db) = &*handle {
            return Ok(db.clone());
        }
        let db = Arc::new(open_writer(&self.path)?);
        *handle = Handle::Writer(db.clone());
        Ok(db)
    }

    // ----- one-shot helpers ----------------------------------------------

    /// The cache record under `key`. A hit queues a [`touch`](Self::touch).
    pub fn cache_get(&self, key: &str) -> Result<Option<CacheEntry>> {
        let entry = self.read(|tx| tx.cache_get(key))?;
        if entry.is_some() {
            self.touch(Touch::Cache(key.to_string()))?;
        }
        Ok(entry)
    }

    /// Stores `record` under `key`, last used now.
    pub fn cache_put(&self, key: &str, record: &[u8]) -> Result<()> {
        self.transaction(|tx| tx.cache_put(key, record))
    }

    /// Removes a cache record; `false` if there was none.
    pub fn cache_remove(&self, key: &str) -> Result<bool> {
        self.transaction(|tx| tx.cache_remove(key))
    }

    /// Every cache key with its last-used time (for GC).
    pub fn cache_list(&self) -> Result<Vec<(String, u64)>> {
        self.read(|tx| tx.cache_list())
    }

    pub fn tag_set(&self, name: &str, digest: &Digest) -> Result<Option<Tag>> {
        self.transaction(|tx| tx.tag_set(name, digest))
    }

    pub fn tag_get(&self, name: &str) -> Result<Option<Tag>> {
        self.read(|tx| tx.tag_get(name))
    }

    pub fn tag_remove(&self, name: &str) -> Result<Option<Tag>> {
        self.transaction(|tx| tx.tag_remove(name))
    }

    /// All tags, sorted by name.
    pub fn tags_list(&self) -> Result<Vec<(String, Tag)>> {
        self.read(|tx| tx.tags_list())
    }

    /// Increments a reference count; returns the new count.
    pub fn ref_inc(&self, r: Ref) -> Result<u64> {
        self.transaction(|tx| tx.ref_inc(r))
    }

    /// Decrements a reference count; returns the new count.
    pub fn ref_dec(&self, r: Ref) -> Result<u64> {
        self.transaction(|tx| tx.ref_dec(r))
    }

    pub fn ref_get(&self, r: Ref) -> Result<u64> {
        self.read(|tx| tx.ref_get(r))
    }

    /// Every non-zero reference count, by key (for GC).
    pub fn refs_list(&self) -> Result<Vec<(String, u64)>> {
        self.read(|tx| tx.refs_list())
    }

    // ----- last-used times -------------------------------------------------

    /// Records that `what` was used now. Nothing is written yet: touches
    /// are batched and written by [`flush`](Self::flush), when
    /// 4096 are pending, or when the store is dropped.
    pub fn touch(&self, what: Touch) -> Result<()> {
        let full = {
            let mut touches = lock(&self.touches);
            touches.insert(what, now());
            touches.len() >= TOUCH_BATCH
        };
        if full {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes pending touches whose stored time is older than
    /// [`TOUCH_GRANULARITY`], in one transaction — or none at all if every
    /// stored time is recent enough.
    pub fn flush(&self) -> Result<()> {
        let pending = std::mem::take(&mut *lock(&self.touches));
        if pending.is_empty() {
            return Ok(());
        }
        let stale = self.read(|tx| tx.stale_touches(pending))?;
        if stale.is_empty() {
            return Ok(());
        }
        self.transaction(|tx| {
            stale
                .iter()
                .try_for_each(|(what, time)| tx.set_last_used(what, *time))
        })
    }
}

impl Drop for Meta {
    fn drop(&mut self) {
        // Best effort: last-used times only steer GC.
        let _ = self.flush();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ----- opening -----------------------------------------------------------

fn builder() -> Builder {
    let mut builder = Builder::new();
    builder
        .set_concurrency_mode(ConcurrencyMode::MultiWriter)
        .set_cache_size(CACHE_BYTES);
    builder
}

/// Opens the database read-only; `None` if it is missing, empty, or
/// needs a repair that only a writer can do.
fn open_read_only(path: &Path) -> Result<Option<ReadOnlyDatabase>> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > 0 => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("stat", path, e)),
    }
    match with_patience(path, || builder().open_read_only(path))? {
        Ok(db) => Ok(Some(db)),
        Err(DatabaseError::RepairAborted) => Ok(None),
        Err(e) => Err(StoreError::db(path, e)),
    }
}

/// Opens (creating, or repairing after a crash) the database for writing.
fn open_writer(path: &Path) -> Result<Database> {
    create_atomically(path)?;
    with_patience(path, || builder().create(path))?.map_err(|e| StoreError::db(path, e))
}

/// Makes a missing database under a temp name and links it into place
/// complete: a `kill -9` while redb writes a new file's header would
/// otherwise leave a `meta.redb` no later open accepts. If another process
/// links its own first, that one is used.
fn create_atomically(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".new-{}", std::process::id()));
    let temp = path.with_file_name(name);
    let _ = std::fs::remove_file(&temp);
    let db =
        with_patience(&temp, || builder().create(&temp))?.map_err(|e| StoreError::db(&temp, e))?;
    drop(db);
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StoreError::io("create", path, e)),
    }
    if let Some(dir) = path.parent() {
        super::content::sync_dir(dir)?;
    }
    Ok(())
}

/// Retries `open` while another process holds the file in a mode that
/// excludes ours; gives up after [`OPEN_PATIENCE`] with
/// [`StoreError::Busy`]. redb panics on some damaged files: that becomes
/// [`StoreError::CorruptDatabase`] rather than a crash.
fn with_patience<T>(
    path: &Path,
    open: impl Fn() -> Result<T, DatabaseError>,
) -> Result<Result<T, DatabaseError>> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&open))
            .map_err(|panic| corrupt_from_panic(path, panic))?;
        match result {
            Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch)
                if start.elapsed() < OPEN_PATIENCE =>
            {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e @ (DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch)) => {
                return Err(StoreError::Busy {
                    path: path.to_path_buf(),
                    detail: format!("{e} (another program, or another redb version, holds it)"),
                })
            }
            other => return Ok(other),
        }
    }
}

fn corrupt_from_panic(path: &Path, panic: Box<dyn std::any::Any + Send>) -> StoreError {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    StoreError::CorruptDatabase {
        path: path.to_path_buf(),
        detail: format!("redb failed on a damaged page ({detail})"),
    }
}

// ----- guarding redb calls ---------------------------------------------------

/// Runs redb code. Its errors become [`StoreError`]s; its panics — redb
/// panics on some damaged pages — become [`StoreError::CorruptDatabase`]
/// instead of taking the process down. Only redb calls run inside: a panic
/// in the caller's own code still propagates.
fn guard<T, E: Into<redb::Error>>(path: &Path, f: impl FnOnce() -> Result<T, E>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(StoreError::db(path, e)),
        Err(panic) => Err(corrupt_from_panic(path, panic)),
    }
}

/// The value under a string key, copied out.
fn raw_get(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<Vec<u8>>, redb::Error> {
    Ok(table.get(key)?.map(|v| v.value().to_vec()))
}

/// The value under a numeric key, copied out.
fn raw_get_at(
    table: &impl ReadableTable<u64, &'static [u8]>,
    key: u64,
) -> Result<Option<Vec<u8>>, redb::Error> {
    Ok(table.get(key)?.map(|v| v.value().to_vec()))
}

/// A counter-like value; missing reads as 0.
fn raw_u64(table: &impl ReadableTable<&'static str, u64>, key: &str) -> Result<u64, redb::Error> {
    Ok(table.get(key)?.map_or(0, |v| v.value()))
}

/// Every row, in key order, mapped to owned values by `f`.
fn raw_rows<K, V, T>(
    table: &impl ReadableTable<K, V>,
    mut f: impl FnMut(K::SelfType<'_>, V::SelfType<'_>) -> T,
) -> Result<Vec<T>, redb::Error>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    let mut rows = Vec::new();
    for row in table.iter()? {
        let (key, value) = row?;
        rows.push(f(key.value(), value.value()));
    }
    Ok(rows)
}

// ----- read transactions -------------------------------------------------

/// A read transaction. See [`Meta::read`].
pub struct MetaRead<'a> {
    tx: ReadTransaction,
    path: &'a Path,
}

impl MetaRead<'_> {
    /// Runs `f` on a table; a table that does not exist yet reads as empty.
    fn with<K, V, T>(
        &self,
        def: TableDefinition<K, V>,
        f: impl FnOnce(&redb::ReadOnlyTable<K, V>) -> Result<T, redb::Error>,
    ) -> Result<T>
    where
        K: redb::Key + 'static,
        V: redb::Value + 'static,
        T: Default,
    {
        guard(self.path, || match self.tx.open_table(def) {
            Ok(table) => f(&table),
            Err(TableError::TableDoesNotExist(_)) => Ok(T::default()),
            Err(e) => Err(e.into()),
        })
    }

    pub fn cache_get(&self, key: &str) -> Result<Option<CacheEntry>> {
        let raw = self.with(CACHE, |t| raw_get(t, key))?;
        raw.map(|v| decode_cache(self.path, key, &v)).transpose()
    }

    pub fn cache_list(&self) -> Result<Vec<(String, u64)>> {
        let rows = self.with(CACHE, |t| raw_rows(t, |k, v| (k.to_string(), v.to_vec())))?;
        rows.into_iter()
            .map(|(key, value)| {
                let last_used = decode_cache(self.path, &key, &value)?.last_used;
                Ok((key, last_used))
            })
            .collect()
    }

    /// Every cache record, by key, undecoded: `Err` holds why a value is
    /// unreadable (GC and `doctor` drop such records).
    pub fn cache_entries(&self) -> Result<Vec<(String, Result<CacheEntry>)>> {
        let rows = self.with(CACHE, |t| raw_rows(t, |k, v| (k.to_string(), v.to_vec())))?;
        Ok(rows
            .into_iter()
            .map(|(key, value)| {
                let entry = decode_cache(self.path, &key, &value);
                (key, entry)
            })
            .collect())
    }

    pub fn tag_get(&self, name: &str) -> Result<Option<Tag>> {
        let raw = self.with(TAGS, |t| raw_get(t, name))?;
        raw.map(|v| decode_json(self.path, "tags", &name, &v))
            .transpose()
    }

    /// Every tag by name; `Err` holds why a value is unreadable.
    pub fn tag_entries(&self) -> Result<Vec<(String, Result<Tag>)>> {
        let rows = self.with(TAGS, |t| raw_rows(t, |k, v| (k.to_string(), v.to_vec())))?;
        Ok(rows
            .into_iter()
            .map(|(name, value)| {
                let tag = decode_json(self.path, "tags", &name, &value);
                (name, tag)
            })
            .collect())
    }

    pub fn tags_list(&self) -> Result<Vec<(String, Tag)>> {
        let rows = self.with(TAGS, |t| raw_rows(t, |k, v| (k.to_string(), v.to_vec())))?;
        rows.into_iter()
            .map(|(name, value)| {
                let tag = decode_json(self.path, "tags", &name, &value)?;
                Ok((name, tag))
            })
            .collect()
    }

    pub fn ref_get(&self, r: Ref) -> Result<u64> {
        self.with(REFS, |t| raw_u64(t, &r.key()))
    }

    pub fn refs_list(&self) -> Result<Vec<(String, u64)>> {
        self.with(REFS, |t| raw_rows(t, |k, v| (k.to_string(), v)))
    }

    pub fn snapshot_get(&self, id: SnapshotId) -> Result<Option<SnapshotRecord>> {
        let raw = self.with(SNAPSHOTS, |t| raw_get_at(t, id.as_u64()))?;
        raw.map(|v| decode_json(self.path, "snapshots", &id, &v))
            .transpose()
    }

    /// Every snapshot record, by id.
    pub fn snapshots_list(&self) -> Result<Vec<(SnapshotId, SnapshotRecord)>> {
        let rows = self.with(SNAPSHOTS, |t| raw_rows(t, |k, v| (k, v.to_vec())))?;
        rows.into_iter()
            .map(|(id, value)| {
                let id = SnapshotId::from_u64(id);
                Ok((id, decode_json(self.path, "snapshots", &id, &value)?))
            })
            .collect()
    }

    /// Snapshots that are not committed: being prepared or removed.
    pub(crate) fn snapshot_work(&self) -> Result<Vec<SnapshotId>> {
        self.with(SNAPSHOT_WORK, |t| {
            raw_rows(t, |id, _| SnapshotId::from_u64(id))
        })
    }

    pub fn counter(&self, name: &str) -> Result<u64> {
        self.with(COUNTERS, |t| raw_u64(t, name))
    }

    /// The pending touches whose stored time is too old to keep.
    fn stale_touches(&self, pending: HashMap<Touch, u64>) -> Result<Vec<(Touch, u64)>> {
        let mut stale = Vec::new();
        for (what, time) in pending {
            let stored = match &what {
                Touch::Cache(key) => self.cache_get(key)?.map(|e| e.last_used),
                Touch::Snapshot(id) => self.snapshot_get(*id)?.map(|r| r.last_used),
            };
            let granularity = TOUCH_GRANULARITY.as_secs();
            if stored.is_some_and(|stored| stored.saturating_add(granularity) <= time) {
                stale.push((what, time));
            }
        }
        Ok(stale)
    }
}

// ----- write transactions ------------------------------------------------

/// A write transaction: every change made through it is committed
/// together, or not at all. See [`Meta::transaction`].
pub struct MetaTx<'a> {
    tx: WriteTransaction,
    path: &'a Path,
    now: u64,
}

impl MetaTx<'_> {
    /// Runs `f` on a table (created if missing).
    fn with<K, V, T>(
        &self,
        def: TableDefinition<K, V>,
        f: impl FnOnce(&mut redb::Table<K, V>) -> Result<T, redb::Error>,
    ) -> Result<T>
    where
        K: redb::Key + 'static,
        V: redb::Value + 'static,
    {
        guard(self.path, || f(&mut self.tx.open_table(def)?))
    }

    /// The time this transaction stamps records with.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Backdates the records this transaction writes (tests of last-used
    /// times).
    #[cfg(test)]
    pub(crate) fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// Creates every table and records the format (new databases).
    fn init(&mut self) -> Result<()> {
        self.with(CACHE, |_| Ok(()))?;
        self.with(TAGS, |_| Ok(()))?;
        self.with(REFS, |_| Ok(()))?;
        self.with(SNAPSHOTS, |_| Ok(()))?;
        self.with(SNAPSHOT_WORK, |_| Ok(()))?;
        self.with(COUNTERS, |t| {
            Ok(t.insert(FORMAT_COUNTER, FORMAT).map(drop)?)
        })
    }

    pub fn cache_get(&self, key: &str) -> Result<Option<CacheEntry>> {
        let raw = self.with(CACHE, |t| raw_get(t, key))?;
        raw.map(|v| decode_cache(self.path, key, &v)).transpose()
    }

    pub fn cache_put(&mut self, key: &str, record: &[u8]) -> Result<()> {
        self.cache_write(key, self.now, record)
    }

    fn cache_write(&mut self, key: &str, last_used: u64, record: &[u8]) -> Result<()> {
        let value = encode_cache(last_used, record);
        self.with(CACHE, |t| Ok(t.insert(key, value.as_slice()).map(drop)?))
    }

    pub fn cache_remove(&mut self, key: &str) -> Result<bool> {
        self.with(CACHE, |t| Ok(t.remove(key)?.is_some()))
    }

    pub fn tag_get(&self, name: &str) -> Result<Option<Tag>> {
        let raw = self.with(TAGS, |t| raw_get(t, name))?;
        raw.map(|v| decode_json(self.path, "tags", &name, &v))
            .transpose()
    }

    /// Points `name` at `digest`; returns the previous tag.
    pub fn tag_set(&mut self, name: &str, digest: &Digest) -> Result<Option<Tag>> {
        let previous = self.tag_get(name)?;
        let tag = Tag {
            digest: digest.clone(),
            created: self.now,
        };
        let json = serde_json::to_vec(&tag).expect("a tag serializes");
        self.with(TAGS, |t| Ok(t.insert(name, json.as_slice()).map(drop)?))?;
        Ok(previous)
    }

    pub fn tag_remove(&mut self, name: &str) -> Result<Option<Tag>> {
        let previous = self.tag_get(name)?;
        self.with(TAGS, |t| Ok(t.remove(name).map(drop)?))?;
        Ok(previous)
    }

    /// Removes a tag without reading it (repairs of unreadable values).
    pub fn tag_delete(&mut self, name: &str) -> Result<()> {
        self.with(TAGS, |t| Ok(t.remove(name).map(drop)?))
    }

    pub fn ref_get(&self, r: Ref) -> Result<u64> {
        self.with(REFS, |t| raw_u64(t, &r.key()))
    }

    pub fn ref_inc(&mut self, r: Ref) -> Result<u64> {
        self.ref_add(&r.key(), 1)
    }

    /// Fails with [`StoreError::RefcountUnderflow`] at zero.
    pub fn ref_dec(&mut self, r: Ref) -> Result<u64> {
        self.ref_add(&r.key(), -1)
    }

    fn ref_add(&mut self, key: &str, delta: i64) -> Result<u64> {
        let current = self.with(REFS, |t| raw_u64(t, key))?;
        let Some(count) = current.checked_add_signed(delta) else {
            return Err(StoreError::RefcountUnderflow {
                key: key.to_string(),
            });
        };
        self.with(REFS, |t| {
            if count == 0 {
                t.remove(key)?;
            } else {
                t.insert(key, count)?;
            }
            Ok(())
        })?;
        Ok(count)
    }

    /// Removes a reference count whatever its value (repairs).
    pub fn ref_clear(&mut self, key: &str) -> Result<()> {
        self.with(REFS, |t| Ok(t.remove(key).map(drop)?))
    }

    /// Allocates the next value of a counter (1, 2, ...).
    pub fn next_counter(&mut self, name: &str) -> Result<u64> {
        self.with(COUNTERS, |t| {
            let next = raw_u64(t, name)? + 1;
            t.insert(name, next)?;
            Ok(next)
        })
    }

    pub fn snapshot_get(&self, id: SnapshotId) -> Result<Option<SnapshotRecord>> {
        let raw = self.with(SNAPSHOTS, |t| raw_get_at(t, id.as_u64()))?;
        raw.map(|v| decode_json(self.path, "snapshots", &id, &v))
            .transpose()
    }

    /// Marks a prepared snapshot complete, with its size in bytes.
    pub fn snapshot_commit(&mut self, id: SnapshotId, size: u64) -> Result<()> {
        let mut record = self.snapshot_expect(id, SnapshotState::Preparing)?;
        record.state = SnapshotState::Committed;
        record.size = size;
        record.last_used = self.now;
        self.snapshot_put(id, &record)
    }

    /// Records the measured size of a committed snapshot (GC and `du`
    /// measure snapshots committed with size 0, once).
    /// `false` if the snapshot is gone or not committed.
    pub fn snapshot_set_size(&mut self, id: SnapshotId, size: u64) -> Result<bool> {
        match self.snapshot_get(id)? {
            Some(mut record) if record.state == SnapshotState::Committed => {
                record.size = size;
                self.snapshot_put(id, &record)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Records a new snapshot as being prepared; returns its id.
    pub(crate) fn snapshot_create(&mut self, parent: Option<SnapshotId>) -> Result<SnapshotId> {
        let id = SnapshotId::from_u64(self.next_counter(SNAPSHOT_COUNTER)?);
        let record = SnapshotRecord {
            state: SnapshotState::Preparing,
            parent,
            size: 0,
            created: self.now,
            last_used: self.now,
        };
        self.snapshot_put(id, &record)?;
        Ok(id)
    }

    /// Marks a snapshot as being removed (its directory may be partly
    /// deleted from now on).
    pub(crate) fn snapshot_mark_removing(&mut self, id: SnapshotId) -> Result<bool> {
        let Some(mut record) = self.snapshot_get(id)? else {
            return Ok(false);
        };
        record.state = SnapshotState::Removing;
        self.snapshot_put(id, &record)?;
        Ok(true)
    }

    /// Forgets a snapshot whose directory is gone.
    pub(crate) fn snapshot_delete(&mut self, id: SnapshotId) -> Result<()> {
        self.with(SNAPSHOTS, |t| Ok(t.remove(id.as_u64()).map(drop)?))?;
        self.with(SNAPSHOT_WORK, |t| Ok(t.remove(id.as_u64()).map(drop)?))
    }

    fn snapshot_expect(&self, id: SnapshotId, state: SnapshotState) -> Result<SnapshotRecord> {
        let record = self
            .snapshot_get(id)?
            .ok_or(StoreError::SnapshotNotFound { id })?;
        if record.state != state {
            return Err(StoreError::SnapshotState {
                id,
                state: record.state.name(),
                expected: state.name(),
            });
        }
        Ok(record)
    }

    /// Writes the record and keeps `snapshot_work` listing exactly the
    /// snapshots that are not committed.
    fn snapshot_put(&mut self, id: SnapshotId, record: &SnapshotRecord) -> Result<()> {
        let json = serde_json::to_vec(record).expect("a snapshot record serializes");
        let key = id.as_u64();
        self.with(SNAPSHOTS, |t| {
            Ok(t.insert(key, json.as_slice()).map(drop)?)
        })?;
        self.with(SNAPSHOT_WORK, |t| {
            match record.state {
                SnapshotState::Committed => t.remove(key).map(drop)?,
                state => t.insert(key, state as u8).map(drop)?,
            }
            Ok(())
        })
    }

    /// Sets a last-used time if it moves forward.
    fn set_last_used(&mut self, what: &Touch, time: u64) -> Result<()> {
        match what {
            Touch::Cache(key) => match self.cache_get(key)? {
                Some(entry) if entry.last_used < time => self.cache_write(key, time, &entry.record),
                _ => Ok(()),
            },
            Touch::Snapshot(id) => match self.snapshot_get(*id)? {
                Some(mut record) if record.last_used < time => {
                    record.last_used = time;
                    self.snapshot_put(*id, &record)
                }
                _ => Ok(()),
            },
        }
    }
}

// ----- record encoding ---------------------------------------------------

fn encode_cache(last_used: u64, record: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + record.len());
    value.extend_from_slice(&last_used.to_le_bytes());
    value.extend_from_slice(record);
    value
}

fn decode_cache(path: &Path, key: &str, value: &[u8]) -> Result<CacheEntry> {
    let Some((time, record)) = value.split_first_chunk::<8>() else {
        return Err(corrupt(
            path,
            "cache",
            &key,
            "shorter than its 8-byte header",
        ));
    };
    Ok(CacheEntry {
        record: record.to_vec(),
        last_used: u64::from_le_bytes(*time),
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    table: &'static str,
    key: &dyn std::fmt::Display,
    value: &[u8],
) -> Result<T> {
    serde_json::from_slice(value).map_err(|e| corrupt(path, table, key, &e.to_string()))
}

fn corrupt(
    path: &Path,
    table: &'static str,
    key: &dyn std::fmt::Display,
    detail: &str,
) -> StoreError {
    StoreError::CorruptRecord {
        path: path.to_path_buf(),
        table,
        key: key.to_string(),
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Meta {
        fn is_writer(&self) -> bool {
            matches!(self.handle(), Handle::Writer(_))
        }
    }

    fn fresh() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        drop(Meta::open(&path).unwrap());
        (dir, path)
    }

    #[test]
    fn store_meta_reads_never_open_a_writer() {
        let (_dir, path) = fresh();
        let meta = Meta::open(&path).unwrap();
        meta.cache_put("k", b"v").unwrap();
        drop(meta);

        let meta = Meta::open(&path).unwrap();
        assert!(!meta.is_writer(), "an existing database opens read-only");
        for _ in 0..3 {
            assert!(meta.cache_get("k").unwrap().is_some());
        }
        meta.flush().unwrap();
        assert!(
            !meta.is_writer(),
            "a recent last-used time is not rewritten"
        );
        meta.cache_put("k2", b"v").unwrap();
        assert!(meta.is_writer());
    }

    #[test]
    fn store_meta_touch_updates_stale_last_used_in_batches() {
        let (_dir, path) = fresh();
        let meta = Meta::open(&path).unwrap();
        let old = now() - 2 * TOUCH_GRANULARITY.as_secs();
        meta.transaction(|tx| {
            tx.set_now(old);
            tx.cache_put("hot", b"r")?;
            let (id, _) = (tx.snapshot_create(None)?, ());
            tx.snapshot_commit(id, 1)
        })
        .unwrap();
        let snap = SnapshotId::from_u64(1);
        assert_eq!(meta.cache_get("hot").unwrap().unwrap().last_used, old);
        meta.touch(Touch::Snapshot(snap)).unwrap();
        // Nothing written until the flush.
        assert_eq!(
            meta.read(|tx| tx.cache_get("hot"))
                .unwrap()
                .unwrap()
                .last_used,
            old
        );
        meta.flush().unwrap();
        let used = meta
            .read(|tx| tx.cache_get("hot"))
            .unwrap()
            .unwrap()
            .last_used;
        assert!(used.abs_diff(now()) < 5);
        let snap_used = meta
            .read(|tx| tx.snapshot_get(snap))
            .unwrap()
            .unwrap()
            .last_used;
        assert!(snap_used.abs_diff(now()) < 5);
        // Touching something that is gone is not an error.
        meta.touch(Touch::Cache("gone".into())).unwrap();
        meta.flush().unwrap();
    }

    #[test]
    fn store_meta_newer_format_is_refused() {
        let (_dir, path) = fresh();
        let meta = Meta::open(&path).unwrap();
        meta.transaction(|tx| {
            tx.with(COUNTERS, |t| {
                Ok(t.insert(FORMAT_COUNTER, FORMAT + 1).map(drop)?)
            })
        })
        .unwrap();
        drop(meta);
        assert!(matches!(
            Meta::open(&path),
            Err(StoreError::UnsupportedFormat { found: 2, .. })
        ));
    }

    #[test]
    fn store_meta_corrupt_record_is_an_error() {
        let (_dir, path) = fresh();
        let meta = Meta::open(&path).unwrap();
        meta.transaction(|tx| {
            tx.with(CACHE, |t| Ok(t.insert("short", &b"abc"[..]).map(drop)?))?;
            tx.with(TAGS, |t| {
                Ok(t.insert("bad", &b"{not json"[..]).map(drop)?)
            })
        })
        .unwrap();
        assert!(matches!(
            meta.cache_get("short"),
            Err(StoreError::CorruptRecord { table: "cache", .. })
        ));
        assert!(matches!(
            meta.tag_get("bad"),
            Err(StoreError::CorruptRecord { table: "tags", .. })
        ));
    }
}
