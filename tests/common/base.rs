//! A busybox base image for RUN tests, and reading what a build exported.

use std::path::Path;

use serde_json::Value;

use super::{archive_entries, busybox, context, Kiln};

/// A store holding `base:1`: busybox with its applets and a user `app`.
pub fn with_base() -> (Kiln, tempfile::TempDir) {
    let kiln = Kiln::new();
    let dir = context(&[
        ("passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
        ("group", "root:x:0:\napp:x:1000:\n"),
        (
            "Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY passwd group /etc/\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
        ),
    ]);
    std::fs::copy(
        busybox().expect("busybox-static"),
        dir.path().join("busybox"),
    )
    .unwrap();
    kiln.ok(dir.path(), &["build", "-t", "base:1", "."]);
    (kiln, dir)
}

/// Builds `dockerfile` in a fresh context into `img.tar` (docker-archive).
pub fn build(kiln: &Kiln, dockerfile: &str) -> (std::process::Output, tempfile::TempDir) {
    build_with(kiln, dockerfile, &[])
}

/// [`build`] with extra flags.
pub fn build_with(
    kiln: &Kiln,
    dockerfile: &str,
    flags: &[&str],
) -> (std::process::Output, tempfile::TempDir) {
    let dir = context(&[("Dockerfile", dockerfile)]);
    let mut args = vec!["build", "-o", "type=docker,dest=img.tar"];
    args.extend_from_slice(flags);
    args.push(".");
    let out = kiln.run(dir.path(), &args);
    (out, dir)
}

/// The layer blobs of `dir/img.tar`, bottom first.
pub fn layers(dir: &Path) -> Vec<Vec<u8>> {
    let files = archive_entries(&dir.join("img.tar"));
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| files[l.as_str().unwrap()].clone())
        .collect()
}

/// Every file of `dir/img.tar` but the layers (manifest, config), as text.
pub fn metadata_text(dir: &Path) -> String {
    let files = archive_entries(&dir.join("img.tar"));
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let layers: Vec<&str> = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    files
        .iter()
        .filter(|(name, _)| !layers.contains(&name.as_str()))
        .map(|(_, data)| String::from_utf8_lossy(data).into_owned())
        .collect()
}
