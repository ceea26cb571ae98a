//! The step's filesystem view: what is mounted where, and `pivot_root`.
//!
//! The caller ([`plan`]) turns a [`Spec`](super::Spec) into a list of
//! [`Op`]s; the sandbox's init process ([`setup`]) carries them out in its
//! own mount namespace, in order, then pivots into the rootfs:
//!
//! 1. `/proc` (new instance, in the step's PID namespace);
//! 2. `/dev`: a tmpfs with null, zero, full, random, urandom, tty
//!    (mknod, or bind mounts of the host's nodes where mknod is refused),
//!    the `fd`/`stdin`/`stdout`/`stderr`/`core`/`ptmx` symlinks, a private
//!    devpts instance, a tmpfs `/dev/shm` and `/dev/mqueue`;
//! 3. `/sys`: a new sysfs instance, read-only (it shows the step's own
//!    network namespace);
//! 4. Docker's masked paths (`/dev/null` over files, an empty read-only
//!    tmpfs over directories) and read-only paths;
//! 5. `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`, read-only binds;
//! 6. the step's own mounts (bind, tmpfs), parents before children.
//!
//! Every target is resolved inside the rootfs (see `resolve`) and mounted
//! through `/proc/self/fd/N`, so no symlink in the image can redirect a
//! mount. A target that does not exist is created, and recorded in the
//! shared report when it was created in the rootfs itself; after the run
//! [`remove_stubs`] deletes exactly those (if still empty) and restores
//! their parents' timestamps, so the upper dir holds only what the command
//! wrote.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libc::{c_int, c_ulong};

use super::report::{self, Report, Step, Stub, Ts};
use super::resolve::{self, Create, Created};
use super::sys::{self, Errno, Fd, PathBuf4k, ProcFd};

/// One thing to mount.
pub(super) enum Op {
    /// A new filesystem instance.
    Fs {
        target: Target,
        fstype: &'static CStr,
        flags: c_ulong,
        data: Option<CString>,
    },
    /// A bind mount of a host path (recursive).
    Bind {
        target: Target,
        source: CString,
        readonly: bool,
    },
    /// Docker's masked path; skipped when it does not exist.
    Mask { path: &'static CStr },
    /// Made read-only in place; skipped when it does not exist.
    ReadOnly { path: &'static CStr },
    /// Fills the tmpfs mounted at `dev`.
    Devices { dev: Target, nodes: Vec<Node> },
}

/// Where to mount: an in-root path and what to create if it is missing.
pub(super) struct Target {
    pub path: CString,
    pub create: Create,
}

/// An entry of `/dev`.
pub(super) struct Node {
    /// Relative to `/dev`.
    pub path: CString,
    pub kind: NodeKind,
}

pub(super) enum NodeKind {
    Dir(u32),
    /// A device: `mode` includes the type bits; `host` is the node to bind
    /// when mknod is not allowed.
    Device {
        mode: u32,
        rdev: libc::dev_t,
        host: CString,
    },
    Symlink(&'static CStr),
}

impl Op {
    /// For error messages: what this operation mounts where.
    pub(super) fn describe(&self, step: Step) -> String {
        let show = |p: &CStr| format!("/{}", p.to_string_lossy());
        match (self, step) {
            (Op::Fs { target, .. } | Op::Bind { target, .. }, Step::Target) => {
                format!("creating the mount point {}", show(&target.path))
            }
            (Op::Fs { target, fstype, .. }, _) => {
                format!(
                    "mounting {} on {}",
                    fstype.to_string_lossy(),
                    show(&target.path)
                )
            }
            (Op::Bind { target, source, .. }, Step::ReadOnly) => format!(
                "making the bind mount of {} on {} read-only",
                source.to_string_lossy(),
                show(&target.path)
            ),
            (Op::Bind { target, source, .. }, _) => format!(
                "bind-mounting {} on {}",
                source.to_string_lossy(),
                show(&target.path)
            ),
            (Op::Mask { path }, _) => format!("masking {}", show(path)),
            (Op::ReadOnly { path }, _) => format!("making {} read-only", show(path)),
            (Op::Devices { .. }, _) => "populating /dev".to_string(),
        }
    }
}

const MS_NOSUID: c_ulong = libc::MS_NOSUID;
const MS_NODEV: c_ulong = libc::MS_NODEV;
const MS_NOEXEC: c_ulong = libc::MS_NOEXEC;

/// containerd's (and so Docker's and BuildKit's) masked paths.
pub(super) const MASKED: [&CStr; 11] = [
    c"proc/acpi",
    c"proc/asound",
    c"proc/kcore",
    c"proc/keys",
    c"proc/latency_stats",
    c"proc/timer_list",
    c"proc/timer_stats",
    c"proc/sched_debug",
    c"proc/scsi",
    c"sys/firmware",
    c"sys/devices/virtual/powercap",
];

/// containerd's read-only paths.
pub(super) const READONLY: [&CStr; 5] = [
    c"proc/bus",
    c"proc/fs",
    c"proc/irq",
    c"proc/sys",
    c"proc/sysrq-trigger",
];

/// The standard device nodes: name, major, minor.
const DEVICES: [(&CStr, u32, u32); 6] = [
    (c"null", 1, 3),
    (c"zero", 1, 5),
    (c"full", 1, 7),
    (c"random", 1, 8),
    (c"urandom", 1, 9),
    (c"tty", 5, 0),
];

const DEV_LINKS: [(&CStr, &CStr); 6] = [
    (c"fd", c"/proc/self/fd"),
    (c"stdin", c"/proc/self/fd/0"),
    (c"stdout", c"/proc/self/fd/1"),
    (c"stderr", c"/proc/self/fd/2"),
    (c"ptmx", c"pts/ptmx"),
    (c"core", c"/proc/kcore"),
];

/// An extra mount requested by the caller, already validated.
pub(super) enum Extra<'a> {
    Bind {
        source: &'a Path,
        target: String,
        readonly: bool,
        dir: bool,
    },
    Tmpfs {
        target: String,
        size: u64,
    },
}

/// The generated files to bind over `/etc/...`.
pub(super) struct EtcPaths<'a> {
    pub hosts: &'a Path,
    pub resolv_conf: &'a Path,
    pub hostname: &'a Path,
}

fn cstring(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| format!("{}: path holds a NUL byte", p.display()))
}

fn target(path: &str, create: Create) -> Result<Target, String> {
    Ok(Target {
        path: CString::new(path).map_err(|_| format!("{path:?}: path holds a NUL byte"))?,
        create,
    })
}

/// The mount operations of a step, in order.
pub(super) fn plan(insecure: bool, etc: &EtcPaths, extras: &[Extra]) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    ops.push(Op::Fs {
        target: target("proc", Create::Dir)?,
        fstype: c"proc",
        flags: MS_NOSUID | MS_NODEV | MS_NOEXEC,
        data: None,
    });
    ops.push(Op::Fs {
        target: target("dev", Create::Dir)?,
        fstype: c"tmpfs",
        flags: MS_NOSUID | libc::MS_STRICTATIME,
        data: Some(c"mode=755,size=65536k".to_owned()),
    });
    let mut nodes = Vec::new();
    if insecure {
        host_devices(Path::new("/dev"), Path::new(""), 0, &mut nodes);
    }
    for (name, major, minor) in DEVICES {
        nodes.push(Node {
            path: name.to_owned(),
            kind: NodeKind::Device {
                mode: libc::S_IFCHR | 0o666,
                rdev: libc::makedev(major, minor),
                host: cstring(&Path::new("/dev").join(name.to_string_lossy().as_ref()))?,
            },
        });
    }
    for (name, mode) in [(c"pts", 0o755), (c"shm", 0o1777), (c"mqueue", 0o755)] {
        nodes.push(Node {
            path: name.to_owned(),
            kind: NodeKind::Dir(mode),
        });
    }
    for (name, to) in DEV_LINKS {
        nodes.push(Node {
            path: name.to_owned(),
            kind: NodeKind::Symlink(to),
        });
    }
    ops.push(Op::Devices {
        dev: target("dev", Create::No)?,
        nodes,
    });
    ops.push(Op::Fs {
        target: target("dev/pts", Create::No)?,
        fstype: c"devpts",
        flags: MS_NOSUID | MS_NOEXEC,
        data: Some(c"newinstance,ptmxmode=0666,mode=0620,gid=5".to_owned()),
    });
    ops.push(Op::Fs {
        target: target("dev/shm", Create::No)?,
        fstype: c"tmpfs",
        flags: MS_NOSUID | MS_NODEV | MS_NOEXEC,
        data: Some(c"mode=1777,size=65536k".to_owned()),
    });
    ops.push(Op::Fs {
        target: target("dev/mqueue", Create::No)?,
        fstype: c"mqueue",
        flags: MS_NOSUID | MS_NODEV | MS_NOEXEC,
        data: None,
    });
    let sys_ro = if insecure { 0 } else { libc::MS_RDONLY };
    ops.push(Op::Fs {
        target: target("sys", Create::Dir)?,
        fstype: c"sysfs",
        flags: MS_NOSUID | MS_NODEV | MS_NOEXEC | sys_ro,
        data: None,
    });
    if !insecure {
        ops.extend(MASKED.iter().map(|&path| Op::Mask { path }));
        ops.extend(READONLY.iter().map(|&path| Op::ReadOnly { path }));
    }
    for (path, source) in [
        ("etc/hosts", etc.hosts),
        ("etc/resolv.conf", etc.resolv_conf),
        ("etc/hostname", etc.hostname),
    ] {
        ops.push(Op::Bind {
            target: target(path, Create::File)?,
            source: cstring(source)?,
            readonly: true,
        });
    }
    // Parents before children (a stable sort keeps the caller's order
    // among mounts at the same depth).
    let mut extras: Vec<&Extra> = extras.iter().collect();
    let depth = |e: &&Extra| match e {
        Extra::Bind { target, .. } | Extra::Tmpfs { target, .. } => target.split('/').count(),
    };
    extras.sort_by_key(depth);
    for extra in extras {
        match extra {
            Extra::Bind {
                source,
                target: t,
                readonly,
                dir,
            } => ops.push(Op::Bind {
                target: target(t, if *dir { Create::Dir } else { Create::File })?,
                source: cstring(source)?,
                readonly: *readonly,
            }),
            Extra::Tmpfs { target: t, size } => {
                let mut data = String::from("mode=1777");
                if *size > 0 {
                    data.push_str(&format!(",size={size}"));
                }
                ops.push(Op::Fs {
                    target: target(t, Create::Dir)?,
                    fstype: c"tmpfs",
                    flags: MS_NOSUID | MS_NODEV,
                    data: Some(CString::new(data).expect("no NUL")),
                });
            }
        }
    }
    Ok(ops)
}

/// The host's device nodes below `/dev` (`--security=insecure`), as
/// Docker's privileged mode copies them: not the pseudo-terminals, shm,
/// mqueue, fd links or the console.
fn host_devices(host: &Path, rel: &Path, depth: u32, out: &mut Vec<Node>) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let Ok(entries) = std::fs::read_dir(host) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if depth == 0
            && matches!(
                name.as_bytes(),
                b"pts" | b"shm" | b"mqueue" | b"fd" | b"console" | b"core" | b"ptmx"
            )
            || name.as_bytes().starts_with(b".")
        {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let rel_path = rel.join(&name);
        let Ok(path) = CString::new(rel_path.as_os_str().as_bytes()) else {
            continue;
        };
        let ft = meta.file_type();
        if ft.is_dir() && depth < 4 {
            let at = out.len();
            out.push(Node {
                path,
                kind: NodeKind::Dir(meta.permissions().mode() & 0o7777),
            });
            host_devices(&entry.path(), &rel_path, depth + 1, out);
            if out.len() == at + 1 {
                out.pop(); // no devices inside
            }
        } else if ft.is_char_device() || ft.is_block_device() {
            let Ok(host) = CString::new(entry.path().as_os_str().as_bytes()) else {
                continue;
            };
            out.push(Node {
                path,
                kind: NodeKind::Device {
                    mode: meta.mode(),
                    rdev: meta.rdev() as libc::dev_t,
                    host,
                },
            });
        }
    }
}

// ---------------------------------------------------------------------------
// Child side: async-signal-safe from here on.

/// The first failure of [`setup`]: operation index, step, errno.
pub(super) type SetupError = (usize, Step, Errno);

/// Stage-less failures of the namespace preparation itself.
pub(super) const PREPARE: usize = usize::MAX;

/// Carries out `ops` under `rootfs` in the current (new) mount namespace
/// and pivots into it. Stubs created in the rootfs go to `report`;
/// `upper` (or -1) is the overlay's upper dir, to tell which directories
/// a stub copied up. With `nodev`, device nodes on the rootfs cannot be
/// opened: a step may still `mknod` (CAP_MKNOD, as under Docker), but not
/// read the host's disks through the node, which Docker prevents with its
/// device cgroup.
pub(super) fn setup(
    rootfs: &CStr,
    upper: c_int,
    nodev: bool,
    ops: &[Op],
    report: *mut Report,
) -> Result<(), SetupError> {
    let prep = |e| (PREPARE, Step::Target, e);
    // Nothing we mount may propagate back to the caller's namespace.
    sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None).map_err(prep)?;
    // pivot_root needs a mount point; the rootfs may be a plain directory.
    sys::mount(
        Some(rootfs),
        rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(prep)?;
    let root =
        sys::openat(libc::AT_FDCWD, rootfs, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(prep)?;
    if nodev {
        sys::mount_setattr(root.raw(), sys::MOUNT_ATTR_NODEV, false).map_err(prep)?;
    }
    let root_mnt = sys::statx(root.raw(), c"", 0, libc::STATX_MNT_ID)
        .map_err(prep)?
        .stx_mnt_id;

    let mut m = Mounter {
        root: root.raw(),
        root_mnt,
        upper,
        report,
        resolved: PathBuf4k::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        m.run(op).map_err(|(step, e)| (i, step, e))?;
    }
    pivot(root.raw()).map_err(|e| (PREPARE, Step::Mount, e))
}

struct Mounter {
    root: c_int,
    root_mnt: u64,
    upper: c_int,
    report: *mut Report,
    resolved: PathBuf4k,
}

type StepResult = Result<(), (Step, Errno)>;

impl Mounter {
    fn target(&mut self, t: &Target) -> Result<Fd, (Step, Errno)> {
        let (root_mnt, upper, report) = (self.root_mnt, self.upper, self.report);
        let mut copied_up = false;
        let mut record = |c: &Created| {
            if c.parent_before.stx_mnt_id != root_mnt {
                return Ok(()); // in a tmpfs or a bind mount: not ours to clean
            }
            if !c.done {
                copied_up = copies_up_parent(upper, c.path);
                return Ok(());
            }
            record_stub(c, copied_up, report)
        };
        resolve::resolve(
            self.root,
            t.path.to_bytes(),
            t.create,
            &mut self.resolved,
            &mut record,
        )
        .map_err(|e| (Step::Target, e))
    }

    fn run(&mut self, op: &Op) -> StepResult {
        match op {
            Op::Fs {
                target,
                fstype,
                flags,
                data,
            } => {
                let fd = self.target(target)?;
                sys::mount(
                    Some(fstype),
                    ProcFd::new(fd.raw()).as_cstr(),
                    Some(fstype),
                    *flags,
                    data.as_deref(),
                )
                .map_err(|e| (Step::Mount, e))
            }
            Op::Bind {
                target,
                source,
                readonly,
            } => {
                let fd = self.target(target)?;
                sys::mount(
                    Some(source),
                    ProcFd::new(fd.raw()).as_cstr(),
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(|e| (Step::Mount, e))?;
                if *readonly {
                    let top = resolve::reopen(self.root, &self.resolved, libc::O_PATH)
                        .map_err(|e| (Step::ReadOnly, e))?;
                    let attrs = sys::MOUNT_ATTR_RDONLY;
                    sys::mount_setattr(top.raw(), attrs, true).map_err(|e| (Step::ReadOnly, e))?;
                }
                Ok(())
            }
            Op::Mask { path } => {
                let Some(fd) = existing(self.root, path).map_err(|e| (Step::Target, e))? else {
                    return Ok(());
                };
                let st = sys::statx(fd.raw(), c"", 0, libc::STATX_TYPE)
                    .map_err(|e| (Step::Target, e))?;
                let at = ProcFd::new(fd.raw());
                if u32::from(st.stx_mode) & libc::S_IFMT == libc::S_IFDIR {
                    sys::mount(
                        Some(c"tmpfs"),
                        at.as_cstr(),
                        Some(c"tmpfs"),
                        libc::MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        None,
                    )
                } else {
                    sys::mount(Some(c"/dev/null"), at.as_cstr(), None, libc::MS_BIND, None)
                }
                .map_err(|e| (Step::Mount, e))
            }
            Op::ReadOnly { path } => {
                let Some(fd) = existing(self.root, path).map_err(|e| (Step::Target, e))? else {
                    return Ok(());
                };
                let at = ProcFd::new(fd.raw());
                sys::mount(
                    Some(at.as_cstr()),
                    at.as_cstr(),
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(|e| (Step::Mount, e))?;
                let top = existing(self.root, path)
                    .map_err(|e| (Step::ReadOnly, e))?
                    .ok_or((Step::ReadOnly, libc::ENOENT))?;
                let attrs = sys::MOUNT_ATTR_RDONLY
                    | sys::MOUNT_ATTR_NOSUID
                    | sys::MOUNT_ATTR_NODEV
                    | sys::MOUNT_ATTR_NOEXEC;
                sys::mount_setattr(top.raw(), attrs, true).map_err(|e| (Step::ReadOnly, e))
            }
            Op::Devices { dev, nodes } => {
                let dev = self.target(dev)?;
                for node in nodes {
                    make_node(dev.raw(), node).map_err(|e| (Step::Device, e))?;
                }
                Ok(())
            }
        }
    }
}

/// An `O_PATH` descriptor of `path` (no symlinks allowed), `None` if it
/// does not exist.
fn existing(root: c_int, path: &CStr) -> Result<Option<Fd>, Errno> {
    match sys::openat2(
        root,
        path,
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
        sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS | sys::RESOLVE_NO_MAGICLINKS,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(libc::ENOENT) | Err(libc::ENOTDIR) => Ok(None),
        Err(e) => Err(e),
    }
}

fn make_node(dev: c_int, node: &Node) -> Result<(), Errno> {
    let path = node.path.as_c_str();
    let r = match &node.kind {
        NodeKind::Dir(mode) => sys::mkdirat(dev, path, *mode),
        NodeKind::Symlink(to) => sys::symlinkat(to, dev, path),
        NodeKind::Device { mode, rdev, host } => match sys::mknodat(dev, path, *mode, *rdev) {
            Err(libc::EPERM) => {
                // No CAP_MKNOD or a device cgroup: bind the host's node.
                let file = sys::openat(
                    dev,
                    path,
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
                    0o666,
                )?;
                return sys::mount(
                    Some(host),
                    ProcFd::new(file.raw()).as_cstr(),
                    None,
                    libc::MS_BIND,
                    None,
                );
            }
            r => r,
        },
    };
    match r {
        Ok(()) | Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether creating `path` copies its parent up into the upper dir: the
/// parent is not there yet but its own parent is.
fn copies_up_parent(upper: c_int, path: &[u8]) -> bool {
    if upper < 0 {
        return false;
    }
    let Some(cut) = path.iter().rposition(|&b| b == b'/') else {
        return false; // the parent is the root, always in the upper dir
    };
    let parent = &path[..cut];
    let grandparent = &parent[..parent.iter().rposition(|&b| b == b'/').unwrap_or(0)];
    in_upper(upper, grandparent) && !in_upper(upper, parent)
}

fn in_upper(upper: c_int, path: &[u8]) -> bool {
    if path.is_empty() {
        return true;
    }
    let mut p = PathBuf4k::new();
    if p.push(path).is_err() {
        return true; // unknown: claim it was there, so nothing is removed
    }
    sys::statx(
        upper,
        p.as_cstr(),
        libc::AT_SYMLINK_NOFOLLOW,
        libc::STATX_TYPE,
    )
    .is_ok()
}

/// Records a mount point created in the rootfs in the report.
fn record_stub(c: &Created, copied_up: bool, report: *mut Report) -> Result<(), Errno> {
    let st = sys::statx(c.parent, c.name, libc::AT_SYMLINK_NOFOLLOW, libc::STATX_INO)?;
    let after = sys::statx(c.parent, c"", 0, libc::STATX_BASIC_STATS)?;
    let stub = Stub {
        dir: u32::from(c.dir),
        dev_major: st.stx_dev_major,
        dev_minor: st.stx_dev_minor,
        parent_copied_up: u32::from(copied_up),
        ino: st.stx_ino,
        parent_atime: Ts::of(&c.parent_before.stx_atime),
        parent_mtime: Ts::of(&c.parent_before.stx_mtime),
        parent_mtime_after: Ts::of(&after.stx_mtime),
        parent_ctime_after: Ts::of(&after.stx_ctime),
        parent_mode: u32::from(after.stx_mode),
        parent_uid: after.stx_uid,
        parent_gid: after.stx_gid,
        ..Stub::default()
    };
    report::push_stub(report, stub, c.path)
}

/// `pivot_root` into `root` and detach the old root.
fn pivot(root: c_int) -> Result<(), Errno> {
    sys::syscall!(libc::SYS_fchdir, root)?;
    sys::syscall!(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr())?;
    // The old root is now stacked on "/": detach it.
    sys::syscall!(libc::SYS_umount2, c".".as_ptr(), libc::MNT_DETACH)?;
    sys::syscall!(libc::SYS_chdir, c"/".as_ptr())?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Caller side, after the run.

/// The upper dir of the overlay mounted at `root` (from
/// `/proc/thread-self/mountinfo`: the calling
/// thread's mount namespace), `None` when `root` is not an overlay's root.
pub(super) fn upper_dir(root: c_int) -> Option<std::path::PathBuf> {
    const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
    // SAFETY: statfs is plain old data; valid out pointer.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(root, &mut fs) } < 0 || fs.f_type as i64 != OVERLAYFS_SUPER_MAGIC {
        return None;
    }
    let mnt_id = sys::statx(root, c"", 0, libc::STATX_MNT_ID)
        .ok()?
        .stx_mnt_id;
    let text = std::fs::read_to_string("/proc/thread-self/mountinfo").ok()?;
    let line = text
        .lines()
        .find(|l| l.split(' ').next().and_then(|id| id.parse::<u64>().ok()) == Some(mnt_id))?;
    let fields: Vec<&str> = line.split(' ').collect();
    let within = unescape(fields.get(3)?);
    let dash = fields.iter().position(|&f| f == "-")?;
    let options = fields.get(dash + 3)?;
    let upper = options
        .split(',')
        .find_map(|o| o.strip_prefix("upperdir="))?;
    let upper = std::path::PathBuf::from(
        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(unescape(upper)),
    );
    // A bind of a subdirectory of the overlay: the same subdirectory of
    // the upper dir.
    let within = String::from_utf8_lossy(&within).into_owned();
    Some(upper.join(within.trim_start_matches('/')))
}

/// Undoes mountinfo's octal escapes (`\040` for a space...).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// What [`remove_stubs`] knows of one parent directory of stubs.
struct Parent {
    path: Vec<u8>,
    /// Its ctime as our own changes left it.
    expected_ctime: Ts,
    mode: u32,
    uid: u32,
    gid: u32,
    /// Copied up to the upper dir by the first stub made in it.
    copied_up: bool,
    /// Changed by someone else than us since.
    touched: bool,
}

/// Removes the mount stubs recorded in `stubs` (newest first) from the
/// rootfs `root`, each only if it is still the same empty file or
/// directory, and puts back its parent's timestamps: those from before the
/// stub was made when nothing else touched the parent since, else those
/// from just before the removal (as BuildKit does).
///
/// With `upper` (the overlay's upper dir): a parent directory that only
/// got into the upper dir because a stub was created in it (an image's
/// `/etc` when `/etc/resolv.conf` was missing) and that nothing else
/// changed is removed from the upper dir too, so the layer does not
/// repeat it. Returns how many entries were removed.
pub(super) fn remove_stubs(root: c_int, upper: Option<c_int>, stubs: &[(Stub, Vec<u8>)]) -> usize {
    let mut removed = 0;
    let mut parents: Vec<Parent> = Vec::new();
    for (stub, path) in stubs.iter().rev() {
        let parent_path = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => path[..i].to_vec(),
            None => Vec::new(),
        };
        let at = match parents.iter().position(|p| p.path == parent_path) {
            Some(at) => at,
            None => {
                parents.push(Parent {
                    path: parent_path,
                    expected_ctime: stub.parent_ctime_after,
                    mode: stub.parent_mode,
                    uid: stub.parent_uid,
                    gid: stub.parent_gid,
                    copied_up: false,
                    touched: false,
                });
                parents.len() - 1
            }
        };
        // Newest first: the last stub seen in a parent is the first made.
        parents[at].copied_up = stub.parent_copied_up != 0;
        if remove_stub(root, stub, path, &mut parents[at]).is_ok() {
            removed += 1;
        }
    }
    if let Some(upper) = upper {
        // Deepest first, so a parent emptied by its child's removal goes too.
        parents.sort_by_key(|p| std::cmp::Reverse(p.path.iter().filter(|&&b| b == b'/').count()));
        for parent in parents.iter().filter(|p| p.copied_up && !p.touched) {
            if remove_copied_up(upper, parent).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

fn c_path(path: &[u8]) -> Result<CString, Errno> {
    if path.is_empty() {
        Ok(c".".to_owned())
    } else {
        CString::new(path).map_err(|_| libc::EINVAL)
    }
}

fn remove_stub(root: c_int, stub: &Stub, path: &[u8], parent: &mut Parent) -> Result<(), Errno> {
    let name = match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    };
    let name = CString::new(name).map_err(|_| libc::EINVAL)?;
    let dir = sys::openat2(
        root,
        &c_path(&parent.path)?,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
        sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS | sys::RESOLVE_NO_MAGICLINKS,
    )?;
    let st = sys::statx(
        dir.raw(),
        &name,
        libc::AT_SYMLINK_NOFOLLOW,
        libc::STATX_TYPE | libc::STATX_INO | libc::STATX_SIZE,
    )?;
    let kind = u32::from(st.stx_mode) & libc::S_IFMT;
    let same = st.stx_ino == stub.ino
        && st.stx_dev_major == stub.dev_major
        && st.stx_dev_minor == stub.dev_minor;
    let empty_kind = if stub.dir != 0 {
        kind == libc::S_IFDIR
    } else {
        kind == libc::S_IFREG && st.stx_size == 0
    };
    if !same || !empty_kind {
        parent.touched = true;
        return Err(libc::EEXIST);
    }
    let before = sys::statx(dir.raw(), c"", 0, libc::STATX_BASIC_STATS)?;
    if Ts::of(&before.stx_ctime) != parent.expected_ctime {
        parent.touched = true;
    }
    let flags = if stub.dir != 0 { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: plain system call; a non-empty directory fails ENOTEMPTY.
    if let Err(e) = sys::check(unsafe { libc::unlinkat(dir.raw(), name.as_ptr(), flags) }) {
        parent.touched = true;
        return Err(e);
    }
    let untouched = Ts::of(&before.stx_mtime) == stub.parent_mtime_after;
    let times = if untouched {
        [stub.parent_atime.timespec(), stub.parent_mtime.timespec()]
    } else {
        [
            Ts::of(&before.stx_atime).timespec(),
            Ts::of(&before.stx_mtime).timespec(),
        ]
    };
    // SAFETY: two valid timespecs.
    sys::check(unsafe { libc::futimens(dir.raw(), times.as_ptr()) })?;
    let after = sys::statx(dir.raw(), c"", 0, libc::STATX_CTIME)?;
    parent.expected_ctime = Ts::of(&after.stx_ctime);
    Ok(())
}

/// Removes `parent` from the upper dir if it is still the empty,
/// unchanged copy made when a stub was created in it.
fn remove_copied_up(upper: c_int, parent: &Parent) -> Result<(), Errno> {
    let path = c_path(&parent.path)?;
    let st = sys::statx(
        upper,
        &path,
        libc::AT_SYMLINK_NOFOLLOW,
        libc::STATX_BASIC_STATS,
    )?;
    if u32::from(st.stx_mode) != parent.mode
        || st.stx_uid != parent.uid
        || st.stx_gid != parent.gid
        || Ts::of(&st.stx_ctime) != parent.expected_ctime
    {
        return Err(libc::EEXIST);
    }
    // An opaque directory hides the lower one: not a plain copy.
    for name in [c"trusted.overlay.opaque", c"user.overlay.opaque"] {
        let dir = sys::openat(
            upper,
            &path,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        // SAFETY: a size query (NULL buffer).
        let r = unsafe { libc::fgetxattr(dir.raw(), name.as_ptr(), std::ptr::null_mut(), 0) };
        if r >= 0 {
            return Err(libc::EEXIST);
        }
    }
    // SAFETY: plain system call; fails ENOTEMPTY if anything is inside.
    sys::check(unsafe { libc::unlinkat(upper, path.as_ptr(), libc::AT_REMOVEDIR) }).map(drop)
}
