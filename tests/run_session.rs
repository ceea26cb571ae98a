//! What `kiln build` lends and allows RUN steps: `--secret`, `--ssh`,
//! `--allow` entitlements and `--network`, through the real binary.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::base::{build_with, layers, metadata_text, with_base};
use common::{context, layer_file, layer_listing, require, text};

/// The uncompressed tar of a gzip layer blob.
fn gunzip(blob: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = blob.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out.stdout
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_are_mounted_but_never_stored() {
    let (kiln, _base) = with_base();
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("tok");
    std::fs::write(&file, "file-secret-4711").unwrap();
    let df = "FROM base:1\n\
        RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /len && ls -ln /run/secrets/tok > /perm && (echo x > /run/secrets/tok 2>/dev/null && echo WRITABLE || echo ro) > /ro\n\
        RUN --mount=type=secret,id=envtok,env=TOK,target=/s/t,mode=0440,uid=1000,gid=1000 printf %s \"$TOK\" | sha256sum > /envsum && ls -ln /s/t > /perm2 && printf %s \"$TOK\" | cmp -s /s/t - && echo same > /file2\n\
        RUN --mount=type=secret,id=absent (ls /run 2>&1 || true) > /absent\n";
    let src = format!("id=tok,src={}", file.display());
    let dir = context(&[("Dockerfile", df)]);
    let build = |value: &str| {
        let mut cmd = kiln.cmd(
            dir.path(),
            &[
                "build",
                "--secret",
                &src,
                "--secret",
                "id=envtok,env=KILN_TEST_SECRET",
                "-o",
                "type=docker,dest=img.tar",
                ".",
            ],
        );
        cmd.env("KILN_TEST_SECRET", value).output().unwrap()
    };
    let out = build("env-secret-0815");
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");

    let l = layers(dir.path());
    let n = l.len();
    assert_eq!(layer_file(&l[n - 3], "len").trim(), "16");
    let perm = layer_file(&l[n - 3], "perm");
    let fields: Vec<&str> = perm.split_whitespace().collect();
    assert_eq!((fields[0], fields[2], fields[3]), ("-r--------", "0", "0"));
    assert_eq!(layer_file(&l[n - 3], "ro"), "ro\n");
    let sum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest("env-secret-0815"));
    assert!(layer_file(&l[n - 2], "envsum").starts_with(&sum));
    assert_eq!(layer_file(&l[n - 2], "file2"), "same\n");
    let perm2 = layer_file(&l[n - 2], "perm2");
    let fields: Vec<&str> = perm2.split_whitespace().collect();
    assert_eq!(
        (fields[0], fields[2], fields[3]),
        ("-r--r-----", "1000", "1000")
    );
    // A missing optional secret is skipped: not even its mount point.
    assert!(layer_file(&l[n - 1], "absent").contains("No such file"));

    // Nowhere in the image: no layer holds the values or their mount
    // points, neither does the config (history included).
    for layer in &l {
        let tar = gunzip(layer);
        for secret in ["file-secret-4711", "env-secret-0815"] {
            assert!(!contains(&tar, secret), "a layer holds {secret}");
        }
        for entry in layer_listing(layer) {
            assert!(
                !entry.contains("run/secrets") && !entry.ends_with(" s/t"),
                "{entry}"
            );
        }
    }
    let meta = metadata_text(dir.path());
    assert!(meta.contains("RUN"), "the config has the history");
    for secret in ["file-secret-4711", "env-secret-0815"] {
        assert!(!meta.contains(secret), "the config holds {secret}");
        assert!(!log.contains(secret), "the log shows {secret}");
    }

    // The cache does not key on the secrets' contents (as BuildKit).
    std::fs::write(&file, "changed").unwrap();
    let again = build("changed-too");
    let log = text(&again.stderr);
    assert!(again.status.success(), "{log}");
    let steps = log.lines().filter(|l| l.contains("/4] ")).count();
    let cached = log.lines().filter(|l| l.ends_with(" CACHED")).count();
    assert!(steps > 0 && cached == steps, "{log}");
}

#[test]
fn a_missing_required_secret_fails_clearly() {
    let (kiln, _base) = with_base();
    let (out, _dir) = build_with(
        &kiln,
        "FROM base:1\nRUN --mount=type=secret,id=nope,required echo never-runs\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("secret nope: not found"), "{err}");
    assert!(err.contains("--secret id=nope"), "{err}");
    assert!(!err.contains("\nnever-runs"), "{err}");

    let (out, _dir) = build_with(&kiln, "FROM base:1\n", &["--secret", "id=x,type=socket"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("unsupported secret type \"socket\""), "{err}");
    let (out, _dir) = build_with(&kiln, "FROM base:1\n", &["--secret", "id=x,src=/no/such"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("failed to stat /no/such"), "{err}");
}

/// An `ssh-agent` of the test's own, killed by PID on drop.
struct Agent {
    child: Child,
    socket: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Agent {
    fn start() -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..500 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Agent { child, socket, dir }
    }

    /// A new key (comment `comment`) at `dir/comment`.
    fn keygen(&self, comment: &str) -> std::path::PathBuf {
        let key = self.dir.path().join(comment);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        key
    }

    fn add(&self, key: &Path) {
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A context with `ssh-add` and the libraries it loads, at their paths.
fn ssh_add_context(dockerfile: &str) -> tempfile::TempDir {
    let dir = context(&[("Dockerfile", dockerfile)]);
    let ldd = Command::new("ldd")
        .arg("/usr/bin/ssh-add")
        .output()
        .unwrap();
    let mut files = vec!["/usr/bin/ssh-add".to_string()];
    for word in text(&ldd.stdout).split_whitespace() {
        if word.starts_with('/') {
            files.push(word.to_string());
        }
    }
    for f in files {
        let dest = dir.path().join("root").join(f.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
    dir
}

#[test]
fn ssh_agents_are_forwarded() {
    if !require("ssh-agent") || !require("ssh-keygen") || !require("ldd") {
        return;
    }
    let (kiln, _base) = with_base();
    let agent = Agent::start();
    let in_agent = agent.keygen("key-in-the-agent");
    agent.add(&in_agent);
    let from_file = agent.keygen("key-from-a-file");
    let df = "FROM base:1\nCOPY root/ /\nUSER app\n\
        RUN --mount=type=ssh,uid=1000 ssh-add -l && echo \"sock=$SSH_AUTH_SOCK\"\n\
        RUN --mount=type=ssh,id=k,target=/tmp/k.sock,uid=1000,mode=0600 SSH_AUTH_SOCK=/tmp/k.sock ssh-add -l\n\
        RUN --mount=type=ssh ssh-add -l || echo no-access-as-app\n";
    let dir = ssh_add_context(df);
    let key_spec = format!("k={}", from_file.display());
    let out = kiln
        .cmd(
            dir.path(),
            &["build", "--ssh", "default", "--ssh", &key_spec, "."],
        )
        .env("SSH_AUTH_SOCK", &agent.socket)
        .output()
        .unwrap();
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    // The agent answers through the forwarded socket: ssh-add lists its key.
    assert!(log.contains("key-in-the-agent (ED25519)"), "{log}");
    assert!(log.contains("sock=/run/buildkit/ssh_agent.0"), "{log}");
    // --ssh id=KEYFILE: an agent holding that key.
    assert!(log.contains("key-from-a-file (ED25519)"), "{log}");
    // The socket is root's (0600) unless the mount says otherwise.
    assert!(log.contains("Permission denied"), "{log}");
    assert!(log.contains("no-access-as-app"), "{log}");

    // A required agent the build was not given; an optional one is skipped.
    let required = "FROM base:1\nRUN --mount=type=ssh echo optional-skipped\nRUN --mount=type=ssh,required echo never-runs\n";
    std::fs::write(dir.path().join("Dockerfile"), required).unwrap();
    let out = kiln.run(dir.path(), &["build", "."]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("no SSH key \"default\" forwarded from the client"),
        "{err}"
    );
    assert!(err.contains("optional-skipped") && !err.contains("\nnever-runs"));
    let out = kiln
        .cmd(dir.path(), &["build", "--ssh", "default", "."])
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("make sure SSH_AUTH_SOCK is set"), "{err}");
}

#[test]
fn entitlements_gate_host_network_and_insecure_steps() {
    let (kiln, _base) = with_base();
    let host = "FROM base:1\nRUN --network=host echo on-the-host\n";
    let (out, _d) = build_with(&kiln, host, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("network.host is not allowed"), "{err}");
    assert!(
        !err.contains("\non-the-host"),
        "refused before running: {err}"
    );
    let (out, _d) = build_with(&kiln, host, &["--allow", "network.host"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // `--network host` grants it too, as in buildx.
    let (out, _d) = build_with(&kiln, host, &["--network", "host"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let insecure = "FROM base:1\nRUN --security=insecure grep CapEff /proc/self/status > /caps\n";
    let (out, _d) = build_with(&kiln, insecure, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("security.insecure is not allowed"), "{err}");
    let (out, dir) = build_with(&kiln, insecure, &["--allow", "security.insecure"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let caps = layer_file(layers(dir.path()).last().unwrap(), "caps");
    let effective = u64::from_str_radix(caps.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert!(
        effective & (1 << 21) != 0,
        "CAP_SYS_ADMIN in an insecure step: {caps}"
    );

    let (out, _d) = build_with(&kiln, "FROM base:1\n", &["--allow", "device.everything"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown entitlement device.everything"));
}

#[test]
fn the_build_network_is_the_default_of_run_steps() {
    let (kiln, _base) = with_base();
    let df = "FROM base:1\nRUN cat /proc/net/dev > /net\nRUN --network=host cat /proc/net/dev > /hostnet\n";
    let dir = context(&[("Dockerfile", df)]);
    let run = |flags: &[&str]| {
        let mut args = vec!["build", "-o", "type=docker,dest=img.tar"];
        args.extend_from_slice(flags);
        args.push(".");
        kiln.run(dir.path(), &args)
    };
    let out = run(&["--allow", "network.host"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let l = layers(dir.path());
    let host_lines = layer_file(&l[l.len() - 2], "net").lines().count();
    assert!(host_lines > 3, "the host has an interface besides lo");

    let out = run(&["--network", "none", "--allow", "network.host"]);
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    // Not the cached result of the host-network build: only FROM is.
    assert_eq!(log.matches("CACHED").count(), 1, "{log}");
    let l = layers(dir.path());
    assert_eq!(
        layer_file(&l[l.len() - 2], "net").lines().count(),
        3,
        "only lo"
    );
    // An explicit --network=host wins over the build's default.
    assert_eq!(
        layer_file(&l[l.len() - 1], "hostnet").lines().count(),
        host_lines
    );

    let out = run(&["--network", "bridge"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("network mode \"bridge\" not supported"));
}
