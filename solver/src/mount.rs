//! Overlay mounts of snapshot chains, in kiln's own mount namespace.
//!
//! A build process enters a private mount namespace once
//! ([`enter_private_namespace`]), so every mount it makes is invisible to
//! the host and disappears with the process, even after `kill -9`.

use std::io;
use std::path::{Path, PathBuf};

use std::os::fd::AsRawFd;

use rustix::fs::{Mode, OFlags};
use rustix::mount::{self, MountFlags, MountPropagationFlags, UnmountFlags};

/// Moves this process into a mount namespace of its own whose mounts do
/// not propagate back to the host. Needs CAP_SYS_ADMIN.
pub fn enter_private_namespace() -> io::Result<()> {
    // SAFETY: NEWNS only changes which mount table this process sees; it
    // does not touch memory or file descriptor state other threads rely on.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)? };
    mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )?;
    Ok(())
}

/// An overlay (or plain directory) view, unmounted on drop.
pub struct Mounted {
    path: PathBuf,
    mounted: bool,
    /// Linked copies of repeated layers (see `lower_stack`), removed after
    /// the unmount.
    copies: Vec<PathBuf>,
}

impl Mounted {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.mounted {
            let _ = mount::unmount(&self.path, UnmountFlags::DETACH);
        }
        for copy in &self.copies {
            let _ = std::fs::remove_dir_all(copy);
        }
    }
}

/// Mounts `lowers` (bottom first) with an optional writable `upper`
/// (`(upper, work)` directories on the same filesystem) at `target`.
///
/// Without an upper dir, a chain of one layer is used as it is (overlay
/// needs two lower layers to mount read-only), and an empty chain is the
/// empty `target` directory itself.
pub fn overlay(
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> io::Result<Mounted> {
    let stack = crate::lower_stack::stackable(lowers, target)?;
    let view = |path: &Path, mounted| Mounted {
        path: path.to_path_buf(),
        mounted,
        copies: Vec::new(),
    };
    match (stack.lowers.as_slice(), upper) {
        ([], None) => Ok(view(target, false)),
        ([only], None) => Ok(view(only, false)),
        ([], Some((upper, _))) => Ok(view(upper, false)),
        (lowers, _) => {
            let mut mounted = view(target, false);
            mounted.copies = stack.copies;
            mount_overlay(lowers, upper, target).map_err(explain)?;
            mounted.mounted = true;
            Ok(mounted)
        }
    }
}

/// Says what is missing when overlayfs cannot be mounted at all.
fn explain(e: io::Error) -> io::Error {
    let hint = match e.raw_os_error() {
        Some(libc::ENODEV) => {
            "overlayfs is not available in this kernel (load it with `modprobe overlay`)"
        }
        Some(libc::EPERM) => {
            "mounting overlayfs is not permitted: kiln needs root with CAP_SYS_ADMIN \
             (in a container: --privileged, or at least CAP_SYS_ADMIN without a seccomp or \
             AppArmor profile that forbids mount)"
        }
        _ => return e,
    };
    io::Error::new(e.kind(), format!("{e}: {hint}"))
}

/// The mount data must fit in one page.
const MAX_OPTIONS: usize = 4095;

/// One `mount(2)` when the options fit in a page (the common case, the
/// cheapest); else the new mount API adding the lower dirs one by one
/// (`lowerdir+`, Linux 6.8); else `/proc/self/fd/N` names for the lower
/// dirs, which are short enough for about 200 layers on older kernels.
fn mount_overlay(
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> io::Result<()> {
    // Overlay lists the top layer first.
    let names: Vec<String> = lowers.iter().rev().map(|p| escape(p)).collect();
    let data = options(&names, upper);
    if data.len() <= MAX_OPTIONS {
        return mount_legacy(&data, target);
    }
    match mount_fsconfig(lowers, upper, target) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {}
        done => return done,
    }
    mount_by_fd(lowers, upper, target)
}

/// Lower dirs named `/proc/self/fd/N` (open while the mount is made).
fn mount_by_fd(lowers: &[PathBuf], upper: Option<(&Path, &Path)>, target: &Path) -> io::Result<()> {
    let fds = lowers
        .iter()
        .rev()
        .map(|p| {
            rustix::fs::open(
                p,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = fds
        .iter()
        .map(|fd| format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .collect();
    let data = options(&names, upper);
    if data.len() > MAX_OPTIONS {
        return Err(io::Error::other(format!(
            "{} layers are too many for this kernel's overlay mount options (Linux 6.8 lifts the limit)",
            lowers.len()
        )));
    }
    mount_legacy(&data, target)
}

fn options(lowers: &[String], upper: Option<(&Path, &Path)>) -> String {
    let mut data = String::from("lowerdir=");
    data.push_str(&lowers.join(":"));
    if let Some((upper, work)) = upper {
        data.push_str(&format!(
            ",upperdir={},workdir={}",
            escape(upper),
            escape(work)
        ));
    }
    data
}

fn mount_legacy(data: &str, target: &Path) -> io::Result<()> {
    let data =
        std::ffi::CString::new(data).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    mount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        Some(data.as_c_str()),
    )?;
    Ok(())
}

/// The new mount API: each lower dir is its own `lowerdir+` parameter (no
/// escaping, no length limit but overlay's 500 layers).
fn mount_fsconfig(
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> io::Result<()> {
    let fs = mount::fsopen("overlay", mount::FsOpenFlags::FSOPEN_CLOEXEC)?;
    for lower in lowers.iter().rev() {
        mount::fsconfig_set_string(&fs, "lowerdir+", lower)?;
    }
    if let Some((upper, work)) = upper {
        // upperdir and workdir are unescaped by overlay, as in mount(2).
        mount::fsconfig_set_string(&fs, "upperdir", escape(upper))?;
        mount::fsconfig_set_string(&fs, "workdir", escape(work))?;
    }
    mount::fsconfig_create(&fs)?;
    let mnt = mount::fsmount(
        &fs,
        mount::FsMountFlags::FSMOUNT_CLOEXEC,
        mount::MountAttrFlags::empty(),
    )?;
    mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

/// Overlay option values escape `,` `:` and `\` with a backslash.
fn escape(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_overlayfs_is_explained() {
        let e = explain(io::Error::from_raw_os_error(libc::ENODEV));
        assert!(e.to_string().contains("overlayfs is not available"), "{e}");
        let e = explain(io::Error::from_raw_os_error(libc::EPERM));
        assert!(
            e.to_string().contains("needs root with CAP_SYS_ADMIN"),
            "{e}"
        );
        let e = explain(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    /// 150 layers, each holding `f<i>` and overriding `top`: every way of
    /// mounting them shows the whole stack in order.
    #[test]
    fn deep_chains_mount_every_way() {
        enter_private_namespace().expect("tests run as root");
        // A long root, as a deep store path would be.
        let dir = tempfile::tempdir().unwrap();
        let root = dir
            .path()
            .join("a-rather-long-directory-name-for-the-store");
        let lowers: Vec<PathBuf> = (0..150)
            .map(|i| {
                let d = root.join(format!("snapshots/{i}/fs"));
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join(format!("f{i}")), "").unwrap();
                std::fs::write(d.join("top"), format!("{i}")).unwrap();
                d
            })
            .collect();
        let names: Vec<String> = lowers.iter().map(|p| escape(p)).collect();
        assert!(options(&names, None).len() > MAX_OPTIONS);
        type Way = fn(&[PathBuf], Option<(&Path, &Path)>, &Path) -> io::Result<()>;
        let ways: [(&str, Way); 3] = [
            ("auto", mount_overlay),
            ("fsconfig", mount_fsconfig),
            ("fd", mount_by_fd),
        ];
        for (name, way) in ways {
            let upper = dir.path().join(format!("{name}-upper"));
            let work = dir.path().join(format!("{name}-work"));
            let target = dir.path().join(format!("{name}-target"));
            for d in [&upper, &work, &target] {
                std::fs::create_dir(d).unwrap();
            }
            match way(&lowers, Some((&upper, &work)), &target) {
                Err(e) if name == "fsconfig" && e.raw_os_error() == Some(libc::EINVAL) => {
                    eprintln!("no lowerdir+ on this kernel");
                    continue;
                }
                r => r.unwrap_or_else(|e| panic!("{name}: {e}")),
            }
            let mounted = Mounted {
                path: target.clone(),
                mounted: true,
                copies: Vec::new(),
            };
            assert!(target.join("f0").exists() && target.join("f149").exists());
            assert_eq!(std::fs::read_to_string(target.join("top")).unwrap(), "149");
            std::fs::write(target.join("new"), "x").unwrap();
            drop(mounted);
            assert!(upper.join("new").exists(), "{name}");
        }
    }
}
