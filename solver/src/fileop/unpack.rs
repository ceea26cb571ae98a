//! ADD's archive extraction (BuildKit's `unpack` over go-archive's
//! `Untar`).
//!
//! A source is an archive when it is a regular file (after following
//! symlinks inside the source) whose content, once decompressed by what its
//! first bytes announce (gzip, bzip2, xz, zstd, or none), starts with a
//! valid tar header. The name does not matter, and anything else, a
//! corrupt compressed stream included, is copied as a plain file.
//!
//! The archive is extracted *into* the destination, which is created as a
//! directory (0755, `--chown`'s owner) if missing. The destination is the
//! root of the extraction, as if chrooted into it:
//!
//! - entry names are cleaned; `/` is stripped from absolute ones and a name
//!   that climbs out (`../x`) fails the copy;
//! - parents are resolved inside the destination: a symlink entry such as
//!   `lib -> /` or `x -> ../../..` leads back into it, never out;
//! - the final component is never followed: an existing entry other than a
//!   directory receiving a directory is removed first;
//! - symlink targets are stored verbatim; hard link targets are resolved
//!   inside the destination and must stay inside it;
//! - owners come from the archive (or `--chown`), modes (setuid included),
//!   times and `SCHILY.xattr.*` records from the headers; missing parent
//!   directories are made 0755 and root-owned.

// `Stat`'s field types differ between architectures: the casts are needed.
#![allow(clippy::unnecessary_cast)]

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{
    linkat, mkdirat, mknodat, openat, symlinkat, unlinkat, AtFlags, FileType, Mode, OFlags,
    Timespec, Timestamps,
};
use rustix::io::Errno;

use super::copy::ensure_dir;
use super::error::{display, FileOpError};
use super::meta::{self, Node};
use super::resolve::{file_type, lstat_at, mkdir_all, open_dir_at, DirSpec, Root};
use super::source::Source;
use crate::gopath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// Compression announced by the first bytes (go-archive's `Detect`).
pub(crate) fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x42, 0x5A, 0x68]) {
        Compression::Bzip2
    } else if head.starts_with(&[0x1F, 0x8B, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD])
        || (head.len() >= 8
            && u32::from_le_bytes([head[0], head[1], head[2], head[3]]) & 0xFFFF_FFF0
                == 0x184D_2A50)
    {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// A decompressing reader over `file` from its start.
fn decompressed<'f>(file: &'f File) -> io::Result<Box<dyn Read + 'f>> {
    let mut buf = BufReader::with_capacity(64 * 1024, file);
    let head = buf.fill_buf()?;
    Ok(match detect(head) {
        Compression::None => Box::new(buf),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buf)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(buf)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(buf)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buf)?),
    })
}

/// Whether the decompressed stream starts with a tar header that parses
/// (Go's `tar.Reader.Next` succeeding once).
fn is_archive(file: &File) -> bool {
    let Ok(reader) = decompressed(file) else {
        return false;
    };
    let mut archive = tar::Archive::new(reader);
    let Ok(mut entries) = archive.entries() else {
        return false;
    };
    match entries.next() {
        Some(Ok(entry)) => {
            let h = entry.header();
            h.mode().is_ok()
                && h.uid().is_ok()
                && h.gid().is_ok()
                && h.mtime().is_ok()
                && h.entry_size().is_ok()
        }
        _ => false,
    }
}

/// ADD of a local `src`: if it is an archive, extract it into `dst` and
/// return true; false means "copy it as a file".
pub(crate) fn try_unpack(
    dest: &Root,
    source: &Source<'_>,
    src: &[u8],
    dst: &str,
    owner: Option<(u32, u32)>,
    time: Option<i64>,
) -> Result<bool, FileOpError> {
    let Some(entry) = source.lookup(src, true)? else {
        return Ok(false);
    };
    let Some(name) = entry.name.as_deref() else {
        return Ok(false);
    };
    if file_type(&entry.stat) != FileType::RegularFile {
        return Ok(false);
    }
    let Ok(fd) = openat(
        entry.dir.as_fd(),
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return Ok(false);
    };
    let mut file = File::from(fd);
    if !is_archive(&file) {
        return Ok(false);
    }
    let archive_name = display(&gopath::lossy(&entry.rel));
    let fail = |message: String| FileOpError::Archive {
        archive: archive_name.clone(),
        message,
    };
    file.seek(SeekFrom::Start(0))
        .map_err(|e| fail(e.to_string()))?;

    let spec = DirSpec {
        mode: 0o755,
        owner,
        time,
    };
    let mut created = Vec::new();
    let dir = ensure_dir(dest, dst, &spec, &mut created)?;
    let reader = decompressed(&file).map_err(|e| fail(e.to_string()))?;
    let result = extract(reader, dir, owner).map_err(|(entry, e)| match entry {
        Some(entry) => fail(format!("{entry}: {e}")),
        None => fail(e.to_string()),
    });
    super::fix_times(&created, time);
    result
}

type EntryError = (Option<String>, io::Error);

fn breakout(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Go's `path.Clean` of an entry name with leading `/` removed; `None`
/// when it climbs above the root.
fn clean_entry_name(name: &[u8]) -> Option<Vec<u8>> {
    let trimmed: &[u8] = {
        let mut n = name;
        while let [b'/', rest @ ..] = n {
            n = rest;
        }
        n
    };
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in trimmed.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|l| *l != b"..") {
                    parts.pop();
                } else {
                    parts.push(b"..");
                }
            }
            c => parts.push(c),
        }
    }
    if parts.first() == Some(&&b".."[..]) {
        return None;
    }
    Some(parts.join(&b'/'))
}

/// Seconds and nanoseconds of a PAX time (`1700000000.25`).
fn pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = sec.parse().ok()?;
    let mut nsec: i64 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        nsec = format!("{digits:0<9}").parse().ok()?;
        if sec < 0 && nsec != 0 {
            return Some(Timespec {
                tv_sec: sec - 1,
                tv_nsec: (1_000_000_000 - nsec) as _,
            });
        }
    }
    Some(Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    })
}

/// A device number field as Go's tar reads it: octal, NULs and spaces
/// trimmed, empty meaning 0.
fn device_number(field: &[u8]) -> io::Result<u32> {
    let text = String::from_utf8_lossy(field);
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Ok(0);
    }
    u32::from_str_radix(text, 8).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("invalid device number {text:?}"),
        )
    })
}

/// go-archive's `boundTime`: times before the epoch become the epoch.
fn bound(t: Timespec) -> Timespec {
    if t.tv_sec < 0 {
        Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        }
    } else {
        t
    }
}

fn extract(
    reader: impl Read,
    root_dir: OwnedFd,
    owner: Option<(u32, u32)>,
) -> Result<bool, EntryError> {
    let root = Root::from_fd(root_dir);
    let mut archive = tar::Archive::new(reader);
    let mut dirs: Vec<(OwnedFd, Timestamps)> = Vec::new();
    let entries = archive.entries().map_err(|e| (None, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| (None, e))?;
        let raw_name = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_name).into_owned();
        extract_entry(&root, &mut entry, &raw_name, owner, &mut dirs)
            .map_err(|e| (Some(shown), e))?;
    }
    for (fd, times) in &dirs {
        rustix::fs::futimens(fd, times).map_err(|e| (None, e.into()))?;
    }
    Ok(true)
}

fn extract_entry<R: Read>(
    root: &Root,
    entry: &mut tar::Entry<'_, R>,
    raw_name: &[u8],
    owner: Option<(u32, u32)>,
    dirs: &mut Vec<(OwnedFd, Timestamps)>,
) -> io::Result<()> {
    let header = entry.header();
    let flag = header.as_bytes()[156];
    // Old-style regular files with a trailing slash are directories.
    let flag = if flag == 0 && raw_name.ends_with(b"/") {
        b'5'
    } else {
        flag
    };
    if flag == b'g' {
        return Ok(());
    }
    let Some(name) = clean_entry_name(raw_name) else {
        return Err(breakout(format!(
            "invalid entry name {:?}: outside of the destination",
            String::from_utf8_lossy(raw_name)
        )));
    };
    if name.is_empty() {
        return Ok(());
    }
    let mode = header.mode()? & 0o7777;
    let (hdr_uid, hdr_gid) = (header.uid()? as u32, header.gid()? as u32);
    let mut mtime = Timespec {
        tv_sec: header.mtime()? as i64,
        tv_nsec: 0,
    };
    let mut atime: Option<Timespec> =
        header
            .as_gnu()
            .and_then(|g| g.atime().ok())
            .map(|s| Timespec {
                tv_sec: s as i64,
                tv_nsec: 0,
            });
    let (dev_major, dev_minor) = if matches!(flag, b'3' | b'4') {
        (
            device_number(&header.as_bytes()[329..337])?,
            device_number(&header.as_bytes()[337..345])?,
        )
    } else {
        (0, 0)
    };
    let link_name = entry.link_name_bytes().map(|l| l.into_owned());
    let mut xattrs: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax.flatten() {
            let key = ext.key().unwrap_or("");
            if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                xattrs.push((x.to_string(), ext.value_bytes().to_vec()));
            } else if key == "mtime" {
                if let Some(t) = pax_time(ext.value_bytes()) {
                    mtime = t;
                }
            } else if key == "atime" {
                atime = pax_time(ext.value_bytes());
            }
        }
    }
    let mtime = bound(mtime);
    let atime = bound(match atime {
        Some(a) if a > mtime => a,
        _ => mtime,
    });
    let times = Timestamps {
        last_access: atime,
        last_modification: mtime,
    };

    let r = root.resolve(&name, false)?;
    let implied = DirSpec {
        mode: 0o755,
        owner: None,
        time: None,
    };
    let final_name = r
        .rest
        .last()
        .cloned()
        .expect("a non-empty name has a final component");
    let parent = mkdir_all(r, false, &implied, &mut Vec::new())?;
    let parent = parent.as_fd();
    let fname = final_name.as_os_str();

    if let Some(existing) = lstat_at(parent, fname)? {
        if !(file_type(&existing) == FileType::Directory && flag == b'5') {
            remove_all(parent, fname)?;
        }
    }

    // The entry itself, and whether its mode and times apply.
    let mut dir_fd: Option<OwnedFd> = None;
    let mut file_fd: Option<OwnedFd> = None;
    let mut link_to_symlink = false;
    let node_type;
    match flag {
        b'5' => {
            match mkdirat(parent, fname, Mode::from_raw_mode(mode & 0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            dir_fd = Some(open_dir_at(parent, fname)?);
            node_type = FileType::Directory;
        }
        b'0' | 0 | b'S' => {
            let fd = openat(
                parent,
                fname,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            let mut out = File::from(fd);
            io::copy(entry, &mut out)?;
            file_fd = Some(out.into());
            node_type = FileType::RegularFile;
        }
        b'3' | b'4' | b'6' => {
            let ty = match flag {
                b'3' => FileType::CharacterDevice,
                b'4' => FileType::BlockDevice,
                _ => FileType::Fifo,
            };
            let dev = rustix::fs::makedev(dev_major, dev_minor);
            mknodat(parent, fname, ty, Mode::from_raw_mode(0o600), dev)?;
            node_type = ty;
        }
        b'2' => {
            let target = link_name.ok_or_else(|| breakout("symlink without a target".into()))?;
            symlinkat(OsStr::from_bytes(&target), parent, fname)?;
            node_type = FileType::Symlink;
        }
        b'1' => {
            let target = link_name.ok_or_else(|| breakout("hard link without a target".into()))?;
            let cleaned = clean_entry_name(&target)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    breakout(format!(
                        "invalid hardlink target {:?}: outside of the destination",
                        String::from_utf8_lossy(&target)
                    ))
                })?;
            let t = root.resolve(&cleaned, false)?;
            if t.rest.len() != 1 {
                return Err(Errno::NOENT.into());
            }
            let tname: &OsString = &t.rest[0];
            link_to_symlink = lstat_at(t.dir.as_fd(), tname)?
                .is_some_and(|st| file_type(&st) == FileType::Symlink);
            linkat(
                t.dir.as_fd(),
                tname.as_os_str(),
                parent,
                fname,
                AtFlags::empty(),
            )?;
            node_type = if link_to_symlink {
                FileType::Symlink
            } else {
                FileType::RegularFile
            };
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unhandled tar header type {other}"),
            ));
        }
    }

    let node = match (&dir_fd, &file_fd) {
        (Some(fd), _) | (_, Some(fd)) => Node::Fd(fd.as_fd()),
        _ => Node::At(parent, fname, node_type),
    };
    let (uid, gid) = owner.unwrap_or((hdr_uid, hdr_gid));
    meta::chown(node, uid, gid).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("failed to Lchown for UID {uid}, GID {gid}: {e}"),
        )
    })?;
    for (key, value) in &xattrs {
        meta::set_archive_xattr(node, key, value)?;
    }
    if node_type != FileType::Symlink {
        meta::chmod(node, mode)?;
    }
    if !link_to_symlink {
        meta::set_times(node, &times)?;
    }
    if let Some(fd) = dir_fd {
        dirs.push((fd, times));
    }
    Ok(())
}

/// Remove `name` in `dir` and everything below it, never following a
/// symlink.
fn remove_all(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR | Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = open_dir_at(dir, name)?;
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(&sub)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    for n in names {
        remove_all(sub.as_fd(), &n)?;
    }
    match unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fileop_unpack_entry_names() {
        assert_eq!(clean_entry_name(b"/a/./b/"), Some(b"a/b".to_vec()));
        assert_eq!(clean_entry_name(b"a/../../x"), None);
        assert_eq!(clean_entry_name(b"../x"), None);
        assert_eq!(clean_entry_name(b"/../x"), None);
        assert_eq!(clean_entry_name(b"./"), Some(Vec::new()));
        assert_eq!(clean_entry_name(b"a/b/../c"), Some(b"a/c".to_vec()));
    }

    #[test]
    fn fileop_unpack_detect_magic() {
        assert_eq!(detect(&[0x1F, 0x8B, 0x08, 0]), Compression::Gzip);
        assert_eq!(detect(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(
            detect(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]),
            Compression::Xz
        );
        assert_eq!(detect(&[0x28, 0xB5, 0x2F, 0xFD]), Compression::Zstd);
        assert_eq!(
            detect(&[0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0]),
            Compression::Zstd
        );
        assert_eq!(detect(b"hello"), Compression::None);
        assert_eq!(
            pax_time(b"1700000000.25"),
            Some(Timespec {
                tv_sec: 1700000000,
                tv_nsec: 250_000_000
            })
        );
        assert_eq!(
            pax_time(b"12"),
            Some(Timespec {
                tv_sec: 12,
                tv_nsec: 0
            })
        );
    }
}
