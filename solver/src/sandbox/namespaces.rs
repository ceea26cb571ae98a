//! The sandbox's two processes.
//!
//! ```text
//! caller thread ──clone3(VM|NEWNS|NEWPID|NEWUTS|NEWIPC[|NEWNET]|PIDFD)──▶ init (PID 1)
//!                         hostname, lo, mounts, pivot_root
//!                         ──clone3(VM|VFORK)──▶ command (PID 2) ──execve
//!                         reaps every process of the step
//! ```
//!
//! Both children share the caller's memory (`CLONE_VM`), as `posix_spawn`
//! does: no page table is copied, so starting a step costs the same in a
//! 10 MB and a 1 GB caller (a fork-style copy costs milliseconds per
//! hundred megabytes, twice: copy and teardown). The price is discipline:
//! they run on stacks of their own, make raw system calls only (no libc:
//! its `errno` is the caller thread's, which keeps running), allocate
//! nothing, take no lock and read only what the caller prepared before
//! and does not touch until the init process is reaped. The caller blocks
//! every signal around the clone so that none of its handlers ever runs
//! in a child; the command resets every disposition before unblocking.
//!
//! The init process is PID 1 of the step's PID namespace. When the command
//! exits, it kills every process left (as happens to a container whose
//! main process exits under Docker and BuildKit: background processes do
//! not outlive their `RUN`), reaps them all, writes the command's wait
//! status to the shared report and exits. When PID 1 of a namespace dies,
//! the kernel kills whatever is left in it, so nothing of the step runs
//! once the init process is gone.

use std::ffi::{CStr, CString};
use std::io;

use libc::{c_char, c_int, c_void};

use super::caps;
use super::network;
use super::report::{self, Report, Stage, Step};
use super::rootfs::{self, Op};
use super::seccomp::{self, Filters};
use super::sys::{self, syscall, CloneArgs, Errno, Stack};

/// What the command process needs, prepared by the caller.
pub(super) struct Exec<'a> {
    /// NULL-terminated.
    pub argv: &'a [*const c_char],
    /// NULL-terminated.
    pub envp: &'a [*const c_char],
    /// Paths to try with execve, in order (PATH lookup).
    pub candidates: &'a [CString],
    pub cwd: &'a CStr,
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [libc::gid_t],
    /// Capabilities kept (bounding, permitted, effective).
    pub caps: u64,
    pub last_cap: u32,
    pub seccomp: Option<&'a Filters>,
    pub no_new_privs: bool,
    /// `(resource, wanted, fallback)`: the fallback when raising the hard
    /// limit is not allowed.
    pub rlimits: &'a [(c_int, libc::rlimit, libc::rlimit)],
}

/// Everything the init process needs.
pub(super) struct Child<'a> {
    pub rootfs: &'a CStr,
    /// The overlay's upper dir (`O_PATH`), or -1.
    pub upper: c_int,
    pub hostname: &'a CStr,
    pub new_net: bool,
    /// Device nodes on the rootfs cannot be opened (see `rootfs::setup`).
    pub nodev: bool,
    pub ops: &'a [Op],
    pub exec: Exec<'a>,
    pub report: *mut Report,
    pub stdout: c_int,
    pub stderr: c_int,
    pub devnull: c_int,
}

/// Stack of the init process (its deepest path, a mount target walk,
/// uses some 20 KiB; pages are only touched as used).
pub(super) const INIT_STACK: usize = 512 * 1024;
/// Stack of the command process until it execs.
const COMMAND_STACK: usize = 256 * 1024;

/// Starts the init process on `stack`; returns its pid and a pidfd.
///
/// `child` and `stack` must stay alive, unchanged, until the init process
/// has been reaped.
pub(super) fn spawn(child: &Child, stack: &Stack) -> io::Result<(libc::pid_t, sys::Fd)> {
    let mut flags = libc::CLONE_VM
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_PIDFD;
    if child.new_net {
        flags |= libc::CLONE_NEWNET;
    }
    let mut pidfd: c_int = -1;
    let args = CloneArgs {
        flags: flags as u64,
        pidfd: &mut pidfd as *mut c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack.base(),
        stack_size: stack.size(),
        ..CloneArgs::default()
    };
    // No handler of the caller's may run in the child: it inherits this
    // mask and keeps everything blocked.
    // SAFETY: sigset operations on locals.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    // SAFETY: the init process runs only raw system calls on its own
    // stack and reads `child`, which the caller keeps alive and unchanged
    // until it has reaped it.
    let pid =
        unsafe { sys::clone3_on_stack(&args, init_entry, child as *const Child as *mut c_void) };
    // SAFETY: restoring the caller's mask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    let pid = pid.map_err(io::Error::from_raw_os_error)?;
    Ok((pid, sys::Fd(pidfd)))
}

extern "C" fn init_entry(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Child given to spawn, alive until we are reaped.
    init(unsafe { &*(arg as *const Child) })
}

fn fail(r: *mut Report, stage: Stage, errno: Errno) -> ! {
    report::set_failure(r, stage, 0, Step::Target, errno);
    sys::exit(1)
}

/// The kernel's `struct sigaction` (rt_sigaction(2)).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Sets `sig`'s disposition to the default.
fn default_disposition(sig: c_int) {
    let dfl = KernelSigaction {
        handler: 0, // SIG_DFL
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    let _ = syscall!(
        libc::SYS_rt_sigaction,
        sig,
        &dfl as *const KernelSigaction,
        0,
        8
    );
}

/// Sets the signal mask to everything (`all`) or nothing.
fn set_signal_mask(all: bool) {
    let set: u64 = if all { !0 } else { 0 };
    let _ = syscall!(
        libc::SYS_rt_sigprocmask,
        libc::SIG_SETMASK,
        &set as *const u64,
        0,
        8
    );
}

/// Closes every descriptor but `keep` (all above 2; negative: none).
fn close_all_but(mut keep: [c_int; 4]) {
    keep.sort_unstable();
    let mut next = 0u32;
    for fd in keep {
        if fd < 0 {
            continue;
        }
        let fd = fd as u32;
        if fd > next {
            sys::close_range(next, fd - 1);
        }
        next = next.max(fd + 1);
    }
    sys::close_range(next, u32::MAX);
}

/// The init process (PID 1 of the step).
fn init(c: &Child) -> ! {
    let r = c.report;
    // All signals stay blocked (as the caller cloned us): only SIGKILL
    // matters here and it cannot be. SIGCHLD at its default so that wait4
    // sees the children.
    default_disposition(libc::SIGCHLD);
    // Die with the thread that started us.
    let _ = syscall!(libc::SYS_prctl, libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    let (stdout, stderr, devnull) = (c.stdout, c.stderr, c.devnull);
    close_all_but([stdout, stderr, devnull, c.upper]);
    let _ = syscall!(libc::SYS_umask, 0);
    let _ = syscall!(libc::SYS_setsid);
    let name = c.hostname.to_bytes();
    if let Err(e) = syscall!(libc::SYS_sethostname, name.as_ptr(), name.len()) {
        fail(r, Stage::Hostname, e);
    }
    if c.new_net {
        if let Err(e) = network::loopback_up() {
            fail(r, Stage::Loopback, e);
        }
    }
    if let Err((index, step, e)) = rootfs::setup(c.rootfs, c.upper, c.nodev, c.ops, r) {
        report::set_failure(r, Stage::Mount, index, step, e);
        sys::exit(1);
    }

    let stdio = [devnull, stdout, stderr];
    let pid = match spawn_command(c, &stdio) {
        Ok(pid) => pid,
        Err(e) => fail(r, Stage::Spawn, e),
    };
    // Our copies; the command has its own.
    for fd in [stdout, stderr, devnull, c.upper] {
        if fd >= 0 {
            let _ = syscall!(libc::SYS_close, fd);
        }
    }

    let mut main_status = None;
    loop {
        let mut status: c_int = 0;
        match syscall!(
            libc::SYS_wait4,
            -1isize,
            &mut status as *mut c_int,
            libc::__WALL,
            0
        ) {
            Err(libc::EINTR) => continue,
            Err(_) => break, // ECHILD: everyone is gone
            Ok(got) if got as libc::pid_t == pid => {
                main_status = Some(status);
                // The step is over when its command is: end whatever it
                // left running (kill(-1) from PID 1 reaches every other
                // process of the namespace) and reap it.
                let _ = syscall!(libc::SYS_kill, -1isize, libc::SIGKILL);
            }
            Ok(_) => {} // an orphan, reaped
        }
    }
    if let Some(status) = main_status {
        report::set_status(r, status);
    }
    sys::exit(0)
}

struct CommandArg<'a> {
    child: &'a Child<'a>,
    stdio: [c_int; 3],
}

/// Starts the command process; returns once it has exec'd (or failed).
fn spawn_command(c: &Child, stdio: &[c_int; 3]) -> Result<libc::pid_t, Errno> {
    let stack = Stack::new(COMMAND_STACK)?;
    let arg = CommandArg {
        child: c,
        stdio: *stdio,
    };
    let args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK) as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack.base(),
        stack_size: stack.size(),
        ..CloneArgs::default()
    };
    // SAFETY: CLONE_VFORK suspends us until the child has exec'd or
    // exited, so `arg` and `stack` outlive its use of them; it makes raw
    // system calls only.
    unsafe { sys::clone3_on_stack(&args, command, &arg as *const CommandArg as *mut c_void) }
}

/// The command process, until `execve`.
extern "C" fn command(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the CommandArg of spawn_command, alive while we run.
    let arg = unsafe { &*(arg as *const CommandArg) };
    let c = arg.child;
    let Err((stage, index, errno)) = prepare_and_exec(c, &arg.stdio);
    report::set_failure(c.report, stage, index, Step::Target, errno);
    127
}

/// Never returns on success (the process is replaced).
fn prepare_and_exec(
    c: &Child,
    stdio: &[c_int; 3],
) -> Result<std::convert::Infallible, (Stage, usize, Errno)> {
    let e = &c.exec;
    let at = |stage: Stage| move |errno: Errno| (stage, 0, errno);

    // Every disposition to its default (ignored signals would stay ignored
    // across execve; a caller's handler must never run here), then unblock.
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            default_disposition(sig);
        }
    }
    set_signal_mask(false);
    let _ = syscall!(libc::SYS_setsid);
    for (target, &fd) in stdio.iter().enumerate() {
        syscall!(libc::SYS_dup2, fd, target).map_err(at(Stage::Stdio))?;
    }
    let _ = syscall!(libc::SYS_umask, 0o022);
    for (resource, want, fallback) in e.rlimits {
        if syscall!(
            libc::SYS_prlimit64,
            0,
            *resource,
            want as *const libc::rlimit,
            0
        )
        .is_err()
        {
            syscall!(
                libc::SYS_prlimit64,
                0,
                *resource,
                fallback as *const libc::rlimit,
                0
            )
            .map_err(at(Stage::Rlimit))?;
        }
    }
    syscall!(libc::SYS_chdir, e.cwd.as_ptr()).map_err(at(Stage::Chdir))?;
    if e.no_new_privs {
        syscall!(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            .map_err(at(Stage::NoNewPrivs))?;
    }
    // While still root with every capability: the filter needs
    // CAP_SYS_ADMIN when no_new_privs is off, and it lets through
    // everything done below.
    if let Some(filters) = e.seccomp {
        seccomp::install(filters).map_err(at(Stage::Seccomp))?;
    }
    caps::restrict_bounding(e.caps, e.last_cap).map_err(at(Stage::Capabilities))?;
    syscall!(libc::SYS_setgroups, e.groups.len(), e.groups.as_ptr()).map_err(at(Stage::Groups))?;
    syscall!(libc::SYS_setresgid, e.gid, e.gid, e.gid).map_err(at(Stage::Gid))?;
    syscall!(libc::SYS_setresuid, e.uid, e.uid, e.uid).map_err(at(Stage::Uid))?;
    if e.uid == 0 {
        caps::set(e.caps).map_err(at(Stage::Capabilities))?;
    }
    // No host descriptor reaches the command.
    sys::close_range(3, u32::MAX);

    // execvp: try each candidate; remember permission errors, keep going
    // past missing ones, stop at anything else.
    let mut denied = None;
    for (i, path) in e.candidates.iter().enumerate() {
        let errno = match syscall!(
            libc::SYS_execve,
            path.as_ptr(),
            e.argv.as_ptr(),
            e.envp.as_ptr()
        ) {
            Err(errno) => errno,
            Ok(_) => continue, // cannot happen: execve does not return on success
        };
        match errno {
            libc::ENOENT => {
                // The file is there: its interpreter or loader is not.
                if syscall!(
                    libc::SYS_faccessat,
                    libc::AT_FDCWD,
                    path.as_ptr(),
                    libc::F_OK
                )
                .is_ok()
                {
                    return Err((Stage::Exec, i, libc::ENOENT));
                }
            }
            libc::ENOTDIR | libc::ENAMETOOLONG | libc::ELOOP => {}
            libc::EACCES => {
                denied.get_or_insert(i);
            }
            errno => return Err((Stage::Exec, i, errno)),
        }
    }
    match denied {
        Some(i) => Err((Stage::Exec, i, libc::EACCES)),
        None => Err((Stage::ExecNotFound, 0, libc::ENOENT)),
    }
}
