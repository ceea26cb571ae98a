//! `kiln prune` (build cache and dangling images, like `docker builder
//! prune` plus `docker image prune`) and `kiln du` (cache usage, like
//! `docker buildx du`). The policy lives in `kiln_solver::store::gc`.

use anyhow::Result;
use clap::Args;
use kiln_solver::store::gc::{self, PruneOptions, Usage};
use kiln_solver::store::{ExclusiveLock, Store};
use serde_json::json;

use super::list::Format;
use super::units::{ago, human_size, now, parse_size};
use super::{open_store, print_table};

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, also the layers tagged images share.
    #[arg(short, long)]
    pub all: bool,
    /// Keep up to this much cache (e.g. `10GB`, `512MiB`); least recently
    /// used goes first.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub keep_storage: Option<u64>,
    /// Do not prompt for confirmation (kiln never prompts).
    #[arg(short, long)]
    pub force: bool,
    /// Check the store instead (same as `kiln doctor`).
    #[arg(long, conflicts_with_all = ["all", "keep_storage"])]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct DuArgs {
    /// Show every cache snapshot in detail.
    #[arg(short, long)]
    pub verbose: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Waits for the exclusive store lock, saying so when it has to wait.
pub fn exclusive(store: &Store) -> Result<ExclusiveLock<'_>> {
    if let Some(lock) = store.try_lock_exclusive()? {
        return Ok(lock);
    }
    eprintln!("waiting for other kiln processes to finish with the store...");
    Ok(store.lock_exclusive()?)
}

pub fn run_prune(args: &PruneArgs) -> Result<i32> {
    if args.check {
        return super::doctor::run(&super::doctor::DoctorArgs {
            repair: false,
            quick: false,
        });
    }
    let store = open_store()?;
    let lock = exclusive(&store)?;
    let opts = PruneOptions {
        all: args.all,
        keep_bytes: args.keep_storage,
    };
    let plan = gc::prune(&lock, opts)?;
    drop(lock);
    if !plan.snapshots.is_empty() {
        println!("Deleted build cache objects:");
        for (id, _) in &plan.snapshots {
            println!("{id}");
        }
    }
    if !plan.images.is_empty() {
        println!("Deleted Images:");
        for id in &plan.images {
            println!("deleted: {id}");
        }
    }
    if !plan.snapshots.is_empty() || !plan.images.is_empty() {
        println!();
    }
    println!("Total reclaimed space: {}", human_size(plan.reclaimed()));
    Ok(0)
}

pub fn run_du(args: &DuArgs) -> Result<i32> {
    let store = open_store()?;
    let usage = gc::usage(&store)?;
    match (args.format, args.verbose) {
        (Format::Json, _) => print_json(&usage),
        (Format::Table, true) => print_verbose(&usage),
        (Format::Table, false) => print_summary(&usage),
    }
    Ok(0)
}

fn totals(usage: &Usage) -> (u64, u64, u64) {
    let shared: u64 = usage
        .snapshots
        .iter()
        .filter(|s| s.shared)
        .map(|s| s.size)
        .sum();
    let cache: u64 = usage.snapshots.iter().map(|s| s.size).sum();
    let total = cache + usage.blob_bytes;
    (shared, total - shared, total)
}

fn print_summary(usage: &Usage) {
    let now = now();
    let mut snapshots: Vec<_> = usage.snapshots.iter().collect();
    snapshots.sort_by_key(|s| std::cmp::Reverse(s.size));
    let rows: Vec<Vec<String>> = snapshots
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.reclaimable.to_string(),
                human_size(s.size),
                ago(s.last_used as i64, now),
            ]
        })
        .collect();
    if !rows.is_empty() {
        print_table(&["ID", "RECLAIMABLE", "SIZE", "LAST ACCESSED"], &rows);
    }
    let (shared, private, total) = totals(usage);
    println!("Cache records:\t{}", usage.records);
    println!(
        "Blobs:\t\t{} ({}; {} in {} blobs of tagged images)",
        usage.blobs,
        human_size(usage.blob_bytes),
        human_size(usage.image_bytes),
        usage.image_blobs
    );
    println!("Shared:\t\t{}", human_size(shared));
    println!("Private:\t{}", human_size(private));
    println!("Reclaimable:\t{}", human_size(usage.reclaimable));
    println!("Total:\t\t{}", human_size(total));
}

fn print_verbose(usage: &Usage) {
    let now = now();
    for s in &usage.snapshots {
        println!("ID:\t\t{}", s.id);
        if let Some(parent) = s.parent {
            println!("Parent:\t\t{parent}");
        }
        println!("Created at:\t{}", crate::export::rfc3339(s.created as i64));
        println!("Reclaimable:\t{}", s.reclaimable);
        println!("Shared:\t\t{}", s.shared);
        println!("Size:\t\t{}", human_size(s.size));
        println!("Last used:\t{}", ago(s.last_used as i64, now));
        for key in &s.records {
            println!("Record:\t\t{key}");
        }
        println!();
    }
    print_summary(&Usage {
        snapshots: Vec::new(),
        ..usage.clone()
    });
}

fn print_json(usage: &Usage) {
    let (shared, private, total) = totals(usage);
    let snapshots: Vec<_> = usage
        .snapshots
        .iter()
        .map(|s| {
            json!({
                "ID": s.id.to_string(),
                "Parent": s.parent.map(|p| p.to_string()),
                "CreatedAt": crate::export::rfc3339(s.created as i64),
                "LastUsedAt": crate::export::rfc3339(s.last_used as i64),
                "Reclaimable": s.reclaimable,
                "Shared": s.shared,
                "Size": s.size,
                "Records": s.records,
            })
        })
        .collect();
    let out = json!({
        "Snapshots": snapshots,
        "Records": usage.records,
        "Blobs": usage.blobs,
        "BlobBytes": usage.blob_bytes,
        "ImageBlobs": usage.image_blobs,
        "ImageBytes": usage.image_bytes,
        "Shared": shared,
        "Private": private,
        "Reclaimable": usage.reclaimable,
        "ReclaimableAll": usage.reclaimable_all,
        "Total": total,
    });
    println!("{out}");
}
