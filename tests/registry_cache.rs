//! `--cache-to` / `--cache-from` through the real registry and a local
//! directory: a fresh store skips every step the cache has.

mod common;

use common::registry::Registry;
use common::{busybox, context, require, Kiln};

/// A two-stage build whose RUN steps print a marker when they execute.
fn two_stage_context() -> tempfile::TempDir {
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch AS build\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo BUILD-$((40+2)); echo built > /out\"]\n\
         FROM scratch\nCOPY --from=build /out /out\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo FINAL-$((40+2)); /bin/busybox cat /out > /final\"]\n",
    )]);
    std::fs::copy(
        busybox().expect("static busybox"),
        dir.path().join("busybox"),
    )
    .unwrap();
    dir
}

fn final_file(kiln: &Kiln, dir: &std::path::Path, extra: &[&str]) -> (String, String) {
    let out = dir.join("rootfs");
    let _ = std::fs::remove_dir_all(&out);
    let dest = format!("type=local,dest={}", out.display());
    let mut args = vec!["build", "-o", &dest];
    args.extend_from_slice(extra);
    args.push(".");
    let stderr = kiln.ok(dir, &args);
    (stderr, std::fs::read_to_string(out.join("final")).unwrap())
}

#[test]
fn registry_cache_skips_every_step_in_a_fresh_store() {
    if !require("docker-registry") || busybox().is_none() {
        return;
    }
    let registry = Registry::start();
    let dir = two_stage_context();
    let cache = format!("{}/cache/app:main", registry.host);
    let to = format!("type=registry,ref={cache},mode=max");
    let (stderr, content) = final_file(&Kiln::new(), dir.path(), &["--cache-to", &to]);
    assert!(
        stderr.contains("BUILD-42") && stderr.contains("FINAL-42"),
        "{stderr}"
    );
    assert_eq!(content, "built\n");

    let from = format!("type=registry,ref={cache}");
    let (stderr, content) = final_file(&Kiln::new(), dir.path(), &["--cache-from", &from]);
    assert!(!stderr.contains("-42"), "nothing runs: {stderr}");
    assert!(stderr.contains("CACHED"), "{stderr}");
    assert_eq!(content, "built\n");

    // A changed final step: the build stage still comes from the cache
    // (mode=max exported it), only the changed step runs.
    let df = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        df.replace("> /final", "> /final; echo changed"),
    )
    .unwrap();
    let (stderr, _) = final_file(&Kiln::new(), dir.path(), &["--cache-from", &cache]);
    assert!(!stderr.contains("BUILD-42"), "{stderr}");
    assert!(stderr.contains("FINAL-42"), "{stderr}");

    // A cache that does not exist is a warning, and the build runs.
    let missing = format!("type=registry,ref={}/cache/none:x", registry.host);
    let (stderr, _) = final_file(&Kiln::new(), dir.path(), &["--cache-from", &missing]);
    assert!(
        stderr.contains("warning: cache") && stderr.contains("FINAL-42"),
        "{stderr}"
    );
}

#[test]
fn local_cache_min_mode_keeps_only_the_final_image() {
    if busybox().is_none() {
        return;
    }
    let dir = two_stage_context();
    let cache_dir = tempfile::tempdir().unwrap();
    let to = format!("type=local,dest={}", cache_dir.path().display());
    final_file(&Kiln::new(), dir.path(), &["--cache-to", &to]);
    assert!(cache_dir.path().join("index.json").exists());
    let from = format!("type=local,src={}", cache_dir.path().display());
    let (stderr, content) = final_file(&Kiln::new(), dir.path(), &["--cache-from", &from]);
    assert!(!stderr.contains("-42"), "{stderr}");
    assert_eq!(content, "built\n");

    // mode=min has no record for the build stage alone: a change right
    // after it makes the build stage run again.
    let df = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        df.replace("/out /out\n", "/out /out\nCOPY --from=build /out /out2\n"),
    )
    .unwrap();
    let (stderr, _) = final_file(&Kiln::new(), dir.path(), &["--cache-from", &from]);
    assert!(
        stderr.contains("BUILD-42") && stderr.contains("FINAL-42"),
        "{stderr}"
    );

    let out = Kiln::new().run(dir.path(), &["build", "--cache-to", "type=gha", "."]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::text(&out.stderr).contains("cache type \"gha\" is not supported"));
}
