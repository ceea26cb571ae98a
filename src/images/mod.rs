//! Image commands on the local store, shaped like the docker CLI's:
//! `images`, `tag`, `rmi`, `inspect`, `history`, `save`, `load`,
//! `import`, and the store's upkeep: `prune`, `du`, `doctor`.
//!
//! An image here is what a tag names: a manifest (or an index, resolved to
//! the host platform's manifest) whose config digest is the image id, as
//! `docker images` shows it. Manifests no tag reaches are *dangling*
//! images (`<none>`), found by scanning the content store.

mod archive_in;
mod catalog;
mod doctor;
mod history;
mod import;
mod inspect;
mod list;
mod load;
mod prune;
mod save;
mod tag;
pub mod units;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use kiln_solver::store::Store;

pub use catalog::{Catalog, Image};

/// The image subcommands (flattened into `kiln`'s own).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List images in the local store.
    Images(list::ImagesArgs),
    /// Create a tag TARGET that refers to SOURCE.
    Tag(tag::TagArgs),
    /// Remove one or more images (untag; the image goes with its last tag).
    Rmi(tag::RmiArgs),
    /// Display detailed information on one or more images (JSON).
    Inspect(inspect::InspectArgs),
    /// Show the history of an image.
    History(history::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(save::SaveArgs),
    /// Load images from a tar archive (docker-archive or OCI layout) or STDIN.
    Load(load::LoadArgs),
    /// Import the contents of a tarball as a one-layer filesystem image.
    Import(import::ImportArgs),
    /// Remove build cache and dangling images.
    Prune(prune::PruneArgs),
    /// Show the disk usage of the build cache.
    Du(prune::DuArgs),
    /// Check the store: blob digests and every reference; --repair drops what is broken.
    Doctor(doctor::DoctorArgs),
}

/// Runs an image command; returns the exit code.
pub fn run(command: Command) -> Result<i32> {
    match command {
        Command::Images(args) => list::run(&args),
        Command::Tag(args) => tag::run_tag(&args),
        Command::Rmi(args) => tag::run_rmi(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::History(args) => history::run(&args),
        Command::Save(args) => save::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Prune(args) => prune::run_prune(&args),
        Command::Du(args) => prune::run_du(&args),
        Command::Doctor(args) => doctor::run(&args),
    }
}

/// Opens the store at the default root.
pub fn open_store() -> Result<Store> {
    let root = kiln_solver::store::default_root()?;
    Store::open(&root).with_context(|| format!("opening the store at {}", root.display()))
}

/// `sha256:<hex>` shortened to 12 hex digits unless `no_trunc`.
pub fn short_id(digest: &str, no_trunc: bool) -> String {
    if no_trunc {
        return digest.to_string();
    }
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.chars().take(12).collect()
}

/// Prints rows as a table: columns padded to the widest cell plus three
/// spaces, as docker's tabwriter does.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 3;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
