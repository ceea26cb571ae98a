//! Command-line definition (clap) and dispatch.

use clap::{Parser, Subcommand};

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

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Debug(DebugCommand::Ast { file }) => {
            anyhow::bail!("debug ast {file}: the parser is not wired in yet")
        }
    }
}
