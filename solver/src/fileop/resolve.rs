//! Paths resolved *inside* a root directory.
//!
//! A root is held as a directory file descriptor. A path is resolved the
//! way the kernel would resolve it if the root were `/`: absolute symlinks
//! restart at the root and `..` never climbs above it.
//!
//! - Fast path (destination roots): `openat2(root, parent,
//!   RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` opens the parent directory,
//!   the kernel doing the clamping.
//! - Otherwise (a component is missing, the final symlink must be followed,
//!   source roots whose hidden paths must be checked on the way, or openat2
//!   is unavailable): a walk one component at a time, each opened with
//!   `O_NOFOLLOW` relative to the descriptor of its parent, symlinks read
//!   with `readlinkat` and expanded by hand under the same rules.
//!
//! Either way the result is a descriptor of a directory inside the root and
//! the names still to apply below it: the caller then works with `*at`
//! calls on that descriptor that never follow the final component, so a
//! symlink planted in the image (`/lib -> /`, `x -> ../../..`) or swapped in
//! between check and use cannot send a read or a write outside the root.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{
    fchmod, fchown, futimens, mkdirat, openat, openat2, readlinkat, statat, AtFlags, FileType, Gid,
    Mode, OFlags, ResolveFlags, Stat, Uid,
};
use rustix::io::Errno;

use crate::gopath;

/// Set once openat2 turned out to be unavailable (old kernel, seccomp).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// continuity's `RootPath` gives up after 255 links; so do we.
const MAX_LINKS: usize = 255;

pub(crate) fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

/// Open the directory `name` in `dir`, refusing a symlink in its place.
pub(crate) fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(openat(
        dir,
        name,
        dir_flags() | OFlags::NOFOLLOW,
        Mode::empty(),
    )?)
}

/// `lstat` of `name` in `dir`.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Stat>> {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode as _)
}

pub(crate) fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

/// The outcome of resolving a path inside a root.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The deepest existing directory on the resolved path.
    pub dir: OwnedFd,
    /// `dir` relative to the root (empty for the root). On the fast path
    /// it is the path as written; on the walk it is the real path.
    pub dir_rel: Vec<u8>,
    /// Names still to apply below `dir`, the final one last. With more than
    /// one, all are missing. With one, it may or may not exist (when the
    /// final symlink was to be followed, it is not a symlink). With none,
    /// `dir` itself is the target (the root, or a path ending in `..`).
    pub rest: Vec<OsString>,
}

/// Metadata for directories that are created on the way (BuildKit's
/// `MkdirAll` with a chowner and a time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DirSpec {
    /// Permission bits, applied exactly (no umask).
    pub mode: u32,
    pub owner: Option<(u32, u32)>,
    /// Both times, in seconds since the epoch (SOURCE_DATE_EPOCH).
    pub time: Option<i64>,
}

/// A directory that paths are resolved inside of.
pub(crate) struct Root {
    fd: OwnedFd,
    /// Test hook: never take the openat2 fast path.
    pub(crate) walk_only: bool,
}

/// Decides, during a walk, whether a path (relative to the root) is hidden
/// and so behaves as missing.
pub(crate) type Hidden<'a> = Option<&'a (dyn Fn(&str) -> bool + Sync)>;

impl Root {
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(path, dir_flags(), Mode::empty())?;
        Ok(Root {
            fd,
            // Test hook: `KILN_FILEOP_WALK_ONLY=1 cargo test` runs every
            // resolution through the by-hand walk.
            walk_only: cfg!(test) && std::env::var_os("KILN_FILEOP_WALK_ONLY").is_some(),
        })
    }

    /// A root at an already open directory.
    pub(crate) fn from_fd(fd: OwnedFd) -> Root {
        Root {
            fd,
            walk_only: false,
        }
    }

    /// Resolve `path` (taken as absolute in the root; it is cleaned first).
    /// With `follow_final`, a symlink as the last component is followed
    /// too (BuildKit's `RootPath`); otherwise only the parents are.
    pub(crate) fn resolve(
        &self,
        path: impl AsRef<[u8]>,
        follow_final: bool,
    ) -> io::Result<Resolved> {
        self.resolve_hidden(path, follow_final, None)
    }

    /// [`Root::resolve`] where paths for which `hidden` answers true do not
    /// exist (checked on every component actually walked through).
    pub(crate) fn resolve_hidden(
        &self,
        path: impl AsRef<[u8]>,
        follow_final: bool,
        hidden: Hidden<'_>,
    ) -> io::Result<Resolved> {
        let comps = gopath::clean_components(path.as_ref());
        if comps.is_empty() {
            return Ok(Resolved {
                dir: dup(self.fd.as_fd())?,
                dir_rel: Vec::new(),
                rest: Vec::new(),
            });
        }
        if hidden.is_none() && !self.walk_only && !NO_OPENAT2.load(Ordering::Relaxed) {
            if let Some(r) = self.fast(&comps, follow_final)? {
                return Ok(r);
            }
        }
        self.walk(&comps, follow_final, hidden)
    }

    /// openat2 for the parent; `None` when the walk must decide.
    fn fast(&self, comps: &[&[u8]], follow_final: bool) -> io::Result<Option<Resolved>> {
        let (last, parents) = comps.split_last().expect("non-empty");
        let parent = parents.join(&b'/');
        let dir = if parent.is_empty() {
            dup(self.fd.as_fd())?
        } else {
            let mut attempt = 0;
            loop {
                match openat2(
                    &self.fd,
                    OsStr::from_bytes(&parent),
                    dir_flags(),
                    Mode::empty(),
                    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
                ) {
                    Ok(fd) => break fd,
                    // A rename raced with the lookup: try again, then walk.
                    Err(Errno::AGAIN) if attempt < 3 => attempt += 1,
                    Err(Errno::NOSYS | Errno::PERM | Errno::INVAL | Errno::TOOBIG) => {
                        NO_OPENAT2.store(true, Ordering::Relaxed);
                        return Ok(None);
                    }
                    // Missing parents, a file in the way, a loop: the walk
                    // tells which (and reports errors the same way).
                    Err(_) => return Ok(None),
                }
            }
        };
        let name = OsStr::from_bytes(last);
        if follow_final {
            if let Some(st) = lstat_at(dir.as_fd(), name)? {
                if file_type(&st) == FileType::Symlink {
                    return Ok(None);
                }
            }
        }
        Ok(Some(Resolved {
            dir,
            dir_rel: parent,
            rest: vec![name.to_os_string()],
        }))
    }

    fn walk(
        &self,
        comps: &[&[u8]],
        follow_final: bool,
        hidden: Hidden<'_>,
    ) -> io::Result<Resolved> {
        // Components still to resolve, the next one last.
        let mut todo: Vec<Vec<u8>> = comps.iter().rev().map(|c| c.to_vec()).collect();
        let mut stack: Vec<(OwnedFd, Vec<u8>)> = vec![(dup(self.fd.as_fd())?, Vec::new())];
        // Components below the top of the stack that do not exist.
        let mut rest: Vec<OsString> = Vec::new();
        let mut links = 0usize;
        while let Some(comp) = todo.pop() {
            match comp.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    if rest.pop().is_none() && stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let last = todo.is_empty();
            let name = OsString::from_vec(comp);
            if !rest.is_empty() {
                rest.push(name);
                continue;
            }
            let (top, top_rel) = stack.last().expect("root stays");
            let rel = gopath::join(top_rel, name.as_bytes());
            if last && !follow_final {
                rest.push(name);
                break;
            }
            let st = match lstat_at(top.as_fd(), &name)? {
                Some(_) if hidden.is_some_and(|h| h(&gopath::lossy(&rel))) => None,
                other => other,
            };
            let Some(st) = st else {
                rest.push(name);
                continue;
            };
            match file_type(&st) {
                FileType::Symlink => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Errno::LOOP.into());
                    }
                    let target = readlinkat(top.as_fd(), name.as_os_str(), Vec::new())?;
                    let target = target.as_bytes();
                    if target.first() == Some(&b'/') {
                        stack.truncate(1);
                    }
                    todo.extend(target.split(|&b| b == b'/').rev().map(<[u8]>::to_vec));
                }
                FileType::Directory if !last => {
                    let fd = match open_dir_at(top.as_fd(), &name) {
                        Ok(fd) => fd,
                        // Swapped for a symlink since the lstat: refuse.
                        Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
                            return Err(Errno::NOTDIR.into())
                        }
                        Err(e) => return Err(e),
                    };
                    stack.push((fd, rel));
                }
                _ if last => {
                    rest.push(name);
                }
                _ => return Err(Errno::NOTDIR.into()),
            }
        }
        let (dir, dir_rel) = stack.pop().expect("root stays");
        Ok(Resolved { dir, dir_rel, rest })
    }
}

/// Apply a [`DirSpec`] to a directory just created.
pub(crate) fn init_dir(fd: BorrowedFd<'_>, spec: &DirSpec) -> io::Result<()> {
    if let Some((uid, gid)) = spec.owner {
        fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    }
    fchmod(fd, Mode::from_raw_mode(spec.mode & 0o7777))?;
    if let Some(secs) = spec.time {
        futimens(fd, &super::meta::fixed_times(secs))?;
    }
    Ok(())
}

/// BuildKit's `MkdirAll` on a resolved path: creates every missing name of
/// `r.rest` (all of them with `include_final`, else all but the last) as a
/// directory with `spec`, and returns the deepest directory. Created
/// directories are appended to `created` (their times are set again at
/// the end of the copy, after their contents were written).
///
/// An existing non-directory in the way is `ENOTDIR`.
pub(crate) fn mkdir_all(
    r: Resolved,
    include_final: bool,
    spec: &DirSpec,
    created: &mut Vec<OwnedFd>,
) -> io::Result<OwnedFd> {
    let mut names = r.rest;
    if !include_final {
        names.pop();
    }
    let mut cur = r.dir;
    for name in &names {
        let fd = match mkdirat(
            &cur,
            name.as_os_str(),
            Mode::from_raw_mode(spec.mode & 0o777),
        ) {
            Ok(()) => {
                let fd = open_dir_at(cur.as_fd(), name)?;
                init_dir(fd.as_fd(), spec)?;
                created.push(dup(fd.as_fd())?);
                fd
            }
            Err(Errno::EXIST) => match open_dir_at(cur.as_fd(), name) {
                Ok(fd) => fd,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(x) if x == Errno::NOTDIR.raw_os_error() || x == Errno::LOOP.raw_os_error()
                    ) =>
                {
                    return Err(Errno::NOTDIR.into())
                }
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e.into()),
        };
        cur = fd;
    }
    Ok(cur)
}
