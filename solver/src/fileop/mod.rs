//! File operations (COPY/ADD/WORKDIR and inline files) applied to a
//! mounted root filesystem, with BuildKit's semantics.
//!
//! Every path is resolved *inside* its root: a symlink in the image that
//! points to `/` or `../..` never makes a read or a write leave the root.
//!
//! The types here are the solver's own (it never sees Dockerfile syntax);
//! the CLI converts the frontend's build definition into them.
//!
//! [`apply`] runs a list of [`FileAction`]s in order on a destination root
//! (in production the merged overlay mount of the stage being built), reading
//! copies from [`SourceRoot`]s. The semantics are BuildKit's file op
//! (`solver/llbsolver/file` over fsutil's copy and go-archive's untar):
//!
//! | module       | does                                                        |
//! |--------------|-------------------------------------------------------------|
//! | `resolve`    | paths resolved inside a root (openat2 `RESOLVE_IN_ROOT`, or a by-hand walk) |
//! | `source`     | a source root with its hidden paths (`.dockerignore`)       |
//! | `wildcard`   | `COPY *.txt`: Go's `filepath.Match` per component           |
//! | `pattern`    | `--exclude` / `--parents` patterns (moby's patternmatcher)  |
//! | `copy`       | one source to the destination (fsutil's `Copy`)             |
//! | `unpack`     | ADD of a local tar archive, any compression                 |
//! | `owner`      | `--chown` names from the destination's passwd/group         |
//! | `chmod`      | symbolic `--chmod`                                          |
//! | `meta`       | owner, mode, times, xattrs through descriptors              |
//!
//! Go's path semantics (`path.Clean`, `filepath.Match`, fsutil's wildcard
//! split) come from [`crate::gopath`], shared with the CLI's build context.
//!
//! Before anything is written, every copy's sources are checked (missing
//! paths, wildcards matching nothing, required paths, bad patterns or
//! modes), so such errors leave the destination untouched.

mod chmod;
mod copy;
mod error;
mod meta;
mod owner;
mod pattern;
mod resolve;
mod source;
#[cfg(test)]
mod tests;
mod unpack;
mod wildcard;

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{mkdirat, openat, Mode, OFlags};
use rustix::io::Errno;

pub use error::FileOpError;

use crate::gopath;
use chmod::ModeSet;
use error::{display, IoContext};
use pattern::PatternMatcher;
use resolve::{init_dir, mkdir_all, open_dir_at, DirSpec, Root};
use source::Source;

/// A filesystem that copies read from.
pub struct SourceRoot<'a> {
    /// Its root directory (a mounted stage, an image, or the build context).
    pub dir: &'a Path,
    /// Paths (relative to `dir`, `/`-separated, no leading slash) the source
    /// must hide, e.g. .dockerignore'd files of the build context.
    ///
    /// A hidden path does not exist for the copy: it is not copied, not
    /// matched by wildcards, a `src` naming it is not found, and a directory
    /// answered hidden is not walked at all. So the filter must answer like
    /// the context walk does: `false` for a directory that is excluded but
    /// still holds re-included paths (`!` lines), which Docker sends as their
    /// parent.
    ///
    /// `Some` also marks a *local* source (the build context): as in
    /// BuildKit, whose transfer of a local source resets ownership, its files
    /// are copied as owned by 0:0 unless `--chown` says otherwise. Sources
    /// with `None` (stages, images) keep their files' owners.
    pub exclude: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
}

/// Apply `actions` in order to the filesystem at `dest_root`, copies
/// reading from `sources` (indexed by [`CopyAction::source`]).
///
/// Every path is resolved inside its root. `dest_root` must be the whole
/// filesystem the actions see (a merged overlay mount, not a bare upper
/// dir), since existing files, symlinks and `/etc/passwd` matter.
pub fn apply(
    dest_root: &Path,
    actions: &[FileAction],
    sources: &[SourceRoot<'_>],
) -> Result<(), FileOpError> {
    let dest = Root::open(dest_root)
        .map_err(|e| FileOpError::io("opening destination", dest_root.display().to_string(), e))?;
    let sources: Vec<Source<'_>> = sources.iter().map(Source::open).collect::<Result<_, _>>()?;
    let prepared: Vec<Option<PreparedCopy>> = actions
        .iter()
        .map(|a| match a {
            FileAction::Copy(c) => prepare_copy(c, &sources).map(Some),
            _ => Ok(None),
        })
        .collect::<Result<_, _>>()?;
    for (action, prep) in actions.iter().zip(prepared) {
        match (action, prep) {
            (FileAction::Copy(c), Some(p)) => run_copy(&dest, c, p, &sources)?,
            (FileAction::Mkdir(m), _) => run_mkdir(&dest, m)?,
            (FileAction::Mkfile(m), _) => run_mkfile(&dest, m)?,
            (FileAction::Copy(_), None) => unreachable!("copies are prepared"),
        }
    }
    Ok(())
}

/// What a copy reads, checked before anything is written.
struct PreparedCopy {
    /// Source paths without wildcards (relative or rooted, bytes).
    srcs: Vec<Vec<u8>>,
    mode: Option<u32>,
    mode_set: Option<ModeSet>,
    include: Option<PatternMatcher>,
    exclude: Option<PatternMatcher>,
}

fn parse_mode(mode: &Option<Chmod>) -> Result<(Option<u32>, Option<ModeSet>), FileOpError> {
    match mode {
        None => Ok((None, None)),
        Some(Chmod::Octal(m)) if *m <= 0o7777 => Ok((Some(*m), None)),
        Some(Chmod::Octal(m)) => Err(FileOpError::InvalidMode {
            mode: format!("{m:o}"),
            reason: "it should be octal string and between 0 and 07777".into(),
        }),
        Some(Chmod::Symbolic(s)) => match ModeSet::parse(s) {
            Ok(set) => Ok((None, Some(set))),
            Err(_) => Err(FileOpError::InvalidMode {
                mode: s.clone(),
                reason: "invalid syntax".into(),
            }),
        },
    }
}

fn prepare_copy(c: &CopyAction, sources: &[Source<'_>]) -> Result<PreparedCopy, FileOpError> {
    let (mode, mode_set) = parse_mode(&c.mode)?;
    let include = PatternMatcher::new(&c.include_patterns, "include")?;
    let exclude = PatternMatcher::new(&c.exclude_patterns, "exclude")?;
    let src_path = gopath::clean_action_path(&c.src);
    let source = match c.source {
        None => {
            // An empty filesystem (scratch): only its root exists.
            if gopath::clean_str(&src_path) != "/"
                && !(c.allow_wildcard && gopath::contains_wildcards(src_path.as_bytes()))
            {
                return Err(FileOpError::NotFound {
                    path: gopath::clean_str(&src_path),
                });
            }
            if let Some(p) = c
                .required_paths
                .iter()
                .find(|p| gopath::clean_str(&format!("/{p}")) != "/")
            {
                return Err(FileOpError::NotFound { path: display(p) });
            }
            let srcs = if gopath::clean_str(&src_path) == "/" {
                vec![b"/".to_vec()]
            } else {
                Vec::new()
            };
            if srcs.is_empty() && !c.allow_empty_wildcard {
                return Err(FileOpError::NoMatch { pattern: src_path });
            }
            return Ok(PreparedCopy {
                srcs,
                mode,
                mode_set,
                include,
                exclude,
            });
        }
        Some(i) => sources.get(i).ok_or_else(|| FileOpError::NoSuchSource {
            src: c.src.clone(),
            index: i,
            count: sources.len(),
        })?,
    };
    for p in &c.required_paths {
        if source.lookup(p.as_bytes(), false)?.is_none() {
            return Err(FileOpError::NotFound {
                path: display(&gopath::clean_str(&format!("/{p}"))),
            });
        }
    }
    let srcs = if c.allow_wildcard {
        wildcard::resolve(source, &src_path, c.follow_symlinks)?
    } else {
        vec![src_path.as_bytes().to_vec()]
    };
    if srcs.is_empty() && !c.allow_empty_wildcard {
        return Err(FileOpError::NoMatch { pattern: src_path });
    }
    for s in &srcs {
        if source.lookup(s, c.follow_symlinks)?.is_none() {
            return Err(FileOpError::NotFound {
                path: display(&gopath::clean_str(&format!("/{}", gopath::lossy(s)))),
            });
        }
    }
    Ok(PreparedCopy {
        srcs,
        mode,
        mode_set,
        include,
        exclude,
    })
}

fn resolve_owner(dest: &Root, owner: &Option<Chown>) -> Result<Option<(u32, u32)>, FileOpError> {
    owner.as_ref().map(|o| owner::resolve(dest, o)).transpose()
}

fn run_copy(
    dest: &Root,
    c: &CopyAction,
    p: PreparedCopy,
    sources: &[Source<'_>],
) -> Result<(), FileOpError> {
    let dest_path = gopath::clean_action_path(&c.dest);
    if !c.create_dest_path {
        // BuildKit requires the directory the destination is in to exist.
        let r = dest
            .resolve(&dest_path, true)
            .ctx("failed to stat", &c.dest)?;
        if r.rest.len() > 1 {
            return Err(FileOpError::io(
                "failed to stat",
                display(&c.dest),
                Errno::NOENT.into(),
            ));
        }
    }
    let owner = resolve_owner(dest, &c.owner)?;
    let time = c.timestamp;
    let Some(index) = c.source else {
        if !p.srcs.is_empty() {
            let opts_spec = DirSpec {
                mode: p.mode.map_or(0o755, |m| m & 0o777),
                owner,
                time,
            };
            let mut created = Vec::new();
            copy::ensure_dir(
                dest,
                &gopath::clean_str(&dest_path),
                &opts_spec,
                &mut created,
            )?;
            fix_times(&created, time);
        }
        return Ok(());
    };
    let source = &sources[index];
    let opts = copy::CopyOpts {
        owner,
        time,
        mode: p.mode,
        mode_set: p.mode_set.as_ref(),
        include: p.include.as_ref(),
        exclude: p.exclude.as_ref(),
        follow: c.follow_symlinks,
        dir_contents_only: c.dir_contents_only,
    };
    for s in &p.srcs {
        if c.attempt_unpack && unpack::try_unpack(dest, source, s, &dest_path, owner, time)? {
            continue;
        }
        copy::copy(dest, source, s, &dest_path, &opts)?;
    }
    Ok(())
}

/// Set the times of directories created on the way again, deepest first,
/// after their children changed them.
fn fix_times(created: &[OwnedFd], time: Option<i64>) {
    if let Some(secs) = time {
        let t = meta::fixed_times(secs);
        for fd in created.iter().rev() {
            let _ = rustix::fs::futimens(fd, &t);
        }
    }
}

fn run_mkdir(dest: &Root, m: &MkdirAction) -> Result<(), FileOpError> {
    let owner = resolve_owner(dest, &m.owner)?;
    let time = m.timestamp;
    let path = gopath::clean_str(&format!("/{}", m.path));
    let spec = DirSpec {
        mode: m.mode & 0o777,
        owner,
        time,
    };
    let r = dest.resolve(&path, true).ctx("mkdir", &path)?;
    if m.make_parents {
        let mut created = Vec::new();
        mkdir_all(r, true, &spec, &mut created).ctx("mkdir", &path)?;
        fix_times(&created, time);
        return Ok(());
    }
    match &r.rest[..] {
        [] => Ok(()),
        [name] => match mkdirat(&r.dir, name.as_os_str(), Mode::from_raw_mode(spec.mode)) {
            Ok(()) => {
                let fd = open_dir_at(r.dir.as_fd(), name).ctx("mkdir", &path)?;
                init_dir(fd.as_fd(), &spec).ctx("mkdir", &path)
            }
            // As os.Mkdir in BuildKit: an existing path is fine, whatever it is.
            Err(Errno::EXIST) => Ok(()),
            Err(e) => Err(FileOpError::io("mkdir", path, e.into())),
        },
        _ => Err(FileOpError::io("mkdir", path, Errno::NOENT.into())),
    }
}

fn run_mkfile(dest: &Root, m: &MkfileAction) -> Result<(), FileOpError> {
    use std::io::Write;
    let owner = resolve_owner(dest, &m.owner)?;
    let path = gopath::clean_str(&format!("/{}", m.path));
    let r = dest.resolve(&path, true).ctx("open", &path)?;
    let name = match &r.rest[..] {
        [name] => name,
        [] => return Err(FileOpError::io("open", path, Errno::ISDIR.into())),
        _ => return Err(FileOpError::io("open", path, Errno::NOENT.into())),
    };
    // NONBLOCK: a fifo in the image at this path fails instead of hanging.
    let base = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let perm = Mode::from_raw_mode(m.mode & 0o777);
    // A new file gets the mode exactly; an existing one keeps its own (as
    // os.WriteFile).
    let fd = match openat(
        &r.dir,
        name.as_os_str(),
        base | OFlags::CREATE | OFlags::EXCL,
        perm,
    ) {
        Ok(fd) => {
            rustix::fs::fchmod(&fd, perm).ctx("chmod", &path)?;
            fd
        }
        Err(Errno::EXIST) => {
            openat(&r.dir, name.as_os_str(), base | OFlags::TRUNC, perm).ctx("open", &path)?
        }
        Err(e) => return Err(FileOpError::io("open", path, e.into())),
    };
    let mut file = std::fs::File::from(fd);
    file.write_all(&m.data).ctx("write", &path)?;
    if let Some((uid, gid)) = owner {
        meta::chown(meta::Node::Fd(file.as_fd()), uid, gid).ctx("chown", &path)?;
    }
    if let Some(secs) = m.timestamp {
        meta::set_times(meta::Node::Fd(file.as_fd()), &meta::fixed_times(secs))
            .ctx("setting times of", &path)?;
    }
    Ok(())
}

/// `user[:group]`, each part a numeric id or a name looked up in the
/// destination root's `/etc/passwd` and `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chown {
    pub user: IdRef,
    pub group: Option<IdRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdRef {
    Id(u32),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    /// `--chmod=755`: the exact permission bits.
    Octal(u32),
    /// `--chmod=u+x,g-w`: applied to each file's current mode.
    Symbolic(String),
}

/// Copy `src` from source root `source` to `dest` (BuildKit's FileActionCopy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyAction {
    /// Index into the sources handed to [`apply`]; `None` = empty source.
    pub source: Option<usize>,
    /// Path in the source root; may contain wildcards when `allow_wildcard`.
    pub src: String,
    /// Absolute destination; a trailing `/` means "into this directory".
    pub dest: String,
    pub owner: Option<Chown>,
    pub mode: Option<Chmod>,
    /// Follow a symlink named by `src` itself (not symlinks below it).
    pub follow_symlinks: bool,
    /// A directory source copies its contents, not itself.
    pub dir_contents_only: bool,
    /// `--parents` selection below `src` (patterns relative to `src`).
    pub include_patterns: Vec<String>,
    /// `--exclude` patterns (relative to `src`).
    pub exclude_patterns: Vec<String>,
    /// Paths (absolute in the source) that must exist.
    pub required_paths: Vec<String>,
    /// ADD: a local archive (tar, tar.gz/bz2/xz/zst) is extracted.
    pub attempt_unpack: bool,
    /// Create missing parent directories of `dest`.
    pub create_dest_path: bool,
    pub allow_wildcard: bool,
    /// A wildcard matching nothing is not an error.
    pub allow_empty_wildcard: bool,
    /// SOURCE_DATE_EPOCH: mtime of the files written.
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MkdirAction {
    pub path: String,
    pub mode: u32,
    pub make_parents: bool,
    pub owner: Option<Chown>,
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MkfileAction {
    pub path: String,
    pub mode: u32,
    pub data: Vec<u8>,
    pub owner: Option<Chown>,
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    Copy(CopyAction),
    Mkdir(MkdirAction),
    Mkfile(MkfileAction),
}
