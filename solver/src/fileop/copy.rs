//! One copy source to its destination, as fsutil's `Copy` (`cp -a`-like):
//!
//! - the destination's parents are created first (mode 0755, or the
//!   numeric `--chmod`'s permission bits, owned by `--chown`'s user);
//! - a file copied onto an existing directory, or a directory (without
//!   `dir_contents_only`) onto an existing path, goes *inside* it under its
//!   source name; a directory with `dir_contents_only` merges its entries
//!   into the destination, which is created if missing;
//! - existing files and symlinks are replaced, existing directories merged;
//!   a file over a directory and a directory over a non-directory fail;
//! - every copied entry gets its source's owner (0:0 from a local source),
//!   mode and times unless `--chown`, `--chmod` or a timestamp say
//!   otherwise, then its xattrs; symlinks below the source are copied as
//!   symlinks; hard links within one source tree stay hard links;
//! - the top destination directory, when it already existed, keeps its
//!   owner and mode and only takes the source directory's times.
//!
//! Writes happen through descriptors of destination directories that were
//! resolved inside the destination root, with calls that never follow the
//! final component.

// `Stat`'s field types differ between architectures: the casts are needed.
#![allow(clippy::unnecessary_cast)]

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;

use rustix::fs::{
    linkat, mkdirat, mknodat, openat, readlinkat, symlinkat, unlinkat, AtFlags, FileType, Mode,
    OFlags, Stat, Timestamps,
};
use rustix::io::Errno;

use super::chmod::ModeSet;
use super::error::{display, FileOpError, IoContext};
use super::meta::{self, Node};
use super::pattern::{MatchInfo, PatternMatcher};
use super::resolve::{
    dup, file_type, init_dir, lstat_at, mkdir_all, open_dir_at, DirSpec, Resolved, Root,
};
use super::source::{Source, SrcEntry};
use crate::gopath;

/// The options of one copy action that apply to every entry.
pub(crate) struct CopyOpts<'a> {
    pub owner: Option<(u32, u32)>,
    /// SOURCE_DATE_EPOCH (seconds) for every entry written.
    pub time: Option<i64>,
    /// Numeric `--chmod`.
    pub mode: Option<u32>,
    /// Symbolic `--chmod`.
    pub mode_set: Option<&'a ModeSet>,
    pub include: Option<&'a PatternMatcher>,
    pub exclude: Option<&'a PatternMatcher>,
    pub follow: bool,
    pub dir_contents_only: bool,
}

impl CopyOpts<'_> {
    /// Directories created on the way to the destination.
    pub(crate) fn parent_spec(&self) -> DirSpec {
        DirSpec {
            mode: self.mode.map_or(0o755, |m| m & 0o777),
            owner: self.owner,
            time: self.time,
        }
    }
}

/// BuildKit's `MkdirAll` of the rooted `path`, recording created
/// directories.
pub(crate) fn ensure_dir(
    dest: &Root,
    path: &str,
    spec: &DirSpec,
    created: &mut Vec<OwnedFd>,
) -> Result<OwnedFd, FileOpError> {
    let r = dest.resolve(path, true).ctx("mkdir", path)?;
    mkdir_all(r, true, spec, created).ctx("mkdir", path)
}

/// Where an entry goes: a name in a directory, or an existing directory
/// itself (the root, or a destination reached through `..`).
enum Target {
    Entry { parent: Rc<OwnedFd>, name: OsString },
    Dir(Rc<OwnedFd>),
}

/// Copy `src` (a path in `source`, already free of wildcards) to `dst`
/// (the action's cleaned destination, with its trailing `/` or `/.`).
pub(crate) fn copy(
    dest: &Root,
    source: &Source<'_>,
    src: &[u8],
    dst: &str,
    opts: &CopyOpts<'_>,
) -> Result<(), FileOpError> {
    let spec = opts.parent_spec();
    let mut created: Vec<OwnedFd> = Vec::new();
    let result = copy_inner(dest, source, src, dst, opts, &spec, &mut created);
    // The created parents got their times before their contents changed
    // them: set them again (fsutil's fixCreatedParentDirs).
    super::fix_times(&created, opts.time);
    result
}

fn copy_inner(
    dest: &Root,
    source: &Source<'_>,
    src: &[u8],
    dst: &str,
    opts: &CopyOpts<'_>,
    spec: &DirSpec,
    created: &mut Vec<OwnedFd>,
) -> Result<(), FileOpError> {
    // The directory the destination is in (or the destination itself when
    // it ends in `/` or `/.`) is created first.
    let (d, f) = gopath::split_str(dst);
    let ensure = if !f.is_empty() && f != "." { d } else { dst };
    if !ensure.is_empty() {
        ensure_dir(dest, ensure, spec, created)?;
    }
    let dst_clean = gopath::clean_str(dst);
    let dst_r = dest
        .resolve(&dst_clean, true)
        .ctx("resolving destination", &dst_clean)?;

    let entry = source
        .lookup(src, opts.follow)?
        .ok_or_else(|| FileOpError::NotFound {
            path: display(&gopath::lossy(src)),
        })?;
    let src_is_dir = entry.is_dir();

    // What the destination path is now.
    let dest_stat = match dst_r.rest.len() {
        0 => Some(FileType::Directory),
        1 => lstat_at(dst_r.dir.as_fd(), &dst_r.rest[0])
            .ctx("stat", &dst_clean)?
            .map(|st| file_type(&st)),
        _ => None,
    };
    let dest_exists = dest_stat.is_some();
    let dest_is_dir = dest_stat == Some(FileType::Directory);
    let contents = opts.dir_contents_only;

    let (target, target_display) =
        if (!contents && src_is_dir && dest_exists) || (!src_is_dir && dest_is_dir) {
            // Inside the existing destination, under the source's name.
            let dir = match &dst_r.rest[..] {
                [] => dst_r.dir,
                [name] if dest_is_dir => {
                    open_dir_at(dst_r.dir.as_fd(), name).ctx("opening", &dst_clean)?
                }
                _ => {
                    return Err(FileOpError::io(
                        "mkdir",
                        dst_clean.clone(),
                        Errno::NOTDIR.into(),
                    ));
                }
            };
            let base = gopath::base(src);
            if base == b"/" {
                (Target::Dir(Rc::new(dir)), dst_clean.clone())
            } else {
                let shown = gopath::join_str(&dst_clean, &gopath::lossy(base));
                (
                    Target::Entry {
                        parent: Rc::new(dir),
                        name: OsStr::from_bytes(base).to_os_string(),
                    },
                    shown,
                )
            }
        } else if contents && src_is_dir && !dest_exists {
            let (parent, name) = ensure_parent(dst_r, spec, created, &dst_clean)?;
            let name = name.expect("a missing destination has a name");
            match mkdirat(
                &parent,
                name.as_os_str(),
                Mode::from_raw_mode(spec.mode & 0o777),
            ) {
                Ok(()) => {
                    let fd = open_dir_at(parent.as_fd(), &name).ctx("mkdir", &dst_clean)?;
                    init_dir(fd.as_fd(), spec).ctx("mkdir", &dst_clean)?;
                    created.push(fd);
                }
                Err(Errno::EXIST) => {}
                Err(e) => return Err(FileOpError::io("mkdir", dst_clean.clone(), e.into())),
            }
            (
                Target::Entry {
                    parent: Rc::new(parent),
                    name,
                },
                dst_clean.clone(),
            )
        } else {
            match ensure_parent(dst_r, spec, created, &dst_clean)? {
                (parent, Some(name)) => (
                    Target::Entry {
                        parent: Rc::new(parent),
                        name,
                    },
                    dst_clean.clone(),
                ),
                (dir, None) => (Target::Dir(Rc::new(dir)), dst_clean.clone()),
            }
        };

    let mut copier = Copier {
        source,
        opts,
        inodes: HashMap::new(),
        frames: Vec::new(),
    };
    copier.copy_top(&entry, target, &target_display)
}

/// Create the missing parents of a resolved destination and return the
/// directory it goes in with its final name (`None` when the destination
/// is that directory itself).
fn ensure_parent(
    r: Resolved,
    spec: &DirSpec,
    created: &mut Vec<OwnedFd>,
    path: &str,
) -> Result<(OwnedFd, Option<OsString>), FileOpError> {
    let name = r.rest.last().cloned();
    let parent = mkdir_all(r, false, spec, created).ctx("mkdir", &gopath::dir_str(path))?;
    Ok((parent, name))
}

/// A source directory being walked and the destination directory its
/// entries go to (created lazily when include patterns select only some
/// of its contents).
struct Frame {
    dst: Option<Rc<OwnedFd>>,
    name: OsString,
    src: Rc<OwnedFd>,
    src_stat: Stat,
    display: String,
    created_late: bool,
}

struct Copier<'a, 'b> {
    source: &'a Source<'b>,
    opts: &'a CopyOpts<'a>,
    /// Regular files with several links already copied: (dev, ino) ->
    /// where the first copy went.
    /// The first copy's path below the top destination directory (not a
    /// descriptor: a tree full of hard links must not exhaust them).
    inodes: HashMap<(u64, u64), Vec<OsString>>,
    frames: Vec<Frame>,
}

impl Copier<'_, '_> {
    fn copy_top(
        &mut self,
        entry: &SrcEntry,
        target: Target,
        display_path: &str,
    ) -> Result<(), FileOpError> {
        if !entry.is_dir() {
            let Target::Entry { parent, name } = target else {
                return Err(FileOpError::ReplaceDirWithFile {
                    path: display_path.to_string(),
                });
            };
            let src_name = entry.name.as_deref().expect("a non-directory has a name");
            return self.copy_nondir(
                entry.dir.as_fd(),
                src_name,
                &entry.stat,
                &parent,
                &name,
                display_path,
            );
        }
        let src_dir = Rc::new(
            entry
                .open_dir()
                .ctx("opening", &display(&gopath::lossy(&entry.rel)))?,
        );
        let (fd, created) = match target {
            Target::Dir(fd) => (fd, false),
            Target::Entry { parent, name } => {
                let (fd, created) =
                    self.copy_directory_only(&parent, &name, &entry.stat, false, display_path)?;
                (fd, created)
            }
        };
        self.frames.push(Frame {
            dst: Some(fd.clone()),
            name: OsString::new(),
            src: src_dir.clone(),
            src_stat: entry.stat,
            display: display_path.to_string(),
            created_late: false,
        });
        let r = self.copy_children(
            &src_dir,
            &entry.rel,
            "",
            0,
            &MatchInfo::default(),
            &MatchInfo::default(),
        );
        self.frames.pop();
        r?;
        if created {
            self.copy_file_info(Node::Fd(fd.as_fd()), &entry.stat, true, display_path)?;
            meta::copy_xattrs(Node::Fd(src_dir.as_fd()), Node::Fd(fd.as_fd()));
        } else {
            // An existing top directory keeps its owner and mode; it only
            // takes the source's times.
            let times = self.times(&entry.stat);
            meta::set_times(Node::Fd(fd.as_fd()), &times).ctx("setting times of", display_path)?;
        }
        Ok(())
    }

    fn copy_children(
        &mut self,
        src_dir: &Rc<OwnedFd>,
        src_rel: &[u8],
        comps: &str,
        frame: usize,
        inc_info: &MatchInfo,
        exc_info: &MatchInfo,
    ) -> Result<(), FileOpError> {
        for (name, rel, st) in self.source.read_dir(src_dir.as_fd(), src_rel)? {
            let name_s = name.to_string_lossy();
            let child_comps = gopath::join_str(comps, &name_s);
            let child_display = gopath::join_str(&self.frames[frame].display, &name_s);
            let mut include = true;
            let mut excluded = false;
            let mut child_inc = MatchInfo::default();
            let mut child_exc = MatchInfo::default();
            if let Some(inc) = self.opts.include {
                let (m, info) = inc.matches(&child_comps, inc_info);
                include = m;
                child_inc = info;
            }
            if let Some(exc) = self.opts.exclude {
                let (m, info) = exc.matches(&child_comps, exc_info);
                if m {
                    include = false;
                    excluded = true;
                }
                child_exc = info;
            }
            let exceptions = self.opts.exclude.is_some_and(|e| e.exclusions());
            if !include && self.opts.include.is_none() && !exceptions {
                continue;
            }
            let is_dir = file_type(&st) == FileType::Directory;
            if !include && !is_dir {
                continue;
            }
            if include {
                self.materialize(frame)?;
            }
            if is_dir {
                let child_src = Rc::new(
                    open_dir_at(src_dir.as_fd(), &name)
                        .ctx("opening", &display(&gopath::lossy(&rel)))?,
                );
                let dst = if include {
                    let parent = self.frames[frame].dst.clone().expect("materialized");
                    Some(
                        self.copy_directory_only(&parent, &name, &st, true, &child_display)?
                            .0,
                    )
                } else {
                    None
                };
                self.frames.push(Frame {
                    dst: dst.clone(),
                    name: name.clone(),
                    src: child_src.clone(),
                    src_stat: st,
                    display: child_display.clone(),
                    created_late: false,
                });
                let idx = self.frames.len() - 1;
                let r = if excluded && !exceptions {
                    Ok(())
                } else {
                    self.copy_children(&child_src, &rel, &child_comps, idx, &child_inc, &child_exc)
                };
                let done = self.frames.pop().expect("pushed");
                r?;
                if let Some(fd) = dst {
                    self.copy_file_info(Node::Fd(fd.as_fd()), &st, true, &child_display)?;
                    meta::copy_xattrs(Node::Fd(child_src.as_fd()), Node::Fd(fd.as_fd()));
                } else if done.created_late {
                    // Created when something below it was selected; its
                    // contents changed its times since.
                    if let Some(fd) = &done.dst {
                        let times = self.times(&st);
                        meta::set_times(Node::Fd(fd.as_fd()), &times)
                            .ctx("setting times of", &child_display)?;
                    }
                }
            } else {
                let parent = self.frames[frame].dst.clone().expect("materialized");
                self.copy_nondir(src_dir.as_fd(), &name, &st, &parent, &name, &child_display)?;
            }
        }
        Ok(())
    }

    /// Create the pending directories up to frame `upto` (fsutil's
    /// `createParentDirs`): an entry below them was selected.
    fn materialize(&mut self, upto: usize) -> Result<(), FileOpError> {
        for i in 0..=upto {
            if self.frames[i].dst.is_some() {
                continue;
            }
            let parent = self.frames[i - 1].dst.clone().expect("parents first");
            let name = self.frames[i].name.clone();
            let st = self.frames[i].src_stat;
            let display_path = self.frames[i].display.clone();
            let (fd, created) =
                self.copy_directory_only(&parent, &name, &st, true, &display_path)?;
            if created {
                self.copy_file_info(Node::Fd(fd.as_fd()), &st, true, &display_path)?;
                meta::copy_xattrs(Node::Fd(self.frames[i].src.as_fd()), Node::Fd(fd.as_fd()));
            }
            self.frames[i].dst = Some(fd);
            self.frames[i].created_late = created;
        }
        Ok(())
    }

    /// fsutil's `copyDirectoryOnly`: make `name` in `parent` a directory
    /// with the source's mode, or use the existing directory (taking the
    /// source's mode when `overwrite`); an existing non-directory fails.
    fn copy_directory_only(
        &mut self,
        parent: &Rc<OwnedFd>,
        name: &OsStr,
        src: &Stat,
        overwrite: bool,
        display_path: &str,
    ) -> Result<(Rc<OwnedFd>, bool), FileOpError> {
        match lstat_at(parent.as_fd(), name).ctx("stat", display_path)? {
            None => {
                let mode = Mode::from_raw_mode(src.st_mode as u32 & 0o777);
                mkdirat(parent.as_fd(), name, mode).ctx("mkdir", display_path)?;
                let fd = open_dir_at(parent.as_fd(), name).ctx("mkdir", display_path)?;
                Ok((Rc::new(fd), true))
            }
            Some(st) if file_type(&st) == FileType::Directory => {
                let fd = open_dir_at(parent.as_fd(), name).ctx("opening", display_path)?;
                if overwrite {
                    meta::chmod(Node::Fd(fd.as_fd()), src.st_mode as u32)
                        .ctx("chmod", display_path)?;
                }
                Ok((Rc::new(fd), false))
            }
            Some(_) => Err(FileOpError::NotADirectory {
                path: display_path.to_string(),
            }),
        }
    }

    /// A file, symlink or special file to `name` in `parent`.
    fn copy_nondir(
        &mut self,
        src_dir: BorrowedFd<'_>,
        src_name: &OsStr,
        st: &Stat,
        parent: &Rc<OwnedFd>,
        name: &OsStr,
        display_path: &str,
    ) -> Result<(), FileOpError> {
        // fsutil's ensureEmptyFileTarget.
        if let Some(existing) = lstat_at(parent.as_fd(), name).ctx("stat", display_path)? {
            if file_type(&existing) == FileType::Directory {
                return Err(FileOpError::ReplaceDirWithFile {
                    path: display_path.to_string(),
                });
            }
            unlinkat(parent.as_fd(), name, AtFlags::empty()).ctx("removing", display_path)?;
        }
        let kind = file_type(st);
        match kind {
            FileType::RegularFile => {
                let key = (st.st_dev as u64, st.st_ino as u64);
                if let Some(first) = self.inodes.get(&key) {
                    let (ldir, lname) = self
                        .first_copy(first)
                        .ctx("finding hard link target for", display_path)?;
                    linkat(ldir.as_fd(), lname, parent.as_fd(), name, AtFlags::empty())
                        .ctx("creating hard link", display_path)?;
                    let fd = open_regular(parent.as_fd(), name).ctx("opening", display_path)?;
                    return self.copy_file_info(Node::Fd(fd.as_fd()), st, false, display_path);
                }
                if st.st_nlink > 1 && !self.frames.is_empty() {
                    let mut path: Vec<OsString> =
                        self.frames[1..].iter().map(|f| f.name.clone()).collect();
                    path.push(name.to_os_string());
                    self.inodes.insert(key, path);
                }
                let src_fd = open_regular(src_dir, src_name).ctx("opening source", display_path)?;
                let dst_fd = openat(
                    parent.as_fd(),
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .ctx("creating", display_path)?;
                copy_data(&src_fd, &dst_fd).ctx("copying to", display_path)?;
                self.copy_file_info(Node::Fd(dst_fd.as_fd()), st, false, display_path)?;
                meta::copy_xattrs(Node::Fd(src_fd.as_fd()), Node::Fd(dst_fd.as_fd()));
            }
            FileType::Symlink => {
                let link =
                    readlinkat(src_dir, src_name, Vec::new()).ctx("reading link", display_path)?;
                symlinkat(link.as_c_str(), parent.as_fd(), name)
                    .ctx("creating symlink", display_path)?;
                let node = Node::At(parent.as_fd(), name, FileType::Symlink);
                self.copy_file_info(node, st, false, display_path)?;
                meta::copy_xattrs(Node::At(src_dir, src_name, kind), node);
            }
            FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Fifo
            | FileType::Socket => {
                // A socket is copied as an empty file (as fsutil does).
                let (ty, dev) = match kind {
                    FileType::Socket => (FileType::RegularFile, 0),
                    FileType::Fifo => (kind, 0),
                    _ => (kind, st.st_rdev as u64),
                };
                mknodat(
                    parent.as_fd(),
                    name,
                    ty,
                    Mode::from_raw_mode(0o600),
                    dev as _,
                )
                .ctx("creating node", display_path)?;
                let node = Node::At(parent.as_fd(), name, ty);
                self.copy_file_info(node, st, false, display_path)?;
                meta::copy_xattrs(Node::At(src_dir, src_name, kind), node);
            }
            _ => {}
        }
        Ok(())
    }

    /// The directory and name of an earlier copy, reopened from the top
    /// destination directory one component at a time, never following a
    /// symlink.
    fn first_copy<'p>(&self, path: &'p [OsString]) -> std::io::Result<(OwnedFd, &'p OsStr)> {
        let (last, dirs) = path.split_last().expect("a path has a name");
        let top = self.frames[0]
            .dst
            .as_ref()
            .expect("the top directory exists");
        let mut dir = dup(top.as_fd())?;
        for d in dirs {
            dir = open_dir_at(dir.as_fd(), d)?;
        }
        Ok((dir, last.as_os_str()))
    }

    /// fsutil's `copyFileInfo`: owner, mode, times.
    fn copy_file_info(
        &self,
        node: Node<'_>,
        st: &Stat,
        is_dir: bool,
        display_path: &str,
    ) -> Result<(), FileOpError> {
        let (uid, gid) = match self.opts.owner {
            Some(owner) => owner,
            None if self.source.root_owned => (0, 0),
            None => (st.st_uid as u32, st.st_gid as u32),
        };
        meta::chown(node, uid, gid).ctx("chown", display_path)?;
        let is_link = file_type(st) == FileType::Symlink;
        if !is_link {
            let current = st.st_mode as u32 & 0o7777;
            let mode = match (self.opts.mode_set, self.opts.mode) {
                (Some(set), _) => set.apply(current, is_dir),
                (None, Some(m)) => m & 0o7777,
                (None, None) => current,
            };
            meta::chmod(node, mode).ctx("chmod", display_path)?;
        }
        let times = self.times(st);
        meta::set_times(node, &times).ctx("setting times of", display_path)
    }

    fn times(&self, st: &Stat) -> Timestamps {
        match self.opts.time {
            Some(secs) => meta::fixed_times(secs),
            None => meta::stat_times(st),
        }
    }
}

/// Open a regular file for reading without following a symlink or
/// blocking on a fifo swapped in.
fn open_regular(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<OwnedFd> {
    Ok(openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// File data, streamed: a reflink where the filesystem can share extents,
/// else the kernel's copy (`copy_file_range`, which std's `io::copy` uses
/// between files, falling back to read/write).
pub(crate) fn copy_data(src: &OwnedFd, dst: &OwnedFd) -> std::io::Result<()> {
    if rustix::fs::ioctl_ficlone(dst, src).is_ok() {
        return Ok(());
    }
    let mut from = File::from(dup(src.as_fd())?);
    let mut to = File::from(dup(dst.as_fd())?);
    std::io::copy(&mut from, &mut to)?;
    Ok(())
}
