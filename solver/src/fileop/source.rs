//! A source filesystem as the copy sees it: a root directory minus the
//! paths its filter hides (`.dockerignore` for the build context).
//!
//! Paths are bytes (file names need not be UTF-8); the filter sees them
//! converted lossily.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{fstat, FileType, Stat};

use super::error::{display, FileOpError};
use super::resolve::{dup, file_type, lstat_at, open_dir_at, Root};
use super::SourceRoot;
use crate::gopath;

pub(crate) struct Source<'a> {
    root: Root,
    exclude: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
    /// A local source (the build context): BuildKit's transfer makes every
    /// file owned by 0:0, whatever the host says.
    pub root_owned: bool,
}

/// One entry of a source, located by its parent directory.
pub(crate) struct SrcEntry {
    /// The parent directory; for the root itself, the root.
    pub dir: OwnedFd,
    /// `None` for the root itself.
    pub name: Option<OsString>,
    /// The real path relative to the source root (empty for the root).
    pub rel: Vec<u8>,
    pub stat: Stat,
}

impl SrcEntry {
    pub fn is_dir(&self) -> bool {
        file_type(&self.stat) == FileType::Directory
    }

    /// Open the entry as a directory (it must be one).
    pub fn open_dir(&self) -> io::Result<OwnedFd> {
        match &self.name {
            None => dup(self.dir.as_fd()),
            Some(name) => open_dir_at(self.dir.as_fd(), name),
        }
    }
}

/// A visible entry of a source directory: name, path from the source
/// root, `lstat`.
pub(crate) type DirEntry = (OsString, Vec<u8>, Stat);

impl<'a> Source<'a> {
    pub(crate) fn open(s: &SourceRoot<'a>) -> Result<Source<'a>, FileOpError> {
        let mut root = Root::open(s.dir)
            .map_err(|e| FileOpError::io("opening source", s.dir.display().to_string(), e))?;
        // The walk yields real paths, which hidden-path checks need.
        root.walk_only = true;
        Ok(Source {
            root,
            exclude: s.exclude,
            root_owned: s.exclude.is_some(),
        })
    }

    /// Whether `rel` (relative to the root, `/`-separated) is hidden.
    pub(crate) fn hidden(&self, rel: &[u8]) -> bool {
        !rel.is_empty() && self.exclude.is_some_and(|f| f(&gopath::lossy(rel)))
    }

    /// BuildKit's `rootPath`: resolve `path` inside the source, following
    /// a final symlink only with `follow`. `Ok(None)` when it does not
    /// exist, is hidden, or leads through something missing or hidden.
    pub(crate) fn lookup(
        &self,
        path: &[u8],
        follow: bool,
    ) -> Result<Option<SrcEntry>, FileOpError> {
        let shown = || display(&gopath::lossy(path));
        let r = match self.root.resolve_hidden(path, follow, self.exclude) {
            Ok(r) => r,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(FileOpError::io("resolving source path", shown(), e)),
        };
        match r.rest.len() {
            0 => {
                let stat = fstat(&r.dir).map_err(|e| FileOpError::io("stat", shown(), e.into()))?;
                Ok(Some(SrcEntry {
                    dir: r.dir,
                    name: None,
                    rel: r.dir_rel,
                    stat,
                }))
            }
            1 => {
                let name = r.rest.into_iter().next().expect("one");
                let rel = gopath::join(&r.dir_rel, name.as_bytes());
                if self.hidden(&rel) {
                    return Ok(None);
                }
                match lstat_at(r.dir.as_fd(), &name) {
                    Ok(Some(stat)) => Ok(Some(SrcEntry {
                        dir: r.dir,
                        name: Some(name),
                        rel,
                        stat,
                    })),
                    Ok(None) => Ok(None),
                    Err(e) if is_missing(&e) => Ok(None),
                    Err(e) => Err(FileOpError::io("stat", shown(), e)),
                }
            }
            _ => Ok(None),
        }
    }

    /// The visible entries of the directory `dir` (at `rel`), sorted by
    /// name bytes, with their `lstat`.
    pub(crate) fn read_dir(
        &self,
        dir: BorrowedFd<'_>,
        rel: &[u8],
    ) -> Result<Vec<DirEntry>, FileOpError> {
        let fail =
            |e: io::Error| FileOpError::io("reading directory", display(&gopath::lossy(rel)), e);
        let mut names: Vec<OsString> = Vec::new();
        let reader = rustix::fs::Dir::read_from(dir).map_err(|e| fail(e.into()))?;
        for entry in reader {
            let entry = entry.map_err(|e| fail(e.into()))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            names.push(OsStr::from_bytes(name).to_os_string());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let child_rel = gopath::join(rel, name.as_bytes());
            if self.hidden(&child_rel) {
                continue;
            }
            match lstat_at(dir, &name) {
                Ok(Some(st)) => out.push((name, child_rel, st)),
                Ok(None) => {}
                Err(e) => {
                    return Err(FileOpError::io(
                        "stat",
                        display(&gopath::lossy(&child_rel)),
                        e,
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// Errors that mean "this path is not there".
pub(crate) fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(x) if x == rustix::io::Errno::NOENT.raw_os_error() || x == rustix::io::Errno::NOTDIR.raw_os_error()
    )
}
