//! docker-compatible `kiln build` flags through the real binary:
//! `--no-cache-filter`, `--build-context`, `-f -`, a Dockerfile outside
//! the context, context `-` (tar or Dockerfile on stdin), `--load`.

mod cli_support;
mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use cli_support::with_base;
use common::{context, text, Kiln};
use regex::Regex;

/// Runs kiln with `stdin` as its standard input.
fn with_stdin(
    kiln: &Kiln,
    dir: &std::path::Path,
    args: &[&str],
    stdin: &[u8],
) -> std::process::Output {
    let mut child = kiln
        .cmd(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Whether plain progress shows `step` run (not cached).
fn ran(log: &str, step: &str) -> bool {
    Regex::new(&format!(r"(?m)^#(\d+) {}\n#\d+ DONE", regex::escape(step)))
        .unwrap()
        .is_match(log)
}

/// Whether plain progress shows `step` cached.
fn cached(log: &str, step: &str) -> bool {
    Regex::new(&format!(r"(?m)^#\d+ {}\n#\d+ CACHED", regex::escape(step)))
        .unwrap()
        .is_match(log)
}

#[test]
fn no_cache_filter_reruns_only_the_named_stages() {
    let kiln = with_base();
    let dir = context(&[(
        "Dockerfile",
        "FROM base:1 AS one\nRUN echo one > /one\nFROM one AS two\nRUN echo two > /two\n",
    )]);
    kiln.ok(dir.path(), &["build", "--target", "two", "."]);
    let log = kiln.ok(
        dir.path(),
        &["build", "--progress=plain", "--no-cache-filter", "two", "."],
    );
    assert!(ran(&log, "[two 1/1] RUN echo two > /two"), "{log}");
    assert!(cached(&log, "[one 2/2] RUN echo one > /one"), "{log}");
    let log = kiln.ok(dir.path(), &["build", "--progress=plain", "."]);
    assert!(cached(&log, "[two 1/1] RUN echo two > /two"), "{log}");
    // Several stages, comma-separated.
    let log = kiln.ok(
        dir.path(),
        &[
            "build",
            "--progress=plain",
            "--no-cache-filter=one,two",
            ".",
        ],
    );
    assert!(ran(&log, "[one 2/2] RUN echo one > /one"), "{log}");
}

#[test]
fn build_contexts_replace_stages_and_images() {
    let kiln = with_base();
    let extra = context(&[("o.txt", "from-extra\n")]);
    let dir = context(&[(
        "Dockerfile",
        "FROM img\nCOPY --from=extra o.txt /o.txt\nRUN cat /o.txt && ls /bin/busybox\n",
    )]);
    let extra_arg = format!("extra={}", extra.path().display());
    let log = kiln.ok(
        dir.path(),
        &[
            "build",
            "--progress=plain",
            "--build-context",
            &extra_arg,
            "--build-context",
            "img=docker-image://base:1",
            ".",
        ],
    );
    assert!(log.contains(" from-extra\n"), "{log}");
    assert!(log.contains(" /bin/busybox\n"), "{log}");
    // The named directory is hashed: a change re-runs the steps.
    std::fs::write(extra.path().join("o.txt"), "changed\n").unwrap();
    let log = kiln.ok(
        dir.path(),
        &[
            "build",
            "--progress=plain",
            "--build-context",
            &extra_arg,
            "--build-context",
            "img=docker-image://base:1",
            ".",
        ],
    );
    assert!(log.contains(" changed\n"), "{log}");
}

#[test]
fn dockerfile_from_stdin_or_outside_the_context() {
    let kiln = with_base();
    let dir = context(&[("a.txt", "A\n")]);
    let out = with_stdin(
        &kiln,
        dir.path(),
        &["build", "--progress=plain", "-f", "-", "."],
        b"FROM base:1\nCOPY a.txt /\nRUN cat /a.txt\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(" A\n"), "{}", text(&out.stderr));

    let elsewhere = context(&[(
        "build.Dockerfile",
        "FROM base:1\nCOPY a.txt /b.txt\nRUN cat /b.txt\n",
    )]);
    let file = elsewhere.path().join("build.Dockerfile");
    let log = kiln.ok(
        dir.path(),
        &[
            "build",
            "--progress=plain",
            "-f",
            file.to_str().unwrap(),
            ".",
        ],
    );
    assert!(log.contains(" A\n"), "{log}");
}

#[test]
fn context_on_stdin_as_a_tar_or_a_dockerfile() {
    let kiln = with_base();
    let src = context(&[
        (
            "Dockerfile",
            "FROM base:1\nCOPY in-tar.txt /\nRUN cat /in-tar.txt\n",
        ),
        ("in-tar.txt", "from the tar\n"),
        ("alt.Dockerfile", "FROM base:1\nRUN echo alt\n"),
    ]);
    let tar = Command::new("tar")
        .args(["-cf", "-", "-C"])
        .arg(src.path())
        .arg(".")
        .output()
        .unwrap()
        .stdout;
    let cwd = tempfile::tempdir().unwrap();
    let out = with_stdin(&kiln, cwd.path(), &["build", "--progress=plain", "-"], &tar);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(" from the tar\n"),
        "{}",
        text(&out.stderr)
    );

    // gzip, with -f naming a file inside the tar.
    let tgz = Command::new("sh")
        .arg("-c")
        .arg(format!("tar -czf - -C {} .", src.path().display()))
        .output()
        .unwrap()
        .stdout;
    let out = with_stdin(
        &kiln,
        cwd.path(),
        &["build", "--progress=plain", "-f", "alt.Dockerfile", "-"],
        &tgz,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(" alt\n"),
        "{}",
        text(&out.stderr)
    );

    // A bare Dockerfile: no context, so a COPY finds nothing.
    let out = with_stdin(
        &kiln,
        cwd.path(),
        &["build", "--progress=plain", "-"],
        b"FROM base:1\nRUN echo bare\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(" bare\n"));
    let out = with_stdin(
        &kiln,
        cwd.path(),
        &["build", "-"],
        b"FROM base:1\nCOPY in-tar.txt /\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );

    // Both from stdin: a usage error.
    let out = with_stdin(&kiln, cwd.path(), &["build", "-f", "-", "-"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot both come from stdin"));
}

#[test]
fn load_into_the_docker_engine() {
    if !common::require("dockerd") {
        return;
    }
    let kiln = with_base();
    let dir = context(&[("Dockerfile", "FROM base:1\nRUN echo loaded > /loaded\n")]);
    let dockerd = common::dockerd::Dockerd::start();
    let out = kiln
        .cmd(
            dir.path(),
            &[
                "build",
                "--progress=plain",
                "--load",
                "-t",
                "loaded:1",
                "--iidfile",
                "id",
                ".",
            ],
        )
        .env("DOCKER_HOST", &dockerd.host)
        .output()
        .unwrap();
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("loading the image into the Docker engine"),
        "{log}"
    );
    assert!(log.contains("Loaded image: loaded:1"), "{log}");
    let inspect = dockerd.docker(&["image", "inspect", "--format", "{{.Id}}", "loaded:1"]);
    assert!(inspect.status.success(), "{}", text(&inspect.stderr));
    let id = std::fs::read_to_string(dir.path().join("id")).unwrap();
    assert_eq!(text(&inspect.stdout).trim(), id);

    // No engine there: a clear error, exit 1.
    let out = kiln
        .cmd(dir.path(), &["build", "--load", "."])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("connecting to the Docker engine at unix:///nonexistent/docker.sock"),
        "{}",
        text(&out.stderr)
    );
}

/// A `git daemon` of our own on 127.0.0.1 serving `base`, stopped (by
/// PID) on drop.
struct GitDaemon(std::process::Child);

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

fn serve(base: &std::path::Path) -> (GitDaemon, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = GitDaemon(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (daemon, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("git daemon did not come up");
}

#[test]
fn git_repository_as_the_context() {
    if !common::require("git") {
        return;
    }
    let kiln = with_base();
    let base = tempfile::tempdir().unwrap();
    let work = base.path().join("work");
    std::fs::create_dir_all(work.join("app")).unwrap();
    std::fs::write(
        work.join("app/Dockerfile"),
        "FROM base:1\nCOPY . /ctx/\nRUN ls -a /ctx && cat /ctx/msg\n",
    )
    .unwrap();
    std::fs::write(work.join("app/msg"), "on main\n").unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["tag", "v1"]);
    std::fs::write(work.join("app/msg"), "later\n").unwrap();
    git(&work, &["commit", "-q", "-am", "two"]);
    git(base.path(), &["clone", "-q", "--bare", "work", "repo.git"]);
    let (_daemon, port) = serve(base.path());
    let cwd = tempfile::tempdir().unwrap();

    let url = format!("git://127.0.0.1:{port}/repo.git#main:app");
    let log = kiln.ok(cwd.path(), &["build", "--progress=plain", &url]);
    assert!(log.contains(" later\n"), "{log}");
    assert!(
        !log.contains(".git\n"),
        "the checkout's .git is not in the context: {log}"
    );

    let url = format!("git://127.0.0.1:{port}/repo.git#v1:app");
    let log = kiln.ok(cwd.path(), &["build", "--progress=plain", &url]);
    assert!(log.contains(" on main\n"), "{log}");

    // A commit: a full clone, then a checkout.
    let sha = Command::new("git")
        .args(["rev-parse", "HEAD~1"])
        .current_dir(&work)
        .output()
        .unwrap()
        .stdout;
    let url = format!("git://127.0.0.1:{port}/repo.git#{}:app", text(&sha).trim());
    let log = kiln.ok(
        cwd.path(),
        &["build", "--progress=plain", "--no-cache", &url],
    );
    assert!(log.contains(" on main\n"), "{log}");

    let url = format!("git://127.0.0.1:{port}/repo.git#nosuchbranch");
    let out = kiln.run(cwd.path(), &["build", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!(
            "error: cloning the git context git://127.0.0.1:{port}/repo.git: "
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_docker_buildx_command_line_unchanged() {
    let kiln = with_base();
    let dir = context(&[(
        "Dockerfile",
        "FROM base:1 AS build\nARG FROM_ENV=default UNSET=kept\nRUN echo \"$FROM_ENV $UNSET\" > /args\n\
         FROM build AS final\nRUN cat /args\nFROM scratch AS other\n",
    )]);
    let platform = format!(
        "linux/{}",
        std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64")
    );
    let out = kiln
        .cmd(
            dir.path(),
            &[
                "build",
                "--progress",
                "plain",
                "-t",
                "one:1",
                "--tag",
                "two:2",
                "--label",
                "org.example.a=1",
                "--label=org.example.b=2",
                "--build-arg",
                "FROM_ENV",
                "--build-arg",
                "UNSET",
                "--platform",
                &platform,
                "--target",
                "final",
                "--iidfile",
                "id",
                "--rm",
                "-o",
                "type=docker,dest=img.tar",
                ".",
            ],
        )
        .env("FROM_ENV", "from-the-environment")
        .env_remove("UNSET")
        .output()
        .unwrap();
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    // A bare build arg takes the environment's value; unset, the default.
    assert!(log.contains(" from-the-environment kept\n"), "{log}");
    assert!(
        log.contains("naming to docker.io/library/one:1 done"),
        "{log}"
    );
    assert!(
        log.contains("naming to docker.io/library/two:2 done"),
        "{log}"
    );
    let files = common::archive_entries(&dir.path().join("img.tar"));
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let tags = manifest[0]["RepoTags"].as_array().unwrap();
    assert_eq!(tags.len(), 2, "{manifest}");
    let config: serde_json::Value =
        serde_json::from_slice(&files[manifest[0]["Config"].as_str().unwrap()]).unwrap();
    assert_eq!(config["config"]["Labels"]["org.example.a"], "1");
    assert_eq!(config["config"]["Labels"]["org.example.b"], "2");
    let id = std::fs::read_to_string(dir.path().join("id")).unwrap();
    assert!(manifest[0]["Config"]
        .as_str()
        .unwrap()
        .contains(id.trim_start_matches("sha256:")));
}
