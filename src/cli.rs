//! Command-line definition (clap) and dispatch.

use clap::{Args, Parser, Subcommand};

use crate::{build, commands};

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "Build container images from Dockerfiles, no daemon",
    // As docker's flags: a repeated single-value flag takes the last value.
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile.
    Build(Box<BuildArgs>),
    /// Inspect what the frontend makes of a Dockerfile.
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Print the parsed Dockerfile in BuildKit's AST dump format.
    Ast {
        /// Path to the Dockerfile (`-` for stdin).
        file: String,
    },
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build context directory.
    pub context: String,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile; `-` for stdin).
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Name and optionally a tag (`name:tag`); repeatable.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Set a build-time variable (`KEY=VALUE`, or `KEY` to take it from the
    /// environment); repeatable.
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage.
    #[arg(long)]
    pub target: Option<String>,
    /// Target platform (only the host platform is supported for now).
    #[arg(long)]
    pub platform: Option<String>,
    /// Set metadata on the image (`KEY=VALUE`); repeatable.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Do not use the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Output destination: `type=docker|oci|local|tar|image,dest=...`;
    /// repeatable.
    #[arg(short = 'o', long = "output")]
    pub outputs: Vec<String>,
    /// Write the image ID to this file.
    #[arg(long)]
    pub iidfile: Option<std::path::PathBuf>,
    /// Write build result metadata (JSON) to this file.
    #[arg(long)]
    pub metadata_file: Option<std::path::PathBuf>,
    /// Suppress the build output and print the image ID on success.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print the lowered build graph (ops, digests, dependencies) and exit
    /// without building.
    #[arg(long)]
    pub dry_run: bool,
    /// Run the build checks only (no build): print the warnings and exit 1
    /// when there is any, like `docker build --check`.
    #[arg(long)]
    pub check: bool,
    /// Output format of `--check`: text, json or sarif.
    #[arg(long, value_enum, default_value_t, requires = "check")]
    pub format: crate::checks::Format,
    // --- progress, errors and docker-compatible flags (cli) ---
    /// Progress output: auto (tty on a terminal unless `CI` is set, else
    /// plain), tty, plain, quiet or rawjson (one JSON event per line).
    #[arg(long, value_enum, default_value_t)]
    pub progress: crate::progress::Mode,
    /// Do not use the cache for these stages (comma-separated or
    /// repeated).
    #[arg(long, value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// Additional build context, `name=DIR` or
    /// `name=docker-image://REF` (an image in the local store); repeatable.
    #[arg(long = "build-context")]
    pub build_contexts: Vec<String>,
    /// Load the image into the Docker engine at `DOCKER_HOST` (default
    /// `unix:///var/run/docker.sock`) once built.
    #[arg(long)]
    pub load: bool,
    /// Accepted for docker compatibility; kiln never leaves containers.
    #[arg(long, hide = true)]
    pub rm: bool,
    /// Accepted for docker compatibility; kiln never leaves containers.
    #[arg(long, hide = true)]
    pub force_rm: bool,
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Debug(DebugCommand::Ast { file }) => commands::debug_ast(&file),
        Command::Build(args) => build::run(&args),
    }
}
