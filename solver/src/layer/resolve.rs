//! Resolving paths *inside* a root directory, never outside it.
//!
//! A layer tar is untrusted input: its names may hold `..`, be absolute, or
//! lead through symlinks that the same tar planted (`lib -> /`,
//! `x -> ../../..`). Every directory an entry is written into is opened
//! relative to the root's file descriptor with the root as `/`:
//!
//! - fast path: `openat2(root, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//!   (Linux >= 5.6), where the kernel clamps `..` and absolute symlinks to
//!   the root;
//! - fallback (openat2 missing or filtered by seccomp, or a parent to
//!   create): a component-by-component walk with `O_NOFOLLOW`, resolving
//!   each symlink by hand with the same rules (absolute targets restart at
//!   the root, `..` at the root stays at the root, at most 40 links).
//!
//! The final component of an entry is then always operated on with `*at`
//! calls that do not follow it (`O_NOFOLLOW|O_EXCL`, `AT_SYMLINK_NOFOLLOW`,
//! `mknodat`, `symlinkat`, `linkat` without `AT_SYMLINK_FOLLOW`), after
//! removing whatever was there.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{openat, openat2, statat, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Set once openat2 turned out to be unavailable, for the whole process.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

const MAX_SYMLINKS: usize = 40;

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

/// A directory that paths are resolved inside of.
pub(crate) struct Root {
    fd: OwnedFd,
    /// Test hook: never use openat2.
    pub(crate) manual_only: bool,
}

impl Root {
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(path, dir_flags(), Mode::empty())?;
        Ok(Root {
            fd,
            manual_only: false,
        })
    }

    /// Open the directory `rel` (a clean relative path: components joined
    /// by '/', no '.' or '..'; empty for the root itself) inside the root.
    /// With `create`, missing directories are made (mode 0755) on the way.
    pub(crate) fn dir(&self, rel: &[u8], create: bool) -> io::Result<OwnedFd> {
        if rel.is_empty() {
            return Ok(openat(&self.fd, ".", dir_flags(), Mode::empty())?);
        }
        if !self.manual_only && !NO_OPENAT2.load(Ordering::Relaxed) {
            for _ in 0..4 {
                match openat2(
                    &self.fd,
                    OsStr::from_bytes(rel),
                    dir_flags(),
                    Mode::empty(),
                    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
                ) {
                    Ok(fd) => return Ok(fd),
                    // Raced with a rename somewhere inside the root: retry.
                    Err(Errno::AGAIN) => continue,
                    Err(Errno::NOENT) if create => break,
                    Err(Errno::NOSYS | Errno::PERM | Errno::INVAL | Errno::TOOBIG) => {
                        NO_OPENAT2.store(true, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.walk(rel, create)
    }

    /// The by-hand resolver (see the module doc).
    fn walk(&self, rel: &[u8], create: bool) -> io::Result<OwnedFd> {
        // Components still to resolve, next one last.
        let mut todo: Vec<Vec<u8>> = split_rev(rel);
        let mut cur = openat(&self.fd, ".", dir_flags(), Mode::empty())?;
        let mut depth = 0usize;
        let mut links = 0usize;
        let mut creates = 0usize;
        while let Some(comp) = todo.pop() {
            match comp.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    if depth > 0 {
                        cur = openat(&cur, "..", dir_flags(), Mode::empty())?;
                        depth -= 1;
                    }
                    continue;
                }
                _ => {}
            }
            let name = OsStr::from_bytes(&comp);
            match openat(&cur, name, dir_flags() | OFlags::NOFOLLOW, Mode::empty()) {
                Ok(fd) => {
                    cur = fd;
                    depth += 1;
                }
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    let st = statat(&cur, name, AtFlags::SYMLINK_NOFOLLOW)?;
                    if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
                        return Err(Errno::NOTDIR.into());
                    }
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(Errno::LOOP.into());
                    }
                    let target = rustix::fs::readlinkat(&cur, name, Vec::new())?;
                    let target = target.as_bytes();
                    if target.first() == Some(&b'/') {
                        cur = openat(&self.fd, ".", dir_flags(), Mode::empty())?;
                        depth = 0;
                    }
                    todo.extend(split_rev(target));
                }
                Err(Errno::NOENT) if create && creates < 4096 => {
                    creates += 1;
                    match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => todo.push(comp),
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(cur)
    }
}

fn split_rev(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .rev()
        .filter(|c| !c.is_empty())
        .map(|c| c.to_vec())
        .collect()
}

/// Lexically clean a tar entry name into a relative path inside the root:
/// leading '/' dropped, '.' and empty components removed, '..' removing the
/// previous component and never going above the root (as Go's
/// `path.Clean("/" + name)` does). Empty result = the root itself.
pub(crate) fn clean(name: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join(&b'/')
}

/// Split a clean path into (parent, base name).
pub(crate) fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&path[..0], path),
    }
}

/// Remove `name` in `dir` whatever it is; a directory recursively. Never
/// follows symlinks (they are removed, not their targets).
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(Errno::ISDIR | Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = openat(dir, name, dir_flags() | OFlags::NOFOLLOW, Mode::empty())?;
    let mut names = Vec::new();
    for ent in rustix::fs::Dir::read_from(&sub)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    for n in names {
        remove_all_at(sub.as_fd(), OsStr::from_bytes(&n))?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_names() {
        assert_eq!(clean(b"a/b/c"), b"a/b/c");
        assert_eq!(clean(b"./a//b/"), b"a/b");
        assert_eq!(clean(b"/etc/passwd"), b"etc/passwd");
        assert_eq!(clean(b"../../etc/x"), b"etc/x");
        assert_eq!(clean(b"a/../../b"), b"b");
        assert_eq!(clean(b"./"), b"");
        assert_eq!(clean(b".."), b"");
    }

    #[test]
    fn split() {
        assert_eq!(split_parent(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split_parent(b"c"), (&b""[..], &b"c"[..]));
    }
}
