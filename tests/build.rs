//! `kiln build` end to end: the real binary, a private store, overlayfs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{archive_entries, context, layer_file, layer_listing, text, Kiln};
use serde_json::Value;

/// Builds `dir` into a docker-archive; returns (manifest.json entry,
/// config JSON, layer blobs bottom first).
fn build_archive(kiln: &Kiln, dir: &Path, extra: &[&str]) -> (Value, Value, Vec<Vec<u8>>) {
    let out = dir.join("image.tar");
    let dest = format!("type=docker,dest={}", out.display());
    let mut args = vec!["build", "-t", "test:1", "-o", &dest];
    args.extend_from_slice(extra);
    args.push(".");
    kiln.ok(dir, &args);
    let files = archive_entries(&out);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let entry = manifest[0].clone();
    let config: Value = serde_json::from_slice(&files[entry["Config"].as_str().unwrap()]).unwrap();
    let layers = entry["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| files[l.as_str().unwrap()].clone())
        .collect();
    (entry, config, layers)
}

#[test]
fn copy_add_workdir_and_config_make_an_image() {
    let dir = context(&[
        ("app/main.txt", "main\n"),
        ("app/sub/deep.txt", "deep\n"),
        ("notes.md", "notes\n"),
        (
            "Dockerfile",
            concat!(
                "FROM scratch\n",
                "WORKDIR /srv\n",
                "COPY app/ ./\n",
                "COPY --chown=1000:1000 --chmod=640 notes.md /etc/\n",
                "ADD bundle.tar /opt/\n",
                "COPY <<EOF /etc/motd\nhi there\nEOF\n",
                "ENV MODE=prod\n",
                "LABEL org.example=yes\n",
                "EXPOSE 8080\n",
                "USER 1000:1000\n",
                "CMD [\"/bin/app\"]\n",
            ),
        ),
    ]);
    // A tar that ADD must extract (made by GNU tar, as users make them).
    make_tar(dir.path(), "bundle.tar", &[("lib/data.txt", "bundle")]);

    let kiln = Kiln::new();
    let (entry, config, layers) = build_archive(&kiln, dir.path(), &[]);
    assert_eq!(entry["RepoTags"], serde_json::json!(["test:1"]));
    assert_eq!(layers.len(), 5, "WORKDIR, COPY, COPY, ADD, COPY heredoc");
    let c = &config["config"];
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["Cmd"], serde_json::json!(["/bin/app"]));
    assert_eq!(c["Labels"]["org.example"], "yes");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object());
    assert!(c["Env"]
        .as_array()
        .unwrap()
        .contains(&Value::from("MODE=prod")));
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 5);
    let history = config["history"].as_array().unwrap();
    assert_eq!(
        history.iter().filter(|h| h["empty_layer"] != true).count(),
        5
    );
    assert_eq!(history[1]["created_by"], "COPY app/ ./ # buildkit");

    assert_eq!(layer_file(&layers[1], "srv/sub/deep.txt"), "deep\n");
    let notes = layer_listing(&layers[2]);
    assert!(
        notes
            .iter()
            .any(|l| l.starts_with("-rw-r----- 1000/1000") && l.ends_with("etc/notes.md")),
        "{notes:?}"
    );
    assert_eq!(layer_file(&layers[3], "opt/lib/data.txt"), "bundle");
    assert_eq!(layer_file(&layers[4], "etc/motd"), "hi there\n");
}

#[test]
fn rebuild_is_cached_and_reproducible_and_changes_invalidate() {
    let dir = context(&[
        ("a.txt", "one\n"),
        (
            "Dockerfile",
            "FROM scratch\nCOPY a.txt /a.txt\nCMD [\"x\"]\n",
        ),
    ]);
    let kiln = Kiln::new();
    let id = |kiln: &Kiln| {
        let out = kiln.run(dir.path(), &["build", "-q", "-t", "c:1", "."]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let first = id(&kiln);
    let second_log = kiln.ok(dir.path(), &["build", "-t", "c:1", "."]);
    assert!(second_log.contains("CACHED"), "{second_log}");
    assert_eq!(id(&kiln), first, "a cached rebuild gives the same image id");
    std::fs::write(dir.path().join("a.txt"), "two\n").unwrap();
    let third = id(&kiln);
    assert_ne!(third, first, "changed content gives a new image");
    let log = kiln.ok(dir.path(), &["build", "--no-cache", "-t", "c:1", "."]);
    assert!(!log.contains("CACHED"), "{log}");
}

#[test]
fn from_a_previously_built_kiln_image() {
    let kiln = Kiln::new();
    let base = context(&[
        ("base.txt", "base\n"),
        (
            "Dockerfile",
            "FROM scratch\nCOPY base.txt /\nENV FROM_BASE=1\nWORKDIR /work\n",
        ),
    ]);
    kiln.ok(base.path(), &["build", "-t", "mybase:1", "."]);
    let app = context(&[
        ("app.txt", "app\n"),
        ("Dockerfile", "FROM mybase:1\nCOPY app.txt .\n"),
    ]);
    let (_, config, layers) = build_archive(&kiln, app.path(), &[]);
    assert_eq!(layers.len(), 3, "two base layers and one new");
    assert_eq!(layer_file(&layers[2], "work/app.txt"), "app\n");
    assert!(config["config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&Value::from("FROM_BASE=1")));
    assert_eq!(config["config"]["WorkingDir"], "/work");

    // Not in the store, so pulled: from a registry that is not there.
    let missing = context(&[("Dockerfile", "FROM 127.0.0.1:9/nosuchimage:1\n")]);
    let out = kiln.run(missing.path(), &["build", "."]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot reach registry 127.0.0.1:9"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn multi_stage_copy_from_and_target() {
    let kiln = Kiln::new();
    let dir = context(&[
        ("src.txt", "built\n"),
        ("Dockerfile", "FROM scratch AS build\nCOPY src.txt /out/result\nFROM scratch AS other\nCOPY src.txt /other\nFROM scratch\nCOPY --from=build /out/result /result\n"),
    ]);
    let (_, _, layers) = build_archive(&kiln, dir.path(), &[]);
    assert_eq!(layers.len(), 1);
    assert_eq!(layer_file(&layers[0], "result"), "built\n");
    let (_, _, layers) = build_archive(&kiln, dir.path(), &["--target", "other"]);
    assert_eq!(layer_file(&layers[0], "other"), "built\n");
}

#[test]
fn context_rules_dockerignore_and_escapes() {
    let kiln = Kiln::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "host secret\n").unwrap();
    let dir = context(&[
        ("keep.txt", "keep\n"),
        ("secret.env", "TOKEN=1\n"),
        (".dockerignore", "*.env\n"),
    ]);
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();

    let fail = |dockerfile: &str, want: &str| {
        std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
        let out = kiln.run(dir.path(), &["build", "."]);
        assert_eq!(out.status.code(), Some(1), "{dockerfile}");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{dockerfile}: {err}");
    };
    fail("FROM scratch\nCOPY secret.env /\n", "secret.env");
    fail("FROM scratch\nCOPY missing.txt /\n", "missing.txt");
    fail("FROM scratch\nCOPY missing.txt /\n", "Dockerfile:2\n");
    fail(
        "FROM scratch\nCOPY missing.txt /\n",
        ">>> COPY missing.txt /",
    );
    fail("FROM scratch\nCOPY ../outside.txt /\n", "outside.txt");

    // A symlink to a host file is copied as a symlink, never followed out.
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY . /ctx/\n",
    )
    .unwrap();
    let (_, _, layers) = build_archive(&kiln, dir.path(), &[]);
    let listing = layer_listing(&layers[0]).join("\n");
    assert!(listing.contains("ctx/keep.txt"), "{listing}");
    assert!(!listing.contains("secret.env"), "{listing}");
    assert!(listing.contains("ctx/link ->"), "{listing}");
    assert!(!listing.contains("host secret"));

    // The store is still usable after failures.
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY keep.txt /\n",
    )
    .unwrap();
    kiln.ok(dir.path(), &["build", "."]);
}

#[test]
fn bad_archives_and_sources_fail_cleanly() {
    let kiln = Kiln::new();
    let dir = context(&[("Dockerfile", "FROM scratch\nADD broken.tar /x/\n")]);
    // A valid tar header followed by a truncated body: ADD must fail, not copy.
    let big = "x".repeat(8192);
    make_tar(dir.path(), "broken.tar", &[("big.bin", big.as_str())]);
    let data = std::fs::read(dir.path().join("broken.tar")).unwrap();
    std::fs::write(dir.path().join("broken.tar"), &data[..1024]).unwrap();
    let out = kiln.run(dir.path(), &["build", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("broken.tar"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nADD --checksum=sha256:0000 https://127.0.0.1:1/x /x\n",
    )
    .unwrap();
    let out = kiln.run(dir.path(), &["build", "."]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn sigkill_mid_build_leaves_a_usable_store() {
    let kiln = Kiln::new();
    let dir = context(&[
        (
            "Dockerfile",
            "FROM scratch\nCOPY big.bin /big.bin\nCOPY small.txt /\n",
        ),
        ("small.txt", "s\n"),
    ]);
    // Big enough that the copy and the layer export take a while.
    let big = dir.path().join("big.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(0).unwrap();
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(f);
        let mut x: u64 = 1;
        for _ in 0..(48 << 20) / 8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.write_all(&x.to_le_bytes()).unwrap();
        }
    }
    for delay_ms in [50u64, 150, 400] {
        let mut child = kiln
            .cmd(dir.path(), &["build", "-t", "k:1", "."])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        unsafe_kill(child.id());
        let _ = child.wait();
    }
    let out = kiln.run(
        dir.path(),
        &["build", "-t", "k:1", "-o", "type=oci,dest=oci.tar", "."],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let files = archive_entries(&dir.path().join("oci.tar"));
    assert!(files.contains_key("index.json"));
}

/// Writes `name` as a tar of `files` made by the system's GNU tar.
fn make_tar(dir: &Path, name: &str, files: &[(&str, &str)]) {
    let src = tempfile::tempdir().unwrap();
    for (path, data) in files {
        let p = src.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let paths: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
    let status = std::process::Command::new("tar")
        .arg("-cf")
        .arg(dir.join(name))
        .arg("-C")
        .arg(src.path())
        .args(paths)
        .status()
        .unwrap();
    assert!(status.success());
}

fn unsafe_kill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

#[test]
fn outputs_iidfile_and_metadata() {
    let kiln = Kiln::new();
    let dir = context(&[("f", "x"), ("Dockerfile", "FROM scratch\nCOPY f /f\n")]);
    kiln.ok(
        dir.path(),
        &[
            "build",
            "--iidfile",
            "iid",
            "--metadata-file",
            "meta.json",
            "-o",
            "type=oci,dest=img.oci.tar",
            ".",
        ],
    );
    let iid = std::fs::read_to_string(dir.path().join("iid")).unwrap();
    assert!(iid.starts_with("sha256:") && iid.len() == 71, "{iid}");
    let meta: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(dir.path().join("meta.json")).unwrap()).unwrap();
    assert_eq!(
        meta["containerimage.config.digest"],
        Value::from(iid.clone())
    );
    let files = archive_entries(&dir.path().join("img.oci.tar"));
    assert!(files.contains_key("oci-layout") && !files.contains_key("manifest.json"));
    // A bad --output value is a usage error.
    let out = kiln.run(dir.path(), &["build", "-o", "type=docker", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("needs dest="));
}

#[test]
fn local_and_tar_outputs_hold_the_root_filesystem() {
    let kiln = Kiln::new();
    let dir = context(&[
        ("a.txt", "a\n"),
        ("Dockerfile", "FROM scratch AS base\nCOPY a.txt /etc/a.txt\nFROM base\nCOPY --chmod=700 a.txt /bin/tool\n"),
    ]);
    let out = dir.path().join("rootfs");
    kiln.ok(
        dir.path(),
        &[
            "build",
            "-o",
            &format!("type=local,dest={}", out.display()),
            ".",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("etc/a.txt")).unwrap(),
        "a\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("bin/tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o700);

    let tar_path = dir.path().join("rootfs.tar");
    kiln.ok(
        dir.path(),
        &[
            "build",
            "-o",
            &format!("type=tar,dest={}", tar_path.display()),
            ".",
        ],
    );
    let files = archive_entries(&tar_path);
    assert_eq!(
        files.get("etc/a.txt").map(Vec::as_slice),
        Some(&b"a\n"[..]),
        "{:?}",
        files.keys()
    );
    assert!(files.contains_key("bin/tool"));
}

#[test]
fn source_date_epoch_makes_builds_reproducible() {
    let dir = context(&[
        ("a.txt", "a\n"),
        (
            "Dockerfile",
            "FROM scratch\nCOPY a.txt /a.txt\nWORKDIR /w\nCMD [\"x\"]\n",
        ),
    ]);
    let digest = |kiln: &Kiln| {
        let out = kiln.run(
            dir.path(),
            &[
                "build",
                "-q",
                "--no-cache",
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                "-o",
                "type=oci,dest=img.tar",
                ".",
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let files = archive_entries(&dir.path().join("img.tar"));
        let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
        index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Two stores, two builds, a touch in between: the same manifest.
    let first = digest(&Kiln::new());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "a\n").unwrap();
    let second = digest(&Kiln::new());
    assert_eq!(first, second);
}
