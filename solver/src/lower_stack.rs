//! Lower directories as overlayfs accepts them.
//!
//! Overlay refuses a directory that appears twice in one mount (`ELOOP`),
//! but a chain may repeat a snapshot: two `RUN true` steps of a base image
//! both leave the empty diff, and a layer reached by its diff id is one
//! snapshot however often the image lists it. So:
//!
//! - a repeated diff that is empty changes nothing wherever it sits: dropped;
//! - a repeat right above itself changes nothing more: dropped;
//! - any other repeat is stacked as a copy made of new directories and hard
//!   links to the same files, next to the mount target, removed with it.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::layer::write::{get_list, get_value};

/// The layers to mount (bottom first) and the copies made for them.
pub(crate) struct Stack {
    pub lowers: Vec<PathBuf>,
    pub copies: Vec<PathBuf>,
}

/// `lowers` (bottom first) without repeats overlay would refuse; copies
/// are created as `<target>.lower<N>`.
pub(crate) fn stackable(lowers: &[PathBuf], target: &Path) -> io::Result<Stack> {
    let mut counts: HashMap<&Path, usize> = HashMap::new();
    for p in lowers {
        *counts.entry(p.as_path()).or_default() += 1;
    }
    let mut stack = Stack {
        lowers: Vec::with_capacity(lowers.len()),
        copies: Vec::new(),
    };
    let mut seen: HashSet<&Path> = HashSet::new();
    for p in lowers {
        if counts[p.as_path()] > 1 {
            if is_empty_dir(p)? || stack.lowers.last() == Some(p) {
                continue;
            }
            if !seen.insert(p.as_path()) {
                let mut name = target.as_os_str().to_owned();
                name.push(format!(".lower{}", stack.copies.len()));
                let copy = PathBuf::from(name);
                link_tree(p, &copy)?;
                stack.copies.push(copy.clone());
                stack.lowers.push(copy);
                continue;
            }
        }
        stack.lowers.push(p.clone());
    }
    Ok(stack)
}

fn is_empty_dir(p: &Path) -> io::Result<bool> {
    Ok(std::fs::read_dir(p)?.next().is_none())
}

/// `src` recreated at `dst`: directories with their mode, owner, times and
/// extended attributes (overlay's opaque marks among them), everything
/// else hard-linked (symlinks and whiteouts too; `link` does not follow).
fn link_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let md = std::fs::symlink_metadata(src)?;
    std::fs::DirBuilder::new().mode(0o700).create(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            link_tree(&from, &to)?;
        } else {
            std::fs::hard_link(&from, &to)?;
        }
    }
    copy_xattrs(src, dst)?;
    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
    let times = std::fs::FileTimes::new()
        .set_accessed(md.accessed()?)
        .set_modified(md.modified()?);
    std::fs::File::open(dst)?.set_times(times)
}

fn copy_xattrs(src: &Path, dst: &Path) -> io::Result<()> {
    let names = match get_list(src) {
        Ok(names) => names,
        Err(rustix::io::Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let value = get_value(src, name)?;
        rustix::fs::lsetxattr(
            dst,
            OsStr::from_bytes(name),
            &value,
            rustix::fs::XattrFlags::empty(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(root: &Path, name: &str, files: &[&str]) -> PathBuf {
        let d = root.join(name);
        std::fs::create_dir(&d).unwrap();
        for f in files {
            std::fs::write(d.join(f), f).unwrap();
        }
        d
    }

    #[test]
    fn repeats_are_dropped_or_copied() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, e) = (
            dir(tmp.path(), "a", &["x"]),
            dir(tmp.path(), "b", &["y"]),
            dir(tmp.path(), "e", &[]),
        );
        let target = tmp.path().join("target");
        // No repeats: unchanged, empty layers kept.
        let s = stackable(&[a.clone(), e.clone(), b.clone()], &target).unwrap();
        assert_eq!(s.lowers, vec![a.clone(), e.clone(), b.clone()]);
        // Repeated empty layers and adjacent repeats go.
        let s = stackable(
            &[
                e.clone(),
                a.clone(),
                a.clone(),
                e.clone(),
                b.clone(),
                e.clone(),
            ],
            &target,
        )
        .unwrap();
        assert_eq!(s.lowers, vec![a.clone(), b.clone()]);
        assert!(s.copies.is_empty());
        // A B A: the second A is a linked copy.
        let s = stackable(&[a.clone(), b.clone(), a.clone()], &target).unwrap();
        let copy = tmp.path().join("target.lower0");
        assert_eq!(s.lowers, vec![a.clone(), b.clone(), copy.clone()]);
        assert_eq!(s.copies, vec![copy.clone()]);
        let (orig, linked) = (
            std::fs::metadata(a.join("x")).unwrap(),
            std::fs::metadata(copy.join("x")).unwrap(),
        );
        assert_eq!(orig.ino(), linked.ino());
        assert_eq!(
            std::fs::metadata(&copy).unwrap().mode(),
            std::fs::metadata(&a).unwrap().mode()
        );
    }
}
