//! RUN through the real binary: the sandbox, its layer, cache and errors.

mod common;

use common::base::{build, layers, with_base};
use common::{context, layer_file, layer_listing, text};

#[test]
fn run_output_and_its_layer() {
    let (kiln, _base) = with_base();
    let (out, dir) = build(
        &kiln,
        "FROM base:1\nRUN echo built > /out.txt && echo to-the-log\n",
    );
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("to-the-log"), "{log}");
    let top = layers(dir.path()).pop().unwrap();
    assert_eq!(layer_file(&top, "out.txt"), "built\n");
    // Only what the command wrote: no /etc/hosts, /proc or /dev stubs.
    let listing = layer_listing(&top);
    assert_eq!(listing.len(), 1, "{listing:?}");

    // Cached the second time.
    let again = kiln.run(dir.path(), &["build", "."]);
    assert!(
        text(&again.stderr).contains("CACHED"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn a_failing_command_fails_the_build_with_its_line() {
    let (kiln, _base) = with_base();
    let (out, _dir) = build(
        &kiln,
        "FROM base:1\nRUN echo before\nRUN echo oops >&2; exit 3\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("oops"), "{err}");
    assert!(
        err.contains("did not complete successfully: exit code: 3"),
        "{err}"
    );
    assert!(err.contains(">>> RUN echo oops >&2; exit 3"), "{err}");
}

#[test]
fn user_network_and_sandbox_identity() {
    let (kiln, _base) = with_base();
    let (out, dir) = build(
        &kiln,
        "FROM base:1\nUSER app\nRUN id\nUSER root\nRUN --network=none cat /proc/net/dev > /net && hostname > /host && cat /etc/hosts > /hosts\n",
    );
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("uid=1000(app) gid=1000(app)"), "{log}");
    let l = layers(dir.path());
    let top = l.last().unwrap();
    let net = layer_file(top, "net");
    assert_eq!(
        net.lines().count(),
        3,
        "only lo in a --network=none step: {net}"
    );
    assert_eq!(layer_file(top, "host"), "buildkitsandbox\n");
    assert!(layer_file(top, "hosts").contains("localhost"));
}

#[test]
fn cache_mounts_persist_between_builds() {
    let (kiln, _base) = with_base();
    let df = "FROM base:1\nARG N\nRUN --mount=type=cache,target=/cache echo $N >> /cache/log && cat /cache/log > /seen\n";
    let dir = context(&[("Dockerfile", df)]);
    for n in ["1", "2"] {
        let arg = format!("N={n}");
        kiln.ok(
            dir.path(),
            &[
                "build",
                "--build-arg",
                &arg,
                "-o",
                "type=docker,dest=img.tar",
                ".",
            ],
        );
    }
    let top = layers(dir.path()).pop().unwrap();
    assert_eq!(layer_file(&top, "seen"), "1\n2\n");
    assert!(
        !layer_listing(&top).iter().any(|l| l.contains("cache/")),
        "the cache is not in the layer"
    );
}

/// A base image may list the same diff more than once (two steps that
/// change nothing; a file written, removed and written again with the
/// same time); it still stacks, with every layer applied in order.
#[test]
fn repeated_layers_in_a_base_image() {
    let (kiln, _base) = with_base();
    let write = "echo a > /f && touch -t 200001010000 /f";
    let dir = context(&[(
        "Dockerfile",
        &format!("FROM base:1\nRUN true\nRUN true\nRUN {write}\nRUN rm /f\nRUN {write}\n"),
    )]);
    let out = kiln
        .cmd(dir.path(), &["build", "-t", "dup:1", "."])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (out, dir) = build(&kiln, "FROM dup:1\nRUN cat /f > /seen\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let l = layers(dir.path());
    assert_eq!(layer_file(l.last().unwrap(), "seen"), "a\n");
    // Every base layer is kept in the new image, repeats included.
    assert_eq!(l.len(), 3 + 5 + 1, "layer count");
    let listings: Vec<_> = l.iter().map(|b| layer_listing(b)).collect();
    assert_eq!(l[3], l[4], "the two empty layers: {listings:?}");
    assert_eq!(l[5], l[7], "the two writes of /f: {listings:?}");
}
