//! `kiln save`/`kiln load` against the real tools, both ways: archives
//! written by `docker save`, `podman save` (docker-archive and
//! oci-archive) and `skopeo copy` load into kiln and build; kiln's load
//! into docker and podman. Outside CI a missing tool skips its test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::dockerd::Dockerd;
use common::{busybox, context, require, text, Kiln};
use serde_json::Value;

const BASE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY <<EOF /msg\nhello from kiln\nEOF\nCMD [\"/bin/busybox\", \"cat\", \"/msg\"]\n";

fn kiln_image(kiln: &Kiln) -> tempfile::TempDir {
    let dir = context(&[("Dockerfile", BASE)]);
    std::fs::copy(
        busybox().expect("busybox-static"),
        dir.path().join("busybox"),
    )
    .unwrap();
    kiln.ok(dir.path(), &["build", "-t", "kiln-app:1", "."]);
    dir
}

/// A gzip rootfs tarball with /bin/busybox, for `docker/podman import`.
fn rootfs(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("rootfs/bin")).unwrap();
    std::fs::copy(busybox().unwrap(), dir.join("rootfs/bin/busybox")).unwrap();
    let tgz = dir.join("rootfs.tgz");
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(dir.join("rootfs"))
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    tgz
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Builds FROM `base` with a RUN, in kiln, and returns what RUN wrote.
fn kiln_builds_from(kiln: &Kiln, dir: &Path, base: &str) -> String {
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {base}\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox echo ran on {base} > /ran\"]\n"),
    )
    .unwrap();
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    kiln.ok(
        dir,
        &[
            "build",
            "-o",
            &format!("type=local,dest={}", out.display()),
            ".",
        ],
    );
    std::fs::read_to_string(out.join("ran")).unwrap()
}

#[test]
fn docker_save_loads_into_kiln_and_kiln_save_into_docker() {
    if !require("dockerd") || !require("/usr/bin/docker") {
        return;
    }
    let kiln = Kiln::new();
    let dir = kiln_image(&kiln);
    let d = dir.path();
    let docker = Dockerd::start();

    // kiln -> docker
    kiln.ok(d, &["save", "-o", "kiln.tar", "kiln-app:1"]);
    ok(
        docker.docker(&["load", "-i", d.join("kiln.tar").to_str().unwrap()]),
        "docker load",
    );
    let run = ok(
        docker.docker(&["run", "--rm", "--network=none", "kiln-app:1"]),
        "docker run",
    );
    assert_eq!(run, "hello from kiln\n");
    let id = ok(
        docker.docker(&["image", "inspect", "--format", "{{.Id}}", "kiln-app:1"]),
        "inspect",
    );
    let kiln_id: Value =
        serde_json::from_str(&ok(kiln.run(d, &["inspect", "kiln-app:1"]), "inspect")).unwrap();
    assert_eq!(id.trim(), kiln_id[0]["Id"], "same image id in docker");

    // docker -> kiln (docker 20.10's legacy layout: <id>/layer.tar)
    let tgz = rootfs(d);
    ok(
        docker.docker(&[
            "import",
            "--change",
            "CMD [\"/bin/busybox\", \"true\"]",
            tgz.to_str().unwrap(),
            "from-docker:1",
        ]),
        "docker import",
    );
    ok(
        docker.docker(&[
            "save",
            "-o",
            d.join("docker.tar").to_str().unwrap(),
            "from-docker:1",
        ]),
        "docker save",
    );
    let loaded = ok(kiln.run(d, &["load", "-i", "docker.tar"]), "kiln load");
    assert_eq!(loaded, "Loaded image: from-docker:1\n");
    let docker_id = ok(
        docker.docker(&["image", "inspect", "--format", "{{.Id}}", "from-docker:1"]),
        "inspect",
    );
    let ours: Value =
        serde_json::from_str(&ok(kiln.run(d, &["inspect", "from-docker:1"]), "inspect")).unwrap();
    assert_eq!(ours[0]["Id"], docker_id.trim());
    assert_eq!(
        ours[0]["Config"]["Cmd"],
        serde_json::json!(["/bin/busybox", "true"])
    );
    assert_eq!(
        kiln_builds_from(&kiln, d, "from-docker:1"),
        "ran on from-docker:1\n"
    );
    kiln.ok(d, &["doctor"]);
}

#[test]
fn podman_archives_load_into_kiln_and_back() {
    if !require("podman") {
        return;
    }
    let kiln = Kiln::new();
    let dir = kiln_image(&kiln);
    let d = dir.path();
    let store = tempfile::tempdir().unwrap();
    let podman = |args: &[&str]| {
        Command::new("podman")
            .arg("--root")
            .arg(store.path().join("root"))
            .arg("--runroot")
            .arg(store.path().join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .unwrap()
    };
    // kiln -> podman, OCI layout and docker-archive.
    kiln.ok(
        d,
        &[
            "save",
            "--format",
            "oci",
            "-o",
            "kiln.oci.tar",
            "kiln-app:1",
        ],
    );
    ok(
        podman(&["load", "-i", d.join("kiln.oci.tar").to_str().unwrap()]),
        "podman load oci",
    );
    kiln.ok(d, &["save", "-o", "kiln.tar", "kiln-app:1"]);
    ok(
        podman(&["load", "-i", d.join("kiln.tar").to_str().unwrap()]),
        "podman load",
    );
    let cmd = ok(
        podman(&[
            "image",
            "inspect",
            "--format",
            "{{.Config.Cmd}}",
            "kiln-app:1",
        ]),
        "inspect",
    );
    assert_eq!(cmd.trim(), "[/bin/busybox cat /msg]");

    // podman -> kiln
    let tgz = rootfs(d);
    ok(
        podman(&["import", tgz.to_str().unwrap(), "from-podman:1"]),
        "podman import",
    );
    let archive = d.join("podman.tar");
    ok(
        podman(&["save", "-o", archive.to_str().unwrap(), "from-podman:1"]),
        "podman save",
    );
    let loaded = ok(kiln.run(d, &["load", "-i", "podman.tar"]), "kiln load");
    assert!(loaded.contains("from-podman:1"), "{loaded}");
    let oci = d.join("podman.oci.tar");
    ok(
        podman(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            oci.to_str().unwrap(),
            "from-podman:1",
        ]),
        "podman save oci",
    );
    kiln.ok(d, &["rmi", "localhost/from-podman:1"]);
    let loaded = ok(
        kiln.run(d, &["load", "-i", "podman.oci.tar"]),
        "kiln load oci",
    );
    assert!(
        loaded.contains("from-podman:1") || loaded.contains("Loaded image ID"),
        "{loaded}"
    );
    let id = ok(
        podman(&["image", "inspect", "--format", "{{.Id}}", "from-podman:1"]),
        "inspect",
    );
    let listed = ok(kiln.run(d, &["images", "-q", "--no-trunc"]), "images");
    assert!(listed.contains(id.trim()), "{listed} lacks {id}");
    kiln.ok(
        d,
        &["tag", &format!("sha256:{}", id.trim()), "podman-base:1"],
    );
    assert_eq!(
        kiln_builds_from(&kiln, d, "podman-base:1"),
        "ran on podman-base:1\n"
    );
}

#[test]
fn skopeo_converted_archives_load_into_kiln() {
    if !require("skopeo") {
        return;
    }
    let kiln = Kiln::new();
    let dir = kiln_image(&kiln);
    let d = dir.path();
    let id: Value =
        serde_json::from_str(&ok(kiln.run(d, &["inspect", "kiln-app:1"]), "inspect")).unwrap();
    let id = id[0]["Id"].as_str().unwrap().to_string();
    kiln.ok(
        d,
        &[
            "save",
            "--format",
            "oci",
            "-o",
            "kiln.oci.tar",
            "kiln-app:1",
        ],
    );
    let src = format!("oci-archive:{}", d.join("kiln.oci.tar").display());
    for (dest, name) in [
        (
            format!("docker-archive:{}:sk/app:1", d.join("s.tar").display()),
            "sk/app:1",
        ),
        (
            format!("oci-archive:{}:sk/app:2", d.join("s.oci.tar").display()),
            "sk/app:2",
        ),
    ] {
        ok(
            Command::new("skopeo")
                .args(["copy", "--quiet", &src, &dest])
                .output()
                .unwrap(),
            "skopeo copy",
        );
        let file = if dest.starts_with("docker") {
            "s.tar"
        } else {
            "s.oci.tar"
        };
        let loaded = ok(kiln.run(d, &["load", "-i", file]), "kiln load");
        assert_eq!(loaded, format!("Loaded image: {name}\n"));
        let ours: Value =
            serde_json::from_str(&ok(kiln.run(d, &["inspect", name]), "inspect")).unwrap();
        assert_eq!(ours[0]["Id"], id.as_str(), "{name}");
    }
    assert_eq!(kiln_builds_from(&kiln, d, "sk/app:2"), "ran on sk/app:2\n");
}
