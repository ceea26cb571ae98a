//! The RUN sandbox through the real binary: isolation and privileges as a
//! step sees them, what its layer holds, interruption, deep layer chains.

mod common;

use std::io::BufRead;
use std::process::Stdio;

use common::base::{build, layers, with_base};
use common::{context, layer_file, text, Kiln};

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
    let needle = format!("sleep {seconds}");
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
