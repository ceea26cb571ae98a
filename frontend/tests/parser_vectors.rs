//! Conformance: BuildKit's own parser test vectors.
//!
//! For every `parser/NAME/Dockerfile` the dump must equal `parser/NAME/result`
//! byte for byte; every `parser-negative/NAME/Dockerfile` must be rejected.
//! The vectors live in `shared/vectors/buildkit` beside the workspace, or
//! where `KILN_VECTORS` points.

use std::fs;
use std::path::{Path, PathBuf};

use kiln_frontend::parser;

fn vectors_dir() -> PathBuf {
    let dir = std::env::var_os("KILN_VECTORS").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/vectors/buildkit"
            ))
        },
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "conformance vectors not found at {} (set KILN_VECTORS)",
        dir.display()
    );
    dir
}

/// The case directories under `dir/sub`, sorted; fails when there are none.
fn cases(sub: &str) -> Vec<PathBuf> {
    let dir = vectors_dir().join(sub);
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    cases
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn dumps_match_reference_results() {
    let mut failures = Vec::new();
    let all = cases("parser");
    for case in &all {
        let name = case.file_name().unwrap_or_default().to_string_lossy();
        let dockerfile = read(&case.join("Dockerfile"));
        let expected = read(&case.join("result"));
        match parser::parse(&dockerfile) {
            Ok(parsed) => {
                let got = parsed.dump();
                if got != expected {
                    failures.push(format!("{name}:\n--- expected\n{expected}--- got\n{got}"));
                }
            }
            Err(e) => failures.push(format!("{name}: unexpected error: {e} ({:?})", e.range)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn negative_cases_are_rejected() {
    for case in cases("parser-negative") {
        let dockerfile = read(&case.join("Dockerfile"));
        let result = parser::parse(&dockerfile);
        assert!(
            result.is_err(),
            "{} was accepted: {:?}",
            case.display(),
            result.map(|p| p.dump())
        );
    }
}
