//! The content store: immutable blobs named by their sha256 digest.
//!
//! ```text
//! blobs/sha256/<hex>    committed blobs, mode 0444, never modified
//! ingest/<random>       blobs being written, each flock'ed by its writer
//! ```
//!
//! A blob becomes visible only through `rename(2)` from `ingest/` into
//! `blobs/sha256/`, after its bytes were hashed, compared with the expected
//! digest and fsync'ed; the directory is fsync'ed after the rename. So a
//! file under `blobs/` is always complete, whatever instant a process dies
//! at, and even after a power loss. What a crash can leave behind is a temp
//! file in `ingest/`: [`ContentStore::clean_ingest`] removes the ones whose
//! writer is gone (their flock is free) once they are old enough.
//!
//! Two processes writing the same blob at once both succeed: the second
//! rename replaces a file with identical content, or the second writer sees
//! the blob already there and drops its temp file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::error::{IoContext, Result, StoreError};
use super::lock;

/// Buffer between the caller's writes and the temp file.
const WRITE_BUFFER: usize = 256 * 1024;

/// Size and digest of a stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

/// The blob half of the store. Cheap to clone: it is two paths.
#[derive(Debug, Clone)]
pub struct ContentStore {
    /// `<root>/blobs/sha256`
    blobs: PathBuf,
    /// `<root>/ingest`
    ingest: PathBuf,
}

impl ContentStore {
    /// Uses `blobs` and `ingest`, which must exist on one filesystem.
    pub(crate) fn new(blobs: PathBuf, ingest: PathBuf) -> ContentStore {
        ContentStore { blobs, ingest }
    }

    /// Starts writing a new blob into a temp file under `ingest/`.
    pub fn writer(&self) -> Result<BlobWriter> {
        let (file, temp) = create_temp(&self.ingest)?;
        lock::try_exclusive(&file).at("lock", &temp)?;
        Ok(BlobWriter {
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            hasher: Sha256::new(),
            size: 0,
            temp: Some(temp),
            blobs: self.blobs.clone(),
            keep: false,
        })
    }

    /// Continues (or starts) a download kept in `partial`, a file outside
    /// `ingest/` on the store's filesystem that survives a crash: waits
    /// for any other writer of it, re-hashes what is there and appends.
    /// Dropping the writer keeps the file for the next attempt; a commit
    /// moves it into place, and a digest mismatch deletes it.
    pub fn resume_writer(&self, partial: &Path) -> Result<BlobWriter> {
        use std::os::unix::fs::MetadataExt;
        let mut file = loop {
            let file = File::options()
                .read(true)
                .append(true)
                .create(true)
                .open(partial)
                .at("open", partial)?;
            lock::exclusive(&file).at("lock", partial)?;
            // The writer we waited for may have moved the file into place:
            // then start on a new one.
            let ours = file.metadata().at("stat", partial)?.ino();
            if fs::metadata(partial).is_ok_and(|m| m.ino() == ours) {
                break file;
            }
        };
        let mut hasher = Sha256::new();
        let size = hash_into(&mut file, &mut hasher).at("read", partial)?;
        Ok(BlobWriter {
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            hasher,
            size,
            temp: Some(partial.to_path_buf()),
            blobs: self.blobs.clone(),
            keep: true,
        })
    }

    /// Writes `bytes` as a blob: `writer()`, `write_all`, `commit`.
    pub fn write_blob(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let mut writer = self.writer()?;
        writer.write_all(bytes).at("write", writer.temp_path())?;
        writer.commit(expected)
    }

    /// Where the blob lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Opens a blob for reading.
    pub fn open(&self, digest: &Digest) -> Result<File> {
        let path = self.path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound {
                digest: digest.clone(),
                path,
            },
            _ => StoreError::io("open", &path, e),
        })
    }

    /// The blob's size, or `None` if it is not stored.
    pub fn info(&self, digest: &Digest) -> Result<Option<u64>> {
        let path = self.path(digest);
        match fs::metadata(&path) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("stat", &path, e)),
        }
    }

    /// Whether the blob is stored.
    pub fn contains(&self, digest: &Digest) -> Result<bool> {
        Ok(self.info(digest)?.is_some())
    }

    /// Deletes a blob; `false` if it was not there. Not fsync'ed: a blob
    /// that reappears after a power loss is still correct content.
    pub fn delete(&self, digest: &Digest) -> Result<bool> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io("delete", &path, e)),
        }
    }

    /// Every stored blob, in directory order. Files whose name is not a
    /// digest (foreign files) are skipped; use [`verify`](Self::verify)
    /// to check contents.
    pub fn walk(&self) -> Result<impl Iterator<Item = Result<BlobInfo>> + '_> {
        let entries = fs::read_dir(&self.blobs).at("list", &self.blobs)?;
        Ok(entries.filter_map(move |entry| self.walk_entry(entry).transpose()))
    }

    fn walk_entry(&self, entry: io::Result<fs::DirEntry>) -> Result<Option<BlobInfo>> {
        let entry = entry.at("list", &self.blobs)?;
        let Some(digest) = entry
            .file_name()
            .to_str()
            .and_then(|n| Digest::from_hex(n).ok())
        else {
            return Ok(None);
        };
        match entry.metadata() {
            Ok(meta) if meta.is_file() => Ok(Some(BlobInfo {
                digest,
                size: meta.len(),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("stat", entry.path(), e)),
        }
    }

    /// Re-hashes a stored blob; a [`StoreError::DigestMismatch`] means the
    /// file was damaged or replaced behind the store's back.
    pub fn verify(&self, digest: &Digest) -> Result<()> {
        let path = self.path(digest);
        let mut file = self.open(digest)?;
        let actual = hash_reader(&mut file).at("read", &path)?;
        if &actual != digest {
            return Err(StoreError::DigestMismatch {
                path,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Removes temp files in `ingest/` whose writer is gone (the file is
    /// not flock'ed) and that were last modified at least `min_age` ago.
    /// The age guards the instant between a writer creating its file and
    /// locking it. Returns how many files were removed.
    pub fn clean_ingest(&self, min_age: Duration) -> Result<usize> {
        let entries = fs::read_dir(&self.ingest).at("list", &self.ingest)?;
        let mut removed = 0;
        for entry in entries {
            let path = entry.at("list", &self.ingest)?.path();
            if is_stale_temp(&path, min_age)? {
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("delete", &path, e)),
                }
            }
        }
        Ok(removed)
    }
}

/// A regular file, unlocked, not modified for `min_age`.
fn is_stale_temp(path: &Path, min_age: Duration) -> Result<bool> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::io("open", path, e)),
    };
    let meta = file.metadata().at("stat", path)?;
    if !meta.is_file() || !lock::try_exclusive(&file).at("lock", path)? {
        return Ok(false);
    }
    let modified = meta.modified().at("stat", path)?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    Ok(age >= min_age)
}

/// Creates a new, uniquely named file in `dir`.
fn create_temp(dir: &Path) -> Result<(File, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{:x}-{nanos:x}-{n:x}", std::process::id()));
        match File::options().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StoreError::io("create", &path, e)),
        }
    }
}

/// Feeds everything `reader` has into `hasher`; returns the byte count.
fn hash_into(reader: &mut impl Read, hasher: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0u8; WRITE_BUFFER];
    let mut total = 0;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn hash_reader(reader: &mut impl Read) -> io::Result<Digest> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; WRITE_BUFFER];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(Digest::from_sha256(hasher.finalize().into())),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Streams one blob into `ingest/`, hashing as it goes (never holding the
/// blob in memory). Finish with [`commit`](Self::commit); dropping the
/// writer without committing deletes the temp file.
#[derive(Debug)]
pub struct BlobWriter {
    /// `None` once committed.
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    size: u64,
    /// The temp file; `None` once it was renamed or removed.
    temp: Option<PathBuf>,
    blobs: PathBuf,
    /// A resumable download: dropping keeps the partial file.
    keep: bool,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Drops the writer and its file, even a resumable one.
    pub fn discard(mut self) {
        self.keep = false;
    }

    /// The temp file being written (for error messages).
    pub fn temp_path(&self) -> &Path {
        self.temp.as_deref().unwrap_or(Path::new("ingest"))
    }

    /// Verifies the digest (if `expected` is given), makes the bytes
    /// durable and moves the blob into place. On a mismatch the temp file
    /// is removed and nothing is stored.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<Digest> {
        let temp = self.temp.clone().expect("temp path is set until commit");
        let file = self.finish_file(&temp)?;
        let actual = Digest::from_sha256(std::mem::take(&mut self.hasher).finalize().into());
        let target = self.blobs.join(actual.hex());
        if let Some(expected) = expected.filter(|e| **e != actual) {
            // Wrong bytes are never worth resuming.
            self.keep = false;
            return Err(StoreError::DigestMismatch {
                path: self.blobs.join(expected.hex()),
                expected: expected.clone(),
                actual,
            });
        }
        if already_stored(&target, self.size) {
            self.keep = false;
            return Ok(actual); // Drop removes the temp file.
        }
        publish(&file, &temp, &target, &self.blobs)?;
        self.temp = None;
        Ok(actual)
    }

    fn finish_file(&mut self, temp: &Path) -> Result<File> {
        let writer = self.file.take().expect("file is set until commit");
        writer
            .into_inner()
            .map_err(|e| StoreError::io("write", temp, e.into_error()))
    }
}

/// A complete blob of the right size is already in place. (A file of
/// another size is damage: the new one replaces it.)
fn already_stored(target: &Path, size: u64) -> bool {
    fs::metadata(target).is_ok_and(|meta| meta.is_file() && meta.len() == size)
}

/// fsync the file, rename it into place, fsync the directory.
fn publish(file: &File, temp: &Path, target: &Path, dir: &Path) -> Result<()> {
    file.set_permissions(fs::Permissions::from_mode(0o444))
        .at("chmod", temp)?;
    file.sync_all().at("fsync", temp)?;
    fs::rename(temp, target).at("rename into place", target)?;
    sync_dir(dir)
}

/// fsync a directory, making renames and creations in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("fsync directory", dir)
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self.file.as_mut().ok_or(io::ErrorKind::BrokenPipe)?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            if self.keep {
                if let Some(mut file) = self.file.take() {
                    let _ = file.flush();
                }
            } else {
                let _ = fs::remove_file(temp);
            }
        }
    }
}
