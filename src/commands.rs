//! What each CLI command does, on top of the library crates.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use kiln_frontend::parser;

use crate::diagnostic;

/// `kiln debug ast FILE`: the parse in BuildKit's dump format.
pub fn debug_ast(file: &str) -> anyhow::Result<i32> {
    let (name, source) = read_dockerfile(file)?;
    match parser::parse(&source) {
        Ok(parsed) => {
            print!("{}", parser::dump(&parsed.nodes));
            Ok(0)
        }
        Err(err) => Err(frontend_error(&name, &source, err)),
    }
}

/// `KEY=VALUE` list; a bare `KEY` takes the value from the environment
/// when `from_env` (and is dropped when unset, as docker does).
pub fn key_values(items: &[String], from_env: bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None if from_env => {
                if let Ok(v) = std::env::var(item) {
                    out.insert(item.clone(), v);
                }
            }
            None => {
                out.insert(item.clone(), String::new());
            }
        }
    }
    out
}

/// `-f` relative to the current directory, else `CONTEXT/Dockerfile`
/// (falling back to `dockerfile`, as the docker CLI does).
pub fn resolve_dockerfile(context: &str, file: Option<&str>) -> anyhow::Result<String> {
    if let Some(f) = file {
        return Ok(f.to_string());
    }
    let dir = Path::new(context);
    let candidates: [PathBuf; 2] = [dir.join("Dockerfile"), dir.join("dockerfile")];
    match candidates.iter().find(|p| p.exists()) {
        Some(p) => Ok(p.to_string_lossy().into_owned()),
        None => bail!(
            "failed to read dockerfile: open {}: no such file or directory",
            candidates[0].display()
        ),
    }
}

/// Returns the name to show in messages and the text (`-` reads stdin).
pub fn read_dockerfile(file: &str) -> anyhow::Result<(String, String)> {
    let bytes = if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading the Dockerfile from stdin")?;
        buf
    } else {
        std::fs::read(file).with_context(|| format!("failed to read dockerfile {file}"))?
    };
    let name = if file == "-" {
        "Dockerfile".to_string()
    } else {
        Path::new(file)
            .file_name()
            .map_or_else(|| file.to_string(), |n| n.to_string_lossy().into_owned())
    };
    Ok((name, String::from_utf8_lossy(&bytes).into_owned()))
}

/// A frontend error with the Dockerfile excerpt it is about.
pub fn frontend_error(name: &str, source: &str, err: kiln_frontend::Error) -> anyhow::Error {
    match err.range {
        Some(range) => anyhow::anyhow!(
            "{}\n{}",
            err.message,
            diagnostic::excerpt(name, source, range).trim_end()
        ),
        None => anyhow::anyhow!("{}", err.message),
    }
}
