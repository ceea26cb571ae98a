//! Hints for `docker build` / `docker buildx build` flags kiln does not
//! take (yet): clap's "unexpected argument" error is followed by a line
//! saying what the flag is and what to do instead.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// Docker build flags kiln does not accept, with what to do instead.
const DOCKER_FLAGS: &[(&[&str], &str)] = &[
    (
        &["--add-host"],
        "custom /etc/hosts entries for RUN are not supported yet",
    ),
    (&["--annotation"], "OCI annotations are not supported yet"),
    (
        &["--attest", "--sbom", "--provenance"],
        "attestations are not produced yet; drop the flag",
    ),
    (
        &["--builder", "--debug", "--print", "--call"],
        "kiln has no builder instances or frontend calls; use `kiln build --check` for the build checks",
    ),
    (
        &["--cache-from", "--cache-to"],
        "cache import/export is not supported yet; the local cache under $KILN_ROOT is always used",
    ),
    (
        &["--shm-size", "--ulimit", "--cgroup-parent", "--isolation"],
        "RUN resource settings are not supported yet",
    ),
    (
        &[
            "--memory",
            "-m",
            "--memory-swap",
            "--cpu-period",
            "--cpu-quota",
            "--cpu-shares",
            "-c",
            "--cpuset-cpus",
            "--cpuset-mems",
        ],
        "RUN resource limits are not supported yet",
    ),
    (
        &["--squash"],
        "squashing is not supported; a multi-stage build with `COPY --from` gives a small image",
    ),
    (
        &["--compress", "--stream", "--security-opt"],
        "a legacy `docker build` option BuildKit ignores; drop it",
    ),
    (
        &["--disable-content-trust"],
        "content trust is not used by kiln; drop the flag",
    ),
];

/// The hint for a docker flag kiln does not accept (`--flag` or
/// `--flag=value`).
pub fn docker_flag_hint(arg: &str) -> Option<String> {
    let flag = arg.split('=').next().unwrap_or(arg);
    DOCKER_FLAGS
        .iter()
        .find(|(names, _)| names.contains(&flag))
        .map(|(_, what)| {
            format!("hint: `{flag}` is a docker build flag kiln does not support: {what}")
        })
}

/// Prints clap's error (help and version go to stdout), a docker-flag
/// hint when there is one, and exits with clap's code (2 for usage
/// errors, 0 for `--help`).
pub fn exit_with(err: clap::Error) -> ! {
    let _ = err.print();
    if err.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) {
            if let Some(hint) = docker_flag_hint(arg) {
                eprintln!("\n{hint}");
            }
        }
    }
    std::process::exit(err.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_docker_flags_get_a_hint() {
        let hint = docker_flag_hint("--squash").unwrap();
        assert!(hint.starts_with("hint: `--squash` is a docker build flag"));
        assert!(docker_flag_hint("--memory=1g")
            .unwrap()
            .contains("`--memory`"));
        assert_eq!(docker_flag_hint("--frobnicate"), None);
    }
}
