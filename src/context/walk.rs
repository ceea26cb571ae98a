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
            self.walk_dir(&found.rel, found.dm.as_ref(), out)?;
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

    fn walk_dir(
        &self,
        dir: &[u8],
        dm: Option<&DirMatch>,
        out: &mut Vec<Entry>,
    ) -> Result<(), ContextError> {
        for (name, md) in self.read_dir(dir)? {
            let rel = gopath::join(dir, &name);
            if md.is_dir() {
                let sub = if self.filtering() {
                    let sub = self.matcher.match_dir(&as_str(&rel), dm);
                    if sub.is_excluded() {
                        if self.matcher.can_skip_excluded_dir(&as_str(&rel)) {
                            continue;
                        }
                        // Kept only as the parent of something re-included.
                        let mark = out.len();
                        out.push(self.entry(rel.clone(), &md)?);
                        self.walk_dir(&rel, Some(&sub), out)?;
                        if out.len() == mark + 1 {
                            out.pop();
                        }
                        continue;
                    }
                    Some(sub)
                } else {
                    None
                };
                out.push(self.entry(rel.clone(), &md)?);
                self.walk_dir(&rel, sub.as_ref(), out)?;
            } else {
                if self.filtering() && self.matcher.matches_with(&as_str(&rel), dm) {
                    continue;
                }
                out.push(self.entry(rel, &md)?);
            }
        }
        Ok(())
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
