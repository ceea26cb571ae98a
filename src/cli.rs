//! Command-line definition (clap) and dispatch.

use clap::{Args, Parser, Subcommand};

use crate::{build, commands, registry};

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "Build container images from Dockerfiles, no daemon",
    // As docker's flags: a repeated single-value flag takes the last value.
    args_override_self = true,
    after_help = ENVIRONMENT
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// The store directory (overrides `KILN_ROOT` and kiln.toml's `root`).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<std::path::PathBuf>,
}

/// The environment variables kiln reads, for `kiln --help`.
const ENVIRONMENT: &str = "\
Environment:
  KILN_ROOT       the store (default /var/lib/kiln as root, else $XDG_DATA_HOME/kiln)
  KILN_CONFIG     the config file (default ~/.config/kiln/kiln.toml, then /etc/kiln/kiln.toml)
  DOCKER_HOST     the Docker engine `--load` talks to (default unix:///var/run/docker.sock)
  CI              when set, progress defaults to plain even on a terminal";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile.
    Build(Box<BuildArgs>),
    /// Inspect what the frontend makes of a Dockerfile.
    #[command(subcommand)]
    Debug(DebugCommand),
    #[command(flatten)]
    Images(crate::images::Command),
    /// Print the version.
    Version,
    /// Print a shell completion script (`kiln completion bash > /etc/bash_completion.d/kiln`).
    Completion { shell: clap_complete::Shell },
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
    /// Build context: a directory, `-` for a tar (or a bare Dockerfile) on
    /// stdin, or a git URL (`URL#REF:SUBDIR`).
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

    // What RUN steps are lent and allowed (src/build/session.rs).
    /// Secret to expose to the build: `id=ID[,src=FILE]`, `id=ID,env=VAR`
    /// (`RUN --mount=type=secret`); repeatable.
    #[arg(long = "secret", value_name = "SPEC")]
    pub secrets: Vec<String>,
    /// SSH agent socket or keys to expose to the build:
    /// `default|ID[=SOCKET|KEY[,KEY]]` (`RUN --mount=type=ssh`); repeatable.
    #[arg(long = "ssh", value_name = "SPEC")]
    pub ssh: Vec<String>,
    /// Allow an extra privileged entitlement: `network.host`,
    /// `security.insecure`; repeatable.
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
    /// Networking mode of RUN steps without `--network`: default, host or
    /// none.
    #[arg(long, default_value = "default")]
    pub network: String,
    // --- progress, errors and docker-compatible flags (cli) ---
    /// Progress output: auto (tty on a terminal unless `CI` is set, else
    /// plain), tty, plain, quiet or rawjson (one JSON event per line).
    #[arg(long, value_enum)]
    pub progress: Option<crate::progress::Mode>,
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
    /// Say why each step that ran missed the cache (what changed since the
    /// last build of this context, Dockerfile and target).
    #[arg(long)]
    pub explain: bool,
    /// Accepted for docker compatibility; kiln never leaves containers.
    #[arg(long, hide = true)]
    pub rm: bool,
    /// Accepted for docker compatibility; kiln never leaves containers.
    #[arg(long, hide = true)]
    pub force_rm: bool,
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

impl Command {
    /// Commands whose output is a listing or document on stdout, often
    /// piped into `head` or `jq`.
    pub fn prints_listing(&self) -> bool {
        matches!(
            self,
            Command::Images(_) | Command::Debug(_) | Command::Version | Command::Completion { .. }
        )
    }
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let config = crate::config::load()?;
    // The store path reaches the library through KILN_ROOT.
    let root = cli.root.clone().or_else(|| {
        std::env::var_os("KILN_ROOT")
            .filter(|r| !r.is_empty())
            .is_none()
            .then(|| config.root.clone())
            .flatten()
    });
    if let Some(root) = root {
        std::env::set_var("KILN_ROOT", root);
    }
    match cli.command {
        Command::Debug(DebugCommand::Ast { file }) => commands::debug_ast(&file),
        Command::Images(command) => crate::images::run(command),
        Command::Build(mut args) => {
            args.progress = args.progress.or(config.build.progress);
            args.outputs =
                crate::config::with_compression(&args.outputs, config.build.compression.as_deref());
            build::run(&args)
        }
        Command::Version => {
            println!(
                "kiln {} ({})",
                env!("CARGO_PKG_VERSION"),
                kiln_frontend::definition::Platform::host()
            );
            Ok(0)
        }
        Command::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "kiln", &mut std::io::stdout());
            Ok(0)
        }
        Command::Pull(args) => registry::commands::pull(&args),
        Command::Push(args) => registry::commands::push(&args),
        Command::Login(args) => registry::commands::login(&args),
        Command::Logout(args) => registry::commands::logout(&args),
    }
}
