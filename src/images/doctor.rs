//! `kiln doctor` (also `kiln prune --check`): verifies every blob and
//! every reference of the store, exits 1 when something is wrong, and with
//! `--repair` drops what is broken so the next build works. The checks
//! live in `kiln_solver::store::check`.

use anyhow::{Context as _, Result};
use clap::Args;
use kiln_solver::store::check::{self, Report};
use kiln_solver::store::{Store, StoreError};

use super::prune::exclusive;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Drop what is broken: damaged blobs, and tags, cache records and
    /// snapshots that name something missing; a database that cannot be
    /// opened is set aside for a fresh one.
    #[arg(long)]
    pub repair: bool,
    /// Check that blobs exist without re-hashing their contents.
    #[arg(long)]
    pub quick: bool,
}

pub fn run(args: &DoctorArgs) -> Result<i32> {
    let root = kiln_solver::store::default_root()?;
    let store = match Store::open(&root) {
        Ok(store) => store,
        Err(e) if args.repair && database_broken(&e) => {
            println!("problem: {e}");
            let aside = check::set_aside_database(&root)?;
            println!(
                "repaired: moved the database to {} and started an empty one (tags and cache are gone; blobs stay until prune)",
                aside.display()
            );
            Store::open(&root)
                .with_context(|| format!("opening the store at {}", root.display()))?
        }
        Err(e) if database_broken(&e) => {
            println!("problem: {e}");
            println!("1 problem found; `kiln doctor --repair` sets the database aside and starts an empty one");
            return Ok(1);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("opening the store at {}", root.display()))
        }
    };
    let lock = exclusive(&store)?;
    let report = check::check(&lock, !args.quick)?;
    print_cleanup(&report);
    for p in &report.problems {
        println!("problem: {p}");
    }
    if report.problems.is_empty() {
        println!(
            "store OK: {} blobs, {} tags, {} cache records, {} snapshots",
            report.blobs, report.tags, report.records, report.snapshots
        );
        return Ok(0);
    }
    if !args.repair {
        println!(
            "{} problem(s) found; `kiln doctor --repair` drops what is broken",
            report.problems.len()
        );
        return Ok(1);
    }
    check::repair(&lock, &report.problems)?;
    for p in &report.problems {
        println!("repaired: removed {}", p.subject);
    }
    let after = check::check(&lock, !args.quick)?;
    for p in &after.problems {
        println!("problem (after repair): {p}");
    }
    Ok(if after.problems.is_empty() { 0 } else { 1 })
}

fn database_broken(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::CorruptDatabase { .. }
            | StoreError::CorruptRecord { .. }
            | StoreError::Database { .. }
    )
}

fn print_cleanup(report: &Report) {
    let c = report.cleanup;
    if c.ingest_files + c.incomplete_snapshots + c.orphan_snapshot_dirs > 0 {
        println!(
            "cleaned crash leftovers: {} temp files, {} incomplete snapshots, {} orphan snapshot directories",
            c.ingest_files, c.incomplete_snapshots, c.orphan_snapshot_dirs
        );
    }
}
