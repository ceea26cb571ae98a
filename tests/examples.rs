//! The examples in `examples/` build as their READMEs say.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{archive_entries, text, Kiln};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The config of the single image in a docker-archive.
fn config(archive: &Path) -> Value {
    let files = archive_entries(archive);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let name = manifest[0]["Config"].as_str().unwrap();
    serde_json::from_slice(&files[name]).unwrap()
}

#[test]
fn hello_builds_offline() {
    let kiln = Kiln::new();
    let out = tempfile::tempdir().unwrap();
    let tar = out.path().join("hello.tar");
    let dest = format!("type=docker,dest={}", tar.display());
    kiln.ok(
        &repo(),
        &["build", "-t", "hello:1", "-o", &dest, "examples/hello"],
    );
    let config = config(&tar);
    assert_eq!(config["config"]["Cmd"][0], "/hello.txt");
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.title"],
        "hello"
    );
    let rootfs = out.path().join("rootfs");
    let dest = format!("type=local,dest={}", rootfs.display());
    kiln.ok(&repo(), &["build", "-o", &dest, "examples/hello"]);
    assert!(std::fs::read_to_string(rootfs.join("hello.txt"))
        .unwrap()
        .starts_with("Hello from an image kiln built"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("greetings/fr.txt")).unwrap(),
        "bonjour\n"
    );
    assert!(!rootfs.join("README.md").exists());
}

#[test]
fn ci_script_leaves_its_artifacts() {
    let kiln = Kiln::new();
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("sh")
        .arg("examples/ci/build.sh")
        .current_dir(repo())
        .env("KILN", env!("CARGO_BIN_EXE_kiln"))
        .env("KILN_ROOT", kiln.root.path())
        .env("OUT", out.path())
        .env("GITHUB_SHA", "abc123")
        .output()
        .unwrap();
    let log = text(&run.stderr);
    assert!(run.status.success(), "{log}{}", text(&run.stdout));
    assert!(log.contains("#1 [1/3] COPY hello.txt /"), "{log}");
    let id = std::fs::read_to_string(out.path().join("image-id")).unwrap();
    assert!(text(&run.stdout).contains(&format!("built ci/hello:abc123: {id}")));
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("metadata.json")).unwrap()).unwrap();
    assert_eq!(metadata["containerimage.config.digest"], id.as_str());
    let config = config(&out.path().join("image.tar"));
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.revision"],
        "abc123"
    );

    // A failing build fails the job with kiln's exit code.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(
        bad.path().join("Dockerfile"),
        "FROM scratch\nCOPY nothing /\n",
    )
    .unwrap();
    let run = Command::new("sh")
        .arg("examples/ci/build.sh")
        .arg(bad.path())
        .current_dir(repo())
        .env("KILN", env!("CARGO_BIN_EXE_kiln"))
        .env("KILN_ROOT", kiln.root.path())
        .env("OUT", out.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
}

#[test]
fn multi_stage_lowers_to_a_builder_and_a_scratch_stage() {
    let kiln = Kiln::new();
    let out = kiln.run(
        &repo(),
        &[
            "build",
            "--dry-run",
            "--build-arg",
            "BUILDER=builder:1",
            "examples/multi-stage",
        ],
    );
    let graph = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(graph.contains("builder:1"), "{graph}");
    assert!(
        graph.contains("RUN cc -static -O2 -o /hello hello.c"),
        "{graph}"
    );
    assert!(graph.contains("COPY --from=build /hello /hello"), "{graph}");
}
