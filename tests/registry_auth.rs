//! Registry authentication against the real distribution registry:
//! htpasswd Basic auth with `kiln login/logout` and config.json, a
//! docker-credential helper, TLS with a CA of the test's own, and the
//! bearer token flow with a token issuer written for the test.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::registry::{make_tls_certs, Registry};
use common::token::TokenIssuer;
use common::{busybox, context, require, text, Kiln};

const USER: &str = "kiln";
const SECRET: &str = "s3cret-pass";

fn tools() -> bool {
    require("docker-registry") && require("skopeo") && require("htpasswd") && require("openssl")
}

fn htpasswd_registry() -> Registry {
    Registry::start_with(|dir| {
        let out = Command::new("htpasswd")
            .args(["-Bbn", USER, SECRET])
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::write(dir.join("htpasswd"), out.stdout).unwrap();
        format!(
            "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
            dir.join("htpasswd").display()
        )
    })
}

fn app_context() -> tempfile::TempDir {
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"true\"]\n",
    )]);
    std::fs::copy(
        busybox().expect("static busybox"),
        dir.path().join("busybox"),
    )
    .unwrap();
    dir
}

/// `kiln login` with the password on stdin.
fn login(kiln: &Kiln, host: &str, password: &str, env: &[(&str, &Path)]) -> Output {
    let mut cmd = kiln.cmd(
        Path::new("/"),
        &["login", "-u", USER, "--password-stdin", host],
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn fails_with(out: &Output, want: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(want), "expected {want:?} in:\n{err}");
}

#[test]
fn basic_auth_login_push_pull_logout() {
    if !tools() || busybox().is_none() {
        return;
    }
    let registry = htpasswd_registry();
    let host = registry.host.clone();
    let kiln = Kiln::new();
    let dir = app_context();
    let name = format!("{host}/test/app:v1");
    kiln.ok(dir.path(), &["build", "-t", &name, "."]);
    let out = kiln.run(dir.path(), &["push", &name]);
    fails_with(
        &out,
        &format!("login required: {host} refused anonymous access to test/app"),
    );

    let out = login(&kiln, &host, "wrong", &[]);
    fails_with(&out, &format!("login to {host} failed"));
    let config = kiln.root.path().join("docker-config/config.json");
    assert!(!config.exists());

    let out = login(&kiln, &host, SECRET, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Login Succeeded\n");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{SECRET}"));
    assert_eq!(saved["auths"][host.as_str()]["auth"], auth.as_str());

    kiln.ok(dir.path(), &["push", &name]);
    let creds = format!("{USER}:{SECRET}");
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", &creds])
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Another store with the same docker config pulls it.
    let other = Kiln::new();
    let docker_config = kiln.root.path().join("docker-config");
    let pull = |k: &Kiln| {
        k.cmd(Path::new("/"), &["pull", &name])
            .env("DOCKER_CONFIG", &docker_config)
            .output()
            .unwrap()
    };
    let out = pull(&other);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = kiln.run(Path::new("/"), &["logout", &host]);
    assert_eq!(
        text(&out.stdout),
        format!("Removing login credentials for {host}\n")
    );
    let out = pull(&Kiln::new());
    fails_with(&out, "login required");
}

#[test]
fn credential_helper_supplies_and_stores_credentials() {
    if !tools() || busybox().is_none() {
        return;
    }
    let registry = htpasswd_registry();
    let host = registry.host.clone();
    let kiln = Kiln::new();
    let bin = tempfile::tempdir().unwrap();
    let store = bin.path().join("stored.json");
    // A helper speaking docker's credential-helper protocol.
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  get) read server; if [ \"$server\" = \"{host}\" ]; then echo '{{\"ServerURL\":\"{host}\",\"Username\":\"{USER}\",\"Secret\":\"{SECRET}\"}}'; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n  store) cat > {} ;;\n  erase) cat > /dev/null ;;\nesac\n",
        store.display()
    );
    let helper = bin.path().join("docker-credential-kilntest");
    std::fs::write(&helper, script).unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&helper)
        .status()
        .unwrap();
    let config_dir = kiln.root.path().join("docker-config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.json"),
        format!("{{\"credHelpers\": {{\"{host}\": \"kilntest\"}}}}"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let dir = app_context();
    let name = format!("{host}/test/helper:v1");
    kiln.ok(dir.path(), &["build", "-t", &name, "."]);
    let out = kiln
        .cmd(dir.path(), &["push", &name])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // `credsStore`: kiln login hands the secret to the helper.
    std::fs::write(
        config_dir.join("config.json"),
        "{\"credsStore\": \"kilntest\"}",
    )
    .unwrap();
    let mut cmd = kiln.cmd(
        Path::new("/"),
        &["login", "-u", USER, "--password-stdin", &host],
    );
    let mut child = cmd
        .env("PATH", &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(SECRET.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    assert_eq!(stored["Secret"], SECRET);
    assert_eq!(stored["ServerURL"], host.as_str());
    let config = std::fs::read_to_string(config_dir.join("config.json")).unwrap();
    assert!(!config.contains(SECRET), "{config}");
}

/// Removes a certs.d directory made for one test port.
struct CertsDir(std::path::PathBuf);

impl Drop for CertsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn tls_registry_with_a_private_ca() {
    if !tools() || busybox().is_none() {
        return;
    }
    let registry = Registry::start_with(|dir| {
        make_tls_certs(dir);
        format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            dir.join("server.crt").display(),
            dir.join("server.key").display()
        )
    });
    let ca = registry.dir.path().join("ca.crt");
    let host = registry.host.clone();
    let kiln = Kiln::new();
    let dir = app_context();
    let name = format!("{host}/test/tls:v1");
    kiln.ok(dir.path(), &["build", "-t", &name, "."]);
    // Untrusted: a certificate error, and no fallback to plain HTTP.
    let out = kiln.run(dir.path(), &["push", &name]);
    fails_with(&out, &format!("cannot reach registry {host}"));
    assert!(
        text(&out.stderr).contains("certificate"),
        "{}",
        text(&out.stderr)
    );

    // Trusted through SSL_CERT_FILE.
    let out = kiln
        .cmd(dir.path(), &["push", &name])
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(&ca, certs.path().join("ca.crt")).unwrap();
    let out = Command::new("skopeo")
        .args(["inspect", "--cert-dir"])
        .arg(certs.path())
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // --insecure-registry: TLS without verification, as docker does.
    let out = kiln
        .cmd(dir.path(), &["pull", "--insecure-registry", &host, &name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Trusted through docker's certs.d directory for this host.
    let certs_d = CertsDir(Path::new("/etc/docker/certs.d").join(&host));
    std::fs::create_dir_all(&certs_d.0).unwrap();
    std::fs::copy(&ca, certs_d.0.join("ca.crt")).unwrap();
    let fresh = Kiln::new();
    fresh.ok(dir.path(), &["pull", &name]);
}

#[test]
fn token_auth_scopes_login_and_mounts() {
    if !tools() || busybox().is_none() {
        return;
    }
    let issuer_dir = tempfile::tempdir().unwrap();
    let issuer = TokenIssuer::start(issuer_dir.path(), USER, SECRET);
    let registry = Registry::start_with(|_| issuer.registry_config());
    let host = registry.host.clone();
    let kiln = Kiln::new();
    let dir = app_context();
    let name = format!("{host}/test/app:v1");
    kiln.ok(dir.path(), &["build", "-t", &name, "."]);
    let out = kiln.run(dir.path(), &["push", &name]);
    fails_with(
        &out,
        &format!("login required: {host} refused anonymous access to test/app"),
    );
    let out = login(&kiln, &host, "wrong", &[]);
    fails_with(&out, "the token endpoint refused the credentials");
    let out = login(&kiln, &host, SECRET, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    kiln.ok(dir.path(), &["push", &name]);

    // Same registry, another repository: the layers are mounted.
    let second = format!("{host}/test/second:v1");
    kiln.ok(dir.path(), &["build", "-t", &second, "."]);
    let stderr = kiln.ok(dir.path(), &["push", &second]);
    assert!(stderr.contains("mounted from test/app"), "{stderr}");
    assert!(!stderr.contains(": pushed"), "{stderr}");

    // Outside test/ the issuer grants pull only.
    let denied = format!("{host}/other/app:v1");
    kiln.ok(dir.path(), &["build", "-t", &denied, "."]);
    let out = kiln.run(dir.path(), &["push", &denied]);
    fails_with(&out, &format!("access to other/app on {host} denied"));

    let creds = format!("{USER}:{SECRET}");
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", &creds])
        .arg(format!("docker://{second}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fresh = Kiln::new();
    let out = fresh
        .cmd(Path::new("/"), &["pull", &second])
        .env("DOCKER_CONFIG", kiln.root.path().join("docker-config"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}
