//! `kiln debug ast` and `kiln build --dry-run` through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run kiln")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn vectors() -> PathBuf {
    let dir = std::env::var_os("KILN_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/buildkit")
        });
    assert!(
        dir.is_dir(),
        "conformance vectors missing at {}",
        dir.display()
    );
    dir
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    cases
}

#[test]
fn debug_ast_prints_the_reference_dump_for_every_vector() {
    let cwd = std::env::temp_dir();
    for case in cases(&vectors().join("parser")) {
        let out = kiln(
            &["debug", "ast", case.join("Dockerfile").to_str().unwrap()],
            &cwd,
        );
        assert!(
            out.status.success(),
            "{}: {}",
            case.display(),
            text(&out.stderr)
        );
        let want = std::fs::read_to_string(case.join("result")).unwrap();
        assert_eq!(text(&out.stdout), want, "{}", case.display());
    }
}

#[test]
fn debug_ast_rejects_what_the_reference_rejects() {
    let cwd = std::env::temp_dir();
    for case in cases(&vectors().join("parser-negative")) {
        let out = kiln(
            &["debug", "ast", case.join("Dockerfile").to_str().unwrap()],
            &cwd,
        );
        assert_eq!(out.status.code(), Some(1), "{}", case.display());
        assert!(
            text(&out.stderr).starts_with("error: "),
            "{}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
}

fn context(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    dir
}

#[test]
fn dry_run_prints_the_graph_with_digests() {
    let dir = context(
        "FROM alpine:3.20 AS build\nRUN echo hi > /x\nFROM scratch\nCOPY --from=build /x /x\n",
    );
    let out = kiln(&["build", "--dry-run", "."], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let graph = text(&out.stdout);
    assert!(
        graph.contains("image docker.io/library/alpine:3.20 (linux/"),
        "{graph}"
    );
    assert!(graph.contains("[build 2/2] RUN echo hi > /x"), "{graph}");
    assert!(
        graph.contains("[stage-1 1/1] COPY --from=build /x /x"),
        "{graph}"
    );
    assert!(
        graph
            .lines()
            .last()
            .unwrap()
            .starts_with("target: #2 sha256:"),
        "{graph}"
    );
    // Same input, same digests.
    let again = kiln(&["build", "--dry-run", "."], dir.path());
    assert_eq!(text(&again.stdout), graph);
    // A build arg that reaches a RUN changes the graph.
    let dir = context("FROM scratch\nARG V=1\nRUN echo $V\n");
    let a = text(&kiln(&["build", "--dry-run", "."], dir.path()).stdout);
    let b = text(
        &kiln(
            &["build", "--dry-run", "--build-arg", "V=2", "."],
            dir.path(),
        )
        .stdout,
    );
    assert_ne!(a, b);
}

#[test]
fn dry_run_with_target_and_file_flag() {
    let dir = context("");
    std::fs::write(
        dir.path().join("build.Dockerfile"),
        "FROM alpine AS a\nFROM debian AS b\n",
    )
    .unwrap();
    let out = kiln(
        &[
            "build",
            "--dry-run",
            "-f",
            "build.Dockerfile",
            "--target",
            "a",
            ".",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("alpine"));
    assert!(!text(&out.stdout).contains("debian"));
}

#[test]
fn errors_show_the_file_line_and_excerpt() {
    let dir = context("FROM scratch\nWORKDIR /app\nCOPYY . .\n");
    let out = kiln(&["build", "--dry-run", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: dockerfile parse error on line 3: unknown instruction: COPYY"),
        "{err}"
    );
    assert!(err.contains("Dockerfile:3\n"), "{err}");
    assert!(err.contains("   3 | >>> COPYY . ."), "{err}");
}

#[test]
fn warnings_are_printed_with_their_rule() {
    let dir = context("FROM scratch\nMAINTAINER me\n");
    let out = kiln(&["build", "--dry-run", "."], dir.path());
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("MaintainerDeprecated"), "{err}");
    assert!(
        err.contains("https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/"),
        "{err}"
    );
}

#[test]
fn missing_dockerfile_and_unknown_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = kiln(&["build", "--dry-run", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("failed to read dockerfile"),
        "{}",
        text(&out.stderr)
    );
    let out = kiln(&["build", "--definitely-not-a-flag", "."], dir.path());
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}
