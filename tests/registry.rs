//! Pull and push against a real distribution registry (Debian's
//! `docker-registry`) started by each test, with skopeo and docker as the
//! independent clients on the other side.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::dockerd::Dockerd;
use common::registry::Registry;
use common::{busybox, context, require, text, Kiln};

fn tools() -> bool {
    require("docker-registry") && require("skopeo")
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Builds a base image with files of every kind (owner, mode, xattr,
/// symlink, hard link, sticky dir) into an OCI archive, and pushes it to
/// `registry` as `test/base:v1` with skopeo.
fn push_base_with_skopeo(registry: &Registry) -> String {
    let kiln = Kiln::new();
    let dir = context(&[
        ("f", "data\n"),
        (
            "Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY --chown=7:8 --chmod=0640 f /f\n\
             RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox --install -s /bin && ln -s /f /link && ln /f /hard && mkdir -m 1777 /sticky && chmod 4755 /bin/busybox\"]\n",
        ),
    ]);
    std::fs::copy(
        busybox().expect("static busybox"),
        dir.path().join("busybox"),
    )
    .unwrap();
    set_xattr(&dir.path().join("f"), "user.kiln", b"hello");
    let archive = dir.path().join("base.tar");
    let dest = format!("type=oci,dest={}", archive.display());
    kiln.ok(dir.path(), &["build", "-o", &dest, "."]);
    let name = format!("{}/test/base:v1", registry.host);
    skopeo(&[
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("oci-archive:{}", archive.display()),
        &format!("docker://{name}"),
    ]);
    name
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let rc = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "setxattr: {}", std::io::Error::last_os_error());
}

/// A tar's entries: path -> (type, mode, uid, gid, content, xattrs, link).
type Listing = BTreeMap<String, (u8, u32, u64, u64, Vec<u8>, Vec<(String, Vec<u8>)>, String)>;

fn tar_listing(path: &Path) -> Listing {
    let mut out = Listing::new();
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut e = entry.unwrap();
        let mut xattrs = Vec::new();
        if let Ok(Some(exts)) = e.pax_extensions() {
            for ext in exts {
                let ext = ext.unwrap();
                if let Some(k) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.push((k.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
        let h = e.header().clone();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        out.insert(
            path,
            (
                h.entry_type().as_byte(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                data,
                xattrs,
                link,
            ),
        );
    }
    out
}

#[test]
fn build_from_a_registry_image_keeps_every_file_attribute() {
    if !tools() || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let base = push_base_with_skopeo(&registry);
    let kiln = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nRUN echo built > /built && test -u /bin/busybox && test -k /sticky\n"
        ),
    )]);
    let out = dir.path().join("rootfs.tar");
    let dest = format!("type=tar,dest={}", out.display());
    let stderr = kiln.ok(dir.path(), &["build", "-o", &dest, "."]);
    assert!(stderr.contains(&format!("pulling {base}")), "{stderr}");
    let files = tar_listing(&out);
    let f = &files["f"];
    assert_eq!((f.0, f.1, f.2, f.3), (b'0', 0o640, 7, 8), "f: {f:?}");
    assert_eq!(f.4, b"data\n");
    assert_eq!(f.5, vec![("user.kiln".to_string(), b"hello".to_vec())]);
    assert_eq!((files["link"].0, files["link"].6.as_str()), (b'2', "/f"));
    assert_eq!(files["hard"].0, b'1', "hard link: {:?}", files["hard"]);
    assert_eq!(files["sticky"].1, 0o1777);
    assert_eq!(files["bin/busybox"].1, 0o4755);
    assert_eq!(files["bin/sh"].6, "/bin/busybox");
    assert_eq!(files["built"].4, b"built\n");

    // The pulled image is in the store: a build without the registry works.
    drop(registry);
    let dir2 = context(&[(
        "Dockerfile",
        &format!("FROM {base}\nRUN echo again > /again\n"),
    )]);
    let stderr = kiln.ok(dir2.path(), &["build", "-t", "again", "."]);
    assert!(!stderr.contains("pulling"), "{stderr}");
}

#[test]
fn pull_by_tag_and_digest_and_errors() {
    if !tools() || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let base = push_base_with_skopeo(&registry);
    let digest = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{base}"),
    ]);
    let digest = digest.trim();
    let kiln = Kiln::new();
    let cwd = Path::new("/");
    let out = kiln.cmd(cwd, &["pull", "-q", &base]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), digest);
    // Again: nothing is downloaded.
    let stderr = kiln.ok(cwd, &["pull", &base]);
    assert!(!stderr.contains("pull complete"), "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");

    // A digest reference, into a fresh store, then built FROM offline.
    let pinned = format!("{}/test/base@{digest}", registry.host);
    let fresh = Kiln::new();
    fresh.ok(cwd, &["pull", &pinned]);
    drop(registry);
    let dir = context(&[("Dockerfile", &format!("FROM {pinned}\nRUN test -f /f\n"))]);
    fresh.ok(dir.path(), &["build", "."]);

    // Errors: unknown tag, unreachable registry, bad reference.
    let registry = Registry::start();
    let missing = format!("{}/test/nothing:v9", registry.host);
    let out = kiln.run(cwd, &["pull", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: manifest v9 not found in {}/test/nothing",
            registry.host
        )),
        "{err}"
    );
    let port = common::registry::free_port();
    let out = kiln.run(cwd, &["pull", &format!("127.0.0.1:{port}/x:1")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach registry 127.0.0.1:{port}")),
        "{err}"
    );
    let out = kiln.run(cwd, &["pull", "Bad:Ref:x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid reference"),
        "{}",
        text(&out.stderr)
    );
    // FROM an unknown tag names it.
    let dir = context(&[("Dockerfile", &format!("FROM {missing}\n"))]);
    let out = kiln.run(dir.path(), &["build", "."]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("manifest v9 not found"),
        "{}",
        text(&out.stderr)
    );
}

/// A context whose image prints a message with busybox.
fn app_context() -> tempfile::TempDir {
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY <<EOF /msg.txt\nhello from the registry\nEOF\nENV GREETING=hi\nCMD [\"/bin/busybox\", \"cat\", \"/msg.txt\"]\n",
    )]);
    std::fs::copy(
        busybox().expect("static busybox"),
        dir.path().join("busybox"),
    )
    .unwrap();
    dir
}

#[test]
fn push_round_trips_through_skopeo_and_repush_sends_nothing() {
    if !tools() || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let kiln = Kiln::new();
    let dir = app_context();
    let name = format!("{}/test/app:v1", registry.host);
    let meta = dir.path().join("meta.json");
    kiln.ok(
        dir.path(),
        &[
            "build",
            "--push",
            "-t",
            &name,
            "--metadata-file",
            meta.to_str().unwrap(),
            ".",
        ],
    );
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let inspect: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]))
    .unwrap();
    assert_eq!(inspect["Digest"], meta["containerimage.digest"]);
    assert!(
        inspect["Env"].to_string().contains("GREETING=hi"),
        "{inspect}"
    );
    // The same image again: no blob data, no new blob in the registry.
    let blobs = registry.blob_count();
    let stderr = kiln.ok(dir.path(), &["push", &name]);
    assert!(!stderr.contains("pushed"), "{stderr}");
    assert_eq!(registry.blob_count(), blobs);

    // Pushed under another name in the same registry: layers are mounted.
    let other = format!("{}/other/app:v2", registry.host);
    kiln.ok(
        dir.path(),
        &["build", "-o", &format!("type=registry,name={other}"), "."],
    );
    let stderr = kiln.ok(dir.path(), &["build", "-t", "local-only:1", "."]);
    assert!(!stderr.contains("pushing"), "{stderr}");
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{other}"),
    ]);
    assert!(raw.contains("tar+gzip"), "{raw}");

    // An image built for the local store only (uncompressed layers) is
    // gzipped on push; skopeo copies it out and the files are there.
    let third = format!("{}/test/local:v1", registry.host);
    kiln.ok(dir.path(), &["build", "-t", &third, "."]);
    let stderr = kiln.ok(dir.path(), &["push", &third]);
    assert!(stderr.contains("pushing"), "{stderr}");
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{third}"),
    ]);
    assert!(raw.contains("tar+gzip") && !raw.contains("tar\""), "{raw}");
    let layout = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{third}"),
        &format!("oci:{}:x", layout.path().display()),
    ]);
}

#[test]
fn docker_pulls_and_runs_a_kiln_pushed_image() {
    if !tools() || !require("dockerd") || !require("/usr/bin/docker") || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let kiln = Kiln::new();
    let dir = app_context();
    let name = format!("{}/test/run:v1", registry.host);
    kiln.ok(dir.path(), &["build", "-t", &name, "."]);
    kiln.ok(dir.path(), &["push", &name]);
    let d = Dockerd::start();
    let pull = d.docker(&["pull", &name]);
    assert!(pull.status.success(), "{}", text(&pull.stderr));
    let run = d.docker(&["run", "--rm", "--network=none", &name]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "hello from the registry\n");
}

#[test]
fn push_errors_are_clear() {
    if !tools() || busybox().is_none() {
        return;
    }
    let kiln = Kiln::new();
    let cwd = Path::new("/");
    let out = kiln.run(cwd, &["push", "127.0.0.1:5000/never/built:v1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("127.0.0.1:5000/never/built:v1: no such image in the local store"),
        "{}",
        text(&out.stderr)
    );
    let dir = app_context();
    let out = kiln.run(dir.path(), &["build", "--push", "."]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pushing needs an image name"),
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("#1 "), "fails before building");
}

#[test]
fn from_uses_the_store_first_and_pull_flag_checks_the_registry() {
    if !tools() || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let pusher = Kiln::new();
    let name = format!("{}/test/moving:v1", registry.host);
    let push_version = |v: &str| {
        let dir = context(&[(
            "Dockerfile",
            &format!("FROM scratch\nCOPY busybox /bin/busybox\nCOPY <<EOF /version\n{v}\nEOF\n"),
        )]);
        std::fs::copy(busybox().unwrap(), dir.path().join("busybox")).unwrap();
        pusher.ok(dir.path(), &["build", "--push", "-t", &name, "."]);
    };
    push_version("one");
    let kiln = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        &format!("FROM {name}\nRUN [\"/bin/busybox\", \"cat\", \"/version\"]\n"),
    )]);
    let stderr = kiln.ok(dir.path(), &["build", "--no-cache", "."]);
    assert!(
        stderr.contains("\none\n") || stderr.contains(" one\n"),
        "{stderr}"
    );
    push_version("two");
    let stderr = kiln.ok(dir.path(), &["build", "--no-cache", "."]);
    assert!(
        !stderr.contains("pulling") && stderr.contains(" one\n"),
        "{stderr}"
    );
    let stderr = kiln.ok(dir.path(), &["build", "--no-cache", "--pull", "."]);
    assert!(
        stderr.contains("pulling") && stderr.contains(" two\n"),
        "{stderr}"
    );
}

/// Writes a blob into an OCI layout; returns its descriptor fields.
fn layout_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    use sha2::Digest as _;
    let hex = hex::encode(sha2::Sha256::digest(bytes));
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

#[test]
fn pull_selects_the_platform_of_a_multi_platform_image() {
    if !tools() || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let kiln = Kiln::new();
    let dir = app_context();
    let archive = dir.path().join("img.tar");
    kiln.ok(
        dir.path(),
        &[
            "build",
            "-o",
            &format!("type=oci,dest={}", archive.display()),
            ".",
        ],
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
    let read_json = |p: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let index = read_json(layout.join("index.json"));
    let host_manifest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let mut manifest = read_json(blob(&host_manifest));
    let mut config = read_json(blob(manifest["config"]["digest"].as_str().unwrap()));
    // The same layers declared for another platform.
    let other_arch = if cfg!(target_arch = "x86_64") {
        "arm64"
    } else {
        "amd64"
    };
    config["architecture"] = other_arch.into();
    let (cd, cs) = layout_blob(&layout, &serde_json::to_vec(&config).unwrap());
    manifest["config"]["digest"] = cd.into();
    manifest["config"]["size"] = cs.into();
    let (md, ms) = layout_blob(&layout, &serde_json::to_vec(&manifest).unwrap());
    let host_arch = if cfg!(target_arch = "x86_64") {
        "amd64"
    } else {
        "arm64"
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
             "platform": {"os": "linux", "architecture": other_arch}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": host_manifest,
             "size": std::fs::metadata(blob(&host_manifest)).unwrap().len(),
             "platform": {"os": "linux", "architecture": host_arch}},
        ],
    });
    let (index_digest, index_size) = layout_blob(&layout, &serde_json::to_vec(&index).unwrap());
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest,
        "size": index_size, "annotations": {"org.opencontainers.image.ref.name": "multi"}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let name = format!("{}/test/multi:v1", registry.host);
    skopeo(&[
        "copy",
        "-q",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{name}"),
    ]);

    let fresh = Kiln::new();
    let cwd = Path::new("/");
    let out = fresh.cmd(cwd, &["pull", "-q", &name]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), host_manifest);
    let platform = format!("linux/{other_arch}");
    let out = fresh
        .cmd(cwd, &["pull", "-q", "--platform", &platform, &name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), md);
    let out = fresh.run(cwd, &["pull", "--platform", "linux/s390x", &name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no image for platform linux/s390x"),
        "{}",
        text(&out.stderr)
    );
    // Pinned to the index digest: FROM selects the host's image offline.
    let pinned = format!("{}/test/multi@{index_digest}", registry.host);
    fresh.ok(cwd, &["pull", &pinned]);
    drop(registry);
    let dir = context(&[(
        "Dockerfile",
        &format!("FROM {pinned}\nRUN [\"/bin/busybox\", \"true\"]\n"),
    )]);
    fresh.ok(dir.path(), &["build", "."]);
}

#[test]
fn docker_schema2_images_pushed_by_skopeo_are_pulled_and_built_from() {
    if !tools() || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let kiln = Kiln::new();
    let dir = app_context();
    let archive = dir.path().join("docker.tar");
    let dest = format!("type=docker,dest={}", archive.display());
    kiln.ok(dir.path(), &["build", "-t", "schema2:v1", "-o", &dest, "."]);
    let name = format!("{}/test/schema2:v1", registry.host);
    skopeo(&[
        "copy",
        "-q",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &format!("docker-archive:{}", archive.display()),
        &format!("docker://{name}"),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{name}"),
    ]);
    assert!(
        raw.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{raw}"
    );
    let fresh = Kiln::new();
    let dir2 = context(&[(
        "Dockerfile",
        &format!("FROM {name}\nRUN [\"/bin/busybox\", \"cat\", \"/msg.txt\"]\n"),
    )]);
    let stderr = fresh.ok(
        dir2.path(),
        &[
            "build",
            "-t",
            &format!("{}/test/rebuilt:v1", registry.host),
            ".",
        ],
    );
    assert!(stderr.contains("hello from the registry"), "{stderr}");
    // Its layers go back with their Docker media types, mounted.
    let stderr = fresh.ok(
        dir2.path(),
        &["push", &format!("{}/test/rebuilt:v1", registry.host)],
    );
    assert!(stderr.contains("mounted from test/schema2"), "{stderr}");
}
