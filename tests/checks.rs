//! `kiln build --check` and the build-check report of a build, through
//! the real binary: exit codes, the three formats (text as docker prints
//! it, JSON, SARIF 2.1.0 checked structurally), the configuration from
//! the directive and `--build-arg BUILDKIT_DOCKERFILE_CHECK`, the
//! `.dockerignore` rule, and that nothing needs root or a store.

mod common;

use std::path::Path;
use std::process::Output;

use common::{context, text, Kiln};
use serde_json::Value;

fn check(kiln: &Kiln, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["build", "--check"];
    args.extend_from_slice(extra);
    args.push(".");
    kiln.run(dir, &args)
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

const TWO_WARNINGS: &str = "FROM scratch as build\nCOPY a /a\nCMD run\n";

#[test]
fn clean_dockerfile_exits_0_and_says_so() {
    let kiln = Kiln::new();
    let dir = context(&[("Dockerfile", "FROM scratch\nCOPY a /a\n"), ("a", "x")]);
    let out = check(&kiln, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Check complete, no warnings found.\n");
    assert_eq!(text(&out.stderr), "");
    // No store was created, nothing written.
    assert_eq!(
        std::fs::read_dir(kiln.root.path()).unwrap().count(),
        0,
        "--check must not touch the store"
    );
}

#[test]
fn warnings_exit_1_with_docker_text() {
    let kiln = Kiln::new();
    let dir = context(&[("Dockerfile", TWO_WARNINGS), ("a", "x")]);
    let out = check(&kiln, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Check complete, 2 warnings have been found!

WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/
'as' and 'FROM' keywords' casing do not match
Dockerfile:1
--------------------
   1 | >>> FROM scratch as build
   2 |     COPY a /a
   3 |     CMD run
--------------------

WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/
JSON arguments recommended for CMD to prevent unintended behavior related to OS signals
Dockerfile:3
--------------------
   1 |     FROM scratch as build
   2 |     COPY a /a
   3 | >>> CMD run
   4 |     
--------------------
"
    );
    assert_eq!(text(&out.stderr), "");
    let one = context(&[("Dockerfile", "FROM scratch\nMAINTAINER me\n")]);
    let out = check(&kiln, one.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("Check complete, 1 warning has been found!\n"));
}

#[test]
fn json_lists_rule_description_url_message_and_location() {
    let kiln = Kiln::new();
    let dir = context(&[("Dockerfile", TWO_WARNINGS), ("a", "x")]);
    let out = check(&kiln, dir.path(), &["--format=json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_eq!(doc["dockerfile"], "Dockerfile");
    assert_eq!(doc["error"], Value::Null);
    let warnings = doc["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2);
    let w = &warnings[0];
    assert_eq!(w["rule"], "FromAsCasing");
    assert_eq!(
        w["description"],
        "The 'as' keyword should match the case of the 'from' keyword"
    );
    assert_eq!(
        w["url"],
        "https://docs.docker.com/go/dockerfile/rule/from-as-casing/"
    );
    assert_eq!(
        w["message"],
        "'as' and 'FROM' keywords' casing do not match"
    );
    assert_eq!(w["level"], "warning");
    assert_eq!(
        w["location"],
        serde_json::json!({"file": "Dockerfile", "startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 22})
    );
    assert_eq!(warnings[1]["rule"], "JSONArgsRecommended");
    assert_eq!(warnings[1]["location"]["startLine"], 3);

    let clean = context(&[("Dockerfile", "FROM scratch\n")]);
    let out = check(&kiln, clean.path(), &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json(&out),
        serde_json::json!({"dockerfile": "Dockerfile", "warnings": [], "error": null})
    );
}

/// The parts of SARIF 2.1.0 that code-scanning services require, and the
/// whole document against the official schema.
fn assert_valid_sarif(doc: &Value, uri: &str) {
    validate_against_schema(doc);
    assert_eq!(doc["version"], "2.1.0");
    let schema = doc["$schema"].as_str().expect("$schema");
    assert!(schema.starts_with("https://") && schema.contains("sarif"));
    let runs = doc["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "kiln");
    let rules = driver["rules"].as_array().expect("tool.driver.rules");
    assert_eq!(rules.len(), 22, "BuildKit's rule set");
    for rule in rules {
        let id = rule["id"].as_str().expect("rule id");
        assert!(!id.is_empty());
        assert!(rule["shortDescription"]["text"].as_str().is_some(), "{id}");
        match rule.get("helpUri") {
            Some(url) => assert!(url
                .as_str()
                .unwrap()
                .starts_with("https://docs.docker.com/go/dockerfile/rule/")),
            None => assert_eq!(id, "InvalidBaseImagePlatform"),
        }
    }
    for result in run["results"].as_array().expect("results") {
        let id = result["ruleId"].as_str().expect("ruleId");
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], id);
        assert!(matches!(
            result["level"].as_str(),
            Some("warning" | "error")
        ));
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
        let locations = result["locations"].as_array().expect("locations");
        assert_eq!(locations.len(), 1);
        let physical = &locations[0]["physicalLocation"];
        assert_eq!(physical["artifactLocation"]["uri"], uri);
        let region = &physical["region"];
        let start = region["startLine"].as_u64().expect("startLine");
        let end = region["endLine"].as_u64().expect("endLine");
        assert!(start >= 1 && end >= start);
        assert!(region["startColumn"].as_u64().unwrap() >= 1);
    }
    assert!(run["invocations"][0]["executionSuccessful"].is_boolean());
}

/// Validates `doc` with Debian's Python `jsonschema` against the SARIF
/// 2.1.0 schema `.ci/run` fetches (`KILN_SARIF_SCHEMA`). Outside CI,
/// without them, only the structural checks run.
fn validate_against_schema(doc: &Value) {
    let schema = std::env::var_os("KILN_SARIF_SCHEMA").filter(|s| !s.is_empty());
    let has_validator = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    let Some(schema) = schema.filter(|_| has_validator) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "under CI the SARIF schema (KILN_SARIF_SCHEMA) and python3-jsonschema are required"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.sarif");
    std::fs::write(&log, serde_json::to_vec(doc).unwrap()).unwrap();
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        jsonschema.Draft7Validator(schema).validate(json.load(open(sys.argv[2])))\n";
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&schema)
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the SARIF log does not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sarif_log_for_code_scanning() {
    let kiln = Kiln::new();
    let dir = context(&[("Dockerfile", TWO_WARNINGS), ("a", "x")]);
    let out = check(&kiln, dir.path(), &["--format=sarif"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_valid_sarif(&doc, "Dockerfile");
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let found: Vec<(&str, u64)> = results
        .iter()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap(),
                r["locations"][0]["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(found, [("FromAsCasing", 1), ("JSONArgsRecommended", 3)]);
    assert_eq!(
        results[1]["message"]["text"],
        "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals"
    );
    assert_eq!(results[0]["level"], "warning");
    assert_eq!(
        doc["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );

    // A Dockerfile below the context: its path relative to the context.
    let dir = context(&[("build/Dockerfile.dev", "FROM scratch AS Dev\n")]);
    let out = kiln.run(
        dir.path(),
        &[
            "build",
            "--check",
            "--format=sarif",
            "-f",
            "build/Dockerfile.dev",
            ".",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_valid_sarif(&doc, "build/Dockerfile.dev");
    assert_eq!(doc["runs"][0]["results"][0]["ruleId"], "StageNameCasing");

    // Clean: a valid log with no results, exit 0.
    let clean = context(&[("Dockerfile", "FROM scratch\n")]);
    let out = check(&kiln, clean.path(), &["--format=sarif"]);
    assert_eq!(out.status.code(), Some(0));
    let doc = json(&out);
    assert_valid_sarif(&doc, "Dockerfile");
    assert_eq!(doc["runs"][0]["results"], serde_json::json!([]));
}

#[test]
fn error_true_fails_after_printing_the_warnings() {
    let kiln = Kiln::new();
    let dir = context(&[("Dockerfile", "# check=error=true\nFROM scratch as build\n")]);
    let out = check(&kiln, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Check complete, 1 warning has been found!\n\nWARNING: FromAsCasing"),
        "{stdout}"
    );
    assert!(stdout.ends_with("--------------------\n\n"), "{stdout:?}");
    assert_eq!(
        text(&out.stderr),
        "error: lint violation found for rules: FromAsCasing\n"
    );
    // JSON: the error in the document, level error.
    let out = check(&kiln, dir.path(), &["--format=json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    assert_eq!(
        doc["error"],
        serde_json::json!({"message": "lint violation found for rules: FromAsCasing", "location": null})
    );
    assert_eq!(doc["warnings"][0]["level"], "error");
    // SARIF: level error, and a failed invocation.
    let out = check(&kiln, dir.path(), &["--format=sarif"]);
    let doc = json(&out);
    assert_valid_sarif(&doc, "Dockerfile");
    let run = &doc["runs"][0];
    assert_eq!(run["results"][0]["level"], "error");
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    assert_eq!(
        run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"],
        "lint violation found for rules: FromAsCasing"
    );
}

#[test]
fn build_arg_wins_over_the_directive() {
    let kiln = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        "# check=skip=all\nFROM scratch as build\nMAINTAINER me\n",
    )]);
    assert_eq!(check(&kiln, dir.path(), &[]).status.code(), Some(0));
    let out = check(
        &kiln,
        dir.path(),
        &[
            "--build-arg",
            "BUILDKIT_DOCKERFILE_CHECK=skip=MaintainerDeprecated",
            "--format=json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    let rules: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_object().unwrap()["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["FromAsCasing"]);
    // Skip all through the build arg.
    let out = check(
        &kiln,
        dir.path(),
        &["--build-arg", "BUILDKIT_DOCKERFILE_CHECK=skip=all"],
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn bad_check_options_name_the_option() {
    let kiln = Kiln::new();
    for (directive, message) in [
        ("# check=bogus=1", "invalid check option \"bogus\""),
        (
            "# check=error=maybe",
            "failed to parse check option \"error=maybe\"",
        ),
    ] {
        let dir = context(&[("Dockerfile", &format!("{directive}\nFROM scratch\n"))]);
        let out = check(&kiln, dir.path(), &[]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("error: failed to parse check options: ")
                && stderr.contains(message),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"));
    }
    // Unknown rule names are ignored.
    let dir = context(&[(
        "Dockerfile",
        "# check=skip=NoSuchRule,FromAsCasing\nFROM scratch as x\n",
    )]);
    assert_eq!(check(&kiln, dir.path(), &[]).status.code(), Some(0));
}

#[test]
fn a_dockerfile_error_reports_warnings_then_the_error() {
    let kiln = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch AS BadStageName\nMAINTAINER me@example.org\nBADCMD\n",
    )]);
    let out = check(&kiln, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("Check complete, 2 warnings have been found!\n"));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: dockerfile parse error on line 3: unknown instruction: BADCMD\nDockerfile:3\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("   3 | >>> BADCMD\n"), "{stderr}");
}

#[test]
fn copy_ignored_file_uses_the_contexts_dockerignore() {
    let kiln = Kiln::new();
    let dir = context(&[
        (
            "Dockerfile",
            "FROM scratch\nCOPY secret.txt /\nADD ./logs/today.log /\nCOPY app /\n",
        ),
        (".dockerignore", "secret.txt\nlogs\n"),
        ("secret.txt", "x"),
        ("app", "x"),
    ]);
    let out = check(&kiln, dir.path(), &["--format=json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json(&out);
    let found: Vec<(String, u64)> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["message"].as_str().unwrap().to_string(),
                w["location"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "Attempting to Copy file \"secret.txt\" that is excluded by .dockerignore"
                    .to_string(),
                2
            ),
            (
                "Attempting to Add file \"logs/today.log\" that is excluded by .dockerignore"
                    .to_string(),
                3
            ),
        ]
    );
    // `<Dockerfile>.dockerignore` next to the Dockerfile wins.
    let dir = context(&[
        ("Dockerfile", "FROM scratch\nCOPY secret.txt /\n"),
        (".dockerignore", "secret.txt\n"),
        ("Dockerfile.dockerignore", "other\n"),
    ]);
    assert_eq!(check(&kiln, dir.path(), &[]).status.code(), Some(0));
    // With exceptions the check gives up, as BuildKit's does.
    let dir = context(&[
        ("Dockerfile", "FROM scratch\nCOPY secret.txt /\n"),
        (".dockerignore", "secret.txt\n!keep\n"),
    ]);
    assert_eq!(check(&kiln, dir.path(), &[]).status.code(), Some(0));
}

#[test]
fn every_stage_is_checked_unless_a_target_is_given() {
    let kiln = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        "FROM scratch AS first\nCOPY $foo .\n\nFROM scratch AS second\nCOPY $bar .\n",
    )]);
    let out = check(&kiln, dir.path(), &["--format=json"]);
    assert_eq!(json(&out)["warnings"].as_array().unwrap().len(), 2);
    let out = check(&kiln, dir.path(), &["--format=json", "--target", "second"]);
    let doc = json(&out);
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(
        doc["warnings"][0]["message"],
        "Usage of undefined variable '$bar'"
    );
}

#[test]
fn format_needs_check() {
    let kiln = Kiln::new();
    let dir = context(&[("Dockerfile", "FROM scratch\n")]);
    let out = kiln.run(dir.path(), &["build", "--format=json", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--check"));
    let out = check(&kiln, dir.path(), &["--format=xml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn build_prints_warnings_at_the_end_like_docker() {
    let kiln = Kiln::new();
    let dir = context(&[("Dockerfile", TWO_WARNINGS), ("a", "x")]);
    // --dry-run lowers without building (no root needed).
    let out = kiln.run(dir.path(), &["build", "--dry-run", "."]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "
 2 warnings found:
 - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)
The 'as' keyword should match the case of the 'from' keyword
More info: https://docs.docker.com/go/dockerfile/rule/from-as-casing/
Dockerfile:1
--------------------
   1 | >>> FROM scratch as build
   2 |     COPY a /a
   3 |     CMD run
--------------------

 - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 3)
JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals
More info: https://docs.docker.com/go/dockerfile/rule/json-args-recommended/
Dockerfile:3
--------------------
   1 |     FROM scratch as build
   2 |     COPY a /a
   3 | >>> CMD run
   4 |     
--------------------

"
    );
    // A clean Dockerfile prints nothing extra.
    let clean = context(&[("Dockerfile", "FROM scratch\nCOPY a /a\n"), ("a", "x")]);
    let out = kiln.run(clean.path(), &["build", "--dry-run", "."]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    // error=true fails the build after the checks.
    let strict = context(&[("Dockerfile", "# check=error=true\nFROM scratch AS Bad\n")]);
    let out = kiln.run(strict.path(), &["build", "--dry-run", "."]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("\n 1 warning found:\n - StageNameCasing: Stage name 'Bad' should be lowercase (line 2)\n"),
        "the warnings come first: {stderr}"
    );
    assert!(
        stderr.ends_with("error: lint violation found for rules: StageNameCasing\n"),
        "{stderr}"
    );
}
