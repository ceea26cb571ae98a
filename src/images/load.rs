//! `kiln load`: images from a docker-archive (`docker save`, `podman
//! save`, kiln's own; legacy `<id>/layer.tar` layout or the OCI layout
//! docker 25+ writes) or an OCI image layout tar (`skopeo copy
//! oci-archive:`), plain or compressed, from a file or STDIN.
//!
//! Every blob is verified against its digest (blob paths name it; a
//! legacy uncompressed layer must match its diff id), written to the store
//! before any tag names it, and the tags the archive carries are set last,
//! in one transaction.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Args;
use kiln_frontend::definition::Platform;
use kiln_frontend::reference::Reference;
use kiln_solver::image::{Descriptor, Manifest, CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use kiln_solver::store::{Digest, Store};
use serde::Deserialize;

use super::archive_in::{layer_media_type, Archive, Content};
use super::open_store;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from a tar archive file instead of STDIN.
    #[arg(short, long)]
    pub input: Option<String>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

/// An image found in the archive, ready to tag.
struct Loaded {
    manifest: Digest,
    config: Digest,
    names: Vec<Reference>,
}

pub fn run(args: &LoadArgs) -> Result<i32> {
    let store = open_store()?;
    let archive = match args.input.as_deref() {
        Some(path) if path != "-" => {
            let file = File::open(path).with_context(|| format!("opening {path}"))?;
            Archive::read(&store, file)?
        }
        _ => {
            if io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty (use -i FILE or a pipe)");
            }
            Archive::read(&store, io::stdin())?
        }
    };
    let images = if archive.get("manifest.json").is_some() {
        docker_images(&store, &archive)?
    } else if archive.get("index.json").is_some() {
        oci_images(&store, &archive)?
    } else {
        bail!("not an image archive: no manifest.json (docker-archive) or index.json (OCI layout)");
    };
    store.transaction(|tx| {
        for image in &images {
            for name in &image.names {
                tx.tag_set(&name.to_string(), &image.manifest)?;
            }
        }
        Ok::<_, kiln_solver::store::StoreError>(())
    })?;
    if !args.quiet {
        for image in &images {
            if image.names.is_empty() {
                println!("Loaded image ID: {}", image.config);
            }
            for name in &image.names {
                println!("Loaded image: {}", name.familiar());
            }
        }
    }
    Ok(0)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct RootFsOnly {
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// The images of a docker-archive's `manifest.json`. A manifest the
/// archive carries in its OCI layout for the same config and layers is
/// kept (so `save` then `load` keeps the manifest digest); otherwise one is
/// written.
fn docker_images(store: &Store, archive: &Archive) -> Result<Vec<Loaded>> {
    let bytes = archive.bytes(store, archive.need("manifest.json")?)?;
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(&bytes).context("manifest.json is not a docker-archive manifest")?;
    let carried = carried_manifests(store, archive);
    let mut out = Vec::new();
    for entry in entries {
        let config = archive.need(&entry.config)?;
        let config_bytes = archive.bytes(store, config)?;
        let rootfs: RootFsOnly = serde_json::from_slice(&config_bytes)
            .with_context(|| format!("{}: not an image config", entry.config))?;
        let diff_ids = rootfs.rootfs.map(|r| r.diff_ids).unwrap_or_default();
        if diff_ids.len() != entry.layers.len() {
            bail!(
                "{}: the config lists {} layers, manifest.json {}",
                entry.config,
                diff_ids.len(),
                entry.layers.len()
            );
        }
        let mut layers = Vec::new();
        for (path, diff_id) in entry.layers.iter().zip(&diff_ids) {
            let content = archive.need(path)?;
            let media_type = layer_media_type(&content.head(store));
            let (digest, size) = content.store(store)?;
            if media_type.ends_with(".tar") && digest.as_str() != diff_id {
                bail!("layer {path}: content is {digest}, the config says {diff_id}");
            }
            layers.push(Descriptor {
                media_type: media_type.to_string(),
                digest: digest.to_string(),
                size,
                annotations: None,
            });
        }
        let (config_digest, config_size) = config.store(store)?;
        let layer_digests: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
        let manifest = match carried.get(&(config_digest.clone(), layer_digests.join(","))) {
            Some(content) => content.store(store)?.0,
            None => write_manifest(store, &config_digest, config_size, layers)?,
        };
        let names = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| Reference::parse(t).map_err(|e| anyhow!("RepoTags {t:?}: {}", e.message)))
            .collect::<Result<Vec<_>>>()?;
        out.push(Loaded {
            manifest,
            config: config_digest,
            names,
        });
    }
    Ok(out)
}

/// Manifests in the archive's OCI layout, by (config, layers).
fn carried_manifests<'a>(
    store: &Store,
    archive: &'a Archive,
) -> BTreeMap<(Digest, String), &'a Content> {
    let mut out = BTreeMap::new();
    let Some(index) = archive.get("index.json") else {
        return out;
    };
    let Ok(index) = archive
        .bytes(store, index)
        .and_then(|b| Ok(serde_json::from_slice::<Index>(&b)?))
    else {
        return out;
    };
    for d in index.manifests {
        let Ok(content) = archive.blob(&d.digest) else {
            continue;
        };
        let Ok(manifest) = archive
            .bytes(store, content)
            .and_then(|b| Ok(serde_json::from_slice::<Manifest>(&b)?))
        else {
            continue;
        };
        let Ok(config) = manifest.config.digest.parse::<Digest>() else {
            continue;
        };
        let layers: Vec<&str> = manifest.layers.iter().map(|l| l.digest.as_str()).collect();
        out.insert((config, layers.join(",")), content);
    }
    out
}

fn write_manifest(
    store: &Store,
    config: &Digest,
    config_size: u64,
    layers: Vec<Descriptor>,
) -> Result<Digest> {
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.into(),
            digest: config.to_string(),
            size: config_size,
            annotations: None,
        },
        layers,
    };
    let bytes = serde_json::to_vec(&manifest)?;
    Ok(Content::Small(bytes).store(store)?.0)
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<PlatformDoc>,
}

#[derive(Deserialize)]
struct PlatformDoc {
    architecture: String,
    os: String,
}

/// The images of an OCI layout's `index.json`; nested indexes resolve to
/// the host platform's manifest.
fn oci_images(store: &Store, archive: &Archive) -> Result<Vec<Loaded>> {
    let bytes = archive.bytes(store, archive.need("index.json")?)?;
    let index: Index = serde_json::from_slice(&bytes).context("index.json is not an OCI index")?;
    let mut out: Vec<Loaded> = Vec::new();
    for entry in &index.manifests {
        let manifest = resolve_manifest(store, archive, entry, 0)?;
        let (manifest_digest, config) = store_image(store, archive, manifest)?;
        let name = oci_name(&entry.annotations)?;
        match out.iter_mut().find(|l| l.manifest == manifest_digest) {
            Some(loaded) => loaded.names.extend(name),
            None => out.push(Loaded {
                manifest: manifest_digest,
                config,
                names: name.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// The image manifest an index entry leads to.
fn resolve_manifest<'a>(
    store: &Store,
    archive: &'a Archive,
    entry: &IndexEntry,
    depth: usize,
) -> Result<&'a Content> {
    let content = archive.blob(&entry.digest)?;
    let is_index = entry.media_type.contains("index") || entry.media_type.contains("manifest.list");
    if !is_index {
        return Ok(content);
    }
    if depth > 4 {
        bail!("index {}: nested too deep", entry.digest);
    }
    let index: Index = serde_json::from_slice(&archive.bytes(store, content)?)
        .with_context(|| format!("index {} is not an OCI index", entry.digest))?;
    let host = Platform::host();
    let present: Vec<&IndexEntry> = index
        .manifests
        .iter()
        .filter(|m| archive.blob(&m.digest).is_ok())
        .collect();
    let chosen = present
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == host.os && p.architecture == host.architecture)
        })
        .or(present.first())
        .ok_or_else(|| {
            anyhow!(
                "index {}: none of its manifests is in the archive",
                entry.digest
            )
        })?;
    resolve_manifest(store, archive, chosen, depth + 1)
}

/// Stores a manifest's blobs (config and layers first); returns the
/// manifest and config digests.
fn store_image(store: &Store, archive: &Archive, manifest: &Content) -> Result<(Digest, Digest)> {
    let bytes = archive.bytes(store, manifest)?;
    let parsed: Manifest = serde_json::from_slice(&bytes).context("not an image manifest")?;
    for layer in &parsed.layers {
        archive.blob(&layer.digest)?.store(store)?;
    }
    let (config, _) = archive.blob(&parsed.config.digest)?.store(store)?;
    let (digest, _) = manifest.store(store)?;
    Ok((digest, config))
}

/// The name an OCI index entry gives its image: containerd's full name,
/// else `ref.name` when it is a full reference (a bare tag names nothing).
fn oci_name(annotations: &BTreeMap<String, String>) -> Result<Option<Reference>> {
    if let Some(name) = annotations.get("io.containerd.image.name") {
        return Reference::parse(name)
            .map(Some)
            .map_err(|e| anyhow!("image name {name:?}: {}", e.message));
    }
    match annotations.get("org.opencontainers.image.ref.name") {
        Some(name) if name.contains('/') || name.contains(':') => Ok(Reference::parse(name).ok()),
        _ => Ok(None),
    }
}
