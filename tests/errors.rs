//! Every way `kiln build` fails, through the real binary: the message,
//! the Dockerfile excerpt where there is one, and the exit code (1 for a
//! failed build, 2 for a usage error).

mod cli_support;
mod common;

use cli_support::with_base;
use common::{context, text, Kiln};

fn fails(kiln: &Kiln, dockerfile: &str, args: &[&str]) -> (i32, String) {
    let dir = context(&[("Dockerfile", dockerfile), ("a.txt", "a")]);
    let mut all = vec!["build", "--progress=plain"];
    all.extend_from_slice(args);
    all.push(".");
    let out = kiln.run(dir.path(), &all);
    (out.status.code().unwrap(), text(&out.stderr))
}

#[test]
fn a_failing_run_shows_its_output_excerpt_and_exit_code() {
    let kiln = with_base();
    let lines: String = (1..=15).map(|i| format!("echo out{i}; ")).collect();
    let dockerfile = format!("FROM base:1\nCOPY a.txt /\nRUN {lines}exit 7\nRUN echo never\n");
    let (code, err) = fails(&kiln, &dockerfile, &[]);
    assert_eq!(code, 1, "{err}");
    let report = err.split("#3 ERROR: ").nth(1).expect(&err);
    let report = report.split_once('\n').unwrap().1;
    // The last ten output lines, with their times, framed like BuildKit.
    let expected_head = format!("------\n > [3/4] RUN {lines}exit 7:\n");
    assert!(report.starts_with(&expected_head), "{report}");
    assert!(
        !report.contains(" out5\n") && report.contains(" out6\n"),
        "{report}"
    );
    assert!(report.contains(" out15\n------\n"), "{report}");
    assert!(
        report.contains("Dockerfile:3\n--------------------\n   1 |     FROM base:1\n   2 |     COPY a.txt /\n   3 | >>> RUN echo out1;"),
        "{report}"
    );
    // The error line comes last.
    let last = report.trim_end().lines().last().unwrap();
    assert_eq!(
        last,
        format!(
            "error: [3/4] RUN {lines}exit 7: process \"/bin/sh -c {lines}exit 7\" did not complete successfully: exit code: 7"
        )
    );
    assert!(!err.contains("never"), "{err}");
}

#[test]
fn a_missing_copy_source_shows_the_line() {
    let kiln = with_base();
    let (code, err) = fails(&kiln, "FROM base:1\nCOPY missing.txt /\n", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(">>> COPY missing.txt /"), "{err}");
    assert!(
        err.trim_end()
            .ends_with("error: [2/2] COPY missing.txt /: \"/missing.txt\": not found"),
        "{err}"
    );
}

#[test]
fn dockerfile_errors_show_the_excerpt() {
    let kiln = Kiln::new();
    let (code, err) = fails(&kiln, "FROM scratch\nCOPYY a.txt /\n", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unknown instruction: COPYY"), "{err}");
    assert!(err.contains("   2 | >>> COPYY a.txt /"), "{err}");

    // A base image no registry serves (nothing listens on port 9).
    let (code, err) = fails(&kiln, "FROM 127.0.0.1:9/nosuchimage:1\n", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(">>> FROM 127.0.0.1:9/nosuchimage:1"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let kiln = Kiln::new();
    let df = "FROM scratch\nCOPY a.txt /\n";
    let cases: &[(&[&str], &str)] = &[
        (&["--platform", "windows/arm64"], "only the host platform"),
        (&["--platform", "a/b/c/d"], "--platform"),
        (&["-o", "type=bogus"], "bogus"),
        (&["-t", "UPPER:case"], "invalid tag \"UPPER:case\""),
        (&["--build-context", "novalue"], "expected name=DIR"),
        (
            &["--build-context", "x=/nonexistent/dir"],
            "not a directory",
        ),
        (
            &["--build-context", "x=https://example.com/x.git"],
            "only local directories",
        ),
        (&["--progress", "fancy"], "invalid value 'fancy'"),
        (&["--frobnicate"], "unexpected argument '--frobnicate'"),
    ];
    for (args, message) in cases {
        let (code, err) = fails(&kiln, df, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("hint:"), "{args:?}: {err}");
    }
    // A docker flag kiln does not take: clap's error and a hint.
    let (code, err) = fails(&kiln, df, &["--squash"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: unexpected argument '--squash'"),
        "{err}"
    );
    assert!(
        err.contains("hint: `--squash` is a docker build flag kiln does not support"),
        "{err}"
    );
    let (code, err) = fails(&kiln, df, &["--memory=2g"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("hint: `--memory` is a docker build flag"),
        "{err}"
    );
    // docker's no-op flags are accepted.
    let dir = context(&[("Dockerfile", df), ("a.txt", "a")]);
    kiln.ok(dir.path(), &["build", "--rm", "--force-rm", "."]);
}

#[test]
fn a_missing_context_or_dockerfile_fails_with_1() {
    let kiln = Kiln::new();
    let dir = tempfile::tempdir().unwrap();
    let out = kiln.run(dir.path(), &["build", "nonexistent"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("failed to read dockerfile"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn exit_codes_that_mean_something_are_explained() {
    let kiln = with_base();
    let (code, err) = fails(&kiln, "FROM base:1\nRUN nosuchcommand --flag\n", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("------\nexit code 127: the command was not found (is it in the image, on PATH?)\nDockerfile:2\n"),
        "{err}"
    );
    let (_, err) = fails(&kiln, "FROM base:1\nRUN kill -9 $$\n", &[]);
    assert!(err.contains("exit code 137: killed by SIGKILL"), "{err}");
    assert!(err.contains("exit code: 137"), "{err}");
}
