//! Looking paths up and walking directories inside the context root, with
//! `.dockerignore` applied the way Docker's context transfer applies it.
//!
//! Every path handed to the file system is the root joined with components
//! that were each checked (`lstat`) to be real directories, so the kernel
//! never follows a symlink on the way; symlinks are only followed here,
//! lexically and clamped to the root (containerd's `fs.RootPath`, which
//! BuildKit uses), so nothing outside the root is ever read.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use kiln_solver::gopath;

use super::dockerignore::{DirMatch, Matcher};
use super::ContextError;

/// How many symlinks one lookup may follow (containerd's limit).
const MAX_LINKS: usize = 255;

/// The `lstat` fields kiln uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Full `st_mode`: type and permission bits.
    pub mode: u32,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
    pub nlink: u64,
    pub rdev: u64,
}

impl Stat {
    pub fn new(md: &Metadata) -> Stat {
        Stat {
            mode: md.mode(),
            size: md.size(),
            mtime_ns: md.mtime().saturating_mul(1_000_000_000) + md.mtime_nsec(),
            ctime_ns: md.ctime().saturating_mul(1_000_000_000) + md.ctime_nsec(),
            ino: md.ino(),
            dev: md.dev(),
            nlink: md.nlink(),
            rdev: md.rdev(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl Kind {
    fn of(md: &Metadata) -> Kind {
        let ft = md.file_type();
        if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_socket() {
            Kind::Socket
        } else if ft.is_char_device() {
            Kind::CharDevice
        } else {
            Kind::BlockDevice
        }
    }

    /// The tag used in selection digests.
    pub fn tag(self) -> u8 {
        match self {
            Kind::Dir => b'd',
            Kind::File => b'f',
            Kind::Symlink => b'l',
            Kind::Fifo => b'p',
            Kind::Socket => b's',
            Kind::CharDevice => b'c',
            Kind::BlockDevice => b'b',
        }
    }
}

/// One path of the context.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Relative to the root, `/`-separated; empty for the root itself.
    pub rel: Vec<u8>,
    pub kind: Kind,
    pub stat: Stat,
    /// A symlink's target, as stored.
    pub target: Vec<u8>,
}

/// A path that exists in the context, symlinks resolved as asked.
pub(crate) struct Found {
    pub rel: Vec<u8>,
    pub md: Metadata,
    /// The `.dockerignore` result of a directory, for its entries (`None`
    /// when there are no patterns, and for the root).
    pub dm: Option<DirMatch>,
}

/// How deep `walk_dir_parallel` looks for a directory to split at.
const MAX_SPLIT_DEPTH: usize = 3;

type WalkResult = Result<(), ContextError>;

/// A directory entry, classified for the walk.
enum Child {
    Leaf(Entry),
    /// A directory with its `.dockerignore` match; `tentative` when it is
    /// excluded and kept only if something below it is re-included.
    Dir {
        entry: Entry,
        dm: Option<DirMatch>,
        tentative: bool,
    },
}

/// The context root and its matcher.
pub(crate) struct Tree<'a> {
    pub root: &'a Path,
    pub matcher: &'a Matcher,
}

fn as_str(rel: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(rel)
}

impl Tree<'_> {
    pub fn abs(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.root.to_path_buf()
        } else {
            self.root.join(OsStr::from_bytes(rel))
        }
    }

    fn io_error(&self, rel: &[u8], source: io::Error) -> ContextError {
        ContextError::Io {
            path: self.abs(rel),
            source,
        }
    }

    fn filtering(&self) -> bool {
        !self.matcher.is_empty()
    }

    /// Looks up `rel` (clean, relative) in the context: every symlink on
    /// the way is followed inside the root, the last one only when
    /// `follow`. Paths `.dockerignore` leaves out do not exist. `None` when
    /// nothing is there.
    pub fn resolve(&self, rel: &[u8], follow: bool) -> Result<Option<Found>, ContextError> {
        let mut todo: Vec<Vec<u8>> = rel
            .split(|&b| b == b'/')
            .rev()
            .filter(|c| !c.is_empty() && *c != b".")
            .map(<[u8]>::to_vec)
            .collect();
        let mut stack: Vec<Vec<u8>> = Vec::new();
        let mut dms: Vec<Option<DirMatch>> = Vec::new();
        let mut links = 0;
        let mut current: Vec<u8> = Vec::new();
        let mut last: Option<(Metadata, Option<DirMatch>)> = None;
        while let Some(comp) = todo.pop() {
            if comp == b".." {
                stack.pop();
                dms.pop();
                current = stack.join(&b'/');
                last = None;
                continue;
            }
            let rel = gopath::join(&current, &comp);
            let md = match fs::symlink_metadata(self.abs(&rel)) {
                Ok(md) => md,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(self.io_error(&rel, e)),
            };
            let parent = dms.last().and_then(Option::as_ref);
            let is_last = todo.is_empty();
            if md.is_dir() {
                let dm = if self.filtering() {
                    let dm = self.matcher.match_dir(&as_str(&rel), parent);
                    if dm.is_excluded() && self.matcher.can_skip_excluded_dir(&as_str(&rel)) {
                        return Ok(None);
                    }
                    Some(dm)
                } else {
                    None
                };
                stack.push(comp);
                dms.push(dm.clone());
                current = rel;
                last = Some((md, dm));
                continue;
            }
            if self.filtering() && self.matcher.matches_with(&as_str(&rel), parent) {
                return Ok(None);
            }
            if md.file_type().is_symlink() && (!is_last || follow) {
                links += 1;
                if links > MAX_LINKS {
                    return Err(ContextError::TooManyLinks {
                        path: display_rel(rel),
                    });
                }
                let target = fs::read_link(self.abs(&rel)).map_err(|e| self.io_error(&rel, e))?;
                let target = target.as_os_str().as_bytes();
                if target.first() == Some(&b'/') {
                    stack.clear();
                    dms.clear();
                    current.clear();
                }
                let cleaned = gopath::clean(target);
                todo.extend(
                    cleaned
                        .split(|&b| b == b'/')
                        .rev()
                        .filter(|c| !c.is_empty() && *c != b".")
                        .map(<[u8]>::to_vec),
                );
                last = None;
                continue;
            }
            if !is_last {
                // A file where a directory should be.
                return Ok(None);
            }
            return Ok(Some(Found { rel, md, dm: None }));
        }
        // Ended on a directory (or the root).
        let (md, dm) = match last {
            Some(found) => found,
            None => {
                // The root, or a directory reached through a symlink or `..`.
                let md = fs::symlink_metadata(self.abs(&current))
                    .map_err(|e| self.io_error(&current, e))?;
                (md, dms.last().cloned().flatten())
            }
        };
        Ok(Some(Found {
            rel: current,
            md,
            dm,
        }))
    }

    fn entry(&self, rel: Vec<u8>, md: &Metadata) -> Result<Entry, ContextError> {
        let kind = Kind::of(md);
        let target = if kind == Kind::Symlink {
            fs::read_link(self.abs(&rel))
                .map_err(|e| self.io_error(&rel, e))?
                .into_os_string()
                .into_vec()
        } else {
            Vec::new()
        };
        Ok(Entry {
            rel,
            kind,
            stat: Stat::new(md),
            target,
        })
    }

    /// Appends `found` and, for a directory, everything below it that the
    /// context holds, in path order (a directory before its entries).
    /// Returns false (and appends nothing) for an excluded directory that is
    /// only walked because an exception might re-include something below
    /// it, when nothing is.
    pub fn collect(&self, found: &Found, out: &mut Vec<Entry>) -> Result<bool, ContextError> {
        let mark = out.len();
        out.push(self.entry(found.rel.clone(), &found.md)?);
        if found.md.is_dir() {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
            if threads > 1 {
                self.walk_dir_parallel(&found.rel, found.dm.as_ref(), out, threads, 0)?;
            } else {
                self.walk_dir(&found.rel, found.dm.as_ref(), out)?;
            }
            if found.dm.as_ref().is_some_and(DirMatch::is_excluded) && out.len() == mark + 1 {
                out.pop();
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The entries of directory `dir`, sorted by name, with their `lstat`.
    fn read_dir(&self, dir: &[u8]) -> Result<Vec<(Vec<u8>, Metadata)>, ContextError> {
        let abs = self.abs(dir);
        let mut children = Vec::new();
        for entry in fs::read_dir(&abs).map_err(|e| self.io_error(dir, e))? {
            let entry = entry.map_err(|e| self.io_error(dir, e))?;
            let name = entry.file_name().into_vec();
            let md = match entry.metadata() {
                Ok(md) => md,
                // Removed while we looked.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io_error(&gopath::join(dir, &name), e)),
            };
            children.push((name, md));
        }
        children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(children)
    }

    /// The entries of `dir` the context holds, classified for the walk.
    fn children(&self, dir: &[u8], dm: Option<&DirMatch>) -> Result<Vec<Child>, ContextError> {
        let mut out = Vec::new();
        for (name, md) in self.read_dir(dir)? {
            let rel = gopath::join(dir, &name);
            if md.is_dir() {
                let (sub, tentative) = if self.filtering() {
                    let sub = self.matcher.match_dir(&as_str(&rel), dm);
                    if sub.is_excluded() && self.matcher.can_skip_excluded_dir(&as_str(&rel)) {
                        continue;
                    }
                    let excluded = sub.is_excluded();
                    (Some(sub), excluded)
                } else {
                    (None, false)
                };
                out.push(Child::Dir {
                    entry: self.entry(rel, &md)?,
                    dm: sub,
                    tentative,
                });
            } else {
                if self.filtering() && self.matcher.matches_with(&as_str(&rel), dm) {
                    continue;
                }
                out.push(Child::Leaf(self.entry(rel, &md)?));
            }
        }
        Ok(out)
    }

    fn walk_dir(
        &self,
        dir: &[u8],
        dm: Option<&DirMatch>,
        out: &mut Vec<Entry>,
    ) -> Result<(), ContextError> {
        self.walk_children(self.children(dir, dm)?, out, |tree, rel, dm, out| {
            tree.walk_dir(rel, dm, out)
        })
    }

    /// Appends `children` in order, each directory followed by what `below`
    /// appends for it; an excluded directory kept only as the parent of
    /// re-included paths is dropped when nothing below it is.
    fn walk_children(
        &self,
        children: Vec<Child>,
        out: &mut Vec<Entry>,
        mut below: impl FnMut(&Self, &[u8], Option<&DirMatch>, &mut Vec<Entry>) -> WalkResult,
    ) -> WalkResult {
        for child in children {
            match child {
                Child::Leaf(entry) => out.push(entry),
                Child::Dir {
                    entry,
                    dm,
                    tentative,
                } => {
                    let mark = out.len();
                    let rel = entry.rel.clone();
                    out.push(entry);
                    below(self, &rel, dm.as_ref(), out)?;
                    if tentative && out.len() == mark + 1 {
                        out.pop();
                    }
                }
            }
        }
        Ok(())
    }

    /// `walk_dir` on up to `threads` threads: a directory with enough
    /// subdirectories to keep them busy has its subtrees walked in
    /// parallel; otherwise the split is tried one level down. Most of a
    /// warm build's time is `statx` on every file, so this nearly divides
    /// it by the core count.
    fn walk_dir_parallel(
        &self,
        dir: &[u8],
        dm: Option<&DirMatch>,
        out: &mut Vec<Entry>,
        threads: usize,
        depth: usize,
    ) -> WalkResult {
        let children = self.children(dir, dm)?;
        let subdirs = children
            .iter()
            .filter(|c| matches!(c, Child::Dir { .. }))
            .count();
        if subdirs >= 2 * threads || (depth >= MAX_SPLIT_DEPTH && subdirs >= 2) {
            let mut subtrees = self.subtrees(&children, threads)?.into_iter();
            return self.walk_children(children, out, |_, _, _, out| {
                out.extend(subtrees.next().expect("one subtree per directory"));
                Ok(())
            });
        }
        if depth >= MAX_SPLIT_DEPTH {
            return self.walk_children(children, out, |tree, rel, dm, out| {
                tree.walk_dir(rel, dm, out)
            });
        }
        self.walk_children(children, out, |tree, rel, dm, out| {
            tree.walk_dir_parallel(rel, dm, out, threads, depth + 1)
        })
    }

    /// The walk below each directory of `children`, in order, computed by
    /// `threads` threads taking directories from a shared counter.
    fn subtrees(
        &self,
        children: &[Child],
        threads: usize,
    ) -> Result<Vec<Vec<Entry>>, ContextError> {
        let dirs: Vec<(&[u8], Option<&DirMatch>)> = children
            .iter()
            .filter_map(|c| match c {
                Child::Dir { entry, dm, .. } => Some((entry.rel.as_slice(), dm.as_ref())),
                Child::Leaf(_) => None,
            })
            .collect();
        let next = AtomicUsize::new(0);
        let mut results: Vec<Option<Vec<Entry>>> = vec![None; dirs.len()];
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.min(dirs.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&(rel, dm)) = dirs.get(i) else {
                                return Ok(done);
                            };
                            let mut entries = Vec::new();
                            self.walk_dir(rel, dm, &mut entries)?;
                            done.push((i, entries));
                        }
                    })
                })
                .collect();
            for worker in workers {
                let done: Result<Vec<(usize, Vec<Entry>)>, ContextError> =
                    worker.join().expect("walker thread panicked");
                for (i, entries) in done? {
                    results[i] = Some(entries);
                }
            }
            Ok::<(), ContextError>(())
        })?;
        Ok(results.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// fsutil's `resolveWildcards`: the paths below `base` (root-relative,
    /// in walk order) whose path relative to `base` matches `pattern` with
    /// `filepath.Match`; a matching directory is not searched further.
    pub fn find_matches(&self, base: &Found, pattern: &[u8]) -> Result<Vec<Vec<u8>>, ContextError> {
        let mut out = Vec::new();
        if base.md.is_dir() {
            let depth = gopath::max_components(pattern);
            self.find_in(&base.rel, b"", base.dm.as_ref(), pattern, depth, &mut out)?;
        }
        Ok(out)
    }

    fn find_in(
        &self,
        dir: &[u8],
        sub: &[u8],
        dm: Option<&DirMatch>,
        pattern: &[u8],
        depth: usize,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), ContextError> {
        for (name, md) in self.read_dir(dir)? {
            let rel = gopath::join(dir, &name);
            let sub_rel = gopath::join(sub, &name);
            let mut child_dm = None;
            if self.filtering() {
                if md.is_dir() {
                    let d = self.matcher.match_dir(&as_str(&rel), dm);
                    if d.is_excluded() && self.matcher.can_skip_excluded_dir(&as_str(&rel)) {
                        continue;
                    }
                    child_dm = Some(d);
                } else if self.matcher.matches_with(&as_str(&rel), dm) {
                    continue;
                }
            }
            if gopath::go_match(pattern, &sub_rel).unwrap_or(false) {
                if child_dm.as_ref().is_some_and(DirMatch::is_excluded) {
                    // Present only if something below it is.
                    let found = Found {
                        rel: rel.clone(),
                        md,
                        dm: child_dm,
                    };
                    if !self.collect(&found, &mut Vec::new())? {
                        continue;
                    }
                }
                out.push(rel);
                continue;
            }
            let components = sub_rel.iter().filter(|&&b| b == b'/').count() + 1;
            if md.is_dir() && components < depth {
                self.find_in(&rel, &sub_rel, child_dm.as_ref(), pattern, depth, out)?;
            }
        }
        Ok(())
    }
}

/// A root-relative path as BuildKit names it in errors: `/a/b`.
pub(crate) fn display_rel(rel: Vec<u8>) -> String {
    let mut s = String::with_capacity(rel.len() + 1);
    s.push('/');
    s.push_str(&String::from_utf8_lossy(&rel));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parallel walk gives exactly the sequential walk's entries, in
    /// the same order, `.dockerignore` exceptions included.
    #[test]
    fn parallel_walk_matches_sequential() {
        let dir = tempfile::tempdir().unwrap();
        for a in 0..7 {
            for b in 0..5 {
                for c in 0..3 {
                    let d = dir.path().join(format!("d{a}/e{b}/f{c}"));
                    fs::create_dir_all(&d).unwrap();
                    fs::write(d.join("x.txt"), b"x").unwrap();
                    fs::write(d.join("y.md"), b"y").unwrap();
                }
            }
        }
        let matcher = Matcher::new(["**/*.md", "d3", "!d3/e1/**/y.md", "d5/e2"]).unwrap();
        let tree = Tree {
            root: dir.path(),
            matcher: &matcher,
        };
        let root = tree.resolve(b"", false).unwrap().unwrap();
        let mut sequential = Vec::new();
        tree.walk_dir(b"", root.dm.as_ref(), &mut sequential)
            .unwrap();
        let names = |v: &[Entry]| v.iter().map(|e| e.rel.clone()).collect::<Vec<_>>();
        for threads in [2, 3, 8] {
            let mut parallel = Vec::new();
            tree.walk_dir_parallel(b"", root.dm.as_ref(), &mut parallel, threads, 0)
                .unwrap();
            assert_eq!(names(&parallel), names(&sequential), "{threads} threads");
        }
        let all = names(&sequential);
        assert!(all.contains(&b"d3/e1/f0/y.md".to_vec()));
        assert!(!all.contains(&b"d3/e0".to_vec()));
        assert!(!all.contains(&b"d5/e2".to_vec()));
        assert!(!all.contains(&b"d0/e0/f0/y.md".to_vec()));
    }
}
