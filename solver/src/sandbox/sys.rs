//! Thin, allocation-free wrappers over the system calls the sandbox makes,
//! on both sides of the fork.
//!
//! The sandbox's processes share the caller's memory (`CLONE_VM`, as
//! `posix_spawn` does, so no page table is copied however large the caller
//! is) while the caller's thread keeps running. So everything the children
//! call must not only be async-signal-safe (no allocation, no locks, no
//! panics) but must also leave `errno` alone: it lives in the caller
//! thread's TLS, which the children share. Hence the system calls here are
//! made with the `syscall` instruction directly and return
//! `Result<_, Errno>`; libc is used for types and constants only (and by
//! caller-side code).

use std::ffi::CStr;

use libc::{c_int, c_long, c_uint, c_ulong};

/// A raw `errno` value.
pub(super) type Errno = c_int;

/// A system call with up to six arguments, without libc (and `errno`).
///
/// # Safety
///
/// The arguments must be valid for system call `nr`.
#[inline(always)]
pub(super) unsafe fn raw(
    nr: c_long,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> isize {
    let ret: isize;
    // SAFETY: the x86_64 Linux system call convention; the kernel clobbers
    // rcx and r11 only.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            in("r8") a5,
            in("r9") a6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// A system call's result: `-4095..=-1` is an errno.
#[inline(always)]
pub(super) fn result(r: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&r) {
        Err(-r as Errno)
    } else {
        Ok(r as usize)
    }
}

/// `syscall!(SYS_x, a, b, ...)`: a raw system call, `Result<usize, Errno>`.
macro_rules! syscall {
    (@ $nr:expr, $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr) => {{
        // SAFETY: the caller passes arguments valid for this system call.
        $crate::sandbox::sys::result(unsafe {
            $crate::sandbox::sys::raw(
                $nr,
                $a as usize,
                $b as usize,
                $c as usize,
                $d as usize,
                $e as usize,
                $f as usize,
            )
        })
    }};
    ($nr:expr $(,)?) => { $crate::sandbox::sys::syscall!(@ $nr, 0, 0, 0, 0, 0, 0) };
    ($nr:expr, $a:expr $(,)?) => { $crate::sandbox::sys::syscall!(@ $nr, $a, 0, 0, 0, 0, 0) };
    ($nr:expr, $a:expr, $b:expr $(,)?) => { $crate::sandbox::sys::syscall!(@ $nr, $a, $b, 0, 0, 0, 0) };
    ($nr:expr, $a:expr, $b:expr, $c:expr $(,)?) => { $crate::sandbox::sys::syscall!(@ $nr, $a, $b, $c, 0, 0, 0) };
    ($nr:expr, $a:expr, $b:expr, $c:expr, $d:expr $(,)?) => { $crate::sandbox::sys::syscall!(@ $nr, $a, $b, $c, $d, 0, 0) };
    ($nr:expr, $a:expr, $b:expr, $c:expr, $d:expr, $e:expr $(,)?) => {
        $crate::sandbox::sys::syscall!(@ $nr, $a, $b, $c, $d, $e, 0)
    };
    ($nr:expr, $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr $(,)?) => {
        $crate::sandbox::sys::syscall!(@ $nr, $a, $b, $c, $d, $e, $f)
    };
}
pub(super) use syscall;

/// The calling thread's `errno` (caller-side code using libc only).
#[inline]
pub(super) fn errno() -> Errno {
    // SAFETY: __errno_location always returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// `Ok(r)` for a non-negative libc result, else `Err(errno)` (caller side).
#[inline]
pub(super) fn check(r: c_int) -> Result<c_int, Errno> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// A file descriptor closed on drop (errors ignored).
pub(super) struct Fd(pub c_int);

impl Fd {
    pub(super) fn raw(&self) -> c_int {
        self.0
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        let _ = syscall!(libc::SYS_close, self.0);
    }
}

// openat2(2) resolve flags.
pub(super) const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub(super) const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub(super) const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2).
pub(super) fn openat2(
    dirfd: c_int,
    path: &CStr,
    flags: c_int,
    mode: u32,
    resolve: u64,
) -> Result<Fd, Errno> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        match syscall!(
            libc::SYS_openat2,
            dirfd as isize,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>()
        ) {
            Ok(fd) => return Ok(Fd(fd as c_int)),
            Err(libc::EAGAIN) | Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// openat(2) with `O_CLOEXEC`.
pub(super) fn openat(dirfd: c_int, path: &CStr, flags: c_int, mode: u32) -> Result<Fd, Errno> {
    syscall!(
        libc::SYS_openat,
        dirfd as isize,
        path.as_ptr(),
        flags | libc::O_CLOEXEC,
        mode
    )
    .map(|fd| Fd(fd as c_int))
}

/// statx(2) of `name` under `dirfd` (`name` empty: `dirfd` itself).
pub(super) fn statx(
    dirfd: c_int,
    name: &CStr,
    flags: c_int,
    mask: c_uint,
) -> Result<libc::statx, Errno> {
    // SAFETY: statx is plain old data.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    let flags = if name.is_empty() {
        flags | libc::AT_EMPTY_PATH
    } else {
        flags
    };
    syscall!(
        libc::SYS_statx,
        dirfd as isize,
        name.as_ptr(),
        flags,
        mask,
        &mut st as *mut libc::statx
    )?;
    Ok(st)
}

/// `/proc/self/fd/<fd>`, NUL-terminated, on the stack: the magic link the
/// sandbox mounts through, so a mount lands exactly on the inode a
/// descriptor was opened on, whatever symlinks the path holds now.
pub(super) struct ProcFd {
    buf: [u8; 32],
}

impl ProcFd {
    pub(super) fn new(fd: c_int) -> ProcFd {
        let mut buf = [0u8; 32];
        let prefix = b"/proc/self/fd/";
        buf[..prefix.len()].copy_from_slice(prefix);
        let mut digits = [0u8; 12];
        let mut n = fd.max(0) as u32;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            buf[prefix.len() + i] = digits[len - 1 - i];
        }
        ProcFd { buf }
    }

    pub(super) fn as_cstr(&self) -> &CStr {
        // The buffer always holds a NUL after the digits (it is 32 bytes,
        // the text at most 14 + 10).
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/proc/self/fd")
    }
}

/// mount(2); `None` arguments are NULL.
pub(super) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    syscall!(
        libc::SYS_mount,
        p(source),
        target.as_ptr(),
        p(fstype),
        flags,
        p(data)
    )
    .map(drop)
}

// mount_setattr(2).
pub(super) const MOUNT_ATTR_RDONLY: u64 = 0x01;
pub(super) const MOUNT_ATTR_NOSUID: u64 = 0x02;
pub(super) const MOUNT_ATTR_NODEV: u64 = 0x04;
pub(super) const MOUNT_ATTR_NOEXEC: u64 = 0x08;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Sets `attrs` on the mount `fd` is the root of (and, `recursive`, on
/// every mount below it), leaving its other flags alone.
pub(super) fn mount_setattr(fd: c_int, attrs: u64, recursive: bool) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    syscall!(
        libc::SYS_mount_setattr,
        fd as isize,
        c"".as_ptr(),
        flags as c_uint,
        &attr as *const MountAttr,
        std::mem::size_of::<MountAttr>()
    )
    .map(drop)
}

/// Closes every descriptor in `[first, last]` (no-op when empty).
pub(super) fn close_range(first: c_uint, last: c_uint) {
    if first > last {
        return;
    }
    if syscall!(libc::SYS_close_range, first, last, 0).is_err() {
        // Kernels before 5.9: one by one, up to a sane bound.
        let mut fd = first;
        while fd <= last && fd < 65536 {
            let _ = syscall!(libc::SYS_close, fd);
            fd += 1;
        }
    }
}

/// A path component for `mkdirat` and friends, relative to `dirfd`.
pub(super) fn mkdirat(dirfd: c_int, name: &CStr, mode: u32) -> Result<(), Errno> {
    syscall!(libc::SYS_mkdirat, dirfd as isize, name.as_ptr(), mode).map(drop)
}

pub(super) fn mknodat(dirfd: c_int, name: &CStr, mode: u32, dev: libc::dev_t) -> Result<(), Errno> {
    syscall!(libc::SYS_mknodat, dirfd as isize, name.as_ptr(), mode, dev).map(drop)
}

pub(super) fn symlinkat(target: &CStr, dirfd: c_int, name: &CStr) -> Result<(), Errno> {
    syscall!(
        libc::SYS_symlinkat,
        target.as_ptr(),
        dirfd as isize,
        name.as_ptr()
    )
    .map(drop)
}

/// readlinkat(2) into `buf`; the length read.
pub(super) fn readlinkat(dirfd: c_int, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    syscall!(
        libc::SYS_readlinkat,
        dirfd as isize,
        name.as_ptr(),
        buf.as_mut_ptr(),
        buf.len()
    )
}

/// `clone3(2)` arguments.
#[repr(C)]
#[derive(Default)]
pub(super) struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// `clone3` with the child on the stack given in `args`: the child calls
/// `f(arg)` there and exits with what it returns. The caller gets the
/// child's pid.
///
/// # Safety
///
/// `args.stack`/`stack_size` must be a mapping the child alone uses for as
/// long as it lives (16-byte aligned top); with `CLONE_VM`, `f` runs in the
/// caller's memory alongside its threads, so it must only make raw system
/// calls and touch its own stack and memory nobody else writes meanwhile.
pub(super) unsafe fn clone3_on_stack(
    args: &CloneArgs,
    f: extern "C" fn(*mut libc::c_void) -> c_int,
    arg: *mut libc::c_void,
) -> Result<libc::pid_t, Errno> {
    let ret: isize;
    // SAFETY: per the function's contract. The child starts on its own
    // stack with the caller's registers: r12/r13 (preserved by the kernel)
    // carry the argument and the function; it never returns here.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, {exit_group}",
            "syscall",
            "ud2",
            "2:",
            exit_group = const libc::SYS_exit_group,
            inlateout("rax") libc::SYS_clone3 as isize => ret,
            in("rdi") args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") f,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    result(ret).map(|pid| pid as libc::pid_t)
}

/// Ends the calling process (no user-space cleanup).
pub(super) fn exit(code: c_int) -> ! {
    loop {
        let _ = syscall!(libc::SYS_exit_group, code);
    }
}

/// An anonymous private mapping for a child's stack, with a guard page
/// at its low end; unmapped on drop.
pub(super) struct Stack {
    base: usize,
    size: usize,
}

impl Stack {
    pub(super) fn new(size: usize) -> Result<Stack, Errno> {
        let base = syscall!(
            libc::SYS_mmap,
            0,
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1isize,
            0
        )?;
        let _ = syscall!(libc::SYS_mprotect, base, 4096, libc::PROT_NONE);
        Ok(Stack { base, size })
    }

    pub(super) fn base(&self) -> u64 {
        self.base as u64
    }

    pub(super) fn size(&self) -> u64 {
        self.size as u64
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = syscall!(libc::SYS_munmap, self.base, self.size);
    }
}

/// A fixed-capacity, NUL-terminated byte string on the stack, for building
/// paths in the child without allocating.
pub(super) struct PathBuf4k {
    buf: [u8; 4096],
    len: usize,
}

impl PathBuf4k {
    pub(super) const fn new() -> PathBuf4k {
        PathBuf4k {
            buf: [0; 4096],
            len: 0,
        }
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
        self.buf[0] = 0;
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(super) fn as_cstr(&self) -> &CStr {
        // buf[len] is always 0 and no byte before it is (components never
        // hold NUL).
        CStr::from_bytes_until_nul(&self.buf[..=self.len]).unwrap_or(c"")
    }

    /// Appends `/component` (no separator when empty).
    pub(super) fn push(&mut self, component: &[u8]) -> Result<(), Errno> {
        let sep = usize::from(self.len > 0);
        if self.len + sep + component.len() + 1 > self.buf.len() {
            return Err(libc::ENAMETOOLONG);
        }
        if sep == 1 {
            self.buf[self.len] = b'/';
        }
        let start = self.len + sep;
        self.buf[start..start + component.len()].copy_from_slice(component);
        self.len = start + component.len();
        self.buf[self.len] = 0;
        Ok(())
    }

    /// Removes the last component.
    pub(super) fn pop(&mut self) {
        let cut = self.buf[..self.len]
            .iter()
            .rposition(|&b| b == b'/')
            .unwrap_or(0);
        self.len = cut;
        self.buf[cut] = 0;
    }
}

/// A NUL-terminated copy of one path component (at most NAME_MAX bytes).
pub(super) struct Name {
    buf: [u8; 256],
}

impl Name {
    pub(super) fn new(component: &[u8]) -> Result<Name, Errno> {
        if component.len() > 255 || component.contains(&0) {
            return Err(libc::ENAMETOOLONG);
        }
        let mut buf = [0u8; 256];
        buf[..component.len()].copy_from_slice(component);
        Ok(Name { buf })
    }

    pub(super) fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fd_paths() {
        assert_eq!(ProcFd::new(0).as_cstr(), c"/proc/self/fd/0");
        assert_eq!(ProcFd::new(17).as_cstr(), c"/proc/self/fd/17");
        assert_eq!(
            ProcFd::new(i32::MAX).as_cstr().to_bytes(),
            b"/proc/self/fd/2147483647"
        );
    }

    #[test]
    fn path_buffer() {
        let mut p = PathBuf4k::new();
        assert_eq!(p.as_cstr(), c"");
        p.push(b"etc").unwrap();
        p.push(b"hosts").unwrap();
        assert_eq!(p.as_cstr(), c"etc/hosts");
        p.pop();
        assert_eq!(p.as_bytes(), b"etc");
        p.pop();
        assert_eq!(p.as_bytes(), b"");
        assert_eq!(p.push(&[b'a'; 5000]), Err(libc::ENAMETOOLONG));
    }
}
