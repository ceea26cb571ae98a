//! `kiln tag` and `kiln rmi`.
//!
//! `rmi` works like `docker rmi`: by tag it untags, by id it removes every
//! tag (refusing, unless `-f`, when the image is in several repositories),
//! and once an image has no tag left its manifest, config and layers go —
//! those no other tag or cache record needs.

use anyhow::{anyhow, bail, Result};
use clap::Args;
use kiln_frontend::reference::Reference;
use kiln_solver::store::gc;
use kiln_solver::store::{Digest, Store};

use super::{open_store, short_id, Catalog, Image};

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image to tag (name, name:tag, or image id).
    pub source: String,
    /// The new name[:tag].
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Images to remove (name, name:tag, or image id).
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Remove the image even if it is tagged in several repositories.
    #[arg(short, long)]
    pub force: bool,
}

pub fn run_tag(args: &TagArgs) -> Result<i32> {
    let target = Reference::parse(&args.target).map_err(|e| {
        anyhow!(
            "Error parsing reference: {:?} is not a valid repository/tag: {}",
            args.target,
            e.message
        )
    })?;
    if target.digest.is_some() {
        bail!(
            "refusing to create a tag with a digest reference: {}",
            args.target
        );
    }
    let store = open_store()?;
    let catalog = Catalog::load(&store, true)?;
    let image = catalog.find(&args.source)?;
    store.meta().tag_set(&target.to_string(), &image.target)?;
    Ok(0)
}

pub fn run_rmi(args: &RmiArgs) -> Result<i32> {
    let store = open_store()?;
    let mut failed = false;
    for name in &args.images {
        if let Err(e) = remove(&store, name, args.force) {
            eprintln!("error: {e:#}");
            failed = true;
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn remove(store: &Store, name: &str, force: bool) -> Result<()> {
    let catalog = Catalog::load(store, true)?;
    let image = catalog.find(name)?.clone();
    let by_tag = Reference::parse(name)
        .ok()
        .map(|r| r.to_string())
        .filter(|full| image.tags.iter().any(|(t, _)| t == full));
    let untag: Vec<String> = match by_tag {
        Some(tag) => vec![tag],
        None => {
            let repos: std::collections::BTreeSet<String> =
                image.references().iter().map(|r| r.repository()).collect();
            if repos.len() > 1 && !force {
                bail!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    short_id(image.id().as_str(), false)
                );
            }
            image.tags.iter().map(|(t, _)| t.clone()).collect()
        }
    };
    store.transaction(|tx| untag.iter().try_for_each(|t| tx.tag_remove(t).map(drop)))?;
    for tag in &untag {
        let shown = Reference::parse(tag).map_or(tag.clone(), |r| r.familiar());
        println!("Untagged: {shown}");
    }
    if untag.len() < image.tags.len() {
        return Ok(());
    }
    delete_image(store, &catalog, &image)
}

/// Deletes the blobs of an image that lost its last tag (and of other
/// untagged manifests of the same id), unless still needed.
fn delete_image(store: &Store, catalog: &Catalog, image: &Image) -> Result<()> {
    let mut candidates: Vec<Digest> = vec![image.target.clone(), image.manifest_digest.clone()];
    for other in catalog
        .images
        .iter()
        .filter(|i| i.id() == image.id() && i.tags.is_empty())
    {
        candidates.push(other.target.clone());
    }
    candidates.push(image.config_digest.clone());
    for layer in &image.manifest.layers {
        if let Ok(d) = layer.digest.parse() {
            candidates.push(d);
        }
    }
    let lock = super::prune::exclusive(store)?;
    let deleted = gc::remove_unreferenced(&lock, &candidates)?;
    drop(lock);
    if deleted.iter().any(|(d, _)| *d == image.target) {
        println!("Deleted: {}", image.id());
    }
    Ok(())
}
