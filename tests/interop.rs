//! kiln's archives in the real tools: docker, podman, skopeo, umoci.
//! Outside CI a missing tool skips its test; under CI it fails it.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::dockerd::Dockerd;
use common::{busybox, context, require, text, Kiln};

/// A context whose image runs busybox to print a message.
fn busybox_image(kiln: &Kiln, format: &str) -> (tempfile::TempDir, PathBuf) {
    let busybox = busybox().expect("a static busybox (/bin/busybox from busybox-static)");
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nWORKDIR /data\nCOPY <<EOF /data/msg.txt\nhello from kiln\nEOF\nENV GREETING=hi\nCMD [\"/bin/busybox\", \"cat\", \"/data/msg.txt\"]\n",
    )]);
    std::fs::copy(busybox, dir.path().join("busybox")).unwrap();
    let out = dir.path().join("image.tar");
    let dest = format!("type={format},dest={}", out.display());
    kiln.ok(
        dir.path(),
        &["build", "-t", "kiln-interop:test", "-o", &dest, "."],
    );
    (dir, out)
}

#[test]
fn docker_loads_and_runs_a_kiln_image() {
    if !require("dockerd") || !require("/usr/bin/docker") {
        return;
    }
    let kiln = Kiln::new();
    let (_dir, archive) = busybox_image(&kiln, "docker");
    let d = Dockerd::start();
    let load = d.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(load.status.success(), "{}", text(&load.stderr));
    assert!(
        text(&load.stdout).contains("kiln-interop:test"),
        "{}",
        text(&load.stdout)
    );
    let run = d.docker(&["run", "--rm", "--network=none", "kiln-interop:test"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "hello from kiln\n");
    let inspect = d.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.WorkingDir}} {{.Config.Env}}",
        "kiln-interop:test",
    ]);
    assert_eq!(
        text(&inspect.stdout).trim(),
        "/data [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GREETING=hi]"
    );
}

#[test]
fn podman_loads_a_kiln_image() {
    if !require("podman") {
        return;
    }
    let kiln = Kiln::new();
    let (_dir, archive) = busybox_image(&kiln, "docker");
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
    let load = podman(&["load", "-i", archive.to_str().unwrap()]);
    assert!(load.status.success(), "{}", text(&load.stderr));
    let inspect = podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.Cmd}}",
        "kiln-interop:test",
    ]);
    assert!(inspect.status.success(), "{}", text(&inspect.stderr));
    assert_eq!(
        text(&inspect.stdout).trim(),
        "[/bin/busybox cat /data/msg.txt]"
    );
}

#[test]
fn skopeo_and_umoci_read_the_oci_layout() {
    if !require("skopeo") || !require("umoci") {
        return;
    }
    let kiln = Kiln::new();
    let (dir, archive) = busybox_image(&kiln, "oci");
    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            "--config",
            &format!("oci-archive:{}", archive.display()),
        ])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", text(&inspect.stderr));
    assert!(
        text(&inspect.stdout).contains("GREETING=hi"),
        "{}",
        text(&inspect.stdout)
    );

    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    let untar = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap();
    assert!(untar.success());
    let bundle = dir.path().join("bundle");
    let unpack = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:test", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(unpack.status.success(), "{}", text(&unpack.stderr));
    let msg = std::fs::read_to_string(bundle.join("rootfs/data/msg.txt")).unwrap();
    assert_eq!(msg, "hello from kiln\n");
}
