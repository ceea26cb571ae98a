//! Stages + build args -> [`BuildDefinition`] (BuildKit's `dockerfile2llb`).
//!
//! 1. Parse and type the Dockerfile; evaluate the global ARGs (before the
//!    first FROM) with the build args and the automatic platform args.
//! 2. Build the stage graph (`graph.rs`): each stage's base (an image, a
//!    previous stage, or scratch) and the stages its `COPY --from` and
//!    `RUN --mount=from=` read; reject cycles; keep only what the target
//!    needs; pull in ONBUILD triggers of base images.
//! 3. Dispatch each needed stage in file order (`dispatch.rs`): expand
//!    words with the ARG/ENV in scope, update the image config and
//!    history, add ops for FROM, RUN, COPY/ADD and WORKDIR.
//!
//! The only outside knowledge needed is base image configs (Env, WorkDir,
//! User, ONBUILD...), asked through [`ImageResolver`].
//!
//! Build checks (see [`crate::lint`]) are raised along the way, where
//! BuildKit raises them, under the check configuration: the
//! `BUILDKIT_DOCKERFILE_CHECK` build arg if given, else the `# check=`
//! directive, plus a `# check=` comment above an instruction for that
//! instruction. With `error=true` a build that raised any fails once the
//! whole graph is built. [`check`] runs the checks alone, over every
//! stage when no target is given (BuildKit's lint request).

mod args;
mod copy;
mod dispatch;
mod env;
mod expose;
mod graph;
mod options;
mod paths;
mod run;
mod stage;

pub use options::{
    BuildOptions, DockerIgnore, ImageResolver, NamedContext, NoResolver, ResolvedImage,
};

use crate::definition::BuildDefinition;
use crate::instructions::{self, CheckConfig};
use crate::lint::{self, Warning};
use crate::shell::Lex;
use crate::{parser, Error, Result};

/// The lowered build: the graph the solver runs and the warnings found.
#[derive(Debug, Clone)]
pub struct Lowered {
    pub definition: BuildDefinition,
    pub warnings: Vec<Warning>,
    /// Build-check configuration in effect (`# check=` / override).
    pub checks: CheckConfig,
}

/// Everything one lowering found, whether or not it succeeded: a failed
/// build still reports the warnings raised before the error (BuildKit
/// streams them as it goes).
#[derive(Debug, Clone)]
pub struct Report {
    /// In the order they were raised.
    pub warnings: Vec<Warning>,
    /// Build-check configuration in effect (default when it could not be
    /// read).
    pub checks: CheckConfig,
    pub result: Result<BuildDefinition>,
}

/// The outcome of the checks alone (`kiln build --check`).
#[derive(Debug, Clone)]
pub struct Checked {
    /// Sorted by location, as BuildKit prints lint results.
    pub warnings: Vec<Warning>,
    /// The error that stopped the checks, including `error=true`'s
    /// `lint violation found for rules: ...`.
    pub error: Option<Error>,
    pub checks: CheckConfig,
}

/// Parses, types and lowers `dockerfile` for `opts`.
pub fn lower(
    dockerfile: &str,
    opts: &BuildOptions,
    resolver: &dyn ImageResolver,
) -> Result<Lowered> {
    let report = lower_reporting(dockerfile, opts, resolver);
    Ok(Lowered {
        definition: report.result?,
        warnings: report.warnings,
        checks: report.checks,
    })
}

/// [`lower`], keeping the warnings when it fails.
pub fn lower_reporting(
    dockerfile: &str,
    opts: &BuildOptions,
    resolver: &dyn ImageResolver,
) -> Report {
    let mut warnings = Vec::new();
    let mut checks = CheckConfig::default();
    let result = run(dockerfile, opts, resolver, &mut checks, &mut warnings);
    Report {
        warnings,
        checks,
        result,
    }
}

/// Runs the build checks only, as BuildKit's lint request: without a
/// target every stage is checked, not only those the last one needs.
pub fn check(dockerfile: &str, opts: &BuildOptions, resolver: &dyn ImageResolver) -> Checked {
    let report = if opts.target.is_none() && !opts.all_stages {
        let opts = BuildOptions {
            all_stages: true,
            ..opts.clone()
        };
        lower_reporting(dockerfile, &opts, resolver)
    } else {
        lower_reporting(dockerfile, opts, resolver)
    };
    let mut warnings = report.warnings;
    lint::sort_by_location(&mut warnings);
    Checked {
        warnings,
        error: report.result.err(),
        checks: report.checks,
    }
}

fn run(
    dockerfile: &str,
    opts: &BuildOptions,
    resolver: &dyn ImageResolver,
    checks: &mut CheckConfig,
    warnings: &mut Vec<Warning>,
) -> Result<BuildDefinition> {
    if dockerfile.is_empty() {
        return Err(Error::new("the Dockerfile cannot be empty"));
    }
    *checks = check_config(dockerfile, opts)?;
    let parsed = parser::parse(dockerfile)?;
    for w in &parsed.warnings {
        if checks.enabled(w.rule) {
            warnings.push(Warning::new(w.rule, "Empty continuation line", w.range));
        }
    }
    let typed = instructions::parse_dockerfile_with_checks(&parsed.nodes, checks, warnings)?;
    let lex = Lex::new(parsed.escape);
    let definition = graph::Lowering::new(opts, resolver, lex, checks, warnings).run(typed)?;
    // BuildKit fails only once the whole graph is built, so that every
    // warning is reported first.
    if checks.error && !warnings.is_empty() {
        return Err(Error::new(format!(
            "lint violation found for rules: {}",
            rule_names(warnings)
        )));
    }
    Ok(definition)
}

/// The `BUILDKIT_DOCKERFILE_CHECK` build arg (or the explicit option) if
/// given, else the `# check=` directive's first word; BuildKit's error
/// texts for a value it cannot read.
fn check_config(dockerfile: &str, opts: &BuildOptions) -> Result<CheckConfig> {
    let from_arg = opts
        .check
        .as_ref()
        .or_else(|| opts.build_args.get("BUILDKIT_DOCKERFILE_CHECK"));
    if let Some(text) = from_arg {
        return CheckConfig::parse(text).map_err(|e| {
            Error::new(format!(
                "failed to parse build-arg:BUILDKIT_DOCKERFILE_CHECK: {}",
                e.message
            ))
        });
    }
    let directive = parser::parse_directive("check", dockerfile);
    let text = directive
        .as_ref()
        .map_or("", |d| d.value.split(' ').next().unwrap_or(""));
    CheckConfig::parse(text)
        .map_err(|e| Error::new(format!("failed to parse check options: {}", e.message)))
}

fn rule_names(warnings: &[Warning]) -> String {
    let mut names: Vec<&str> = warnings.iter().map(|w| w.rule).collect();
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}
