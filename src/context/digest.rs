//! Content digests of context files: streaming SHA-256, spread over the
//! cores for large sets.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::walk::Stat;

/// Read size: large enough that system calls do not show, small enough to
/// stay in the cache.
const BUF_SIZE: usize = 256 * 1024;

/// Below this much data the work stays on the calling thread.
const PARALLEL_MIN_BYTES: u64 = 4 * 1024 * 1024;

/// The result of reading one file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hashed {
    pub digest: [u8; 32],
    /// Bytes read (the size the digest is of).
    pub size: u64,
    /// `fstat` of the open file after reading it.
    pub after: Stat,
}

/// Hashes the regular file at `path`, which must not be a symlink (it is
/// opened with `O_NOFOLLOW`, and `O_NONBLOCK` so that a file swapped for a
/// FIFO cannot hang the build).
pub(crate) fn hash_file(path: &Path, buf: &mut [u8]) -> io::Result<Hashed> {
    let mut file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let before = file.metadata()?;
    if !before.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (changed while reading the context)",
        ));
    }
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = match file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let after = Stat::new(&file.metadata()?);
    Ok(Hashed {
        digest: hasher.finalize().into(),
        size,
        after,
    })
}

/// Hashes `paths` (with their expected sizes, for scheduling), in parallel
/// when there is enough to do. Results are in the order of `paths`.
pub(crate) fn hash_files(paths: &[(&Path, u64)]) -> Vec<io::Result<Hashed>> {
    let total: u64 = paths.iter().map(|p| p.1).sum();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len());
    if threads <= 1 || total < PARALLEL_MIN_BYTES {
        let mut buf = vec![0u8; BUF_SIZE];
        return paths.iter().map(|(p, _)| hash_file(p, &mut buf)).collect();
    }
    // Largest first, so that one big file does not finish alone at the end.
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(paths[i].1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<io::Result<Hashed>>>> =
        Mutex::new((0..paths.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = vec![0u8; BUF_SIZE];
                let mut done = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = order.get(k) else { break };
                    done.push((i, hash_file(paths[i].0, &mut buf)));
                }
                let mut results = results.lock().unwrap_or_else(|e| e.into_inner());
                for (i, r) in done {
                    results[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every file hashed"))
        .collect()
}
