//! Turning a [`Spec`] into everything the sandbox's processes need,
//! prepared before the fork: C strings, pointer arrays, the mount plan, the
//! user's ids (read from the rootfs), the working directory (created), the
//! generated `/etc` files, capabilities, seccomp program and rlimits.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;

use libc::{c_char, c_int};

use super::caps;
use super::etc::{self, EtcFiles};
use super::namespaces::Exec;
use super::resolve::{self, Create, Created};
use super::rootfs::{self, EtcPaths, Extra, Op};
use super::seccomp::{self, Filters};
use super::sys::{self, PathBuf4k};
use super::user::{self, ExecUser};
use super::{Mount, Network, SandboxError, Spec};

/// The default `PATH` for the command lookup when the environment has none
/// (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's open-files limit for containers.
const NOFILE: u64 = 1 << 20;

/// Everything prepared for one run. Owns the memory the children read.
pub(super) struct Prepared {
    pub rootfs: CString,
    /// The rootfs directory, for in-root lookups and the stub cleanup.
    pub root: OwnedFd,
    pub hostname: CString,
    pub new_net: bool,
    pub ops: Vec<Op>,
    pub program: String,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    _env: Vec<CString>,
    env_ptrs: Vec<*const c_char>,
    pub candidates: Vec<CString>,
    pub cwd: CString,
    pub user: ExecUser,
    caps: u64,
    seccomp: Option<&'static Filters>,
    no_new_privs: bool,
    rlimits: Vec<(c_int, libc::rlimit, libc::rlimit)>,
}

fn invalid(message: impl Into<String>) -> SandboxError {
    SandboxError::InvalidSpec(message.into())
}

fn c_string(what: &str, s: &str) -> Result<CString, SandboxError> {
    CString::new(s).map_err(|_| invalid(format!("{what} {s:?} holds a NUL byte")))
}

/// `path` as an in-root path: no leading `/`, no `.`/`..`/empty components
/// (`..` at the top stays at the top). `""` is the root.
pub(super) fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

impl Prepared {
    pub(super) fn new(spec: &Spec) -> Result<Prepared, SandboxError> {
        if spec.args.is_empty() || spec.args[0].is_empty() {
            return Err(invalid("no command to run"));
        }
        let hostname = if spec.hostname.is_empty() {
            etc::DEFAULT_HOSTNAME
        } else {
            spec.hostname.as_str()
        };
        if !etc::valid_hostname(hostname) {
            return Err(invalid(format!("invalid hostname {hostname:?}")));
        }
        let argv = spec
            .args
            .iter()
            .map(|a| c_string("argument", a))
            .collect::<Result<Vec<_>, _>>()?;
        let env = spec
            .env
            .iter()
            .map(|e| c_string("environment variable", e))
            .collect::<Result<Vec<_>, _>>()?;
        let rootfs = CString::new(spec.rootfs.as_os_str().as_bytes())
            .map_err(|_| invalid("the rootfs path holds a NUL byte"))?;
        let root = sys::openat(libc::AT_FDCWD, &rootfs, libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(|e| SandboxError::Setup {
                what: format!("opening the rootfs {}", spec.rootfs.display()),
                source: std::io::Error::from_raw_os_error(e),
            })?;
        // SAFETY: we own the descriptor; OwnedFd takes it over.
        let root = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(into_raw(root)) };

        let user = user::resolve(root.as_raw_fd(), &spec.user)?;
        let mut env = env;
        if !spec.env.iter().any(|e| e.starts_with("HOME=")) {
            let home = user::home(root.as_raw_fd(), user.uid);
            env.push(c_string("environment variable", &format!("HOME={home}"))?);
        }

        let cwd = format!("/{}", clean(&spec.cwd));
        let cwd_c = c_string("working directory", &cwd)?;
        make_cwd(root.as_raw_fd(), &cwd, &user)?;

        let etc = EtcFiles::get(hostname, spec.network).map_err(|e| SandboxError::Setup {
            what: "writing /etc/hosts, /etc/resolv.conf and /etc/hostname".into(),
            source: e,
        })?;

        let mut extras = Vec::new();
        for m in &spec.mounts {
            extras.push(extra(m)?);
        }
        let ops = rootfs::plan(
            spec.insecure,
            &EtcPaths {
                hosts: &etc.hosts,
                resolv_conf: &etc.resolv_conf,
                hostname: &etc.hostname,
            },
            &extras,
        )
        .map_err(invalid)?;

        let path = spec
            .env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        let candidates = candidates(&spec.args[0], path)
            .into_iter()
            .map(|c| c_string("command", &c))
            .collect::<Result<Vec<_>, _>>()?;

        let bounding = caps::bounding_set();
        let caps = if spec.insecure {
            bounding
        } else {
            caps::DOCKER_DEFAULT & bounding
        };
        let seccomp = if spec.insecure {
            None
        } else {
            Some(seccomp::filters().map_err(|e| SandboxError::Setup {
                what: e,
                source: std::io::Error::from(std::io::ErrorKind::InvalidData),
            })?)
        };

        let mut argv_ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const c_char> = env.iter().map(|e| e.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());

        Ok(Prepared {
            rootfs,
            root,
            hostname: c_string("hostname", hostname)?,
            new_net: spec.network == Network::None,
            ops,
            program: spec.args[0].clone(),
            _argv: argv,
            argv_ptrs,
            _env: env,
            env_ptrs,
            candidates,
            cwd: cwd_c,
            user,
            caps,
            seccomp,
            no_new_privs: !spec.insecure,
            rlimits: rlimits(),
        })
    }

    /// The command's part, borrowing from `self`.
    pub(super) fn exec(&self) -> Exec<'_> {
        Exec {
            argv: &self.argv_ptrs,
            envp: &self.env_ptrs,
            candidates: &self.candidates,
            cwd: &self.cwd,
            uid: self.user.uid,
            gid: self.user.gid,
            groups: &self.user.groups,
            caps: self.caps,
            last_cap: caps::last_cap(),
            seccomp: self.seccomp,
            no_new_privs: self.no_new_privs,
            rlimits: &self.rlimits,
        }
    }
}

fn into_raw(fd: sys::Fd) -> c_int {
    let raw = fd.raw();
    std::mem::forget(fd);
    raw
}

/// Creates the working directory if missing, as BuildKit does: `mkdir -p`
/// inside the rootfs, each directory created owned by the step's user,
/// mode 0755 (before the mounts, so it is part of the layer).
fn make_cwd(root: c_int, cwd: &str, user: &ExecUser) -> Result<(), SandboxError> {
    let mut resolved = Box::new(PathBuf4k::new());
    let mut chown = |c: &Created| {
        if !c.done {
            return Ok(());
        }
        // SAFETY: plain system call on a name in `parent`.
        sys::check(unsafe {
            libc::fchownat(
                c.parent,
                c.name.as_ptr(),
                user.uid,
                user.gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map(drop)
    };
    resolve::resolve(
        root,
        clean(cwd).as_bytes(),
        Create::Dir,
        &mut resolved,
        &mut chown,
    )
    .map(drop)
    .map_err(|e| SandboxError::Cwd {
        path: cwd.to_string(),
        source: std::io::Error::from_raw_os_error(e),
    })
}

fn extra(m: &Mount) -> Result<Extra<'_>, SandboxError> {
    let check_target = |t: &str| {
        let cleaned = clean(t);
        if cleaned.is_empty() {
            Err(invalid(format!(
                "cannot mount over the root (target {t:?})"
            )))
        } else if cleaned.contains('\0') {
            Err(invalid(format!("mount target {t:?} holds a NUL byte")))
        } else {
            Ok(cleaned)
        }
    };
    Ok(match m {
        Mount::Bind {
            source,
            target,
            readonly,
        } => {
            let meta = std::fs::metadata(source).map_err(|e| SandboxError::Setup {
                what: format!("mount source {}", source.display()),
                source: e,
            })?;
            Extra::Bind {
                source,
                target: check_target(target)?,
                readonly: *readonly,
                dir: meta.is_dir(),
            }
        }
        Mount::Tmpfs { target, size } => Extra::Tmpfs {
            target: check_target(target)?,
            size: *size,
        },
    })
}

/// execvp's list of paths to try: `program` itself when it holds a `/`,
/// else each `PATH` entry joined with it (an empty entry is the cwd).
pub(super) fn candidates(program: &str, path: &str) -> Vec<String> {
    if program.contains('/') {
        return vec![program.to_string()];
    }
    path.split(':')
        .map(|dir| {
            if dir.is_empty() {
                program.to_string()
            } else {
                format!("{}/{program}", dir.trim_end_matches('/'))
            }
        })
        .collect()
}

/// Docker's limits: 1048576 open files (capped by fs.nr_open), no limit
/// on processes. Without CAP_SYS_RESOURCE the hard limits stay and the
/// soft ones are raised to them.
fn rlimits() -> Vec<(c_int, libc::rlimit, libc::rlimit)> {
    static NR_OPEN: OnceLock<u64> = OnceLock::new();
    let nr_open = *NR_OPEN.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(NOFILE)
    });
    let current = |resource| {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid out pointer.
        unsafe { libc::getrlimit(resource, &mut rl) };
        rl
    };
    let both = |n| libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    let nofile = NOFILE.min(nr_open);
    let cur_nofile = current(libc::RLIMIT_NOFILE);
    let cur_nproc = current(libc::RLIMIT_NPROC);
    vec![
        (
            libc::RLIMIT_NOFILE as c_int,
            both(nofile),
            both(cur_nofile.rlim_max.min(nofile)),
        ),
        (
            libc::RLIMIT_NPROC as c_int,
            both(libc::RLIM_INFINITY),
            both(cur_nproc.rlim_max),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_paths() {
        assert_eq!(clean("/"), "");
        assert_eq!(clean(""), "");
        assert_eq!(clean("/etc//hosts"), "etc/hosts");
        assert_eq!(clean("/a/./b/../c/"), "a/c");
        assert_eq!(clean("/../../x"), "x");
        assert_eq!(clean("rel/dir"), "rel/dir");
    }

    #[test]
    fn path_lookup_candidates() {
        assert_eq!(candidates("/bin/sh", "/usr/bin"), ["/bin/sh"]);
        assert_eq!(candidates("./run", "/usr/bin"), ["./run"]);
        assert_eq!(
            candidates("sh", "/usr/local/bin:/bin/::/sbin"),
            ["/usr/local/bin/sh", "/bin/sh", "sh", "/sbin/sh"]
        );
    }
}
