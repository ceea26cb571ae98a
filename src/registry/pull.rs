//! Pull: manifest (or index, then the platform's manifest), config and
//! layers streamed into the content store, each verified against its
//! digest before it becomes visible. Layers download in parallel; blobs
//! already stored are skipped; a download cut off midway resumes with a
//! `Range` request, in the same run or the next one (partial downloads are
//! kept in `$KILN_ROOT/downloads/`). The manifest is stored last and the
//! tag set after it, so a tag always names a complete image.

use std::io::{Read, Write};

use kiln_frontend::definition::Platform;
use kiln_frontend::reference::Reference;
use kiln_solver::image::{Descriptor, Manifest, INDEX_MEDIA_TYPE};
use kiln_solver::store::{Digest, Store, StoreError};
use serde::Deserialize;

use super::client::Registry;
use super::error::{RegistryError, Result};

pub const DOCKER_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Parallel blob downloads per image.
const PARALLEL: usize = 4;
const COPY_BUFFER: usize = 1 << 20;
/// Interrupted downloads under `$KILN_ROOT`, kept across runs and resumed
/// with a `Range` request (moved into the content store once complete).
pub const DOWNLOADS: &str = "downloads";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    #[serde(default)]
    media_type: String,
    manifests: Vec<IndexEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    platform: Option<IndexPlatform>,
}

#[derive(Debug, Deserialize)]
struct IndexPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: String,
}

/// The kind of a manifest document, from the header or its own field.
fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    let declared = if media_type.is_empty() || media_type == "application/json" {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| {
                if v.get("manifests").is_some() {
                    Some(INDEX_MEDIA_TYPE.to_string())
                } else {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                }
            })
            .unwrap_or_default()
    } else {
        media_type.to_string()
    };
    declared == INDEX_MEDIA_TYPE || declared == DOCKER_LIST_MEDIA_TYPE
}

/// The manifest of an index that runs on `platform`.
fn select_platform(index_bytes: &[u8], platform: &Platform, name: &str) -> Result<String> {
    let index: Index = serde_json::from_slice(index_bytes)
        .map_err(|e| RegistryError::Invalid(format!("{name}: invalid image index: {e}")))?;
    let _ = index.media_type;
    let matches = |p: &IndexPlatform, exact: bool| {
        let candidate = Platform::new(&p.os, &p.architecture, &p.variant);
        candidate == *platform
            || (!exact
                && candidate.os == platform.os
                && candidate.architecture == platform.architecture)
    };
    for exact in [true, false] {
        if let Some(entry) = index
            .manifests
            .iter()
            .find(|m| m.platform.as_ref().is_some_and(|p| matches(p, exact)))
        {
            return Ok(entry.digest.clone());
        }
    }
    let available: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|m| m.platform.as_ref())
        .map(|p| Platform::new(&p.os, &p.architecture, &p.variant).to_string())
        .collect();
    Err(RegistryError::Invalid(format!(
        "{name}: no image for platform {platform} (available: {})",
        available.join(", ")
    )))
}

fn parse_digest(d: &str) -> Result<Digest> {
    d.parse::<Digest>()
        .map_err(|e| RegistryError::Invalid(format!("invalid digest {d:?}: {e}")))
}

/// Writes a small verified document into the store.
fn put_document(store: &Store, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
    let actual = Digest::of(bytes);
    if let Some(expected) = expected.filter(|e| **e != actual) {
        return Err(RegistryError::DigestMismatch {
            what: "manifest".into(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    if !store
        .content()
        .contains(&actual)
        .map_err(RegistryError::store)?
    {
        store
            .content()
            .write_blob(bytes, Some(&actual))
            .map_err(RegistryError::store)?;
    }
    Ok(actual)
}

/// The platform manifest of a local image, if it is in the store: a tag,
/// or a digest naming a manifest or an index.
pub fn local_manifest(
    store: &Store,
    reference: &Reference,
    platform: &Platform,
) -> Result<Option<Digest>> {
    let Some(digest) = &reference.digest else {
        return Ok(store
            .meta()
            .tag_get(&reference.to_string())
            .map_err(RegistryError::store)?
            .map(|t| t.digest));
    };
    let digest = parse_digest(digest)?;
    let Ok(mut file) = store.content().open(&digest) else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| RegistryError::io(digest.to_string(), e))?;
    if !is_index("", &bytes) {
        return Ok(Some(digest));
    }
    let chosen = parse_digest(&select_platform(&bytes, platform, &reference.to_string())?)?;
    Ok(store
        .content()
        .contains(&chosen)
        .map_err(RegistryError::store)?
        .then_some(chosen))
}

/// Pulls `reference` for `platform` into the store and tags it (tagged
/// references only); returns the manifest digest.
pub fn pull(
    store: &Store,
    registry: &Registry,
    reference: &Reference,
    platform: &Platform,
    progress: bool,
) -> Result<Digest> {
    let repository = &reference.path;
    let name = reference.to_string();
    let wanted = reference.digest.as_deref().map(parse_digest).transpose()?;
    let tag_or_digest = reference
        .digest
        .clone()
        .or_else(|| reference.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let (mut bytes, mut media_type) = registry.get_manifest(repository, &tag_or_digest)?;
    let mut expected = wanted.clone();
    if is_index(&media_type, &bytes) {
        put_document(store, &bytes, expected.as_ref())?;
        let chosen = select_platform(&bytes, platform, &name)?;
        (bytes, media_type) = registry.get_manifest(repository, &chosen)?;
        expected = Some(parse_digest(&chosen)?);
    }
    let actual = Digest::of(&bytes);
    if let Some(e) = expected.as_ref().filter(|e| **e != actual) {
        return Err(RegistryError::DigestMismatch {
            what: format!("manifest of {name}"),
            expected: e.to_string(),
            actual: actual.to_string(),
        });
    }
    let manifest = parse_manifest(&bytes, &media_type, &name)?;
    let mut blobs = vec![manifest.config.clone()];
    blobs.extend(manifest.layers.iter().cloned());
    fetch_blobs(store, registry, repository, &blobs, progress)?;
    let digest = put_document(store, &bytes, Some(&actual))?;
    if reference.digest.is_none() {
        let current = store.meta().tag_get(&name).map_err(RegistryError::store)?;
        if current.map(|t| t.digest) != Some(digest.clone()) {
            store
                .meta()
                .tag_set(&name, &digest)
                .map_err(RegistryError::store)?;
        }
    }
    Ok(digest)
}

fn parse_manifest(bytes: &[u8], media_type: &str, name: &str) -> Result<Manifest> {
    if media_type.starts_with("application/vnd.docker.distribution.manifest.v1") {
        return Err(RegistryError::Invalid(format!(
            "{name}: Docker schema 1 manifests are not supported (push the image again with a current client)"
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::Invalid(format!("{name}: invalid manifest: {e}")))
}

/// Downloads the missing blobs, a few at a time.
pub(crate) fn fetch_blobs(
    store: &Store,
    registry: &Registry,
    repository: &str,
    blobs: &[Descriptor],
    progress: bool,
) -> Result<()> {
    let mut missing: Vec<(&Descriptor, Digest)> = Vec::new();
    for b in blobs {
        let digest = parse_digest(&b.digest)?;
        if missing.iter().any(|(_, d)| *d == digest) {
            continue; // The same layer twice in one image.
        }
        if !store
            .content()
            .contains(&digest)
            .map_err(RegistryError::store)?
        {
            missing.push((b, digest));
        } else if progress {
            eprintln!("{}: already exists", short(&b.digest));
        }
        remember_source(store, registry.host(), &b.digest, repository);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = PARALLEL.min(missing.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((desc, digest)) = missing.get(i) else {
                            return Ok(());
                        };
                        if let Err(e) = fetch_blob(store, registry, repository, desc, digest) {
                            // Stop the other workers at their next blob.
                            next.store(missing.len(), std::sync::atomic::Ordering::Relaxed);
                            return Err(e);
                        }
                        if progress {
                            eprintln!("{}: pull complete", short(&desc.digest));
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("download worker panicked"))
            .collect::<Result<Vec<()>>>()
    })?;
    Ok(())
}

fn short(digest: &str) -> &str {
    let hex = digest.split(':').nth(1).unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// Records which repository of `host` has a blob, for cross-repository
/// mounts when pushing elsewhere on the same registry.
pub fn remember_source(store: &Store, host: &str, digest: &str, repository: &str) {
    let key = format!("blob-source:{host}:{digest}");
    if let Ok(Some(entry)) = store.meta().cache_get(&key) {
        if entry.record == repository.as_bytes() {
            return;
        }
    }
    let _ = store.meta().cache_put(&key, repository.as_bytes());
}

/// One blob into the content store, resuming after a broken connection.
fn fetch_blob(
    store: &Store,
    registry: &Registry,
    repository: &str,
    desc: &Descriptor,
    digest: &Digest,
) -> Result<()> {
    let downloads = store.root().join(DOWNLOADS);
    std::fs::create_dir_all(&downloads).map_err(|e| RegistryError::io(downloads.display(), e))?;
    let partial = downloads.join(digest.hex());
    let resume = || {
        store
            .content()
            .resume_writer(&partial)
            .map_err(RegistryError::store)
    };
    let mut writer = resume()?;
    if store
        .content()
        .contains(digest)
        .map_err(RegistryError::store)?
    {
        writer.discard(); // Another process finished it meanwhile.
        return Ok(());
    }
    let mut failures = 0;
    loop {
        let offset = writer.size();
        // `Ok(false)`: the server ignored the range, start over.
        let attempt = (|| -> Result<bool> {
            let (response, ranged) = registry.get_blob(repository, &desc.digest, offset)?;
            if offset > 0 && !ranged {
                return Ok(false);
            }
            let remaining = desc.size.saturating_sub(writer.size());
            // One byte more than expected is enough to see a wrong size.
            copy(response.take(remaining + 1), &mut writer, &desc.digest)?;
            Ok(true)
        })();
        match attempt {
            Ok(true) => break,
            Ok(false) => {
                writer.discard();
                writer = resume()?;
            }
            Err(e) if e.is_transient() && failures < 5 => {
                failures += 1;
                std::thread::sleep(std::time::Duration::from_millis(100 << failures));
            }
            Err(e) => return Err(e),
        }
    }
    let got = writer.size();
    if got != desc.size {
        writer.discard();
        return Err(RegistryError::Invalid(format!(
            "blob {}: the registry sent {got} bytes, the manifest says {}; nothing was stored",
            desc.digest, desc.size
        )));
    }
    writer.commit(Some(digest)).map_err(|e| match e {
        StoreError::DigestMismatch {
            expected, actual, ..
        } => RegistryError::DigestMismatch {
            what: format!("blob from {}/{repository}", registry.host()),
            expected: expected.to_string(),
            actual: actual.to_string(),
        },
        e => RegistryError::store(e),
    })?;
    Ok(())
}

fn copy(mut from: impl Read, to: &mut impl Write, what: &str) -> Result<()> {
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(RegistryError::io(format!("downloading {what}"), e)),
        };
        to.write_all(&buf[..n])
            .map_err(|e| RegistryError::Store(format!("writing {what}: {e}")))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_the_platform_of_an_index() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"digest":"sha256:a","platform":{"os":"linux","architecture":"arm","variant":"v7"}},
            {"digest":"sha256:b","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:c","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:d","platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        let pick = |p: &str| select_platform(index, &Platform::parse(p).unwrap(), "x");
        assert_eq!(pick("linux/amd64").unwrap(), "sha256:c");
        assert_eq!(pick("linux/arm64").unwrap(), "sha256:b");
        assert_eq!(pick("linux/arm/v7").unwrap(), "sha256:a");
        let err = pick("linux/s390x").unwrap_err().to_string();
        assert!(err.contains("no image for platform linux/s390x"), "{err}");
        assert!(is_index("", index));
        assert!(!is_index(
            "application/vnd.oci.image.manifest.v1+json",
            index
        ));
    }
}
