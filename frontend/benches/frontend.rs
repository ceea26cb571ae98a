//! Frontend throughput: parse, parse + lower, and one shell-word expansion
//! on a generated 1,000-instruction multi-stage Dockerfile.
//!
//! `cargo bench -p kiln-frontend --bench frontend -- --warm-up-time 1 --measurement-time 3`
//! Target: parse + lower of 1,000 instructions under 5 ms.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kiln_frontend::definition::Platform;
use kiln_frontend::lower::{lower, BuildOptions, NoResolver};
use kiln_frontend::shell::Lex;
use kiln_frontend::{instructions, parser};

/// The allocator the `kiln` binary uses.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Instructions in the generated Dockerfile.
const INSTRUCTIONS: usize = 1000;

/// A realistic multi-stage Dockerfile of exactly `n` instructions: global
/// ARGs, then stages of ARG/ENV (with expansions), WORKDIR, LABEL, RUN
/// with cache/bind/secret mounts and heredocs, COPY/ADD with flags,
/// COPY --from the previous stage (so every stage is needed by the
/// target), EXPOSE, ONBUILD, HEALTHCHECK, USER, CMD.
fn dockerfile(n: usize) -> String {
    let mut steps: Vec<String> = [
        "ARG BASE_IMAGE=debian:bookworm-slim",
        "ARG GO_VERSION=1.22",
        "ARG APP_VERSION=1.0.0",
        "ARG REGISTRY=registry.example.com",
    ]
    .map(str::to_string)
    .to_vec();
    let mut stage = 0usize;
    while steps.len() < n {
        // Every third stage builds on the previous one, the others on the
        // base image for the build platform.
        steps.push(match (stage, stage % 3) {
            (0, _) => "FROM ${BASE_IMAGE} AS s0".to_string(),
            (_, 0) => format!("FROM s{} AS s{stage}", stage - 1),
            _ => format!("FROM --platform=$BUILDPLATFORM ${{BASE_IMAGE}} AS s{stage}"),
        });
        steps.extend(stage_body(stage));
        stage += 1;
    }
    steps.truncate(n);
    let mut out = String::from("# syntax=docker/dockerfile:1\n");
    for step in &steps {
        out.push_str(step);
        out.push('\n');
    }
    out
}

/// The instructions of stage `s` after its FROM.
fn stage_body(s: usize) -> Vec<String> {
    // Stage 0 copies from an image, every later stage from the one before.
    let (from, prev) = match s {
        0 => ("busybox:1.36".to_string(), "0".to_string()),
        _ => (format!("s{}", s - 1), (s - 1).to_string()),
    };
    vec![
        "ARG APP_VERSION".to_string(),
        format!("ARG STAGE_{s}_OPT=opt{s}"),
        format!(
            "ENV APP_HOME=/opt/app{s} PATH=\"/opt/app{s}/bin:${{PATH}}\" \\\n    \
             VERSION=${{APP_VERSION:-0.0.0}}"
        ),
        format!("ENV STAGE_DIR=${{APP_HOME}}/stage{s} OPT=${{STAGE_{s}_OPT:+set}}"),
        "WORKDIR ${APP_HOME}/src".to_string(),
        format!(
            "LABEL org.opencontainers.image.version=\"${{VERSION}}\" \\\n      \
             org.opencontainers.image.title=\"stage {s}\" maintainer=\"dev@example.com\""
        ),
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n    \
         --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n    \
         apt-get update && apt-get install -y --no-install-recommends \\\n      \
         ca-certificates curl git make && rm -rf /tmp/*"
            .to_string(),
        "COPY --chown=1000:1000 --chmod=0644 go.mod go.sum ./".to_string(),
        format!(
            "RUN --mount=type=bind,source=go.sum,target=go.sum \\\n    \
             --mount=type=secret,id=netrc,target=/root/.netrc \\\n    \
             --network=default go mod download -x # stage {s}"
        ),
        "COPY --link --exclude=*.md . .".to_string(),
        format!(
            "RUN <<EOF bash\nset -eux\necho \"building $VERSION in $STAGE_DIR\"\n\
             make -j\"$(nproc)\" build STAGE={s}\nEOF"
        ),
        format!(
            "RUN <<-SCRIPT\n\tcd ${{STAGE_DIR:-/tmp}}\n\tcat > config.json <<JSON\n\
             \t{{\"stage\": {s}}}\n\tJSON\nSCRIPT"
        ),
        "ADD --chown=app:app --chmod=755 scripts/entrypoint.sh /usr/local/bin/".to_string(),
        "ADD --keep-git-dir=false https://example.com/archive.tar.gz /tmp/archive.tar.gz"
            .to_string(),
        format!("COPY --from={from} /opt/app{prev}/bin/ /opt/app{s}/bin/"),
        "EXPOSE 8080/tcp 8443 9090/udp".to_string(),
        "ONBUILD COPY . /app/src".to_string(),
        "ONBUILD RUN make -C /app/src".to_string(),
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \\\n    \
         CMD curl -fsS http://localhost:8080/healthz || exit 1"
            .to_string(),
        "USER 1000:1000".to_string(),
        "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]".to_string(),
        format!("RUN echo \"${{PATH}}\" | tr ':' '\\n' > /tmp/path-{s}.txt"),
        "STOPSIGNAL SIGTERM".to_string(),
        "VOLUME [\"/data\"]".to_string(),
        "ENTRYPOINT [\"/usr/local/bin/entrypoint.sh\"]".to_string(),
        format!("CMD [\"serve\", \"--stage\", \"{s}\"]"),
    ]
}

/// CPU time this thread has used, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn bench(c: &mut Criterion) {
    let text = dockerfile(INSTRUCTIONS);
    let opts = BuildOptions::new(Platform::host());
    let parsed = parser::parse(&text).expect("generated Dockerfile parses");
    assert_eq!(parsed.nodes.len(), INSTRUCTIONS, "instruction count");
    let lowered = lower(&text, &opts, &NoResolver).expect("generated Dockerfile lowers");
    eprintln!(
        "dockerfile: {} instructions, {} bytes, {} lines; lowered to {} ops, {} warnings",
        parsed.nodes.len(),
        text.len(),
        text.lines().count(),
        lowered.definition.ops.len(),
        lowered.warnings.len()
    );

    // Wall-clock medians swing with the machine's load (2 cores, shared);
    // the thread's CPU time per run does not.
    let runs = 200;
    let start = thread_cpu_ns();
    for _ in 0..runs {
        black_box(lower(black_box(&text), &opts, &NoResolver).unwrap());
    }
    let per_run = (thread_cpu_ns() - start) as f64 / runs as f64 / 1e6;
    eprintln!("parse + lower of {INSTRUCTIONS} instructions: {per_run:.2} ms of CPU time per run (mean of {runs})");

    let mut group = c.benchmark_group("frontend");
    group.throughput(Throughput::Elements(INSTRUCTIONS as u64));
    group.bench_function("parse_1000", |b| {
        b.iter(|| parser::parse(black_box(&text)).unwrap())
    });
    // Parse + typing into instructions/stages: `parse_lower_1000` minus
    // this is the lowering proper (args, stage graph, dispatch, digests).
    group.bench_function("parse_instructions_1000", |b| {
        b.iter(|| {
            let parsed = parser::parse(black_box(&text)).unwrap();
            let mut warnings = Vec::new();
            instructions::parse_dockerfile(&parsed.nodes, &mut warnings).unwrap()
        })
    });
    group.bench_function("parse_lower_1000", |b| {
        b.iter(|| lower(black_box(&text), &opts, &NoResolver).unwrap())
    });
    group.finish();

    let lex = Lex::new('\\');
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), "/root".to_string());
    env.insert("APP_HOME".to_string(), "/opt/app".to_string());
    env.insert(
        "PATH".to_string(),
        "/usr/local/bin:/usr/bin:/bin".to_string(),
    );
    let mut group = c.benchmark_group("shell");
    group.bench_function("process_word_default_set", |b| {
        b.iter(|| {
            lex.process_word(black_box("${APP_HOME:-/srv}/path"), &env)
                .unwrap()
        })
    });
    group.bench_function("process_word_default_unset", |b| {
        b.iter(|| {
            lex.process_word(black_box("${VAR:-default}/path"), &env)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
