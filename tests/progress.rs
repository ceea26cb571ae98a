//! Progress output of `kiln build` through the real binary: plain
//! (BuildKit's format), rawjson events, quiet, the terminal view under a
//! pseudo-terminal (`script`), and the auto selection.

mod cli_support;
mod common;

use std::process::Command;

use cli_support::with_base;
use common::{context, text, Kiln};
use regex::Regex;
use serde_json::Value;

const TWO_STEPS: &str = "FROM base:1\nCOPY a.txt /a.txt\nRUN echo first; sleep 0.2; echo second\n";

#[test]
fn plain_numbers_steps_prefixes_output_and_marks_cached() {
    let kiln = with_base();
    let dir = context(&[("Dockerfile", TWO_STEPS), ("a.txt", "a")]);
    let log = kiln.ok(
        dir.path(),
        &["build", "--progress=plain", "-t", "two:1", "."],
    );
    let expect = [
        r"(?m)^#1 \[1/3\] FROM docker\.io/library/base:1@sha256:[0-9a-f]{64}$",
        r"(?m)^#2 \[2/3\] COPY a\.txt /a\.txt\n#2 DONE \d+\.\ds$",
        r"(?m)^#3 \[3/3\] RUN echo first; sleep 0\.2; echo second$",
        r"(?m)^#3 0\.\d{3} first\n#3 0\.[2-9]\d{2} second\n#3 DONE 0\.[2-9]s$",
        r"(?m)^#4 exporting to image\n#4 exporting layers done\n#4 writing image sha256:[0-9a-f]{64} done\n#4 naming to docker\.io/library/two:1 done\n#4 DONE \d+\.\ds$",
    ];
    for re in expect {
        assert!(Regex::new(re).unwrap().is_match(&log), "{re}\n{log}");
    }
    // Blocks are separated by a blank line.
    assert!(log.contains("#1 DONE"), "{log}");
    assert!(log.contains("s\n\n#2 [2/3]"), "{log}");

    let again = kiln.ok(dir.path(), &["build", "--progress=plain", "."]);
    assert!(
        Regex::new(r"(?m)^#1 \[3/3\] RUN echo first; sleep 0\.2; echo second\n#1 CACHED$")
            .unwrap()
            .is_match(&again),
        "{again}"
    );
}

#[test]
fn outside_a_terminal_the_default_is_plain() {
    let kiln = with_base();
    let dir = context(&[("Dockerfile", TWO_STEPS), ("a.txt", "a")]);
    let step = Regex::new(r"(?m)^#\d+ \[3/3\] RUN echo first").unwrap();
    for progress in [None, Some("--progress=auto"), Some("--progress=tty")] {
        let mut args = vec!["build"];
        args.extend(progress);
        args.push(".");
        let out = kiln
            .cmd(dir.path(), &args)
            .env_remove("CI")
            .output()
            .unwrap();
        let log = text(&out.stderr);
        assert!(out.status.success(), "{log}");
        assert!(step.is_match(&log), "{args:?}: {log}");
        assert!(!log.contains('\x1b'), "{args:?}: {log}");
    }
}

fn events(stderr: &[u8]) -> Vec<Value> {
    text(stderr)
        .lines()
        .take_while(|l| !l.starts_with("------") && !l.starts_with("error:"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[test]
fn rawjson_is_one_event_per_line() {
    let kiln = with_base();
    // `as` in lower case: a FromAsCasing check warning.
    let dir = context(&[
        (
            "Dockerfile",
            "FROM base:1 as build\nRUN echo out; exit 0\nRUN echo bad >&2; exit 5\n",
        ),
        ("a.txt", "a"),
    ]);
    let out = kiln.run(dir.path(), &["build", "--progress=rawjson", "."]);
    assert_eq!(out.status.code(), Some(1));
    let evs = events(&out.stderr);
    let kinds: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "started", "done", "started", "log", "done", "started", "log", "error", "warning",
            "failed"
        ],
        "{evs:#?}"
    );
    for e in &evs {
        assert!(e["time"].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(evs[2]["name"], "[2/3] RUN echo out; exit 0");
    assert_eq!(evs[3]["line"], "out");
    assert_eq!(evs[3]["step"], evs[2]["step"]);
    assert_eq!(evs[4]["exit_code"], 0);
    assert_eq!(evs[7]["exit_code"], 5);
    assert!(evs[7]["message"]
        .as_str()
        .unwrap()
        .ends_with("did not complete successfully: exit code: 5"));
    assert_eq!(evs[8]["rule"], "FromAsCasing");
    assert_eq!(evs[8]["line"], 1);
    assert_eq!(evs[8]["file"], "Dockerfile");
    // The human report still closes the stream.
    assert!(text(&out.stderr).contains("error: [3/3] RUN echo bad"));

    // A successful build ends with its result.
    std::fs::write(dir.path().join("Dockerfile"), "FROM base:1\nCOPY a.txt /\n").unwrap();
    let out = kiln.run(
        dir.path(),
        &["build", "--progress=rawjson", "-t", "j:1", "."],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let evs = events(&out.stderr);
    let last = evs.last().unwrap();
    assert_eq!(last["type"], "result");
    assert_eq!(last["tags"][0], "docker.io/library/j:1");
    assert!(last["image_id"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn quiet_modes() {
    let kiln = with_base();
    let dir = context(&[("Dockerfile", "FROM base:1\nRUN echo noise\n")]);
    let out = kiln.run(dir.path(), &["build", "--progress=quiet", "."]);
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), "");

    let out = kiln.run(dir.path(), &["build", "-q", "--iidfile", "id", "."]);
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "");
    let id = std::fs::read_to_string(dir.path().join("id")).unwrap();
    assert_eq!(text(&out.stdout), format!("{id}\n"));
}

/// Runs kiln under a pseudo-terminal (`script`); returns its output.
fn under_script(kiln: &Kiln, dir: &std::path::Path, args: &str, ci: bool) -> String {
    let bin = env!("CARGO_BIN_EXE_kiln");
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &format!("{bin} {args}"), "/dev/null"])
        .current_dir(dir)
        .env("KILN_ROOT", kiln.root.path());
    if ci {
        cmd.env("CI", "true");
    } else {
        cmd.env_remove("CI");
    }
    let out = cmd.output().unwrap();
    let log = text(&out.stdout);
    assert!(out.status.success(), "{log}{}", text(&out.stderr));
    log
}

#[test]
fn terminal_view_under_a_pty() {
    if !common::require("script") {
        return;
    }
    let kiln = with_base();
    let dir = context(&[(
        "Dockerfile",
        "FROM base:1\nRUN for i in 1 2 3 4; do echo line$i; sleep 0.2; done\n",
    )]);
    let log = under_script(&kiln, dir.path(), "build -t tty:1 .", false);
    assert!(log.contains("[+] Building "), "{log}");
    assert!(
        Regex::new(r"\[\+\] Building \d+\.\ds \(3/3\) FINISHED")
            .unwrap()
            .is_match(&log),
        "{log}"
    );
    // Running steps show their last output lines.
    assert!(log.contains(" => => # "), "{log}");
    assert!(log.contains("line3"), "{log}");
    assert!(
        Regex::new(r" => .*\[2/2\] RUN for i in .*\s+\d+\.\ds")
            .unwrap()
            .is_match(&log),
        "{log}"
    );
    // Redrawn in place: cursor movements, no plain `#N` lines.
    assert!(log.contains("\x1b["), "{log}");
    assert!(!log.contains("#1 "), "{log}");

    let cached = under_script(&kiln, dir.path(), "build .", false);
    assert!(cached.contains("CACHED [2/2] RUN for i in"), "{cached}");

    // CI set: plain even on a terminal.
    let ci = under_script(&kiln, dir.path(), "build .", true);
    assert!(ci.contains("#1 [2/2] RUN for i in"), "{ci}");
    assert!(ci.contains("#1 CACHED"), "{ci}");
}

#[test]
fn rawjson_reports_dockerfile_errors_as_events() {
    let kiln = Kiln::new();
    // A warning (FromAsCasing), then an error (no such stage, so an image
    // on a registry that is not there).
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch as a\nCOPY --from=127.0.0.1:9/nosuch /x /\n",
    )]);
    let out = kiln.run(dir.path(), &["build", "--progress=rawjson", "."]);
    assert_eq!(out.status.code(), Some(1));
    let evs = events(&out.stderr);
    let kinds: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["warning", "failed"], "{}", text(&out.stderr));
    assert_eq!(evs[0]["rule"], "FromAsCasing");
    assert!(
        text(&out.stderr).contains("error: "),
        "{}",
        text(&out.stderr)
    );
}
