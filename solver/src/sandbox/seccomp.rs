//! The default seccomp filter: Docker's default profile, as a deny list.
//!
//! Docker's profile is an allow list; for the default capability set it
//! denies (with `EPERM`) exactly the system calls in [`DENY`] below —
//! module loading, kexec, mounts and the new mount API, namespaces
//! (`unshare`, `setns`, `clone` with a `CLONE_NEW*` flag), keyrings, bpf,
//! perf, userfaultfd, io_uring, clock setting, swap, reboot, quotas,
//! NUMA policy, `open_by_handle_at`, obsolete calls — plus `personality`
//! with anything but the harmless values and `socket(AF_ALG | AF_VSOCK)`.
//! `clone3` fails with `ENOSYS` (its flags are behind a pointer, so libc
//! falls back to `clone`, which can be checked). Unlike Docker, `ptrace`,
//! `process_vm_readv/writev` and `name_to_handle_at` are denied too.
//! System calls newer than this list are allowed: it is a deny list.
//!
//! One classic-BPF program covers x86_64 and i386 (32-bit programs get
//! the same rules by their own system call numbers; x32 system calls get
//! `ENOSYS`; other architectures are killed). Each architecture's rules are
//! a binary search over the system call number, not a chain: the kernel
//! emulates the filter for every system call number of both architectures
//! when it is installed (to cache the always-allowed ones) and JIT-compiles
//! it. `seccompiler`'s linear chain of ~90 rules (two filters) cost about
//! 0.5 ms per step to install on the reference machine; this ~330
//! instruction program, about 0.08 ms.

use std::sync::OnceLock;

use super::sys::{self, Errno};

/// A system call denied with `EPERM`: name, x86_64 and i386 numbers.
pub(super) struct Denied {
    /// For readers (and the header check in the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub name: &'static str,
    pub x86_64: Option<u32>,
    pub i386: Option<u32>,
}

const fn d(name: &'static str, x86_64: u32, i386: u32) -> Denied {
    Denied {
        name,
        x86_64: Some(x86_64),
        i386: Some(i386),
    }
}

const fn d64(name: &'static str, x86_64: u32) -> Denied {
    Denied {
        name,
        x86_64: Some(x86_64),
        i386: None,
    }
}

const fn d32(name: &'static str, i386: u32) -> Denied {
    Denied {
        name,
        x86_64: None,
        i386: Some(i386),
    }
}

/// Denied unconditionally.
pub(super) const DENY: &[Denied] = &[
    // Docker: needs CAP_SYS_PTRACE; here always (no tracing in a build step).
    d("ptrace", 101, 26),
    d("process_vm_readv", 310, 347),
    d("process_vm_writev", 311, 348),
    d("name_to_handle_at", 303, 341),
    // Docker denies these for the default capability set.
    d("syslog", 103, 103),
    d("uselib", 134, 86),
    d("ustat", 136, 62),
    d("sysfs", 139, 135),
    d("vhangup", 153, 111),
    d("pivot_root", 155, 217),
    d("_sysctl", 156, 149),
    d("acct", 163, 51),
    d("settimeofday", 164, 79),
    d32("stime", 25),
    d("mount", 165, 21),
    d32("umount", 22),
    d("umount2", 166, 52),
    d("swapon", 167, 87),
    d("swapoff", 168, 115),
    d("reboot", 169, 88),
    d("sethostname", 170, 74),
    d("setdomainname", 171, 121),
    d("iopl", 172, 110),
    d("ioperm", 173, 101),
    d32("vm86old", 113),
    d32("vm86", 166),
    d32("idle", 112),
    d32("bdflush", 134),
    d("create_module", 174, 127),
    d("init_module", 175, 128),
    d("delete_module", 176, 129),
    d("get_kernel_syms", 177, 130),
    d("query_module", 178, 167),
    d("quotactl", 179, 131),
    d("nfsservctl", 180, 169),
    d("getpmsg", 181, 188),
    d("putpmsg", 182, 189),
    d("afs_syscall", 183, 137),
    d64("tuxcall", 184),
    d64("security", 185),
    d("lookup_dcookie", 212, 253),
    d("clock_settime", 227, 264),
    d32("clock_settime64", 404),
    d("vserver", 236, 273),
    d("mbind", 237, 274),
    d("set_mempolicy", 238, 276),
    d("get_mempolicy", 239, 275),
    d("kexec_load", 246, 283),
    d("add_key", 248, 286),
    d("request_key", 249, 287),
    d("keyctl", 250, 288),
    d("migrate_pages", 256, 294),
    d("unshare", 272, 310),
    d("move_pages", 279, 317),
    d("perf_event_open", 298, 336),
    d("fanotify_init", 300, 338),
    d("open_by_handle_at", 304, 342),
    d("setns", 308, 346),
    d("kcmp", 312, 349),
    d("finit_module", 313, 350),
    d64("kexec_file_load", 320),
    d("bpf", 321, 357),
    d("userfaultfd", 323, 374),
    d("io_uring_setup", 425, 425),
    d("io_uring_enter", 426, 426),
    d("io_uring_register", 427, 427),
    d("open_tree", 428, 428),
    d("move_mount", 429, 429),
    d("fsopen", 430, 430),
    d("fsconfig", 431, 431),
    d("fsmount", 432, 432),
    d("fspick", 433, 433),
    d("pidfd_getfd", 438, 438),
    d("process_madvise", 440, 440),
    d("mount_setattr", 442, 442),
    d("quotactl_fd", 443, 443),
    d("set_mempolicy_home_node", 450, 450),
    d("lsm_get_self_attr", 459, 459),
    d("lsm_set_self_attr", 460, 460),
    d("lsm_list_modules", 461, 461),
    d("open_tree_attr", 467, 467),
];

const CLONE_X86_64: u32 = 56;
const CLONE_I386: u32 = 120;
const PERSONALITY_X86_64: u32 = 135;
const PERSONALITY_I386: u32 = 136;
const SOCKET_X86_64: u32 = 41;
const SOCKET_I386: u32 = 359;
const CLONE3: u32 = 435;

/// `clone` flags that create namespaces (Docker's mask `0x7e020000`).
const CLONE_NS_FLAGS: [u32; 7] = [
    libc::CLONE_NEWNS as u32,
    libc::CLONE_NEWCGROUP as u32,
    libc::CLONE_NEWUTS as u32,
    libc::CLONE_NEWIPC as u32,
    libc::CLONE_NEWUSER as u32,
    libc::CLONE_NEWPID as u32,
    libc::CLONE_NEWNET as u32,
];

/// `personality` values Docker allows: PER_LINUX, PER_LINUX32,
/// UNAME26, PER_LINUX32|UNAME26 and the query 0xffffffff.
const PERSONALITY_ALLOWED: [u32; 5] = [0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Socket families Docker denies: AF_ALG and AF_VSOCK.
const SOCKET_DENIED: [u32; 2] = [38, 40];

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Classic BPF.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
const BPF_JMP_JSET_K: u16 = 0x05 | 0x40;
const BPF_RET_K: u16 = 0x06;
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARG0_LO: u32 = 16;

const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;

/// The compiled filter.
pub(super) struct Filters {
    pub program: Vec<libc::sock_filter>,
}

/// The default filter, compiled once per process.
pub(super) fn filters() -> Result<&'static Filters, String> {
    static FILTERS: OnceLock<Result<Filters, String>> = OnceLock::new();
    FILTERS
        .get_or_init(|| {
            Ok(Filters {
                program: compile()?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A tiny assembler with forward labels.
struct Asm {
    /// Reach far labels through an extra `JA` (conditional jumps reach
    /// 255 instructions only); off when everything is near, which keeps
    /// the program short.
    far: bool,
    insns: Vec<libc::sock_filter>,
    /// (instruction index, true-target label, false-target label); for JA
    /// the true target goes in `k`.
    fixups: Vec<(usize, Option<usize>, Option<usize>)>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn new(far: bool) -> Asm {
        Asm {
            far,
            insns: Vec::new(),
            fixups: Vec::new(),
            labels: Vec::new(),
        }
    }

    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn bind(&mut self, label: usize) {
        self.labels[label] = Some(self.insns.len());
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.insns.push(libc::sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        });
    }

    /// A conditional jump; `None` targets fall through.
    fn jump(&mut self, code: u16, k: u32, jt: Option<usize>, jf: Option<usize>) {
        self.fixups.push((self.insns.len(), jt, jf));
        self.stmt(code, k);
    }

    fn goto(&mut self, label: usize) {
        self.fixups.push((self.insns.len(), Some(label), None));
        self.stmt(BPF_JMP_JA, 0);
    }

    fn finish(mut self) -> Result<Vec<libc::sock_filter>, String> {
        for (at, jt, jf) in std::mem::take(&mut self.fixups) {
            let distance = |label: Option<usize>| -> Result<u32, String> {
                let Some(label) = label else { return Ok(0) };
                let target = self.labels[label].ok_or("unbound label")?;
                if target <= at {
                    return Err("backward seccomp jump".into());
                }
                Ok((target - at - 1) as u32)
            };
            let (t, f) = (distance(jt)?, distance(jf)?);
            let insn = &mut self.insns[at];
            if insn.code == BPF_JMP_JA {
                insn.k = t;
            } else {
                insn.jt = u8::try_from(t).map_err(|_| "seccomp jump too far")?;
                insn.jf = u8::try_from(f).map_err(|_| "seccomp jump too far")?;
            }
        }
        if self.insns.len() > 4096 {
            return Err("seccomp filter too long".into());
        }
        Ok(self.insns)
    }

    /// If the accumulator `code`-compares true with `k`, jump to `label`,
    /// however far (a conditional jump reaches 255 instructions only).
    fn jump_far(&mut self, code: u16, k: u32, label: usize) {
        if !self.far {
            self.jump(code, k, Some(label), None);
            return;
        }
        let skip = self.label();
        self.jump(code, k, None, Some(skip));
        self.goto(label);
        self.bind(skip);
    }

    /// Jumps to the label of the system call number in the accumulator
    /// (a binary search over `entries`, sorted by number), else to
    /// `default`.
    fn dispatch(&mut self, entries: &[(u32, usize)], default: usize) {
        if entries.len() <= 3 {
            for &(nr, label) in entries {
                self.jump_far(BPF_JMP_JEQ_K, nr, label);
            }
            self.goto(default);
            return;
        }
        let mid = entries.len() / 2;
        let upper = self.label();
        self.jump_far(BPF_JMP_JGE_K, entries[mid].0, upper);
        self.dispatch(&entries[..mid], default);
        self.bind(upper);
        self.dispatch(&entries[mid..], default);
    }

    /// The rules of one architecture, its system call number loaded.
    fn arch_rules(&mut self, denied: &[u32], clone: u32, personality: u32, socket: u32) {
        let (eperm, enosys, allow) = (self.label(), self.label(), self.label());
        let (clone_l, personality_l, socket_l) = (self.label(), self.label(), self.label());
        let mut entries: Vec<(u32, usize)> = denied.iter().map(|&nr| (nr, eperm)).collect();
        entries.push((CLONE3, enosys));
        entries.push((clone, clone_l));
        entries.push((personality, personality_l));
        entries.push((socket, socket_l));
        entries.sort_unstable();
        entries.dedup_by_key(|e| e.0);
        self.dispatch(&entries, allow);

        self.bind(clone_l);
        self.stmt(BPF_LD_W_ABS, OFF_ARG0_LO);
        let mask = CLONE_NS_FLAGS.iter().fold(0, |m, f| m | f);
        self.jump(BPF_JMP_JSET_K, mask, Some(eperm), Some(allow));

        self.bind(personality_l);
        self.stmt(BPF_LD_W_ABS, OFF_ARG0_LO);
        for value in PERSONALITY_ALLOWED {
            self.jump(BPF_JMP_JEQ_K, value, Some(allow), None);
        }
        self.goto(eperm);

        self.bind(socket_l);
        self.stmt(BPF_LD_W_ABS, OFF_ARG0_LO);
        for family in SOCKET_DENIED {
            self.jump(BPF_JMP_JEQ_K, family, Some(eperm), None);
        }
        self.goto(allow);

        self.bind(eperm);
        self.stmt(BPF_RET_K, RET_EPERM);
        self.bind(enosys);
        self.stmt(BPF_RET_K, RET_ENOSYS);
        self.bind(allow);
        self.stmt(BPF_RET_K, RET_ALLOW);
    }
}

fn compile() -> Result<Vec<libc::sock_filter>, String> {
    // Short jumps if they reach (the kernel's install cost grows with the
    // program), else the long form.
    assemble(false).or_else(|_| assemble(true))
}

fn assemble(far: bool) -> Result<Vec<libc::sock_filter>, String> {
    let mut a = Asm::new(far);
    let (x86_64, native, i386, i386_rules) = (a.label(), a.label(), a.label(), a.label());

    a.stmt(BPF_LD_W_ABS, OFF_ARCH);
    a.jump_far(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, x86_64);
    a.goto(i386);
    a.bind(x86_64);
    a.stmt(BPF_LD_W_ABS, OFF_NR);
    // x32 system calls (x86_64 arch, numbers with bit 30 set): ENOSYS.
    a.jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, None, Some(native));
    a.stmt(BPF_RET_K, RET_ENOSYS);
    a.bind(native);
    let denied: Vec<u32> = DENY.iter().filter_map(|d| d.x86_64).collect();
    a.arch_rules(&denied, CLONE_X86_64, PERSONALITY_X86_64, SOCKET_X86_64);

    a.bind(i386);
    // Any other architecture: killed.
    a.jump(BPF_JMP_JEQ_K, AUDIT_ARCH_I386, Some(i386_rules), None);
    a.stmt(BPF_RET_K, RET_KILL);
    a.bind(i386_rules);
    a.stmt(BPF_LD_W_ABS, OFF_NR);
    let denied: Vec<u32> = DENY.iter().filter_map(|d| d.i386).collect();
    a.arch_rules(&denied, CLONE_I386, PERSONALITY_I386, SOCKET_I386);
    a.finish()
}

/// Installs `filters` on the calling thread. Async-signal-safe. Needs
/// `no_new_privs` or CAP_SYS_ADMIN.
pub(super) fn install(filters: &Filters) -> Result<(), Errno> {
    let prog = libc::sock_fprog {
        len: filters.program.len() as u16,
        filter: filters.program.as_ptr() as *mut libc::sock_filter,
    };
    sys::syscall!(
        libc::SYS_seccomp,
        libc::SECCOMP_SET_MODE_FILTER,
        0,
        &prog as *const libc::sock_fprog
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn header(path: &str) -> Option<HashMap<String, u32>> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut map = HashMap::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if let (Some("#define"), Some(name), Some(nr)) =
                (words.next(), words.next(), words.next())
            {
                if let (Some(name), Ok(nr)) = (name.strip_prefix("__NR_"), nr.parse()) {
                    map.insert(name.to_string(), nr);
                }
            }
        }
        Some(map)
    }

    /// The numbers in [`DENY`] match the kernel headers, where installed.
    #[test]
    fn syscall_numbers_match_the_headers() {
        let tables = [
            ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", true),
            ("/usr/include/x86_64-linux-gnu/asm/unistd_32.h", false),
        ];
        for (path, is64) in tables {
            let Some(table) = header(path) else { continue };
            for d in DENY {
                let nr = if is64 { d.x86_64 } else { d.i386 };
                if let (Some(nr), Some(&want)) = (nr, table.get(d.name)) {
                    assert_eq!(nr, want, "{} in {path}", d.name);
                }
            }
            let check = |name: &str, nr: u32| {
                if let Some(&want) = table.get(name) {
                    assert_eq!(nr, want, "{name} in {path}");
                }
            };
            if is64 {
                check("clone", CLONE_X86_64);
                check("personality", PERSONALITY_X86_64);
                check("socket", SOCKET_X86_64);
            } else {
                check("clone", CLONE_I386);
                check("personality", PERSONALITY_I386);
                check("socket", SOCKET_I386);
            }
            check("clone3", CLONE3);
        }
    }

    #[test]
    fn filter_compiles() {
        let f = filters().unwrap();
        assert!(f.program.len() > DENY.len(), "{}", f.program.len());
        // Short jumps suffice today (the long form is checked below).
        assert_eq!(f.program.len(), assemble(false).unwrap().len());
        assert!(assemble(true).unwrap().len() > f.program.len());
        assert_eq!(CLONE_NS_FLAGS.iter().fold(0, |m, f| m | f), 0x7e02_0000);
    }

    /// A classic-BPF interpreter for the instructions the filter uses.
    fn eval(prog: &[libc::sock_filter], arch: u32, nr: u32, arg0: u64) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = &prog[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => {
                    acc = match i.k {
                        OFF_NR => nr,
                        OFF_ARCH => arch,
                        OFF_ARG0_LO => arg0 as u32,
                        k => panic!("load at {k}"),
                    }
                }
                BPF_JMP_JA => pc += i.k as usize,
                BPF_JMP_JEQ_K | BPF_JMP_JGE_K | BPF_JMP_JSET_K => {
                    let taken = match i.code {
                        BPF_JMP_JEQ_K => acc == i.k,
                        BPF_JMP_JGE_K => acc >= i.k,
                        _ => acc & i.k != 0,
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                BPF_RET_K => return i.k,
                code => panic!("opcode {code:#x}"),
            }
        }
    }

    /// Every system call number of both architectures gets the intended
    /// answer.
    #[test]
    fn decisions_for_every_syscall_number() {
        decisions(&filters().unwrap().program);
        decisions(&assemble(true).unwrap());
    }

    fn decisions(prog: &[libc::sock_filter]) {
        let arches = [
            (
                AUDIT_ARCH_X86_64,
                true,
                CLONE_X86_64,
                PERSONALITY_X86_64,
                SOCKET_X86_64,
            ),
            (
                AUDIT_ARCH_I386,
                false,
                CLONE_I386,
                PERSONALITY_I386,
                SOCKET_I386,
            ),
        ];
        for (arch, is64, clone, personality, socket) in arches {
            let denied: Vec<u32> = DENY
                .iter()
                .filter_map(|d| if is64 { d.x86_64 } else { d.i386 })
                .collect();
            for nr in 0..600 {
                let want = if denied.contains(&nr) {
                    RET_EPERM
                } else if nr == CLONE3 {
                    RET_ENOSYS
                } else {
                    RET_ALLOW
                };
                if nr != clone && nr != personality && nr != socket {
                    assert_eq!(eval(prog, arch, nr, 0), want, "arch {arch:#x} nr {nr}");
                }
            }
            let ns = libc::CLONE_NEWUSER as u64;
            assert_eq!(eval(prog, arch, clone, libc::SIGCHLD as u64), RET_ALLOW);
            assert_eq!(
                eval(prog, arch, clone, ns | libc::SIGCHLD as u64),
                RET_EPERM
            );
            assert_eq!(eval(prog, arch, clone, libc::CLONE_NEWNS as u64), RET_EPERM);
            for p in PERSONALITY_ALLOWED {
                assert_eq!(eval(prog, arch, personality, p as u64), RET_ALLOW);
            }
            assert_eq!(eval(prog, arch, personality, 0x0040_0000), RET_EPERM);
            assert_eq!(eval(prog, arch, socket, libc::AF_INET as u64), RET_ALLOW);
            assert_eq!(eval(prog, arch, socket, libc::AF_VSOCK as u64), RET_EPERM);
            assert_eq!(eval(prog, arch, socket, libc::AF_ALG as u64), RET_EPERM);
        }
        assert_eq!(
            eval(prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, 0),
            RET_ENOSYS
        );
        assert_eq!(eval(prog, 0xc000_00b7, 1, 0), RET_KILL); // aarch64
    }

    /// Runs `probe` in a forked child with the filters installed and
    /// returns what it exited with. The child only makes system calls.
    fn in_filtered_child(probe: fn() -> i32) -> i32 {
        let f = filters().unwrap();
        // SAFETY: the child makes only async-signal-safe system calls and
        // leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if install(f).is_err() {
                    libc::_exit(200);
                }
                libc::_exit(probe());
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "status {status:#x}");
        libc::WEXITSTATUS(status)
    }

    /// The errno of a raw system call, 0 on success.
    fn errno_of(r: libc::c_long) -> i32 {
        if r < 0 {
            sys::errno()
        } else {
            0
        }
    }

    #[test]
    fn denied_calls_fail_with_eperm() {
        assert_eq!(
            in_filtered_child(|| errno_of(unsafe {
                libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0)
            })),
            libc::EPERM
        );
        assert_eq!(
            in_filtered_child(|| errno_of(unsafe {
                libc::syscall(libc::SYS_unshare, libc::CLONE_NEWNET)
            })),
            libc::EPERM
        );
        assert_eq!(
            in_filtered_child(|| errno_of(unsafe {
                libc::syscall(
                    libc::SYS_mount,
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    0,
                )
            })),
            libc::EPERM
        );
        assert_eq!(
            in_filtered_child(|| errno_of(unsafe { libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0) })),
            libc::EPERM
        );
        assert_eq!(
            in_filtered_child(|| errno_of(unsafe {
                libc::syscall(libc::SYS_personality, 0x0040_0000)
            })),
            libc::EPERM
        );
        assert_eq!(
            in_filtered_child(|| errno_of(unsafe {
                libc::syscall(libc::SYS_socket, libc::AF_VSOCK, libc::SOCK_STREAM, 0)
            })),
            libc::EPERM
        );
        // clone with a namespace flag
        assert_eq!(
            in_filtered_child(|| errno_of(unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWUTS | libc::SIGCHLD) as libc::c_ulong,
                    0,
                    0,
                    0,
                    0,
                )
            })),
            libc::EPERM
        );
        // clone3 says it does not exist, so libc falls back to clone
        assert_eq!(
            in_filtered_child(|| errno_of(unsafe { libc::syscall(libc::SYS_clone3, 0, 0) })),
            libc::ENOSYS
        );
        // x32 system calls are not available
        assert_eq!(
            in_filtered_child(|| errno_of(unsafe {
                libc::syscall(libc::SYS_getpid | X32_SYSCALL_BIT as libc::c_long)
            })),
            libc::ENOSYS
        );
    }

    #[test]
    fn ordinary_calls_still_work() {
        assert_eq!(
            in_filtered_child(|| errno_of(unsafe {
                libc::syscall(libc::SYS_personality, 0xffff_ffffu32)
            })),
            0
        );
        assert_eq!(
            in_filtered_child(|| {
                let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
                if fd < 0 {
                    return sys::errno();
                }
                // a plain fork (clone without namespace flags) works
                let pid = unsafe {
                    libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0, 0, 0, 0)
                };
                if pid == 0 {
                    unsafe { libc::_exit(0) };
                }
                if pid < 0 {
                    return sys::errno();
                }
                let mut status = 0;
                unsafe { libc::waitpid(pid as i32, &mut status, 0) };
                status
            }),
            0
        );
    }
}
