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

pub use options::{BuildOptions, ImageResolver, NamedContext, NoResolver, ResolvedImage};

use crate::definition::BuildDefinition;
use crate::instructions::{self, CheckConfig};
use crate::lint::Warning;
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

/// Parses, types and lowers `dockerfile` for `opts`.
pub fn lower(
    dockerfile: &str,
    opts: &BuildOptions,
    resolver: &dyn ImageResolver,
) -> Result<Lowered> {
    if dockerfile.is_empty() {
        return Err(Error::new("the Dockerfile cannot be empty"));
    }
    let parsed = parser::parse(dockerfile)?;
    let checks = check_config(&parsed, opts)?;
    let mut warnings: Vec<Warning> = parsed
        .warnings
        .iter()
        .map(|w| Warning::new(w.rule, "Empty continuation line", w.range))
        .collect();
    let typed = instructions::parse_dockerfile_with_checks(&parsed.nodes, &checks, &mut warnings)?;
    let lex = Lex::new(parsed.escape);
    let definition = graph::Lowering::new(opts, resolver, lex, &mut warnings).run(typed)?;
    warnings.retain(|w| {
        checks.runs(
            w.rule,
            w.rule == "InvalidDefinitionDescription" || w.rule == "CopyIgnoredFile",
        )
    });
    if checks.error && !warnings.is_empty() {
        return Err(Error::new(format!(
            "lint violation found for rules: {}",
            rule_names(&warnings)
        )));
    }
    Ok(Lowered {
        definition,
        warnings,
        checks,
    })
}

/// `# check=` directive, overridden by the `BUILDKIT_DOCKERFILE_CHECK`
/// build arg (or the explicit option).
fn check_config(parsed: &parser::Parsed, opts: &BuildOptions) -> Result<CheckConfig> {
    let text = opts
        .check
        .clone()
        .or_else(|| opts.build_args.get("BUILDKIT_DOCKERFILE_CHECK").cloned())
        .or_else(|| parsed.directives.check.clone());
    match text {
        Some(text) => CheckConfig::parse(&text),
        None => Ok(CheckConfig::default()),
    }
}

fn rule_names(warnings: &[Warning]) -> String {
    let mut names: Vec<&str> = warnings.iter().map(|w| w.rule).collect();
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}
