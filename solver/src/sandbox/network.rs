//! `--network=none`: a fresh network namespace with only the loopback
//! interface, brought up (as Docker and BuildKit leave it).
//!
//! `Network::Host` shares the caller's namespace and needs nothing here.

use super::sys::{syscall, Errno, Fd};

/// Brings `lo` up in the current network namespace. Async-signal-safe.
pub(super) fn loopback_up() -> Result<(), Errno> {
    let sock = syscall!(
        libc::SYS_socket,
        libc::AF_INET,
        libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
        0
    )
    .map(|fd| Fd(fd as libc::c_int))?;
    // SAFETY: ifreq is plain old data.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = src as libc::c_char;
    }
    syscall!(
        libc::SYS_ioctl,
        sock.raw(),
        libc::SIOCGIFFLAGS,
        &mut req as *mut libc::ifreq
    )?;
    // SAFETY: reading and writing the flags member of the union.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    syscall!(
        libc::SYS_ioctl,
        sock.raw(),
        libc::SIOCSIFFLAGS,
        &req as *const libc::ifreq
    )?;
    Ok(())
}
