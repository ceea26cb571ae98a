//! Helpers shared by the integration tests: run the real `kiln` binary
//! against a private store, make contexts, find interop tools.

#![allow(dead_code)]

pub mod base;
pub mod dockerd;
pub mod http;
pub mod registry;
pub mod token;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Kiln {
    pub root: tempfile::TempDir,
}

impl Kiln {
    pub fn new() -> Kiln {
        Kiln {
            root: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.args(args)
            .current_dir(dir)
            .env("KILN_ROOT", self.root.path())
            // Registry credentials stay private to the test.
            .env("DOCKER_CONFIG", self.root.path().join("docker-config"));
        cmd
    }

    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd(dir, args).output().expect("run kiln")
    }

    /// Runs and asserts success; returns stderr.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "kiln {args:?} failed:\n{stderr}");
        stderr
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A context directory with the given files (`path`, contents).
pub fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, data) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    dir
}

/// A static busybox to put in test images (Debian's busybox-static).
pub fn busybox() -> Option<PathBuf> {
    let p = PathBuf::from("/bin/busybox");
    (p.exists() && is_static(&p)).then_some(p)
}

fn is_static(p: &Path) -> bool {
    Command::new("file")
        .arg(p)
        .output()
        .map(|o| text(&o.stdout).contains("statically linked"))
        .unwrap_or(true)
}

/// Whether `tool` is installed; outside CI a missing tool skips the test,
/// under CI it fails it (DESIGN.md).
pub fn require(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required under CI"
        );
        eprintln!("skipping: {tool} not installed");
    }
    found
}

/// Files of a docker-archive or OCI tar, by path.
pub fn archive_entries(tar: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(tar).expect("archive"));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        out.insert(path, data);
    }
    out
}

/// `tar -tzv`-style listing of a gzip layer blob: (mode string, owner, path).
pub fn layer_listing(blob: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("layer.tgz");
    std::fs::write(&p, blob).unwrap();
    let out = Command::new("tar")
        .args(["-tzvf"])
        .arg(&p)
        .arg("--numeric-owner")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

/// The contents of `path` inside a gzip layer blob.
pub fn layer_file(blob: &[u8], path: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("layer.tgz");
    std::fs::write(&p, blob).unwrap();
    let out = Command::new("tar")
        .args(["-xzOf"])
        .arg(&p)
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{path}: {}", text(&out.stderr));
    text(&out.stdout)
}
