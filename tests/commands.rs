//! `kiln version`, `kiln completion`, `--root`, `kiln.toml` and the
//! environment documented in `kiln --help`.

mod common;

use std::process::Command;

use common::{context, text, Kiln};

fn kiln(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env_remove("KILN_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn version_and_help() {
    let out = kiln(&["version"]);
    assert!(out.status.success());
    let v = text(&out.stdout);
    assert!(
        v.starts_with(&format!("kiln {} (linux/", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    let help = text(&kiln(&["--help"]).stdout);
    for var in ["KILN_ROOT", "KILN_CONFIG", "DOCKER_HOST", "CI "] {
        assert!(help.contains(var), "{help}");
    }
    let out = kiln(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn completion_scripts() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef kiln"),
        ("fish", "complete -c kiln"),
    ] {
        let out = kiln(&["completion", shell]);
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("no-cache-filter"), "{shell}");
    }
    // bash can load it.
    if common::require("bash") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiln.bash");
        std::fs::write(&path, kiln(&["completion", "bash"]).stdout).unwrap();
        let check = Command::new("bash")
            .arg("-c")
            .arg(format!("source {} && complete -p kiln", path.display()))
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", text(&check.stderr));
    }
    let out = kiln(&["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn root_flag_and_config_file() {
    let k = Kiln::new();
    let dir = context(&[("Dockerfile", "FROM scratch\nCOPY a /\n"), ("a", "a")]);
    // --root wins over KILN_ROOT.
    let store = tempfile::tempdir().unwrap();
    let out = k
        .cmd(
            dir.path(),
            &[
                "build",
                "--root",
                store.path().to_str().unwrap(),
                "-t",
                "r:1",
                ".",
            ],
        )
        .env_remove("KILN_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(store.path().join("blobs").is_dir());
    assert!(!k.root.path().join("blobs").exists());

    // kiln.toml: the store and the progress default.
    let conf_store = tempfile::tempdir().unwrap();
    let conf = dir.path().join("kiln.toml");
    std::fs::write(
        &conf,
        format!(
            "root = {:?}\n[build]\nprogress = \"rawjson\"\ncompression = \"zstd\"\n[registry]\ninsecure = [\"localhost:5000\"]\n[gc]\nkeep_storage = \"1GB\"\n",
            conf_store.path()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["build", "-o", "type=oci,dest=img.tar", "."])
        .current_dir(dir.path())
        .env_remove("KILN_ROOT")
        .env("KILN_CONFIG", &conf)
        .output()
        .unwrap();
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(conf_store.path().join("blobs").is_dir());
    assert!(log.lines().all(|l| l.starts_with("{\"type\":")), "{log}");
    let index = common::archive_entries(&dir.path().join("img.tar"));
    let manifest_name = index
        .keys()
        .find(|k| {
            k.starts_with("blobs/sha256/")
                && serde_json::from_slice::<serde_json::Value>(&index[k.as_str()])
                    .is_ok_and(|v| v["layers"].is_array())
        })
        .unwrap()
        .clone();
    assert!(
        text(&index[&manifest_name]).contains("tar+zstd"),
        "{}",
        text(&index[&manifest_name])
    );
    // A flag wins over the file.
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["build", "--progress=plain", "."])
        .current_dir(dir.path())
        .env_remove("KILN_ROOT")
        .env("KILN_CONFIG", &conf)
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).starts_with("#1 "),
        "{}",
        text(&out.stderr)
    );

    // Typos are errors naming the file and the key.
    std::fs::write(&conf, "[build]\nprogres = \"plain\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["build", "."])
        .current_dir(dir.path())
        .env("KILN_CONFIG", &conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("config file") && err.contains("kiln.toml"),
        "{err}"
    );
    assert!(err.contains("unknown field `progres`"), "{err}");
}

/// `kiln completion bash | head -1`: when the reader goes away, kiln ends
/// like other Unix tools (SIGPIPE), not with a panic message.
#[test]
fn closed_stdout_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let kiln = Kiln::new();
    let out = kiln
        .cmd(std::path::Path::new("."), &["completion", "bash"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
