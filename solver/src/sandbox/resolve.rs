//! Resolving a path inside the root filesystem, creating what is missing.
//!
//! Mount targets and the working directory are resolved the way the kernel
//! would if the rootfs were `/`: absolute symlinks restart at the root,
//! `..` never climbs above it. Each component is looked at with
//! `AT_SYMLINK_NOFOLLOW` relative to the descriptor of its parent, so a
//! symlink in the image (`/etc -> /host/etc`, `x -> ../../..`) cannot send
//! a mount, a `mkdir` or a `chown` outside the rootfs. Missing components
//! are created (directories, or an empty file for the last one when a file
//! is to be mounted there), and the caller hears of each one it created so
//! it can remove those mount stubs after the run.
//!
//! The walk allocates nothing and only makes system calls: the sandbox's
//! init process runs it after `fork` in a multi-threaded program.

use std::ffi::CStr;

use libc::c_int;

use super::sys::{self, Errno, Fd, Name, PathBuf4k};

/// What to do when the path does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Create {
    /// Fail with `ENOENT`.
    No,
    /// Create every missing component as a directory.
    Dir,
    /// Create missing parents as directories and the last component as an
    /// empty regular file.
    File,
}

/// A file or directory the walk is about to create (`done` false) or has
/// created (`done` true).
pub(super) struct Created<'a> {
    pub done: bool,
    /// The directory it is created in.
    pub parent: c_int,
    /// Its name there.
    pub name: &'a CStr,
    /// Its path inside the root (no leading `/`); the parent's is what
    /// comes before the last `/` (nothing: the root).
    pub path: &'a [u8],
    pub dir: bool,
    /// The parent directory just before the creation (times, mount id).
    pub parent_before: &'a libc::statx,
}

/// Symlinks followed before giving up with `ELOOP` (as the kernel does).
const MAX_LINKS: u32 = 40;

/// Resolves `path` (relative to the root, `/`-separated; a leading `/` is
/// ignored) under the directory `root`, returning an `O_PATH` descriptor
/// of what it names and, in `resolved`, its symlink-free path inside the
/// root. The last component is followed if it is a symlink.
///
/// Mounts are crossed like any path walk does, so once something is
/// mounted at `dev`, `dev/pts` is inside that mount.
pub(super) fn resolve(
    root: c_int,
    path: &[u8],
    create: Create,
    resolved: &mut PathBuf4k,
    on_create: &mut dyn FnMut(&Created) -> Result<(), Errno>,
) -> Result<Fd, Errno> {
    // The path still to walk, right-aligned in `rem` so that a symlink's
    // target can be put in front of it.
    let mut rem = [0u8; 4096];
    if path.len() > rem.len() {
        return Err(libc::ENAMETOOLONG);
    }
    let mut start = rem.len() - path.len();
    rem[start..].copy_from_slice(path);
    resolved.clear();
    let mut cur = sys::openat(root, c".", libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let mut links = 0;
    let mut retries = 0;

    loop {
        // Next component.
        while start < rem.len() && rem[start] == b'/' {
            start += 1;
        }
        if start == rem.len() {
            // Nothing left: the path named the directory we are in.
            return Ok(cur);
        }
        let end = rem[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(rem.len(), |i| start + i);
        let mut comp = [0u8; 256];
        let comp_len = end - start;
        if comp_len > 255 {
            return Err(libc::ENAMETOOLONG);
        }
        comp[..comp_len].copy_from_slice(&rem[start..end]);
        let comp = &comp[..comp_len];
        let mut next = end;
        while next < rem.len() && rem[next] == b'/' {
            next += 1;
        }
        let last = next == rem.len();

        if comp == b"." {
            start = next;
            continue;
        }
        if comp == b".." {
            resolved.pop();
            cur = sys::openat2(
                root,
                resolved_or_dot(resolved),
                libc::O_PATH | libc::O_DIRECTORY,
                0,
                sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS,
            )?;
            start = next;
            continue;
        }

        let name = Name::new(comp)?;
        let name = name.as_cstr();
        let st = match sys::statx(cur.raw(), name, libc::AT_SYMLINK_NOFOLLOW, libc::STATX_TYPE) {
            Ok(st) => st,
            Err(libc::ENOENT) if create != Create::No => {
                let dir = !last || create == Create::Dir;
                let parent_before = sys::statx(
                    cur.raw(),
                    c"",
                    0,
                    libc::STATX_BASIC_STATS | libc::STATX_MNT_ID,
                )?;
                let save = resolved.as_bytes().len();
                resolved.push(comp)?;
                let before = Created {
                    done: false,
                    parent: cur.raw(),
                    name,
                    path: resolved.as_bytes(),
                    dir,
                    parent_before: &parent_before,
                };
                let r = on_create(&before);
                truncate(resolved, save);
                r?;
                let made = if dir {
                    sys::mkdirat(cur.raw(), name, 0o755)
                } else {
                    sys::openat(
                        cur.raw(),
                        name,
                        libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
                        0o644,
                    )
                    .map(drop)
                };
                match made {
                    Ok(()) => {}
                    // Someone else made it meanwhile: look again.
                    Err(libc::EEXIST) if retries < 8 => {
                        retries += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                let save = resolved.as_bytes().len();
                resolved.push(comp)?;
                let created = Created {
                    done: true,
                    parent: cur.raw(),
                    name,
                    path: resolved.as_bytes(),
                    dir,
                    parent_before: &parent_before,
                };
                let r = on_create(&created);
                truncate(resolved, save);
                r?;
                continue; // now it exists: take the normal path
            }
            Err(e) => return Err(e),
        };

        match u32::from(st.stx_mode) & libc::S_IFMT {
            libc::S_IFLNK => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(libc::ELOOP);
                }
                let mut target = [0u8; 4096];
                let n = sys::readlinkat(cur.raw(), name, &mut target)?;
                if n == 0 {
                    return Err(libc::ENOENT);
                }
                if n >= target.len() {
                    return Err(libc::ENAMETOOLONG);
                }
                // rem = target + "/" + rest
                let rest = next;
                let need = n + 1;
                if rest < need {
                    return Err(libc::ENAMETOOLONG);
                }
                start = rest - need;
                rem[start..start + n].copy_from_slice(&target[..n]);
                rem[start + n] = b'/';
                if target[0] == b'/' {
                    resolved.clear();
                    cur = sys::openat(root, c".", libc::O_PATH | libc::O_DIRECTORY, 0)?;
                }
            }
            libc::S_IFDIR => {
                let fd = sys::openat(
                    cur.raw(),
                    name,
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                )?;
                resolved.push(comp)?;
                if last {
                    return Ok(fd);
                }
                cur = fd;
                start = next;
            }
            _ => {
                if !last {
                    return Err(libc::ENOTDIR);
                }
                let fd = sys::openat(cur.raw(), name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
                resolved.push(comp)?;
                return Ok(fd);
            }
        }
    }
}

fn resolved_or_dot(p: &PathBuf4k) -> &CStr {
    if p.as_bytes().is_empty() {
        c"."
    } else {
        p.as_cstr()
    }
}

fn truncate(p: &mut PathBuf4k, len: usize) {
    while p.as_bytes().len() > len {
        p.pop();
    }
}

/// Re-opens `resolved` (a symlink-free path from [`resolve`]) under `root`,
/// crossing whatever has been mounted on it since.
pub(super) fn reopen(root: c_int, resolved: &PathBuf4k, flags: c_int) -> Result<Fd, Errno> {
    sys::openat2(
        root,
        resolved_or_dot(resolved),
        flags | libc::O_NOFOLLOW,
        0,
        sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS | sys::RESOLVE_NO_MAGICLINKS,
    )
}
