//! BuildKit's own shell-expansion vectors (`frontend/dockerfile/shell/
//! envVarTest` and `wordsTest`), run against `kiln_frontend::shell`.
//!
//! The files live in the shared vectors directory
//! (`../shared/vectors/buildkit`, or `$KILN_VECTORS`); see its README for
//! the formats. A missing file fails the test: silently skipping would
//! hide a broken checkout.

use std::path::PathBuf;

use kiln_frontend::shell::Lex;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("KILN_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/buildkit"
        )),
    }
}

fn read_vector(name: &str) -> String {
    let path = vectors_dir().join("shell").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read shell vector file {}: {e} (set KILN_VECTORS to the buildkit vectors directory)",
            path.display()
        )
    })
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Panics listing every failure, so one run shows them all.
fn report(file: &str, checked: usize, failures: &[String]) {
    assert!(checked > 0, "{file}: no case was checked");
    assert!(
        failures.is_empty(),
        "{file}: {} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{file}: {checked} cases passed");
}

/// `PLATFORM|INPUT|EXPECTED`: the expanded text of INPUT, or `error`.
#[test]
fn env_var_test_vectors() {
    let text = read_vector("envVarTest");
    let env = pairs(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]);
    let lex = Lex::new('\\');
    let mut checked = 0;
    let mut failures = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim().split('|').collect();
        let [platform, input, expected] = fields[..] else {
            panic!("envVarTest:{number}: expected 3 fields: {line:?}");
        };
        let (platform, input, expected) = (platform.trim(), input.trim(), expected.trim());
        match platform {
            "A" | "U" => {}
            "W" => continue,
            other => panic!("envVarTest:{number}: unknown platform {other:?}"),
        }
        checked += 1;
        let got = lex.process_word(input, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(expanded), _) => expanded.result == expected,
            (Err(_), _) => false,
        };
        if !ok {
            let got = got.map(|e| e.result);
            failures.push(format!(
                "envVarTest:{number}: {input:?}: want {expected:?}, got {got:?}"
            ));
        }
    }
    report("envVarTest", checked, &failures);
}

/// `ENV K=V` lines extend the environment; `INPUT|W1,W2,…` lines give the
/// words INPUT splits into (`error` for a failure).
#[test]
fn words_test_vectors() {
    let text = read_vector("wordsTest");
    let lex = Lex::new('\\');
    let mut env: Vec<(String, String)> = Vec::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.starts_with('#') {
            continue;
        }
        if let Some(assignment) = line.strip_prefix("ENV ") {
            // Only leading spaces go: trailing ones are part of the value.
            let assignment = assignment.trim_start_matches(' ');
            let (key, value) = assignment.split_once('=').unwrap_or((assignment, ""));
            env.push((key.to_string(), value.to_string()));
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        let [input, expected] = fields[..] else {
            panic!("wordsTest:{number}: expected exactly one '|': {line:?}");
        };
        let input = input.trim();
        let expected: Vec<&str> = expected.trim_start_matches(' ').split(',').collect();
        checked += 1;
        let got = match lex.process_words(input, &env) {
            Ok(words) => words,
            Err(_) => vec!["error".to_string()],
        };
        if got != expected {
            failures.push(format!(
                "wordsTest:{number}: {input:?}: want {expected:?}, got {got:?}"
            ));
        }
    }
    report("wordsTest", checked, &failures);
}
