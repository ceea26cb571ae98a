//! Push: every blob is checked with HEAD first, mounted from another
//! repository of the same registry when kiln knows one that has it, else
//! uploaded (one PUT for small blobs, PATCH chunks for large ones, resumed
//! from the registry's reported offset after a failure); layers go in
//! parallel and the manifest last. When the tag already names the same
//! manifest nothing else is sent. Uncompressed local layers are gzipped
//! once (remembered per blob) so the pushed image matches what
//! `docker push` would send.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicUsize, Ordering};

use kiln_frontend::reference::Reference;
use kiln_solver::image::{Descriptor, Manifest, LAYER_GZIP_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use kiln_solver::layer::{CompressWriter, Compression};
use kiln_solver::store::{Digest, Store};
use reqwest::blocking::Body;
use reqwest::{Method, StatusCode};

use super::client::{pull_scope, push_scope, Registry};
use super::error::{RegistryError, Result};
use super::pull::remember_source;

/// Blobs up to this size go up in one PUT; larger ones in PATCH chunks
/// of this size.
const CHUNK: u64 = 128 << 20;
const PARALLEL: usize = 4;
const ATTEMPTS: u32 = 5;

/// What was pushed.
pub struct Pushed {
    pub digest: Digest,
    pub size: u64,
    /// Blobs actually sent (not present, not mounted).
    pub uploaded: usize,
}

fn parse_digest(d: &str) -> Result<Digest> {
    d.parse::<Digest>()
        .map_err(|e| RegistryError::Invalid(format!("invalid digest {d:?}: {e}")))
}

fn read_blob(store: &Store, digest: &Digest) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    store
        .content()
        .open(digest)
        .map_err(RegistryError::store)?
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::io(digest.to_string(), e))?;
    Ok(bytes)
}

/// Pushes the local image `manifest` as `reference` (its tag).
pub fn push(
    store: &Store,
    registry: &Registry,
    reference: &Reference,
    manifest: &Digest,
    progress: bool,
) -> Result<Pushed> {
    let repository = &reference.path;
    let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
    let (bytes, document) = pushable_manifest(store, manifest)?;
    let digest = Digest::of(&bytes);
    let scopes = [push_scope(repository)];
    if registry
        .head_manifest(repository, &tag, &scopes)?
        .as_deref()
        == Some(digest.as_str())
    {
        return Ok(Pushed {
            digest,
            size: bytes.len() as u64,
            uploaded: 0,
        });
    }
    let mut blobs = vec![document.config.clone()];
    for layer in &document.layers {
        // A layer may appear twice; send it once.
        if !blobs.iter().any(|b| b.digest == layer.digest) {
            blobs.push(layer.clone());
        }
    }
    let uploaded = push_blobs(store, registry, repository, &blobs, progress)?;
    let media_type = if document.media_type.is_empty() {
        MANIFEST_MEDIA_TYPE.to_string()
    } else {
        document.media_type.clone()
    };
    registry.put_manifest(repository, &tag, &media_type, &bytes)?;
    Ok(Pushed {
        digest,
        size: bytes.len() as u64,
        uploaded,
    })
}

/// The manifest to push: the stored one, or a copy with its uncompressed
/// layers replaced by gzip blobs.
fn pushable_manifest(store: &Store, digest: &Digest) -> Result<(Vec<u8>, Manifest)> {
    let bytes = read_blob(store, digest)?;
    let mut manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| RegistryError::Invalid(format!("manifest {digest}: {e}")))?;
    let mut changed = false;
    for layer in &mut manifest.layers {
        if is_uncompressed(&layer.media_type) {
            *layer = gzip_layer(store, layer)?;
            changed = true;
        }
    }
    if !changed {
        return Ok((bytes, manifest));
    }
    let bytes = serde_json::to_vec(&manifest).expect("manifest serializes");
    let stored = Digest::of(&bytes);
    if !store
        .content()
        .contains(&stored)
        .map_err(RegistryError::store)?
    {
        store
            .content()
            .write_blob(&bytes, Some(&stored))
            .map_err(RegistryError::store)?;
    }
    Ok((bytes, manifest))
}

fn is_uncompressed(media_type: &str) -> bool {
    media_type.ends_with(".tar") || media_type.ends_with("rootfs.diff.tar")
}

/// The gzip blob of an uncompressed layer blob, made once.
fn gzip_layer(store: &Store, layer: &Descriptor) -> Result<Descriptor> {
    let key = format!("gzip-of:{}", layer.digest);
    if let Some(entry) = store.meta().cache_get(&key).map_err(RegistryError::store)? {
        if let Ok(desc) = serde_json::from_slice::<Descriptor>(&entry.record) {
            if store
                .content()
                .contains(&parse_digest(&desc.digest)?)
                .map_err(RegistryError::store)?
            {
                return Ok(desc);
            }
        }
    }
    let source = parse_digest(&layer.digest)?;
    let mut input = store
        .content()
        .open(&source)
        .map_err(RegistryError::store)?;
    let writer = store.content().writer().map_err(RegistryError::store)?;
    let compress = |input: &mut File| -> std::io::Result<_> {
        let mut gz = CompressWriter::new(writer, Compression::gzip())?;
        std::io::copy(input, &mut gz)?;
        gz.finish()
    };
    let (writer, info) =
        compress(&mut input).map_err(|e| RegistryError::io(format!("compressing {source}"), e))?;
    let digest = parse_digest(&info.digest.to_string())?;
    writer.commit(Some(&digest)).map_err(RegistryError::store)?;
    let desc = Descriptor {
        media_type: LAYER_GZIP_MEDIA_TYPE.into(),
        digest: digest.to_string(),
        size: info.size,
        annotations: layer.annotations.clone(),
    };
    let record = serde_json::to_vec(&desc).expect("descriptor serializes");
    store
        .meta()
        .cache_put(&key, &record)
        .map_err(RegistryError::store)?;
    Ok(desc)
}

/// Pushes the blobs a few at a time; returns how many were uploaded.
fn push_blobs(
    store: &Store,
    registry: &Registry,
    repository: &str,
    blobs: &[Descriptor],
    progress: bool,
) -> Result<usize> {
    let next = AtomicUsize::new(0);
    let uploaded = AtomicUsize::new(0);
    let workers = PARALLEL.min(blobs.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    while let Some(blob) = blobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let how = match push_blob(store, registry, repository, blob) {
                            Ok(how) => how,
                            Err(e) => {
                                next.store(blobs.len(), Ordering::Relaxed);
                                return Err(e);
                            }
                        };
                        if how == "pushed" {
                            uploaded.fetch_add(1, Ordering::Relaxed);
                        }
                        remember_source(store, registry.host(), &blob.digest, repository);
                        if progress {
                            let hex = blob.digest.split(':').nth(1).unwrap_or(&blob.digest);
                            eprintln!("{}: {how}", &hex[..hex.len().min(12)]);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("upload worker panicked"))
            .collect::<Result<Vec<()>>>()
    })?;
    Ok(uploaded.into_inner())
}

/// One blob: present, mounted or uploaded (the returned word says which).
fn push_blob(
    store: &Store,
    registry: &Registry,
    repository: &str,
    blob: &Descriptor,
) -> Result<String> {
    let scopes = [push_scope(repository)];
    if registry.blob_exists(repository, &blob.digest, &scopes)? {
        return Ok("layer already exists".into());
    }
    let mut session = None;
    if let Some(from) = known_source(store, registry.host(), &blob.digest, repository) {
        match mount(registry, repository, &from, &blob.digest)? {
            Mount::Mounted => return Ok(format!("mounted from {from}")),
            Mount::Upload(location) => session = Some(location),
            Mount::Refused => {}
        }
    }
    upload(store, registry, repository, blob, session)?;
    Ok("pushed".into())
}

/// Another repository on this registry kiln pulled or pushed the blob in.
fn known_source(store: &Store, host: &str, digest: &str, repository: &str) -> Option<String> {
    let key = format!("blob-source:{host}:{digest}");
    let entry = store.meta().cache_get(&key).ok()??;
    let from = String::from_utf8(entry.record).ok()?;
    (from != repository).then_some(from)
}

enum Mount {
    Mounted,
    /// The registry declined the mount but opened an upload session.
    Upload(String),
    /// No mount (e.g. no pull access to the source): upload normally.
    Refused,
}

fn mount(registry: &Registry, repository: &str, from: &str, digest: &str) -> Result<Mount> {
    let scopes = [push_scope(repository), pull_scope(from)];
    let path = format!("/v2/{repository}/blobs/uploads/");
    let response = match registry.send(Method::POST, &path, &scopes, |r| {
        r.query(&[("mount", digest), ("from", from)])
            .header("Content-Length", "0")
    }) {
        Ok(r) => r,
        Err(RegistryError::Auth { .. }) => return Ok(Mount::Refused),
        Err(e) => return Err(e),
    };
    match response.status() {
        StatusCode::CREATED => Ok(Mount::Mounted),
        StatusCode::ACCEPTED => Ok(location(&response)
            .map(Mount::Upload)
            .unwrap_or(Mount::Refused)),
        _ => Ok(Mount::Refused),
    }
}

fn location(response: &reqwest::blocking::Response) -> Option<String> {
    let loc = response.headers().get("Location")?.to_str().ok()?;
    // Relative locations are resolved against the request URL.
    response.url().join(loc).ok().map(|u| u.to_string())
}

/// An upload in progress: where to send the next bytes, and from which
/// offset.
struct Session {
    location: String,
    offset: u64,
}

fn upload(
    store: &Store,
    registry: &Registry,
    repository: &str,
    blob: &Descriptor,
    session: Option<String>,
) -> Result<()> {
    let path = store.content().path(&parse_digest(&blob.digest)?);
    // The body is reopened per attempt; fail clearly if the blob is gone.
    std::fs::metadata(&path).map_err(|e| RegistryError::io(path.display(), e))?;
    let mut session = session.map(|location| Session {
        location,
        offset: 0,
    });
    let mut failures = 0;
    loop {
        let result = (|| -> Result<()> {
            let s = match session.take() {
                Some(s) => s,
                None => start_upload(registry, repository)?,
            };
            let mut s = Some(s);
            let r = send_blob(registry, repository, blob, &path, s.as_mut().expect("set"));
            if r.is_err() {
                session = s;
            }
            r
        })();
        match result {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && failures < ATTEMPTS => {
                failures += 1;
                std::thread::sleep(std::time::Duration::from_millis(100 << failures));
                // Continue where the registry says it is, or start over.
                session = session.and_then(|s| upload_status(registry, repository, s));
            }
            Err(e) => return Err(e),
        }
    }
}

fn start_upload(registry: &Registry, repository: &str) -> Result<Session> {
    let scopes = [push_scope(repository)];
    let path = format!("/v2/{repository}/blobs/uploads/");
    let response = registry.send(Method::POST, &path, &scopes, |r| {
        r.header("Content-Length", "0")
    })?;
    let response = registry.expect(response, repository, "upload")?;
    let location = location(&response).ok_or_else(|| {
        RegistryError::Invalid(format!(
            "{}: upload started without a Location",
            registry.host()
        ))
    })?;
    Ok(Session {
        location,
        offset: 0,
    })
}

/// The registry's view of an interrupted upload (`Range: 0-N`).
fn upload_status(registry: &Registry, repository: &str, s: Session) -> Option<Session> {
    let scopes = [push_scope(repository)];
    let response = registry
        .send(Method::GET, &s.location, &scopes, |r| r)
        .ok()?;
    if response.status() != StatusCode::NO_CONTENT {
        return None;
    }
    let location = location(&response).unwrap_or(s.location);
    let range = response.headers().get("Range")?.to_str().ok()?;
    // `0-0` means nothing or one byte (distribution): start over then.
    let end = range.rsplit('-').next()?.parse::<u64>().ok()?;
    if end == 0 {
        return None;
    }
    let offset = end + 1;
    Some(Session { location, offset })
}

fn with_query(location: &str, key: &str, value: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}{key}={value}")
}

/// A body reading `len` bytes of the blob file from `offset`.
fn file_body(path: &std::path::Path, offset: u64, len: u64) -> Body {
    match File::open(path).and_then(|mut f| f.seek(SeekFrom::Start(offset)).map(|_| f)) {
        Ok(f) => Body::sized(f.take(len), len),
        // Surfaces as a short body, which the registry rejects.
        Err(_) => Body::from(Vec::new()),
    }
}

/// Sends the rest of the blob from `s.offset`, then completes the upload.
fn send_blob(
    registry: &Registry,
    repository: &str,
    blob: &Descriptor,
    path: &std::path::Path,
    s: &mut Session,
) -> Result<()> {
    let scopes = [push_scope(repository)];
    if s.offset == 0 && blob.size <= CHUNK {
        let url = with_query(&s.location, "digest", &blob.digest);
        let response = registry.send_once(Method::PUT, &url, &scopes, |r| {
            r.header("Content-Type", "application/octet-stream")
                .body(file_body(path, 0, blob.size))
        })?;
        registry.expect(response, repository, &blob.digest)?;
        return Ok(());
    }
    while s.offset < blob.size {
        let len = CHUNK.min(blob.size - s.offset);
        let (start, location) = (s.offset, s.location.clone());
        let response = registry.send_once(Method::PATCH, &location, &scopes, |r| {
            r.header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("{start}-{}", start + len - 1))
                .body(file_body(path, start, len))
        })?;
        let response = registry.expect(response, repository, &blob.digest)?;
        s.location = location_or(&response, &location);
        s.offset += len;
    }
    let url = with_query(&s.location, "digest", &blob.digest);
    let response = registry.send_once(Method::PUT, &url, &scopes, |r| {
        r.header("Content-Length", "0")
    })?;
    registry.expect(response, repository, &blob.digest)?;
    Ok(())
}

fn location_or(response: &reqwest::blocking::Response, fallback: &str) -> String {
    location(response).unwrap_or_else(|| fallback.to_string())
}
