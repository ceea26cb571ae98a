//! Overlay mounts of snapshot chains, in kiln's own mount namespace.
//!
//! A build process enters a private mount namespace once
//! ([`enter_private_namespace`]), so every mount it makes is invisible to
//! the host and disappears with the process, even after `kill -9`.

use std::io;
use std::path::{Path, PathBuf};

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
    match (lowers, upper) {
        ([], None) => Ok(Mounted {
            path: target.to_path_buf(),
            mounted: false,
        }),
        ([only], None) => Ok(Mounted {
            path: only.clone(),
            mounted: false,
        }),
        ([], Some((upper, _))) => Ok(Mounted {
            path: upper.to_path_buf(),
            mounted: false,
        }),
        _ => {
            let mut data = String::from("lowerdir=");
            // Overlay lists the top layer first.
            let lower: Vec<String> = lowers.iter().rev().map(|p| escape(p)).collect();
            data.push_str(&lower.join(":"));
            if let Some((upper, work)) = upper {
                data.push_str(&format!(
                    ",upperdir={},workdir={}",
                    escape(upper),
                    escape(work)
                ));
            }
            let data = std::ffi::CString::new(data)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            mount::mount(
                "overlay",
                target,
                "overlay",
                MountFlags::empty(),
                Some(data.as_c_str()),
            )?;
            Ok(Mounted {
                path: target.to_path_buf(),
                mounted: true,
            })
        }
    }
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
