//! Command-line arguments of the registry commands (`kiln pull`, `push`,
//! `login`, `logout`) and the registry options shared with `kiln build`.

use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct RegistryArgs {
    /// Reach this registry host (`host[:port]`) over plain HTTP, like
    /// docker's `insecure-registries`; repeatable. Loopback registries
    /// always use HTTP.
    #[arg(long = "insecure-registry", value_delimiter = ',')]
    pub insecure: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image to pull (`name[:tag|@digest]`).
    pub name: String,
    /// Platform to select from a multi-platform image (default: the host).
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only the manifest digest.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Image to push (`name[:tag]`, as tagged in the local store).
    pub name: String,
    /// Print only the manifest digest.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry host (default: Docker Hub).
    pub server: Option<String>,
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin).
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry host (default: Docker Hub).
    pub server: Option<String>,
}
