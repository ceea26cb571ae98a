//! Build checks through the public API, against BuildKit's own lint tests
//! (`frontend/dockerfile/dockerfile_check_test.go`): for every rule a
//! Dockerfile that raises it (rule, message, line, URL) and one that does
//! not; the `# check=` directive, per-instruction `# check=` comments and
//! the `BUILDKIT_DOCKERFILE_CHECK` build arg; `error=true`.
//!
//! BuildKit runs each case twice: as a build (only the stages the target
//! needs are lowered: [`build`]) and as a lint request (every stage:
//! [`check`]). Both are compared after sorting by line, then message, as
//! BuildKit's tests do.

use std::collections::BTreeMap;

use kiln_frontend::definition::{Image, Platform};
use kiln_frontend::lint::Warning;
use kiln_frontend::lower::{
    self, BuildOptions, Checked, DockerIgnore, ImageResolver, NoResolver, ResolvedImage,
};
use kiln_frontend::reference::Reference;
use kiln_frontend::Result;

fn opts() -> BuildOptions {
    BuildOptions::new(Platform::new("linux", "amd64", ""))
}

fn with_args(args: &[(&str, &str)]) -> BuildOptions {
    let mut o = opts();
    for (k, v) in args {
        o.build_args.insert(k.to_string(), v.to_string());
    }
    o
}

/// (rule, line, message), sorted as BuildKit's tests sort.
type Found = Vec<(String, usize, String)>;

fn found(warnings: &[Warning]) -> Found {
    let mut out: Found = warnings
        .iter()
        .map(|w| (w.rule.to_string(), w.range.start_line, w.message.clone()))
        .collect();
    out.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
    out
}

fn expected(list: &[(&str, usize, &str)]) -> Found {
    let mut out: Found = list
        .iter()
        .map(|(r, l, m)| (r.to_string(), *l, m.to_string()))
        .collect();
    out.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
    out
}

/// The warnings of a build (the stages the target needs), which must
/// succeed.
fn build_with(df: &str, o: &BuildOptions) -> Found {
    let report = lower::lower_reporting(df, o, &NoResolver);
    if let Err(e) = &report.result {
        panic!("build failed: {e:?}\n{df}");
    }
    found(&report.warnings)
}

fn check_with(df: &str, o: &BuildOptions) -> Checked {
    lower::check(df, o, &NoResolver)
}

/// Asserts the same warnings as a build and as `--check`, no error.
#[track_caller]
fn assert_warnings(df: &str, want: &[(&str, usize, &str)]) {
    assert_warnings_with(df, &opts(), want);
}

#[track_caller]
fn assert_warnings_with(df: &str, o: &BuildOptions, want: &[(&str, usize, &str)]) {
    let want = expected(want);
    assert_eq!(build_with(df, o), want, "build of:\n{df}");
    let checked = check_with(df, o);
    assert_eq!(checked.error, None, "check of:\n{df}");
    assert_eq!(found(&checked.warnings), want, "check of:\n{df}");
}

#[track_caller]
fn assert_clean(df: &str) {
    assert_warnings(df, &[]);
}

/// `--check` reports `want` and fails with `error`.
#[track_caller]
fn assert_check_error(df: &str, o: &BuildOptions, want: &[(&str, usize, &str)], error: &str) {
    let checked = check_with(df, o);
    assert_eq!(found(&checked.warnings), expected(want), "check of:\n{df}");
    let err = checked.error.expect("an error");
    assert_eq!(err.message, error);
    // A build fails the same way, after the same warnings.
    let report = lower::lower_reporting(df, o, &NoResolver);
    assert_eq!(report.result.unwrap_err().message, error);
    assert_eq!(found(&report.warnings), expected(want));
}

const URL: &str = "https://docs.docker.com/go/dockerfile/rule/";

#[track_caller]
fn assert_url(df: &str, rule: &str, slug: &str) {
    let checked = check_with(df, &opts());
    let w = checked
        .warnings
        .iter()
        .find(|w| w.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} in {:?}", checked.warnings));
    assert_eq!(w.url, format!("{URL}{slug}/"));
}

// --- one test per rule -------------------------------------------------

#[test]
fn stage_name_casing() {
    let df = "\n# warning: stage name should be lowercase\n#\nFROM scratch AS BadStageName\n\n# warning: 'as' should match 'FROM' cmd casing.\n#\nFROM scratch as base2\n\nFROM scratch AS base3\n";
    assert_warnings(
        df,
        &[
            (
                "StageNameCasing",
                4,
                "Stage name 'BadStageName' should be lowercase",
            ),
            (
                "FromAsCasing",
                8,
                "'as' and 'FROM' keywords' casing do not match",
            ),
        ],
    );
    assert_url(df, "StageNameCasing", "stage-name-casing");
    assert_clean("FROM scratch AS good_name\n");
}

#[test]
fn from_as_casing() {
    let df =
        "\n# warning: 'AS' should match 'from' cmd casing.\n#\nfrom scratch AS base\n\nfrom scratch as base2\n";
    assert_warnings(
        df,
        &[(
            "FromAsCasing",
            4,
            "'AS' and 'from' keywords' casing do not match",
        )],
    );
    assert_url(df, "FromAsCasing", "from-as-casing");
    assert_clean("FROM scratch AS a\nFROM scratch AS b\n");
}

#[test]
fn no_empty_continuation() {
    let df = "\nFROM scratch\n# warning: empty continuation line\nCOPY Dockerfile \\\n\n.\nCOPY Dockerfile \\\n.\n";
    assert_warnings(df, &[("NoEmptyContinuation", 6, "Empty continuation line")]);
    assert_url(df, "NoEmptyContinuation", "no-empty-continuation");
    assert_clean("FROM scratch\nCOPY Dockerfile \\\n.\n");
}

#[test]
fn consistent_instruction_casing() {
    let cases: [(&str, Option<(usize, &str)>); 8] = [
        (
            "\n# warning: 'FROM' should be either lowercased or uppercased\n#\nFrom scratch as base\nFROM scratch AS base2\n",
            Some((4, "Command 'From' should match the case of the command majority (uppercase)")),
        ),
        (
            "\nFROM scratch\n# warning: 'copy' should match command majority's casing (uppercase)\ncopy Dockerfile /foo\nCOPY Dockerfile /bar\n",
            Some((4, "Command 'copy' should match the case of the command majority (uppercase)")),
        ),
        (
            "\n# warning: 'frOM' should be either lowercased or uppercased\n#\nfrOM scratch as base\nfrom scratch as base2\n",
            Some((4, "Command 'frOM' should match the case of the command majority (lowercase)")),
        ),
        (
            "\nfrom scratch\n# warning: 'COPY' should match command majority's casing (lowercase)\nCOPY Dockerfile /foo\ncopy Dockerfile /bar\n",
            Some((4, "Command 'COPY' should match the case of the command majority (lowercase)")),
        ),
        (
            "\n# warning: 'from' should match command majority's casing (uppercase)\n#\nfrom scratch\nCOPY Dockerfile /foo\nCOPY Dockerfile /bar\nCOPY Dockerfile /baz\n",
            Some((4, "Command 'from' should match the case of the command majority (uppercase)")),
        ),
        (
            "\n# warning: 'FROM' should match command majority's casing (lowercase)\n#\nFROM scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\ncopy Dockerfile /baz\n",
            Some((4, "Command 'FROM' should match the case of the command majority (lowercase)")),
        ),
        ("\nfrom scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\n", None),
        ("\nFROM alpine\nRUN <<'EOT'\nenv\nEOT\n", None),
    ];
    for (df, want) in cases {
        match want {
            Some((line, message)) => {
                assert_warnings(df, &[("ConsistentInstructionCasing", line, message)])
            }
            None => assert_clean(df),
        }
    }
    assert_url(
        "From scratch\n",
        "ConsistentInstructionCasing",
        "consistent-instruction-casing",
    );
}

#[test]
fn duplicate_stage_name() {
    let df = "\nFROM scratch AS b\nFROM scratch AS b\n";
    assert_warnings(
        df,
        &[(
            "DuplicateStageName",
            3,
            "Duplicate stage name \"b\", stage names should be unique",
        )],
    );
    assert_url(df, "DuplicateStageName", "duplicate-stage-name");
    assert_clean("\nFROM scratch AS b1\nFROM scratch AS b2\n");
}

#[test]
fn reserved_stage_name() {
    let df = "\nFROM scratch AS scratch\nFROM scratch AS context\n";
    assert_warnings(
        df,
        &[
            (
                "ReservedStageName",
                2,
                "Stage name should not use the same name as reserved stage \"scratch\"",
            ),
            (
                "ReservedStageName",
                3,
                "Stage name should not use the same name as reserved stage \"context\"",
            ),
        ],
    );
    assert_url(df, "ReservedStageName", "reserved-stage-name");
    assert_clean("\nFROM scratch\nFROM scratch AS a\n");
}

#[test]
fn json_args_recommended() {
    assert_warnings(
        "\nFROM scratch\nCMD mycommand\n",
        &[(
            "JSONArgsRecommended",
            3,
            "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals",
        )],
    );
    assert_warnings(
        "\nFROM scratch\nENTRYPOINT mycommand\n",
        &[(
            "JSONArgsRecommended",
            3,
            "JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals",
        )],
    );
    // The keyword is quoted as written.
    assert_warnings(
        "from scratch\ncmd mycommand\n",
        &[(
            "JSONArgsRecommended",
            2,
            "JSON arguments recommended for cmd to prevent unintended behavior related to OS signals",
        )],
    );
    assert_url(
        "FROM scratch\nCMD x\n",
        "JSONArgsRecommended",
        "json-args-recommended",
    );
    for df in [
        "\nFROM scratch\nSHELL [\"/usr/bin/customshell\"]\nCMD mycommand\n",
        "\nFROM scratch\nSHELL [\"/usr/bin/customshell\"]\nENTRYPOINT mycommand\n",
        "\nFROM scratch AS base\nSHELL [\"/usr/bin/customshell\"]\n\nFROM base\nCMD mycommand\n",
        "\nFROM scratch AS base\nSHELL [\"/usr/bin/customshell\"]\n\nFROM base\nENTRYPOINT mycommand\n",
        "\nFROM scratch\nCMD [\"mycommand\"]\n",
    ] {
        assert_clean(df);
    }
}

#[test]
fn maintainer_deprecated() {
    let df = "\nFROM scratch\nMAINTAINER me@example.org\n";
    assert_warnings(
        df,
        &[(
            "MaintainerDeprecated",
            3,
            "Maintainer instruction is deprecated in favor of using label",
        )],
    );
    assert_url(df, "MaintainerDeprecated", "maintainer-deprecated");
    for df in [
        "\nFROM scratch\nLABEL org.opencontainers.image.authors=\"me@example.org\"\n",
        "\nFROM scratch\n# check=skip=JSONArgsRecommended\nCMD mycommand\n",
        "\nFROM scratch\n# check=skip=JSONArgsRecommended\nENTRYPOINT mycommand\n",
        "\nFROM scratch\n# check=skip=MaintainerDeprecated\nMAINTAINER me@example.org\n",
    ] {
        assert_clean(df);
    }
}

#[test]
fn warnings_before_an_error_are_kept() {
    let df = "\nFROM scratch AS BadStageName\nMAINTAINER me@example.org\nBADCMD\n";
    assert_check_error(
        df,
        &opts(),
        &[
            (
                "StageNameCasing",
                2,
                "Stage name 'BadStageName' should be lowercase",
            ),
            (
                "MaintainerDeprecated",
                3,
                "Maintainer instruction is deprecated in favor of using label",
            ),
        ],
        "dockerfile parse error on line 4: unknown instruction: BADCMD",
    );
}

#[test]
fn undefined_arg_in_from() {
    for df in [
        "\nARG base=scratch\nFROM $base\nCOPY Dockerfile .\n",
        "\nARG BUILDPLATFORM=linux/amd64\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n",
        "\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n",
        "\nARG DEBUG\nFROM scratch${DEBUG}\nCOPY Dockerfile .\n",
        "\nARG DEBUG\nFROM scra${DEBUG:-tch}\nCOPY Dockerfile .\n",
        "\nARG DEBUG=\"\"\nFROM scratch${DEBUG-@bogus}\nCOPY Dockerfile .\n",
    ] {
        assert_clean(df);
    }
    assert_check_error(
        "\nFROM --platform=$BULIDPLATFORM scratch\nCOPY Dockerfile .\n",
        &opts(),
        &[(
            "UndefinedArgInFrom",
            2,
            "FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?)",
        )],
        "empty platform value from expression $BULIDPLATFORM (did you mean BUILDPLATFORM?)",
    );
    let checked = check_with(
        "\nARG MY_OS=linux\nARG MY_ARCH=amd64\nFROM --platform=linux/${MYARCH} busybox\nCOPY Dockerfile .\n",
        &opts(),
    );
    assert_eq!(
        found(&checked.warnings),
        expected(&[(
            "UndefinedArgInFrom",
            4,
            "FROM argument 'MYARCH' is not declared (did you mean MY_ARCH?)"
        )])
    );
    let err = checked.error.unwrap().message;
    assert!(
        err.starts_with("failed to parse platform linux/${MYARCH}: ")
            && err.ends_with(" (did you mean MY_ARCH?)"),
        "{err}"
    );
    let df = "\nARG tag=latest\nFROM busybox:${tag}${version} AS b\nCOPY Dockerfile .\n";
    assert_warnings(
        df,
        &[(
            "UndefinedArgInFrom",
            3,
            "FROM argument 'version' is not declared",
        )],
    );
    assert_url(df, "UndefinedArgInFrom", "undefined-arg-in-from");
}

#[test]
fn workdir_relative_path() {
    let df = "\nFROM scratch\nWORKDIR app/\n";
    assert_warnings(
        df,
        &[(
            "WorkdirRelativePath",
            3,
            "Relative workdir \"app/\" can have unexpected results if the base image changes",
        )],
    );
    assert_url(df, "WorkdirRelativePath", "workdir-relative-path");
    assert_clean("\nFROM scratch AS a\nWORKDIR /app\n\nFROM a AS b\nWORKDIR subdir/\n");
    assert_clean("\nFROM scratch\n# check=skip=WorkdirRelativePath\nWORKDIR app/\n");
    // Only the first WORKDIR of the build counts.
    assert_warnings(
        "FROM scratch\nWORKDIR a\nWORKDIR b\n",
        &[(
            "WorkdirRelativePath",
            2,
            "Relative workdir \"a\" can have unexpected results if the base image changes",
        )],
    );
}

#[test]
fn undefined_var() {
    for df in [
        "\nFROM scratch\nARG foo\nCOPY Dockerfile${foo} .\n",
        "\nFROM alpine AS base\nARG foo=Dockerfile\n\nFROM base\nCOPY $foo .\n",
        "\nFROM alpine\nRUN echo $PATH\n",
    ] {
        assert_clean(df);
    }
    let df = "\nFROM alpine\nCOPY $foo .\nARG foo=bar\nRUN echo $foo\n";
    assert_warnings(
        df,
        &[("UndefinedVar", 3, "Usage of undefined variable '$foo'")],
    );
    assert_url(df, "UndefinedVar", "undefined-var");
    assert_warnings(
        "\nFROM alpine\nARG DIR_BINARIES=binaries/\nARG DIR_ASSETS=assets/\nARG DIR_CONFIG=config/\nCOPY $DIR_ASSET .\n\t",
        &[(
            "UndefinedVar",
            6,
            "Usage of undefined variable '$DIR_ASSET' (did you mean $DIR_ASSETS?)",
        )],
    );
    assert_warnings(
        "\nFROM alpine\nENV PATH=$PAHT:/tmp/bin\n\t\t",
        &[(
            "UndefinedVar",
            3,
            "Usage of undefined variable '$PAHT' (did you mean $PATH?)",
        )],
    );
    // One warning per expanded word, as BuildKit reports them.
    assert_warnings(
        "FROM alpine\nCOPY $foo $foo /dst/\n",
        &[
            ("UndefinedVar", 2, "Usage of undefined variable '$foo'"),
            ("UndefinedVar", 2, "Usage of undefined variable '$foo'"),
        ],
    );
}

#[test]
fn all_stages_are_checked_without_a_target() {
    let df = "\nFROM scratch AS first\nCOPY $foo .\n\nFROM scratch AS second\nCOPY $bar .\n";
    // A build lowers only what the target needs...
    assert_eq!(
        build_with(df, &opts()),
        expected(&[("UndefinedVar", 6, "Usage of undefined variable '$bar'")])
    );
    // ... the checks look at every stage.
    assert_eq!(
        found(&check_with(df, &opts()).warnings),
        expected(&[
            ("UndefinedVar", 3, "Usage of undefined variable '$foo'"),
            ("UndefinedVar", 6, "Usage of undefined variable '$bar'"),
        ])
    );
    // With a target, only what it needs.
    let o = BuildOptions {
        target: Some("first".into()),
        ..opts()
    };
    assert_eq!(
        found(&check_with(df, &o).warnings),
        expected(&[("UndefinedVar", 3, "Usage of undefined variable '$foo'")])
    );
}

#[test]
fn multiple_instructions_disallowed() {
    let m = |name: &str| {
        format!("Multiple {name} instructions should not be used in the same stage because only the last one will be used")
    };
    let (e, c, h) = (m("ENTRYPOINT"), m("CMD"), m("HEALTHCHECK"));
    let df = "\nFROM scratch\nENTRYPOINT [\"/myapp\"]\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myapp\"]\nCMD [\"/myotherapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myotherapp\"]\n";
    assert_warnings(
        df,
        &[
            ("MultipleInstructionsDisallowed", 3, &e),
            ("MultipleInstructionsDisallowed", 5, &c),
            ("MultipleInstructionsDisallowed", 7, &h),
        ],
    );
    assert_url(
        df,
        "MultipleInstructionsDisallowed",
        "multiple-instructions-disallowed",
    );
    assert_warnings(
        "\nFROM scratch\nENTRYPOINT [\"/myapp\"]\nCMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\nCOPY <<EOF /a.txt\nHello, World!\nEOF\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myotherapp\"]\nHEALTHCHECK CMD [\"/myotherapp\"]\n",
        &[
            ("MultipleInstructionsDisallowed", 3, &e),
            ("MultipleInstructionsDisallowed", 4, &c),
            ("MultipleInstructionsDisallowed", 5, &h),
        ],
    );
    assert_clean("\nFROM scratch AS a\nENTRYPOINT [\"/myapp\"]\nCMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\n\nFROM a AS b\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myotherapp\"]\nHEALTHCHECK CMD [\"/myotherapp\"]\n");
    // The later instruction's `# check=` comment decides.
    assert_clean(
        "FROM scratch\nCMD [\"a\"]\n# check=skip=MultipleInstructionsDisallowed\nCMD [\"b\"]\n",
    );
}

#[test]
fn legacy_key_value_format() {
    let env = "\"ENV key=value\" should be used instead of legacy \"ENV key value\" format";
    let label = "\"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format";
    let df = "\nFROM scratch\nENV testkey value\nLABEL key value\n";
    assert_warnings(
        df,
        &[
            ("LegacyKeyValueFormat", 3, env),
            ("LegacyKeyValueFormat", 4, label),
        ],
    );
    assert_url(df, "LegacyKeyValueFormat", "legacy-key-value-format");
    assert_clean("\nFROM scratch\nENV testkey=value\nLABEL key=value\n");
    // In a stage the target does not need: only the checks see it.
    let df =
        "\nFROM scratch AS a\n\nFROM a AS b\nENV testkey value\nLABEL key value\n\nFROM a AS c\n";
    assert_eq!(build_with(df, &opts()), vec![]);
    assert_eq!(
        found(&check_with(df, &opts()).warnings),
        expected(&[
            ("LegacyKeyValueFormat", 5, env),
            ("LegacyKeyValueFormat", 6, label),
        ])
    );
    assert_clean("\nFROM scratch\n# check=skip=LegacyKeyValueFormat\nENV testkey value\n# check=skip=LegacyKeyValueFormat\nLABEL key value\n");
}

/// Knows one image, built for another platform.
struct ForeignImage;

impl ImageResolver for ForeignImage {
    fn resolve(&self, r: &Reference, _: &Platform) -> Result<Option<ResolvedImage>> {
        let mut config = Image::empty(&Platform::new("linux", "arm64", ""));
        config.rootfs.diff_ids = vec![format!("sha256:{}", "b".repeat(64))];
        Ok(Some(ResolvedImage {
            reference: format!("{r}@sha256:{}", "a".repeat(64)),
            config,
        }))
    }
}

#[test]
fn invalid_base_image_platform() {
    let df = "\nFROM registry.example/app:latest\nENV foo=bar\n\t";
    let report = lower::lower_reporting(df, &opts(), &ForeignImage);
    report.result.unwrap();
    assert_eq!(
        found(&report.warnings),
        expected(&[(
            "InvalidBaseImagePlatform",
            2,
            "Base image registry.example/app:latest was pulled with platform \"linux/arm64\", expected \"linux/amd64\" for current build"
        )])
    );
    // BuildKit's rule set has no URL for this rule.
    assert_eq!(report.warnings[0].url, "");
    assert_eq!(
        report.warnings[0].description(),
        "Base image platform does not match expected target platform"
    );
    // A matching platform (or an unknown config) is fine.
    assert_clean(df);
    let checked = lower::check(
        "# check=skip=InvalidBaseImagePlatform\nFROM registry.example/app\n",
        &opts(),
        &ForeignImage,
    );
    assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
}

#[test]
fn redundant_target_platform() {
    let df = "\nFROM --platform=$TARGETPLATFORM scratch\n";
    assert_warnings(
        df,
        &[(
            "RedundantTargetPlatform",
            2,
            "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
        )],
    );
    assert_url(df, "RedundantTargetPlatform", "redundant-target-platform");
    assert_warnings(
        "\nFROM --platform=${TARGETPLATFORM} scratch\n",
        &[(
            "RedundantTargetPlatform",
            2,
            "Setting platform to predefined ${TARGETPLATFORM} in FROM is redundant as this is the default behavior",
        )],
    );
    assert_clean(
        "\n# check=skip=RedundantTargetPlatform\nFROM --platform=$TARGETPLATFORM scratch\n",
    );
    assert_clean("FROM --platform=$BUILDPLATFORM scratch\n");
}

#[test]
fn secrets_used_in_arg_or_env() {
    let df = "# check=skip=InvalidDefinitionDescription

FROM scratch
ARG SECRET_PASSPHRASE
ENV SUPER_Secret=foo
ENV password=bar secret=baz
ARG super_duper_secret_token=foo auth=bar
ENV apikey=bar sunflower=foo
ENV git_key=
ENV PUBLIC_KEY=
ARG public_token
ARG SECRET_PASSPHRASE_FILE
ENV password_file=bar secret_File=baz
ARG AUTH_MODULE_VERSION
# check=skip=SecretsUsedInArgOrEnv // allow secret in environment
ENV password=bar
# check=skip=SecretsUsedInArgOrEnv // allow secret in arg
ARG password
# check=skip=all // is local to only this instruction
ENV alternate_password=bar
# check=skip=all // is local to only this instruction
ARG alternate_password
";
    let m = |s: &str| format!("Do not use ARG or ENV instructions for sensitive data ({s})");
    let want = [
        (4, m("ARG \"SECRET_PASSPHRASE\"")),
        (5, m("ENV \"SUPER_Secret\"")),
        (6, m("ENV \"password\"")),
        (6, m("ENV \"secret\"")),
        (7, m("ARG \"auth\"")),
        (7, m("ARG \"super_duper_secret_token\"")),
        (8, m("ENV \"apikey\"")),
        (9, m("ENV \"git_key\"")),
    ];
    let want: Vec<(&str, usize, &str)> = want
        .iter()
        .map(|(l, m)| ("SecretsUsedInArgOrEnv", *l, m.as_str()))
        .collect();
    assert_warnings(df, &want);
    assert_url(
        "FROM scratch\nARG TOKEN\n",
        "SecretsUsedInArgOrEnv",
        "secrets-used-in-arg-or-env",
    );
}

#[test]
fn invalid_default_arg_in_from() {
    let df = "\nARG VERSION\nFROM busybox:$VERSION\n";
    assert_warnings_with(
        df,
        &with_args(&[("VERSION", "latest")]),
        &[(
            "InvalidDefaultArgInFrom",
            3,
            "Default value for ARG busybox:$VERSION results in empty or invalid base image name",
        )],
    );
    assert_warnings_with(
        "\nARG IMAGE\nFROM $IMAGE\n",
        &with_args(&[("IMAGE", "busybox:latest")]),
        &[(
            "InvalidDefaultArgInFrom",
            3,
            "Default value for ARG $IMAGE results in empty or invalid base image name",
        )],
    );
    assert_warnings_with(
        "\nARG SFX=\"box:\"\nFROM busy${SFX}\n",
        &with_args(&[("SFX", "box:latest")]),
        &[(
            "InvalidDefaultArgInFrom",
            3,
            "Default value for ARG busy${SFX} results in empty or invalid base image name",
        )],
    );
    let checked = check_with(df, &with_args(&[("VERSION", "latest")]));
    assert_eq!(
        checked.warnings[0].url,
        format!("{URL}invalid-default-arg-in-from/")
    );
    for (df, arg) in [
        (
            "\nARG VERSION=\"latest\"\nFROM busybox:${VERSION}\n",
            ("VERSION", "latest"),
        ),
        (
            "\nARG BUSYBOX_VARIANT=\"\"\nFROM busybox:stable${BUSYBOX_VARIANT}\n",
            ("BUSYBOX_VARIANT", "-musl"),
        ),
        (
            "\n\tARG BUSYBOX_VARIANT\n\tFROM busybox:stable${BUSYBOX_VARIANT}\n\t",
            ("BUSYBOX_VARIANT", "-musl"),
        ),
    ] {
        assert_warnings_with(df, &with_args(&[arg]), &[]);
    }
}

#[test]
fn from_platform_flag_const_disallowed() {
    let df = "\nFROM --platform=linux/amd64 scratch\n";
    assert_warnings(
        df,
        &[(
            "FromPlatformFlagConstDisallowed",
            2,
            "FROM --platform flag should not use constant value \"linux/amd64\"",
        )],
    );
    assert_url(
        df,
        "FromPlatformFlagConstDisallowed",
        "from-platform-flag-const-disallowed",
    );
    assert_clean("\nFROM --platform=linux/amd64 scratch AS my_amd64_stage\n");
    assert_clean("\nFROM --platform=linux/amd64 scratch AS linux\n");
}

#[test]
fn expose_proto_casing() {
    let df = "\nFROM scratch\nEXPOSE 80/TcP 8080/TCP 8080/udp\n";
    assert_warnings(
        df,
        &[
            (
                "ExposeProtoCasing",
                3,
                "Defined protocol '80/TcP' in EXPOSE instruction should be lowercase",
            ),
            (
                "ExposeProtoCasing",
                3,
                "Defined protocol '8080/TCP' in EXPOSE instruction should be lowercase",
            ),
        ],
    );
    assert_url(df, "ExposeProtoCasing", "expose-proto-casing");
    assert_clean("FROM scratch\nEXPOSE 80/tcp 53/udp 8080\n");
}

#[test]
fn expose_invalid_format() {
    let df = "\nFROM scratch\nEXPOSE 127.0.0.1:80:80 [::1]:8080:8080 5000:5000 8000\n";
    let m = |p: &str| {
        format!(
            "EXPOSE instruction should not define an IP address or host-port mapping, found '{p}'"
        )
    };
    let (a, b, c) = (m("127.0.0.1:80:80"), m("[::1]:8080:8080"), m("5000:5000"));
    assert_warnings(
        df,
        &[
            ("ExposeInvalidFormat", 3, &a),
            ("ExposeInvalidFormat", 3, &b),
            ("ExposeInvalidFormat", 3, &c),
        ],
    );
    assert_url(df, "ExposeInvalidFormat", "expose-invalid-format");
    assert_clean("FROM scratch\nEXPOSE 8000 9000-9002/udp\n");
}

fn ignoring(patterns: &[&str]) -> BuildOptions {
    let list: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    let exact = list.clone();
    let mut o = opts();
    o.dockerignore = Some(DockerIgnore::new(list, move |path: &str| {
        exact.iter().any(|p| match p.as_str() {
            "*" | "**" => true,
            ".*" => path.starts_with('.') && path != ".",
            p => path == p || path.starts_with(&format!("{p}/")),
        })
    }));
    o
}

#[test]
fn copy_ignored_file() {
    let o = ignoring(&["Dockerfile"]);
    let df = "\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n";
    assert_warnings_with(
        df,
        &o,
        &[
            (
                "CopyIgnoredFile",
                3,
                "Attempting to Copy file \"Dockerfile\" that is excluded by .dockerignore",
            ),
            (
                "CopyIgnoredFile",
                4,
                "Attempting to Add file \"Dockerfile\" that is excluded by .dockerignore",
            ),
        ],
    );
    let checked = check_with(df, &o);
    assert_eq!(checked.warnings[0].url, format!("{URL}copy-ignored-file/"));
    // The path is cleaned first.
    assert_warnings_with(
        "FROM scratch\nCOPY ./Dockerfile .\n",
        &o,
        &[(
            "CopyIgnoredFile",
            2,
            "Attempting to Copy file \"Dockerfile\" that is excluded by .dockerignore",
        )],
    );
    assert_warnings_with(
        "# check=skip=CopyIgnoredFile\n\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n",
        &o,
        &[],
    );
    // Not for other stages, nor an unignored file.
    assert_warnings_with(
        "\nFROM scratch AS base\nCOPY Dockerfile /foobar\nADD Dockerfile /windy\n\nFROM base\nCOPY --from=base /foobar /Dockerfile\n",
        &ignoring(&["foobar"]),
        &[],
    );
    // Exceptions make the check give up.
    assert_warnings_with(
        "\nFROM scratch\nCOPY ./Dockerfile .\n",
        &ignoring(&["**", "!Dockerfile"]),
        &[],
    );
    assert_warnings_with(
        "\nFROM scratch\nCOPY . .\n\t",
        &ignoring(&["**", "!Dockerfile"]),
        &[],
    );
    // The context root only when every root entry is excluded.
    assert_warnings_with("\nFROM scratch\nCOPY . .\n", &ignoring(&[".*"]), &[]);
    assert_warnings_with(
        "\nFROM scratch\nCOPY . .\n",
        &ignoring(&["*"]),
        &[(
            "CopyIgnoredFile",
            3,
            "Attempting to Copy file \".\" that is excluded by .dockerignore",
        )],
    );
    // No ignore file, no check.
    assert_clean("FROM scratch\nCOPY Dockerfile .\n");
}

#[test]
fn invalid_definition_description_is_experimental() {
    let df = "# check=skip=all;experimental=InvalidDefinitionDescription\n# foo this is the foo\nARG foo=bar\n\n# base this is the base image\nFROM scratch AS base\n\n# version this is the version number\nARG version=latest\n\n# baz this is the baz\nARG foo=baz bar=qux baz=quux\n#\nARG bit=bat\n\n# comment for something other than ARG or FROM\nCOPY Dockerfile .\n";
    assert_clean(df);
    let df = "# check=experimental=InvalidDefinitionDescription\n# bar this is the bar\nARG foo=bar\n# BasE this is the BasE image\nFROM scratch AS base\n# definitely a bad comment\nARG version=latest\n# definitely a bad comment\nARG foo=baz bar=qux baz=quux\n";
    let want = [
        (
            3,
            "Comment for ARG should follow the format: `# foo <description>`",
        ),
        (
            5,
            "Comment for FROM should follow the format: `# base <description>`",
        ),
        (
            7,
            "Comment for ARG should follow the format: `# version <description>`",
        ),
        (
            9,
            "Comment for ARG should follow the format: `# <arg_key> <description>`",
        ),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(l, m)| ("InvalidDefinitionDescription", *l, *m))
        .collect();
    assert_warnings(df, &want);
    assert_url(
        df,
        "InvalidDefinitionDescription",
        "invalid-definition-description",
    );
    // Off unless enabled.
    assert_clean("FROM scratch\n# definitely a bad comment\nARG version=latest\n");
    // Enabled for one instruction by its own comment (which is then the
    // description comment, and a bad one).
    assert_warnings(
        "FROM scratch\n# check=experimental=InvalidDefinitionDescription\nARG version=latest\n",
        &[(
            "InvalidDefinitionDescription",
            3,
            "Comment for ARG should follow the format: `# version <description>`",
        )],
    );
    assert_warnings_with(
        "FROM scratch\n# definitely a bad comment\nARG version=latest\n",
        &with_args(&[("BUILDKIT_DOCKERFILE_CHECK", "experimental=all")]),
        &[(
            "InvalidDefinitionDescription",
            3,
            "Comment for ARG should follow the format: `# version <description>`",
        )],
    );
}

// --- configuration -----------------------------------------------------

const CASING: &str = "FROM scratch as base\ncopy Dockerfile .\n";

#[test]
fn directive_skips_rules() {
    let from_as = (
        "FromAsCasing",
        2,
        "'as' and 'FROM' keywords' casing do not match",
    );
    let casing = (
        "ConsistentInstructionCasing",
        3,
        "Command 'copy' should match the case of the command majority (uppercase)",
    );
    assert_warnings(&format!("\n{CASING}"), &[from_as, casing]);
    assert_warnings(&format!("#check=skip=all\n{CASING}"), &[]);
    assert_warnings(&format!("#check=skip=all;error=true\n{CASING}"), &[]);
    assert_warnings(
        &format!("#check=skip=ConsistentInstructionCasing,FromAsCasing\n{CASING}"),
        &[],
    );
    assert_warnings(
        &format!("#check=skip=ConsistentInstructionCasing,FromAsCasing;error=true\n{CASING}"),
        &[],
    );
    assert_warnings(
        &format!("#check=skip=ConsistentInstructionCasing\n{CASING}"),
        &[from_as],
    );
    // Unknown names ignored, the value ends at the first space (so
    // `skip = a` is the invalid option `skip`).
    assert_warnings(
        &format!("# check = skip=NoSuchRule,ConsistentInstructionCasing // why\n{CASING}"),
        &[from_as],
    );
    // A file-wide rule ignores comments above one instruction.
    assert_warnings(
        "FROM scratch\n# check=skip=ConsistentInstructionCasing\ncopy Dockerfile .\n",
        &[(
            "ConsistentInstructionCasing",
            3,
            "Command 'copy' should match the case of the command majority (uppercase)",
        )],
    );
}

#[test]
fn error_true_fails_after_the_checks() {
    let from_as = (
        "FromAsCasing",
        2,
        "'as' and 'FROM' keywords' casing do not match",
    );
    assert_check_error(
        &format!("#check=skip=ConsistentInstructionCasing;error=true\n{CASING}"),
        &opts(),
        &[from_as],
        "lint violation found for rules: FromAsCasing",
    );
    assert_check_error(
        &format!("#check=error=true\n{CASING}"),
        &opts(),
        &[
            from_as,
            (
                "ConsistentInstructionCasing",
                3,
                "Command 'copy' should match the case of the command majority (uppercase)",
            ),
        ],
        "lint violation found for rules: ConsistentInstructionCasing, FromAsCasing",
    );
    // Clean: no error.
    assert_warnings("# check=error=true\nFROM scratch AS base\n", &[]);
}

#[test]
fn build_arg_wins_over_the_directive() {
    let from_as = (
        "FromAsCasing",
        2,
        "'as' and 'FROM' keywords' casing do not match",
    );
    assert_check_error(
        &format!("#check=skip=all\n{CASING}"),
        &with_args(&[(
            "BUILDKIT_DOCKERFILE_CHECK",
            "skip=ConsistentInstructionCasing;error=true",
        )]),
        &[from_as],
        "lint violation found for rules: FromAsCasing",
    );
    assert_warnings_with(
        &format!("#check=error=true\n{CASING}"),
        &with_args(&[("BUILDKIT_DOCKERFILE_CHECK", "skip=all")]),
        &[],
    );
    // The explicit option wins over both.
    let mut o = with_args(&[("BUILDKIT_DOCKERFILE_CHECK", "skip=all")]);
    o.check = Some("skip=FromAsCasing".into());
    assert_eq!(
        build_with(&format!("\n{CASING}"), &o),
        expected(&[(
            "ConsistentInstructionCasing",
            3,
            "Command 'copy' should match the case of the command majority (uppercase)"
        )])
    );
}

#[test]
fn bad_check_options_are_errors_naming_the_option() {
    let cases = [
        (
            "# check=foo=bar\nFROM scratch\n",
            "failed to parse check options: invalid check option \"foo\"",
        ),
        (
            "# check=error=maybe\nFROM scratch\n",
            "failed to parse check options: failed to parse check option \"error=maybe\": strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        (
            "# check=skip\nFROM scratch\n",
            "failed to parse check options: invalid check option \"skip\"",
        ),
    ];
    for (df, message) in cases {
        let checked = check_with(df, &opts());
        assert_eq!(checked.error.unwrap().message, message, "{df}");
        assert!(checked.warnings.is_empty());
    }
    let checked = check_with(
        "FROM scratch\n",
        &with_args(&[("BUILDKIT_DOCKERFILE_CHECK", "error=maybe")]),
    );
    assert_eq!(
        checked.error.unwrap().message,
        "failed to parse build-arg:BUILDKIT_DOCKERFILE_CHECK: failed to parse check option \"error=maybe\": strconv.ParseBool: parsing \"maybe\": invalid syntax"
    );
    // An unreadable `# check=` comment above one instruction is ignored.
    assert_warnings(
        "FROM scratch\n# check=bogus\nMAINTAINER me\n",
        &[(
            "MaintainerDeprecated",
            3,
            "Maintainer instruction is deprecated in favor of using label",
        )],
    );
}

#[test]
fn comment_overrides_reach_every_lowering_rule() {
    let cases = [
        "FROM scratch\n# check=skip=UndefinedVar\nCOPY $nope .\n",
        "FROM scratch\n# check=skip=LegacyKeyValueFormat\nENV a b\n",
        "FROM scratch\n# check=skip=SecretsUsedInArgOrEnv\nARG TOKEN\n",
        "FROM scratch\n# check=skip=WorkdirRelativePath\nWORKDIR rel\n",
        "FROM scratch\n# check=skip=JSONArgsRecommended\nCMD run\n",
        "FROM scratch\n# check=skip=ExposeProtoCasing,ExposeInvalidFormat\nEXPOSE 1:80/TCP\n",
        "# check=skip=UndefinedArgInFrom\nFROM busybox$nope\n",
        "# check=skip=FromPlatformFlagConstDisallowed\nFROM --platform=linux/amd64 scratch\n",
        "FROM scratch\n# check=skip=all\nMAINTAINER me\n",
    ];
    for df in cases {
        assert_clean(df);
    }
    let mut o = ignoring(&["secret"]);
    o.check = None;
    assert_warnings_with(
        "FROM scratch\n# check=skip=CopyIgnoredFile\nCOPY secret /\n",
        &o,
        &[],
    );
}

#[test]
fn a_clean_dockerfile_has_no_warnings() {
    assert_clean("# syntax=docker/dockerfile:1\nARG BASE=alpine:3.20\nFROM ${BASE} AS build\nWORKDIR /src\nCOPY . .\nRUN make\n\nFROM scratch\nCOPY --from=build /src/out /app\nENTRYPOINT [\"/app\"]\n");
}

#[test]
fn warnings_of_check_are_sorted_by_line() {
    let checked = check_with(
        "FROM scratch AS Bad\nCMD a\nENV k v\nCMD [\"b\"]\n",
        &opts(),
    );
    let lines: Vec<usize> = checked
        .warnings
        .iter()
        .map(|w| w.range.start_line)
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
    assert_eq!(lines.len(), 4, "{:?}", checked.warnings);
}

// --- cost ----------------------------------------------------------------

/// A 1,000-instruction Dockerfile that raises most rules along the way;
/// every stage builds on the one before, so all are lowered.
fn big_dockerfile() -> String {
    let mut out = String::from("ARG BASE=alpine:3.20\nARG VERSION\n");
    let mut n = 2;
    let mut stage = 0;
    while n < 1000 {
        let from = match stage {
            0 => "${BASE}".to_string(),
            _ => format!("s{}", stage - 1),
        };
        let body = [
            format!("FROM {from} as S{stage}"),
            "ENV key value".to_string(),
            format!("ENV APP_TOKEN=x PATH=$PATH:/opt/{stage}"),
            "ARG password".to_string(),
            "WORKDIR rel".to_string(),
            "COPY $UNDEFINED_THING ./dst/".to_string(),
            "RUN echo hello".to_string(),
            "EXPOSE 8080:80/TCP".to_string(),
            "LABEL a=b".to_string(),
            "CMD echo one".to_string(),
            "cmd [\"two\"]".to_string(),
            "USER app".to_string(),
        ];
        for line in body {
            if n == 1000 {
                break;
            }
            out.push_str(&line);
            out.push('\n');
            n += 1;
        }
        stage += 1;
    }
    out
}

/// `cargo test --release -p kiln-frontend --test checks -- --ignored --nocapture`
///
/// The cost of the checks: lowering with every rule on against lowering
/// with `skip=all` (the rules' conditions are still evaluated then, but
/// no warning is built), and `check` (every stage) on its own.
#[test]
#[ignore = "timing; run in release mode"]
fn check_cost_for_1000_instructions() {
    let df = big_dockerfile();
    let o = opts();
    let skip_all = with_args(&[("BUILDKIT_DOCKERFILE_CHECK", "skip=all")]);
    let runs = 200;
    let mut with_checks = Vec::with_capacity(runs);
    let mut without = Vec::with_capacity(runs);
    let mut check_only = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = std::time::Instant::now();
        std::hint::black_box(lower::lower(&df, &o, &NoResolver).unwrap());
        with_checks.push(t.elapsed());
        let t = std::time::Instant::now();
        std::hint::black_box(lower::lower(&df, &skip_all, &NoResolver).unwrap());
        without.push(t.elapsed());
        let t = std::time::Instant::now();
        std::hint::black_box(lower::check(&df, &o, &NoResolver));
        check_only.push(t.elapsed());
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let lowered = lower::lower(&df, &o, &NoResolver).unwrap();
    let (w, s, c) = (
        median(&mut with_checks),
        median(&mut without),
        median(&mut check_only),
    );
    println!(
        "1,000 instructions, {} warnings: lower {w:?}, lower with skip=all {s:?} (checks: {:?}), check {c:?}",
        lowered.warnings.len(),
        w.saturating_sub(s),
    );
    assert!(lowered.warnings.len() > 500);
}

#[test]
fn the_big_dockerfile_lowers() {
    let lowered = lower::lower(&big_dockerfile(), &opts(), &NoResolver).unwrap();
    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    for w in &lowered.warnings {
        *rules.entry(w.rule).or_default() += 1;
    }
    for rule in [
        "FromAsCasing",
        "StageNameCasing",
        "LegacyKeyValueFormat",
        "SecretsUsedInArgOrEnv",
        "WorkdirRelativePath",
        "UndefinedVar",
        "ExposeProtoCasing",
        "ExposeInvalidFormat",
        "JSONArgsRecommended",
        "MultipleInstructionsDisallowed",
        "ConsistentInstructionCasing",
    ] {
        assert!(rules.contains_key(rule), "{rule} missing: {rules:?}");
    }
}
