//! Build cache beyond one machine: `--cache-to` writes the cache records
//! of a build (cache key -> layer chain) with their layer blobs to a
//! registry (`type=registry,ref=R`) or a directory (`type=local,dest=D`,
//! an OCI layout); `--cache-from` reads them back, and the solver asks it
//! for any key its local cache misses, so only the layers of results that
//! are actually reused get downloaded.
//!
//! The cache is one OCI image manifest: its config (media type
//! [`CACHE_CONFIG_MEDIA_TYPE`]) lists the records, its layers are the
//! gzip layer blobs. `mode=min` (the default, as in BuildKit) keeps the
//! records whose results are part of the final image, `mode=max` every
//! step of every stage.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use kiln_frontend::reference::Reference;
use kiln_solver::image::{Descriptor, LocalImages, Manifest, MANIFEST_MEDIA_TYPE};
use kiln_solver::layer::Compression;
use kiln_solver::solve::RemoteCache;
use kiln_solver::store::{Digest, SnapshotId, Store};
use serde::{Deserialize, Serialize};

use super::{parse_reference, pull, push, Registry};

pub const CACHE_CONFIG_MEDIA_TYPE: &str = "application/vnd.kiln.cache.config.v1+json";

/// Where a cache lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    Registry(Reference),
    Local(PathBuf),
}

/// A parsed `--cache-to`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheTo {
    pub location: Location,
    pub max: bool,
}

fn fields(value: &str) -> Result<HashMap<String, String>> {
    value
        .split(',')
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| {
                    anyhow!("invalid cache option {f:?} in {value:?}: expected key=value")
                })
        })
        .collect()
}

fn location(value: &str, f: &HashMap<String, String>, path_key: &str) -> Result<Location> {
    match f.get("type").map(String::as_str) {
        Some("registry") => {
            let r = f
                .get("ref")
                .ok_or_else(|| anyhow!("cache {value:?}: type=registry needs ref="))?;
            Ok(Location::Registry(parse_reference(r)?))
        }
        Some("local") => {
            let dir = f
                .get(path_key)
                .ok_or_else(|| anyhow!("cache {value:?}: type=local needs {path_key}="))?;
            Ok(Location::Local(dir.into()))
        }
        Some(other) => bail!("cache type {other:?} is not supported (registry, local)"),
        None => bail!("cache {value:?} has no type="),
    }
}

pub fn parse_cache_to(value: &str) -> Result<CacheTo> {
    let f = fields(value)?;
    let max = match f.get("mode").map(String::as_str) {
        None | Some("min") => false,
        Some("max") => true,
        Some(other) => bail!("cache mode {other:?}: expected min or max"),
    };
    Ok(CacheTo {
        location: location(value, &f, "dest")?,
        max,
    })
}

pub fn parse_cache_from(value: &str) -> Result<Location> {
    // `--cache-from NAME` is a registry ref, as in buildx.
    if !value.contains('=') {
        return Ok(Location::Registry(parse_reference(value)?));
    }
    location(value, &fields(value)?, "src")
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheConfig {
    /// Diff ids of the manifest's layers, in order.
    diff_ids: Vec<String>,
    records: Vec<CacheRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheRecord {
    key: String,
    /// Indices into the manifest's layers, bottom first.
    layers: Vec<usize>,
}

fn chain_of(store: &Store, key: &str) -> Result<Option<Vec<SnapshotId>>> {
    Ok(store
        .meta()
        .cache_get(key)?
        .and_then(|e| serde_json::from_slice(&e.record).ok()))
}

/// Writes the cache of a build whose vertices have `keys` and whose
/// result is `target`.
pub fn export(
    store: &Store,
    keys: &[String],
    target: &[SnapshotId],
    to: &CacheTo,
    insecure: &[String],
    quiet: bool,
) -> Result<()> {
    let mut config = CacheConfig::default();
    let mut layers: Vec<Descriptor> = Vec::new();
    // By snapshot, then by blob: two steps may make identical layers.
    let mut index: HashMap<SnapshotId, usize> = HashMap::new();
    let mut by_digest: HashMap<String, usize> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for key in keys {
        if !seen.insert(key) {
            continue;
        }
        let Some(chain) = chain_of(store, key)? else {
            continue;
        };
        if chain.is_empty() || (!to.max && !target.starts_with(&chain)) {
            continue;
        }
        let mut record = CacheRecord {
            key: key.clone(),
            layers: Vec::new(),
        };
        for id in chain {
            let i = match index.get(&id) {
                Some(&i) => i,
                None => {
                    let layer =
                        crate::build::export::layer_blob(store, id, Compression::gzip(), None)?;
                    let i = *by_digest.entry(layer.digest.clone()).or_insert_with(|| {
                        layers.push(Descriptor {
                            media_type: layer.media_type,
                            digest: layer.digest,
                            size: layer.size,
                            annotations: None,
                        });
                        config.diff_ids.push(layer.diff_id);
                        layers.len() - 1
                    });
                    index.insert(id, i);
                    i
                }
            };
            record.layers.push(i);
        }
        config.records.push(record);
    }
    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = put(store, &config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        config: Descriptor {
            media_type: CACHE_CONFIG_MEDIA_TYPE.into(),
            digest: config_digest.to_string(),
            size: config_bytes.len() as u64,
            annotations: None,
        },
        layers,
    };
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_digest = put(store, &manifest_bytes)?;
    match &to.location {
        Location::Registry(reference) => {
            let registry = Registry::connect(&reference.domain, insecure)?;
            if !quiet {
                eprintln!("exporting cache to {reference}");
            }
            push::push(store, &registry, reference, &manifest_digest, !quiet)?;
        }
        Location::Local(dir) => {
            write_layout(store, dir, &manifest, &manifest_digest, &manifest_bytes)?
        }
    }
    Ok(())
}

fn put(store: &Store, bytes: &[u8]) -> Result<Digest> {
    let digest = Digest::of(bytes);
    if !store.content().contains(&digest)? {
        store.content().write_blob(bytes, Some(&digest))?;
    }
    Ok(digest)
}

/// The cache as an OCI layout in `dir` (blobs already there are kept).
fn write_layout(
    store: &Store,
    dir: &Path,
    manifest: &Manifest,
    digest: &Digest,
    bytes: &[u8],
) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    let mut all: Vec<&str> = vec![&manifest.config.digest];
    all.extend(manifest.layers.iter().map(|l| l.digest.as_str()));
    for d in all {
        let d: Digest = d.parse().map_err(|e| anyhow!("{e}"))?;
        let path = blobs.join(d.hex());
        if !path.exists() {
            let tmp = path.with_extension("kiln-tmp");
            std::fs::copy(store.content().path(&d), &tmp)
                .with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &path)?;
        }
    }
    std::fs::write(blobs.join(digest.hex()), bytes)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": MANIFEST_MEDIA_TYPE, "digest": digest.to_string(), "size": bytes.len()}],
    });
    let tmp = dir.join("index.json.kiln-tmp");
    std::fs::write(&tmp, serde_json::to_vec(&index)?)?;
    std::fs::rename(&tmp, dir.join("index.json"))?;
    Ok(())
}

/// Imported caches, asked by the solver for keys it misses locally.
pub struct Imported<'a> {
    images: &'a LocalImages<'a>,
    quiet: bool,
    caches: Vec<(Source, Manifest, CacheConfig)>,
}

enum Source {
    Registry(Box<Registry>, String),
    Local(PathBuf),
}

/// Reads the `--cache-from` caches (a missing one is a warning, as in
/// BuildKit).
pub fn import<'a>(
    images: &'a LocalImages<'a>,
    from: &[String],
    insecure: &[String],
    quiet: bool,
) -> Result<Option<Imported<'a>>> {
    if from.is_empty() {
        return Ok(None);
    }
    let mut caches = Vec::new();
    for value in from {
        let location = parse_cache_from(value)?;
        match load(images.store, &location, insecure) {
            Ok(c) => caches.push(c),
            Err(e) => eprintln!("warning: cache {value}: {e:#}"),
        }
    }
    Ok(Some(Imported {
        images,
        quiet,
        caches,
    }))
}

fn load(
    store: &Store,
    location: &Location,
    insecure: &[String],
) -> Result<(Source, Manifest, CacheConfig)> {
    let (source, manifest_bytes) = match location {
        Location::Registry(r) => {
            let registry = Registry::connect(&r.domain, insecure)?;
            let reference = r
                .digest
                .clone()
                .or_else(|| r.tag.clone())
                .unwrap_or_else(|| "latest".into());
            let (bytes, _) = registry.get_manifest(&r.path, &reference)?;
            (Source::Registry(Box::new(registry), r.path.clone()), bytes)
        }
        Location::Local(dir) => {
            let index: serde_json::Value = serde_json::from_slice(
                &std::fs::read(dir.join("index.json"))
                    .with_context(|| format!("reading {}", dir.join("index.json").display()))?,
            )?;
            let digest = index["manifests"][0]["digest"]
                .as_str()
                .ok_or_else(|| anyhow!("{}: no manifest in index.json", dir.display()))?;
            let path = dir
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:"));
            (Source::Local(dir.clone()), std::fs::read(&path)?)
        }
    };
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)?;
    if manifest.config.media_type != CACHE_CONFIG_MEDIA_TYPE {
        bail!(
            "not a kiln cache (config type {})",
            manifest.config.media_type
        );
    }
    fetch(store, &source, std::slice::from_ref(&manifest.config))?;
    let digest: Digest = manifest.config.digest.parse().map_err(|e| anyhow!("{e}"))?;
    let mut bytes = Vec::new();
    store.content().open(&digest)?.read_to_end(&mut bytes)?;
    let config: CacheConfig = serde_json::from_slice(&bytes)?;
    if config.diff_ids.len() != manifest.layers.len() {
        bail!("cache config and manifest disagree on the layers");
    }
    Ok((source, manifest, config))
}

/// Brings blobs into the content store (verified either way).
fn fetch(store: &Store, source: &Source, blobs: &[Descriptor]) -> Result<()> {
    match source {
        Source::Registry(registry, repository) => {
            pull::fetch_blobs(store, registry, repository, blobs, false)?
        }
        Source::Local(dir) => {
            for b in blobs {
                let digest: Digest = b.digest.parse().map_err(|e| anyhow!("{e}"))?;
                if store.content().contains(&digest)? {
                    continue;
                }
                let path = dir.join("blobs/sha256").join(digest.hex());
                let mut file = std::fs::File::open(&path)
                    .with_context(|| format!("opening {}", path.display()))?;
                let mut writer = store.content().writer()?;
                std::io::copy(&mut file, &mut writer)?;
                writer.commit(Some(&digest))?;
            }
        }
    }
    Ok(())
}

impl Imported<'_> {
    fn chain(&self, key: &str) -> Result<Option<Vec<SnapshotId>>> {
        for (source, manifest, config) in &self.caches {
            let Some(record) = config.records.iter().find(|r| r.key == key) else {
                continue;
            };
            let layers: Vec<Descriptor> = record
                .layers
                .iter()
                .map(|&i| {
                    manifest
                        .layers
                        .get(i)
                        .cloned()
                        .ok_or_else(|| anyhow!("bad layer index {i}"))
                })
                .collect::<Result<_>>()?;
            fetch(self.images.store, source, &layers)?;
            let mut chain = Vec::new();
            for (&i, layer) in record.layers.iter().zip(&layers) {
                let id = self
                    .images
                    .layer_snapshot(&config.diff_ids[i], layer)
                    .map_err(|e| anyhow!("{e}"))?;
                chain.push(id);
            }
            return Ok(Some(chain));
        }
        Ok(None)
    }
}

impl RemoteCache for Imported<'_> {
    fn fetch(&self, key: &str) -> Option<Vec<SnapshotId>> {
        match self.chain(key) {
            Ok(chain) => chain,
            Err(e) => {
                if !self.quiet {
                    eprintln!("warning: importing cache for {key}: {e:#}");
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cache_options() {
        let to = parse_cache_to("type=registry,ref=127.0.0.1:5000/c:main,mode=max").unwrap();
        assert!(to.max);
        assert!(matches!(to.location, Location::Registry(ref r) if r.path == "c"));
        let to = parse_cache_to("type=local,dest=/tmp/c").unwrap();
        assert_eq!(
            (to.location, to.max),
            (Location::Local("/tmp/c".into()), false)
        );
        assert_eq!(
            parse_cache_from("type=local,src=d").unwrap(),
            Location::Local("d".into())
        );
        for (bad, want) in [
            ("type=gha", "not supported"),
            ("type=registry", "needs ref="),
            ("type=local,dest=d,mode=all", "cache mode"),
            ("type=local", "needs dest="),
            ("ref=x", "no type="),
        ] {
            let err = parse_cache_to(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{bad}: {err}");
        }
    }
}
