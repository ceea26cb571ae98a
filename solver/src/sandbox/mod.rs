//! The RUN sandbox: runs one command in its own Linux namespaces on a
//! root filesystem the caller has mounted, as strictly as Docker's default
//! profile, in a few milliseconds.
//!
//! ```no_run
//! # use kiln_solver::sandbox::{self, Network, Spec, Stream};
//! # use std::path::Path;
//! let spec = Spec {
//!     rootfs: Path::new("/var/lib/kiln/tmp/x/rootfs"), // an overlay mount
//!     args: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
//!     env: vec!["PATH=/usr/bin:/bin".into()],
//!     cwd: "/".into(),
//!     user: String::new(),
//!     hostname: String::new(),
//!     network: Network::Host,
//!     insecure: false,
//!     mounts: Vec::new(),
//! };
//! let outcome = sandbox::run(&spec, &mut |stream, bytes| {
//!     let _ = (stream, bytes); // progress log lines
//! })?;
//! println!("exit code {}", outcome.code());
//! # Ok::<(), sandbox::SandboxError>(())
//! ```
//!
//! # What the step sees
//!
//! - **Namespaces**: mount, PID (the command is PID 2; PID 1 is a tiny
//!   init that reaps orphans), UTS (hostname, default `buildkitsandbox`),
//!   IPC, and the host's network or (`Network::None`) a new network
//!   namespace with only `lo`, up.
//! - **Filesystem**: the rootfs (via `pivot_root`, the host's tree
//!   detached), `/proc` with Docker's masked and read-only paths, a minimal
//!   `/dev` (tmpfs: null, zero, full, random, urandom, tty, devpts with
//!   `ptmx`, shm, mqueue, the fd links), `/sys` read-only, read-only
//!   `/etc/hosts`, `/etc/resolv.conf` (the host's) and `/etc/hostname`, and
//!   the spec's mounts. Mount points missing from the rootfs are created
//!   and removed again after the run, so the rootfs's upper dir holds only
//!   what the command wrote.
//! - **Privileges**: Docker's default capabilities (`0xa80425fb`; none for
//!   a non-root user), `no_new_privs`, a seccomp filter in the spirit of
//!   Docker's default profile (see `seccomp`), no host file descriptor
//!   above 2, `RLIMIT_NOFILE` 1048576 and no `RLIMIT_NPROC` limit. With
//!   `insecure`: every capability, no seccomp, no `no_new_privs`, `/sys`
//!   and `/proc/sys` writable, the host's devices in `/dev`. The rootfs
//!   is `nodev` unless `insecure`: a step may `mknod` (CAP_MKNOD) but not
//!   open the node, which is what Docker's device cgroup ensures.
//! - **Process**: `user[:group]` resolved in the rootfs's `/etc/passwd` and
//!   `/etc/group` (see `user`), the spec's environment as is, the working
//!   directory (created, owned by the user, if missing), the command found
//!   through the environment's `PATH` inside the rootfs, stdin `/dev/null`,
//!   stdout and stderr to the `output` callback as they come.
//!
//! The step ends when its command exits: anything it left running in the
//! background is killed (as under Docker and BuildKit) and everything is
//! reaped before [`run`] returns, so nothing writes to the rootfs after.
//!
//! # For the caller
//!
//! - **The rootfs** is a directory in the calling thread's mount namespace:
//!   normally an overlay (lower = the parent snapshots, upper = the new
//!   layer), or a plain directory. After [`run`] returns, *unmount it and
//!   read the upper dir*; do not run anything else on that overlay mount:
//!   mount stubs that copied a lower directory up (an image's `/etc` when
//!   `/etc/resolv.conf` was missing) are removed from the upper dir
//!   directly, which the mounted overlay does not see.
//! - **Threads**: [`run`] blocks its thread until the step is over; any
//!   number of threads may run steps at once. The sandbox's processes share
//!   the caller's memory (no page-table copy: a step costs the same in a
//!   large process), so everything they need is prepared before the clone;
//!   the calling thread must stay alive while it runs (it does, being
//!   blocked), and the step is killed if that thread dies.
//! - **Stopping**: [`kill_all`] kills every running step (for Ctrl-C or a
//!   failed build); each [`run`] then returns [`SandboxError::Killed`]
//!   after cleaning up. If the whole process dies, each step's init is
//!   killed by the kernel (parent-death signal) and its namespace with it.
//!
//! # Requirements
//!
//! Root (CAP_SYS_ADMIN and friends in the initial user namespace), Linux
//! 5.12 or later (clone3 with pidfds, openat2, close_range,
//! mount_setattr), x86_64 (raw system calls, the seccomp filter).

mod caps;
mod etc;
mod namespaces;
mod network;
mod report;
mod resolve;
mod rootfs;
mod seccomp;
mod spec;
mod sys;
mod user;

#[cfg(test)]
mod tests;

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use libc::c_int;

pub use caps::DOCKER_DEFAULT as DEFAULT_CAPABILITIES;
pub use etc::DEFAULT_HOSTNAME;
pub use spec::DEFAULT_PATH;

use report::{Failure, Shared, Stage};
use sys::Fd;

/// One command to run.
#[derive(Clone, Debug)]
pub struct Spec<'a> {
    /// The writable root filesystem, already mounted by the caller (an
    /// overlay whose upper dir becomes the layer), or a plain directory.
    /// Unmount it after the run (see the module documentation).
    pub rootfs: &'a Path,
    /// The command and its arguments; `args[0]` is looked up in the `PATH`
    /// of `env` inside the rootfs unless it holds a `/`.
    pub args: Vec<String>,
    /// `NAME=value` pairs, passed as is.
    pub env: Vec<String>,
    /// The working directory inside the rootfs; created if missing.
    pub cwd: String,
    /// `user[:group]` as written in the Dockerfile: names resolved from the
    /// rootfs's /etc/passwd and /etc/group, numeric ids as is; empty = root.
    pub user: String,
    /// Empty: [`DEFAULT_HOSTNAME`].
    pub hostname: String,
    pub network: Network,
    /// `--security=insecure`: every capability, no seccomp filter, writable
    /// `/proc/sys` and `/sys`, the host's devices.
    pub insecure: bool,
    /// Extra mounts, mounted after the standard ones, parents first.
    pub mounts: Vec<Mount>,
}

/// The step's network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// The caller's network namespace (BuildKit's default).
    #[default]
    Host,
    /// A new network namespace holding only `lo`, up.
    None,
}

/// An extra mount of a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mount {
    /// A host file or directory (recursively bound).
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
    },
    /// An empty tmpfs; `size` in bytes, 0 for the kernel's default.
    Tmpfs { target: String, size: u64 },
}

/// Which output stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How the command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: ExitStatus,
}

impl Outcome {
    /// The exit code, or 128 + the signal that killed the command (as a
    /// shell reports it).
    pub fn code(&self) -> i32 {
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => 255,
        }
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The spec cannot be run as given (no command, NUL bytes, a mount
    /// over `/`, a bad hostname).
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    /// `user` names a user or group the image does not have.
    #[error("{0}")]
    User(String),
    /// The working directory could not be created or entered.
    #[error("working directory {path}: {source}")]
    Cwd { path: String, source: io::Error },
    /// The command could not be started, e.g.
    /// `exec: "foo": executable file not found in $PATH`.
    #[error("{0}")]
    Exec(String),
    /// Setting the sandbox up failed.
    #[error("sandbox: {what}: {source}")]
    Setup { what: String, source: io::Error },
    /// [`kill_all`] ended the step.
    #[error("the step was killed")]
    Killed,
}

fn setup_error(what: impl Into<String>, source: io::Error) -> SandboxError {
    SandboxError::Setup {
        what: what.into(),
        source,
    }
}

/// Runs `spec` and waits for it (and every process it started) to end.
/// `output` receives stdout and stderr chunks as they arrive.
///
/// Blocks the calling thread; any number of threads may run steps at
/// once. The calling thread must stay alive until `run` returns (it does,
/// being blocked): the sandbox is killed when that thread dies.
pub fn run(spec: &Spec, output: &mut dyn FnMut(Stream, &[u8])) -> Result<Outcome, SandboxError> {
    let prepared = spec::Prepared::new(spec)?;
    let shared = Shared::new().map_err(|e| setup_error("mapping the report page", e))?;
    let (out_r, out_w) = pipe().map_err(|e| setup_error("creating the stdout pipe", e))?;
    let (err_r, err_w) = pipe().map_err(|e| setup_error("creating the stderr pipe", e))?;
    let devnull = above_stdio(
        sys::openat(libc::AT_FDCWD, c"/dev/null", libc::O_RDWR, 0)
            .map_err(|e| setup_error("opening /dev/null", io::Error::from_raw_os_error(e)))?,
    )
    .map_err(|e| setup_error("opening /dev/null", e))?;

    // The overlay's upper dir, to clean up directories only stubs copied up.
    let upper = rootfs::upper_dir(prepared.root.as_raw_fd())
        .and_then(|dir| {
            let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
            sys::openat(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_DIRECTORY, 0).ok()
        })
        .and_then(|fd| above_stdio(fd).ok());

    let child = namespaces::Child {
        rootfs: &prepared.rootfs,
        upper: upper.as_ref().map_or(-1, Fd::raw),
        hostname: &prepared.hostname,
        new_net: prepared.new_net,
        nodev: !spec.insecure,
        ops: &prepared.ops,
        exec: prepared.exec(),
        report: shared.ptr(),
        stdout: out_w.raw(),
        stderr: err_w.raw(),
        devnull: devnull.raw(),
    };
    // The init process's stack: freed after it is reaped (declared before
    // `running`, so dropped after it even when unwinding).
    let stack = sys::Stack::new(namespaces::INIT_STACK)
        .map_err(|e| setup_error("mapping a stack", io::Error::from_raw_os_error(e)))?;
    let generation = KILL_GENERATION.load(Ordering::SeqCst);
    let (pid, pidfd) = namespaces::spawn(&child, &stack)
        .map_err(|e| setup_error("creating the namespaces (clone3)", e))?;
    drop((out_w, err_w, devnull));
    let mut running = Running {
        pid,
        pidfd,
        reaped: false,
        registration: None,
    };
    running.registration = Some(register(running.pidfd.raw()));
    if KILL_GENERATION.load(Ordering::SeqCst) != generation {
        kill_all();
    }

    let pumped = pump(&out_r, &err_r, output);
    if pumped.is_err() {
        running.kill();
    }
    let init_status = running.wait();
    let killed = running.killed();
    drop(running);

    rootfs::remove_stubs(
        prepared.root.as_raw_fd(),
        upper.as_ref().map(Fd::raw),
        &shared.stubs(),
    );

    pumped.map_err(|e| setup_error("reading the step's output", e))?;
    if killed {
        return Err(SandboxError::Killed);
    }
    if let Some(failure) = shared.failure() {
        return Err(failure_error(failure, &prepared));
    }
    match shared.status() {
        Some(status) => Ok(Outcome {
            status: ExitStatus::from_raw(status),
        }),
        None => Err(setup_error(
            "the sandbox's init process ended without a status",
            io::Error::other(format!("{:?}", ExitStatus::from_raw(init_status))),
        )),
    }
}

/// Kills every step this process is running (SIGKILL to each step's init;
/// the kernel then kills the rest of its PID namespace). Their [`run`]
/// calls return [`SandboxError::Killed`] once everything is reaped and
/// the mount stubs are removed; steps starting concurrently with this call
/// are killed too. Call it from an ordinary thread (e.g. a Ctrl-C handler
/// thread), not from a signal handler. Returns how many steps it signalled.
pub fn kill_all() -> usize {
    KILL_GENERATION.fetch_add(1, Ordering::SeqCst);
    let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    for entry in registry.iter() {
        entry.killed.store(true, Ordering::SeqCst);
        // SAFETY: the pidfd stays open while its entry is registered.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                entry.pidfd,
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
    registry.len()
}

struct Entry {
    id: u64,
    pidfd: c_int,
    killed: Arc<AtomicBool>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static KILL_GENERATION: AtomicU64 = AtomicU64::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A running step in the registry; unregistered on drop.
struct Registration {
    id: u64,
    killed: Arc<AtomicBool>,
}

fn register(pidfd: c_int) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let killed = Arc::new(AtomicBool::new(false));
    REGISTRY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Entry {
            id,
            pidfd,
            killed: killed.clone(),
        });
    Registration { id, killed }
}

impl Drop for Registration {
    fn drop(&mut self) {
        REGISTRY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|e| e.id != self.id);
    }
}

/// The init process; killed and reaped on drop if `wait` was not reached
/// (a panicking `output` callback).
struct Running {
    pid: libc::pid_t,
    pidfd: Fd,
    reaped: bool,
    // Dropped (unregistered) before `pidfd` is closed: fields drop in
    // declaration order after Drop::drop, and Drop::drop takes it first.
    registration: Option<Registration>,
}

impl Running {
    fn kill(&self) {
        // SAFETY: signalling our own child through its pidfd.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.raw(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }

    /// Reaps the init process; its raw wait status.
    fn wait(&mut self) -> i32 {
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::__WALL) };
            if r >= 0 || sys::errno() != libc::EINTR {
                break;
            }
        }
        self.reaped = true;
        status
    }

    fn killed(&self) -> bool {
        self.registration
            .as_ref()
            .is_some_and(|r| r.killed.load(Ordering::SeqCst))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.registration.take();
        if !self.reaped {
            self.kill();
            self.wait();
        }
    }
}

fn pipe() -> io::Result<(Fd, Fd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: valid out array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let (r, w) = (Fd(fds[0]), Fd(fds[1]));
    Ok((above_stdio(r)?, above_stdio(w)?))
}

/// The sandbox's init keeps descriptors above 2 only (0-2 are the
/// command's): renumber one the caller got below 3 (its stdio closed).
fn above_stdio(fd: Fd) -> io::Result<Fd> {
    if fd.raw() >= 3 {
        return Ok(fd);
    }
    // SAFETY: duplicating our own descriptor.
    let dup = unsafe { libc::fcntl(fd.raw(), libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Fd(dup))
}

/// Copies both pipes to `output` until both reach end of file (every
/// process of the step has exited or closed them).
fn pump(out: &Fd, err: &Fd, output: &mut dyn FnMut(Stream, &[u8])) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut open = [true, true];
    while open[0] || open[1] {
        let mut fds = [
            libc::pollfd {
                fd: if open[0] { out.raw() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if open[1] { err.raw() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for (i, (pfd, stream)) in fds.iter().zip([Stream::Stdout, Stream::Stderr]).enumerate() {
            if !open[i] || pfd.revents == 0 {
                continue;
            }
            // SAFETY: reading into our buffer.
            let got = unsafe { libc::read(pfd.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if got < 0 {
                let e = io::Error::last_os_error();
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) {
                    continue;
                }
                return Err(e);
            }
            if got == 0 {
                open[i] = false;
            } else {
                output(stream, &buf[..got as usize]);
            }
        }
    }
    Ok(())
}

fn strerror(errno: i32) -> String {
    io::Error::from_raw_os_error(errno).to_string()
}

/// A readable error for what the sandbox's processes reported.
fn failure_error(f: Failure, p: &spec::Prepared) -> SandboxError {
    let os = io::Error::from_raw_os_error(f.errno);
    let program = &p.program;
    match f.stage {
        Stage::Mount if f.index == rootfs::PREPARE => match f.step {
            report::Step::Target => setup_error("preparing the mount namespace", os),
            _ => setup_error("pivot_root into the rootfs", os),
        },
        Stage::Mount => match p.ops.get(f.index) {
            Some(op) => setup_error(op.describe(f.step), os),
            None => setup_error("mounting", os),
        },
        Stage::ExecNotFound if program.contains('/') => SandboxError::Exec(format!(
            "exec: \"{program}\": stat {program}: {}",
            strerror(libc::ENOENT)
        )),
        Stage::ExecNotFound => SandboxError::Exec(format!(
            "exec: \"{program}\": executable file not found in $PATH"
        )),
        Stage::Exec => {
            let path = p
                .candidates
                .get(f.index)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut message = if path == *program {
                format!("exec: \"{program}\": {}", strerror(f.errno))
            } else {
                format!("exec: \"{program}\": {path}: {}", strerror(f.errno))
            };
            if f.errno == libc::ENOENT {
                message.push_str(" (is its interpreter or dynamic loader missing?)");
            }
            SandboxError::Exec(message)
        }
        Stage::Chdir => SandboxError::Cwd {
            path: p.cwd.to_string_lossy().into_owned(),
            source: os,
        },
        stage => {
            let what = match stage {
                Stage::Hostname => "setting the hostname",
                Stage::Loopback => "bringing up lo",
                Stage::MountNamespace => "preparing the mount namespace",
                Stage::Spawn => "starting the command",
                Stage::Stdio => "setting up stdin, stdout and stderr",
                Stage::Rlimit => "setting resource limits",
                Stage::NoNewPrivs => "setting no_new_privs",
                Stage::Seccomp => "installing the seccomp filter",
                Stage::Capabilities => "dropping capabilities",
                Stage::Groups => "setting supplementary groups",
                Stage::Gid => "setting the group id",
                Stage::Uid => "setting the user id",
                Stage::Stubs => "recording mount points",
                _ => "setting up",
            };
            setup_error(what, os)
        }
    }
}
