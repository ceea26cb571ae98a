//! The build context: walking it, `.dockerignore`, content digests.
//!
//! [`Context::open`] reads the ignore file (`<Dockerfile>.dockerignore`
//! beside the Dockerfile when it exists, else `.dockerignore` at the context
//! root) and the metadata cache. [`Context::selection_digest`] then digests
//! what a COPY/ADD reads, walking only the selected paths: content digests
//! are computed on demand, in parallel, and reused from the cache while a
//! file's `lstat` (size, mtime, ctime, inode, mode) is unchanged.
//!
//! Nothing outside the context root is ever read: sources are cleaned as
//! `path.Clean("/" + src)`, symlinks inside the context are digested as
//! symlinks, and where a symlink is followed (path components, and the
//! source itself when asked) it is resolved inside the root, an absolute
//! target or `..` staying at the root as in BuildKit.
//!
//! ```no_run
//! use std::path::Path;
//! use kiln::context::Context;
//!
//! let ctx = Context::open(Path::new("."), None, Some(Path::new("/var/lib/kiln/context-cache")))?;
//! let digest = ctx.selection_digest(&["src/".to_owned(), "*.toml".to_owned()], true)?;
//! assert!(digest.starts_with("sha256:"));
//! if ctx.is_excluded("node_modules") {
//!     // The copy engine leaves it out too.
//! }
//! ctx.save()?;
//! # Ok::<(), kiln::context::ContextError>(())
//! ```

mod cache;
mod digest;
pub mod dockerignore;
#[cfg(test)]
mod tests;
mod walk;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use kiln_solver::gopath;
use sha2::{Digest, Sha256};

use cache::MetaCache;
use dockerignore::Matcher;
use walk::{display_rel, Entry, Kind, Tree};

/// The ignore file Docker reads at the context root.
pub const DOCKERIGNORE: &str = ".dockerignore";

/// Files whose ctime or mtime is this close to (or after) the start of a
/// digest are hashed but not cached: a write in the same timestamp tick
/// could otherwise go unnoticed (git's "racy clean" problem). Two seconds
/// covers file systems with coarse timestamps.
const RACY_MARGIN_NS: i64 = 2_000_000_000;

/// Why the context could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The context directory cannot be opened.
    #[error("unable to open build context {}: {source}", .path.display())]
    Root { path: PathBuf, source: io::Error },
    /// The context path is not a directory.
    #[error("build context {} is not a directory", .path.display())]
    NotADirectory { path: PathBuf },
    /// An ignore file exists but cannot be read.
    #[error("reading {}: {source}", .path.display())]
    IgnoreFile { path: PathBuf, source: io::Error },
    /// An ignore file has a pattern Docker refuses.
    #[error("{}: {source}{}", .path.display(), pattern_suffix(.source))]
    IgnorePattern {
        path: PathBuf,
        source: dockerignore::Error,
    },
    /// A COPY/ADD source that is not in the context (missing, or left out
    /// by `.dockerignore`). `path` is as BuildKit names it: `/a/b`.
    #[error("\"{path}\": not found")]
    NotFound { path: String },
    /// A cycle (or more than 255 symlinks) while resolving a source.
    #[error("\"{path}\": too many levels of symbolic links")]
    TooManyLinks { path: String },
    /// A file of the context cannot be read.
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The metadata cache cannot be written.
    #[error("saving context cache {}: {source}", .path.display())]
    CacheWrite { path: PathBuf, source: io::Error },
}

fn pattern_suffix(e: &dockerignore::Error) -> String {
    e.pattern()
        .map(|p| format!(" (pattern {p:?})"))
        .unwrap_or_default()
}

/// Work counters, for progress output and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextStats {
    /// Files whose content was read and hashed.
    pub files_hashed: u64,
    /// Bytes read for those.
    pub bytes_hashed: u64,
    /// File digests taken from the metadata cache.
    pub cache_hits: u64,
}

/// One source of a selection and the entries each of its matches covers.
struct Source {
    src: Vec<u8>,
    matches: Vec<(Vec<u8>, Range<usize>)>,
}

/// The entries a selection covers and the digests of its files.
struct Selection {
    sources: Vec<Source>,
    entries: Vec<Entry>,
    digests: Vec<Option<[u8; 32]>>,
}

/// A build context directory with its `.dockerignore` and digest cache.
///
/// `Send + Sync`: digests may be computed from several threads at once.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    matcher: Matcher,
    ignore_file: Option<PathBuf>,
    cache: Mutex<MetaCache>,
    files_hashed: AtomicU64,
    bytes_hashed: AtomicU64,
    cache_hits: AtomicU64,
    racy_margin_ns: i64,
}

impl Context {
    /// Opens the context at `dir`.
    ///
    /// `dockerfile` is the Dockerfile's path (relative paths are relative to
    /// the current directory, like `-f`; `None` means `dir/Dockerfile`):
    /// `<its name>.dockerignore` in its directory is used when it exists,
    /// otherwise `dir/.dockerignore`. `cache_dir` is where metadata caches
    /// are kept (e.g. `$KILN_ROOT/context-cache`); `None` keeps it in memory.
    pub fn open(
        dir: &Path,
        dockerfile: Option<&Path>,
        cache_dir: Option<&Path>,
    ) -> Result<Context, ContextError> {
        let root = dir.canonicalize().map_err(|source| ContextError::Root {
            path: dir.to_path_buf(),
            source,
        })?;
        let md = std::fs::metadata(&root).map_err(|source| ContextError::Root {
            path: dir.to_path_buf(),
            source,
        })?;
        if !md.is_dir() {
            return Err(ContextError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }

        let (df_dir, df_name): (PathBuf, OsString) = match dockerfile {
            Some(df) => {
                let parent = match df.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let name = df.file_name().map(OsString::from).unwrap_or_default();
                (parent, name)
            }
            None => (root.clone(), OsString::from("Dockerfile")),
        };
        let mut ignore: Option<(PathBuf, Vec<u8>)> = None;
        if !df_name.is_empty() {
            let mut name = df_name;
            name.push(".dockerignore");
            if let Ok(df_dir) = df_dir.canonicalize() {
                ignore = read_inside(&df_dir, name.as_bytes())?;
            }
        }
        if ignore.is_none() {
            ignore = read_inside(&root, DOCKERIGNORE.as_bytes())?;
        }
        let (matcher, ignore_file) = match ignore {
            Some((path, data)) => {
                let matcher = Matcher::from_ignore_file(&String::from_utf8_lossy(&data)).map_err(
                    |source| ContextError::IgnorePattern {
                        path: path.clone(),
                        source,
                    },
                )?;
                (matcher, Some(path))
            }
            None => (Matcher::default(), None),
        };

        let cache = MetaCache::open(cache_dir, &root);
        Ok(Context {
            root,
            matcher,
            ignore_file,
            cache: Mutex::new(cache),
            files_hashed: AtomicU64::new(0),
            bytes_hashed: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            racy_margin_ns: RACY_MARGIN_NS,
        })
    }

    /// The context directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ignore file in use, if any.
    pub fn ignore_file(&self) -> Option<&Path> {
        self.ignore_file.as_deref()
    }

    /// The compiled ignore patterns (empty without an ignore file).
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Where the metadata cache is persisted, if anywhere.
    pub fn cache_file(&self) -> Option<PathBuf> {
        self.lock_cache().path().map(Path::to_path_buf)
    }

    /// Work done so far.
    pub fn stats(&self) -> ContextStats {
        ContextStats {
            files_hashed: self.files_hashed.load(Ordering::Relaxed),
            bytes_hashed: self.bytes_hashed.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
        }
    }

    /// Whether the relative path `rel` (`a/b`; cleaned first, `..` cannot
    /// leave the root) is left out by `.dockerignore`: Docker's decision
    /// for that path during its context walk. An excluded directory below
    /// which an exception re-includes something is reported excluded
    /// (Docker still sends it, as a parent). The root never is.
    pub fn is_excluded(&self, rel: &str) -> bool {
        if self.matcher.is_empty() {
            return false;
        }
        let cleaned = gopath::clean_source(rel.as_bytes());
        if cleaned.is_empty() {
            return false;
        }
        self.matcher.matches(&String::from_utf8_lossy(&cleaned))
    }

    /// The digest (`sha256:<hex>`) of everything a COPY/ADD with sources
    /// `srcs` reads from the context.
    ///
    /// Each source is cleaned as `path.Clean("/" + src)` (so `.`, `/` and
    /// `./` are the root and `../x` is `x`); a component with an unescaped
    /// `*`, `?` or `[` makes it a `filepath.Match` pattern, matched below
    /// the components before it like BuildKit does (a matching directory
    /// is not searched further; no match is not an error). For each match,
    /// and for a directory everything below it, minus what `.dockerignore`
    /// leaves out, the digest covers the path, type, permission bits,
    /// symlink target, size and content digest (not owners or times), and
    /// hard links between the files. Symlinks in the path are followed
    /// inside the context; the matched entry itself only if
    /// `follow_symlinks`.
    ///
    /// A source without wildcards that is not in the context is
    /// [`ContextError::NotFound`].
    pub fn selection_digest(
        &self,
        srcs: &[String],
        follow_symlinks: bool,
    ) -> Result<String, ContextError> {
        let Selection {
            sources,
            entries,
            digests,
        } = self.select(srcs, follow_symlinks)?;
        // 3. The selection digest.
        let mut h = Sha256::new();
        h.update(b"kiln.context.selection.v1\0");
        h.update([u8::from(follow_symlinks)]);
        let mut links: HashMap<(u64, u64), usize> = HashMap::new();
        for source in &sources {
            put(&mut h, b'S', &source.src);
            for (name, range) in &source.matches {
                put(&mut h, b'M', name);
                for i in range.clone() {
                    let e = &entries[i];
                    if e.kind == Kind::File && e.stat.nlink > 1 {
                        match links.entry((e.stat.dev, e.stat.ino)) {
                            std::collections::hash_map::Entry::Occupied(o) => {
                                put(&mut h, b'h', &e.rel);
                                put(&mut h, b'=', &entries[*o.get()].rel);
                                continue;
                            }
                            std::collections::hash_map::Entry::Vacant(v) => {
                                v.insert(i);
                            }
                        }
                    }
                    put(&mut h, e.kind.tag(), &e.rel);
                    h.update((e.stat.mode & 0o7777).to_le_bytes());
                    match e.kind {
                        Kind::File => {
                            h.update(e.stat.size.to_le_bytes());
                            h.update(digests[i].expect("file digested"));
                        }
                        Kind::Symlink => put(&mut h, b'>', &e.target),
                        Kind::CharDevice | Kind::BlockDevice => {
                            h.update(e.stat.rdev.to_le_bytes());
                        }
                        Kind::Dir | Kind::Fifo | Kind::Socket => {}
                    }
                }
            }
        }
        Ok(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// What [`selection_digest`](Self::selection_digest) covers, file by
    /// file: relative path -> a fingerprint of its type, mode and content
    /// (for `kiln build --explain` to say which files changed).
    pub fn file_fingerprints(
        &self,
        srcs: &[String],
        follow_symlinks: bool,
    ) -> Result<std::collections::BTreeMap<String, String>, ContextError> {
        let sel = self.select(srcs, follow_symlinks)?;
        let mut out = std::collections::BTreeMap::new();
        for (i, e) in sel.entries.iter().enumerate() {
            let content = match e.kind {
                Kind::File => hex::encode(sel.digests[i].expect("file digested")),
                Kind::Symlink => String::from_utf8_lossy(&e.target).into_owned(),
                _ => String::new(),
            };
            let fingerprint = format!(
                "{}:{:o}:{content}",
                e.kind.tag() as char,
                e.stat.mode & 0o7777
            );
            out.insert(String::from_utf8_lossy(&e.rel).into_owned(), fingerprint);
        }
        Ok(out)
    }

    /// Steps 1 and 2 of a selection: the entries the sources match, and
    /// the content digests of its files.
    fn select(&self, srcs: &[String], follow_symlinks: bool) -> Result<Selection, ContextError> {
        let start_ns = now_ns();
        let generation = self.lock_cache().begin();
        let tree = Tree {
            root: &self.root,
            matcher: &self.matcher,
        };

        // 1. Walk: sources -> matches -> entries.
        let mut sources = Vec::with_capacity(srcs.len());
        let mut entries: Vec<Entry> = Vec::new();
        let mut full_walk = false;
        for src in srcs {
            let cleaned = gopath::clean_source(src.as_bytes());
            let (fixed, wild) = gopath::split_wildcards(&cleaned);
            let names = if wild.is_empty() {
                vec![cleaned.clone()]
            } else {
                let base = tree
                    .resolve(&fixed, follow_symlinks)?
                    .ok_or_else(|| not_found(&fixed))?;
                tree.find_matches(&base, &wild)?
            };
            let mut matches = Vec::with_capacity(names.len());
            for name in names {
                let found = tree
                    .resolve(&name, follow_symlinks)?
                    .ok_or_else(|| not_found(&name))?;
                let begin = entries.len();
                if !tree.collect(&found, &mut entries)? {
                    return Err(not_found(&name));
                }
                if found.rel.is_empty() {
                    full_walk = true;
                }
                matches.push((name, begin..entries.len()));
            }
            sources.push(Source {
                src: cleaned,
                matches,
            });
        }

        // 2. Content digests: from the cache, else read (once per inode).
        let mut digests: Vec<Option<[u8; 32]>> = vec![None; entries.len()];
        let mut jobs: Vec<Vec<usize>> = Vec::new();
        {
            let mut cache = self.lock_cache();
            let mut by_inode: HashMap<(u64, u64), usize> = HashMap::new();
            let mut hits = 0;
            for (i, e) in entries.iter().enumerate() {
                if e.kind != Kind::File {
                    continue;
                }
                if let Some(d) = cache.lookup(&e.rel, &e.stat) {
                    digests[i] = Some(d);
                    hits += 1;
                    continue;
                }
                match by_inode.entry((e.stat.dev, e.stat.ino)) {
                    std::collections::hash_map::Entry::Occupied(o) => jobs[*o.get()].push(i),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(jobs.len());
                        jobs.push(vec![i]);
                    }
                }
            }
            self.cache_hits.fetch_add(hits, Ordering::Relaxed);
            if full_walk {
                cache.set_full_walk(generation);
            }
        }
        if !jobs.is_empty() {
            let paths: Vec<(PathBuf, u64)> = jobs
                .iter()
                .map(|j| (tree.abs(&entries[j[0]].rel), entries[j[0]].stat.size))
                .collect();
            let refs: Vec<(&Path, u64)> = paths.iter().map(|(p, s)| (p.as_path(), *s)).collect();
            let results = digest::hash_files(&refs);
            let mut cache = self.lock_cache();
            let mut bytes = 0;
            for (job, result) in jobs.iter().zip(results) {
                let first = &entries[job[0]];
                let hashed = result.map_err(|source| ContextError::Io {
                    path: tree.abs(&first.rel),
                    source,
                })?;
                bytes += hashed.size;
                for &i in job {
                    let e = &mut entries[i];
                    let unchanged = hashed.after.size == e.stat.size
                        && hashed.after.mtime_ns == e.stat.mtime_ns
                        && hashed.after.ctime_ns == e.stat.ctime_ns
                        && hashed.after.ino == e.stat.ino
                        && hashed.after.mode == e.stat.mode;
                    let racy = e.stat.mtime_ns.max(e.stat.ctime_ns)
                        >= start_ns.saturating_sub(self.racy_margin_ns);
                    if unchanged && !racy {
                        cache.insert(&e.rel, &e.stat, hashed.digest);
                    } else {
                        cache.remove(&e.rel);
                    }
                    e.stat.size = hashed.size;
                    digests[i] = Some(hashed.digest);
                }
            }
            self.files_hashed
                .fetch_add(jobs.len() as u64, Ordering::Relaxed);
            self.bytes_hashed.fetch_add(bytes, Ordering::Relaxed);
        }

        Ok(Selection {
            sources,
            entries,
            digests,
        })
    }

    /// Saves the metadata cache if it changed (atomically; a no-op without
    /// a cache directory).
    pub fn save(&self) -> Result<(), ContextError> {
        self.lock_cache().save()
    }

    fn lock_cache(&self) -> MutexGuard<'_, MetaCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    pub(crate) fn set_racy_margin_ns(&mut self, ns: i64) {
        self.racy_margin_ns = ns;
    }

    #[cfg(test)]
    pub(crate) fn cached_records(&self) -> usize {
        self.lock_cache().len()
    }
}

/// Reads the file `name` inside `dir`, symlinks resolved inside `dir`.
/// `None` if it does not exist (or is not a regular file).
fn read_inside(dir: &Path, name: &[u8]) -> Result<Option<(PathBuf, Vec<u8>)>, ContextError> {
    let empty = Matcher::default();
    let tree = Tree {
        root: dir,
        matcher: &empty,
    };
    let Some(found) = tree.resolve(&gopath::clean_source(name), true)? else {
        return Ok(None);
    };
    if !found.md.is_file() || found.rel.is_empty() {
        return Ok(None);
    }
    let path = tree.abs(&found.rel);
    match std::fs::read(&path) {
        Ok(data) => Ok(Some((path, data))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ContextError::IgnoreFile { path, source }),
    }
}

fn not_found(rel: &[u8]) -> ContextError {
    ContextError::NotFound {
        path: display_rel(rel.to_vec()),
    }
}

/// A length-prefixed field of the selection digest.
fn put(h: &mut Sha256, tag: u8, data: &[u8]) {
    h.update([tag]);
    h.update((data.len() as u64).to_le_bytes());
    h.update(data);
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
