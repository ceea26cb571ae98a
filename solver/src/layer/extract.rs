//! Layer tar -> snapshot diff directory in overlay form.
//!
//! Each entry is written *inside* the destination whatever its name says
//! (see `resolve`): `..` is clamped at the destination, absolute names are
//! taken relative to it, symlinks met on the way (including ones the same
//! tar planted) are resolved with the destination as `/`, and the entry's
//! own name is never followed: whatever exists there is removed first
//! (a directory meeting a directory is merged, as in every unpacker).
//! Symlink targets are stored verbatim: they are resolved inside the image
//! at run time, never on the host. Hard link targets are resolved inside
//! the destination and must exist there.
//!
//! Whiteouts become overlay whiteouts: `.wh.<name>` -> char device 0/0
//! `<name>`, `.wh..wh..opq` -> opaque xattr on its directory; other
//! `.wh..wh.*` entries are skipped. Overlay's own xattrs found in the tar
//! (`trusted.overlay.*`, `user.overlay.*`) are ignored: a layer must not be
//! able to steer the overlay mount (redirects, metacopy).
//!
//! Metadata: owner (lchown; needs root, see [`ExtractOptions::same_owner`]),
//! (hard links keep their target's metadata untouched),
//! xattrs from `SCHILY.xattr.*` PAX records, mode including
//! setuid/setgid/sticky (set after chown, which clears them), mtimes (PAX
//! sub-second ones too); directories get their mtime after all their
//! contents are written.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};

use super::compress::{compressed_reader, BlobInfo, HashReader};
use super::resolve::{clean, remove_all_at, split_parent, Root};
use super::whiteout::{classify, is_overlay_xattr, OverlayXattr, TarName};
use super::{bytes_path, io_err, Digest, LayerError, Result, Xattrs};

/// How to extract a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Give entries the owner recorded in the tar (lchown). On by default;
    /// needs root (or a user namespace mapping the ids). Off: entries belong
    /// to the extracting user.
    pub same_owner: bool,
    /// Namespace of the opaque-directory xattr written for `.wh..wh..opq`.
    pub overlay_xattr: OverlayXattr,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            same_owner: true,
            overlay_xattr: OverlayXattr::Trusted,
        }
    }
}

/// What [`extract_layer`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// sha256 of the uncompressed tar as read (to check against the image
    /// config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub tar_size: u64,
    /// Digest and size of the compressed blob, when extracted through
    /// [`extract_compressed_layer`].
    pub blob: Option<BlobInfo>,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub devices: u64,
    pub fifos: u64,
    pub whiteouts: u64,
    pub opaque_dirs: u64,
    /// Bytes of regular file contents written.
    pub file_bytes: u64,
    /// Xattrs not applied: overlay's own, or not supported by the
    /// destination filesystem (or, for `user.*`, by the file type).
    pub xattrs_skipped: u64,
}

/// Extract the uncompressed layer tar read from `reader` into `dest` (an
/// existing directory, normally empty), in overlay form. The reader is read
/// to its end (past the tar's end blocks) so `diff_id` covers all of it.
pub fn extract_layer(
    reader: impl Read,
    dest: &Path,
    opts: &ExtractOptions,
) -> Result<ExtractStats> {
    extract_with(reader, dest, opts, false)
}

/// Like [`extract_layer`], for a layer blob that may be gzip, zstd or
/// plain (sniffed from its first bytes); also reports the blob's digest.
pub fn extract_compressed_layer(
    reader: impl Read + Send,
    dest: &Path,
    opts: &ExtractOptions,
) -> Result<ExtractStats> {
    let mut blob = HashReader::new(reader);
    let (dec, _) = compressed_reader(&mut blob).map_err(LayerError::Input)?;
    let mut stats = extract_layer(dec, dest, opts)?;
    io::copy(&mut blob, &mut io::sink()).map_err(LayerError::Input)?;
    let (digest, size) = blob.finish();
    stats.blob = Some(BlobInfo { digest, size });
    Ok(stats)
}

pub(crate) fn extract_with(
    reader: impl Read,
    dest: &Path,
    opts: &ExtractOptions,
    manual: bool,
) -> Result<ExtractStats> {
    let mut root = Root::open(dest).map_err(io_err("open destination", dest))?;
    root.manual_only = manual;
    let mut input = Input {
        inner: reader,
        hasher: Sha256::new(),
        count: 0,
    };
    let mut ex = Extractor {
        root,
        dest: dest.to_owned(),
        opts: opts.clone(),
        stats: ExtractStats::default(),
        dirs: Vec::new(),
        cache: None,
        dirty: false,
        buf: vec![0u8; 1 << 20],
    };
    {
        let mut archive = tar::Archive::new(&mut input);
        let entries = archive.entries().map_err(LayerError::Input)?;
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => return Err(read_error(e, None)),
            };
            ex.entry(&mut entry)?;
        }
    }
    ex.finish_dirs()?;
    // Drain what follows the end-of-archive blocks so the digest covers the
    // whole stream (as BuildKit/containerd do).
    io::copy(&mut input, &mut io::sink()).map_err(|e| read_error(e, None))?;
    ex.stats.diff_id = Digest::from_hasher(input.hasher);
    ex.stats.tar_size = input.count;
    Ok(ex.stats)
}

/// The uncompressed tar stream: hashed and counted as it is read.
struct Input<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

fn read_error(e: io::Error, at: Option<&Path>) -> LayerError {
    let truncated = e.kind() == io::ErrorKind::UnexpectedEof
        || e.to_string().contains("failed to read entire block");
    if truncated {
        LayerError::Truncated {
            at: at.map(Path::to_owned),
        }
    } else {
        LayerError::Input(e)
    }
}

struct Extractor {
    root: Root,
    dest: PathBuf,
    opts: ExtractOptions,
    stats: ExtractStats,
    /// Directories whose mtime is set at the end: (clean path, mtime).
    dirs: Vec<(Vec<u8>, Timespec)>,
    /// The last parent directory resolved, reused by the following entries.
    cache: Option<(Vec<u8>, OwnedFd)>,
    /// Set when an entry changed what some path resolves to.
    dirty: bool,
    buf: Vec<u8>,
}

/// The metadata of one entry.
struct Meta {
    uid: u64,
    gid: u64,
    mode: u32,
    mtime: Timespec,
    xattrs: Xattrs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

fn errno(e: &io::Error) -> Option<Errno> {
    e.raw_os_error().map(Errno::from_raw_os_error)
}

impl Extractor {
    fn path(&self, rel: &[u8]) -> PathBuf {
        self.dest.join(bytes_path(rel))
    }

    fn malformed(&self, rel: &[u8], reason: impl Into<String>) -> LayerError {
        LayerError::Malformed {
            path: bytes_path(rel),
            reason: reason.into(),
        }
    }

    /// Mark that the paths resolved so far may resolve differently now.
    fn invalidate(&mut self) {
        self.dirty = true;
        self.cache = None;
    }

    /// Take the fd of parent directory `rel`, from the cache or resolved.
    fn parent(&mut self, rel: &[u8], create: bool) -> io::Result<OwnedFd> {
        if let Some((p, fd)) = self.cache.take() {
            if p == rel {
                return Ok(fd);
            }
        }
        self.root.dir(rel, create)
    }

    fn keep_parent(&mut self, rel: &[u8], fd: OwnedFd) {
        if !self.dirty {
            self.cache = Some((rel.to_vec(), fd));
        }
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<()> {
        let etype = e.header().entry_type();
        if etype.is_pax_global_extensions() {
            return Ok(());
        }
        let raw_name = e.path_bytes().into_owned();
        let rel = clean(&raw_name);
        if rel.is_empty() {
            return Ok(()); // the root itself ("./", "/")
        }
        let kind = match etype {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                if e.header().as_bytes()[156] == 0 && raw_name.ends_with(b"/") {
                    Kind::Dir
                } else {
                    Kind::File
                }
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Link => Kind::Hardlink,
            tar::EntryType::Char => Kind::Char,
            tar::EntryType::Block => Kind::Block,
            tar::EntryType::Fifo => Kind::Fifo,
            other => {
                return Err(LayerError::UnsupportedEntry {
                    path: bytes_path(&rel),
                    kind: other.as_byte() as char,
                })
            }
        };
        let meta = self.meta(e, &rel)?;

        // An entry at or above the cached parent may change what it is.
        if let Some((p, _)) = &self.cache {
            if p == &rel || (p.starts_with(&rel) && p.get(rel.len()) == Some(&b'/')) {
                self.cache = None;
            }
        }
        self.dirty = false;
        let (parent_rel, base) = split_parent(&rel);
        let (parent_rel, base) = (parent_rel.to_vec(), base.to_vec());

        match classify(&base) {
            TarName::Meta => return Ok(()),
            TarName::Opaque => {
                let pfd = self
                    .parent(&parent_rel, true)
                    .map_err(io_err("create directory", self.path(&parent_rel)))?;
                let name = self.opts.overlay_xattr.opaque();
                rustix::fs::fsetxattr(&pfd, name, b"y", XattrFlags::empty()).map_err(|err| {
                    io_err("set opaque xattr on", self.path(&parent_rel))(err.into())
                })?;
                self.stats.opaque_dirs += 1;
                self.keep_parent(&parent_rel, pfd);
                return Ok(());
            }
            TarName::Whiteout(target) => {
                if target.is_empty() || target == b"." || target == b".." {
                    return Err(self.malformed(&rel, "whiteout of an empty name"));
                }
                let target = target.to_vec();
                let pfd = self
                    .parent(&parent_rel, true)
                    .map_err(io_err("create directory", self.path(&parent_rel)))?;
                let mut wrel = parent_rel.clone();
                if !wrel.is_empty() {
                    wrel.push(b'/');
                }
                wrel.extend_from_slice(&target);
                self.replace(pfd.as_fd(), &target, false, &wrel)?;
                self.mknod(pfd.as_fd(), &target, FileType::CharacterDevice, 0, 0, &wrel)?;
                let wmeta = Meta {
                    mode: 0,
                    xattrs: Vec::new(),
                    ..meta
                };
                self.apply_by_name(pfd.as_fd(), &target, &wmeta, &wrel, false)?;
                self.stats.whiteouts += 1;
                self.keep_parent(&parent_rel, pfd);
                return Ok(());
            }
            TarName::Plain => {}
        }

        // Hard links: resolve the target first (it must exist inside).
        let link_target = if kind == Kind::Hardlink {
            let raw = e
                .link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            let t = clean(&raw);
            if t.is_empty() {
                return Err(self.malformed(&rel, "hard link without a target"));
            }
            if t == rel {
                return Err(self.malformed(&rel, "hard link to itself"));
            }
            let (tp, tb) = split_parent(&t);
            let tfd = self
                .root
                .dir(tp, false)
                .map_err(|source| LayerError::HardlinkTarget {
                    path: bytes_path(&rel),
                    target: bytes_path(&t),
                    source,
                })?;
            Some((tfd, tb.to_vec(), t.clone()))
        } else {
            None
        };

        let pfd = self
            .parent(&parent_rel, true)
            .map_err(io_err("create directory", self.path(&parent_rel)))?;
        let p = pfd.as_fd();
        let merge = self.replace(p, &base, kind == Kind::Dir, &rel)?;
        let name = OsStr::from_bytes(&base);
        match kind {
            Kind::File => {
                let fd = rustix::fs::openat(
                    p,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|err| io_err("create", self.path(&rel))(err.into()))?;
                let mut f = File::from(fd);
                let want = e.size();
                let mut got = 0u64;
                loop {
                    let n = match e.read(&mut self.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                        Err(err) => return Err(read_error(err, Some(&bytes_path(&rel)))),
                    };
                    f.write_all(&self.buf[..n])
                        .map_err(io_err("write", self.path(&rel)))?;
                    got += n as u64;
                }
                if got != want {
                    return Err(LayerError::Truncated {
                        at: Some(bytes_path(&rel)),
                    });
                }
                self.stats.file_bytes += got;
                self.apply_fd(f.as_fd(), &meta, &rel, true)?;
                self.stats.files += 1;
            }
            Kind::Dir => {
                if !merge {
                    rustix::fs::mkdirat(p, name, Mode::from_raw_mode(0o700))
                        .map_err(|err| io_err("create directory", self.path(&rel))(err.into()))?;
                }
                let fd = rustix::fs::openat(
                    p,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|err| io_err("open directory", self.path(&rel))(err.into()))?;
                self.apply_fd(fd.as_fd(), &meta, &rel, false)?;
                self.dirs.push((rel.clone(), meta.mtime));
                self.stats.dirs += 1;
            }
            Kind::Symlink => {
                let target = e
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                if target.is_empty() {
                    return Err(self.malformed(&rel, "symlink without a target"));
                }
                rustix::fs::symlinkat(OsStr::from_bytes(&target), p, name)
                    .map_err(|err| io_err("create symlink", self.path(&rel))(err.into()))?;
                self.invalidate();
                self.apply_by_name(p, &base, &meta, &rel, false)?;
                self.stats.symlinks += 1;
            }
            Kind::Hardlink => {
                let (tfd, tbase, t) = link_target.expect("resolved above");
                rustix::fs::linkat(&tfd, OsStr::from_bytes(&tbase), p, name, AtFlags::empty())
                    .map_err(|err| LayerError::HardlinkTarget {
                        path: bytes_path(&rel),
                        target: bytes_path(&t),
                        source: err.into(),
                    })?;
                // The inode's metadata is the target's: re-applying the
                // link entry's (a chown clears security.capability; GNU tar
                // writes no xattrs on link entries) could only lose some.
                self.stats.hardlinks += 1;
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                let (ft, maj, min) = match kind {
                    Kind::Char => (
                        FileType::CharacterDevice,
                        dev(e.header().device_major()),
                        dev(e.header().device_minor()),
                    ),
                    Kind::Block => (
                        FileType::BlockDevice,
                        dev(e.header().device_major()),
                        dev(e.header().device_minor()),
                    ),
                    _ => (FileType::Fifo, 0, 0),
                };
                self.mknod(p, &base, ft, maj, min, &rel)?;
                self.apply_by_name(p, &base, &meta, &rel, true)?;
                if kind == Kind::Fifo {
                    self.stats.fifos += 1;
                } else {
                    self.stats.devices += 1;
                }
            }
        }
        self.keep_parent(&parent_rel, pfd);
        Ok(())
    }

    /// The entry's metadata from its header and PAX records.
    fn meta<R: Read>(&self, e: &mut tar::Entry<'_, R>, rel: &[u8]) -> Result<Meta> {
        let mut xattrs = Vec::new();
        let mut pax_mtime = None;
        let exts = e
            .pax_extensions()
            .map_err(|err| read_error(err, Some(&bytes_path(rel))))?;
        if let Some(exts) = exts {
            for ext in exts {
                let ext =
                    ext.map_err(|err| self.malformed(rel, format!("bad PAX record: {err}")))?;
                let key = ext.key_bytes();
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                } else if key == b"mtime" {
                    pax_mtime = parse_pax_time(ext.value_bytes());
                    if pax_mtime.is_none() {
                        return Err(self.malformed(rel, "bad PAX mtime"));
                    }
                }
            }
        }
        let h = e.header();
        let bad =
            |what: &str, err: io::Error| self.malformed(rel, format!("bad {what} field: {err}"));
        let mode = h.mode().map_err(|err| bad("mode", err))? & 0o7777;
        let uid = h.uid().map_err(|err| bad("uid", err))?;
        let gid = h.gid().map_err(|err| bad("gid", err))?;
        let mtime = match pax_mtime {
            Some(t) => t,
            None => {
                let m = h.mtime().map_err(|err| bad("mtime", err))?;
                Timespec {
                    tv_sec: i64::try_from(m).unwrap_or(i64::MAX),
                    tv_nsec: 0,
                }
            }
        };
        Ok(Meta {
            uid,
            gid,
            mode,
            mtime,
            xattrs,
        })
    }

    /// Make room for `name` in `dir`: returns true when it is a directory
    /// and a directory is wanted (merge); otherwise removes what is there.
    fn replace(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        want_dir: bool,
        rel: &[u8],
    ) -> Result<bool> {
        let os = OsStr::from_bytes(name);
        match rustix::fs::statat(dir, os, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                if want_dir && FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    return Ok(true);
                }
                remove_all_at(dir, os).map_err(io_err("remove", self.path(rel)))?;
                self.invalidate();
                Ok(false)
            }
            Err(Errno::NOENT) => Ok(false),
            Err(err) => Err(io_err("stat", self.path(rel))(err.into())),
        }
    }

    fn mknod(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        ft: FileType,
        maj: u32,
        min: u32,
        rel: &[u8],
    ) -> Result<()> {
        let mode = if ft == FileType::Fifo { 0o600 } else { 0 };
        rustix::fs::mknodat(
            dir,
            OsStr::from_bytes(name),
            ft,
            Mode::from_raw_mode(mode),
            rustix::fs::makedev(maj, min),
        )
        .map_err(|err| {
            let source: io::Error = err.into();
            let whiteout = ft == FileType::CharacterDevice && maj == 0 && min == 0;
            if err == Errno::PERM && whiteout && is_overlayfs(dir) {
                LayerError::UnsupportedFilesystem {
                    path: self.path(rel),
                    fs: "overlayfs",
                }
            } else if err == Errno::PERM && ft != FileType::Fifo {
                LayerError::DeviceNotPermitted {
                    path: self.path(rel),
                    source,
                }
            } else {
                io_err("mknod", self.path(rel))(source)
            }
        })
    }

    fn chown_err(&self, rel: &[u8], meta: &Meta, err: Errno) -> LayerError {
        let source: io::Error = err.into();
        if err == Errno::PERM || err == Errno::INVAL {
            LayerError::OwnerNotPermitted {
                path: self.path(rel),
                uid: meta.uid,
                gid: meta.gid,
                source,
            }
        } else {
            io_err("chown", self.path(rel))(source)
        }
    }

    fn ids(meta: &Meta) -> (Option<Uid>, Option<Gid>) {
        // Ids beyond u32 cannot exist on Linux; -1 would mean "unchanged".
        let uid = u32::try_from(meta.uid).ok().filter(|&u| u != u32::MAX);
        let gid = u32::try_from(meta.gid).ok().filter(|&g| g != u32::MAX);
        (uid.map(Uid::from_raw), gid.map(Gid::from_raw))
    }

    /// Apply owner, xattrs, mode and (unless a directory) times through an
    /// open regular file or directory.
    fn apply_fd(&mut self, fd: BorrowedFd<'_>, meta: &Meta, rel: &[u8], times: bool) -> Result<()> {
        if self.opts.same_owner {
            let (u, g) = Self::ids(meta);
            if u.is_none() || g.is_none() {
                return Err(
                    self.malformed(rel, format!("owner {}:{} out of range", meta.uid, meta.gid))
                );
            }
            rustix::fs::fchown(fd, u, g).map_err(|err| self.chown_err(rel, meta, err))?;
        }
        for (k, v) in &meta.xattrs {
            if is_overlay_xattr(k) {
                self.stats.xattrs_skipped += 1;
                continue;
            }
            match rustix::fs::fsetxattr(fd, OsStr::from_bytes(k), v, XattrFlags::empty()) {
                Ok(()) => {}
                Err(Errno::NOTSUP) => self.stats.xattrs_skipped += 1,
                Err(err) => return Err(self.xattr_err(rel, k, err)),
            }
        }
        rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode))
            .map_err(|err| io_err("chmod", self.path(rel))(err.into()))?;
        if times {
            rustix::fs::futimens(fd, &timestamps(meta.mtime))
                .map_err(|err| io_err("set times of", self.path(rel))(err.into()))?;
        }
        Ok(())
    }

    fn xattr_err(&self, rel: &[u8], name: &[u8], err: Errno) -> LayerError {
        LayerError::Io {
            op: "set xattr",
            path: self.path(rel),
            source: io::Error::new(
                io::Error::from(err).kind(),
                format!("{}: {err}", String::from_utf8_lossy(name)),
            ),
        }
    }

    /// Apply owner, xattrs, mode (when `chmod`) and times to `name` in
    /// `dir` without following it.
    fn apply_by_name(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        meta: &Meta,
        rel: &[u8],
        chmod: bool,
    ) -> Result<()> {
        let os = OsStr::from_bytes(name);
        if self.opts.same_owner {
            let (u, g) = Self::ids(meta);
            if u.is_none() || g.is_none() {
                return Err(
                    self.malformed(rel, format!("owner {}:{} out of range", meta.uid, meta.gid))
                );
            }
            rustix::fs::chownat(dir, os, u, g, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|err| self.chown_err(rel, meta, err))?;
        }
        if !meta.xattrs.is_empty() {
            // lsetxattr through the directory's /proc fd link: the final
            // component is not followed.
            let mut proc = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
            proc.extend_from_slice(name);
            let proc = bytes_path(&proc);
            for (k, v) in &meta.xattrs {
                if is_overlay_xattr(k) {
                    self.stats.xattrs_skipped += 1;
                    continue;
                }
                match rustix::fs::lsetxattr(&proc, OsStr::from_bytes(k), v, XattrFlags::empty()) {
                    Ok(()) => {}
                    Err(Errno::NOTSUP) => self.stats.xattrs_skipped += 1,
                    // user.* xattrs are only allowed on files and directories.
                    Err(Errno::PERM) if k.starts_with(b"user.") => self.stats.xattrs_skipped += 1,
                    Err(err) => return Err(self.xattr_err(rel, k, err)),
                }
            }
        }
        if chmod {
            rustix::fs::chmodat(dir, os, Mode::from_raw_mode(meta.mode), AtFlags::empty())
                .map_err(|err| io_err("chmod", self.path(rel))(err.into()))?;
        }
        rustix::fs::utimensat(dir, os, &timestamps(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|err| io_err("set times of", self.path(rel))(err.into()))?;
        Ok(())
    }

    /// Set directory mtimes, now that their contents are written.
    fn finish_dirs(&mut self) -> Result<()> {
        self.cache = None;
        let dirs = std::mem::take(&mut self.dirs);
        for (rel, mtime) in dirs {
            let (parent, base) = split_parent(&rel);
            let pfd = match self.root.dir(parent, false) {
                Ok(fd) => fd,
                Err(err) if matches!(errno(&err), Some(Errno::NOENT | Errno::NOTDIR)) => continue,
                Err(err) => return Err(io_err("open directory", self.path(parent))(err)),
            };
            match rustix::fs::utimensat(
                &pfd,
                OsStr::from_bytes(base),
                &timestamps(mtime),
                AtFlags::SYMLINK_NOFOLLOW,
            ) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(err) => return Err(io_err("set times of", self.path(&rel))(err.into())),
            }
        }
        Ok(())
    }
}

/// Is `dir` on overlayfs (which refuses to create whiteouts in its merged view)?
fn is_overlayfs(dir: BorrowedFd<'_>) -> bool {
    const OVERLAYFS_SUPER_MAGIC: u64 = 0x794c_7630;
    rustix::fs::fstatfs(dir).is_ok_and(|st| st.f_type as u64 == OVERLAYFS_SUPER_MAGIC)
}

fn dev(v: io::Result<Option<u32>>) -> u32 {
    v.ok().flatten().unwrap_or(0)
}

fn timestamps(t: Timespec) -> Timestamps {
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Parse a PAX time: `[-]secs[.frac]`.
fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nsec: i64 = digits.parse().ok()?;
    Some(if !neg {
        Timespec {
            tv_sec: secs,
            tv_nsec: nsec as _,
        }
    } else if nsec == 0 {
        Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        }
    } else {
        Timespec {
            tv_sec: -secs - 1,
            tv_nsec: (1_000_000_000 - nsec) as _,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = parse_pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_pax_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        let t = parse_pax_time(b"42").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (42, 0));
        assert!(parse_pax_time(b"x").is_none());
        assert!(parse_pax_time(b"").is_none());
    }
}
