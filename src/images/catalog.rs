//! The images of a store: tags resolved to manifests and configs, plus the
//! dangling manifests found in the content store; and finding one image by
//! the names the docker CLI accepts (`app`, `app:1`, an id or id prefix,
//! `name@sha256:...`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use anyhow::{anyhow, bail, Context as _, Result};
use kiln_frontend::definition::{Image as Config, Platform};
use kiln_frontend::reference::Reference;
use kiln_solver::image::Manifest;
use kiln_solver::store::{Digest, Store};
use serde::Deserialize;

/// Manifests, indexes and configs are small; a bigger blob is not one.
const MAX_DOCUMENT: u64 = 16 << 20;

/// One image: a manifest and its config, and the tags naming it.
#[derive(Debug, Clone)]
pub struct Image {
    /// What the tags point at (a manifest, or an index).
    pub target: Digest,
    /// The platform manifest (`target` itself unless it is an index).
    pub manifest_digest: Digest,
    pub manifest: Manifest,
    /// The image id.
    pub config_digest: Digest,
    pub config_raw: Vec<u8>,
    pub config: Config,
    /// Tags (full names as stored) and when they were set.
    pub tags: Vec<(String, u64)>,
}

impl Image {
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    /// Seconds since the epoch from the config's `created`.
    pub fn created(&self) -> Option<i64> {
        self.config
            .created
            .as_deref()
            .and_then(super::units::parse_rfc3339)
    }

    /// Sizes of the layers: uncompressed when the store has the
    /// uncompressed blob (its digest is the diff id), else as stored.
    pub fn layer_sizes(&self, store: &Store) -> Vec<u64> {
        self.manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                self.config
                    .rootfs
                    .diff_ids
                    .get(i)
                    .and_then(|d| d.parse::<Digest>().ok())
                    .and_then(|d| store.content().info(&d).ok().flatten())
                    .unwrap_or(layer.size)
            })
            .collect()
    }

    /// The image size, as `docker images` shows it: its layers' sizes.
    pub fn size(&self, store: &Store) -> u64 {
        self.layer_sizes(store).iter().sum()
    }

    /// Tags as references (unparsable stored names are skipped).
    pub fn references(&self) -> Vec<Reference> {
        self.tags
            .iter()
            .filter_map(|(t, _)| Reference::parse(t).ok())
            .collect()
    }
}

/// Every image in the store.
pub struct Catalog {
    pub images: Vec<Image>,
    /// Tags whose image cannot be read, with why.
    pub broken: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct IndexDoc {
    manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    platform: Option<PlatformDoc>,
}

#[derive(Deserialize)]
struct PlatformDoc {
    architecture: String,
    os: String,
}

impl Catalog {
    /// Tagged images, and with `dangling` also untagged manifests.
    pub fn load(store: &Store, dangling: bool) -> Result<Catalog> {
        let mut by_target: BTreeMap<Digest, Vec<(String, u64)>> = BTreeMap::new();
        for (name, tag) in store.meta().tags_list()? {
            by_target
                .entry(tag.digest)
                .or_default()
                .push((name, tag.created));
        }
        let mut images = Vec::new();
        let mut broken = Vec::new();
        for (target, tags) in by_target {
            match read_image(store, &target) {
                Ok(mut image) => {
                    image.tags = tags;
                    images.push(image);
                }
                Err(e) => broken.extend(tags.into_iter().map(|(t, _)| (t, format!("{e:#}")))),
            }
        }
        if dangling {
            let found = dangling_images(store, &images)?;
            images.extend(found);
        }
        Ok(Catalog { images, broken })
    }

    /// The image `name` refers to: a tag (`app` is `app:latest`),
    /// `name@digest` (a manifest digest), or an image id or id prefix.
    pub fn find(&self, name: &str) -> Result<&Image> {
        if let Some((_, digest)) = name.rsplit_once('@') {
            return self
                .images
                .iter()
                .find(|i| i.target.as_str() == digest || i.manifest_digest.as_str() == digest)
                .ok_or_else(|| no_such_image(name));
        }
        if let Ok(reference) = Reference::parse(name) {
            let full = reference.to_string();
            if let Some(image) = self
                .images
                .iter()
                .find(|i| i.tags.iter().any(|(t, _)| *t == full))
            {
                return Ok(image);
            }
            if let Some((tag, why)) = self.broken.iter().find(|(t, _)| *t == full) {
                bail!("image {tag} is broken: {why} (kiln doctor --repair removes it)");
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let ids: BTreeSet<&Digest> = self
                .images
                .iter()
                .map(|i| i.id())
                .filter(|id| id.hex().starts_with(hex))
                .collect();
            match ids.len() {
                0 => {}
                1 => {
                    let id = *ids.first().expect("one");
                    return Ok(self.images.iter().find(|i| i.id() == id).expect("found"));
                }
                _ => bail!(
                    "image id prefix {name:?} is ambiguous: it matches {} images",
                    ids.len()
                ),
            }
        }
        Err(no_such_image(name))
    }
}

pub fn no_such_image(name: &str) -> anyhow::Error {
    anyhow!("No such image: {name}")
}

/// Reads a small JSON blob.
pub fn read_document(store: &Store, digest: &Digest) -> Result<Vec<u8>> {
    let file = store
        .content()
        .open(digest)
        .with_context(|| format!("reading {digest}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {digest}"))?;
    Ok(bytes)
}

/// The image under a tag target, resolving an index to the host's
/// platform (or its only manifest).
pub fn read_image(store: &Store, target: &Digest) -> Result<Image> {
    let bytes = read_document(store, target)?;
    let manifest_digest = match serde_json::from_slice::<IndexDoc>(&bytes) {
        Ok(index) => pick_platform(store, &index)?,
        Err(_) => target.clone(),
    };
    let bytes = if manifest_digest == *target {
        bytes
    } else {
        read_document(store, &manifest_digest)?
    };
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("manifest {manifest_digest} is not an image manifest"))?;
    let config_digest: Digest = manifest
        .config
        .digest
        .parse()
        .map_err(|e| anyhow!("manifest {manifest_digest}: {e}"))?;
    let config_raw = read_document(store, &config_digest)?;
    let config: Config = serde_json::from_slice(&config_raw)
        .with_context(|| format!("config {config_digest} is not an image config"))?;
    Ok(Image {
        target: target.clone(),
        manifest_digest,
        manifest,
        config_digest,
        config_raw,
        config,
        tags: Vec::new(),
    })
}

fn pick_platform(store: &Store, index: &IndexDoc) -> Result<Digest> {
    let host = Platform::host();
    let present: Vec<(&IndexEntry, Digest)> = index
        .manifests
        .iter()
        .filter_map(|m| Some((m, m.digest.parse::<Digest>().ok()?)))
        .filter(|(_, d)| store.content().contains(d).unwrap_or(false))
        .collect();
    let host_match = present.iter().find(|(m, _)| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.os == host.os && p.architecture == host.architecture)
    });
    host_match
        .or(present.first())
        .map(|(_, d)| d.clone())
        .ok_or_else(|| anyhow!("no manifest of the index is in the store"))
}

/// Manifests in the content store that no tag reaches and whose image id
/// is not tagged either: one entry per image id.
fn dangling_images(store: &Store, tagged: &[Image]) -> Result<Vec<Image>> {
    let reached: BTreeSet<&Digest> = tagged
        .iter()
        .flat_map(|i| [&i.target, &i.manifest_digest])
        .collect();
    let ids: BTreeSet<&Digest> = tagged.iter().map(|i| i.id()).collect();
    let mut found: BTreeMap<Digest, Image> = BTreeMap::new();
    for blob in store.content().walk()? {
        let blob = blob?;
        if blob.size > MAX_DOCUMENT
            || reached.contains(&blob.digest)
            || !starts_with_brace(store, &blob.digest)
        {
            continue;
        }
        let Ok(bytes) = read_document(store, &blob.digest) else {
            continue;
        };
        if serde_json::from_slice::<Manifest>(&bytes).is_err() {
            continue;
        }
        let Ok(image) = read_image(store, &blob.digest) else {
            continue;
        };
        if !ids.contains(image.id()) {
            found.entry(image.id().clone()).or_insert(image);
        }
    }
    Ok(found.into_values().collect())
}

fn starts_with_brace(store: &Store, digest: &Digest) -> bool {
    let mut first = [0u8; 1];
    let read = store
        .content()
        .open(digest)
        .ok()
        .and_then(|mut f| f.read_exact(&mut first).ok());
    read.is_some() && first[0] == b'{'
}
