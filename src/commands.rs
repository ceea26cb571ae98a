//! What each CLI command does, on top of the library crates.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use kiln_frontend::definition::Platform;
use kiln_frontend::lower::{self, BuildOptions, NoResolver};
use kiln_frontend::parser;

use crate::cli::BuildArgs;
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

/// `kiln build`: for now the frontend part (`--dry-run`).
pub fn build(args: &BuildArgs) -> anyhow::Result<i32> {
    let dockerfile = resolve_dockerfile(&args.context, args.file.as_deref())?;
    let (name, source) = read_dockerfile(&dockerfile)?;
    let opts = build_options(args)?;
    let lowered =
        lower::lower(&source, &opts, &NoResolver).map_err(|e| frontend_error(&name, &source, e))?;
    for w in &lowered.warnings {
        eprintln!("WARNING: {} - {}: {}", w.rule, w.url, w.message);
        eprint!("{}", diagnostic::excerpt(&name, &source, w.range));
    }
    if args.dry_run {
        print!("{}", lowered.definition.render());
        return Ok(0);
    }
    bail!("building needs the solver, which is not part of kiln yet; use --dry-run to see the build graph")
}

fn build_options(args: &BuildArgs) -> anyhow::Result<BuildOptions> {
    let host = Platform::host();
    if let Some(p) = &args.platform {
        let wanted = Platform::parse(p).map_err(|e| anyhow::anyhow!("--platform: {e}"))?;
        if wanted != host {
            bail!("--platform {wanted}: only the host platform ({host}) is supported");
        }
    }
    Ok(BuildOptions {
        build_args: key_values(&args.build_args, true)?,
        labels: key_values(&args.labels, false)?,
        target: args.target.clone(),
        no_cache: args.no_cache,
        ..BuildOptions::new(host)
    })
}

/// `KEY=VALUE` list; a bare `KEY` takes the value from the environment
/// when `from_env` (and is dropped when unset, as docker does).
fn key_values(items: &[String], from_env: bool) -> anyhow::Result<BTreeMap<String, String>> {
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
    Ok(out)
}

/// `-f` relative to the current directory, else `CONTEXT/Dockerfile`
/// (falling back to `dockerfile`, as the docker CLI does).
fn resolve_dockerfile(context: &str, file: Option<&str>) -> anyhow::Result<String> {
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
fn read_dockerfile(file: &str) -> anyhow::Result<(String, String)> {
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
fn frontend_error(name: &str, source: &str, err: kiln_frontend::Error) -> anyhow::Error {
    match err.range {
        Some(range) => anyhow::anyhow!(
            "{}\n{}",
            err.message,
            diagnostic::excerpt(name, source, range).trim_end()
        ),
        None => anyhow::anyhow!("{}", err.message),
    }
}
