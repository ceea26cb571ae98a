//! Snapshot diff directory -> layer tar.
//!
//! The walk is depth-first with siblings sorted by their name bytes (Go's
//! `filepath.Walk` order, which BuildKit's overlay differ uses), so parents
//! come before children and the same tree always gives the same bytes.
//! The root directory itself is not an entry.
//!
//! Per entry, as containerd's `ChangeWriter` does:
//!
//! - regular files, directories (name ending in `/`), symlinks, char/block
//!   devices (with major/minor), fifos; sockets are skipped;
//! - mode = permission bits | setuid | setgid | sticky; numeric uid/gid,
//!   empty uname/gname; mtime in whole seconds, atime/ctime not recorded;
//! - a file with more than one link whose inode was already written becomes
//!   a hard link (`1`) to the first path written for that inode;
//! - a whiteout (char device 0/0) becomes an empty regular file
//!   `.wh.<name>` at the same position, mode 0, owner 0:0, mtime 0;
//! - an opaque directory is followed directly by `<dir>/.wh..wh..opq`
//!   (an empty file with the directory's permission bits and owner, mtime 0,
//!   as Docker's overlay archiver writes it);
//! - xattrs become `SCHILY.xattr.<name>` PAX records, except overlayfs's own
//!   (`trusted.overlay.*`, `user.overlay.*`) and `security.selinux`.
//!   (BuildKit records only `security.capability`; kiln keeps user-visible
//!   xattrs such as `user.*` too.)
//!
//! With [`WriteOptions::epoch`] (SOURCE_DATE_EPOCH), every mtime later than
//! the epoch is clamped to it, as BuildKit's `rewrite-timestamp=true` does;
//! older mtimes are kept. Whiteouts stay at mtime 0 either way.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::header::{self, EntryHeader};
use super::whiteout::{
    is_opaque_xattr, is_unsupported_overlay_xattr, skip_xattr_on_write, OPAQUE_MARKER,
    WHITEOUT_PREFIX,
};
use super::{bytes_path, io_err, Digest, LayerError, Result, Xattrs};

/// How to write a layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// SOURCE_DATE_EPOCH: clamp mtimes later than this (seconds since the
    /// Unix epoch) to it, so the same inputs give byte-identical layers.
    pub epoch: Option<i64>,
}

/// What [`write_layer`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// sha256 of the uncompressed tar (the OCI "diff id").
    pub diff_id: Digest,
    /// Size of the uncompressed tar in bytes.
    pub size: u64,
    /// Number of entries written (hard links and whiteouts included,
    /// PAX extended headers not).
    pub entries: u64,
}

/// Write the snapshot diff at `diff_dir` as a layer tar into `out`,
/// streaming (memory stays flat whatever the size of the diff), and return
/// its diff id and size. `out` is flushed, not closed.
pub fn write_layer(diff_dir: &Path, out: impl Write, opts: &WriteOptions) -> Result<LayerInfo> {
    let mut sink = TarSink::new(out);
    let entries = walk(diff_dir, &mut sink, opts)?;
    let (_, diff_id, size) = sink.finish()?;
    Ok(LayerInfo {
        diff_id,
        size,
        entries,
    })
}

const SINK_CAP: usize = 1 << 20;

/// Buffers the tar stream, hashes it and counts it on its way to `out`.
struct TarSink<W: Write> {
    out: W,
    buf: Box<[u8]>,
    filled: usize,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> TarSink<W> {
    fn new(out: W) -> Self {
        TarSink {
            out,
            buf: vec![0u8; SINK_CAP].into_boxed_slice(),
            filled: 0,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn flush_buf(&mut self) -> Result<()> {
        let data = &self.buf[..self.filled];
        self.hasher.update(data);
        self.out.write_all(data).map_err(LayerError::Output)?;
        self.size += self.filled as u64;
        self.filled = 0;
        Ok(())
    }

    fn push(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            if self.filled == self.buf.len() {
                self.flush_buf()?;
            }
            let n = bytes.len().min(self.buf.len() - self.filled);
            self.buf[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    fn zeros(&mut self, mut n: usize) -> Result<()> {
        while n > 0 {
            if self.filled == self.buf.len() {
                self.flush_buf()?;
            }
            let k = n.min(self.buf.len() - self.filled);
            self.buf[self.filled..self.filled + k].fill(0);
            self.filled += k;
            n -= k;
        }
        Ok(())
    }

    /// Copy exactly `size` bytes of `file` (read straight into the buffer),
    /// then the padding to the next block.
    fn copy_file(&mut self, file: &mut File, size: u64, path: &Path) -> Result<()> {
        let mut left = size;
        while left > 0 {
            if self.filled == self.buf.len() {
                self.flush_buf()?;
            }
            let room =
                (self.buf.len() - self.filled).min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match file.read(&mut self.buf[self.filled..self.filled + room]) {
                Ok(0) => {
                    return Err(LayerError::Io {
                        op: "read",
                        path: path.to_owned(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!(
                                "file shrank while being archived ({} of {size} bytes)",
                                size - left
                            ),
                        ),
                    })
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("read", path)(e)),
            };
            self.filled += n;
            left -= n as u64;
        }
        self.zeros(header::padding(size))
    }

    fn finish(mut self) -> Result<(W, Digest, u64)> {
        self.zeros(2 * header::BLOCK)?;
        self.flush_buf()?;
        self.out.flush().map_err(LayerError::Output)?;
        Ok((self.out, Digest::from_hasher(self.hasher), self.size))
    }
}

/// A directory being walked: its name prefix in the archive (empty for the
/// root, else ending in '/') and its remaining children, sorted.
struct Frame {
    prefix: Vec<u8>,
    names: std::vec::IntoIter<std::ffi::OsString>,
}

fn read_sorted(dir: &Path) -> Result<std::vec::IntoIter<std::ffi::OsString>> {
    let mut names = Vec::new();
    for ent in fs::read_dir(dir).map_err(io_err("read directory", dir))? {
        names.push(ent.map_err(io_err("read directory", dir))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names.into_iter())
}

fn walk<W: Write>(root: &Path, sink: &mut TarSink<W>, opts: &WriteOptions) -> Result<u64> {
    let md = fs::symlink_metadata(root).map_err(io_err("stat", root))?;
    if !md.is_dir() {
        return Err(LayerError::Io {
            op: "open snapshot",
            path: root.to_owned(),
            source: std::io::Error::from_raw_os_error(rustix::io::Errno::NOTDIR.raw_os_error()),
        });
    }
    let mut w = Walker {
        opts,
        links: HashMap::new(),
        hdr: Vec::with_capacity(4096),
        entries: 0,
    };
    let mut stack = vec![Frame {
        prefix: Vec::new(),
        names: read_sorted(root)?,
    }];
    while let Some(top) = stack.last_mut() {
        let Some(name) = top.names.next() else {
            stack.pop();
            continue;
        };
        let mut rel = top.prefix.clone();
        rel.extend_from_slice(name.as_bytes());
        let full = root.join(bytes_path(&rel));
        if w.entry(sink, &rel, &full)? {
            rel.push(b'/');
            let names = read_sorted(&full)?;
            stack.push(Frame { prefix: rel, names });
        }
    }
    Ok(w.entries)
}

struct Walker<'o> {
    opts: &'o WriteOptions,
    /// (dev, inode) -> archive name of the first entry written for it.
    links: HashMap<(u64, u64), Vec<u8>>,
    hdr: Vec<u8>,
    entries: u64,
}

impl Walker<'_> {
    fn clamp(&self, mtime: i64) -> i64 {
        match self.opts.epoch {
            Some(e) if mtime > e => e,
            _ => mtime,
        }
    }

    fn put_header<W: Write>(
        &mut self,
        sink: &mut TarSink<W>,
        h: &EntryHeader<'_>,
        path: &Path,
    ) -> Result<()> {
        self.hdr.clear();
        header::encode(h, &mut self.hdr).map_err(|e| LayerError::Unrepresentable {
            path: path.to_owned(),
            reason: e.0,
        })?;
        sink.push(&self.hdr)?;
        self.entries += 1;
        Ok(())
    }

    /// Write one entry; returns whether it is a directory to descend into.
    fn entry<W: Write>(&mut self, sink: &mut TarSink<W>, rel: &[u8], full: &Path) -> Result<bool> {
        let md = fs::symlink_metadata(full).map_err(io_err("stat", full))?;
        let ft = md.file_type();
        if ft.is_socket() {
            return Ok(false);
        }
        if ft.is_char_device() && md.rdev() == 0 {
            let cut = rel.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
            let mut name = rel[..cut].to_vec();
            name.extend_from_slice(WHITEOUT_PREFIX.as_bytes());
            name.extend_from_slice(&rel[cut..]);
            let h = EntryHeader {
                name: &name,
                typeflag: header::TYPE_REG,
                ..Default::default()
            };
            self.put_header(sink, &h, full)?;
            return Ok(false);
        }

        let (xattrs, opaque) = read_xattrs(full)?;
        let mode = md.mode() & 0o7777;
        let mut h = EntryHeader {
            name: rel,
            typeflag: header::TYPE_REG,
            mode,
            uid: md.uid() as u64,
            gid: md.gid() as u64,
            mtime: self.clamp(md.mtime()),
            xattrs: &xattrs,
            ..Default::default()
        };
        let mut dir_name;
        let target;
        let mut copy_size = 0;
        if ft.is_dir() {
            dir_name = rel.to_vec();
            dir_name.push(b'/');
            h.name = &dir_name;
            h.typeflag = header::TYPE_DIR;
        } else {
            let key = (md.dev(), md.ino());
            let first = if md.nlink() > 1 {
                self.links.get(&key).cloned()
            } else {
                None
            };
            if let Some(first) = first {
                target = first;
                h.typeflag = header::TYPE_LINK;
                h.linkname = &target;
            } else {
                if md.nlink() > 1 {
                    self.links.insert(key, rel.to_vec());
                }
                if ft.is_file() {
                    h.size = md.len();
                    copy_size = md.len();
                } else if ft.is_symlink() {
                    target = fs::read_link(full)
                        .map_err(io_err("readlink", full))?
                        .into_os_string()
                        .into_vec();
                    h.typeflag = header::TYPE_SYMLINK;
                    h.linkname = &target;
                } else if ft.is_char_device() || ft.is_block_device() {
                    h.typeflag = if ft.is_char_device() {
                        header::TYPE_CHAR
                    } else {
                        header::TYPE_BLOCK
                    };
                    h.devmajor = rustix::fs::major(md.rdev()) as u64;
                    h.devminor = rustix::fs::minor(md.rdev()) as u64;
                } else if ft.is_fifo() {
                    h.typeflag = header::TYPE_FIFO;
                } else {
                    return Ok(false);
                }
            }
        }

        let mut file = if copy_size > 0 {
            Some(
                fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                    .open(full)
                    .map_err(io_err("open", full))?,
            )
        } else {
            None
        };
        self.put_header(sink, &h, full)?;
        if let Some(f) = file.as_mut() {
            sink.copy_file(f, copy_size, full)?;
        }
        if ft.is_dir() && opaque {
            let mut name = rel.to_vec();
            name.push(b'/');
            name.extend_from_slice(OPAQUE_MARKER.as_bytes());
            let marker = EntryHeader {
                name: &name,
                typeflag: header::TYPE_REG,
                mode: mode & 0o777,
                uid: h.uid,
                gid: h.gid,
                ..Default::default()
            };
            self.put_header(sink, &marker, full)?;
        }
        Ok(ft.is_dir())
    }
}

/// The xattrs to record for `path` (sorted by name), and whether it is an
/// opaque directory.
fn read_xattrs(path: &Path) -> Result<(Xattrs, bool)> {
    let names = match get_list(path) {
        Ok(n) => n,
        Err(e) if is_unsupported(e) => return Ok((Vec::new(), false)),
        Err(e) => return Err(io_err("list xattrs of", path)(e.into())),
    };
    let mut out = Vec::new();
    let mut opaque = false;
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if let Some(feature) = is_unsupported_overlay_xattr(name) {
            return Err(LayerError::UnsupportedOverlay {
                path: path.to_owned(),
                feature: feature.to_owned(),
            });
        }
        let value = match get_value(path, name) {
            Ok(v) => v,
            Err(rustix::io::Errno::NODATA) => continue, // removed meanwhile
            Err(e) => return Err(io_err("read xattr of", path)(e.into())),
        };
        if is_opaque_xattr(name) {
            opaque |= value == b"y";
            continue;
        }
        if skip_xattr_on_write(name) {
            continue;
        }
        out.push((name.to_vec(), value));
    }
    out.sort();
    Ok((out, opaque))
}

fn is_unsupported(e: rustix::io::Errno) -> bool {
    e == rustix::io::Errno::NOTSUP || e == rustix::io::Errno::OPNOTSUPP
}

pub(crate) fn get_list(path: &Path) -> std::result::Result<Vec<u8>, rustix::io::Errno> {
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::llistxattr(path, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(rustix::io::Errno::RANGE) => {
                let n = rustix::fs::llistxattr_query(path)?;
                buf.resize(n.max(buf.len() * 2), 0);
            }
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn get_value(
    path: &Path,
    name: &[u8],
) -> std::result::Result<Vec<u8>, rustix::io::Errno> {
    let name = std::ffi::OsStr::from_bytes(name);
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(rustix::io::Errno::RANGE) => {
                let n = rustix::fs::lgetxattr_query(path, name)?;
                buf.resize(n.max(buf.len() * 2), 0);
            }
            Err(e) => return Err(e),
        }
    }
}
