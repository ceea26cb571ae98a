//! Dockerfile text -> `parser::parse` -> typed instructions, with the
//! reference's own cases (BuildKit `instructions/parse_test.go`,
//! `parse_heredoc_test.go`) and the shared conformance vectors.

use std::time::Duration;

use super::*;
use crate::lint::Warning;
use crate::parser;

fn first(text: &str) -> crate::Result<Instruction> {
    let parsed = parser::parse(text).expect("the parser accepts the text");
    parse_instruction(&parsed.nodes[0])
}

fn first_err(text: &str) -> String {
    match first(text) {
        Ok(i) => panic!("{text:?}: expected an error, got {i:?}"),
        Err(e) => e.message,
    }
}

fn dockerfile(text: &str) -> (crate::Result<Dockerfile>, Vec<Warning>) {
    let parsed = parser::parse(text).expect("the parser accepts the text");
    let mut warnings = Vec::new();
    let result = parse_dockerfile(&parsed.nodes, &mut warnings);
    (result, warnings)
}

macro_rules! variant {
    ($value:expr, $variant:ident) => {
        match $value {
            Instruction::$variant(inner) => inner,
            other => panic!("expected {}, got {other:?}", stringify!($variant)),
        }
    };
}

#[test]
fn argument_counts() {
    for cmd in ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"] {
        assert_eq!(
            first_err(cmd),
            format!("{cmd} requires exactly one argument")
        );
    }
    for cmd in ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME"] {
        assert_eq!(
            first_err(cmd),
            format!("{cmd} requires at least one argument")
        );
    }
    for cmd in ["ADD", "COPY"] {
        assert_eq!(
            first_err(&format!("{cmd} arg1")),
            format!("{cmd} requires at least two arguments, but only one was provided. Destination could not be determined")
        );
    }
}

#[test]
fn reference_error_cases() {
    for (text, message) in [
        (
            "COPY\t\n\t\tquux \\\n      bar",
            "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
        ),
        ("ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger"),
        ("MAINTAINER --boo joe@example.com", "unknown flag: --boo"),
        ("ONBUILD ONBUILD RUN touch foobar", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FOO bar", "unknown instruction: FOO (did you mean FROM?)"),
        ("foo bar", "unknown instruction: foo (did you mean from?)"),
        ("COPY /foo <<EOF\nEOF", "COPY cannot accept a heredoc as a destination"),
        ("SHELL sh -c", "SHELL requires the arguments to be in JSON form"),
        ("FROM a AS 1b", "invalid name for build stage: \"1b\", name can't start with a number or contain symbols"),
        ("HEALTHCHECK CONNECT TCP 7000", "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("RUN --network=bridge true", "invalid network mode \"bridge\""),
        ("COPY --doit=true foo /tmp/", "unknown flag: --doit"),
    ] {
        assert_eq!(first_err(text), message, "{text:?}");
    }
}

#[test]
fn healthcheck_cmd() {
    let hc = variant!(first("HEALTHCHECK CMD hello world").unwrap(), Healthcheck);
    assert_eq!(hc.health.test, ["CMD-SHELL", "hello world"]);
    let hc = variant!(
        first("HEALTHCHECK --interval=5s --timeout=3s --retries=3 \\\n  CMD [\"/check\", \"-q\"]")
            .unwrap(),
        Healthcheck
    );
    assert_eq!(hc.health.test, ["CMD", "/check", "-q"]);
    assert_eq!(hc.health.interval, Duration::from_secs(5));
    assert_eq!(hc.health.timeout, Duration::from_secs(3));
    assert_eq!(hc.health.retries, 3);
    assert_eq!(hc.origin.range, crate::SourceRange::lines(1, 2));
}

#[test]
fn run_flags_used() {
    let run = variant!(
        first("RUN --mount=type=tmpfs,target=/foo/ echo hello").unwrap(),
        Run
    );
    assert_eq!(run.flags_used, ["mount"]);
    assert_eq!(run.command.args, ["echo hello"]);
}

#[test]
fn copy_heredocs_from_text() {
    let copy = |text: &str| variant!(first(text).unwrap(), Copy).files;
    let doc = |path: &str, data: &str, expand| SourceContent {
        path: path.into(),
        data: data.into(),
        expand,
    };
    assert_eq!(copy("COPY /foo /bar").source_paths, ["/foo"]);
    assert_eq!(
        copy("COPY <<EOF /bar\nEOF").source_contents,
        [doc("EOF", "", true)]
    );
    assert_eq!(
        copy("COPY <<EOF /bar\nTESTING\nEOF").source_contents,
        [doc("EOF", "TESTING\n", true)]
    );
    assert_eq!(
        copy("COPY <<-EOF /bar\n\tTESTING\nEOF").source_contents,
        [doc("EOF", "TESTING\n", true)]
    );
    assert_eq!(
        copy("COPY <<'EOF' /bar\nTESTING\nEOF").source_contents,
        [doc("EOF", "TESTING\n", false)]
    );
    assert_eq!(
        copy(
            "COPY <<EOF1 <<EOF2 /bar\nthis is the first file\nEOF1\nthis is the second file\nEOF2"
        )
        .source_contents,
        [
            doc("EOF1", "this is the first file\n", true),
            doc("EOF2", "this is the second file\n", true)
        ]
    );
    let files = copy("COPY <<EOF foo.txt /bar\nthis is inline\nEOF");
    assert_eq!(files.source_paths, ["foo.txt"]);
    assert_eq!(
        files.source_contents,
        [doc("EOF", "this is inline\n", true)]
    );
    assert_eq!(
        copy("COPY <<EOF /quotes\n\"quotes\"\nEOF").source_contents,
        [doc("EOF", "\"quotes\"\n", true)]
    );
}

#[test]
fn run_heredocs_from_text() {
    let run = |text: &str| variant!(first(text).unwrap(), Run).command;
    let c = run("RUN [\"ls\", \"/\"]");
    assert_eq!(
        (c.args, c.prepend_shell),
        (vec!["ls".to_string(), "/".to_string()], false)
    );
    let c = run("RUN [\"<<EOF\"]");
    assert_eq!(c.args, ["<<EOF"]);
    assert!(c.files.is_empty());
    let c = run("RUN ls /");
    assert_eq!((c.args, c.prepend_shell), (vec!["ls /".to_string()], true));
    let c = run("RUN <<EOF\nls /\nwhoami\nEOF");
    assert_eq!(c.args, ["<<EOF"]);
    assert_eq!(
        c.files,
        [ShellInlineFile {
            name: "EOF".into(),
            data: "ls /\nwhoami\n".into(),
            chomp: false
        }]
    );
    let c = run("RUN <<'EOF' | python\nprint(\"hello\")\nprint(\"world\")\nEOF");
    assert_eq!(c.args, ["<<'EOF' | python"]);
    assert_eq!(c.files[0].data, "print(\"hello\")\nprint(\"world\")\n");
    let c = run("RUN <<-EOF\n\techo test\nEOF");
    assert_eq!(c.args, ["<<-EOF"]);
    assert_eq!(
        c.files,
        [ShellInlineFile {
            name: "EOF".into(),
            data: "\techo test\n".into(),
            chomp: true
        }]
    );
}

#[test]
fn onbuild_from_text() {
    let on = variant!(first("ONBUILD RUN echo hi").unwrap(), Onbuild);
    assert_eq!(on.expression, "RUN echo hi");
    let on = variant!(first("onbuild   COPY --from=x a b").unwrap(), Onbuild);
    assert_eq!(on.expression, "COPY --from=x a b");
    let on = variant!(first("ONBUILD RUN <<EOF\necho a\nEOF").unwrap(), Onbuild);
    assert_eq!(on.expression, "RUN <<EOF\necho a\nEOF");
}

#[test]
fn env_and_label_from_text() {
    let env = variant!(first("ENV name value with spaces").unwrap(), Env);
    assert_eq!(env.vars.len(), 1);
    assert_eq!(env.vars[0].key, "name");
    assert_eq!(env.vars[0].value, "value with spaces");
    assert!(env.vars[0].legacy);
    let env = variant!(first("ENV a=1 b=\"two words\"").unwrap(), Env);
    assert_eq!(env.vars[1].value, "\"two words\"");
    assert!(!env.vars[1].legacy);
    let label = variant!(
        first("LABEL org.opencontainers.image.title=kiln").unwrap(),
        Label
    );
    assert_eq!(label.labels[0].key, "org.opencontainers.image.title");
    let arg = variant!(first("ARG a b=2 c=\"x y\"").unwrap(), Arg);
    assert_eq!(arg.args.len(), 3);
    assert_eq!(arg.args[2].value.as_deref(), Some("\"x y\""));
}

#[test]
fn comments_detection() {
    let text = "# foo sets foo
ARG foo=bar

# base defines first stage
FROM busybox AS base
# this is irrelevant
ARG foo
# bar defines bar
# baz is something else
ARG bar baz=123
";
    let (result, _) = dockerfile(text);
    let df = result.unwrap();
    assert_eq!(df.stages[0].doc_comment, "defines first stage");
    assert_eq!(df.meta_args[0].args[0].key, "foo");
    assert_eq!(df.meta_args[0].args[0].doc_comment, "sets foo");
    let arg = |i: usize| variant!(&df.stages[0].instructions[i], Arg);
    assert_eq!(arg(0).args[0].key, "foo");
    assert_eq!(arg(0).args[0].doc_comment, "");
    assert_eq!(arg(1).args[0].key, "bar");
    assert_eq!(arg(1).args[0].doc_comment, "defines bar");
    assert_eq!(arg(1).args[1].key, "baz");
    assert_eq!(arg(1).args[1].doc_comment, "is something else");
}

#[test]
fn multi_stage_file() {
    let text = "\
ARG GO=1.22
FROM --platform=$BUILDPLATFORM golang:${GO} as Build
WORKDIR /src
RUN --mount=type=cache,target=/root/.cache/go-build \\
    --mount=type=bind,target=. \\
    go build -o /out/app .

FROM scratch
COPY --from=build --chmod=0755 /out/app /app
EXPOSE 8080/tcp
MAINTAINER someone
ENTRYPOINT [\"/app\"]
";
    let (result, warnings) = dockerfile(text);
    let df = result.unwrap();
    assert_eq!(df.meta_args.len(), 1);
    assert_eq!(df.stages.len(), 2);
    let build = &df.stages[0];
    assert_eq!(build.name.as_deref(), Some("build"));
    assert_eq!(build.base_name, "golang:${GO}");
    assert_eq!(build.platform.as_deref(), Some("$BUILDPLATFORM"));
    let run = variant!(&build.instructions[1], Run);
    assert_eq!(run.mount_specs.len(), 2);
    assert_eq!(run.command.args, ["go build -o /out/app ."]);
    assert_eq!(run.origin.range, crate::SourceRange::lines(4, 6));
    let final_stage = &df.stages[1];
    let copy = variant!(&final_stage.instructions[0], Copy);
    assert_eq!((copy.from.as_str(), copy.chmod.as_str()), ("build", "0755"));
    let rules: Vec<_> = warnings
        .iter()
        .map(|w| (w.rule, w.range.start_line))
        .collect();
    assert_eq!(
        rules,
        [
            ("StageNameCasing", 2),
            ("FromAsCasing", 2),
            ("MaintainerDeprecated", 11)
        ]
    );
    assert_eq!(
        warnings[1].message,
        "'as' and 'FROM' keywords' casing do not match"
    );
}

#[test]
fn stage_errors_from_text() {
    let (result, _) = dockerfile("ARG a\nENV b=c\nFROM x\n");
    let err = result.unwrap_err();
    assert_eq!(err.message, "no build stage in current context");
    assert_eq!(err.range, Some(crate::SourceRange::line(2)));
    let (result, _) = dockerfile("ARG a\n");
    assert_eq!(
        result.unwrap_err().message,
        "dockerfile contains no stages to build"
    );
    let (result, _) = dockerfile("FROM a\n\nWORKDIR\n");
    let err = result.unwrap_err();
    assert_eq!(
        err.message,
        "dockerfile parse error on line 3: WORKDIR requires exactly one argument"
    );
    assert_eq!(err.range, Some(crate::SourceRange::line(3)));
}

#[test]
fn check_comment_above_instruction() {
    let (result, warnings) = dockerfile("# check=skip=MaintainerDeprecated\nFROM a\n# check=skip=MaintainerDeprecated\nMAINTAINER me\nMAINTAINER you\n");
    result.unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].range.start_line, 5);
}

/// Every shared parser vector types without panicking; the ones that are
/// valid Dockerfiles type without error.
#[test]
fn conformance_vectors_type() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/vectors/buildkit/parser");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return; // vectors not present in this checkout
    };
    let mut typed = 0;
    for dir in dirs.flatten() {
        let Ok(text) = std::fs::read_to_string(dir.path().join("Dockerfile")) else {
            continue;
        };
        let Ok(parsed) = parser::parse(&text) else {
            continue;
        };
        let mut warnings = Vec::new();
        if let Ok(df) = parse_dockerfile(&parsed.nodes, &mut warnings) {
            typed += 1;
            for stage in df.stages {
                for mut inst in stage.instructions {
                    let _ = inst.expand(&mut |s: &str| Ok(s.to_string()));
                }
            }
        }
    }
    assert!(typed > 10, "only {typed} vectors typed");
}
