//! Build checks on the command line: `kiln build --check` (the checks
//! alone, as `docker build --check`) and the warnings printed at the end
//! of a build (as `docker build` prints them).
//!
//! `kiln build --check [--format=text|json|sarif] CONTEXT` lowers the
//! Dockerfile without building anything (no RUN, no export, no root; the
//! local image store is read for base image configs only when one already
//! exists). Without `--target` every stage is checked, as BuildKit's lint
//! request does. It exits 1 when there is any warning or the checks stop
//! on an error, 0 when the Dockerfile is clean.
//!
//! # Text (default)
//!
//! What `docker build --check` prints on stdout: a count, then each
//! warning sorted by line with its rule, documentation URL, message and
//! the Dockerfile excerpt (BuildKit's `PrintLintViolations`):
//!
//! ```text
//! Check complete, 1 warning has been found!
//!
//! WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/
//! 'as' and 'FROM' keywords' casing do not match
//! Dockerfile:1
//! --------------------
//!    1 | >>> FROM alpine as build
//!    2 |     RUN make
//!    3 |
//! --------------------
//! ```
//!
//! A clean Dockerfile prints `Check complete, no warnings found.`; an
//! error (a Dockerfile that does not lower, `error=true` with warnings) is
//! reported on stderr after the warnings.
//!
//! # JSON (`--format=json`)
//!
//! One object on stdout:
//!
//! ```json
//! {
//!   "dockerfile": "Dockerfile",
//!   "warnings": [
//!     {
//!       "rule": "FromAsCasing",
//!       "description": "The 'as' keyword should match the case of the 'from' keyword",
//!       "url": "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
//!       "message": "'as' and 'FROM' keywords' casing do not match",
//!       "level": "warning",
//!       "location": {
//!         "file": "Dockerfile",
//!         "startLine": 1, "startColumn": 1,
//!         "endLine": 1, "endColumn": 24
//!       }
//!     }
//!   ],
//!   "error": null
//! }
//! ```
//!
//! - `dockerfile`, `location.file`: the Dockerfile's path relative to the
//!   context (`/`-separated; as given when it is outside the context).
//! - `warnings`: sorted by line; `url` is `null` for a rule without a page
//!   (InvalidBaseImagePlatform); `level` is `error` when the check
//!   configuration has `error=true`, else `warning`.
//! - `location`: 1-based lines and columns of the instruction the warning
//!   is about (all its lines); `endColumn` is one past its last character.
//! - `error`: `null`, or `{"message": ..., "location": ... or null}` for
//!   the error that stopped the checks.
//!
//! # SARIF (`--format=sarif`)
//!
//! A SARIF 2.1.0 log for code-scanning services (GitHub code scanning,
//! GitLab, Azure DevOps): one run whose `tool.driver.rules` is BuildKit's
//! rule set (id, short description, help URI) and whose `results` are the
//! warnings (rule id, level, message, the Dockerfile path relative to the
//! context and the region). An error is reported as a tool execution
//! notification of the run's invocation.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use kiln_frontend::definition::{Image, Platform};
use kiln_frontend::lint::{Warning, RULES};
use kiln_frontend::lower::{
    self, BuildOptions, Checked, DockerIgnore, ImageResolver, NoResolver, ResolvedImage,
};
use kiln_frontend::reference::Reference;
use kiln_frontend::{Error, SourceRange};
use serde::Serialize;

use crate::cli::BuildArgs;
use crate::commands;

/// How `--check` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// What `docker build --check` prints.
    #[default]
    Text,
    /// A machine-readable object (see the module documentation).
    Json,
    /// A SARIF 2.1.0 log for code-scanning services.
    Sarif,
}

/// `kiln build --check`: runs the checks, prints them in `format`, and
/// returns the exit code (1 when anything was found).
pub fn run(args: &BuildArgs, format: Format) -> Result<i32> {
    let dockerfile = commands::resolve_dockerfile(&args.context, args.file.as_deref())?;
    let (name, source) = commands::read_dockerfile(&dockerfile)?;
    let mut opts = options(args)?;
    let dockerfile_path = (dockerfile != "-").then(|| PathBuf::from(&dockerfile));
    opts.dockerignore = dockerignore(Path::new(&args.context), dockerfile_path.as_deref())
        .map_err(|e| anyhow!("{e}"))?;

    let store = existing_store();
    let images = store
        .as_ref()
        .map(|store| kiln_solver::image::LocalImages { store });
    let checked = match &images {
        Some(images) => lower::check(&source, &opts, &StoreConfigs { images }),
        None => lower::check(&source, &opts, &NoResolver),
    };

    let uri = dockerfile_uri(&args.context, &dockerfile);
    let status = i32::from(!checked.warnings.is_empty() || checked.error.is_some());
    let output = match format {
        Format::Text => render_text(&name, &source, &checked),
        Format::Json => serde_json::to_string_pretty(&render_json(&uri, &source, &checked))? + "\n",
        Format::Sarif => {
            serde_json::to_string_pretty(&render_sarif(&uri, &source, &checked))? + "\n"
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    if let Some(err) = &checked.error {
        let text = error_text(&name, &source, err);
        if format == Format::Text {
            return Err(anyhow!("{text}"));
        }
        // Also in the document; said on stderr for whoever reads the log.
        eprintln!("error: {text}");
    }
    Ok(status)
}

/// The frontend options of `--check`: build args, target, labels. Any
/// `--platform` is fine (nothing runs).
fn options(args: &BuildArgs) -> Result<BuildOptions> {
    let host = Platform::host();
    let target_platform = args
        .platform
        .as_deref()
        .map(|p| Platform::parse(p).map_err(|e| anyhow!("--platform: {e}")))
        .transpose()?;
    Ok(BuildOptions {
        build_args: commands::key_values(&args.build_args, true),
        labels: commands::key_values(&args.labels, false),
        target: args.target.clone(),
        target_platform,
        ..BuildOptions::new(host)
    })
}

/// The context's ignore file (`<Dockerfile>.dockerignore` next to the
/// Dockerfile, else `.dockerignore`) for the `CopyIgnoredFile` check.
pub fn dockerignore(
    context: &Path,
    dockerfile: Option<&Path>,
) -> Result<Option<DockerIgnore>, crate::context::ContextError> {
    let context = crate::context::Context::open(context, dockerfile, None)?;
    let matcher = context.matcher().clone();
    if matcher.is_empty() {
        return Ok(None);
    }
    let patterns = matcher
        .patterns()
        .iter()
        .map(|p| {
            if p.is_exclusion() {
                format!("!{}", p.as_str())
            } else {
                p.as_str().to_string()
            }
        })
        .collect();
    Ok(Some(DockerIgnore::new(patterns, move |path: &str| {
        matcher.matches_or_parent_matches(path)
    })))
}

/// The local image store, when one exists already (never created here).
fn existing_store() -> Option<kiln_solver::store::Store> {
    let root = kiln_solver::store::default_root().ok()?;
    if !root.join("meta.redb").exists() {
        return None;
    }
    kiln_solver::store::Store::open(&root).ok()
}

/// Base image configs from the local store; an image that is not there
/// is unknown (checked as if it had an empty config), not an error.
struct StoreConfigs<'a> {
    images: &'a kiln_solver::image::LocalImages<'a>,
}

impl ImageResolver for StoreConfigs<'_> {
    fn resolve(
        &self,
        reference: &Reference,
        _platform: &Platform,
    ) -> kiln_frontend::Result<Option<ResolvedImage>> {
        let name = reference.to_string();
        let Ok((manifest, config)) = self.images.config(&name) else {
            return Ok(None);
        };
        let Ok(config) = serde_json::from_slice::<Image>(&config) else {
            return Ok(None);
        };
        let repository = match &reference.tag {
            Some(tag) => format!("{}:{tag}", reference.repository()),
            None => reference.repository(),
        };
        Ok(Some(ResolvedImage {
            reference: format!("{repository}@{manifest}"),
            config,
        }))
    }
}

/// The Dockerfile's path relative to the context, `/`-separated (as
/// given when it is not inside the context; `Dockerfile` for stdin).
pub fn dockerfile_uri(context: &str, dockerfile: &str) -> String {
    if dockerfile == "-" {
        return "Dockerfile".into();
    }
    let relative = match (
        Path::new(context).canonicalize(),
        Path::new(dockerfile).canonicalize(),
    ) {
        (Ok(ctx), Ok(df)) => df.strip_prefix(&ctx).ok().map(Path::to_path_buf),
        _ => None,
    };
    let path = relative.unwrap_or_else(|| PathBuf::from(dockerfile));
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
        .replace("//", "/")
}

// --- text ----------------------------------------------------------------

/// BuildKit's `errdefs.Source.Print`: `file:line`, then the lines of
/// `range` marked `>>>` with some context (four lines around a single
/// line, two around several).
pub fn excerpt(file: &str, source: &str, range: SourceRange) -> String {
    let lines: Vec<&str> = source.split('\n').collect();
    let (mut start, mut end) = (range.start_line, range.end_line.max(range.start_line));
    if start < 1 || start > lines.len() {
        return String::new();
    }
    end = end.min(lines.len());
    let pad = if end == start { 4 } else { 2 };
    let first_marked = start;
    let mut p = 0;
    while p < pad {
        if start > 1 {
            start -= 1;
            p += 1;
        }
        if end != lines.len() {
            end += 1;
            p += 1;
        }
        p += 1;
    }
    let mut out = format!("{file}:{first_marked}\n--------------------\n");
    for n in start..=end {
        let marked = n >= range.start_line && n <= range.end_line.max(range.start_line);
        let prefix = if marked { ">>>" } else { "   " };
        out.push_str(&format!(" {n:>3} | {prefix} {}\n", lines[n - 1]));
    }
    out.push_str("--------------------\n");
    out
}

/// `docker build --check`'s report (stdout), without the error.
pub fn render_text(file: &str, source: &str, checked: &Checked) -> String {
    let mut out = String::new();
    let count = checked.warnings.len();
    match count {
        0 => {}
        1 => out.push_str("Check complete, 1 warning has been found!\n"),
        n => out.push_str(&format!("Check complete, {n} warnings have been found!\n")),
    }
    for w in &checked.warnings {
        out.push_str(&format!("\nWARNING: {}", w.rule));
        if !w.url.is_empty() {
            out.push_str(&format!(" - {}", w.url));
        }
        out.push_str(&format!("\n{}\n", w.message));
        out.push_str(&excerpt(file, source, w.range));
    }
    match &checked.error {
        Some(_) if count > 0 => out.push('\n'),
        Some(_) => {}
        None if count == 0 => out.push_str("Check complete, no warnings found.\n"),
        None => {}
    }
    out
}

/// An error that stopped the checks, with its excerpt when it has lines.
pub fn error_text(file: &str, source: &str, err: &Error) -> String {
    match err.range {
        Some(range) => {
            let excerpt = excerpt(file, source, range);
            format!("{}\n{}", err.message, excerpt.trim_end())
        }
        None => err.message.clone(),
    }
}

/// The warnings at the end of a build (stderr), as `docker build` prints
/// them with `--debug`: the count, then each warning's short form, rule
/// description, documentation URL and Dockerfile excerpt.
pub fn render_build_warnings(file: &str, source: &str, warnings: &[Warning]) -> String {
    if warnings.is_empty() {
        return String::new();
    }
    let mut out = match warnings.len() {
        1 => "\n 1 warning found:\n".to_string(),
        n => format!("\n {n} warnings found:\n"),
    };
    for w in warnings {
        out.push_str(&format!(" - {}\n", w.short()));
        let description = w.description();
        if !description.is_empty() {
            out.push_str(&format!("{description}\n"));
        }
        if !w.url.is_empty() {
            out.push_str(&format!("More info: {}\n", w.url));
        }
        out.push_str(&excerpt(file, source, w.range));
        out.push('\n');
    }
    out
}

/// Lowers for a build; when that fails, the warnings raised before the
/// error are printed first (docker prints them when its progress output
/// closes, failed build or not), unless `quiet`.
pub fn lower(
    file: &str,
    source: &str,
    opts: &BuildOptions,
    resolver: &dyn ImageResolver,
    quiet: bool,
) -> Result<lower::Lowered> {
    let report = lower::lower_reporting(source, opts, resolver);
    match report.result {
        Ok(definition) => Ok(lower::Lowered {
            definition,
            warnings: report.warnings,
            checks: report.checks,
        }),
        Err(e) => {
            if !quiet {
                print_build_warnings(file, source, &report.warnings);
            }
            Err(commands::frontend_error(file, source, e))
        }
    }
}

/// Prints [`render_build_warnings`] on stderr.
pub fn print_build_warnings(file: &str, source: &str, warnings: &[Warning]) {
    eprint!("{}", render_build_warnings(file, source, warnings));
}

// --- JSON ----------------------------------------------------------------

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub file: String,
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Location {
    /// The lines of `range` in `source`, from the start of its first line
    /// (or its column) to the end of its last.
    fn new(file: &str, source: &str, range: SourceRange) -> Location {
        let end_line = range.end_line.max(range.start_line);
        let line_len = source
            .split('\n')
            .nth(end_line.saturating_sub(1))
            .map_or(0, |l| l.trim_end_matches('\r').chars().count());
        Location {
            file: file.to_string(),
            start_line: range.start_line.max(1),
            start_column: range.column.unwrap_or(1),
            end_line: end_line.max(1),
            end_column: line_len + 1,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct JsonWarning {
    pub rule: &'static str,
    pub description: &'static str,
    pub url: Option<String>,
    pub message: String,
    pub level: &'static str,
    pub location: Location,
}

#[derive(Debug, Serialize)]
pub struct JsonError {
    pub message: String,
    pub location: Option<Location>,
}

#[derive(Debug, Serialize)]
pub struct JsonReport {
    pub dockerfile: String,
    pub warnings: Vec<JsonWarning>,
    pub error: Option<JsonError>,
}

fn level(checked: &Checked) -> &'static str {
    if checked.checks.error {
        "error"
    } else {
        "warning"
    }
}

/// The `--format=json` document.
pub fn render_json(uri: &str, source: &str, checked: &Checked) -> JsonReport {
    JsonReport {
        dockerfile: uri.to_string(),
        warnings: checked
            .warnings
            .iter()
            .map(|w| JsonWarning {
                rule: w.rule,
                description: w.description(),
                url: (!w.url.is_empty()).then(|| w.url.clone()),
                message: w.message.clone(),
                level: level(checked),
                location: Location::new(uri, source, w.range),
            })
            .collect(),
        error: checked.error.as_ref().map(|e| JsonError {
            message: e.message.clone(),
            location: e.range.map(|r| Location::new(uri, source, r)),
        }),
    }
}

// --- SARIF ---------------------------------------------------------------

/// The schema SARIF 2.1.0 logs name.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The `--format=sarif` document.
pub fn render_sarif(uri: &str, source: &str, checked: &Checked) -> serde_json::Value {
    use serde_json::json;
    let level = level(checked);
    let rules: Vec<serde_json::Value> = RULES
        .iter()
        .map(|r| {
            let mut rule = json!({
                "id": r.name,
                "name": r.name,
                "shortDescription": { "text": r.description },
                "defaultConfiguration": { "level": level },
                "properties": { "experimental": r.experimental },
            });
            if let Some(url) = r.url {
                rule["helpUri"] = json!(url);
                rule["help"] = json!({ "text": format!("{}: {url}", r.description) });
            }
            rule
        })
        .collect();
    let artifact = json!({ "uri": percent_encode(uri) });
    let region = |range: SourceRange| {
        let loc = Location::new(uri, source, range);
        json!({
            "startLine": loc.start_line,
            "startColumn": loc.start_column,
            "endLine": loc.end_line,
            "endColumn": loc.end_column,
        })
    };
    let results: Vec<serde_json::Value> = checked
        .warnings
        .iter()
        .map(|w| {
            let mut result = json!({
                "ruleId": w.rule,
                "level": level,
                "message": { "text": w.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact,
                        "region": region(w.range),
                    }
                }],
            });
            if let Some(index) = RULES.iter().position(|r| r.name == w.rule) {
                result["ruleIndex"] = json!(index);
            }
            result
        })
        .collect();
    let mut invocation = json!({ "executionSuccessful": checked.error.is_none() });
    if let Some(err) = &checked.error {
        let mut notification = json!({
            "level": "error",
            "message": { "text": err.message },
        });
        if let Some(range) = err.range {
            notification["locations"] = json!([{
                "physicalLocation": {
                    "artifactLocation": artifact,
                    "region": region(range),
                }
            }]);
        }
        invocation["toolExecutionNotifications"] = json!([notification]);
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "kiln",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://docs.docker.com/reference/build-checks/",
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "artifacts": [{ "location": artifact }],
            "invocations": [invocation],
            "results": results,
        }]
    })
}

/// A relative path as a URI reference: everything but unreserved
/// characters and `/` percent-encoded.
fn percent_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(df: &str) -> Checked {
        lower::check(df, &BuildOptions::new(Platform::host()), &NoResolver)
    }

    #[test]
    fn excerpt_is_buildkits() {
        let src = "FROM alpine as build\nRUN make\n";
        assert_eq!(
            excerpt("Dockerfile", src, SourceRange::line(1)),
            "Dockerfile:1\n--------------------\n   1 | >>> FROM alpine as build\n   2 |     RUN make\n   3 |     \n--------------------\n"
        );
        let src = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        assert_eq!(
            excerpt("D", src, SourceRange::line(5)),
            "D:5\n--------------------\n   3 |     c\n   4 |     d\n   5 | >>> e\n   6 |     f\n   7 |     g\n--------------------\n"
        );
        assert_eq!(
            excerpt("D", src, SourceRange::lines(4, 5)),
            "D:4\n--------------------\n   3 |     c\n   4 | >>> d\n   5 | >>> e\n   6 |     f\n--------------------\n"
        );
        assert_eq!(excerpt("D", src, SourceRange::line(0)), "");
        assert_eq!(excerpt("D", "", SourceRange::line(7)), "");
    }

    #[test]
    fn text_report() {
        let c = checked("FROM alpine as build\nRUN make\n");
        assert_eq!(
            render_text("Dockerfile", "FROM alpine as build\nRUN make\n", &c),
            "Check complete, 1 warning has been found!\n\nWARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n'as' and 'FROM' keywords' casing do not match\nDockerfile:1\n--------------------\n   1 | >>> FROM alpine as build\n   2 |     RUN make\n   3 |     \n--------------------\n"
        );
        let c = checked("FROM alpine\n");
        assert_eq!(
            render_text("Dockerfile", "FROM alpine\n", &c),
            "Check complete, no warnings found.\n"
        );
    }

    #[test]
    fn build_report() {
        let src = "FROM alpine as build\nCMD make\n";
        let c = checked(src);
        let text = render_build_warnings("Dockerfile", src, &c.warnings);
        assert!(text.starts_with("\n 2 warnings found:\n - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)\nThe 'as' keyword should match the case of the 'from' keyword\nMore info: https://docs.docker.com/go/dockerfile/rule/from-as-casing/\nDockerfile:1\n"), "{text}");
        assert!(text.contains(" - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 2)\n"), "{text}");
        assert_eq!(render_build_warnings("Dockerfile", src, &[]), "");
    }

    #[test]
    fn locations_span_the_instruction() {
        let src = "FROM alpine\nRUN a \\\n  bc\n";
        let loc = Location::new("Dockerfile", src, SourceRange::lines(2, 3));
        assert_eq!(
            (
                loc.start_line,
                loc.start_column,
                loc.end_line,
                loc.end_column
            ),
            (2, 1, 3, 5)
        );
    }

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(dockerfile_uri(".", "-"), "Dockerfile");
        assert_eq!(percent_encode("dir/my file#1"), "dir/my%20file%231");
    }
}
