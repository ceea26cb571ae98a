//! Owner, mode, times and xattrs of entries in a root, always through a
//! descriptor of the entry itself or `*at` calls that do not follow a final
//! symlink.

// `Stat`'s field types differ between architectures: the casts are needed.
#![allow(clippy::unnecessary_cast)]

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{
    chmodat, chownat, fchmod, fchown, futimens, openat, utimensat, AtFlags, FileType, Gid, Mode,
    OFlags, Stat, Timespec, Timestamps, Uid, CWD,
};
use rustix::io::Errno;

/// An entry to change: an open descriptor (directories and regular files)
/// or a name in a directory (symlinks and special files, never opened).
#[derive(Clone, Copy)]
pub(crate) enum Node<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a OsStr, FileType),
}

pub(crate) fn chown(node: Node<'_>, uid: u32, gid: u32) -> io::Result<()> {
    let (u, g) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    match node {
        Node::Fd(fd) => fchown(fd, u, g)?,
        Node::At(dir, name, _) => chownat(dir, name, u, g, AtFlags::SYMLINK_NOFOLLOW)?,
    }
    Ok(())
}

/// Set the permission bits (07777). Symlinks have none and are skipped.
pub(crate) fn chmod(node: Node<'_>, mode: u32) -> io::Result<()> {
    let mode = Mode::from_raw_mode(mode & 0o7777);
    match node {
        Node::Fd(fd) => fchmod(fd, mode)?,
        Node::At(_, _, FileType::Symlink) => {}
        Node::At(dir, name, _) => {
            // A fifo or device node: not opened for real (that could block
            // or reach hardware); an O_PATH handle pins the node and chmod
            // goes through its /proc link, so a swapped-in symlink is never
            // followed.
            let handle = openat(
                dir,
                name,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            match chmodat(
                CWD,
                proc_fd_path(handle.as_fd(), None).as_c_str(),
                mode,
                AtFlags::empty(),
            ) {
                Err(Errno::NOENT) => chmodat(dir, name, mode, AtFlags::empty())?,
                r => r?,
            }
        }
    }
    Ok(())
}

pub(crate) fn set_times(node: Node<'_>, times: &Timestamps) -> io::Result<()> {
    match node {
        Node::Fd(fd) => futimens(fd, times)?,
        Node::At(dir, name, _) => utimensat(dir, name, times, AtFlags::SYMLINK_NOFOLLOW)?,
    }
    Ok(())
}

/// Both times set to `secs` (SOURCE_DATE_EPOCH).
pub(crate) fn fixed_times(secs: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// The access and modification times of `st`.
pub(crate) fn stat_times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as i64,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as i64,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

/// `/proc/self/fd/<fd>` or `/proc/self/fd/<dir>/<name>`.
fn proc_fd_path(fd: BorrowedFd<'_>, name: Option<&OsStr>) -> CString {
    let mut p = format!("/proc/self/fd/{}", fd.as_raw_fd()).into_bytes();
    if let Some(name) = name {
        p.push(b'/');
        p.extend_from_slice(name.as_bytes());
    }
    CString::new(p).unwrap_or_default()
}

/// Overlay's own bookkeeping, never file content.
fn skip_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

fn list_xattrs(node: Node<'_>) -> io::Result<Vec<u8>> {
    for _ in 0..3 {
        let size = match node {
            Node::Fd(fd) => rustix::fs::flistxattr_query(fd)?,
            Node::At(dir, name, _) => {
                rustix::fs::llistxattr_query(proc_fd_path(dir, Some(name)).as_c_str())?
            }
        };
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size];
        let r = match node {
            Node::Fd(fd) => rustix::fs::flistxattr(fd, &mut buf[..]),
            Node::At(dir, name, _) => {
                rustix::fs::llistxattr(proc_fd_path(dir, Some(name)).as_c_str(), &mut buf[..])
            }
        };
        match r {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Errno::RANGE.into())
}

fn get_xattr(node: Node<'_>, key: &OsStr) -> io::Result<Vec<u8>> {
    for _ in 0..3 {
        let size = match node {
            Node::Fd(fd) => rustix::fs::fgetxattr_query(fd, key)?,
            Node::At(dir, name, _) => {
                rustix::fs::lgetxattr_query(proc_fd_path(dir, Some(name)).as_c_str(), key)?
            }
        };
        let mut buf = vec![0u8; size];
        let r = match node {
            Node::Fd(fd) => rustix::fs::fgetxattr(fd, key, &mut buf[..]),
            Node::At(dir, name, _) => {
                rustix::fs::lgetxattr(proc_fd_path(dir, Some(name)).as_c_str(), key, &mut buf[..])
            }
        };
        match r {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Errno::RANGE.into())
}

pub(crate) fn set_xattr(node: Node<'_>, key: &OsStr, value: &[u8]) -> io::Result<()> {
    let flags = rustix::fs::XattrFlags::empty();
    match node {
        Node::Fd(fd) => rustix::fs::fsetxattr(fd, key, value, flags)?,
        Node::At(dir, name, _) => {
            rustix::fs::lsetxattr(proc_fd_path(dir, Some(name)).as_c_str(), key, value, flags)?
        }
    }
    Ok(())
}

/// Copy every extended attribute of `src` to `dst`, best effort (BuildKit
/// logs and ignores xattr errors: the destination filesystem may not take
/// them, and an unprivileged process cannot set `trusted.*`).
pub(crate) fn copy_xattrs(src: Node<'_>, dst: Node<'_>) {
    let Ok(list) = list_xattrs(src) else { return };
    for key in list.split(|&b| b == 0).filter(|k| !k.is_empty()) {
        if skip_xattr(key) {
            continue;
        }
        let key = OsStr::from_bytes(key);
        if let Ok(value) = get_xattr(src, key) {
            let _ = set_xattr(dst, key, &value);
        }
    }
}

/// Set the xattrs of an archive entry, best effort for filesystems that do
/// not support them (go-archive's `BestEffortXattrs`); other failures are
/// errors.
pub(crate) fn set_archive_xattr(node: Node<'_>, key: &str, value: &[u8]) -> io::Result<()> {
    match set_xattr(node, OsStr::new(key), value) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(x) if x == Errno::OPNOTSUPP.raw_os_error() || x == Errno::PERM.raw_os_error()) => {
            Ok(())
        }
        Err(e) => Err(e),
    }
}
