//! Capabilities: Docker's default set, or everything for `insecure`.
//!
//! The command runs with the set in its bounding, permitted and effective
//! sets and an empty inheritable and ambient set (Docker since 20.10.14,
//! containerd since 1.6.2). A non-root user ends up with no effective
//! capabilities after `execve`, as under Docker.

use std::sync::OnceLock;

use super::sys::{syscall, Errno};

pub(super) const CAP_CHOWN: u32 = 0;
pub(super) const CAP_DAC_OVERRIDE: u32 = 1;
pub(super) const CAP_FOWNER: u32 = 3;
pub(super) const CAP_FSETID: u32 = 4;
pub(super) const CAP_KILL: u32 = 5;
pub(super) const CAP_SETGID: u32 = 6;
pub(super) const CAP_SETUID: u32 = 7;
pub(super) const CAP_SETPCAP: u32 = 8;
pub(super) const CAP_NET_BIND_SERVICE: u32 = 10;
pub(super) const CAP_NET_RAW: u32 = 13;
pub(super) const CAP_SYS_CHROOT: u32 = 18;
pub(super) const CAP_MKNOD: u32 = 27;
pub(super) const CAP_AUDIT_WRITE: u32 = 29;
pub(super) const CAP_SETFCAP: u32 = 31;

/// Docker's (and containerd's) default capability set: `0xa80425fb`.
pub const DOCKER_DEFAULT: u64 = (1 << CAP_CHOWN)
    | (1 << CAP_DAC_OVERRIDE)
    | (1 << CAP_FSETID)
    | (1 << CAP_FOWNER)
    | (1 << CAP_MKNOD)
    | (1 << CAP_NET_RAW)
    | (1 << CAP_SETGID)
    | (1 << CAP_SETUID)
    | (1 << CAP_SETFCAP)
    | (1 << CAP_SETPCAP)
    | (1 << CAP_NET_BIND_SERVICE)
    | (1 << CAP_SYS_CHROOT)
    | (1 << CAP_KILL)
    | (1 << CAP_AUDIT_WRITE);

/// The highest capability number the kernel knows.
pub(super) fn last_cap() -> u32 {
    static LAST: OnceLock<u32> = OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|&n: &u32| n < 64)
            .unwrap_or(40)
    })
}

/// The process's bounding set (read once): the most a sandbox can be
/// given.
pub(super) fn bounding_set() -> u64 {
    static SET: OnceLock<u64> = OnceLock::new();
    *SET.get_or_init(|| {
        let mut set = 0u64;
        for cap in 0..=last_cap() {
            if syscall!(libc::SYS_prctl, libc::PR_CAPBSET_READ, cap) == Ok(1) {
                set |= 1 << cap;
            }
        }
        set
    })
}

/// Drops every capability outside `keep` from the bounding set and clears
/// the ambient set. Needs CAP_SETPCAP (run before switching user).
pub(super) fn restrict_bounding(keep: u64, last: u32) -> Result<(), Errno> {
    for cap in 0..=last.min(63) {
        if keep & (1 << cap) != 0 {
            continue;
        }
        match syscall!(libc::SYS_prctl, libc::PR_CAPBSET_DROP, cap) {
            Ok(_) | Err(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    // EINVAL on kernels without ambient capabilities.
    match syscall!(
        libc::SYS_prctl,
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL
    ) {
        Ok(_) | Err(libc::EINVAL) => Ok(()),
        Err(e) => Err(e),
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Sets the permitted and effective sets to `caps` and the inheritable set
/// to nothing.
pub(super) fn set(caps: u64) -> Result<(), Errno> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: caps as u32,
            permitted: caps as u32,
            inheritable: 0,
        },
        CapData {
            effective: (caps >> 32) as u32,
            permitted: (caps >> 32) as u32,
            inheritable: 0,
        },
    ];
    syscall!(
        libc::SYS_capset,
        &mut header as *mut CapHeader,
        data.as_ptr()
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_mask() {
        assert_eq!(DOCKER_DEFAULT, 0xa80425fb);
    }

    #[test]
    fn bounding_set_is_readable() {
        assert!(last_cap() >= 37);
        assert_ne!(bounding_set(), 0, "tests run as root");
    }
}
