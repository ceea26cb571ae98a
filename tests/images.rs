//! The image commands through the real binary: images, tag, rmi, inspect,
//! history, save, load, import, prune, du, doctor — every flag, every
//! error path with its message and exit code (1 failures, 2 usage).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{busybox, context, text, Kiln};
use serde_json::Value;

/// A context with a static busybox and `Dockerfile`.
fn busybox_context(dockerfile: &str) -> tempfile::TempDir {
    let dir = context(&[("Dockerfile", dockerfile)]);
    std::fs::copy(
        busybox().expect("busybox-static"),
        dir.path().join("busybox"),
    )
    .unwrap();
    dir
}

const BASE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY <<EOF /msg\nhello\nEOF\nCMD [\"/bin/busybox\", \"cat\", \"/msg\"]\n";

/// Builds `tag` from `dockerfile`; returns the image id.
fn build(kiln: &Kiln, dir: &Path, dockerfile: &str, tag: &str) -> String {
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let out = kiln.run(dir, &["build", "-q", "-t", tag, "."]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

fn stdout(kiln: &Kiln, dir: &Path, args: &[&str]) -> String {
    let out = kiln.run(dir, args);
    assert!(out.status.success(), "kiln {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Runs and expects failure with `code` and `message` on stderr.
fn fails(kiln: &Kiln, dir: &Path, args: &[&str], code: i32, message: &str) -> Output {
    let out = kiln.run(dir, args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "kiln {args:?}: {stderr}");
    assert!(stderr.contains(message), "kiln {args:?}: {stderr}");
    out
}

fn inspect(kiln: &Kiln, dir: &Path, image: &str) -> Value {
    let v: Value = serde_json::from_str(&stdout(kiln, dir, &["inspect", image])).unwrap();
    v[0].clone()
}

/// Rows of `kiln images --format json`.
fn images(kiln: &Kiln, dir: &Path) -> Vec<Value> {
    stdout(kiln, dir, &["images", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tags(kiln: &Kiln, dir: &Path) -> Vec<String> {
    let mut tags: Vec<String> = images(kiln, dir)
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["Repository"].as_str().unwrap(),
                r["Tag"].as_str().unwrap()
            )
        })
        .collect();
    tags.sort();
    tags
}

#[test]
fn images_lists_every_tag_with_id_created_and_size() {
    let kiln = Kiln::new();
    let dir = busybox_context(BASE);
    let id = build(&kiln, dir.path(), BASE, "app:1");
    assert!(id.starts_with("sha256:"), "{id}");
    kiln.ok(
        dir.path(),
        &["tag", "app:1", "registry.local:5000/team/app:v2"],
    );

    let table = stdout(&kiln, dir.path(), &["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY")
            && lines[0].contains("IMAGE ID")
            && lines[0].ends_with("SIZE"),
        "{table}"
    );
    let short = &id[7..19];
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("app ") && l.contains(short)),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("registry.local:5000/team/app ")),
        "{table}"
    );
    assert!(table.contains("ago"), "{table}");

    let rows = images(&kiln, dir.path());
    let size = std::fs::metadata(busybox().unwrap()).unwrap().len();
    for row in &rows {
        assert_eq!(row["ID"], short);
        let shown = row["Size"].as_str().unwrap();
        let mb: f64 = shown.trim_end_matches("MB").parse().expect(shown);
        assert!((mb - size as f64 / 1e6).abs() < 0.05, "{shown} vs {size}");
        assert!(row["CreatedAt"].as_str().unwrap().ends_with("+0000 UTC"));
    }
    assert_eq!(
        stdout(&kiln, dir.path(), &["images", "-q", "--no-trunc"]),
        format!("{id}\n{id}\n")
    );
    let only = stdout(&kiln, dir.path(), &["images", "app"]);
    assert_eq!(only.lines().count(), 2, "{only}");
    let filtered = stdout(
        &kiln,
        dir.path(),
        &["images", "-q", "--filter", "reference=registry*/*/*"],
    );
    assert_eq!(filtered, format!("{short}\n"));
    let digests = stdout(&kiln, dir.path(), &["images", "--digests", "app:1"]);
    assert!(
        digests.contains("DIGEST") && digests.contains("sha256:"),
        "{digests}"
    );
    assert_eq!(
        stdout(
            &kiln,
            dir.path(),
            &["images", "-q", "--filter", "dangling=true"]
        ),
        ""
    );

    // A rebuild that moves the tag leaves the old image dangling.
    kiln.ok(dir.path(), &["rmi", "registry.local:5000/team/app:v2"]);
    build(&kiln, dir.path(), &BASE.replace("hello", "bye"), "app:1");
    let dangling = stdout(&kiln, dir.path(), &["images", "--filter", "dangling=true"]);
    assert!(
        dangling.contains("<none>") && dangling.contains(short),
        "{dangling}"
    );

    fails(
        &kiln,
        dir.path(),
        &["images", "--filter", "color=red"],
        1,
        "invalid filter 'color=red'",
    );
    fails(
        &kiln,
        dir.path(),
        &["images", "--format", "yaml"],
        2,
        "invalid value 'yaml'",
    );
}

#[test]
fn tag_and_rmi_follow_docker() {
    let kiln = Kiln::new();
    let dir = busybox_context(BASE);
    let id = build(&kiln, dir.path(), BASE, "app:1");
    let d = dir.path();
    // By id prefix, by name (implicit :latest), to another repository.
    kiln.ok(d, &["tag", &id[7..15], "app"]);
    kiln.ok(d, &["tag", "app", "other:x"]);
    assert_eq!(tags(&kiln, d), ["app:1", "app:latest", "other:x"]);

    let out = stdout(&kiln, d, &["rmi", "app"]);
    assert_eq!(out, "Untagged: app:latest\n");
    fails(
        &kiln,
        d,
        &["rmi", &id[7..19]],
        1,
        "image is referenced in multiple repositories",
    );
    assert_eq!(tags(&kiln, d), ["app:1", "other:x"]);
    kiln.ok(d, &["rmi", "other:x"]);
    let out = stdout(&kiln, d, &["rmi", "app:1"]);
    assert_eq!(out, format!("Untagged: app:1\nDeleted: {id}\n"));
    assert!(images(&kiln, d).is_empty(), "no dangling leftover");

    let id = build(&kiln, d, BASE, "app:1");
    kiln.ok(d, &["tag", "app:1", "other:y"]);
    let out = stdout(&kiln, d, &["rmi", "-f", &id]);
    assert!(
        out.contains("Untagged: app:1\nUntagged: other:y\nDeleted: "),
        "{out}"
    );
    // The cache survives rmi: a rebuild is a cache hit with the same id.
    assert_eq!(build(&kiln, d, BASE, "app:1"), id);

    fails(
        &kiln,
        d,
        &["tag", "nothere", "x"],
        1,
        "No such image: nothere",
    );
    fails(
        &kiln,
        d,
        &["tag", "app:1", "Bad:Tag"],
        1,
        "not a valid repository/tag",
    );
    fails(
        &kiln,
        d,
        &["tag", "app:1"],
        2,
        "required arguments were not provided",
    );
    fails(
        &kiln,
        d,
        &["rmi"],
        2,
        "required arguments were not provided",
    );
    // Several names: the good ones are removed, the bad reported, exit 1.
    kiln.ok(d, &["tag", "app:1", "third:1"]);
    let out = fails(
        &kiln,
        d,
        &["rmi", "third:1", "ghost:9"],
        1,
        "No such image: ghost:9",
    );
    assert_eq!(text(&out.stdout), "Untagged: third:1\n");
}

#[test]
fn inspect_and_history_look_like_docker() {
    let kiln = Kiln::new();
    let dir = busybox_context(BASE);
    let d = dir.path();
    let id = build(&kiln, d, "FROM scratch\nCOPY busybox /bin/busybox\nENV A=1\nLABEL x=y\nCOPY <<EOF /msg\nhello\nEOF\nCMD [\"/bin/busybox\", \"cat\", \"/msg\"]\n", "app:1");
    let i = inspect(&kiln, d, "app:1");
    assert_eq!(i["Id"], id.as_str());
    assert_eq!(i["RepoTags"], serde_json::json!(["app:1"]));
    assert!(i["RepoDigests"][0]
        .as_str()
        .unwrap()
        .starts_with("app@sha256:"));
    assert_eq!(
        i["Config"]["Cmd"],
        serde_json::json!(["/bin/busybox", "cat", "/msg"])
    );
    assert_eq!(i["Config"]["Labels"]["x"], "y");
    assert_eq!(i["RootFS"]["Type"], "layers");
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(i["Os"], "linux");
    assert!(i["Size"].as_u64().unwrap() > 1_000_000);
    assert!(i["Created"].as_str().unwrap().ends_with('Z'));
    assert!(i["Metadata"]["LastTagTime"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    // By id, and several at once.
    let both: Value = serde_json::from_str(&stdout(&kiln, d, &["inspect", &id, "app:1"])).unwrap();
    assert_eq!(both.as_array().unwrap().len(), 2);
    let out = fails(
        &kiln,
        d,
        &["inspect", "app:1", "ghost"],
        1,
        "No such image: ghost",
    );
    let partial: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(partial.as_array().unwrap().len(), 1);
    let out = fails(&kiln, d, &["inspect", "ghost"], 1, "No such image: ghost");
    assert_eq!(text(&out.stdout).trim(), "[]");

    let history = stdout(&kiln, d, &["history", "app:1"]);
    let lines: Vec<&str> = history.lines().collect();
    assert!(
        lines[0].starts_with("IMAGE")
            && lines[0].contains("CREATED BY")
            && lines[0].contains("COMMENT")
    );
    assert_eq!(lines.len(), 6, "{history}");
    assert!(
        lines[1].starts_with(&id[7..19]) && lines[1].contains("CMD"),
        "{history}"
    );
    assert!(
        lines[2..].iter().all(|l| l.starts_with("<missing>")),
        "{history}"
    );
    assert!(
        lines[5].contains("COPY busybox /bin/busybox") && lines[5].contains("MB"),
        "{history}"
    );
    let json: Vec<Value> = stdout(
        &kiln,
        d,
        &["history", "--format", "json", "--no-trunc", "app:1"],
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!(json.len(), 5);
    assert_eq!(json[0]["ID"], id.as_str());
    assert_eq!(json[3]["Size"], "0B", "ENV makes no layer");
    let raw = stdout(&kiln, d, &["history", "-H=false", "-q", "app:1"]);
    assert_eq!(raw.lines().count(), 5);
    let raw = stdout(&kiln, d, &["history", "--human=false", "app:1"]);
    assert!(raw.contains("Z   ") && !raw.contains(" ago"), "{raw}");
    fails(
        &kiln,
        d,
        &["history", "ghost:1"],
        1,
        "No such image: ghost:1",
    );
}

#[test]
fn save_and_load_round_trip_both_formats() {
    let kiln = Kiln::new();
    let dir = busybox_context(BASE);
    let d = dir.path();
    let id1 = build(&kiln, d, BASE, "app:1");
    let id2 = build(&kiln, d, &BASE.replace("hello", "two"), "app:2");
    kiln.ok(d, &["tag", "app:1", "alias:1"]);
    let manifest1 = inspect(&kiln, d, "app:1")["Descriptor"]["digest"].clone();

    kiln.ok(d, &["save", "-o", "all.tar", "app", "alias:1"]);
    let files = common::archive_entries(&d.join("all.tar"));
    let m: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(m.as_array().unwrap().len(), 2, "{m}");
    kiln.ok(
        d,
        &["save", "--format", "oci", "-o", "app1.oci.tar", "app:1"],
    );
    let oci = common::archive_entries(&d.join("app1.oci.tar"));
    assert!(oci.contains_key("index.json") && !oci.contains_key("manifest.json"));
    // `-o -` writes to stdout.
    let out = kiln.run(d, &["save", "-o", "-", "app:2"]);
    assert!(out.status.success());
    std::fs::write(d.join("app2.tar"), &out.stdout).unwrap();

    for name in ["app:1", "app:2", "alias:1"] {
        kiln.ok(d, &["rmi", name]);
    }
    assert!(images(&kiln, d).is_empty());
    let out = stdout(&kiln, d, &["load", "-i", "all.tar"]);
    assert!(
        out.contains("Loaded image: app:1")
            && out.contains("Loaded image: app:2")
            && out.contains("Loaded image: alias:1"),
        "{out}"
    );
    assert_eq!(inspect(&kiln, d, "app:1")["Id"], id1.as_str());
    assert_eq!(inspect(&kiln, d, "app:2")["Id"], id2.as_str());
    assert_eq!(
        inspect(&kiln, d, "app:1")["Descriptor"]["digest"],
        manifest1,
        "manifest kept"
    );

    // The OCI layout, gzip-compressed, from stdin.
    kiln.ok(d, &["rmi", "app:1", "alias:1"]);
    let gz = Command::new("gzip")
        .args(["-c", "app1.oci.tar"])
        .current_dir(d)
        .output()
        .unwrap();
    let mut child = kiln
        .cmd(d, &["load", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &gz.stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "", "-q");
    assert_eq!(inspect(&kiln, d, "app:1")["Id"], id1.as_str());
    // The loaded image runs as a base.
    build(
        &kiln,
        d,
        "FROM app:1\nRUN [\"/bin/busybox\", \"cp\", \"/msg\", \"/copy\"]\n",
        "derived:1",
    );

    // Damage: a flipped byte in a blob fails the load and tags nothing.
    let mut bad = std::fs::read(d.join("app2.tar")).unwrap();
    let at = bad
        .windows(6)
        .position(|w| w == b"two\n\0\0")
        .expect("the msg layer's content");
    bad[at] = b'T';
    std::fs::write(d.join("bad.tar"), bad).unwrap();
    kiln.ok(d, &["rmi", "app:2"]);
    fails(
        &kiln,
        d,
        &["load", "-i", "bad.tar"],
        1,
        "does not match its digest",
    );
    fails(&kiln, d, &["inspect", "app:2"], 1, "No such image");
    std::fs::write(d.join("junk.tar"), b"certainly not a tar").unwrap();
    fails(&kiln, d, &["load", "-i", "junk.tar"], 1, "error:");
    fails(
        &kiln,
        d,
        &["load", "-i", "missing.tar"],
        1,
        "opening missing.tar",
    );
    // A tar that is not an image archive.
    let plain = Command::new("tar")
        .args(["-cf", "plain.tar", "Dockerfile"])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(plain.success());
    fails(
        &kiln,
        d,
        &["load", "-i", "plain.tar"],
        1,
        "not an image archive",
    );
    fails(
        &kiln,
        d,
        &["save", "-o", "x.tar", "ghost"],
        1,
        "No such image: ghost",
    );
    assert!(!d.join("x.tar").exists());
    fails(
        &kiln,
        d,
        &["save", "--format", "zip", "app:1"],
        2,
        "invalid value 'zip'",
    );
    fails(
        &kiln,
        d,
        &["save", "-o", "/nonexistent/dir/x.tar", "app:1"],
        1,
        "creating",
    );
}

/// A gzip rootfs tarball holding busybox as /bin/busybox.
fn rootfs_tgz(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(busybox().unwrap(), root.join("bin/busybox")).unwrap();
    let tgz = dir.join("rootfs.tgz");
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&root)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    tgz
}

#[test]
fn import_makes_a_one_layer_image_with_changes() {
    let kiln = Kiln::new();
    let dir = context(&[]);
    let d = dir.path();
    let tgz = rootfs_tgz(d);
    let out = stdout(
        &kiln,
        d,
        &[
            "import",
            "--change",
            "CMD [\"/bin/busybox\", \"cat\", \"/etc/msg\"]",
            "-c",
            "ENV GREETING=hi",
            "-c",
            "WORKDIR /work",
            "-c",
            "EXPOSE 8080",
            "-c",
            "LABEL team=kiln",
            "-c",
            "USER 1000",
            "-m",
            "my import",
            tgz.to_str().unwrap(),
            "imported:1",
        ],
    );
    let id = out.trim();
    let i = inspect(&kiln, d, "imported:1");
    assert_eq!(i["Id"], id);
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let c = &i["Config"];
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/busybox", "cat", "/etc/msg"])
    );
    assert_eq!(
        c["Env"],
        serde_json::json!(["GREETING=hi"]),
        "no default PATH"
    );
    assert_eq!(c["WorkingDir"], "/work");
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(c["Labels"]["team"], "kiln");
    assert_eq!(c["User"], "1000");
    assert_eq!(i["Comment"], "my import");
    let history = stdout(&kiln, d, &["history", "imported:1"]);
    assert!(history.contains("my import"), "{history}");
    // Without changes: an empty config; from stdin, uncompressed.
    let tar = Command::new("gzip")
        .arg("-dc")
        .arg(&tgz)
        .output()
        .unwrap()
        .stdout;
    let mut child = kiln
        .cmd(d, &["import", "-", "plain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tar).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let plain = inspect(&kiln, d, "plain:latest");
    assert_eq!(plain["Config"], serde_json::json!({}));
    assert_eq!(plain["Comment"], "Imported from -");
    // The layer is the uncompressed tar itself: its digest is the diff id.
    let diff = plain["RootFS"]["Layers"][0].as_str().unwrap().to_string();
    assert_eq!(diff, format!("sha256:{}", common_sha256(&tar)));
    // An imported image is a base for builds (RUN included).
    std::fs::write(d.join("Dockerfile"), "FROM imported:1\nUSER 0\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo $GREETING > /etc/msg\"]\n").unwrap();
    let out = d.join("out");
    kiln.ok(
        d,
        &[
            "build",
            "-o",
            &format!("type=local,dest={}", out.display()),
            ".",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("etc/msg")).unwrap(),
        "hi\n"
    );

    fails(
        &kiln,
        d,
        &["import", "-c", "RUN echo", tgz.to_str().unwrap()],
        1,
        "RUN is not a valid change command",
    );
    fails(
        &kiln,
        d,
        &["import", "-c", "CMD a\nCMD b", tgz.to_str().unwrap()],
        1,
        "expected one Dockerfile instruction",
    );
    fails(
        &kiln,
        d,
        &["import", "Dockerfile", "x"],
        1,
        "not a valid tar archive",
    );
    fails(
        &kiln,
        d,
        &["import", "nothere.tar"],
        1,
        "opening nothere.tar",
    );
    fails(
        &kiln,
        d,
        &["import", tgz.to_str().unwrap(), "Bad:Name"],
        1,
        "invalid reference",
    );
    fails(
        &kiln,
        d,
        &["import"],
        2,
        "required arguments were not provided",
    );
}

fn common_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn prune_keeps_what_tags_need_and_builds_still_work() {
    let kiln = Kiln::new();
    let dir = busybox_context(BASE);
    let d = dir.path();
    let id = build(&kiln, d, BASE, "app:1");
    let run = "FROM app:1\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo ran > /ran\"]\n";
    build(&kiln, d, run, "derived:1");
    // Dangling: an image whose tag moved.
    build(&kiln, d, &BASE.replace("hello", "old"), "moving:1");
    build(&kiln, d, &BASE.replace("hello", "new"), "moving:1");
    let du = stdout(&kiln, d, &["du"]);
    assert!(
        du.contains("RECLAIMABLE") && du.contains("Reclaimable:") && du.contains("Total:"),
        "{du}"
    );
    let verbose = stdout(&kiln, d, &["du", "--verbose"]);
    assert!(verbose.contains("Record:\t\tsha256:"), "{verbose}");
    let usage: Value =
        serde_json::from_str(&stdout(&kiln, d, &["du", "--format", "json"])).unwrap();
    assert!(usage["Reclaimable"].as_u64().unwrap() > 0, "{usage}");

    let out = stdout(&kiln, d, &["prune", "-f"]);
    assert!(out.contains("Deleted Images:\ndeleted: sha256:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(tags(&kiln, d), ["app:1", "derived:1", "moving:1"]);
    assert_eq!(
        stdout(&kiln, d, &["images", "-q", "--filter", "dangling=true"]),
        ""
    );
    assert!(stdout(&kiln, d, &["doctor"]).contains("store OK"));

    let out = stdout(&kiln, d, &["prune", "--all"]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    let usage: Value =
        serde_json::from_str(&stdout(&kiln, d, &["du", "--format", "json"])).unwrap();
    assert_eq!(usage["Snapshots"].as_array().unwrap().len(), 0, "{usage}");
    assert_eq!(usage["Records"], 0);
    // Every tagged image is whole, and builds work from them.
    kiln.ok(d, &["doctor"]);
    assert_eq!(inspect(&kiln, d, "app:1")["Id"], id.as_str());
    kiln.ok(
        d,
        &["save", "-o", "all.tar", "app:1", "derived:1", "moving:1"],
    );
    build(
        &kiln,
        d,
        &format!("{run}RUN [\"/bin/busybox\", \"cat\", \"/ran\"]\n").replace("app:1", "derived:1"),
        "again:1",
    );
    build(&kiln, d, BASE, "rebuilt:1");
    // --keep-storage keeps recent cache.
    let out = stdout(&kiln, d, &["prune", "--all", "--keep-storage", "1GB"]);
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
    fails(
        &kiln,
        d,
        &["prune", "--keep-storage", "lots"],
        2,
        "invalid size",
    );
    fails(
        &kiln,
        d,
        &["prune", "--check", "--all"],
        2,
        "cannot be used with",
    );
}

/// `kill`-free concurrency: builds and prunes on one store at once; no
/// prune may take anything a build or a tag needs.
#[test]
fn prune_is_safe_against_concurrent_builds() {
    let kiln = Kiln::new();
    let dir = busybox_context(BASE);
    let d = dir.path();
    build(&kiln, d, BASE, "base:1");
    for round in 0..3 {
        let dockerfile = format!("FROM base:1\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo {round} > /r && /bin/busybox sleep 1\"]\n");
        std::fs::write(d.join(format!("Dockerfile.{round}")), &dockerfile).unwrap();
        let tag = format!("r:{round}");
        let builder = kiln
            .cmd(
                d,
                &[
                    "build",
                    "-q",
                    "-f",
                    &format!("Dockerfile.{round}"),
                    "-t",
                    &tag,
                    ".",
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let prune = kiln.run(d, &["prune", "--all"]);
        assert!(prune.status.success(), "{}", text(&prune.stderr));
        let built = builder.wait_with_output().unwrap();
        assert!(built.status.success(), "{}", text(&built.stderr));
        let check = kiln.run(d, &["doctor"]);
        assert!(check.status.success(), "{}", text(&check.stdout));
    }
    for round in 0..3 {
        let out = d.join(format!("out{round}"));
        std::fs::write(d.join("Dockerfile"), format!("FROM r:{round}\n")).unwrap();
        kiln.ok(
            d,
            &[
                "build",
                "-o",
                &format!("type=local,dest={}", out.display()),
                ".",
            ],
        );
        assert_eq!(
            std::fs::read_to_string(out.join("r")).unwrap(),
            format!("{round}\n")
        );
    }
}

#[test]
fn doctor_reports_damage_and_repair_lets_builds_work() {
    let kiln = Kiln::new();
    let dir = busybox_context(BASE);
    let d = dir.path();
    build(&kiln, d, BASE, "app:1");
    build(
        &kiln,
        d,
        "FROM app:1\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo x > /x\"]\n",
        "derived:1",
    );
    let out = stdout(&kiln, d, &["doctor"]);
    assert!(out.starts_with("store OK:"), "{out}");
    let root = kiln.root.path();

    // Bit rot in the base image's busybox layer, and a lost snapshot.
    let layer = inspect(&kiln, d, "app:1")["RootFS"]["Layers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let blob = root.join("blobs/sha256").join(&layer[7..]);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::remove_file(&blob).unwrap();
    std::fs::write(&blob, bytes).unwrap();
    let snapshots: Vec<_> = std::fs::read_dir(root.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    std::fs::remove_dir_all(snapshots.iter().max().unwrap()).unwrap();

    let out = kiln.run(d, &["doctor"]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!(
            "problem: blob {layer}: content does not match its name"
        )),
        "{report}"
    );
    assert!(
        report.contains("problem: tag docker.io/library/app:1:"),
        "{report}"
    );
    assert!(report.contains("its directory is missing"), "{report}");
    assert!(
        report.contains("problem(s) found; `kiln doctor --repair`"),
        "{report}"
    );
    let out = kiln.run(d, &["prune", "--check"]);
    assert_eq!(out.status.code(), Some(1));

    let out = kiln.run(d, &["doctor", "--repair"]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains(&format!("repaired: removed blob {layer}")),
        "{report}"
    );
    assert!(
        report.contains("repaired: removed tag docker.io/library/app:1"),
        "{report}"
    );
    kiln.ok(d, &["doctor"]);
    fails(&kiln, d, &["inspect", "app:1"], 1, "No such image");
    // The next build works: it rebuilds what was dropped.
    build(&kiln, d, BASE, "app:1");
    build(
        &kiln,
        d,
        "FROM app:1\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo x > /x\"]\n",
        "derived:1",
    );
    kiln.ok(d, &["doctor"]);

    // A database that cannot be opened is set aside by --repair.
    std::fs::write(root.join("meta.redb"), vec![0x5a; 8192]).unwrap();
    let out = kiln.run(d, &["doctor"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = kiln.run(d, &["doctor", "--repair"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("moved the database to"),
        "{}",
        text(&out.stdout)
    );
    build(&kiln, d, BASE, "app:1");
    kiln.ok(d, &["doctor"]);
    fails(
        &kiln,
        d,
        &["doctor", "--fix"],
        2,
        "unexpected argument '--fix'",
    );
}
