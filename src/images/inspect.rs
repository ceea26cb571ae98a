//! `kiln inspect`: a JSON array shaped like `docker image inspect`.

use anyhow::Result;
use clap::Args;
use kiln_frontend::reference::Reference;
use kiln_solver::store::Store;
use serde_json::{json, Map, Value};

use super::{open_store, Catalog, Image};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Images to inspect (name, name:tag, or image id).
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(args: &InspectArgs) -> Result<i32> {
    let store = open_store()?;
    let catalog = Catalog::load(&store, true)?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.images {
        match catalog.find(name) {
            Ok(image) => found.push(inspect(&store, image)),
            Err(e) => errors.push(e),
        }
    }
    println!("{}", serde_json::to_string_pretty(&found)?);
    for e in &errors {
        eprintln!("error: {e:#}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

/// The `docker image inspect` object of one image.
pub fn inspect(store: &Store, image: &Image) -> Value {
    let raw: Map<String, Value> = serde_json::from_slice(&image.config_raw).unwrap_or_default();
    let refs = image.references();
    let mut repos: Vec<String> = refs
        .iter()
        .map(|r| {
            let mut bare = r.clone();
            bare.tag = None;
            format!("{}@{}", bare.familiar(), image.target)
        })
        .collect();
    repos.dedup();
    let comment = raw
        .get("comment")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| image.config.history.last().map(|h| h.comment.clone()))
        .unwrap_or_default();
    let last_tag = image.tags.iter().map(|(_, t)| *t).max();
    let mut out = json!({
        "Id": image.id(),
        "RepoTags": refs.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "RepoDigests": repos,
        "Parent": "",
        "Comment": comment,
        "Created": image.config.created.clone().unwrap_or_default(),
        "DockerVersion": raw.get("docker_version").cloned().unwrap_or(json!("")),
        "Author": image.config.author,
        "Config": raw.get("config").cloned().unwrap_or(Value::Null),
        "Architecture": image.config.architecture,
        "Os": image.config.os,
        "Size": image.size(store),
        "RootFS": {
            "Type": image.config.rootfs.kind,
            "Layers": image.config.rootfs.diff_ids,
        },
        "Metadata": {
            "LastTagTime": last_tag.map_or(String::new(), |t| crate::export::rfc3339(t as i64)),
        },
        "Descriptor": {
            "mediaType": media_type(store, image),
            "digest": image.target,
            "size": store.content().info(&image.target).ok().flatten().unwrap_or(0),
        },
    });
    if !image.config.variant.is_empty() {
        out["Variant"] = json!(image.config.variant);
    }
    out
}

fn media_type(store: &Store, image: &Image) -> String {
    if image.target != image.manifest_digest {
        let index = super::catalog::read_document(store, &image.target).ok();
        let kind = index
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        return kind.unwrap_or_else(|| kiln_solver::image::INDEX_MEDIA_TYPE.to_string());
    }
    match image.manifest.media_type.as_str() {
        "" => kiln_solver::image::MANIFEST_MEDIA_TYPE.to_string(),
        m => m.to_string(),
    }
}
