//! `kiln build --explain` and the cache-miss lines of plain progress:
//! which input of each re-run step changed since the last build.

mod cli_support;
mod common;

use cli_support::with_base;
use common::{context, Kiln};

fn misses(log: &str) -> Vec<String> {
    let Some(block) = log.split(" explaining cache misses\n").nth(1) else {
        return Vec::new();
    };
    block
        .lines()
        .take_while(|l| !l.contains(" DONE "))
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect()
}

fn build(kiln: &Kiln, dir: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec!["build", "--progress=plain"];
    args.extend_from_slice(extra);
    args.push(".");
    kiln.ok(dir, &args)
}

#[test]
fn each_kind_of_change_is_named() {
    let kiln = with_base();
    let dir = context(&[
        (
            "Dockerfile",
            "FROM base:1\nARG V=1\nCOPY src/ /src/\nRUN echo $V > /v\nRUN cat /src/a.txt\n",
        ),
        ("src/a.txt", "a"),
        ("src/b.txt", "b"),
        ("other.txt", "o"),
    ]);
    let path = dir.path();
    // First build: nothing to compare with, said only when asked.
    assert_eq!(misses(&build(&kiln, path, &[])), Vec::<String>::new());
    // Nothing changed: nothing ran, nothing to explain.
    let log = build(&kiln, path, &["--explain"]);
    assert!(!log.contains("explaining"), "{log}");

    // Context files.
    std::fs::write(path.join("src/a.txt"), "changed").unwrap();
    std::fs::write(path.join("src/new.txt"), "new").unwrap();
    std::fs::write(path.join("other.txt"), "not copied").unwrap();
    let log = build(&kiln, path, &[]);
    assert_eq!(
        misses(&log),
        [
            "[2/4] COPY src/ /src/: context files changed: src/a.txt, src/new.txt",
            "[3/4] RUN echo 1 > /v: it depends on `[2/4] COPY src/ /src/`, which changed",
            "[4/4] RUN cat /src/a.txt: it depends on `[3/4] RUN echo 1 > /v`, which changed",
        ],
        "{log}"
    );

    // A build arg.
    let log = build(&kiln, path, &["--build-arg", "V=2"]);
    assert_eq!(
        misses(&log)[0],
        "[3/4] RUN echo 2 > /v: instruction changed: `RUN echo 1 > /v` -> `RUN echo 2 > /v` (build arg changed: V)",
        "{log}"
    );

    // The instruction text.
    let df = std::fs::read_to_string(path.join("Dockerfile")).unwrap();
    std::fs::write(path.join("Dockerfile"), df.replace("cat", "head")).unwrap();
    let log = build(&kiln, path, &["--build-arg", "V=2"]);
    assert_eq!(
        misses(&log),
        ["[4/4] RUN head /src/a.txt: instruction changed: `RUN cat /src/a.txt` -> `RUN head /src/a.txt`"],
        "{log}"
    );

    // --no-cache and --no-cache-filter.
    let log = build(&kiln, path, &["--build-arg", "V=2", "--no-cache"]);
    assert!(
        misses(&log).contains(&"[2/4] COPY src/ /src/: --no-cache".to_string()),
        "{log}"
    );

    // The base image: rebuilt with new content under the same tag.
    let base = context(&[
        ("Dockerfile", "FROM base:1\nCOPY f /f\n"),
        ("f", "new base"),
    ]);
    kiln.ok(base.path(), &["build", "-t", "base:1", "."]);
    let log = build(&kiln, path, &["--build-arg", "V=2"]);
    let first = &misses(&log)[0];
    assert!(
        first.starts_with("[1/4] FROM docker.io/library/base:1@sha256:")
            && first.contains(": base image docker.io/library/base:1 changed: sha256:"),
        "{log}"
    );
}

#[test]
fn explain_in_quiet_and_terminal_modes_prints_plain_lines() {
    let kiln = with_base();
    let dir = context(&[("Dockerfile", "FROM base:1\nCOPY a /a\n"), ("a", "1")]);
    kiln.ok(dir.path(), &["build", "-q", "."]);
    std::fs::write(dir.path().join("a"), "2").unwrap();
    let out = kiln.run(dir.path(), &["build", "-q", "--explain", "."]);
    assert!(out.status.success());
    let err = common::text(&out.stderr);
    assert_eq!(
        err, "cache miss: [2/2] COPY a /a: context files changed: a\n",
        "{err}"
    );
}
