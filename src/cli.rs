//! Command-line definition (clap) and dispatch.

use clap::{Args, Parser, Subcommand};

use crate::{build, commands, registry};

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "Build container images from Dockerfiles, no daemon"
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
    /// Download an image from a registry into the local store.
    Pull(registry::args::PullArgs),
    /// Upload an image from the local store to a registry.
    Push(registry::args::PushArgs),
    /// Log in to a registry (credentials go to ~/.docker/config.json).
    Login(registry::args::LoginArgs),
    /// Log out from a registry.
    Logout(registry::args::LogoutArgs),
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
    /// Always check the registry for newer base images.
    #[arg(long)]
    pub pull: bool,
    /// Push the image to its registry (shorthand for `-o type=registry`).
    #[arg(long)]
    pub push: bool,
    /// Export the build cache: `type=registry,ref=R` or `type=local,dest=DIR`,
    /// with `mode=min|max`; repeatable.
    #[arg(long = "cache-to")]
    pub cache_to: Vec<String>,
    /// Import a build cache: `type=registry,ref=R` (or just `R`) or
    /// `type=local,src=DIR`; repeatable.
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    #[command(flatten)]
    pub registry: registry::args::RegistryArgs,
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Debug(DebugCommand::Ast { file }) => commands::debug_ast(&file),
        Command::Build(args) => build::run(&args),
        Command::Pull(args) => registry::commands::pull(&args),
        Command::Push(args) => registry::commands::push(&args),
        Command::Login(args) => registry::commands::login(&args),
        Command::Logout(args) => registry::commands::logout(&args),
    }
}
