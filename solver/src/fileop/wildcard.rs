//! Wildcard sources (`COPY *.txt /dst/`): Go's `filepath.Match`
//! ([`gopath::go_match`]) per path component, resolved the way fsutil's
//! `ResolveWildcards` does.
//!
//! The path is split at the first component holding a wildcard: the part
//! before it is resolved as a plain path (following symlinks when the copy
//! follows them), then the directory it names is walked in name order and
//! every entry whose path below it matches the rest of the pattern is a
//! match; a matching directory is not descended into. Hidden entries of the
//! source are neither matched nor walked.

use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::FileType;

use super::error::{display, FileOpError};
use super::resolve::file_type;
use super::source::Source;
use crate::gopath;

/// fsutil's `ResolveWildcards`: the matches of `src` (rooted) as paths
/// relative to the source root, in walk order.
pub(crate) fn resolve(
    source: &Source<'_>,
    src: &str,
    follow: bool,
) -> Result<Vec<Vec<u8>>, FileOpError> {
    let (d1, d2) = gopath::split_wildcards_str(src);
    if d2.is_empty() {
        return Ok(vec![d1.trim_start_matches('/').as_bytes().to_vec()]);
    }
    // Syntax errors make nothing match (fsutil ignores Match's error).
    if gopath::go_match(d2.as_bytes(), b"").is_err() {
        return Ok(Vec::new());
    }
    let base = source
        .lookup(d1.as_bytes(), follow)?
        .ok_or_else(|| FileOpError::NotFound { path: d1.clone() })?;
    let mut out = Vec::new();
    if !base.is_dir() {
        return Ok(out);
    }
    let depth = if d2.contains('[') {
        usize::MAX
    } else {
        d2.split('/').count()
    };
    let dir = base
        .open_dir()
        .map_err(|e| FileOpError::io("opening", d1.clone(), e))?;
    walk(source, &dir, &base.rel, b"", 1, depth, &d2, &mut out)?;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn walk(
    source: &Source<'_>,
    dir: &std::os::fd::OwnedFd,
    dir_rel: &[u8],
    below: &[u8],
    level: usize,
    depth: usize,
    pattern: &str,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), FileOpError> {
    for (name, rel, st) in source.read_dir(dir.as_fd(), dir_rel)? {
        let candidate = gopath::join(below, name.as_bytes());
        if gopath::go_match(pattern.as_bytes(), &candidate).unwrap_or(false) {
            out.push(rel);
            continue;
        }
        if file_type(&st) == FileType::Directory && level < depth {
            let child = super::resolve::open_dir_at(dir.as_fd(), &name)
                .map_err(|e| FileOpError::io("opening", display(&gopath::lossy(&rel)), e))?;
            walk(
                source,
                &child,
                &rel,
                &candidate,
                level + 1,
                depth,
                pattern,
                out,
            )?;
        }
    }
    Ok(())
}
