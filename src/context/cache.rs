//! The per-context metadata cache: `lstat` fields of a file -> its content
//! digest, so that an unchanged context is re-verified with `stat` alone.
//!
//! One file per context directory, named by the SHA-256 of the canonical
//! context path, in a compact binary format:
//!
//! ```text
//! "KILNCTX" 0x01 | u32 len, root path | u64 count |
//!   count x (u32 len, path | u64 size | i64 mtime_ns | i64 ctime_ns |
//!            u64 inode | u32 mode | [u8; 32] digest) |
//! [u8; 32] SHA-256 of everything before
//! ```
//!
//! (little endian). A file that is truncated, corrupt, of another version or
//! for another context is ignored and rebuilt. It is replaced atomically
//! (temporary file, `fsync`, rename), so concurrent builds of one context
//! at worst lose each other's additions.

use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::walk::Stat;
use super::ContextError;

const MAGIC: &[u8; 8] = b"KILNCTX\x01";

/// The keys are paths from the local disk, not attacker-chosen in any way
/// that matters here, so a fast multiplicative hash (FxHash's) does instead
/// of SipHash: a warm check is one lookup per file.
#[derive(Default)]
struct PathHasher(u64);

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write(&(n as u64).to_le_bytes());
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type PathMap<V> = HashMap<Vec<u8>, V, BuildHasherDefault<PathHasher>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
    mode: u32,
}

impl Key {
    fn of(stat: &Stat) -> Key {
        Key {
            size: stat.size,
            mtime_ns: stat.mtime_ns,
            ctime_ns: stat.ctime_ns,
            ino: stat.ino,
            mode: stat.mode,
        }
    }
}

#[derive(Debug, Clone)]
struct Record {
    key: Key,
    digest: [u8; 32],
    /// The generation that last looked it up or stored it (0: loaded and
    /// not used since).
    generation: u64,
}

pub(crate) struct MetaCache {
    /// Where it is persisted (`None`: in memory only).
    file: Option<PathBuf>,
    /// The canonical context root, recorded in the file.
    root: Vec<u8>,
    records: PathMap<Record>,
    dirty: bool,
    /// Bumped by each selection.
    generation: u64,
    /// The generation of the last selection that covered the whole
    /// context: records not used since are for files that are gone (or now
    /// ignored).
    full_walk: Option<u64>,
}

impl std::fmt::Debug for MetaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaCache")
            .field("file", &self.file)
            .field("records", &self.records.len())
            .field("dirty", &self.dirty)
            .finish_non_exhaustive()
    }
}

impl MetaCache {
    /// Opens the cache of the context at `root` (canonical) under
    /// `cache_dir`; a missing or unreadable cache starts empty.
    pub fn open(cache_dir: Option<&Path>, root: &Path) -> MetaCache {
        let root_bytes = root.as_os_str().as_bytes().to_vec();
        let file = cache_dir.map(|dir| {
            let name = hex::encode(Sha256::digest(&root_bytes));
            dir.join(format!("{name}.ctx"))
        });
        let records = file
            .as_deref()
            .and_then(|f| fs::read(f).ok())
            .and_then(|data| decode(&data, &root_bytes))
            .unwrap_or_default();
        MetaCache {
            file,
            root: root_bytes,
            records,
            dirty: false,
            generation: 0,
            full_walk: None,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The digest recorded for `rel` if its metadata is unchanged.
    pub fn lookup(&mut self, rel: &[u8], stat: &Stat) -> Option<[u8; 32]> {
        let record = self.records.get_mut(rel)?;
        record.generation = self.generation;
        (record.key == Key::of(stat)).then_some(record.digest)
    }

    pub fn insert(&mut self, rel: &[u8], stat: &Stat, digest: [u8; 32]) {
        let record = Record {
            key: Key::of(stat),
            digest,
            generation: self.generation,
        };
        match self.records.get_mut(rel) {
            Some(old) if old.key == record.key && old.digest == digest => {
                old.generation = self.generation
            }
            Some(old) => {
                *old = record;
                self.dirty = true;
            }
            None => {
                self.records.insert(rel.to_vec(), record);
                self.dirty = true;
            }
        }
    }

    /// Forgets `rel` (its file changed while being read).
    pub fn remove(&mut self, rel: &[u8]) {
        if self.records.remove(rel).is_some() {
            self.dirty = true;
        }
    }

    /// Starts a selection; returns its generation.
    pub fn begin(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// The selection of generation `generation` covered the whole context.
    pub fn set_full_walk(&mut self, generation: u64) {
        self.full_walk = Some(self.full_walk.map_or(generation, |g| g.max(generation)));
    }

    /// Writes the cache if it changed.
    pub fn save(&mut self) -> Result<(), ContextError> {
        if let Some(full) = self.full_walk {
            let before = self.records.len();
            self.records.retain(|_, r| r.generation >= full);
            if self.records.len() != before {
                self.dirty = true;
            }
        }
        let Some(file) = self.file.clone() else {
            self.dirty = false;
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let data = self.encode();
        write_atomic(&file, &data).map_err(|source| ContextError::CacheWrite {
            path: file.clone(),
            source,
        })?;
        self.dirty = false;
        Ok(())
    }

    fn encode(&self) -> Vec<u8> {
        let mut paths: Vec<&Vec<u8>> = self.records.keys().collect();
        paths.sort_unstable();
        let mut out = Vec::with_capacity(64 + self.records.len() * 100);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.root.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&(paths.len() as u64).to_le_bytes());
        for path in paths {
            let r = &self.records[path];
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path);
            out.extend_from_slice(&r.key.size.to_le_bytes());
            out.extend_from_slice(&r.key.mtime_ns.to_le_bytes());
            out.extend_from_slice(&r.key.ctime_ns.to_le_bytes());
            out.extend_from_slice(&r.key.ino.to_le_bytes());
            out.extend_from_slice(&r.key.mode.to_le_bytes());
            out.extend_from_slice(&r.digest);
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }
}

/// Reads a cache file; `None` if it is not a valid cache for `root`.
fn decode(data: &[u8], root: &[u8]) -> Option<PathMap<Record>> {
    let body_len = data.len().checked_sub(32)?;
    let (body, sum) = data.split_at(body_len);
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let mut r = Reader(body);
    if r.take(8)? != MAGIC {
        return None;
    }
    let root_len = r.u32()? as usize;
    if r.take(root_len)? != root {
        return None;
    }
    let count = r.u64()?;
    // Each record is at least 4 + 36 + 32 bytes: refuse absurd counts.
    if count > (r.0.len() / 72) as u64 {
        return None;
    }
    let mut records = PathMap::with_capacity_and_hasher(count as usize, Default::default());
    for _ in 0..count {
        let len = r.u32()? as usize;
        let path = r.take(len)?.to_vec();
        let key = Key {
            size: r.u64()?,
            mtime_ns: r.u64()? as i64,
            ctime_ns: r.u64()? as i64,
            ino: r.u64()?,
            mode: r.u32()?,
        };
        let digest: [u8; 32] = r.take(32)?.try_into().ok()?;
        records.insert(
            path,
            Record {
                key,
                digest,
                generation: 0,
            },
        );
    }
    r.0.is_empty().then_some(records)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// Replaces `path` with `data`: written to a temporary file beside it,
/// synced, then renamed over it.
fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_data()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
