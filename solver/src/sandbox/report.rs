//! What the sandbox's processes tell the caller: a page of memory shared
//! with them (`MAP_SHARED`), written with plain stores before they exit
//! and read by the caller after it has reaped the init process.
//!
//! - the command's wait status;
//! - the first setup error (stage, index, errno);
//! - the mount stubs the init process created in the rootfs.

use std::io;

/// A timestamp as statx gives it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Ts {
    pub sec: i64,
    pub nsec: u32,
    pub _pad: u32,
}

impl Ts {
    pub(super) fn of(t: &libc::statx_timestamp) -> Ts {
        Ts {
            sec: t.tv_sec,
            nsec: t.tv_nsec,
            _pad: 0,
        }
    }

    pub(super) fn timespec(self) -> libc::timespec {
        libc::timespec {
            tv_sec: self.sec,
            tv_nsec: self.nsec as _,
        }
    }
}

/// A file or directory created in the rootfs only to mount on.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Stub {
    /// Its in-root path: `arena[off..off + len]`.
    pub off: u32,
    pub len: u32,
    pub dir: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    /// Whether creating it copied its parent directory up into the
    /// overlay's upper dir (the parent was only in a lower layer, its own
    /// parent was in the upper dir).
    pub parent_copied_up: u32,
    pub ino: u64,
    /// The parent directory's times before the stub was created...
    pub parent_atime: Ts,
    pub parent_mtime: Ts,
    /// ...and its state right after.
    pub parent_mtime_after: Ts,
    pub parent_ctime_after: Ts,
    pub parent_mode: u32,
    pub parent_uid: u32,
    pub parent_gid: u32,
    pub _pad: u32,
}

pub(super) const MAX_STUBS: usize = 256;
const ARENA: usize = 64 * 1024;

/// Setup stages, for error messages.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    None = 0,
    Hostname,
    Loopback,
    MountNamespace,
    Mount,
    Pivot,
    Spawn,
    Stdio,
    Rlimit,
    Chdir,
    NoNewPrivs,
    Seccomp,
    Capabilities,
    Groups,
    Gid,
    Uid,
    Exec,
    ExecNotFound,
    Stubs,
}

impl Stage {
    pub(super) fn from_u32(v: u32) -> Stage {
        use Stage::*;
        const ALL: [Stage; 19] = [
            None,
            Hostname,
            Loopback,
            MountNamespace,
            Mount,
            Pivot,
            Spawn,
            Stdio,
            Rlimit,
            Chdir,
            NoNewPrivs,
            Seccomp,
            Capabilities,
            Groups,
            Gid,
            Uid,
            Exec,
            ExecNotFound,
            Stubs,
        ];
        ALL.get(v as usize).copied().unwrap_or(None)
    }
}

/// Which part of a mount operation failed.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Target = 0,
    Mount,
    ReadOnly,
    Device,
}

impl Step {
    pub(super) fn from_u32(v: u32) -> Step {
        match v {
            1 => Step::Mount,
            2 => Step::ReadOnly,
            3 => Step::Device,
            _ => Step::Target,
        }
    }
}

#[repr(C)]
pub(super) struct Report {
    pub status_set: u32,
    pub status: i32,
    pub err_set: u32,
    pub err_stage: u32,
    pub err_index: u32,
    pub err_step: u32,
    pub err_errno: i32,
    pub nstubs: u32,
    pub arena_used: u32,
    pub _pad: u32,
    pub stubs: [Stub; MAX_STUBS],
    pub arena: [u8; ARENA],
}

/// The first setup error, as read back by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Failure {
    pub stage: Stage,
    pub index: usize,
    pub step: Step,
    pub errno: i32,
}

/// The shared mapping holding a [`Report`], unmapped on drop.
pub(super) struct Shared {
    ptr: *mut Report,
}

impl Shared {
    pub(super) fn new() -> io::Result<Shared> {
        // SAFETY: a fresh anonymous mapping; zero-filled, which is a valid
        // (empty) Report.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Report>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Shared { ptr: ptr.cast() })
    }

    pub(super) fn ptr(&self) -> *mut Report {
        self.ptr
    }

    fn read<T: Copy>(&self, f: impl FnOnce(*const Report) -> *const T) -> T {
        // SAFETY: the mapping is live; the writers have exited (or write
        // only fields the reader does not rely on yet).
        unsafe { std::ptr::read_volatile(f(self.ptr)) }
    }

    pub(super) fn status(&self) -> Option<i32> {
        let set = self.read(|r| unsafe { &raw const (*r).status_set });
        (set != 0).then(|| self.read(|r| unsafe { &raw const (*r).status }))
    }

    pub(super) fn failure(&self) -> Option<Failure> {
        if self.read(|r| unsafe { &raw const (*r).err_set }) == 0 {
            return None;
        }
        Some(Failure {
            stage: Stage::from_u32(self.read(|r| unsafe { &raw const (*r).err_stage })),
            index: self.read(|r| unsafe { &raw const (*r).err_index }) as usize,
            step: Step::from_u32(self.read(|r| unsafe { &raw const (*r).err_step })),
            errno: self.read(|r| unsafe { &raw const (*r).err_errno }),
        })
    }

    /// The stubs recorded, in creation order, with their paths.
    pub(super) fn stubs(&self) -> Vec<(Stub, Vec<u8>)> {
        let n = (self.read(|r| unsafe { &raw const (*r).nstubs }) as usize).min(MAX_STUBS);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let stub: Stub = self.read(|r| unsafe { &raw const (*r).stubs[i] });
            let (off, len) = (stub.off as usize, stub.len as usize);
            if off + len > ARENA {
                continue;
            }
            let mut path = vec![0u8; len];
            for (j, b) in path.iter_mut().enumerate() {
                *b = self.read(|r| unsafe { &raw const (*r).arena[off + j] });
            }
            out.push((stub, path));
        }
        out
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping.
        unsafe { libc::munmap(self.ptr.cast(), std::mem::size_of::<Report>()) };
    }
}

// Writers (child side): volatile stores through the raw pointer.

/// Records the command's wait status.
pub(super) fn set_status(r: *mut Report, status: i32) {
    // SAFETY: `r` is the live shared mapping.
    unsafe {
        std::ptr::write_volatile(&raw mut (*r).status, status);
        std::ptr::write_volatile(&raw mut (*r).status_set, 1);
    }
}

/// Records a setup failure unless one was recorded already.
pub(super) fn set_failure(r: *mut Report, stage: Stage, index: usize, step: Step, errno: i32) {
    // SAFETY: as above.
    unsafe {
        if std::ptr::read_volatile(&raw const (*r).err_set) != 0 {
            return;
        }
        std::ptr::write_volatile(&raw mut (*r).err_stage, stage as u32);
        std::ptr::write_volatile(&raw mut (*r).err_index, index as u32);
        std::ptr::write_volatile(&raw mut (*r).err_step, step as u32);
        std::ptr::write_volatile(&raw mut (*r).err_errno, errno);
        std::ptr::write_volatile(&raw mut (*r).err_set, 1);
    }
}

/// Appends a stub record; `Err(ENOSPC)` when the report is full.
pub(super) fn push_stub(r: *mut Report, mut stub: Stub, path: &[u8]) -> Result<(), i32> {
    // SAFETY: as above; indices are checked before use.
    unsafe {
        let n = std::ptr::read_volatile(&raw const (*r).nstubs) as usize;
        let used = std::ptr::read_volatile(&raw const (*r).arena_used) as usize;
        if n >= MAX_STUBS || used + path.len() > ARENA {
            return Err(libc::ENOSPC);
        }
        for (j, &b) in path.iter().enumerate() {
            std::ptr::write_volatile(&raw mut (*r).arena[used + j], b);
        }
        stub.off = used as u32;
        stub.len = path.len() as u32;
        std::ptr::write_volatile(&raw mut (*r).stubs[n], stub);
        std::ptr::write_volatile(&raw mut (*r).arena_used, (used + path.len()) as u32);
        // The count last: a reader never sees a half-written record.
        std::ptr::write_volatile(&raw mut (*r).nstubs, (n + 1) as u32);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let shared = Shared::new().unwrap();
        assert_eq!(shared.status(), None);
        assert_eq!(shared.failure(), None);
        set_status(shared.ptr(), 0x100);
        set_failure(shared.ptr(), Stage::Mount, 3, Step::ReadOnly, libc::EPERM);
        set_failure(shared.ptr(), Stage::Exec, 0, Step::Target, libc::ENOENT);
        push_stub(
            shared.ptr(),
            Stub {
                dir: 1,
                ino: 7,
                ..Stub::default()
            },
            b"etc/hosts",
        )
        .unwrap();
        push_stub(shared.ptr(), Stub::default(), b"proc").unwrap();
        assert_eq!(shared.status(), Some(0x100));
        assert_eq!(
            shared.failure(),
            Some(Failure {
                stage: Stage::Mount,
                index: 3,
                step: Step::ReadOnly,
                errno: libc::EPERM
            })
        );
        let stubs = shared.stubs();
        assert_eq!(stubs.len(), 2);
        assert_eq!(stubs[0].1, b"etc/hosts");
        assert_eq!(stubs[0].0.ino, 7);
        assert_eq!(stubs[1].1, b"proc");
    }
}
