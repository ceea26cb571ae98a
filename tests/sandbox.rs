//! The RUN sandbox through the real binary: isolation and privileges as a
//! step sees them, what its layer holds, interruption, deep layer chains.

mod common;

use std::io::BufRead;
use std::process::Stdio;

use common::base::{build, layers, with_base};
use common::{context, layer_file, layer_listing, text, Kiln};

/// Processes whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

/// Runs a build whose RUN sleeps, sends `signal` once the step runs, and
/// checks that kiln cleans up and exits 128 + signal.
fn interrupt_a_running_step(kiln: &Kiln, signal: i32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let seconds = format!("{}", 100_000 + nanos % 100_000);
    let df = format!("FROM base:1\nRUN echo step-started && sleep {seconds}\n");
    let dir = context(&[("Dockerfile", &df)]);
    let mut child = kiln
        .cmd(dir.path(), &["build", "--no-cache", "."])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.ends_with(" step-started") {
            break;
        }
    }
    assert!(log.contains("step-started"), "{log}");
    // The shell prints before it starts `sleep`: wait for the process.
    let needle = format!("sleep {seconds}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while processes_with(&needle).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(processes_with(&needle).len(), 1, "the step runs");
    // SAFETY: signalling the child we started, by its PID.
    unsafe { libc::kill(child.id() as i32, signal) };
    for line in lines {
        log.push_str(&line.unwrap());
        log.push('\n');
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + signal), "{log}");
    let word = if signal == libc::SIGINT {
        "interrupted"
    } else {
        "terminated"
    };
    assert!(log.contains(&format!("error: {word}")), "{log}");
    // Killed with the step's PID namespace; give the kernel a moment to
    // finish tearing it down.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !processes_with(&needle).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(processes_with(&needle), Vec::<String>::new());
    // Nothing left behind: no scratch directory (its mounts were under
    // it), no snapshot being prepared.
    let tmp = kiln.root.path().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(kiln.root.path().to_str().unwrap()));
}

#[test]
fn a_signal_stops_the_running_step_and_cleans_up() {
    let (kiln, _base) = with_base();
    let snapshots = || {
        std::fs::read_dir(kiln.root.path().join("snapshots"))
            .unwrap()
            .count()
    };
    // Whatever FROM base:1 prepares is in place before the interruptions.
    let (out, _dir) = build(&kiln, "FROM base:1\nRUN true\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = snapshots();
    interrupt_a_running_step(&kiln, libc::SIGINT);
    interrupt_a_running_step(&kiln, libc::SIGTERM);
    assert_eq!(
        snapshots(),
        before,
        "no snapshot of an interrupted step is left"
    );
    // The store is fine for the next build.
    let (out, dir) = build(&kiln, "FROM base:1\nRUN echo after > /after\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        layer_file(layers(dir.path()).last().unwrap(), "after"),
        "after\n"
    );
    assert_eq!(snapshots(), before + 1);
}

#[test]
fn a_step_on_top_of_150_layers_sees_them_all() {
    let (kiln, _base) = with_base();
    let mut df = String::from("FROM base:1\n");
    let mut files = Vec::new();
    for i in 0..150 {
        df.push_str(&format!("COPY f{i} /d/\n"));
        files.push((format!("f{i}"), format!("{i}\n")));
    }
    df.push_str("RUN ls /d | wc -l > /count && cat /d/f0 /d/f1 /d/f149 > /ends && rm /d/f0\n");
    let dir = context(&[("Dockerfile", df.as_str())]);
    for (name, data) in &files {
        std::fs::write(dir.path().join(name), data).unwrap();
    }
    // The lower dirs' names alone are longer than a page here.
    let per_layer = kiln.root.path().join("snapshots/99/fs").as_os_str().len() + 1;
    assert!(per_layer * 153 > 4096);
    kiln.ok(dir.path(), &["build", "-o", "type=local,dest=out", "."]);
    let out = dir.path().join("out");
    assert_eq!(std::fs::read_to_string(out.join("count")).unwrap(), "150\n");
    assert_eq!(
        std::fs::read_to_string(out.join("ends")).unwrap(),
        "0\n1\n149\n"
    );
    assert!(!out.join("d/f0").exists() && out.join("d/f1").exists());
}

/// Runs `script` (one RUN) on base:1 and returns the files it wrote to
/// `/r/NAME`, exported with `-o type=local`.
fn probe(kiln: &Kiln, script: &str) -> std::collections::BTreeMap<String, String> {
    let df = format!("FROM base:1\nRUN mkdir /r && {script}\n");
    let dir = context(&[("Dockerfile", df.as_str())]);
    kiln.ok(dir.path(), &["build", "-o", "type=local,dest=out", "."]);
    std::fs::read_dir(dir.path().join("out/r"))
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Docker's masked paths that this host has: (path, is a directory).
fn masked_paths() -> Vec<(&'static str, bool)> {
    [
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
    ]
    .into_iter()
    .filter_map(|p| std::fs::metadata(p).ok().map(|m| (p, m.is_dir())))
    .collect()
}

#[test]
fn a_step_is_isolated_from_the_host() {
    let (kiln, _base) = with_base();
    let masked = masked_paths();
    assert!(masked.len() >= 2, "{masked:?}");
    let mut script = String::new();
    for (i, (path, dir)) in masked.iter().enumerate() {
        let count = if *dir { "ls -A" } else { "cat" };
        let unit = if *dir { "-l" } else { "-c" };
        script.push_str(&format!("{count} {path} | wc {unit} > /r/masked{i}; "));
    }
    let r = probe(
        &kiln,
        &(script
            + "echo $$ > /r/pid; ls -d /proc/[0-9]* | wc -l > /r/procs; \
         ls /proc/self/fd > /r/fds; hostname > /r/hostname; \
         (echo x > /proc/sys/kernel/domainname) 2> /r/procsys; \
         mkdir /mnt; (mount -t tmpfs none /mnt && echo MOUNTED) > /r/mount 2>&1; \
         (unshare -m true && echo UNSHARED) > /r/unshare 2>&1; \
         (nsenter -t 1 -m -n true && echo ENTERED) > /r/nsenter 2>&1; \
         mknod /r/zero c 1 5; (head -c 16 /r/zero | wc -c) > /r/dev-read 2>&1; rm /r/zero; \
         ls /dev > /r/dev; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status > /r/status"),
    );
    let pid: u32 = r["pid"].trim().parse().unwrap();
    assert!(pid <= 2, "the step's shell is PID {pid}: own PID namespace");
    let procs: u32 = r["procs"].trim().parse().unwrap();
    assert!(procs <= 5, "only the step's processes are visible: {procs}");
    assert_eq!(
        r["fds"], "0\n1\n2\n3\n",
        "no host descriptor, only ls's own"
    );
    assert_eq!(r["hostname"], "buildkitsandbox\n");
    for (i, (path, _)) in masked.iter().enumerate() {
        assert_eq!(r[&format!("masked{i}")].trim(), "0", "{path} is masked");
    }
    assert!(
        r["procsys"].contains("Read-only file system"),
        "{}",
        r["procsys"]
    );
    assert!(!r["mount"].contains("MOUNTED"), "{}", r["mount"]);
    assert!(r["mount"].contains("permission denied"), "{}", r["mount"]);
    assert!(!r["unshare"].contains("UNSHARED"), "{}", r["unshare"]);
    assert!(!r["nsenter"].contains("ENTERED"), "{}", r["nsenter"]);
    // A device node can be made (CAP_MKNOD, as in Docker) but not opened:
    // not even /dev/zero's numbers (Docker's device cgroup would allow
    // those, but no disk either).
    assert_eq!(r["dev-read"], "head: /r/zero: Permission denied\n0\n");
    let dev: Vec<&str> = r["dev"].lines().collect();
    for host_only in ["vda", "sda", "nvme0n1", "loop0", "mem", "kmsg"] {
        assert!(!dev.contains(&host_only), "{host_only} in /dev: {dev:?}");
    }
    assert!(
        r["status"].contains("CapEff:\t00000000a80425fb"),
        "{}",
        r["status"]
    );
    assert!(r["status"].contains("NoNewPrivs:\t1"), "{}", r["status"]);
    assert!(r["status"].contains("Seccomp:\t2"), "{}", r["status"]);
}

#[test]
fn deletions_and_replacements_reach_the_image() {
    let (kiln, _base) = with_base();
    let df = "FROM base:1\n\
        RUN mkdir -p /keep /gone /swap/sub && echo a > /keep/a && echo b > /gone/b && echo c > /swap/sub/c && echo f > /file\n\
        RUN rm -r /gone /file && rm -r /swap && mkdir /swap && echo new > /swap/new && rm /bin/vi\n";
    let (out, dir) = build(&kiln, df);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The layer holds whiteouts for the deleted paths and an opaque
    // directory for the replaced one.
    let top = layers(dir.path()).pop().unwrap();
    let listing = layer_listing(&top).join("\n");
    assert!(listing.contains(".wh.gone"), "{listing}");
    assert!(listing.contains(".wh.file"), "{listing}");
    assert!(listing.contains("bin/.wh.vi"), "{listing}");
    assert!(listing.contains("swap/.wh..wh..opq"), "{listing}");
    // And the final filesystem matches.
    kiln.ok(dir.path(), &["build", "-o", "type=local,dest=out", "."]);
    let out = dir.path().join("out");
    assert!(out.join("keep/a").exists());
    for gone in ["gone", "file", "swap/sub", "bin/vi"] {
        assert!(!out.join(gone).exists(), "{gone} is still there");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("swap/new")).unwrap(),
        "new\n"
    );
}

#[test]
fn user_owns_what_its_steps_create() {
    let (kiln, _base) = with_base();
    let df = "FROM base:1\nRUN mkdir -m 777 /w\nUSER app\nWORKDIR /w/home\nRUN id -u > mine && touch /w/also\nUSER 1234:2345\nRUN id > /w/numeric && touch /w/numeric-file\n";
    let (out, dir) = build(&kiln, df);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let l = layers(dir.path());
    let listing = |i: usize| layer_listing(&l[i]).join("\n");
    let app = listing(l.len() - 2);
    // tar -tv --numeric-owner: "mode uid/gid size date time path".
    assert!(
        app.lines()
            .any(|e| e.contains(" 1000/1000 ") && e.ends_with("w/home/mine")),
        "{app}"
    );
    assert!(
        app.lines()
            .any(|e| e.contains(" 1000/1000 ") && e.ends_with("w/also")),
        "{app}"
    );
    assert!(
        app.lines()
            .any(|e| e.contains(" 1000/1000 ") && e.ends_with("w/home/")),
        "WORKDIR is created for the user: {app}"
    );
    assert_eq!(layer_file(&l[l.len() - 2], "w/home/mine"), "1000\n");
    let numeric = listing(l.len() - 1);
    assert!(
        numeric
            .lines()
            .any(|e| e.contains(" 1234/2345 ") && e.ends_with("w/numeric-file")),
        "{numeric}"
    );
    assert!(layer_file(&l[l.len() - 1], "w/numeric").starts_with("uid=1234 gid=2345"));
}
