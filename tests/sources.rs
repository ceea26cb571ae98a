//! `ADD` of remote sources through the real binary: URLs from a test HTTP
//! server and git repositories from a `git daemon`, both on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::http::{Resource, Server};
use common::{context, text, Kiln};
use sha2::{Digest as _, Sha256};

/// One entry of an exported root filesystem.
#[derive(Debug, Clone)]
struct Entry {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    data: Vec<u8>,
    is_dir: bool,
}

/// Builds `dir` to a rootfs tar; returns its entries by path and stderr.
fn build(kiln: &Kiln, dir: &Path) -> (BTreeMap<String, Entry>, String) {
    let tar = dir.join("rootfs.tar");
    let dest = format!("type=tar,dest={}", tar.display());
    let stderr = kiln.ok(dir, &["build", "-o", &dest, "."]);
    (entries(&tar), stderr)
}

fn entries(tar: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(tar).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let h = entry.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        out.insert(
            path.trim_end_matches('/').to_string(),
            Entry {
                mode: h.mode().unwrap() & 0o7777,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                data,
                is_dir: h.entry_type().is_dir(),
            },
        );
    }
    out
}

fn dockerfile(dir: &Path, text: &str) {
    std::fs::write(dir.join("Dockerfile"), text).unwrap();
}

/// Whether the progress output shows the step starting with `step` (e.g.
/// `COPY`) as cached.
fn cached(stderr: &str, step: &str) -> bool {
    let lines: Vec<&str> = stderr.lines().collect();
    lines.windows(2).any(|w| {
        w[0].split_once(' ')
            .is_some_and(|(_, name)| name.contains(&format!("] {step}")))
            && w[1].ends_with("CACHED")
    })
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const LAST_MODIFIED_UNIX: u64 = 1445412480;

#[test]
fn add_url_into_a_dir_to_a_name_with_chmod_chown_and_never_unpacked() {
    let server = Server::start();
    server.put(
        "/files/hello.txt",
        Resource {
            body: b"hello\n".to_vec(),
            etag: Some("\"v1\"".into()),
            last_modified: Some(LAST_MODIFIED.into()),
        },
    );
    // A real archive: ADD of a URL copies it as it is.
    let tar_dir = tempfile::tempdir().unwrap();
    std::fs::write(tar_dir.path().join("inner.txt"), "inner").unwrap();
    let archive = tar_dir.path().join("a.tar");
    let status = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(tar_dir.path())
        .arg("inner.txt")
        .status()
        .unwrap();
    assert!(status.success());
    let tar_bytes = std::fs::read(&archive).unwrap();
    server.put(
        "/dl/a.tar",
        Resource {
            body: tar_bytes.clone(),
            ..Resource::default()
        },
    );
    let hello = server.url("/files/hello.txt?x=1");
    let kiln = Kiln::new();
    let dir = context(&[]);
    dockerfile(
        dir.path(),
        &format!(
            "FROM scratch\n\
             ADD {hello} /dir/\n\
             ADD {hello} /renamed.txt\n\
             ADD --chmod=644 --chown=10:20 {hello} /owned/\n\
             ADD {} /arch/\n",
            server.url("/dl/a.tar")
        ),
    );
    let (files, _) = build(&kiln, dir.path());
    let f = &files["dir/hello.txt"];
    assert_eq!(f.data, b"hello\n");
    assert_eq!((f.mode, f.uid, f.gid), (0o600, 0, 0));
    assert_eq!(f.mtime, LAST_MODIFIED_UNIX, "mtime from Last-Modified");
    assert_eq!(files["renamed.txt"].data, b"hello\n");
    assert!(!files["renamed.txt"].is_dir);
    let owned = &files["owned/hello.txt"];
    assert_eq!((owned.mode, owned.uid, owned.gid), (0o644, 10, 20));
    let arch = &files["arch/a.tar"];
    assert_eq!(
        arch.data, tar_bytes,
        "a downloaded archive is not extracted"
    );
    assert_eq!(arch.mtime, 0, "no Last-Modified: the Unix epoch");
    assert!(!files.contains_key("arch/inner.txt"));
}

#[test]
fn checksum_verifies_and_caches_by_checksum() {
    let server = Server::start();
    let body = b"pinned content\n".to_vec();
    server.put(
        "/pinned.bin",
        Resource {
            body: body.clone(),
            ..Resource::default()
        },
    );
    let url = server.url("/pinned.bin");
    let kiln = Kiln::new();
    let dir = context(&[("local.txt", "l\n")]);

    // Wrong checksum: the step fails with both digests and the URL.
    let wrong = sha256(b"something else");
    dockerfile(
        dir.path(),
        &format!("FROM scratch\nADD --checksum={wrong} {url} /p/\n"),
    );
    let out = kiln.run(dir.path(), &["build", "."]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("digest mismatch for {url}: {}", sha256(&body)))
            && stderr.contains(&format!("(expected: {wrong})")),
        "{stderr}"
    );

    // The store is still usable, and the right checksum passes.
    let right = sha256(&body);
    dockerfile(
        dir.path(),
        &format!("FROM scratch\nADD --checksum={right} {url} /p/\nCOPY local.txt /\n"),
    );
    let (files, _) = build(&kiln, dir.path());
    assert_eq!(files["p/pinned.bin"].data, body);
    let sent = server.bodies_sent("/pinned.bin");

    // Cached by checksum: a rebuild does not download, even when a later
    // step changes.
    std::fs::write(dir.path().join("local.txt"), "changed\n").unwrap();
    let (files, stderr) = build(&kiln, dir.path());
    assert_eq!(files["local.txt"].data, b"changed\n");
    assert!(cached(&stderr, "ADD"), "{stderr}");
    assert_eq!(server.bodies_sent("/pinned.bin"), sent);

    // A sha512 checksum is verified in its own algorithm.
    let sha512 = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&body)));
    dockerfile(
        dir.path(),
        &format!("FROM scratch\nADD --checksum={sha512} {url} /p512/\n"),
    );
    let (files, _) = build(&kiln, dir.path());
    assert_eq!(files["p512/pinned.bin"].data, body);
}

#[test]
fn http_errors_name_the_url_and_exit_1() {
    let server = Server::start();
    let kiln = Kiln::new();
    let dir = context(&[]);
    let missing = server.url("/nope.txt");
    dockerfile(dir.path(), &format!("FROM scratch\nADD {missing} /\n"));
    let out = kiln.run(dir.path(), &["build", "."]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{missing}: invalid response status 404")),
        "{stderr}"
    );

    // Nothing listens on a port we just closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = format!("http://127.0.0.1:{port}/x.txt");
    dockerfile(dir.path(), &format!("FROM scratch\nADD {refused} /\n"));
    let out = kiln.run(dir.path(), &["build", "."]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&refused), "{stderr}");
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");

    // With a checksum the download happens when the step runs: same error.
    let sum = sha256(b"x");
    dockerfile(
        dir.path(),
        &format!("FROM scratch\nADD --checksum={sum} {missing} /\n"),
    );
    let out = kiln.run(dir.path(), &["build", "."]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("invalid response status 404"), "{stderr}");

    // A malformed checksum is refused before anything runs.
    dockerfile(
        dir.path(),
        &format!("FROM scratch\nADD --checksum=sha256:0000 {missing} /\n"),
    );
    let out = kiln.run(dir.path(), &["build", "."]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid checksum digest format"),
        "{stderr}"
    );
}

#[test]
fn rebuilds_recheck_the_url_and_key_later_steps_by_content() {
    let server = Server::start();
    let with_etag = |body: &str, etag: &str| Resource {
        body: body.as_bytes().to_vec(),
        etag: Some(etag.into()),
        last_modified: Some(LAST_MODIFIED.into()),
    };
    server.put("/e.txt", with_etag("one\n", "\"1\""));
    server.put(
        "/plain.txt",
        Resource {
            body: b"same\n".to_vec(),
            ..Resource::default()
        },
    );
    let kiln = Kiln::new();
    let dir = context(&[("local.txt", "l\n")]);
    dockerfile(
        dir.path(),
        &format!(
            "FROM scratch\nADD {} /e/\nCOPY local.txt /after-e\nADD {} /p/\nCOPY local.txt /after-p\n",
            server.url("/e.txt"),
            server.url("/plain.txt")
        ),
    );
    let (files, _) = build(&kiln, dir.path());
    assert_eq!(files["e/e.txt"].data, b"one\n");
    assert_eq!(server.bodies_sent("/e.txt"), 1);
    assert_eq!(server.bodies_sent("/plain.txt"), 1);

    // Unchanged: the ETag answers (no body sent); without an ETag the
    // file is downloaded again, and the same digest keeps the cache.
    let (_, stderr) = build(&kiln, dir.path());
    assert_eq!(
        server.bodies_sent("/e.txt"),
        1,
        "ETag unchanged: no download"
    );
    assert_eq!(
        server.bodies_sent("/plain.txt"),
        2,
        "no ETag: downloaded again"
    );
    // The last step cached: every key before it is unchanged.
    assert!(cached(&stderr, "COPY local.txt /after-p"), "{stderr}");

    // Changed content: downloaded, and the steps after it run again.
    server.put("/e.txt", with_etag("two\n", "\"2\""));
    let (files, stderr) = build(&kiln, dir.path());
    assert_eq!(files["e/e.txt"].data, b"two\n");
    assert_eq!(server.bodies_sent("/e.txt"), 2);
    assert!(!cached(&stderr, "COPY local.txt /after-p"), "{stderr}");

    // A new ETag with the same bytes: downloaded, but later steps stay cached.
    server.put("/e.txt", with_etag("two\n", "\"3\""));
    let (_, stderr) = build(&kiln, dir.path());
    assert_eq!(server.bodies_sent("/e.txt"), 3);
    assert!(cached(&stderr, "COPY local.txt /after-p"), "{stderr}");
}

/// A `git daemon` serving the repositories under a temp dir on 127.0.0.1
/// (`git://` URLs); stopped on drop.
struct GitDaemon {
    base: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
}

impl GitDaemon {
    fn start() -> GitDaemon {
        let base = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // git-daemon itself, not the `git daemon` wrapper: killing the
        // wrapper would leave the daemon running.
        let exec_path = std::process::Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("git --exec-path");
        let daemon = Path::new(text(&exec_path.stdout).trim()).join("git-daemon");
        let child = std::process::Command::new(daemon)
            .arg("--export-all")
            .arg("--reuseaddr")
            .arg(format!("--base-path={}", base.path().display()))
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(base.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("git daemon");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        GitDaemon { base, port, child }
    }

    fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }

    /// A new repository `name` (a work tree whose `.git` is served).
    fn repo(&self, name: &str) -> Repo {
        let dir = self.base.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let repo = Repo(dir);
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Repo(std::path::PathBuf);

impl Repo {
    fn git(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&self.0)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    fn write(&self, path: &str, data: &str) {
        let p = self.0.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

#[test]
fn git_add_of_branches_tags_commits_subdirs_and_keep_git_dir() {
    if !common::require("git") {
        return;
    }
    let daemon = GitDaemon::start();
    let repo = daemon.repo("repo");
    repo.write("README", "v1\n");
    repo.write("bin/run.sh", "#!/bin/sh\n");
    std::process::Command::new("chmod")
        .args(["755"])
        .arg(repo.0.join("bin/run.sh"))
        .status()
        .unwrap();
    repo.write("sub/dir/file.txt", "deep\n");
    let first = repo.commit("first");
    repo.git(&["tag", "-a", "v1", "-m", "release 1"]);
    repo.git(&["tag", "light"]);
    repo.write("README", "v2\n");
    repo.commit("second");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("feature.txt", "f\n");
    repo.commit("feature");
    repo.git(&["checkout", "-q", "main"]);

    let url = daemon.url("repo");
    let kiln = Kiln::new();
    let dir = context(&[]);
    dockerfile(
        dir.path(),
        &format!(
            "FROM scratch\n\
             ADD {url} /default/\n\
             ADD {url}#v1 /tag/\n\
             ADD {url}#light /light/\n\
             ADD {url}#feature /branch/\n\
             ADD {url}#{first} /commit/\n\
             ADD {url}#main:sub/dir /subdir/\n\
             ADD --keep-git-dir=true {url}#main /kept/\n"
        ),
    );
    let (files, _) = build(&kiln, dir.path());
    assert_eq!(files["default/README"].data, b"v2\n");
    assert_eq!(files["default/README"].mode, 0o644);
    assert_eq!(files["default/bin/run.sh"].mode, 0o755);
    assert!(!files.keys().any(|k| k.starts_with("default/.git")));
    assert!(!files.contains_key("default/feature.txt"));
    assert_eq!(files["tag/README"].data, b"v1\n");
    assert_eq!(files["light/README"].data, b"v1\n");
    assert_eq!(files["branch/feature.txt"].data, b"f\n");
    assert_eq!(files["commit/README"].data, b"v1\n");
    assert_eq!(files["subdir/file.txt"].data, b"deep\n");
    assert!(!files.contains_key("subdir/README"));
    assert_eq!(files["kept/README"].data, b"v2\n");
    assert!(files["kept/.git"].is_dir, "{:?}", files.keys());
    assert!(files.contains_key("kept/.git/HEAD"));
}

#[test]
fn git_rebuilds_follow_the_ref_and_bad_refs_fail_clearly() {
    if !common::require("git") {
        return;
    }
    let daemon = GitDaemon::start();
    let repo = daemon.repo("app.git");
    repo.write("app.txt", "1\n");
    let first = repo.commit("one");
    let url = daemon.url("app.git");
    let kiln = Kiln::new();
    let dir = context(&[("local.txt", "l\n")]);
    dockerfile(
        dir.path(),
        &format!("FROM scratch\nADD {url}#main /src/\nCOPY local.txt /\n"),
    );
    let (files, _) = build(&kiln, dir.path());
    assert_eq!(files["src/app.txt"].data, b"1\n");

    // Same commit: everything cached.
    let (_, stderr) = build(&kiln, dir.path());
    assert!(cached(&stderr, "COPY local.txt"), "{stderr}");

    // The branch moved: the new commit is fetched and later steps re-run.
    repo.write("app.txt", "2\n");
    let second = repo.commit("two");
    let (files, stderr) = build(&kiln, dir.path());
    assert_eq!(files["src/app.txt"].data, b"2\n");
    assert!(!cached(&stderr, "COPY local.txt"), "{stderr}");

    // --checksum pins the commit (a prefix is enough).
    dockerfile(
        dir.path(),
        &format!(
            "FROM scratch\nADD --checksum={} {url}#main /src/\n",
            &second[..12]
        ),
    );
    build(&kiln, dir.path());
    dockerfile(
        dir.path(),
        &format!("FROM scratch\nADD --checksum={first} {url}#main /src/\n"),
    );
    let out = kiln.run(dir.path(), &["build", "."]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("expected checksum to match {first}, got {second}")),
        "{stderr}"
    );

    // A ref the repository does not have.
    dockerfile(dir.path(), &format!("FROM scratch\nADD {url}#nope /src/\n"));
    let out = kiln.run(dir.path(), &["build", "."]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("repository {url} does not contain ref nope")),
        "{stderr}"
    );

    // A subdir that is not there.
    dockerfile(
        dir.path(),
        &format!("FROM scratch\nADD {url}#main:missing /src/\n"),
    );
    let out = kiln.run(dir.path(), &["build", "."]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("invalid subdir missing"), "{stderr}");
}
